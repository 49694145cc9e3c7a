/* delta.c - see delta.h; byte layout in docs/formats.md (".delta file format"). */
#include "delta.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bytes.h"
#include "fsb.h"
#include "util.h"

#define DELTA_MAGIC "DVDELTA\0"
#define DELTA_TRAILER_MAGIC "DVDTRAIL"
#define DELTA_IO_BUF (1u << 20)
#define DELTA_MAX_RESTARTS 16

/* Header field offsets. */
enum {
    H_MAGIC = 0,
    H_VERSION = 8,
    H_PAGE_SIZE = 12,
    H_BASE_SIZE = 16,
    H_FINAL_SIZE = 24,
    H_PAGE_COUNT = 32,
    H_FLAGS = 36,
    H_REPLICA = 40,
    H_DBIID = 104,
    H_RESERVED = 168,
    H_CRC = 188,
};

/* ---- CRC32C ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t delta_crc32c(uint32_t crc, const void *buf, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const unsigned char *p = buf;
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static bool page_size_ok(uint32_t ps)
{
    return ps >= 512 && ps <= 65536 && (ps & (ps - 1)) == 0;
}

static uint32_t record_crc(const unsigned char *rec, uint32_t ps)
{
    uint32_t c = delta_crc32c(0, rec, 4);
    return delta_crc32c(c, rec + DELTA_REC_HDR_SIZE, ps);
}

/* ---- writer ---- */

struct delta_writer;
static struct delta_writer *delta_writer_new_in(const struct fsb *root, const char *rel,
                                                const char *path, const struct delta_header *h);

struct delta_writer {
    char *path, *tmp;
    struct fsb_tmp t; /* the temporary beside the final name (fsb.h) */
    FILE *f;
    EVP_MD_CTX *md;
    struct delta_header h;
    uint32_t added, last_pgno;
    unsigned char *rec;
    char *iobuf;
};

static void writer_free(struct delta_writer *w)
{
    if (w->f) {
        fclose(w->f); /* t.fd is the FILE's: closed with it */
        w->t.fd = -1;
    }
    fsb_tmp_done(&w->t); /* removes the temporary unless it was renamed */
    EVP_MD_CTX_free(w->md);
    free(w->path);
    free(w->tmp);
    free(w->rec);
    free(w->iobuf);
    free(w);
}

static int writer_put(struct delta_writer *w, const void *buf, size_t n)
{
    if (fwrite(buf, 1, n, w->f) != n) {
        dv_syserr("write %s", w->tmp);
        return -1;
    }
    EVP_DigestUpdate(w->md, buf, n);
    return 0;
}

struct delta_writer *delta_writer_new(const char *path, const struct delta_header *h)
{
    char *dir = dv_dirname(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct fsb *r = fsb_open(dir);
    struct delta_writer *w = r ? delta_writer_new_at(r, base, h) : NULL;
    fsb_close(r); /* the writer keeps its own descriptor of the directory */
    free(dir);
    return w;
}

struct delta_writer *delta_writer_new_at(const struct fsb *root, const char *rel,
                                         const struct delta_header *h)
{
    char *path = fsb_abs(root, rel);
    struct delta_writer *w = delta_writer_new_in(root, rel, path, h);
    free(path);
    return w;
}

static struct delta_writer *delta_writer_new_in(const struct fsb *root, const char *rel,
                                                const char *path, const struct delta_header *h)
{
    if (!page_size_ok(h->page_size)) {
        dv_seterr("delta %s: bad page size %u", path, h->page_size);
        return NULL;
    }
    if (strnlen(h->replica_id, DELTA_ID_MAX) >= DELTA_ID_MAX ||
        strnlen(h->dbiid, DELTA_ID_MAX) >= DELTA_ID_MAX) {
        dv_seterr("delta %s: replica or instance id longer than %d bytes", path, DELTA_ID_MAX - 1);
        return NULL;
    }
    struct delta_writer *w = dv_calloc(1, sizeof *w);
    w->path = dv_strdup(path);
    w->h = *h;
    w->h.version = DELTA_VERSION;
    /* a new temporary (O_EXCL) beside path, beneath the root without links; 0600 like the copy */
    if (fsb_tmp_open(root, rel, NULL, 0600, 0, &w->t) != 0) {
        writer_free(w);
        return NULL;
    }
    w->tmp = dv_strdup(w->t.path);
    w->f = fdopen(w->t.fd, "wb");
    if (!w->f) {
        dv_syserr("fdopen %s", w->tmp);
        writer_free(w);
        return NULL;
    }
    w->iobuf = dv_malloc(DELTA_IO_BUF);
    setvbuf(w->f, w->iobuf, _IOFBF, DELTA_IO_BUF);
    w->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(w->md, EVP_sha256(), NULL);
    w->rec = dv_malloc(DELTA_REC_HDR_SIZE + (size_t)h->page_size);

    unsigned char hdr[DELTA_HDR_SIZE] = {0};
    memcpy(hdr + H_MAGIC, DELTA_MAGIC, 8);
    dv_wr32(hdr + H_VERSION, DELTA_VERSION);
    dv_wr32(hdr + H_PAGE_SIZE, h->page_size);
    dv_wr64(hdr + H_BASE_SIZE, h->base_size);
    dv_wr64(hdr + H_FINAL_SIZE, h->final_size);
    dv_wr32(hdr + H_PAGE_COUNT, h->page_count);
    dv_wr32(hdr + H_FLAGS, 0);
    memcpy(hdr + H_REPLICA, h->replica_id, strlen(h->replica_id));
    memcpy(hdr + H_DBIID, h->dbiid, strlen(h->dbiid));
    dv_wr32(hdr + H_CRC, delta_crc32c(0, hdr, H_CRC));
    if (writer_put(w, hdr, sizeof hdr) != 0) {
        writer_free(w);
        return NULL;
    }
    return w;
}

int delta_writer_add(struct delta_writer *w, uint32_t pgno, const void *page)
{
    if (w->added >= w->h.page_count) {
        dv_seterr("delta %s: more than the %u pages announced", w->path, w->h.page_count);
        return -1;
    }
    if (pgno == 0 || pgno <= w->last_pgno) {
        dv_seterr("delta %s: page %u after page %u (pages must ascend)", w->path, pgno,
                  w->last_pgno);
        return -1;
    }
    dv_wr32(w->rec, pgno);
    memcpy(w->rec + DELTA_REC_HDR_SIZE, page, w->h.page_size);
    dv_wr32(w->rec + 4, record_crc(w->rec, w->h.page_size));
    if (writer_put(w, w->rec, DELTA_REC_HDR_SIZE + (size_t)w->h.page_size) != 0)
        return -1;
    w->added++;
    w->last_pgno = pgno;
    return 0;
}

int delta_writer_commit(struct delta_writer *w, char sha256_hex[65])
{
    if (w->added != w->h.page_count) {
        dv_seterr("delta %s: %u pages written, %u announced", w->path, w->added, w->h.page_count);
        writer_free(w);
        return -1;
    }
    unsigned char tr[DELTA_TRAILER_SIZE] = {0};
    memcpy(tr, DELTA_TRAILER_MAGIC, 8);
    dv_wr32(tr + 8, w->added);
    unsigned int mdlen = 0;
    EVP_MD_CTX *file_md = EVP_MD_CTX_new(); /* the whole file's hash: records + trailer */
    EVP_MD_CTX_copy_ex(file_md, w->md);
    EVP_DigestFinal_ex(w->md, tr + 16, &mdlen);
    unsigned char fmd[32];
    EVP_DigestUpdate(file_md, tr, sizeof tr);
    EVP_DigestFinal_ex(file_md, fmd, &mdlen);
    EVP_MD_CTX_free(file_md);
    if (fwrite(tr, 1, sizeof tr, w->f) != sizeof tr || fflush(w->f) != 0) {
        dv_syserr("write %s", w->tmp);
        goto fail;
    }
    if (fsync(fileno(w->f)) != 0) {
        dv_syserr("fsync %s", w->tmp);
        goto fail;
    }
    int rc = fclose(w->f);
    w->f = NULL;
    w->t.fd = -1;
    if (rc != 0) {
        dv_syserr("close %s", w->tmp);
        goto fail;
    }
    if (fsb_tmp_commit(&w->t, 0) != 0) {
        if (w->t.committed) /* renamed, the directory not made durable: not ours to keep */
            (void)unlinkat(w->t.dfd, w->t.base, 0);
        goto fail;
    }
    if (sha256_hex)
        dv_hex(fmd, 32, sha256_hex);
    writer_free(w);
    return 0;
fail:
    writer_free(w);
    return -1;
}

void delta_writer_abort(struct delta_writer *w)
{
    if (w)
        writer_free(w);
}

/* ---- reader ---- */

struct delta_reader {
    char *path;
    FILE *f;
    char *iobuf;
    EVP_MD_CTX *md;
    struct delta_header h;
    uint32_t index, last_pgno;
    bool done;
    unsigned char *rec;
};

void delta_reader_free(struct delta_reader *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    EVP_MD_CTX_free(r->md);
    free(r->iobuf);
    free(r->rec);
    free(r->path);
    free(r);
}

struct delta_reader *delta_reader_open(const char *path)
{
    int fd = dv_open_regular(path, O_RDONLY);
    if (fd < 0) {
        dv_preferr("open delta");
        return NULL;
    }
    struct delta_reader *r = delta_reader_fdopen(fd, path);
    close(fd);
    return r;
}

struct delta_reader *delta_reader_fdopen(int fd, const char *path)
{
    struct delta_reader *r = dv_calloc(1, sizeof *r);
    r->path = dv_strdup(path);
    /* a descriptor of our own (the caller keeps fd), read from the start */
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (d < 0 || lseek(d, 0, SEEK_SET) != 0 || !(r->f = fdopen(d, "rb"))) {
        dv_syserr("open delta %s", path);
        if (d >= 0)
            close(d);
        goto fail;
    }
    r->iobuf = dv_malloc(DELTA_IO_BUF);
    setvbuf(r->f, r->iobuf, _IOFBF, DELTA_IO_BUF);
    struct stat sb;
    if (fstat(fileno(r->f), &sb) != 0) {
        dv_syserr("stat delta %s", path);
        goto fail;
    }
    unsigned char hdr[DELTA_HDR_SIZE];
    size_t got = fread(hdr, 1, sizeof hdr, r->f);
    if (ferror(r->f)) {
        dv_syserr("read delta %s", path);
        goto fail;
    }
    if (got >= 8 && memcmp(hdr, DELTA_MAGIC, 8) != 0) {
        dv_seterr("%s: not a dvault delta file (bad magic)", path);
        goto fail;
    }
    if (got < sizeof hdr) {
        dv_seterr("%s: truncated delta: %zu bytes, shorter than the %d-byte header", path, got,
                  DELTA_HDR_SIZE);
        goto fail;
    }
    r->h.version = dv_rd32(hdr + H_VERSION);
    if (r->h.version != DELTA_VERSION) {
        dv_seterr("%s: delta version %u not supported (this dvault reads version %d)", path,
                  r->h.version, DELTA_VERSION);
        goto fail;
    }
    if (dv_rd32(hdr + H_CRC) != delta_crc32c(0, hdr, H_CRC)) {
        dv_seterr("%s: delta header checksum mismatch (corrupt header)", path);
        goto fail;
    }
    r->h.page_size = dv_rd32(hdr + H_PAGE_SIZE);
    r->h.base_size = dv_rd64(hdr + H_BASE_SIZE);
    r->h.final_size = dv_rd64(hdr + H_FINAL_SIZE);
    r->h.page_count = dv_rd32(hdr + H_PAGE_COUNT);
    memcpy(r->h.replica_id, hdr + H_REPLICA, DELTA_ID_MAX);
    memcpy(r->h.dbiid, hdr + H_DBIID, DELTA_ID_MAX);
    if (!page_size_ok(r->h.page_size) || r->h.replica_id[DELTA_ID_MAX - 1] ||
        r->h.dbiid[DELTA_ID_MAX - 1]) {
        dv_seterr("%s: delta header has invalid values", path);
        goto fail;
    }
    uint64_t want = DELTA_HDR_SIZE +
                    (uint64_t)r->h.page_count * (DELTA_REC_HDR_SIZE + r->h.page_size) +
                    DELTA_TRAILER_SIZE;
    if ((uint64_t)sb.st_size != want) {
        dv_seterr("%s: %s delta: %llu bytes, the header announces %u pages = %llu bytes", path,
                  (uint64_t)sb.st_size < want ? "truncated" : "oversized",
                  (unsigned long long)sb.st_size, r->h.page_count, (unsigned long long)want);
        goto fail;
    }
    r->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(r->md, EVP_sha256(), NULL);
    EVP_DigestUpdate(r->md, hdr, sizeof hdr);
    r->rec = dv_malloc(DELTA_REC_HDR_SIZE + (size_t)r->h.page_size);
    return r;
fail:
    delta_reader_free(r);
    return NULL;
}

const struct delta_header *delta_reader_header(const struct delta_reader *r)
{
    return &r->h;
}

static int reader_trailer(struct delta_reader *r)
{
    unsigned char tr[DELTA_TRAILER_SIZE], md[32];
    unsigned int mdlen = 0;
    if (fread(tr, 1, sizeof tr, r->f) != sizeof tr) {
        dv_seterr("%s: truncated delta: trailer missing", r->path);
        return -1;
    }
    EVP_DigestFinal_ex(r->md, md, &mdlen);
    if (memcmp(tr, DELTA_TRAILER_MAGIC, 8) != 0 || dv_rd32(tr + 8) != r->h.page_count) {
        dv_seterr("%s: bad delta trailer", r->path);
        return -1;
    }
    if (memcmp(tr + 16, md, 32) != 0) {
        dv_seterr("%s: delta trailer: SHA-256 of the file does not match (corrupt file)", r->path);
        return -1;
    }
    r->done = true;
    return 0;
}

int delta_reader_next(struct delta_reader *r, uint32_t *pgno, const void **page)
{
    if (r->done)
        return 0;
    if (r->index == r->h.page_count)
        return reader_trailer(r) == 0 ? 0 : -1;
    size_t n = DELTA_REC_HDR_SIZE + (size_t)r->h.page_size;
    if (fread(r->rec, 1, n, r->f) != n) {
        if (ferror(r->f))
            dv_syserr("read delta %s: record %u", r->path, r->index);
        else
            dv_seterr("%s: truncated delta at record %u", r->path, r->index);
        return -1;
    }
    uint32_t p = dv_rd32(r->rec);
    if (dv_rd32(r->rec + 4) != record_crc(r->rec, r->h.page_size)) {
        dv_seterr("%s: record %u (pgno %u): checksum mismatch (corrupt record)", r->path, r->index,
                  p);
        return -1;
    }
    if (p == 0 || p <= r->last_pgno) {
        dv_seterr("%s: record %u (pgno %u): pages out of order (previous %u)", r->path, r->index, p,
                  r->last_pgno);
        return -1;
    }
    if ((uint64_t)p * r->h.page_size > r->h.final_size) {
        dv_seterr("%s: record %u (pgno %u): beyond the final size %llu", r->path, r->index, p,
                  (unsigned long long)r->h.final_size);
        return -1;
    }
    EVP_DigestUpdate(r->md, r->rec, n);
    r->index++;
    r->last_pgno = p;
    *pgno = p;
    *page = r->rec + DELTA_REC_HDR_SIZE;
    return 1;
}

int delta_verify(const char *path, struct delta_header *out, char sha256_hex[65])
{
    int fd = dv_open_regular(path, O_RDONLY);
    if (fd < 0) {
        dv_preferr("open delta");
        return -1;
    }
    int rc = delta_verify_fd(fd, path, out, sha256_hex);
    close(fd);
    return rc;
}

int delta_verify_fd(int fd, const char *path, struct delta_header *out, char sha256_hex[65])
{
    struct delta_reader *r = delta_reader_fdopen(fd, path);
    if (!r)
        return -1;
    uint32_t pgno;
    const void *page;
    int rc;
    while ((rc = delta_reader_next(r, &pgno, &page)) == 1)
        ;
    if (rc == 0 && out)
        *out = r->h;
    delta_reader_free(r);
    if (rc == 0 && sha256_hex)
        rc = dv_sha256_fd_hex(fd, path, sha256_hex);
    return rc;
}

/* ---- apply ---- */

int delta_apply_fd(int delta_fd, const char *delta_path, int db_fd, const char *db_name)
{
    struct delta_header h;
    if (delta_verify_fd(delta_fd, delta_path, &h, NULL) != 0)
        return -1;
    struct stat sb;
    if (fstat(db_fd, &sb) != 0) {
        dv_syserr("stat %s", db_name);
        return -1;
    }
    if ((uint64_t)sb.st_size != h.base_size) {
        dv_seterr("apply %s to %s: the copy is %llu bytes, the delta expects %llu", delta_path,
                  db_name, (unsigned long long)sb.st_size, (unsigned long long)h.base_size);
        return -1;
    }
    struct delta_reader *r = delta_reader_fdopen(delta_fd, delta_path);
    if (!r)
        return -1;
    uint32_t pgno;
    const void *page;
    int rc;
    while ((rc = delta_reader_next(r, &pgno, &page)) == 1) {
        if (dv_pwrite_all(db_fd, page, h.page_size, (off_t)(pgno - 1) * h.page_size) != 0) {
            dv_syserr("apply %s: write page %u of %s", delta_path, pgno, db_name);
            rc = -1;
            break;
        }
    }
    delta_reader_free(r);
    if (rc != 0)
        return -1;
    if (ftruncate(db_fd, (off_t)h.final_size) != 0) {
        dv_syserr("apply %s: set size of %s to %llu", delta_path, db_name,
                  (unsigned long long)h.final_size);
        return -1;
    }
    if (fsync(db_fd) != 0) {
        dv_syserr("fsync %s", db_name);
        return -1;
    }
    return 0;
}

int delta_apply(const char *delta_path, const char *db_path)
{
    int dfd = dv_open_regular(delta_path, O_RDONLY);
    if (dfd < 0) {
        dv_preferr("open delta");
        return -1;
    }
    int fd = dv_open_regular(db_path, O_RDWR);
    if (fd < 0) {
        close(dfd);
        return -1;
    }
    int rc = delta_apply_fd(dfd, delta_path, fd, db_path);
    close(dfd);
    if (close(fd) != 0 && rc == 0) {
        dv_syserr("close %s", db_path);
        rc = -1;
    }
    return rc;
}

static size_t batch_pages(uint32_t ps)
{
    size_t n = DELTA_IO_BUF / ps;
    return n ? n : 1;
}

static int rescan(int wal_fd, const char *wal_name, struct wal_info *w, int *restarts)
{
    if (++*restarts > DELTA_MAX_RESTARTS) {
        dv_seterr("WAL %s: restarted by a writer %d times while being read", wal_name,
                  DELTA_MAX_RESTARTS);
        return -1;
    }
    wal_info_free(w);
    return wal_scan(wal_fd, wal_name, NULL, w);
}

int delta_apply_wal(int wal_fd, const char *wal_name, struct wal_info *w, int db_fd,
                    const char *db_name, uint64_t *final_size)
{
    int restarts = 0;
    unsigned char *buf = NULL;
again:
    if (w->ncommits > 0) {
        size_t ps = w->page_size, per = batch_pages(w->page_size);
        free(buf);
        buf = dv_malloc(per * ps);
        for (size_t i = 0; i < w->npages; i += per) {
            size_t n = w->npages - i < per ? w->npages - i : per;
            int r = wal_read_pages(wal_fd, wal_name, w, i, n, buf);
            if (r < 0)
                goto fail;
            if (r == 1) {
                if (rescan(wal_fd, wal_name, w, &restarts) != 0)
                    goto fail;
                goto again;
            }
            /* Write runs of consecutive page numbers with one pwrite each. */
            for (size_t k = 0; k < n;) {
                size_t e = k + 1;
                while (e < n && w->pages[i + e].pgno == w->pages[i + e - 1].pgno + 1)
                    e++;
                uint32_t pgno = w->pages[i + k].pgno;
                if (dv_pwrite_all(db_fd, buf + k * ps, (e - k) * ps, (off_t)(pgno - 1) * ps)) {
                    dv_syserr("write page %u of %s", pgno, db_name);
                    goto fail;
                }
                k = e;
            }
        }
        if (ftruncate(db_fd, (off_t)w->db_pages * w->page_size) != 0) {
            dv_syserr("set size of %s", db_name);
            goto fail;
        }
    }
    /* no fsync: the caller makes db_fd durable (the hot copy's commit, or the backup's one
     * syncfs per set: issue 16) */
    if (final_size) {
        struct stat sb;
        if (fstat(db_fd, &sb) != 0) {
            dv_syserr("stat %s", db_name);
            goto fail;
        }
        *final_size = (uint64_t)sb.st_size;
    }
    free(buf);
    return 0;
fail:
    free(buf);
    return -1;
}

int delta_write_wal(const struct fsb *root, const char *rel, const struct delta_header *h,
                    int wal_fd, const char *wal_name, struct wal_info *w, struct delta_header *out,
                    char sha256_hex[65])
{
    int restarts = 0;
    unsigned char *buf = NULL;
    struct delta_writer *dw = NULL;
again:
    if (w->ncommits > 0 && w->page_size != h->page_size) {
        dv_seterr("WAL %s: page size %u, the database has %u", wal_name, w->page_size,
                  h->page_size);
        goto fail;
    }
    struct delta_header hh = *h;
    hh.version = DELTA_VERSION;
    hh.page_count = w->ncommits ? (uint32_t)w->npages : 0;
    hh.final_size = w->ncommits ? (uint64_t)w->db_pages * w->page_size : h->base_size;
    dw = delta_writer_new_at(root, rel, &hh);
    if (!dw)
        goto fail;
    size_t ps = h->page_size, per = batch_pages(h->page_size);
    free(buf);
    buf = dv_malloc(per * ps);
    for (size_t i = 0; i < hh.page_count; i += per) {
        size_t n = hh.page_count - i < per ? hh.page_count - i : per;
        int r = wal_read_pages(wal_fd, wal_name, w, i, n, buf);
        if (r < 0)
            goto fail;
        if (r == 1) {
            delta_writer_abort(dw);
            dw = NULL;
            if (rescan(wal_fd, wal_name, w, &restarts) != 0)
                goto fail;
            goto again;
        }
        for (size_t k = 0; k < n; k++)
            if (delta_writer_add(dw, w->pages[i + k].pgno, buf + k * ps) != 0)
                goto fail;
    }
    free(buf);
    buf = NULL;
    int rc = delta_writer_commit(dw, sha256_hex);
    dw = NULL;
    if (rc != 0)
        return -1;
    if (out)
        *out = hh;
    return 0;
fail:
    delta_writer_abort(dw);
    free(buf);
    return -1;
}

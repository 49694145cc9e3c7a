/* wal.c - see wal.h. */
#include "wal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "util.h"

#define WAL_MAX_RESCANS 16

#define get_be32 dv_rd32
#define get_le32 dv_rdle32

void wal_cksum(bool big, const unsigned char *p, size_t n, uint32_t s[2])
{
    uint32_t s1 = s[0], s2 = s[1];
    const unsigned char *end = p + n;
    if (big) {
        for (; p < end; p += 8) {
            s1 += get_be32(p) + s2;
            s2 += get_be32(p + 4) + s1;
        }
    } else {
        for (; p < end; p += 8) {
            s1 += get_le32(p) + s2;
            s2 += get_le32(p + 4) + s1;
        }
    }
    s[0] = s1;
    s[1] = s2;
}

/* pgno -> offset map: open addressing, key 0 = empty slot (pgno 0 never occurs). */
struct pgmap {
    uint32_t *keys;
    uint64_t *vals;
    size_t cap, used;
};

static size_t pgmap_slot(const struct pgmap *m, uint32_t k)
{
    size_t h = (size_t)(k * 2654435761u) & (m->cap - 1);
    while (m->keys[h] != 0 && m->keys[h] != k)
        h = (h + 1) & (m->cap - 1);
    return h;
}

static void pgmap_put(struct pgmap *m, uint32_t k, uint64_t v);

static void pgmap_grow(struct pgmap *m)
{
    struct pgmap old = *m;
    m->cap = old.cap ? old.cap * 2 : 1024;
    m->used = 0;
    m->keys = dv_calloc(m->cap, sizeof *m->keys);
    m->vals = dv_malloc(m->cap * sizeof *m->vals);
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i])
            pgmap_put(m, old.keys[i], old.vals[i]);
    free(old.keys);
    free(old.vals);
}

static void pgmap_put(struct pgmap *m, uint32_t k, uint64_t v)
{
    if ((m->used + 1) * 2 > m->cap)
        pgmap_grow(m);
    size_t h = pgmap_slot(m, k);
    if (m->keys[h] == 0) {
        m->keys[h] = k;
        m->used++;
    }
    m->vals[h] = v;
}

static void pgmap_free(struct pgmap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int page_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct wal_page *)a)->pgno, y = ((const struct wal_page *)b)->pgno;
    return x < y ? -1 : x > y;
}

bool wal_hdr_parse(const unsigned char *h, struct wal_hdr *out)
{
    uint32_t magic = get_be32(h);
    if (magic != WAL_MAGIC_LE && magic != WAL_MAGIC_BE)
        return false;
    bool big = magic == WAL_MAGIC_BE;
    uint32_t version = get_be32(h + 4), ps = get_be32(h + 8);
    if (version != WAL_VERSION || ps < 512 || ps > 65536 || (ps & (ps - 1)) != 0)
        return false;
    uint32_t s[2] = {0, 0};
    wal_cksum(big, h, 24, s);
    if (s[0] != get_be32(h + 24) || s[1] != get_be32(h + 28))
        return false;
    out->big = big;
    out->page_size = ps;
    out->ckpt_seq = get_be32(h + 12);
    out->salt1 = get_be32(h + 16);
    out->salt2 = get_be32(h + 20);
    out->cksum[0] = s[0];
    out->cksum[1] = s[1];
    return true;
}

/* Parse and check the 32-byte header into out's header fields. True if SQLite would use it. */
static bool parse_header(const unsigned char *h, struct wal_info *out)
{
    struct wal_hdr w;
    if (!wal_hdr_parse(h, &w))
        return false;
    out->big_endian_cksum = w.big;
    out->page_size = w.page_size;
    out->ckpt_seq = w.ckpt_seq;
    out->salt1 = w.salt1;
    out->salt2 = w.salt2;
    out->valid_header = true;
    return true;
}

struct scan_state {
    struct pgmap map;
    struct wal_frame *pending; /* frames of the transaction being read */
    size_t npending, cappending;
};

/* One pass over the frames of a header already parsed into out. */
static int scan_frames(int fd, const char *name, const struct wal_scan_opts *opts,
                       struct wal_info *out, struct scan_state *st)
{
    size_t fsz = WAL_FRAME_HDR_SIZE + (size_t)out->page_size;
    size_t per = WAL_READ_CHUNK / fsz ? WAL_READ_CHUNK / fsz : 1;
    unsigned char *buf = dv_malloc(per * fsz);
    unsigned char hdr[WAL_HDR_SIZE];
    uint32_t s[2];
    uint64_t off = WAL_HDR_SIZE;
    uint32_t index = 0;
    int rc = 0;

    /* The running checksum starts from the header's checksum. */
    if (dv_pread_full(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) {
        dv_syserr("read WAL header of %s", name);
        free(buf);
        return -1;
    }
    s[0] = get_be32(hdr + 24);
    s[1] = get_be32(hdr + 28);
    out->end_offset = WAL_HDR_SIZE;

    for (;;) {
        ssize_t got = dv_pread_full(fd, buf, per * fsz, (off_t)off);
        if (got < 0) {
            dv_syserr("read WAL %s at offset %llu", name, (unsigned long long)off);
            rc = -1;
            break;
        }
        size_t nfr = (size_t)got / fsz;
        bool stop = nfr < per;
        for (size_t i = 0; i < nfr; i++) {
            const unsigned char *f = buf + i * fsz;
            uint32_t pgno = get_be32(f), commit = get_be32(f + 4);
            if (pgno == 0 || get_be32(f + 8) != out->salt1 || get_be32(f + 12) != out->salt2) {
                stop = true;
                break;
            }
            uint32_t t[2] = {s[0], s[1]};
            wal_cksum(out->big_endian_cksum, f, 8, t);
            wal_cksum(out->big_endian_cksum, f + WAL_FRAME_HDR_SIZE, out->page_size, t);
            if (t[0] != get_be32(f + 16) || t[1] != get_be32(f + 20)) {
                stop = true;
                break;
            }
            s[0] = t[0];
            s[1] = t[1];
            if (st->npending == st->cappending) {
                st->cappending = st->cappending ? st->cappending * 2 : 64;
                st->pending = dv_realloc(st->pending, st->cappending * sizeof *st->pending);
            }
            uint64_t foff = off + i * fsz;
            st->pending[st->npending++] = (struct wal_frame){.index = index,
                                                             .pgno = pgno,
                                                             .commit_size = commit,
                                                             .offset = foff + WAL_FRAME_HDR_SIZE};
            index++;
            out->frames_seen = index;
            if (commit == 0)
                continue;
            for (size_t k = 0; k < st->npending; k++)
                pgmap_put(&st->map, st->pending[k].pgno, st->pending[k].offset);
            out->nframes = index;
            out->ncommits++;
            out->db_pages = commit;
            out->end_offset = foff + fsz;
            if (opts && opts->on_commit && opts->on_commit(opts->ud, st->pending, st->npending)) {
                rc = -1;
                stop = true;
                break;
            }
            st->npending = 0;
        }
        if (stop)
            break;
        off += nfr * fsz;
    }
    free(buf);
    return rc;
}

int wal_scan(int fd, const char *name, const struct wal_scan_opts *opts, struct wal_info *out)
{
    memset(out, 0, sizeof *out);
    struct scan_state st = {0};
    int rc = -1;

    for (int attempt = 0;; attempt++) {
        unsigned char hdr[WAL_HDR_SIZE];
        struct stat sb;
        if (fstat(fd, &sb) != 0) {
            dv_syserr("stat WAL %s", name);
            goto out;
        }
        ssize_t got = dv_pread_full(fd, hdr, sizeof hdr, 0);
        if (got < 0) {
            dv_syserr("read WAL header of %s", name);
            goto out;
        }
        memset(out, 0, sizeof *out);
        out->file_size = (uint64_t)sb.st_size;
        out->end_offset = WAL_HDR_SIZE;
        if (got < (ssize_t)sizeof hdr || !parse_header(hdr, out)) {
            out->valid_header = false;
            out->page_size = 0;
            rc = 0;
            goto out;
        }
        if (scan_frames(fd, name, opts, out, &st) != 0)
            goto out;

        /* A writer may have restarted the WAL while we read: then do it again. */
        unsigned char again[WAL_HDR_SIZE];
        got = dv_pread_full(fd, again, sizeof again, 0);
        if (got < 0) {
            dv_syserr("read WAL header of %s", name);
            goto out;
        }
        if (got == (ssize_t)sizeof again && memcmp(hdr, again, sizeof hdr) == 0) {
            memcpy(out->hdr, hdr, sizeof hdr);
            break;
        }
        if (attempt + 1 >= WAL_MAX_RESCANS) {
            dv_seterr("WAL %s: restarted by a writer %d times while being read", name,
                      WAL_MAX_RESCANS);
            goto out;
        }
        pgmap_free(&st.map);
        st.npending = 0;
        if (opts && opts->reset)
            opts->reset(opts->ud);
    }

    /* Newest image per page, in pgno order, dropping pages beyond the final size. */
    out->pages = dv_malloc((st.map.used ? st.map.used : 1) * sizeof *out->pages);
    for (size_t i = 0; i < st.map.cap; i++)
        if (st.map.keys[i] && st.map.keys[i] <= out->db_pages)
            out->pages[out->npages++] = (struct wal_page){st.map.keys[i], st.map.vals[i]};
    qsort(out->pages, out->npages, sizeof *out->pages, page_cmp);
    rc = 0;
out:
    pgmap_free(&st.map);
    free(st.pending);
    return rc;
}

int wal_scan_path(const char *path, const struct wal_scan_opts *opts, struct wal_info *out,
                  int *fd_out)
{
    if (fd_out)
        *fd_out = -1;
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        dv_syserr("open WAL %s", path);
        return -1;
    }
    int rc = wal_scan(fd, path, opts, out);
    if (rc == 0 && fd_out)
        *fd_out = fd;
    else
        close(fd);
    return rc;
}

int wal_read_pages(int fd, const char *name, const struct wal_info *w, size_t i, size_t n,
                   void *buf)
{
    unsigned char *b = buf;
    for (size_t k = 0; k < n; k++) {
        const struct wal_page *p = &w->pages[i + k];
        ssize_t got = dv_pread_full(fd, b + k * w->page_size, w->page_size, (off_t)p->offset);
        if (got < 0) {
            dv_syserr("read WAL %s: page %u at offset %llu", name, p->pgno,
                      (unsigned long long)p->offset);
            return -1;
        }
        if ((size_t)got != w->page_size) {
            dv_seterr("read WAL %s: page %u at offset %llu: the file was truncated", name, p->pgno,
                      (unsigned long long)p->offset);
            return -1;
        }
    }
    unsigned char hdr[WAL_HDR_SIZE];
    ssize_t got = dv_pread_full(fd, hdr, sizeof hdr, 0);
    if (got < 0) {
        dv_syserr("read WAL header of %s", name);
        return -1;
    }
    return got == (ssize_t)sizeof hdr && memcmp(hdr, w->hdr, sizeof hdr) == 0 ? 0 : 1;
}

void wal_info_free(struct wal_info *w)
{
    if (!w)
        return;
    free(w->pages);
    memset(w, 0, sizeof *w);
}

char *wal_path_of(const char *db_path)
{
    return dv_asprintf("%s-wal", db_path);
}

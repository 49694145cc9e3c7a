/* pagemap.c - see pagemap.h; format in docs/formats.md ".pagemap". */
#include "pagemap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "bytes.h"
#include "delta.h"
#include "fsb.h"
#include "util.h"

#define PM_MAGIC "DVPGMAP"
#define PM_CHUNK_PAGES 256

struct pagemap_hasher {
    EVP_MD_CTX *ctx;
    EVP_MD *md;
};

struct pagemap_hasher *pagemap_hasher_new(void)
{
    struct pagemap_hasher *h = dv_calloc(1, sizeof *h);
    h->ctx = EVP_MD_CTX_new();
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!h->ctx || !h->md) {
        fprintf(stderr, "dvault: OpenSSL has no SHA-256\n");
        abort();
    }
    return h;
}

void pagemap_hasher_free(struct pagemap_hasher *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    free(h);
}

void pagemap_digest(struct pagemap_hasher *h, const void *page, size_t n,
                    unsigned char out[PAGEMAP_DIGEST])
{
    unsigned char full[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1 || EVP_DigestUpdate(h->ctx, page, n) != 1 ||
        EVP_DigestFinal_ex(h->ctx, full, &len) != 1 || len < PAGEMAP_DIGEST)
        abort(); /* cannot fail for SHA-256 short of memory exhaustion */
    memcpy(out, full, PAGEMAP_DIGEST);
}

void pagemap_init(struct pagemap *m, uint32_t page_size, uint64_t size)
{
    m->page_size = page_size;
    m->size = size;
    m->flags = 0;
    m->npages = page_size ? (size + page_size - 1) / page_size : 0;
    m->d = dv_calloc(m->npages ? m->npages : 1, PAGEMAP_DIGEST);
}

void pagemap_done(struct pagemap *m)
{
    if (!m)
        return;
    free(m->d);
    memset(m, 0, sizeof *m);
}

static int parse(const char *path, char *buf, size_t len, const char *expect_sha256,
                 struct pagemap *m);

int pagemap_write_at(const struct fsb *root, const char *rel, const struct pagemap *m,
                     char sha256_hex[65])
{
    size_t body = (size_t)m->npages * PAGEMAP_DIGEST;
    size_t len = PAGEMAP_HDR_SIZE + body + 32;
    unsigned char *buf = dv_calloc(1, len);
    memcpy(buf, PM_MAGIC, 8);
    dv_wr32(buf + 8, PAGEMAP_VERSION);
    dv_wr32(buf + 12, m->page_size);
    dv_wr64(buf + 16, m->npages);
    dv_wr64(buf + 24, m->size);
    dv_wr32(buf + 32, PAGEMAP_DIGEST);
    dv_wr32(buf + 36, PAGEMAP_ALGO_SHA256_128);
    dv_wr32(buf + 40, m->flags);
    dv_wr32(buf + 60, delta_crc32c(0, buf, 60));
    memcpy(buf + PAGEMAP_HDR_SIZE, m->d, body);
    char hex[65];
    dv_sha256_hex(buf, PAGEMAP_HDR_SIZE + body, hex);
    dv_unhex(hex, buf + PAGEMAP_HDR_SIZE + body, 32);
    int rc = fsb_write_atomic(root, rel, buf, len, 0600);
    if (rc == 0 && sha256_hex)
        dv_sha256_hex(buf, len, sha256_hex);
    free(buf);
    return rc;
}

int pagemap_read(const char *path, const char *expect_sha256, struct pagemap *m)
{
    memset(m, 0, sizeof *m);
    char *buf = NULL;
    size_t len = 0;
    if (dv_read_file_capped(path, PAGEMAP_MAX, &buf, &len) != 0)
        return -1;
    return parse(path, buf, len, expect_sha256, m);
}

int pagemap_read_at(const struct fsb *root, const char *rel, const char *expect_sha256,
                    struct pagemap *m)
{
    memset(m, 0, sizeof *m);
    char *buf = NULL;
    size_t len = 0;
    if (fsb_read_capped(root, rel, PAGEMAP_MAX, &buf, &len) != 0)
        return -1;
    char *path = fsb_abs(root, rel);
    int rc = parse(path, buf, len, expect_sha256, m);
    free(path);
    return rc;
}

/* Check and decode a page map read whole (buf is freed). */
static int parse(const char *path, char *buf, size_t len, const char *expect_sha256,
                 struct pagemap *m)
{
    const unsigned char *u = (const unsigned char *)buf;
    int rc = -1;
    if (len < PAGEMAP_HDR_SIZE + 32 || memcmp(u, PM_MAGIC, 8) != 0) {
        dv_seterr("%s: not a page map", path);
        goto out;
    }
    if (dv_rd32(u + 60) != delta_crc32c(0, u, 60)) {
        dv_seterr("%s: page map header checksum mismatch", path);
        goto out;
    }
    if (dv_rd32(u + 8) != PAGEMAP_VERSION || dv_rd32(u + 32) != PAGEMAP_DIGEST ||
        dv_rd32(u + 36) != PAGEMAP_ALGO_SHA256_128) {
        dv_seterr("%s: page map version %u / digest %u / algorithm %u not supported", path,
                  dv_rd32(u + 8), dv_rd32(u + 32), dv_rd32(u + 36));
        goto out;
    }
    uint32_t ps = dv_rd32(u + 12);
    uint64_t np = dv_rd64(u + 16), size = dv_rd64(u + 24);
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) || np != (size + ps - 1) / ps ||
        np > (len - PAGEMAP_HDR_SIZE - 32) / PAGEMAP_DIGEST ||
        len != PAGEMAP_HDR_SIZE + np * PAGEMAP_DIGEST + 32) {
        dv_seterr("%s: page map size %zu does not match its header (%llu pages of %u)", path, len,
                  (unsigned long long)np, ps);
        goto out;
    }
    char hex[65], want[65];
    dv_sha256_hex(u, len - 32, hex);
    dv_hex(u + len - 32, 32, want);
    if (strcmp(hex, want) != 0) {
        dv_seterr("%s: page map trailer checksum mismatch (corrupt)", path);
        goto out;
    }
    if (expect_sha256 && expect_sha256[0]) {
        dv_sha256_hex(u, len, hex);
        if (strcmp(hex, expect_sha256) != 0) {
            dv_seterr("%s is corrupt: SHA-256 %s, the backup recorded %s", path, hex,
                      expect_sha256);
            goto out;
        }
    }
    pagemap_init(m, ps, size);
    m->flags = dv_rd32(u + 40);
    memcpy(m->d, u + PAGEMAP_HDR_SIZE, np * PAGEMAP_DIGEST);
    rc = 0;
out:
    free(buf);
    return rc;
}

int pagemap_read_flags_at(const struct fsb *root, const char *rel, uint32_t *flags)
{
    unsigned char h[PAGEMAP_HDR_SIZE];
    int fd = fsb_openat(root, rel, O_RDONLY, 0); /* no link, a regular file: never a FIFO */
    if (fd < 0)
        return -1;
    ssize_t got = dv_pread_full(fd, h, sizeof h, 0);
    close(fd);
    if (got != (ssize_t)sizeof h || memcmp(h, PM_MAGIC, 8) != 0 ||
        dv_rd32(h + 60) != delta_crc32c(0, h, 60) || dv_rd32(h + 8) != PAGEMAP_VERSION) {
        char *path = fsb_abs(root, rel);
        dv_seterr("%s: not a page map (or a damaged header)", path);
        free(path);
        return -1;
    }
    *flags = dv_rd32(h + 40);
    return 0;
}

int pagemap_of_copy(const char *copy_path, const char *delta_path, uint32_t page_size,
                    struct pagemap *m)
{
    memset(m, 0, sizeof *m);
    int fd = dv_open_regular(copy_path, O_RDONLY), dfd = -1;
    if (fd < 0 || (delta_path && (dfd = dv_open_regular(delta_path, O_RDONLY)) < 0)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int rc = pagemap_of_fd(fd, copy_path, dfd, delta_path, page_size, m, NULL);
    close(fd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

int pagemap_of_fd(int fd, const char *copy_path, int delta_fd, const char *delta_path,
                  uint32_t page_size, struct pagemap *m, char copy_sha256[65])
{
    memset(m, 0, sizeof *m);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        dv_syserr("%s", copy_path);
        return -1;
    }
    struct delta_reader *dr = NULL;
    uint64_t base = (uint64_t)st.st_size, size = base;
    if (delta_fd >= 0) {
        if (!(dr = delta_reader_fdopen(delta_fd, delta_path)))
            return -1;
        size = delta_reader_header(dr)->final_size;
    }
    EVP_MD_CTX *sha = NULL;
    if (copy_sha256) {
        sha = EVP_MD_CTX_new();
        EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
    }
    pagemap_init(m, page_size, size);
    struct pagemap_hasher *h = pagemap_hasher_new();
    unsigned char *buf = dv_malloc((size_t)page_size * PM_CHUNK_PAGES);
    uint32_t dpg = 0;
    const void *dpage = NULL;
    int rc = -1, r;
    if (dr && (r = delta_reader_next(dr, &dpg, &dpage)) <= 0) {
        if (r < 0)
            goto out;
        dpg = 0;
    }
    for (uint64_t pg = 1; pg <= m->npages; pg += PM_CHUNK_PAGES) {
        uint64_t cnt = m->npages - pg + 1 < PM_CHUNK_PAGES ? m->npages - pg + 1 : PM_CHUNK_PAGES;
        uint64_t off = (pg - 1) * page_size;
        size_t want = (size_t)(cnt * page_size);
        memset(buf, 0, want);
        if (off < base) {
            size_t avail = base - off < want ? (size_t)(base - off) : want;
            if (dv_pread_full(fd, buf, avail, (off_t)off) < 0) {
                dv_syserr("read %s", copy_path);
                goto out;
            }
            if (sha)
                EVP_DigestUpdate(sha, buf, avail);
        }
        for (uint64_t i = 0; i < cnt; i++) {
            bool from_delta = dpg && dpg == pg + i;
            const unsigned char *p = from_delta ? dpage : buf + i * page_size;
            size_t plen = page_size;
            if ((pg + i) * page_size > size) /* a short last page (never in SQLite) */
                plen = (size_t)(size - (pg + i - 1) * page_size);
            /* digest the delta's page BEFORE the reader moves on: dpage lives in the reader's
             * one record buffer, which the next delta_reader_next() overwrites (digesting it
             * after gave each delta page the next record's digest: issue 11, case 4) */
            pagemap_digest(h, p, plen, pagemap_at(m, pg + i));
            if (from_delta) {
                if ((r = delta_reader_next(dr, &dpg, &dpage)) < 0)
                    goto out;
                if (r == 0)
                    dpg = 0;
            }
        }
    }
    if (sha && base > (m->npages * (uint64_t)page_size)) {
        /* bytes of the copy beyond the image (a delta that shrinks it): hash them too */
        uint64_t off = m->npages * (uint64_t)page_size;
        while (off < base) {
            size_t n = base - off < (uint64_t)page_size * PM_CHUNK_PAGES
                           ? (size_t)(base - off)
                           : (size_t)page_size * PM_CHUNK_PAGES;
            if (dv_pread_full(fd, buf, n, (off_t)off) < 0) {
                dv_syserr("read %s", copy_path);
                goto out;
            }
            EVP_DigestUpdate(sha, buf, n);
            off += n;
        }
    }
    if (sha) {
        unsigned char md[32];
        unsigned int mdlen = 0;
        EVP_DigestFinal_ex(sha, md, &mdlen);
        dv_hex(md, 32, copy_sha256);
    }
    rc = 0;
out:
    if (rc != 0) {
        dv_preferr("page map of %s", copy_path);
        pagemap_done(m);
    }
    EVP_MD_CTX_free(sha);
    free(buf);
    pagemap_hasher_free(h);
    delta_reader_free(dr);
    return rc;
}

/* Resize m to size bytes (new digests zeroed); returns the old page count. */
static uint64_t resize(struct pagemap *m, uint64_t size)
{
    uint64_t old = m->npages, np = (size + m->page_size - 1) / m->page_size;
    if (np != old) {
        m->d = dv_realloc(m->d, (np ? np : 1) * PAGEMAP_DIGEST);
        if (np > old)
            memset(m->d + old * PAGEMAP_DIGEST, 0, (np - old) * PAGEMAP_DIGEST);
    }
    m->npages = np;
    m->size = size;
    return old;
}

/* Digest page pg of the image on fd (its size m->size; a short last page as it is). */
static int digest_page(struct pagemap *m, struct pagemap_hasher *h, unsigned char *buf, int fd,
                       const char *name, uint64_t pg)
{
    uint64_t off = (pg - 1) * m->page_size;
    size_t plen = m->size - off < m->page_size ? (size_t)(m->size - off) : m->page_size;
    ssize_t got = dv_pread_full(fd, buf, plen, (off_t)off);
    if (got < 0 || (size_t)got != plen) {
        if (got < 0)
            dv_syserr("read %s", name);
        else
            dv_seterr("read %s: page %llu is short (%zd of %zu bytes)", name,
                      (unsigned long long)pg, got, plen);
        return -1;
    }
    pagemap_digest(h, buf, plen, pagemap_at(m, pg));
    return 0;
}

int pagemap_patch_fd(struct pagemap *m, int fd, const char *name, uint64_t new_size,
                     const uint32_t *pgnos, size_t n)
{
    uint64_t old = resize(m, new_size), np = m->npages;
    /* the pages beyond the old end, and the old and the new last page (either may have been
     * short: never in SQLite, one page more to digest) */
    uint64_t from = np >= old ? (old ? old : 1) : (np ? np : 1);
    struct pagemap_hasher *h = pagemap_hasher_new();
    unsigned char *buf = dv_malloc(m->page_size);
    int rc = 0;
    for (uint64_t pg = from; rc == 0 && pg <= m->npages; pg++)
        rc = digest_page(m, h, buf, fd, name, pg);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (pgnos[i] >= 1 && pgnos[i] <= m->npages)
            rc = digest_page(m, h, buf, fd, name, pgnos[i]);
    free(buf);
    pagemap_hasher_free(h);
    return rc;
}

int pagemap_patch_delta(struct pagemap *m, int delta_fd, const char *delta_path)
{
    struct delta_reader *dr = delta_reader_fdopen(delta_fd, delta_path);
    if (!dr)
        return -1;
    uint64_t old = resize(m, delta_reader_header(dr)->final_size);
    struct pagemap_hasher *h = pagemap_hasher_new();
    unsigned char *zero = dv_calloc(1, m->page_size);
    for (uint64_t pg = old + 1; pg <= m->npages; pg++) /* beyond the copy: zeros */
        pagemap_digest(h, zero, m->page_size, pagemap_at(m, pg));
    uint32_t pg;
    const void *page;
    int r;
    while ((r = delta_reader_next(dr, &pg, &page)) > 0)
        if (pg >= 1 && pg <= m->npages)
            pagemap_digest(h, page, m->page_size, pagemap_at(m, pg));
    free(zero);
    pagemap_hasher_free(h);
    delta_reader_free(dr);
    return r < 0 ? -1 : 0;
}

int pagemap_check_image(const struct pagemap *m, const char *image_path, const char *what)
{
    int fd = dv_open_regular(image_path, O_RDONLY);
    if (fd < 0)
        return -1;
    int rc = pagemap_check_fd(m, fd, image_path, what);
    close(fd);
    return rc;
}

int pagemap_check_fd(const struct pagemap *m, int fd, const char *name, const char *what)
{
    struct pagemap got;
    if (pagemap_of_fd(fd, name, -1, NULL, m->page_size, &got, NULL) != 0)
        return -1;
    int rc = -1;
    if (got.size != m->size) {
        dv_seterr("%s has %llu bytes, its page map says %llu", what, (unsigned long long)got.size,
                  (unsigned long long)m->size);
        goto out;
    }
    for (uint64_t pg = 1; pg <= m->npages; pg++) {
        if (memcmp(pagemap_at(&got, pg), pagemap_at(m, pg), PAGEMAP_DIGEST) != 0) {
            dv_seterr("%s: page %llu differs from the set's page map", what,
                      (unsigned long long)pg);
            goto out;
        }
    }
    rc = 0;
out:
    pagemap_done(&got);
    return rc;
}

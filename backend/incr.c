/* incr.c - see incr.h; formats in docs/formats.md (".inc", ".pagemap"). */
#include "incr.h"

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
#include "nlorefs.h"
#include "pagemap.h"
#include "snapshot.h"
#include "util.h"
#include "wal.h"

#define INCR_MAGIC "DVINCR\0"
#define INCR_TRAIL_MAGIC "DVITRAIL"
#define INCR_CHUNK_PAGES 256 /* pages read per pread while digesting the file */
#define INCR_RESCANS 8       /* WAL restarts tolerated (only with a read-mark 0 snapshot) */

void (*incr_test_hook)(const char *point, void *ud);
void *incr_test_hook_ud;

static void test_hook(const char *point)
{
    if (incr_test_hook)
        incr_test_hook(point, incr_test_hook_ud);
}

bool incr_is_inc_path(const char *path)
{
    size_t n = path ? strlen(path) : 0, k = strlen(INCR_SUFFIX);
    return n > k && strcmp(path + n - k, INCR_SUFFIX) == 0;
}

/* ---- the .inc file: header ------------------------------------------------------------- */

static void hdr_encode(const struct incr_header *h, unsigned char b[INCR_HDR_SIZE])
{
    memset(b, 0, INCR_HDR_SIZE);
    memcpy(b, INCR_MAGIC, 8);
    dv_wr32(b + 8, INCR_VERSION);
    dv_wr32(b + 12, h->page_size);
    dv_wr64(b + 16, h->origin_size);
    dv_wr64(b + 24, h->final_size);
    dv_wr32(b + 32, h->run_count);
    dv_wr64(b + 36, h->pages_stored);
    dv_wr64(b + 44, h->pages_total);
    memcpy(b + 52, h->origin, strnlen(h->origin, 31));
    memcpy(b + 84, h->set_id, strnlen(h->set_id, 31));
    memcpy(b + 116, h->replica_id, strnlen(h->replica_id, 63));
    memcpy(b + 180, h->dbiid, strnlen(h->dbiid, 63));
    dv_wr32(b + 252, delta_crc32c(0, b, 252));
}

static int hdr_decode(const char *path, const unsigned char b[INCR_HDR_SIZE], struct incr_header *h)
{
    if (memcmp(b, INCR_MAGIC, 8) != 0) {
        dv_seterr("%s: not an incremental file", path);
        return -1;
    }
    if (dv_rd32(b + 252) != delta_crc32c(0, b, 252)) {
        dv_seterr("%s: header checksum mismatch", path);
        return -1;
    }
    memset(h, 0, sizeof *h);
    h->version = dv_rd32(b + 8);
    if (h->version != INCR_VERSION) {
        dv_seterr("%s: version %u not supported (this dvault reads %d)", path, h->version,
                  INCR_VERSION);
        return -1;
    }
    h->page_size = dv_rd32(b + 12);
    h->origin_size = dv_rd64(b + 16);
    h->final_size = dv_rd64(b + 24);
    h->run_count = dv_rd32(b + 32);
    h->pages_stored = dv_rd64(b + 36);
    h->pages_total = dv_rd64(b + 44);
    memcpy(h->origin, b + 52, 31);
    memcpy(h->set_id, b + 84, 31);
    memcpy(h->replica_id, b + 116, 63);
    memcpy(h->dbiid, b + 180, 63);
    uint32_t ps = h->page_size;
    if (ps < 512 || ps > 65536 || (ps & (ps - 1)) || h->final_size % ps || h->origin_size % ps) {
        dv_seterr("%s: bad page size %u or sizes %llu/%llu", path, ps,
                  (unsigned long long)h->origin_size, (unsigned long long)h->final_size);
        return -1;
    }
    return 0;
}

/* ---- the .inc file: reading ------------------------------------------------------------ */

/* Called with each chunk of a run's pages (whole pages; off = image offset of the first). */
typedef int (*inc_data_fn)(void *ud, uint64_t off, const unsigned char *p, size_t n);

/* One walk over a .inc (inc_walk): where it is, what it has read, where it hands the pages. */
struct walk {
    int in;
    const char *path;
    EVP_MD_CTX *sha; /* of every byte read so far */
    struct incr_header h;
    uint64_t fsize, off; /* the file's size; the offset of the next byte to read */
    uint64_t prev_end, stored;
    unsigned char *buf;
    size_t bufcap;
    int fd; /* >= 0: each run is written into it (name for messages) */
    const char *name;
    inc_data_fn on_data;
    void *ud;
};

/* Run i at w->off: its header (order, bounds), its pages (to fd / on_data), its checksum. */
static int walk_run(struct walk *w, uint32_t i)
{
    unsigned char rh[INCR_RUN_HDR], rt[INCR_RUN_TRAILER];
    const char *path = w->path;
    uint64_t end = w->fsize - INCR_TRAILER_SIZE;
    if (w->off + INCR_RUN_HDR > end ||
        dv_pread_full(w->in, rh, INCR_RUN_HDR, (off_t)w->off) != INCR_RUN_HDR) {
        dv_seterr("%s: run %u: truncated", path, i);
        return -1;
    }
    uint32_t ps = w->h.page_size;
    uint64_t roff = dv_rd64(rh), rsize = dv_rd64(rh + 8);
    if (rsize == 0 || roff % ps || rsize % ps || roff < w->prev_end ||
        roff + rsize > w->h.final_size || roff + rsize < roff) {
        dv_seterr("%s: run %u: offset %llu size %llu out of order or beyond %llu", path, i,
                  (unsigned long long)roff, (unsigned long long)rsize,
                  (unsigned long long)w->h.final_size);
        return -1;
    }
    if (w->off + INCR_RUN_HDR + rsize + INCR_RUN_TRAILER > end) {
        dv_seterr("%s: run %u (offset %llu): truncated", path, i, (unsigned long long)roff);
        return -1;
    }
    uint32_t crc = delta_crc32c(0, rh, INCR_RUN_HDR);
    EVP_DigestUpdate(w->sha, rh, INCR_RUN_HDR);
    w->off += INCR_RUN_HDR;
    uint64_t done = 0, chunk = (uint64_t)ps * INCR_CHUNK_PAGES;
    if (w->bufcap < chunk) {
        free(w->buf);
        w->bufcap = (size_t)chunk;
        w->buf = dv_malloc(w->bufcap);
    }
    while (done < rsize) {
        size_t n = (size_t)(rsize - done < chunk ? rsize - done : chunk);
        if (dv_pread_full(w->in, w->buf, n, (off_t)(w->off + done)) != (ssize_t)n) {
            dv_syserr("%s: run %u: read", path, i);
            return -1;
        }
        crc = delta_crc32c(crc, w->buf, n);
        EVP_DigestUpdate(w->sha, w->buf, n);
        if (w->fd >= 0 && dv_pwrite_all(w->fd, w->buf, n, (off_t)(roff + done)) != 0) {
            dv_syserr("write %s", w->name);
            return -1;
        }
        if (w->on_data && w->on_data(w->ud, roff + done, w->buf, n) != 0)
            return -1;
        done += n;
    }
    w->off += rsize;
    if (dv_pread_full(w->in, rt, INCR_RUN_TRAILER, (off_t)w->off) != INCR_RUN_TRAILER) {
        dv_seterr("%s: run %u: truncated", path, i);
        return -1;
    }
    if (dv_rd32(rt) != crc) {
        dv_seterr("%s: run %u (offset %llu, %llu bytes): checksum mismatch (corrupt)", path, i,
                  (unsigned long long)roff, (unsigned long long)rsize);
        return -1;
    }
    EVP_DigestUpdate(w->sha, rt, INCR_RUN_TRAILER);
    w->off += INCR_RUN_TRAILER;
    w->prev_end = roff + rsize;
    w->stored += rsize / ps;
    return 0;
}

/* After the last run: the trailer, the file's size, its SHA-256 (trailer, expect_sha256). */
static int walk_trailer(struct walk *w, const char *expect_sha256)
{
    unsigned char tr[INCR_TRAILER_SIZE];
    const char *path = w->path;
    if (w->off + INCR_TRAILER_SIZE != w->fsize) {
        dv_seterr("%s: size %llu, its runs end at %llu (+%d trailer)", path,
                  (unsigned long long)w->fsize, (unsigned long long)w->off, INCR_TRAILER_SIZE);
        return -1;
    }
    if (w->stored != w->h.pages_stored) {
        dv_seterr("%s: runs hold %llu pages, the header says %llu", path,
                  (unsigned long long)w->stored, (unsigned long long)w->h.pages_stored);
        return -1;
    }
    if (dv_pread_full(w->in, tr, INCR_TRAILER_SIZE, (off_t)w->off) != INCR_TRAILER_SIZE ||
        memcmp(tr, INCR_TRAIL_MAGIC, 8) != 0 || dv_rd32(tr + 8) != w->h.run_count) {
        dv_seterr("%s: bad trailer", path);
        return -1;
    }
    unsigned char md[32];
    unsigned int mdlen;
    EVP_DigestFinal_ex(w->sha, md, &mdlen);
    if (memcmp(md, tr + 16, 32) != 0) {
        dv_seterr("%s: SHA-256 mismatch (corrupt)", path);
        return -1;
    }
    if (expect_sha256 && expect_sha256[0]) {
        char hex[65];
        if (dv_sha256_fd_hex(w->in, path, hex) != 0)
            return -1;
        if (strcmp(hex, expect_sha256) != 0) {
            dv_seterr("%s is corrupt: SHA-256 %s, the backup recorded %s", path, hex,
                      expect_sha256);
            return -1;
        }
    }
    return 0;
}

/*
 * Walk a .inc: check everything; with fd >= 0 also write each run into fd (only call with
 * fd after a successful walk without it); with on_data, hand it every chunk of pages (it may
 * fail the walk with -1 and a message). EVP SHA-256 of the whole file is compared with the
 * trailer and expect_sha256.
 */
static int inc_walk(int in, const char *path, const char *expect_sha256, struct incr_header *hout,
                    int fd, const char *name, inc_data_fn on_data, void *ud)
{
    struct walk w = {.in = in, .path = path, .fd = fd, .name = name, .on_data = on_data, .ud = ud};
    w.sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(w.sha, EVP_sha256(), NULL);
    unsigned char hb[INCR_HDR_SIZE];
    struct stat st;
    int rc = -1;
    if (fstat(in, &st) != 0) {
        dv_syserr("%s", path);
        goto out;
    }
    w.fsize = (uint64_t)st.st_size;
    if (w.fsize < INCR_HDR_SIZE + INCR_TRAILER_SIZE ||
        dv_pread_full(in, hb, INCR_HDR_SIZE, 0) != INCR_HDR_SIZE) {
        dv_seterr("%s: truncated (%llu bytes)", path, (unsigned long long)w.fsize);
        goto out;
    }
    if (hdr_decode(path, hb, &w.h) != 0)
        goto out;
    EVP_DigestUpdate(w.sha, hb, INCR_HDR_SIZE);
    w.off = INCR_HDR_SIZE;
    for (uint32_t i = 0; i < w.h.run_count; i++)
        if (walk_run(&w, i) != 0)
            goto out;
    if (walk_trailer(&w, expect_sha256) != 0)
        goto out;
    if (hout)
        *hout = w.h;
    rc = 0;
out:
    free(w.buf);
    EVP_MD_CTX_free(w.sha);
    return rc;
}

int incr_file_verify(const char *path, const char *expect_sha256, struct incr_header *h)
{
    int in = dv_open_regular(path, O_RDONLY); /* no FIFO is waited on */
    if (in < 0)
        return -1;
    int rc = inc_walk(in, path, expect_sha256, h, -1, NULL, NULL, NULL);
    close(in);
    return rc;
}

int incr_file_apply(int in, const char *path, const char *expect_sha256, const char *origin,
                    uint32_t page_size, int fd, const char *name, struct incr_header *hout)
{
    struct incr_header h;
    if (inc_walk(in, path, expect_sha256, &h, -1, NULL, NULL, NULL) != 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        dv_syserr("%s", name);
        return -1;
    }
    if (origin && strcmp(origin, h.origin) != 0) {
        dv_seterr("%s applies on set %s, not on %s", path, h.origin, origin);
        return -1;
    }
    if (page_size && page_size != h.page_size) {
        dv_seterr("%s: page size %u, the image has %u", path, h.page_size, page_size);
        return -1;
    }
    if ((uint64_t)st.st_size != h.origin_size) {
        dv_seterr("%s applies on an image of %llu bytes, %s has %llu", path,
                  (unsigned long long)h.origin_size, name, (unsigned long long)st.st_size);
        return -1;
    }
    if (inc_walk(in, path, NULL, NULL, fd, name, NULL, NULL) != 0)
        return -1;
    if (ftruncate(fd, (off_t)h.final_size) != 0 || fsync(fd) != 0) {
        dv_syserr("%s: set size", name);
        return -1;
    }
    if (hout)
        *hout = h;
    return 0;
}

/* incr_file_check: each stored page against the new map, and which pages the file holds. */
struct inc_check {
    const struct pagemap *pm;
    struct pagemap_hasher *h;
    unsigned char *held; /* one byte per page of pm: stored in the file */
};

static int check_data(void *ud, uint64_t off, const unsigned char *p, size_t n)
{
    struct inc_check *k = ud;
    uint32_t ps = k->pm->page_size;
    unsigned char dg[PAGEMAP_DIGEST];
    for (size_t i = 0; i < n / ps; i++) {
        uint64_t pg = off / ps + 1 + i;
        if (pg > k->pm->npages) {
            dv_seterr("page %llu is beyond the image (%llu pages)", (unsigned long long)pg,
                      (unsigned long long)k->pm->npages);
            return -1;
        }
        pagemap_digest(k->h, p + i * ps, ps, dg);
        if (memcmp(dg, pagemap_at(k->pm, pg), PAGEMAP_DIGEST) != 0) {
            dv_seterr("page %llu as stored differs from the image's page map",
                      (unsigned long long)pg);
            return -1;
        }
        k->held[pg - 1] = 1;
    }
    return 0;
}

int incr_file_check(const char *path, const char *expect_sha256, const struct pagemap *om,
                    const struct pagemap *pm)
{
    int in = dv_open_regular(path, O_RDONLY);
    if (in < 0)
        return -1;
    int rc = incr_file_check_fd(in, path, expect_sha256, om, pm);
    close(in);
    return rc;
}

int incr_file_check_fd(int in, const char *path, const char *expect_sha256,
                       const struct pagemap *om, const struct pagemap *pm)
{
    struct incr_header h;
    struct inc_check k = {.pm = pm, .h = pagemap_hasher_new()};
    k.held = dv_calloc(pm->npages ? pm->npages : 1, 1);
    int rc = -1;
    if (inc_walk(in, path, expect_sha256, &h, -1, NULL, check_data, &k) != 0)
        goto out;
    if (h.page_size != pm->page_size || om->page_size != pm->page_size ||
        h.origin_size != om->size || h.final_size != pm->size) {
        dv_seterr("page size %u applies on %llu bytes to give %llu; the origin's map says %u and "
                  "%llu bytes, the image's %u and %llu bytes",
                  h.page_size, (unsigned long long)h.origin_size, (unsigned long long)h.final_size,
                  om->page_size, (unsigned long long)om->size, pm->page_size,
                  (unsigned long long)pm->size);
        goto out;
    }
    /* a page the file does not hold is the origin's page: it must be the image's */
    for (uint64_t pg = 1; pg <= pm->npages; pg++) {
        if (k.held[pg - 1])
            continue;
        if (pg > om->npages ||
            memcmp(pagemap_at(om, pg), pagemap_at(pm, pg), PAGEMAP_DIGEST) != 0) {
            dv_seterr("page %llu is not stored and the origin's page %llu is not the image's",
                      (unsigned long long)pg, (unsigned long long)pg);
            goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0)
        dv_preferr("%s", path);
    free(k.held);
    pagemap_hasher_free(k.h);
    return rc;
}

/* ---- the .inc file: writing ------------------------------------------------------------ */

struct inc_writer {
    int fd;
    struct fsb_tmp t; /* the temporary beside the .inc (fsb.h) */
    const char *tmp;
    EVP_MD_CTX *sha;
    uint64_t size;
};

static int iw_write(struct inc_writer *w, const void *p, size_t n)
{
    if (dv_write_all(w->fd, p, n) != 0) {
        dv_syserr("write %s", w->tmp);
        return -1;
    }
    EVP_DigestUpdate(w->sha, p, n);
    w->size += n;
    return 0;
}

/* ---- choosing the kind and the origin ---------------------------------------------------- */

int incr_choose_kind(struct catalog *cat, bool want_incremental, enum catalog_set_kind *kind,
                     char origin[32], char *why, size_t whylen)
{
    *kind = CATALOG_SET_FULL;
    origin[0] = '\0';
    why[0] = '\0';
    struct catalog_set last;
    int r = catalog_set_latest(cat, false, &last);
    if (r < 0)
        return -1;
    if (r == 1 && last.status == CATALOG_SET_FAILED) {
        /* kept as the new set's message: it must read plainly there too (status shows
         * "last backup NEW (full, complete, ...): a full backup, because ...") */
        snprintf(why, whylen, "a full backup, because the set before it, %s, failed (%.200s)",
                 last.id, last.message[0] ? last.message : "no reason recorded");
        return 0;
    }
    if (!want_incremental)
        return 0;
    struct catalog_set ok; /* a partial set is an origin for the databases it holds */
    if ((r = catalog_set_latest_usable(cat, &ok)) < 0)
        return -1;
    if (r == 0) {
        snprintf(why, whylen, "no complete backup set to start from: this backup is a full one");
        return 0;
    }
    *kind = CATALOG_SET_INCREMENTAL;
    snprintf(origin, 32, "%s", ok.id);
    return 0;
}

void incr_origin_done(struct incr_origin *o)
{
    if (!o)
        return;
    if (o->fetched && o->pagemap_rel)
        target_evict(o->fetched, o->pagemap_rel);
    free(o->pagemap_rel);
    memset(o, 0, sizeof *o);
}

int incr_origin_find(struct catalog *cat, struct target *t, const char *db_path,
                     struct incr_origin *o)
{
    memset(o, 0, sizeof *o);
    int64_t db_id;
    int r = catalog_db_lookup(cat, db_path, &db_id);
    if (r < 0)
        return -1;
    if (r == 0) {
        snprintf(o->why, sizeof o->why, "new database");
        return 0;
    }
    if ((r = catalog_db_latest_set(cat, db_id, o->set_id)) < 0)
        return -1;
    if (r == 0) {
        snprintf(o->why, sizeof o->why, "no complete set holds it");
        return 0;
    }
    /* a database a later (partial) set could not copy is retried in full: whatever broke it
       (emptied, replaced, damaged) makes its last copy no base to build on */
    struct catalog_set_failure fl;
    struct catalog_set origin;
    memset(&origin, 0, sizeof origin);
    if ((r = catalog_db_failure_latest(cat, db_path, &fl)) < 0 ||
        (r == 1 && catalog_set_get(cat, o->set_id, &origin) < 0))
        return -1;
    if (r == 1 && fl.seq > origin.seq) {
        snprintf(o->why, sizeof o->why, "set %s could not copy it (%.150s)", fl.set_id, fl.reason);
        return 0;
    }
    struct catalog_file_incr x;
    struct catalog_set_file f;
    if ((r = catalog_file_incr_get(cat, o->set_id, db_id, &x)) < 0)
        return -1;
    if (r == 0 || !x.pagemap[0]) {
        snprintf(o->why, sizeof o->why, "its origin set %s has no page map", o->set_id);
        return 0;
    }
    if ((r = catalog_set_file_get(cat, o->set_id, db_path, &f)) < 0)
        return -1;
    if (r == 0) {
        snprintf(o->why, sizeof o->why, "its origin set %s is gone", o->set_id);
        return 0;
    }
    o->page_size = (uint32_t)f.page_size;
    snprintf(o->replica_id, sizeof o->replica_id, "%s", f.replica_id ? f.replica_id : "");
    snprintf(o->dbiid, sizeof o->dbiid, "%s", f.dbiid ? f.dbiid : "");
    catalog_set_file_done(&f);
    o->root = target_root(t);
    o->pagemap_rel = dv_asprintf("sets/%s/%s", o->set_id, x.pagemap);
    snprintf(o->pagemap_sha256, sizeof o->pagemap_sha256, "%s", x.pagemap_sha256);
    struct stat st;
    bool s3 = target_kind(t) == TARGET_KIND_S3; /* the origin's map is in the bucket: fetched */
    if (s3 && dv_path_is_safe_rel(x.pagemap) && target_fetch(t, o->pagemap_rel) == 0)
        o->fetched = t;
    if (!dv_path_is_safe_rel(x.pagemap) || fsb_lstat(o->root, o->pagemap_rel, &st) != 0) {
        snprintf(o->why, sizeof o->why, "its origin set %s is gone from the target", o->set_id);
        return 0;
    }
    return incr_chain_origin_ok(cat, t, db_path, o);
}

/* ---- backup of one database ------------------------------------------------------------ */

struct ib {
    const char *src;
    const struct fsb *root; /* where the .inc is written (the set's directory) */
    const struct incr_origin *o;
    struct incr_result *r;
    struct dv_job *job;
    struct dv_snapshot s; /* the pinned snapshot; s.wal_fd: the WAL read at the stop */
    char *walp;
    struct wal_info w;
    struct pagemap_hasher *h;
    unsigned char *filed; /* digests of the file's pages (base pages) */
    uint64_t base_pages;
};

/* Pin the snapshot (snapshot.h) and read the references as of its begin. */
static int ib_begin(struct ib *c)
{
    if (snapshot_begin(&c->s, c->src, c->o->busy_ms) != 0)
        return -1;
    c->r->wal_mode = c->s.wal_mode;
    c->r->page_size = c->s.page_size;
    c->r->base_size = c->s.size;
    snprintf(c->r->replica_id, sizeof c->r->replica_id, "%s", c->s.replica_id);
    snprintf(c->r->dbiid, sizeof c->r->dbiid, "%s", c->s.dbiid);
    return nlorefs_query(c->s.db, c->src, &c->r->refs, &c->r->nrefs);
}

/* Digest every page of the file up to the size seen at begin. */
static int ib_read_file(struct ib *c)
{
    uint32_t ps = c->r->page_size;
    c->base_pages = c->r->base_size / ps; /* a torn partial last page is never SQLite's */
    c->filed = dv_calloc(c->base_pages ? c->base_pages : 1, PAGEMAP_DIGEST);
    unsigned char *buf = dv_malloc((size_t)ps * INCR_CHUNK_PAGES);
    int rc = 0;
    for (uint64_t pg = 0; pg < c->base_pages && rc == 0; pg += INCR_CHUNK_PAGES) {
        if (job_cancelled(c->job)) {
            dv_seterr("cancelled");
            rc = -1;
            break;
        }
        uint64_t cnt =
            c->base_pages - pg < INCR_CHUNK_PAGES ? c->base_pages - pg : INCR_CHUNK_PAGES;
        size_t want = (size_t)(cnt * ps);
        ssize_t got = dv_pread_full(c->s.fd, buf, want, (off_t)(pg * ps));
        if (got < 0) {
            dv_syserr("read");
            rc = -1;
            break;
        }
        if ((size_t)got < want) /* shrank under us (a checkpoint truncated): zeros, as hotcopy */
            memset(buf + got, 0, want - (size_t)got);
        for (uint64_t i = 0; i < cnt; i++)
            pagemap_digest(c->h, buf + i * ps, ps, c->filed + (pg + i) * PAGEMAP_DIGEST);
        job_advance(c->job, 0, want, NULL);
        if (pg < c->base_pages / 2 && pg + cnt >= c->base_pages / 2)
            test_hook("read.half");
    }
    free(buf);
    return rc;
}

/* Index of pgno in c->w.pages, or -1. */
static long wal_index_of(const struct wal_info *w, uint32_t pgno)
{
    size_t lo = 0, hi = w->npages;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (w->pages[mid].pgno < pgno)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < w->npages && w->pages[lo].pgno == pgno ? (long)lo : -1;
}

/*
 * The stop: scan the WAL, form the image's page map (file digests, replaced by the WAL's
 * images). Returns 0, 1 when the WAL was restarted meanwhile (scan again), -1.
 */
static int ib_stop(struct ib *c, struct pagemap *pm)
{
    uint32_t ps = c->r->page_size;
    wal_info_free(&c->w);
    if (c->s.wal_fd >= 0)
        close(c->s.wal_fd);
    c->s.wal_fd = -1;
    if (c->r->wal_mode) {
        if (wal_scan_path(c->walp, NULL, &c->w, &c->s.wal_fd) != 0)
            return -1;
        if (c->w.ncommits && c->w.page_size != ps) {
            dv_seterr("WAL %s: page size %u, the database has %u", c->walp, c->w.page_size, ps);
            return -1;
        }
    }
    uint64_t final = c->w.ncommits ? (uint64_t)c->w.db_pages * ps : c->base_pages * ps;
    pagemap_init(pm, ps, final);
    unsigned char zero_d[PAGEMAP_DIGEST];
    unsigned char *zero = dv_calloc(1, ps);
    pagemap_digest(c->h, zero, ps, zero_d);
    free(zero);
    for (uint64_t pg = 1; pg <= pm->npages; pg++)
        memcpy(pagemap_at(pm, pg),
               pg <= c->base_pages ? c->filed + (pg - 1) * PAGEMAP_DIGEST : zero_d, PAGEMAP_DIGEST);
    if (!c->w.ncommits)
        return 0;
    unsigned char *buf = dv_malloc((size_t)ps * INCR_CHUNK_PAGES);
    int rc = 0;
    for (size_t i = 0; i < c->w.npages && rc == 0; i += INCR_CHUNK_PAGES) {
        size_t n = c->w.npages - i < INCR_CHUNK_PAGES ? c->w.npages - i : INCR_CHUNK_PAGES;
        rc = wal_read_pages(c->s.wal_fd, c->walp, &c->w, i, n, buf);
        for (size_t k = 0; rc == 0 && k < n; k++)
            pagemap_digest(c->h, buf + k * ps, ps, pagemap_at(pm, c->w.pages[i + k].pgno));
    }
    free(buf);
    if (rc != 0)
        pagemap_done(pm);
    c->r->delta_pages = (uint32_t)c->w.npages;
    return rc;
}

/* One page of the image into buf: 0, 1 (WAL restarted), -1. */
static int ib_page(struct ib *c, uint64_t pgno, unsigned char *buf)
{
    uint32_t ps = c->r->page_size;
    long wi = c->w.ncommits ? wal_index_of(&c->w, (uint32_t)pgno) : -1;
    if (wi >= 0)
        return wal_read_pages(c->s.wal_fd, c->walp, &c->w, (size_t)wi, 1, buf);
    memset(buf, 0, ps);
    if (pgno <= c->base_pages && dv_pread_full(c->s.fd, buf, ps, (off_t)((pgno - 1) * ps)) < 0) {
        dv_syserr("read page %llu", (unsigned long long)pgno);
        return -1;
    }
    return 0;
}

/*
 * Write the .inc: the pages of pm that differ from the origin's map, as runs. Returns 0,
 * 1 (WAL restarted: the caller scans again and rewrites), -1.
 */
static int ib_write_inc(struct ib *c, const struct pagemap *pm, const struct pagemap *om,
                        const char *path, const char *set_id)
{
    uint32_t ps = c->r->page_size;
    /* the changed pages, as runs */
    uint64_t nruns = 0, stored = 0;
    uint64_t(*runs)[2] = NULL; /* first pgno, page count */
    for (uint64_t pg = 1; pg <= pm->npages; pg++) {
        bool changed =
            pg > om->npages || memcmp(pagemap_at(pm, pg), pagemap_at(om, pg), PAGEMAP_DIGEST) != 0;
        if (!changed)
            continue;
        stored++;
        if (nruns && runs[nruns - 1][0] + runs[nruns - 1][1] == pg) {
            runs[nruns - 1][1]++;
        } else {
            if ((nruns & (nruns - 1)) == 0)
                runs = dv_realloc(runs, (nruns ? nruns * 2 : 1) * sizeof *runs);
            runs[nruns][0] = pg;
            runs[nruns][1] = 1;
            nruns++;
        }
    }
    struct incr_header h = {.page_size = ps,
                            .origin_size = om->size,
                            .final_size = pm->size,
                            .run_count = (uint32_t)nruns,
                            .pages_stored = stored,
                            .pages_total = pm->npages};
    snprintf(h.origin, sizeof h.origin, "%s", c->o->set_id);
    snprintf(h.set_id, sizeof h.set_id, "%s", set_id);
    snprintf(h.replica_id, sizeof h.replica_id, "%s", c->r->replica_id);
    snprintf(h.dbiid, sizeof h.dbiid, "%s", c->r->dbiid);
    struct inc_writer w = {.fd = -1};
    w.sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(w.sha, EVP_sha256(), NULL);
    unsigned char hb[INCR_HDR_SIZE], *page = dv_malloc(ps);
    unsigned char dg[PAGEMAP_DIGEST];
    int rc = -1;
    /* a new temporary (O_EXCL) beside path, beneath the set's directory without links */
    if (fsb_tmp_open(c->root, path, NULL, 0600, 0, &w.t) != 0)
        goto out;
    w.fd = w.t.fd;
    w.tmp = w.t.path;
    hdr_encode(&h, hb);
    if (iw_write(&w, hb, sizeof hb) != 0)
        goto out;
    for (uint64_t i = 0; i < nruns; i++) {
        unsigned char rh[INCR_RUN_HDR], rt[INCR_RUN_TRAILER] = {0};
        dv_wr64(rh, (runs[i][0] - 1) * ps);
        dv_wr64(rh + 8, runs[i][1] * ps);
        uint32_t crc = delta_crc32c(0, rh, sizeof rh);
        if (iw_write(&w, rh, sizeof rh) != 0)
            goto out;
        for (uint64_t pg = runs[i][0]; pg < runs[i][0] + runs[i][1]; pg++) {
            int pr = ib_page(c, pg, page);
            if (pr != 0) {
                rc = pr;
                goto out;
            }
            pagemap_digest(c->h, page, ps, dg);
            if (memcmp(dg, pagemap_at(pm, pg), PAGEMAP_DIGEST) != 0) {
                dv_seterr("page %llu changed while it was read (a bug: please report)",
                          (unsigned long long)pg);
                goto out;
            }
            crc = delta_crc32c(crc, page, ps);
            if (iw_write(&w, page, ps) != 0)
                goto out;
        }
        dv_wr32(rt, crc);
        if (iw_write(&w, rt, sizeof rt) != 0)
            goto out;
        job_advance(c->job, 0, 0, NULL);
    }
    unsigned char tr[INCR_TRAILER_SIZE] = {0};
    memcpy(tr, INCR_TRAIL_MAGIC, 8);
    dv_wr32(tr + 8, (uint32_t)nruns);
    unsigned int mdlen;
    EVP_DigestFinal_ex(w.sha, tr + 16, &mdlen);
    if (dv_write_all(w.fd, tr, sizeof tr) != 0) {
        dv_syserr("write %s", w.tmp);
        goto out;
    }
    w.size += sizeof tr;
    dv_crashpoint("incr.inc_written");
    if (dv_sha256_fd_hex(w.fd, w.tmp, c->r->inc_sha256) != 0)
        goto out;
    if (fsb_tmp_commit(&w.t, 0) != 0) {
        if (w.t.committed)
            fsb_unlink(c->root, path, true);
        goto out;
    }
    c->r->runs = (uint32_t)nruns;
    c->r->pages_stored = stored;
    c->r->pages_total = pm->npages;
    c->r->inc_size = w.size;
    rc = 0;
out:
    fsb_tmp_done(&w.t); /* closes the file, removes the temporary unless renamed */
    EVP_MD_CTX_free(w.sha);
    free(page);
    free(runs);
    return rc;
}

void incr_result_done(struct incr_result *r)
{
    if (!r)
        return;
    nlorefs_free(r->refs, r->nrefs);
    r->refs = NULL;
    r->nrefs = 0;
}

int incr_backup_db(const char *src, const struct fsb *root, const char *inc_path,
                   const char *pagemap_path, const struct incr_origin *o, const char *set_id,
                   struct dv_job *job, struct incr_result *r)
{
    double t0 = dv_mono();
    memset(r, 0, sizeof *r);
    struct ib c = {
        .src = src, .root = root, .o = o, .r = r, .job = job, .s = {.fd = -1, .wal_fd = -1}};
    c.walp = wal_path_of(src);
    c.h = pagemap_hasher_new();
    struct pagemap om = {0}, pm = {0};
    const char *step = "begin";
    int rc = -1;
    bool inc_written = false;
    if (ib_begin(&c) != 0)
        goto out;
    if (r->page_size != o->page_size)
        snprintf(r->why, sizeof r->why, "page size changed (%u -> %u)", o->page_size, r->page_size);
    else if (strcmp(r->replica_id, o->replica_id) != 0)
        snprintf(r->why, sizeof r->why, "replica id changed (%s -> %s)", o->replica_id,
                 r->replica_id);
    else if (strcmp(r->dbiid, o->dbiid) != 0)
        snprintf(r->why, sizeof r->why, "instance id changed (%s -> %s)", o->dbiid, r->dbiid);
    else if (pagemap_read_at(o->root, o->pagemap_rel, o->pagemap_sha256, &om) != 0)
        snprintf(r->why, sizeof r->why, "origin page map unusable: %.200s", dv_err());
    else if (om.page_size != r->page_size)
        snprintf(r->why, sizeof r->why, "origin page map has page size %u", om.page_size);
    if (r->why[0]) {
        rc = 1;
        goto out;
    }
    step = "read";
    if (ib_read_file(&c) != 0)
        goto out;
    dv_crashpoint("incr.read");
    for (int tries = 0;; tries++) {
        step = "stop";
        pagemap_done(&pm);
        int s = ib_stop(&c, &pm);
        if (s == 0) {
            step = "write";
            s = ib_write_inc(&c, &pm, &om, inc_path, set_id);
        }
        if (s < 0)
            goto out;
        if (s == 0)
            break;
        if (tries == INCR_RESCANS) {
            dv_seterr("the WAL %s kept restarting during the copy", c.walp);
            goto out;
        }
    }
    inc_written = true;
    test_hook("written");
    /*
     * The file as stored, read back against the maps: every stored page is the image's, every
     * other page is the origin's and unchanged. With the origin's map checked the same way
     * (PAGEMAP_F_CHECKED), restore then rebuilds exactly this image: else the set fails here
     * rather than when it is restored.
     */
    step = "check";
    {
        /* read back beneath the set's directory (no link, a regular file) */
        char *ipath = fsb_abs(root, inc_path);
        int in = fsb_openat(root, inc_path, O_RDONLY, 0);
        int cr = in < 0 ? -1 : incr_file_check_fd(in, ipath, r->inc_sha256, &om, &pm);
        if (in >= 0)
            close(in);
        free(ipath);
        if (cr != 0)
            goto out;
    }
    pm.flags |= PAGEMAP_F_CHECKED;
    step = "references";
    if (nlorefs_query_live(src, o->busy_ms, &r->refs, &r->nrefs) != 0)
        goto out;
    snapshot_end(&c.s);
    nlorefs_sort_unique(r->refs, &r->nrefs);
    step = "page map";
    if (pagemap_write_at(root, pagemap_path, &pm, r->pagemap_sha256) != 0)
        goto out;
    r->final_size = pm.size;
    rc = 0;
out:
    if (rc < 0) {
        dv_preferr("incremental %s (%s)", src, step);
        if (inc_written)
            fsb_unlink(root, inc_path, true);
        incr_result_done(r);
    }
    if (rc == 1)
        incr_result_done(r);
    snapshot_end(&c.s);
    wal_info_free(&c.w);
    pagemap_done(&om);
    pagemap_done(&pm);
    pagemap_hasher_free(c.h);
    free(c.filed);
    free(c.walp);
    r->seconds = dv_mono() - t0;
    return rc;
}

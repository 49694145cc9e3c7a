/*
 * archive_seg.c - the archive's files: segments (encode, read, list, summarise) and run
 * records. The one owner of the segment format (docs/formats.md "Archive segment"); the
 * archiver (archive.c), point-in-time restore (pitr.c), prune and status read it through here.
 */
#include "archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <zstd.h>

#include "bytes.h"
#include "dbglob.h"
#include "delta.h"
#include "fsb.h"
#include "util.h"

#define SEG_MAGIC "DVARSEG"
#define SEG_TRAIL "DVASTRAI"
#define SEG_ZSTD_LEVEL 3
#define SEG_RAW_MAX ((uint64_t)1 << 30) /* records of one segment, expanded */
#define RUN_REC_MAX (64 * 1024)

void archive_seg_done(struct archive_seg *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->rel);
    free(s->txns);
    memset(s, 0, sizeof *s);
}

void archive_segs_free(struct archive_seg *segs, size_t n)
{
    for (size_t i = 0; segs && i < n; i++)
        archive_seg_done(&segs[i]);
    free(segs);
}

/* ---- encoding ------------------------------------------------------------------------------ */

static void head_encode(const struct archive_seg_meta *m, uint32_t flags, uint64_t raw_len,
                        unsigned char h[ARCHIVE_SEG_HDR])
{
    memset(h, 0, ARCHIVE_SEG_HDR);
    memcpy(h, SEG_MAGIC, 8);
    dv_wr32(h + 8, ARCHIVE_SEG_VERSION);
    dv_wr32(h + 12, m->page_size);
    dv_wr64(h + 16, m->seq);
    dv_wr32(h + 24, flags);
    dv_wr32(h + 28, m->salt1);
    dv_wr32(h + 32, m->salt2);
    dv_wr32(h + 36, m->ckpt_seq);
    dv_wr32(h + 40, m->first_frame);
    dv_wr32(h + 44, m->next_frame);
    dv_wr32(h + 48, m->cksum[0]);
    dv_wr32(h + 52, m->cksum[1]);
    dv_wr32(h + 56, m->ntx);
    dv_wr32(h + 60, m->nfr);
    dv_wr64(h + 64, (uint64_t)m->first_us);
    dv_wr64(h + 72, (uint64_t)m->last_us);
    dv_wr64(h + 80, (uint64_t)m->err_us);
    dv_wr64(h + 88, (uint64_t)m->watch_from_us);
    dv_wr64(h + 96, (uint64_t)m->last_look_us);
    dv_wr64(h + 104, raw_len);
    dv_wr64(h + 112, m->seal_fp);
    dv_wr32(h + 124, delta_crc32c(0, h, 124));
}

int archive_seg_encode(const struct archive_seg_meta *m, const void *rec, size_t len,
                       unsigned char **out, size_t *outlen)
{
    if ((uint64_t)len > SEG_RAW_MAX) {
        dv_seterr("archive segment of %zu bytes: more than a segment holds", len);
        return -1;
    }
    size_t bound = ZSTD_compressBound(len);
    unsigned char *o = dv_malloc(ARCHIVE_SEG_HDR + bound + ARCHIVE_SEG_TRAILER);
    size_t z = 0;
    uint32_t flags = m->flags & ~(uint32_t)ARCHIVE_SEG_ZSTD;
    if (len) {
        z = ZSTD_compress(o + ARCHIVE_SEG_HDR, bound, rec, len, SEG_ZSTD_LEVEL);
        if (ZSTD_isError(z)) {
            dv_seterr("zstd: %s", ZSTD_getErrorName(z));
            free(o);
            return -1;
        }
        flags |= ARCHIVE_SEG_ZSTD;
    }
    head_encode(m, flags, len, o);
    size_t total = ARCHIVE_SEG_HDR + z + ARCHIVE_SEG_TRAILER;
    unsigned char *t = o + ARCHIVE_SEG_HDR + z;
    memcpy(t, SEG_TRAIL, 8);
    char hex[65];
    dv_sha256_hex(o, total - 32, hex);
    dv_unhex(hex, t + 8, 32);
    *out = o;
    *outlen = total;
    return 0;
}

/* ---- decoding ------------------------------------------------------------------------------ */

/* The header at u (CRC checked) into s. 0, or -1 with dv_err() naming path. */
static int head_decode(const char *path, const unsigned char *u, uint64_t file_size,
                       struct archive_seg *s)
{
    uint32_t v = dv_rd32(u + 8);
    if (memcmp(u, SEG_MAGIC, 8) != 0 || dv_rd32(u + 124) != delta_crc32c(0, u, 124) ||
        (v != 1 && v != 2)) {
        dv_seterr("%s: not an archive segment (bad magic, version or header checksum)", path);
        return -1;
    }
    s->version = v;
    s->page_size = dv_rd32(u + 12);
    s->seq = dv_rd64(u + 16);
    s->flags = dv_rd32(u + 24);
    s->salt1 = dv_rd32(u + 28);
    s->salt2 = dv_rd32(u + 32);
    s->ckpt_seq = dv_rd32(u + 36);
    s->first_frame = dv_rd32(u + 40);
    s->next_frame = dv_rd32(u + 44);
    s->cksum[0] = dv_rd32(u + 48);
    s->cksum[1] = dv_rd32(u + 52);
    s->hdr_ntx = dv_rd32(u + 56);
    s->hdr_nfr = dv_rd32(u + 60);
    s->first_us = (int64_t)dv_rd64(u + 64);
    s->last_us = (int64_t)dv_rd64(u + 72);
    s->file_size = file_size;
    if (v == 1) { /* uncompressed, no error bound, no watch record */
        s->flags &= ARCHIVE_SEG_START | ARCHIVE_SEG_GAP | ARCHIVE_SEG_BIGCK;
        s->err_us = -1;
        s->watch_from_us = s->flags & (ARCHIVE_SEG_START | ARCHIVE_SEG_GAP) ? s->first_us : 0;
        s->last_look_us = s->last_us;
        s->raw_len = file_size - ARCHIVE_SEG_HDR - ARCHIVE_SEG_TRAILER;
    } else {
        s->err_us = (int64_t)dv_rd64(u + 80);
        s->watch_from_us = (int64_t)dv_rd64(u + 88);
        s->last_look_us = (int64_t)dv_rd64(u + 96);
        s->raw_len = dv_rd64(u + 104);
        s->seal_fp = dv_rd64(u + 112);
    }
    uint32_t ps = s->page_size;
    if (ps < 512 || ps > 65536 || (ps & (ps - 1))) {
        dv_seterr("%s: bad page size %u", path, ps);
        return -1;
    }
    if (s->raw_len > SEG_RAW_MAX || (v == 2 && !(s->flags & ARCHIVE_SEG_ZSTD) && s->raw_len)) {
        dv_seterr("%s: bad record length %llu", path, (unsigned long long)s->raw_len);
        return -1;
    }
    return 0;
}

/* The records of a checked file (buf, len), expanded when compressed: *img is the header
 * followed by the records (malloc'd, or buf itself for version 1: *owned false). */
static int expand(const char *path, char *buf, size_t len, const struct archive_seg *s, char **img,
                  bool *owned)
{
    *owned = false;
    if (s->version == 1 || s->raw_len == 0) {
        *img = buf;
        return 0;
    }
    const char *src = buf + ARCHIVE_SEG_HDR;
    size_t srclen = len - ARCHIVE_SEG_HDR - ARCHIVE_SEG_TRAILER;
    unsigned long long want = ZSTD_getFrameContentSize(src, srclen);
    if (want != s->raw_len) {
        dv_seterr("%s: compressed records do not match the header", path);
        return -1;
    }
    char *o = dv_malloc(ARCHIVE_SEG_HDR + (size_t)s->raw_len);
    memcpy(o, buf, ARCHIVE_SEG_HDR);
    size_t n = ZSTD_decompress(o + ARCHIVE_SEG_HDR, (size_t)s->raw_len, src, srclen);
    if (ZSTD_isError(n) || n != s->raw_len) {
        dv_seterr("%s: records do not decompress (%s)", path,
                  ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short");
        free(o);
        return -1;
    }
    *img = o;
    *owned = true;
    return 0;
}

/* The transaction records of an image (header + raw_len bytes of records) into s->txns. */
static int records_decode(const char *path, const unsigned char *u, struct archive_seg *s)
{
    uint32_t ntx = dv_rd32(u + 56), nfr = dv_rd32(u + 60), ps = s->page_size;
    uint64_t off = ARCHIVE_SEG_HDR, frames = 0, end = ARCHIVE_SEG_HDR + s->raw_len;
    if ((uint64_t)ntx * 20 > s->raw_len) {
        dv_seterr("%s: %u transactions in %llu bytes", path, ntx, (unsigned long long)s->raw_len);
        return -1;
    }
    s->txns = dv_calloc(ntx ? ntx : 1, sizeof *s->txns);
    for (uint32_t i = 0; i < ntx; i++) {
        if (off + 16 > end) {
            dv_seterr("%s: transaction %u: truncated", path, i);
            return -1;
        }
        struct archive_txn *t = &s->txns[i];
        t->observed_us = (int64_t)dv_rd64(u + off);
        t->nframes = dv_rd32(u + off + 8);
        t->commit_pages = dv_rd32(u + off + 12);
        t->offset = off + 16;
        uint64_t sz = (uint64_t)t->nframes * (4 + ps);
        if (t->nframes == 0 || t->commit_pages == 0 || t->offset + sz > end ||
            (i && t->observed_us < s->txns[i - 1].observed_us)) {
            dv_seterr("%s: transaction %u: bad record", path, i);
            return -1;
        }
        off = t->offset + sz;
        frames += t->nframes;
        s->ntxns++;
    }
    if (off != end || frames != nfr) {
        dv_seterr("%s: records end at %llu, the data at %llu", path, (unsigned long long)off,
                  (unsigned long long)end);
        return -1;
    }
    return 0;
}

/* Check and decode a segment read whole (len bytes at buf; not freed). With img, the image
 * (header + expanded records) is handed over in *img / *imglen. */
static int seg_parse(const char *path, char *buf, size_t len, struct archive_seg *s, char **img,
                     size_t *imglen)
{
    const unsigned char *u = (const unsigned char *)buf;
    if (len < ARCHIVE_SEG_HDR + ARCHIVE_SEG_TRAILER) {
        dv_seterr("%s: not an archive segment (%zu bytes)", path, len);
        return -1;
    }
    if (head_decode(path, u, len, s) != 0)
        return -1;
    char want[65], got[65];
    dv_hex(u + len - 32, 32, want);
    dv_sha256_hex(u, len - 32, got);
    if (memcmp(u + len - ARCHIVE_SEG_TRAILER, SEG_TRAIL, 8) != 0 || strcmp(want, got) != 0) {
        dv_seterr("%s: trailer checksum mismatch (corrupt or truncated)", path);
        return -1;
    }
    char *im;
    bool owned;
    if (expand(path, buf, len, s, &im, &owned) != 0)
        return -1;
    int rc = records_decode(path, (const unsigned char *)im, s);
    if (rc == 0 && img) {
        if (!owned) {
            im = dv_malloc(len);
            memcpy(im, buf, len);
        }
        *img = im;
        *imglen = ARCHIVE_SEG_HDR + (size_t)s->raw_len;
    } else if (owned) {
        free(im);
    }
    if (rc == 0)
        s->path = dv_strdup(path);
    return rc;
}

int archive_seg_read(const char *path, struct archive_seg *s)
{
    memset(s, 0, sizeof *s);
    char *buf;
    size_t len;
    if (dv_read_file_capped(path, ARCHIVE_SEG_MAX, &buf, &len) != 0)
        return -1;
    int rc = seg_parse(path, buf, len, s, NULL, NULL);
    free(buf);
    if (rc != 0)
        archive_seg_done(s);
    return rc;
}

int archive_seg_read_at(const struct fsb *root, const char *rel, struct archive_seg *s, char **data,
                        size_t *dlen)
{
    memset(s, 0, sizeof *s);
    char *buf;
    size_t len;
    /* beneath the target without links, a regular file (no FIFO is waited on), capped */
    if (fsb_read_capped(root, rel, ARCHIVE_SEG_MAX, &buf, &len) != 0)
        return -1;
    char *path = fsb_abs(root, rel);
    int rc = seg_parse(path, buf, len, s, data, dlen);
    free(path);
    free(buf);
    if (rc == 0)
        s->rel = dv_strdup(rel);
    else
        archive_seg_done(s);
    return rc;
}

int archive_seg_head_at(const struct fsb *root, const char *rel, struct archive_seg *s)
{
    memset(s, 0, sizeof *s);
    char *path = fsb_abs(root, rel);
    int fd = fsb_openat(root, rel, O_RDONLY, 0), rc = -1;
    unsigned char h[ARCHIVE_SEG_HDR];
    struct stat st;
    if (fd < 0)
        goto out;
    if (fstat(fd, &st) != 0) {
        dv_syserr("%s", path);
        goto out;
    }
    if (st.st_size < ARCHIVE_SEG_HDR + ARCHIVE_SEG_TRAILER ||
        dv_pread_full(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
        dv_seterr("%s: not an archive segment (too short)", path);
        goto out;
    }
    if (head_decode(path, h, (uint64_t)st.st_size, s) != 0)
        goto out;
    s->path = path;
    s->rel = dv_strdup(rel);
    path = NULL;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(path);
    if (rc != 0)
        archive_seg_done(s);
    return rc;
}

int archive_seg_head_buf(const char *path, const void *h, uint64_t size, struct archive_seg *s)
{
    memset(s, 0, sizeof *s);
    if (size < ARCHIVE_SEG_HDR + ARCHIVE_SEG_TRAILER) {
        dv_seterr("%s: not an archive segment (too short)", path);
        return -1;
    }
    if (head_decode(path, h, size, s) != 0) {
        archive_seg_done(s);
        return -1;
    }
    s->path = dv_strdup(path);
    return 0;
}

bool archive_seg_name_ok(const char *n)
{
    return strlen(n) == 14 && strcmp(n + 10, ".seg") == 0 && strspn(n, "0123456789") == 10;
}

/* ---- listing ------------------------------------------------------------------------------- */

static int seg_cmp(const void *a, const void *b)
{
    const struct archive_seg *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool seg_name(const char *n)
{
    return archive_seg_name_ok(n);
}

static int list(const struct fsb *root, const char *db_rel, bool heads, struct archive_seg **segs,
                size_t *n)
{
    *segs = NULL;
    *n = 0;
    char *dir = dv_asprintf("%s/%s", ARCHIVE_DIR, db_rel);
    /* beneath the target without links: archive/ or a directory in it replaced by a link is
     * refused, never followed */
    DIR *d = fsb_opendir(root, dir);
    if (!d) {
        int e = errno;
        free(dir);
        return e == ENOENT ? 0 : -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (!seg_name(de->d_name))
            continue;
        char *p = dv_path_join(dir, de->d_name);
        *segs = dv_realloc(*segs, (*n + 1) * sizeof **segs);
        rc = heads ? archive_seg_head_at(root, p, &(*segs)[*n])
                   : archive_seg_read_at(root, p, &(*segs)[*n], NULL, NULL);
        free(p);
        if (rc != 0)
            break;
        (*n)++;
    }
    closedir(d);
    free(dir);
    if (rc != 0) {
        archive_segs_free(*segs, *n);
        *segs = NULL;
        *n = 0;
        return -1;
    }
    if (*n)
        qsort(*segs, *n, sizeof **segs, seg_cmp);
    return 0;
}

int archive_list_at(const struct fsb *root, const char *db_rel, struct archive_seg **segs,
                    size_t *n)
{
    return list(root, db_rel, false, segs, n);
}

int archive_heads_at(const struct fsb *root, const char *db_rel, struct archive_seg **segs,
                     size_t *n)
{
    return list(root, db_rel, true, segs, n);
}

int archive_list(const char *target, const char *db_rel, struct archive_seg **segs, size_t *n)
{
    *segs = NULL;
    *n = 0;
    struct fsb *root = fsb_open(target);
    if (!root)
        return -1;
    int rc = archive_list_at(root, db_rel, segs, n);
    fsb_close(root);
    return rc;
}

long archive_anchor(const struct archive_seg *segs, size_t n, int64_t start_us, size_t *kt,
                    const struct archive_seg **after)
{
    long ks = -1;
    *kt = 0;
    if (after)
        *after = NULL;
    for (size_t i = 0; i < n; i++) {
        const struct archive_seg *s = &segs[i];
        if (s->flags & (ARCHIVE_SEG_START | ARCHIVE_SEG_GAP)) {
            if (s->watch_from_us <= start_us) {
                ks = (long)i, *kt = 0;
                if (after)
                    *after = NULL;
            } else {
                if (ks < 0 && after && i == 0)
                    *after = s; /* the archive starts with it (else: with segs[0]) */
                break;          /* everything later is later still (replay stops before a GAP) */
            }
        }
        if (!s->txns) { /* a header: its first transaction is its earliest */
            if (s->hdr_ntx && s->first_us <= start_us)
                ks = (long)i, *kt = 0;
            continue;
        }
        for (size_t j = 0; j < s->ntxns; j++)
            if (s->txns[j].observed_us <= start_us)
                ks = (long)i, *kt = j;
    }
    return ks;
}

int archive_summary_at(const struct fsb *root, const char *db_rel, struct archive_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    sum->max_err_us = -1;
    struct archive_seg *segs;
    size_t n;
    if (archive_heads_at(root, db_rel, &segs, &n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct archive_seg *s = &segs[i];
        int64_t from = s->watch_from_us ? s->watch_from_us : s->first_us;
        int64_t to = s->last_look_us > s->last_us ? s->last_look_us : s->last_us;
        sum->segments++;
        sum->bytes += s->file_size;
        sum->raw_bytes += s->raw_len;
        sum->transactions += s->hdr_ntx;
        if (!sum->first_us || (from && from < sum->first_us))
            sum->first_us = from;
        if (to > sum->last_us)
            sum->last_us = to;
        if (s->err_us > sum->max_err_us)
            sum->max_err_us = s->err_us;
        if (s->flags & ARCHIVE_SEG_GAP)
            sum->gaps++;
    }
    archive_segs_free(segs, n);
    return 0;
}

/* Directories under archive/ that hold segments, as database names (recursive). */
static int dbs_walk(const struct fsb *root, const char *rel, char ***v, size_t *n)
{
    char *dir = dv_path_join(ARCHIVE_DIR, rel);
    DIR *d = fsb_opendir(root, rel[0] ? dir : ARCHIVE_DIR);
    free(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    bool has = false;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' || (!rel[0] && strcmp(de->d_name, "runs") == 0))
            continue;
        if (seg_name(de->d_name)) {
            has = true;
            continue;
        }
        if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
            continue;
        char *sub = rel[0] ? dv_path_join(rel, de->d_name) : dv_strdup(de->d_name);
        char *full = dv_path_join(ARCHIVE_DIR, sub);
        struct stat st;
        if (fsb_lstat(root, full, &st) == 0 && S_ISDIR(st.st_mode))
            rc = dbs_walk(root, sub, v, n);
        free(full);
        free(sub);
    }
    closedir(d);
    if (rc == 0 && has) {
        *v = dv_realloc(*v, (*n + 2) * sizeof **v);
        (*v)[(*n)++] = dv_strdup(rel);
        (*v)[*n] = NULL;
    }
    return rc;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int archive_dbs_at(const struct fsb *root, char ***dbs, size_t *n)
{
    *dbs = dv_calloc(1, sizeof **dbs);
    *n = 0;
    if (dbs_walk(root, "", dbs, n) != 0) {
        dbglob_free(*dbs);
        *dbs = NULL;
        *n = 0;
        return -1;
    }
    qsort(*dbs, *n, sizeof **dbs, str_cmp);
    return 0;
}

/* ---- run records --------------------------------------------------------------------------- */

void archive_runs_free(struct archive_run_rec *runs, size_t n)
{
    for (size_t i = 0; runs && i < n; i++) {
        free(runs[i].db_glob);
        free(runs[i].name);
    }
    free(runs);
}

int archive_run_parse(const char *path, const char *text, size_t len, struct archive_run_rec *r)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *g = NULL;
    json_int_t version = 0, started = 0, confirmed = 0;
    if (!j ||
        json_unpack_ex(j, &je, 0, "{s:I, s:I, s:I, s?o}", "version", &version, "started_us",
                       &started, "confirmed_us", &confirmed, "db_glob", &g) != 0 ||
        version != 1 || started <= 0 || confirmed < started ||
        (g && !json_is_null(g) && !json_is_string(g))) {
        dv_seterr("%s: not an archive run record (%s)", path, j ? je.text : je.text);
        json_decref(j);
        return -1;
    }
    r->started_us = started;
    r->confirmed_us = confirmed;
    r->db_glob = g && json_is_string(g) ? dv_strdup(json_string_value(g)) : NULL;
    json_decref(j);
    return 0;
}

int archive_runs_at(const struct fsb *root, struct archive_run_rec **runs, size_t *n)
{
    *runs = NULL;
    *n = 0;
    DIR *d = fsb_opendir(root, ARCHIVE_RUNS_DIR);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
            continue;
        char *rel = dv_path_join(ARCHIVE_RUNS_DIR, de->d_name), *buf;
        size_t len;
        rc = fsb_read_capped(root, rel, RUN_REC_MAX, &buf, &len);
        if (rc == 0) {
            char *path = fsb_abs(root, rel);
            struct archive_run_rec r = {0};
            rc = archive_run_parse(path, buf, len, &r);
            free(path);
            free(buf);
            if (rc == 0) {
                r.name = dv_strdup(de->d_name);
                *runs = dv_realloc(*runs, (*n + 1) * sizeof **runs);
                (*runs)[(*n)++] = r;
            }
        }
        free(rel);
    }
    closedir(d);
    if (rc != 0) {
        archive_runs_free(*runs, *n);
        *runs = NULL;
        *n = 0;
    }
    return rc;
}

int archive_run_write(const struct fsb *root, const struct archive_run_rec *r)
{
    json_t *j =
        json_pack("{s:i, s:I, s:I, s:s?}", "version", 1, "started_us", (json_int_t)r->started_us,
                  "confirmed_us", (json_int_t)r->confirmed_us, "db_glob", r->db_glob);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!text) {
        dv_seterr("archive run record: cannot encode");
        return -1;
    }
    char *rel = dv_asprintf("%s/%s", ARCHIVE_RUNS_DIR, r->name);
    int rc = fsb_mkdirs(root, ARCHIVE_RUNS_DIR, 0700) == 0
                 ? fsb_write_atomic(root, rel, text, strlen(text), 0600)
                 : -1;
    free(rel);
    free(text);
    return rc;
}

int64_t archive_confirmed_to(const struct archive_run_rec *runs, size_t n, const char *db_rel)
{
    int64_t best = 0;
    for (size_t i = 0; i < n; i++)
        if ((!runs[i].db_glob || dbglob_match(runs[i].db_glob, db_rel) ||
             strcmp(runs[i].db_glob, db_rel) == 0) &&
            runs[i].confirmed_us > best)
            best = runs[i].confirmed_us;
    return best;
}

uint64_t archive_db_fp(const struct stat *st)
{
    /* FNV-1a over the fields: a fingerprint to compare, never to trust as a hash */
    uint64_t v[5] = {(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
                     (uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec};
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < 5; i++)
        for (int b = 0; b < 64; b += 8) {
            h ^= (v[i] >> b) & 0xff;
            h *= 1099511628211ull;
        }
    return h ? h : 1;
}

/*
 * archive_s3.c - the WAL archive on an S3 target (archive.h, "the archive on an S3 target"):
 * the archiver's own store and spool (it never takes the target's lock, so it never opens the
 * target), uploads, the resume position from the bucket, and the readers' fetch / evict.
 */
#include "archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbglob.h"
#include "fsb.h"
#include "target.h"
#include "tstore.h"
#include "util.h"

#define RUN_REC_MAX (64 * 1024)

struct tstore *archive_s3_store(const struct dv_config *cfg)
{
    return target_s3_store_cfg(cfg); /* the bucket alone: no target opened, no lock */
}

char *archive_s3_spool(const struct dv_config *cfg)
{
    char *p = dv_path_join(cfg->backup.s3.cache, ARCHIVE_SPOOL_DIR);
    if (dv_mkdirs(p, 0700) != 0) {
        dv_preferr("archive spool");
        free(p);
        return NULL;
    }
    return p;
}

int archive_s3_upload(struct tstore *ts, const struct fsb *spool, const struct dv_config *cfg,
                      const char *rel)
{
    struct tstore_lock lk = {0};
    if (cfg->backup.s3.object_lock_days > 0) {
        const char *m = cfg->backup.s3.object_lock_mode;
        lk.mode = m && strcmp(m, "compliance") == 0 ? "COMPLIANCE" : "GOVERNANCE";
        lk.retain_until = dv_now() + (int64_t)cfg->backup.s3.object_lock_days * 86400;
    }
    int fd = fsb_openat(spool, rel, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) != 0)
        dv_syserr("%s/%s", fsb_path(spool), rel);
    else
        rc = tstore_put_fd(ts, rel, fd, (uint64_t)st.st_size, lk.mode ? &lk : NULL);
    close(fd);
    dv_crashpoint("archive.after_upload"); /* tests: acknowledged, the local file still there */
    /* acknowledged: the local file goes (a crash before this uploads it again: same bytes) */
    if (rc == 0 && fsb_unlink(spool, rel, true) != 0)
        rc = -1;
    return rc;
}

/* ---- what a crashed run left in the spool -------------------------------------------------- */

struct names {
    char **v;
    size_t n;
};

static void names_add(struct names *s, char *x)
{
    s->v = dv_realloc(s->v, (s->n + 1) * sizeof *s->v);
    s->v[s->n++] = x;
}

static void names_free(struct names *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool json_name(const char *n)
{
    size_t l = strlen(n);
    return n[0] != '.' && l > 5 && strcmp(n + l - 5, ".json") == 0;
}

/* Walk rel of the spool: segments into segs, run records into runs, temporaries removed. */
static int spool_walk(const struct fsb *spool, const char *rel, struct names *segs,
                      struct names *runs)
{
    DIR *d = fsb_opendir(spool, rel);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *de;
    int rc = 0;
    bool in_runs = strcmp(rel, ARCHIVE_RUNS_DIR) == 0;
    while (rc == 0 && (de = readdir(d))) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        char *sub = dv_path_join(rel, n);
        struct stat st;
        if (fsb_lstat(spool, sub, &st) != 0) {
            free(sub);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = spool_walk(spool, sub, segs, runs);
        } else if (S_ISREG(st.st_mode) && n[0] == '.' && strstr(n, ".tmp.")) {
            rc = fsb_unlink(spool, sub, true); /* a write the crash interrupted: never held */
        } else if (S_ISREG(st.st_mode) && in_runs && json_name(n)) {
            names_add(runs, sub);
            sub = NULL;
        } else if (S_ISREG(st.st_mode) && !in_runs && archive_seg_name_ok(n)) {
            names_add(segs, sub);
            sub = NULL;
        }
        free(sub);
    }
    closedir(d);
    return rc;
}

int archive_s3_drain(struct tstore *ts, const struct fsb *spool, const struct dv_config *cfg,
                     uint64_t *n)
{
    struct names segs = {0}, runs = {0};
    int rc = spool_walk(spool, ARCHIVE_DIR, &segs, &runs);
    if (segs.n)
        qsort(segs.v, segs.n, sizeof *segs.v, str_cmp);
    for (size_t i = 0; rc == 0 && i < segs.n; i++)
        rc = archive_s3_upload(ts, spool, cfg, segs.v[i]);
    for (size_t i = 0; rc == 0 && i < runs.n; i++)
        rc = archive_s3_upload(ts, spool, cfg, runs.v[i]);
    if (n)
        *n = rc == 0 ? segs.n + runs.n : 0;
    names_free(&segs);
    names_free(&runs);
    return rc;
}

/* ---- the bucket's listing ------------------------------------------------------------------ */

struct segl {
    size_t plen;
    struct names keys; /* segment names directly below the prefix */
    uint64_t bytes;
    char *first, *last;
};

static int seg_cb(void *ud, const char *name, uint64_t size)
{
    struct segl *l = ud;
    const char *base = name + l->plen;
    if (strchr(base, '/') || !archive_seg_name_ok(base))
        return 0;
    l->bytes += size;
    /* the size rides in the name's allocation, after its NUL: sorting keeps them together */
    size_t nl = strlen(name);
    char *k = dv_malloc(nl + 1 + sizeof size);
    memcpy(k, name, nl + 1);
    memcpy(k + nl + 1, &size, sizeof size);
    names_add(&l->keys, k);
    return 0;
}

static int list_segs(struct tstore *ts, const char *db_rel, struct segl *l)
{
    char *prefix = dv_asprintf("%s/%s/", ARCHIVE_DIR, db_rel);
    memset(l, 0, sizeof *l);
    l->plen = strlen(prefix);
    int rc = tstore_list(ts, prefix, seg_cb, l) < 0 ? -1 : 0;
    free(prefix);
    if (rc == 0 && l->keys.n) /* 10-digit names: byte order is seq order */
        qsort(l->keys.v, l->keys.n, sizeof *l->keys.v, str_cmp);
    return rc;
}

/* The size list_segs recorded with a key. */
static uint64_t key_size(const char *key)
{
    uint64_t size;
    memcpy(&size, key + strlen(key) + 1, sizeof size);
    return size;
}

/* A listed segment's header: one ranged GET (the size is the listing's). */
static int head_of(struct tstore *ts, const char *name, struct archive_seg *s)
{
    unsigned char h[ARCHIVE_SEG_HDR];
    size_t got = 0;
    char *path = dv_asprintf("%s/%s", tstore_name(ts), name);
    int rc = -1;
    if (tstore_get_range(ts, name, 0, sizeof h, h, &got) == 0) {
        if (got != sizeof h)
            dv_seterr("%s: not an archive segment (too short)", path);
        else
            rc = archive_seg_head_buf(path, h, key_size(name), s);
    }
    if (rc == 0)
        s->rel = dv_strdup(name);
    free(path);
    return rc;
}

int archive_s3_heads(struct tstore *ts, const char *db_rel, struct archive_seg **segs, size_t *n)
{
    *segs = NULL;
    *n = 0;
    struct segl l;
    if (list_segs(ts, db_rel, &l) != 0)
        return -1;
    int rc = 0;
    struct archive_seg *v = dv_calloc(l.keys.n ? l.keys.n : 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; rc == 0 && i < l.keys.n; i++) {
        rc = head_of(ts, l.keys.v[i], &v[k]);
        if (rc != 0 && errno == ENOENT) { /* removed since the listing */
            rc = 0;
            continue;
        }
        if (rc == 0)
            k++;
    }
    names_free(&l.keys);
    if (rc != 0) {
        archive_segs_free(v, k);
        return -1;
    }
    *segs = v;
    *n = k;
    return 0;
}

int archive_s3_last_head(struct tstore *ts, const char *db_rel, struct archive_seg *s, bool *found)
{
    memset(s, 0, sizeof *s);
    *found = false;
    struct segl l;
    int rc = list_segs(ts, db_rel, &l);
    if (rc == 0 && l.keys.n) {
        rc = head_of(ts, l.keys.v[l.keys.n - 1], s);
        *found = rc == 0;
    }
    names_free(&l.keys);
    return rc;
}

int archive_s3_summary(struct tstore *ts, const char *db_rel, struct archive_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    sum->max_err_us = -1;
    sum->from_listing = true;
    struct segl l;
    if (list_segs(ts, db_rel, &l) != 0)
        return -1;
    int rc = 0;
    sum->segments = l.keys.n;
    sum->bytes = l.bytes;
    if (l.keys.n) {
        struct archive_seg a, b;
        if (head_of(ts, l.keys.v[0], &a) != 0) {
            rc = -1;
        } else {
            sum->first_us = a.watch_from_us ? a.watch_from_us : a.first_us;
            archive_seg_done(&a);
            if (head_of(ts, l.keys.v[l.keys.n - 1], &b) != 0) {
                rc = -1;
            } else {
                sum->last_us = b.last_look_us > b.last_us ? b.last_look_us : b.last_us;
                sum->max_err_us = b.err_us;
                archive_seg_done(&b);
            }
        }
    }
    names_free(&l.keys);
    return rc;
}

struct dbl {
    struct names dbs;
};

static int db_cb(void *ud, const char *name, uint64_t size)
{
    (void)size;
    struct dbl *d = ud;
    const char *rel = name + strlen(ARCHIVE_DIR) + 1;
    const char *slash = strrchr(rel, '/');
    if (!slash || strncmp(rel, "runs/", 5) == 0 || !archive_seg_name_ok(slash + 1))
        return 0;
    size_t l = (size_t)(slash - rel);
    if (d->dbs.n && strlen(d->dbs.v[d->dbs.n - 1]) == l &&
        strncmp(d->dbs.v[d->dbs.n - 1], rel, l) == 0)
        return 0;
    names_add(&d->dbs, dv_asprintf("%.*s", (int)l, rel));
    return 0;
}

int archive_s3_dbs(struct tstore *ts, char ***dbs, size_t *n)
{
    struct dbl d = {0};
    *dbs = NULL;
    *n = 0;
    if (tstore_list(ts, ARCHIVE_DIR "/", db_cb, &d) < 0) {
        names_free(&d.dbs);
        return -1;
    }
    /* the listing is in key order: a database's segments are together, but "a/b" may come
     * between two runs of "a.x" only if names interleave - dedupe after sorting */
    if (d.dbs.n) /* qsort(NULL, 0, ...) is undefined */
        qsort(d.dbs.v, d.dbs.n, sizeof *d.dbs.v, str_cmp);
    size_t k = 0;
    for (size_t i = 0; i < d.dbs.n; i++) {
        if (k && strcmp(d.dbs.v[k - 1], d.dbs.v[i]) == 0)
            free(d.dbs.v[i]);
        else
            d.dbs.v[k++] = d.dbs.v[i];
    }
    *dbs = dv_realloc(d.dbs.v, (k + 1) * sizeof **dbs);
    (*dbs)[k] = NULL;
    *n = k;
    return 0;
}

static int run_cb(void *ud, const char *name, uint64_t size)
{
    struct names *r = ud;
    const char *base = name + strlen(ARCHIVE_RUNS_DIR) + 1;
    if (!strchr(base, '/') && json_name(base) && size <= RUN_REC_MAX)
        names_add(r, dv_strdup(name));
    return 0;
}

int archive_s3_runs(struct tstore *ts, struct archive_run_rec **runs, size_t *n)
{
    struct names keys = {0};
    *runs = NULL;
    *n = 0;
    if (tstore_list(ts, ARCHIVE_RUNS_DIR "/", run_cb, &keys) < 0)
        return -1;
    int rc = 0;
    char *buf = dv_malloc(RUN_REC_MAX);
    for (size_t i = 0; rc == 0 && i < keys.n; i++) {
        size_t got = 0;
        if (tstore_get_range(ts, keys.v[i], 0, RUN_REC_MAX, buf, &got) != 0) {
            if (errno == ENOENT)
                continue; /* removed meanwhile (prune) */
            rc = -1;
            break;
        }
        char *path = dv_asprintf("%s/%s", tstore_name(ts), keys.v[i]);
        struct archive_run_rec r = {0};
        rc = archive_run_parse(path, buf, got, &r);
        free(path);
        if (rc == 0) {
            r.name = dv_strdup(strrchr(keys.v[i], '/') + 1);
            *runs = dv_realloc(*runs, (*n + 1) * sizeof **runs);
            (*runs)[(*n)++] = r;
        }
    }
    free(buf);
    names_free(&keys);
    if (rc != 0) {
        archive_runs_free(*runs, *n);
        *runs = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- readers: fetch into the working tree, evict after ------------------------------------- */

struct fetchl {
    struct names rels;
    bool runs;
    const char *db_rel; /* NULL: every database */
};

static int fetch_cb(void *ud, const char *name, uint64_t size)
{
    (void)size;
    struct fetchl *f = ud;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    bool is_run = strncmp(name, ARCHIVE_RUNS_DIR "/", strlen(ARCHIVE_RUNS_DIR) + 1) == 0;
    if (is_run ? (f->runs && json_name(base)) : archive_seg_name_ok(base))
        names_add(&f->rels, dv_strdup(name));
    return 0;
}

int archive_s3_fetch(struct target *t, const char *db_rel, bool runs, char ***rels, size_t *n)
{
    struct fetchl f = {.runs = runs, .db_rel = db_rel};
    *rels = NULL;
    *n = 0;
    char *prefix = db_rel ? dv_asprintf("%s/%s/", ARCHIVE_DIR, db_rel) : dv_strdup(ARCHIVE_DIR "/");
    int rc = target_list(t, prefix, fetch_cb, &f) < 0 ? -1 : 0;
    free(prefix);
    if (rc == 0 && runs && db_rel)
        rc = target_list(t, ARCHIVE_RUNS_DIR "/", fetch_cb, &f) < 0 ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < f.rels.n; i++) {
        const char *r = f.rels.v[i];
        if (strncmp(r, ARCHIVE_RUNS_DIR "/", strlen(ARCHIVE_RUNS_DIR) + 1) == 0)
            target_evict(t, r); /* rewritten in place: never an older working copy */
        if (target_fetch(t, r) != 0) {
            if (errno == ENOENT) { /* removed since the listing (prune, a run record) */
                free(f.rels.v[i]);
                f.rels.v[i] = dv_strdup("");
                continue;
            }
            rc = -1;
        }
    }
    if (rc != 0) {
        archive_s3_evict(t, f.rels.v, f.rels.n);
        return -1;
    }
    *rels = f.rels.v;
    *n = f.rels.n;
    return 0;
}

void archive_s3_evict(struct target *t, char **rels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (rels[i][0])
            target_evict(t, rels[i]);
        free(rels[i]);
    }
    free(rels);
}

/* ---- restore --at: only the segments a replay needs ---------------------------------------- */

struct heads {
    struct tstore *ts;
    struct segl *l;
    struct archive_seg *h;
    bool *have;
};

static const struct archive_seg *hd(struct heads *x, size_t i)
{
    if (!x->have[i]) {
        if (head_of(x->ts, x->l->keys.v[i], &x->h[i]) != 0)
            return NULL;
        x->have[i] = true;
    }
    return &x->h[i];
}

/* The time a segment is ordered by: from when it watched (START/GAP), else its first. */
static int64_t key_us(const struct archive_seg *s)
{
    return s->flags & (ARCHIVE_SEG_START | ARCHIVE_SEG_GAP) ? s->watch_from_us : s->first_us;
}

/* Can the replay for a set started at start_us begin in s (archive_anchor's test)? */
static bool anchors(const struct archive_seg *s, int64_t start_us)
{
    if (s->flags & (ARCHIVE_SEG_START | ARCHIVE_SEG_GAP))
        return s->watch_from_us <= start_us;
    return s->hdr_ntx && s->first_us <= start_us;
}

int archive_s3_fetch_at(struct target *t, struct tstore *ts, const char *db_rel, int64_t start_us,
                        int64_t at_us, bool to_latest, int64_t *newest_us, char ***rels, size_t *n)
{
    *rels = NULL;
    *n = 0;
    *newest_us = 0;
    struct segl l;
    if (list_segs(ts, db_rel, &l) != 0)
        return -1;
    size_t N = l.keys.n;
    struct heads x = {.ts = ts,
                      .l = &l,
                      .h = dv_calloc(N ? N : 1, sizeof *x.h),
                      .have = dv_calloc(N ? N : 1, sizeof *x.have)};
    int rc = -1;
    size_t lo = 0, hi = 0;
    const struct archive_seg *s;
    if (N) {
        /* lo: the newest segment ordered at or before the set's start (times grow with the
         * seq), then back to one a replay can begin in (archive_anchor picks the same) */
        size_t a = 0, b = N; /* the first ordered after start_us is in [a, b] */
        while (a < b) {
            size_t m = a + (b - a) / 2;
            if (!(s = hd(&x, m)))
                goto out;
            if (key_us(s) <= start_us)
                a = m + 1;
            else
                b = m;
        }
        lo = a ? a - 1 : 0;
        while (lo > 0) {
            if (!(s = hd(&x, lo)))
                goto out;
            if (anchors(s, start_us))
                break;
            lo--;
        }
        /* hi: the first segment after TIME that no commit before TIME can be in (pitr.c's
         * replay stops there, its precision check too); everything with --to-latest */
        hi = N - 1;
        if (!to_latest) {
            a = lo, b = N;
            while (a < b) {
                size_t m = a + (b - a) / 2;
                if (!(s = hd(&x, m)))
                    goto out;
                if (s->first_us <= at_us)
                    a = m + 1;
                else
                    b = m;
            }
            for (hi = a; hi < N - 1; hi++) {
                if (!(s = hd(&x, hi)))
                    goto out;
                if (s->hdr_ntx && (s->err_us < 0 || s->first_us - s->err_us > at_us))
                    break;
            }
            if (hi > N - 1)
                hi = N - 1;
        }
        if (!(s = hd(&x, N - 1)))
            goto out;
        *newest_us = s->last_look_us > s->last_us ? s->last_look_us : s->last_us;
    }
    /* the working tree's archive/<db> holds only what is fetched now (a killed restore's
     * leftovers would look like a hole) */
    char *dir = dv_asprintf("%s/%s", ARCHIVE_DIR, db_rel);
    int tr = fsb_tree(target_root(t), dir, true, NULL);
    free(dir);
    if (tr != 0)
        goto out;
    struct fetchl f = {.runs = true, .db_rel = db_rel};
    for (size_t i = lo; N && i <= hi; i++)
        names_add(&f.rels, dv_strdup(l.keys.v[i]));
    rc = target_list(t, ARCHIVE_RUNS_DIR "/", fetch_cb, &f) < 0 ? -1 : 0;
    for (size_t i = 0; rc == 0 && i < f.rels.n; i++) {
        const char *r = f.rels.v[i];
        if (strncmp(r, ARCHIVE_RUNS_DIR "/", strlen(ARCHIVE_RUNS_DIR) + 1) == 0)
            target_evict(t, r);
        if (target_fetch(t, r) != 0) {
            if (errno == ENOENT) {
                free(f.rels.v[i]);
                f.rels.v[i] = dv_strdup("");
                continue;
            }
            rc = -1;
        }
    }
    if (rc != 0) {
        archive_s3_evict(t, f.rels.v, f.rels.n);
    } else {
        *rels = f.rels.v;
        *n = f.rels.n;
    }
out:
    for (size_t i = 0; i < N; i++)
        if (x.have[i])
            archive_seg_done(&x.h[i]);
    free(x.h);
    free(x.have);
    names_free(&l.keys);
    return rc;
}

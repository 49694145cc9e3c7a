/*
 * target_s3.c - the S3 side of "the target's store" (target.h; docs/s3.md "The S3 target"):
 * a bucket + prefix holding the target's objects under the same names as a directory target,
 * a local working tree (backup.s3.cache) that is a spool, never a copy.
 *
 *   <prefix>/target.json                   the identity (written by `target init`)
 *   <prefix>/sets/<id>/...                 a set's objects; manifest.json uploaded LAST: a set
 *                                          prefix without it is a crashed run's
 *   <prefix>/sets/<id>.failed/manifest.json  the record of a failed set
 *   <prefix>/nlo/<3 hex>/<name>            the pool
 * The working tree's sets/.<id>.partial/X is published as sets/<id>/X.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsb.h"
#include "s3.h"
#include "target_priv.h"
#include "util.h"

#define INIT_HINT "create a target with `dvault target init`"

struct tstore *target_s3_store_cfg(const struct dv_config *cfg)
{
    const char *cred = cfg->backup.s3.credentials_file;
    struct tstore_s3_opts o = {.endpoint = cfg->backup.s3.endpoint,
                               .region = cfg->backup.s3.region,
                               .credentials_file = cred,
                               .bucket = cfg->backup.s3.bucket,
                               .prefix = cfg->backup.s3.prefix ? cfg->backup.s3.prefix : ""};
    struct tstore *ts = tstore_s3_open(&o);
    if (!ts)
        dv_preferr("backup target %s", cfg->backup.target);
    return ts;
}

/* A refused signature or key is the credentials: say so (never what they are). */
static void cred_hint(void)
{
    const char *c = s3_err_code();
    if (strcmp(c, "SignatureDoesNotMatch") == 0 || strcmp(c, "InvalidAccessKeyId") == 0) {
        char keep[DV_ERR_MAX];
        snprintf(keep, sizeof keep, "%s", dv_err());
        dv_seterr("%s: the credentials were refused (check backup.s3.credentials_file, or "
                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                  keep);
        errno = EACCES;
    }
}

/* The object name of a working-tree path: sets/.<id>.partial/X is sets/<id>/X. malloc'd. */
static char *obj_name(const char *rel)
{
    if (strncmp(rel, "sets/.", 6) == 0) {
        const char *p = strstr(rel + 6, ".partial/");
        if (p && p[9])
            return dv_asprintf("sets/%.*s/%s", (int)(p - rel - 6), rel + 6, p + 9);
    }
    return dv_strdup(rel);
}

static bool in_partial(const char *rel)
{
    return strncmp(rel, "sets/.", 6) == 0 && strstr(rel + 6, ".partial");
}

static void lock_of(const struct target *t, struct tstore_lock *lk)
{
    memset(lk, 0, sizeof *lk);
    if (t->lock_days > 0) {
        lk->mode = strcmp(t->lock_mode, "compliance") == 0 ? "COMPLIANCE" : "GOVERNANCE";
        lk->retain_until = dv_now() + (int64_t)t->lock_days * 86400;
    }
}

static int first_cb(void *ud, const char *name, uint64_t size)
{
    (void)size;
    snprintf((char *)ud, 256, "%s", name);
    return 1;
}

/* The first object below prefix into first (256 bytes, "" when none). 0 or -1. */
static int first_below(struct tstore *ts, const char *prefix, char *first)
{
    first[0] = '\0';
    int rc = tstore_list(ts, prefix, first_cb, first);
    return rc < 0 ? -1 : 0;
}

/* Read the identity object. 0, or -1 with a message naming the way out. */
static int ident_get(struct tstore *ts, struct target_identity *id)
{
    const char *bucket;
    struct s3 *s = tstore_s3(ts, &bucket);
    char *key = tstore_key(ts, TARGET_ID_FILE);
    char *buf = NULL;
    size_t len = 0;
    int rc = s3_get(s, bucket, key, TARGET_ID_MAX, &buf, &len, NULL);
    free(key);
    if (rc == 0) {
        char *name = dv_asprintf("%s/%s", tstore_name(ts), TARGET_ID_FILE);
        rc = target_ident_parse(name, buf, len, id);
        free(name);
        free(buf);
        return rc;
    }
    if (errno != ENOENT) {
        dv_preferr("backup target %s", tstore_name(ts));
        cred_hint();
        return -1;
    }
    if (strcmp(s3_err_code(), "NoSuchBucket") == 0) {
        dv_seterr("backup target %s: bucket %s does not exist; " INIT_HINT, tstore_name(ts),
                  bucket);
        errno = ENOENT;
        return -1;
    }
    char first[256];
    if (first_below(ts, "", first) != 0)
        return -1;
    if (!first[0])
        dv_seterr("backup target %s is empty; if it is the new target, " INIT_HINT,
                  tstore_name(ts));
    else
        dv_seterr("%s is not a dvault target (no %s; it holds '%.60s'); " INIT_HINT
                  " on an empty prefix",
                  tstore_name(ts), TARGET_ID_FILE, dv_esc(first));
    errno = ENOENT;
    return -1;
}

int target_s3_identity_read(const struct dv_config *cfg, struct target_identity *id)
{
    struct tstore *ts = target_s3_store_cfg(cfg);
    if (!ts)
        return -1;
    int rc = ident_get(ts, id);
    tstore_close(ts);
    return rc;
}

struct target *target_s3_open(const struct dv_config *cfg)
{
    struct target *t = dv_calloc(1, sizeof *t);
    t->lockfd = -1;
    t->dirfd = -1;
    t->kind = TARGET_KIND_S3;
    t->url = dv_strdup(cfg->backup.target);
    t->endpoint = dv_strdup(cfg->backup.s3.endpoint ? cfg->backup.s3.endpoint : "");
    t->lock_days = cfg->backup.s3.object_lock_days;
    t->lock_mode =
        dv_strdup(cfg->backup.s3.object_lock_mode ? cfg->backup.s3.object_lock_mode : "governance");
    if (!(t->store = target_s3_store_cfg(cfg)) || ident_get(t->store, &t->ident) != 0)
        goto fail;
    if (dv_mkdirs(cfg->backup.s3.cache, 0700) != 0) {
        dv_preferr("backup target %s: working tree", t->url);
        goto fail;
    }
    if (target_open_tree(t, cfg->backup.s3.cache) != 0)
        goto fail;
    return t;
fail:
    target_close(t);
    return NULL;
}

int target_s3_init(const struct dv_config *cfg, struct target_identity *id)
{
    struct tstore *ts = target_s3_store_cfg(cfg);
    if (!ts)
        return -1;
    const char *bucket;
    struct s3 *s = tstore_s3(ts, &bucket);
    long days = cfg->backup.s3.object_lock_days;
    int rc = -1;
    if (s3_bucket_create(s, bucket, days > 0) != 0 &&
        !(errno == EEXIST && strcmp(s3_err_code(), "BucketAlreadyOwnedByYou") == 0)) {
        dv_preferr("target init %s", tstore_name(ts));
        cred_hint();
        goto out;
    }
    struct target_identity have;
    if (ident_get(ts, &have) == 0) {
        char when[32];
        dv_fmt_time(have.created, when, sizeof when);
        dv_seterr("%s is already a dvault target (id %s, created %s for %s:%s)", tstore_name(ts),
                  have.id, when, have.host, have.data_dir);
        goto out;
    }
    if (errno != ENOENT)
        goto out;
    char first[256];
    if (first_below(ts, "", first) != 0)
        goto out;
    if (first[0]) {
        dv_seterr("%s is not empty and not a dvault target (it holds '%.60s'): choose an empty "
                  "prefix",
                  tstore_name(ts), dv_esc(first));
        goto out;
    }
    target_ident_new(id, cfg->server.data_dir);
    char *json = target_identity_json(id);
    struct target tl = {.lock_days = days,
                        .lock_mode = cfg->backup.s3.object_lock_mode
                                         ? cfg->backup.s3.object_lock_mode
                                         : "governance"};
    struct tstore_lock lk;
    lock_of(&tl, &lk);
    rc = tstore_put(ts, TARGET_ID_FILE, json, strlen(json), &lk);
    free(json);
    if (rc != 0 && lk.mode && strcmp(s3_err_code(), "InvalidRequest") == 0)
        dv_seterr("target init %s: bucket %s has no Object Lock, but object_lock_days is %ld: "
                  "use a new bucket (target init creates it with Object Lock) or set "
                  "object_lock_days: 0",
                  tstore_name(ts), bucket, days);
    else if (rc != 0)
        dv_preferr("target init %s", tstore_name(ts));
out:
    tstore_close(ts);
    return rc;
}

/* ---- sets ------------------------------------------------------------------------------ */

int target_s3_set_taken(struct target *t, const char *id)
{
    char first[256];
    char *p = dv_asprintf("sets/%s/", id), *f = dv_asprintf("sets/%s.failed/", id);
    int rc = first_below(t->store, p, first);
    if (rc == 0 && !first[0])
        rc = first_below(t->store, f, first);
    free(p);
    free(f);
    return rc < 0 ? -1 : first[0] != '\0';
}

struct names {
    char **v;
    uint64_t *size;
    size_t n, cap;
};

static int names_cb(void *ud, const char *name, uint64_t size)
{
    struct names *x = ud;
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 64;
        x->v = dv_realloc(x->v, x->cap * sizeof *x->v);
        x->size = dv_realloc(x->size, x->cap * sizeof *x->size);
    }
    x->size[x->n] = size;
    x->v[x->n++] = dv_strdup(name);
    return 0;
}

static void names_free(struct names *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->v[i]);
    free(x->v);
    free(x->size);
    memset(x, 0, sizeof *x);
}

/* The regular files below rel of the working tree (never following a link). */
static int tree_files(struct target *t, const char *rel, struct names *out)
{
    struct tstore *d = tstore_dir_open(t->path);
    if (!d)
        return -1;
    char *p = dv_asprintf("%s/", rel);
    int rc = tstore_list(d, p, names_cb, out);
    free(p);
    tstore_close(d);
    return rc;
}

/* Delete the objects below prefix that are not locked; *kept gets how many were. */
static int delete_below(struct target *t, const char *prefix, int *kept)
{
    struct names x = {0};
    int rc = tstore_list(t->store, prefix, names_cb, &x);
    for (size_t i = 0; i < x.n && rc == 0; i++) {
        if (tstore_delete(t->store, x.v[i], NULL) != 0) {
            if (errno == EPERM)
                (*kept)++;
            else
                rc = -1;
        }
    }
    names_free(&x);
    return rc;
}

int target_s3_set_finish(struct target *t, const struct manifest *m)
{
    char *partial = dv_asprintf("sets/.%s.partial", m->id);
    struct names x = {0};
    int rc = tree_files(t, partial, &x);
    /* whatever the caller left unpublished goes first; the manifest last: that is the commit */
    size_t k = 0;
    for (size_t i = 0; i < x.n; i++) {
        const char *base = strrchr(x.v[i], '/') + 1;
        if (strcmp(base, TARGET_MANIFEST) == 0 && x.v[i] + strlen(partial) + 1 == base)
            free(x.v[i]);
        else
            x.v[k++] = x.v[i];
    }
    x.n = k;
    if (rc == 0 && x.n)
        rc = target_s3_publish(t, (const char *const *)x.v, x.n, 0);
    names_free(&x);
    if (rc == 0) {
        size_t len;
        char *json = manifest_to_json(m, m->nfailed ? "partial" : "complete", &len);
        char *name = dv_asprintf("sets/%s/%s", m->id, TARGET_MANIFEST);
        struct tstore_lock lk;
        lock_of(t, &lk);
        rc = tstore_put(t->store, name, json, len, &lk);
        free(name);
        free(json);
    }
    if (rc == 0 && fsb_tree(t->root, partial, true, NULL) != 0)
        dv_preferr("set %s committed, but its working directory remains", m->id); /* not fatal */
    free(partial);
    return rc;
}

int target_s3_set_fail(struct target *t, const char *id, const struct manifest *m)
{
    int rc = 0;
    if (m) {
        size_t len;
        char *json = manifest_to_json(m, "failed", &len);
        char *name = dv_asprintf("sets/%s.failed/%s", id, TARGET_MANIFEST);
        struct tstore_lock lk;
        lock_of(t, &lk);
        rc = tstore_put(t->store, name, json, len, &lk);
        free(name);
        free(json);
    }
    /* what the failed set uploaded is not a set: removed where the lock allows */
    int kept = 0;
    char *p = dv_asprintf("sets/%s/", id), *partial = dv_asprintf("sets/.%s.partial", id);
    if (rc == 0)
        rc = delete_below(t, p, &kept);
    if (rc == 0 && fsb_tree(t->root, partial, true, NULL) != 0)
        rc = -1;
    free(p);
    free(partial);
    return rc;
}

struct scan {
    char cur[TARGET_SET_ID_MAX + 16];
    bool manifest;
    struct names ids; /* complete (scan) or without manifest (cleanup) */
    bool want_complete;
};

static void scan_flush(struct scan *sc)
{
    if (sc->cur[0] && sc->manifest == sc->want_complete)
        names_cb(&sc->ids, sc->cur, 0);
    sc->cur[0] = '\0';
    sc->manifest = false;
}

static int scan_cb(void *ud, const char *name, uint64_t size)
{
    (void)size;
    struct scan *sc = ud;
    const char *id = name + 5, *slash = strchr(id, '/');
    char cur[TARGET_SET_ID_MAX + 16];
    if (!slash || (size_t)(slash - id) >= sizeof cur)
        return 0;
    snprintf(cur, sizeof cur, "%.*s", (int)(slash - id), id);
    if (!target_set_id_valid(cur))
        return 0; /* sets/<id>.failed/ and anything else */
    if (strcmp(cur, sc->cur) != 0) {
        scan_flush(sc);
        snprintf(sc->cur, sizeof sc->cur, "%s", cur);
    }
    if (strcmp(slash + 1, TARGET_MANIFEST) == 0)
        sc->manifest = true;
    return 0;
}

static int set_prefixes(struct target *t, bool complete, struct names *out)
{
    struct scan sc = {.want_complete = complete};
    int rc = tstore_list(t->store, "sets/", scan_cb, &sc);
    scan_flush(&sc);
    *out = sc.ids;
    return rc;
}

int target_s3_sets_scan(struct target *t, char ***ids, size_t *n)
{
    struct names x = {0};
    if (set_prefixes(t, true, &x) != 0) {
        names_free(&x);
        return -1;
    }
    for (size_t i = 1; i < x.n; i++) /* "X-2" lists before "X/" ('-' < '/'): id order */
        for (size_t j = i; j > 0 && strcmp(x.v[j - 1], x.v[j]) > 0; j--) {
            char *c = x.v[j];
            x.v[j] = x.v[j - 1];
            x.v[j - 1] = c;
        }
    free(x.size);
    *ids = x.v;
    *n = x.n;
    return 0;
}

int target_s3_cleanup_partial(struct target *t, int *n)
{
    int count = 0, kept = 0, rc = 0;
    /* the working tree's partial directories: a crashed run's spool */
    DIR *d = fsb_opendir(t->root, "sets");
    if (!d)
        return -1;
    struct names loc = {0};
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] == '.' && l > 9 && strcmp(e->d_name + l - 8, ".partial") == 0)
            names_cb(&loc, e->d_name, 0);
    }
    closedir(d);
    for (size_t i = 0; i < loc.n && rc == 0; i++) {
        char *rel = dv_asprintf("sets/%s", loc.v[i]);
        rc = fsb_tree(t->root, rel, true, NULL);
        free(rel);
    }
    names_free(&loc);
    /* set prefixes without a manifest (we hold the lock: nobody is writing them) */
    struct names x = {0};
    if (rc == 0)
        rc = set_prefixes(t, false, &x);
    for (size_t i = 0; i < x.n && rc == 0; i++) {
        char *p = dv_asprintf("sets/%s/", x.v[i]);
        rc = delete_below(t, p, &kept);
        free(p);
        count++;
    }
    names_free(&x);
    /* multipart uploads a crash left under the target's prefix */
    const char *bucket;
    struct s3 *s = tstore_s3(t->store, &bucket);
    char *kp = tstore_key(t->store, ""), *km = NULL, *um = NULL;
    while (rc == 0) {
        struct s3_listing l;
        memset(&l, 0, sizeof l);
        if (s3_list_uploads(s, bucket, kp, km, um, &l) != 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < l.n && rc == 0; i++)
            if (s3_mpu_abort(s, bucket, l.v[i].key, l.v[i].upload_id) != 0 && errno != ENOENT)
                rc = -1;
        bool more = l.truncated && l.next_key_marker;
        free(km);
        free(um);
        km = more ? dv_strdup(l.next_key_marker) : NULL;
        um = more && l.next_upload_marker ? dv_strdup(l.next_upload_marker) : NULL;
        s3_listing_free(&l);
        if (!more)
            break;
    }
    free(km);
    free(um);
    free(kp);
    if (n)
        *n = count;
    return rc;
}

/* ---- objects ----------------------------------------------------------------------------- */

/* Publish up to PUB_CHUNK files: open them all beneath the working tree, upload, close. */
#define PUB_CHUNK 256
static int publish_chunk(struct target *t, const char *const *rels, size_t n, unsigned flags)
{
    int fds[PUB_CHUNK];
    uint64_t sizes[PUB_CHUNK];
    char *names[PUB_CHUNK];
    size_t opened = 0;
    int rc = 0;
    for (; opened < n; opened++) {
        struct stat st;
        int fd = fsb_openat(t->root, rels[opened], O_RDONLY, 0);
        if (fd < 0 || fstat(fd, &st) != 0) {
            if (fd >= 0)
                close(fd);
            dv_preferr("publish to %s", t->url);
            rc = -1;
            break;
        }
        fds[opened] = fd;
        sizes[opened] = (uint64_t)st.st_size;
        names[opened] = obj_name(rels[opened]);
    }
    struct tstore_lock lk;
    lock_of(t, &lk);
    if (rc == 0)
        rc = n == 1 ? tstore_put_fd(t->store, names[0], fds[0], sizes[0], &lk)
                    : tstore_put_many(t->store, (const char *const *)names, fds, sizes, n, &lk);
    for (size_t i = 0; i < opened; i++) {
        close(fds[i]);
        free(names[i]);
    }
    /* acknowledged: the working copies go (the spool is never a copy) */
    for (size_t i = 0; rc == 0 && !(flags & TARGET_PUB_KEEP) && i < n; i++)
        if (fsb_unlink(t->root, rels[i], true) != 0)
            rc = -1;
    return rc;
}

int target_s3_publish(struct target *t, const char *const *rels, size_t n, unsigned flags)
{
    for (size_t at = 0; at < n; at += PUB_CHUNK)
        if (publish_chunk(t, rels + at, n - at < PUB_CHUNK ? n - at : PUB_CHUNK, flags) != 0)
            return -1;
    return 0;
}

int target_s3_fetch(struct target *t, const char *rel)
{
    struct stat st;
    bool local = fsb_lstat(t->root, rel, &st) == 0 && S_ISREG(st.st_mode);
    if (in_partial(rel)) { /* being written here: not published yet */
        if (local)
            return 0;
        if (errno != ENOENT)
            errno = EINVAL;
        return -1;
    }
    char *name = obj_name(rel);
    struct tstore_info info;
    int rc = tstore_head(t->store, name, &info);
    if (rc != 0) {
        if (errno == ENOENT)
            dv_seterr("%s/%s: not held by the target", t->url, name);
        free(name);
        return -1;
    }
    /* a local copy is never trusted, even of the same size: what the bucket holds is what
       is read (verify must see an object changed in the bucket); the download replaces it */
    const char *slash = strrchr(rel, '/');
    if (slash) {
        char *dir = dv_asprintf("%.*s", (int)(slash - rel), rel);
        rc = fsb_mkdirs(t->root, dir, 0700);
        free(dir);
    }
    struct fsb_tmp tmp = {.fd = -1, .dfd = -1};
    uint64_t got = 0;
    if (rc == 0)
        rc = fsb_tmp_open(t->root, rel, NULL, 0600, 0, &tmp);
    if (rc == 0)
        rc = tstore_get_fd(t->store, name, tmp.fd, &got);
    if (rc == 0 && got != info.size) {
        dv_seterr("%s/%s: %llu bytes fetched, the store said %llu", t->url, name,
                  (unsigned long long)got, (unsigned long long)info.size);
        errno = EIO;
        rc = -1;
    }
    if (rc == 0)
        rc = fsb_tmp_commit(&tmp, FSB_NOSYNC); /* a cache: a crash refetches */
    int e = errno;
    fsb_tmp_done(&tmp);
    free(name);
    errno = e;
    return rc;
}

void target_s3_evict(struct target *t, const char *rel)
{
    if (!in_partial(rel))
        (void)fsb_unlink(t->root, rel, true);
}

int target_s3_remove(struct target *t, const char *rel, int64_t *locked_until)
{
    char *name = obj_name(rel);
    struct tstore_info info;
    int rc = tstore_delete(t->store, name, &info);
    if (rc != 0 && errno == EPERM && locked_until)
        *locked_until = info.retain_until;
    free(name);
    if (rc == 0)
        (void)fsb_unlink(t->root, rel, true);
    return rc;
}

int target_s3_list(struct target *t, const char *prefix, target_list_cb cb, void *ud)
{
    return tstore_list(t->store, prefix, cb, ud);
}

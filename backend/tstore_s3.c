/* tstore_s3.c - the S3 store of tstore.h over s3.h: objects are keys "<prefix>/<name>" of a
 * bucket; retries, multipart, parallel transfers are s3.c's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3.h"
#include "tstore_priv.h"
#include "util.h"

struct s3store {
    struct s3 *s3;
    char *bucket;
    char *prefix; /* "" or "a/b/" (with its trailing '/') */
};

#define S(ts) ((struct s3store *)(ts)->impl)
#define GET_CHUNK (8u << 20) /* a descriptor is filled this much at a time */
#define BATCH_MAX 256        /* objects of a put_many in one batch (descriptors open at once) */

char *tstore_key(const struct tstore *ts, const char *name)
{
    struct s3store *x = S(ts);
    return dv_asprintf("%s%s", tstore_s3(ts, NULL) ? x->prefix : "", name);
}

static void put_opts(const struct tstore_lock *lk, struct s3_put_opts *po)
{
    memset(po, 0, sizeof *po);
    if (lk && lk->mode) {
        po->lock_mode = lk->mode;
        po->retain_until = lk->retain_until;
    }
}

static int s_put(struct tstore *ts, const char *name, const void *buf, size_t len,
                 const struct tstore_lock *lk)
{
    struct s3_put_opts po;
    put_opts(lk, &po);
    char *key = tstore_key(ts, name);
    int rc = s3_put(S(ts)->s3, S(ts)->bucket, key, buf, len, &po, NULL);
    free(key);
    return rc;
}

static int s_put_fd(struct tstore *ts, const char *name, int fd, uint64_t size,
                    const struct tstore_lock *lk)
{
    struct s3_put_opts po;
    put_opts(lk, &po);
    char *key = tstore_key(ts, name);
    int rc = s3_put_fd(S(ts)->s3, S(ts)->bucket, key, fd, size, &po, NULL);
    free(key);
    return rc;
}

static int s_put_many(struct tstore *ts, const char *const *names, const int *fds,
                      const uint64_t *sizes, size_t n, const struct tstore_lock *lk)
{
    struct s3_put_opts po;
    put_opts(lk, &po);
    for (size_t at = 0; at < n; at += BATCH_MAX) {
        size_t k = n - at < BATCH_MAX ? n - at : BATCH_MAX;
        struct s3_batch_item *it = dv_calloc(k, sizeof *it);
        int rc = 0;
        for (size_t i = 0; i < k; i++) {
            if (sizes[at + i] >= S3_MIN_PART) { /* large: one at a time, multipart */
                rc = s_put_fd(ts, names[at + i], fds[at + i], sizes[at + i], lk);
                it[i].key = NULL;
                if (rc != 0)
                    break;
                continue;
            }
            it[i].key = tstore_key(ts, names[at + i]);
            it[i].fd = fds[at + i];
            it[i].len = (size_t)sizes[at + i];
        }
        size_t m = 0; /* the small ones, packed */
        for (size_t i = 0; i < k; i++)
            if (it[i].key)
                it[m++] = it[i];
        if (rc == 0 && m)
            rc = s3_put_batch(S(ts)->s3, S(ts)->bucket, it, m, &po);
        for (size_t i = 0; i < m; i++)
            free((char *)it[i].key);
        free(it);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int s_get_range(struct tstore *ts, const char *name, uint64_t off, size_t len, void *buf,
                       size_t *got)
{
    char *key = tstore_key(ts, name);
    int rc = s3_get_range(S(ts)->s3, S(ts)->bucket, key, off, len, buf, got);
    free(key);
    return rc;
}

static void info_from(const struct s3_info *si, struct tstore_info *info)
{
    info->size = si->size;
    snprintf(info->lock_mode, sizeof info->lock_mode, "%s", si->lock_mode);
    info->retain_until = tstore_parse_time(si->retain_until);
}

static int s_head(struct tstore *ts, const char *name, struct tstore_info *info)
{
    struct s3_info si;
    memset(&si, 0, sizeof si);
    char *key = tstore_key(ts, name);
    int rc = s3_head(S(ts)->s3, S(ts)->bucket, key, NULL, &si);
    free(key);
    if (rc == 0)
        info_from(&si, info);
    return rc;
}

static int s_get_fd(struct tstore *ts, const char *name, int fd, uint64_t *size)
{
    struct tstore_info info;
    memset(&info, 0, sizeof info);
    if (s_head(ts, name, &info) != 0)
        return -1;
    off_t at = lseek(fd, 0, SEEK_CUR);
    if (at < 0) {
        dv_syserr("%s/%s: output", ts->name, name);
        return -1;
    }
    char *buf = dv_malloc(GET_CHUNK);
    uint64_t done = 0;
    int rc = 0;
    while (rc == 0 && done < info.size) {
        size_t want = info.size - done > GET_CHUNK ? GET_CHUNK : (size_t)(info.size - done);
        size_t got = 0;
        rc = s_get_range(ts, name, done, want, buf, &got);
        if (rc == 0 && got != want) {
            dv_seterr("%s/%s: %llu bytes read, %llu expected (changed while read)", ts->name, name,
                      (unsigned long long)(done + got), (unsigned long long)info.size);
            errno = EIO;
            rc = -1;
        }
        if (rc == 0 && dv_pwrite_all(fd, buf, got, at + (off_t)done) != 0) {
            dv_syserr("%s/%s: write", ts->name, name);
            rc = -1;
        }
        done += got;
    }
    free(buf);
    if (rc == 0 && lseek(fd, at + (off_t)done, SEEK_SET) < 0) {
        dv_syserr("%s/%s: output", ts->name, name);
        rc = -1;
    }
    if (rc == 0 && size)
        *size = done;
    return rc;
}

static int locked_err(struct tstore *ts, const char *name, struct tstore_info *info)
{
    char when[32] = "?";
    if (info->retain_until)
        dv_fmt_time(info->retain_until, when, sizeof when);
    dv_seterr("%s/%s: under Object Lock (%s) until %s: not removed", ts->name, name,
              info->lock_mode[0] ? info->lock_mode : "retention", when);
    errno = EPERM;
    return -1;
}

/* Every version of the key (an Object Lock bucket is versioned: a plain DELETE would only hide
 * the object behind a delete marker); a locked version refuses, EPERM. */
static int s_del(struct tstore *ts, const char *name, struct tstore_info *info)
{
    struct s3store *x = S(ts);
    int rc = s_head(ts, name, info);
    if (rc == 0 && info->lock_mode[0] && info->retain_until > dv_now())
        return locked_err(ts, name, info); /* nothing touched: no delete marker either */
    if (rc != 0 && errno != ENOENT)
        return -1;
    char *key = tstore_key(ts, name);
    char *km = NULL, *vm = NULL;
    rc = 0;
    bool any = false;
    for (;;) {
        struct s3_listing l;
        memset(&l, 0, sizeof l);
        if (s3_list_versions(x->s3, x->bucket, key, km, vm, 1000, &l) != 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < l.n && rc == 0; i++) {
            struct s3_entry *e = &l.v[i];
            if (strcmp(e->key, key) != 0)
                continue;
            any = true;
            bool null = !e->version_id || !*e->version_id || strcmp(e->version_id, "null") == 0;
            if (s3_delete(x->s3, x->bucket, key, null ? NULL : e->version_id) != 0) {
                if (errno == EACCES && !null) {
                    struct s3_info si;
                    memset(&si, 0, sizeof si);
                    if (s3_head(x->s3, x->bucket, key, e->version_id, &si) == 0)
                        info_from(&si, info);
                    rc = locked_err(ts, name, info);
                } else if (errno != ENOENT) {
                    rc = -1;
                }
            }
        }
        bool more = l.truncated && rc == 0;
        free(km);
        free(vm);
        km = more && l.next_key_marker ? dv_strdup(l.next_key_marker) : NULL;
        vm = more && l.next_version_marker ? dv_strdup(l.next_version_marker) : NULL;
        s3_listing_free(&l);
        if (!more || !km)
            break;
    }
    free(km);
    free(vm);
    if (rc == 0 && !any && s3_delete(x->s3, x->bucket, key, NULL) != 0 && errno != ENOENT)
        rc = -1;
    free(key);
    return rc;
}

static int s_list(struct tstore *ts, const char *prefix, tstore_list_cb cb, void *ud)
{
    struct s3store *x = S(ts);
    char *kp = tstore_key(ts, prefix);
    size_t pl = strlen(x->prefix);
    char *token = NULL;
    int rc = 0;
    for (;;) {
        struct s3_listing l;
        memset(&l, 0, sizeof l);
        if (s3_list(x->s3, x->bucket, kp, token, 1000, &l) != 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < l.n && rc == 0; i++) {
            const char *k = l.v[i].key;
            if (strncmp(k, x->prefix, pl) != 0 || !dv_path_is_safe_rel(k + pl))
                continue; /* not a name a target could hold ("a//b", "../x"): not ours */
            rc = cb(ud, k + pl, l.v[i].size);
        }
        bool more = l.truncated && rc == 0 && l.next_token;
        free(token);
        token = more ? dv_strdup(l.next_token) : NULL;
        s3_listing_free(&l);
        if (!more)
            break;
    }
    free(token);
    free(kp);
    return rc;
}

static void s_close(struct tstore *ts)
{
    struct s3store *x = S(ts);
    if (!x)
        return;
    s3_close(x->s3);
    free(x->bucket);
    free(x->prefix);
    free(x);
}

static const struct tstore_ops s3_ops = {
    .put = s_put,
    .put_fd = s_put_fd,
    .put_many = s_put_many,
    .get_range = s_get_range,
    .get_fd = s_get_fd,
    .head = s_head,
    .del = s_del,
    .list = s_list,
    .close = s_close,
};

struct tstore *tstore_s3_open(const struct tstore_s3_opts *o)
{
    char *ak = NULL, *sk = NULL;
    if (s3_credentials(o->credentials_file, &ak, &sk) != 0)
        return NULL;
    struct s3_opts so = {.endpoint = o->endpoint,
                         .region = o->region,
                         .access_key = ak,
                         .secret_key = sk,
                         .retries = -1,
                         .parallel = o->parallel};
    struct s3 *s = s3_open(&so);
    free(ak);
    s3_secret_free(sk);
    if (!s)
        return NULL;
    struct s3store *x = dv_calloc(1, sizeof *x);
    x->s3 = s;
    x->bucket = dv_strdup(o->bucket);
    x->prefix = o->prefix && *o->prefix ? dv_asprintf("%s/", o->prefix) : dv_strdup("");
    struct tstore *ts = dv_calloc(1, sizeof *ts);
    ts->ops = &s3_ops;
    ts->impl = x;
    ts->name = o->prefix && *o->prefix ? dv_asprintf("s3://%s/%s", o->bucket, o->prefix)
                                       : dv_asprintf("s3://%s", o->bucket);
    return ts;
}

struct s3 *tstore_s3(const struct tstore *ts, const char **bucket)
{
    bool s3 = ts->ops == &s3_ops;
    if (bucket)
        *bucket = s3 ? S(ts)->bucket : NULL;
    return s3 ? S(ts)->s3 : NULL;
}

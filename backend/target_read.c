/* target_read.c - see target_read.h. */
#include "target_read.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fsb.h"
#include "s3.h"
#include "target.h"
#include "util.h"

char *target_name_of(const struct target *t, const char *rel)
{
    return dv_asprintf("%s/%s", target_url(t), rel);
}

int target_fetch_read(struct target *t, const char *rel)
{
    if (target_kind(t) == TARGET_KIND_DIR)
        return 0;
    return target_fetch(t, rel);
}

int target_fetch_open(struct target *t, const char *rel)
{
    if (target_fetch_read(t, rel) != 0)
        return -1;
    int fd = fsb_openat(target_root(t), rel, O_RDONLY, 0);
    if (fd < 0)
        target_evict(t, rel);
    return fd;
}

int target_fetch_loc(struct target *t, const char *loc, char **rel)
{
    *rel = NULL;
    const char *r = loc[0] == '/' ? target_rel(t, loc) : loc;
    if (!r)
        return 0; /* an operator's file outside the target (a moved delta) */
    if (!dv_path_is_safe_rel(r)) {
        dv_seterr("%s: unsafe path below %s: refused", loc, target_url(t));
        return -1;
    }
    if (target_fetch_read(t, r) != 0)
        return -1;
    *rel = dv_strdup(r);
    return 0;
}

void target_evict_loc(struct target *t, char *rel)
{
    if (rel)
        target_evict(t, rel);
    free(rel);
}

/* ---- listings ------------------------------------------------------------------------ */

struct names {
    target_name_cb cb;
    void *ud;
    char last[256]; /* the last name given (S3: the keys of one set come together) */
};

static int set_name_of_key(void *ud, const char *rel, uint64_t size)
{
    (void)size;
    struct names *x = ud;
    const char *p = rel + strlen("sets/"), *sl = strchr(p, '/');
    size_t l = sl ? (size_t)(sl - p) : strlen(p);
    if (!sl || l == 0 || l >= sizeof x->last)
        return 0; /* an object right below sets/: not a set */
    if (strncmp(x->last, p, l) == 0 && x->last[l] == '\0')
        return 0;
    memcpy(x->last, p, l);
    x->last[l] = '\0';
    return x->cb(x->ud, x->last);
}

int target_set_names(struct target *t, target_name_cb cb, void *ud)
{
    if (target_kind(t) != TARGET_KIND_DIR) {
        struct names x = {.cb = cb, .ud = ud};
        return target_list(t, "sets/", set_name_of_key, &x);
    }
    /* a directory: the working tree is the target; its entries of any kind (a link or a file
     * under a set's name is refused by the reader, naming it), never descended here */
    DIR *d = fsb_opendir(target_root(t), "sets");
    if (!d) {
        dv_preferr("target");
        return -1;
    }
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            rc = cb(ud, e->d_name);
    closedir(d);
    return rc;
}

static int pool_name_of_key(void *ud, const char *rel, uint64_t size)
{
    (void)size;
    struct names *x = ud;
    const char *p = rel + strlen("nlo/"), *sl = strchr(p, '/');
    /* nlo/<3 hex>/<name>, where <3 hex> is how the name begins */
    if (!sl || sl - p != 3 || !target_nlo_name_valid(sl + 1) || strncmp(p, sl + 1, 3) != 0)
        return 0;
    return x->cb(x->ud, sl + 1);
}

int target_pool_names(struct target *t, target_name_cb cb, void *ud)
{
    if (target_kind(t) != TARGET_KIND_DIR) {
        struct names x = {.cb = cb, .ud = ud};
        return target_list(t, "nlo/", pool_name_of_key, &x);
    }
    DIR *top = fsb_opendir(target_root(t), "nlo");
    if (!top) {
        if (errno == ENOENT)
            return 0;
        dv_preferr("target");
        return -1;
    }
    int nfd = dirfd(top), rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(top))) {
        if (strlen(e->d_name) != 3 || e->d_name[0] == '.')
            continue;
        int sfd = openat(nfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (sfd < 0)
            continue; /* a link or a file in place of a pool directory: nothing behind it */
        DIR *sub = fdopendir(sfd);
        if (!sub) {
            close(sfd);
            continue;
        }
        struct dirent *f;
        while (rc == 0 && (f = readdir(sub)))
            if (target_nlo_name_valid(f->d_name) && strncmp(f->d_name, e->d_name, 3) == 0)
                rc = cb(ud, f->d_name);
        closedir(sub);
    }
    closedir(top);
    return rc;
}

/* ---- Object Lock ----------------------------------------------------------------------- */

struct target_lockq {
    struct s3 *s3; /* NULL: a directory target (no lock) */
    char *bucket, *prefix;
};

static struct target_lockq *lockq_open(bool s3, const struct dv_config *cfg)
{
    struct target_lockq *q = dv_calloc(1, sizeof *q);
    if (!s3 || !cfg->backup.s3.bucket)
        return q;
    char *ak = NULL, *sk = NULL;
    if (s3_credentials(cfg->backup.s3.credentials_file, &ak, &sk) != 0) {
        free(q);
        return NULL;
    }
    struct s3_opts o = {.endpoint = cfg->backup.s3.endpoint,
                        .region = cfg->backup.s3.region,
                        .access_key = ak,
                        .secret_key = sk,
                        .retries = -1};
    q->s3 = s3_open(&o);
    free(ak);
    s3_secret_free(sk);
    if (!q->s3) {
        free(q);
        return NULL;
    }
    q->bucket = dv_strdup(cfg->backup.s3.bucket);
    q->prefix = dv_strdup(cfg->backup.s3.prefix ? cfg->backup.s3.prefix : "");
    return q;
}

struct target_lockq *target_lockq_open(const struct target *t, const struct dv_config *cfg)
{
    return lockq_open(target_kind(t) != TARGET_KIND_DIR, cfg);
}

int target_holds_cfg(const struct dv_config *cfg, const char *rel)
{
    if (!cfg->backup.s3.bucket) {
        struct fsb *root = fsb_open(cfg->backup.target);
        struct stat st;
        int r = root && fsb_lstat(root, rel, &st) == 0 && S_ISREG(st.st_mode);
        fsb_close(root);
        return r;
    }
    struct target_lockq *q = lockq_open(true, cfg);
    if (!q)
        return -1;
    char *key = q->prefix[0] ? dv_asprintf("%s/%s", q->prefix, rel) : dv_strdup(rel);
    struct s3_info info;
    int rc = s3_head(q->s3, q->bucket, key, NULL, &info);
    free(key);
    int r = rc == 0 ? 1 : errno == ENOENT ? 0 : -1;
    target_lockq_close(q);
    return r;
}

int target_lockq_until(struct target_lockq *q, const char *rel, int64_t *until)
{
    *until = 0;
    if (!q->s3)
        return 0;
    char *key = q->prefix[0] ? dv_asprintf("%s/%s", q->prefix, rel) : dv_strdup(rel);
    struct s3_info info;
    memset(&info, 0, sizeof info);
    int rc = s3_head(q->s3, q->bucket, key, NULL, &info);
    free(key);
    if (rc != 0)
        return errno == ENOENT ? 0 : -1;
    if (info.retain_until[0])
        *until = target_parse_iso_time(info.retain_until);
    return 0;
}

void target_lockq_close(struct target_lockq *q)
{
    if (!q)
        return;
    s3_close(q->s3);
    free(q->bucket);
    free(q->prefix);
    free(q);
}

int64_t target_parse_iso_time(const char *iso)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *e = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!e)
        return 0;
    if (*e == '.') /* fractions of a second: dropped (the lock ends within that second) */
        for (e++; *e >= '0' && *e <= '9'; e++)
            ;
    if (strcmp(e, "Z") != 0 && strcmp(e, "+00:00") != 0 && *e != '\0')
        return 0;
    int64_t s = (int64_t)timegm(&tm);
    /* a fraction ends the lock later than the whole second: round up */
    return strchr(iso, '.') &&
                   strspn(strchr(iso, '.') + 1, "0") < strcspn(strchr(iso, '.') + 1, "Z+")
               ? s + 1
               : s;
}

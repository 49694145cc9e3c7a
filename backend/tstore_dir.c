/* tstore_dir.c - the directory store of tstore.h over fsb.h: nothing below the root is
 * trusted (no link followed, only regular files are objects), every put is atomic. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsb.h"
#include "tstore_priv.h"
#include "util.h"

#define ROOT(ts) ((struct fsb *)(ts)->impl)

static int no_lock(struct tstore *ts, const char *name, const struct tstore_lock *lk)
{
    if (lk && lk->mode) {
        dv_seterr("%s/%s: a directory target has no Object Lock", ts->name, name);
        errno = ENOTSUP;
        return -1;
    }
    return 0;
}

/* Open the temporary beside name (its directory created beneath the root). */
static int tmp_begin(struct tstore *ts, const char *name, struct fsb_tmp *t)
{
    const char *slash = strrchr(name, '/');
    if (slash) {
        char *dir = dv_asprintf("%.*s", (int)(slash - name), name);
        int rc = fsb_mkdirs(ROOT(ts), dir, 0700);
        free(dir);
        if (rc != 0)
            return -1;
    }
    return fsb_tmp_open(ROOT(ts), name, NULL, 0600, 0, t);
}

static int d_put(struct tstore *ts, const char *name, const void *buf, size_t len,
                 const struct tstore_lock *lk)
{
    if (no_lock(ts, name, lk) != 0)
        return -1;
    struct fsb_tmp t = {.fd = -1, .dfd = -1};
    int rc = tmp_begin(ts, name, &t);
    if (rc == 0 && dv_write_all(t.fd, buf, len) != 0) {
        dv_syserr("write %s", t.path);
        rc = -1;
    }
    if (rc == 0)
        rc = fsb_tmp_commit(&t, 0);
    fsb_tmp_done(&t);
    return rc;
}

static int d_put_fd(struct tstore *ts, const char *name, int fd, uint64_t size,
                    const struct tstore_lock *lk)
{
    if (no_lock(ts, name, lk) != 0)
        return -1;
    struct fsb_tmp t = {.fd = -1, .dfd = -1};
    int rc = tmp_begin(ts, name, &t);
    if (rc == 0) {
        int64_t n = dv_copy_range(fd, 0, t.fd, 0, size);
        if (n < 0 || (uint64_t)n != size) {
            if (n < 0)
                dv_syserr("%s/%s: copy", ts->name, name);
            else
                dv_seterr("%s/%s: source ended after %lld of %llu bytes", ts->name, name,
                          (long long)n, (unsigned long long)size);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = fsb_tmp_commit(&t, 0);
    fsb_tmp_done(&t);
    return rc;
}

static int d_get_range(struct tstore *ts, const char *name, uint64_t off, size_t len, void *buf,
                       size_t *got)
{
    int fd = fsb_openat(ROOT(ts), name, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    ssize_t n = dv_pread_full(fd, buf, len, (off_t)off);
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        dv_syserr("read %s/%s", ts->name, name);
        return -1;
    }
    *got = (size_t)n;
    return 0;
}

static int d_get_fd(struct tstore *ts, const char *name, int out, uint64_t *size)
{
    int fd = fsb_openat(ROOT(ts), name, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    int rc = fstat(fd, &st);
    if (rc != 0)
        dv_syserr("%s/%s", ts->name, name);
    off_t at = rc == 0 ? lseek(out, 0, SEEK_CUR) : 0;
    if (rc == 0 && at < 0) {
        dv_syserr("%s/%s: output", ts->name, name);
        rc = -1;
    }
    if (rc == 0) {
        int64_t n = dv_copy_range(fd, 0, out, at, (uint64_t)st.st_size);
        if (n != st.st_size) {
            if (n >= 0) {
                dv_seterr("%s/%s: %lld bytes read, %lld expected (changed while read)", ts->name,
                          name, (long long)n, (long long)st.st_size);
                errno = EIO;
            }
            rc = -1;
        } else if (lseek(out, at + n, SEEK_SET) < 0) {
            rc = -1;
        }
    }
    if (rc == 0 && size)
        *size = (uint64_t)st.st_size;
    close(fd);
    return rc;
}

static int d_head(struct tstore *ts, const char *name, struct tstore_info *info)
{
    struct stat st;
    if (fsb_lstat(ROOT(ts), name, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        dv_seterr("%s/%s: %s, not a regular file: refused", ts->name, name, fsb_kind(st.st_mode));
        errno = EINVAL;
        return -1;
    }
    info->size = (uint64_t)st.st_size;
    return 0;
}

static int d_del(struct tstore *ts, const char *name, struct tstore_info *info)
{
    (void)info;
    return fsb_unlink(ROOT(ts), name, true);
}

/* Walk dir in byte order of the whole name (as S3 lists: a directory sorts as "name/"),
 * calling cb for the regular files whose name starts with prefix. */
static int walk(struct tstore *ts, const char *dir, const char *prefix, tstore_list_cb cb, void *ud)
{
    DIR *d = fsb_opendir(ROOT(ts), dir[0] ? dir : ".");
    if (!d)
        return errno == ENOENT ? 0 : -1;
    char **v = NULL; /* "name" or "name/" (a directory) */
    size_t n = 0, cap = 0, pl = strlen(prefix);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp.")) /* a put's temporary */
            continue;
        char *rel = dir[0] ? dv_asprintf("%s/%s", dir, e->d_name) : dv_strdup(e->d_name);
        size_t rl = strlen(rel);
        /* below the prefix, or a directory on the way to it */
        bool below = rl >= pl && strncmp(rel, prefix, pl) == 0;
        bool on_way = rl < pl && strncmp(prefix, rel, rl) == 0 && prefix[rl] == '/';
        struct stat st;
        if (!below && !on_way) {
            free(rel);
            continue;
        }
        if (fsb_lstat(ROOT(ts), rel, &st) != 0) {
            if (errno != ENOENT)
                rc = -1;
            free(rel);
            continue;
        }
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && below) {
            dv_seterr("%s/%s: %s: refused", ts->name, rel, fsb_kind(st.st_mode));
            rc = -1;
        }
        free(rel);
        if (!S_ISDIR(st.st_mode) && !below)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            v = dv_realloc(v, cap * sizeof *v);
        }
        v[n++] = dv_asprintf("%s%s", e->d_name, S_ISDIR(st.st_mode) ? "/" : "");
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            char *x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t l = strlen(v[i]);
        bool isdir = v[i][l - 1] == '/';
        if (isdir)
            v[i][l - 1] = '\0';
        char *rel = dir[0] ? dv_asprintf("%s/%s", dir, v[i]) : dv_strdup(v[i]);
        struct stat st;
        if (isdir) {
            rc = walk(ts, rel, prefix, cb, ud);
        } else if (fsb_lstat(ROOT(ts), rel, &st) != 0) {
            rc = errno == ENOENT ? 0 : -1; /* gone meanwhile */
        } else if (!S_ISREG(st.st_mode)) { /* changed meanwhile */
            dv_seterr("%s/%s: %s: refused", ts->name, rel, fsb_kind(st.st_mode));
            rc = -1;
        } else {
            rc = cb(ud, rel, (uint64_t)st.st_size);
        }
        free(rel);
    }
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return rc;
}

static int d_list(struct tstore *ts, const char *prefix, tstore_list_cb cb, void *ud)
{
    return walk(ts, "", prefix, cb, ud);
}

static void d_close(struct tstore *ts)
{
    fsb_close(ROOT(ts));
}

static const struct tstore_ops dir_ops = {
    .put = d_put,
    .put_fd = d_put_fd,
    .get_range = d_get_range,
    .get_fd = d_get_fd,
    .head = d_head,
    .del = d_del,
    .list = d_list,
    .close = d_close,
};

static struct tstore *dir_store(struct fsb *root, const char *path)
{
    if (!root)
        return NULL;
    struct tstore *ts = dv_calloc(1, sizeof *ts);
    ts->ops = &dir_ops;
    ts->name = dv_strdup(path);
    ts->impl = root;
    return ts;
}

struct tstore *tstore_dir_from_fd(int fd, const char *path)
{
    return dir_store(fsb_from_fd(fd, path), path);
}

struct tstore *tstore_dir_open(const char *path)
{
    return dir_store(fsb_open(path), path);
}

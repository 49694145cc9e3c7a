/* fsb.c - see fsb.h. */
#include "fsb.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

struct fsb {
    int fd;
    char *path;
};

static bool force_fallback;

void fsb_test_force_fallback(bool on)
{
    force_fallback = on;
}

struct fsb *fsb_from_fd(int fd, const char *path)
{
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (d < 0) {
        dv_syserr("%s: dup", path);
        return NULL;
    }
    struct fsb *r = dv_calloc(1, sizeof *r);
    r->fd = d;
    r->path = dv_strdup(path);
    return r;
}

struct fsb *fsb_open(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        dv_syserr("%s", path);
        return NULL;
    }
    struct fsb *r = dv_calloc(1, sizeof *r);
    r->fd = fd;
    r->path = dv_strdup(path);
    return r;
}

void fsb_close(struct fsb *r)
{
    if (!r)
        return;
    close(r->fd);
    free(r->path);
    free(r);
}

const char *fsb_path(const struct fsb *r)
{
    return r->path;
}

int fsb_dirfd(const struct fsb *r)
{
    return r->fd;
}

const char *fsb_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISLNK(m))
        return "a symbolic link";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    return "not a regular file";
}

static int raw_open(const struct fsb *r, const char *rel, int flags, mode_t mode);

/* The error of a failed resolution, naming the path. errno is preserved. */
static void resolve_err(const struct fsb *r, const char *rel, const char *what)
{
    int e = errno;
    if (e == ELOOP || e == ENOTDIR) {
        /* rel itself a link (or not a directory), or a link on the way to it? */
        struct stat st;
        int fd = raw_open(r, rel, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
        bool known = fd >= 0 && fstat(fd, &st) == 0;
        if (fd >= 0)
            close(fd);
        if (known && S_ISLNK(st.st_mode)) {
            dv_seterr("%s/%s is a symbolic link: refused (never followed)", r->path, rel);
            errno = e;
            return;
        }
        if (known && e == ENOTDIR) {
            dv_seterr("%s/%s is %s, not a directory: refused", r->path, rel, fsb_kind(st.st_mode));
            errno = e;
            return;
        }
    }
    if (e == ELOOP)
        dv_seterr("%s/%s: a symbolic link is in the way: refused", r->path, rel);
    else if (e == EXDEV)
        dv_seterr("%s/%s: resolves outside %s: refused", r->path, rel, r->path);
    else if (e == ENOTDIR)
        dv_seterr("%s/%s: a component is not a directory (or is a link): refused", r->path, rel);
    else
        dv_seterr("%s %s/%s: %s", what, r->path, rel, strerror(e));
    errno = e;
}

static bool rel_ok(const struct fsb *r, const char *rel)
{
    if (strcmp(rel, ".") == 0 || dv_path_is_safe_rel(rel))
        return true;
    dv_seterr("%s: unsafe path below %s: refused", rel, r->path);
    errno = EINVAL;
    return false;
}

/* Per-component walk, each opened with O_NOFOLLOW (the fallback without openat2). */
static int walk_open(int root, const char *rel, int flags, mode_t mode)
{
    char *copy = dv_strdup(rel), *save = NULL, *part = strtok_r(copy, "/", &save);
    int dir = root, fd = -1;
    while (part) {
        char *next = strtok_r(NULL, "/", &save);
        int f = next ? (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : flags;
        int nfd = openat(dir, part, f, mode);
        int e = errno;
        if (dir != root)
            close(dir);
        if (nfd < 0) {
            /* an intermediate link opened with O_DIRECTORY|O_NOFOLLOW gives ENOTDIR or ELOOP */
            errno = (next && e == ENOTDIR) ? ELOOP : e;
            free(copy);
            return -1;
        }
        if (!next) {
            fd = nfd;
            break;
        }
        dir = nfd;
        part = next;
    }
    free(copy);
    return fd;
}

/* Resolve and open; no type check. -1 with errno (no message). */
static int raw_open(const struct fsb *r, const char *rel, int flags, mode_t mode)
{
    if (strcmp(rel, ".") == 0)
        return openat(r->fd, ".", flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW), mode);
    if (!force_fallback) {
        struct open_how how = {
            .flags = (uint64_t)flags,
            .mode = (flags & O_CREAT) ? mode : 0,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        long fd = syscall(SYS_openat2, r->fd, rel, &how, sizeof how);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return (int)fd;
    }
    return walk_open(r->fd, rel, flags, mode);
}

int fsb_openat(const struct fsb *r, const char *rel, int flags, mode_t mode)
{
    if (!rel_ok(r, rel))
        return -1;
    int f = flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int fd = raw_open(r, rel, f, mode);
    if (fd < 0) {
        resolve_err(r, rel, "open");
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        dv_syserr("stat %s/%s", r->path, rel);
        close(fd);
        return -1;
    }
    bool want_dir = (flags & O_DIRECTORY) != 0;
    if (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        dv_seterr("%s/%s is %s, not a %s: refused", r->path, rel, fsb_kind(st.st_mode),
                  want_dir ? "directory" : "regular file");
        close(fd);
        errno = want_dir ? ENOTDIR : EINVAL;
        return -1;
    }
    if (!(flags & O_NONBLOCK)) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    return fd;
}

int fsb_create(const struct fsb *r, const char *rel, mode_t mode)
{
    return fsb_openat(r, rel, O_WRONLY | O_CREAT | O_EXCL, mode);
}

DIR *fsb_opendir(const struct fsb *r, const char *rel)
{
    int fd = fsb_openat(r, rel, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d) {
        dv_syserr("opendir %s/%s", r->path, rel);
        close(fd);
    }
    return d;
}

int fsb_read_capped(const struct fsb *r, const char *rel, size_t cap, char **buf, size_t *len)
{
    int fd = fsb_openat(r, rel, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        dv_syserr("stat %s/%s", r->path, rel);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > cap) {
        dv_seterr("%s/%s: %lld bytes, more than the %zu this file may hold: refused", r->path, rel,
                  (long long)st.st_size, cap);
        close(fd);
        return -1;
    }
    /* the buffer is what the file holds (plus room to see it grow), not the cap: a cap of
     * megabytes must not cost megabytes for every small file */
    size_t want = (size_t)st.st_size + 1 + 4096 < cap + 1 ? (size_t)st.st_size + 1 + 4096 : cap + 1;
    char *b = dv_malloc(want + 1);
    ssize_t n = dv_pread_full(fd, b, want, 0);
    while (n >= 0 && (size_t)n == want && want < cap + 1) { /* it grew while read: go on */
        size_t more = want * 2 < cap + 1 ? want * 2 : cap + 1;
        b = dv_realloc(b, more + 1);
        ssize_t k = dv_pread_full(fd, b + want, more - want, (off_t)want);
        n = k < 0 ? -1 : n + k;
        if (k < 0 || (size_t)k < more - want) {
            want = more;
            break;
        }
        want = more;
    }
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        dv_syserr("read %s/%s", r->path, rel);
        free(b);
        return -1;
    }
    if ((size_t)n > cap) {
        dv_seterr("%s/%s grew past %zu bytes while read: refused", r->path, rel, cap);
        free(b);
        return -1;
    }
    b[n] = '\0';
    *buf = b;
    if (len)
        *len = (size_t)n;
    return 0;
}

/* Open the parent directory of rel beneath the root; *base points into rel at the last part. */
static int parent_open(const struct fsb *r, const char *rel, const char **base)
{
    if (!rel_ok(r, rel))
        return -1;
    if (strcmp(rel, ".") == 0) {
        dv_seterr("%s: the root itself: refused", r->path);
        errno = EINVAL;
        return -1;
    }
    const char *slash = strrchr(rel, '/');
    if (!slash) {
        *base = rel;
        int fd = fcntl(r->fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            dv_syserr("dup %s", r->path);
        return fd;
    }
    *base = slash + 1;
    char *dir = dv_asprintf("%.*s", (int)(slash - rel), rel);
    int fd = raw_open(r, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        resolve_err(r, dir, "open");
    free(dir);
    return fd;
}

int fsb_lstat(const struct fsb *r, const char *rel, struct stat *st)
{
    if (strcmp(rel, ".") == 0)
        return fstat(r->fd, st) == 0 ? 0 : (dv_syserr("stat %s", r->path), -1);
    const char *base;
    int dfd = parent_open(r, rel, &base);
    if (dfd < 0)
        return -1;
    int rc = fstatat(dfd, base, st, AT_SYMLINK_NOFOLLOW);
    int e = errno;
    close(dfd);
    if (rc != 0) {
        errno = e;
        dv_syserr("stat %s/%s", r->path, rel);
    }
    return rc;
}

int fsb_mkdir(const struct fsb *r, const char *rel, mode_t mode, bool exist_ok)
{
    const char *base;
    int dfd = parent_open(r, rel, &base);
    if (dfd < 0)
        return -1;
    int rc = mkdirat(dfd, base, mode);
    if (rc != 0 && errno == EEXIST && exist_ok) {
        struct stat st;
        if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
            rc = 0;
        else
            errno = EEXIST;
    }
    int e = errno;
    close(dfd);
    if (rc != 0) {
        errno = e;
        if (e == EEXIST)
            dv_seterr("%s/%s exists and is not a directory (or is a link): refused", r->path, rel);
        else
            dv_syserr("mkdir %s/%s", r->path, rel);
    }
    return rc;
}

int fsb_mkdirs(const struct fsb *r, const char *rel, mode_t mode)
{
    if (!rel_ok(r, rel))
        return -1;
    if (strcmp(rel, ".") == 0)
        return 0;
    char *p = dv_strdup(rel);
    int rc = 0;
    for (char *s = strchr(p, '/');; s = strchr(s + 1, '/')) {
        if (s)
            *s = '\0';
        rc = fsb_mkdir(r, p, mode, true);
        if (rc != 0 || !s)
            break;
        *s = '/';
    }
    free(p);
    return rc;
}

int fsb_unlink(const struct fsb *r, const char *rel, bool missing_ok)
{
    const char *base;
    int dfd = parent_open(r, rel, &base);
    if (dfd < 0)
        return (missing_ok && errno == ENOENT) ? 0 : -1;
    int rc = unlinkat(dfd, base, 0);
    int e = errno;
    close(dfd);
    if (rc != 0) {
        if (missing_ok && e == ENOENT)
            return 0;
        errno = e;
        dv_syserr("unlink %s/%s", r->path, rel);
    }
    return rc;
}

int fsb_rmdir(const struct fsb *r, const char *rel)
{
    const char *base;
    int dfd = parent_open(r, rel, &base);
    if (dfd < 0)
        return -1;
    int rc = unlinkat(dfd, base, AT_REMOVEDIR);
    int e = errno;
    close(dfd);
    if (rc != 0) {
        errno = e;
        dv_syserr("rmdir %s/%s", r->path, rel);
    }
    return rc;
}

int fsb_rename(const struct fsb *r, const char *from, const char *to, bool noreplace)
{
    const char *fb, *tb;
    int ffd = parent_open(r, from, &fb);
    if (ffd < 0)
        return -1;
    int tfd = parent_open(r, to, &tb);
    if (tfd < 0) {
        close(ffd);
        return -1;
    }
    int rc = renameat2(ffd, fb, tfd, tb, noreplace ? RENAME_NOREPLACE : 0);
    int e = errno;
    close(ffd);
    close(tfd);
    if (rc != 0) {
        errno = e;
        dv_syserr("rename %s/%s to %s", r->path, from, to);
    }
    return rc;
}

int fsb_fsync_dir(const struct fsb *r, const char *rel)
{
    int fd = fsb_openat(r, rel, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    if (rc != 0)
        dv_syserr("fsync %s/%s", r->path, rel);
    close(fd);
    return rc;
}

struct fsb *fsb_sub(const struct fsb *r, const char *rel)
{
    int fd = fsb_openat(r, rel, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return NULL;
    struct fsb *s = dv_calloc(1, sizeof *s);
    s->fd = fd;
    s->path = fsb_abs(r, rel);
    return s;
}

char *fsb_abs(const struct fsb *r, const char *rel)
{
    if (strcmp(rel, ".") == 0)
        return dv_strdup(r->path);
    return dv_asprintf("%s%s%s", r->path, strcmp(r->path, "/") == 0 ? "" : "/", rel);
}

/* fsb_tree below an open directory: name inside dirfd, shown in messages. */
static int tree_at(int dirfd, const char *name, const char *shown, bool remove, uint64_t *bytes,
                   int depth)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        dv_syserr("%s", shown);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (S_ISREG(st.st_mode))
            *bytes += (uint64_t)st.st_size;
        if (remove && unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) {
            dv_syserr("remove %s", shown);
            return -1;
        }
        return 0;
    }
    if (depth > 256) {
        dv_seterr("%s: nested deeper than 256 directories: refused", shown);
        return -1;
    }
    /* O_NOFOLLOW: a directory replaced by a link since the fstatat is not entered */
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        dv_syserr("open %s", shown);
        return -1;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        dv_syserr("open %s", shown);
        close(fd);
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *sub = dv_asprintf("%s/%s", shown, e->d_name);
        rc = tree_at(fd, e->d_name, sub, remove, bytes, depth + 1);
        free(sub);
    }
    if (rc == 0 && errno != 0) {
        dv_syserr("read %s", shown);
        rc = -1;
    }
    closedir(d);
    if (rc == 0 && remove && unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) {
        dv_syserr("remove %s", shown);
        rc = -1;
    }
    return rc;
}

int fsb_tree(const struct fsb *r, const char *rel, bool remove, uint64_t *bytes)
{
    const char *base;
    int dfd = parent_open(r, rel, &base);
    if (dfd < 0)
        return errno == ENOENT ? 0 : -1;
    uint64_t none = 0; /* bytes may be NULL: not counted */
    char *shown = fsb_abs(r, rel);
    int rc = tree_at(dfd, base, shown, remove, bytes ? bytes : &none, 0);
    free(shown);
    close(dfd);
    return rc;
}

/* Remove whatever is at name in dfd as itself; *what gets what it was. 0, or -1 (errno). */
static int clear_name(int dfd, const char *name, const char **what)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : -1;
    *what = S_ISREG(st.st_mode) ? "a regular file" : fsb_kind(st.st_mode);
    return unlinkat(dfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) == 0 || errno == ENOENT ? 0
                                                                                               : -1;
}

int fsb_tmp_open(const struct fsb *r, const char *rel, const char *name, mode_t mode,
                 unsigned flags, struct fsb_tmp *t)
{
    memset(t, 0, sizeof *t);
    t->fd = -1;
    const char *base;
    t->dfd = parent_open(r, rel, &base);
    if (t->dfd < 0)
        return -1;
    t->base = dv_strdup(base);
    t->name = name ? dv_strdup(name) : dv_asprintf(".%s.tmp.%ld", base, (long)getpid());
    t->final = fsb_abs(r, rel);
    t->path = dv_asprintf("%.*s%s", (int)(strlen(t->final) - strlen(base)), t->final, t->name);
    if (strchr(t->name, '/') || t->name[0] == '\0' || strcmp(t->name, t->base) == 0) {
        dv_seterr("%s: bad temporary name", t->path);
        return -1;
    }
    if (flags & FSB_TMP_NOCREATE) {
        if (clear_name(t->dfd, t->name, &t->removed) != 0) {
            dv_syserr("remove %s", t->path);
            return -1;
        }
        return 0;
    }
    for (int tries = 0;; tries++) {
        t->fd = openat(t->dfd, t->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (t->fd >= 0)
            return 0;
        if (errno != EEXIST || tries == 2) {
            dv_syserr("create %s", t->path);
            return -1;
        }
        /* a leftover of a crashed run, or something planted: removed as itself */
        if (clear_name(t->dfd, t->name, &t->removed) != 0) {
            dv_syserr("remove %s", t->path);
            return -1;
        }
    }
}

int fsb_tmp_reopen(struct fsb_tmp *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = openat(t->dfd, t->name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        if (errno == ELOOP)
            dv_seterr("%s is a symbolic link: refused", t->path);
        else
            dv_syserr("%s", t->path);
        return -1;
    }
    struct stat st;
    bool st_ok = fstat(t->fd, &st) == 0;
    if (!st_ok || !S_ISREG(st.st_mode)) {
        if (!st_ok)
            dv_syserr("stat %s", t->path);
        else
            dv_seterr("%s is %s, not a regular file: refused", t->path, fsb_kind(st.st_mode));
        close(t->fd);
        t->fd = -1;
        return -1;
    }
    int fl = fcntl(t->fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(t->fd, F_SETFL, fl & ~O_NONBLOCK);
    return 0;
}

int fsb_tmp_commit(struct fsb_tmp *t, unsigned flags)
{
    if (t->fd >= 0) {
        if (!(flags & FSB_NOSYNC) && fsync(t->fd) != 0) {
            dv_syserr("fsync %s", t->path);
            return -1;
        }
        int rc = close(t->fd);
        t->fd = -1;
        if (rc != 0) {
            dv_syserr("close %s", t->path);
            return -1;
        }
    }
    if (renameat2(t->dfd, t->name, t->dfd, t->base,
                  (flags & FSB_NOREPLACE) ? RENAME_NOREPLACE : 0) != 0) {
        dv_syserr("rename %s to %s", t->path, t->final);
        return -1;
    }
    t->committed = true;
    if (!(flags & FSB_NOSYNC) && fsync(t->dfd) != 0) {
        dv_syserr("fsync the directory of %s", t->final);
        return -1;
    }
    return 0;
}

void fsb_tmp_done(struct fsb_tmp *t)
{
    if (!t->base) { /* never opened (zeroed), or its directory could not be: nothing held */
        t->fd = t->dfd = -1;
        return;
    }
    int e = errno;
    if (t->fd >= 0)
        close(t->fd);
    if (!t->committed && t->dfd >= 0 && t->name)
        (void)unlinkat(t->dfd, t->name, 0);
    if (t->dfd >= 0)
        close(t->dfd);
    free(t->name);
    free(t->base);
    free(t->path);
    free(t->final);
    memset(t, 0, sizeof *t);
    t->fd = t->dfd = -1;
    errno = e;
}

char *fsb_mkdtemp(const struct fsb *r, const char *prefix)
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int tries = 0; tries < 100; tries++) {
        unsigned char rnd[6];
        char sfx[7];
        dv_random(rnd, sizeof rnd);
        for (int i = 0; i < 6; i++)
            sfx[i] = chars[rnd[i] % (sizeof chars - 1)];
        sfx[6] = '\0';
        char *rel = dv_asprintf("%s%s", prefix, sfx);
        if (fsb_mkdir(r, rel, 0700, false) == 0)
            return rel;
        int e = errno;
        free(rel);
        if (e != EEXIST)
            return NULL;
    }
    dv_seterr("%s/%sXXXXXX: no free name", r->path, prefix);
    return NULL;
}

int fsb_write_atomic(const struct fsb *r, const char *rel, const void *buf, size_t len, mode_t mode)
{
    struct stat st;
    if (fsb_lstat(r, rel, &st) == 0 && !S_ISREG(st.st_mode)) {
        dv_seterr("%s/%s is %s, not a regular file: refused", r->path, rel, fsb_kind(st.st_mode));
        return -1;
    }
    struct fsb_tmp t;
    int rc = -1;
    if (fsb_tmp_open(r, rel, NULL, mode, 0, &t) == 0) {
        if (dv_write_all(t.fd, buf, len) != 0)
            dv_syserr("write %s", t.path);
        else
            rc = fsb_tmp_commit(&t, 0);
    }
    fsb_tmp_done(&t);
    return rc;
}

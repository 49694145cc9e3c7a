/* target.c - see target.h: the layout, the lock, set directories, pool paths, kept deltas
 * moved out, the NLO list; manifests are manifest.c's. Formats in docs/formats.md. */
#include "target.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fsb.h"
#include "target_priv.h"
#include "util.h"

/* ---- names ------------------------------------------------------------------------- */

static bool is_lhex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool target_nlo_name_valid(const char *name)
{
    /* The NLO pass checks every name of the repository: length first (never read past the
       NUL), then a loop without early exit that the compiler can vectorize. */
    if (strnlen(name, TARGET_NLO_NAME_LEN + 1) != TARGET_NLO_NAME_LEN)
        return false;
    unsigned ok = 1;
    for (int i = 0; i < 80; i++)
        ok &= is_lhex(name[i]);
    return ok && memcmp(name + 80, ".nlo", 4) == 0;
}

bool target_set_id_valid(const char *id)
{
    for (int i = 0; i < 15; i++) {
        if (i == 8 ? id[i] != '-' : !isdigit((unsigned char)id[i]))
            return false;
    }
    if (id[15] == '\0')
        return true;
    if (id[15] != '-' || !isdigit((unsigned char)id[16]))
        return false;
    size_t n = 0;
    for (const char *p = id + 16; *p; p++, n++)
        if (!isdigit((unsigned char)*p) || n >= 6)
            return false;
    return true;
}

bool target_sha256_valid(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!is_lhex(s[i]))
            return false;
    return s[64] == '\0';
}

void target_pool_relpath(const char *name, char *out, size_t n)
{
    snprintf(out, n, "nlo/%.3s/%s", name, name);
}

char *target_pool_path(const struct target *t, const char *name)
{
    return dv_asprintf("%s/nlo/%.3s/%s", t->path, name, name);
}

/* ---- open, lock ---------------------------------------------------------------------- */

/* Open the working tree at path and take its lock (target.c's half of target_open). */
int target_open_tree(struct target *t, const char *path)
{
    t->path = dv_strdup(path);
    size_t l = strlen(t->path);
    while (l > 1 && t->path[l - 1] == '/')
        t->path[--l] = '\0';
    t->sets = dv_path_join(t->path, "sets");
    t->lockfd = -1;
    t->dirfd = open(t->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (t->dirfd < 0) {
        if (errno == ENOENT)
            dv_seterr("backup target %s does not exist (moved, or the backup volume not "
                      "mounted?); create a target with `dvault target init`",
                      t->path);
        else
            dv_syserr("backup target %s", t->path);
        return -1;
    }
    if (!(t->root = fsb_from_fd(t->dirfd, t->path)))
        return -1;
    if (t->kind == TARGET_KIND_DIR && (target_identity_check(t->root, &t->ident) != 0 ||
                                       !(t->dir = tstore_dir_from_fd(t->dirfd, t->path))))
        return -1;
    /* beneath the target, never a link or a FIFO planted in its place */
    t->lockfd = fsb_openat(t->root, "lock", O_RDWR | O_CREAT, 0600);
    if (t->lockfd < 0) {
        dv_preferr("target %s: open lock", t->path);
        return -1;
    }
    if (flock(t->lockfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            char buf[32] = "";
            ssize_t n = pread(t->lockfd, buf, sizeof buf - 1, 0);
            long pid = 0;
            if (n > 0) {
                buf[n] = '\0';
                pid = strtol(buf, NULL, 10);
            }
            dv_seterr("target busy (pid %ld): %s", pid, t->url ? t->url : t->path);
        } else {
            dv_syserr("target %s: lock", t->path);
        }
        return -1;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(t->lockfd, 0) != 0 || dv_pwrite_all(t->lockfd, buf, (size_t)n, 0) != 0) {
        dv_syserr("target %s: write lock", t->path);
        return -1;
    }
    /* real directories: a link in place of sets/ or nlo/ is refused, never written through */
    if (fsb_mkdir(t->root, "sets", 0700, true) != 0 || fsb_mkdir(t->root, "nlo", 0700, true) != 0)
        return -1;
    return 0;
}

struct target *target_open(const char *path)
{
    if (strncmp(path, "s3://", 5) == 0) { /* a caller not yet on target_open_cfg */
        dv_seterr("backup target %s: this command does not work on an S3 target yet", path);
        errno = ENOTSUP;
        return NULL;
    }
    struct target *t = dv_calloc(1, sizeof *t);
    t->lockfd = -1;
    t->dirfd = -1;
    if (target_open_tree(t, path) != 0) {
        target_close(t);
        return NULL;
    }
    return t;
}

void target_close(struct target *t)
{
    if (!t)
        return;
    if (t->lockfd >= 0) {
        /* Empty the pid only if the lock is ours (a failed open must not clear it). */
        if (flock(t->lockfd, LOCK_EX | LOCK_NB) == 0)
            (void)!ftruncate(t->lockfd, 0);
        close(t->lockfd);
    }
    if (t->dirfd >= 0)
        close(t->dirfd);
    fsb_close(t->root);
    tstore_close(t->store);
    tstore_close(t->dir);
    free(t->url);
    free(t->endpoint);
    free(t->lock_mode);
    free(t->sets);
    free(t->path);
    free(t);
}

const struct target_identity *target_identity(const struct target *t)
{
    return &t->ident;
}

const char *target_path(const struct target *t)
{
    return t->path;
}

int target_dirfd(const struct target *t)
{
    return t->dirfd;
}

const struct fsb *target_root(const struct target *t)
{
    return t->root;
}

/* ---- sets ------------------------------------------------------------------------- */

char *target_set_partial_dir(const struct target *t, const char *id)
{
    return dv_asprintf("%s/.%s.partial", t->sets, id);
}

char *target_set_dir(const struct target *t, const char *id)
{
    return dv_asprintf("%s/%s", t->sets, id);
}

/* Does sets/<name> exist (as anything: a link counts)? */
static bool set_exists(const struct target *t, const char *name)
{
    char *rel = dv_asprintf("sets/%s", name);
    struct stat st;
    bool e = fsb_lstat(t->root, rel, &st) == 0 || errno != ENOENT;
    free(rel);
    return e;
}

const char *target_rel(const struct target *t, const char *path)
{
    if (path[0] != '/') /* a location recorded relative to the target (a delta in its set) */
        return dv_path_is_safe_rel(path) ? path : NULL;
    size_t n = strlen(t->path);
    if (strncmp(path, t->path, n) != 0 || path[n] != '/' || !dv_path_is_safe_rel(path + n + 1))
        return NULL;
    return path + n + 1;
}

char *target_abs(const struct target *t, const char *loc)
{
    return loc[0] == '/' ? dv_strdup(loc) : dv_path_join(t->path, loc);
}

int target_file_open(const struct target *t, const char *path, int flags, mode_t mode)
{
    const char *rel = target_rel(t, path);
    if (rel)
        return fsb_openat(t->root, rel, flags, mode);
    if (path[0] != '/') {
        dv_seterr("%s: unsafe path below %s: refused", path, t->path);
        return -1;
    }
    size_t n = strlen(t->path);
    if (strncmp(path, t->path, n) == 0 && path[n] == '/') {
        dv_seterr("%s: unsafe path below %s: refused", path, t->path);
        return -1;
    }
    if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_CREAT)) {
        dv_seterr("%s: not below the target %s: not written", path, t->path);
        return -1;
    }
    return dv_open_regular(path, flags);
}

int target_set_begin(struct target *t, int64_t now, target_id_taken_fn taken_elsewhere, void *ud,
                     char id[TARGET_SET_ID_MAX])
{
    time_t tt = (time_t)now;
    struct tm tm;
    char base[24];
    if (!gmtime_r(&tt, &tm) || strftime(base, sizeof base, "%Y%m%d-%H%M%S", &tm) != 15) {
        dv_seterr("target %s: bad time %lld", t->path, (long long)now);
        return -1;
    }
    for (int k = 1; k < 1000; k++) {
        if (k == 1)
            snprintf(id, TARGET_SET_ID_MAX, "%s", base);
        else
            snprintf(id, TARGET_SET_ID_MAX, "%s-%d", base, k);
        char *failed = dv_asprintf("%s.failed", id);
        bool taken = set_exists(t, id) || set_exists(t, failed);
        free(failed);
        if (taken)
            continue;
        if (t->store) { /* S3: the id must be free in the bucket too */
            int st = target_s3_set_taken(t, id);
            if (st < 0)
                return -1;
            if (st > 0)
                continue;
        }
        int te = taken_elsewhere ? taken_elsewhere(ud, id) : 0;
        if (te < 0)
            return -1;
        if (te > 0)
            continue;
        char *partial = dv_asprintf("sets/.%s.partial", id);
        int rc = fsb_mkdir(t->root, partial, 0700, false);
        int e = errno;
        free(partial);
        if (rc == 0)
            return fsb_fsync_dir(t->root, "sets");
        if (e != EEXIST) {
            dv_preferr("target");
            return -1;
        }
    }
    dv_seterr("target %s: no free set id for %s", t->path, base);
    return -1;
}

int target_set_abandon(struct target *t, const char *id)
{
    char *partial = dv_asprintf("sets/.%s.partial", id);
    int rc = fsb_rmdir(t->root, partial) == 0 ? fsb_fsync_dir(t->root, "sets") : -1;
    free(partial);
    return rc;
}

/* manifest.json into sets/<dir> (beneath the target: fsb_write_atomic) */
static int write_manifest(struct target *t, const char *dir, const struct manifest *m,
                          const char *status)
{
    size_t len;
    char *json = manifest_to_json(m, status, &len);
    char *rel = dv_asprintf("sets/%s/%s", dir, TARGET_MANIFEST);
    int rc = fsb_write_atomic(t->root, rel, json, len, 0600);
    free(rel);
    free(json);
    return rc;
}

/* Rename sets/<from> to sets/<to>, never replacing anything (a link planted at to stays). */
static int rename_set(struct target *t, const char *from, const char *to)
{
    char *f = dv_asprintf("sets/%s", from), *d = dv_asprintf("sets/%s", to);
    int rc = fsb_rename(t->root, f, d, true);
    if (rc != 0 && errno == EINVAL) { /* no RENAME_NOREPLACE on this file system */
        rc = set_exists(t, to) ? (errno = EEXIST, -1) : fsb_rename(t->root, f, d, false);
    }
    if (rc != 0 && errno == EEXIST)
        dv_seterr("target: cannot rename %s/%s: %s/%s exists", t->sets, from, t->sets, to);
    else if (rc != 0)
        dv_preferr("target");
    free(f);
    free(d);
    return rc == 0 ? fsb_fsync_dir(t->root, "sets") : -1;
}

int target_set_finish(struct target *t, const struct manifest *m)
{
    if (!target_set_id_valid(m->id)) {
        dv_seterr("target: bad set id \"%s\"", m->id);
        return -1;
    }
    if (t->store)
        return target_s3_set_finish(t, m);
    char *partial = dv_asprintf(".%s.partial", m->id);
    int rc = write_manifest(t, partial, m, m->nfailed ? "partial" : "complete");
    if (rc == 0)
        rc = rename_set(t, partial, m->id);
    free(partial);
    return rc;
}

int target_set_fail(struct target *t, const char *id, const struct manifest *m)
{
    if (!target_set_id_valid(id)) {
        dv_seterr("target: bad set id \"%s\"", id);
        return -1;
    }
    if (t->store)
        return target_s3_set_fail(t, id, m);
    char *partial = dv_asprintf(".%s.partial", id), *failed = dv_asprintf("%s.failed", id);
    int rc = m ? write_manifest(t, partial, m, "failed") : 0;
    if (rc == 0)
        rc = rename_set(t, partial, failed);
    free(partial);
    free(failed);
    return rc;
}

static int scan_sets(struct target *t, bool partial, char ***ids, size_t *n, int *renamed)
{
    DIR *d = fsb_opendir(t->root, "sets");
    if (!d) {
        dv_preferr("target");
        return -1;
    }
    char **v = NULL;
    size_t k = 0, cap = 0;
    int rc = 0, count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char id[TARGET_SET_ID_MAX];
        if (partial) {
            size_t l = strlen(e->d_name);
            if (e->d_name[0] != '.' || l < 9 || l - 9 >= sizeof id ||
                strcmp(e->d_name + l - 8, ".partial") != 0)
                continue;
            snprintf(id, sizeof id, "%.*s", (int)(l - 9), e->d_name + 1);
            if (!target_set_id_valid(id))
                continue;
            if (target_set_fail(t, id, NULL) != 0) {
                rc = -1;
                break;
            }
            count++;
            continue;
        }
        if (strlen(e->d_name) >= sizeof id || !target_set_id_valid(e->d_name))
            continue;
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
            continue;
        if (k == cap) {
            cap = cap ? cap * 2 : 32;
            v = dv_realloc(v, cap * sizeof *v);
        }
        v[k++] = dv_strdup(e->d_name);
    }
    closedir(d);
    if (partial) {
        if (renamed)
            *renamed = count;
        return rc;
    }
    for (size_t i = 1; i < k; i++) /* insertion sort: few hundred ids at most */
        for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            char *x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    *ids = v;
    *n = k;
    return 0;
}

int target_cleanup_partial(struct target *t, int *n)
{
    if (t->store)
        return target_s3_cleanup_partial(t, n);
    return scan_sets(t, true, NULL, NULL, n);
}

int target_sets_scan(struct target *t, char ***ids, size_t *n)
{
    if (t->store)
        return target_s3_sets_scan(t, ids, n);
    return scan_sets(t, false, ids, n, NULL);
}

void target_ids_free(char **ids, size_t n)
{
    if (!ids)
        return;
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* ---- moved deltas ------------------------------------------------------------------ */

static int moved_fail(const char *loc, const char *why)
{
    dv_seterr("%s: %s", loc, why);
    return -1;
}

int target_delta_moved_check(const struct target *t, const char *data_dir, const char *daos_dir,
                             const char *loc, const char *sha256, int *dirfd)
{
    if (dirfd)
        *dirfd = -1;
    size_t l = strlen(loc);
    if (loc[0] != '/' || !dv_path_is_safe_rel(loc + 1) || l < 8 ||
        strcmp(loc + l - 6, ".delta") != 0)
        return moved_fail(loc, "not an absolute path in normal form to a file ending in .delta");
    char *canon = dv_path_canon(loc);
    const char *const roots[] = {t->path, data_dir, daos_dir};
    const char *const names[] = {"the backup target", "server.data_dir", "server.daos_dir"};
    for (size_t i = 0; i < 3; i++) {
        if (!roots[i] || !roots[i][0])
            continue;
        char *r = dv_path_canon(roots[i]);
        bool in = dv_path_within(canon, r);
        free(r);
        if (in) {
            char why[96];
            snprintf(why, sizeof why, "inside %s", names[i]);
            free(canon);
            return moved_fail(loc, why);
        }
    }
    free(canon);
    struct fsb *slash = fsb_open("/");
    if (!slash)
        return -1;
    const char *base = strrchr(loc, '/') + 1;
    char *parent =
        base - loc > 1 ? dv_asprintf("%.*s", (int)(base - loc - 2), loc + 1) : dv_strdup(".");
    int pfd = fsb_openat(slash, parent, O_RDONLY | O_DIRECTORY, 0);
    int e = errno;
    free(parent);
    fsb_close(slash);
    if (pfd < 0) {
        if (e == ENOENT)
            return 1;
        return moved_fail(loc, e == ELOOP || e == EXDEV || e == ENOTDIR
                                   ? "a symbolic link (or a non-directory) is on its way"
                                   : strerror(e));
    }
    int rc = -1;
    struct stat st;
    int fd = openat(pfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            rc = 1;
        else if (errno == ELOOP)
            moved_fail(loc, "a symbolic link");
        else
            dv_syserr("%s", loc);
    } else if (fstat(fd, &st) != 0) {
        dv_syserr("%s", loc);
    } else if (!S_ISREG(st.st_mode)) {
        moved_fail(loc, "not a regular file");
    } else if (sha256) {
        char sha[65];
        if (dv_sha256_fd_hex(fd, loc, sha) == 0) {
            if (strcmp(sha, sha256) == 0)
                rc = 0;
            else
                moved_fail(loc, "not the delta the set recorded (another SHA-256)");
        }
    } else {
        rc = 0;
    }
    if (fd >= 0)
        close(fd);
    if (rc == 0 && dirfd)
        *dirfd = pfd;
    else
        close(pfd);
    return rc;
}

/* ---- NLO list ---------------------------------------------------------------------- */

size_t target_nlolist_line(const struct target_nlo_entry *e, char *out, size_t n)
{
    int k = snprintf(out, n, "%s\t%s\t%" PRIu64 "\t%" PRId64 "\n", e->name, e->sha256, e->size,
                     e->live_subdir);
    return k < 0 ? 0 : (size_t)k;
}

static bool parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    if (n == 0 || n > 20 || (n > 1 && s[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* One line (without its '\n') into e; *why gets the reason on failure. Nothing of the line is
 * ever quoted. 0 or -1. */
static int nlolist_parse_line(const char *s, size_t n, struct target_nlo_entry *e, const char **why)
{
    const char *nl = s + n, *f[4], *p = s;
    size_t fl[4], k = 0;
    while (k < 4) {
        const char *tab = memchr(p, '\t', (size_t)(nl - p));
        const char *end = tab ? tab : nl;
        f[k] = p;
        fl[k++] = (size_t)(end - p);
        if (!tab)
            break;
        p = tab + 1;
    }
    uint64_t sub;
    *why = NULL;
    if (k != 4 || p + fl[3] != nl)
        *why = "expected 4 tab-separated fields";
    else if (fl[0] != TARGET_NLO_NAME_LEN)
        *why = "bad NLO name";
    else if (fl[1] != 64)
        *why = "bad sha256";
    if (!*why) {
        memcpy(e->name, f[0], fl[0]);
        e->name[fl[0]] = '\0';
        memcpy(e->sha256, f[1], 64);
        e->sha256[64] = '\0';
        if (!target_nlo_name_valid(e->name))
            *why = "bad NLO name";
        else if (!target_sha256_valid(e->sha256))
            *why = "bad sha256";
        else if (!parse_u64(f[2], fl[2], INT64_MAX, &e->size))
            *why = "bad size";
        else if (!parse_u64(f[3], fl[3], 9999, &sub))
            *why = "bad subdirectory";
        else
            e->live_subdir = (int64_t)sub;
    }
    return *why ? -1 : 0;
}

/*
 * Read the list on fd line by line (never whole: a set of millions of objects has a list of
 * hundreds of megabytes), each line at most NLO_LINE_MAX bytes; name for messages.
 */
#define NLO_LINE_MAX 256
static int nlolist_fd(int fd, const char *name, target_nlo_cb cb, void *ud)
{
    enum { CHUNK = 1 << 16 };
    char *buf = dv_malloc(CHUNK + NLO_LINE_MAX + 1);
    size_t have = 0, line = 0;
    uint64_t pos = 0; /* file offset of buf[0] */
    int rc = 0;
    bool eof = false;
    while (rc == 0) {
        if (!eof && have < NLO_LINE_MAX + 1) {
            ssize_t r = read(fd, buf + have, CHUNK);
            if (r < 0) {
                if (errno == EINTR)
                    continue;
                dv_syserr("read %s", name);
                rc = -1;
                break;
            }
            if (r == 0)
                eof = true;
            have += (size_t)r;
            if (!eof && have < NLO_LINE_MAX + 1)
                continue;
        }
        if (have == 0)
            break;
        size_t off = 0;
        while (rc == 0) {
            const char *s = buf + off, *nl = memchr(s, '\n', have - off);
            if (!nl) {
                if (have - off > NLO_LINE_MAX) {
                    dv_seterr("%s: line %zu (byte %" PRIu64 "): longer than %d bytes", name,
                              line + 1, pos + off, NLO_LINE_MAX);
                    rc = -1;
                } else if (eof && have > off) {
                    dv_seterr("%s: line %zu (byte %" PRIu64 "): missing end of line", name,
                              line + 1, pos + off);
                    rc = -1;
                }
                break;
            }
            line++;
            struct target_nlo_entry e;
            const char *why = NULL;
            if (nl - s > NLO_LINE_MAX) {
                dv_seterr("%s: line %zu (byte %" PRIu64 "): longer than %d bytes", name, line,
                          pos + off, NLO_LINE_MAX);
                rc = -1;
                break;
            }
            if (nlolist_parse_line(s, (size_t)(nl - s), &e, &why) != 0) {
                dv_seterr("%s: line %zu (byte %" PRIu64 "): %s", name, line, pos + off, why);
                rc = -1;
                break;
            }
            rc = cb(ud, &e);
            off = (size_t)(nl - buf) + 1;
        }
        if (rc != 0)
            break;
        memmove(buf, buf + off, have - off);
        have -= off;
        pos += off;
        if (eof && have == 0)
            break;
    }
    free(buf);
    return rc;
}

int target_nlolist_read_at(const struct fsb *root, const char *rel, target_nlo_cb cb, void *ud)
{
    int fd = fsb_openat(root, rel, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    char *name = dv_asprintf("%s/%s", fsb_path(root), rel);
    int rc = nlolist_fd(fd, name, cb, ud);
    free(name);
    close(fd);
    return rc;
}

int target_nlolist_read(const char *path, target_nlo_cb cb, void *ud)
{
    char *dir = dv_dirname(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct fsb *root = fsb_open(dir);
    free(dir);
    if (!root)
        return -1;
    int rc = target_nlolist_read_at(root, base, cb, ud);
    fsb_close(root);
    return rc;
}

/* ---- the target's store (target.h; the S3 side: issue 17) ------------------------------ */

enum target_kind target_kind(const struct target *t)
{
    return t->kind;
}

const char *target_url(const struct target *t)
{
    return t->url ? t->url : t->path;
}

const char *target_endpoint(const struct target *t)
{
    return t->endpoint;
}

long target_lock_days(const struct target *t)
{
    return t->lock_days;
}

const char *target_lock_mode(const struct target *t)
{
    return t->lock_days > 0 ? t->lock_mode : NULL;
}

struct target *target_open_cfg(const struct dv_config *cfg)
{
    if (cfg->backup.s3.bucket)
        return target_s3_open(cfg);
    return target_open(cfg->backup.target);
}

int target_identity_read_cfg(const struct dv_config *cfg, struct target_identity *id)
{
    if (cfg->backup.s3.bucket)
        return target_s3_identity_read(cfg, id);
    return target_identity_read(cfg->backup.target, id);
}

int target_init_cfg(const struct dv_config *cfg, struct target_identity *id, int *adopted_sets)
{
    if (cfg->backup.s3.bucket) {
        if (adopted_sets)
            *adopted_sets = -1;
        return target_s3_init(cfg, id);
    }
    return target_init(cfg->backup.target, cfg->server.data_dir, id, adopted_sets);
}

int target_publish(struct target *t, const char *rel, unsigned flags)
{
    if (!dv_path_is_safe_rel(rel)) {
        dv_seterr("%s: unsafe path below %s: refused", rel, t->path);
        return -1;
    }
    if (t->store)
        return target_s3_publish(t, &rel, 1, flags);
    return 0; /* a directory: the working tree is the target */
}

int target_publish_many(struct target *t, const char *const *rels, size_t n, unsigned flags)
{
    if (t->store) {
        for (size_t i = 0; i < n; i++)
            if (!dv_path_is_safe_rel(rels[i])) {
                dv_seterr("%s: unsafe path below %s: refused", rels[i], t->path);
                return -1;
            }
        return target_s3_publish(t, rels, n, flags);
    }
    for (size_t i = 0; i < n; i++)
        if (target_publish(t, rels[i], flags) != 0)
            return -1;
    return 0;
}

int target_fetch(struct target *t, const char *rel)
{
    if (t->store)
        return target_s3_fetch(t, rel);
    struct stat st;
    if (fsb_lstat(t->root, rel, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        dv_seterr("%s/%s: %s, not a regular file: refused", t->path, rel, fsb_kind(st.st_mode));
        errno = EINVAL;
        return -1;
    }
    return 0;
}

void target_evict(struct target *t, const char *rel)
{
    if (t->store)
        target_s3_evict(t, rel);
}

int target_remove(struct target *t, const char *rel, int64_t *locked_until)
{
    if (locked_until)
        *locked_until = 0;
    if (t->store)
        return target_s3_remove(t, rel, locked_until);
    return tstore_delete(t->dir, rel, NULL); /* a missing rel is fine */
}

int target_list(struct target *t, const char *prefix, target_list_cb cb, void *ud)
{
    size_t pl = strlen(prefix);
    char *p = dv_strdup(prefix);
    if (pl && p[pl - 1] == '/')
        p[pl - 1] = '\0';
    bool ok = !p[0] || dv_path_is_safe_rel(p);
    free(p);
    if (!ok) {
        dv_seterr("%s: unsafe prefix below %s: refused", prefix, t->path);
        return -1;
    }
    if (t->store)
        return target_s3_list(t, prefix, cb, ud);
    return tstore_list(t->dir, prefix, cb, ud);
}

/* target.c - see target.h; formats in docs/formats.md ("Target layout", "Manifest"). */
#include "target.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "fsb.h"
#include "util.h"

struct target {
    char *path;
    char *sets;
    int dirfd;
    int lockfd;
    struct fsb *root; /* fsb view of dirfd */
    struct target_identity ident;
};

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

static bool is_sha256(const char *s)
{
    for (int i = 0; i < 64; i++)
        if (!is_lhex(s[i]))
            return false;
    return s[64] == '\0';
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
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

struct target *target_open(const char *path)
{
    struct target *t = dv_calloc(1, sizeof *t);
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
        goto fail;
    }
    if (!(t->root = fsb_from_fd(t->dirfd, t->path)) ||
        target_identity_check(t->root, &t->ident) != 0)
        goto fail;
    /* beneath the target, never a link or a FIFO planted in its place */
    t->lockfd = fsb_openat(t->root, "lock", O_RDWR | O_CREAT, 0600);
    if (t->lockfd < 0) {
        dv_preferr("target %s: open lock", t->path);
        goto fail;
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
            dv_seterr("target busy (pid %ld): %s", pid, t->path);
        } else {
            dv_syserr("target %s: lock", t->path);
        }
        goto fail;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
    if (ftruncate(t->lockfd, 0) != 0 || dv_pwrite_all(t->lockfd, buf, (size_t)n, 0) != 0) {
        dv_syserr("target %s: write lock", t->path);
        goto fail;
    }
    /* real directories: a link in place of sets/ or nlo/ is refused, never written through */
    if (fsb_mkdir(t->root, "sets", 0700, true) != 0 || fsb_mkdir(t->root, "nlo", 0700, true) != 0)
        goto fail;
    return t;
fail:
    target_close(t);
    return NULL;
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
    return scan_sets(t, true, NULL, NULL, n);
}

int target_sets_scan(struct target *t, char ***ids, size_t *n)
{
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

/* ---- manifest: struct -------------------------------------------------------------- */

void manifest_init(struct manifest *m)
{
    memset(m, 0, sizeof *m);
    m->version = MANIFEST_VERSION;
}

static void db_done(struct manifest_db *d)
{
    free(d->db_path);
    free(d->path);
    free(d->replica_id);
    free(d->dbiid);
    free(d->delta_path);
    free(d->kind);
    free(d->origin);
    free(d->pagemap);
    free(d->full_reason);
}

void manifest_done(struct manifest *m)
{
    if (!m)
        return;
    free(m->origin);
    free(m->checkpoint);
    free(m->message);
    free(m->config.data_dir);
    free(m->config.daos_dir);
    free(m->config.snapshot_command);
    for (size_t i = 0; i < m->ndbs; i++)
        db_done(&m->dbs[i]);
    free(m->dbs);
    for (size_t i = 0; i < m->nfailed; i++) {
        free(m->failed[i].db_path);
        free(m->failed[i].reason);
    }
    free(m->failed);
    manifest_init(m);
}

static char *dup_or_null(const char *s)
{
    return s ? dv_strdup(s) : NULL;
}

void manifest_add_failed(struct manifest *m, const char *db_path, const char *reason)
{
    m->failed = dv_realloc(m->failed, (m->nfailed + 1) * sizeof *m->failed);
    m->failed[m->nfailed].db_path = dv_strdup(db_path ? db_path : "");
    m->failed[m->nfailed].reason = dv_strdup(reason ? reason : "");
    m->nfailed++;
}

void manifest_add_db(struct manifest *m, const struct manifest_db *d)
{
    if ((m->ndbs & (m->ndbs - 1)) == 0) /* grow at powers of two */
        m->dbs = dv_realloc(m->dbs, (m->ndbs ? m->ndbs * 2 : 1) * sizeof *m->dbs);
    struct manifest_db *c = &m->dbs[m->ndbs++];
    *c = *d;
    c->db_path = dup_or_null(d->db_path);
    c->path = dup_or_null(d->path);
    c->replica_id = dup_or_null(d->replica_id);
    c->dbiid = dup_or_null(d->dbiid);
    c->delta_path = dup_or_null(d->delta_path);
    c->kind = dup_or_null(d->kind);
    c->origin = dup_or_null(d->origin);
    c->pagemap = dup_or_null(d->pagemap);
    c->full_reason = dup_or_null(d->full_reason);
}

/* ---- manifest: jansson's allocator, with a budget ------------------------------------ */

/*
 * jansson allocates through these (set once, before main: every jansson value of the process
 * is allocated and freed by them). While a manifest is parsed, the thread's budget bounds what
 * the tree may take: a hostile manifest of a million empty objects fails "out of memory" at
 * MANIFEST_MEM_FACTOR times its size instead of taking gigabytes.
 */
static _Thread_local size_t jmem_used;
static _Thread_local size_t jmem_limit; /* 0: no budget */
static _Thread_local bool jmem_refused; /* an allocation was refused for the budget */

/* Plain malloc/free underneath (what jansson hands out, json_dumps' text included, may still
 * be freed with free()); malloc_usable_size measures a block both ways. */
static void *jmem_alloc(size_t n)
{
    if (jmem_limit && (n > jmem_limit || jmem_used > jmem_limit - n)) {
        jmem_refused = true;
        return NULL;
    }
    void *p = malloc(n);
    if (p)
        jmem_used += malloc_usable_size(p);
    return p;
}

static void jmem_free(void *p)
{
    if (!p)
        return;
    size_t n = malloc_usable_size(p);
    jmem_used = jmem_used >= n ? jmem_used - n : 0;
    free(p);
}

__attribute__((constructor)) static void jmem_init(void)
{
    json_set_alloc_funcs(jmem_alloc, jmem_free);
}

/* ---- manifest: JSON writer (jansson) ------------------------------------------------- */

/* s as a JSON string: valid UTF-8 is kept as it is; every byte of an invalid sequence becomes
 * U+FFFD (RFC 8259 text is UTF-8, and jansson refuses anything else when it reads). */
static json_t *jstr(const char *s)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    json_t *v = json_stringn(s, n);
    if (v)
        return v;
    char *out = dv_malloc(3 * n + 1), *o = out;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        size_t k = 0;
        if (*p < 0x80)
            k = 1;
        else if (*p >= 0xc2 && *p <= 0xdf)
            k = 2;
        else if (*p >= 0xe0 && *p <= 0xef)
            k = 3;
        else if (*p >= 0xf0 && *p <= 0xf4)
            k = 4;
        bool ok = k > 0 && (size_t)(end - p) >= k;
        for (size_t i = 1; ok && i < k; i++)
            ok = (p[i] & 0xc0) == 0x80;
        if (ok && k == 3) /* no overlong forms, no surrogates */
            ok = !(p[0] == 0xe0 && p[1] < 0xa0) && !(p[0] == 0xed && p[1] >= 0xa0);
        if (ok && k == 4)
            ok = !(p[0] == 0xf0 && p[1] < 0x90) && !(p[0] == 0xf4 && p[1] >= 0x90);
        if (!ok) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            p++;
            continue;
        }
        memcpy(o, p, k);
        o += k;
        p += k;
    }
    v = json_stringn(out, (size_t)(o - out));
    free(out);
    if (!v)
        abort(); /* valid UTF-8 by construction: only out of memory is left */
    return v;
}

static json_t *jint(int64_t v)
{
    json_t *j = json_integer((json_int_t)v);
    if (!j)
        abort();
    return j;
}

/* Set key (jansson keeps insertion order with JSON_PRESERVE_ORDER). */
static void jset(json_t *o, const char *key, json_t *v)
{
    if (!v || json_object_set_new(o, key, v) != 0)
        abort();
}

static json_t *jobj(void)
{
    json_t *o = json_object();
    if (!o)
        abort();
    return o;
}

static json_t *jarr(void)
{
    json_t *a = json_array();
    if (!a)
        abort();
    return a;
}

char *manifest_to_json(const struct manifest *m, const char *status, size_t *len)
{
    json_t *root = jobj();
    int version = m->version ? m->version : MANIFEST_VERSION;
    if (m->nfailed && version < MANIFEST_VERSION_PARTIAL)
        version = MANIFEST_VERSION_PARTIAL; /* an older dvault refuses it with a clear message */
    jset(root, "dvault_manifest", jint(version));
    jset(root, "id", jstr(m->id));
    jset(root, "seq", jint(m->seq));
    jset(root, "kind", jstr(m->kind[0] ? m->kind : "full"));
    jset(root, "status", jstr(status ? status : m->status));
    jset(root, "started", jint(m->started));
    jset(root, "ended", jint(m->ended));
    jset(root, "origin", jstr(m->origin));
    jset(root, "checkpoint", jstr(m->checkpoint));
    jset(root, "message", jstr(m->message));
    json_t *cfg = jobj();
    jset(cfg, "data_dir", jstr(m->config.data_dir));
    jset(cfg, "daos_dir", jstr(m->config.daos_dir));
    jset(cfg, "delta", jstr(m->config.delta[0] ? m->config.delta : "apply"));
    jset(cfg, "encryption", json_boolean(m->config.encryption));
    jset(cfg, "min_object_size", jint(m->config.min_object_size));
    jset(cfg, "max_files_per_subdir", jint(m->config.max_files_per_subdir));
    jset(cfg, "snapshot_command", jstr(m->config.snapshot_command));
    jset(root, "config", cfg);
    json_t *counts = jobj();
    jset(counts, "databases", jint(m->databases));
    jset(counts, "nlo_new", jint(m->nlo_new));
    jset(counts, "nlo_held", jint(m->nlo_held));
    jset(counts, "nlo_skipped", jint(m->nlo_skipped));
    jset(counts, "deltas_applied", jint(m->deltas_applied));
    jset(counts, "deltas_kept", jint(m->deltas_kept));
    jset(counts, "bytes", jint(m->bytes));
    if (m->pages_total) {
        jset(counts, "pages_total", jint(m->pages_total));
        jset(counts, "pages_stored", jint(m->pages_stored));
    }
    jset(root, "counts", counts);
    json_t *dbs = jarr();
    for (size_t i = 0; i < m->ndbs; i++) {
        const struct manifest_db *d = &m->dbs[i];
        json_t *o = jobj();
        jset(o, "db_path", jstr(d->db_path));
        jset(o, "path", jstr(d->path));
        jset(o, "size", jint((int64_t)d->size));
        jset(o, "sha256", jstr(d->sha256));
        jset(o, "page_size", jint(d->page_size));
        jset(o, "replica_id", jstr(d->replica_id));
        jset(o, "dbiid", jstr(d->dbiid));
        jset(o, "delta", jstr(d->delta_keep ? "keep" : "apply"));
        jset(o, "delta_pages", jint(d->delta_pages));
        if (d->delta_keep) {
            jset(o, "delta_path", jstr(d->delta_path));
            jset(o, "delta_sha256", jstr(d->delta_sha256));
        }
        jset(o, "locked_copy", json_boolean(d->locked_copy));
        if (d->pagemap && d->pagemap[0]) {
            jset(o, "kind", jstr(d->kind ? d->kind : "full"));
            jset(o, "origin", jstr(d->origin));
            jset(o, "pages_total", jint((int64_t)d->pages_total));
            jset(o, "pages_stored", jint((int64_t)d->pages_stored));
            jset(o, "pagemap", jstr(d->pagemap));
            jset(o, "pagemap_sha256", jstr(d->pagemap_sha256));
            jset(o, "full_reason", jstr(d->full_reason));
        }
        if (json_array_append_new(dbs, o) != 0)
            abort();
    }
    jset(root, "databases", dbs);
    if (m->nfailed) { /* partial sets: absent otherwise, so older manifests read as before */
        json_t *fl = jarr();
        for (size_t i = 0; i < m->nfailed; i++) {
            json_t *o = jobj();
            jset(o, "db_path", jstr(m->failed[i].db_path));
            jset(o, "reason", jstr(m->failed[i].reason));
            if (json_array_append_new(fl, o) != 0)
                abort();
        }
        jset(root, "failed_databases", fl);
    }
    json_t *nl = jobj();
    jset(nl, "file", jstr(m->nlo_list.file));
    jset(nl, "count", jint((int64_t)m->nlo_list.count));
    jset(nl, "sha256", jstr(m->nlo_list.sha256));
    jset(root, "nlo_new", nl);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        abort();
    /* the text outlives jansson's allocator: copied into plain malloc'd memory, with the
     * newline every manifest ends in */
    size_t n = strlen(s);
    char *out = dv_malloc(n + 2);
    memcpy(out, s, n);
    out[n] = '\n';
    out[n + 1] = '\0';
    jmem_free(s);
    if (len)
        *len = n + 1;
    return out;
}

/* ---- manifest: reader (jansson, then the schema) ------------------------------------- */

/*
 * At most EXCERPT_MAX bytes of s, escaped (printable ASCII as it is, anything else as \xHH),
 * into out (>= 4 * EXCERPT_MAX + 4): what an error may quote of a file that may be anything.
 */
#define EXCERPT_MAX 16
static void excerpt(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n && i < EXCERPT_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[k++] = (char)c;
        else
            k += (size_t)sprintf(out + k, "\\x%02x", c);
    }
    if (n > EXCERPT_MAX) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
}

/* jansson's message, with what it quotes of the text ("near '...'") cut to a short, escaped
 * excerpt: a manifest may be anything, and an error never echoes more than EXCERPT_MAX bytes */
static void syntax_msg(const json_error_t *je, char *out, size_t n)
{
    char ex[4 * EXCERPT_MAX + 8];
    const char *near = strstr(je->text, " near '");
    size_t head = near ? (size_t)(near - je->text) : strlen(je->text);
    if (head > 100)
        head = 100;
    if (near) {
        const char *q = near + 7, *end = je->text + strlen(je->text);
        if (end > q && end[-1] == '\'')
            end--;
        excerpt(q, (size_t)(end - q), ex);
        snprintf(out, n, "%.*s near '%s'", (int)head, je->text, ex);
    } else {
        snprintf(out, n, "%.*s", (int)head, je->text);
    }
    for (char *p = out; *p; p++) /* jansson's own words: printable, but be sure */
        if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '?';
}

struct schema {
    const char *name; /* for messages */
    char err[512];
};

/* Fail with "<where>: <what>" (the first failure wins). */
__attribute__((format(printf, 3, 4))) static int sfail(struct schema *s, const char *where,
                                                       const char *fmt, ...)
{
    if (s->err[0])
        return -1;
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(s->err, sizeof s->err, "%s%s%s", where, where[0] ? ": " : "", msg);
    return -1;
}

/* where + key: "databases[3].size" */
static void kpath(char *out, size_t n, const char *where, const char *key)
{
    snprintf(out, n, "%s%s%s", where, where[0] ? "." : "", key);
}

static const char *jtype_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction or exponent";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static const json_t *need(struct schema *s, const json_t *o, const char *where, const char *key,
                          json_type t, const char *tname)
{
    char p[160];
    kpath(p, sizeof p, where, key);
    const json_t *v = json_object_get(o, key);
    if (!v) {
        sfail(s, where, "missing key \"%s\"", key);
        return NULL;
    }
    bool ok = t == JSON_TRUE ? json_is_boolean(v) : json_typeof(v) == t;
    if (!ok) {
        sfail(s, p, "must be %s, not %s", tname, jtype_name(v));
        return NULL;
    }
    return v;
}

static int get_int(struct schema *s, const json_t *o, const char *where, const char *key,
                   int64_t min, int64_t max, int64_t *out)
{
    const json_t *v = need(s, o, where, key, JSON_INTEGER, "an integer");
    if (!v)
        return -1;
    json_int_t i = json_integer_value(v);
    if (i < min || i > max) {
        char p[160];
        kpath(p, sizeof p, where, key);
        return sfail(s, p, "%lld out of range %lld..%lld", (long long)i, (long long)min,
                     (long long)max);
    }
    *out = (int64_t)i;
    return 0;
}

/* A string into a malloc'd copy (*out) or a fixed buffer (fixed/n). */
static int get_str(struct schema *s, const json_t *o, const char *where, const char *key,
                   char **out, char *fixed, size_t n)
{
    const json_t *v = need(s, o, where, key, JSON_STRING, "a string");
    if (!v)
        return -1;
    const char *str = json_string_value(v);
    size_t l = json_string_length(v);
    if (fixed) {
        if (l >= n) {
            char p[160];
            kpath(p, sizeof p, where, key);
            return sfail(s, p, "too long (%zu bytes, at most %zu)", l, n - 1);
        }
        memcpy(fixed, str, l + 1);
    } else {
        free(*out);
        *out = dv_strdup(str);
    }
    return 0;
}

static int get_bool(struct schema *s, const json_t *o, const char *where, const char *key,
                    bool *out)
{
    const json_t *v = need(s, o, where, key, JSON_TRUE, "a boolean");
    if (!v)
        return -1;
    *out = json_is_true(v);
    return 0;
}

static int check(struct schema *s, const char *where, const char *key, bool ok, const char *what)
{
    if (ok)
        return 0;
    char p[160];
    kpath(p, sizeof p, where, key);
    return sfail(s, p, "%s", what);
}

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
    return strcmp(s, a) == 0 || strcmp(s, b) == 0 || (c && strcmp(s, c) == 0);
}

static bool page_size_ok(int64_t p)
{
    return p == 0 || (p >= 512 && p <= 65536 && (p & (p - 1)) == 0);
}

static int from_db(struct schema *s, const json_t *o, const char *w, struct manifest_db *d)
{
    if (!json_is_object(o))
        return sfail(s, w, "a database entry must be an object, not %s", jtype_name(o));
    int64_t size, page, pages;
    char delta[8];
    if (get_str(s, o, w, "db_path", &d->db_path, NULL, 0) ||
        get_str(s, o, w, "path", &d->path, NULL, 0) ||
        get_int(s, o, w, "size", 0, MANIFEST_INT_MAX, &size) ||
        get_str(s, o, w, "sha256", NULL, d->sha256, sizeof d->sha256) ||
        get_int(s, o, w, "page_size", 0, 65536, &page) ||
        get_str(s, o, w, "replica_id", &d->replica_id, NULL, 0) ||
        get_str(s, o, w, "dbiid", &d->dbiid, NULL, 0) ||
        get_str(s, o, w, "delta", NULL, delta, sizeof delta) ||
        get_int(s, o, w, "delta_pages", 0, UINT32_MAX, &pages) ||
        get_bool(s, o, w, "locked_copy", &d->locked_copy))
        return -1;
    d->size = (uint64_t)size;
    d->page_size = (uint32_t)page;
    d->delta_pages = (uint32_t)pages;
    if (check(s, w, "db_path", dv_path_is_safe_rel(d->db_path), "unsafe path") ||
        check(s, w, "path", dv_path_is_safe_rel(d->path), "unsafe path") ||
        check(s, w, "sha256", is_sha256(d->sha256), "not a sha256") ||
        check(s, w, "page_size", page_size_ok(page), "not 0 or a power of two 512..65536") ||
        check(s, w, "delta", one_of(delta, "apply", "keep", NULL), "must be apply or keep"))
        return -1;
    d->delta_keep = strcmp(delta, "keep") == 0;
    if (d->delta_keep) {
        if (get_str(s, o, w, "delta_path", &d->delta_path, NULL, 0) ||
            get_str(s, o, w, "delta_sha256", NULL, d->delta_sha256, sizeof d->delta_sha256) ||
            check(s, w, "delta_path", dv_path_is_safe_rel(d->delta_path), "unsafe path") ||
            check(s, w, "delta_sha256", is_sha256(d->delta_sha256), "not a sha256"))
            return -1;
    }
    if (json_object_get(o, "pagemap")) { /* incremental backups */
        int64_t tot, sto;
        char kind[16];
        if (get_str(s, o, w, "kind", NULL, kind, sizeof kind) ||
            get_str(s, o, w, "origin", &d->origin, NULL, 0) ||
            get_int(s, o, w, "pages_total", 0, MANIFEST_INT_MAX, &tot) ||
            get_int(s, o, w, "pages_stored", 0, tot, &sto) ||
            get_str(s, o, w, "pagemap", &d->pagemap, NULL, 0) ||
            get_str(s, o, w, "pagemap_sha256", NULL, d->pagemap_sha256, sizeof d->pagemap_sha256) ||
            get_str(s, o, w, "full_reason", &d->full_reason, NULL, 0) ||
            check(s, w, "kind", one_of(kind, "full", "incremental", NULL),
                  "must be full or incremental") ||
            check(s, w, "pagemap", dv_path_is_safe_rel(d->pagemap), "unsafe path") ||
            check(s, w, "pagemap_sha256", is_sha256(d->pagemap_sha256), "not a sha256") ||
            check(s, w, "origin", !d->origin[0] || target_set_id_valid(d->origin), "not a set id"))
            return -1;
        d->kind = dv_strdup(kind);
        d->pages_total = (uint64_t)tot;
        d->pages_stored = (uint64_t)sto;
    }
    return 0;
}

/* A set id (fixed buffer): length first, so that a long string never reaches the check. */
static int get_set_id(struct schema *s, const json_t *o, const char *where, const char *key,
                      char *out, size_t n)
{
    if (get_str(s, o, where, key, NULL, out, n) != 0)
        return -1;
    return check(s, where, key, target_set_id_valid(out), "not a set id");
}

static int from_tree(struct schema *s, const json_t *root, struct manifest *m)
{
    if (!json_is_object(root))
        return sfail(s, "", "a manifest must be a JSON object, not %s", jtype_name(root));
    int64_t ver;
    if (get_int(s, root, "", "dvault_manifest", 1, INT32_MAX, &ver))
        return -1;
    if (ver > MANIFEST_VERSION_MAX)
        return check(s, "", "dvault_manifest", false, "version newer than this dvault");
    m->version = (int)ver;
    const json_t *cfg, *counts, *dbs, *nl;
    if (get_set_id(s, root, "", "id", m->id, sizeof m->id) ||
        get_int(s, root, "", "seq", 1, MANIFEST_SEQ_MAX, &m->seq) ||
        get_str(s, root, "", "kind", NULL, m->kind, sizeof m->kind) ||
        check(s, "", "kind", one_of(m->kind, "full", "incremental", NULL),
              "must be full or incremental") ||
        get_str(s, root, "", "status", NULL, m->status, sizeof m->status) ||
        check(s, "", "status",
              one_of(m->status, "complete", "failed", "running") ||
                  strcmp(m->status, "partial") == 0,
              "must be complete, partial, failed or running") ||
        get_int(s, root, "", "started", 0, MANIFEST_TIME_MAX, &m->started) ||
        get_int(s, root, "", "ended", 0, MANIFEST_TIME_MAX, &m->ended) ||
        get_str(s, root, "", "origin", &m->origin, NULL, 0) ||
        get_str(s, root, "", "checkpoint", &m->checkpoint, NULL, 0) ||
        get_str(s, root, "", "message", &m->message, NULL, 0))
        return -1;
    if (m->origin[0] && !target_set_id_valid(m->origin))
        return check(s, "", "origin", false, "not a set id");
    if (!(cfg = need(s, root, "", "config", JSON_OBJECT, "an object")) ||
        get_str(s, cfg, "config", "data_dir", &m->config.data_dir, NULL, 0) ||
        get_str(s, cfg, "config", "daos_dir", &m->config.daos_dir, NULL, 0) ||
        get_str(s, cfg, "config", "delta", NULL, m->config.delta, sizeof m->config.delta) ||
        get_bool(s, cfg, "config", "encryption", &m->config.encryption) ||
        get_int(s, cfg, "config", "min_object_size", 0, MANIFEST_INT_MAX,
                &m->config.min_object_size) ||
        get_int(s, cfg, "config", "max_files_per_subdir", 0, INT32_MAX,
                &m->config.max_files_per_subdir) ||
        get_str(s, cfg, "config", "snapshot_command", &m->config.snapshot_command, NULL, 0))
        return -1;
    if (!(counts = need(s, root, "", "counts", JSON_OBJECT, "an object")) ||
        get_int(s, counts, "counts", "databases", 0, MANIFEST_INT_MAX, &m->databases) ||
        get_int(s, counts, "counts", "nlo_new", 0, MANIFEST_INT_MAX, &m->nlo_new) ||
        get_int(s, counts, "counts", "nlo_held", 0, MANIFEST_INT_MAX, &m->nlo_held) ||
        get_int(s, counts, "counts", "nlo_skipped", 0, MANIFEST_INT_MAX, &m->nlo_skipped) ||
        get_int(s, counts, "counts", "deltas_applied", 0, MANIFEST_INT_MAX, &m->deltas_applied) ||
        get_int(s, counts, "counts", "deltas_kept", 0, MANIFEST_INT_MAX, &m->deltas_kept) ||
        get_int(s, counts, "counts", "bytes", 0, MANIFEST_INT_MAX, &m->bytes))
        return -1;
    if (json_object_get(counts, "pages_total") &&
        (get_int(s, counts, "counts", "pages_total", 0, MANIFEST_INT_MAX, &m->pages_total) ||
         get_int(s, counts, "counts", "pages_stored", 0, m->pages_total, &m->pages_stored)))
        return -1;
    if (!(dbs = need(s, root, "", "databases", JSON_ARRAY, "an array")))
        return -1;
    size_t ndbs = json_array_size(dbs);
    if (ndbs) {
        m->dbs = dv_calloc(ndbs, sizeof *m->dbs);
        for (size_t i = 0; i < ndbs; i++) {
            char w[64];
            snprintf(w, sizeof w, "databases[%zu]", i);
            m->ndbs = i + 1;
            if (from_db(s, json_array_get(dbs, i), w, &m->dbs[i]) != 0)
                return -1;
        }
    }
    const json_t *fl = json_object_get(root, "failed_databases");
    if (fl) { /* partial sets (absent in older manifests: none failed) */
        if (!(fl = need(s, root, "", "failed_databases", JSON_ARRAY, "an array")))
            return -1;
        size_t nfl = json_array_size(fl);
        if (nfl)
            m->failed = dv_calloc(nfl, sizeof *m->failed);
        /* "copied and failed at once": the copied paths sorted once, each failed one looked
         * up (n log n, not n * m) */
        const char **copied = dv_malloc((m->ndbs ? m->ndbs : 1) * sizeof *copied);
        for (size_t k = 0; k < m->ndbs; k++)
            copied[k] = m->dbs[k].db_path;
        if (m->ndbs)
            qsort(copied, m->ndbs, sizeof *copied, str_cmp);
        int rc = 0;
        for (size_t i = 0; i < nfl && rc == 0; i++) {
            const json_t *o = json_array_get(fl, i);
            char w[64];
            snprintf(w, sizeof w, "failed_databases[%zu]", i);
            if (!json_is_object(o)) {
                rc =
                    sfail(s, w, "a failed database entry must be an object, not %s", jtype_name(o));
                break;
            }
            m->nfailed = i + 1;
            const char *key = NULL;
            if (get_str(s, o, w, "db_path", &m->failed[i].db_path, NULL, 0) ||
                get_str(s, o, w, "reason", &m->failed[i].reason, NULL, 0) ||
                check(s, w, "db_path", dv_path_is_safe_rel(m->failed[i].db_path), "unsafe path"))
                rc = -1;
            else if (m->ndbs && (key = m->failed[i].db_path) &&
                     bsearch(&key, copied, m->ndbs, sizeof *copied, str_cmp))
                rc = check(s, w, "db_path", false, "listed both as copied and as failed");
        }
        free(copied);
        if (rc != 0)
            return -1;
    }
    if (strcmp(m->status, "partial") == 0 && m->nfailed == 0)
        return check(s, "", "status", false, "partial, but no failed_databases");
    if (strcmp(m->status, "complete") == 0 && m->nfailed)
        return check(s, "", "status", false, "complete, but failed_databases are listed");
    int64_t count;
    if (!(nl = need(s, root, "", "nlo_new", JSON_OBJECT, "an object")) ||
        get_str(s, nl, "nlo_new", "file", NULL, m->nlo_list.file, sizeof m->nlo_list.file) ||
        get_int(s, nl, "nlo_new", "count", 0, MANIFEST_INT_MAX, &count) ||
        get_str(s, nl, "nlo_new", "sha256", NULL, m->nlo_list.sha256, sizeof m->nlo_list.sha256))
        return -1;
    m->nlo_list.count = (uint64_t)count;
    if (m->nlo_list.file[0] &&
        (check(s, "nlo_new", "file",
               dv_path_is_safe_rel(m->nlo_list.file) && !strchr(m->nlo_list.file, '/'),
               "must be a plain file name") ||
         check(s, "nlo_new", "sha256", is_sha256(m->nlo_list.sha256), "not a sha256")))
        return -1;
    return 0;
}

int manifest_parse(const char *name, const char *text, size_t len, struct manifest *m)
{
    manifest_init(m);
    if (len > MANIFEST_MAX) {
        dv_seterr("%s: %zu bytes, more than a manifest may hold (%u): refused", name, len,
                  (unsigned)MANIFEST_MAX);
        return -1;
    }
    json_error_t je;
    memset(&je, 0, sizeof je);
    /* the tree may take MANIFEST_MEM_FACTOR times the text, plus a little: no more */
    jmem_used = 0;
    jmem_refused = false;
    jmem_limit = MANIFEST_MEM_FACTOR * len + 65536;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    size_t limit = jmem_limit;
    jmem_limit = 0;
    if (!root) {
        char msg[256];
        if (jmem_refused)
            snprintf(msg, sizeof msg,
                     "its JSON tree needs more than %zu bytes of memory (%d times its size "
                     "and 64 KiB): refused",
                     limit, MANIFEST_MEM_FACTOR);
        else
            syntax_msg(&je, msg, sizeof msg);
        if (!msg[0])
            snprintf(msg, sizeof msg, "not valid JSON");
        dv_seterr("%s: byte %d: %s", name, je.position, msg);
        return -1;
    }
    struct schema s = {.name = name};
    int rc = from_tree(&s, root, m);
    json_decref(root);
    if (rc != 0) {
        dv_seterr("%s: %s", name, s.err[0] ? s.err : "invalid manifest");
        manifest_done(m);
        return -1;
    }
    return 0;
}

int manifest_read_at(const struct fsb *root, const char *rel, struct manifest *m)
{
    manifest_init(m);
    char *text;
    size_t len;
    if (fsb_read_capped(root, rel, MANIFEST_MAX, &text, &len) != 0)
        return -1;
    char *name = dv_asprintf("%s/%s", fsb_path(root), rel);
    int rc = manifest_parse(name, text, len, m);
    free(name);
    free(text);
    return rc;
}

int manifest_read(const char *path, struct manifest *m)
{
    manifest_init(m);
    char *dir = dv_dirname(path);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct fsb *root = fsb_open(dir);
    free(dir);
    if (!root)
        return -1;
    int rc = manifest_read_at(root, base, m);
    int e = errno;
    fsb_close(root);
    errno = e;
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
        else if (!is_sha256(e->sha256))
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

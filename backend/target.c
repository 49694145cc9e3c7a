/* target.c - see target.h; formats in docs/formats.md ("Target layout", "Manifest"). */
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

#include "util.h"

struct target {
    char *path;
    char *sets;
    int dirfd;
    int lockfd;
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
    if (target_identity_check(t->dirfd, t->path, &t->ident) != 0)
        goto fail;
    t->lockfd = openat(t->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (t->lockfd < 0) {
        dv_syserr("target %s: open lock", t->path);
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
    if ((mkdirat(t->dirfd, "sets", 0700) != 0 && errno != EEXIST) ||
        (mkdirat(t->dirfd, "nlo", 0700) != 0 && errno != EEXIST)) {
        dv_syserr("target %s: create sets/ and nlo/", t->path);
        goto fail;
    }
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

/* ---- sets ------------------------------------------------------------------------- */

char *target_set_partial_dir(const struct target *t, const char *id)
{
    return dv_asprintf("%s/.%s.partial", t->sets, id);
}

char *target_set_dir(const struct target *t, const char *id)
{
    return dv_asprintf("%s/%s", t->sets, id);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
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
        char *done = target_set_dir(t, id), *failed = dv_asprintf("%s.failed", done);
        bool taken = exists(done) || exists(failed);
        free(done);
        free(failed);
        if (taken)
            continue;
        int te = taken_elsewhere ? taken_elsewhere(ud, id) : 0;
        if (te < 0)
            return -1;
        if (te > 0)
            continue;
        char *partial = target_set_partial_dir(t, id);
        int rc = mkdir(partial, 0700);
        if (rc == 0) {
            free(partial);
            return dv_fsync_dir(t->sets);
        }
        if (errno != EEXIST) {
            dv_syserr("target: create %s", partial);
            free(partial);
            return -1;
        }
        free(partial);
    }
    dv_seterr("target %s: no free set id for %s", t->path, base);
    return -1;
}

int target_set_abandon(struct target *t, const char *id)
{
    char *partial = target_set_partial_dir(t, id);
    int rc = 0;
    if (rmdir(partial) != 0) {
        dv_syserr("target: remove %s", partial);
        rc = -1;
    } else {
        rc = dv_fsync_dir(t->sets);
    }
    free(partial);
    return rc;
}

static int write_manifest(const char *dir, const struct manifest *m, const char *status)
{
    size_t len;
    char *json = manifest_to_json(m, status, &len);
    char *p = dv_path_join(dir, TARGET_MANIFEST);
    int rc = dv_write_atomic(p, json, len, 0600);
    free(p);
    free(json);
    return rc;
}

static int rename_set(struct target *t, const char *from, const char *to)
{
    if (exists(to)) {
        dv_seterr("target: cannot rename %s: %s exists", from, to);
        return -1;
    }
    if (rename(from, to) != 0) {
        dv_syserr("target: rename %s to %s", from, to);
        return -1;
    }
    return dv_fsync_dir(t->sets);
}

int target_set_finish(struct target *t, const struct manifest *m)
{
    if (!target_set_id_valid(m->id)) {
        dv_seterr("target: bad set id \"%s\"", m->id);
        return -1;
    }
    char *partial = target_set_partial_dir(t, m->id), *dir = target_set_dir(t, m->id);
    int rc = write_manifest(partial, m, m->nfailed ? "partial" : "complete");
    if (rc == 0)
        rc = rename_set(t, partial, dir);
    free(partial);
    free(dir);
    return rc;
}

int target_set_fail(struct target *t, const char *id, const struct manifest *m)
{
    if (!target_set_id_valid(id)) {
        dv_seterr("target: bad set id \"%s\"", id);
        return -1;
    }
    char *partial = target_set_partial_dir(t, id), *dir = target_set_dir(t, id);
    char *failed = dv_asprintf("%s.failed", dir);
    int rc = m ? write_manifest(partial, m, "failed") : 0;
    if (rc == 0)
        rc = rename_set(t, partial, failed);
    free(partial);
    free(dir);
    free(failed);
    return rc;
}

static int scan_sets(struct target *t, bool partial, char ***ids, size_t *n, int *renamed)
{
    DIR *d = opendir(t->sets);
    if (!d) {
        dv_syserr("target: open %s", t->sets);
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

/* ---- manifest: JSON writer --------------------------------------------------------- */

struct buf {
    char *p;
    size_t n, cap;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap)
            b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = dv_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void put_str(struct buf *b, const char *s)
{
    put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            put(b, esc, 6);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    put(b, "\"", 1);
}

static void put_key(struct buf *b, const char *indent, const char *key, bool first)
{
    if (!first)
        puts_(b, ",\n");
    puts_(b, indent);
    put_str(b, key);
    puts_(b, ": ");
}

static void kv_str(struct buf *b, const char *ind, const char *k, const char *v, bool first)
{
    put_key(b, ind, k, first);
    put_str(b, v);
}

static void kv_int(struct buf *b, const char *ind, const char *k, int64_t v, bool first)
{
    char num[32];
    put_key(b, ind, k, first);
    snprintf(num, sizeof num, "%" PRId64, v);
    puts_(b, num);
}

static void kv_bool(struct buf *b, const char *ind, const char *k, bool v, bool first)
{
    put_key(b, ind, k, first);
    puts_(b, v ? "true" : "false");
}

char *manifest_to_json(const struct manifest *m, const char *status, size_t *len)
{
    struct buf b = {0};
    const char *I = "  ";
    puts_(&b, "{\n");
    int version = m->version ? m->version : MANIFEST_VERSION;
    if (m->nfailed && version < MANIFEST_VERSION_PARTIAL)
        version = MANIFEST_VERSION_PARTIAL; /* an older dvault refuses it with a clear message */
    kv_int(&b, I, "dvault_manifest", version, true);
    kv_str(&b, I, "id", m->id, false);
    kv_int(&b, I, "seq", m->seq, false);
    kv_str(&b, I, "kind", m->kind[0] ? m->kind : "full", false);
    kv_str(&b, I, "status", status ? status : m->status, false);
    kv_int(&b, I, "started", m->started, false);
    kv_int(&b, I, "ended", m->ended, false);
    kv_str(&b, I, "origin", m->origin, false);
    kv_str(&b, I, "checkpoint", m->checkpoint, false);
    kv_str(&b, I, "message", m->message, false);
    put_key(&b, I, "config", false);
    puts_(&b, "{\n");
    const char *I2 = "    ";
    kv_str(&b, I2, "data_dir", m->config.data_dir, true);
    kv_str(&b, I2, "daos_dir", m->config.daos_dir, false);
    kv_str(&b, I2, "delta", m->config.delta[0] ? m->config.delta : "apply", false);
    kv_bool(&b, I2, "encryption", m->config.encryption, false);
    kv_int(&b, I2, "min_object_size", m->config.min_object_size, false);
    kv_int(&b, I2, "max_files_per_subdir", m->config.max_files_per_subdir, false);
    kv_str(&b, I2, "snapshot_command", m->config.snapshot_command, false);
    puts_(&b, "\n  }");
    put_key(&b, I, "counts", false);
    puts_(&b, "{\n");
    kv_int(&b, I2, "databases", m->databases, true);
    kv_int(&b, I2, "nlo_new", m->nlo_new, false);
    kv_int(&b, I2, "nlo_held", m->nlo_held, false);
    kv_int(&b, I2, "nlo_skipped", m->nlo_skipped, false);
    kv_int(&b, I2, "deltas_applied", m->deltas_applied, false);
    kv_int(&b, I2, "deltas_kept", m->deltas_kept, false);
    kv_int(&b, I2, "bytes", m->bytes, false);
    if (m->pages_total) {
        kv_int(&b, I2, "pages_total", m->pages_total, false);
        kv_int(&b, I2, "pages_stored", m->pages_stored, false);
    }
    puts_(&b, "\n  }");
    put_key(&b, I, "databases", false);
    puts_(&b, "[");
    const char *I3 = "      ";
    for (size_t i = 0; i < m->ndbs; i++) {
        const struct manifest_db *d = &m->dbs[i];
        puts_(&b, i ? ",\n    {\n" : "\n    {\n");
        kv_str(&b, I3, "db_path", d->db_path, true);
        kv_str(&b, I3, "path", d->path, false);
        kv_int(&b, I3, "size", (int64_t)d->size, false);
        kv_str(&b, I3, "sha256", d->sha256, false);
        kv_int(&b, I3, "page_size", d->page_size, false);
        kv_str(&b, I3, "replica_id", d->replica_id, false);
        kv_str(&b, I3, "dbiid", d->dbiid, false);
        kv_str(&b, I3, "delta", d->delta_keep ? "keep" : "apply", false);
        kv_int(&b, I3, "delta_pages", d->delta_pages, false);
        if (d->delta_keep) {
            kv_str(&b, I3, "delta_path", d->delta_path, false);
            kv_str(&b, I3, "delta_sha256", d->delta_sha256, false);
        }
        kv_bool(&b, I3, "locked_copy", d->locked_copy, false);
        if (d->pagemap && d->pagemap[0]) {
            kv_str(&b, I3, "kind", d->kind ? d->kind : "full", false);
            kv_str(&b, I3, "origin", d->origin, false);
            kv_int(&b, I3, "pages_total", (int64_t)d->pages_total, false);
            kv_int(&b, I3, "pages_stored", (int64_t)d->pages_stored, false);
            kv_str(&b, I3, "pagemap", d->pagemap, false);
            kv_str(&b, I3, "pagemap_sha256", d->pagemap_sha256, false);
            kv_str(&b, I3, "full_reason", d->full_reason, false);
        }
        puts_(&b, "\n    }");
    }
    puts_(&b, m->ndbs ? "\n  ]" : "]");
    if (m->nfailed) { /* partial sets: absent otherwise, so older manifests read as before */
        put_key(&b, I, "failed_databases", false);
        puts_(&b, "[");
        for (size_t i = 0; i < m->nfailed; i++) {
            puts_(&b, i ? ",\n    {\n" : "\n    {\n");
            kv_str(&b, I3, "db_path", m->failed[i].db_path, true);
            kv_str(&b, I3, "reason", m->failed[i].reason, false);
            puts_(&b, "\n    }");
        }
        puts_(&b, "\n  ]");
    }
    put_key(&b, I, "nlo_new", false);
    puts_(&b, "{\n");
    kv_str(&b, I2, "file", m->nlo_list.file, true);
    kv_int(&b, I2, "count", (int64_t)m->nlo_list.count, false);
    kv_str(&b, I2, "sha256", m->nlo_list.sha256, false);
    puts_(&b, "\n  }\n}\n");
    if (len)
        *len = b.n;
    return b.p;
}

/* ---- manifest: strict JSON parser ---------------------------------------------------- */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jval {
    enum jtype t;
    size_t off; /* byte offset where the value starts */
    bool b;
    bool is_int;
    int64_t i;
    char *s;  /* J_STR */
    size_t n; /* items / members */
    struct jval *items;
    char **keys; /* J_OBJ */
};

struct jparser {
    const char *name, *p;
    size_t len, pos;
    char err[256];
    size_t err_off;
};

#define JSON_MAX_DEPTH 16

static int jfail(struct jparser *j, size_t off, const char *msg)
{
    if (!j->err[0]) {
        snprintf(j->err, sizeof j->err, "%s", msg);
        j->err_off = off;
    }
    return -1;
}

static void jfree(struct jval *v)
{
    if (!v)
        return;
    free(v->s);
    for (size_t i = 0; i < v->n; i++) {
        if (v->items)
            jfree(&v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

static void jws(struct jparser *j)
{
    while (j->pos < j->len) {
        char c = j->p[j->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        j->pos++;
    }
}

static int hex4(struct jparser *j, unsigned *out)
{
    if (j->len - j->pos < 4)
        return jfail(j, j->pos, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = j->p[j->pos + (size_t)k];
        int d = (c >= '0' && c <= '9')   ? c - '0'
                : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                         : -1;
        if (d < 0)
            return jfail(j, j->pos + (size_t)k, "bad hex digit in \\u escape");
        v = v << 4 | (unsigned)d;
    }
    j->pos += 4;
    *out = v;
    return 0;
}

static void put_utf8(struct buf *b, unsigned cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    put(b, u, n);
}

/* At the opening quote. */
static int jstring(struct jparser *j, char **out)
{
    size_t start = j->pos;
    j->pos++;
    struct buf b = {0};
    put(&b, "", 0);
    for (;;) {
        if (j->pos >= j->len) {
            free(b.p);
            return jfail(j, start, "unterminated string");
        }
        unsigned char c = (unsigned char)j->p[j->pos];
        if (c == '"') {
            j->pos++;
            break;
        }
        if (c < 0x20) {
            free(b.p);
            return jfail(j, j->pos, "control character in string");
        }
        if (c != '\\') {
            put(&b, (const char *)&c, 1);
            j->pos++;
            continue;
        }
        size_t esc = j->pos;
        if (++j->pos >= j->len) {
            free(b.p);
            return jfail(j, esc, "truncated escape");
        }
        char e = j->p[j->pos++];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e && simple) {
            static const char map[] = "\"\\/\b\f\n\r\t";
            put(&b, &map[simple - "\"\\/bfnrt"], 1);
            continue;
        }
        if (e != 'u') {
            free(b.p);
            return jfail(j, esc, "bad escape");
        }
        unsigned cp;
        if (hex4(j, &cp) != 0) {
            free(b.p);
            return -1;
        }
        if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned lo;
            if (j->len - j->pos < 2 || j->p[j->pos] != '\\' || j->p[j->pos + 1] != 'u') {
                free(b.p);
                return jfail(j, esc, "unpaired surrogate");
            }
            j->pos += 2;
            if (hex4(j, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                free(b.p);
                return jfail(j, esc, "unpaired surrogate");
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            free(b.p);
            return jfail(j, esc, "unpaired surrogate");
        }
        if (cp == 0) {
            free(b.p);
            return jfail(j, esc, "NUL character in string");
        }
        put_utf8(&b, cp);
    }
    *out = b.p;
    return 0;
}

static int jnumber(struct jparser *j, struct jval *v)
{
    size_t s = j->pos, i = j->pos;
    bool neg = false;
    if (i < j->len && j->p[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= j->len || !isdigit((unsigned char)j->p[i]))
        return jfail(j, s, "bad number");
    if (j->p[i] == '0' && i + 1 < j->len && isdigit((unsigned char)j->p[i + 1]))
        return jfail(j, s, "leading zero in number");
    uint64_t mag = 0;
    bool overflow = false;
    while (i < j->len && isdigit((unsigned char)j->p[i])) {
        unsigned d = (unsigned)(j->p[i] - '0');
        if (mag > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            mag = mag * 10 + d;
        i++;
    }
    bool is_int = true;
    if (i < j->len && j->p[i] == '.') {
        is_int = false;
        i++;
        if (i >= j->len || !isdigit((unsigned char)j->p[i]))
            return jfail(j, s, "bad number");
        while (i < j->len && isdigit((unsigned char)j->p[i]))
            i++;
    }
    if (i < j->len && (j->p[i] == 'e' || j->p[i] == 'E')) {
        is_int = false;
        i++;
        if (i < j->len && (j->p[i] == '+' || j->p[i] == '-'))
            i++;
        if (i >= j->len || !isdigit((unsigned char)j->p[i]))
            return jfail(j, s, "bad number");
        while (i < j->len && isdigit((unsigned char)j->p[i]))
            i++;
    }
    v->t = J_NUM;
    v->is_int = is_int && !overflow && mag <= (uint64_t)INT64_MAX + (neg ? 1 : 0);
    if (v->is_int)
        v->i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    j->pos = i;
    return 0;
}

static int jvalue(struct jparser *j, struct jval *v, int depth)
{
    memset(v, 0, sizeof *v);
    jws(j);
    v->off = j->pos;
    if (j->pos >= j->len)
        return jfail(j, j->pos, "unexpected end of input");
    char c = j->p[j->pos];
    if (c == '{' || c == '[') {
        if (depth >= JSON_MAX_DEPTH)
            return jfail(j, j->pos, "nesting too deep");
        bool obj = c == '{';
        v->t = obj ? J_OBJ : J_ARR;
        j->pos++;
        jws(j);
        if (j->pos < j->len && j->p[j->pos] == (obj ? '}' : ']')) {
            j->pos++;
            return 0;
        }
        size_t cap = 0;
        for (;;) {
            char *key = NULL;
            if (obj) {
                jws(j);
                if (j->pos >= j->len || j->p[j->pos] != '"')
                    return jfail(j, j->pos, "expected a string key");
                size_t koff = j->pos;
                if (jstring(j, &key) != 0)
                    return -1;
                for (size_t k = 0; k < v->n; k++)
                    if (strcmp(v->keys[k], key) == 0) {
                        free(key);
                        return jfail(j, koff, "duplicate key");
                    }
                jws(j);
                if (j->pos >= j->len || j->p[j->pos] != ':') {
                    free(key);
                    return jfail(j, j->pos, "expected ':'");
                }
                j->pos++;
            }
            if (v->n == cap) {
                cap = cap ? cap * 2 : 8;
                v->items = dv_realloc(v->items, cap * sizeof *v->items);
                if (obj)
                    v->keys = dv_realloc(v->keys, cap * sizeof *v->keys);
            }
            if (obj)
                v->keys[v->n] = key;
            int rc = jvalue(j, &v->items[v->n], depth + 1);
            v->n++; /* even on failure, so that jfree releases it */
            if (rc != 0)
                return -1;
            jws(j);
            if (j->pos >= j->len)
                return jfail(j, j->pos, "unexpected end of input");
            char d = j->p[j->pos++];
            if (d == ',')
                continue;
            if (d == (obj ? '}' : ']'))
                return 0;
            return jfail(j, j->pos - 1, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    if (c == '"') {
        v->t = J_STR;
        return jstring(j, &v->s);
    }
    if (c == '-' || isdigit((unsigned char)c))
        return jnumber(j, v);
    static const struct {
        const char *word;
        enum jtype t;
        bool b;
    } words[] = {{"true", J_BOOL, true}, {"false", J_BOOL, false}, {"null", J_NULL, false}};
    for (size_t k = 0; k < 3; k++) {
        size_t n = strlen(words[k].word);
        if (j->len - j->pos >= n && memcmp(j->p + j->pos, words[k].word, n) == 0) {
            v->t = words[k].t;
            v->b = words[k].b;
            j->pos += n;
            return 0;
        }
    }
    return jfail(j, j->pos, "unexpected character");
}

/* ---- manifest: from the tree ------------------------------------------------------- */

static const struct jval *jget(const struct jval *o, const char *key)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0)
            return &o->items[i];
    return NULL;
}

static int need(struct jparser *j, const struct jval *o, const char *key, enum jtype t,
                const struct jval **out)
{
    static const char *const tn[] = {"null",     "a boolean", "a number",
                                     "a string", "an array",  "an object"};
    const struct jval *v = jget(o, key);
    char msg[128];
    if (!v) {
        snprintf(msg, sizeof msg, "missing key \"%s\"", key);
        return jfail(j, o->off, msg);
    }
    if (v->t != t || (t == J_NUM && !v->is_int)) {
        snprintf(msg, sizeof msg, "\"%s\" must be %s", key, t == J_NUM ? "an integer" : tn[t]);
        return jfail(j, v->off, msg);
    }
    *out = v;
    return 0;
}

static int get_int(struct jparser *j, const struct jval *o, const char *key, int64_t min,
                   int64_t max, int64_t *out)
{
    const struct jval *v;
    if (need(j, o, key, J_NUM, &v) != 0)
        return -1;
    if (v->i < min || v->i > max) {
        char msg[128];
        snprintf(msg, sizeof msg, "\"%s\" out of range", key);
        return jfail(j, v->off, msg);
    }
    *out = v->i;
    return 0;
}

/* A string into a malloc'd copy (*out) or a fixed buffer (fixed/n). */
static int get_str(struct jparser *j, const struct jval *o, const char *key, char **out,
                   char *fixed, size_t n)
{
    const struct jval *v;
    if (need(j, o, key, J_STR, &v) != 0)
        return -1;
    if (fixed) {
        if (strlen(v->s) >= n) {
            char msg[128];
            snprintf(msg, sizeof msg, "\"%s\" too long", key);
            return jfail(j, v->off, msg);
        }
        memcpy(fixed, v->s, strlen(v->s) + 1);
    } else {
        free(*out);
        *out = dv_strdup(v->s);
    }
    return 0;
}

static int get_bool(struct jparser *j, const struct jval *o, const char *key, bool *out)
{
    const struct jval *v;
    if (need(j, o, key, J_BOOL, &v) != 0)
        return -1;
    *out = v->b;
    return 0;
}

static int check(struct jparser *j, const struct jval *o, const char *key, bool ok,
                 const char *what)
{
    if (ok)
        return 0;
    const struct jval *v = jget(o, key);
    char msg[160];
    snprintf(msg, sizeof msg, "\"%s\": %s", key, what);
    return jfail(j, v ? v->off : o->off, msg);
}

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
    return strcmp(s, a) == 0 || strcmp(s, b) == 0 || (c && strcmp(s, c) == 0);
}

static int from_db(struct jparser *j, const struct jval *o, struct manifest_db *d)
{
    if (o->t != J_OBJ)
        return jfail(j, o->off, "a database entry must be an object");
    int64_t size, page, pages;
    char delta[8];
    if (get_str(j, o, "db_path", &d->db_path, NULL, 0) ||
        get_str(j, o, "path", &d->path, NULL, 0) || get_int(j, o, "size", 0, INT64_MAX, &size) ||
        get_str(j, o, "sha256", NULL, d->sha256, sizeof d->sha256) ||
        get_int(j, o, "page_size", 0, 65536, &page) ||
        get_str(j, o, "replica_id", &d->replica_id, NULL, 0) ||
        get_str(j, o, "dbiid", &d->dbiid, NULL, 0) ||
        get_str(j, o, "delta", NULL, delta, sizeof delta) ||
        get_int(j, o, "delta_pages", 0, UINT32_MAX, &pages) ||
        get_bool(j, o, "locked_copy", &d->locked_copy))
        return -1;
    d->size = (uint64_t)size;
    d->page_size = (uint32_t)page;
    d->delta_pages = (uint32_t)pages;
    if (check(j, o, "db_path", dv_path_is_safe_rel(d->db_path), "unsafe path") ||
        check(j, o, "path", dv_path_is_safe_rel(d->path), "unsafe path") ||
        check(j, o, "sha256", is_sha256(d->sha256), "not a sha256") ||
        check(j, o, "delta", one_of(delta, "apply", "keep", NULL), "must be apply or keep"))
        return -1;
    d->delta_keep = strcmp(delta, "keep") == 0;
    if (d->delta_keep) {
        if (get_str(j, o, "delta_path", &d->delta_path, NULL, 0) ||
            get_str(j, o, "delta_sha256", NULL, d->delta_sha256, sizeof d->delta_sha256) ||
            check(j, o, "delta_path", dv_path_is_safe_rel(d->delta_path), "unsafe path") ||
            check(j, o, "delta_sha256", is_sha256(d->delta_sha256), "not a sha256"))
            return -1;
    }
    if (jget(o, "pagemap")) { /* incremental backups */
        int64_t tot, sto;
        char kind[16];
        if (get_str(j, o, "kind", NULL, kind, sizeof kind) ||
            get_str(j, o, "origin", &d->origin, NULL, 0) ||
            get_int(j, o, "pages_total", 0, INT64_MAX, &tot) ||
            get_int(j, o, "pages_stored", 0, INT64_MAX, &sto) ||
            get_str(j, o, "pagemap", &d->pagemap, NULL, 0) ||
            get_str(j, o, "pagemap_sha256", NULL, d->pagemap_sha256, sizeof d->pagemap_sha256) ||
            get_str(j, o, "full_reason", &d->full_reason, NULL, 0) ||
            check(j, o, "kind", one_of(kind, "full", "incremental", NULL),
                  "must be full or incremental") ||
            check(j, o, "pagemap", dv_path_is_safe_rel(d->pagemap), "unsafe path") ||
            check(j, o, "pagemap_sha256", is_sha256(d->pagemap_sha256), "not a sha256") ||
            check(j, o, "origin", !d->origin[0] || target_set_id_valid(d->origin), "not a set id"))
            return -1;
        d->kind = dv_strdup(kind);
        d->pages_total = (uint64_t)tot;
        d->pages_stored = (uint64_t)sto;
    }
    return 0;
}

static int from_tree(struct jparser *j, const struct jval *root, struct manifest *m)
{
    if (root->t != J_OBJ)
        return jfail(j, root->off, "a manifest must be a JSON object");
    int64_t ver;
    if (get_int(j, root, "dvault_manifest", 1, INT32_MAX, &ver))
        return -1;
    if (ver > MANIFEST_VERSION_MAX)
        return check(j, root, "dvault_manifest", false, "version newer than this dvault");
    m->version = (int)ver;
    const struct jval *cfg, *counts, *dbs, *nl;
    if (get_str(j, root, "id", NULL, m->id, sizeof m->id) ||
        check(j, root, "id", target_set_id_valid(m->id), "not a set id") ||
        get_int(j, root, "seq", 1, INT64_MAX, &m->seq) ||
        get_str(j, root, "kind", NULL, m->kind, sizeof m->kind) ||
        check(j, root, "kind", one_of(m->kind, "full", "incremental", NULL),
              "must be full or incremental") ||
        get_str(j, root, "status", NULL, m->status, sizeof m->status) ||
        check(j, root, "status",
              one_of(m->status, "complete", "failed", "running") ||
                  strcmp(m->status, "partial") == 0,
              "must be complete, partial, failed or running") ||
        get_int(j, root, "started", 0, INT64_MAX, &m->started) ||
        get_int(j, root, "ended", 0, INT64_MAX, &m->ended) ||
        get_str(j, root, "origin", &m->origin, NULL, 0) ||
        get_str(j, root, "checkpoint", &m->checkpoint, NULL, 0) ||
        get_str(j, root, "message", &m->message, NULL, 0))
        return -1;
    if (m->origin[0] && !target_set_id_valid(m->origin))
        return check(j, root, "origin", false, "not a set id");
    if (need(j, root, "config", J_OBJ, &cfg) ||
        get_str(j, cfg, "data_dir", &m->config.data_dir, NULL, 0) ||
        get_str(j, cfg, "daos_dir", &m->config.daos_dir, NULL, 0) ||
        get_str(j, cfg, "delta", NULL, m->config.delta, sizeof m->config.delta) ||
        get_bool(j, cfg, "encryption", &m->config.encryption) ||
        get_int(j, cfg, "min_object_size", 0, INT64_MAX, &m->config.min_object_size) ||
        get_int(j, cfg, "max_files_per_subdir", 0, INT64_MAX, &m->config.max_files_per_subdir) ||
        get_str(j, cfg, "snapshot_command", &m->config.snapshot_command, NULL, 0))
        return -1;
    if (need(j, root, "counts", J_OBJ, &counts) ||
        get_int(j, counts, "databases", 0, INT64_MAX, &m->databases) ||
        get_int(j, counts, "nlo_new", 0, INT64_MAX, &m->nlo_new) ||
        get_int(j, counts, "nlo_held", 0, INT64_MAX, &m->nlo_held) ||
        get_int(j, counts, "nlo_skipped", 0, INT64_MAX, &m->nlo_skipped) ||
        get_int(j, counts, "deltas_applied", 0, INT64_MAX, &m->deltas_applied) ||
        get_int(j, counts, "deltas_kept", 0, INT64_MAX, &m->deltas_kept) ||
        get_int(j, counts, "bytes", 0, INT64_MAX, &m->bytes))
        return -1;
    if (jget(counts, "pages_total") &&
        (get_int(j, counts, "pages_total", 0, INT64_MAX, &m->pages_total) ||
         get_int(j, counts, "pages_stored", 0, INT64_MAX, &m->pages_stored)))
        return -1;
    if (need(j, root, "databases", J_ARR, &dbs))
        return -1;
    if (dbs->n) {
        m->dbs = dv_calloc(dbs->n, sizeof *m->dbs);
        for (size_t i = 0; i < dbs->n; i++) {
            m->ndbs = i + 1;
            if (from_db(j, &dbs->items[i], &m->dbs[i]) != 0)
                return -1;
        }
    }
    const struct jval *fl = jget(root, "failed_databases");
    if (fl) { /* partial sets (absent in older manifests: none failed) */
        if (need(j, root, "failed_databases", J_ARR, &fl))
            return -1;
        if (fl->n)
            m->failed = dv_calloc(fl->n, sizeof *m->failed);
        for (size_t i = 0; i < fl->n; i++) {
            const struct jval *o = &fl->items[i];
            if (o->t != J_OBJ)
                return jfail(j, o->off, "a failed database entry must be an object");
            m->nfailed = i + 1;
            if (get_str(j, o, "db_path", &m->failed[i].db_path, NULL, 0) ||
                get_str(j, o, "reason", &m->failed[i].reason, NULL, 0) ||
                check(j, o, "db_path", dv_path_is_safe_rel(m->failed[i].db_path), "unsafe path"))
                return -1;
            for (size_t k = 0; k < m->ndbs; k++)
                if (strcmp(m->dbs[k].db_path, m->failed[i].db_path) == 0)
                    return check(j, o, "db_path", false, "listed both as copied and as failed");
        }
    }
    if (strcmp(m->status, "partial") == 0 && m->nfailed == 0)
        return check(j, root, "status", false, "partial, but no failed_databases");
    if (strcmp(m->status, "complete") == 0 && m->nfailed)
        return check(j, root, "status", false, "complete, but failed_databases are listed");
    int64_t count;
    if (need(j, root, "nlo_new", J_OBJ, &nl) ||
        get_str(j, nl, "file", NULL, m->nlo_list.file, sizeof m->nlo_list.file) ||
        get_int(j, nl, "count", 0, INT64_MAX, &count) ||
        get_str(j, nl, "sha256", NULL, m->nlo_list.sha256, sizeof m->nlo_list.sha256))
        return -1;
    m->nlo_list.count = (uint64_t)count;
    if (m->nlo_list.file[0] &&
        (check(j, nl, "file",
               dv_path_is_safe_rel(m->nlo_list.file) && !strchr(m->nlo_list.file, '/'),
               "must be a plain file name") ||
         check(j, nl, "sha256", is_sha256(m->nlo_list.sha256), "not a sha256")))
        return -1;
    return 0;
}

int manifest_parse(const char *name, const char *text, size_t len, struct manifest *m)
{
    manifest_init(m);
    struct jparser j = {.name = name, .p = text, .len = len};
    struct jval root;
    int rc = jvalue(&j, &root, 0);
    if (rc == 0) {
        jws(&j);
        if (j.pos != j.len)
            rc = jfail(&j, j.pos, "trailing data after the manifest");
    }
    if (rc == 0)
        rc = from_tree(&j, &root, m);
    jfree(&root);
    if (rc != 0) {
        dv_seterr("%s: byte %zu: %s", name, j.err_off, j.err[0] ? j.err : "invalid manifest");
        manifest_done(m);
        return -1;
    }
    return 0;
}

int manifest_read(const char *path, struct manifest *m)
{
    char *text;
    size_t len;
    if (dv_read_file(path, &text, &len) != 0)
        return -1;
    int rc = manifest_parse(path, text, len, m);
    free(text);
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

int target_nlolist_read(const char *path, target_nlo_cb cb, void *ud)
{
    char *text;
    size_t len;
    if (dv_read_file(path, &text, &len) != 0)
        return -1;
    size_t pos = 0, line = 0;
    int rc = 0;
    while (pos < len && rc == 0) {
        line++;
        const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
        if (!nl) {
            dv_seterr("%s: line %zu (byte %zu): missing end of line", path, line, pos);
            rc = -1;
            break;
        }
        size_t n = (size_t)(nl - s);
        const char *f[4];
        size_t fl[4], k = 0;
        const char *p = s;
        while (k < 4) {
            const char *tab = memchr(p, '\t', (size_t)(nl - p));
            const char *end = tab ? tab : nl;
            f[k] = p;
            fl[k++] = (size_t)(end - p);
            if (!tab)
                break;
            p = tab + 1;
        }
        struct target_nlo_entry e;
        uint64_t sub;
        const char *why = NULL;
        if (k != 4 || p + fl[3] != nl)
            why = "expected 4 tab-separated fields";
        else if (fl[0] != TARGET_NLO_NAME_LEN)
            why = "bad NLO name";
        else if (fl[1] != 64)
            why = "bad sha256";
        if (!why) {
            memcpy(e.name, f[0], fl[0]);
            e.name[fl[0]] = '\0';
            memcpy(e.sha256, f[1], 64);
            e.sha256[64] = '\0';
            if (!target_nlo_name_valid(e.name))
                why = "bad NLO name";
            else if (!is_sha256(e.sha256))
                why = "bad sha256";
            else if (!parse_u64(f[2], fl[2], INT64_MAX, &e.size))
                why = "bad size";
            else if (!parse_u64(f[3], fl[3], 9999, &sub))
                why = "bad subdirectory";
            else
                e.live_subdir = (int64_t)sub;
        }
        if (why) {
            dv_seterr("%s: line %zu (byte %zu): %s", path, line, pos, why);
            rc = -1;
            break;
        }
        (void)n;
        rc = cb(ud, &e);
        pos += n + 1;
    }
    free(text);
    return rc;
}

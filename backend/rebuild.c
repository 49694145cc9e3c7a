/* rebuild.c - see rebuild.h. */
#include "rebuild.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog.h"
#include "fsb.h"
#include "incr.h"
#include "nlorefs.h"
#include "target.h"
#include "target_read.h"
#include "util.h"

#include <sqlite3.h>

#define POOL_BATCH 2000

struct rset {
    struct manifest m;
    bool failed;
    char *dir; /* absolute */
};

struct ctx {
    const struct dv_config *cfg;
    struct dv_job *job;
    struct rebuild_result *r;
    struct target *t;
    struct catalog *cat;
    char *scratch; /* relative to the target: a directory of ours (fsb_mkdtemp) */
    struct catalog_pool_obj *batch;
    size_t nbatch;
    char **problems; /* key, value, key, value, ...: meta rows TARGET_META_RESYNC* */
    size_t nproblems;
    /* an S3 target: the names of the bucket's pool, from its listing (a scratch SQLite file:
     * bounded memory at any pool size), for "is it in the pool?" without a download */
    sqlite3 *pool;
    sqlite3_stmt *pool_has;
};

/*
 * Something on the target that this catalog cannot describe and that may hold what a set
 * needs (a set directory skipped, an NLO list not read): recorded in the new catalog's meta
 * (key TARGET_META_RESYNC<dir>/<what>) so that prune refuses and verify names it until a
 * resync that can record it (docs/operations.md, "Retention and prune", "Catalog rebuild").
 */
static void problem(struct ctx *c, const char *dir, const char *what, const char *why)
{
    c->problems = dv_realloc(c->problems, (c->nproblems + 2) * sizeof *c->problems);
    c->problems[c->nproblems++] = dv_asprintf("%s%s/%s", TARGET_META_RESYNC, dir, what);
    c->problems[c->nproblems++] = dv_strdup(why);
    c->r->problems++;
}

/* ---- reading the target ------------------------------------------------------------------ */

static void add_set(struct rset **v, size_t *n, struct manifest *m, bool failed, char *dir)
{
    *v = dv_realloc(*v, (*n + 1) * sizeof **v);
    (*v)[*n].m = *m;
    (*v)[*n].failed = failed;
    (*v)[*n].dir = dir;
    (*n)++;
}

static int by_seq(const void *a, const void *b)
{
    const struct rset *x = a, *y = b;
    return x->m.seq < y->m.seq ? -1 : x->m.seq > y->m.seq ? 1 : strcmp(x->m.id, y->m.id);
}

/* Read sets/<name> (complete, or failed when name ends in .failed). */
static void read_one(struct ctx *c, const char *name, bool failed, struct rset **v, size_t *n)
{
    char *dir = dv_asprintf("%s/sets/%s", target_path(c->t), name); /* in the working tree */
    char *mrel = dv_asprintf("sets/%s/%s", name, TARGET_MANIFEST);
    char *mpath = target_name_of(c->t, mrel);
    struct manifest m;
    manifest_init(&m);
    char why[DV_ERR_MAX] = "";
    /* beneath the target without links, a regular file of bounded size: a FIFO, a device or
     * a link planted in place of a manifest is refused at once, never waited on */
    int fr = target_fetch_read(c->t, mrel); /* an S3 target: downloaded, evicted below */
    if (fr != 0 || manifest_read_at(target_root(c->t), mrel, &m) != 0) {
        if (failed && errno == ENOENT &&
            (fr != 0 || fsb_lstat(target_root(c->t), mrel, &(struct stat){0})))
            job_log(c->job, DV_WARN,
                    "set %s has no manifest (an interrupted run): it cannot be recorded", name);
        else
            snprintf(why, sizeof why, "%s", dv_err());
    } else if (strncmp(name, m.id, strlen(m.id)) != 0 ||
               (name[strlen(m.id)] != '\0' && strcmp(name + strlen(m.id), ".failed") != 0)) {
        snprintf(why, sizeof why, "%s: the manifest names set %s", mpath, m.id);
    } else if (failed ? strcmp(m.status, "failed") != 0
                      : strcmp(m.status, "complete") != 0 && strcmp(m.status, "partial") != 0) {
        snprintf(why, sizeof why, "%s: status '%s' in a %s set directory", mpath, m.status,
                 failed ? "failed" : "complete");
    }
    target_evict(c->t, mrel);
    free(mpath);
    free(mrel);
    if (why[0] || !m.id[0]) {
        if (why[0]) {
            job_log(c->job, DV_WARN, "%s: skipped", why);
            /* a failed set is never restored from: nothing of it is needed; a complete one
             * may hold the only copies and the only references of pool objects */
            if (!failed)
                problem(c, name, "manifest", why);
        }
        c->r->skipped++;
        manifest_done(&m);
        free(dir);
        return;
    }
    add_set(v, n, &m, failed, dir);
}

struct scanctx {
    struct ctx *c;
    struct rset **v;
    size_t *n;
};

static int scan_name(void *ud, const char *name)
{
    struct scanctx *x = ud;
    char id[TARGET_SET_ID_MAX];
    size_t l = strlen(name);
    if (l < sizeof id && target_set_id_valid(name)) {
        read_one(x->c, name, false, x->v, x->n);
    } else if (l > 7 && l - 7 < sizeof id && strcmp(name + l - 7, ".failed") == 0) {
        snprintf(id, sizeof id, "%.*s", (int)(l - 7), name);
        if (target_set_id_valid(id))
            read_one(x->c, name, true, x->v, x->n);
    }
    return 0;
}

/* The sets of the target: from its listing (an S3 target: the bucket's, never the working
 * tree). */
static int scan(struct ctx *c, struct rset **v, size_t *n)
{
    struct scanctx x = {c, v, n};
    if (target_set_names(c->t, scan_name, &x) != 0)
        return -1;
    if (*n) /* qsort of NULL, even of 0 elements, is undefined */
        qsort(*v, *n, sizeof **v, by_seq);
    return 0;
}

/*
 * deltas-moved.tsv of a set: the location now of the kept delta of d, or NULL (malloc'd).
 * The file is read beneath the target (no link, regular, at most TARGET_MOVED_MAX bytes); the
 * last line for the delta wins, and its location is taken only if it passes the moved-delta
 * rule (target_delta_moved_check: outside the target and the server's directories, no link on
 * its way, a regular file holding exactly the delta the manifest recorded) or no longer
 * exists: a line naming any other file is ignored with a warning.
 */
static char *moved_location(struct ctx *c, const struct rset *s, const struct manifest_db *d)
{
    const char *name = strrchr(s->dir, '/') + 1;
    char *rel = dv_asprintf("sets/%s/%s", name, TARGET_MOVED_LIST), *buf = NULL, *found = NULL;
    size_t len = 0;
    int fr = target_fetch_read(c->t, rel);
    if (fr == 0 && fsb_read_capped(target_root(c->t), rel, TARGET_MOVED_MAX, &buf, &len) == 0) {
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            char *tab = strchr(line, '\t');
            if (!tab)
                continue;
            *tab = '\0';
            if (strcmp(line, d->delta_path) == 0 && tab[1] == '/') {
                free(found);
                found = dv_strdup(tab + 1); /* the last line for a path wins */
            }
        }
    } else if (errno != ENOENT) {
        job_log(c->job, DV_WARN, "set %s: %s: not read", s->m.id, dv_err());
    }
    if (fr == 0)
        target_evict(c->t, rel);
    free(buf);
    free(rel);
    if (found && target_delta_moved_check(c->t, c->cfg->server.data_dir, c->cfg->server.daos_dir,
                                          found, d->delta_sha256, NULL) < 0) {
        job_log(c->job, DV_WARN, "set %s: %s names a location for %s that is refused: %s", s->m.id,
                TARGET_MOVED_LIST, d->delta_path, dv_err());
        free(found);
        found = NULL;
    }
    return found;
}

/* ---- writing the catalog ----------------------------------------------------------------- */

static int flush_pool(struct ctx *c)
{
    if (c->nbatch == 0)
        return 0;
    int rc = catalog_pool_insert_batch(c->cat, c->batch, c->nbatch);
    c->nbatch = 0;
    return rc;
}

static int add_pool(struct ctx *c, const struct catalog_pool_obj *o)
{
    c->batch[c->nbatch++] = *o;
    return c->nbatch == POOL_BATCH ? flush_pool(c) : 0;
}

/* Is name in the target's pool? A directory: a regular file beneath it; an S3 target: in the
 * bucket's listing (pool_load). */
static bool in_pool(struct ctx *c, const char *name)
{
    if (!c->pool) {
        char rel[128];
        struct stat st;
        target_pool_relpath(name, rel, sizeof rel);
        return fsb_lstat(target_root(c->t), rel, &st) == 0 && S_ISREG(st.st_mode);
    }
    sqlite3_reset(c->pool_has);
    sqlite3_bind_text(c->pool_has, 1, name, -1, SQLITE_STATIC);
    return sqlite3_step(c->pool_has) == SQLITE_ROW;
}

static int pool_add_name(void *ud, const char *name)
{
    struct ctx *c = ud;
    sqlite3_reset(c->pool_has);
    sqlite3_bind_text(c->pool_has, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(c->pool_has);
    if (r != SQLITE_DONE) {
        dv_seterr("resync catalog: pool names: %s", sqlite3_errmsg(c->pool));
        return -1;
    }
    return 0;
}

/* An S3 target: the names of the bucket's pool into a scratch SQLite file of the working
 * tree (one listing of nlo/). A directory: nothing (its pool is looked at directly). 0/-1. */
static int pool_load(struct ctx *c)
{
    if (target_kind(c->t) == TARGET_KIND_DIR)
        return 0;
    char *rel = dv_asprintf("%s/pool.db", c->scratch);
    char *path = fsb_abs(target_root(c->t), rel);
    free(rel);
    int rc = sqlite3_open_v2(path, &c->pool, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    free(path);
    if (rc != SQLITE_OK ||
        sqlite3_exec(c->pool,
                     "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                     "CREATE TABLE p(name TEXT PRIMARY KEY) WITHOUT ROWID; BEGIN",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->pool, "INSERT OR IGNORE INTO p VALUES(?)", -1, &c->pool_has, NULL) !=
            SQLITE_OK) {
        dv_seterr("resync catalog: pool names: %s",
                  c->pool ? sqlite3_errmsg(c->pool) : "out of memory");
        return -1;
    }
    if (target_pool_names(c->t, pool_add_name, c) != 0)
        return -1;
    sqlite3_finalize(c->pool_has);
    c->pool_has = NULL;
    if (sqlite3_exec(c->pool, "COMMIT", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->pool, "SELECT 1 FROM p WHERE name = ?", -1, &c->pool_has, NULL) !=
            SQLITE_OK) {
        dv_seterr("resync catalog: pool names: %s", sqlite3_errmsg(c->pool));
        return -1;
    }
    return 0;
}

static void pool_unload(struct ctx *c)
{
    sqlite3_finalize(c->pool_has);
    c->pool_has = NULL;
    if (c->pool) {
        sqlite3_close(c->pool);
        c->pool = NULL;
        char *rel = dv_asprintf("%s/pool.db", c->scratch);
        fsb_unlink(target_root(c->t), rel, true);
        free(rel);
    }
}

struct listctx {
    struct ctx *c;
    const struct rset *s;
    uint64_t missing;
};

static int list_entry(void *ud, const struct target_nlo_entry *e)
{
    struct listctx *x = ud;
    struct ctx *c = x->c;
    if (!in_pool(c, e->name)) {
        if (x->missing++ == 0)
            job_log(c->job, DV_WARN, "set %s lists %s, which is not in the pool: not recorded",
                    x->s->m.id, e->name);
        c->r->nlos_missing++;
        return 0;
    }
    struct catalog_pool_obj o;
    memset(&o, 0, sizeof o);
    memcpy(o.name, e->name, sizeof o.name);
    memcpy(o.sha256, e->sha256, sizeof o.sha256);
    o.size = (int64_t)e->size;
    o.live_subdir = e->live_subdir;
    o.first_set = x->s->m.seq;
    o.stored_at = x->s->m.ended;
    c->r->nlos++;
    job_advance(c->job, 0, 0, NULL);
    return add_pool(c, &o) == 0 ? 0 : -1;
}

/* A new scratch file in the scratch directory: its descriptor (*path its path), or -1. */
static int scratch_open(struct ctx *c, char **rel, char **path)
{
    *rel = dv_asprintf("%s/refs.nsf", c->scratch);
    *path = fsb_abs(target_root(c->t), *rel);
    fsb_unlink(target_root(c->t), *rel, true);
    return fsb_openat(target_root(c->t), *rel, O_RDWR | O_CREAT | O_EXCL, 0600);
}

static void scratch_close(struct ctx *c, int fd, char *rel, char *path)
{
    if (fd >= 0) {
        close(fd);
        fsb_unlink(target_root(c->t), rel, true);
    }
    free(rel);
    free(path);
}

static int record_refs(struct ctx *c, const struct rset *s, const struct manifest_db *d,
                       const char *copy, const char *delta, int64_t db_id)
{
    char **names = NULL;
    size_t n = 0;
    int rc;
    char *srel = NULL, *scratch = NULL;
    if (incr_is_inc_path(d->path)) { /* an incremental file: its chain rebuilt (incr.h) */
        int sfd = scratch_open(c, &srel, &scratch);
        rc = sfd < 0
                 ? -1
                 : incr_chain_build(c->cat, c->t, s->m.id, d->db_path, sfd, scratch, NULL, NULL);
        if (rc == 0)
            rc = nlorefs_read_file(scratch, &names, &n);
        scratch_close(c, sfd, srel, scratch);
    } else {
        /* the copy (and a kept delta) beneath the target, never through a link, never a FIFO
         * (fsb; a moved delta as an operator's file): restore and verify refuse a planted db/
         * link, so its "references" are not read */
        const char *name = strrchr(s->dir, '/') + 1;
        char *rel = dv_asprintf("sets/%s/%s", name, d->path), *drel = NULL;
        int fd = target_fetch_open(c->t, rel), dfd = -1; /* S3: downloaded, evicted below */
        rc = fd < 0 ? -1 : 0;
        if (rc == 0 && d->delta_keep &&
            (target_fetch_loc(c->t, delta, &drel) != 0 ||
             (dfd = target_file_open(c->t, delta, O_RDONLY, 0)) < 0))
            rc = -1;
        if (rc == 0 && d->delta_keep) {
            int sfd = scratch_open(c, &srel, &scratch);
            rc = sfd < 0 ? -1 /* dv_err() says why */
                         : nlorefs_read_with_delta(fd, copy, dfd, delta, sfd, scratch, NULL, &names,
                                                   &n);
            scratch_close(c, sfd, srel, scratch);
        } else if (rc == 0) {
            rc = nlorefs_read_file(copy, &names, &n);
        }
        if (fd >= 0) {
            close(fd);
            target_evict(c->t, rel);
        }
        free(rel);
        if (dfd >= 0)
            close(dfd);
        target_evict_loc(c->t, drel);
    }
    if (rc != 0) {
        job_log(c->job, DV_ERROR, "set %s: references of %s could not be read: %s", s->m.id,
                d->db_path, dv_err());
        c->r->refs_unreadable++;
        return 0;
    }
    rc = catalog_refs_record(c->cat, db_id, s->m.seq, (const char *const *)names, n);
    c->r->refs += n;
    nlorefs_free(names, n);
    return rc;
}

static int record_set(struct ctx *c, const struct rset *s)
{
    const struct manifest *m = &s->m;
    struct catalog_set row;
    memset(&row, 0, sizeof row);
    snprintf(row.id, sizeof row.id, "%s", m->id);
    row.seq = m->seq;
    row.kind = strcmp(m->kind, "incremental") == 0 ? CATALOG_SET_INCREMENTAL : CATALOG_SET_FULL;
    row.started = m->started;
    row.ended = m->ended;
    row.status = s->failed                           ? CATALOG_SET_FAILED
                 : strcmp(m->status, "partial") == 0 ? CATALOG_SET_PARTIAL
                                                     : CATALOG_SET_COMPLETE;
    row.databases = m->databases;
    row.nlo_new = m->nlo_new;
    row.nlo_held = m->nlo_held;
    row.nlo_skipped = m->nlo_skipped;
    row.deltas_applied = m->deltas_applied;
    row.deltas_kept = m->deltas_kept;
    row.bytes = m->bytes;
    snprintf(row.checkpoint, sizeof row.checkpoint, "%s", m->checkpoint ? m->checkpoint : "");
    snprintf(row.origin, sizeof row.origin, "%s", m->origin ? m->origin : "");
    snprintf(row.message, sizeof row.message, "%s", m->message ? m->message : "");
    if (catalog_begin(c->cat) != 0)
        return -1;
    if (catalog_set_insert(c->cat, &row) != 0)
        goto fail;
    for (size_t i = 0; i < m->nfailed; i++) /* the databases a partial (or failed) set lacks */
        if (catalog_set_failure_add(c->cat, row.id, m->failed[i].db_path, m->failed[i].reason) != 0)
            goto fail;
    for (size_t i = 0; !s->failed && i < m->ndbs; i++) {
        const struct manifest_db *d = &m->dbs[i];
        int64_t db_id = 0;
        if (catalog_db_upsert(c->cat, d->db_path, d->replica_id, d->dbiid, m->started, &db_id) != 0)
            goto fail;
        char *copy = dv_path_join(s->dir, d->path);
        char *delta = NULL;
        if (d->delta_keep) {
            delta = moved_location(c, s, d);
            if (delta)
                c->r->deltas_moved++;
            else /* in its set: recorded relative to the target, as the backup does */
                delta = dv_asprintf("sets/%s/%s", strrchr(s->dir, '/') + 1, d->delta_path);
        }
        struct catalog_set_file f = {
            .set_id = row.id,
            .db_id = db_id,
            .path = d->path,
            .size = (int64_t)d->size,
            .sha256 = (char *)d->sha256,
            .page_size = d->page_size,
            .replica_id = d->replica_id,
            .dbiid = d->dbiid,
            .delta_mode = d->delta_keep ? CATALOG_DELTA_KEEP : CATALOG_DELTA_APPLY,
            .delta_pages = d->delta_pages,
            .delta_location = delta,
            .delta_sha256 = d->delta_keep ? (char *)d->delta_sha256 : NULL,
            .locked_copy = d->locked_copy,
        };
        int rc = catalog_set_file_add(c->cat, &f);
        if (rc == 0 && d->pagemap && d->pagemap[0]) { /* incremental backups (incr.h) */
            struct catalog_file_incr fx = {.kind = d->kind && strcmp(d->kind, "incremental") == 0
                                                       ? CATALOG_SET_INCREMENTAL
                                                       : CATALOG_SET_FULL,
                                           .pages_total = (int64_t)d->pages_total,
                                           .pages_stored = (int64_t)d->pages_stored};
            snprintf(fx.origin, sizeof fx.origin, "%s", d->origin ? d->origin : "");
            snprintf(fx.pagemap, sizeof fx.pagemap, "%s", d->pagemap);
            snprintf(fx.pagemap_sha256, sizeof fx.pagemap_sha256, "%s", d->pagemap_sha256);
            snprintf(fx.full_reason, sizeof fx.full_reason, "%s",
                     d->full_reason ? d->full_reason : "");
            rc = catalog_file_incr_set(c->cat, row.id, db_id, &fx);
        }
        if (rc == 0)
            rc = record_refs(c, s, d, copy, delta, db_id);
        free(copy);
        free(delta);
        if (rc != 0)
            goto fail;
        c->r->files++;
        job_advance(c->job, 0, 0, d->db_path);
    }
    if (m->nlo_list.file[0]) {
        const char *name = strrchr(s->dir, '/') + 1;
        char *list = dv_asprintf("sets/%s/%s", name, m->nlo_list.file);
        struct listctx x = {.c = c, .s = s};
        int rc = target_fetch_read(c->t, list); /* S3: downloaded, evicted below */
        if (rc == 0)
            rc = target_nlolist_read_at(target_root(c->t), list, list_entry, &x);
        target_evict(c->t, list);
        if (rc == 0)
            rc = flush_pool(c);
        if (rc != 0) { /* what was read is recorded; verify names the damaged list */
            job_log(c->job, DV_WARN, "set %s: NLO list: %s", m->id, dv_err());
            /* the objects it lists but were not read would look unneeded: prune refuses */
            if (!s->failed)
                problem(c, name, "nlo-list", dv_err());
        }
        free(list);
        c->nbatch = 0;
    }
    if (catalog_commit(c->cat) != 0)
        goto fail;
    if (s->failed)
        c->r->failed_sets++;
    else if (row.status == CATALOG_SET_PARTIAL)
        c->r->partial_sets++;
    else
        c->r->sets++;
    job_advance(c->job, 1, 0, m->id);
    return 0;
fail:
    dv_preferr("set %s", m->id);
    {
        char saved[DV_ERR_MAX];
        snprintf(saved, sizeof saved, "%s", dv_err());
        catalog_rollback(c->cat);
        dv_seterr("%s", saved);
    }
    return -1;
}

/* One pool object: recorded with first_set 0 when no set's list named it (its hash read from
 * it: fetched from an S3 target, evicted after). */
static int orphan(void *ud, const char *name)
{
    struct ctx *c = ud;
    int found = catalog_pool_get(c->cat, name, NULL);
    if (found != 0)
        return found < 0 ? -1 : 0;
    char rel[128];
    target_pool_relpath(name, rel, sizeof rel);
    char *path = target_name_of(c->t, rel);
    struct stat st;
    struct catalog_pool_obj o;
    memset(&o, 0, sizeof o);
    int rc = 0;
    /* beneath the target: a link or FIFO under a pool name is refused, never waited on */
    int pfd = target_fetch_open(c->t, rel);
    if (pfd >= 0 && fstat(pfd, &st) == 0 && dv_sha256_fd_hex(pfd, path, o.sha256) == 0) {
        memcpy(o.name, name, sizeof o.name);
        o.size = (int64_t)st.st_size;
        o.live_subdir = 0; /* unknown: the next NLO pass re-homes it */
        o.first_set = 0;   /* stored by a set no longer on the target */
        o.stored_at = (int64_t)st.st_mtime;
        c->r->orphans++;
        rc = add_pool(c, &o);
    } else {
        job_log(c->job, DV_WARN, "pool file %s cannot be read: not recorded (%s)", path, dv_err());
    }
    if (pfd >= 0) {
        close(pfd);
        target_evict(c->t, rel);
    }
    free(path);
    return rc;
}

/* Pool objects that no set's list named: stored by sets since pruned. From the target's
 * listing (an S3 target: the bucket's). */
static int record_orphans(struct ctx *c)
{
    int rc = target_pool_names(c->t, orphan, c);
    if (rc == 0)
        rc = flush_pool(c);
    return rc;
}

/* Move path's -wal, -shm to path.old.<time> and link path there (the caller renames the new
 * catalog over path); r->old_catalog gets the new name. */
static int move_aside(const char *path, struct rebuild_result *r)
{
    char stamp[32];
    time_t now = (time_t)dv_now();
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    char *old = dv_asprintf("%s.old.%s", path, stamp);
    for (int k = 2; access(old, F_OK) == 0; k++) {
        free(old);
        old = dv_asprintf("%s.old.%s-%d", path, stamp, k);
    }
    int rc = 0;
    static const char *const sfx[] = {"-wal", "-shm", ""};
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        /* the main file last: until it moves, the old catalog is whole under its name */
        char *a = dv_asprintf("%s%s", path, sfx[i]), *b = dv_asprintf("%s%s", old, sfx[i]);
        /* the main file is linked, not renamed: the new catalog then replaces it with one
         * rename, so a crash never leaves no catalog at all (a later dvault would start an
         * empty one and lose sight of every set) */
        if ((sfx[i][0] ? rename(a, b) : link(a, b)) != 0 && (errno != ENOENT || !sfx[i][0])) {
            dv_syserr("move the old catalog %s aside to %s", a, b);
            rc = -1;
        }
        free(a);
        free(b);
    }
    if (rc == 0) {
        snprintf(r->old_catalog, sizeof r->old_catalog, "%s", old);
        dv_fsync_parent(path);
    }
    free(old);
    return rc;
}

int rebuild_catalog(const struct dv_config *cfg, struct dv_job *job, struct rebuild_result *r)
{
    memset(r, 0, sizeof *r);
    struct ctx c = {.cfg = cfg, .job = job, .r = r};
    struct rset *v = NULL;
    size_t n = 0;
    int rc = -1;
    char *tmp = dv_asprintf("%s.rebuild.%ld", cfg->catalog, (long)getpid());

    c.t = target_open_cfg(cfg); /* a directory, or an S3 bucket read from its listing */
    if (!c.t)
        goto out;
    if (!(c.scratch = fsb_mkdtemp(target_root(c.t), ".rebuild."))) {
        dv_preferr("resync catalog: scratch directory");
        goto out;
    }
    c.batch = dv_malloc(POOL_BATCH * sizeof *c.batch);
    if (pool_load(&c) != 0 || scan(&c, &v, &n) != 0)
        goto out;
    for (const char *const *s = (const char *const[]){"", "-wal", "-shm", NULL}; *s; s++) {
        char *p = dv_asprintf("%s%s", tmp, *s);
        unlink(p); /* leftovers of an earlier interrupted rebuild of ours */
        free(p);
    }
    c.cat = catalog_open(tmp);
    if (!c.cat)
        goto out;
    catalog_cache_mib(c.cat, 64); /* as a backup: every set's references are recorded */
    job_phase(job, "sets", n, 0);
    int64_t last_seq = 0;
    for (size_t i = 0; i < n; i++) {
        if (job_cancelled(job)) {
            dv_seterr("resync catalog: cancelled");
            goto out;
        }
        if (v[i].m.seq == last_seq) {
            char why[256];
            snprintf(why, sizeof why, "set %s has seq %lld like the set before it", v[i].m.id,
                     (long long)v[i].m.seq);
            job_log(job, DV_WARN, "%s: skipped", why);
            if (!v[i].failed)
                problem(&c, strrchr(v[i].dir, '/') + 1, "manifest", why);
            r->skipped++;
            continue;
        }
        last_seq = v[i].m.seq;
        if (record_set(&c, &v[i]) != 0)
            goto out;
    }
    job_flush(job);
    job_phase(job, "pool", 0, 0);
    if (record_orphans(&c) != 0)
        goto out;
    /* what could not be recorded, for prune (refuses) and verify (names it) */
    for (size_t i = 0; i + 1 < c.nproblems; i += 2)
        if (catalog_meta_set(c.cat, c.problems[i], c.problems[i + 1]) != 0)
            goto out;
    /* the rebuilt catalog describes this target: bound to it from the start */
    if (catalog_meta_set(c.cat, TARGET_ID_META_KEY, target_identity(c.t)->id) != 0)
        goto out;
    catalog_close(c.cat); /* checkpoints and removes its -wal: one file to put in place */
    c.cat = NULL;
    dv_crashpoint("rebuild.written"); /* tests: the new catalog complete beside the old one */
    if (access(cfg->catalog, F_OK) == 0 && move_aside(cfg->catalog, r) != 0)
        goto out;
    dv_crashpoint("rebuild.moved_aside"); /* tests: the old catalog moved aside */
    if (rename(tmp, cfg->catalog) != 0) {
        dv_syserr("resync catalog: rename %s to %s", tmp, cfg->catalog);
        goto out;
    }
    if (dv_fsync_parent(cfg->catalog) != 0)
        goto out;
    rc = 0;
out : {
    char saved[DV_ERR_MAX];
    snprintf(saved, sizeof saved, "%s", dv_err());
    catalog_close(c.cat);
    if (rc != 0)
        for (const char *const *s = (const char *const[]){"", "-wal", "-shm", NULL}; *s; s++) {
            char *p = dv_asprintf("%s%s", tmp, *s);
            unlink(p);
            free(p);
        }
    if (c.scratch) {
        pool_unload(&c);
        fsb_rmdir(target_root(c.t), c.scratch);
    }
    dv_seterr("%s", saved);
}
    for (size_t i = 0; i < n; i++) {
        manifest_done(&v[i].m);
        free(v[i].dir);
    }
    free(v);
    for (size_t i = 0; i < c.nproblems; i++)
        free(c.problems[i]);
    free(c.problems);
    free(c.batch);
    free(c.scratch);
    free(tmp);
    target_close(c.t);
    return rc;
}

/* recover.c - restore a database into a new name (recover_restore, recover_into_check) and the
 * helpers the recovery files share (recover_int.h). See recover.h, docs/operations.md. */
#include "recover.h"
#include "pitr.h"
#include "recover_int.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dbglob.h"
#include "dbuse.h"
#include "fsb.h"
#include "restored.h"
#include "target.h"
#include "util.h"

/* ---- shared helpers (recover_int.h)
 * -------------------------------------------------------------------- */

struct catalog *recover_open_catalog(const struct dv_config *cfg)
{
    bool missing = false;
    struct catalog *cat = catalog_open_existing(cfg->catalog, &missing);
    if (missing)
        dv_seterr("catalog %s: No such file or directory (no backup yet? dvault backup)",
                  cfg->catalog);
    return cat;
}

/* The target, checked (its identity: a moved or unmounted one is refused) and locked, and
 * the catalog bound to it. */
struct target *recover_open_target(const struct dv_config *cfg, struct catalog *cat)
{
    struct target *t = target_open_cfg(cfg); /* a directory or an S3 bucket */
    if (t && target_bind_catalog(t, cat) != 0) {
        target_close(t);
        return NULL;
    }
    return t;
}

/* The leftovers of killed restores (restore.h): below data_dir (not in the DAOS directory),
 * and in extra_dir (the directory of an absolute --into elsewhere; NULL: none). Reported in
 * the job's events; s accumulates. */
void recover_sweep_leftovers(const struct dv_config *cfg, const char *extra_dir, struct dv_job *job,
                             struct restore_sweep *s)
{
    char *data = realpath(cfg->server.data_dir, NULL);
    char *daos = cfg->server.daos_dir ? dv_path_canon(cfg->server.daos_dir) : NULL;
    size_t before = s->removed;
    if (data)
        restore_sweep_dir(data, daos, true, s);
    if (extra_dir && (!data || !dv_path_within(extra_dir, data)))
        restore_sweep_dir(extra_dir, NULL, false, s);
    if (s->removed > before)
        job_log(job, DV_WARN, "removed %zu leftover file(s) of an interrupted restore (%s%s)",
                s->removed - before, s->first, s->removed - before > 1 ? ", ..." : "");
    free(data);
    free(daos);
}

/* Remove the -wal, -shm (and -journal) beside a replaced database: they were the old file's.
 * Through fsb.h beneath root (rel = the database's path below it). */
static void unlink_sidecars_beneath(struct fsb *root, const char *rel)
{
    static const char *const sfx[] = {"-wal", "-journal", "-shm"}; /* -shm last (dbuse.h) */
    for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
        char *p = dv_asprintf("%s%s", rel, sfx[i]);
        fsb_unlink(root, p, true);
        free(p);
    }
}

static void unlink_sidecars(const char *path)
{
    char *w = dv_asprintf("%s-wal", path), *s = dv_asprintf("%s-shm", path);
    unlink(w);
    unlink(s);
    free(w);
    free(s);
}

/*
 * Before replacing a database file: fold its WAL into it and make sure nobody keeps frames
 * there (a stale -wal beside the new file would be replayed onto it).
 */
static int wal_quiesce(const char *path)
{
    char *w = dv_asprintf("%s-wal", path);
    struct stat sb;
    int rc = 0;
    if (stat(w, &sb) == 0) {
        sqlite3 *h = NULL;
        if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
            dv_seterr("%s: cannot open to checkpoint its WAL: %s", path,
                      h ? sqlite3_errmsg(h) : "out of memory");
            rc = -1;
        } else {
            sqlite3_busy_timeout(h, 10000);
            sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        }
        sqlite3_close(h);
        if (rc == 0 && stat(w, &sb) == 0 && sb.st_size > 0) {
            dv_seterr("%s is in use (its WAL cannot be checkpointed): stop the server's use of it"
                      " first",
                      path);
            rc = -1;
        }
    }
    free(w);
    return rc;
}

/* ---- restore --------------------------------------------------------------------------- */

struct newids {
    char replica[33], dbiid[33];
    const char *from_rel, *set_id; /* recorded in the copy's dbinfo (restored_from*) */
    char time[24], at[24];         /* restored_time (epoch s); restored_at ("" not a PITR) */
    bool set;
};

static void random_hex32(char out[33])
{
    unsigned char b[16];
    dv_random(b, sizeof b);
    dv_hex(b, sizeof b, out);
}

/* restore_prepare_fn: new replica_id and dbiid in the temporary file's dbinfo, and where the
 * copy came from: restored_from (the database as the server names it), restored_from_replica_id
 * (its replica id in the set), restored_from_set, restored_time (when), restored_at (the
 * point in time of a restore --at: microseconds, or "latest"; none otherwise) (formats.md). */
static int give_new_ids(void *ud, const char *tmp)
{
    struct newids *ids = ud;
    sqlite3 *h = NULL;
    int rc = -1;
    if (sqlite3_open_v2(tmp, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", tmp, h ? sqlite3_errmsg(h) : "out of memory");
        goto out;
    }
    sqlite3_stmt *s = NULL;
    bool has = false;
    if (sqlite3_prepare_v2(h,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dbinfo'",
                           -1, &s, NULL) == SQLITE_OK)
        has = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    s = NULL;
    if (!has) { /* not a document database: nothing to rename */
        rc = 0;
        goto out;
    }
    random_hex32(ids->replica);
    random_hex32(ids->dbiid);
    if (sqlite3_exec(h, "PRAGMA synchronous=FULL; BEGIN IMMEDIATE", NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(h,
                           "INSERT OR IGNORE INTO dbinfo(key, value)"
                           " SELECT 'restored_from_replica_id', value FROM dbinfo"
                           " WHERE key = 'replica_id'",
                           -1, &s, NULL) != SQLITE_OK) {
        dv_seterr("%s: new ids: %s", tmp, sqlite3_errmsg(h));
        goto out;
    }
    /* the origin's replica id: the one the copy had in the set; a restored copy that was
     * backed up and is restored again keeps its first origin's */
    int r = sqlite3_step(s);
    sqlite3_finalize(s);
    s = NULL;
    if (r != SQLITE_DONE ||
        sqlite3_prepare_v2(h,
                           "INSERT OR REPLACE INTO dbinfo(key, value) VALUES ('replica_id', ?1),"
                           " ('dbiid', ?2), ('restored_from', ?3), ('restored_from_set', ?4),"
                           " ('restored_time', ?5), ('restored_at', ?6)",
                           -1, &s, NULL) != SQLITE_OK) {
        dv_seterr("%s: new ids: %s", tmp, sqlite3_errmsg(h));
        goto out;
    }
    sqlite3_bind_text(s, 1, ids->replica, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ids->dbiid, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, ids->from_rel ? ids->from_rel : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, ids->set_id ? ids->set_id : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, ids->time, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 6, ids->at, -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    sqlite3_finalize(s);
    if (r == SQLITE_DONE && !ids->at[0]) /* no PITR: no point in time (an older one's gone) */
        r = sqlite3_exec(h, "DELETE FROM dbinfo WHERE key = 'restored_at'", NULL, NULL, NULL) ==
                    SQLITE_OK
                ? SQLITE_DONE
                : SQLITE_ERROR;
    if (r != SQLITE_DONE || sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        dv_seterr("%s: new ids: %s", tmp, sqlite3_errmsg(h));
        goto out;
    }
    dv_crashpoint("restore.new_ids"); /* tests: the temporary's -wal and -shm are left */
    if (sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK) {
        dv_seterr("%s: new ids: %s", tmp, sqlite3_errmsg(h));
        goto out;
    }
    ids->set = true;
    rc = 0;
out:
    sqlite3_close(h);
    unlink_sidecars(tmp); /* checkpointed: empty if still there */
    return rc;
}

static int count_doc(void *ud, const struct store_doc_info *d)
{
    (void)ud;
    (void)d;
    return 0;
}

static int count_name(void *ud, const char *name)
{
    (void)ud;
    (void)name;
    return 0;
}

static void read_ids(const char *path, struct restore_result *r)
{
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(h,
                               "SELECT key, value FROM dbinfo WHERE key IN ('replica_id',"
                               " 'dbiid')",
                               -1, &s, NULL) == SQLITE_OK) {
            while (sqlite3_step(s) == SQLITE_ROW) {
                const char *k = (const char *)sqlite3_column_text(s, 0);
                const char *v = (const char *)sqlite3_column_text(s, 1);
                if (!k || !v)
                    continue;
                if (strcmp(k, "replica_id") == 0)
                    snprintf(r->replica_id, sizeof r->replica_id, "%s", v);
                else
                    snprintf(r->dbiid, sizeof r->dbiid, "%s", v);
            }
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
}

/* Lexical normalisation of a relative path: "." and empty parts dropped, ".." takes the part
 * before it away. NULL when a ".." would leave the root. */
static char *norm_rel(const char *rel)
{
    char *copy = dv_strdup(rel), *save = NULL;
    size_t cap = strlen(rel) + 1, n = 0;
    char *out = dv_calloc(1, cap);
    for (char *p = strtok_r(copy, "/", &save); p; p = strtok_r(NULL, "/", &save)) {
        if (strcmp(p, ".") == 0)
            continue;
        if (strcmp(p, "..") == 0) {
            if (n == 0) {
                free(copy);
                free(out);
                return NULL;
            }
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--; /* the '/' before it */
            out[n] = 0;
            continue;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "/" : "", p);
    }
    free(copy);
    return out;
}

/* Is canonical path p one of SQLite's sidecars of an existing file? (its name then) */
static bool is_sidecar(const char *p)
{
    static const char *const sfx[] = {"-wal", "-shm", "-journal"};
    size_t l = strlen(p);
    for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
        size_t sl = strlen(sfx[i]);
        if (l > sl && strcmp(p + l - sl, sfx[i]) == 0) {
            char *base = dv_asprintf("%.*s", (int)(l - sl), p);
            struct stat sb;
            bool yes = lstat(base, &sb) == 0 && S_ISREG(sb.st_mode);
            free(base);
            if (yes)
                return true;
        }
    }
    return false;
}

/* dbinfo of an existing file, read without locks and without files beside it (immutable). */
void recover_file_info(const char *path, struct recover_into_info *ii)
{
    char *uri = dv_file_uri(path, "immutable=1");
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(uri, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(h,
                               "SELECT key, value FROM dbinfo WHERE key IN ('replica_id',"
                               " 'restored_from', 'restored_from_set', 'restored_from_replica_id')",
                               -1, &s, NULL) == SQLITE_OK) {
            while (sqlite3_step(s) == SQLITE_ROW) {
                const char *k = (const char *)sqlite3_column_text(s, 0);
                const char *v = (const char *)sqlite3_column_text(s, 1);
                if (!k || !v)
                    continue;
                if (strcmp(k, "replica_id") == 0)
                    snprintf(ii->replica_id, sizeof ii->replica_id, "%s", v);
                else if (strcmp(k, "restored_from") == 0)
                    snprintf(ii->origin, sizeof ii->origin, "%s", v);
                else if (strcmp(k, "restored_from_set") == 0)
                    snprintf(ii->origin_set, sizeof ii->origin_set, "%s", v);
                else
                    snprintf(ii->origin_replica_id, sizeof ii->origin_replica_id, "%s", v);
            }
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    free(uri);
}

/* ii->path, ii->rel and ii->below_data of into (see recover_into_check). 0 or -1. */
static int into_resolve(const struct dv_config *cfg, const char *into, struct recover_into_info *ii)
{
    char *norm = NULL, *abs = NULL, *parent = NULL, *data = NULL;
    int rc = -1;
    size_t il = into ? strlen(into) : 0;
    const char *last = into ? (strrchr(into, '/') ? strrchr(into, '/') + 1 : into) : "";
    if (!il || !last[0] || strcmp(last, ".") == 0 || strcmp(last, "..") == 0) {
        dv_seterr("--into '%s' is not a file name", into ? into : "");
        goto out;
    }
    if (into[0] == '/') {
        abs = dv_strdup(into);
    } else {
        /* mail/../alice2.nsf is alice2.nsf: fine while it stays below data_dir */
        if (!(norm = norm_rel(into)) || !norm[0]) {
            dv_seterr("--into '%s' leaves the data directory (use an absolute path to restore"
                      " elsewhere)",
                      into);
            goto out;
        }
        abs = dv_path_join(cfg->server.data_dir, norm);
    }
    parent = dv_dirname(abs);
    struct stat sb;
    char pbuf[PATH_MAX];
    int sr = stat(parent, &sb);
    if (sr != 0 || !S_ISDIR(sb.st_mode) || !realpath(parent, pbuf)) {
        if (sr == 0 && !S_ISDIR(sb.st_mode))
            errno = ENOTDIR;
        dv_syserr("--into %s: directory %s", into, parent);
        goto out;
    }
    const char *base = strrchr(abs, '/') + 1;
    const char *pdir = strcmp(pbuf, "/") == 0 ? "" : pbuf;
    if (strlen(pdir) + 1 + strlen(base) >= sizeof ii->path) {
        dv_seterr("--into '%.200s...': path too long", into);
        goto out;
    }
    memcpy(ii->path, pdir, strlen(pdir));
    ii->path[strlen(pdir)] = '/';
    memcpy(ii->path + strlen(pdir) + 1, base, strlen(base) + 1);
    data = realpath(cfg->server.data_dir, NULL);
    ii->below_data = data && dv_path_within(ii->path, data) && strcmp(ii->path, data) != 0;
    if (ii->below_data)
        snprintf(ii->rel, sizeof ii->rel, "%s", ii->path + strlen(data) + 1);
    if (into[0] != '/' && !ii->below_data) { /* a relative --into stays below data_dir */
        dv_seterr("--into '%s' leaves the data directory through a symbolic link (it is %s)", into,
                  ii->path);
        goto out;
    }
    rc = 0;
out:
    free(norm);
    free(abs);
    free(parent);
    free(data);
    return rc;
}

/* Never where dvault or the server keep their own files: the DAOS directory, the target, the
 * catalog (and its sidecars), the server key, a sidecar of a database. 0 or -1. */
static int into_refuse_own(const struct dv_config *cfg, const char *into, const char *path)
{
    char *daos = cfg->server.daos_dir ? dv_path_canon(cfg->server.daos_dir) : NULL;
    bool in_daos = daos && dv_path_within(path, daos);
    if (in_daos)
        dv_seterr("--into '%s' is in the DAOS directory %s (NLOs and the DAOS index live there): "
                  "a database is never restored into it",
                  into, daos);
    free(daos);
    if (in_daos)
        return -1;
    /* a directory target; an S3 target's working tree (its local spool: emptied by backups) */
    const char *tdir =
        strncmp(cfg->backup.target, "s3://", 5) != 0 ? cfg->backup.target : cfg->backup.s3.cache;
    if (tdir) {
        char *tg = dv_path_canon(tdir);
        bool in_tg = tg && dv_path_within(path, tg);
        if (in_tg)
            dv_seterr("--into '%s' is in the backup target%s %s: a database is never restored "
                      "into it",
                      into, tdir == cfg->backup.target ? "" : "'s working tree (backup.s3.cache)",
                      tg);
        free(tg);
        if (in_tg)
            return -1;
    }
    static const char *const own_sfx[] = {"", "-wal", "-shm", "-journal"};
    const char *own[] = {cfg->catalog, cfg->server.key_file};
    const char *own_what[] = {"dvault's catalog", "the server key"};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) {
        if (!own[i] || !own[i][0])
            continue;
        char *c = dv_path_canon(own[i]);
        for (size_t k = 0; c && k < (i == 0 ? 4u : 1u); k++) {
            char *x = dv_asprintf("%s%s", c, own_sfx[k]);
            bool hit = strcmp(x, path) == 0;
            free(x);
            if (hit) {
                dv_seterr("--into '%s' is %s%s (%s): refused", into, own_what[i],
                          k ? "'s sidecar" : "", own[i]);
                free(c);
                return -1;
            }
        }
        free(c);
    }
    if (is_sidecar(path)) {
        dv_seterr("--into '%s' is the -wal, -shm or -journal of the database beside it: refused",
                  into);
        return -1;
    }
    return 0;
}

int recover_into_check(const struct dv_config *cfg, const char *db_path, const char *into,
                       struct recover_into_info *ii)
{
    memset(ii, 0, sizeof *ii);
    char *live = NULL, *rel = NULL, *canon_live = NULL;
    int rc = -1;
    if (into_resolve(cfg, into, ii) != 0 || into_refuse_own(cfg, into, ii->path) != 0)
        goto out;
    /* the database being restored, by name (it may not exist any more) */
    if (db_path && (live = dbglob_resolve(cfg, db_path, &rel)) != NULL) {
        char lb[PATH_MAX];
        char *lp = dv_dirname(live);
        if (realpath(lp, lb))
            canon_live = dv_asprintf("%s/%s", strcmp(lb, "/") == 0 ? "" : lb,
                                     strrchr(live, '/') ? strrchr(live, '/') + 1 : live);
        free(lp);
    }
    ii->is_source = canon_live && strcmp(canon_live, ii->path) == 0;
    /* what is there now */
    struct stat sb;
    if (lstat(ii->path, &sb) != 0) {
        ii->kind = RECOVER_INTO_NEW;
        rc = 0;
        goto out;
    }
    if (S_ISLNK(sb.st_mode)) {
        dv_seterr("%s is a symbolic link: refused (restore into a new name)", ii->path);
        goto out;
    }
    if (S_ISDIR(sb.st_mode)) {
        dv_seterr("%s is a directory", ii->path);
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        dv_seterr("%s is not a regular file: refused", ii->path);
        goto out;
    }
    recover_file_info(ii->path, ii);
    if (ii->is_source)
        ii->kind = RECOVER_INTO_LIVE_SELF;
    else if (ii->origin_replica_id[0])
        ii->kind = RECOVER_INTO_RESTORED;
    else
        ii->kind = RECOVER_INTO_OTHER;
    const char *what = "";
    int h = dbuse_holder(ii->path, &ii->holder, &what);
    if (h < 0)
        goto out;
    ii->in_use = h == 1;
    rc = 0;
out:
    free(live);
    free(rel);
    free(canon_live);
    return rc;
}

/* The fence around the replacement of an existing file (restore_before_rename_fn). */
struct replace_ctx {
    const char *name; /* for messages */
    struct dbuse_fence *fence;
};

static int before_replace(void *ud, const char *tmp, const char *out)
{
    (void)tmp;
    struct replace_ctx *c = ud;
    /* nobody may hold it now; fold its WAL in (our own connection, closed again: it must be
     * gone before the fence, whose OFD locks would conflict with it) */
    if (dbuse_refuse_if_held(out, c->name) != 0 || wal_quiesce(out) != 0)
        return -1;
    /* from here until the old -wal and -shm are gone, no SQLite connection can start */
    if (!(c->fence = dbuse_fence(out, c->name)))
        return -1;
    char *w = dv_asprintf("%s-wal", out);
    struct stat sb;
    int rc = 0;
    if (lstat(w, &sb) == 0 && sb.st_size > 0) {
        dv_seterr("%s is in use (its WAL has frames no checkpoint could fold in): stop the "
                  "server's use of it first; nothing was replaced",
                  c->name);
        rc = -1;
    }
    free(w);
    return rc;
}

/* A restore, once its request is checked (restore_check): what it is of and where it goes. */
struct restore_plan {
    char *rel, *live; /* the database as the server names it; its live path */
    struct recover_into_info ii;
    const char *name; /* the destination for messages */
    bool is_live;     /* the destination is the live database (also when its file is gone) */
    bool exists;      /* something is there (replaced) */
    char *parent;     /* the destination's directory */
    char *folder_rel; /* no --into: the restore folder's name (relative to data_dir) */
    bool unique;      /* ... taken meanwhile: the next free alternative (restore_steps) */
};

static void plan_done(struct restore_plan *p)
{
    free(p->folder_rel);
    free(p->rel);
    free(p->live);
    free(p->parent);
}

/* The request, refused before anything is opened or changed (and before a job is recorded). */
static int restore_check(const struct dv_config *cfg, const struct restore_opts *o,
                         struct restore_plan *p, struct restore_result *r)
{
    if (!o->set_id || !o->db_path || (!o->into && o->replace_live)) {
        dv_seterr("restore needs a set, a database%s", o->into ? "" : " and --into");
        return -1;
    }
    p->live = dbglob_resolve(cfg, o->db_path, &p->rel);
    if (!p->rel || (o->db_path[0] != '/' && !dv_path_is_safe_rel(o->db_path))) {
        dv_seterr("database '%s' is not below the data directory %s", o->db_path,
                  cfg->server.data_dir);
        return -1;
    }
    snprintf(r->db_rel, sizeof r->db_rel, "%s", p->rel);
    const char *into = o->into;
    if (!into) { /* the restore folder (restored.h): a name nobody has, never replaced */
        if (!dv_path_is_safe_rel(o->set_id) || strchr(o->set_id, '/')) {
            dv_seterr("no backup set '%s' (dvault sets lists them)", o->set_id);
            return -1;
        }
        if (!(p->folder_rel =
                  restored_name(cfg, p->rel, o->set_id, o->pitr, o->at_us, o->to_latest)))
            return -1;
        into = p->folder_rel;
        p->unique = true;
    }
    if (recover_into_check(cfg, o->db_path, into, &p->ii) != 0)
        return -1;
    snprintf(r->into, sizeof r->into, "%s", p->ii.path);
    p->name = p->ii.rel[0] ? p->ii.rel : p->ii.path;
    p->is_live = p->ii.is_source;
    p->exists = p->ii.kind != RECOVER_INTO_NEW;
    if (p->is_live && !o->replace_live) {
        dv_seterr("%s is the live database %s: restore into a new name, or --replace-live to"
                  " put the backup in its place",
                  into, p->rel);
        return -1;
    }
    if (!p->is_live && o->replace_live) {
        dv_seterr("--replace-live: %s is not the live database %s", into, p->rel);
        return -1;
    }
    if (p->exists && !p->is_live && !o->force) {
        dv_seterr("%s exists: choose a new name (or --force)", p->ii.path);
        return -1;
    }
    /* a database another process has open is never replaced: its next commit would be lost */
    if (p->exists && p->ii.in_use && dbuse_refuse_if_held(p->ii.path, p->name) != 0)
        return -1;
    p->parent = dv_dirname(p->ii.path);
    return 0;
}

/* The set, and the database in it. 0, or -1 with dv_err(). */
static int restore_find(struct catalog *cat, const struct restore_opts *o, const char *rel,
                        struct catalog_set *set)
{
    int g = catalog_set_get(cat, o->set_id, set);
    if (g <= 0) {
        if (g == 0)
            dv_seterr("no backup set '%s' (dvault sets lists them)", o->set_id);
        return -1;
    }
    struct catalog_set_file f;
    memset(&f, 0, sizeof f);
    g = catalog_set_file_get(cat, o->set_id, rel, &f);
    catalog_set_file_done(&f);
    if (g <= 0) {
        if (g == 0)
            restore_not_in_set(cat, o->set_id, rel);
        return -1;
    }
    return 0;
}

/* After the rename: r's figures from the restored file and the repository; the DAOS index
 * marked. The restore happened: a failure here is reported, but the file stays. */
static int restore_bookkeeping(const struct dv_config *cfg, const struct restore_opts *o,
                               struct restore_plan *p, struct dv_store *st,
                               struct restore_result *r)
{
    r->replaced = p->exists;
    r->live = p->is_live;
    r->size = r->info.size;
    read_ids(p->ii.path, r);
    int64_t age = dv_now() - r->info.set_started;
    r->set_age_days = age > 0 ? age / 86400 : 0;
    r->old_set =
        dv_config_has_daos(cfg) && age > (int64_t)cfg->server.deferred_deletion_days * 86400;
    r->no_daos = !dv_config_has_daos(cfg);
    /* the DAOS index counts the references of the server's databases only: a copy in the
     * restore folder (or outside the globs, or outside data_dir) changes nothing it counts */
    r->counted = !r->no_daos && p->ii.below_data && dbglob_match_any(cfg, p->ii.rel);
    if (r->counted)
        snprintf(r->resync_reason, sizeof r->resync_reason,
                 "restored %.200s from set %.31s into %.200s", p->rel, o->set_id, p->ii.path);
    if (r->counted && store_mark_needs_resync(st, r->resync_reason) != 0)
        return -1;
    if (store_docs(st, p->ii.path, NULL, count_doc, NULL, &r->docs) != 0 ||
        (!r->no_daos &&
         (store_listnlo(st, p->ii.path, false, count_name, NULL, &r->nlo_refs) != 0 ||
          store_listnlo(st, p->ii.path, true, count_name, NULL, &r->nlo_missing) != 0))) {
        dv_preferr("restored %s, but", p->ii.path);
        return -1;
    }
    return 0;
}

/* The checked restore p: materialize (with new ids, or the archive replayed), replace. */
static int restore_run(const struct dv_config *cfg, const struct restore_opts *o,
                       struct restore_plan *p, struct dv_job *job, struct restore_result *r)
{
    char *root = NULL;
    struct catalog *cat = NULL;
    struct target *t = NULL;
    struct dv_store *st = NULL;
    struct fsb *rootfd = NULL;
    struct replace_ctx rc_ctx = {.name = p->name};
    const char *rel = p->rel, *path = p->ii.path;
    int rc = -1;
    recover_sweep_leftovers(cfg, p->ii.below_data ? NULL : p->parent, job, &r->sweep);
    struct catalog_set set;
    if (!(cat = recover_open_catalog(cfg)) || restore_find(cat, o, rel, &set) != 0)
        goto out;
    if (!(st = store_open(cfg)) || !(t = recover_open_target(cfg, cat)))
        goto out;
    /* replacing a file the store may index: mark the index first, so that a crash right
     * after the rename cannot leave it SYNCHRONIZED with the old file's references */
    if (p->exists) {
        char why[512];
        snprintf(why, sizeof why, "restoring %.200s from set %.31s into %.200s", rel, o->set_id,
                 path);
        if (store_mark_needs_resync(st, why) != 0)
            goto out;
    }
    struct newids ids = {.from_rel = rel, .set_id = o->set_id};
    snprintf(ids.time, sizeof ids.time, "%lld", (long long)dv_now());
    if (o->pitr && o->to_latest)
        snprintf(ids.at, sizeof ids.at, "latest");
    else if (o->pitr)
        snprintf(ids.at, sizeof ids.at, "%lld", (long long)o->at_us);
    restore_prepare_fn prep = p->is_live ? NULL : give_new_ids;
    void *prep_ud = &ids;
    struct pitr_prepare pp = {.pt = {.target = cfg->backup.target,
                                     .t = t,
                                     .cfg = cfg,
                                     .db_rel = rel,
                                     .set_id = o->set_id,
                                     .set_started = set.started,
                                     .set_ended = set.ended,
                                     .at_us = o->at_us,
                                     .to_latest = o->to_latest},
                              .next = prep,
                              .next_ud = prep_ud};
    if (o->pitr)
        prep = pitr_prepare_fn, prep_ud = &pp;
    /* the result is created and renamed beneath data_dir (or the directory of an absolute
     * --into elsewhere), never through a link */
    root = p->ii.below_data ? realpath(cfg->server.data_dir, NULL) : dv_strdup(p->parent);
    if (!root) {
        dv_syserr("%s", cfg->server.data_dir);
        goto out;
    }
    struct restore_steps steps = {.root = root,
                                  .prepare = prep,
                                  .prepare_ud = prep_ud,
                                  .before_rename = p->exists ? before_replace : NULL,
                                  .before_ud = &rc_ctx,
                                  .unique = p->unique};
    if (restore_materialize_steps(cat, t, o->set_id, rel, path, p->exists, &steps, job, &r->info) !=
        0)
        goto out;
    if (p->unique && strcmp(r->info.out_path, p->ii.path) != 0) { /* the name was taken */
        snprintf(p->ii.path, sizeof p->ii.path, "%s", r->info.out_path);
        snprintf(r->into, sizeof r->into, "%s", p->ii.path);
    }
    dv_crashpoint("restore.after_rename"); /* tests: in place, before the bookkeeping */
    if (p->exists && (rootfd = fsb_open(root)) != NULL) /* the old file's: WAL empty (checked) */
        unlink_sidecars_beneath(rootfd, path + (strcmp(root, "/") == 0 ? 1 : strlen(root) + 1));
    dbuse_unfence(rc_ctx.fence);
    rc_ctx.fence = NULL;
    r->pitr_transactions = pp.r.transactions;
    r->pitr_last_us = pp.r.last_us;
    r->pitr_err_us = pp.r.err_us;
    rc = restore_bookkeeping(cfg, o, p, st, r);
out:
    dbuse_unfence(rc_ctx.fence);
    fsb_close(rootfd);
    store_free(st);
    target_close(t);
    catalog_close(cat);
    free(root);
    return rc;
}

int recover_restore(const struct dv_config *cfg, const struct restore_opts *o, struct dv_job *job,
                    struct restore_result *r)
{
    memset(r, 0, sizeof *r);
    struct restore_plan p = {0};
    if (restore_check(cfg, o, &p, r) != 0) { /* refused: nothing done, no job */
        plan_done(&p);
        return -1;
    }
    struct job_record rec;
    job = job_record_begin(&rec, cfg->catalog, "restore", job);
    int rc = restore_run(cfg, o, &p, job, r);
    char sum[1024], b[32];
    dv_fmt_bytes(r->size, b, sizeof b);
    snprintf(sum, sizeof sum, "%.200s from set %.31s %s %.200s (%s, %llu documents%s%s)", r->db_rel,
             o->set_id, r->live ? "over the live database" : "into", r->into, b,
             (unsigned long long)r->docs, r->live ? ", ids kept" : ", new replica id ",
             r->live ? "" : r->replica_id);
    job_record_end(&rec, rc, sum);
    plan_done(&p);
    return rc;
}

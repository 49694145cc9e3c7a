/* recover.c - restore and recovery (seed 003). See recover.h, docs/operations.md. */
#include "recover.h"
#include "pitr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dbglob.h"
#include "dbuse.h"
#include "fsb.h"
#include "target.h"
#include "util.h"

/* ---- shared helpers -------------------------------------------------------------------- */

static struct catalog *open_catalog(const struct dv_config *cfg)
{
    struct stat sb;
    if (stat(cfg->catalog, &sb) != 0) {
        dv_syserr("catalog %s (no backup yet? dvault backup)", cfg->catalog);
        return NULL;
    }
    return catalog_open(cfg->catalog);
}

/* The target, checked (its identity: a moved or unmounted one is refused) and locked, and
 * the catalog bound to it. */
static struct target *open_target(const struct dv_config *cfg, struct catalog *cat)
{
    struct target *t = target_open(cfg->backup.target);
    if (t && target_bind_catalog(t, cat) != 0) {
        target_close(t);
        return NULL;
    }
    return t;
}

/* Newest usable (complete or partial) set holding an NLO (first in newest-first order). */
struct set_pick {
    const char *want; /* a set id that must be among them (NULL: none) */
    bool want_found;
    char newest[32];
    size_t n;
};

static int pick_set(void *ud, const struct catalog_set *s)
{
    struct set_pick *p = ud;
    p->n++;
    if (s->pruning > 0) /* half-removed by an interrupted prune: not a source */
        return 0;
    if (catalog_set_usable(s->status) && !p->newest[0])
        snprintf(p->newest, sizeof p->newest, "%s", s->id);
    if (p->want && strcmp(p->want, s->id) == 0)
        p->want_found = true;
    return 0;
}

/* The leftovers of killed restores (restore.h): below data_dir (not in the DAOS directory),
 * and in extra_dir (the directory of an absolute --into elsewhere; NULL: none). Reported in
 * the job's events; s accumulates. */
static void sweep_leftovers(const struct dv_config *cfg, const char *extra_dir, struct dv_job *job,
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
 * (its replica id in the set), restored_from_set (docs/formats.md). */
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
                           " ('dbiid', ?2), ('restored_from', ?3), ('restored_from_set', ?4)",
                           -1, &s, NULL) != SQLITE_OK) {
        dv_seterr("%s: new ids: %s", tmp, sqlite3_errmsg(h));
        goto out;
    }
    sqlite3_bind_text(s, 1, ids->replica, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ids->dbiid, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, ids->from_rel ? ids->from_rel : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, ids->set_id ? ids->set_id : "", -1, SQLITE_STATIC);
    r = sqlite3_step(s);
    sqlite3_finalize(s);
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
static void file_info(const char *path, struct recover_into_info *ii)
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
    if (strncmp(cfg->backup.target, "s3://", 5) != 0) {
        char *tg = dv_path_canon(cfg->backup.target);
        bool in_tg = tg && dv_path_within(path, tg);
        if (in_tg)
            dv_seterr("--into '%s' is in the backup target %s: a database is never restored into "
                      "it",
                      into, tg);
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
    file_info(ii->path, ii);
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
};

static void plan_done(struct restore_plan *p)
{
    free(p->rel);
    free(p->live);
    free(p->parent);
}

/* The request, refused before anything is opened or changed (and before a job is recorded). */
static int restore_check(const struct dv_config *cfg, const struct restore_opts *o,
                         struct restore_plan *p, struct restore_result *r)
{
    if (!o->set_id || !o->db_path || !o->into) {
        dv_seterr("restore needs a set, a database and a new name");
        return -1;
    }
    p->live = dbglob_resolve(cfg, o->db_path, &p->rel);
    if (!p->rel || (o->db_path[0] != '/' && !dv_path_is_safe_rel(o->db_path))) {
        dv_seterr("database '%s' is not below the data directory %s", o->db_path,
                  cfg->server.data_dir);
        return -1;
    }
    snprintf(r->db_rel, sizeof r->db_rel, "%s", p->rel);
    if (recover_into_check(cfg, o->db_path, o->into, &p->ii) != 0)
        return -1;
    snprintf(r->into, sizeof r->into, "%s", p->ii.path);
    p->name = p->ii.rel[0] ? p->ii.rel : p->ii.path;
    p->is_live = p->ii.is_source;
    p->exists = p->ii.kind != RECOVER_INTO_NEW;
    if (p->is_live && !o->replace_live) {
        dv_seterr("%s is the live database %s: restore into a new name, or --replace-live to"
                  " put the backup in its place",
                  o->into, p->rel);
        return -1;
    }
    if (!p->is_live && o->replace_live) {
        dv_seterr("--replace-live: %s is not the live database %s", o->into, p->rel);
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
                               const struct restore_plan *p, struct dv_store *st,
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
    if (!r->no_daos)
        snprintf(r->resync_reason, sizeof r->resync_reason,
                 "restored %.200s from set %.31s into %.200s", p->rel, o->set_id, p->ii.path);
    if (!r->no_daos && store_mark_needs_resync(st, r->resync_reason) != 0)
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
                       const struct restore_plan *p, struct dv_job *job, struct restore_result *r)
{
    char *root = NULL;
    struct catalog *cat = NULL;
    struct target *t = NULL;
    struct dv_store *st = NULL;
    struct fsb *rootfd = NULL;
    struct replace_ctx rc_ctx = {.name = p->name};
    const char *rel = p->rel, *path = p->ii.path;
    int rc = -1;
    sweep_leftovers(cfg, p->ii.below_data ? NULL : p->parent, job, &r->sweep);
    struct catalog_set set;
    if (!(cat = open_catalog(cfg)) || restore_find(cat, o, rel, &set) != 0)
        goto out;
    if (!(st = store_open(cfg)) || !(t = open_target(cfg, cat)))
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
    restore_prepare_fn prep = p->is_live ? NULL : give_new_ids;
    void *prep_ud = &ids;
    struct pitr_prepare pp = {.pt = {.target = cfg->backup.target,
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
                                  .before_ud = &rc_ctx};
    if (restore_materialize_steps(cat, t, o->set_id, rel, path, p->exists, &steps, job, &r->info) !=
        0)
        goto out;
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

/* ---- list files ------------------------------------------------------------------------ */

void recover_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* name, then position: equal names sort by where they stand in the file */
struct name_at {
    const char *name;
    size_t i;
};

static int name_at_cmp(const void *a, const void *b)
{
    const struct name_at *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

/* Why line p (l bytes) is not an NLO name, into why; never quotes it (the "list" may be any
 * file the operator, or a link, pointed at: /etc/shadow must not be echoed). */
static bool list_name(const char *p, size_t l, char item[STORE_NLO_NAME_LEN + 1], char *why,
                      size_t n)
{
    if (memchr(p, '/', l) || (l >= 2 && p[0] == '.' && p[1] == '.')) {
        snprintf(why, n, "a path, not an NLO name (%zu characters)", l);
        return false;
    }
    if (l != STORE_NLO_NAME_LEN && l != STORE_NLO_NAME_LEN - 4) {
        snprintf(why, n,
                 "not an NLO name (%zu characters, expected %d hex digits, \".nlo\" optional)", l,
                 STORE_NLO_NAME_LEN - 4);
        return false;
    }
    memcpy(item, p, l);
    item[l] = '\0';
    if (l == STORE_NLO_NAME_LEN - 4)
        strcat(item, ".nlo");
    for (size_t i = 0; i < STORE_NLO_NAME_LEN - 4; i++)
        if (!((item[i] >= '0' && item[i] <= '9') || (item[i] >= 'a' && item[i] <= 'f'))) {
            snprintf(why, n, "not an NLO name (character %zu is not a lower-case hex digit)",
                     i + 1);
            return false;
        }
    if (!store_nlo_name_valid(item)) {
        snprintf(why, n, "not an NLO name (it must end in \".nlo\")");
        return false;
    }
    return true;
}

int recover_list_read(const char *path, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    char *buf;
    size_t len;
    /* a regular file of bounded size: a link to /dev/zero or a FIFO is refused at once */
    if (dv_read_file_capped(path, RECOVER_LIST_MAX, &buf, &len) != 0)
        return -1;
    char **v = NULL;
    size_t k = 0, cap = 0;
    int rc = 0;
    size_t line = 0;
    char *p = buf, *end = buf + len;
    while (p < end && rc == 0) {
        line++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        size_t l = (size_t)(e - p);
        if (l == 0 || *p == '#') {
            p = next;
            continue;
        }
        if (memchr(p, '\0', l)) {
            dv_seterr("%s:%zu: NUL byte in the line", path, line);
            rc = -1;
            break;
        }
        char item[STORE_NLO_NAME_LEN + 1], why[128];
        if (!list_name(p, l, item, why, sizeof why)) {
            dv_seterr("%s:%zu: %s", path, line, why);
            rc = -1;
            break;
        }
        if (k == cap) {
            cap = cap ? cap * 2 : 64;
            v = dv_realloc(v, cap * sizeof *v);
        }
        v[k++] = dv_strdup(item);
        p = next;
    }
    free(buf);
    if (rc != 0) {
        recover_names_free(v, k);
        return -1;
    }
    /* drop duplicates, keep file order: sorted once (n log n), the first of each run kept */
    if (k > 1) {
        struct name_at *s = dv_malloc(k * sizeof *s);
        for (size_t i = 0; i < k; i++)
            s[i] = (struct name_at){v[i], i};
        qsort(s, k, sizeof *s, name_at_cmp);
        bool *drop = dv_calloc(k, sizeof *drop);
        size_t ndrop = 0;
        for (size_t i = 1; i < k; i++)
            if (strcmp(s[i - 1].name, s[i].name) == 0) {
                drop[s[i].i] = true;
                ndrop++;
            }
        free(s);
        if (ndrop) {
            size_t m = 0;
            for (size_t i = 0; i < k; i++) {
                if (drop[i])
                    free(v[i]);
                else
                    v[m++] = v[i];
            }
            k = m;
        }
        free(drop);
    }
    *names = v;
    *n = k;
    return 0;
}

/* ---- recover NLOs ---------------------------------------------------------------------- */

struct namevec {
    char **v;
    size_t n, cap;
};

static int collect_name(void *ud, const char *name)
{
    struct namevec *nv = ud;
    if (nv->n == nv->cap) {
        nv->cap = nv->cap ? nv->cap * 2 : 64;
        nv->v = dv_realloc(nv->v, nv->cap * sizeof *nv->v);
    }
    nv->v[nv->n++] = dv_strdup(name);
    return 0;
}

struct docvec {
    struct recover_docref *v;
    size_t n, cap;
};

static int collect_doc(void *ud, const struct store_doc_info *d)
{
    struct docvec *dv = ud;
    if (dv->n == dv->cap) {
        dv->cap = dv->cap ? dv->cap * 2 : 4;
        dv->v = dv_realloc(dv->v, dv->cap * sizeof *dv->v);
    }
    struct recover_docref *r = &dv->v[dv->n++];
    snprintf(r->unid, sizeof r->unid, "%s", d->unid);
    r->subject = dv_strdup(d->subject);
    return 0;
}

void recover_result_done(struct recover_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        for (size_t k = 0; k < r->items[i].ndocs; k++)
            free(r->items[i].docs[k].subject);
        free(r->items[i].docs);
        free(r->items[i].reason);
        free(r->items[i].damage);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

static void unrecoverable(struct recover_item *it, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void unrecoverable(struct recover_item *it, const char *fmt, ...)
{
    it->status = RECOVER_UNRECOVERABLE;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    free(it->reason);
    it->reason = dv_malloc((size_t)(n > 0 ? n : 0) + 1);
    vsnprintf(it->reason, (size_t)(n > 0 ? n : 0) + 1, fmt, ap2);
    va_end(ap2);
}

/* The pool copy of name beneath the target (fsb.h), never through a link planted in the pool
 * (reads outside the target), never a FIFO or device (refused at once, never waited on): a
 * descriptor, or -1 with dv_err() naming the path and what it is. */
static int open_pool_copy(struct target *t, const char *name)
{
    char prel[128];
    target_pool_relpath(name, prel, sizeof prel);
    return fsb_openat(target_root(t), prel, O_RDONLY, 0);
}

/* Why a live NLO is damaged: its kind, or its bytes against the pool's record. */
static char *damage_text(const struct store_live_nlo *lv, const char *pool_sha)
{
    if (lv->kind != STORE_LIVE_FILE)
        return dv_asprintf("it is %s", lv->what);
    return dv_asprintf("its bytes do not match the backup: SHA-256 %.16s..., the pool recorded "
                       "%.16s...",
                       lv->sha256, pool_sha);
}

static int nlos_run(const struct dv_config *cfg, const struct recover_opts *o, struct dv_job *job,
                    struct recover_result *r)
{
    struct namevec nv = {0};
    struct catalog *cat = NULL;
    struct target *t = NULL;
    struct dv_store *st = NULL;
    struct store_live *live = NULL;
    struct store_install *inst = NULL;
    size_t *idx = NULL, *fix = NULL, ngood = 0, nfix = 0;
    int rc = -1;
    if (!o->list_file == !o->db_path) {
        dv_seterr("recover needs either a list file or a database");
        return -1;
    }
    if (o->unid && !o->db_path) {
        dv_seterr("recover: a document needs its database");
        return -1;
    }
    if (!dv_config_has_daos(cfg)) {
        dv_seterr("%s (server.daos_dir is not set): there are no NLOs to recover", DV_NO_DAOS);
        return -1;
    }
    /* 1. the names: a bad list file stops everything before anything is opened */
    if (o->list_file && recover_list_read(o->list_file, &nv.v, &nv.n) != 0)
        return -1;
    sweep_leftovers(cfg, NULL, job, &r->sweep);
    if (!(st = store_open(cfg)))
        goto out;
    if (o->db_path) {
        int lr = o->unid ? store_doc_nlos(st, o->db_path, o->unid, collect_name, &nv)
                         : store_listnlo(st, o->db_path, true, collect_name, &nv, NULL);
        if (lr != 0)
            goto out;
    }
    if ((nv.n || o->set_id) && !(cat = open_catalog(cfg)))
        goto out;
    if (o->set_id) {
        struct catalog_set s;
        int g = catalog_set_get(cat, o->set_id, &s);
        if (g <= 0) {
            if (g == 0)
                dv_seterr("no backup set '%s' (dvault sets lists them)", o->set_id);
            goto out;
        }
        if (!catalog_set_usable(s.status)) {
            dv_seterr("backup set %s is %s, not complete: choose a complete set", o->set_id,
                      catalog_set_status_name(s.status));
            goto out;
        }
    }
    r->items = dv_calloc(nv.n ? nv.n : 1, sizeof *r->items);
    r->n = nv.n;
    if (!(live = store_live_open(st)))
        goto out;
    /* 2. decide for every name, before anything is copied. A name the repository has is
     * checked against the pool's record (the SHA-256 of the stored bytes, compared with the
     * live file's stored bytes: nothing is decrypted): damaged bytes, a link or a special file
     * under its name are repaired from the pool. Only the names of this recovery are hashed. */
    job_phase(job, "check", nv.n, 0);
    idx = dv_calloc(nv.n ? nv.n : 1, sizeof *idx);
    fix = dv_calloc(nv.n ? nv.n : 1, sizeof *fix);
    size_t ncand = 0, ncfix = 0;
    for (size_t i = 0; i < nv.n; i++) {
        struct recover_item *it = &r->items[i];
        snprintf(it->name, sizeof it->name, "%s", nv.v[i]);
        job_advance(job, 1, 0, NULL);
        if (!store_nlo_name_valid(nv.v[i])) {
            unrecoverable(it, "'%.100s' is not an NLO name", nv.v[i]);
            continue;
        }
        struct set_pick pk = {.want = o->set_id};
        if (catalog_nlo_sets(cat, it->name, pick_set, &pk) < 0)
            goto out;
        snprintf(it->set_id, sizeof it->set_id, "%s", pk.newest);
        struct catalog_pool_obj po;
        int g = catalog_pool_get(cat, it->name, &po);
        if (g < 0)
            goto out;
        struct store_live_nlo lv;
        if (store_live_nlo(live, it->name, g == 1, &lv) != 0) {
            unrecoverable(it, "the live copy cannot be checked: %s", dv_err());
            continue;
        }
        if (lv.kind != STORE_LIVE_MISSING) {
            it->subdir = lv.subdir;
            if (g == 1 && lv.kind == STORE_LIVE_FILE && strcmp(lv.sha256, po.sha256) == 0) {
                it->status = RECOVER_PRESENT; /* checked: the bytes the backup holds */
                continue;
            }
            if (g == 0) {
                if (lv.kind == STORE_LIVE_FILE)
                    it->status = RECOVER_PRESENT; /* cannot be checked: no backup holds it */
                else
                    unrecoverable(it, "it is %s and no backup set holds it (not in the pool)",
                                  lv.what);
                continue;
            }
            it->damage = damage_text(&lv, po.sha256);
            if (o->set_id && !pk.want_found)
                unrecoverable(it, "damaged, %s; backup set %s does not hold it%s%s%s", it->damage,
                              o->set_id, pk.newest[0] ? " (set " : "", pk.newest,
                              pk.newest[0] ? " does)" : "");
            else
                fix[ncfix++] = i;
            continue;
        }
        if (g == 0)
            unrecoverable(it, "no backup set holds it (not in the pool)");
        else if (o->set_id && !pk.want_found && pk.newest[0])
            unrecoverable(it, "backup set %s does not hold it (set %s does)", o->set_id, pk.newest);
        else if (o->set_id && !pk.want_found)
            unrecoverable(it, "backup set %s does not hold it", o->set_id);
        else
            idx[ncand++] = i;
    }
    /* 3. the pool copies: present, and what the backup wrote. Installing reads every copy
     * back (and decrypts it when encrypted): the server key is needed from here on. */
    if (ncand || ncfix) {
        if (store_key_require(st) != 0) {
            dv_preferr("the server key is needed to check what is installed");
            goto out;
        }
        if (!(t = open_target(cfg, cat)))
            goto out;
        inst = dv_calloc(ncand ? ncand : 1, sizeof *inst);
        job_phase(job, "verify pool copies", ncand + ncfix, 0);
        for (size_t k = 0; k < ncand + ncfix; k++) {
            bool repair = k >= ncand;
            size_t i = repair ? fix[k - ncand] : idx[k];
            struct recover_item *it = &r->items[i];
            struct catalog_pool_obj po;
            if (catalog_pool_get(cat, it->name, &po) != 1)
                goto out;
            char *pp = target_pool_path(t, it->name), sha[65];
            int pfd = open_pool_copy(t, it->name), hrc = -1;
            if (pfd >= 0)
                hrc = dv_sha256_fd_hex(pfd, pp, sha);
            if (pfd >= 0)
                close(pfd);
            const char *dmg = it->damage ? it->damage : "";
            const char *sep = it->damage ? "; " : "";
            const char *pre = it->damage ? "damaged, " : "";
            const char *post = "";
            if (hrc != 0 && strncmp(dv_err(), pp, strlen(pp)) == 0) { /* "PATH is a FIFO..." */
                unrecoverable(it, "%s%s%s%spool file %s", pre, dmg, post, sep, dv_err());
            } else if (hrc != 0) {
                unrecoverable(it, "%s%s%s%spool file %s: %s", pre, dmg, post, sep, pp, dv_err());
            } else if (strcmp(sha, po.sha256) != 0) {
                unrecoverable(it,
                              "%s%s%s%spool file %s is corrupt: SHA-256 %s, the catalog "
                              "recorded %s",
                              pre, dmg, post, sep, pp, sha, po.sha256);
            } else if (repair) {
                fix[nfix++] = i;
            } else {
                char prel[128];
                target_pool_relpath(it->name, prel, sizeof prel);
                inst[ngood].name = it->name;
                inst[ngood].src_path = dv_strdup(prel); /* opened beneath the target again */
                inst[ngood].src_root = target_root(t);
                idx[ngood++] = i;
            }
            free(pp);
            job_advance(job, 1, (uint64_t)po.size, it->name);
        }
    }
    /* 4. copy them into the live repository; replace the damaged ones */
    int irc = ngood ? store_nlo_install_many(st, inst, ngood, job) : 0;
    char inst_err[DV_ERR_MAX] = "";
    if (irc != 0)
        snprintf(inst_err, sizeof inst_err, "%s", dv_err());
    for (size_t k = 0; k < ngood; k++) {
        struct recover_item *it = &r->items[idx[k]];
        it->subdir = inst[k].subdir;
        if (inst[k].status == STORE_INSTALL_NEW) {
            it->status = RECOVER_RECOVERED;
            struct stat sb;
            if (fsb_lstat(target_root(t), inst[k].src_path, &sb) == 0)
                r->bytes += (uint64_t)sb.st_size;
        } else if (inst[k].status == STORE_INSTALL_PRESENT) {
            it->status = RECOVER_PRESENT;
        } else {
            unrecoverable(it, "copy failed: %s", inst[k].err ? inst[k].err : "not processed");
        }
    }
    if (nfix)
        job_phase(job, "repair NLOs", nfix, 0);
    for (size_t k = 0; k < nfix; k++) {
        struct recover_item *it = &r->items[fix[k]];
        struct catalog_pool_obj po;
        if (job_cancelled(job)) {
            unrecoverable(it, "damaged, %s; not repaired: cancelled", it->damage);
            continue;
        }
        if (catalog_pool_get(cat, it->name, &po) != 1) {
            unrecoverable(it, "damaged, %s; not repaired: %s", it->damage, dv_err());
            continue;
        }
        int pfd = open_pool_copy(t, it->name);
        if (pfd < 0 || store_live_replace(live, it->name, it->subdir, pfd, po.sha256) != 0) {
            unrecoverable(it, "damaged, %s; the repair failed: %s", it->damage, dv_err());
        } else {
            it->status = RECOVER_REPAIRED;
            r->bytes += (uint64_t)po.size;
        }
        if (pfd >= 0)
            close(pfd);
        job_advance(job, 1, (uint64_t)po.size, it->name);
    }
    /* 5. report */
    const struct recover_item *first_bad = NULL;
    for (size_t i = 0; i < r->n; i++) {
        struct recover_item *it = &r->items[i];
        if (it->status == RECOVER_PRESENT && !it->subdir) {
            char *p = store_nlo_path(st, it->name);
            if (p) {
                const char *sl = strrchr(p, '/');
                it->subdir = sl && sl - p >= 4 ? atoi(sl - 4) : 0;
            }
            free(p);
        }
        r->recovered += it->status == RECOVER_RECOVERED;
        r->present += it->status == RECOVER_PRESENT;
        r->repaired += it->status == RECOVER_REPAIRED;
        if (it->status == RECOVER_UNRECOVERABLE) {
            r->unrecoverable++;
            if (!first_bad)
                first_bad = it;
            if (o->db_path && store_nlo_name_valid(it->name)) {
                struct docvec dv = {0};
                struct store_doc_filter f = {.nlo = it->name};
                store_docs(st, o->db_path, &f, collect_doc, &dv, NULL);
                it->docs = dv.v;
                it->ndocs = dv.n;
            }
        }
    }
    if (first_bad) {
        dv_seterr("%llu of %zu NLOs unrecoverable (first: %s: %s)",
                  (unsigned long long)r->unrecoverable, r->n, first_bad->name, first_bad->reason);
        goto out;
    }
    if (irc != 0) {
        dv_seterr("%s", inst_err);
        goto out;
    }
    rc = 0;
out:
    for (size_t k = 0; inst && k < ngood; k++)
        free((char *)inst[k].src_path);
    store_live_close(live);
    store_free(st);
    target_close(t);
    catalog_close(cat);
    recover_names_free(nv.v, nv.n);
    free(idx);
    free(fix);
    store_install_done(inst, ngood);
    free(inst);
    return rc;
}

int recover_nlos(const struct dv_config *cfg, const struct recover_opts *o, struct dv_job *job,
                 struct recover_result *r)
{
    memset(r, 0, sizeof *r);
    struct job_record rec;
    job = job_record_begin(&rec, cfg->catalog, "recover", job);
    int rc = nlos_run(cfg, o, job, r);
    char sum[256], b[32];
    dv_fmt_bytes(r->bytes, b, sizeof b);
    snprintf(sum, sizeof sum,
             "%llu recovered, %llu repaired (%s), %llu already present, %llu unrecoverable",
             (unsigned long long)r->recovered, (unsigned long long)r->repaired, b,
             (unsigned long long)r->present, (unsigned long long)r->unrecoverable);
    job_record_end(&rec, rc, sum);
    return rc;
}

/* ---- listnlo damaged ------------------------------------------------------------------- */

int recover_check_nlos(const struct dv_config *cfg, const char *db_path, struct dv_job *job,
                       recover_check_fn fn, void *ud, struct recover_check_counts *c)
{
    memset(c, 0, sizeof *c);
    struct namevec nv = {0};
    struct dv_store *st = NULL;
    struct store_live *live = NULL;
    struct catalog *cat = NULL;
    int rc = -1;
    if (!(st = store_open(cfg)))
        goto out;
    if (store_listnlo(st, db_path, false, collect_name, &nv, NULL) != 0)
        goto out;
    if (!(cat = open_catalog(cfg)) || !(live = store_live_open(st)))
        goto out;
    job_phase(job, "check", nv.n, 0);
    for (size_t i = 0; i < nv.n; i++) {
        const char *name = nv.v[i];
        c->referenced++;
        job_advance(job, 1, 0, name);
        if (job_cancelled(job)) {
            dv_seterr("cancelled");
            goto out;
        }
        struct catalog_pool_obj po;
        int g = store_nlo_name_valid(name) ? catalog_pool_get(cat, name, &po) : 0;
        if (g < 0)
            goto out;
        struct store_live_nlo lv;
        enum recover_check what;
        char *why = NULL;
        if (!store_nlo_name_valid(name)) {
            what = RECOVER_CHECK_UNKNOWN;
            why = dv_strdup("not an NLO name");
        } else if (store_live_nlo(live, name, g == 1, &lv) != 0) {
            what = RECOVER_CHECK_DAMAGED;
            why = dv_asprintf("cannot be read: %s", dv_err());
        } else if (lv.kind == STORE_LIVE_MISSING) {
            what = RECOVER_CHECK_MISSING;
        } else if (g == 1 && lv.kind == STORE_LIVE_FILE && strcmp(lv.sha256, po.sha256) == 0) {
            what = RECOVER_CHECK_OK;
        } else if (g == 1 || lv.kind != STORE_LIVE_FILE) {
            what = RECOVER_CHECK_DAMAGED;
            why = g == 1 ? damage_text(&lv, po.sha256)
                         : dv_asprintf("it is %s (not in the pool)", lv.what);
        } else {
            what = RECOVER_CHECK_UNKNOWN;
            why = dv_strdup("not in the pool: no backup holds it, its bytes cannot be checked");
        }
        c->ok += what == RECOVER_CHECK_OK;
        c->damaged += what == RECOVER_CHECK_DAMAGED;
        c->unknown += what == RECOVER_CHECK_UNKNOWN;
        c->missing += what == RECOVER_CHECK_MISSING;
        int r = (what == RECOVER_CHECK_DAMAGED || what == RECOVER_CHECK_UNKNOWN) && fn
                    ? fn(ud, name, what, why)
                    : 0;
        free(why);
        if (r != 0) {
            rc = r;
            goto out;
        }
    }
    job_flush(job);
    rc = 0;
out:
    store_live_close(live);
    catalog_close(cat);
    store_free(st);
    recover_names_free(nv.v, nv.n);
    return rc;
}

/* ---- documents ------------------------------------------------------------------------- */

const char *recover_live_state_name(enum recover_live_state s)
{
    switch (s) {
    case RECOVER_LIVE_PRESENT:
        return "present";
    case RECOVER_LIVE_DELETED:
        return "deleted";
    case RECOVER_LIVE_GONE:
        return "gone";
    default:
        return "";
    }
}

struct livedoc {
    char unid[STORE_UNID_LEN + 1];
    bool deleted;
};

struct livevec {
    struct livedoc *v;
    size_t n, cap;
};

static int collect_live(void *ud, const struct store_doc_info *d)
{
    struct livevec *lv = ud;
    if (lv->n == lv->cap) {
        lv->cap = lv->cap ? lv->cap * 2 : 256;
        lv->v = dv_realloc(lv->v, lv->cap * sizeof *lv->v);
    }
    snprintf(lv->v[lv->n].unid, sizeof lv->v[0].unid, "%s", d->unid);
    lv->v[lv->n++].deleted = d->deleted != 0;
    return 0;
}

static int livedoc_cmp(const void *a, const void *b)
{
    return strcmp(((const struct livedoc *)a)->unid, ((const struct livedoc *)b)->unid);
}

struct listctx {
    struct livevec *live;
    recover_doc_fn fn;
    void *ud;
};

static int list_one(void *ud, const struct store_doc_info *d)
{
    struct listctx *c = ud;
    enum recover_live_state s = RECOVER_LIVE_UNKNOWN;
    if (c->live) {
        struct livedoc key;
        snprintf(key.unid, sizeof key.unid, "%s", d->unid);
        const struct livedoc *f =
            c->live->n ? bsearch(&key, c->live->v, c->live->n, sizeof key, livedoc_cmp) : NULL;
        s = !f ? RECOVER_LIVE_GONE : f->deleted ? RECOVER_LIVE_DELETED : RECOVER_LIVE_PRESENT;
    }
    return c->fn(c->ud, d, s);
}

int recover_doc_list(const struct dv_config *cfg, const char *path, const char *live_path,
                     const char *search, recover_doc_fn fn, void *ud, uint64_t *n)
{
    if (n)
        *n = 0;
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    struct livevec lv = {0};
    int rc = 0;
    if (live_path) {
        rc = store_docs(st, live_path, NULL, collect_live, &lv, NULL);
        if (rc == 0 && lv.n)
            qsort(lv.v, lv.n, sizeof *lv.v, livedoc_cmp);
    }
    if (rc == 0) {
        struct listctx c = {.live = live_path ? &lv : NULL, .fn = fn, .ud = ud};
        struct store_doc_filter f = {.search = search};
        rc = store_docs(st, path, &f, list_one, &c, n);
    }
    free(lv.v);
    store_free(st);
    return rc;
}

static int first_doc(void *ud, const struct store_doc_info *d)
{
    struct store_doc_info *out = ud;
    out->natt = d->natt;
    out->nnlo = d->nnlo;
    return 1;
}

/* dbinfo values of a database (relative or absolute) read without locks or files beside it. */
static int db_info_of(const struct dv_config *cfg, const char *path, struct recover_into_info *ii)
{
    memset(ii, 0, sizeof *ii);
    char *rel = NULL, *abs = dbglob_resolve(cfg, path, &rel);
    struct stat sb;
    int rc = -1;
    if (!abs || lstat(abs, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (abs && lstat(abs, &sb) == 0)
            dv_seterr("database %s is not a regular file", abs);
        else
            dv_syserr("database %s", abs ? abs : path);
    } else {
        file_info(abs, ii);
        rc = 0;
    }
    free(rel);
    free(abs);
    return rc;
}

int recover_doc_origin(const struct dv_config *cfg, const char *from_path, const char *live_path,
                       struct doccopy_origin *o)
{
    memset(o, 0, sizeof *o);
    struct recover_into_info f, l;
    if (db_info_of(cfg, from_path, &f) != 0 || db_info_of(cfg, live_path, &l) != 0)
        return -1;
    snprintf(o->from_replica_id, sizeof o->from_replica_id, "%s", f.replica_id);
    snprintf(o->origin, sizeof o->origin, "%s", f.origin);
    snprintf(o->origin_replica_id, sizeof o->origin_replica_id, "%s",
             f.origin_replica_id[0] ? f.origin_replica_id : f.replica_id);
    snprintf(o->live_replica_id, sizeof o->live_replica_id, "%s", l.replica_id);
    o->same = o->origin_replica_id[0] && strcmp(o->origin_replica_id, o->live_replica_id) == 0;
    return 0;
}

int recover_doc_copy(const struct dv_config *cfg, const char *from_path, const char *unid,
                     const char *live_path, struct dv_job *job, struct doccopy_result *r)
{
    return recover_doc_copy_ex(cfg, from_path, unid, live_path, false, job, r);
}

static int doc_copy_run(const struct dv_config *cfg, const char *from_path, const char *unid,
                        const char *live_path, bool force, struct dv_job *job,
                        struct doccopy_result *r)
{
    struct dv_store *st = NULL;
    struct store_db *src = NULL, *dst = NULL;
    int rc = -1;
    /* the document goes back into the database it came from, or --force says otherwise */
    struct doccopy_origin og;
    if (recover_doc_origin(cfg, from_path, live_path, &og) != 0)
        return -1;
    if (!og.same && !force) {
        if (og.origin[0])
            dv_seterr("%s is a restored copy of %s (replica id %s), but %s has replica id %s: "
                      "it is another database; --force copies the document anyway",
                      from_path, og.origin, og.origin_replica_id, live_path,
                      og.live_replica_id[0] ? og.live_replica_id : "(none)");
        else
            dv_seterr("%s (replica id %s) and %s (replica id %s) are different databases: "
                      "--force copies the document anyway",
                      from_path, og.origin_replica_id[0] ? og.origin_replica_id : "(none)",
                      live_path, og.live_replica_id[0] ? og.live_replica_id : "(none)");
        return -1;
    }
    r->other_db = !og.same;
    if (!og.same)
        job_log(job, DV_WARN,
                "copying a document of %s (origin replica id %s) into %s (replica id "
                "%s): another database (forced)",
                from_path, og.origin_replica_id, live_path, og.live_replica_id);
    sweep_leftovers(cfg, NULL, job, &r->sweep);
    if (!(st = store_open(cfg)))
        return -1;
    struct store_doc_info info = {0};
    struct store_doc_filter f = {.unid = unid};
    int g = store_docs(st, from_path, &f, first_doc, &info, NULL);
    if (g < 0)
        goto out;
    if (g == 0) {
        dv_seterr("%s has no document %s (dvault doc list %s)", from_path, unid, from_path);
        goto out;
    }
    r->attachments = info.natt;
    r->nlos = info.nnlo;
    if (!(dst = store_db_open(st, live_path)))
        goto out;
    int state = store_doc_state(dst, unid);
    if (state < 0)
        goto out;
    if (state == 1) {
        dv_seterr("%s already has document %s (not deleted): nothing to copy", live_path, unid);
        goto out;
    }
    /* The NLOs first: the document must be readable the moment it reappears. */
    store_db_close(dst);
    dst = NULL;
    store_free(st);
    st = NULL;
    if (!dv_config_has_daos(cfg) && info.nnlo > 0) {
        dv_seterr("document %s has %d NLO attachment(s): %s", unid, info.nnlo, DV_NO_DAOS);
        return -1;
    }
    struct recover_opts ro = {.db_path = from_path, .unid = unid};
    if (dv_config_has_daos(cfg) && recover_nlos(cfg, &ro, job, &r->nlo) != 0)
        return -1;
    if (!(st = store_open(cfg)) || !(dst = store_db_open(st, live_path)))
        goto out;
    state = store_doc_state(dst, unid);
    if (state == 2) {
        if (store_doc_undelete(dst, unid) != 0)
            goto out;
        r->undeleted = true;
    } else if (state == 0) {
        if (!(src = store_db_open(st, from_path)) || store_doc_copy(src, unid, dst) != 0)
            goto out;
        r->copied = true;
        /* deleted in the backup too: the operator wants it back, visible */
        if (store_doc_state(dst, unid) == 2 && store_doc_undelete(dst, unid) != 0)
            goto out;
    } else {
        if (state == 1)
            dv_seterr("%s already has document %s (not deleted): nothing to copy", live_path, unid);
        goto out;
    }
    rc = 0;
out:
    store_db_close(src);
    store_db_close(dst);
    store_free(st);
    return rc;
}

int recover_doc_copy_ex(const struct dv_config *cfg, const char *from_path, const char *unid,
                        const char *live_path, bool force, struct dv_job *job,
                        struct doccopy_result *r)
{
    memset(r, 0, sizeof *r);
    struct job_record rec;
    job = job_record_begin(&rec, cfg->catalog, "doccopy", job);
    int rc = doc_copy_run(cfg, from_path, unid, live_path, force, job, r);
    char sum[1024];
    snprintf(sum, sizeof sum,
             "document %.64s %s %.400s (%d attachments, %d NLOs; %llu NLOs recovered first)", unid,
             r->undeleted ? "undeleted in" : "copied into", live_path, r->attachments, r->nlos,
             (unsigned long long)r->nlo.recovered);
    job_record_end(&rec, rc, sum);
    return rc;
}

/* ---- whereis --------------------------------------------------------------------------- */

struct refvec {
    struct whereis_db *v;
    size_t n, cap;
};

static int collect_ref(void *ud, const char *path, int64_t count)
{
    struct refvec *rv = ud;
    if (rv->n == rv->cap) {
        rv->cap = rv->cap ? rv->cap * 2 : 8;
        rv->v = dv_realloc(rv->v, rv->cap * sizeof *rv->v);
    }
    rv->v[rv->n].path = dv_strdup(path);
    rv->v[rv->n++].refs = count;
    return 0;
}

struct setvec {
    struct catalog_set *v;
    size_t n, cap;
};

static int collect_set(void *ud, const struct catalog_set *s)
{
    struct setvec *sv = ud;
    if (sv->n == sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 8;
        sv->v = dv_realloc(sv->v, sv->cap * sizeof *sv->v);
    }
    sv->v[sv->n++] = *s;
    return 0;
}

void recover_whereis_done(struct whereis_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ndbs; i++)
        free(r->dbs[i].path);
    free(r->dbs);
    free(r->sets);
    free(r->live_path);
    free(r->pool_path);
    memset(r, 0, sizeof *r);
}

int recover_whereis(const struct dv_config *cfg, const char *name, struct whereis_result *r)
{
    memset(r, 0, sizeof *r);
    r->refcount = -1;
    size_t l = strlen(name);
    if (l == STORE_NLO_NAME_LEN - 4)
        snprintf(r->name, sizeof r->name, "%s.nlo", name);
    else if (l == STORE_NLO_NAME_LEN)
        snprintf(r->name, sizeof r->name, "%s", name);
    if (!store_nlo_name_valid(r->name)) {
        dv_seterr("'%.100s' is not an NLO name (80 lower-case hex digits + \".nlo\")", name);
        return -1;
    }
    if (!dv_config_has_daos(cfg)) {
        dv_seterr("%s (server.daos_dir is not set)", DV_NO_DAOS);
        return -1;
    }
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    int rc = -1;
    struct refvec rv = {0};
    if (store_nlo_referrers(st, r->name, collect_ref, &rv) != 0)
        goto out;
    r->dbs = rv.v;
    r->ndbs = rv.n;
    int sub = 0;
    int64_t refc = 0;
    int g = store_nlo_info(st, r->name, &sub, &refc);
    if (g < 0)
        goto out;
    r->indexed = g == 1;
    r->refcount = g == 1 ? refc : -1;
    r->live_path = store_nlo_path(st, r->name);
    if (r->live_path) {
        const char *sl = strrchr(r->live_path, '/');
        r->live_subdir = sl && sl - r->live_path >= 4 ? atoi(sl - 4) : 0;
    }
    struct stat sb;
    if (stat(cfg->catalog, &sb) == 0) {
        struct catalog *cat = catalog_open(cfg->catalog);
        if (!cat)
            goto out;
        struct setvec sv = {0};
        g = catalog_nlo_sets(cat, r->name, collect_set, &sv);
        r->sets = sv.v;
        r->nsets = sv.n;
        int pg = g == 0 ? catalog_pool_get(cat, r->name, &r->pool) : -1;
        catalog_close(cat);
        if (g != 0 || pg < 0)
            goto out;
        r->in_pool = pg == 1;
    }
    char rel[128];
    target_pool_relpath(r->name, rel, sizeof rel);
    r->pool_path = dv_path_join(cfg->backup.target, rel);
    /* a regular file beneath the target (a link or FIFO under its name is not a pool file) */
    struct fsb *troot = fsb_open(cfg->backup.target);
    r->pool_file = troot && fsb_lstat(troot, rel, &sb) == 0 && S_ISREG(sb.st_mode);
    fsb_close(troot);
    rc = 0;
out:
    store_free(st);
    return rc;
}

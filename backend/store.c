/*
 * store.c - the live server: open/close, the DAOS index opened (and recreated when lost), database
 * handles and their transactions, the SQLite helpers the store's files share. See store.h,
 * store_priv.h (which file holds what), docs/store.md.
 */
#include "store_priv.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dbglob.h"
#include "fsb.h"
#include "util.h"

static atomic_uint tmp_counter;

unsigned store_tmp_seq(void)
{
    return atomic_fetch_add(&tmp_counter, 1);
}

/* ---- small helpers ---------------------------------------------------------------------- */

void store_nl_add(struct namelist *l, const char *name)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = dv_realloc(l->v, l->cap * sizeof *l->v);
    }
    snprintf(l->v[l->n++], sizeof l->v[0], "%s", name);
}

void store_nl_free(struct namelist *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

int store_sq_fail(sqlite3 *h, const char *what)
{
    dv_seterr("%s: %s", what, sqlite3_errmsg(h));
    return -1;
}

int store_sq_exec(sqlite3 *h, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        dv_seterr("%s: %s", what, msg ? msg : sqlite3_errmsg(h));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

sqlite3_stmt *store_sq_prep(sqlite3 *h, const char *sql, const char *what)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) {
        store_sq_fail(h, what);
        return NULL;
    }
    return s;
}

int store_sq_open(const char *path, int flags, sqlite3 **out)
{
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(path, &h, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        dv_seterr("open %s: %s", path, h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        sqlite3_close(h);
        return -1;
    }
    sqlite3_busy_timeout(h, BUSY_MS);
    *out = h;
    return 0;
}

char *store_subdir_path(const struct dv_store *st, int subdir)
{
    return dv_asprintf("%s/%04d", st->cfg->server.daos_dir, subdir);
}

char *store_nlo_file(const struct dv_store *st, int subdir, const char *name)
{
    return dv_asprintf("%s/%04d/%s", st->cfg->server.daos_dir, subdir, name);
}

/* "0001".."9999" -> number, else 0. */
int store_subdir_num(const char *s)
{
    if (strlen(s) != 4)
        return 0;
    for (int i = 0; i < 4; i++)
        if (!isdigit((unsigned char)s[i]))
            return 0;
    return atoi(s);
}

uint64_t store_name_size(const char *name)
{
    char hex[17];
    memcpy(hex, name + 64, 16);
    hex[16] = '\0';
    return strtoull(hex, NULL, 16);
}

/* A server without DAOS (server.daos_dir not set) has no repository and no index: st->idx is
 * NULL, attachments are stored inline, and what needs the repository fails saying so. */
bool store_has_daos(const struct dv_store *st)
{
    return st->idx != NULL;
}

int store_no_daos(void)
{
    dv_seterr("%s (server.daos_dir is not set)", DV_NO_DAOS);
    return -1;
}

static const char IDX_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE IF NOT EXISTS dit(path TEXT PRIMARY KEY, replica_id TEXT, dbiid TEXT,"
    " nrefs INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS doi(name TEXT PRIMARY KEY, subdir INTEGER NOT NULL,"
    " size INTEGER NOT NULL, refcount INTEGER NOT NULL, zero_since INTEGER) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS doi_zero ON doi(zero_since) WHERE zero_since IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS subdirs(subdir INTEGER PRIMARY KEY, count INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', '1');"
    /* store_check's memory: the file (device, inode, size, ctime) whose replica id it read */
    "CREATE TABLE IF NOT EXISTS dit_seen(path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER,"
    " size INTEGER, ctime_ns INTEGER, replica_id TEXT) WITHOUT ROWID;"
    /* running totals for status (docs/scale.md): counted once when the table is new, then
       kept by the triggers in the transaction of every change */
    "CREATE TABLE IF NOT EXISTS doi_totals(k INTEGER PRIMARY KEY CHECK (k = 1),"
    " objects INTEGER NOT NULL, bytes INTEGER NOT NULL, refs INTEGER NOT NULL,"
    " ref_bytes INTEGER NOT NULL, zero INTEGER NOT NULL, zero_bytes INTEGER NOT "
    "NULL);"
    /* the names the index gained, for "not yet backed up" (unbacked.c, docs/catalog.md):
       written by triggers (STORE_TOTALS_TRIGGERS), the last 1,048,576 kept */
    "CREATE TABLE IF NOT EXISTS doi_added(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    " name TEXT NOT NULL);" STORE_TOTALS_TRIGGERS;

/* The first count of a new doi_totals (an index made before it; idx_try_open). */
static const char TOTALS_COUNT[] =
    "INSERT INTO doi_totals SELECT 1, count(*), coalesce(sum(size), 0),"
    " coalesce(sum(refcount), 0), coalesce(sum(size * refcount), 0),"
    " coalesce(sum(refcount = 0), 0), coalesce(sum((refcount = 0) * size), 0) FROM doi;";

/* The triggers of doi_totals (IF NOT EXISTS: every open runs them; resync drops them while it
 * rewrites the index, then counts once: STORE_TOTALS_OFF / STORE_TOTALS_ON). REPLACE fires
 * the delete trigger: the connection sets recursive_triggers. */
const char STORE_TOTALS_OFF[] = "DROP TRIGGER IF EXISTS doi_tot_ins;"
                                "DROP TRIGGER IF EXISTS doi_added_log;"
                                "DROP TRIGGER IF EXISTS doi_tot_del;"
                                "DROP TRIGGER IF EXISTS doi_tot_upd;";
const char STORE_TOTALS_ON[] = "DELETE FROM doi_totals;"
                               "INSERT INTO doi_totals SELECT 1, count(*), coalesce(sum(size), 0),"
                               " coalesce(sum(refcount), 0), coalesce(sum(size * refcount), 0),"
                               " coalesce(sum(refcount = 0), 0), coalesce(sum((refcount = 0) * "
                               "size), 0) FROM doi;" STORE_TOTALS_TRIGGERS;

static int idx_try_open(struct dv_store *st)
{
    if (store_sq_open(st->idx_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &st->idx) != 0)
        return -1;
    if (store_sq_exec(st->idx,
                      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                      " PRAGMA recursive_triggers=ON",
                      "DAOS index") != 0 ||
        store_sq_exec(st->idx, "BEGIN IMMEDIATE", "DAOS index") != 0 ||
        store_sq_exec(st->idx, IDX_SCHEMA, "DAOS index: schema") != 0 ||
        (store_q_int(st->idx, "SELECT count(*) FROM doi_totals", 0) == 0 &&
         store_sq_exec(st->idx, TOTALS_COUNT, "DAOS index: totals") != 0)) {
        int ec = sqlite3_errcode(st->idx) & 0xff;
        sqlite3_close(st->idx);
        st->idx = NULL;
        return ec == SQLITE_NOTADB || ec == SQLITE_CORRUPT ? -2 : -1;
    }
    return 0; /* transaction left open for the caller */
}

static void unlink_sidecars(const char *db)
{
    char *w = dv_asprintf("%s-wal", db), *m = dv_asprintf("%s-shm", db);
    unlink(w);
    unlink(m);
    free(w);
    free(m);
}

/* Is there anything a fresh index should know about (NLO subdirectories, databases)? */
static bool server_has_content(struct dv_store *st)
{
    bool any = false;
    DIR *d = opendir(st->cfg->server.daos_dir);
    if (d) {
        struct dirent *e;
        while (!any && (e = readdir(d)) != NULL)
            any = store_subdir_num(e->d_name) > 0 || strcmp(e->d_name, "daos.cfg") == 0;
        closedir(d);
    }
    char **dbs = NULL;
    size_t n = 0;
    if (!any && dbglob_list(st->cfg, &dbs, &n) == 0)
        any = n > 0;
    dbglob_free(dbs);
    return any;
}

static int idx_open(struct dv_store *st)
{
    st->idx_path = dv_asprintf("%s/daoscat.db", st->cfg->server.daos_dir);
    bool existed = access(st->idx_path, F_OK) == 0;
    char reason[DV_ERR_MAX + 64] = "";
    if (!existed) {
        unlink_sidecars(st->idx_path); /* a stale WAL must not be replayed into a new index */
        if (server_has_content(st))
            snprintf(reason, sizeof reason, "DAOS index %s was missing (recreated empty)",
                     st->idx_path);
    }
    int orc = idx_try_open(st);
    if (orc != 0) {
        if (!existed || orc != -2)
            return -1;
        /* Unreadable: keep it aside for inspection, start a new one. */
        snprintf(reason, sizeof reason, "DAOS index was unreadable (%s); recreated empty",
                 dv_err());
        char *bad = dv_asprintf("%s.bad.%lld", st->idx_path, (long long)dv_now());
        if (rename(st->idx_path, bad) != 0 && errno != ENOENT) {
            dv_syserr("move unreadable DAOS index aside to %s", bad);
            free(bad);
            return -1;
        }
        free(bad);
        unlink_sidecars(st->idx_path);
        if (idx_try_open(st) != 0)
            return -1;
    }
    int rc = 0;
    if (reason[0]) {
        store_cfg_load_counts(st);
        rc = store_idx_set_state(st, true, reason);
    } else {
        rc =
            store_sq_exec(st->idx,
                          "INSERT OR IGNORE INTO meta(key, value) VALUES ('state', 'SYNCHRONIZED'),"
                          " ('reason', ''), ('since', CAST(strftime('%s','now') AS INTEGER))",
                          "DAOS index: state");
    }
    if (rc != 0) {
        store_idx_rollback(st);
        return -1;
    }
    return store_idx_commit(st);
}

struct dv_store *store_open(const struct dv_config *cfg)
{
    struct dv_store *st = dv_calloc(1, sizeof *st);
    st->cfg = cfg;
    if (!dv_config_has_daos(cfg)) { /* databases only: no index, no key */
        if (dv_mkdirs(cfg->server.data_dir, 0750) != 0) {
            store_free(st);
            return NULL;
        }
        return st;
    }
    store_key_load(st);
    if (dv_mkdirs(cfg->server.data_dir, 0750) != 0 || dv_mkdirs(cfg->server.daos_dir, 0750) != 0 ||
        !(st->daos = fsb_open(cfg->server.daos_dir)) || idx_open(st) != 0) {
        store_free(st);
        return NULL;
    }
    return st;
}

void store_free(struct dv_store *st)
{
    if (!st)
        return;
    sqlite3_close(st->idx);
    fsb_close(st->daos);
    OPENSSL_cleanse(st->key, sizeof st->key);
    free(st->key_err);
    free(st->idx_path);
    free(st);
}

const struct dv_config *store_config(const struct dv_store *st)
{
    return st->cfg;
}

/* ---- databases ------------------------------------------------------------------------------ */

static char *dit_key(const struct dv_store *st, const char *abs)
{
    size_t n = strlen(st->cfg->server.data_dir);
    if (strncmp(abs, st->cfg->server.data_dir, n) == 0 && abs[n] == '/')
        return dv_strdup(abs + n + 1);
    return dv_strdup(abs);
}

void store_db_read_info(sqlite3 *h, const char *key, char *out, size_t n)
{
    out[0] = '\0';
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(h, "SELECT value FROM dbinfo WHERE key = ?1", -1, &s, NULL) !=
        SQLITE_OK) {
        sqlite3_finalize(s);
        return;
    }
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
        snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
}

bool store_db_has_table(sqlite3 *h, const char *table)
{
    sqlite3_stmt *s = NULL;
    bool yes = false;
    if (sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &s, NULL) == SQLITE_OK) {
        sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
        yes = sqlite3_step(s) == SQLITE_ROW;
    }
    sqlite3_finalize(s);
    return yes;
}

struct store_db *store_db_new(struct dv_store *st, const char *path)
{
    struct store_db *db = dv_calloc(1, sizeof *db);
    db->st = st;
    db->path = path[0] == '/' ? dv_strdup(path) : dv_path_join(st->cfg->server.data_dir, path);
    db->ditkey = dit_key(st, db->path);
    return db;
}

struct store_db *store_db_open(struct dv_store *st, const char *path)
{
    struct store_db *db = store_db_new(st, path);
    if (access(db->path, F_OK) != 0) {
        dv_syserr("database %s", db->path);
        goto fail;
    }
    if (store_sq_open(db->path, SQLITE_OPEN_READWRITE, &db->h) != 0)
        goto fail;
    if (store_sq_exec(db->h, "PRAGMA synchronous=NORMAL", db->path) != 0)
        goto fail;
    store_db_read_info(db->h, "replica_id", db->replica, sizeof db->replica);
    store_db_read_info(db->h, "dbiid", db->dbiid, sizeof db->dbiid);
    /* A database the index should know (below data_dir, matching the globs). */
    if (store_has_daos(st) && db->ditkey[0] != '/' && dbglob_match_any(st->cfg, db->ditkey)) {
        sqlite3_stmt *s = store_sq_prep(
            st->idx, "SELECT coalesce(replica_id, '') FROM dit WHERE path = ?1", "DAOS index: DIT");
        if (!s)
            goto fail;
        sqlite3_bind_text(s, 1, db->ditkey, -1, SQLITE_STATIC);
        char reason[512] = "";
        if (sqlite3_step(s) != SQLITE_ROW)
            snprintf(reason, sizeof reason, "database %.300s is not in the DAOS index", db->ditkey);
        else if (strcmp((const char *)sqlite3_column_text(s, 0), db->replica) != 0)
            snprintf(reason, sizeof reason, "replica id of database %.300s changed", db->ditkey);
        sqlite3_finalize(s);
        if (reason[0] && store_mark_needs_resync(st, reason) != 0)
            goto fail;
    }
    return db;
fail:
    store_db_close(db);
    return NULL;
}

static void db_abort(struct store_db *db)
{
    if (db->in_tx)
        sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    db->in_tx = false;
    if (db->reserved.n) {
        char keep[DV_ERR_MAX];
        snprintf(keep, sizeof keep, "%s", dv_err());
        store_refs_release(db->st, db->ditkey, &db->reserved); /* best effort: too high is safe */
        dv_seterr("%s", keep);
    }
    db->reserved.n = 0;
    db->released.n = 0;
}

void store_db_close(struct store_db *db)
{
    if (!db)
        return;
    if (db->h)
        db_abort(db);
    sqlite3_close(db->h);
    store_nl_free(&db->reserved);
    store_nl_free(&db->released);
    free(db->path);
    free(db->ditkey);
    free(db);
}

const char *store_db_path(const struct store_db *db)
{
    return db->path;
}

struct sqlite3 *store_db_sqlite(struct store_db *db)
{
    return db->h;
}

const char *store_db_replica_id(const struct store_db *db)
{
    return db->replica;
}

int store_db_begin(struct store_db *db)
{
    if (db->in_tx) {
        dv_seterr("%s: a transaction is already open", db->path);
        return -1;
    }
    if (store_sq_exec(db->h, "BEGIN IMMEDIATE", db->path) != 0)
        return -1;
    db->in_tx = true;
    return 0;
}

int store_db_commit(struct store_db *db)
{
    if (!db->in_tx) {
        dv_seterr("%s: no transaction to commit", db->path);
        return -1;
    }
    if (store_sq_exec(db->h, "COMMIT", db->path) != 0) {
        db_abort(db);
        return -1;
    }
    db->in_tx = false;
    db->reserved.n = 0;
    int rc = store_refs_release(db->st, db->ditkey, &db->released);
    db->released.n = 0;
    if (rc != 0)
        dv_preferr("%s: committed, but the DAOS index was not updated", db->path);
    return rc;
}

int store_db_rollback(struct store_db *db)
{
    db_abort(db);
    return 0;
}

/* Run an operation in the caller's transaction, or its own. */
int store_op_begin(struct store_db *db, bool *own)
{
    *own = !db->in_tx;
    return *own ? store_db_begin(db) : 0;
}

int store_op_end(struct store_db *db, bool own, int rc)
{
    if (!own)
        return rc;
    if (rc != 0) {
        db_abort(db);
        return -1;
    }
    return store_db_commit(db);
}

int store_insert_note(struct store_db *db, const struct store_doc_row *d, int64_t *note_id)
{
    sqlite3_stmt *s = store_sq_prep(db->h,
                                    "INSERT INTO notes(unid, form, subject, sender, created,"
                                    " modified, deleted, body) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                                    db->path);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, d->unid, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, d->form, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, d->subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, d->sender, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, d->created);
    sqlite3_bind_int64(s, 6, d->modified);
    if (d->deleted)
        sqlite3_bind_int64(s, 7, d->deltime);
    sqlite3_bind_text(s, 8, d->body, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(db->h, db->path);
    sqlite3_finalize(s);
    if (rc == 0)
        *note_id = sqlite3_last_insert_rowid(db->h);
    return rc;
}

int store_insert_att(struct store_db *db, sqlite3_stmt *s, int64_t note_id, const char *name,
                     int64_t size, const char *nlo, const void *data, size_t dlen)
{
    sqlite3_bind_int64(s, 1, note_id);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 3, size);
    if (nlo) {
        sqlite3_bind_text(s, 4, nlo, -1, SQLITE_STATIC);
        sqlite3_bind_null(s, 5);
    } else {
        sqlite3_bind_null(s, 4);
        sqlite3_bind_blob64(s, 5, data ? data : "", dlen, SQLITE_STATIC);
    }
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(db->h, db->path);
    sqlite3_reset(s);
    return rc;
}

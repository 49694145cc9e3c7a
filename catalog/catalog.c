/* catalog.c - see catalog.h; schema in docs/catalog.md: open, schema and migrations,
 * statements, transactions, databases, meta (the rest: catalog_int.h). */
#include "catalog.h"
#include "catalog_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util.h"

/* A name key (catalog_names.c) / a sha256 as text, in plain SQL (the views of version 6). */
#define NAME_SQL(k)                                                                                \
    "CASE WHEN typeof(" k ") = 'blob' THEN lower(hex(substr(" k ", 1, 32)) || "                    \
    "substr('0000000000000000' || hex(substr(" k ", 34)), -16)) || '.nlo' ELSE " k " END"
#define SHA_SQL(k) "CASE WHEN typeof(" k ") = 'blob' THEN lower(hex(" k ")) ELSE " k " END"

/* Migrations: MIGRATIONS[i] brings the schema from version i to i + 1. */
static const char *const MIGRATIONS[] = {
    /* 1: initial schema */
    "CREATE TABLE databases (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  path TEXT NOT NULL UNIQUE,\n"
    "  replica_id TEXT,\n"
    "  dbiid TEXT,\n"
    "  first_seen INTEGER NOT NULL,\n"
    "  last_seen INTEGER NOT NULL,\n"
    "  last_ref_seq INTEGER\n"
    ");\n"
    "CREATE TABLE sets (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  seq INTEGER NOT NULL UNIQUE,\n"
    "  kind TEXT NOT NULL CHECK (kind IN ('full', 'incremental')),\n"
    "  started INTEGER NOT NULL,\n"
    "  ended INTEGER,\n"
    "  status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),\n"
    "  pid INTEGER,\n"
    "  databases INTEGER NOT NULL DEFAULT 0,\n"
    "  nlo_new INTEGER NOT NULL DEFAULT 0,\n"
    "  nlo_held INTEGER NOT NULL DEFAULT 0,\n"
    "  nlo_skipped INTEGER NOT NULL DEFAULT 0,\n"
    "  deltas_applied INTEGER NOT NULL DEFAULT 0,\n"
    "  deltas_kept INTEGER NOT NULL DEFAULT 0,\n"
    "  bytes INTEGER NOT NULL DEFAULT 0,\n"
    "  checkpoint TEXT,\n"
    "  origin TEXT,\n"
    "  message TEXT\n"
    ");\n"
    "CREATE TABLE set_files (\n"
    "  set_id TEXT NOT NULL REFERENCES sets(id) ON DELETE CASCADE,\n"
    "  db_id INTEGER NOT NULL REFERENCES databases(id),\n"
    "  path TEXT NOT NULL,\n"
    "  size INTEGER NOT NULL,\n"
    "  sha256 TEXT NOT NULL,\n"
    "  page_size INTEGER NOT NULL DEFAULT 0,\n"
    "  replica_id TEXT,\n"
    "  dbiid TEXT,\n"
    "  delta_mode TEXT NOT NULL CHECK (delta_mode IN ('apply', 'keep')),\n"
    "  delta_pages INTEGER NOT NULL DEFAULT 0,\n"
    "  delta_location TEXT,\n"
    "  delta_sha256 TEXT,\n"
    "  locked_copy INTEGER NOT NULL DEFAULT 0,\n"
    "  PRIMARY KEY (set_id, db_id)\n"
    ");\n"
    "CREATE INDEX set_files_db ON set_files(db_id);\n"
    "CREATE TABLE pool (\n"
    "  name TEXT PRIMARY KEY,\n"
    "  sha256 TEXT NOT NULL,\n"
    "  size INTEGER NOT NULL,\n"
    "  live_subdir INTEGER NOT NULL,\n"
    "  first_set INTEGER NOT NULL,\n"
    "  stored_at INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX pool_subdir ON pool(live_subdir, name);\n"
    "CREATE INDEX pool_first_set ON pool(first_set);\n"
    "CREATE TABLE refs (\n"
    "  db_id INTEGER NOT NULL REFERENCES databases(id),\n"
    "  nlo TEXT NOT NULL,\n"
    "  first_seq INTEGER NOT NULL,\n"
    "  last_seq INTEGER,\n"
    "  PRIMARY KEY (db_id, nlo, first_seq)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX refs_nlo ON refs(nlo);\n"
    "CREATE INDEX refs_open ON refs(db_id, nlo) WHERE last_seq IS NULL;\n"
    "CREATE TABLE jobs (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  kind TEXT NOT NULL,\n"
    "  started INTEGER NOT NULL,\n"
    "  ended INTEGER,\n"
    "  status TEXT NOT NULL,\n"
    "  message TEXT\n"
    ");\n"
    "CREATE TABLE events (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  job_id INTEGER REFERENCES jobs(id) ON DELETE CASCADE,\n"
    "  time INTEGER NOT NULL,\n"
    "  level INTEGER NOT NULL,\n"
    "  message TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX events_job ON events(job_id, id);\n",
    /* 2: a set being pruned (crash-safe prune: marked first, rows deleted last) */
    "ALTER TABLE sets ADD COLUMN pruning INTEGER;\n",
    /* 3: incremental backups (docs/catalog.md, "Version 3") */
    "ALTER TABLE set_files ADD COLUMN kind TEXT NOT NULL DEFAULT 'full'\n"
    "  CHECK (kind IN ('full', 'incremental'));\n"
    "ALTER TABLE set_files ADD COLUMN origin TEXT;\n"
    "ALTER TABLE set_files ADD COLUMN pages_total INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE set_files ADD COLUMN pages_stored INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE set_files ADD COLUMN pagemap TEXT;\n"
    "ALTER TABLE set_files ADD COLUMN pagemap_sha256 TEXT;\n"
    "ALTER TABLE set_files ADD COLUMN full_reason TEXT;\n"
    "CREATE INDEX set_files_origin ON set_files(origin) WHERE origin IS NOT NULL;\n"
    "ALTER TABLE sets ADD COLUMN pages_total INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE sets ADD COLUMN pages_stored INTEGER NOT NULL DEFAULT 0;\n",
    /* 4: facts about the catalog itself; "target_id": the target it describes (formats.md) */
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;\n",
    /* 5: partial sets (docs/catalog.md, "Version 5"): sets.status gains 'partial' - a CHECK
     * cannot be altered, so the table is rebuilt (migrations run with foreign keys off, so
     * dropping the old table does not cascade to set_files) - and the databases a set could
     * not copy are listed in set_failures */
    "CREATE TABLE sets_v5 (\n"
    "  id TEXT PRIMARY KEY,\n"
    "  seq INTEGER NOT NULL UNIQUE,\n"
    "  kind TEXT NOT NULL CHECK (kind IN ('full', 'incremental')),\n"
    "  started INTEGER NOT NULL,\n"
    "  ended INTEGER,\n"
    "  status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'partial', 'failed')),\n"
    "  pid INTEGER,\n"
    "  databases INTEGER NOT NULL DEFAULT 0,\n"
    "  nlo_new INTEGER NOT NULL DEFAULT 0,\n"
    "  nlo_held INTEGER NOT NULL DEFAULT 0,\n"
    "  nlo_skipped INTEGER NOT NULL DEFAULT 0,\n"
    "  deltas_applied INTEGER NOT NULL DEFAULT 0,\n"
    "  deltas_kept INTEGER NOT NULL DEFAULT 0,\n"
    "  bytes INTEGER NOT NULL DEFAULT 0,\n"
    "  checkpoint TEXT,\n"
    "  origin TEXT,\n"
    "  message TEXT,\n"
    "  pruning INTEGER,\n"
    "  pages_total INTEGER NOT NULL DEFAULT 0,\n"
    "  pages_stored INTEGER NOT NULL DEFAULT 0\n"
    ");\n"
    "INSERT INTO sets_v5 SELECT id, seq, kind, started, ended, status, pid, databases, nlo_new,\n"
    "  nlo_held, nlo_skipped, deltas_applied, deltas_kept, bytes, checkpoint, origin, message,\n"
    "  pruning, pages_total, pages_stored FROM sets;\n"
    "DROP TABLE sets;\n"
    "ALTER TABLE sets_v5 RENAME TO sets;\n"
    "CREATE TABLE set_failures (\n"
    "  set_id TEXT NOT NULL REFERENCES sets(id) ON DELETE CASCADE,\n"
    "  db_path TEXT NOT NULL,\n"
    "  reason TEXT NOT NULL,\n"
    "  PRIMARY KEY (set_id, db_path)\n"
    ") WITHOUT ROWID;\n"
    "CREATE INDEX set_failures_db ON set_failures(db_path);\n",
    /* 6: integer references and a compact NLO table (docs/catalog.md, "Version 6"): pool and
     * refs' names become one row per NLO in `nlo` (name as a 32 + 1 + n byte key, a small
     * integer id), refs hold (db_id, nlo_id); running totals for status, kept by the
     * catalog's writers in their transactions (catalog_refs.c). dv_nlo_key and
     * dv_sha_key are SQL functions of this connection (catalog_names.c). */
    "CREATE TABLE nlo (\n"
    "  name BLOB PRIMARY KEY,\n"
    "  id INTEGER NOT NULL,\n"
    "  sha256 BLOB,\n"
    "  size INTEGER,\n"
    "  live_subdir INTEGER,\n"
    "  first_set INTEGER,\n"
    "  stored_at INTEGER\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO nlo (name, id, sha256, size, live_subdir, first_set, stored_at)\n"
    "  SELECT dv_nlo_key(u.name), row_number() OVER (ORDER BY u.name), dv_sha_key(p.sha256),\n"
    "    p.size, p.live_subdir, p.first_set, p.stored_at\n"
    "  FROM (SELECT name FROM pool UNION SELECT nlo FROM refs) u\n"
    "  LEFT JOIN pool p ON p.name = u.name;\n"
    "CREATE TABLE nlo_refs (\n"
    "  db_id INTEGER NOT NULL,\n"
    "  nlo_id INTEGER NOT NULL,\n"
    "  first_seq INTEGER NOT NULL,\n"
    "  last_seq INTEGER,\n"
    "  PRIMARY KEY (db_id, nlo_id, first_seq)\n"
    ") WITHOUT ROWID;\n"
    "INSERT INTO nlo_refs SELECT r.db_id, n.id, r.first_seq, r.last_seq FROM refs r\n"
    "  JOIN nlo n ON n.name = dv_nlo_key(r.nlo) ORDER BY 1, 2, 3;\n"
    "DROP TABLE refs;\n"
    "DROP TABLE pool;\n"
    "CREATE INDEX nlo_refs_nlo ON nlo_refs(nlo_id, db_id);\n"
    "ALTER TABLE databases ADD COLUMN refs_digest BLOB;\n"
    "CREATE INDEX nlo_subdir ON nlo(live_subdir, name) WHERE sha256 IS NOT NULL;\n"
    "CREATE TABLE totals (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;\n"
    "INSERT INTO totals (key, value) VALUES\n"
    "  ('pool_objects', (SELECT count(*) FROM nlo WHERE sha256 IS NOT NULL)),\n"
    "  ('pool_bytes', (SELECT coalesce(sum(size), 0) FROM nlo WHERE sha256 IS NOT NULL)),\n"
    "  ('nlo_next_id', (SELECT coalesce(max(id), 0) + 1 FROM nlo));\n"
    /* the pool and the references as version 5 showed them, for the sqlite3 shell (names and
       hashes as text; a view, nothing stored); a DELETE on pool takes the object out */
    "CREATE VIEW pool (name, sha256, size, live_subdir, first_set, stored_at, key) AS\n"
    "  SELECT " NAME_SQL("name") ", " SHA_SQL(
        "sha256") ",\n"
                  "    size, live_subdir, first_set, stored_at, name FROM nlo WHERE sha256 IS NOT "
                  "NULL;\n"
                  "CREATE TRIGGER pool_delete INSTEAD OF DELETE ON pool BEGIN\n"
                  "  UPDATE nlo SET sha256 = NULL, size = NULL, live_subdir = NULL, first_set = "
                  "NULL,\n"
                  "    stored_at = NULL WHERE name = old.key;\n"
                  "  UPDATE totals SET value = value - 1 WHERE key = 'pool_objects';\n"
                  "  UPDATE totals SET value = value - old.size WHERE key = 'pool_bytes';\n"
                  "END;\n"
                  "CREATE VIEW refs (db_id, nlo, first_seq, last_seq) AS\n"
                  "  SELECT r.db_id, " NAME_SQL(
                      "n.name") ", r.first_seq, r.last_seq\n"
                                "  FROM nlo n JOIN nlo_refs r ON r.nlo_id = n.id;\n",
    /* 7: "not yet backed up" kept (docs/catalog.md, "Version 7"): the live names the last NLO
     * pass left out of the pool, valid with meta's unbacked_mark; taking an object out of
     * the pool (the shell's DELETE on the view too) drops the mark */
    "CREATE TABLE unbacked (name BLOB PRIMARY KEY) WITHOUT ROWID;\n"
    "DROP TRIGGER pool_delete;\n"
    "CREATE TRIGGER pool_delete INSTEAD OF DELETE ON pool BEGIN\n"
    "  UPDATE nlo SET sha256 = NULL, size = NULL, live_subdir = NULL, first_set = NULL,\n"
    "    stored_at = NULL WHERE name = old.key;\n"
    "  UPDATE totals SET value = value - 1 WHERE key = 'pool_objects';\n"
    "  UPDATE totals SET value = value - old.size WHERE key = 'pool_bytes';\n"
    "  DELETE FROM meta WHERE key = 'unbacked_mark';\n"
    "END;\n",
    /* 8: the NLO pass's per-subdirectory pages from the index alone (docs/catalog.md,
     * "Version 8"): a partial index on sha256 IS NOT NULL did not cover them (SQLite read the
     * table row of every name: 8x slower); live_subdir is set only on pool rows */
    "UPDATE nlo SET live_subdir = NULL WHERE sha256 IS NULL AND live_subdir IS NOT NULL;\n"
    "DROP INDEX nlo_subdir;\n"
    "CREATE INDEX nlo_subdir ON nlo(live_subdir, name) WHERE live_subdir IS NOT NULL;\n",
};
#define NMIGRATIONS (int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0])
_Static_assert(NMIGRATIONS == CATALOG_SCHEMA_VERSION, "one migration per schema version");

#define X_SQL(name, sql) sql,
static const char *const SQL[ST_COUNT] = {STATEMENTS(X_SQL)};

int catalog_db_err(struct catalog *c, const char *what)
{
    dv_seterr("catalog %s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
    return -1;
}

int catalog_integrity_check(struct catalog *c)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db, "PRAGMA integrity_check(1)", -1, &s, NULL) != SQLITE_OK)
        return catalog_db_err(c, "integrity_check");
    int rc = sqlite3_step(s);
    int result;
    if (rc == SQLITE_ROW) {
        const char *msg = (const char *)sqlite3_column_text(s, 0);
        if (msg && strcmp(msg, "ok") == 0) {
            result = 0;
        } else {
            dv_seterr("catalog %s is damaged: %s (dvault resync catalog rebuilds it from the "
                      "target)",
                      c->path, msg ? msg : "?");
            result = 1;
        }
    } else {
        dv_seterr("catalog %s is damaged: %s (dvault resync catalog rebuilds it from the target)",
                  c->path, sqlite3_errmsg(c->db));
        result = 1;
    }
    sqlite3_finalize(s);
    return result;
}

/* The statement, prepared once, reset and unbound; NULL with dv_err() set on failure. */
sqlite3_stmt *catalog_stmt(struct catalog *c, int id)
{
    sqlite3_stmt *s = c->st[id];
    if (!s) {
        if (sqlite3_prepare_v3(c->db, SQL[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL) !=
            SQLITE_OK) {
            catalog_db_err(c, "prepare");
            return NULL;
        }
        return c->st[id];
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Step a statement that returns no row; resets it. 0 or -1. */
int catalog_step_done(struct catalog *c, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        catalog_db_err(c, what);
        sqlite3_reset(s);
        return -1;
    }
    sqlite3_reset(s);
    return 0;
}

void catalog_bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* Bind "" as NULL (optional strings). */
void catalog_bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    catalog_bind_text(s, i, v && v[0] ? v : NULL);
}

void catalog_col_copy(sqlite3_stmt *s, int i, char *dst, size_t n)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    size_t len = v && n ? strnlen((const char *)v, n - 1) : 0; /* snprintf's truncation */
    if (len)
        memcpy(dst, v, len);
    if (n)
        dst[len] = '\0';
}

char *catalog_col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v ? dv_strdup((const char *)v) : NULL;
}

int catalog_exec(struct catalog *c, const char *sql, const char *what)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        dv_seterr("catalog %s: %s: %s", c->path, what, msg ? msg : sqlite3_errmsg(c->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* ---- transactions ------------------------------------------------------------------ */

int catalog_begin(struct catalog *c)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_BEGIN);
    return s ? catalog_step_done(c, s, "begin") : -1;
}

/* Staged references (catalog_refs_bulk) are written by the commit of their transaction:
 * before the COMMIT, in it; a failed write fails the commit (the caller rolls back). */
int catalog_commit(struct catalog *c)
{
    if (catalog_stage_flush(c) != 0)
        return -1;
    sqlite3_stmt *s = catalog_stmt(c, ST_COMMIT);
    return s ? catalog_step_done(c, s, "commit") : -1;
}

int catalog_rollback(struct catalog *c)
{
    catalog_stage_clear(c);
    if (sqlite3_get_autocommit(c->db))
        return 0;
    sqlite3_stmt *s = catalog_stmt(c, ST_ROLLBACK);
    return s ? catalog_step_done(c, s, "rollback") : -1;
}

/* Staging a lot: the staged references are written at the start of the next top-level
 * savepoint (outside every savepoint: its rollback must not undo other databases' rows). */
static size_t stage_flush_at = 262144;

void catalog_test_stage_flush_at(size_t n)
{
    stage_flush_at = n ? n : 262144;
}

int catalog_savepoint(struct catalog *c)
{
    if (c->stage.sp_depth == 0 && c->stage.nents >= stage_flush_at && catalog_stage_flush(c) != 0)
        return -1;
    sqlite3_stmt *s = catalog_stmt(c, ST_SAVEPOINT);
    if (!s || catalog_step_done(c, s, "savepoint") != 0)
        return -1;
    if (c->stage.sp_depth++ == 0) {
        c->stage.mark_ents = c->stage.nents;
        c->stage.mark_dbs = c->stage.ndbs;
    }
    return 0;
}

int catalog_savepoint_release(struct catalog *c)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_RELEASE);
    if (!s || catalog_step_done(c, s, "release savepoint") != 0)
        return -1;
    if (c->stage.sp_depth > 0)
        c->stage.sp_depth--;
    return 0;
}

int catalog_savepoint_rollback(struct catalog *c)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_ROLLBACK_TO);
    if (!s || catalog_step_done(c, s, "roll back to savepoint") != 0)
        return -1;
    if (c->stage.sp_depth == 1) { /* what the database staged goes with its rows */
        c->stage.nents = c->stage.mark_ents;
        c->stage.ndbs = c->stage.mark_dbs;
    }
    return catalog_savepoint_release(c);
}

/* Start our own transaction unless the caller has one: *own tells which. */
int catalog_tx_enter(struct catalog *c, bool *own)
{
    *own = sqlite3_get_autocommit(c->db) != 0;
    return *own ? catalog_begin(c) : 0;
}

int catalog_tx_leave(struct catalog *c, bool own, int rc)
{
    if (!own)
        return rc;
    if (rc == 0)
        return catalog_commit(c) == 0 ? 0 : (catalog_rollback(c), -1);
    char saved[DV_ERR_MAX];
    snprintf(saved, sizeof saved, "%s", dv_err());
    catalog_rollback(c);
    dv_seterr("%s", saved);
    return -1;
}

/* ---- open / close ------------------------------------------------------------------ */

static int read_version(struct catalog *c)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
        return -1;
    int v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

/* Two processes (or threads) may open a new catalog at once: each migration step re-reads
 * the version inside its write transaction, so a step another opener did is not redone. */
static int migrate(struct catalog *c)
{
    int v = read_version(c);
    if (v < 0)
        return catalog_db_err(c, "read schema version");
    if (v > CATALOG_SCHEMA_VERSION) {
        dv_seterr("catalog %s: schema version %d is newer than this dvault supports (%d)", c->path,
                  v, CATALOG_SCHEMA_VERSION);
        return -1;
    }
    while (v < NMIGRATIONS) {
        if (catalog_exec(c, "BEGIN IMMEDIATE", "begin migration") != 0)
            return -1;
        int now = read_version(c);
        if (now < 0 || now >= NMIGRATIONS) {
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            if (now < 0)
                return catalog_db_err(c, "read schema version");
            v = now;
            break;
        }
        v = now;
        char what[64], pragma[64];
        snprintf(what, sizeof what, "migration to version %d", v + 1);
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (catalog_exec(c, MIGRATIONS[v], what) != 0 || catalog_exec(c, pragma, what) != 0 ||
            catalog_exec(c, "COMMIT", what) != 0) {
            char saved[DV_ERR_MAX];
            snprintf(saved, sizeof saved, "%s", dv_err());
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            dv_seterr("%s", saved);
            return -1;
        }
        v++;
    }
    if (v > CATALOG_SCHEMA_VERSION) {
        dv_seterr("catalog %s: schema version %d is newer than this dvault supports (%d)", c->path,
                  v, CATALOG_SCHEMA_VERSION);
        return -1;
    }
    c->version = v;
    return 0;
}

/* Open the catalog at path, creating it when create is set (catalog_open), else failing
 * with *missing set when it does not exist (catalog_open_existing). */
static struct catalog *open_catalog(const char *path, bool create, bool *missing, bool reader)
{
    /* Create the file ourselves so that it (and its -wal, -shm, which SQLite gives the
     * same permissions) is 0600 whatever the umask; SQLite itself never creates it. */
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
    if (fd < 0) {
        if (errno == ENOENT && !create) {
            *missing = true;
            dv_seterr("no catalog yet (%s): no backup has run", path);
        } else {
            dv_syserr("catalog %s", path);
        }
        return NULL;
    }
    close(fd);
    struct catalog *c = dv_calloc(1, sizeof *c);
    c->path = dv_strdup(path);
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        catalog_db_err(c, "open");
        catalog_close(c);
        return NULL;
    }
    sqlite3_busy_timeout(c->db, 10000);
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_stmt *s;
    const char *mode = NULL;
    if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) == SQLITE_OK) {
        /* Two processes opening a new catalog at once: switching it to WAL needs it alone,
         * and SQLite reports BUSY at once here (no busy handler): retry, bounded like the
         * busy timeout (10 s). */
        int r;
        for (int tries = 0; (r = sqlite3_step(s)) == SQLITE_BUSY && tries < 1000; tries++) {
            sqlite3_reset(s);
            usleep(10000);
        }
        if (r == SQLITE_ROW)
            mode = (const char *)sqlite3_column_text(s, 0);
        if (!mode || strcmp(mode, "wal") != 0) {
            catalog_db_err(c, "set WAL mode (not a SQLite database?)");
            sqlite3_finalize(s);
            catalog_close(c);
            return NULL;
        }
        sqlite3_finalize(s);
    } else {
        catalog_db_err(c, "set WAL mode");
        catalog_close(c);
        return NULL;
    }
    /* pages read through a mapping, not a pread each (a pass over the pool's names reads
     * the whole NLO table: 17% of its time was pread); writes still go through the WAL */
    sqlite3_exec(c->db, "PRAGMA mmap_size = 1073741824", NULL, NULL, NULL);
    if (catalog_names_register(c) != 0) {
        catalog_close(c);
        return NULL;
    }
    if (reader) { /* never converts: a reader must not take the write lock for minutes */
        int v = read_version(c);
        if (v < 0) {
            catalog_db_err(c, "read schema version");
            catalog_close(c);
            return NULL;
        }
        if (v == 0) { /* an empty file: no backup has written a catalog yet */
            if (missing)
                *missing = true;
            dv_seterr("no catalog yet (%s): no backup has run", path);
            catalog_close(c);
            return NULL;
        }
        if (v < CATALOG_SCHEMA_VERSION) {
            dv_seterr("catalog %s is at schema version %d, this dvault uses %d: a command that "
                      "writes the catalog converts it (dvault backup, prune or resync, or the "
                      "console); a reader never changes it",
                      path, v, CATALOG_SCHEMA_VERSION);
            catalog_close(c);
            return NULL;
        }
    }
    /* migrations run with foreign keys off (a table rebuild must not cascade), then on */
    if (catalog_exec(c, "PRAGMA foreign_keys = OFF; PRAGMA synchronous = NORMAL", "pragmas") != 0 ||
        migrate(c) != 0 || catalog_exec(c, "PRAGMA foreign_keys = ON", "pragmas") != 0) {
        catalog_close(c);
        return NULL;
    }
    return c;
}

struct catalog *catalog_open(const char *path)
{
    return open_catalog(path, true, NULL, false);
}

struct catalog *catalog_open_reader(const char *path, bool *missing)
{
    if (missing)
        *missing = false;
    return open_catalog(path, false, missing, true);
}

struct catalog *catalog_open_existing(const char *path, bool *missing)
{
    bool none = false;
    struct catalog *c = open_catalog(path, false, &none, false);
    if (missing)
        *missing = none;
    return c;
}

void catalog_close(struct catalog *c)
{
    if (!c)
        return;
    catalog_stage_clear(c);
    free(c->stage.ents);
    free(c->stage.dbs);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(c->st[i]);
    sqlite3_close(c->db);
    free(c->path);
    free(c);
}

int catalog_schema_version(struct catalog *c)
{
    return c->version;
}

const char *catalog_path(struct catalog *c)
{
    return c->path;
}

void catalog_cache_mib(struct catalog *c, int mib)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = -%d", mib > 0 ? mib * 1024 : 2048);
    sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

/* ---- databases --------------------------------------------------------------------- */

int catalog_db_lookup(struct catalog *c, const char *path, int64_t *id)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_DB_LOOKUP);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, path);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (id)
            *id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : catalog_db_err(c, "look up database");
}

int catalog_db_upsert(struct catalog *c, const char *path, const char *replica_id,
                      const char *dbiid, int64_t now, int64_t *id)
{
    int64_t found = 0;
    int rc = catalog_db_lookup(c, path, &found);
    if (rc < 0)
        return -1;
    sqlite3_stmt *s;
    if (rc == 0) {
        if (!(s = catalog_stmt(c, ST_DB_INSERT)))
            return -1;
        catalog_bind_text(s, 1, path);
        catalog_bind_opt(s, 2, replica_id);
        catalog_bind_opt(s, 3, dbiid);
        sqlite3_bind_int64(s, 4, now);
        if (catalog_step_done(c, s, "insert database") != 0)
            return -1;
        found = sqlite3_last_insert_rowid(c->db);
    } else {
        if (!(s = catalog_stmt(c, ST_DB_TOUCH)))
            return -1;
        sqlite3_bind_int64(s, 1, found);
        sqlite3_bind_int64(s, 2, now);
        catalog_bind_opt(s, 3, replica_id);
        catalog_bind_opt(s, 4, dbiid);
        if (catalog_step_done(c, s, "update database") != 0)
            return -1;
    }
    if (id)
        *id = found;
    return 0;
}

/* ---- meta -------------------------------------------------------------------------- */

int catalog_meta_get(struct catalog *c, const char *key, char *out, size_t n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_META_GET);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        catalog_col_copy(s, 0, out, n);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return catalog_db_err(c, "read meta");
    if (n)
        out[0] = '\0';
    return 0;
}

int catalog_meta_set(struct catalog *c, const char *key, const char *value)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_META_SET);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    return catalog_step_done(c, s, "write meta");
}

int catalog_meta_each(struct catalog *c, const char *prefix, catalog_meta_fn fn, void *ud,
                      size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_META_PREFIX);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, prefix, -1, SQLITE_STATIC);
    size_t k = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        k++;
        const char *key = (const char *)sqlite3_column_text(s, 0);
        const char *value = (const char *)sqlite3_column_text(s, 1);
        if (fn && (ret = fn(ud, key ? key : "", value ? value : "")) != 0)
            break;
    }
    sqlite3_reset(s);
    if (ret == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        return catalog_db_err(c, "read meta");
    if (n)
        *n = k;
    return ret;
}

int catalog_set_count(struct catalog *c, int64_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_SET_COUNT);
    if (!s)
        return -1;
    if (sqlite3_step(s) != SQLITE_ROW) {
        catalog_db_err(c, "count sets");
        sqlite3_reset(s);
        return -1;
    }
    *n = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

/* catalog.c - see catalog.h; schema in docs/catalog.md. */
#include "catalog.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "util.h"

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
};
#define NMIGRATIONS (int)(sizeof MIGRATIONS / sizeof MIGRATIONS[0])
_Static_assert(NMIGRATIONS == CATALOG_SCHEMA_VERSION, "one migration per schema version");

#define SET_COLS                                                                                   \
    "id, seq, kind, started, ended, status, pid, databases, nlo_new, nlo_held, nlo_skipped, "      \
    "deltas_applied, deltas_kept, bytes, checkpoint, origin, message, pruning"
#define SET_COLS_S                                                                                 \
    "s.id, s.seq, s.kind, s.started, s.ended, s.status, s.pid, s.databases, s.nlo_new, "           \
    "s.nlo_held, s.nlo_skipped, s.deltas_applied, s.deltas_kept, s.bytes, s.checkpoint, "          \
    "s.origin, s.message, s.pruning"
#define FILE_COLS                                                                                  \
    "f.set_id, f.db_id, d.path, f.path, f.size, f.sha256, f.page_size, f.replica_id, f.dbiid, "    \
    "f.delta_mode, f.delta_pages, f.delta_location, f.delta_sha256, f.locked_copy"
#define POOL_COLS "name, sha256, size, live_subdir, first_set, stored_at"

/* Every statement of the module, prepared on first use and kept for the handle's life. */
#define STATEMENTS(X)                                                                              \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(DB_LOOKUP, "SELECT id FROM databases WHERE path = ?1")                                       \
    X(DB_INSERT, "INSERT INTO databases (path, replica_id, dbiid, first_seen, last_seen) "         \
                 "VALUES (?1, ?2, ?3, ?4, ?4)")                                                    \
    X(DB_TOUCH, "UPDATE databases SET last_seen = ?2, replica_id = coalesce(?3, replica_id), "     \
                "dbiid = coalesce(?4, dbiid) WHERE id = ?1")                                       \
    X(DB_LAST_REF, "SELECT last_ref_seq FROM databases WHERE id = ?1")                             \
    X(DB_SET_LAST_REF, "UPDATE databases SET last_ref_seq = ?2 WHERE id = ?1")                     \
    X(SET_MAXSEQ, "SELECT coalesce(max(seq), 0) FROM sets")                                        \
    X(SET_INSERT, "INSERT INTO sets (id, seq, kind, started, status, pid, origin) "                \
                  "VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6)")                                    \
    X(SET_FINISH, "UPDATE sets SET status = ?2, ended = ?3, databases = ?4, nlo_new = ?5, "        \
                  "nlo_held = ?6, nlo_skipped = ?7, deltas_applied = ?8, deltas_kept = ?9, "       \
                  "bytes = ?10, checkpoint = ?11, message = ?12 WHERE id = ?1")                    \
    X(SET_FAIL, "UPDATE sets SET status = 'failed', ended = ?2, message = ?3 WHERE id = ?1")       \
    X(SET_RUNNING, "SELECT id, pid FROM sets WHERE status = 'running'")                            \
    X(SET_GET, "SELECT " SET_COLS " FROM sets WHERE id = ?1")                                      \
    X(SET_LATEST, "SELECT " SET_COLS " FROM sets ORDER BY seq DESC LIMIT 1")                       \
    X(SET_LATEST_OK,                                                                               \
      "SELECT " SET_COLS " FROM sets WHERE status = 'complete' AND pruning IS NULL "               \
      "ORDER BY seq DESC LIMIT 1")                                                                 \
    X(SET_LATEST_USABLE, "SELECT " SET_COLS " FROM sets WHERE status IN ('complete', 'partial') "  \
                         "AND pruning IS NULL ORDER BY seq DESC LIMIT 1")                          \
    X(SET_LIST, "SELECT " SET_COLS " FROM sets WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2")         \
    X(SET_NEWER, "SELECT " SET_COLS " FROM sets WHERE seq > ?1 ORDER BY seq LIMIT ?2")             \
    X(DB_LAST_SET,                                                                                 \
      "SELECT " SET_COLS_S " FROM sets s JOIN set_files f ON f.set_id = s.id "                     \
      "JOIN databases d ON d.id = f.db_id WHERE d.path = ?1 "                                      \
      "AND (?2 = 0 OR s.status IN ('complete', 'partial')) ORDER BY s.seq DESC LIMIT 1")           \
    X(FILE_ADD, "INSERT OR REPLACE INTO set_files (set_id, db_id, path, size, sha256, "            \
                "page_size, replica_id, dbiid, delta_mode, delta_pages, delta_location, "          \
                "delta_sha256, locked_copy) "                                                      \
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")                 \
    X(FILE_MOVE, "UPDATE set_files SET delta_location = ?3 WHERE set_id = ?1 AND db_id = ?2")      \
    X(FILE_LIST, "SELECT " FILE_COLS " FROM set_files f JOIN databases d ON d.id = f.db_id "       \
                 "WHERE f.set_id = ?1 ORDER BY d.path")                                            \
    X(FILE_GET, "SELECT " FILE_COLS " FROM set_files f JOIN databases d ON d.id = f.db_id "        \
                "WHERE f.set_id = ?1 AND d.path = ?2")                                             \
    X(POOL_GET, "SELECT " POOL_COLS " FROM pool WHERE name = ?1")                                  \
    X(POOL_UPSERT, "INSERT INTO pool (" POOL_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6) "             \
                   "ON CONFLICT (name) DO UPDATE SET live_subdir = excluded.live_subdir")          \
    X(POOL_SUBDIR_PAGE, "SELECT name FROM pool WHERE live_subdir = ?1 AND name > ?2 "              \
                        "ORDER BY name LIMIT ?3")                                                  \
    X(POOL_PAGE, "SELECT " POOL_COLS " FROM pool WHERE name > ?1 ORDER BY name LIMIT ?2")          \
    X(POOL_NAME_PAGE, "SELECT name FROM pool WHERE name > ?1 ORDER BY name LIMIT ?2")              \
    X(POOL_REPAIR, "UPDATE pool SET sha256 = ?2, size = ?3, live_subdir = ?4 WHERE name = ?1")     \
    X(POOL_PAGE_BACK, "SELECT " POOL_COLS " FROM pool WHERE (?1 = '' OR name < ?1) "               \
                      "ORDER BY name DESC LIMIT ?2")                                               \
    X(POOL_STATS, "SELECT count(*), coalesce(sum(size), 0) FROM pool")                             \
    X(POOL_DELETE, "DELETE FROM pool WHERE name = ?1")                                             \
    X(REFS_OPEN_PAGE, "SELECT nlo FROM refs WHERE db_id = ?1 AND last_seq IS NULL "                \
                      "AND nlo > ?2 ORDER BY nlo LIMIT ?3")                                        \
    X(REFS_OPEN, "INSERT INTO refs (db_id, nlo, first_seq, last_seq) VALUES (?1, ?2, ?3, NULL)")   \
    X(REFS_CLOSE, "UPDATE refs SET last_seq = ?3 WHERE db_id = ?1 AND nlo = ?2 "                   \
                  "AND last_seq IS NULL")                                                          \
    X(NLO_SETS, "SELECT " SET_COLS_S " FROM sets s WHERE s.seq = (SELECT first_set FROM pool "     \
                "WHERE name = ?1) OR s.id IN (SELECT f.set_id FROM refs r "                        \
                "JOIN set_files f ON f.db_id = r.db_id JOIN sets t ON t.id = f.set_id "            \
                "WHERE r.nlo = ?1 AND t.seq >= r.first_seq AND (r.last_seq IS NULL OR t.seq <= "   \
                "r.last_seq)) "                                                                    \
                "ORDER BY s.seq DESC")                                                             \
    X(SET_INSERT_FULL,                                                                             \
      "INSERT INTO sets (" SET_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "     \
      "?12, ?13, ?14, ?15, ?16, ?17, ?18)")                                                        \
    X(SET_MARK_PRUNING, "UPDATE sets SET pruning = ?2 WHERE id = ?1")                              \
    X(SET_DELETE_FILES, "DELETE FROM set_files WHERE set_id = ?1")                                 \
    X(SET_DELETE, "DELETE FROM sets WHERE id = ?1")                                                \
    X(SET_DELETE_FAILURES, "DELETE FROM set_failures WHERE set_id = ?1")                           \
    X(FAILURE_ADD, "INSERT OR REPLACE INTO set_failures (set_id, db_path, reason) "                \
                   "VALUES (?1, ?2, ?3)")                                                          \
    X(FAILURE_LIST, "SELECT f.set_id, s.seq, f.db_path, f.reason FROM set_failures f "             \
                    "JOIN sets s ON s.id = f.set_id WHERE f.set_id = ?1 ORDER BY f.db_path")       \
    X(FAILURE_GET, "SELECT f.set_id, s.seq, f.db_path, f.reason FROM set_failures f "              \
                   "JOIN sets s ON s.id = f.set_id WHERE f.set_id = ?1 AND f.db_path = ?2")        \
    X(FAILURE_LATEST, "SELECT f.set_id, s.seq, f.db_path, f.reason FROM set_failures f "           \
                      "JOIN sets s ON s.id = f.set_id WHERE f.db_path = ?1 "                       \
                      "AND s.status IN ('complete', 'partial') AND s.pruning IS NULL "             \
                      "ORDER BY s.seq DESC LIMIT 1")                                               \
    X(POOL_COUNT_FIRST, "SELECT count(*) FROM pool WHERE first_set = ?1")                          \
    X(SETS_ALL, "SELECT " SET_COLS " FROM sets ORDER BY seq DESC")                                 \
    X(KEEP_CLEAR, "DELETE FROM temp.keep_sets")                                                    \
    X(KEEP_ADD, "INSERT OR IGNORE INTO temp.keep_sets (seq) VALUES (?1)")                          \
    X(NEEDED_CLEAR, "DELETE FROM temp.needed")                                                     \
    X(NEEDED_FIRST, "INSERT OR IGNORE INTO temp.needed (name) SELECT p.name FROM pool p "          \
                    "JOIN temp.keep_sets k ON k.seq = p.first_set")                                \
    X(NEEDED_REFS, "INSERT OR IGNORE INTO temp.needed (name) SELECT r.nlo FROM temp.keep_sets k "  \
                   "JOIN sets s ON s.seq = k.seq JOIN set_files f ON f.set_id = s.id "             \
                   "JOIN refs r ON r.db_id = f.db_id AND r.first_seq <= s.seq "                    \
                   "AND (r.last_seq IS NULL OR r.last_seq >= s.seq)")                              \
    X(NEEDED_COUNT, "SELECT count(*) FROM temp.needed")                                            \
    X(NEEDED_PAGE, "SELECT name FROM temp.needed WHERE name > ?1 ORDER BY name LIMIT ?2")          \
    X(UNNEEDED_PAGE, "SELECT " POOL_COLS " FROM pool WHERE name > ?1 AND name NOT IN "             \
                     "(SELECT name FROM temp.needed) ORDER BY name LIMIT ?2")                      \
    X(JOB_START, "INSERT INTO jobs (kind, started, status) VALUES (?1, ?2, 'running')")            \
    X(JOB_END, "UPDATE jobs SET ended = ?2, status = ?3, message = ?4 WHERE id = ?1")              \
    X(JOBS_OLDER, "SELECT id, kind, started, ended, status, message FROM jobs WHERE id < ?1 "      \
                  "ORDER BY id DESC LIMIT ?2")                                                     \
    X(JOBS_NEWER, "SELECT id, kind, started, ended, status, message FROM jobs WHERE id > ?1 "      \
                  "ORDER BY id LIMIT ?2")                                                          \
    X(EVENT_ADD, "INSERT INTO events (job_id, time, level, message) VALUES (?1, ?2, ?3, ?4)")      \
    X(EVENTS_JOB, "SELECT id, job_id, time, level, message FROM events WHERE job_id = ?1 "         \
                  "AND id > ?2 ORDER BY id LIMIT ?3")                                              \
    X(EVENTS_ALL, "SELECT id, job_id, time, level, message FROM events WHERE id > ?2 "             \
                  "ORDER BY id LIMIT ?3")                                                          \
    X(META_GET, "SELECT value FROM meta WHERE key = ?1")                                           \
    X(META_SET, "INSERT INTO meta (key, value) VALUES (?1, ?2) "                                   \
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value")                          \
    X(META_PREFIX, "SELECT key, value FROM meta WHERE substr(key, 1, length(?1)) = ?1 "            \
                   "ORDER BY key")                                                                 \
    X(SET_COUNT, "SELECT count(*) FROM sets")

#define X_ENUM(name, sql) ST_##name,
#define X_SQL(name, sql) sql,
enum { STATEMENTS(X_ENUM) ST_COUNT };
static const char *const SQL[ST_COUNT] = {STATEMENTS(X_SQL)};

struct catalog {
    sqlite3 *db;
    char *path;
    int version;
    bool temp_ready; /* temp tables of prune support created */
    sqlite3_stmt *st[ST_COUNT];
};

static int db_err(struct catalog *c, const char *what)
{
    dv_seterr("catalog %s: %s: %s", c->path, what, sqlite3_errmsg(c->db));
    return -1;
}

int catalog_integrity_check(struct catalog *c)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db, "PRAGMA integrity_check(1)", -1, &s, NULL) != SQLITE_OK)
        return db_err(c, "integrity_check");
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
static sqlite3_stmt *stmt(struct catalog *c, int id)
{
    sqlite3_stmt *s = c->st[id];
    if (!s) {
        if (sqlite3_prepare_v3(c->db, SQL[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL) !=
            SQLITE_OK) {
            db_err(c, "prepare");
            return NULL;
        }
        return c->st[id];
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

/* Step a statement that returns no row; resets it. 0 or -1. */
static int step_done(struct catalog *c, sqlite3_stmt *s, const char *what)
{
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        db_err(c, what);
        sqlite3_reset(s);
        return -1;
    }
    sqlite3_reset(s);
    return 0;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

/* Bind "" as NULL (optional strings). */
static void bind_opt(sqlite3_stmt *s, int i, const char *v)
{
    bind_text(s, i, v && v[0] ? v : NULL);
}

static void col_copy(sqlite3_stmt *s, int i, char *dst, size_t n)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    size_t len = v && n ? strnlen((const char *)v, n - 1) : 0; /* snprintf's truncation */
    if (len)
        memcpy(dst, v, len);
    if (n)
        dst[len] = '\0';
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    const unsigned char *v = sqlite3_column_text(s, i);
    return v ? dv_strdup((const char *)v) : NULL;
}

static int exec(struct catalog *c, const char *sql, const char *what)
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
    sqlite3_stmt *s = stmt(c, ST_BEGIN);
    return s ? step_done(c, s, "begin") : -1;
}

int catalog_commit(struct catalog *c)
{
    sqlite3_stmt *s = stmt(c, ST_COMMIT);
    return s ? step_done(c, s, "commit") : -1;
}

int catalog_rollback(struct catalog *c)
{
    if (sqlite3_get_autocommit(c->db))
        return 0;
    sqlite3_stmt *s = stmt(c, ST_ROLLBACK);
    return s ? step_done(c, s, "rollback") : -1;
}

/* Start our own transaction unless the caller has one: *own tells which. */
static int tx_enter(struct catalog *c, bool *own)
{
    *own = sqlite3_get_autocommit(c->db) != 0;
    return *own ? catalog_begin(c) : 0;
}

static int tx_leave(struct catalog *c, bool own, int rc)
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
        return db_err(c, "read schema version");
    if (v > CATALOG_SCHEMA_VERSION) {
        dv_seterr("catalog %s: schema version %d is newer than this dvault supports (%d)", c->path,
                  v, CATALOG_SCHEMA_VERSION);
        return -1;
    }
    while (v < NMIGRATIONS) {
        if (exec(c, "BEGIN IMMEDIATE", "begin migration") != 0)
            return -1;
        int now = read_version(c);
        if (now < 0 || now >= NMIGRATIONS) {
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            if (now < 0)
                return db_err(c, "read schema version");
            v = now;
            break;
        }
        v = now;
        char what[64], pragma[64];
        snprintf(what, sizeof what, "migration to version %d", v + 1);
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
        if (exec(c, MIGRATIONS[v], what) != 0 || exec(c, pragma, what) != 0 ||
            exec(c, "COMMIT", what) != 0) {
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

struct catalog *catalog_open(const char *path)
{
    /* Create the file ourselves so that it (and its -wal, -shm, which SQLite gives the
     * same permissions) is 0600 whatever the umask. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        dv_syserr("catalog %s", path);
        return NULL;
    }
    close(fd);
    struct catalog *c = dv_calloc(1, sizeof *c);
    c->path = dv_strdup(path);
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        db_err(c, "open");
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
            db_err(c, "set WAL mode (not a SQLite database?)");
            sqlite3_finalize(s);
            catalog_close(c);
            return NULL;
        }
        sqlite3_finalize(s);
    } else {
        db_err(c, "set WAL mode");
        catalog_close(c);
        return NULL;
    }
    /* migrations run with foreign keys off (a table rebuild must not cascade), then on */
    if (exec(c, "PRAGMA foreign_keys = OFF; PRAGMA synchronous = NORMAL", "pragmas") != 0 ||
        migrate(c) != 0 || exec(c, "PRAGMA foreign_keys = ON", "pragmas") != 0) {
        catalog_close(c);
        return NULL;
    }
    return c;
}

void catalog_close(struct catalog *c)
{
    if (!c)
        return;
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

/* ---- databases --------------------------------------------------------------------- */

int catalog_db_lookup(struct catalog *c, const char *path, int64_t *id)
{
    sqlite3_stmt *s = stmt(c, ST_DB_LOOKUP);
    if (!s)
        return -1;
    bind_text(s, 1, path);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (id)
            *id = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_err(c, "look up database");
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
        if (!(s = stmt(c, ST_DB_INSERT)))
            return -1;
        bind_text(s, 1, path);
        bind_opt(s, 2, replica_id);
        bind_opt(s, 3, dbiid);
        sqlite3_bind_int64(s, 4, now);
        if (step_done(c, s, "insert database") != 0)
            return -1;
        found = sqlite3_last_insert_rowid(c->db);
    } else {
        if (!(s = stmt(c, ST_DB_TOUCH)))
            return -1;
        sqlite3_bind_int64(s, 1, found);
        sqlite3_bind_int64(s, 2, now);
        bind_opt(s, 3, replica_id);
        bind_opt(s, 4, dbiid);
        if (step_done(c, s, "update database") != 0)
            return -1;
    }
    if (id)
        *id = found;
    return 0;
}

/* ---- sets -------------------------------------------------------------------------- */

const char *catalog_set_kind_name(enum catalog_set_kind k)
{
    return k == CATALOG_SET_INCREMENTAL ? "incremental" : "full";
}

const char *catalog_set_status_name(enum catalog_set_status s)
{
    return s == CATALOG_SET_COMPLETE  ? "complete"
           : s == CATALOG_SET_PARTIAL ? "partial"
           : s == CATALOG_SET_FAILED  ? "failed"
                                      : "running";
}

static void read_set(sqlite3_stmt *s, int base, struct catalog_set *o)
{
    memset(o, 0, sizeof *o);
    col_copy(s, base + 0, o->id, sizeof o->id);
    o->seq = sqlite3_column_int64(s, base + 1);
    const char *k = (const char *)sqlite3_column_text(s, base + 2);
    o->kind = k && strcmp(k, "incremental") == 0 ? CATALOG_SET_INCREMENTAL : CATALOG_SET_FULL;
    o->started = sqlite3_column_int64(s, base + 3);
    o->ended = sqlite3_column_int64(s, base + 4);
    const char *st = (const char *)sqlite3_column_text(s, base + 5);
    o->status = !st                           ? CATALOG_SET_RUNNING
                : strcmp(st, "complete") == 0 ? CATALOG_SET_COMPLETE
                : strcmp(st, "partial") == 0  ? CATALOG_SET_PARTIAL
                : strcmp(st, "failed") == 0   ? CATALOG_SET_FAILED
                                              : CATALOG_SET_RUNNING;
    o->pid = sqlite3_column_int64(s, base + 6);
    o->databases = sqlite3_column_int64(s, base + 7);
    o->nlo_new = sqlite3_column_int64(s, base + 8);
    o->nlo_held = sqlite3_column_int64(s, base + 9);
    o->nlo_skipped = sqlite3_column_int64(s, base + 10);
    o->deltas_applied = sqlite3_column_int64(s, base + 11);
    o->deltas_kept = sqlite3_column_int64(s, base + 12);
    o->bytes = sqlite3_column_int64(s, base + 13);
    col_copy(s, base + 14, o->checkpoint, sizeof o->checkpoint);
    col_copy(s, base + 15, o->origin, sizeof o->origin);
    col_copy(s, base + 16, o->message, sizeof o->message);
    o->pruning = sqlite3_column_int64(s, base + 17);
}

int catalog_set_create(struct catalog *c, const char *id, enum catalog_set_kind kind,
                       int64_t started, int64_t pid, const char *origin, int64_t *seq)
{
    bool own;
    if (tx_enter(c, &own) != 0)
        return -1;
    int rc = -1, taken = 0;
    int64_t next = 0;
    /* the id is checked in the same (IMMEDIATE) transaction as the insert: two backups of
     * two targets sharing this catalog cannot both take it */
    sqlite3_stmt *s = stmt(c, ST_SET_GET);
    if (!s)
        goto out;
    bind_text(s, 1, id);
    int g = sqlite3_step(s);
    sqlite3_reset(s);
    if (g == SQLITE_ROW) {
        taken = 1;
        rc = 0;
        goto out;
    }
    if (g != SQLITE_DONE) {
        db_err(c, "look up set");
        goto out;
    }
    if (!(s = stmt(c, ST_SET_MAXSEQ)))
        goto out;
    if (sqlite3_step(s) != SQLITE_ROW) {
        db_err(c, "read set sequence");
        goto out;
    }
    int64_t top = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (top < 0 || top >= CATALOG_SEQ_MAX) { /* never past 2^53 - 1: no overflow, no clash */
        dv_seterr("catalog %s: the newest set has seq %lld, the most a set may have is %lld: "
                  "the catalog is damaged (`dvault resync catalog` rebuilds it)",
                  c->path, (long long)top, (long long)CATALOG_SEQ_MAX);
        goto out;
    }
    next = top + 1;
    if (!(s = stmt(c, ST_SET_INSERT)))
        goto out;
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, next);
    bind_text(s, 3, catalog_set_kind_name(kind));
    sqlite3_bind_int64(s, 4, started);
    sqlite3_bind_int64(s, 5, pid);
    bind_opt(s, 6, origin);
    if (step_done(c, s, "create set") != 0) {
        dv_preferr("set %s", id);
        goto out;
    }
    rc = 0;
out:
    if (tx_leave(c, own, rc) != 0)
        return -1;
    if (taken) {
        dv_seterr("catalog %s: set id %s is taken", c->path, id);
        return 1;
    }
    if (seq)
        *seq = next;
    return 0;
}

int catalog_set_finish(struct catalog *c, const struct catalog_set *o)
{
    sqlite3_stmt *s = stmt(c, ST_SET_FINISH);
    if (!s)
        return -1;
    bind_text(s, 1, o->id);
    bind_text(s, 2, catalog_set_status_name(o->status));
    sqlite3_bind_int64(s, 3, o->ended);
    sqlite3_bind_int64(s, 4, o->databases);
    sqlite3_bind_int64(s, 5, o->nlo_new);
    sqlite3_bind_int64(s, 6, o->nlo_held);
    sqlite3_bind_int64(s, 7, o->nlo_skipped);
    sqlite3_bind_int64(s, 8, o->deltas_applied);
    sqlite3_bind_int64(s, 9, o->deltas_kept);
    sqlite3_bind_int64(s, 10, o->bytes);
    bind_opt(s, 11, o->checkpoint);
    bind_opt(s, 12, o->message);
    if (step_done(c, s, "finish set") != 0)
        return -1;
    if (sqlite3_changes(c->db) != 1) {
        dv_seterr("catalog %s: no set %s", c->path, o->id);
        return -1;
    }
    return 0;
}

int catalog_set_fail(struct catalog *c, const char *id, int64_t ended, const char *message)
{
    sqlite3_stmt *s = stmt(c, ST_SET_FAIL);
    if (!s)
        return -1;
    bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, ended);
    bind_opt(s, 3, message);
    if (step_done(c, s, "fail set") != 0)
        return -1;
    if (sqlite3_changes(c->db) != 1) {
        dv_seterr("catalog %s: no set %s", c->path, id);
        return -1;
    }
    return 0;
}

int catalog_set_insert(struct catalog *c, const struct catalog_set *o)
{
    sqlite3_stmt *s = stmt(c, ST_SET_INSERT_FULL);
    if (!s)
        return -1;
    bind_text(s, 1, o->id);
    sqlite3_bind_int64(s, 2, o->seq);
    bind_text(s, 3, catalog_set_kind_name(o->kind));
    sqlite3_bind_int64(s, 4, o->started);
    if (o->ended > 0)
        sqlite3_bind_int64(s, 5, o->ended);
    else
        sqlite3_bind_null(s, 5);
    bind_text(s, 6, catalog_set_status_name(o->status));
    sqlite3_bind_int64(s, 7, o->pid);
    sqlite3_bind_int64(s, 8, o->databases);
    sqlite3_bind_int64(s, 9, o->nlo_new);
    sqlite3_bind_int64(s, 10, o->nlo_held);
    sqlite3_bind_int64(s, 11, o->nlo_skipped);
    sqlite3_bind_int64(s, 12, o->deltas_applied);
    sqlite3_bind_int64(s, 13, o->deltas_kept);
    sqlite3_bind_int64(s, 14, o->bytes);
    bind_opt(s, 15, o->checkpoint);
    bind_opt(s, 16, o->origin);
    bind_opt(s, 17, o->message);
    if (o->pruning > 0)
        sqlite3_bind_int64(s, 18, o->pruning);
    else
        sqlite3_bind_null(s, 18);
    if (step_done(c, s, "insert set") != 0) {
        dv_preferr("set %s", o->id);
        return -1;
    }
    return 0;
}

int catalog_set_mark_pruning(struct catalog *c, const char *id, int64_t now)
{
    /* The mark must be on disk before any file of the set is deleted: this one commit is
     * made with synchronous = FULL (the handle's default NORMAL defers WAL fsyncs). */
    if (!sqlite3_get_autocommit(c->db)) {
        dv_seterr("catalog %s: mark set %s pruning: not inside a transaction", c->path, id);
        return -1;
    }
    if (exec(c, "PRAGMA synchronous = FULL", "pragmas") != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s = stmt(c, ST_SET_MARK_PRUNING);
    if (s) {
        bind_text(s, 1, id);
        sqlite3_bind_int64(s, 2, now);
        rc = step_done(c, s, "mark set pruning");
        if (rc == 0 && sqlite3_changes(c->db) != 1) {
            dv_seterr("catalog %s: no set %s", c->path, id);
            rc = -1;
        }
    }
    char saved[DV_ERR_MAX];
    snprintf(saved, sizeof saved, "%s", dv_err());
    exec(c, "PRAGMA synchronous = NORMAL", "pragmas");
    if (rc != 0)
        dv_seterr("%s", saved);
    return rc;
}

int catalog_set_delete(struct catalog *c, const char *id)
{
    bool own;
    if (tx_enter(c, &own) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s = stmt(c, ST_SET_DELETE_FILES);
    if (!s || (bind_text(s, 1, id), step_done(c, s, "delete set files")) != 0)
        goto out;
    if (!(s = stmt(c, ST_SET_DELETE_FAILURES)) ||
        (bind_text(s, 1, id), step_done(c, s, "delete set failures")) != 0)
        goto out;
    if (!(s = stmt(c, ST_SET_DELETE)))
        goto out;
    bind_text(s, 1, id);
    if (step_done(c, s, "delete set") != 0)
        goto out;
    rc = 0;
out:
    return tx_leave(c, own, rc);
}

int catalog_sets_fail_stale(struct catalog *c, bool lock_held, int64_t now, int *n)
{
    /* Collect first (a few rows at most), then update. */
    struct {
        char id[32];
        int64_t pid;
    } stale[64];
    int nstale = 0, total = 0;
    for (;;) {
        sqlite3_stmt *s = stmt(c, ST_SET_RUNNING);
        if (!s)
            return -1;
        nstale = 0;
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW && nstale < 64) {
            int64_t pid = sqlite3_column_int64(s, 1);
            bool dead = pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
            if (dead || (lock_held && pid != (int64_t)getpid())) {
                col_copy(s, 0, stale[nstale].id, sizeof stale[nstale].id);
                stale[nstale].pid = pid;
                nstale++;
            }
        }
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return db_err(c, "list running sets");
        for (int i = 0; i < nstale; i++) {
            char msg[128];
            snprintf(msg, sizeof msg, "interrupted: process %lld is gone", (long long)stale[i].pid);
            if (catalog_set_fail(c, stale[i].id, now, msg) != 0)
                return -1;
        }
        total += nstale;
        if (nstale < 64)
            break;
    }
    if (n)
        *n = total;
    return 0;
}

static int get_one_set(struct catalog *c, sqlite3_stmt *s, struct catalog_set *out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (out)
            read_set(s, 0, out);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_err(c, "read set");
}

int catalog_set_get(struct catalog *c, const char *id, struct catalog_set *out)
{
    sqlite3_stmt *s = stmt(c, ST_SET_GET);
    if (!s)
        return -1;
    bind_text(s, 1, id);
    return get_one_set(c, s, out);
}

int catalog_set_latest(struct catalog *c, bool complete_only, struct catalog_set *out)
{
    sqlite3_stmt *s = stmt(c, complete_only ? ST_SET_LATEST_OK : ST_SET_LATEST);
    return s ? get_one_set(c, s, out) : -1;
}

int catalog_set_latest_usable(struct catalog *c, struct catalog_set *out)
{
    sqlite3_stmt *s = stmt(c, ST_SET_LATEST_USABLE);
    return s ? get_one_set(c, s, out) : -1;
}

int catalog_sets_list(struct catalog *c, int64_t before_seq, struct catalog_set *out, size_t max,
                      size_t *n)
{
    sqlite3_stmt *s = stmt(c, ST_SET_LIST);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, before_seq > 0 ? before_seq : INT64_MAX);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        read_set(s, 0, &out[k++]);
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return db_err(c, "list sets");
    *n = k;
    return 0;
}

int catalog_sets_newer(struct catalog *c, int64_t after_seq, struct catalog_set *out, size_t max,
                       size_t *n)
{
    sqlite3_stmt *s = stmt(c, ST_SET_NEWER);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, after_seq);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        read_set(s, 0, &out[k++]);
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return db_err(c, "list sets");
    *n = k;
    return 0;
}

int catalog_db_last_set(struct catalog *c, const char *db_path, bool complete_only,
                        struct catalog_set *out)
{
    sqlite3_stmt *s = stmt(c, ST_DB_LAST_SET);
    if (!s)
        return -1;
    bind_text(s, 1, db_path);
    sqlite3_bind_int(s, 2, complete_only ? 1 : 0);
    return get_one_set(c, s, out);
}

int catalog_sets_each(struct catalog *c, catalog_set_cb cb, void *ud)
{
    /* Paged so that the callback may use the catalog. */
    struct catalog_set page[64];
    int64_t before = 0;
    for (;;) {
        size_t n;
        if (catalog_sets_list(c, before, page, 64, &n) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            int r = cb(ud, &page[i]);
            if (r)
                return r;
        }
        if (n < 64)
            return 0;
        before = page[n - 1].seq;
    }
}

/* ---- databases a set could not copy ------------------------------------------------- */

int catalog_set_failure_add(struct catalog *c, const char *set_id, const char *db_path,
                            const char *reason)
{
    sqlite3_stmt *s = stmt(c, ST_FAILURE_ADD);
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    bind_text(s, 2, db_path);
    bind_text(s, 3, reason ? reason : "");
    if (step_done(c, s, "record a failed database") != 0) {
        dv_preferr("set %s, %s", set_id, db_path);
        return -1;
    }
    return 0;
}

static void read_failure(sqlite3_stmt *s, struct catalog_set_failure *o)
{
    memset(o, 0, sizeof *o);
    col_copy(s, 0, o->set_id, sizeof o->set_id);
    o->seq = sqlite3_column_int64(s, 1);
    col_copy(s, 2, o->db_path, sizeof o->db_path);
    col_copy(s, 3, o->reason, sizeof o->reason);
}

int catalog_set_failures(struct catalog *c, const char *set_id, struct catalog_set_failure **out,
                         size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(c, ST_FAILURE_LIST);
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *out = dv_realloc(*out, cap * sizeof **out);
        }
        read_failure(s, &(*out)[(*n)++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return db_err(c, "list failed databases");
    }
    return 0;
}

static int get_one_failure(struct catalog *c, sqlite3_stmt *s, struct catalog_set_failure *out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (out)
            read_failure(s, out);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_err(c, "read failed database");
}

int catalog_set_failure_get(struct catalog *c, const char *set_id, const char *db_path,
                            struct catalog_set_failure *out)
{
    sqlite3_stmt *s = stmt(c, ST_FAILURE_GET);
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    bind_text(s, 2, db_path);
    return get_one_failure(c, s, out);
}

int catalog_db_failure_latest(struct catalog *c, const char *db_path,
                              struct catalog_set_failure *out)
{
    sqlite3_stmt *s = stmt(c, ST_FAILURE_LATEST);
    if (!s)
        return -1;
    bind_text(s, 1, db_path);
    return get_one_failure(c, s, out);
}

/* ---- set files --------------------------------------------------------------------- */

int catalog_set_file_add(struct catalog *c, const struct catalog_set_file *f)
{
    sqlite3_stmt *s = stmt(c, ST_FILE_ADD);
    if (!s)
        return -1;
    bind_text(s, 1, f->set_id);
    sqlite3_bind_int64(s, 2, f->db_id);
    bind_text(s, 3, f->path);
    sqlite3_bind_int64(s, 4, f->size);
    bind_text(s, 5, f->sha256 ? f->sha256 : "");
    sqlite3_bind_int64(s, 6, f->page_size);
    bind_opt(s, 7, f->replica_id);
    bind_opt(s, 8, f->dbiid);
    bind_text(s, 9, f->delta_mode == CATALOG_DELTA_KEEP ? "keep" : "apply");
    sqlite3_bind_int64(s, 10, f->delta_pages);
    bind_opt(s, 11, f->delta_location);
    bind_opt(s, 12, f->delta_sha256);
    sqlite3_bind_int(s, 13, f->locked_copy ? 1 : 0);
    if (step_done(c, s, "record set file") != 0) {
        dv_preferr("set %s file %s", f->set_id, f->path);
        return -1;
    }
    return 0;
}

int catalog_set_file_move_delta(struct catalog *c, const char *set_id, int64_t db_id,
                                const char *new_location)
{
    sqlite3_stmt *s = stmt(c, ST_FILE_MOVE);
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    sqlite3_bind_int64(s, 2, db_id);
    bind_text(s, 3, new_location);
    if (step_done(c, s, "move delta") != 0)
        return -1;
    if (sqlite3_changes(c->db) != 1) {
        dv_seterr("catalog %s: set %s has no file for database %lld", c->path, set_id,
                  (long long)db_id);
        return -1;
    }
    return 0;
}

static void read_file_row(sqlite3_stmt *s, struct catalog_set_file *f)
{
    memset(f, 0, sizeof *f);
    f->set_id = col_dup(s, 0);
    f->db_id = sqlite3_column_int64(s, 1);
    f->db_path = col_dup(s, 2);
    f->path = col_dup(s, 3);
    f->size = sqlite3_column_int64(s, 4);
    f->sha256 = col_dup(s, 5);
    f->page_size = sqlite3_column_int64(s, 6);
    f->replica_id = col_dup(s, 7);
    f->dbiid = col_dup(s, 8);
    const char *m = (const char *)sqlite3_column_text(s, 9);
    f->delta_mode = m && strcmp(m, "keep") == 0 ? CATALOG_DELTA_KEEP : CATALOG_DELTA_APPLY;
    f->delta_pages = sqlite3_column_int64(s, 10);
    f->delta_location = col_dup(s, 11);
    f->delta_sha256 = col_dup(s, 12);
    f->locked_copy = sqlite3_column_int(s, 13) != 0;
}

int catalog_set_files(struct catalog *c, const char *set_id, struct catalog_set_file **out,
                      size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = stmt(c, ST_FILE_LIST);
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    size_t k = 0, cap = 0;
    struct catalog_set_file *v = NULL;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 16;
            v = dv_realloc(v, cap * sizeof *v);
        }
        read_file_row(s, &v[k++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        catalog_set_files_free(v, k);
        return db_err(c, "list set files");
    }
    *out = v;
    *n = k;
    return 0;
}

int catalog_set_file_get(struct catalog *c, const char *set_id, const char *db_path,
                         struct catalog_set_file *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = stmt(c, ST_FILE_GET);
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    bind_text(s, 2, db_path);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_file_row(s, out);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_err(c, "read set file");
}

void catalog_set_file_done(struct catalog_set_file *f)
{
    if (!f)
        return;
    free(f->set_id);
    free(f->db_path);
    free(f->path);
    free(f->sha256);
    free(f->replica_id);
    free(f->dbiid);
    free(f->delta_location);
    free(f->delta_sha256);
    memset(f, 0, sizeof *f);
}

void catalog_set_files_free(struct catalog_set_file *files, size_t n)
{
    if (!files)
        return;
    for (size_t i = 0; i < n; i++)
        catalog_set_file_done(&files[i]);
    free(files);
}

/* ---- pool -------------------------------------------------------------------------- */

static void read_pool(sqlite3_stmt *s, struct catalog_pool_obj *o)
{
    memset(o, 0, sizeof *o);
    col_copy(s, 0, o->name, sizeof o->name);
    col_copy(s, 1, o->sha256, sizeof o->sha256);
    o->size = sqlite3_column_int64(s, 2);
    o->live_subdir = sqlite3_column_int64(s, 3);
    o->first_set = sqlite3_column_int64(s, 4);
    o->stored_at = sqlite3_column_int64(s, 5);
}

int catalog_pool_get(struct catalog *c, const char *name, struct catalog_pool_obj *out)
{
    sqlite3_stmt *s = stmt(c, ST_POOL_GET);
    if (!s)
        return -1;
    bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (out)
            read_pool(s, out);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : db_err(c, "look up pool object");
}

/* One statement per object in one transaction (or the caller's): the insert binds every
 * column, the repair the first four (name, sha256, size, live_subdir). */
static int pool_batch(struct catalog *c, const struct catalog_pool_obj *objs, size_t n, int st,
                      bool all_columns, const char *what)
{
    if (n == 0)
        return 0;
    bool own;
    if (tx_enter(c, &own) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_stmt *s = stmt(c, st);
        if (!s) {
            rc = -1;
            break;
        }
        const struct catalog_pool_obj *o = &objs[i];
        bind_text(s, 1, o->name);
        bind_text(s, 2, o->sha256);
        sqlite3_bind_int64(s, 3, o->size);
        sqlite3_bind_int64(s, 4, o->live_subdir);
        if (all_columns) {
            sqlite3_bind_int64(s, 5, o->first_set);
            sqlite3_bind_int64(s, 6, o->stored_at);
        }
        rc = step_done(c, s, what);
    }
    return tx_leave(c, own, rc);
}

int catalog_pool_insert_batch(struct catalog *c, const struct catalog_pool_obj *objs, size_t n)
{
    return pool_batch(c, objs, n, ST_POOL_UPSERT, true, "insert pool object");
}

static int name_page(struct catalog *c, sqlite3_stmt *s, char (*names)[CATALOG_NLO_NAME_LEN + 1],
                     size_t max, size_t *n, const char *what)
{
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        col_copy(s, 0, names[k++], CATALOG_NLO_NAME_LEN + 1);
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return db_err(c, what);
    *n = k;
    return 0;
}

int catalog_pool_subdir_page(struct catalog *c, int64_t live_subdir, const char *after,
                             char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    sqlite3_stmt *s = stmt(c, ST_POOL_SUBDIR_PAGE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, live_subdir);
    bind_text(s, 2, after ? after : "");
    sqlite3_bind_int64(s, 3, (int64_t)max);
    return name_page(c, s, names, max, n, "list pool subdirectory");
}

int catalog_pool_repair_batch(struct catalog *c, const struct catalog_pool_obj *objs, size_t n)
{
    return pool_batch(c, objs, n, ST_POOL_REPAIR, false, "record repaired pool object");
}

int catalog_pool_name_page(struct catalog *c, const char *after,
                           char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    sqlite3_stmt *s = stmt(c, ST_POOL_NAME_PAGE);
    if (!s)
        return -1;
    bind_text(s, 1, after ? after : "");
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return name_page(c, s, names, max, n, "list pool names");
}

static int pool_page(struct catalog *c, sqlite3_stmt *s, struct catalog_pool_obj *out, size_t max,
                     size_t *n)
{
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        read_pool(s, &out[k++]);
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return db_err(c, "list pool");
    *n = k;
    return 0;
}

int catalog_pool_page(struct catalog *c, const char *after, struct catalog_pool_obj *out,
                      size_t max, size_t *n)
{
    sqlite3_stmt *s = stmt(c, ST_POOL_PAGE);
    if (!s)
        return -1;
    bind_text(s, 1, after ? after : "");
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return pool_page(c, s, out, max, n);
}

int catalog_pool_count_first_set(struct catalog *c, int64_t seq, int64_t *count)
{
    sqlite3_stmt *s = stmt(c, ST_POOL_COUNT_FIRST);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, seq);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return db_err(c, "count pool objects of a set");
    }
    *count = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

int catalog_pool_page_back(struct catalog *c, const char *before, struct catalog_pool_obj *out,
                           size_t max, size_t *n)
{
    sqlite3_stmt *s = stmt(c, ST_POOL_PAGE_BACK);
    if (!s)
        return -1;
    bind_text(s, 1, before ? before : "");
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return pool_page(c, s, out, max, n);
}

int catalog_pool_stats(struct catalog *c, int64_t *count, int64_t *bytes)
{
    sqlite3_stmt *s = stmt(c, ST_POOL_STATS);
    if (!s)
        return -1;
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return db_err(c, "pool stats");
    }
    if (count)
        *count = sqlite3_column_int64(s, 0);
    if (bytes)
        *bytes = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    return 0;
}

int catalog_pool_delete(struct catalog *c, const char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t n)
{
    bool own;
    if (tx_enter(c, &own) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_stmt *s = stmt(c, ST_POOL_DELETE);
        if (!s) {
            rc = -1;
            break;
        }
        bind_text(s, 1, names[i]);
        rc = step_done(c, s, "delete pool object");
    }
    return tx_leave(c, own, rc);
}

/* ---- references -------------------------------------------------------------------- */

#define REFS_PAGE 1024

int catalog_refs_record(struct catalog *c, int64_t db_id, int64_t set_seq, const char *const *names,
                        size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) > 0) {
            dv_seterr("catalog: references of database %lld are not sorted (%s after %s)",
                      (long long)db_id, names[i], names[i - 1]);
            return -1;
        }
    bool own;
    if (tx_enter(c, &own) != 0)
        return -1;
    int rc = -1;
    char(*page)[CATALOG_NLO_NAME_LEN + 1] = dv_malloc(REFS_PAGE * sizeof *page);
    int64_t prev = 0;
    sqlite3_stmt *s = stmt(c, ST_DB_LAST_REF);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, db_id);
    int r = sqlite3_step(s);
    if (r != SQLITE_ROW) {
        sqlite3_reset(s);
        if (r == SQLITE_DONE)
            dv_seterr("catalog %s: no database %lld", c->path, (long long)db_id);
        else
            db_err(c, "read database");
        goto out;
    }
    prev = sqlite3_column_int64(s, 0); /* NULL -> 0: never recorded */
    sqlite3_reset(s);
    if (set_seq <= prev) {
        dv_seterr("catalog: references of database %lld already recorded up to set seq %lld "
                  "(got %lld)",
                  (long long)db_id, (long long)prev, (long long)set_seq);
        goto out;
    }

    /* Merge the sorted list with the open ranges, paged in name order. Rows written below
     * are always before the current page position, so paging stays consistent. */
    size_t i = 0, np = 0, j = 0;
    bool more = true;
    char last[CATALOG_NLO_NAME_LEN + 1] = "";
    for (;;) {
        if (j == np && more) {
            if (!(s = stmt(c, ST_REFS_OPEN_PAGE)))
                goto out;
            sqlite3_bind_int64(s, 1, db_id);
            bind_text(s, 2, last);
            sqlite3_bind_int64(s, 3, REFS_PAGE);
            if (name_page(c, s, page, REFS_PAGE, &np, "read references") != 0)
                goto out;
            j = 0;
            more = np == REFS_PAGE;
            if (np)
                memcpy(last, page[np - 1], sizeof last);
        }
        /* Skip duplicates in the input. */
        while (i > 0 && i < n && strcmp(names[i], names[i - 1]) == 0)
            i++;
        bool have_r = j < np, have_l = i < n;
        if (!have_r && !have_l)
            break;
        int cmp = !have_r ? -1 : !have_l ? 1 : strcmp(names[i], page[j]);
        if (cmp == 0) {
            i++;
            j++;
            continue;
        }
        if (cmp < 0) {
            if (!(s = stmt(c, ST_REFS_OPEN)))
                goto out;
            sqlite3_bind_int64(s, 1, db_id);
            bind_text(s, 2, names[i]);
            sqlite3_bind_int64(s, 3, set_seq);
            if (step_done(c, s, "open reference") != 0)
                goto out;
            i++;
        } else {
            if (!(s = stmt(c, ST_REFS_CLOSE)))
                goto out;
            sqlite3_bind_int64(s, 1, db_id);
            bind_text(s, 2, page[j]);
            sqlite3_bind_int64(s, 3, prev);
            if (step_done(c, s, "close reference") != 0)
                goto out;
            j++;
        }
    }
    if (!(s = stmt(c, ST_DB_SET_LAST_REF)))
        goto out;
    sqlite3_bind_int64(s, 1, db_id);
    sqlite3_bind_int64(s, 2, set_seq);
    if (step_done(c, s, "record reference seq") != 0)
        goto out;
    rc = 0;
out:
    free(page);
    return tx_leave(c, own, rc);
}

int catalog_nlo_sets(struct catalog *c, const char *name, catalog_set_cb cb, void *ud)
{
    /* Collect first so that the callback may use the catalog. */
    sqlite3_stmt *s = stmt(c, ST_NLO_SETS);
    if (!s)
        return -1;
    bind_text(s, 1, name);
    size_t k = 0, cap = 0;
    struct catalog_set *v = NULL;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            v = dv_realloc(v, cap * sizeof *v);
        }
        read_set(s, 0, &v[k++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(v);
        return db_err(c, "sets holding NLO");
    }
    int r = 0;
    for (size_t i = 0; i < k && r == 0; i++)
        r = cb(ud, &v[i]);
    free(v);
    return r;
}

/* ---- prune support ----------------------------------------------------------------- */

static int temp_tables(struct catalog *c)
{
    if (c->temp_ready)
        return 0;
    if (exec(c,
             "CREATE TEMP TABLE IF NOT EXISTS keep_sets (seq INTEGER PRIMARY KEY);"
             "CREATE TEMP TABLE IF NOT EXISTS needed (name TEXT PRIMARY KEY) WITHOUT ROWID;",
             "create temporary tables") != 0)
        return -1;
    c->temp_ready = true;
    return 0;
}

int catalog_needed_compute(struct catalog *c, const int64_t *seqs, size_t nseqs, int64_t *count)
{
    if (temp_tables(c) != 0)
        return -1;
    bool own;
    if (tx_enter(c, &own) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s;
    if (!(s = stmt(c, ST_KEEP_CLEAR)) || step_done(c, s, "clear retained sets") != 0)
        goto out;
    if (!(s = stmt(c, ST_NEEDED_CLEAR)) || step_done(c, s, "clear needed NLOs") != 0)
        goto out;
    for (size_t i = 0; i < nseqs; i++) {
        if (!(s = stmt(c, ST_KEEP_ADD)))
            goto out;
        sqlite3_bind_int64(s, 1, seqs[i]);
        if (step_done(c, s, "add retained set") != 0)
            goto out;
    }
    if (!(s = stmt(c, ST_NEEDED_FIRST)) || step_done(c, s, "NLOs stored by retained sets") != 0)
        goto out;
    if (!(s = stmt(c, ST_NEEDED_REFS)) || step_done(c, s, "NLOs referenced by retained sets") != 0)
        goto out;
    if (count) {
        if (!(s = stmt(c, ST_NEEDED_COUNT)))
            goto out;
        if (sqlite3_step(s) != SQLITE_ROW) {
            sqlite3_reset(s);
            db_err(c, "count needed NLOs");
            goto out;
        }
        *count = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    rc = 0;
out:
    return tx_leave(c, own, rc);
}

int catalog_needed_page(struct catalog *c, const char *after,
                        char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    if (temp_tables(c) != 0)
        return -1;
    sqlite3_stmt *s = stmt(c, ST_NEEDED_PAGE);
    if (!s)
        return -1;
    bind_text(s, 1, after ? after : "");
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return name_page(c, s, names, max, n, "list needed NLOs");
}

int catalog_unneeded_page(struct catalog *c, const char *after, struct catalog_pool_obj *out,
                          size_t max, size_t *n)
{
    if (temp_tables(c) != 0)
        return -1;
    sqlite3_stmt *s = stmt(c, ST_UNNEEDED_PAGE);
    if (!s)
        return -1;
    bind_text(s, 1, after ? after : "");
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return pool_page(c, s, out, max, n);
}

/* ---- jobs and events --------------------------------------------------------------- */

int catalog_job_start(struct catalog *c, const char *kind, int64_t started, int64_t *id)
{
    sqlite3_stmt *s = stmt(c, ST_JOB_START);
    if (!s)
        return -1;
    bind_text(s, 1, kind);
    sqlite3_bind_int64(s, 2, started);
    if (step_done(c, s, "start job") != 0)
        return -1;
    if (id)
        *id = sqlite3_last_insert_rowid(c->db);
    return 0;
}

int catalog_job_end(struct catalog *c, int64_t id, int64_t ended, const char *status,
                    const char *message)
{
    sqlite3_stmt *s = stmt(c, ST_JOB_END);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, ended);
    bind_text(s, 3, status);
    bind_opt(s, 4, message);
    return step_done(c, s, "end job");
}

int catalog_jobs_page(struct catalog *c, int64_t id, bool newer, struct catalog_job *out,
                      size_t max, size_t *n)
{
    sqlite3_stmt *s = stmt(c, newer ? ST_JOBS_NEWER : ST_JOBS_OLDER);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, newer ? id : (id > 0 ? id : INT64_MAX));
    sqlite3_bind_int64(s, 2, (int64_t)max);
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct catalog_job *j = &out[k++];
        memset(j, 0, sizeof *j);
        j->id = sqlite3_column_int64(s, 0);
        col_copy(s, 1, j->kind, sizeof j->kind);
        j->started = sqlite3_column_int64(s, 2);
        j->ended = sqlite3_column_int64(s, 3);
        col_copy(s, 4, j->status, sizeof j->status);
        col_copy(s, 5, j->message, sizeof j->message);
    }
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return db_err(c, "list jobs");
    *n = k;
    return 0;
}

int catalog_event_add(struct catalog *c, int64_t job_id, int64_t time, int level,
                      const char *message)
{
    sqlite3_stmt *s = stmt(c, ST_EVENT_ADD);
    if (!s)
        return -1;
    if (job_id > 0)
        sqlite3_bind_int64(s, 1, job_id);
    else
        sqlite3_bind_null(s, 1);
    sqlite3_bind_int64(s, 2, time);
    sqlite3_bind_int(s, 3, level);
    bind_text(s, 4, message ? message : "");
    return step_done(c, s, "add event");
}

int catalog_events_page(struct catalog *c, int64_t job_id, int64_t after_id,
                        struct catalog_event *out, size_t max, size_t *n)
{
    sqlite3_stmt *s = stmt(c, job_id > 0 ? ST_EVENTS_JOB : ST_EVENTS_ALL);
    if (!s)
        return -1;
    if (job_id > 0)
        sqlite3_bind_int64(s, 1, job_id);
    sqlite3_bind_int64(s, 2, after_id);
    sqlite3_bind_int64(s, 3, (int64_t)max);
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct catalog_event *e = &out[k++];
        e->id = sqlite3_column_int64(s, 0);
        e->job_id = sqlite3_column_int64(s, 1);
        e->time = sqlite3_column_int64(s, 2);
        e->level = sqlite3_column_int(s, 3);
        col_copy(s, 4, e->message, sizeof e->message);
    }
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return db_err(c, "list events");
    *n = k;
    return 0;
}

/* ---- incremental backups ----------------------------------------------------------- */
/* Statements here are prepared per call: they run a few times per database and backup. */

static sqlite3_stmt *prep(struct catalog *c, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
        db_err(c, "prepare");
        return NULL;
    }
    return s;
}

int catalog_file_incr_set(struct catalog *c, const char *set_id, int64_t db_id,
                          const struct catalog_file_incr *x)
{
    sqlite3_stmt *s = prep(c, "UPDATE set_files SET kind = ?3, origin = ?4, pages_total = ?5, "
                              "pages_stored = ?6, pagemap = ?7, pagemap_sha256 = ?8, "
                              "full_reason = ?9 WHERE set_id = ?1 AND db_id = ?2");
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    sqlite3_bind_int64(s, 2, db_id);
    bind_text(s, 3, catalog_set_kind_name(x->kind));
    bind_opt(s, 4, x->origin);
    sqlite3_bind_int64(s, 5, x->pages_total);
    sqlite3_bind_int64(s, 6, x->pages_stored);
    bind_opt(s, 7, x->pagemap);
    bind_opt(s, 8, x->pagemap_sha256);
    bind_opt(s, 9, x->full_reason);
    int rc = step_done(c, s, "record incremental file");
    if (rc == 0 && sqlite3_changes(c->db) == 0) {
        dv_seterr("catalog %s: no file of database %lld in set %s", c->path, (long long)db_id,
                  set_id);
        rc = -1;
    }
    sqlite3_finalize(s);
    return rc;
}

int catalog_file_incr_get(struct catalog *c, const char *set_id, int64_t db_id,
                          struct catalog_file_incr *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = prep(c, "SELECT kind, origin, pages_total, pages_stored, pagemap, "
                              "pagemap_sha256, full_reason FROM set_files "
                              "WHERE set_id = ?1 AND db_id = ?2");
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    sqlite3_bind_int64(s, 2, db_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *k = sqlite3_column_text(s, 0);
        out->kind = k && strcmp((const char *)k, "incremental") == 0 ? CATALOG_SET_INCREMENTAL
                                                                     : CATALOG_SET_FULL;
        col_copy(s, 1, out->origin, sizeof out->origin);
        out->pages_total = sqlite3_column_int64(s, 2);
        out->pages_stored = sqlite3_column_int64(s, 3);
        col_copy(s, 4, out->pagemap, sizeof out->pagemap);
        col_copy(s, 5, out->pagemap_sha256, sizeof out->pagemap_sha256);
        col_copy(s, 6, out->full_reason, sizeof out->full_reason);
        rc = 1;
    } else {
        rc = rc == SQLITE_DONE ? 0 : db_err(c, "read incremental file");
    }
    sqlite3_finalize(s);
    return rc;
}

int catalog_db_latest_set(struct catalog *c, int64_t db_id, char set_id[32])
{
    sqlite3_stmt *s = prep(c, "SELECT s.id FROM set_files f JOIN sets s ON s.id = f.set_id "
                              "WHERE f.db_id = ?1 AND s.status IN ('complete', 'partial') "
                              "ORDER BY s.seq DESC LIMIT 1");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, db_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        col_copy(s, 0, set_id, 32);
        rc = 1;
    } else {
        rc = rc == SQLITE_DONE ? 0 : db_err(c, "latest set of a database");
    }
    sqlite3_finalize(s);
    return rc;
}

int catalog_set_pages_set(struct catalog *c, const char *set_id, int64_t total, int64_t stored)
{
    sqlite3_stmt *s = prep(c, "UPDATE sets SET pages_total = ?2, pages_stored = ?3 WHERE id = ?1");
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    sqlite3_bind_int64(s, 2, total);
    sqlite3_bind_int64(s, 3, stored);
    int rc = step_done(c, s, "record page counters");
    sqlite3_finalize(s);
    return rc;
}

int catalog_set_pages_get(struct catalog *c, const char *set_id, int64_t *total, int64_t *stored)
{
    sqlite3_stmt *s = prep(c, "SELECT pages_total, pages_stored FROM sets WHERE id = ?1");
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *total = sqlite3_column_int64(s, 0);
        *stored = sqlite3_column_int64(s, 1);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        dv_seterr("catalog %s: no set %s", c->path, set_id);
        rc = -1;
    } else {
        rc = db_err(c, "read page counters");
    }
    sqlite3_finalize(s);
    return rc;
}

static int id_list(struct catalog *c, const char *sql, const char *set_id, char (**ids)[32],
                   size_t *n)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *s = prep(c, sql);
    if (!s)
        return -1;
    bind_text(s, 1, set_id);
    int rc;
    size_t cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *ids = dv_realloc(*ids, cap * sizeof **ids);
        }
        col_copy(s, 0, (*ids)[(*n)++], 32);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return db_err(c, "list sets");
    }
    return 0;
}

int catalog_set_chain(struct catalog *c, const char *set_id, char (**ids)[32], size_t *n)
{
    return id_list(c,
                   "WITH RECURSIVE ch(set_id, db_id) AS ("
                   " SELECT origin, db_id FROM set_files WHERE set_id = ?1 AND origin IS NOT NULL"
                   " UNION SELECT f.origin, f.db_id FROM set_files f JOIN ch"
                   " ON f.set_id = ch.set_id AND f.db_id = ch.db_id WHERE f.origin IS NOT NULL)"
                   " SELECT DISTINCT ch.set_id FROM ch LEFT JOIN sets s ON s.id = ch.set_id"
                   " ORDER BY coalesce(s.seq, 0), ch.set_id",
                   set_id, ids, n);
}

int catalog_set_dependents(struct catalog *c, const char *set_id, char (**ids)[32], size_t *n)
{
    return id_list(c,
                   "SELECT DISTINCT f.set_id FROM set_files f JOIN sets s ON s.id = f.set_id "
                   "WHERE f.origin = ?1 ORDER BY s.seq",
                   set_id, ids, n);
}

/* ---- meta -------------------------------------------------------------------------- */

int catalog_meta_get(struct catalog *c, const char *key, char *out, size_t n)
{
    sqlite3_stmt *s = stmt(c, ST_META_GET);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        col_copy(s, 0, out, n);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_err(c, "read meta");
    if (n)
        out[0] = '\0';
    return 0;
}

int catalog_meta_set(struct catalog *c, const char *key, const char *value)
{
    sqlite3_stmt *s = stmt(c, ST_META_SET);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, value, -1, SQLITE_STATIC);
    return step_done(c, s, "write meta");
}

int catalog_meta_each(struct catalog *c, const char *prefix, catalog_meta_fn fn, void *ud,
                      size_t *n)
{
    sqlite3_stmt *s = stmt(c, ST_META_PREFIX);
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
        return db_err(c, "read meta");
    if (n)
        *n = k;
    return ret;
}

int catalog_set_count(struct catalog *c, int64_t *n)
{
    sqlite3_stmt *s = stmt(c, ST_SET_COUNT);
    if (!s)
        return -1;
    if (sqlite3_step(s) != SQLITE_ROW) {
        db_err(c, "count sets");
        sqlite3_reset(s);
        return -1;
    }
    *n = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

/*
 * catalog_int.h - private to the catalog module (catalog*.c): the handle, every prepared
 * statement, and the helpers the files share. Nothing outside catalog/ includes it.
 *
 *   catalog.c        open, schema and migrations, statements, transactions, databases, meta
 *   catalog_sets.c   sets, the databases a set could not copy, set files, incremental chains
 *   catalog_refs.c   the NLO pool, references, prune support (what the kept sets need)
 *   catalog_jobs.c   the job history and its events
 *   catalog_names.c  NLO names and hashes as stored (compact keys), the SQL functions
 */
#ifndef DV_CATALOG_INT_H
#define DV_CATALOG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "catalog.h"

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

/* The longest NLO name key (catalog_names.c). */
#define CATALOG_KEY_MAX 41

/* Every statement of the module, prepared on first use and kept for the handle's life. */
#define STATEMENTS(X)                                                                              \
    X(BEGIN, "BEGIN IMMEDIATE")                                                                    \
    X(COMMIT, "COMMIT")                                                                            \
    X(ROLLBACK, "ROLLBACK")                                                                        \
    X(SAVEPOINT, "SAVEPOINT dv")                                                                   \
    X(RELEASE, "RELEASE dv")                                                                       \
    X(ROLLBACK_TO, "ROLLBACK TO dv")                                                               \
    X(DB_LOOKUP, "SELECT id FROM databases WHERE path = ?1")                                       \
    X(DB_INSERT, "INSERT INTO databases (path, replica_id, dbiid, first_seen, last_seen) "         \
                 "VALUES (?1, ?2, ?3, ?4, ?4)")                                                    \
    X(DB_TOUCH, "UPDATE databases SET last_seen = ?2, replica_id = coalesce(?3, replica_id), "     \
                "dbiid = coalesce(?4, dbiid) WHERE id = ?1")                                       \
    X(DB_LAST_REF, "SELECT last_ref_seq, refs_digest FROM databases WHERE id = ?1")                \
    X(DB_SET_LAST_REF, "UPDATE databases SET last_ref_seq = ?2, refs_digest = ?3 WHERE id = ?1")   \
    X(REFS_ANY, "SELECT 1 FROM nlo_refs WHERE db_id = ?1 LIMIT 1")                                 \
    X(SET_MAXSEQ, "SELECT coalesce(max(seq), 0) FROM sets")                                        \
    X(SET_INSERT, "INSERT INTO sets (id, seq, kind, started, status, pid, origin) "                \
                  "VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6)")                                    \
    X(SET_FINISH, "UPDATE sets SET status = ?2, ended = ?3, databases = ?4, nlo_new = ?5, "        \
                  "nlo_held = ?6, nlo_skipped = ?7, deltas_applied = ?8, deltas_kept = ?9, "       \
                  "bytes = ?10, checkpoint = ?11, message = ?12 WHERE id = ?1")                    \
    X(SET_FAIL, "UPDATE sets SET status = 'failed', ended = ?2, message = ?3 WHERE id = ?1")       \
    X(SET_RUNNING, "SELECT id, pid FROM sets WHERE status = 'running'")                            \
    X(SET_GET, "SELECT " SET_COLS " FROM sets WHERE id = ?1")                                      \
    X(SET_GET_SEQ, "SELECT " SET_COLS " FROM sets WHERE seq = ?1")                                 \
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
    X(POOL_GET, "SELECT " POOL_COLS " FROM nlo WHERE name = ?1 AND sha256 IS NOT NULL")            \
    X(NLO_ID, "SELECT id, sha256 IS NOT NULL FROM nlo WHERE name = ?1")                            \
    X(NLO_NEXT_ID, "SELECT value FROM totals WHERE key = 'nlo_next_id'")                           \
    X(NLO_SET_NEXT_ID, "UPDATE totals SET value = ?1 WHERE key = 'nlo_next_id'")                   \
    X(NLO_INSERT_NAME, "INSERT INTO nlo (name, id) VALUES (?1, ?2)")                               \
    X(NLO_INSERT_NEW, "INSERT INTO nlo (name, id) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING")  \
    X(TOTALS_ADD, "UPDATE totals SET value = value + ?2 WHERE key = ?1")                           \
    X(POOL_SIZE, "SELECT size FROM nlo WHERE name = ?1 AND sha256 IS NOT NULL")                    \
    X(POOL_INSERT, "INSERT INTO nlo (name, id, sha256, size, live_subdir, first_set, stored_at) "  \
                   "VALUES (?1, ?7, ?2, ?3, ?4, ?5, ?6)")                                          \
    X(POOL_ADOPT, "UPDATE nlo SET sha256 = ?2, size = ?3, live_subdir = ?4, first_set = ?5, "      \
                  "stored_at = ?6 WHERE name = ?1")                                                \
    X(POOL_REHOME, "UPDATE nlo SET live_subdir = ?4 WHERE name = ?1 AND live_subdir IS NOT ?4 "    \
                   "AND sha256 IS NOT NULL")                                                       \
    X(POOL_SUBDIR_PAGE, "SELECT name FROM nlo WHERE live_subdir = ?1 "                             \
                        "AND name > ?2 ORDER BY name LIMIT ?3")                                    \
    X(POOL_PAGE, "SELECT " POOL_COLS " FROM nlo WHERE name > ?1 "                                  \
                 "AND sha256 IS NOT NULL ORDER BY name LIMIT ?2")                                  \
    X(POOL_NAME_PAGE, "SELECT name FROM nlo WHERE name > ?1 "                                      \
                      "AND sha256 IS NOT NULL ORDER BY name LIMIT ?2")                             \
    X(POOL_NAME_PAGE_BACK, "SELECT name FROM nlo WHERE name < ?1 "                                 \
                           "AND sha256 IS NOT NULL ORDER BY name DESC LIMIT ?2")                   \
    X(POOL_REPAIR, "UPDATE nlo SET sha256 = ?2, size = ?3, live_subdir = ?4 WHERE name = ?1 "      \
                   "AND sha256 IS NOT NULL")                                                       \
    X(POOL_PAGE_BACK, "SELECT " POOL_COLS " FROM nlo WHERE name < ?1 "                             \
                      "AND sha256 IS NOT NULL ORDER BY name DESC LIMIT ?2")                        \
    X(POOL_STATS, "SELECT coalesce((SELECT value FROM totals WHERE key = 'pool_objects'), 0), "    \
                  "coalesce((SELECT value FROM totals WHERE key = 'pool_bytes'), 0)")              \
    X(POOL_DELETE_ROW, "DELETE FROM nlo WHERE name = ?1 AND NOT EXISTS "                           \
                       "(SELECT 1 FROM nlo_refs r WHERE r.nlo_id = nlo.id)")                       \
    X(POOL_FORGET, "UPDATE nlo SET sha256 = NULL, size = NULL, live_subdir = NULL, "               \
                   "first_set = NULL, stored_at = NULL WHERE name = ?1")                           \
    X(REFS_OPEN_PAGE, "SELECT nlo_id FROM nlo_refs WHERE db_id = ?1 AND nlo_id > ?2 "              \
                      "AND last_seq IS NULL ORDER BY nlo_id LIMIT ?3")                             \
    X(REFS_OPEN, "INSERT INTO nlo_refs (db_id, nlo_id, first_seq, last_seq) "                      \
                 "VALUES (?1, ?2, ?3, NULL)")                                                      \
    X(REFS_CLOSE, "UPDATE nlo_refs SET last_seq = ?3 WHERE db_id = ?1 AND nlo_id = ?2 "            \
                  "AND last_seq IS NULL")                                                          \
    X(NLO_REFERRERS, "SELECT d.path, r.first_seq FROM nlo n JOIN nlo_refs r ON r.nlo_id = n.id "   \
                     "JOIN databases d ON d.id = r.db_id WHERE n.name = ?1 "                       \
                     "AND r.last_seq IS NULL ORDER BY d.path")                                     \
    X(NLO_SETS, "SELECT " SET_COLS_S " FROM sets s WHERE s.seq = (SELECT first_set FROM nlo "      \
                "WHERE name = ?1 AND sha256 IS NOT NULL) OR s.id IN (SELECT f.set_id "             \
                "FROM nlo n JOIN nlo_refs r ON r.nlo_id = n.id "                                   \
                "JOIN set_files f ON f.db_id = r.db_id JOIN sets t ON t.id = f.set_id "            \
                "WHERE n.name = ?1 AND t.seq >= r.first_seq AND (r.last_seq IS NULL OR t.seq <= "  \
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
    X(POOL_COUNT_FIRST, "SELECT count(*) FROM nlo WHERE first_set = ?1 AND sha256 IS NOT NULL")    \
    X(SETS_ALL, "SELECT " SET_COLS " FROM sets ORDER BY seq DESC")                                 \
    X(KEEP_CLEAR, "DELETE FROM temp.keep_sets")                                                    \
    X(KEEP_ADD, "INSERT OR IGNORE INTO temp.keep_sets (seq) VALUES (?1)")                          \
    X(NEEDED_CLEAR, "DELETE FROM temp.needed")                                                     \
    X(NEEDED_FIRST,                                                                                \
      "INSERT OR IGNORE INTO temp.needed (id) SELECT n.id FROM nlo n "                             \
      "WHERE n.sha256 IS NOT NULL AND n.first_set IN (SELECT seq FROM temp.keep_sets)")            \
    X(NEEDED_REFS, "INSERT OR IGNORE INTO temp.needed (id) SELECT r.nlo_id FROM temp.keep_sets k " \
                   "JOIN sets s ON s.seq = k.seq JOIN set_files f ON f.set_id = s.id "             \
                   "JOIN nlo_refs r ON r.db_id = f.db_id AND r.first_seq <= s.seq "                \
                   "AND (r.last_seq IS NULL OR r.last_seq >= s.seq)")                              \
    X(NEEDED_COUNT, "SELECT count(*) FROM temp.needed")                                            \
    X(NEEDED_PAGE, "SELECT name FROM nlo WHERE name > ?1 AND id IN "                               \
                   "(SELECT id FROM temp.needed) ORDER BY name LIMIT ?2")                          \
    X(UNNEEDED_PAGE, "SELECT " POOL_COLS " FROM nlo WHERE name > ?1 "                              \
                     "AND sha256 IS NOT NULL AND id NOT IN (SELECT id FROM temp.needed) "          \
                     "ORDER BY name LIMIT ?2")                                                     \
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
    X(SET_COUNT, "SELECT count(*) FROM sets")                                                      \
    X(UNBACKED_CLEAR, "DELETE FROM unbacked")                                                      \
    X(UNBACKED_ADD, "INSERT OR IGNORE INTO unbacked (name) VALUES (?1)")                           \
    X(UNBACKED_NAMES, "SELECT name FROM unbacked")                                                 \
    X(UNBACKED_DROP_MARK, "DELETE FROM meta WHERE key = 'unbacked_mark'")

#define X_ENUM(name, sql) ST_##name,
enum { STATEMENTS(X_ENUM) ST_COUNT };

/* References staged for the bulk path (catalog_refs_bulk, catalog_refs.c): one name key of a
 * database recorded for the first time; dbs[db] is its database. */
struct catalog_stage_ent {
    unsigned char key[CATALOG_KEY_MAX];
    uint8_t len;
    uint32_t db;
};
struct catalog_stage_db {
    int64_t id, seq;
    unsigned char digest[32];
};
struct catalog_stage {
    bool on;                        /* catalog_refs_bulk(c, true) */
    struct catalog_stage_ent *ents; /* staged names (any order until the flush sorts) */
    size_t nents, cap;
    struct catalog_stage_db *dbs;
    size_t ndbs, dcap;
    size_t mark_ents, mark_dbs; /* at the open savepoint: its rollback drops the rest */
    int sp_depth;               /* savepoints open (the flush runs outside them) */
};

struct catalog {
    sqlite3 *db;
    char *path;
    int version;
    bool temp_ready; /* temp tables of prune support created */
    sqlite3_stmt *st[ST_COUNT];
    struct catalog_stage stage;
};
/* The staged references written (sorted, in the open transaction) / dropped. 0 or -1. */
int catalog_stage_flush(struct catalog *c);
void catalog_stage_clear(struct catalog *c);
/* Tests: flush the staged references once n names are staged (0: the default, 262,144). */
void catalog_test_stage_flush_at(size_t n);

/* "catalog PATH: what: sqlite's message"; returns -1. */
int catalog_db_err(struct catalog *c, const char *what);
/* The statement, prepared once, reset and unbound; NULL with dv_err() set on failure. */
sqlite3_stmt *catalog_stmt(struct catalog *c, int id);
/* Step a statement that returns no row; resets it. 0 or -1. */
int catalog_step_done(struct catalog *c, sqlite3_stmt *s, const char *what);
void catalog_bind_text(sqlite3_stmt *s, int i, const char *v);
/* Bind "" as NULL (optional strings). */
void catalog_bind_opt(sqlite3_stmt *s, int i, const char *v);
/* Column i copied into dst (n bytes, cut like snprintf) / malloc'd (NULL for NULL). */
void catalog_col_copy(sqlite3_stmt *s, int i, char *dst, size_t n);
char *catalog_col_dup(sqlite3_stmt *s, int i);
/* sqlite3_exec with the message as dv_err(). 0 or -1. */
int catalog_exec(struct catalog *c, const char *sql, const char *what);
/* Start our own transaction unless the caller has one (*own tells which); leave it: commit
 * when rc is 0, else roll back keeping the message. Returns rc (or -1 if the commit fails). */
int catalog_tx_enter(struct catalog *c, bool *own);
int catalog_tx_leave(struct catalog *c, bool own, int rc);
/* NLO names and hashes as stored (catalog_names.c): the key of a canonical name (its length,
 * 0 for any other string, stored as TEXT); bind a name as its key; bind a keyset bound (""
 * or NULL -> '', below every name; a hex prefix -> the keys above it); read a name or a
 * sha256 column back as text. The SQL functions dv_nlo_key, dv_sha_key, dv_nlo_name. */
size_t catalog_name_key(const char *name, size_t len, unsigned char key[CATALOG_KEY_MAX]);
void catalog_bind_name(sqlite3_stmt *s, int i, const char *name);
void catalog_bind_bound(sqlite3_stmt *s, int i, const char *after);
/* The same for a descending page: "" or NULL -> above every name ("from the last"). */
void catalog_bind_bound_back(sqlite3_stmt *s, int i, const char *before);
void catalog_col_name(sqlite3_stmt *s, int i, char *out, size_t n);
void catalog_bind_sha(sqlite3_stmt *s, int i, const char *hex);
void catalog_col_sha(sqlite3_stmt *s, int i, char *out, size_t n);
int catalog_names_register(struct catalog *c);
/* A set row (SET_COLS from column base) into o. */
void catalog_read_set(sqlite3_stmt *s, int base, struct catalog_set *o);

#endif

/* test_catalog.c - the SQLite catalog on real files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dvtmp.h"
#include "catalog.h"
#include "catalog_int.h"
#include "util.h"

struct fx {
    char dir[256];
    char *path;
    struct catalog *c;
};

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "catalog"));
    f->path = dv_path_join(f->dir, "catalog.db");
    f->c = catalog_open(f->path);
    if (!f->c)
        fail_msg("%s", dv_err());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    catalog_close(f->c);
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->path);
    free(f);
    return 0;
}

/* Run SQL on the file through a second connection; returns the first column of the first
 * row as an integer (or 0). */
static long long sql_int(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    long long v = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void sql_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* A valid-looking NLO name from a small number. */
static void nlo_name(int i, char out[CATALOG_NLO_NAME_LEN + 1])
{
    char seed[32];
    snprintf(seed, sizeof seed, "nlo-%d", i);
    char hex[65];
    dv_sha256_hex(seed, strlen(seed), hex);
    snprintf(out, CATALOG_NLO_NAME_LEN + 1, "%s%016x.nlo", hex, (unsigned)i);
}

static void test_schema(void **state)
{
    struct fx *f = *state;
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(catalog_schema_version(f->c), CATALOG_SCHEMA_VERSION);
    assert_int_equal(sql_int(f->path, "PRAGMA user_version"), CATALOG_SCHEMA_VERSION);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
                                      "AND name IN ('databases','sets','set_files','nlo',"
                                      "'nlo_refs','jobs','events','totals')"),
                     8);
    /* Reopen: nothing re-applied, data kept. */
    int64_t id;
    assert_int_equal(catalog_db_upsert(f->c, "mail/a.nsf", "R1", "I1", 100, &id), 0);
    catalog_close(f->c);
    f->c = catalog_open(f->path);
    assert_non_null(f->c);
    assert_int_equal(catalog_schema_version(f->c), CATALOG_SCHEMA_VERSION);
    int64_t id2;
    assert_int_equal(catalog_db_lookup(f->c, "mail/a.nsf", &id2), 1);
    assert_int_equal(id, id2);
    assert_int_equal(catalog_db_lookup(f->c, "mail/b.nsf", &id2), 0);
    /* WAL mode is persistent in the file. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    /* A newer schema is refused with the file named. */
    catalog_close(f->c);
    f->c = NULL;
    sql_exec(f->path, "PRAGMA user_version = 99");
    assert_null(catalog_open(f->path));
    assert_non_null(strstr(dv_err(), f->path));
    assert_non_null(strstr(dv_err(), "99"));
    /* Not a database at all. */
    char *junk = dv_path_join(f->dir, "junk.db");
    const char text[] = "this is not a sqlite database, just some text that is long enough "
                        "to fill the header of one, so sqlite must reject it as a file....";
    assert_int_equal(dv_write_atomic(junk, text, sizeof text, 0600), 0);
    assert_null(catalog_open(junk));
    assert_non_null(strstr(dv_err(), junk));
    free(junk);
}

static void test_migration_from_empty_version0(void **state)
{
    /* A file created by someone else at version 0 (empty) is migrated in one go. */
    struct fx *f = *state;
    char *p = dv_path_join(f->dir, "v0.db");
    sql_exec(p, "CREATE TABLE unrelated (x)");
    struct catalog *c = catalog_open(p);
    assert_non_null(c);
    assert_int_equal(catalog_schema_version(c), CATALOG_SCHEMA_VERSION);
    catalog_close(c);
    /* A failed migration is rolled back: a conflicting table makes migration 1 fail. */
    char *q = dv_path_join(f->dir, "conflict.db");
    sql_exec(q, "CREATE TABLE sets (x)");
    assert_null(catalog_open(q));
    assert_non_null(strstr(dv_err(), "migration to version 1"));
    assert_int_equal(sql_int(q, "PRAGMA user_version"), 0);
    assert_int_equal(sql_int(q, "SELECT count(*) FROM sqlite_master WHERE name = 'databases'"), 0);
    free(p);
    free(q);
}

/* A finished set with one database file (status as given). */
static void add_set(struct catalog *c, const char *id, enum catalog_set_status st,
                    const char *db_path)
{
    int64_t seq, db;
    assert_int_equal(catalog_set_create(c, id, CATALOG_SET_FULL, 1000, getpid(), NULL, &seq), 0);
    struct catalog_set s;
    assert_int_equal(catalog_set_get(c, id, &s), 1);
    s.status = st;
    s.ended = 1001;
    assert_int_equal(catalog_set_finish(c, &s), 0);
    if (!db_path)
        return;
    assert_int_equal(catalog_db_upsert(c, db_path, "R", "I", 1000, &db), 0);
    struct catalog_set_file f = {.set_id = (char *)id,
                                 .db_id = db,
                                 .path = "db/x.nsf",
                                 .size = 4096,
                                 .sha256 = "00",
                                 .delta_mode = CATALOG_DELTA_APPLY};
    assert_int_equal(catalog_set_file_add(c, &f), 0);
}

/* Version 5: partial sets and the databases a set failed, and the migration from 4 (the sets
 * table rebuilt without touching set_files). */
static void test_partial_sets(void **state)
{
    struct fx *f = *state;
    add_set(f->c, "20261122-000001", CATALOG_SET_COMPLETE, "mail/a.nsf");
    add_set(f->c, "20261122-000002", CATALOG_SET_PARTIAL, "mail/a.nsf");
    assert_int_equal(catalog_set_failure_add(f->c, "20261122-000002", "mail/b.nsf", "locked"), 0);
    assert_int_equal(catalog_set_failure_add(f->c, "20261122-000002", "mail/a-z.nsf", "empty"), 0);
    add_set(f->c, "20261122-000003", CATALOG_SET_FAILED, NULL);
    assert_int_equal(catalog_set_failure_add(f->c, "20261122-000003", "mail/b.nsf", "gone"), 0);

    struct catalog_set s;
    assert_int_equal(catalog_set_get(f->c, "20261122-000002", &s), 1);
    assert_int_equal(s.status, CATALOG_SET_PARTIAL);
    assert_string_equal(catalog_set_status_name(s.status), "partial");
    assert_true(catalog_set_usable(CATALOG_SET_PARTIAL) &&
                catalog_set_usable(CATALOG_SET_COMPLETE));
    assert_false(catalog_set_usable(CATALOG_SET_FAILED) || catalog_set_usable(CATALOG_SET_RUNNING));
    assert_int_equal(catalog_set_latest(f->c, true, &s), 1);
    assert_string_equal(s.id, "20261122-000001"); /* complete only */
    assert_int_equal(catalog_set_latest_usable(f->c, &s), 1);
    assert_string_equal(s.id, "20261122-000002");
    assert_int_equal(catalog_db_last_set(f->c, "mail/a.nsf", true, &s), 1);
    assert_string_equal(s.id, "20261122-000002"); /* a partial set holds its copies */

    struct catalog_set_failure *fl;
    size_t n;
    assert_int_equal(catalog_set_failures(f->c, "20261122-000002", &fl, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(fl[0].db_path, "mail/a-z.nsf"); /* by path */
    assert_string_equal(fl[1].db_path, "mail/b.nsf");
    assert_string_equal(fl[1].reason, "locked");
    assert_int_equal(fl[1].seq, 2);
    free(fl);
    assert_int_equal(catalog_set_failures(f->c, "20261122-000001", &fl, &n), 0);
    assert_int_equal(n, 0);
    free(fl);
    struct catalog_set_failure one;
    assert_int_equal(catalog_set_failure_get(f->c, "20261122-000002", "mail/b.nsf", &one), 1);
    assert_string_equal(one.set_id, "20261122-000002");
    assert_int_equal(catalog_set_failure_get(f->c, "20261122-000002", "mail/a.nsf", &one), 0);
    /* the newest usable set that failed it: the failed set 3 does not count */
    assert_int_equal(catalog_db_failure_latest(f->c, "mail/b.nsf", &one), 1);
    assert_string_equal(one.set_id, "20261122-000002");
    assert_int_equal(catalog_db_failure_latest(f->c, "mail/a.nsf", &one), 0);
    /* deleting a set deletes its failures */
    assert_int_equal(catalog_set_delete(f->c, "20261122-000003"), 0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM set_failures"), 2);

    /* back to a version 4 file (the old CHECK, no set_failures), then open: migrated, every
       row kept, set_files too (dropping the old sets table must not cascade) */
    catalog_close(f->c);
    f->c = NULL;
    sql_exec(
        f->path,
        "UPDATE sets SET status = 'complete' WHERE status = 'partial';"
        "CREATE TABLE sets_v4 (id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE,"
        " kind TEXT NOT NULL CHECK (kind IN ('full', 'incremental')),"
        " started INTEGER NOT NULL, ended INTEGER,"
        " status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed')),"
        " pid INTEGER, databases INTEGER NOT NULL DEFAULT 0,"
        " nlo_new INTEGER NOT NULL DEFAULT 0, nlo_held INTEGER NOT NULL DEFAULT 0,"
        " nlo_skipped INTEGER NOT NULL DEFAULT 0, deltas_applied INTEGER NOT NULL DEFAULT 0,"
        " deltas_kept INTEGER NOT NULL DEFAULT 0, bytes INTEGER NOT NULL DEFAULT 0,"
        " checkpoint TEXT, origin TEXT, message TEXT, pruning INTEGER,"
        " pages_total INTEGER NOT NULL DEFAULT 0, pages_stored INTEGER NOT NULL DEFAULT 0);"
        "INSERT INTO sets_v4 SELECT * FROM sets; DROP TABLE sets;"
        "ALTER TABLE sets_v4 RENAME TO sets; DROP TABLE set_failures;"
        /* and version 6's tables back to version 5's */
        "DROP TABLE unbacked;" /* version 7 */
        "DROP VIEW pool; DROP VIEW refs; DROP TABLE nlo; DROP TABLE nlo_refs; DROP TABLE totals;"
        "ALTER TABLE databases DROP COLUMN refs_digest;"
        "CREATE TABLE pool (name TEXT PRIMARY KEY, sha256 TEXT NOT NULL,"
        " size INTEGER NOT NULL, live_subdir INTEGER NOT NULL, first_set INTEGER NOT NULL,"
        " stored_at INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE refs (db_id INTEGER NOT NULL, nlo TEXT NOT NULL,"
        " first_seq INTEGER NOT NULL, last_seq INTEGER,"
        " PRIMARY KEY (db_id, nlo, first_seq)) WITHOUT ROWID;"
        "PRAGMA user_version = 4;");
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM set_files"), 2);
    f->c = catalog_open(f->path);
    if (!f->c)
        fail_msg("%s", dv_err());
    assert_int_equal(catalog_schema_version(f->c), CATALOG_SCHEMA_VERSION);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM set_files"), 2);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM sets"), 2);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    assert_int_equal(catalog_set_get(f->c, "20261122-000002", &s), 1);
    s.status = CATALOG_SET_PARTIAL; /* the new status is accepted */
    assert_int_equal(catalog_set_finish(f->c, &s), 0);
    assert_int_equal(catalog_set_failure_add(f->c, s.id, "mail/b.nsf", "again"), 0);
    assert_int_equal(catalog_set_delete(f->c, "20261122-000002"), 0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM set_files"), 1);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM set_failures"), 0);
    /* foreign keys are on again after the migration: no file of a set that does not exist */
    struct catalog_set_file orphan = {.set_id = "20261122-000009",
                                      .db_id = 1,
                                      .path = "db/x.nsf",
                                      .size = 1,
                                      .sha256 = "00",
                                      .delta_mode = CATALOG_DELTA_APPLY};
    assert_int_equal(catalog_set_file_add(f->c, &orphan), -1);
}

static void test_sets_lifecycle(void **state)
{
    struct fx *f = *state;
    int64_t seq1, seq2;
    assert_int_equal(
        catalog_set_create(f->c, "20261122-014651", CATALOG_SET_FULL, 1000, getpid(), NULL, &seq1),
        0);
    assert_int_equal(catalog_set_create(f->c, "20261123-014651", CATALOG_SET_INCREMENTAL, 2000,
                                        getpid(), "20261122-014651", &seq2),
                     0);
    assert_int_equal(seq1, 1);
    assert_int_equal(seq2, 2);
    /* Same id twice: taken (1, nothing written), and the message names it. */
    assert_int_equal(
        catalog_set_create(f->c, "20261122-014651", CATALOG_SET_FULL, 3000, 1, NULL, NULL), 1);
    assert_non_null(strstr(dv_err(), "20261122-014651"));

    struct catalog_set s;
    assert_int_equal(catalog_set_get(f->c, "20261122-014651", &s), 1);
    assert_int_equal(s.status, CATALOG_SET_RUNNING);
    assert_int_equal(s.kind, CATALOG_SET_FULL);
    s.status = CATALOG_SET_COMPLETE;
    s.ended = 1100;
    s.databases = 3;
    s.nlo_new = 10;
    s.nlo_held = 20;
    s.nlo_skipped = 1;
    s.deltas_applied = 2;
    s.deltas_kept = 1;
    s.bytes = 123456;
    snprintf(s.checkpoint, sizeof s.checkpoint, "cp-1");
    assert_int_equal(catalog_set_finish(f->c, &s), 0);
    assert_int_equal(catalog_set_fail(f->c, "20261123-014651", 2100, "disk full"), 0);

    struct catalog_set g;
    assert_int_equal(catalog_set_get(f->c, "20261122-014651", &g), 1);
    assert_int_equal(g.status, CATALOG_SET_COMPLETE);
    assert_int_equal(g.ended, 1100);
    assert_int_equal(g.nlo_held, 20);
    assert_int_equal(g.bytes, 123456);
    assert_string_equal(g.checkpoint, "cp-1");
    assert_int_equal(catalog_set_get(f->c, "20261123-014651", &g), 1);
    assert_int_equal(g.status, CATALOG_SET_FAILED);
    assert_string_equal(g.message, "disk full");
    assert_string_equal(g.origin, "20261122-014651");
    assert_int_equal(g.kind, CATALOG_SET_INCREMENTAL);
    assert_int_equal(catalog_set_get(f->c, "nope", &g), 0);
    assert_int_equal(catalog_set_fail(f->c, "nope", 1, "x"), -1);

    assert_int_equal(catalog_set_latest(f->c, false, &g), 1);
    assert_string_equal(g.id, "20261123-014651");
    assert_int_equal(catalog_set_latest(f->c, true, &g), 1);
    assert_string_equal(g.id, "20261122-014651");

    /* Paging newest first. */
    for (int i = 3; i <= 10; i++) {
        char id[32];
        snprintf(id, sizeof id, "20261201-0000%02d", i);
        assert_int_equal(catalog_set_create(f->c, id, CATALOG_SET_FULL, 3000 + i, 1, NULL, NULL),
                         0);
    }
    struct catalog_set page[4];
    size_t n;
    int64_t before = 0, expect = 10, total = 0;
    do {
        assert_int_equal(catalog_sets_list(f->c, before, page, 4, &n), 0);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(page[i].seq, expect--);
        total += (int64_t)n;
        if (n)
            before = page[n - 1].seq;
    } while (n == 4);
    assert_int_equal(total, 10);

    /* Set files. */
    int64_t db1, db2;
    assert_int_equal(catalog_db_upsert(f->c, "mail/b.nsf", "R2", "I2", 100, &db2), 0);
    assert_int_equal(catalog_db_upsert(f->c, "mail/a.nsf", "R1", "I1", 100, &db1), 0);
    struct catalog_set_file sf = {.set_id = "20261122-014651",
                                  .db_id = db1,
                                  .path = "db/mail/a.nsf",
                                  .size = 8192,
                                  .sha256 = "ab",
                                  .page_size = 4096,
                                  .replica_id = "R1",
                                  .dbiid = "I1",
                                  .delta_mode = CATALOG_DELTA_KEEP,
                                  .delta_pages = 3,
                                  .delta_location = "/t/sets/x/db/mail/a.nsf.delta",
                                  .delta_sha256 = "cd"};
    assert_int_equal(catalog_set_file_add(f->c, &sf), 0);
    sf.db_id = db2;
    sf.path = "db/mail/b.nsf";
    sf.delta_mode = CATALOG_DELTA_APPLY;
    sf.delta_location = sf.delta_sha256 = NULL;
    sf.locked_copy = true;
    assert_int_equal(catalog_set_file_add(f->c, &sf), 0);
    assert_int_equal(catalog_set_file_move_delta(f->c, "20261122-014651", db1, "/moved/a.delta"),
                     0);
    struct catalog_set_file *files;
    assert_int_equal(catalog_set_files(f->c, "20261122-014651", &files, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(files[0].db_path, "mail/a.nsf");
    assert_int_equal(files[0].delta_mode, CATALOG_DELTA_KEEP);
    assert_string_equal(files[0].delta_location, "/moved/a.delta");
    assert_int_equal(files[0].delta_pages, 3);
    assert_false(files[0].locked_copy);
    assert_string_equal(files[1].db_path, "mail/b.nsf");
    assert_null(files[1].delta_location);
    assert_true(files[1].locked_copy);
    catalog_set_files_free(files, n);
    struct catalog_set_file one;
    assert_int_equal(catalog_set_file_get(f->c, "20261122-014651", "mail/b.nsf", &one), 1);
    assert_string_equal(one.path, "db/mail/b.nsf");
    catalog_set_file_done(&one);
    assert_int_equal(catalog_set_file_get(f->c, "20261122-014651", "mail/zz.nsf", &one), 0);
    /* Foreign keys are on: a file of an unknown set is refused. */
    sf.set_id = "no-such-set";
    assert_int_equal(catalog_set_file_add(f->c, &sf), -1);
}

static void test_stale_running(void **state)
{
    struct fx *f = *state;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    assert_int_equal(catalog_set_create(f->c, "A", CATALOG_SET_FULL, 1, child, NULL, NULL), 0);
    assert_int_equal(catalog_set_create(f->c, "B", CATALOG_SET_FULL, 2, getpid(), NULL, NULL), 0);
    assert_int_equal(catalog_set_create(f->c, "C", CATALOG_SET_FULL, 3, 1, NULL, NULL), 0);
    int n = -1;
    assert_int_equal(catalog_sets_fail_stale(f->c, false, 50, &n), 0);
    assert_int_equal(n, 1);
    struct catalog_set s;
    assert_int_equal(catalog_set_get(f->c, "A", &s), 1);
    assert_int_equal(s.status, CATALOG_SET_FAILED);
    assert_int_equal(s.ended, 50);
    assert_non_null(strstr(s.message, "interrupted"));
    assert_int_equal(catalog_set_get(f->c, "B", &s), 1);
    assert_int_equal(s.status, CATALOG_SET_RUNNING);
    assert_int_equal(catalog_set_get(f->c, "C", &s), 1); /* pid 1 is alive */
    assert_int_equal(s.status, CATALOG_SET_RUNNING);
    /* Holding the target lock: any running set of another pid is stale. */
    assert_int_equal(catalog_sets_fail_stale(f->c, true, 60, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(catalog_set_get(f->c, "C", &s), 1);
    assert_int_equal(s.status, CATALOG_SET_FAILED);
    assert_int_equal(catalog_set_get(f->c, "B", &s), 1);
    assert_int_equal(s.status, CATALOG_SET_RUNNING);
}

static void record(struct catalog *c, int64_t db, int64_t seq, const int *ids, size_t n)
{
    char names[16][CATALOG_NLO_NAME_LEN + 1];
    const char *v[16];
    for (size_t i = 0; i < n; i++) {
        nlo_name(ids[i], names[i]);
        v[i] = names[i];
    }
    /* sort (tiny) */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(v[j], v[i]) < 0) {
                const char *t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
    if (catalog_refs_record(c, db, seq, v, n) != 0)
        fail_msg("%s", dv_err());
}

/* first_seq and last_seq (-1 = NULL) of the row of (db, nlo i) with the given first_seq. */
static long long ref_last(const char *path, int64_t db, int i, int first)
{
    char name[CATALOG_NLO_NAME_LEN + 1];
    nlo_name(i, name);
    /* schema 6: the name is a key in nlo (its first 32 bytes: the hash) */
    char *sql = dv_asprintf("SELECT coalesce(last_seq, -1) FROM nlo_refs r JOIN nlo n ON n.id = "
                            "r.nlo_id WHERE r.db_id = %lld AND lower(hex(substr(n.name, 1, 32))) "
                            "= '%.64s' AND r.first_seq = %d",
                            (long long)db, name, first);
    long long v = sql_int(path, sql);
    free(sql);
    return v;
}

static void make_sets(struct catalog *c, int n)
{
    for (int i = 1; i <= n; i++) {
        char id[32];
        snprintf(id, sizeof id, "S%d", i);
        int64_t seq;
        assert_int_equal(catalog_set_create(c, id, CATALOG_SET_FULL, i, 1, NULL, &seq), 0);
        assert_int_equal(seq, i);
    }
}

static void add_file(struct catalog *c, int set, int64_t db)
{
    char id[32];
    snprintf(id, sizeof id, "S%d", set);
    struct catalog_set_file sf = {.set_id = id, .db_id = db, .path = "db/x.nsf", .sha256 = "0"};
    assert_int_equal(catalog_set_file_add(c, &sf), 0);
}

static void test_refs_ranges(void **state)
{
    struct fx *f = *state;
    make_sets(f->c, 4);
    int64_t db;
    assert_int_equal(catalog_db_upsert(f->c, "a.nsf", NULL, NULL, 1, &db), 0);
    /* Count every write to refs through triggers. */
    sql_exec(f->path, "CREATE TABLE writes (n INTEGER);"
                      "CREATE TRIGGER refs_ins AFTER INSERT ON nlo_refs BEGIN "
                      "INSERT INTO writes VALUES (1); END;"
                      "CREATE TRIGGER refs_upd AFTER UPDATE ON nlo_refs BEGIN "
                      "INSERT INTO writes VALUES (1); END;");
    int s1[] = {1, 2, 3};
    record(f->c, db, 1, s1, 3);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM writes"), 3);
    /* Same references again: nothing written. */
    record(f->c, db, 2, s1, 3);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM writes"), 3);
    /* 2 removed, 4 added: one close, one open. */
    int s3[] = {1, 3, 4};
    record(f->c, db, 3, s3, 3);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM writes"), 5);
    assert_int_equal(ref_last(f->path, db, 2, 1), 2); /* closed at the previous backup */
    assert_int_equal(ref_last(f->path, db, 4, 3), -1);
    assert_int_equal(ref_last(f->path, db, 1, 1), -1);
    /* 2 re-added: a new range. */
    int s4[] = {1, 2, 3, 4, 4};
    record(f->c, db, 4, s4, 5);
    assert_int_equal(ref_last(f->path, db, 2, 4), -1);
    assert_int_equal(ref_last(f->path, db, 2, 1), 2);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM refs"), 5);
    /* Seq must increase, list must be sorted. */
    assert_int_equal(catalog_refs_record(f->c, db, 4, NULL, 0), -1);
    assert_non_null(strstr(dv_err(), "already recorded"));
    const char *bad[] = {"b", "a"};
    assert_int_equal(catalog_refs_record(f->c, db, 5, bad, 2), -1);
    assert_non_null(strstr(dv_err(), "not sorted"));
    /* A failed call inside the caller's transaction leaves it to the caller. */
    assert_int_equal(catalog_begin(f->c), 0);
    assert_int_equal(catalog_refs_record(f->c, db, 4, NULL, 0), -1);
    assert_int_equal(catalog_rollback(f->c), 0);
    /* Empty list closes everything. */
    assert_int_equal(catalog_refs_record(f->c, db, 5, NULL, 0), 0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM refs WHERE last_seq IS NULL"), 0);
    assert_int_equal(ref_last(f->path, db, 2, 4), 4);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_refs_pages(void **state)
{
    struct fx *f = *state;
    make_sets(f->c, 3);
    int64_t db;
    assert_int_equal(catalog_db_upsert(f->c, "big.nsf", NULL, NULL, 1, &db), 0);
    enum { N = 3000 };
    char(*names)[CATALOG_NLO_NAME_LEN + 1] = dv_malloc(N * sizeof *names);
    const char **v = dv_malloc(N * sizeof *v);
    for (int i = 0; i < N; i++) {
        nlo_name(i, names[i]);
        v[i] = names[i];
    }
    qsort(v, N, sizeof *v, cmp_str);
    assert_int_equal(catalog_refs_record(f->c, db, 1, v, N), 0);
    /* Drop every third name. */
    const char **w = dv_malloc(N * sizeof *w);
    size_t k = 0;
    for (int i = 0; i < N; i++)
        if (i % 3)
            w[k++] = v[i];
    assert_int_equal(catalog_refs_record(f->c, db, 2, w, k), 0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM refs WHERE last_seq = 1"), N / 3);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM refs WHERE last_seq IS NULL"), k);
    /* All back: N/3 new ranges. */
    assert_int_equal(catalog_refs_record(f->c, db, 3, v, N), 0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM refs"), N + N / 3);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM refs WHERE last_seq IS NULL"), N);
    free(w);
    free(v);
    free(names);
}

struct idlist {
    char ids[16][32];
    int n;
};

static int collect(void *ud, const struct catalog_set *s)
{
    struct idlist *l = ud;
    if (l->n < 16)
        snprintf(l->ids[l->n++], 32, "%s", s->id);
    return 0;
}

static void test_nlo_sets_and_needed(void **state)
{
    struct fx *f = *state;
    make_sets(f->c, 4);
    int64_t da, db;
    assert_int_equal(catalog_db_upsert(f->c, "a.nsf", NULL, NULL, 1, &da), 0);
    assert_int_equal(catalog_db_upsert(f->c, "b.nsf", NULL, NULL, 1, &db), 0);
    /* a in sets 1..4, b in sets 1 and 3. */
    int r1[] = {1, 2};
    int r3[] = {1};
    int rb[] = {5};
    for (int s = 1; s <= 4; s++) {
        add_file(f->c, s, da);
        record(f->c, da, s, s <= 2 ? r1 : r3, s <= 2 ? 2 : 1);
    }
    add_file(f->c, 1, db);
    record(f->c, db, 1, rb, 1);
    add_file(f->c, 3, db);
    record(f->c, db, 3, NULL, 0);
    /* Pool: 1, 2, 5 stored by set 1; 7 stored by set 2 and referenced by nobody. */
    struct catalog_pool_obj objs[4];
    int ids[] = {1, 2, 5, 7};
    for (int i = 0; i < 4; i++) {
        memset(&objs[i], 0, sizeof objs[i]);
        nlo_name(ids[i], objs[i].name);
        snprintf(objs[i].sha256, sizeof objs[i].sha256, "%064d", i);
        objs[i].size = 100;
        objs[i].live_subdir = 1;
        objs[i].first_set = ids[i] == 7 ? 2 : 1;
    }
    assert_int_equal(catalog_pool_insert_batch(f->c, objs, 4), 0);

    struct idlist l = {0};
    char name[CATALOG_NLO_NAME_LEN + 1];
    nlo_name(2, name);
    assert_int_equal(catalog_nlo_sets(f->c, name, collect, &l), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.ids[0], "S2");
    assert_string_equal(l.ids[1], "S1");
    memset(&l, 0, sizeof l);
    nlo_name(1, name);
    assert_int_equal(catalog_nlo_sets(f->c, name, collect, &l), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.ids[0], "S4");
    memset(&l, 0, sizeof l);
    nlo_name(5, name); /* b referenced it in set 1 only (closed at 1 when recorded at 3) */
    assert_int_equal(catalog_nlo_sets(f->c, name, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "S1");
    memset(&l, 0, sizeof l);
    nlo_name(7, name);
    assert_int_equal(catalog_nlo_sets(f->c, name, collect, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.ids[0], "S2");

    /* Retain 3 and 4: only NLO 1 is needed; 2, 5, 7 may go. */
    int64_t keep[] = {3, 4}, count = -1;
    assert_int_equal(catalog_needed_compute(f->c, keep, 2, &count), 0);
    assert_int_equal(count, 1);
    struct catalog_pool_obj un[8];
    size_t n;
    assert_int_equal(catalog_unneeded_page(f->c, NULL, un, 8, &n), 0);
    assert_int_equal(n, 3);
    /* Retain 2: 1 and 2 referenced, 7 first stored there. */
    int64_t keep2[] = {2};
    assert_int_equal(catalog_needed_compute(f->c, keep2, 1, &count), 0);
    assert_int_equal(count, 3);
    char needed[8][CATALOG_NLO_NAME_LEN + 1];
    assert_int_equal(catalog_needed_page(f->c, NULL, needed, 8, &n), 0);
    assert_int_equal(n, 3);
    assert_true(strcmp(needed[0], needed[1]) < 0 && strcmp(needed[1], needed[2]) < 0);
    assert_int_equal(catalog_unneeded_page(f->c, NULL, un, 8, &n), 0);
    assert_int_equal(n, 1);
    nlo_name(5, name);
    assert_string_equal(un[0].name, name);
}

static void test_pool(void **state)
{
    struct fx *f = *state;
    enum { N = 2500 };
    struct catalog_pool_obj *objs = dv_calloc(N, sizeof *objs);
    for (int i = 0; i < N; i++) {
        nlo_name(i, objs[i].name);
        snprintf(objs[i].sha256, sizeof objs[i].sha256, "%064x", i);
        objs[i].size = i;
        objs[i].live_subdir = 1 + i % 2;
        objs[i].first_set = 1;
        objs[i].stored_at = 42;
    }
    assert_int_equal(catalog_pool_insert_batch(f->c, objs, 1000), 0);
    assert_int_equal(catalog_pool_insert_batch(f->c, objs + 1000, N - 1000), 0);
    int64_t cnt, bytes;
    assert_int_equal(catalog_pool_stats(f->c, &cnt, &bytes), 0);
    assert_int_equal(cnt, N);
    assert_int_equal(bytes, (int64_t)N * (N - 1) / 2);
    /* Page subdir 2 in name order. */
    char page[300][CATALOG_NLO_NAME_LEN + 1];
    char last[CATALOG_NLO_NAME_LEN + 1] = "";
    size_t n, total = 0;
    do {
        assert_int_equal(catalog_pool_subdir_page(f->c, 2, last, page, 300, &n), 0);
        for (size_t i = 0; i < n; i++) {
            assert_true(strcmp(page[i], last) > 0);
            memcpy(last, page[i], sizeof last);
            struct catalog_pool_obj o;
            if (i == 0) {
                assert_int_equal(catalog_pool_get(f->c, page[i], &o), 1);
                assert_int_equal(o.live_subdir, 2);
            }
        }
        total += n;
    } while (n == 300);
    assert_int_equal(total, N / 2);
    /* Whole pool paging. */
    struct catalog_pool_obj *op = dv_calloc(1000, sizeof *op);
    total = 0;
    last[0] = '\0';
    do {
        assert_int_equal(catalog_pool_page(f->c, last, op, 1000, &n), 0);
        total += n;
        if (n)
            memcpy(last, op[n - 1].name, sizeof last);
    } while (n == 1000);
    assert_int_equal(total, N);
    free(op);
    /* Upsert of a known name moves it, keeps the rest. */
    struct catalog_pool_obj moved = objs[1];
    moved.live_subdir = 7;
    moved.first_set = 99;
    moved.size = 1;
    assert_int_equal(catalog_pool_insert_batch(f->c, &moved, 1), 0);
    struct catalog_pool_obj o;
    assert_int_equal(catalog_pool_get(f->c, objs[1].name, &o), 1);
    assert_int_equal(o.live_subdir, 7);
    assert_int_equal(o.first_set, 1);
    assert_int_equal(o.size, 1);
    assert_string_equal(o.sha256, objs[1].sha256);
    assert_int_equal(catalog_pool_get(f->c, "nope", NULL), 0);
    /* Delete. */
    char del[2][CATALOG_NLO_NAME_LEN + 1];
    memcpy(del[0], objs[0].name, sizeof del[0]);
    memcpy(del[1], objs[1].name, sizeof del[1]);
    assert_int_equal(catalog_pool_delete(f->c, (const char(*)[CATALOG_NLO_NAME_LEN + 1]) del, 2),
                     0);
    assert_int_equal(catalog_pool_stats(f->c, &cnt, NULL), 0);
    assert_int_equal(cnt, N - 2);
    /* A failing batch is rolled back whole (a trigger refuses the 2nd). */
    struct catalog_pool_obj bad[2];
    memset(bad, 0, sizeof bad);
    nlo_name(N + 1, bad[0].name);
    snprintf(bad[0].sha256, sizeof bad[0].sha256, "x");
    nlo_name(N + 2, bad[1].name);
    sql_exec(f->path, "CREATE TRIGGER pool_no AFTER INSERT ON nlo WHEN NEW.size = 13 BEGIN "
                      "SELECT RAISE(ABORT, 'refused'); END;");
    bad[1].size = 13;
    assert_int_equal(catalog_pool_insert_batch(f->c, bad, 2), -1);
    assert_non_null(strstr(dv_err(), "refused"));
    assert_int_equal(catalog_pool_get(f->c, bad[0].name, NULL), 0);
    free(objs);
}

static int referrer_cb(void *ud, const char *path, int64_t since)
{
    struct {
        int n;
        char path[64];
        int64_t since;
    } *r = ud;
    r->n++;
    snprintf(r->path, sizeof r->path, "%s", path);
    r->since = since;
    return 0;
}
/* Schema 6: name keys sort as the names do; the pool and references share one row per name;
 * running totals follow every change; whereis' databases come from the catalog. */
static void test_v6_names_totals(void **state)
{
    struct fx *f = *state;
    /* keys: memcmp order == strcmp order, sizes of every width, and back to the same text */
    enum { K = 64 };
    char names[K][CATALOG_NLO_NAME_LEN + 1];
    unsigned long long sizes[] = {0, 1, 255, 256, 65535, 65536, 1ull << 40, ~0ull};
    for (int i = 0; i < K; i++) {
        char hex[65];
        char seed[16];
        snprintf(seed, sizeof seed, "k%d", i / 8);
        dv_sha256_hex(seed, strlen(seed), hex);
        snprintf(names[i], sizeof names[i], "%s%016llx.nlo", hex, sizes[i % 8]);
    }
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            unsigned char a[CATALOG_KEY_MAX], b[CATALOG_KEY_MAX];
            size_t la = catalog_name_key(names[i], strlen(names[i]), a);
            size_t lb = catalog_name_key(names[j], strlen(names[j]), b);
            assert_true(la >= 34 && lb >= 34);
            int m = memcmp(a, b, la < lb ? la : lb);
            int c = m ? m : (la > lb) - (la < lb);
            int t = strcmp(names[i], names[j]);
            assert_int_equal(c < 0 ? -1 : c > 0, t < 0 ? -1 : t > 0);
        }
    unsigned char k[CATALOG_KEY_MAX];
    assert_int_equal(catalog_name_key("not-an-nlo", 10, k), 0);
    char upper[CATALOG_NLO_NAME_LEN + 1];
    snprintf(upper, sizeof upper, "%s", names[0]);
    upper[0] = 'A';
    assert_int_equal(catalog_name_key(upper, strlen(upper), k), 0);

    make_sets(f->c, 3);
    int64_t db;
    assert_int_equal(catalog_db_upsert(f->c, "mail/a.nsf", NULL, NULL, 1, &db), 0);
    /* a database references two NLOs, one of them no NLO name at all, before the pool has any */
    char n0[CATALOG_NLO_NAME_LEN + 1], n1[CATALOG_NLO_NAME_LEN + 1];
    nlo_name(0, n0);
    nlo_name(1, n1);
    const char *refs[] = {n0, n1, "not-an-nlo"};
    qsort(refs, 3, sizeof refs[0], cmp_str);
    assert_int_equal(catalog_refs_record(f->c, db, 1, refs, 3), 0);
    int64_t cnt = -1, bytes = -1;
    assert_int_equal(catalog_pool_stats(f->c, &cnt, &bytes), 0);
    assert_int_equal(cnt, 0);
    assert_int_equal(catalog_pool_get(f->c, n0, NULL), 0);
    /* the pool adopts n0's row (same id), adds n2 */
    struct catalog_pool_obj o[2];
    memset(o, 0, sizeof o);
    snprintf(o[0].name, sizeof o[0].name, "%s", n0);
    nlo_name(2, o[1].name);
    for (int i = 0; i < 2; i++) {
        dv_sha256_hex(o[i].name, 10, o[i].sha256);
        o[i].size = 100 + i;
        o[i].live_subdir = 1;
        o[i].first_set = 1;
        o[i].stored_at = 5;
    }
    long long id0 = sql_int(f->path, "SELECT id FROM nlo ORDER BY name LIMIT 1 OFFSET 1");
    assert_int_equal(catalog_pool_insert_batch(f->c, o, 2), 0);
    assert_int_equal(catalog_pool_stats(f->c, &cnt, &bytes), 0);
    assert_int_equal(cnt, 2);
    assert_int_equal(bytes, 201);
    struct catalog_pool_obj got;
    assert_int_equal(catalog_pool_get(f->c, n0, &got), 1);
    assert_string_equal(got.name, n0);
    assert_string_equal(got.sha256, o[0].sha256);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM nlo"), 4);
    assert_int_equal(sql_int(f->path, "SELECT count(DISTINCT id) FROM nlo"), 4);
    (void)id0;
    /* re-homing changes no total; a hex prefix bounds a page */
    o[0].live_subdir = 7;
    assert_int_equal(catalog_pool_insert_batch(f->c, o, 1), 0);
    assert_int_equal(catalog_pool_stats(f->c, &cnt, &bytes), 0);
    assert_int_equal(cnt, 2);
    assert_int_equal(bytes, 201);
    char page[2][CATALOG_NLO_NAME_LEN + 1];
    size_t np = 0;
    char prefix[8];
    snprintf(prefix, sizeof prefix, "%.5s", o[1].name);
    assert_int_equal(catalog_pool_name_page(f->c, prefix, page, 2, &np), 0);
    assert_true(np >= 1);
    assert_true(strncmp(page[0], prefix, 5) >= 0);
    bool seen = false;
    for (size_t i = 0; i < np; i++)
        seen |= strcmp(page[i], o[1].name) == 0;
    assert_true(seen || strcmp(page[np - 1], o[1].name) < 0);
    assert_int_equal(catalog_pool_subdir_page(f->c, 7, NULL, page, 2, &np), 0);
    assert_int_equal(np, 1);
    assert_string_equal(page[0], n0);
    /* the databases referencing n0, from the catalog */
    struct {
        int n;
        char path[64];
        int64_t since;
    } r = {0, "", 0};
    assert_int_equal(catalog_nlo_referrers(f->c, n0, referrer_cb, &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.path, "mail/a.nsf");
    assert_int_equal(r.since, 1);
    /* pool delete: n0 is referenced, its row stays (out of the pool); n2 goes */
    char del[2][CATALOG_NLO_NAME_LEN + 1];
    memcpy(del[0], o[0].name, sizeof del[0]);
    memcpy(del[1], o[1].name, sizeof del[1]);
    assert_int_equal(catalog_pool_delete(f->c, (const char(*)[CATALOG_NLO_NAME_LEN + 1]) del, 2),
                     0);
    assert_int_equal(catalog_pool_stats(f->c, &cnt, &bytes), 0);
    assert_int_equal(cnt, 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM nlo"), 3);
    assert_int_equal(catalog_pool_get(f->c, n0, NULL), 0);
    r.n = 0;
    assert_int_equal(catalog_nlo_referrers(f->c, n0, referrer_cb, &r), 0);
    assert_int_equal(r.n, 1);
    /* totals equal a scan */
    assert_int_equal(sql_int(f->path, "SELECT value FROM totals WHERE key = 'pool_objects'"),
                     sql_int(f->path, "SELECT count(*) FROM nlo WHERE sha256 IS NOT NULL"));
}

/* The rows of a catalog as text: references by database and name, totals, databases. */
static char *dump_refs(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    const char *sql = "SELECT 'r', r.db_id, quote(n.name), r.first_seq, coalesce(r.last_seq, -1) "
                      "FROM nlo_refs r JOIN nlo n ON n.id = r.nlo_id "
                      "UNION ALL SELECT 'n', 0, quote(name), sha256 IS NOT NULL, 0 FROM nlo "
                      "UNION ALL SELECT 't', 0, key, value, 0 FROM totals "
                      "UNION ALL SELECT 'd', id, quote(refs_digest), coalesce(last_ref_seq, -1), 0 "
                      "FROM databases ORDER BY 1, 2, 3, 4";
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    size_t len = 0, cap = 4096;
    char *out = dv_malloc(cap);
    out[0] = '\0';
    while (sqlite3_step(s) == SQLITE_ROW) {
        char line[512];
        int k =
            snprintf(line, sizeof line, "%s|%lld|%s|%lld|%lld\n", sqlite3_column_text(s, 0),
                     (long long)sqlite3_column_int64(s, 1), sqlite3_column_text(s, 2),
                     (long long)sqlite3_column_int64(s, 3), (long long)sqlite3_column_int64(s, 4));
        if (len + (size_t)k + 1 > cap) {
            cap = 2 * (len + (size_t)k + 1);
            out = dv_realloc(out, cap);
        }
        memcpy(out + len, line, (size_t)k + 1);
        len += (size_t)k;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
}

/* One "backup" of dbs databases at seq: database d references NLOs (d * 7 + j * 3) % 40 for
 * j < n(d) (overlapping lists), plus, for database 2, a name that is no NLO name; database 4
 * is recorded in a savepoint that is rolled back (a database that failed); in a batch
 * transaction as the backup does, one savepoint per database. */
static void bulk_round(struct catalog *c, int64_t seq, int shift, bool fail4)
{
    assert_int_equal(catalog_begin(c), 0);
    for (int d = 1; d <= 6; d++) {
        int64_t id;
        char path[32];
        snprintf(path, sizeof path, "db%d.nsf", d);
        assert_int_equal(catalog_savepoint(c), 0);
        assert_int_equal(catalog_db_upsert(c, path, NULL, NULL, 100 + seq, &id), 0);
        char names[16][CATALOG_NLO_NAME_LEN + 1];
        const char *v[17];
        size_t n = 0;
        for (int j = 0; j < 3 + d % 4 + shift; j++, n++)
            nlo_name((d * 7 + j * 3 + shift) % 40, names[n]);
        for (size_t i = 0; i < n; i++)
            v[i] = names[i];
        if (d == 2)
            v[n++] = "not-an-nlo";
        for (size_t i = 0; i < n; i++) /* sort (tiny) */
            for (size_t j = i + 1; j < n; j++)
                if (strcmp(v[j], v[i]) < 0) {
                    const char *t = v[i];
                    v[i] = v[j];
                    v[j] = t;
                }
        if (catalog_refs_record(c, id, seq, v, n) != 0)
            fail_msg("%s", dv_err());
        if (d == 4 && fail4)
            assert_int_equal(catalog_savepoint_rollback(c), 0);
        else
            assert_int_equal(catalog_savepoint_release(c), 0);
    }
    assert_int_equal(catalog_commit(c), 0);
}

/* The bulk path (databases recorded for the first time, staged and written at the commit)
 * records exactly the rows the one-database-at-a-time path does: references by name, the
 * NLO table, totals, each database's seq and digest - over a first backup, a failed
 * database, a second backup where that one is new and others changed, and a rollback. */
static void test_refs_bulk_same(void **state)
{
    struct fx *f = *state;
    char *p2 = dv_path_join(f->dir, "bulk.db");
    struct catalog *b = catalog_open(p2);
    assert_non_null(b);
    catalog_refs_bulk(b, true);
    /* a pool object before any reference: the bulk path adopts its row */
    struct catalog_pool_obj o = {.size = 5, .live_subdir = 1, .first_set = 1, .stored_at = 1};
    nlo_name(3, o.name);
    memset(o.sha256, 'a', 64);
    assert_int_equal(catalog_pool_insert_batch(f->c, &o, 1), 0);
    assert_int_equal(catalog_pool_insert_batch(b, &o, 1), 0);
    struct catalog *cs[2] = {f->c, b};
    for (int k = 0; k < 2; k++) {
        bulk_round(cs[k], 1, 0, true);
        bulk_round(cs[k], 2, 1, false);
        /* a rolled-back batch leaves nothing staged behind */
        assert_int_equal(catalog_begin(cs[k]), 0);
        int64_t id;
        assert_int_equal(catalog_db_upsert(cs[k], "late.nsf", NULL, NULL, 200, &id), 0);
        char name[CATALOG_NLO_NAME_LEN + 1];
        nlo_name(77, name);
        const char *v[1] = {name};
        assert_int_equal(catalog_refs_record(cs[k], id, 3, v, 1), 0);
        assert_int_equal(catalog_rollback(cs[k]), 0);
        bulk_round(cs[k], 3, 2, false);
    }
    catalog_close(b);
    char *a = dump_refs(f->path), *bb = dump_refs(p2);
    assert_true(strstr(a, "|-1\n") && strstr(a, "|2|") && strstr(a, "'not-an-nlo'"));
    assert_string_equal(a, bb);
    free(a);
    free(bb);
    free(p2);
}

/* The bulk path flushed before a rollback: the names the flush inserted are gone with the
 * transaction, and a later database naming them gets rows that exist (the references
 * resolve to their names), exactly as the one-database-at-a-time path records them. */
static void test_refs_bulk_flush_rollback(void **state)
{
    struct fx *f = *state;
    char *p2 = dv_path_join(f->dir, "cache.db");
    struct catalog *b = catalog_open(p2);
    assert_non_null(b);
    struct catalog *cs[2] = {f->c, b};
    catalog_refs_bulk(b, true); /* f->c: the one-at-a-time path, the reference */
    catalog_test_stage_flush_at(2);
    char names[4][CATALOG_NLO_NAME_LEN + 1];
    const char *v[4];
    for (int i = 0; i < 4; i++) {
        nlo_name(10 + i, names[i]);
        v[i] = names[i];
    }
    for (int i = 0; i < 4; i++) /* sorted, as the caller passes them */
        for (int j = i + 1; j < 4; j++)
            if (strcmp(v[j], v[i]) < 0) {
                const char *t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
    for (int k = 0; k < 2; k++) {
        struct catalog *c = cs[k];
        int64_t id1, id2, id3;
        /* a transaction whose first database is flushed (the second savepoint), then lost */
        assert_int_equal(catalog_begin(c), 0);
        assert_int_equal(catalog_savepoint(c), 0);
        assert_int_equal(catalog_db_upsert(c, "a.nsf", NULL, NULL, 1, &id1), 0);
        if (catalog_refs_record(c, id1, 1, v, 3) != 0)
            fail_msg("%s", dv_err());
        assert_int_equal(catalog_savepoint_release(c), 0);
        assert_int_equal(catalog_savepoint(c), 0); /* flushes a.nsf's three names */
        assert_int_equal(catalog_savepoint_release(c), 0);
        assert_int_equal(catalog_rollback(c), 0);
        /* the next transaction names them again (and one more) */
        assert_int_equal(catalog_begin(c), 0);
        assert_int_equal(catalog_savepoint(c), 0);
        assert_int_equal(catalog_db_upsert(c, "b.nsf", NULL, NULL, 2, &id2), 0);
        assert_int_equal(catalog_refs_record(c, id2, 1, v, 4), 0);
        assert_int_equal(catalog_savepoint_release(c), 0);
        assert_int_equal(catalog_commit(c), 0);
        /* a later database in the same bulk session: cached ids that are still good */
        assert_int_equal(catalog_begin(c), 0);
        assert_int_equal(catalog_savepoint(c), 0);
        assert_int_equal(catalog_db_upsert(c, "c.nsf", NULL, NULL, 3, &id3), 0);
        assert_int_equal(catalog_refs_record(c, id3, 2, v + 1, 2), 0);
        assert_int_equal(catalog_savepoint_release(c), 0);
        assert_int_equal(catalog_commit(c), 0);
    }
    catalog_test_stage_flush_at(0);
    catalog_close(b);
    char *a = dump_refs(f->path), *bb = dump_refs(p2);
    assert_string_equal(a, bb);
    /* every reference resolves: 4 of b.nsf + 2 of c.nsf */
    assert_int_equal(sql_int(p2, "SELECT count(*) FROM nlo_refs r JOIN nlo n ON n.id = r.nlo_id"),
                     6);
    assert_int_equal(sql_int(p2, "SELECT count(*) FROM nlo_refs"), 6);
    free(a);
    free(bb);
    free(p2);
}

static void test_jobs_events(void **state)
{
    struct fx *f = *state;
    int64_t j1, j2;
    assert_int_equal(catalog_job_start(f->c, "backup", 10, &j1), 0);
    assert_int_equal(catalog_job_start(f->c, "prune", 11, &j2), 0);
    assert_int_equal(catalog_event_add(f->c, j1, 12, 0, "started"), 0);
    assert_int_equal(catalog_event_add(f->c, j2, 13, 1, "other"), 0);
    assert_int_equal(catalog_event_add(f->c, j1, 14, 2, "broke"), 0);
    assert_int_equal(catalog_job_end(f->c, j1, 15, "failed", "broke"), 0);
    struct catalog_event ev[4];
    size_t n;
    assert_int_equal(catalog_events_page(f->c, j1, 0, ev, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].message, "started");
    assert_int_equal(ev[1].level, 2);
    assert_int_equal(catalog_events_page(f->c, 0, ev[0].id, ev, 4, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].message, "other");
    assert_int_equal(sql_int(f->path, "SELECT count(*) FROM jobs WHERE status = 'failed'"), 1);
}

/* The console's paging queries: both directions, and the last set of a database. */
static void test_console_pages(void **state)
{
    struct fx *f = *state;
    make_sets(f->c, 5);
    int64_t db1, db2;
    assert_int_equal(catalog_db_upsert(f->c, "a.nsf", NULL, NULL, 1, &db1), 0);
    assert_int_equal(catalog_db_upsert(f->c, "b.nsf", NULL, NULL, 1, &db2), 0);
    struct catalog_set s;
    assert_int_equal(catalog_db_last_set(f->c, "a.nsf", false, &s), 0);
    add_file(f->c, 2, db1);
    add_file(f->c, 4, db1);
    add_file(f->c, 3, db2);
    struct catalog_set done = {.status = CATALOG_SET_COMPLETE, .ended = 9};
    snprintf(done.id, sizeof done.id, "S2");
    assert_int_equal(catalog_set_finish(f->c, &done), 0);
    assert_int_equal(catalog_db_last_set(f->c, "a.nsf", false, &s), 1);
    assert_string_equal(s.id, "S4"); /* newest, running */
    assert_int_equal(catalog_db_last_set(f->c, "a.nsf", true, &s), 1);
    assert_string_equal(s.id, "S2"); /* newest complete */
    assert_int_equal(catalog_db_last_set(f->c, "b.nsf", true, &s), 0);
    assert_int_equal(catalog_db_last_set(f->c, "c.nsf", false, &s), 0);

    struct catalog_set page[3];
    size_t n;
    assert_int_equal(catalog_sets_newer(f->c, 2, page, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(page[0].seq, 3);
    assert_int_equal(page[2].seq, 5);
    assert_int_equal(catalog_sets_newer(f->c, 5, page, 3, &n), 0);
    assert_int_equal(n, 0);

    int64_t id[5];
    for (int i = 0; i < 5; i++)
        assert_int_equal(catalog_job_start(f->c, "backup", 10 + i, &id[i]), 0);
    assert_int_equal(catalog_job_end(f->c, id[1], 20, "ok", "fine"), 0);
    struct catalog_job jp[3];
    assert_int_equal(catalog_jobs_page(f->c, 0, false, jp, 3, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(jp[0].id, id[4]); /* newest first */
    assert_int_equal(catalog_jobs_page(f->c, jp[2].id, false, jp, 3, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(jp[0].id, id[1]);
    assert_string_equal(jp[0].status, "ok");
    assert_string_equal(jp[0].message, "fine");
    assert_int_equal(jp[0].ended, 20);
    assert_int_equal(catalog_jobs_page(f->c, id[2], true, jp, 3, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(jp[0].id, id[3]); /* oldest first */

    struct catalog_pool_obj objs[10], back[4];
    for (int i = 0; i < 10; i++) {
        memset(&objs[i], 0, sizeof objs[i]);
        nlo_name(i, objs[i].name);
        snprintf(objs[i].sha256, sizeof objs[i].sha256, "%064x", i);
        objs[i].first_set = 1;
    }
    assert_int_equal(catalog_pool_insert_batch(f->c, objs, 10), 0);
    assert_int_equal(catalog_pool_page_back(f->c, NULL, back, 4, &n), 0);
    assert_int_equal(n, 4);
    assert_true(strcmp(back[0].name, back[1].name) > 0); /* descending from the last */
    char last[CATALOG_NLO_NAME_LEN + 1];
    snprintf(last, sizeof last, "%s", back[3].name);
    assert_int_equal(catalog_pool_page_back(f->c, last, back, 4, &n), 0);
    assert_int_equal(n, 4);
    assert_true(strcmp(back[0].name, last) < 0);
    assert_int_equal(catalog_pool_page_back(f->c, back[3].name, back, 4, &n), 0);
    assert_int_equal(n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration_from_empty_version0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sets_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_running, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refs_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refs_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nlo_sets_and_needed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v6_names_totals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refs_bulk_same, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refs_bulk_flush_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_jobs_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_console_pages, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

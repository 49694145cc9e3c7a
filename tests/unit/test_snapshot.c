/* test_snapshot.c - snapshot.c (pinning a live database's read snapshot), nlorefs.c (a
 * database's NLO references) and dbcopy.c (reading a copy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbcopy.h"
#include "nlorefs.h"
#include "snapshot.h"
#include "util.h"

struct fx {
    char dir[64];
    char *db;
};

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
}

static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static sqlite3 *open_rw(const char *path)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 100);
    return db;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/snapXXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    f->db = dv_path_join(f->dir, "live.nsf");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(cmd);
    free(f->db);
    free(f);
    return 0;
}

/* A WAL database with an identity, n rows in t and the given attachment names. */
static void make_db(const char *path, bool wal, int n, const char *const *nlos)
{
    sqlite3 *db = open_rw(path);
    exec(db, "PRAGMA page_size=1024");
    if (wal)
        exec(db, "PRAGMA journal_mode=WAL");
    exec(db, "CREATE TABLE dbinfo(key TEXT PRIMARY KEY, value TEXT);"
             "INSERT INTO dbinfo VALUES('replica_id','R1'),('dbiid','I1');"
             "CREATE TABLE t(x);"
             "CREATE TABLE attachments(id INTEGER PRIMARY KEY, nlo TEXT)");
    for (int i = 0; i < n; i++)
        exec(db, "INSERT INTO t VALUES(randomblob(100))");
    for (; nlos && *nlos; nlos++) {
        char *sql = strcmp(*nlos, "NULL") == 0
                        ? dv_strdup("INSERT INTO attachments(nlo) VALUES(NULL)")
                        : dv_asprintf("INSERT INTO attachments(nlo) VALUES('%s')", *nlos);
        exec(db, sql);
        free(sql);
    }
    sqlite3_close(db);
}

/* The snapshot holds: a checkpoint cannot reset the WAL under it, its reads stay as of its
 * begin; snapshot_end lets go and closes the descriptor after the connection. */
static void test_snapshot_pins(void **state)
{
    struct fx *f = *state;
    make_db(f->db, true, 10, NULL);
    struct dv_snapshot s;
    assert_int_equal(snapshot_begin(&s, f->db, 0), 0);
    assert_true(s.wal_mode);
    assert_int_equal(s.page_size, 1024);
    assert_string_equal(s.replica_id, "R1");
    assert_string_equal(s.dbiid, "I1");
    struct stat st;
    assert_int_equal(stat(f->db, &st), 0);
    assert_int_equal(s.size, (uint64_t)st.st_size);
    int fd = s.fd;
    assert_true(fd >= 0 && fcntl(fd, F_GETFD) >= 0);

    sqlite3 *w = open_rw(f->db);
    for (int i = 0; i < 20; i++)
        exec(w, "INSERT INTO t VALUES(randomblob(100))");
    /* busy (first column 1): our read mark keeps the WAL from being reset */
    assert_int_equal(query_int(w, "PRAGMA wal_checkpoint(TRUNCATE)"), 1);
    char buf[32];
    assert_int_equal(snapshot_text(s.db, "SELECT count(*) FROM t", NULL, buf, sizeof buf), 0);
    assert_string_equal(buf, "10");

    assert_int_equal(snapshot_end(&s), 0);
    assert_null(s.db);
    assert_int_equal(s.fd, -1);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
    assert_int_equal(snapshot_end(&s), 0); /* twice: harmless */
    assert_int_equal(query_int(w, "PRAGMA wal_checkpoint(TRUNCATE)"), 0);
    assert_int_equal(query_int(w, "SELECT count(*) FROM t"), 30);
    sqlite3_close(w);
}

/* Not in WAL mode: the shared lock keeps writers out while the snapshot is held. */
static void test_snapshot_rollback_journal(void **state)
{
    struct fx *f = *state;
    make_db(f->db, false, 3, NULL);
    struct dv_snapshot s;
    assert_int_equal(snapshot_begin(&s, f->db, 0), 0);
    assert_false(s.wal_mode);
    sqlite3 *w = open_rw(f->db);
    assert_int_equal(sqlite3_exec(w, "INSERT INTO t VALUES(1)", NULL, NULL, NULL), SQLITE_BUSY);
    assert_int_equal(snapshot_end(&s), 0);
    exec(w, "INSERT INTO t VALUES(1)");
    sqlite3_close(w);
}

static void test_snapshot_refuses(void **state)
{
    struct fx *f = *state;
    struct dv_snapshot s;
    assert_int_equal(snapshot_begin(&s, f->db, 0), -1); /* missing */
    assert_int_equal(snapshot_end(&s), 0);
    int fd = open(f->db, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(snapshot_begin(&s, f->db, 0), -1); /* 0 bytes */
    assert_non_null(strstr(dv_err(), "empty file"));
    assert_int_equal(snapshot_end(&s), 0);
    assert_int_equal(s.fd, -1);
}

static void test_nlorefs(void **state)
{
    struct fx *f = *state;
    const char *const nlos[] = {"bb", "aa", "bb", "NULL", "c", NULL};
    make_db(f->db, true, 1, nlos);
    char **v = NULL;
    size_t n = 0;
    assert_int_equal(nlorefs_read_file(f->db, &v, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "aa");
    assert_string_equal(v[1], "bb");
    assert_string_equal(v[2], "c");
    nlorefs_free(v, n);

    /* from a live connection: appended, then sorted and made unique */
    sqlite3 *db = NULL;
    assert_int_equal(snapshot_open(f->db, 0, &db), 0);
    v = NULL, n = 0;
    assert_int_equal(nlorefs_query(db, f->db, &v, &n), 0);
    assert_int_equal(nlorefs_query(db, f->db, &v, &n), 0);
    assert_int_equal(n, 6);
    nlorefs_sort_unique(v, &n);
    assert_int_equal(n, 3);
    assert_string_equal(v[0], "aa");
    assert_string_equal(v[2], "c");
    nlorefs_free(v, n);
    exec(db, "SELECT 1"); /* read-only connection still usable */
    sqlite3_close(db);

    /* no attachments table: no references */
    char *other = dv_path_join(f->dir, "plain.nsf");
    sqlite3 *p = open_rw(other);
    exec(p, "CREATE TABLE t(x)");
    sqlite3_close(p);
    v = NULL, n = 7;
    assert_int_equal(nlorefs_read_file(other, &v, &n), 0);
    assert_int_equal(n, 0);
    nlorefs_free(v, n);

    /* not a database */
    FILE *g = fopen(other, "w");
    assert_non_null(g);
    fputs("this is not a database, not at all, and long enough to have a header ....", g);
    fclose(g);
    assert_int_equal(nlorefs_read_file(other, &v, &n), -1);
    assert_int_equal(dbcopy_integrity_check(other), -1);
    free(other);
}

static void test_dbcopy_integrity(void **state)
{
    struct fx *f = *state;
    make_db(f->db, false, 50, NULL);
    assert_int_equal(dbcopy_integrity_check(f->db), 0);
    /* a name SQLite's URI syntax would misread is still the file */
    char *odd = dv_path_join(f->dir, "a#b?c%d.nsf");
    assert_int_equal(rename(f->db, odd), 0);
    assert_int_equal(dbcopy_integrity_check(odd), 0);
    /* a page of the tree overwritten: found */
    int fd = open(odd, O_WRONLY);
    char junk[1024];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(pwrite(fd, junk, sizeof junk, 3 * 1024), (ssize_t)sizeof junk);
    close(fd);
    assert_int_equal(dbcopy_integrity_check(odd), -1);
    free(odd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshot_pins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_rollback_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nlorefs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dbcopy_integrity, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_hotcopy.c - hot copies of real SQLite databases, quiescent and under a live writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dvtmp.h"
#include "delta.h"
#include "fsb.h"
#include "hotcopy.h"
#include "pagemap.h"
#include "util.h"
#include "wal.h"

/* hotcopy_db with absolute paths: dst (and delta, in the same directory or below it) beneath
 * dst's directory */
static int hc(const char *src, const char *dst, const char *delta, const struct hotcopy_opts *o,
              struct hotcopy_result *r)
{
    char *dir = dv_dirname(dst);
    size_t n = strlen(dir) + 1;
    struct fsb *root = fsb_open(dir);
    int rc = -1;
    if (root)
        rc = hotcopy_db(src, root, dst + n, delta ? delta + n : NULL, o, r);
    else
        memset(r, 0, sizeof *r);
    fsb_close(root);
    free(dir);
    return rc;
}

#define ACCOUNTS 100
#define START_BALANCE 1000

struct fx {
    char dir[256];
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
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void assert_integrity_ok(const char *path)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *r = (const char *)sqlite3_column_text(st, 0);
    if (strcmp(r, "ok") != 0)
        fail_msg("%s: integrity_check: %s", path, r);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "hotcopy"));
    f->db = dv_path_join(f->dir, "live.nsf");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", f->dir);
    free(cmd);
    free(f->db);
    free(f);
    return 0;
}

static char *in_dir(struct fx *f, const char *name)
{
    return dv_path_join(f->dir, name);
}

/* A database like the server's, with an identity; returns the writer connection, open. */
static sqlite3 *make_db(const char *path, bool wal, int filler_rows)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (wal)
        exec(db, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;");
    exec(db, "CREATE TABLE dbinfo(key TEXT PRIMARY KEY, value TEXT);"
             "INSERT INTO dbinfo VALUES ('replica_id','85257A3F00112233'),"
             "('dbiid','C1257A3F00AABBCC'),('title','Live');"
             "CREATE TABLE filler(id INTEGER PRIMARY KEY, v BLOB);");
    char sql[200];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<%d)"
             " INSERT INTO filler(v) SELECT randomblob(3000) FROM c;",
             filler_rows);
    exec(db, sql);
    exec(db, "CREATE TABLE accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);"
             "CREATE TABLE counter(n INTEGER NOT NULL); INSERT INTO counter VALUES (0);"
             "CREATE TABLE log(id INTEGER PRIMARY KEY, v BLOB);"
             "CREATE INDEX log_v ON log(v);");
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<%d)"
             " INSERT INTO accounts SELECT x, %d FROM c;",
             ACCOUNTS, START_BALANCE);
    exec(db, sql);
    return db;
}

/* Compare every table of two databases row for row. */
static void assert_same_content(const char *a, const char *b)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(a, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    char *sql = sqlite3_mprintf("ATTACH %Q AS other", b);
    exec(db, sql);
    sqlite3_free(sql);
    const char *tables[] = {"dbinfo", "filler", "accounts", "counter", "log"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char q[512];
        snprintf(q, sizeof q,
                 "SELECT (SELECT count(*) FROM (SELECT * FROM main.%s EXCEPT SELECT * FROM "
                 "other.%s)) + (SELECT count(*) FROM (SELECT * FROM other.%s EXCEPT SELECT * "
                 "FROM main.%s)) + abs((SELECT count(*) FROM main.%s) - (SELECT count(*) FROM "
                 "other.%s))",
                 tables[i], tables[i], tables[i], tables[i], tables[i], tables[i]);
        if (query_int(db, q) != 0)
            fail_msg("table %s differs between %s and %s", tables[i], a, b);
    }
    sqlite3_close(db);
}

static void backup_api_copy(const char *src, const char *dst)
{
    sqlite3 *s, *d;
    assert_int_equal(sqlite3_open_v2(src, &s, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_open(dst, &d), SQLITE_OK);
    sqlite3_backup *b = sqlite3_backup_init(d, "main", s, "main");
    assert_non_null(b);
    assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
    sqlite3_backup_finish(b);
    sqlite3_close(d);
    sqlite3_close(s);
}

static void some_txns(sqlite3 *db, int n)
{
    for (int i = 0; i < n; i++)
        exec(db, "BEGIN; UPDATE accounts SET balance = balance - 5 WHERE id = 1;"
                 "UPDATE accounts SET balance = balance + 5 WHERE id = 2;"
                 "UPDATE counter SET n = n + 1; INSERT INTO log(v) VALUES (randomblob(700));"
                 "COMMIT;");
}

static void assert_invariants(const char *path, long long min_n, long long max_n)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(query_int(db, "SELECT sum(balance) FROM accounts"),
                     (long long)ACCOUNTS * START_BALANCE);
    assert_int_equal(query_int(db, "SELECT count(*) FROM accounts"), ACCOUNTS);
    long long n = query_int(db, "SELECT n FROM counter");
    if (n < min_n || n > max_n)
        fail_msg("%s: counter %lld not in [%lld, %lld]", path, n, min_n, max_n);
    sqlite3_close(db);
}

/* (a) A quiescent database with committed frames in its WAL. */
static void test_quiescent_apply_and_keep(void **state)
{
    struct fx *f = *state;
    sqlite3 *w = make_db(f->db, true, 50);
    some_txns(w, 30);
    char *dst = in_dir(f, "copy.nsf"), *ref = in_dir(f, "ref.nsf");

    struct hotcopy_opts o = {.delta = DV_DELTA_APPLY};
    struct hotcopy_result r;
    if (hc(f->db, dst, NULL, &o, &r) != 0)
        fail_msg("%s", dv_err());
    assert_true(r.wal_mode);
    assert_false(r.locked_copy);
    assert_string_equal(r.replica_id, "85257A3F00112233");
    assert_string_equal(r.dbiid, "C1257A3F00AABBCC");
    assert_int_equal(r.page_size, query_int(w, "PRAGMA page_size"));
    assert_true(r.wal_frames > 30);
    assert_true(r.delta_pages > 0 && r.delta_pages <= r.wal_frames);
    assert_int_equal(r.final_size, (uint64_t)query_int(w, "PRAGMA page_count") * r.page_size);
    assert_string_equal(r.delta_sha256, "");
    char sha[65];
    assert_int_equal(dv_sha256_file_hex(dst, sha), 0);
    assert_string_equal(sha, r.copy_sha256);
    struct stat sb;
    assert_int_equal(stat(dst, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, r.final_size);
    assert_integrity_ok(dst);
    backup_api_copy(f->db, ref);
    assert_same_content(dst, ref);
    assert_invariants(dst, 30, 30);

    /* keep: the raw copy + the .delta, applied afterwards, give the same bytes. */
    char *raw = in_dir(f, "raw.nsf"), *delta = in_dir(f, "raw.nsf.delta");
    o.delta = DV_DELTA_KEEP;
    struct hotcopy_result k;
    if (hc(f->db, raw, delta, &o, &k) != 0)
        fail_msg("%s", dv_err());
    assert_int_equal(stat(raw, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, k.base_size);
    assert_int_equal(dv_sha256_file_hex(raw, sha), 0);
    assert_string_equal(sha, k.copy_sha256);
    assert_int_equal(dv_sha256_file_hex(delta, sha), 0);
    assert_string_equal(sha, k.delta_sha256);
    struct delta_header h;
    assert_int_equal(delta_verify(delta, &h, NULL), 0);
    assert_string_equal(h.replica_id, "85257A3F00112233");
    assert_string_equal(h.dbiid, "C1257A3F00AABBCC");
    assert_int_equal(h.page_count, k.delta_pages);
    assert_int_equal(h.final_size, k.final_size);
    assert_int_equal(delta_apply(delta, raw), 0);
    assert_int_equal(dv_sha256_file_hex(raw, sha), 0);
    assert_string_equal(sha, r.copy_sha256);

    /* The copy is byte for byte what the live file becomes after a full checkpoint. */
    exec(w, "PRAGMA wal_checkpoint(TRUNCATE)");
    assert_int_equal(dv_sha256_file_hex(f->db, sha), 0);
    assert_string_equal(sha, r.copy_sha256);

    /* keep without a delta path is refused; nothing is left behind. */
    char *none = in_dir(f, "none.nsf");
    assert_int_equal(hc(f->db, none, NULL, &o, &k), -1);
    assert_int_not_equal(access(none, F_OK), 0);
    free(none);
    sqlite3_close(w);
    free(raw);
    free(delta);
    free(dst);
    free(ref);
}

/* ---- (b) the real thing: a writer thread commits and checkpoints during the copies ---- */

struct writer {
    const char *path;
    atomic_bool stop;
    atomic_long commits;
    atomic_long checkpoints;
    char err[256];
};

static void *writer_main(void *arg)
{
    struct writer *wr = arg;
    sqlite3 *db;
    if (sqlite3_open(wr->path, &db) != SQLITE_OK) {
        snprintf(wr->err, sizeof wr->err, "open: %s", sqlite3_errmsg(db));
        return NULL;
    }
    sqlite3_busy_timeout(db, 10000);
    sqlite3_exec(db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL);
    unsigned seed = 12345;
    char sql[400];
    for (long i = 0; !atomic_load(&wr->stop); i++) {
        int a = 1 + (int)(rand_r(&seed) % ACCOUNTS), b = 1 + (int)(rand_r(&seed) % ACCOUNTS);
        int amt = (int)(rand_r(&seed) % 50);
        snprintf(sql, sizeof sql,
                 "BEGIN IMMEDIATE;"
                 "UPDATE accounts SET balance = balance - %d WHERE id = %d;"
                 "UPDATE accounts SET balance = balance + %d WHERE id = %d;"
                 "UPDATE counter SET n = n + 1;"
                 "INSERT INTO log(v) VALUES (randomblob(%d));"
                 "%s"
                 "COMMIT;",
                 amt, a, amt, b, 200 + (int)(rand_r(&seed) % 3000),
                 i % 40 == 39 ? "DELETE FROM log WHERE id % 3 = 0;" : "");
        char *err = NULL;
        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
            snprintf(wr->err, sizeof wr->err, "commit %ld: %s", i, err ? err : "?");
            sqlite3_free(err);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            break;
        }
        atomic_fetch_add(&wr->commits, 1);
        if (i % 10 == 9) {
            if (sqlite3_exec(db, "PRAGMA wal_checkpoint(PASSIVE)", NULL, NULL, &err) != SQLITE_OK) {
                snprintf(wr->err, sizeof wr->err, "checkpoint: %s", err ? err : "?");
                sqlite3_free(err);
                break;
            }
            atomic_fetch_add(&wr->checkpoints, 1);
        }
    }
    sqlite3_close(db);
    return NULL;
}

struct during {
    struct writer *wr;
    int waits;
    bool blocked;
};

/*
 * Progress callback, called while the copy runs (snapshot pinned): let the writer commit and
 * checkpoint some more before the copy goes on. If it cannot, it is blocked by us.
 */
static void during_copy(void *ud, const struct dv_progress *p)
{
    struct during *d = ud;
    if (p->bytes_done == 0)
        return;
    long c0 = atomic_load(&d->wr->commits), k0 = atomic_load(&d->wr->checkpoints);
    for (int ms = 0; ms < 60000; ms++) {
        if (atomic_load(&d->wr->commits) >= c0 + 25 && atomic_load(&d->wr->checkpoints) > k0) {
            d->waits++;
            return;
        }
        if (d->wr->err[0])
            break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    d->blocked = true;
}

static void test_live_writer_20_copies(void **state)
{
    struct fx *f = *state;
    /* ~21 MiB: the copy takes two chunks; accounts/log pages lie beyond the first one. */
    sqlite3 *setup_db = make_db(f->db, true, 7000);
    exec(setup_db, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(setup_db);

    struct writer wr = {.path = f->db};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &wr), 0);
    while (atomic_load(&wr.commits) < 50 && !wr.err[0])
        usleep(1000);

    struct during d = {.wr = &wr};
    struct dv_job job;
    job_init(&job, "test");
    job.on_progress = during_copy;
    job.progress_ud = &d;
    long progressed = 0;
    /* under valgrind (make valgrind sets VALGRIND) 4 copies: SHA-256 runs without SHA-NI
     * there, and 20 copies of 21 MiB took over 10 minutes; memory errors show in any copy */
    int ncopies = getenv("VALGRIND") ? 4 : 20;
    for (int i = 0; i < ncopies; i++) {
        bool keep = i % 2 == 1;
        char name[32], dname[40];
        snprintf(name, sizeof name, "copy%02d.nsf", i);
        snprintf(dname, sizeof dname, "copy%02d.nsf.delta", i);
        char *dst = in_dir(f, name), *delta = in_dir(f, dname);
        struct pagemap pm;
        struct hotcopy_opts o = {
            .delta = keep ? DV_DELTA_KEEP : DV_DELTA_APPLY, .job = &job, .pm = &pm};
        struct hotcopy_result r;
        job.last_report = 0; /* the first chunk reports at once */
        int waits = d.waits;
        long before = atomic_load(&wr.commits);
        int rc = hc(f->db, dst, keep ? delta : NULL, &o, &r);
        long after = atomic_load(&wr.commits);
        if (rc != 0)
            fail_msg("copy %d: %s", i, dv_err());
        assert_false(d.blocked);
        assert_true(d.waits > waits); /* the writer committed during this copy */
        progressed += after - before;
        assert_true(r.wal_mode);
        assert_true(r.base_size > (16u << 20)); /* many chunks of the stream */
        /* the map and hash made in the copy's one read, then patched for the delta, are
         * those of the files as they are (the delta changed pages the stream had hashed) */
        char sha[65];
        struct pagemap m;
        assert_int_equal(dv_sha256_file_hex(dst, sha), 0);
        assert_string_equal(sha, r.copy_sha256);
        assert_int_equal(pagemap_of_copy(dst, keep ? delta : NULL, r.page_size, &m), 0);
        assert_int_equal(m.size, pm.size);
        assert_int_equal(m.npages, pm.npages);
        assert_memory_equal(m.d, pm.d, m.npages * PAGEMAP_DIGEST);
        pagemap_done(&m);
        pagemap_done(&pm);
        if (keep) {
            assert_int_equal(delta_verify(delta, NULL, NULL), 0);
            if (delta_apply(delta, dst) != 0)
                fail_msg("copy %d: %s", i, dv_err());
        }
        struct stat sb;
        assert_int_equal(stat(dst, &sb), 0);
        assert_int_equal((uint64_t)sb.st_size, r.final_size);
        assert_integrity_ok(dst);
        assert_invariants(dst, before, after + 1);
        unlink(dst);
        unlink(delta);
        free(dst);
        free(delta);
    }
    atomic_store(&wr.stop, true);
    pthread_join(th, NULL);
    job_done(&job);
    if (wr.err[0])
        fail_msg("writer: %s", wr.err);
    assert_true(progressed >= ncopies * 25);
    assert_true(atomic_load(&wr.checkpoints) >= ncopies);
}

/* (c) A rollback-journal database gets the locked copy. */
static void test_non_wal_locked_copy(void **state)
{
    struct fx *f = *state;
    sqlite3 *w = make_db(f->db, false, 20);
    some_txns(w, 5);
    sqlite3_close(w);
    char *dst = in_dir(f, "copy.nsf");
    struct hotcopy_result r;
    if (hc(f->db, dst, NULL, NULL, &r) != 0)
        fail_msg("%s", dv_err());
    assert_false(r.wal_mode);
    assert_true(r.locked_copy);
    assert_int_equal(r.wal_frames, 0);
    assert_int_equal(r.final_size, r.base_size);
    assert_string_equal(r.replica_id, "85257A3F00112233");
    char sha[65];
    assert_int_equal(dv_sha256_file_hex(f->db, sha), 0);
    assert_string_equal(sha, r.copy_sha256);
    assert_integrity_ok(dst);
    assert_invariants(dst, 5, 5);
    free(dst);
}

/* (d) The copy taken by a snapshot command; a failing command reports its stderr. */
static void test_snapshot_command(void **state)
{
    struct fx *f = *state;
    sqlite3 *w = make_db(f->db, true, 20);
    some_txns(w, 12);
    char *dst = in_dir(f, "snap.nsf");
    struct hotcopy_opts o = {.snapshot_command = "cp {src} {dst}"};
    struct hotcopy_result r;
    if (hc(f->db, dst, NULL, &o, &r) != 0)
        fail_msg("%s", dv_err());
    assert_true(r.wal_frames > 0);
    assert_integrity_ok(dst);
    assert_invariants(dst, 12, 12);

    o.snapshot_command = "cp {src} /nonexistent-dir/{dst}";
    char *dst2 = in_dir(f, "snap2.nsf");
    assert_int_equal(hc(f->db, dst2, NULL, &o, &r), -1);
    if (!strstr(dv_err(), "exited with") || !strstr(dv_err(), "No such file"))
        fail_msg("unexpected: %s", dv_err());
    assert_int_not_equal(access(dst2, F_OK), 0);

    o.snapshot_command = "/no/such/program {src} {dst}";
    assert_int_equal(hc(f->db, dst2, NULL, &o, &r), -1);
    assert_non_null(strstr(dv_err(), "/no/such/program"));
    assert_int_not_equal(access(dst2, F_OK), 0);
    sqlite3_close(w);
    free(dst);
    free(dst2);
}

struct filestate {
    char sha[65];
    struct timespec mtime;
    off_t size;
};

static void file_state(const char *path, struct filestate *s)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    s->mtime = sb.st_mtim;
    s->size = sb.st_size;
    assert_int_equal(dv_sha256_file_hex(path, s->sha), 0);
}

static void assert_same_state(const struct filestate *a, const struct filestate *b)
{
    assert_string_equal(a->sha, b->sha);
    assert_int_equal(a->size, b->size);
    assert_int_equal(a->mtime.tv_sec, b->mtime.tv_sec);
    assert_int_equal(a->mtime.tv_nsec, b->mtime.tv_nsec);
}

/* (e) A backup does not change the live files. */
static void test_live_files_untouched(void **state)
{
    struct fx *f = *state;
    sqlite3 *w = make_db(f->db, true, 20);
    some_txns(w, 10); /* frames in the WAL, writer idle but connected */
    char *walp = wal_path_of(f->db);
    struct filestate db0, wal0, db1, wal1;
    file_state(f->db, &db0);
    file_state(walp, &wal0);
    char *dst = in_dir(f, "c.nsf"), *dst2 = in_dir(f, "k.nsf"), *delta = in_dir(f, "k.delta");
    struct hotcopy_result r;
    struct hotcopy_opts o = {.delta = DV_DELTA_APPLY};
    assert_int_equal(hc(f->db, dst, NULL, &o, &r), 0);
    o.delta = DV_DELTA_KEEP;
    assert_int_equal(hc(f->db, dst2, delta, &o, &r), 0);
    file_state(f->db, &db1);
    file_state(walp, &wal1);
    assert_same_state(&db0, &db1);
    assert_same_state(&wal0, &wal1);
    /* The writer goes on as if nothing happened. */
    some_txns(w, 1);
    sqlite3_close(w);

    /* No writer connected at all (the WAL was removed at its close). */
    file_state(f->db, &db0);
    unlink(dst);
    assert_int_equal(hc(f->db, dst, NULL, NULL, &r), 0);
    file_state(f->db, &db1);
    assert_same_state(&db0, &db1);
    assert_true(r.wal_mode);
    assert_int_equal(r.wal_frames, 0);
    assert_string_equal(r.copy_sha256, db0.sha);
    assert_invariants(dst, 11, 11);
    free(walp);
    free(dst);
    free(dst2);
    free(delta);
}

static void test_cancel_and_missing(void **state)
{
    struct fx *f = *state;
    sqlite3 *w = make_db(f->db, true, 20);
    struct dv_job job;
    job_init(&job, "test");
    job_cancel(&job);
    struct hotcopy_opts o = {.job = &job};
    struct hotcopy_result r;
    char *dst = in_dir(f, "c.nsf");
    assert_int_equal(hc(f->db, dst, NULL, &o, &r), -1);
    assert_non_null(strstr(dv_err(), "cancelled"));
    assert_non_null(strstr(dv_err(), f->db));
    assert_int_not_equal(access(dst, F_OK), 0);
    job_done(&job);

    char *missing = in_dir(f, "missing.nsf");
    assert_int_equal(hc(missing, dst, NULL, NULL, &r), -1);
    assert_non_null(strstr(dv_err(), missing));
    assert_int_not_equal(access(dst, F_OK), 0);
    assert_int_not_equal(access(missing, F_OK), 0);
    sqlite3_close(w);
    free(dst);
    free(missing);
}

/*
 * The POSIX-lock trap (design.md): a writer in ANOTHER process that closes its connection
 * during the copy must still see our shared lock, so it neither checkpoints nor deletes the
 * WAL. If hotcopy closed any descriptor of the file before sqlite3_close(), the writer would
 * believe it is the last connection, and the copy would miss the WAL's transactions.
 */
struct trap {
    pid_t child;
    int go_fd; /* write a byte: the child closes its connection and exits */
    const char *wal;
    bool wal_survived, done;
};

static void close_writer_during_copy(void *ud, const struct dv_progress *p)
{
    struct trap *t = ud;
    if (p->bytes_done == 0 || t->done)
        return;
    t->done = true;
    if (write(t->go_fd, "x", 1) != 1)
        return;
    int status;
    if (waitpid(t->child, &status, 0) == t->child && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        t->wal_survived = access(t->wal, F_OK) == 0;
}

static void test_writer_process_closes_during_copy(void **state)
{
    struct fx *f = *state;
    sqlite3 *w = make_db(f->db, true, 20);
    exec(w, "PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(w);
    int go[2], ready[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the server: commit 40 transactions, wait, close (checkpoint attempt) */
        sqlite3 *db;
        char c;
        if (sqlite3_open(f->db, &db) != SQLITE_OK ||
            sqlite3_exec(db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL) != SQLITE_OK)
            _exit(2);
        for (int i = 0; i < 40; i++)
            if (sqlite3_exec(db, "UPDATE counter SET n = n + 1", NULL, NULL, NULL) != SQLITE_OK)
                _exit(3);
        if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(4);
        _exit(sqlite3_close(db) == SQLITE_OK ? 0 : 5);
    }
    close(go[0]);
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    char *walp = wal_path_of(f->db), *dst = in_dir(f, "trap.nsf");
    struct trap t = {.child = pid, .go_fd = go[1], .wal = walp};
    struct dv_job job;
    job_init(&job, "test");
    job.on_progress = close_writer_during_copy;
    job.progress_ud = &t;
    struct hotcopy_opts o = {.job = &job};
    struct hotcopy_result r;
    int rc = hc(f->db, dst, NULL, &o, &r);
    job_done(&job);
    close(go[1]);
    close(ready[0]);
    if (!t.done)
        waitpid(pid, NULL, 0);
    if (rc != 0)
        fail_msg("%s", dv_err());
    assert_true(t.done);
    assert_true(t.wal_survived);
    assert_int_equal(r.wal_frames, 40);
    assert_integrity_ok(dst);
    assert_invariants(dst, 40, 40);
    free(walp);
    free(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_quiescent_apply_and_keep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_writer_20_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_wal_locked_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_command, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_files_untouched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_process_closes_during_copy, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

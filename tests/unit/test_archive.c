/* test_archive.c - WAL archive segments: resume across runs, WAL reset between separate runs
 * is a GAP (and point-in-time restore refuses to cross it), whole transactions only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dvtmp.h"
#include "archive.h"
#include "target.h"
#include "config.h"
#include "pitr.h"
#include "util.h"

struct fx {
    char dir[256];
    struct dv_config cfg;
    char *db;
    sqlite3 *w;
};

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
}

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "archive"));
    dv_config_defaults(&f->cfg, f->dir);
    assert_int_equal(dv_mkdirs(f->cfg.server.data_dir, 0700), 0);
    {
        struct target_identity tid;
        if (target_init(f->cfg.backup.target, NULL, &tid, NULL) != 0)
            fail_msg("%s", dv_err());
    }
    f->db = dv_path_join(f->cfg.server.data_dir, "a.nsf");
    assert_int_equal(sqlite3_open(f->db, &f->w), SQLITE_OK);
    exec(f->w, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
               "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    sqlite3_close(f->w);
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cleanup of %s failed\n", f->dir);
    free(cmd);
    free(f->db);
    dv_config_done(&f->cfg);
    free(f);
    return 0;
}

static void insert(sqlite3 *w, int n)
{
    for (int i = 0; i < n; i++)
        exec(w, "INSERT INTO t(v) VALUES (hex(randomblob(100)))");
}

static void run_once(struct fx *f, struct archive_result *r)
{
    struct archive_opts o = {.follow_seconds = -1};
    if (archive_run(&f->cfg, &o, r) != 0)
        fail_msg("archive: %s", dv_err());
}

static void test_resume_and_gap(void **state)
{
    struct fx *f = *state;
    struct archive_result r;
    insert(f->w, 5);
    run_once(f, &r);
    assert_int_equal(r.segments, 1);
    assert_int_equal(r.transactions, 6); /* CREATE TABLE + 5 inserts */
    assert_int_equal(r.gaps, 0);
    /* nothing new: nothing written; new commits in the same generation: resumed exactly */
    run_once(f, &r);
    assert_int_equal(r.segments, 0);
    insert(f->w, 3);
    exec(f->w, "BEGIN; INSERT INTO t(v) VALUES ('open');"); /* uncommitted: not archived */
    run_once(f, &r);
    exec(f->w, "COMMIT");
    assert_int_equal(r.transactions, 3);
    assert_int_equal(r.gaps, 0);
    /* that pass could not seal (the open transaction held the write lock): the next one does */
    run_once(f, &r);
    assert_int_equal(r.transactions, 1);
    assert_int_equal(r.seals, 1);
    struct archive_seg *segs;
    size_t n;
    assert_int_equal(archive_list(f->cfg.backup.target, "a.nsf", &segs, &n), 0);
    assert_int_equal(n, 3);
    assert_false(segs[1].flags & ARCHIVE_SEG_SEALED);
    assert_true(segs[2].flags & ARCHIVE_SEG_SEALED);
    /* each pass seals: everything archived and checkpointed, the file's fingerprint kept */
    assert_true(segs[0].flags & ARCHIVE_SEG_START);
    assert_true(segs[0].flags & ARCHIVE_SEG_SEALED);
    assert_int_not_equal(segs[0].seal_fp, 0);
    /* so the writer reset the WAL, and the next pass continues in the new generation */
    assert_false(segs[1].flags & ARCHIVE_SEG_GAP);
    assert_int_equal(segs[1].first_frame, 0);
    assert_int_equal(segs[1].salt1, segs[0].salt1 + 1);
    archive_segs_free(segs, n);
    /* a TRUNCATE checkpoint of a sealed, idle database loses nothing: no gap */
    exec(f->w, "PRAGMA wal_checkpoint(TRUNCATE)");
    insert(f->w, 1);
    run_once(f, &r);
    assert_int_equal(r.gaps, 0);
    assert_int_equal(r.transactions, 1);
    /* commits checkpointed and overwritten between two separate runs: a GAP, flagged on the
     * next segment (observed over a second later than the segments before it: see the "set"
     * below) */
    usleep(1100 * 1000);
    insert(f->w, 2);
    exec(f->w, "PRAGMA wal_checkpoint(TRUNCATE)");
    insert(f->w, 2);
    run_once(f, &r);
    assert_int_equal(r.gaps, 1);
    assert_int_equal(archive_list(f->cfg.backup.target, "a.nsf", &segs, &n), 0);
    assert_int_equal(n, 5);
    assert_true(segs[4].flags & ARCHIVE_SEG_GAP);
    assert_int_equal(segs[4].first_frame, 0);
    /* point-in-time restore refuses to cross it */
    struct pitr_target pt = {.target = f->cfg.backup.target,
                             .db_rel = "a.nsf",
                             .set_id = "20200101-000000",
                             .set_started = 1,
                             .set_ended = 1,
                             .to_latest = true};
    char *img = dv_path_join(f->dir, "img.nsf");
    assert_int_equal(dv_write_atomic(img, "", 0, 0600), 0);
    struct pitr_result pr;
    assert_int_equal(pitr_apply(&pt, img, &pr), -1); /* archive starts after the "set" */
    assert_non_null(strstr(dv_err(), "starts at"));
    pt.set_started = segs[3].last_us / 1000000 + 1; /* a "set" between segment 4 and 5 */
    pt.set_ended = pt.set_started;
    assert_int_equal(pitr_apply(&pt, img, &pr), -1);
    assert_non_null(strstr(dv_err(), "gap in the archive"));
    assert_non_null(strstr(dv_err(), segs[4].path));
    /* a "set" taken after the gap: replayed from after it, not refused */
    pt.set_started = segs[4].last_us / 1000000 + 1;
    pt.set_ended = pt.set_started;
    if (pitr_apply(&pt, img, &pr) != 0)
        fail_msg("%s", dv_err());
    assert_int_equal(pr.transactions, 1); /* the newest one, already in such a set's image */
    archive_segs_free(segs, n);
    free(img);
}

/* Replaying the archive onto an empty image rebuilds the database exactly. */
static void test_replay(void **state)
{
    struct fx *f = *state;
    struct archive_result r;
    /* the archive must start before the database has content: a new, empty database */
    run_once(f, &r);
    /* the "set" is taken in the second after that: later commits are observed after it */
    usleep(2100 * 1000);
    insert(f->w, 20);
    exec(f->w, "UPDATE t SET v = 'x' WHERE id % 3 = 0; DELETE FROM t WHERE id > 15;");
    run_once(f, &r);
    struct archive_seg *segs;
    size_t n;
    assert_int_equal(archive_list(f->cfg.backup.target, "a.nsf", &segs, &n), 0);
    assert_true(n >= 1);
    struct pitr_target pt = {.target = f->cfg.backup.target,
                             .db_rel = "a.nsf",
                             .set_id = "20200101-000000",
                             .set_started = segs[0].first_us / 1000000 + 1,
                             .set_ended = segs[0].first_us / 1000000 + 1,
                             .to_latest = true};
    archive_segs_free(segs, n);
    char *img = dv_path_join(f->dir, "img.nsf");
    assert_int_equal(dv_write_atomic(img, "", 0, 0600), 0);
    struct pitr_result pr;
    if (pitr_apply(&pt, img, &pr) != 0)
        fail_msg("%s", dv_err());
    assert_true(pr.transactions >= 3);
    sqlite3 *db;
    char *uri = dv_asprintf("file:%s?immutable=1", img);
    assert_int_equal(sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL),
                     SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*), sum(v = 'x') FROM t", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 15);
    assert_int_equal(sqlite3_column_int(st, 1), 5);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(uri);
    free(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resume_and_gap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

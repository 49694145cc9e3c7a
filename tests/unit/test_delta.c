/* test_delta.c - the .delta format: round trip, every refusal, apply from file and from WAL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dvtmp.h"
#include "delta.h"
#include "fsb.h"
#include "util.h"
#include "wal.h"

#define PS 1024

struct fx {
    char dir[256];
    char *delta, *db;
};

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "delta"));
    f->delta = dv_path_join(f->dir, "a.nsf.delta");
    f->db = dv_path_join(f->dir, "a.nsf");
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
    free(f->delta);
    free(f->db);
    free(f);
    return 0;
}

static void fill_page(unsigned char *p, uint32_t pgno, int gen)
{
    for (int i = 0; i < PS; i++)
        p[i] = (unsigned char)(pgno * 31 + i * 7 + gen * 13);
}

static const uint32_t pgnos[] = {2, 11, 12};

/* A delta over a 10-page base: pages 2, 11, 12 (generation 1), final size 12 pages. */
static void write_sample(const char *path, char sha[65])
{
    struct delta_header h = {
        .page_size = PS, .base_size = 10 * PS, .final_size = 12 * PS, .page_count = 3};
    snprintf(h.replica_id, sizeof h.replica_id, "R0123456789ABCDEF");
    snprintf(h.dbiid, sizeof h.dbiid, "I-0042");
    struct delta_writer *w = delta_writer_new(path, &h);
    assert_non_null(w);
    unsigned char page[PS];
    for (int i = 0; i < 3; i++) {
        fill_page(page, pgnos[i], 1);
        assert_int_equal(delta_writer_add(w, pgnos[i], page), 0);
    }
    assert_int_equal(delta_writer_commit(w, sha), 0);
}

static void write_base(const char *path)
{
    unsigned char *b = dv_malloc(10 * PS);
    for (uint32_t p = 1; p <= 10; p++)
        fill_page(b + (p - 1) * PS, p, 0);
    assert_int_equal(dv_write_atomic(path, b, 10 * PS, 0644), 0);
    free(b);
}

static void no_temp_left(struct fx *f)
{
    char *tmp = dv_asprintf("%s.tmp.%ld", f->delta, (long)getpid());
    assert_int_not_equal(access(tmp, F_OK), 0);
    free(tmp);
}

static void test_round_trip(void **state)
{
    struct fx *f = *state;
    char sha[65], sha2[65], sha3[65];
    write_sample(f->delta, sha);
    no_temp_left(f);
    struct stat sb;
    assert_int_equal(stat(f->delta, &sb), 0);
    assert_int_equal(sb.st_size,
                     DELTA_HDR_SIZE + 3 * (DELTA_REC_HDR_SIZE + PS) + DELTA_TRAILER_SIZE);
    assert_int_equal(dv_sha256_file_hex(f->delta, sha2), 0);
    assert_string_equal(sha, sha2);

    struct delta_header h;
    assert_int_equal(delta_verify(f->delta, &h, sha3), 0);
    assert_string_equal(sha, sha3);
    assert_int_equal(h.version, DELTA_VERSION);
    assert_int_equal(h.page_size, PS);
    assert_int_equal(h.base_size, 10 * PS);
    assert_int_equal(h.final_size, 12 * PS);
    assert_int_equal(h.page_count, 3);
    assert_string_equal(h.replica_id, "R0123456789ABCDEF");
    assert_string_equal(h.dbiid, "I-0042");

    struct delta_reader *r = delta_reader_open(f->delta);
    assert_non_null(r);
    uint32_t pgno;
    const void *page;
    unsigned char want[PS];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(delta_reader_next(r, &pgno, &page), 1);
        assert_int_equal(pgno, pgnos[i]);
        fill_page(want, pgno, 1);
        assert_memory_equal(page, want, PS);
    }
    assert_int_equal(delta_reader_next(r, &pgno, &page), 0);
    assert_int_equal(delta_reader_next(r, &pgno, &page), 0);
    delta_reader_free(r);

    /* An empty delta (no committed frames) is valid too. */
    struct delta_header e = {.page_size = 4096, .base_size = 8192, .final_size = 8192};
    struct delta_writer *w = delta_writer_new(f->delta, &e);
    assert_non_null(w);
    assert_int_equal(delta_writer_commit(w, NULL), 0);
    assert_int_equal(delta_verify(f->delta, &h, NULL), 0);
    assert_int_equal(h.page_count, 0);
}

/* Flip one byte at off, expect delta_verify to fail with a message containing what. */
static void expect_refused_after_flip(struct fx *f, long off, const char *what)
{
    char sha[65];
    write_sample(f->delta, sha);
    int fd = open(f->delta, O_RDWR);
    unsigned char c;
    assert_int_equal(dv_pread_full(fd, &c, 1, off), 1);
    c ^= 0x10;
    assert_int_equal(dv_pwrite_all(fd, &c, 1, off), 0);
    close(fd);
    assert_int_equal(delta_verify(f->delta, NULL, NULL), -1);
    if (!strstr(dv_err(), what) || !strstr(dv_err(), f->delta))
        fail_msg("flip at %ld: expected \"%s\" and the file name in: %s", off, what, dv_err());
}

static void test_corrupt_record(void **state)
{
    struct fx *f = *state;
    long rec = DELTA_REC_HDR_SIZE + PS;
    /* Page data of record 1, its pgno, its checksum. */
    expect_refused_after_flip(f, DELTA_HDR_SIZE + rec + DELTA_REC_HDR_SIZE + 500,
                              "record 1 (pgno 11): checksum mismatch");
    expect_refused_after_flip(f, DELTA_HDR_SIZE + rec + 3, "record 1 (pgno 27): checksum");
    expect_refused_after_flip(f, DELTA_HDR_SIZE + 2 * rec + 5, "record 2 (pgno 12): checksum");
    /* Header fields are covered by the header checksum. */
    expect_refused_after_flip(f, 20, "header checksum");
    expect_refused_after_flip(f, 50, "header checksum");
    /* Trailer: the file's SHA-256, and its magic. */
    expect_refused_after_flip(f, DELTA_HDR_SIZE + 3 * rec + 30, "SHA-256");
    expect_refused_after_flip(f, DELTA_HDR_SIZE + 3 * rec + 1, "bad delta trailer");
}

static void test_truncated(void **state)
{
    struct fx *f = *state;
    char sha[65];
    write_sample(f->delta, sha);
    struct stat sb;
    assert_int_equal(stat(f->delta, &sb), 0);
    long cuts[] = {1,
                   DELTA_TRAILER_SIZE,
                   DELTA_TRAILER_SIZE + 100,
                   sb.st_size - DELTA_HDR_SIZE,
                   sb.st_size - 100,
                   sb.st_size};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        write_sample(f->delta, sha);
        assert_int_equal(truncate(f->delta, sb.st_size - cuts[i]), 0);
        assert_int_equal(delta_verify(f->delta, NULL, NULL), -1);
        if (!strstr(dv_err(), "truncated") && !strstr(dv_err(), "bad magic"))
            fail_msg("cut %ld: %s", cuts[i], dv_err());
    }
    /* Extra bytes are refused too. */
    write_sample(f->delta, sha);
    assert_int_equal(truncate(f->delta, sb.st_size + 1), 0);
    assert_int_equal(delta_verify(f->delta, NULL, NULL), -1);
    assert_non_null(strstr(dv_err(), "oversized"));
}

static void test_bad_magic_version(void **state)
{
    struct fx *f = *state;
    char sha[65];
    write_sample(f->delta, sha);
    int fd = open(f->delta, O_RDWR);
    assert_int_equal(dv_pwrite_all(fd, "\0\0\0\2", 4, 8), 0); /* version 2 */
    close(fd);
    assert_int_equal(delta_verify(f->delta, NULL, NULL), -1);
    assert_non_null(strstr(dv_err(), "version 2 not supported"));

    write_sample(f->delta, sha);
    fd = open(f->delta, O_RDWR);
    assert_int_equal(dv_pwrite_all(fd, "SQLite f", 8, 0), 0);
    close(fd);
    assert_null(delta_reader_open(f->delta));
    assert_non_null(strstr(dv_err(), "bad magic"));

    char *missing = dv_path_join(f->dir, "nope.delta");
    assert_int_equal(delta_verify(missing, NULL, NULL), -1);
    assert_non_null(strstr(dv_err(), missing));
    free(missing);
}

static void test_writer_refusals(void **state)
{
    struct fx *f = *state;
    struct delta_header h = {
        .page_size = PS, .base_size = PS, .final_size = 4 * PS, .page_count = 2};
    unsigned char page[PS] = {0};
    struct delta_writer *w = delta_writer_new(f->delta, &h);
    assert_int_equal(delta_writer_add(w, 3, page), 0);
    assert_int_equal(delta_writer_add(w, 3, page), -1); /* not ascending */
    assert_non_null(strstr(dv_err(), "ascend"));
    assert_int_equal(delta_writer_commit(w, NULL), -1); /* 1 of 2 pages */
    assert_int_not_equal(access(f->delta, F_OK), 0);
    no_temp_left(f);

    w = delta_writer_new(f->delta, &h);
    assert_int_equal(delta_writer_add(w, 1, page), 0);
    assert_int_equal(delta_writer_add(w, 2, page), 0);
    assert_int_equal(delta_writer_add(w, 4, page), -1); /* more than announced */
    delta_writer_abort(w);
    no_temp_left(f);
    assert_int_not_equal(access(f->delta, F_OK), 0);

    h.page_size = 1000;
    assert_null(delta_writer_new(f->delta, &h));
    h.page_size = PS;
    memset(h.dbiid, 'x', sizeof h.dbiid); /* not NUL-terminated: too long */
    assert_null(delta_writer_new(f->delta, &h));
}

static void test_apply_expected_bytes(void **state)
{
    struct fx *f = *state;
    char sha[65];
    write_sample(f->delta, sha);
    write_base(f->db);
    assert_int_equal(delta_apply(f->delta, f->db), 0);
    char *got;
    size_t len;
    assert_int_equal(dv_read_file(f->db, &got, &len), 0);
    assert_int_equal(len, 12 * PS);
    unsigned char want[PS];
    for (uint32_t p = 1; p <= 12; p++) {
        int gen = (p == 2 || p == 11 || p == 12) ? 1 : 0;
        fill_page(want, p, gen);
        assert_memory_equal(got + (p - 1) * PS, want, PS);
    }
    free(got);

    /* A second apply is refused: the file is no longer the base the delta expects. */
    assert_int_equal(delta_apply(f->delta, f->db), -1);
    assert_non_null(strstr(dv_err(), "expects"));

    /* A corrupt delta is refused before the copy is touched. */
    write_base(f->db);
    char before[65], after[65];
    assert_int_equal(dv_sha256_file_hex(f->db, before), 0);
    int fd = open(f->delta, O_RDWR);
    assert_int_equal(dv_pwrite_all(fd, "X", 1, DELTA_HDR_SIZE + 2 * (8 + PS) + 100), 0);
    close(fd);
    assert_int_equal(delta_apply(f->delta, f->db), -1);
    assert_non_null(strstr(dv_err(), "record 2 (pgno 12)"));
    assert_int_equal(dv_sha256_file_hex(f->db, after), 0);
    assert_string_equal(before, after);

    /* A delta that shrinks the database (final < base). */
    struct delta_header h = {
        .page_size = PS, .base_size = 10 * PS, .final_size = 4 * PS, .page_count = 1};
    struct delta_writer *w = delta_writer_new(f->delta, &h);
    fill_page(want, 3, 5);
    assert_int_equal(delta_writer_add(w, 3, want), 0);
    assert_int_equal(delta_writer_commit(w, NULL), 0);
    assert_int_equal(delta_apply(f->delta, f->db), 0);
    assert_int_equal(dv_read_file(f->db, &got, &len), 0);
    assert_int_equal(len, 4 * PS);
    assert_memory_equal(got + 2 * PS, want, PS);
    fill_page(want, 4, 0);
    assert_memory_equal(got + 3 * PS, want, PS);
    free(got);
}

/* From a real WAL: the .delta path and the in-memory path give the checkpointed database. */
static void test_wal_to_delta_and_apply(void **state)
{
    struct fx *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                                  "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);"
                                  "PRAGMA wal_checkpoint(TRUNCATE);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    char *base = dv_path_join(f->dir, "base.nsf");
    assert_int_equal(dv_copy_file_atomic(f->db, base, 0644), 0);
    struct stat sb;
    assert_int_equal(stat(base, &sb), 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(sqlite3_exec(db,
                                      "INSERT INTO t(v) SELECT randomblob(5000);"
                                      "UPDATE t SET v = randomblob(10) WHERE id = 1;",
                                      NULL, NULL, NULL),
                         SQLITE_OK);

    char *walp = wal_path_of(f->db);
    struct wal_info w;
    int wfd;
    assert_int_equal(wal_scan_path(walp, NULL, &w, &wfd), 0);
    assert_true(w.ncommits >= 20);
    struct delta_header h = {.page_size = w.page_size, .base_size = (uint64_t)sb.st_size};
    snprintf(h.replica_id, sizeof h.replica_id, "rep");
    struct delta_header out;
    char sha[65], sha2[65];
    char *ddir = dv_dirname(f->delta);
    struct fsb *droot = fsb_open(ddir);
    assert_non_null(droot);
    assert_int_equal(
        delta_write_wal(droot, f->delta + strlen(ddir) + 1, &h, wfd, walp, &w, &out, sha), 0);
    fsb_close(droot);
    free(ddir);
    assert_int_equal(out.page_count, w.npages);
    assert_int_equal(out.final_size, (uint64_t)w.db_pages * w.page_size);
    assert_int_equal(delta_verify(f->delta, NULL, sha2), 0);
    assert_string_equal(sha, sha2);

    char *viafile = dv_path_join(f->dir, "viafile.nsf"), *viamem = dv_path_join(f->dir, "m.nsf");
    assert_int_equal(dv_copy_file_atomic(base, viafile, 0644), 0);
    assert_int_equal(dv_copy_file_atomic(base, viamem, 0644), 0);
    assert_int_equal(delta_apply(f->delta, viafile), 0);
    int mfd = open(viamem, O_RDWR);
    uint64_t fin = 0;
    assert_int_equal(delta_apply_wal(wfd, walp, &w, mfd, viamem, &fin), 0);
    close(mfd);
    close(wfd);
    assert_int_equal(fin, out.final_size);

    assert_int_equal(sqlite3_exec(db, "PRAGMA wal_checkpoint(FULL)", NULL, NULL, NULL), SQLITE_OK);
    char *a, *b, *c;
    size_t la, lb, lc;
    assert_int_equal(dv_read_file(viafile, &a, &la), 0);
    assert_int_equal(dv_read_file(viamem, &b, &lb), 0);
    assert_int_equal(dv_read_file(f->db, &c, &lc), 0);
    assert_int_equal(la, lc);
    assert_int_equal(lb, lc);
    assert_memory_equal(a, c, lc);
    assert_memory_equal(b, c, lc);
    free(a);
    free(b);
    free(c);
    sqlite3_close(db);
    wal_info_free(&w);
    free(walp);
    free(base);
    free(viafile);
    free(viamem);
}

/*
 * A writer restarts the WAL between the scan and the apply (possible when the reader's
 * snapshot had read-mark 0): the apply notices, rescans, and still gives the right database.
 */
static void test_apply_wal_after_restart(void **state)
{
    struct fx *f = *state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
                                  "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);"
                                  "INSERT INTO t(v) SELECT randomblob(3000);"
                                  "INSERT INTO t(v) SELECT randomblob(3000);"
                                  "PRAGMA wal_checkpoint(FULL);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    char *base = dv_path_join(f->dir, "base.nsf"), *walp = wal_path_of(f->db);
    assert_int_equal(dv_copy_file_atomic(f->db, base, 0644), 0);
    struct wal_info w;
    int wfd;
    assert_int_equal(wal_scan_path(walp, NULL, &w, &wfd), 0);
    uint32_t salt1 = w.salt1;
    assert_true(w.ncommits >= 3);
    /* Everything is checkpointed: the next commit restarts the WAL (new salts). */
    assert_int_equal(
        sqlite3_exec(db, "UPDATE t SET v = randomblob(50) WHERE id = 1", NULL, NULL, NULL),
        SQLITE_OK);
    unsigned char page[65536];
    assert_int_equal(wal_read_pages(wfd, walp, &w, 0, 1, page), 1);

    int mfd = open(base, O_RDWR);
    assert_int_equal(delta_apply_wal(wfd, walp, &w, mfd, base, NULL), 0);
    close(mfd);
    assert_int_equal(w.salt1, salt1 + 1); /* *w now describes the new generation */
    assert_int_equal(w.ncommits, 1);
    assert_int_equal(sqlite3_exec(db, "PRAGMA wal_checkpoint(FULL)", NULL, NULL, NULL), SQLITE_OK);
    char sa[65], sb[65];
    assert_int_equal(dv_sha256_file_hex(base, sa), 0);
    assert_int_equal(dv_sha256_file_hex(f->db, sb), 0);
    assert_string_equal(sa, sb);
    close(wfd);
    wal_info_free(&w);
    sqlite3_close(db);
    free(base);
    free(walp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_magic_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writer_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_expected_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_to_delta_and_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_wal_after_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

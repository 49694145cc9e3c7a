/* test_wal.c - the WAL reader against WAL files written by a real SQLite connection. */
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
#include "util.h"
#include "wal.h"

struct fx {
    char dir[256];
    char *db, *wal;
    sqlite3 *w; /* writer connection, kept open so the WAL is not checkpointed away */
};

static void exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fail_msg("%s: %s", sql, err ? err : "?");
    }
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

/* Column 1 of PRAGMA wal_checkpoint: frames in the WAL (mxFrame). */
static long long checkpoint(sqlite3 *db, const char *mode, long long *ckpt)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA wal_checkpoint(%s)", mode);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long log = sqlite3_column_int64(st, 1);
    if (ckpt)
        *ckpt = sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    return log;
}

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "wal"));
    f->db = dv_path_join(f->dir, "a.nsf");
    f->wal = wal_path_of(f->db);
    assert_int_equal(sqlite3_open(f->db, &f->w), SQLITE_OK);
    exec(f->w, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
               "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);");
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
    free(f->wal);
    free(f);
    return 0;
}

/* n transactions, each inserting rows blobs of size bytes. */
static void write_txns(sqlite3 *db, int n, int rows, int size)
{
    char sql[160];
    for (int i = 0; i < n; i++) {
        snprintf(sql, sizeof sql,
                 "BEGIN; WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<%d)"
                 " INSERT INTO t(v) SELECT randomblob(%d) FROM c; COMMIT;",
                 rows, size);
        exec(db, sql);
    }
}

static char *copy_to(struct fx *f, const char *src, const char *name)
{
    char *dst = dv_path_join(f->dir, name);
    assert_int_equal(dv_copy_file_atomic(src, dst, 0644), 0);
    return dst;
}

struct counter {
    size_t commits, frames;
    uint32_t next_index;
    int resets;
};

static int count_commit(void *ud, const struct wal_frame *fr, size_t n)
{
    struct counter *c = ud;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(fr[i].index, c->next_index);
        c->next_index++;
        assert_true(i + 1 == n ? fr[i].commit_size != 0 : fr[i].commit_size == 0);
    }
    c->commits++;
    c->frames += n;
    return 0;
}

static void count_reset(void *ud)
{
    struct counter *c = ud;
    c->resets++;
    c->commits = c->frames = c->next_index = 0;
}

/*
 * Build the database as of the WAL's last commit: a copy of the db file with the newest
 * page images written over it, size from the last commit frame.
 */
static char *materialise(struct fx *f, const char *db, const char *wal, const char *name)
{
    char *out = copy_to(f, db, name);
    struct wal_info w;
    int wfd = -1;
    assert_int_equal(wal_scan_path(wal, NULL, &w, &wfd), 0);
    int fd = open(out, O_RDWR);
    assert_true(fd >= 0);
    unsigned char *pg = dv_malloc(w.page_size ? w.page_size : 1);
    for (size_t i = 0; i < w.npages; i++) {
        assert_int_equal(wal_read_pages(wfd, wal, &w, i, 1, pg), 0);
        assert_int_equal(
            dv_pwrite_all(fd, pg, w.page_size, (off_t)(w.pages[i].pgno - 1) * w.page_size), 0);
    }
    if (w.ncommits)
        assert_int_equal(ftruncate(fd, (off_t)w.db_pages * w.page_size), 0);
    close(fd);
    if (wfd >= 0)
        close(wfd);
    free(pg);
    wal_info_free(&w);
    return out;
}

static void test_commits_match_sqlite(void **state)
{
    struct fx *f = *state;
    /* > WAL_READ_CHUNK of frames so the scan crosses chunk boundaries. */
    write_txns(f->w, 40, 40, 3000);
    write_txns(f->w, 30, 1, 10);
    exec(f->w, "UPDATE t SET v = randomblob(100) WHERE id % 7 = 0");

    struct wal_info w;
    struct counter c = {0};
    struct wal_scan_opts o = {.on_commit = count_commit, .reset = count_reset, .ud = &c};
    int wfd;
    assert_int_equal(wal_scan_path(f->wal, &o, &w, &wfd), 0);
    assert_true(wfd >= 0);
    close(wfd);
    struct stat sb;
    assert_int_equal(stat(f->wal, &sb), 0);
    assert_true(sb.st_size > (off_t)WAL_READ_CHUNK);
    assert_true(w.valid_header);
    assert_int_equal(w.page_size, query_int(f->w, "PRAGMA page_size"));
    /* Everything sqlite wrote is committed: the whole file is frames. */
    uint64_t fsz = WAL_FRAME_HDR_SIZE + w.page_size;
    assert_int_equal(w.nframes, (sb.st_size - WAL_HDR_SIZE) / fsz);
    assert_int_equal(w.frames_seen, w.nframes);
    assert_int_equal(w.end_offset, (uint64_t)sb.st_size);
    /* CREATE TABLE + 40 + 30 + 1 update transactions. */
    assert_int_equal(w.ncommits, 1 + 40 + 30 + 1);
    assert_int_equal(c.commits, w.ncommits);
    assert_int_equal(c.frames, w.nframes);
    assert_int_equal(c.resets, 0);
    assert_int_equal(w.db_pages, query_int(f->w, "PRAGMA page_count"));
    for (size_t i = 1; i < w.npages; i++)
        assert_true(w.pages[i - 1].pgno < w.pages[i].pgno);
    assert_true(w.npages <= w.db_pages);
    assert_true(w.npages < w.nframes); /* pages written many times are kept once */

    /* The newest images over the db file give exactly the checkpointed database. */
    char *img = materialise(f, f->db, f->wal, "img.nsf");
    long long done;
    long long log = checkpoint(f->w, "FULL", &done);
    assert_int_equal(log, w.nframes);
    assert_int_equal(done, w.nframes);
    char *a, *b;
    size_t la, lb;
    assert_int_equal(dv_read_file(img, &a, &la), 0);
    assert_int_equal(dv_read_file(f->db, &b, &lb), 0);
    assert_int_equal(la, (size_t)w.db_pages * w.page_size);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    free(a);
    free(b);
    free(img);
    wal_info_free(&w);
}

static void test_uncommitted_tail_ignored(void **state)
{
    struct fx *f = *state;
    write_txns(f->w, 5, 3, 500);
    struct wal_info before;
    assert_int_equal(wal_scan_path(f->wal, NULL, &before, NULL), 0);
    assert_int_equal(before.ncommits, 6);

    /* A big transaction with a tiny cache spills frames into the WAL before its commit. */
    exec(f->w, "PRAGMA cache_size=5; BEGIN;");
    exec(f->w, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<400)"
               " INSERT INTO t(v) SELECT randomblob(2000) FROM c;");
    char *mid = copy_to(f, f->wal, "mid-wal");
    exec(f->w, "COMMIT");

    struct wal_info w;
    assert_int_equal(wal_scan_path(mid, NULL, &w, NULL), 0);
    assert_true(w.frames_seen > w.nframes);      /* the spilled frames were valid... */
    assert_int_equal(w.nframes, before.nframes); /* ...but not committed */
    assert_int_equal(w.ncommits, before.ncommits);
    assert_int_equal(w.db_pages, before.db_pages);
    assert_int_equal(w.npages, before.npages);
    for (size_t i = 0; i < w.npages; i++) {
        assert_int_equal(w.pages[i].pgno, before.pages[i].pgno);
        assert_int_equal(w.pages[i].offset, before.pages[i].offset);
    }
    wal_info_free(&w);

    /* Appending a frame's worth of garbage to a complete WAL changes nothing either. */
    char *g = copy_to(f, f->wal, "garbage-wal");
    struct wal_info full;
    assert_int_equal(wal_scan_path(g, NULL, &full, NULL), 0);
    size_t n = WAL_FRAME_HDR_SIZE + full.page_size;
    unsigned char *junk = dv_malloc(n);
    memset(junk, 0, n);
    memcpy(junk, "\0\0\0\1\0\0\0\1", 8); /* pgno 1, commit: only the checksum can reject it */
    unsigned char salts[8];
    int fd = open(g, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(dv_pread_full(fd, salts, 8, 16), 8);
    memcpy(junk + 8, salts, 8);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(dv_pwrite_all(fd, junk, n, sb.st_size), 0);
    close(fd);
    assert_int_equal(wal_scan_path(g, NULL, &w, NULL), 0);
    assert_int_equal(w.nframes, full.nframes);
    assert_int_equal(w.ncommits, full.ncommits);
    assert_int_equal(w.frames_seen, full.frames_seen);
    assert_int_equal(w.file_size, full.file_size + n);
    wal_info_free(&w);
    wal_info_free(&full);
    wal_info_free(&before);
    free(junk);
    free(g);
    free(mid);
}

static void test_flipped_byte_stops_scan(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 20; i++)
        write_txns(f->w, 1, 1, 100); /* one small transaction = a couple of frames */
    struct wal_info full;
    assert_int_equal(wal_scan_path(f->wal, NULL, &full, NULL), 0);
    assert_true(full.nframes > 12);

    char *bad = copy_to(f, f->wal, "bad-wal");
    uint64_t fsz = WAL_FRAME_HDR_SIZE + full.page_size;
    off_t at = (off_t)(WAL_HDR_SIZE + 10 * fsz + WAL_FRAME_HDR_SIZE + 100); /* frame 10 data */
    int fd = open(bad, O_RDWR);
    unsigned char ch;
    assert_int_equal(dv_pread_full(fd, &ch, 1, at), 1);
    ch ^= 0x40;
    assert_int_equal(dv_pwrite_all(fd, &ch, 1, at), 0);
    close(fd);

    struct wal_info w;
    struct counter c = {0};
    struct wal_scan_opts o = {.on_commit = count_commit, .ud = &c};
    assert_int_equal(wal_scan_path(bad, &o, &w, NULL), 0);
    assert_int_equal(w.frames_seen, 10); /* frames 0..9 verified, 10 is rejected */
    assert_true(w.nframes <= 10 && w.nframes > 0);
    assert_true(w.ncommits < full.ncommits);
    assert_int_equal(c.frames, w.nframes);
    assert_int_equal(w.end_offset, WAL_HDR_SIZE + w.nframes * fsz);
    wal_info_free(&w);
    wal_info_free(&full);
    free(bad);
}

static void test_salt_change_new_generation_only(void **state)
{
    struct fx *f = *state;
    write_txns(f->w, 30, 5, 1000);
    struct wal_info old;
    assert_int_equal(wal_scan_path(f->wal, NULL, &old, NULL), 0);
    long long ckpt;
    checkpoint(f->w, "RESTART", &ckpt);
    assert_int_equal(ckpt, old.nframes);
    write_txns(f->w, 2, 1, 10); /* the WAL restarts from frame 0 with new salts */

    struct wal_info w;
    assert_int_equal(wal_scan_path(f->wal, NULL, &w, NULL), 0);
    assert_true(w.valid_header);
    assert_int_equal(w.salt1, old.salt1 + 1);
    assert_int_equal(w.ckpt_seq, old.ckpt_seq + 1);
    assert_int_equal(w.ncommits, 2);
    assert_true(w.nframes < 10);
    assert_int_equal(w.frames_seen, w.nframes); /* old frames beyond: wrong salts */
    assert_true(w.file_size > w.end_offset);
    assert_int_equal(w.file_size, old.file_size);
    assert_int_equal(checkpoint(f->w, "PASSIVE", NULL), w.nframes);

    /* And the new generation alone rebuilds the database. */
    char *img = materialise(f, f->db, f->wal, "img2.nsf");
    sqlite3 *r;
    assert_int_equal(sqlite3_open(img, &r), SQLITE_OK);
    assert_int_equal(query_int(r, "SELECT count(*) FROM t"), 30 * 5 + 2);
    sqlite3_close(r);
    free(img);
    wal_info_free(&w);
    wal_info_free(&old);
}

static void test_empty_missing_short_badheader(void **state)
{
    struct fx *f = *state;
    struct wal_info w;
    int wfd = 7;
    char *missing = dv_path_join(f->dir, "nope-wal");
    assert_int_equal(wal_scan_path(missing, NULL, &w, &wfd), 0);
    assert_int_equal(wfd, -1);
    assert_int_equal(w.nframes, 0);
    assert_false(w.valid_header);
    free(missing);

    char *empty = dv_path_join(f->dir, "empty-wal");
    assert_int_equal(dv_write_atomic(empty, "", 0, 0644), 0);
    assert_int_equal(wal_scan_path(empty, NULL, &w, NULL), 0);
    assert_int_equal(w.nframes, 0);
    assert_int_equal(w.npages, 0);
    assert_false(w.valid_header);
    wal_info_free(&w);

    write_txns(f->w, 3, 1, 10);
    char *a;
    size_t la;
    assert_int_equal(dv_read_file(f->wal, &a, &la), 0);
    char *shortw = dv_path_join(f->dir, "short-wal");
    assert_int_equal(dv_write_atomic(shortw, a, 20, 0644), 0);
    assert_int_equal(wal_scan_path(shortw, NULL, &w, NULL), 0);
    assert_int_equal(w.nframes, 0);
    assert_false(w.valid_header);
    wal_info_free(&w);

    /* Header only: valid, no frames. */
    assert_int_equal(dv_write_atomic(shortw, a, WAL_HDR_SIZE, 0644), 0);
    assert_int_equal(wal_scan_path(shortw, NULL, &w, NULL), 0);
    assert_true(w.valid_header);
    assert_int_equal(w.nframes, 0);
    wal_info_free(&w);

    /* Torn last frame: the last commit before it counts. */
    struct wal_info full;
    assert_int_equal(wal_scan_path(f->wal, NULL, &full, NULL), 0);
    assert_int_equal(dv_write_atomic(shortw, a, la - 100, 0644), 0);
    assert_int_equal(wal_scan_path(shortw, NULL, &w, NULL), 0);
    assert_int_equal(w.frames_seen, full.frames_seen - 1);
    assert_true(w.ncommits == full.ncommits - 1);
    wal_info_free(&w);
    wal_info_free(&full);

    /* A header whose checksum fails: the whole WAL is ignored, as SQLite does. */
    a[17] ^= 1; /* salt-1 */
    assert_int_equal(dv_write_atomic(shortw, a, la, 0644), 0);
    assert_int_equal(wal_scan_path(shortw, NULL, &w, NULL), 0);
    assert_false(w.valid_header);
    assert_int_equal(w.nframes, 0);
    wal_info_free(&w);
    free(shortw);
    free(empty);
    free(a);
}

/* --- big-endian checksums: rewrite a real WAL with magic 0x377f0683, SQLite must agree. --- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void cks_be(const unsigned char *p, size_t n, uint32_t s[2])
{
    for (size_t i = 0; i < n; i += 8) {
        s[0] += be32(p + i) + s[1];
        s[1] += be32(p + i + 4) + s[0];
    }
}

static void test_big_endian_checksums(void **state)
{
    struct fx *f = *state;
    write_txns(f->w, 10, 3, 700);
    struct wal_info le;
    assert_int_equal(wal_scan_path(f->wal, NULL, &le, NULL), 0);
    char *buf;
    size_t len;
    assert_int_equal(dv_read_file(f->wal, &buf, &len), 0);
    unsigned char *b = (unsigned char *)buf;
    put_be32(b, WAL_MAGIC_BE);
    uint32_t s[2] = {0, 0};
    cks_be(b, 24, s);
    put_be32(b + 24, s[0]);
    put_be32(b + 28, s[1]);
    size_t fsz = WAL_FRAME_HDR_SIZE + le.page_size;
    for (size_t i = 0; i < le.nframes; i++) {
        unsigned char *fr = b + WAL_HDR_SIZE + i * fsz;
        cks_be(fr, 8, s);
        cks_be(fr + WAL_FRAME_HDR_SIZE, le.page_size, s);
        put_be32(fr + 16, s[0]);
        put_be32(fr + 20, s[1]);
    }
    /* A second database directory: the db file plus the rewritten WAL. */
    char *sub = dv_path_join(f->dir, "be");
    assert_int_equal(dv_mkdirs(sub, 0755), 0);
    char *db2 = dv_path_join(sub, "b.nsf"), *wal2 = wal_path_of(db2);
    assert_int_equal(dv_copy_file_atomic(f->db, db2, 0644), 0);
    assert_int_equal(dv_write_atomic(wal2, buf, len, 0644), 0);

    struct wal_info be;
    assert_int_equal(wal_scan_path(wal2, NULL, &be, NULL), 0);
    assert_true(be.big_endian_cksum);
    assert_int_equal(be.nframes, le.nframes);
    assert_int_equal(be.ncommits, le.ncommits);
    assert_int_equal(be.npages, le.npages);
    /* SQLite itself accepts the rewritten WAL: all rows visible. */
    sqlite3 *r;
    assert_int_equal(sqlite3_open(db2, &r), SQLITE_OK);
    assert_int_equal(query_int(r, "SELECT count(*) FROM t"), 30);
    sqlite3_close(r);
    wal_info_free(&be);
    wal_info_free(&le);
    free(buf);
    free(db2);
    free(wal2);
    free(sub);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commits_match_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uncommitted_tail_ignored, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_byte_stops_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(test_salt_change_new_generation_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_missing_short_badheader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_endian_checksums, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

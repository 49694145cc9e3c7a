/* test_dbuse.c - "is a live database open in another process?" from SQLite's locks (a real
 * second process holds it: a SQLite connection, or an OFD lock), the fence that keeps new
 * connections out while a file is replaced, and the restore temporaries: their names and the
 * sweep that removes what killed restores left (issue 12, findings 4 and 9). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dvtmp.h"
#include "dbuse.h"
#include "restore.h"
#include "util.h"

struct fx {
    char dir[256];
    char *db;
};

static void sq(sqlite3 *h, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &err) != SQLITE_OK)
        fail_msg("%s: %s", sql, err ? err : "?");
}

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "dbuse"));
    f->db = dv_path_join(f->dir, "live.nsf");
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
    sq(h, "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1)");
    sqlite3_close(h); /* the last connection: -wal and -shm go */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->db);
    free(f);
    return 0;
}

/* A second process: opens path with SQLite, reads (and holds the connection open, idle),
 * says "r" on *ready, waits for a byte on go, then inserts a row (its commit) and exits 0
 * when the insert worked. */
static pid_t holder_start(const char *path, int *go_w)
{
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        close(ready[0]);
        close(go[1]);
        sqlite3 *h = NULL;
        if (sqlite3_open(path, &h) != SQLITE_OK ||
            sqlite3_exec(h, "SELECT count(*) FROM t", NULL, NULL, NULL) != SQLITE_OK)
            _exit(2);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(4);
        sqlite3_busy_timeout(h, 5000);
        int rc = sqlite3_exec(h, "INSERT INTO t VALUES (42)", NULL, NULL, NULL);
        sqlite3_close(h);
        _exit(rc == SQLITE_OK ? 0 : 5);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    *go_w = go[1];
    return p;
}

static int holder_finish(pid_t p, int go_w)
{
    assert_int_equal(write(go_w, "g", 1), 1);
    close(go_w);
    int st = 0;
    assert_int_equal(waitpid(p, &st, 0), p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

static int64_t count42(const char *path)
{
    sqlite3 *h = NULL;
    int64_t n = -1;
    assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM t WHERE x = 42", -1, &s, NULL),
                     SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    return n;
}

/* A connection of another process is seen (and named); the fence is refused while it is open;
 * its commit afterwards is not lost. Nobody: free, and the fence is granted. */
static void test_holder_sqlite(void **state)
{
    struct fx *f = *state;
    pid_t who = 0;
    const char *what = NULL;
    assert_int_equal(dbuse_holder(f->db, &who, &what), 0);
    int go;
    pid_t p = holder_start(f->db, &go);
    assert_int_equal(dbuse_holder(f->db, &who, &what), 1);
    assert_int_equal(who, p);
    assert_string_equal(what, "its -shm"); /* the DMS byte */
    assert_int_equal(dbuse_refuse_if_held(f->db, "mail/live.nsf"), -1);
    char want[64];
    snprintf(want, sizeof want, "mail/live.nsf is in use by pid %ld", (long)p);
    assert_non_null(strstr(dv_err(), want));
    assert_null(dbuse_fence(f->db, "mail/live.nsf"));
    assert_non_null(strstr(dv_err(), want));
    /* the process's commit after the refusal is there */
    assert_int_equal(holder_finish(p, go), 0);
    assert_int_equal(count42(f->db), 1);
    assert_int_equal(dbuse_holder(f->db, &who, &what), 0);
    assert_int_equal(dbuse_refuse_if_held(f->db, NULL), 0);
    /* a missing file is not in use */
    char *none = dv_path_join(f->dir, "none.nsf");
    assert_int_equal(dbuse_holder(none, &who, &what), 0);
    free(none);
}

/* Run `sqlite3 DB "SELECT count(*) FROM t"` in another process, stderr into err; its exit
 * status (non-zero on an error such as "database is locked"). */
static int other_reader(const char *db, const char *err)
{
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600), n = open("/dev/null", O_WRONLY);
        if (e < 0 || n < 0 || dup2(n, 1) < 0 || dup2(e, 2) < 0)
            _exit(127);
        execlp("sqlite3", "sqlite3", db, "SELECT count(*) FROM t", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st));
    assert_int_not_equal(WEXITSTATUS(st), 127);
    return WEXITSTATUS(st);
}

/* While the fence is held a new connection cannot read (SQLITE_BUSY), and can after it. */
static void test_fence_keeps_connections_out(void **state)
{
    struct fx *f = *state;
    /* a -shm must exist for its bytes to be fenced: a connection opened and left, as a
     * server's would be, then closed with persistent WAL so that the -shm stays */
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
    int persist = 1;
    sqlite3_file_control(h, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    sq(h, "SELECT count(*) FROM t");
    sqlite3_close(h);
    char *shm = dv_asprintf("%s-shm", f->db);
    assert_int_equal(access(shm, F_OK), 0);
    struct dbuse_fence *fe = dbuse_fence(f->db, NULL);
    if (!fe)
        fail_msg("fence: %s", dv_err());
    /* another process (the sqlite3 shell, exec'd: a forked copy of this one would carry its
     * heap into valgrind's leak check) reads: "database is locked" while fenced */
    char *err = dv_path_join(f->dir, "reader.err");
    assert_int_not_equal(other_reader(f->db, err), 0);
    char *msg = NULL;
    assert_int_equal(dv_read_file(err, &msg, NULL), 0);
    if (!strstr(msg, "locked"))
        fail_msg("the reader failed, but not busy: %s", msg);
    free(msg);
    dbuse_unfence(fe);
    assert_int_equal(other_reader(f->db, err), 0);
    free(err);
    free(shm);
}

/* An OFD lock (l_pid -1 from the kernel) is still seen, and its process named from /proc. */
static void test_holder_ofd(void **state)
{
    struct fx *f = *state;
    char *shm = dv_asprintf("%s-shm", f->db);
    int fd = open(shm, O_RDWR | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 32768), 0);
    close(fd);
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        close(ready[0]);
        close(go[1]);
        int d = open(shm, O_RDWR);
        struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 128, .l_len = 1};
        if (d < 0 || fcntl(d, F_OFD_SETLK, &fl) != 0)
            _exit(2);
        if (write(ready[1], "r", 1) != 1)
            _exit(3);
        char c;
        _exit(read(go[0], &c, 1) == 1 ? 0 : 4);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    pid_t who = 0;
    assert_int_equal(dbuse_holder(f->db, &who, NULL), 1);
    assert_int_equal(who, p);
    assert_int_equal(write(go[1], "g", 1), 1);
    close(go[1]);
    int st;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_int_equal(dbuse_holder(f->db, &who, NULL), 0);
    free(shm);
}

static void test_tmp_names(void **state)
{
    (void)state;
    char *t = restore_tmp_path("/srv/data/mail/bob.nsf", 4242);
    assert_string_equal(t, "/srv/data/mail/.bob.nsf.dvrestore.4242.tmp");
    free(t);
    long pid;
    size_t ml;
    assert_true(restore_tmp_parse(".bob.nsf.dvrestore.4242.tmp", &pid, &ml));
    assert_int_equal(pid, 4242);
    assert_int_equal(ml, strlen(".bob.nsf.dvrestore.4242.tmp"));
    assert_true(restore_tmp_parse(".bob.nsf.dvrestore.7.tmp-wal", &pid, &ml));
    assert_int_equal(pid, 7);
    assert_int_equal(ml, strlen(".bob.nsf.dvrestore.7.tmp"));
    assert_true(restore_tmp_parse(".bob.nsf.dvrestore.7.tmp-shm", &pid, &ml));
    assert_true(restore_tmp_parse(".bob.nsf.dvrestore.7.tmp-journal", &pid, &ml));
    /* a name holding the marker itself: the last one counts */
    assert_true(restore_tmp_parse(".a.dvrestore.1.tmp.dvrestore.9.tmp", &pid, &ml));
    assert_int_equal(pid, 9);
    const char *no[] = {"bob.nsf.dvrestore.7.tmp", /* not hidden */
                        ".bob.nsf.dvrestore..tmp",     ".bob.nsf.dvrestore.x7.tmp",
                        ".bob.nsf.dvrestore.7.tmp~",   ".bob.nsf.dvrestore.7.tmp-walx",
                        ".bob.nsf.dvrestore.7",        ".dvrestore.7.tmp",
                        ".bob.nsf.restore.7",          ".bob.nsf.dvrestore.0.tmp",
                        ".x.dvrestore.12345678901.tmp"};
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (restore_tmp_parse(no[i], &pid, &ml))
            fail_msg("'%s' taken for a restore temporary", no[i]);
}

static void touch(const char *dir, const char *name)
{
    char *p = dv_path_join(dir, name);
    assert_int_equal(dv_write_atomic(p, "x", 1, 0600), 0);
    free(p);
}

static bool there(const char *dir, const char *name)
{
    char *p = dv_path_join(dir, name);
    struct stat st;
    bool yes = lstat(p, &st) == 0;
    free(p);
    return yes;
}

static long dead_pid(void)
{
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0)
        _exit(0);
    assert_int_equal(waitpid(p, NULL, 0), p);
    return (long)p;
}

static void test_sweep(void **state)
{
    struct fx *f = *state;
    char *d = dv_path_join(f->dir, "data");
    char *sub = dv_path_join(d, "mail"), *daos = dv_path_join(d, "daos");
    char *hid = dv_path_join(d, ".snapshot");
    assert_int_equal(mkdir(d, 0700), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(mkdir(daos, 0700), 0);
    assert_int_equal(mkdir(hid, 0700), 0);
    long dead = dead_pid(), self = (long)getpid();
    char n[10][128];
    snprintf(n[0], sizeof n[0], ".a.nsf.dvrestore.%ld.tmp", dead);
    snprintf(n[1], sizeof n[1], ".a.nsf.dvrestore.%ld.tmp-wal", dead);
    snprintf(n[2], sizeof n[2], ".a.nsf.dvrestore.%ld.tmp-shm", dead);
    snprintf(n[3], sizeof n[3], ".b.nsf.dvrestore.%ld.tmp", self); /* running: kept */
    snprintf(n[4], sizeof n[4], ".c.nsf.dvrestore.%ld.tmp", dead); /* locked: kept */
    snprintf(n[5], sizeof n[5], ".d.nsf.dvrestore.%ld.tmp", dead); /* a link: removed as such */
    snprintf(n[6], sizeof n[6], ".e.nsf.dvrestore.%ld.tmp", self); /* unlocked, old: reused pid */
    snprintf(n[7], sizeof n[7], "f.nsf.dvrestore.%ld.tmp", dead);  /* not ours */
    snprintf(n[8], sizeof n[8], ".g.nsf.dvrestore.%ld.tmp", dead); /* in mail/: removed */
    snprintf(n[9], sizeof n[9], ".h.nsf.dvrestore.%ld.tmp-wal", dead); /* sidecar alone */
    for (int i = 0; i < 8; i++)
        if (i != 5)
            touch(d, n[i]);
    touch(d, "mail.nsf");
    touch(sub, n[8]);
    touch(sub, n[9]);
    touch(daos, n[8]); /* the DAOS directory is skipped */
    touch(hid, n[8]);  /* hidden directories are not entered */
    char *secret = dv_path_join(f->dir, "secret");
    assert_int_equal(dv_write_atomic(secret, "keep", 4, 0600), 0);
    char *lnk = dv_path_join(d, n[5]);
    assert_int_equal(symlink(secret, lnk), 0);
    char *old = dv_path_join(d, n[6]);
    struct timespec ts[2] = {{time(NULL) - 600, 0}, {time(NULL) - 600, 0}};
    assert_int_equal(utimensat(AT_FDCWD, old, ts, 0), 0);
    /* .c is held by a running restore (its lock), whatever its pid says */
    char *cp = dv_path_join(d, n[4]);
    int cfd = open(cp, O_RDONLY);
    assert_true(cfd >= 0);
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        close(ready[0]);
        close(go[1]);
        int l = open(cp, O_RDONLY);
        if (l < 0 || flock(l, LOCK_EX) != 0 || write(ready[1], "r", 1) != 1)
            _exit(2);
        char c;
        _exit(read(go[0], &c, 1) == 1 ? 0 : 3);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(cfd);

    struct restore_sweep s = {0};
    restore_sweep_dir(d, daos, true, &s);
    assert_false(there(d, n[0]));
    assert_false(there(d, n[1]));
    assert_false(there(d, n[2]));
    assert_true(there(d, n[3]));
    assert_true(there(d, n[4]));
    assert_false(there(d, n[5]));
    assert_false(there(d, n[6]));
    assert_true(there(d, n[7]));
    assert_false(there(sub, n[8]));
    assert_false(there(sub, n[9]));
    assert_true(there(daos, n[8]));
    assert_true(there(hid, n[8]));
    assert_true(there(d, "mail.nsf"));
    assert_true(there(f->dir, "secret")); /* the link's target is untouched */
    assert_int_equal(s.removed, 7);
    assert_int_equal(s.kept, 2);
    assert_true(s.first[0] != 0);

    /* not recursive: only the directory itself */
    touch(sub, n[8]);
    struct restore_sweep s2 = {0};
    restore_sweep_dir(d, daos, false, &s2);
    assert_true(there(sub, n[8]));
    assert_int_equal(s2.removed, 0);

    /* the lock released (the restore ended without cleaning up): removed next time */
    assert_int_equal(write(go[1], "g", 1), 1);
    close(go[1]);
    assert_int_equal(waitpid(p, NULL, 0), p);
    close(ready[0]);
    struct restore_sweep s3 = {0};
    restore_sweep_dir(d, daos, true, &s3);
    assert_false(there(d, n[4]));
    assert_false(there(sub, n[8]));
    assert_true(there(d, n[3]));
    assert_int_equal(s3.removed, 2);
    free(cp);
    free(old);
    free(lnk);
    free(secret);
    free(d);
    free(sub);
    free(daos);
    free(hid);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_holder_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fence_keeps_connections_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_holder_ofd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmp_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_store_batch.c - store batches (store.h, "batches"): one transaction of documents, one
 * index transaction of references, exact after a kill -9 at every point once the next batch
 * settled it; a resync drops the records. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "util.h"

struct fx {
    char dir[64];
    struct dv_config cfg;
    char *globs[2];
    char nlo[STORE_NLO_NAME_LEN + 1]; /* referenced once by the first document */
};

static char *self_exe;

static void cfg_fill(struct fx *f)
{
    memset(&f->cfg, 0, sizeof f->cfg);
    f->cfg.base_dir = dv_strdup(f->dir);
    f->cfg.server.data_dir = dv_asprintf("%s/data", f->dir);
    f->cfg.server.daos_dir = dv_asprintf("%s/data/daos", f->dir);
    f->globs[0] = dv_strdup("**/*.nsf");
    f->cfg.server.databases = f->globs;
    f->cfg.server.ndatabases = 1;
    f->cfg.server.max_files_per_subdir = 100;
    f->cfg.server.min_object_size = 1024;
    f->cfg.server.deferred_deletion_days = 30;
    f->cfg.server.encryption = false;
    f->cfg.server.key_file = dv_asprintf("%s/server.key", f->dir);
}

static void cfg_free(struct fx *f)
{
    free(f->cfg.base_dir);
    free(f->cfg.server.data_dir);
    free(f->cfg.server.daos_dir);
    free(f->cfg.server.key_file);
    free(f->globs[0]);
}

/* A database with one document holding one NLO (refcount 1). */
static struct fx *fx_new(void)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/dvbatch.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    cfg_fill(f);
    struct dv_store *st = store_open(&f->cfg);
    assert_non_null(st);
    struct store_db *db = store_db_create(st, "a.nsf", "A");
    assert_non_null(db);
    static char blob[8192];
    memset(blob, 'x', sizeof blob);
    struct store_doc d = {.form = "Memo", .subject = "s", .sender = "alice", .body = "b"};
    struct store_att a = {.name = "x.bin", .data = blob, .size = sizeof blob};
    assert_int_equal(store_doc_add(db, &d, &a, 1, NULL), 0);
    store_nlo_name(blob, sizeof blob, f->nlo);
    store_db_close(db);
    store_free(st);
    return f;
}

static void fx_free(struct fx *f)
{
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    cfg_free(f);
    free(f);
}

static int64_t refcount(struct fx *f)
{
    struct dv_store *st = store_open(&f->cfg);
    assert_non_null(st);
    int sub = 0;
    int64_t rc = -1;
    assert_int_equal(store_nlo_info(st, f->nlo, &sub, &rc), 1);
    store_free(st);
    return rc;
}

static int64_t pending(struct fx *f)
{
    struct dv_store *st = store_open(&f->cfg);
    assert_non_null(st);
    int64_t n = store_batch_pending(st);
    store_free(st);
    return n;
}

static int64_t docs(struct fx *f)
{
    char *p = dv_asprintf("%s/data/a.nsf", f->dir);
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(p, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM notes", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(h);
    free(p);
    return n;
}

/* One batch: two documents referencing the NLO (one of them twice), committed. 0 or -1. With
 * settled, the number of records settled at its begin. */
static int one_batch(struct fx *f, const char *tag, uint64_t *settled)
{
    struct dv_store *st = store_open(&f->cfg);
    struct store_db *db = st ? store_db_open(st, "a.nsf") : NULL;
    struct store_batch *b = db ? store_batch_begin(db, settled) : NULL;
    int rc = b ? 0 : -1;
    for (int i = 0; rc == 0 && i < 2; i++) {
        char unid[33];
        snprintf(unid, sizeof unid, "%s%031d", tag, i);
        struct store_doc_row d = {.unid = unid, .subject = "restored", .created = 1, .modified = 2};
        struct store_att_row a[2] = {{"x.bin", 8192, f->nlo, NULL, 0},
                                     {"y.bin", 8192, f->nlo, NULL, 0}};
        rc = store_batch_insert(b, &d, a, i == 0 ? 1 : 2);
    }
    if (rc == 0)
        rc = store_batch_commit(b, "test");
    else
        store_batch_abort(b);
    store_db_close(db);
    store_free(st);
    return rc;
}

static void test_commit_counts(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    assert_int_equal(refcount(f), 1);
    assert_int_equal(one_batch(f, "a", NULL), 0);
    assert_int_equal(refcount(f), 4);
    assert_int_equal(docs(f), 3);
    assert_int_equal(pending(f), 0);
    fx_free(f);
}

static void test_abort_counts_nothing(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    struct dv_store *st = store_open(&f->cfg);
    struct store_db *db = store_db_open(st, "a.nsf");
    struct store_batch *b = store_batch_begin(db, NULL);
    assert_non_null(b);
    struct store_doc_row d = {.unid = "b0000000000000000000000000000000"};
    struct store_att_row a = {"x.bin", 8192, f->nlo, NULL, 0};
    assert_int_equal(store_batch_insert(b, &d, &a, 1), 0);
    store_batch_abort(b);
    store_db_close(db);
    store_free(st);
    assert_int_equal(refcount(f), 1);
    assert_int_equal(docs(f), 1);
    fx_free(f);
}

/* An NLO the index does not know fails the commit: nothing written, nothing counted. */
static void test_unindexed_nlo_refused(void **state)
{
    (void)state;
    struct fx *f = fx_new();
    struct dv_store *st = store_open(&f->cfg);
    struct store_db *db = store_db_open(st, "a.nsf");
    struct store_batch *b = store_batch_begin(db, NULL);
    char other[STORE_NLO_NAME_LEN + 1];
    store_nlo_name("other", 5, other);
    struct store_doc_row d = {.unid = "c0000000000000000000000000000000"};
    struct store_att_row a[2] = {{"x.bin", 8192, f->nlo, NULL, 0}, {"o.bin", 5, other, NULL, 0}};
    assert_int_equal(store_batch_insert(b, &d, a, 2), 0);
    assert_int_equal(store_batch_commit(b, "test"), -1);
    assert_non_null(strstr(dv_err(), "not in the DAOS index"));
    store_db_close(db);
    store_free(st);
    assert_int_equal(refcount(f), 1);
    assert_int_equal(docs(f), 1);
    assert_int_equal(pending(f), 0);
    fx_free(f);
}

/* Child mode: one batch with DV_CRASH_AT set (it dies at that point). */
static int crash_child(const char *dir)
{
    struct fx f;
    memset(&f, 0, sizeof f);
    snprintf(f.dir, sizeof f.dir, "%s", dir);
    cfg_fill(&f);
    char blob[8192];
    memset(blob, 'x', sizeof blob);
    store_nlo_name(blob, sizeof blob, f.nlo);
    one_batch(&f, "k", NULL);
    return 3; /* not killed */
}

/* Killed at point: the database holds none (or, after COMMIT, all) of the batch; refcounts
 * never too low; the next batch settles exactly; a resync drops a record. */
static void crash_at(const char *point, bool committed, bool record, bool resync)
{
    struct fx *f = fx_new();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("DV_CRASH_AT", point, 1);
        execl(self_exe, self_exe, "--crash-child", f->dir, (char *)NULL);
        _exit(127);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    assert_int_equal(docs(f), committed ? 3 : 1);
    assert_int_equal(pending(f), record ? 1 : 0);
    assert_int_equal(refcount(f), record || committed ? 4 : 1); /* too high until settled */
    uint64_t settled = 0;
    if (resync) {
        struct dv_store *st = store_open(&f->cfg);
        assert_int_equal(store_resync(st, NULL, NULL), 0);
        store_free(st);
        assert_int_equal(pending(f), 0);
        assert_int_equal(refcount(f), committed ? 4 : 1);
    }
    assert_int_equal(one_batch(f, "n", &settled), 0); /* settles, then adds 3 of its own */
    assert_int_equal((int)settled, record && !resync ? 1 : 0);
    assert_int_equal(pending(f), 0);
    assert_int_equal(refcount(f), (committed ? 4 : 1) + 3);
    assert_int_equal(docs(f), (committed ? 3 : 1) + 2);
    fx_free(f);
}

static void test_crash_counted(void **state)
{
    (void)state;
    crash_at("batch.counted", false, true, false);
}

static void test_crash_before_commit(void **state)
{
    (void)state;
    crash_at("batch.before_commit", false, true, false);
}

static void test_crash_committed(void **state)
{
    (void)state;
    crash_at("batch.committed", true, true, false);
}

static void test_crash_resync_drops_record(void **state)
{
    (void)state;
    crash_at("batch.counted", false, true, true);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--crash-child") == 0)
        return crash_child(argv[2]);
    self_exe = realpath("/proc/self/exe", NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commit_counts),
        cmocka_unit_test(test_abort_counts_nothing),
        cmocka_unit_test(test_unindexed_nlo_refused),
        cmocka_unit_test(test_crash_counted),
        cmocka_unit_test(test_crash_before_commit),
        cmocka_unit_test(test_crash_committed),
        cmocka_unit_test(test_crash_resync_drops_record),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(self_exe);
    return rc;
}

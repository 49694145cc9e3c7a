/* test_store.c - the live store: databases, NLOs, DAOS index, resync, prune, listnlo. */
// WRAP: fsync
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "store.h"
#include "util.h"

struct fx {
    char dir[64];
    struct dv_config cfg;
    char *globs[2];
    struct dv_store *st;
};

static char *self_exe;

/* fsync is wrapped: counted (test_install_batch) */
int __real_fsync(int fd);
static int fsyncs;
int __wrap_fsync(int fd)
{
    fsyncs++;
    return __real_fsync(fd);
}

static void cfg_fill(struct fx *f, long max_files, bool enc)
{
    memset(&f->cfg, 0, sizeof f->cfg);
    f->cfg.base_dir = dv_strdup(f->dir);
    f->cfg.server.data_dir = dv_asprintf("%s/data", f->dir);
    f->cfg.server.daos_dir = dv_asprintf("%s/data/daos", f->dir);
    f->globs[0] = dv_strdup("**/*.nsf");
    f->globs[1] = NULL;
    f->cfg.server.databases = f->globs;
    f->cfg.server.ndatabases = 1;
    f->cfg.server.max_files_per_subdir = max_files;
    f->cfg.server.min_object_size = 1024;
    f->cfg.server.deferred_deletion_days = 30;
    f->cfg.server.encryption = enc;
    f->cfg.server.key_file = dv_asprintf("%s/server.key", f->dir);
}

static struct fx *fx_new(long max_files, bool enc)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/dvstore.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    cfg_fill(f, max_files, enc);
    if (enc && store_key_create(&f->cfg) != 0) /* the server's key (dvault never makes one) */
        fail_msg("store_key_create: %s", dv_err());
    f->st = store_open(&f->cfg);
    if (!f->st)
        fail_msg("store_open: %s", dv_err());
    return f;
}

static void cfg_free(struct fx *f)
{
    free(f->cfg.base_dir);
    free(f->cfg.server.data_dir);
    free(f->cfg.server.daos_dir);
    free(f->cfg.server.key_file);
    free(f->globs[0]);
}

/* The DOI's running totals (doi_totals) equal a count of the index, whatever the test did
 * (inserts, deletes, refcount changes, replaces by a recovery, a resync, a prune). */
static void check_totals(struct fx *f)
{
    char *idx =
        f->cfg.server.daos_dir ? dv_asprintf("%s/daoscat.db", f->cfg.server.daos_dir) : NULL;
    struct stat st;
    sqlite3 *db = NULL;
    if (!idx || stat(idx, &st) != 0 || sqlite3_open(idx, &db) != SQLITE_OK) {
        sqlite3_close(db);
        free(idx);
        return;
    }
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT objects || ' ' || bytes || ' ' || refs || "
                                        "' ' || ref_bytes || ' ' || zero || ' ' || zero_bytes "
                                        "FROM doi_totals), (SELECT count(*) || ' ' || "
                                        "coalesce(sum(size), 0) || ' ' || coalesce(sum(refcount), "
                                        "0) || ' ' || coalesce(sum(size * refcount), 0) || ' ' || "
                                        "coalesce(sum(refcount = 0), 0) || ' ' || "
                                        "coalesce(sum((refcount = 0) * size), 0) FROM doi)",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    const char *kept = (const char *)sqlite3_column_text(s, 0);
    const char *counted = (const char *)sqlite3_column_text(s, 1);
    assert_non_null(kept);
    assert_string_equal(kept, counted);
    sqlite3_finalize(s);
    sqlite3_close(db);
    free(idx);
}

static void fx_free(struct fx *f)
{
    store_free(f->st);
    check_totals(f);
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    cfg_free(f);
    free(f);
}

static void reopen(struct fx *f)
{
    store_free(f->st);
    f->st = store_open(&f->cfg);
    if (!f->st)
        fail_msg("store_open: %s", dv_err());
}

/* Deterministic payload: n bytes from seed. */
static unsigned char *payload(unsigned seed, size_t n)
{
    unsigned char *b = dv_malloc(n);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)x;
    }
    return b;
}

static struct store_db *mkdb(struct fx *f, const char *rel)
{
    struct store_db *db = store_db_create(f->st, rel, rel);
    if (!db)
        fail_msg("store_db_create %s: %s", rel, dv_err());
    return db;
}

/* Add a document with the given payload seeds/sizes as attachments. */
static void add_doc(struct store_db *db, const unsigned *seeds, const size_t *sizes, size_t n,
                    char unid[33])
{
    struct store_att att[8];
    unsigned char *bufs[8];
    for (size_t i = 0; i < n; i++) {
        bufs[i] = payload(seeds[i], sizes[i]);
        att[i] = (struct store_att){"file.bin", bufs[i], sizes[i]};
    }
    struct store_doc d = {"Memo", "subject", "alice", "body", 0};
    if (store_doc_add(db, &d, att, n, unid) != 0)
        fail_msg("store_doc_add: %s", dv_err());
    for (size_t i = 0; i < n; i++)
        free(bufs[i]);
}

static sqlite3 *idx_handle(struct fx *f)
{
    char *p = dv_asprintf("%s/daoscat.db", f->cfg.server.daos_dir);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    free(p);
    return h;
}

static int64_t q1(sqlite3 *h, const char *sql, const char *arg)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(h));
    if (arg)
        sqlite3_bind_text(s, 1, arg, -1, SQLITE_TRANSIENT);
    int64_t v = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    sqlite3_finalize(s);
    return v;
}

static int64_t refcount(struct fx *f, const char *name)
{
    sqlite3 *h = idx_handle(f);
    int64_t v = q1(h, "SELECT refcount FROM doi WHERE name = ?1", name);
    sqlite3_close(h);
    return v;
}

static void nlo_of(unsigned seed, size_t size, char out[STORE_NLO_NAME_LEN + 1])
{
    unsigned char *b = payload(seed, size);
    store_nlo_name(b, size, out);
    free(b);
}

static size_t count_files(const char *dir, bool hidden)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (e->d_name[0] == '.') == hidden)
            n++;
    closedir(d);
    return n;
}

static void test_db_create_schema(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, false);
    struct store_db *db = mkdb(f, "mail/alice.nsf");
    sqlite3 *h = store_db_sqlite(db);
    assert_int_equal(q1(h,
                        "SELECT count(*) FROM sqlite_master WHERE name IN"
                        " ('dbinfo','notes','attachments')",
                        NULL),
                     3);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    assert_int_equal(strlen(store_db_replica_id(db)), 32);
    assert_int_equal(q1(h, "SELECT length(value) FROM dbinfo WHERE key = 'dbiid'", NULL), 32);
    assert_int_equal(
        q1(h, "SELECT count(*) FROM pragma_table_info('notes') WHERE name = 'body'", NULL), 1);
    /* a second create of the same path fails */
    assert_null(store_db_create(f->st, "mail/alice.nsf", "x"));
    assert_non_null(strstr(dv_err(), "already exists"));
    store_db_close(db);
    db = store_db_open(f->st, "mail/alice.nsf");
    assert_non_null(db);
    store_db_close(db);
    assert_false(store_needs_resync(f->st));
    fx_free(f);
}

static void test_add_inline_and_nlo(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, false);
    struct store_db *db = mkdb(f, "mail/alice.nsf");
    unsigned seeds[2] = {1, 2};
    size_t sizes[2] = {100, 5000};
    char unid[33];
    add_doc(db, seeds, sizes, 2, unid);
    assert_int_equal(strlen(unid), 32);
    sqlite3 *h = store_db_sqlite(db);
    assert_int_equal(
        q1(h, "SELECT count(*) FROM attachments WHERE nlo IS NULL AND length(data) = 100", NULL),
        1);
    assert_int_equal(
        q1(h, "SELECT count(*) FROM attachments WHERE nlo IS NOT NULL AND data IS NULL", NULL), 1);
    char name[STORE_NLO_NAME_LEN + 1];
    nlo_of(2, 5000, name);
    assert_true(store_nlo_name_valid(name));
    assert_non_null(strstr(name, "0000000000001388.nlo"));
    char *p = store_nlo_path(f->st, name);
    assert_non_null(p);
    assert_non_null(strstr(p, "/daos/0001/"));
    free(p);
    assert_int_equal(refcount(f, name), 1);
    /* read both back */
    for (int64_t id = 1; id <= 2; id++) {
        unsigned char *b;
        size_t n;
        assert_int_equal(store_att_read(db, id, &b, &n), 0);
        unsigned char *want = payload(seeds[id - 1], sizes[id - 1]);
        assert_int_equal(n, sizes[id - 1]);
        assert_memory_equal(b, want, n);
        free(b);
        free(want);
    }
    /* attachment exactly min_object_size is an NLO, one byte less is inline */
    unsigned s2[2] = {3, 4};
    size_t z2[2] = {1024, 1023};
    add_doc(db, s2, z2, 2, NULL);
    assert_int_equal(q1(h, "SELECT count(*) FROM attachments WHERE nlo IS NOT NULL", NULL), 2);
    store_db_close(db);
    fx_free(f);
}

static void test_dedup_delete_purge(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, true);
    struct store_db *a = mkdb(f, "mail/alice.nsf"), *b = mkdb(f, "mail/bob.nsf");
    unsigned seeds[1] = {7};
    size_t sizes[1] = {20000};
    char u1[33], u2[33], u3[33];
    add_doc(a, seeds, sizes, 1, u1);
    add_doc(b, seeds, sizes, 1, u2);
    add_doc(b, seeds, sizes, 1, u3);
    char name[STORE_NLO_NAME_LEN + 1];
    nlo_of(7, 20000, name);
    char *sub = dv_asprintf("%s/0001", f->cfg.server.daos_dir);
    assert_int_equal(count_files(sub, false), 1);
    assert_int_equal(refcount(f, name), 3);
    /* soft delete keeps the reference */
    assert_int_equal(store_doc_delete(b, u2, 1000), 0);
    assert_int_equal(refcount(f, name), 3);
    assert_int_equal(store_doc_delete(b, "0123456789abcdef0123456789abcdef", 0), -1);
    /* purge before the deletion time: nothing; at it: released */
    size_t n = 99;
    assert_int_equal(store_purge(b, 999, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_purge(b, 1000, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(refcount(f, name), 2);
    assert_int_equal(q1(store_db_sqlite(b), "SELECT count(*) FROM notes", NULL), 1);
    assert_int_equal(q1(store_db_sqlite(b), "SELECT count(*) FROM attachments", NULL), 1);
    assert_int_equal(store_doc_delete(b, u3, 0), 0);
    assert_int_equal(store_doc_delete(a, u1, 0), 0);
    assert_int_equal(store_purge(b, dv_now(), NULL), 0);
    assert_int_equal(store_purge(a, dv_now(), NULL), 0);
    assert_int_equal(refcount(f, name), 0);
    sqlite3 *h = idx_handle(f);
    assert_true(q1(h, "SELECT zero_since FROM doi WHERE name = ?1", name) > 0);
    assert_int_equal(q1(h, "SELECT sum(nrefs) FROM dit", NULL), 0);
    sqlite3_close(h);
    /* the file stays until prune */
    assert_int_equal(count_files(sub, false), 1);
    free(sub);
    store_db_close(a);
    store_db_close(b);
    fx_free(f);
}

static void test_transactions(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, false);
    struct store_db *a = mkdb(f, "a.nsf");
    unsigned seeds[1] = {11};
    size_t sizes[1] = {3000};
    char name[STORE_NLO_NAME_LEN + 1];
    nlo_of(11, 3000, name);
    assert_int_equal(store_db_begin(a), 0);
    add_doc(a, seeds, sizes, 1, NULL);
    assert_int_equal(refcount(f, name), 1);
    assert_int_equal(store_db_rollback(a), 0);
    assert_int_equal(refcount(f, name), 0);
    assert_int_equal(q1(store_db_sqlite(a), "SELECT count(*) FROM notes", NULL), 0);
    char u[33];
    assert_int_equal(store_db_begin(a), 0);
    add_doc(a, seeds, sizes, 1, u);
    assert_int_equal(sqlite3_exec(store_db_sqlite(a), "CREATE TABLE t(x)", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(store_db_commit(a), 0);
    assert_int_equal(refcount(f, name), 1);
    /* purge inside a transaction releases only at commit */
    assert_int_equal(store_doc_delete(a, u, 5), 0);
    assert_int_equal(store_db_begin(a), 0);
    assert_int_equal(store_purge(a, 10, NULL), 0);
    assert_int_equal(refcount(f, name), 1);
    assert_int_equal(store_db_commit(a), 0);
    assert_int_equal(refcount(f, name), 0);
    store_db_close(a);
    fx_free(f);
}

static void test_subdir_rollover_reuse(void **state)
{
    (void)state;
    struct fx *f = fx_new(2, false);
    struct store_db *db = mkdb(f, "a.nsf");
    char unids[5][33];
    for (unsigned i = 0; i < 5; i++) {
        unsigned seeds[1] = {100 + i};
        size_t sizes[1] = {2000};
        add_doc(db, seeds, sizes, 1, unids[i]);
    }
    char *d1 = dv_asprintf("%s/0001", f->cfg.server.daos_dir);
    char *d2 = dv_asprintf("%s/0002", f->cfg.server.daos_dir);
    char *d3 = dv_asprintf("%s/0003", f->cfg.server.daos_dir);
    assert_int_equal(count_files(d1, false), 2);
    assert_int_equal(count_files(d2, false), 2);
    assert_int_equal(count_files(d3, false), 1);
    char *cfgp = dv_asprintf("%s/daos.cfg", f->cfg.server.daos_dir), *text;
    assert_int_equal(dv_read_file(cfgp, &text, NULL), 0);
    assert_string_equal(text, "0001 2\n0002 2\n0003 1\n");
    free(text);
    /* free a slot in 0001: delete + purge + prune (0 days) */
    assert_int_equal(store_doc_delete(db, unids[0], 1), 0);
    assert_int_equal(store_purge(db, 1, NULL), 0);
    struct store_prune_counts pc;
    assert_int_equal(store_prune(f->st, 0, NULL, NULL, &pc, NULL), 0);
    assert_int_equal(pc.deleted, 1);
    assert_int_equal(count_files(d1, false), 1);
    assert_int_equal(dv_read_file(cfgp, &text, NULL), 0);
    assert_string_equal(text, "0001 1\n0002 2\n0003 1\n");
    free(text);
    /* the next new NLO takes the freed slot in 0001 */
    unsigned seeds[1] = {200};
    size_t sizes[1] = {2000};
    add_doc(db, seeds, sizes, 1, NULL);
    assert_int_equal(count_files(d1, false), 2);
    assert_int_equal(count_files(d3, false), 1);
    char name[STORE_NLO_NAME_LEN + 1];
    nlo_of(200, 2000, name);
    char *p = store_nlo_path(f->st, name);
    assert_non_null(strstr(p, "/0001/"));
    free(p);
    struct store_status ss;
    assert_int_equal(store_status(f->st, &ss), 0);
    assert_int_equal(ss.objects, 5);
    assert_int_equal(ss.nsubdirs, 3);
    assert_int_equal(ss.subdirs[0].count, 2);
    store_status_done(&ss);
    free(cfgp);
    free(d1);
    free(d2);
    free(d3);
    store_db_close(db);
    fx_free(f);
}

static void test_encryption(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, true);
    struct stat sb;
    assert_int_equal(stat(f->cfg.server.key_file, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(sb.st_size, 65);
    struct store_db *db = mkdb(f, "a.nsf");
    unsigned seeds[1] = {42};
    size_t sizes[1] = {4096};
    add_doc(db, seeds, sizes, 1, NULL);
    char name[STORE_NLO_NAME_LEN + 1];
    nlo_of(42, 4096, name);
    char *p = store_nlo_path(f->st, name), *raw;
    size_t rawlen;
    assert_int_equal(dv_read_file(p, &raw, &rawlen), 0);
    assert_int_equal(rawlen, STORE_NLO_HDR + 4096 + STORE_NLO_TAG);
    assert_memory_equal(raw, "NLO1\1\0\0\0", 8);
    unsigned char *plain = payload(42, 4096);
    assert_true(memcmp(raw + STORE_NLO_HDR, plain, 4096) != 0); /* not stored in the clear */
    unsigned char *b;
    size_t n;
    assert_int_equal(store_nlo_read(f->st, name, &b, &n), 0);
    assert_int_equal(n, 4096);
    assert_memory_equal(b, plain, n);
    free(b);
    store_db_close(db);

    /* another key: does not open, and the message is whole */
    store_free(f->st);
    f->st = NULL;
    char *k2 = dv_asprintf("%s/other.key", f->dir);
    free(f->cfg.server.key_file);
    f->cfg.server.key_file = k2;
    assert_int_equal(store_key_create(&f->cfg), 0);
    reopen(f);
    assert_int_equal(store_nlo_read(f->st, name, &b, &n), -1);
    assert_non_null(strstr(dv_err(), "authentication failed (wrong server key or damaged file)"));
    /* no key at all: the store opens (status needs no key), reading says which file */
    assert_int_equal(unlink(k2), 0);
    reopen(f);
    assert_int_equal(access(k2, F_OK), -1); /* never created */
    assert_int_equal(store_key_require(f->st), -1);
    assert_non_null(strstr(dv_err(), k2));
    assert_non_null(strstr(dv_err(), "does not exist"));
    assert_int_equal(store_nlo_read(f->st, name, &b, &n), -1);
    assert_non_null(strstr(dv_err(), "no server key is loaded"));
    assert_non_null(strstr(dv_err(), k2));
    assert_int_equal(store_key_check(&f->cfg), -1);
    free(f->cfg.server.key_file);
    f->cfg.server.key_file = dv_asprintf("%s/server.key", f->dir);
    reopen(f);
    assert_int_equal(store_nlo_read(f->st, name, &b, &n), 0);
    free(b);

    /* tampered: one bit of the payload flipped */
    raw[STORE_NLO_HDR + 100] ^= 1;
    assert_int_equal(dv_write_atomic(p, raw, rawlen, 0640), 0);
    assert_int_equal(store_nlo_read(f->st, name, &b, &n), -1);
    assert_non_null(strstr(dv_err(), "authentication failed"));
    /* truncated */
    assert_int_equal(truncate(p, 40), 0);
    assert_int_equal(store_nlo_read(f->st, name, &b, &n), -1);
    free(raw);
    free(plain);
    free(p);
    fx_free(f);
}

static void test_key_file_refused(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, true);
    store_free(f->st);
    f->st = NULL;
    char *key;
    assert_int_equal(dv_read_file(f->cfg.server.key_file, &key, NULL), 0);
    key[64] = '\0';
    assert_int_equal(chmod(f->cfg.server.key_file, 0644), 0);
    /* the store opens (commands without the key work), the key is refused where needed */
    struct dv_store *st = store_open(&f->cfg);
    assert_non_null(st);
    assert_int_equal(store_key_require(st), -1);
    assert_non_null(strstr(dv_err(), "0600"));
    assert_null(strstr(dv_err(), key)); /* never shows the key */
    store_free(st);
    assert_int_equal(store_key_check(&f->cfg), -1);
    assert_non_null(strstr(dv_err(), "0600"));
    assert_int_equal(chmod(f->cfg.server.key_file, 0600), 0);
    assert_int_equal(store_key_check(&f->cfg), 0);
    /* garbage content */
    assert_int_equal(dv_write_atomic(f->cfg.server.key_file, "xyz\n", 4, 0600), 0);
    st = store_open(&f->cfg);
    assert_non_null(st);
    assert_int_equal(store_key_require(st), -1);
    assert_non_null(strstr(dv_err(), "64 hex"));
    store_free(st);
    free(key);
    fx_free(f);
}

/* Child mode: add one NLO with DV_CRASH_AT set, so we die between fsync and rename. */
static int crash_child(const char *dir)
{
    struct fx f;
    memset(&f, 0, sizeof f);
    snprintf(f.dir, sizeof f.dir, "%s", dir);
    cfg_fill(&f, 40000, true);
    if (store_key_create(&f.cfg) != 0)
        return 3;
    struct dv_store *st = store_open(&f.cfg);
    if (!st)
        return 3;
    struct store_db *db = store_db_create(st, "c.nsf", "c");
    if (!db)
        return 4;
    unsigned char *b = payload(5, 9000);
    struct store_att att = {"x", b, 9000};
    struct store_doc d = {"Memo", "s", "x", "b", 0};
    store_doc_add(db, &d, &att, 1, NULL);
    return 5; /* not reached when the crash point fires */
}

static void test_temp_names(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, true);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("DV_CRASH_AT", "store-nlo-before-rename", 1);
        execl(self_exe, self_exe, "--crash-child", f->dir, (char *)NULL);
        _exit(127);
    }
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL);
    char *sub = dv_asprintf("%s/0001", f->cfg.server.daos_dir);
    DIR *d = opendir(sub);
    assert_non_null(d);
    int temps = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        assert_int_equal(e->d_name[0], '.');
        size_t l = strlen(e->d_name);
        assert_false(l >= 4 && strcmp(e->d_name + l - 4, ".nlo") == 0);
        temps++;
    }
    closedir(d);
    assert_int_equal(temps, 1);
    free(sub);
    fx_free(f);
}

/* A mixed workload on three databases; returns nothing, leaves state for the caller. */
static void workload(struct fx *f)
{
    struct store_db *db[3] = {mkdb(f, "mail/a.nsf"), mkdb(f, "mail/b.nsf"), mkdb(f, "c.nsf")};
    char unids[60][33];
    for (unsigned i = 0; i < 60; i++) {
        unsigned seeds[3] = {i % 7, 50 + i % 13, 900 + i};
        size_t sizes[3] = {1500 + (i % 7) * 100, 800, 1100};
        add_doc(db[i % 3], seeds, sizes, 1 + i % 3, unids[i]);
    }
    for (unsigned i = 0; i < 60; i += 4)
        assert_int_equal(store_doc_delete(db[i % 3], unids[i], 100), 0);
    for (unsigned i = 2; i < 60; i += 8)
        assert_int_equal(store_doc_delete(db[i % 3], unids[i], 300), 0);
    assert_int_equal(store_purge(db[0], 200, NULL), 0);
    assert_int_equal(store_purge(db[1], 200, NULL), 0);
    assert_int_equal(store_purge(db[2], 200, NULL), 0);
    /* copy some documents across */
    assert_int_equal(store_doc_copy(db[0], unids[3], db[1]), 0);
    assert_int_equal(store_doc_copy(db[2], unids[5], db[0]), 0);
    for (int i = 0; i < 3; i++)
        store_db_close(db[i]);
}

static char *snapshot(struct fx *f)
{
    sqlite3 *h = idx_handle(f);
    sqlite3_stmt *s;
    assert_int_equal(
        sqlite3_prepare_v2(h,
                           "SELECT group_concat(x, ';') FROM (SELECT name || ':' || refcount"
                           " || ':' || (zero_since IS NULL) AS x FROM doi ORDER BY name)",
                           -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    char *doi = dv_strdup(sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0) : "");
    sqlite3_finalize(s);
    assert_int_equal(
        sqlite3_prepare_v2(h,
                           "SELECT group_concat(x, ';') FROM (SELECT path || ':' || nrefs"
                           " || ':' || replica_id AS x FROM dit ORDER BY path)",
                           -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    char *all = dv_asprintf("%s|%s", doi, (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    free(doi);
    sqlite3_close(h);
    return all;
}

static void test_resync_matches_live(void **state)
{
    (void)state;
    struct fx *f = fx_new(3, true);
    workload(f);
    char *live = snapshot(f);
    assert_non_null(strstr(live, ":0:0")); /* some zero-ref objects exist */
    char *cfgp = dv_asprintf("%s/daos.cfg", f->cfg.server.daos_dir), *cfg1, *cfg2;
    assert_int_equal(dv_read_file(cfgp, &cfg1, NULL), 0);
    struct store_resync_counts c;
    assert_int_equal(store_resync(f->st, NULL, &c), 0);
    assert_int_equal(c.databases, 3);
    assert_int_equal(c.missing, 0);
    char *after = snapshot(f);
    assert_string_equal(live, after);
    assert_int_equal(dv_read_file(cfgp, &cfg2, NULL), 0);
    assert_string_equal(cfg1, cfg2);
    free(after);
    free(cfg2);

    /* index deleted: recreated, NEEDS_RESYNC, and resync restores the same counts */
    store_free(f->st);
    f->st = NULL;
    char *idx = dv_asprintf("%s/daoscat.db", f->cfg.server.daos_dir);
    assert_int_equal(unlink(idx), 0);
    reopen(f);
    assert_true(store_needs_resync(f->st));
    struct store_status ss;
    assert_int_equal(store_status(f->st, &ss), 0);
    assert_non_null(strstr(ss.reason, "missing"));
    assert_int_equal(ss.objects, 0);
    assert_true(ss.nsubdirs > 0); /* subdirectory counts taken from daos.cfg */
    store_status_done(&ss);
    assert_int_equal(store_resync(f->st, NULL, NULL), 0);
    assert_false(store_needs_resync(f->st));
    after = snapshot(f);
    /* zero_since is "now" for zero-ref objects after a rebuild from nothing: same flags */
    assert_string_equal(live, after);
    free(after);

    /* unreadable index: moved aside, recreated */
    store_free(f->st);
    f->st = NULL;
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    assert_int_equal(dv_write_atomic(idx, junk, sizeof junk, 0640), 0);
    char *w = dv_asprintf("%s-wal", idx), *m = dv_asprintf("%s-shm", idx);
    unlink(w);
    unlink(m);
    reopen(f);
    assert_true(store_needs_resync(f->st));
    assert_int_equal(store_resync(f->st, NULL, NULL), 0);
    after = snapshot(f);
    assert_string_equal(live, after);
    free(after);
    free(w);
    free(m);
    free(idx);
    free(cfg1);
    free(cfgp);
    free(live);
    fx_free(f);
}

static bool refuse_first(void *ud, const char *name)
{
    (void)name;
    int *calls = ud;
    return (*calls)++ > 0;
}

static void test_prune(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, false);
    struct store_db *db = mkdb(f, "a.nsf");
    char u[3][33];
    for (unsigned i = 0; i < 3; i++) {
        unsigned seeds[1] = {300 + i};
        size_t sizes[1] = {5000};
        add_doc(db, seeds, sizes, 1, u[i]);
        assert_int_equal(store_doc_delete(db, u[i], 10), 0);
    }
    assert_int_equal(store_purge(db, 10, NULL), 0);
    struct store_prune_counts pc;
    /* just became zero-ref: not due under 30 days (default) nor 1 day */
    assert_int_equal(store_prune(f->st, -1, NULL, NULL, &pc, NULL), 0);
    assert_int_equal(pc.deleted, 0);
    assert_int_equal(pc.not_due, 3);
    assert_int_equal(store_prune(f->st, 1, NULL, NULL, &pc, NULL), 0);
    assert_int_equal(pc.deleted, 0);
    /* age them by two days */
    sqlite3 *h = idx_handle(f);
    assert_int_equal(
        sqlite3_exec(h, "UPDATE doi SET zero_since = zero_since - 2 * 86400", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(store_prune(f->st, 3, NULL, NULL, &pc, NULL), 0);
    assert_int_equal(pc.deleted, 0);
    /* the callback refuses the first: waiting for backup */
    int calls = 0;
    assert_int_equal(store_prune(f->st, 1, refuse_first, &calls, &pc, NULL), 0);
    assert_int_equal(pc.deleted, 2);
    assert_int_equal(pc.waiting_backup, 1);
    char *sub = dv_asprintf("%s/0001", f->cfg.server.daos_dir);
    assert_int_equal(count_files(sub, false), 1);
    /* a referenced object is never pruned */
    unsigned seeds[1] = {400};
    size_t sizes[1] = {5000};
    add_doc(db, seeds, sizes, 1, NULL);
    assert_int_equal(store_prune(f->st, 0, NULL, NULL, &pc, NULL), 0);
    assert_int_equal(pc.deleted, 1);
    assert_int_equal(count_files(sub, false), 1);
    /* refuses under NEEDS_RESYNC */
    assert_int_equal(store_mark_needs_resync(f->st, "test says so"), 0);
    assert_int_equal(store_prune(f->st, 0, NULL, NULL, &pc, NULL), -1);
    assert_non_null(strstr(dv_err(), "NEEDS_RESYNC"));
    assert_non_null(strstr(dv_err(), "test says so"));
    assert_int_equal(store_resync(f->st, NULL, NULL), 0);
    /* a database that appears outside the store: prune refuses */
    store_db_close(db);
    char *a = dv_asprintf("%s/a.nsf", f->cfg.server.data_dir),
         *b = dv_asprintf("%s/b.nsf", f->cfg.server.data_dir);
    assert_int_equal(dv_copy_file_atomic(a, b, 0640), 0);
    assert_int_equal(store_prune(f->st, 0, NULL, NULL, &pc, NULL), -1);
    assert_non_null(strstr(dv_err(), "b.nsf appeared"));
    free(a);
    free(b);
    free(sub);
    fx_free(f);
}

static int collect(void *ud, const char *name)
{
    char **s = ud;
    char *n = dv_asprintf("%s%s\n", *s, name);
    free(*s);
    *s = n;
    return 0;
}

static void test_listnlo_and_install(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, true);
    struct store_db *db = mkdb(f, "a.nsf");
    unsigned seeds[3] = {1, 2, 3};
    size_t sizes[3] = {2000, 3000, 10};
    add_doc(db, seeds, sizes, 3, NULL);
    add_doc(db, seeds, sizes, 2, NULL);
    char n1[STORE_NLO_NAME_LEN + 1], n2[STORE_NLO_NAME_LEN + 1];
    nlo_of(1, 2000, n1);
    nlo_of(2, 3000, n2);
    char *all = dv_strdup(""), *miss = dv_strdup("");
    uint64_t cnt;
    assert_int_equal(store_listnlo(f->st, "a.nsf", false, collect, &all, &cnt), 0);
    assert_int_equal(cnt, 2);
    char *want =
        strcmp(n1, n2) < 0 ? dv_asprintf("%s\n%s\n", n1, n2) : dv_asprintf("%s\n%s\n", n2, n1);
    assert_string_equal(all, want);
    assert_int_equal(store_listnlo(f->st, "a.nsf", true, collect, &miss, &cnt), 0);
    assert_int_equal(cnt, 0);
    /* move one away: it is missing; a copy of the database outside data_dir works too */
    char *p = store_nlo_path(f->st, n2), *aside = dv_asprintf("%s/aside.nlo", f->dir);
    assert_int_equal(rename(p, aside), 0);
    char *dbcopy = dv_asprintf("%s/restored.nsf", f->dir);
    char *sql = dv_asprintf("VACUUM INTO '%s'", dbcopy);
    assert_int_equal(sqlite3_exec(store_db_sqlite(db), sql, NULL, NULL, NULL), SQLITE_OK);
    free(sql);
    assert_int_equal(store_listnlo(f->st, dbcopy, true, collect, &miss, &cnt), 0);
    assert_int_equal(cnt, 1);
    char *w2 = dv_asprintf("%s\n", n2);
    assert_string_equal(miss, w2);
    /* reading it now marks NEEDS_RESYNC */
    unsigned char *b;
    size_t n;
    assert_int_equal(store_att_read(db, 2, &b, &n), -1);
    assert_true(store_needs_resync(f->st));
    assert_int_equal(store_resync(f->st, NULL, NULL), 0);
    assert_int_equal(refcount(f, n2), -1); /* not an object any more */
    /* install it back: refcount computed from the databases */
    bool inst;
    assert_int_equal(store_nlo_install(f->st, n2, aside, &inst), 0);
    assert_true(inst);
    assert_int_equal(refcount(f, n2), 2);
    assert_int_equal(store_att_read(db, 2, &b, &n), 0);
    free(b);
    assert_int_equal(store_nlo_install(f->st, n2, aside, &inst), 0);
    assert_false(inst);
    /* a wrong file under that name is refused */
    assert_int_equal(store_nlo_install(f->st, n1, aside, &inst), 0); /* present: left alone */
    char *p1 = store_nlo_path(f->st, n1);
    assert_int_equal(unlink(p1), 0);
    assert_int_equal(store_nlo_install(f->st, n1, aside, &inst), -1);
    assert_null(store_nlo_path(f->st, n1));
    free(p1);
    free(w2);
    free(dbcopy);
    free(p);
    free(aside);
    free(want);
    free(all);
    free(miss);
    store_db_close(db);
    fx_free(f);
}

/* Installing many NLOs (recover): one syncfs and one fsync per subdirectory per batch, not
 * an fsync of every file and of its directory; every one is in place with its bytes. */
static void test_install_batch(void **state)
{
    (void)state;
    enum { N = 40 };
    struct fx *f = fx_new(40000, true);
    struct store_db *db = mkdb(f, "a.nsf");
    char names[N][STORE_NLO_NAME_LEN + 1], *aside[N];
    for (unsigned i = 0; i < N; i += 2) {
        unsigned seeds[2] = {100 + i, 101 + i};
        size_t sizes[2] = {2000 + i, 2001 + i};
        add_doc(db, seeds, sizes, 2, NULL);
    }
    struct store_install v[N];
    memset(v, 0, sizeof v);
    for (unsigned i = 0; i < N; i++) {
        nlo_of(100 + i, 2000 + i, names[i]);
        char *p = store_nlo_path(f->st, names[i]);
        assert_non_null(p);
        aside[i] = dv_asprintf("%s/aside%u.nlo", f->dir, i);
        assert_int_equal(rename(p, aside[i]), 0);
        free(p);
        v[i].name = names[i];
        v[i].src_path = aside[i];
    }
    assert_int_equal(store_resync(f->st, NULL, NULL), 0);
    fsyncs = 0;
    if (store_nlo_install_many(f->st, v, N, NULL) != 0)
        fail_msg("%s", dv_err());
    /* one subdirectory; daos.cfg and its directory: a handful, never 2 per NLO */
    assert_true(fsyncs <= 4);
    for (unsigned i = 0; i < N; i++) {
        assert_int_equal(v[i].status, STORE_INSTALL_NEW);
        assert_int_equal(refcount(f, names[i]), 1);
        char *p = store_nlo_path(f->st, names[i]);
        assert_non_null(p);
        free(p);
        free(aside[i]);
    }
    unsigned char *b;
    size_t n;
    assert_int_equal(store_att_read(db, 1, &b, &n), 0); /* read back through the server */
    free(b);
    store_install_done(v, N);
    store_db_close(db);
    fx_free(f);
}

static void test_doc_copy(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, false);
    struct store_db *a = mkdb(f, "a.nsf"), *b = mkdb(f, "b.nsf");
    unsigned seeds[2] = {8, 9};
    size_t sizes[2] = {6000, 50};
    char u[33];
    add_doc(a, seeds, sizes, 2, u);
    char name[STORE_NLO_NAME_LEN + 1];
    nlo_of(8, 6000, name);
    assert_int_equal(store_doc_copy(a, u, b), 0);
    assert_int_equal(refcount(f, name), 2);
    sqlite3 *hb = store_db_sqlite(b);
    assert_int_equal(q1(hb, "SELECT count(*) FROM notes WHERE unid = ?1", u), 1);
    assert_int_equal(q1(hb, "SELECT count(*) FROM attachments WHERE length(data) = 50", NULL), 1);
    /* twice: refused, refcount unchanged */
    assert_int_equal(store_doc_copy(a, u, b), -1);
    assert_non_null(strstr(dv_err(), "already has"));
    assert_int_equal(refcount(f, name), 2);
    /* a missing NLO: refused */
    struct store_db *c = mkdb(f, "c.nsf");
    char *p = store_nlo_path(f->st, name);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(store_doc_copy(a, u, c), -1);
    assert_non_null(strstr(dv_err(), "recover it first"));
    assert_int_equal(refcount(f, name), 2);
    free(p);
    store_db_close(a);
    store_db_close(b);
    store_db_close(c);
    /* resync agrees with the live counts (the file is gone: no object, 2 missing refs) */
    struct store_resync_counts rc;
    assert_int_equal(store_resync(f->st, NULL, &rc), 0);
    assert_int_equal(rc.missing, 2);
    fx_free(f);
}

/* Resync's reports: an object in two subdirectories is counted once (the lower subdirectory
 * wins) and warned about; references no object answers - valid names whose file is gone and
 * names that are no NLO name at all - are counted, each database's its own; counts summed
 * over databases. */
static void test_resync_dups_missing(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, false);
    struct store_db *a = mkdb(f, "a.nsf"), *b = mkdb(f, "b.nsf");
    unsigned seeds[2] = {21, 22};
    size_t sizes[2] = {5000, 7000};
    char u[33];
    add_doc(a, seeds, sizes, 2, u);
    add_doc(b, seeds, sizes, 1, u);
    char n21[STORE_NLO_NAME_LEN + 1], n22[STORE_NLO_NAME_LEN + 1];
    nlo_of(21, 5000, n21);
    nlo_of(22, 7000, n22);
    /* 25 references to valid names no file has, 3 to names that are no NLO name */
    sqlite3 *ha = store_db_sqlite(a);
    for (int i = 0; i < 28; i++) {
        char nm[STORE_NLO_NAME_LEN + 1];
        if (i < 25)
            nlo_of(100 + (unsigned)i, 9000, nm);
        else
            snprintf(nm, sizeof nm, "bogus-%d", i);
        char *sql = dv_asprintf("INSERT INTO attachments(note_id, name, size, nlo) "
                                "VALUES (1, 'x', 1, '%s')",
                                nm);
        assert_int_equal(sqlite3_exec(ha, sql, NULL, NULL, NULL), SQLITE_OK);
        free(sql);
    }
    store_db_close(a);
    store_db_close(b);
    /* the same object in a second subdirectory */
    char *p = store_nlo_path(f->st, n21);
    char *d2 = dv_asprintf("%s/0002", f->cfg.server.daos_dir);
    char *p2 = dv_asprintf("%s/%s", d2, n21);
    assert_int_equal(mkdir(d2, 0700), 0);
    char *buf;
    size_t len;
    assert_int_equal(dv_read_file(p, &buf, &len), 0);
    assert_int_equal(dv_write_atomic(p2, buf, len, 0600), 0);
    struct store_resync_counts c;
    assert_int_equal(store_resync(f->st, NULL, &c), 0);
    assert_int_equal(c.duplicates, 1);
    assert_int_equal(c.objects, 2);
    assert_int_equal(c.missing, 28);
    assert_int_equal(c.references, 3 + 28);
    assert_int_equal(refcount(f, n21), 2); /* a's and b's */
    assert_int_equal(refcount(f, n22), 1);
    sqlite3 *idx = idx_handle(f);
    assert_int_equal(q1(idx, "SELECT subdir FROM doi WHERE name = ?1", n21), 1);
    assert_int_equal(q1(idx, "SELECT count(*) FROM doi", NULL), 2);
    sqlite3_close(idx);
    free(buf);
    free(p);
    free(p2);
    free(d2);
    fx_free(f);
}

static void test_check(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, false);
    store_db_close(mkdb(f, "a.nsf"));
    assert_int_equal(store_check(f->st), 0);
    assert_false(store_needs_resync(f->st));
    char *a = dv_asprintf("%s/a.nsf", f->cfg.server.data_dir);
    assert_int_equal(unlink(a), 0);
    assert_int_equal(store_check(f->st), 0);
    assert_true(store_needs_resync(f->st));
    struct store_status ss;
    assert_int_equal(store_status(f->st, &ss), 0);
    assert_non_null(strstr(ss.reason, "a.nsf disappeared"));
    store_status_done(&ss);
    assert_int_equal(store_resync(f->st, NULL, NULL), 0);
    assert_int_equal(store_check(f->st), 0);
    assert_false(store_needs_resync(f->st));
    /* replica id changed - after a check that read it and remembered the file (dit_seen):
       the write changes the file's ctime, so the next check reads it again */
    store_db_close(mkdb(f, "b.nsf"));
    assert_int_equal(store_check(f->st), 0);
    assert_false(store_needs_resync(f->st));
    assert_int_equal(store_check(f->st), 0); /* from dit_seen: nothing opened, same answer */
    assert_false(store_needs_resync(f->st));
    char *b = dv_asprintf("%s/b.nsf", f->cfg.server.data_dir);
    sqlite3 *h;
    assert_int_equal(sqlite3_open(b, &h), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(h, "UPDATE dbinfo SET value = 'x' WHERE key = 'replica_id'", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(h);
    assert_int_equal(store_check(f->st), 0);
    assert_true(store_needs_resync(f->st));
    free(a);
    free(b);
    fx_free(f);
}

struct attv {
    int n;
    int64_t size[4];
    char nlo[4][STORE_NLO_NAME_LEN + 1];
    char name[4][32];
};

static int att_cb(void *ud, const struct store_att_info *a)
{
    struct attv *v = ud;
    if (v->n >= 4)
        return 7;
    v->size[v->n] = a->size;
    snprintf(v->nlo[v->n], sizeof v->nlo[0], "%s", a->nlo);
    snprintf(v->name[v->n], sizeof v->name[0], "%s", a->name);
    v->n++;
    return 0;
}

static void test_doc_atts(void **state)
{
    (void)state;
    struct fx *f = fx_new(40000, false);
    struct store_db *db = mkdb(f, "mail/alice.nsf");
    unsigned seeds[2] = {1, 2};
    size_t sizes[2] = {100, 5000};
    char unid[33];
    add_doc(db, seeds, sizes, 2, unid);
    store_db_close(db);
    struct attv v = {0};
    assert_int_equal(store_doc_atts(f->st, "mail/alice.nsf", unid, att_cb, &v), 0);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.size[0], 100);
    assert_string_equal(v.nlo[0], "");
    assert_string_equal(v.name[0], "file.bin");
    assert_int_equal(v.size[1], 5000);
    char name[STORE_NLO_NAME_LEN + 1];
    nlo_of(2, 5000, name);
    assert_string_equal(v.nlo[1], name);
    /* the callback's value stops the walk */
    struct attv full = {.n = 4};
    assert_int_equal(store_doc_atts(f->st, "mail/alice.nsf", unid, att_cb, &full), 7);
    /* an unknown document */
    assert_int_equal(
        store_doc_atts(f->st, "mail/alice.nsf", "0123456789abcdef0123456789abcdef", att_cb, &v),
        -1);
    assert_non_null(strstr(dv_err(), "no document"));
    fx_free(f);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--crash-child") == 0)
        return crash_child(argv[2]);
    self_exe = realpath("/proc/self/exe", NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_db_create_schema),
        cmocka_unit_test(test_add_inline_and_nlo),
        cmocka_unit_test(test_dedup_delete_purge),
        cmocka_unit_test(test_transactions),
        cmocka_unit_test(test_subdir_rollover_reuse),
        cmocka_unit_test(test_encryption),
        cmocka_unit_test(test_key_file_refused),
        cmocka_unit_test(test_temp_names),
        cmocka_unit_test(test_resync_matches_live),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_listnlo_and_install),
        cmocka_unit_test(test_install_batch),
        cmocka_unit_test(test_doc_copy),
        cmocka_unit_test(test_doc_atts),
        cmocka_unit_test(test_resync_dups_missing),
        cmocka_unit_test(test_check),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    free(self_exe);
    return rc;
}

/* test_incr.c - block-transfer incremental backups: counters, chains, torn pages, WAL reset,
 * the failure rule, corrupt links. Real SQLite databases, a real target and catalog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dvtmp.h"
#include "backup.h"
#include "catalog.h"
#include "config.h"
#include "delta.h"
#include "fsb.h"
#include "incr.h"
#include "pagemap.h"
#include "restore.h"
#include "target.h"
#include "util.h"

#define FILLER_ROWS 1500 /* ~1500 pages of 4 KiB */

struct fx {
    char dir[256];
    struct dv_config cfg;
    char *db;   /* live database, absolute */
    sqlite3 *w; /* the writer connection (kept open: its WAL stays) */
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
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "incr"));
    dv_config_defaults(&f->cfg, f->dir);
    assert_int_equal(dv_mkdirs(f->cfg.server.data_dir, 0700), 0);
    {
        struct target_identity tid;
        if (target_init(f->cfg.backup.target, NULL, &tid, NULL) != 0)
            fail_msg("%s", dv_err());
    }
    char *mail = dv_path_join(f->cfg.server.data_dir, "mail");
    assert_int_equal(dv_mkdirs(mail, 0700), 0);
    free(mail);
    f->db = dv_path_join(f->cfg.server.data_dir, "mail/alice.nsf");
    assert_int_equal(sqlite3_open(f->db, &f->w), SQLITE_OK);
    exec(f->w, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;"
               "CREATE TABLE dbinfo(key TEXT PRIMARY KEY, value TEXT);"
               "INSERT INTO dbinfo VALUES ('replica_id','85257A3F00112233'),"
               "('dbiid','C1257A3F00AABBCC');"
               "CREATE TABLE filler(id INTEGER PRIMARY KEY, v BLOB);"
               "CREATE TABLE attachments(att_id INTEGER PRIMARY KEY, note_id INTEGER, name TEXT,"
               " size INTEGER, nlo TEXT, data BLOB);");
    char sql[256];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<%d)"
             " INSERT INTO filler(v) SELECT randomblob(3000) FROM c;",
             FILLER_ROWS);
    exec(f->w, sql);
    exec(f->w, "PRAGMA wal_checkpoint(TRUNCATE)");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    incr_test_hook = NULL;
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

static int do_backup(struct fx *f, bool incremental, struct backup_result *r)
{
    struct backup_opts o = {.incremental = incremental, .skip_nlo = true};
    return backup_run(&f->cfg, &o, NULL, r);
}

static void backup_ok(struct fx *f, bool incremental, struct backup_result *r)
{
    if (do_backup(f, incremental, r) != 0)
        fail_msg("backup: %s", dv_err());
    assert_true(r->complete);
}

static char *restore_to(struct fx *f, const char *set_id, const char *name)
{
    char *out = dv_path_join(f->dir, name);
    struct catalog *cat = catalog_open(f->cfg.catalog);
    struct target *t = target_open(f->cfg.backup.target);
    assert_non_null(cat);
    assert_non_null(t);
    if (restore_materialize(cat, t, set_id, "mail/alice.nsf", out, false, NULL, NULL) != 0)
        fail_msg("restore %s: %s", set_id, dv_err());
    target_close(t);
    catalog_close(cat);
    return out;
}

static void assert_same_file(const char *a, const char *b)
{
    char *pa, *pb;
    size_t na, nb;
    assert_int_equal(dv_read_file(a, &pa, &na), 0);
    assert_int_equal(dv_read_file(b, &pb, &nb), 0);
    if (na != nb || memcmp(pa, pb, na) != 0)
        fail_msg("%s (%zu bytes) and %s (%zu bytes) differ", a, na, b, nb);
    free(pa);
    free(pb);
}

static void get_set(struct fx *f, const char *id, struct catalog_set *s, int64_t *total,
                    int64_t *stored)
{
    struct catalog *cat = catalog_open(f->cfg.catalog);
    assert_non_null(cat);
    assert_int_equal(catalog_set_get(cat, id, s), 1);
    assert_int_equal(catalog_set_pages_get(cat, id, total, stored), 0);
    catalog_close(cat);
}

static void small_change(sqlite3 *w, int id)
{
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE filler SET v = randomblob(3000) WHERE id = %d", id);
    exec(w, sql);
}

/* A small change: the incremental stores a small fraction, and restores exactly. */
static void test_small_change(void **state)
{
    struct fx *f = *state;
    struct backup_result full, inc;
    backup_ok(f, false, &full);
    assert_false(full.incremental);
    assert_true(full.pages_total > 1000);
    assert_int_equal(full.pages_stored, full.pages_total);
    small_change(f->w, 10);
    small_change(f->w, 700);
    backup_ok(f, true, &inc);
    assert_true(inc.incremental);
    struct catalog_set s;
    int64_t total, stored;
    get_set(f, inc.set_id, &s, &total, &stored);
    assert_int_equal(s.kind, CATALOG_SET_INCREMENTAL);
    assert_string_equal(s.origin, full.set_id);
    assert_string_equal(s.checkpoint, inc.set_id);
    assert_true(total >= 1000);
    assert_true(stored >= 2);
    assert_true(stored * 50 < total); /* < 2 % of the pages */
    /* the stored file is small too */
    char *dir = dv_asprintf("%s/sets/%s/db/mail/alice.nsf.inc", f->cfg.backup.target, inc.set_id);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_true((int64_t)st.st_size < total * 4096 / 20);
    free(dir);
    /* the manifest says the same */
    char *mp = dv_asprintf("%s/sets/%s/manifest.json", f->cfg.backup.target, inc.set_id);
    struct manifest m;
    manifest_init(&m);
    assert_int_equal(manifest_read(mp, &m), 0);
    assert_string_equal(m.kind, "incremental");
    assert_int_equal(m.ndbs, 1);
    assert_string_equal(m.dbs[0].kind, "incremental");
    assert_string_equal(m.dbs[0].origin, full.set_id);
    assert_int_equal((int64_t)m.dbs[0].pages_stored, stored);
    assert_int_equal(m.pages_total, total);
    manifest_done(&m);
    free(mp);
    /* restore = a full backup of the same moment */
    struct backup_result full2;
    backup_ok(f, false, &full2);
    char *a = restore_to(f, inc.set_id, "from-inc.nsf");
    char *b = restore_to(f, full2.set_id, "from-full.nsf");
    assert_same_file(a, b);
    free(a);
    free(b);
}

/* restore_steps.unique (the restore folder): a name taken when the result is renamed (another
 * restore got there first) is never replaced: the next alternative (-2, -3) is taken. */
static void test_unique_name(void **state)
{
    struct fx *f = *state;
    struct backup_result full;
    backup_ok(f, false, &full);
    char *out = dv_path_join(f->dir, "copy.nsf"), *alt2 = dv_path_join(f->dir, "copy-2.nsf");
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "taken", 5), 5);
    close(fd);
    struct catalog *cat = catalog_open(f->cfg.catalog);
    struct target *t = target_open(f->cfg.backup.target);
    assert_non_null(cat);
    assert_non_null(t);
    struct restore_steps st = {.unique = true};
    struct restore_info info;
    if (restore_materialize_steps(cat, t, full.set_id, "mail/alice.nsf", out, false, &st, NULL,
                                  &info) != 0)
        fail_msg("unique restore: %s", dv_err());
    assert_string_equal(info.out_path, alt2);
    struct stat sb;
    assert_int_equal(stat(out, &sb), 0);
    assert_int_equal(sb.st_size, 5); /* the taken name: untouched */
    assert_int_equal(stat(alt2, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, info.size);
    /* without unique the same request is refused */
    assert_int_equal(restore_materialize_steps(cat, t, full.set_id, "mail/alice.nsf", out, false,
                                               NULL, NULL, &info),
                     -1);
    assert_non_null(strstr(dv_err(), "exists"));
    target_close(t);
    catalog_close(cat);
    free(out);
    free(alt2);
}

/* full -> inc -> inc restores byte for byte like a full backup of the same moment. */
static void test_chain(void **state)
{
    struct fx *f = *state;
    struct backup_result full, i1, i2, ref;
    backup_ok(f, false, &full);
    small_change(f->w, 3);
    exec(f->w, "INSERT INTO filler(v) SELECT randomblob(5000) FROM filler LIMIT 20");
    backup_ok(f, true, &i1);
    small_change(f->w, 1200);
    exec(f->w, "DELETE FROM filler WHERE id > 1400");
    exec(f->w, "PRAGMA wal_checkpoint(TRUNCATE); VACUUM;"); /* the file shrinks */
    backup_ok(f, true, &i2);
    assert_true(i1.incremental && i2.incremental);
    backup_ok(f, false, &ref);
    char *a = restore_to(f, i2.set_id, "chain.nsf");
    char *b = restore_to(f, ref.set_id, "ref.nsf");
    assert_same_file(a, b);
    /* the chain as prune and verify see it */
    struct catalog *cat = catalog_open(f->cfg.catalog);
    struct target *t = target_open(f->cfg.backup.target);
    char(*ids)[32];
    size_t n;
    assert_int_equal(catalog_set_chain(cat, i2.set_id, &ids, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ids[0], full.set_id);
    assert_string_equal(ids[1], i1.set_id);
    free(ids);
    assert_int_equal(catalog_set_dependents(cat, i1.set_id, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], i2.set_id);
    free(ids);
    assert_int_equal(incr_chain_verify(cat, t, i2.set_id, "mail/alice.nsf"), 0);
    /* a corrupt middle link is found and named */
    char *inc = dv_asprintf("%s/sets/%s/db/mail/alice.nsf.inc", f->cfg.backup.target, i1.set_id);
    int fd = open(inc, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, INCR_HDR_SIZE + INCR_RUN_HDR + 100), 1);
    close(fd);
    assert_int_equal(incr_chain_verify(cat, t, i2.set_id, "mail/alice.nsf"), -1);
    assert_non_null(strstr(dv_err(), i1.set_id));
    char *c = dv_path_join(f->dir, "bad.nsf");
    assert_int_equal(restore_materialize(cat, t, i2.set_id, "mail/alice.nsf", c, false, NULL, NULL),
                     -1);
    assert_int_equal(access(c, F_OK), -1);
    free(c);
    free(inc);
    target_close(t);
    catalog_close(cat);
    free(a);
    free(b);
}

/* The torn-page case: a checkpoint writes pages while the file is read. */
struct torn {
    sqlite3 *w;
    int fired;
};

static void torn_hook(const char *point, void *ud)
{
    struct torn *t = ud;
    if (strcmp(point, "read.half") != 0)
        return;
    t->fired++;
    /* pages on both sides of the read position change; frames older than the backup's
     * snapshot get copied into the file by the checkpoint, under the reader */
    for (int id = 5; id < FILLER_ROWS; id += 97)
        small_change(t->w, id);
    int log = -1, ckpt = -1;
    assert_int_equal(sqlite3_wal_checkpoint_v2(t->w, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &ckpt),
                     SQLITE_OK);
    assert_true(ckpt > 0); /* something was written into the file during the read */
}

static void test_torn_page(void **state)
{
    struct fx *f = *state;
    struct backup_result full, inc, ref;
    backup_ok(f, false, &full);
    /* committed but not checkpointed when the incremental starts */
    for (int id = 2; id < FILLER_ROWS; id += 50)
        small_change(f->w, id);
    struct torn t = {.w = f->w};
    incr_test_hook = torn_hook;
    incr_test_hook_ud = &t;
    backup_ok(f, true, &inc);
    incr_test_hook = NULL;
    assert_int_equal(t.fired, 1);
    assert_true(inc.incremental);
    backup_ok(f, false, &ref);
    char *a = restore_to(f, inc.set_id, "torn.nsf");
    char *b = restore_to(f, ref.set_id, "ref.nsf");
    assert_same_file(a, b);
    free(a);
    free(b);
}

/* The WAL is checkpointed and restarted (new salts) between runs: pages, not frames, count. */
static void test_wal_reset(void **state)
{
    struct fx *f = *state;
    struct backup_result full, inc, ref;
    small_change(f->w, 1);
    backup_ok(f, false, &full); /* WAL frames in the full set's delta */
    exec(f->w, "PRAGMA wal_checkpoint(TRUNCATE)");
    small_change(f->w, 2); /* a new WAL generation */
    exec(f->w, "PRAGMA wal_checkpoint(RESTART)");
    small_change(f->w, 900); /* and another */
    backup_ok(f, true, &inc);
    assert_true(inc.incremental);
    int64_t total, stored;
    struct catalog_set s;
    get_set(f, inc.set_id, &s, &total, &stored);
    assert_true(stored >= 2 && stored * 50 < total);
    backup_ok(f, false, &ref);
    char *a = restore_to(f, inc.set_id, "reset.nsf");
    char *b = restore_to(f, ref.set_id, "ref.nsf");
    assert_same_file(a, b);
    free(a);
    free(b);
}

/* Kept deltas: the full copy's page map is the consistent image's, not the torn copy's. */
static void test_keep_mode(void **state)
{
    struct fx *f = *state;
    f->cfg.backup.delta = DV_DELTA_KEEP;
    struct backup_result full, inc, ref;
    small_change(f->w, 44); /* in the WAL: the full set keeps it as a .delta */
    backup_ok(f, false, &full);
    assert_int_equal(full.deltas_kept, 1);
    small_change(f->w, 45);
    backup_ok(f, true, &inc);
    int64_t total, stored;
    struct catalog_set s;
    get_set(f, inc.set_id, &s, &total, &stored);
    assert_true(stored * 50 < total); /* page 44's row is not stored again */
    f->cfg.backup.delta = DV_DELTA_APPLY;
    backup_ok(f, false, &ref);
    char *a = restore_to(f, inc.set_id, "keep.nsf");
    char *b = restore_to(f, ref.set_id, "ref.nsf");
    assert_same_file(a, b);
    free(a);
    free(b);
}

/* A failed set, and an interrupted one, make the next backup full, and it says why; a
 * database a partial set could not copy gets a full copy in the next incremental. */
static void kill_hook(const char *point, void *ud)
{
    (void)ud;
    if (strcmp(point, "written") == 0)
        kill(getpid(), SIGKILL);
}

static void test_failure_rule(void **state)
{
    struct fx *f = *state;
    struct backup_result full, bad, next, inc;
    char *other = dv_path_join(f->cfg.server.data_dir, "mail/bob.nsf");
    sqlite3 *b;
    assert_int_equal(sqlite3_open(other, &b), SQLITE_OK);
    exec(b, "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);");
    sqlite3_close(b);
    backup_ok(f, false, &full);
    /* 1. a database that cannot be copied: the set is partial, the others are in it */
    char *moved = dv_asprintf("%s.aside", other);
    assert_int_equal(rename(other, moved), 0);
    assert_int_equal(dv_write_atomic(other, "not a database, not at all", 26, 0600), 0);
    small_change(f->w, 9);
    assert_int_equal(do_backup(f, true, &bad), -1);
    assert_false(bad.complete);
    assert_true(bad.partial);
    assert_true(bad.incremental);
    assert_int_equal(bad.databases, 1);
    assert_int_equal(bad.db_failed, 1);
    assert_non_null(strstr(dv_err(), "is partial: 1 database(s) failed: mail/bob.nsf ("));
    /* fixed: the next incremental copies it in full (a partial set is no origin for it) */
    assert_int_equal(rename(moved, other), 0);
    free(moved);
    backup_ok(f, true, &next);
    assert_true(next.incremental);
    struct catalog *cat = catalog_open(f->cfg.catalog);
    int64_t bob;
    struct catalog_file_incr x;
    assert_int_equal(catalog_db_lookup(cat, "mail/bob.nsf", &bob), 1);
    assert_int_equal(catalog_file_incr_get(cat, next.set_id, bob, &x), 1);
    assert_int_equal(x.kind, CATALOG_SET_FULL);
    assert_non_null(strstr(x.full_reason, bad.set_id));
    assert_non_null(strstr(x.full_reason, "could not copy it"));
    catalog_close(cat);
    free(other);
    /* 1b. a set that fails (its pre command fails) */
    char *pre = f->cfg.backup.pre_command;
    f->cfg.backup.pre_command = (char *)"/bin/false";
    small_change(f->w, 9);
    assert_int_equal(do_backup(f, true, &bad), -1);
    f->cfg.backup.pre_command = pre;
    assert_false(bad.complete);
    assert_false(bad.partial);
    backup_ok(f, true, &next);
    assert_false(next.incremental);
    assert_non_null(strstr(next.message, "failed"));
    assert_non_null(strstr(next.message, "full"));
    struct catalog_set s;
    int64_t total, stored;
    get_set(f, next.set_id, &s, &total, &stored);
    assert_int_equal(s.kind, CATALOG_SET_FULL);
    assert_int_equal(stored, total);
    assert_non_null(strstr(s.message, bad.set_id));
    /* 2. an incremental killed in the middle */
    small_change(f->w, 10);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        incr_test_hook = kill_hook;
        struct backup_result r;
        do_backup(f, true, &r);
        _exit(3); /* not reached */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    backup_ok(f, true, &inc);
    assert_false(inc.incremental);
    assert_non_null(strstr(inc.message, "full"));
    /* and after a good full one, incrementals again */
    backup_ok(f, true, &inc);
    assert_true(inc.incremental);
}

/* A database whose identity changed, or that is new, gets a full copy inside the set. */
static void test_full_inside_incremental(void **state)
{
    struct fx *f = *state;
    struct backup_result full, inc;
    backup_ok(f, false, &full);
    exec(f->w, "UPDATE dbinfo SET value = 'C1257A3F00FFFFFF' WHERE key = 'dbiid'");
    char *other = dv_path_join(f->cfg.server.data_dir, "mail/bob.nsf");
    sqlite3 *b;
    assert_int_equal(sqlite3_open(other, &b), SQLITE_OK);
    exec(b, "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (1);");
    sqlite3_close(b);
    backup_ok(f, true, &inc);
    assert_true(inc.incremental);
    struct catalog *cat = catalog_open(f->cfg.catalog);
    int64_t alice, bob;
    assert_int_equal(catalog_db_lookup(cat, "mail/alice.nsf", &alice), 1);
    assert_int_equal(catalog_db_lookup(cat, "mail/bob.nsf", &bob), 1);
    struct catalog_file_incr x;
    assert_int_equal(catalog_file_incr_get(cat, inc.set_id, alice, &x), 1);
    assert_int_equal(x.kind, CATALOG_SET_FULL);
    assert_non_null(strstr(x.full_reason, "instance id changed"));
    assert_int_equal(catalog_file_incr_get(cat, inc.set_id, bob, &x), 1);
    assert_int_equal(x.kind, CATALOG_SET_FULL);
    assert_string_equal(x.full_reason, "new database");
    assert_true(x.pagemap[0] != '\0');
    catalog_close(cat);
    /* the next incremental uses those full copies as origins */
    small_change(f->w, 77);
    backup_ok(f, true, &inc);
    cat = catalog_open(f->cfg.catalog);
    assert_int_equal(catalog_file_incr_get(cat, inc.set_id, alice, &x), 1);
    assert_int_equal(x.kind, CATALOG_SET_INCREMENTAL);
    catalog_close(cat);
    char *a = restore_to(f, inc.set_id, "alice2.nsf");
    assert_int_equal(restore_integrity_check(a), 0);
    free(a);
    free(other);
}

/* The .inc reader refuses damage anywhere, naming the file. */
static void test_inc_format(void **state)
{
    struct fx *f = *state;
    struct backup_result full, inc;
    backup_ok(f, false, &full);
    small_change(f->w, 300);
    backup_ok(f, true, &inc);
    char *p = dv_asprintf("%s/sets/%s/db/mail/alice.nsf.inc", f->cfg.backup.target, inc.set_id);
    struct incr_header h;
    assert_int_equal(incr_file_verify(p, NULL, &h), 0);
    assert_string_equal(h.origin, full.set_id);
    assert_string_equal(h.set_id, inc.set_id);
    assert_string_equal(h.replica_id, "85257A3F00112233");
    assert_int_equal(h.page_size, 4096);
    assert_true(h.run_count >= 1);
    char *buf;
    size_t len;
    assert_int_equal(dv_read_file(p, &buf, &len), 0);
    char *q = dv_path_join(f->dir, "copy.inc");
    size_t offs[] = {0, 40, INCR_HDR_SIZE + 3, INCR_HDR_SIZE + INCR_RUN_HDR + 7, len - 10};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        buf[offs[i]] ^= 0x20;
        assert_int_equal(dv_write_atomic(q, buf, len, 0600), 0);
        assert_int_equal(incr_file_verify(q, NULL, NULL), -1);
        assert_non_null(strstr(dv_err(), q));
        buf[offs[i]] ^= 0x20;
    }
    assert_int_equal(dv_write_atomic(q, buf, len - 1, 0600), 0); /* truncated */
    assert_int_equal(incr_file_verify(q, NULL, NULL), -1);
    free(q);
    free(buf);
    free(p);
}

/*
 * Issue 11, case 4: the page map of a full copy with a kept delta gave each delta page the
 * digest of the NEXT delta record (the reader's buffer was digested after it moved on). A
 * VACUUM puts every page in the WAL; a second one after a delete shifts the rows by a page, so
 * the new page p is the old page p+1: "unchanged" by the wrong map, not stored, and the
 * incremental did not restore ("page N differs from the set's page map").
 */
static void test_vacuum_keep_chain(void **state)
{
    struct fx *f = *state;
    struct backup_result full, inc, ref;
    f->cfg.backup.delta = DV_DELTA_KEEP;
    exec(f->w, "VACUUM"); /* every page into the WAL: the full set keeps them as its .delta */
    backup_ok(f, false, &full);
    assert_int_equal(full.deltas_kept, 1);
    /* the set's map is the image restore builds (copy + delta applied as restore does) */
    char *dir = dv_asprintf("%s/sets/%s/db/mail", f->cfg.backup.target, full.set_id);
    char *copy = dv_asprintf("%s/alice.nsf", dir), *delta = dv_asprintf("%s.delta", copy);
    char *pmp = dv_asprintf("%s.pagemap", copy), *img = dv_path_join(f->dir, "image.nsf");
    struct pagemap pm, pc;
    assert_int_equal(pagemap_read(pmp, NULL, &pm), 0);
    assert_true(pm.flags & PAGEMAP_F_CHECKED);
    assert_int_equal(dv_copy_file_atomic(copy, img, 0600), 0);
    assert_int_equal(delta_apply(delta, img), 0);
    if (pagemap_check_image(&pm, img, "image") != 0)
        fail_msg("the full set's page map: %s", dv_err());
    assert_int_equal(pagemap_of_copy(copy, delta, pm.page_size, &pc), 0);
    assert_int_equal(pagemap_check_image(&pc, img, "image"), 0);
    pagemap_done(&pm);
    pagemap_done(&pc);
    /* the rows move down a page: new page p = old page p+1 */
    exec(f->w, "DELETE FROM filler WHERE id = 5; VACUUM");
    backup_ok(f, true, &inc);
    assert_true(inc.incremental);
    f->cfg.backup.delta = DV_DELTA_APPLY;
    backup_ok(f, false, &ref);
    char *a = restore_to(f, inc.set_id, "vacuumed.nsf");
    char *b = restore_to(f, ref.set_id, "ref.nsf");
    assert_same_file(a, b);
    free(a);
    free(b);
    free(dir);
    free(copy);
    free(delta);
    free(pmp);
    free(img);
}

/* incr_file_check: the .inc against the maps it was made from; any disagreement is named. */
static void test_inc_check(void **state)
{
    struct fx *f = *state;
    struct backup_result full, inc;
    backup_ok(f, false, &full);
    small_change(f->w, 20);
    small_change(f->w, 21);
    backup_ok(f, true, &inc);
    char *om_p =
        dv_asprintf("%s/sets/%s/db/mail/alice.nsf.pagemap", f->cfg.backup.target, full.set_id);
    char *set = dv_asprintf("%s/sets/%s/db/mail/alice.nsf", f->cfg.backup.target, inc.set_id);
    char *inc_p = dv_asprintf("%s.inc", set), *pm_p = dv_asprintf("%s.pagemap", set);
    struct pagemap om, pm;
    assert_int_equal(pagemap_read(om_p, NULL, &om), 0);
    assert_int_equal(pagemap_read(pm_p, NULL, &pm), 0);
    assert_true(pm.flags & PAGEMAP_F_CHECKED);
    if (incr_file_check(inc_p, NULL, &om, &pm) != 0)
        fail_msg("%s", dv_err());
    /* find a page that is stored (differs from the origin) and one that is not */
    uint64_t stored = 0, kept = 0;
    for (uint64_t pg = 1; pg <= pm.npages && pg <= om.npages; pg++) {
        bool same = memcmp(pagemap_at(&om, pg), pagemap_at(&pm, pg), PAGEMAP_DIGEST) == 0;
        if (same && !kept)
            kept = pg;
        if (!same && !stored)
            stored = pg;
    }
    assert_true(stored && kept);
    pagemap_at(&pm, kept)[0] ^= 1; /* the image's page differs from the origin's: not held */
    assert_int_equal(incr_file_check(inc_p, NULL, &om, &pm), -1);
    assert_non_null(strstr(dv_err(), "is not stored"));
    assert_non_null(strstr(dv_err(), inc_p));
    pagemap_at(&pm, kept)[0] ^= 1;
    pagemap_at(&pm, stored)[0] ^= 1; /* the stored page is not the image's */
    assert_int_equal(incr_file_check(inc_p, NULL, &om, &pm), -1);
    assert_non_null(strstr(dv_err(), "as stored differs"));
    pagemap_at(&pm, stored)[0] ^= 1;
    om.size += om.page_size; /* another origin size */
    assert_int_equal(incr_file_check(inc_p, NULL, &om, &pm), -1);
    om.size -= om.page_size;
    assert_int_equal(incr_file_check(inc_p, NULL, &om, &pm), 0);
    pagemap_done(&om);
    pagemap_done(&pm);
    free(om_p);
    free(set);
    free(inc_p);
    free(pm_p);
}

/* Rewrite a set's page map of alice without flags (as an older dvault wrote it). */
static void unflag_pagemap(struct fx *f, const char *set_id)
{
    char *p = dv_asprintf("%s/sets/%s/db/mail/alice.nsf.pagemap", f->cfg.backup.target, set_id);
    struct pagemap m;
    char sha[65];
    assert_int_equal(pagemap_read(p, NULL, &m), 0);
    m.flags = 0;
    char *dir = dv_dirname(p);
    struct fsb *root = fsb_open(dir);
    assert_non_null(root);
    assert_int_equal(pagemap_write_at(root, p + strlen(dir) + 1, &m, sha), 0);
    fsb_close(root);
    free(dir);
    pagemap_done(&m);
    sqlite3 *c;
    assert_int_equal(sqlite3_open(f->cfg.catalog, &c), SQLITE_OK);
    char *q = sqlite3_mprintf("UPDATE set_files SET pagemap_sha256 = '%q' WHERE set_id = '%q'", sha,
                              set_id);
    exec(c, q);
    sqlite3_free(q);
    sqlite3_close(c);
    free(p);
}

static void full_reason(struct fx *f, const char *set_id, char *out, size_t n)
{
    struct catalog *cat = catalog_open(f->cfg.catalog);
    int64_t id;
    struct catalog_file_incr x;
    assert_int_equal(catalog_db_lookup(cat, "mail/alice.nsf", &id), 1);
    assert_int_equal(catalog_file_incr_get(cat, set_id, id, &x), 1);
    snprintf(out, n, "%s", x.kind == CATALOG_SET_FULL ? x.full_reason : "");
    catalog_close(cat);
}

/* An older dvault's unchecked map of a copy with a kept delta is no origin; others are. */
static void test_unchecked_origin(void **state)
{
    struct fx *f = *state;
    struct backup_result full, inc;
    char why[256];
    f->cfg.backup.delta = DV_DELTA_KEEP;
    small_change(f->w, 30); /* in the WAL: a kept delta */
    backup_ok(f, false, &full);
    unflag_pagemap(f, full.set_id);
    small_change(f->w, 31);
    backup_ok(f, true, &inc);
    full_reason(f, inc.set_id, why, sizeof why);
    assert_non_null(strstr(why, full.set_id));
    assert_non_null(strstr(why, "older dvault"));
    /* that full copy's own map is checked: the next one builds on it */
    small_change(f->w, 32);
    backup_ok(f, true, &inc);
    full_reason(f, inc.set_id, why, sizeof why);
    assert_string_equal(why, "");
    /* a copy without a delta (apply): its map is the copy's own, unchecked or not */
    f->cfg.backup.delta = DV_DELTA_APPLY;
    backup_ok(f, false, &full);
    unflag_pagemap(f, full.set_id);
    small_change(f->w, 33);
    backup_ok(f, true, &inc);
    full_reason(f, inc.set_id, why, sizeof why);
    assert_string_equal(why, "");
    char *a = restore_to(f, inc.set_id, "a.nsf");
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_small_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unique_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_inside_incremental, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inc_format, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vacuum_keep_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inc_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchecked_origin, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

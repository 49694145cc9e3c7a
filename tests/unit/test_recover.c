/* test_recover.c - restore into a new name, list files, recovery from the pool, doc copy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dvtmp.h"
#include "backup.h"
#include "config.h"
#include "recover.h"
#include "store.h"
#include "target.h"
#include "util.h"

#include "bounded.h"

struct fx {
    char dir[256];
    struct dv_config cfg;
    char set_id[32];
    char unid[3][33]; /* documents of mail/a.nsf: 0 and 1 share nothing, 2 shares with b */
    char nlo[3][STORE_NLO_NAME_LEN + 1]; /* nlo[i] = the attachment of unid[i] */
};

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

static void add_doc(struct store_db *db, unsigned seed, const char *subject, char unid[33],
                    char nlo[STORE_NLO_NAME_LEN + 1])
{
    size_t n = 5000 + seed;
    unsigned char *b = payload(seed, n);
    struct store_att att[2] = {{"big.bin", b, n}, {"small.txt", "hello", 5}};
    struct store_doc d = {"Memo", subject, "alice@example.com", "see attached", 0};
    if (store_doc_add(db, &d, att, 2, unid) != 0)
        fail_msg("store_doc_add: %s", dv_err());
    if (nlo)
        store_nlo_name(b, n, nlo);
    free(b);
}

static char *data(struct fx *f, const char *rel)
{
    return dv_path_join(f->cfg.server.data_dir, rel);
}

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "recover"));
    dv_config_defaults(&f->cfg, f->dir);
    f->cfg.server.daos_dir = dv_path_join(f->cfg.server.data_dir, "daos"); /* a DAOS server */
    f->cfg.server.min_object_size = 1024;
    f->cfg.server.max_files_per_subdir = 100;
    assert_int_equal(store_key_create(&f->cfg), 0); /* the server's key (encryption is on) */
    struct dv_store *st = store_open(&f->cfg);
    assert_non_null(st);
    struct store_db *a = store_db_create(st, "mail/a.nsf", "A");
    struct store_db *b = store_db_create(st, "mail/b.nsf", "B");
    assert_non_null(a);
    assert_non_null(b);
    add_doc(a, 1, "Quarterly report", f->unid[0], f->nlo[0]);
    add_doc(a, 2, "Lunch on Friday", f->unid[1], f->nlo[1]);
    add_doc(a, 3, "Shared contract", f->unid[2], f->nlo[2]);
    add_doc(b, 3, "Shared contract (copy)", NULL, NULL);
    store_db_close(a);
    store_db_close(b);
    store_free(st);
    struct target_identity tid;
    if (target_init(f->cfg.backup.target, f->cfg.server.data_dir, &tid, NULL) != 0)
        fail_msg("%s", dv_err());
    struct backup_opts o = {0};
    struct backup_result r;
    if (backup_run(&f->cfg, &o, NULL, &r) != 0)
        fail_msg("backup: %s", dv_err());
    snprintf(f->set_id, sizeof f->set_id, "%s", r.set_id);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    dv_config_done(&f->cfg);
    free(f);
    return 0;
}

static void db_ids(const char *path, char replica[64], char dbiid[64])
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(h,
                                        "SELECT (SELECT value FROM dbinfo WHERE key ="
                                        " 'replica_id'), (SELECT value FROM dbinfo WHERE key ="
                                        " 'dbiid')",
                                        -1, &s, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    snprintf(replica, 64, "%s", (const char *)sqlite3_column_text(s, 0));
    snprintf(dbiid, 64, "%s", (const char *)sqlite3_column_text(s, 1));
    sqlite3_finalize(s);
    sqlite3_close(h);
}

static bool daos_needs_resync(struct fx *f)
{
    struct dv_store *st = store_open(&f->cfg);
    assert_non_null(st);
    bool n = store_needs_resync(st);
    store_free(st);
    return n;
}

static void test_restore_new_name(void **state)
{
    struct fx *f = *state;
    struct restore_opts o = {.set_id = f->set_id, .db_path = "mail/a.nsf", .into = "mail/r.nsf"};
    struct restore_result r;
    assert_false(daos_needs_resync(f));
    if (recover_restore(&f->cfg, &o, NULL, &r) != 0)
        fail_msg("restore: %s", dv_err());
    char *live = data(f, "mail/a.nsf"), *into = data(f, "mail/r.nsf");
    assert_string_equal(r.into, into);
    char lrep[64], liid[64], rrep[64], riid[64];
    db_ids(live, lrep, liid);
    db_ids(into, rrep, riid);
    assert_int_equal(strlen(rrep), 32);
    assert_int_equal(strlen(riid), 32);
    assert_string_not_equal(lrep, rrep);
    assert_string_not_equal(liid, riid);
    assert_string_equal(r.replica_id, rrep);
    assert_int_equal(r.docs, 3);
    assert_int_equal(r.nlo_refs, 3);
    assert_int_equal(r.nlo_missing, 0);
    assert_false(r.old_set);
    assert_true(daos_needs_resync(f));
    assert_non_null(strstr(r.resync_reason, "mail/r.nsf"));

    /* an existing file is refused, and left alone */
    struct stat before, after;
    assert_int_equal(stat(into, &before), 0);
    assert_int_equal(recover_restore(&f->cfg, &o, NULL, &r), -1);
    assert_non_null(strstr(dv_err(), "exists"));
    assert_int_equal(stat(into, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    /* --force replaces it (new ids again) */
    o.force = true;
    if (recover_restore(&f->cfg, &o, NULL, &r) != 0)
        fail_msg("restore --force: %s", dv_err());
    assert_true(r.replaced);
    char rrep2[64], riid2[64];
    db_ids(into, rrep2, riid2);
    assert_string_not_equal(rrep, rrep2);

    /* the live database: not even with --force, only with --replace-live (ids kept) */
    o.into = "mail/a.nsf";
    assert_int_equal(recover_restore(&f->cfg, &o, NULL, &r), -1);
    assert_non_null(strstr(dv_err(), "--replace-live"));
    o.force = false;
    o.replace_live = true;
    if (recover_restore(&f->cfg, &o, NULL, &r) != 0)
        fail_msg("restore --replace-live: %s", dv_err());
    assert_true(r.live);
    char lrep2[64], liid2[64];
    db_ids(live, lrep2, liid2);
    assert_string_equal(lrep, lrep2);
    assert_string_equal(liid, liid2);
    /* --replace-live on anything else is refused */
    o.into = "mail/other.nsf";
    assert_int_equal(recover_restore(&f->cfg, &o, NULL, &r), -1);
    /* escaping data_dir, missing parent */
    o.replace_live = false;
    o.into = "../x.nsf";
    assert_int_equal(recover_restore(&f->cfg, &o, NULL, &r), -1);
    o.into = "nodir/x.nsf";
    assert_int_equal(recover_restore(&f->cfg, &o, NULL, &r), -1);
    char *nodir = data(f, "nodir");
    assert_int_not_equal(access(nodir, F_OK), 0);
    free(nodir);
    free(live);
    free(into);
}

static void write_text(const char *path, const char *text)
{
    assert_int_equal(dv_write_atomic(path, text, strlen(text), 0644), 0);
}

static void test_list_parse(void **state)
{
    struct fx *f = *state;
    char *p = dv_path_join(f->dir, "list.txt");
    char **names;
    size_t n;
    char *text =
        dv_asprintf("# missing NLOs\n\n  %s  \n%.80s\r\n%s\n", f->nlo[0], f->nlo[1], f->nlo[0]);
    write_text(p, text);
    free(text);
    assert_int_equal(recover_list_read(p, &names, &n), 0);
    assert_int_equal(n, 2); /* duplicate dropped, ".nlo" added */
    assert_string_equal(names[0], f->nlo[0]);
    assert_string_equal(names[1], f->nlo[1]);
    recover_names_free(names, n);

    static const struct {
        const char *line;
        const char *msg;
    } bad[] = {
        {"../x", "a path, not an NLO name (4 characters)"},
        {"/etc/passwd", "a path, not an NLO name (11 characters)"},
        {"abc.nlo", "not an NLO name (7 characters, expected 80 hex digits"},
        {"zz3f5216fada273210f5fd82d1253eeead37615e91c6b9daf34a9b220d5d6670000000000001110.nlo",
         "not an NLO name (83 characters, expected 80 hex digits"},
        {"08A3F5216FADA273210F5FD82D1253EEEAD37615E91C6B9DAF34A9B220D5D6670000000000001110.nlo",
         "not an NLO name (character 3 is not a lower-case hex digit)"},
        {"08a3f5216fada273210f5fd82d1253eeead37615e91c6b9daf34a9b220d5d6670000000000001110.nl_",
         "not an NLO name (it must end in \".nlo\")"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        text = dv_asprintf("# c\n%s\n%s\n", f->nlo[0], bad[i].line);
        write_text(p, text);
        free(text);
        names = (char **)1;
        assert_int_equal(recover_list_read(p, &names, &n), -1);
        assert_null(names);
        char *want = dv_asprintf("%s:3: ", p);
        if (strncmp(dv_err(), want, strlen(want)) != 0 || !strstr(dv_err(), bad[i].msg))
            fail_msg("line '%s': got '%s'", bad[i].line, dv_err());
        free(want);
    }
    /* a bad list recovers nothing, even its good names */
    char *victim = NULL;
    struct dv_store *st = store_open(&f->cfg);
    victim = store_nlo_path(st, f->nlo[0]);
    store_free(st);
    assert_non_null(victim);
    assert_int_equal(unlink(victim), 0);
    struct recover_opts o = {.list_file = p};
    struct recover_result r;
    assert_int_equal(recover_nlos(&f->cfg, &o, NULL, &r), -1);
    assert_int_equal(r.n, 0);
    assert_int_not_equal(access(victim, F_OK), 0);
    recover_result_done(&r);
    free(victim);
    free(p);
}

static char *live_nlo(struct fx *f, const char *name)
{
    struct dv_store *st = store_open(&f->cfg);
    assert_non_null(st);
    char *p = store_nlo_path(st, name);
    store_free(st);
    return p;
}

static void test_recover_sha_mismatch(void **state)
{
    struct fx *f = *state;
    char *victim = live_nlo(f, f->nlo[0]);
    assert_non_null(victim);
    assert_int_equal(unlink(victim), 0);
    char rel[128];
    target_pool_relpath(f->nlo[0], rel, sizeof rel);
    char *pool = dv_path_join(f->cfg.backup.target, rel);
    char *buf;
    size_t len;
    assert_int_equal(dv_read_file(pool, &buf, &len), 0);
    buf[len / 2] ^= 1;
    assert_int_equal(dv_write_atomic(pool, buf, len, 0600), 0);
    struct recover_opts o = {.db_path = "mail/a.nsf"};
    struct recover_result r;
    assert_int_equal(recover_nlos(&f->cfg, &o, NULL, &r), -1);
    assert_non_null(strstr(dv_err(), "corrupt"));
    assert_non_null(strstr(dv_err(), pool));
    assert_int_equal(r.n, 1);
    assert_int_equal(r.items[0].status, RECOVER_UNRECOVERABLE);
    assert_int_equal(r.unrecoverable, 1);
    assert_int_equal(access(victim, F_OK), -1);
    recover_result_done(&r);
    /* repaired pool copy: recovered, byte-identical to what the backup holds */
    buf[len / 2] ^= 1;
    assert_int_equal(dv_write_atomic(pool, buf, len, 0600), 0);
    if (recover_nlos(&f->cfg, &o, NULL, &r) != 0)
        fail_msg("recover: %s", dv_err());
    assert_int_equal(r.recovered, 1);
    assert_string_equal(r.items[0].set_id, f->set_id);
    recover_result_done(&r);
    char *back = live_nlo(f, f->nlo[0]), *got;
    size_t glen;
    assert_non_null(back);
    assert_int_equal(dv_read_file(back, &got, &glen), 0);
    assert_int_equal(glen, len);
    assert_memory_equal(got, buf, len);
    free(got);
    free(back);
    free(buf);
    free(pool);
    free(victim);
}

static void test_unrecoverable_docs(void **state)
{
    struct fx *f = *state;
    /* a document added after the backup: no set holds its NLO */
    struct dv_store *st = store_open(&f->cfg);
    struct store_db *a = store_db_open(st, "mail/a.nsf");
    char unid[33], nlo[STORE_NLO_NAME_LEN + 1];
    add_doc(a, 77, "After the backup", unid, nlo);
    store_db_close(a);
    char *p = store_nlo_path(st, nlo);
    store_free(st);
    assert_non_null(p);
    assert_int_equal(unlink(p), 0);
    struct recover_opts o = {.db_path = "mail/a.nsf"};
    struct recover_result r;
    assert_int_equal(recover_nlos(&f->cfg, &o, NULL, &r), -1);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.items[0].name, nlo);
    assert_int_equal(r.items[0].status, RECOVER_UNRECOVERABLE);
    assert_int_equal(r.items[0].ndocs, 1);
    assert_string_equal(r.items[0].docs[0].unid, unid);
    assert_string_equal(r.items[0].docs[0].subject, "After the backup");
    recover_result_done(&r);
    /* --set with a set that does not hold it; an unknown set is an error */
    o.set_id = "20990101-000000";
    assert_int_equal(recover_nlos(&f->cfg, &o, NULL, &r), -1);
    assert_non_null(strstr(dv_err(), "no backup set"));
    recover_result_done(&r);
    free(p);
}

static int64_t refcount(struct fx *f, const char *name)
{
    struct dv_store *st = store_open(&f->cfg);
    int sub = 0;
    int64_t rc = -1;
    assert_int_equal(store_nlo_info(st, name, &sub, &rc), 1);
    store_free(st);
    return rc;
}

struct lctx {
    struct fx *f;
    int *seen;
};

static int cb(void *ud, const struct store_doc_info *d, enum recover_live_state s)
{
    struct lctx *lc = ud;
    for (int i = 0; i < 3; i++)
        if (strcmp(d->unid, lc->f->unid[i]) == 0)
            lc->seen[i] = s == RECOVER_LIVE_UNKNOWN ? RECOVER_LIVE_UNKNOWN + 100 : (int)s;
    return 0;
}

static void test_doc_copy(void **state)
{
    struct fx *f = *state;
    /* purge document 0 (its NLO loses its last reference) and prune it away */
    struct dv_store *st = store_open(&f->cfg);
    struct store_db *a = store_db_open(st, "mail/a.nsf");
    assert_int_equal(store_doc_delete(a, f->unid[0], 1000), 0);
    assert_int_equal(store_doc_delete(a, f->unid[1], 1000), 0);
    assert_int_equal(store_purge(a, 1000, NULL), 0);
    assert_int_equal(store_doc_delete(a, f->unid[2], 0), 0); /* soft-deleted only */
    store_db_close(a);
    struct store_prune_counts pc;
    assert_int_equal(store_prune(st, 0, NULL, NULL, &pc, NULL), 0);
    assert_int_equal(pc.deleted, 2);
    store_free(st);
    struct restore_opts ro = {.set_id = f->set_id, .db_path = "mail/a.nsf", .into = "mail/r.nsf"};
    struct restore_result rr;
    if (recover_restore(&f->cfg, &ro, NULL, &rr) != 0)
        fail_msg("restore: %s", dv_err());
    assert_int_equal(rr.nlo_missing, 2);
    /* the restored copy lists the purged documents as gone, the soft-deleted one as deleted */
    int seen[3] = {0};
    struct lctx lc = {f, seen};
    uint64_t n = 0;
    assert_int_equal(recover_doc_list(&f->cfg, "mail/r.nsf", "mail/a.nsf", NULL, cb, &lc, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(seen[0], RECOVER_LIVE_GONE);
    assert_int_equal(seen[1], RECOVER_LIVE_GONE);
    assert_int_equal(seen[2], RECOVER_LIVE_DELETED);
    n = 0;
    memset(seen, 0, sizeof seen);
    assert_int_equal(recover_doc_list(&f->cfg, "mail/r.nsf", NULL, "QUARTERLY", cb, &lc, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(seen[0], RECOVER_LIVE_UNKNOWN + 100);

    /* doc copy of document 0: its NLO recovered from the pool, the document copied */
    struct doccopy_result dr;
    if (recover_doc_copy(&f->cfg, "mail/r.nsf", f->unid[0], "mail/a.nsf", NULL, &dr) != 0)
        fail_msg("doc copy: %s", dv_err());
    assert_true(dr.copied);
    assert_false(dr.undeleted);
    assert_int_equal(dr.nlo.recovered, 1);
    assert_int_equal(dr.attachments, 2);
    recover_result_done(&dr.nlo);
    /* refcount: the live copy and the restored copy reference it */
    assert_int_equal(refcount(f, f->nlo[0]), 2);
    /* the document is readable in the live database, attachments included */
    st = store_open(&f->cfg);
    a = store_db_open(st, "mail/a.nsf");
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(store_db_sqlite(a),
                                        "SELECT a.att_id FROM attachments a"
                                        " JOIN notes n ON n.note_id = a.note_id WHERE n.unid = ?1"
                                        " AND n.deleted IS NULL",
                                        -1, &s, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(s, 1, f->unid[0], -1, SQLITE_STATIC);
    int natt = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        unsigned char *b;
        size_t len;
        if (store_att_read(a, sqlite3_column_int64(s, 0), &b, &len) != 0)
            fail_msg("att read: %s", dv_err());
        free(b);
        natt++;
    }
    sqlite3_finalize(s);
    assert_int_equal(natt, 2);
    store_db_close(a);
    store_free(st);
    /* the soft-deleted one is undeleted in place (refcount unchanged: still 2, a and b) */
    int64_t before = refcount(f, f->nlo[2]);
    if (recover_doc_copy(&f->cfg, "mail/r.nsf", f->unid[2], "mail/a.nsf", NULL, &dr) != 0)
        fail_msg("doc copy (undelete): %s", dv_err());
    assert_true(dr.undeleted);
    assert_false(dr.copied);
    recover_result_done(&dr.nlo);
    assert_int_equal(refcount(f, f->nlo[2]), before);
    /* a second copy is refused */
    assert_int_equal(recover_doc_copy(&f->cfg, "mail/r.nsf", f->unid[2], "mail/a.nsf", NULL, &dr),
                     -1);
    recover_result_done(&dr.nlo);

    /* whereis */
    struct whereis_result w;
    assert_int_equal(recover_whereis(&f->cfg, f->nlo[0], &w), 0);
    assert_non_null(w.live_path);
    assert_true(w.in_pool);
    assert_true(w.pool_file);
    /* databases as of their last backup (the catalog): a.nsf only; r.nsf, restored and
       written since, is not backed up */
    assert_int_equal(w.ndbs, 1);
    assert_string_equal(w.dbs[0].path, "mail/a.nsf");
    assert_string_equal(w.dbs[0].since, f->set_id);
    assert_int_equal(w.nsets, 1);
    assert_string_equal(w.sets[0].id, f->set_id);
    recover_whereis_done(&w);
    assert_int_equal(recover_whereis(&f->cfg, "../../etc/passwd", &w), -1);
    recover_whereis_done(&w);
}

static void test_install_many(void **state)
{
    struct fx *f = *state;
    /* remove every NLO, then install them all at once from the pool plus a bad entry */
    char *paths[3];
    for (int i = 0; i < 3; i++) {
        paths[i] = live_nlo(f, f->nlo[i]);
        assert_non_null(paths[i]);
        assert_int_equal(unlink(paths[i]), 0);
    }
    struct dv_store *st = store_open(&f->cfg);
    struct store_install v[4];
    char *src[3];
    for (int i = 0; i < 3; i++) {
        char rel[128];
        target_pool_relpath(f->nlo[i], rel, sizeof rel);
        src[i] = dv_path_join(f->cfg.backup.target, rel);
        v[i] = (struct store_install){.name = f->nlo[i], .src_path = src[i]};
    }
    char ghost[STORE_NLO_NAME_LEN + 1];
    snprintf(ghost, sizeof ghost, "%064d%016x.nlo", 0, 4096);
    v[3] = (struct store_install){.name = ghost, .src_path = "/nonexistent"};
    assert_int_equal(store_nlo_install_many(st, v, 4, NULL), -1);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(v[i].status, STORE_INSTALL_NEW);
        assert_true(v[i].subdir > 0);
    }
    assert_int_equal(v[3].status, STORE_INSTALL_FAILED);
    store_free(st);
    /* refcounts computed from the databases: nlo[2] is referenced by a and b */
    assert_int_equal(refcount(f, f->nlo[0]), 1);
    assert_int_equal(refcount(f, f->nlo[2]), 2);
    st = store_open(&f->cfg);
    assert_int_equal(store_nlo_install_many(st, v, 3, NULL), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(v[i].status, STORE_INSTALL_PRESENT);
    store_install_done(v, 4);
    struct store_status ss;
    assert_int_equal(store_status(st, &ss), 0);
    long total = 0;
    for (size_t i = 0; i < ss.nsubdirs; i++)
        total += ss.subdirs[i].count;
    /* 3 stale slots (files unlinked behind the store) + 3 installed; the failed one freed */
    assert_int_equal(total, 6);
    store_status_done(&ss);
    store_free(st);
    for (int i = 0; i < 3; i++) {
        free(paths[i]);
        free(src[i]);
    }
}

/* Findings 10 and 12: a list file that is a link to /dev/zero or a FIFO is refused at once
 * (not "out of memory", not a hang); one that is a secret (a link to /etc/shadow, say) gets an
 * error that says what is wrong with its line without quoting any of it; a list bigger than
 * RECOVER_LIST_MAX is refused unread. */
static void test_list_hostile(void **state)
{
    struct fx *f = *state;
    char **names = NULL;
    size_t n = 0;
    char *zero = dv_path_join(f->dir, "zero.txt");
    assert_int_equal(symlink("/dev/zero", zero), 0);
    assert_int_equal(recover_list_read(zero, &names, &n), -1);
    assert_non_null(strstr(dv_err(), "is not a regular file (a character device): refused"));
    char *fifo = dv_path_join(f->dir, "fifo.txt");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(recover_list_read(fifo, &names, &n), -1);
    assert_non_null(strstr(dv_err(), "is not a regular file (a FIFO): refused"));
    char *secret = dv_path_join(f->dir, "shadow");
    write_text(secret, "root:$y$j9T$S3cr3tSaltS3cr3tHash0123456789:19000:0:99999:7:::\n"
                       "daemon:*:19000:0:99999:7:::\n");
    char *via = dv_path_join(f->dir, "list-link.txt");
    assert_int_equal(symlink(secret, via), 0);
    assert_int_equal(recover_list_read(via, &names, &n), -1);
    char *want = dv_asprintf(
        "%s:1: not an NLO name (61 characters, expected 80 hex digits, \".nlo\" optional)", via);
    assert_string_equal(dv_err(), want);
    free(want);
    assert_null(strstr(dv_err(), "root"));
    assert_null(strstr(dv_err(), "S3cr3t"));
    char *big = dv_path_join(f->dir, "big.txt");
    FILE *fp = fopen(big, "w");
    assert_non_null(fp);
    assert_int_equal(ftruncate(fileno(fp), (off_t)RECOVER_LIST_MAX + 1), 0);
    fclose(fp);
    assert_int_equal(recover_list_read(big, &names, &n), -1);
    assert_non_null(strstr(dv_err(), "more than the"));
    free(big);
    free(via);
    free(secret);
    free(fifo);
    free(zero);
}

struct dedup_job {
    const char *path;
    const char *first, *last;
};

static int dedup_expect(void *arg)
{
    struct dedup_job *j = arg;
    char **names = NULL;
    size_t n = 0;
    if (recover_list_read(j->path, &names, &n) != 0) {
        fprintf(stderr, "%s\n", dv_err());
        return 1;
    }
    int rc =
        n == 80000 && strcmp(names[0], j->first) == 0 && strcmp(names[n - 1], j->last) == 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "%zu names\n", n);
    recover_names_free(names, n);
    return rc;
}

/* Finding 11: 80,000 names with one duplicate (the old quadratic removal took 26 s) come out
 * as 80,000 in file order, within a CPU limit the old code ran far past. */
static void test_list_dedup_scales(void **state)
{
    struct fx *f = *state;
    char *p = dv_path_join(f->dir, "many.txt");
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    char first[STORE_NLO_NAME_LEN + 1], last[STORE_NLO_NAME_LEN + 1];
    for (int i = 0; i < 80000; i++) {
        char hex[65];
        char seed[16];
        snprintf(seed, sizeof seed, "%d", i);
        dv_sha256_hex(seed, strlen(seed), hex);
        char name[STORE_NLO_NAME_LEN + 1];
        snprintf(name, sizeof name, "%s%016x.nlo", hex, i);
        if (i == 0)
            memcpy(first, name, sizeof first);
        memcpy(last, name, sizeof last);
        fprintf(fp, "%s\n", name);
        if (i == 40000)
            fprintf(fp, "%s\n", first); /* the duplicate */
    }
    fclose(fp);
    struct dedup_job j = {p, first, last};
    run_bounded("80,000 names, one twice", dedup_expect, &j, 5, 0);
    free(p);
}

/* --into: normalised, never in the DAOS directory, the target, on the catalog or the key;
 * what an existing name is (issue 12, finding 5). */
static void test_into_check(void **state)
{
    struct fx *f = *state;
    struct recover_into_info ii;
    assert_int_equal(recover_into_check(&f->cfg, "mail/a.nsf", "mail/../a2.nsf", &ii), 0);
    assert_int_equal(ii.kind, RECOVER_INTO_NEW);
    assert_string_equal(ii.rel, "a2.nsf");
    assert_int_equal(recover_into_check(&f->cfg, "mail/a.nsf", "./mail//x/../r2.nsf", &ii), 0);
    assert_string_equal(ii.rel, "mail/r2.nsf"); /* lexically: x need not exist */
    const char *bad_rel[] = {"daos/x.nsf",
                             "daos/daoscat.db",
                             "mail/../daos/daos.cfg",
                             "../x.nsf",
                             "mail/../../x.nsf",
                             "mail/a.nsf-wal",
                             "mail/",
                             ".",
                             "mail/.."};
    for (size_t i = 0; i < sizeof bad_rel / sizeof *bad_rel; i++)
        if (recover_into_check(&f->cfg, "mail/a.nsf", bad_rel[i], &ii) == 0)
            fail_msg("--into %s accepted", bad_rel[i]);
    char *x = dv_path_join(f->cfg.server.daos_dir, "daoscat.db");
    assert_int_equal(recover_into_check(&f->cfg, "mail/a.nsf", x, &ii), -1);
    assert_non_null(strstr(dv_err(), "DAOS directory"));
    free(x);
    assert_int_equal(recover_into_check(&f->cfg, "mail/a.nsf", f->cfg.catalog, &ii), -1);
    assert_non_null(strstr(dv_err(), "catalog"));
    assert_int_equal(recover_into_check(&f->cfg, "mail/a.nsf", f->cfg.server.key_file, &ii), -1);
    x = dv_path_join(f->cfg.backup.target, "sets/x.nsf");
    assert_int_equal(recover_into_check(&f->cfg, "mail/a.nsf", x, &ii), -1);
    assert_non_null(strstr(dv_err(), "backup target"));
    free(x);
    /* what is there */
    assert_int_equal(recover_into_check(&f->cfg, "mail/a.nsf", "mail/a.nsf", &ii), 0);
    assert_int_equal(ii.kind, RECOVER_INTO_LIVE_SELF);
    assert_int_equal(recover_into_check(&f->cfg, "mail/a.nsf", "mail/b.nsf", &ii), 0);
    assert_int_equal(ii.kind, RECOVER_INTO_OTHER);
    assert_false(ii.in_use);
    struct restore_opts o = {.set_id = f->set_id, .db_path = "mail/a.nsf", .into = "mail/r.nsf"};
    struct restore_result r;
    if (recover_restore(&f->cfg, &o, NULL, &r) != 0)
        fail_msg("restore: %s", dv_err());
    assert_int_equal(recover_into_check(&f->cfg, "mail/b.nsf", "mail/r.nsf", &ii), 0);
    assert_int_equal(ii.kind, RECOVER_INTO_RESTORED);
    assert_string_equal(ii.origin, "mail/a.nsf");
    assert_string_equal(ii.origin_set, f->set_id);
    /* --into the DAOS index is refused even with --force: the index is untouched */
    o.into = "daos/daoscat.db";
    o.force = true;
    assert_int_equal(recover_restore(&f->cfg, &o, NULL, &r), -1);
    x = dv_path_join(f->cfg.server.daos_dir, "daoscat.db");
    assert_true(restore_integrity_check(x) == 0);
    free(x);
    /* a live database whose file is gone is still that database's name: --replace-live */
    char *b = data(f, "mail/b.nsf"), *away = data(f, "b.away");
    assert_int_equal(rename(b, away), 0);
    o = (struct restore_opts){.set_id = f->set_id, .db_path = "mail/b.nsf", .into = "mail/b.nsf"};
    assert_int_equal(recover_restore(&f->cfg, &o, NULL, &r), -1);
    assert_non_null(strstr(dv_err(), "--replace-live"));
    o.replace_live = true;
    if (recover_restore(&f->cfg, &o, NULL, &r) != 0)
        fail_msg("--replace-live of a lost database: %s", dv_err());
    assert_true(r.live);
    assert_false(r.replaced);
    free(b);
    free(away);
}

/* A live database another process has open is not replaced (--force, --replace-live); the
 * process's next commit is kept (issue 12, finding 4). */
static void test_restore_in_use(void **state)
{
    struct fx *f = *state;
    char *b = data(f, "mail/b.nsf");
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t p = fork();
    assert_true(p >= 0);
    if (p == 0) {
        close(ready[0]);
        close(go[1]);
        sqlite3 *h = NULL;
        if (sqlite3_open(b, &h) != SQLITE_OK ||
            sqlite3_exec(h, "SELECT count(*) FROM notes", NULL, NULL, NULL) != SQLITE_OK ||
            write(ready[1], "r", 1) != 1)
            _exit(2);
        char c;
        if (read(go[0], &c, 1) != 1)
            _exit(3);
        sqlite3_busy_timeout(h, 5000);
        int rc = sqlite3_exec(h,
                              "INSERT INTO notes(unid, subject) VALUES"
                              " ('0000000000000000000000000000c0de', 'kept')",
                              NULL, NULL, NULL);
        sqlite3_close(h);
        _exit(rc == SQLITE_OK ? 0 : 4);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    struct stat before, after;
    assert_int_equal(stat(b, &before), 0);
    char want[64];
    snprintf(want, sizeof want, "mail/b.nsf is in use by pid %ld", (long)p);
    struct restore_opts o = {
        .set_id = f->set_id, .db_path = "mail/b.nsf", .into = "mail/b.nsf", .replace_live = true};
    struct restore_result r;
    assert_int_equal(recover_restore(&f->cfg, &o, NULL, &r), -1);
    assert_non_null(strstr(dv_err(), want));
    o = (struct restore_opts){
        .set_id = f->set_id, .db_path = "mail/a.nsf", .into = "mail/b.nsf", .force = true};
    assert_int_equal(recover_restore(&f->cfg, &o, NULL, &r), -1);
    assert_non_null(strstr(dv_err(), want));
    struct recover_into_info ii;
    assert_int_equal(recover_into_check(&f->cfg, "mail/a.nsf", "mail/b.nsf", &ii), 0);
    assert_true(ii.in_use);
    assert_int_equal(ii.holder, p);
    assert_int_equal(stat(b, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(write(go[1], "g", 1), 1);
    int st = 0;
    assert_int_equal(waitpid(p, &st, 0), p);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(b, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(h, "SELECT count(*) FROM notes WHERE subject = 'kept'", -1, &s, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(s, 0), 1);
    sqlite3_finalize(s);
    sqlite3_close(h);
    /* nobody has it open now: replaced */
    o = (struct restore_opts){
        .set_id = f->set_id, .db_path = "mail/b.nsf", .into = "mail/b.nsf", .replace_live = true};
    if (recover_restore(&f->cfg, &o, NULL, &r) != 0)
        fail_msg("--replace-live: %s", dv_err());
    close(ready[0]);
    close(go[1]);
    free(b);
}

/* doc copy from a restored copy of a.nsf into b.nsf: refused without force, naming both
 * (issue 12, finding 7). */
static void test_doc_copy_other_db(void **state)
{
    struct fx *f = *state;
    struct restore_opts ro = {.set_id = f->set_id, .db_path = "mail/a.nsf", .into = "mail/r.nsf"};
    struct restore_result rr;
    if (recover_restore(&f->cfg, &ro, NULL, &rr) != 0)
        fail_msg("restore: %s", dv_err());
    struct doccopy_origin og;
    assert_int_equal(recover_doc_origin(&f->cfg, "mail/r.nsf", "mail/a.nsf", &og), 0);
    assert_true(og.same);
    assert_string_equal(og.origin, "mail/a.nsf");
    assert_int_equal(recover_doc_origin(&f->cfg, "mail/r.nsf", "mail/b.nsf", &og), 0);
    assert_false(og.same);
    struct doccopy_result dr;
    assert_int_equal(recover_doc_copy(&f->cfg, "mail/r.nsf", f->unid[0], "mail/b.nsf", NULL, &dr),
                     -1);
    recover_result_done(&dr.nlo);
    assert_non_null(strstr(dv_err(), "mail/r.nsf is a restored copy of mail/a.nsf"));
    assert_non_null(strstr(dv_err(), "mail/b.nsf has replica id"));
    assert_non_null(strstr(dv_err(), og.live_replica_id));
    if (recover_doc_copy_ex(&f->cfg, "mail/r.nsf", f->unid[0], "mail/b.nsf", true, NULL, &dr) != 0)
        fail_msg("doc copy --force: %s", dv_err());
    assert_true(dr.copied);
    assert_true(dr.other_db);
    recover_result_done(&dr.nlo);
    /* two live databases: different, too */
    assert_int_equal(recover_doc_copy(&f->cfg, "mail/a.nsf", f->unid[1], "mail/b.nsf", NULL, &dr),
                     -1);
    recover_result_done(&dr.nlo);
    assert_non_null(strstr(dv_err(), "are different databases"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_restore_new_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_parse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_dedup_scales, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover_sha_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unrecoverable_docs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doc_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_into_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_doc_copy_other_db, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

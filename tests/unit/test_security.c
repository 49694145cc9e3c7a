/*
 * test_security.c - the server key is refused unless 0600 and owned by the user, and never
 * leaks (messages, job events, the catalog, the target); everything a backup writes is
 * private (files 0600, directories 0700); error messages never carry control characters;
 * manifests with paths that leave the set directory are refused; fsb_openat never follows
 * a symbolic link.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dvtmp.h"
#include "backup.h"
#include "config.h"
#include "job.h"
#include "store.h"
#include "target.h"
#include "fsb.h"
#include "util.h"

struct fx {
    char dir[256];
    struct dv_config cfg;
    char key_hex[65];
    unsigned char key[32];
    char *events; /* every job event of the backup, one a line */
    size_t nevents;
};

static void on_event(void *ud, enum dv_level level, const char *msg)
{
    struct fx *f = ud;
    char *old = f->events;
    f->events = dv_asprintf("%s%d %s\n", old ? old : "", (int)level, msg);
    free(old);
    f->nevents++;
}

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

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "security"));
    dv_config_defaults(&f->cfg, f->dir);
    f->cfg.server.daos_dir = dv_path_join(f->cfg.server.data_dir, "daos"); /* a DAOS server */
    f->cfg.server.min_object_size = 1024;
    f->cfg.server.encryption = true;
    f->cfg.backup.delta = DV_DELTA_KEEP; /* kept deltas are files of the set too */
    if (store_key_create(&f->cfg) != 0)  /* the server's key (dvault never makes one) */
        fail_msg("store_key_create: %s", dv_err());
    struct dv_store *st = store_open(&f->cfg);
    if (!st)
        fail_msg("store_open: %s", dv_err());
    struct store_db *db = store_db_create(st, "mail/a.nsf", "A");
    assert_non_null(db);
    for (unsigned i = 0; i < 3; i++) {
        unsigned char *b = payload(i + 1, 3000 + i);
        struct store_att att[1] = {{"big.bin", b, 3000 + i}};
        struct store_doc d = {"Memo", "secret plans", "alice@example.com", "body", 0};
        char unid[33];
        assert_int_equal(store_doc_add(db, &d, att, 1, unid), 0);
        free(b);
    }
    store_db_close(db);
    store_free(st);
    struct target_identity tid;
    if (target_init(f->cfg.backup.target, f->cfg.server.data_dir, &tid, NULL) != 0)
        fail_msg("%s", dv_err());
    char *kb = NULL;
    size_t kl = 0;
    assert_int_equal(dv_read_file(f->cfg.server.key_file, &kb, &kl), 0);
    assert_true(kl >= 64);
    memcpy(f->key_hex, kb, 64);
    assert_int_equal(dv_unhex(f->key_hex, f->key, 32), 0);
    free(kb);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->events);
    dv_config_done(&f->cfg);
    free(f);
    return 0;
}

static void run_backup(struct fx *f)
{
    struct dv_job job;
    job_init(&job, "backup");
    job.on_event = on_event;
    job.event_ud = f;
    struct backup_opts o = {0};
    struct backup_result r;
    if (backup_run(&f->cfg, &o, &job, &r) != 0)
        fail_msg("backup: %s", dv_err());
    assert_true(r.complete);
    job_done(&job);
}

/* Does buf contain the key: hex in either case, or the raw bytes? */
static bool has_key(const struct fx *f, const char *buf, size_t len)
{
    char upper[65];
    for (int i = 0; i < 65; i++)
        upper[i] = (char)(f->key_hex[i] >= 'a' && f->key_hex[i] <= 'f' ? f->key_hex[i] - 32
                                                                       : f->key_hex[i]);
    return memmem(buf, len, f->key_hex, 64) || memmem(buf, len, upper, 64) ||
           memmem(buf, len, f->key, 32) || memmem(buf, len, f->key_hex, 16);
}

/* Walk dir: every file is checked with cb (path, lstat). */
static void walk(const char *dir, void (*cb)(void *, const char *, const struct stat *), void *ud)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *p = dv_path_join(dir, e->d_name);
        struct stat sb;
        assert_int_equal(lstat(p, &sb), 0);
        cb(ud, p, &sb);
        if (S_ISDIR(sb.st_mode))
            walk(p, cb, ud);
        free(p);
    }
    closedir(d);
}

static void key_refused(struct fx *f, const char *want)
{
    struct dv_store *st = store_open(&f->cfg); /* opens: a backup or status needs no key */
    assert_non_null(st);
    assert_int_equal(store_key_require(st), -1);
    store_free(st);
    if (!strstr(dv_err(), want))
        fail_msg("expected '%s' in: %s", want, dv_err());
    assert_false(has_key(f, dv_err(), strlen(dv_err())));
    assert_int_equal(store_key_check(&f->cfg), -1);
    if (!strstr(dv_err(), want))
        fail_msg("expected '%s' in: %s", want, dv_err());
}

static void test_key_mode_refused(void **state)
{
    struct fx *f = *state;
    static const mode_t bad[] = {0644, 0640, 0604, 0660, 0700, 0400};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(chmod(f->cfg.server.key_file, bad[i]), 0);
        char want[16];
        snprintf(want, sizeof want, "mode %04o", (unsigned)bad[i]);
        key_refused(f, want);
        assert_non_null(strstr(dv_err(), "0600"));
    }
    assert_int_equal(chmod(f->cfg.server.key_file, 0600), 0);
    struct dv_store *st = store_open(&f->cfg);
    assert_non_null(st);
    assert_int_equal(store_key_require(st), 0);
    store_free(st);
}

static void test_key_owner_refused(void **state)
{
    struct fx *f = *state;
    if (geteuid() != 0) {
        print_message("not root: cannot give the key file to another user\n");
        skip();
    }
    assert_int_equal(chown(f->cfg.server.key_file, 65534, 65534), 0);
    key_refused(f, "owned by uid 65534");
    /* (a backup needs no key: it copies NLOs as stored and never decrypts) */
    assert_int_equal(chown(f->cfg.server.key_file, 0, 0), 0);
    struct dv_store *st = store_open(&f->cfg);
    assert_non_null(st);
    assert_int_equal(store_key_require(st), 0);
    store_free(st);
}

static void test_key_not_regular_refused(void **state)
{
    struct fx *f = *state;
    char *saved = dv_asprintf("%s.saved", f->cfg.server.key_file);
    assert_int_equal(rename(f->cfg.server.key_file, saved), 0);
    assert_int_equal(mkdir(f->cfg.server.key_file, 0700), 0);
    key_refused(f, "not a regular file");
    assert_int_equal(rmdir(f->cfg.server.key_file), 0);
    assert_int_equal(rename(saved, f->cfg.server.key_file), 0);
    free(saved);
}

struct scan {
    struct fx *f;
    int files, dirs;
    const char *skip_dir; /* the key file's directory is the server's, not dvault's output */
};

static void scan_file(void *ud, const char *p, const struct stat *sb)
{
    struct scan *s = ud;
    if (S_ISLNK(sb->st_mode))
        fail_msg("%s: a symbolic link in the target", p);
    if (S_ISDIR(sb->st_mode)) {
        if ((sb->st_mode & 07777) != 0700)
            fail_msg("%s: directory mode %04o, expected 0700", p, (unsigned)(sb->st_mode & 07777));
        s->dirs++;
        return;
    }
    if ((sb->st_mode & 07777) != 0600)
        fail_msg("%s: mode %04o, expected 0600", p, (unsigned)(sb->st_mode & 07777));
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(dv_read_file(p, &buf, &len), 0);
    if (has_key(s->f, buf, len))
        fail_msg("%s contains the server key", p);
    free(buf);
    s->files++;
}

static void test_backup_private_and_keyless(void **state)
{
    struct fx *f = *state;
    mode_t old = umask(022); /* the usual umask: the modes must not depend on it */
    run_backup(f);
    run_backup(f);
    umask(old);
    /* the target: files 0600, directories 0700, no key anywhere (manifests, lists, copies,
     * deltas, encrypted pool objects) */
    struct scan s = {f, 0, 0, NULL};
    struct stat sb;
    assert_int_equal(lstat(f->cfg.backup.target, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    walk(f->cfg.backup.target, scan_file, &s);
    print_message("target: %d files 0600, %d directories 0700, none holds the key\n", s.files,
                  s.dirs);
    assert_true(s.files >= 8); /* lock, manifest x2, list, copy x2, delta x2, pool objects */
    /* the catalog (and any -wal beside it) */
    assert_int_equal(stat(f->cfg.catalog, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    scan_file(&s, f->cfg.catalog, &sb);
    char *cw = dv_asprintf("%s-wal", f->cfg.catalog);
    if (stat(cw, &sb) == 0)
        scan_file(&s, cw, &sb);
    free(cw);
    /* the job's events (what the CLI prints and the catalog stores) */
    assert_non_null(f->events);
    assert_false(has_key(f, f->events, strlen(f->events)));
    print_message("%zu events, none holds the key\n", f->nevents);
}

static void test_messages_one_line(void **state)
{
    (void)state;
    /* control bytes, C1 controls and non-UTF-8 bytes as \xNN (dv_escape, issue 12) */
    dv_seterr("bad value '%s'", "a\nb\rc\033[2Jd\x7f");
    assert_string_equal(dv_err(), "bad value 'a\\x0ab\\x0dc\\x1b[2Jd\\x7f'");
    dv_preferr("file %s", "x\ny");
    assert_string_equal(dv_err(), "file x\\x0ay: bad value 'a\\x0ab\\x0dc\\x1b[2Jd\\x7f'");
    errno = ENOENT;
    dv_syserr("open %s", "evil\n\033]0;title\007\xc2\x9b\xff");
    assert_string_equal(
        dv_err(), "open evil\\x0a\\x1b]0;title\\x07\\xc2\\x9b\\xff: No such file or directory");
}

static const char *manifest_with(const char *db_path, const char *path)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"dvault_manifest\": 1, \"id\": \"20261122-014651\", \"seq\": 1, \"kind\": \"full\","
             " \"status\": \"complete\", \"started\": 1, \"ended\": 2, \"origin\": \"\","
             " \"checkpoint\": \"\", \"message\": \"\", \"config\": {\"data_dir\": \"/d\","
             " \"daos_dir\": \"/d/daos\", \"delta\": \"apply\", \"encryption\": true,"
             " \"min_object_size\": 4096, \"max_files_per_subdir\": 40000,"
             " \"snapshot_command\": \"\"}, \"counts\": {\"databases\": 1, \"nlo_new\": 0,"
             " \"nlo_held\": 0, \"nlo_skipped\": 0, \"deltas_applied\": 0, \"deltas_kept\": 0,"
             " \"bytes\": 1}, \"databases\": [{\"db_path\": \"%s\", \"path\": \"%s\","
             " \"size\": 1, \"sha256\": \"%064d\", \"page_size\": 4096, \"replica_id\": \"\","
             " \"dbiid\": \"\", \"delta\": \"apply\", \"delta_pages\": 0,"
             " \"locked_copy\": false}], \"nlo_new\": {\"file\": \"\", \"count\": 0,"
             " \"sha256\": \"%064d\"}}",
             db_path, path, 0, 0);
    return buf;
}

static void test_manifest_traversal_refused(void **state)
{
    (void)state;
    struct manifest m;
    manifest_init(&m);
    const char *ok = manifest_with("mail/a.nsf", "db/mail/a.nsf");
    if (manifest_parse("m", ok, strlen(ok), &m) != 0)
        fail_msg("the valid manifest is refused: %s", dv_err());
    manifest_done(&m);
    static const char *const bad[][2] = {
        {"mail/a.nsf", "../../../etc/passwd"}, {"mail/a.nsf", "/etc/passwd"},
        {"mail/a.nsf", "db/../../x"},          {"mail/a.nsf", "db//a.nsf"},
        {"mail/a.nsf", "db/./a.nsf"},          {"../a.nsf", "db/a.nsf"},
        {"/etc/passwd", "db/a.nsf"},           {"mail/a.nsf", ""},
        {"mail/a.nsf", "db/a.nsf/.."},         {"mail/a.nsf", "db\\u0000/a.nsf"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *t = manifest_with(bad[i][0], bad[i][1]);
        manifest_init(&m);
        if (manifest_parse("m", t, strlen(t), &m) == 0)
            fail_msg("manifest with db_path '%s' path '%s' accepted", bad[i][0], bad[i][1]);
        manifest_done(&m);
    }
}

static void test_open_beneath(void **state)
{
    struct fx *f = *state;
    char *root = dv_path_join(f->dir, "root"), *sub = dv_path_join(root, "a/b");
    assert_int_equal(dv_mkdirs(sub, 0700), 0);
    char *file = dv_path_join(sub, "f");
    assert_int_equal(dv_write_atomic(file, "x", 1, 0600), 0);
    struct fsb *r = fsb_open(root);
    assert_non_null(r);
    int fd = fsb_openat(r, "a/b/f", O_RDONLY, 0);
    assert_true(fd >= 0);
    close(fd);
    char *link = dv_path_join(sub, "l"), *dlink = dv_path_join(root, "d");
    assert_int_equal(symlink(file, link), 0);
    assert_int_equal(symlink(sub, dlink), 0);
    assert_int_equal(fsb_openat(r, "a/b/l", O_RDONLY, 0), -1);
    assert_non_null(strstr(dv_err(), "symbolic link"));
    assert_int_equal(fsb_openat(r, "d/f", O_RDONLY, 0), -1);
    assert_non_null(strstr(dv_err(), "symbolic link"));
    assert_int_equal(fsb_openat(r, "../root/a/b/f", O_RDONLY, 0), -1);
    assert_int_equal(fsb_openat(r, "/etc/passwd", O_RDONLY, 0), -1);
    assert_int_equal(fsb_openat(r, "a/b/missing", O_RDONLY, 0), -1);
    fsb_close(r);
    free(root);
    free(sub);
    free(file);
    free(link);
    free(dlink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_mode_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_owner_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_not_regular_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_private_and_keyless, setup, teardown),
        cmocka_unit_test(test_messages_one_line),
        cmocka_unit_test(test_manifest_traversal_refused),
        cmocka_unit_test_setup_teardown(test_open_beneath, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_config.c - configuration loading: defaults, every key, path resolution, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dvtmp.h"
#include "config.h"
#include "dbglob.h"
#include "restore.h"
#include "util.h"

#include "bounded.h"

static char tmpdir[256];

static char *write_cfg(const char *name, const char *text)
{
    char *p = dv_path_join(tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(dvt_mkdtemp(tmpdir, sizeof tmpdir, "config"));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    return system(cmd);
}

static void test_defaults(void **state)
{
    (void)state;
    char *p = write_cfg("empty.yaml", "");
    struct dv_config c;
    assert_int_equal(dv_config_load(p, &c), 0);
    char *want = dv_path_join(tmpdir, "var/data");
    assert_string_equal(c.server.data_dir, want);
    free(want);
    assert_null(c.server.daos_dir); /* no daos_dir: a server without DAOS */
    assert_false(dv_config_has_daos(&c));
    assert_int_equal(c.server.ndatabases, 1);
    assert_string_equal(c.server.databases[0], "**/*.nsf");
    assert_int_equal(c.server.max_files_per_subdir, 40000);
    assert_int_equal(c.server.min_object_size, 4096);
    assert_int_equal(c.server.deferred_deletion_days, 30);
    assert_true(c.server.encryption);
    assert_int_equal(c.backup.cycle_hours, 24);
    assert_int_equal(c.backup.delta, DV_DELTA_APPLY);
    assert_int_equal(c.backup.keep_sets, 14);
    assert_int_equal(c.backup.keep_days, 35);
    assert_string_equal(c.backup.snapshot_command, "");
    assert_string_equal(c.console.theme, "default");
    dv_config_done(&c);
    free(p);
}

static void test_all_keys(void **state)
{
    (void)state;
    char *p = write_cfg("full.yaml", "server:\n"
                                     "  data_dir: /srv/domino\n"
                                     "  databases: [\"mail/*.nsf\", \"apps/**/*.nsf\"]\n"
                                     "  daos_dir: objects\n"
                                     "  max_files_per_subdir: 100\n"
                                     "  min_object_size: 0\n"
                                     "  deferred_deletion_days: 0\n"
                                     "  encryption: false\n"
                                     "  key_file: keys/server.key\n"
                                     "backup:\n"
                                     "  target: /mnt/backup\n"
                                     "  cycle_hours: 12\n"
                                     "  delta: keep\n"
                                     "  snapshot_command: cp --reflink=auto {src} {dst}\n"
                                     "  pre_command: /bin/true\n"
                                     "  post_command: ''\n"
                                     "  retention: { keep_sets: 3, keep_days: 7 }\n"
                                     "catalog: cat.db\n"
                                     "console: { theme: dark }\n");
    struct dv_config c;
    assert_int_equal(dv_config_load(p, &c), 0);
    assert_string_equal(c.server.data_dir, "/srv/domino");
    assert_string_equal(c.server.daos_dir, "/srv/domino/objects");
    assert_int_equal(c.server.ndatabases, 2);
    assert_string_equal(c.server.databases[1], "apps/**/*.nsf");
    assert_null(c.server.databases[2]);
    assert_int_equal(c.server.max_files_per_subdir, 100);
    assert_int_equal(c.server.min_object_size, 0);
    assert_false(c.server.encryption);
    char *want = dv_path_join(tmpdir, "keys/server.key");
    assert_string_equal(c.server.key_file, want);
    free(want);
    assert_string_equal(c.backup.target, "/mnt/backup");
    assert_int_equal(c.backup.delta, DV_DELTA_KEEP);
    assert_string_equal(c.backup.snapshot_command, "cp --reflink=auto {src} {dst}");
    assert_int_equal(c.backup.keep_sets, 3);
    assert_int_equal(c.backup.keep_days, 7);
    want = dv_path_join(tmpdir, "cat.db");
    assert_string_equal(c.catalog, want);
    free(want);
    assert_string_equal(c.console.theme, "dark");
    dv_config_done(&c);
    free(p);
}

/* daos_dir absent, "" or null: no DAOS; a path: under data_dir (issue 11, servers without DAOS) */
static void test_daos_dir(void **state)
{
    (void)state;
    const char *none[] = {"server: { data_dir: /srv/d }\n", "server: { daos_dir: \"\" }\n",
                          "server:\n  daos_dir: ''\n", "server:\n  daos_dir:\n",
                          "server: { daos_dir: ~ }\n"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        char *p = write_cfg("daos.yaml", none[i]);
        struct dv_config c;
        if (dv_config_load(p, &c) != 0)
            fail_msg("%s: %s", none[i], dv_err());
        assert_null(c.server.daos_dir);
        assert_false(dv_config_has_daos(&c));
        dv_config_done(&c);
        free(p);
    }
    char *p = write_cfg("daos.yaml", "server: { data_dir: /srv/d, daos_dir: daos }\n");
    struct dv_config c;
    assert_int_equal(dv_config_load(p, &c), 0);
    assert_string_equal(c.server.daos_dir, "/srv/d/daos");
    assert_true(dv_config_has_daos(&c));
    dv_config_done(&c);
    free(p);
}

static void expect_error(const char *text, const char *msg_suffix)
{
    char *p = write_cfg("bad.yaml", text);
    struct dv_config c;
    assert_int_equal(dv_config_load(p, &c), -1);
    char *want = dv_asprintf("%s:%s", p, msg_suffix);
    assert_string_equal(dv_err(), want);
    free(want);
    dv_config_done(&c);
    free(p);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("server:\n  colour: 1\n",
                 "2:3: unknown key 'colour' in server (known: data_dir, databases, daos_dir, "
                 "max_files_per_subdir, min_object_size, deferred_deletion_days, encryption, "
                 "key_file)");
    expect_error("backup:\n  cycle_hours: 0\n", "2:16: 'cycle_hours' is 0, out of range 1..8760");
    expect_error("backup:\n  cycle_hours: \"12\"\n",
                 "2:16: 'cycle_hours' must be an integer, not '12'");
    expect_error("backup:\n  delta: [apply]\n", "2:10: 'delta' must be a string");
    expect_error("server: 5\n", "1:9: server must be a mapping");
    expect_error("server:\n  data_dir: ''\n", "2:13: 'data_dir' must not be empty");
    expect_error("server:\n  databases: [\"/abs/*.nsf\"]\n",
                 "2:15: 'databases' entries must be non-empty globs relative to data_dir");
    expect_error("a: [\n", "2:1: did not find expected node content while parsing a flow node");
}

static void test_unreadable(void **state)
{
    (void)state;
    char *p = dv_path_join(tmpdir, "nope.yaml");
    struct dv_config c;
    assert_int_equal(dv_config_load(p, &c), -1);
    char *want = dv_asprintf("%s:1:1: cannot read configuration: No such file or directory", p);
    assert_string_equal(dv_err(), want);
    free(want);
    dv_config_done(&c);
    free(p);
}

static int load_expect(void *arg)
{
    const char **a = arg; /* path, wanted message */
    struct dv_config c;
    int rc = dv_config_load(a[0], &c);
    dv_config_done(&c);
    if (rc == 0 || strcmp(dv_err(), a[1]) != 0) {
        fprintf(stderr, "got rc %d, \"%s\", want \"%s\"\n", rc, dv_err(), a[1]);
        return 1;
    }
    return 0;
}

/* Finding 11: a 200 KB configuration of nested '[' took libyaml minutes (its scanner looks at
 * every open level for each token); nesting deeper than 32 levels is refused at once with
 * FILE:LINE:COL, within a CPU limit the old code ran far past. 32 levels still load. */
static void test_nesting(void **state)
{
    (void)state;
    size_t n = 200000;
    char *text = dv_malloc(n + 64);
    int k = sprintf(text, "server:\n  databases: ");
    memset(text + k, '[', n);
    text[k + n] = '\0';
    char *p = write_cfg("nested.yaml", text);
    char *want = dv_asprintf("%s:2:44: nested deeper than 32 levels", p);
    const char *args[] = {p, want};
    run_bounded("200 KB of '['", load_expect, args, 5, 0);
    free(want);
    free(p);
    /* 32 levels (the root mapping, server, 30 sequences): accepted as far as nesting goes */
    k = sprintf(text, "server:\n  databases: ");
    for (int i = 0; i < 30; i++)
        text[k++] = '[';
    for (int i = 0; i < 30; i++)
        text[k++] = ']';
    sprintf(text + k, "\n");
    p = write_cfg("deep.yaml", text);
    struct dv_config c;
    assert_int_equal(dv_config_load(p, &c), -1);
    assert_null(strstr(dv_err(), "nested deeper")); /* refused for its type, not its depth */
    dv_config_done(&c);
    free(p);
    free(text);
}

/* restore.dir: default, relative, absolute inside data_dir, normalised; its databases never
 * match the globs (dbglob); the alternative names of a taken one */
static void test_restore_dir(void **state)
{
    (void)state;
    char *p = write_cfg("r0.yaml", "server: { data_dir: /srv/d }\n");
    struct dv_config c;
    assert_int_equal(dv_config_load(p, &c), 0);
    assert_string_equal(c.restore.rel, "restore");
    assert_string_equal(c.restore.dir, "/srv/d/restore");
    assert_int_equal(c.restore.retention_days, 7);
    assert_false(dbglob_match_any(&c, "restore/mail/alice--20261129-154357.nsf"));
    assert_false(dbglob_match_any(&c, "restore"));
    assert_true(dbglob_match_any(&c, "restored/x.nsf")); /* another folder */
    assert_true(dbglob_match_any(&c, "mail/alice.nsf"));
    assert_true(dbglob_in_restore(&c, "restore/x.nsf"));
    assert_false(dbglob_in_restore(&c, "restorex.nsf"));
    dv_config_done(&c);
    free(p);
    p = write_cfg("r1.yaml", "server: { data_dir: /srv/d }\nrestore: { dir: ./a//b/, "
                             "retention_days: 0 }\n");
    assert_int_equal(dv_config_load(p, &c), 0);
    assert_string_equal(c.restore.rel, "a/b");
    assert_string_equal(c.restore.dir, "/srv/d/a/b");
    assert_int_equal(c.restore.retention_days, 0);
    dv_config_done(&c);
    free(p);
    p = write_cfg("r2.yaml", "server: { data_dir: /srv/d }\nrestore: { dir: /srv/d/x/y }\n");
    assert_int_equal(dv_config_load(p, &c), 0);
    assert_string_equal(c.restore.rel, "x/y");
    dv_config_done(&c);
    free(p);
    static const char *const bad[] = {"../r", "a/../../r", "/srv", "/srv/d", ".", "/etc/r"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *text = dv_asprintf("server: { data_dir: /srv/d }\nrestore: { dir: '%s' }\n", bad[i]);
        p = write_cfg("rb.yaml", text);
        assert_int_equal(dv_config_load(p, &c), -1);
        char *want = dv_asprintf("'restore.dir' '%s'", bad[i]);
        assert_non_null(strstr(dv_err(), want));
        free(want);
        dv_config_done(&c);
        free(p);
        free(text);
    }
    char *a = restore_name_alt("restore/mail/alice--S.nsf", 2);
    assert_string_equal(a, "restore/mail/alice--S-2.nsf");
    free(a);
    a = restore_name_alt("restore/a.b/noext", 12);
    assert_string_equal(a, "restore/a.b/noext-12");
    free(a);
}

/* backup.target s3://BUCKET/PREFIX and backup.s3 (issue 17) */
static void test_s3(void **state)
{
    (void)state;
    char *p = write_cfg("s3.yaml", "backup:\n  target: s3://dvault-backups/site/srv1//\n  s3:\n"
                                   "    endpoint: http://127.0.0.1:7480\n"
                                   "    credentials_file: s3.cred\n    object_lock_days: 30\n"
                                   "    object_lock_mode: COMPLIANCE\n"
                                   "catalog: cat/catalog.db\n");
    struct dv_config c;
    assert_int_equal(dv_config_load(p, &c), 0);
    assert_string_equal(c.backup.target, "s3://dvault-backups/site/srv1");
    assert_string_equal(c.backup.s3.bucket, "dvault-backups");
    assert_string_equal(c.backup.s3.prefix, "site/srv1");
    assert_string_equal(c.backup.s3.endpoint, "http://127.0.0.1:7480");
    assert_string_equal(c.backup.s3.region, "us-east-1");
    assert_int_equal(c.backup.s3.object_lock_days, 30);
    assert_string_equal(c.backup.s3.object_lock_mode, "compliance");
    char *want = dv_path_join(tmpdir, "s3.cred");
    assert_string_equal(c.backup.s3.credentials_file, want);
    free(want);
    want = dv_path_join(tmpdir, "cat/s3-cache/dvault-backups/site/srv1");
    assert_string_equal(c.backup.s3.cache, want);
    free(want);
    dv_config_done(&c);
    free(p);
    /* no prefix; the cache given; a directory target leaves backup.s3 unset */
    p = write_cfg("s3b.yaml", "backup:\n  target: s3://b-1\n  s3: { endpoint: https://x, "
                              "region: eu-west-1, cache: /var/cache/dv }\n");
    assert_int_equal(dv_config_load(p, &c), 0);
    assert_string_equal(c.backup.target, "s3://b-1");
    assert_string_equal(c.backup.s3.prefix, "");
    assert_string_equal(c.backup.s3.region, "eu-west-1");
    assert_string_equal(c.backup.s3.cache, "/var/cache/dv");
    assert_null(c.backup.s3.credentials_file);
    dv_config_done(&c);
    free(p);
    p = write_cfg("s3c.yaml", "backup:\n  target: backup\n");
    assert_int_equal(dv_config_load(p, &c), 0);
    assert_null(c.backup.s3.bucket);
    dv_config_done(&c);
    free(p);
    /* keep_days 0 (no age limit) takes any lock; a cache in data_dir is refused */
    p = write_cfg("s3d.yaml", "backup:\n  target: s3://bkt\n  retention: { keep_days: 0 }\n"
                              "  s3: { endpoint: http://h, object_lock_days: 400 }\n");
    assert_int_equal(dv_config_load(p, &c), 0);
    dv_config_done(&c);
    free(p);
    p = write_cfg("s3e.yaml", "server: { data_dir: /srv/d }\nbackup:\n  target: s3://bkt\n"
                              "  s3: { endpoint: http://h, cache: /srv/d/cache }\n");
    assert_int_equal(dv_config_load(p, &c), -1);
    assert_non_null(strstr(dv_err(), "'cache' '/srv/d/cache' is inside the server's data_dir"));
    dv_config_done(&c);
    free(p);
    const char *bad[] = {"s3://ab/x",      "s3://-abc/x",  "s3://a..b/x", "s3://192.168.1.1/x",
                         "s3://abc/x/./y", "s3://abc/x y", "s3:///x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *text = dv_asprintf("backup:\n  target: %s\n  s3: { endpoint: http://h }\n", bad[i]);
        p = write_cfg("s3bad.yaml", text);
        assert_int_equal(dv_config_load(p, &c), -1);
        assert_non_null(strstr(dv_err(), "is not valid"));
        dv_config_done(&c);
        free(p);
        free(text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_all_keys),
        cmocka_unit_test(test_daos_dir),    cmocka_unit_test(test_errors),
        cmocka_unit_test(test_unreadable),  cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_restore_dir), cmocka_unit_test(test_s3),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

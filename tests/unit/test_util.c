/* test_util.c - shared helpers: paths, atomic writes, hex, database globs, time parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "dbglob.h"
#include "util.h"

static void test_safe_rel(void **state)
{
    (void)state;
    assert_true(dv_path_is_safe_rel("mail/alice.nsf"));
    assert_true(dv_path_is_safe_rel("a..b/c"));
    assert_false(dv_path_is_safe_rel("../x"));
    assert_false(dv_path_is_safe_rel("a/../../x"));
    assert_false(dv_path_is_safe_rel("/etc/passwd"));
    assert_false(dv_path_is_safe_rel("a//b"));
    assert_false(dv_path_is_safe_rel("a/./b"));
    assert_false(dv_path_is_safe_rel("a/"));
    assert_false(dv_path_is_safe_rel(""));
    assert_false(dv_path_is_safe_rel(".."));
}

static void test_join(void **state)
{
    (void)state;
    char *p = dv_path_join("/a/b/", "c");
    assert_string_equal(p, "/a/b/c");
    free(p);
    p = dv_path_join("/a", "/abs");
    assert_string_equal(p, "/abs");
    free(p);
    p = dv_dirname("/a/b/c.yaml");
    assert_string_equal(p, "/a/b");
    free(p);
    p = dv_dirname("c.yaml");
    assert_string_equal(p, ".");
    free(p);
}

static void canon_is(const char *path, const char *want)
{
    char *c = dv_path_canon(path);
    if (strcmp(c, want) != 0)
        fail_msg("dv_path_canon(%s) = %s, expected %s", path, c, want);
    free(c);
}

/* Canonical paths: links resolved where they exist, the rest normalised lexically. */
static void test_canon(void **state)
{
    (void)state;
    canon_is("/", "/");
    canon_is("//", "/");
    canon_is("/..", "/");
    canon_is("/nonexistent-dv/a/./b//c/../d/", "/nonexistent-dv/a/b/d");
    canon_is("/nonexistent-dv/../../x", "/x");
    char dir[] = "/tmp/dvcanon-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *real = realpath(dir, NULL), *data = dv_asprintf("%s/var/data", real);
    assert_int_equal(dv_mkdirs(data, 0700), 0);
    /* a link to data_dir, a path that climbs out and back in, a missing tail */
    char *lnk = dv_asprintf("%s/link", dir), *p = NULL;
    assert_int_equal(symlink(data, lnk), 0);
    p = dv_asprintf("%s/link/backup", dir);
    char *want = dv_asprintf("%s/backup", data);
    canon_is(p, want);
    free(p);
    p = dv_asprintf("%s/var/data/../data/backup", dir);
    canon_is(p, want);
    char *c = dv_path_canon(p), *cd = dv_path_canon(data);
    assert_true(dv_path_within(c, cd));
    assert_true(dv_path_within(cd, cd));
    assert_false(dv_path_within(cd, c));
    assert_true(dv_path_within(cd, "/"));
    char *sib = dv_asprintf("%s2", data); /* var/data2 is not inside var/data */
    assert_false(dv_path_within(sib, cd));
    free(sib);
    free(c);
    free(cd);
    free(p);
    free(want);
    char *cmd = dv_asprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(lnk);
    free(data);
    free(real);
}

static void test_atomic_write(void **state)
{
    (void)state;
    char dir[] = "/tmp/dvtest-util-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *f = dv_path_join(dir, "x");
    assert_int_equal(dv_write_atomic(f, "hello", 5, 0600), 0);
    char *buf;
    size_t n;
    assert_int_equal(dv_read_file(f, &buf, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(buf, "hello");
    free(buf);
    struct stat st;
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* a failed write (directory gone) leaves no temp file and reports the path */
    char *g = dv_path_join(dir, "missing/y");
    assert_int_equal(dv_write_atomic(g, "x", 1, 0600), -1);
    assert_non_null(strstr(dv_err(), "missing/y.tmp."));
    /* copy */
    char *h = dv_path_join(dir, "copy");
    assert_int_equal(dv_copy_file_atomic(f, h, 0600), 0);
    char a[65], b[65];
    assert_int_equal(dv_sha256_file_hex(f, a), 0);
    assert_int_equal(dv_sha256_file_hex(h, b), 0);
    assert_string_equal(a, b);
    char c[65];
    dv_sha256_hex("hello", 5, c);
    assert_string_equal(a, c);
    assert_string_equal(c, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    unlink(f);
    unlink(h);
    rmdir(dir);
    free(f);
    free(g);
    free(h);
}

static void test_hex(void **state)
{
    (void)state;
    unsigned char in[3] = {0x00, 0xab, 0xff}, out[3];
    char hex[7];
    dv_hex(in, 3, hex);
    assert_string_equal(hex, "00abff");
    assert_int_equal(dv_unhex("00ABff", out, 3), 0);
    assert_memory_equal(in, out, 3);
    assert_int_equal(dv_unhex("00zbff", out, 3), -1);
}

static void test_glob(void **state)
{
    (void)state;
    assert_true(dbglob_match("**/*.nsf", "a.nsf"));
    assert_true(dbglob_match("**/*.nsf", "mail/alice.nsf"));
    assert_true(dbglob_match("**/*.nsf", "a/b/c/d.nsf"));
    assert_false(dbglob_match("**/*.nsf", "a/b/c/d.nsf-wal"));
    assert_false(dbglob_match("*.nsf", "mail/alice.nsf"));
    assert_true(dbglob_match("mail/*.nsf", "mail/alice.nsf"));
    assert_false(dbglob_match("mail/*.nsf", "mail/x/alice.nsf"));
    assert_true(dbglob_match("mail/**", "mail/x/alice.nsf"));
    assert_true(dbglob_match("a/**/b/*.db", "a/b/x.db"));
    assert_true(dbglob_match("a/**/b/*.db", "a/x/y/b/x.db"));
    assert_false(dbglob_match("**/*.nsf", ".hidden.nsf"));
    assert_true(dbglob_match("user?.ns[fh]", "user1.nsh"));
}

static void test_glob_list(void **state)
{
    (void)state;
    char dir[] = "/tmp/dvtest-glob-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct dv_config cfg;
    dv_config_defaults(&cfg, dir);
    free(cfg.server.data_dir);
    cfg.server.data_dir = dv_strdup(dir);
    free(cfg.server.daos_dir);
    cfg.server.daos_dir = dv_path_join(dir, "daos");
    const char *files[] = {"b.nsf",      "mail/alice.nsf",     "mail/.tmp.nsf",
                           "daos/x.nsf", "mail/alice.nsf-wal", "names.db"};
    char *p;
    p = dv_path_join(dir, "mail");
    mkdir(p, 0700);
    free(p);
    p = dv_path_join(dir, "daos");
    mkdir(p, 0700);
    free(p);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        p = dv_path_join(dir, files[i]);
        assert_int_equal(dv_write_atomic(p, "", 0, 0600), 0);
        free(p);
    }
    char **list;
    size_t n;
    assert_int_equal(dbglob_list(&cfg, &list, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0], "b.nsf");
    assert_string_equal(list[1], "mail/alice.nsf");
    assert_null(list[2]);
    dbglob_free(list);
    char *rel;
    char *abs = dbglob_resolve(&cfg, "mail/alice.nsf", &rel);
    assert_string_equal(rel, "mail/alice.nsf");
    free(abs);
    free(rel);
    abs = dbglob_resolve(&cfg, "/elsewhere/x.nsf", &rel);
    assert_null(rel);
    assert_string_equal(abs, "/elsewhere/x.nsf");
    free(abs);
    dv_config_done(&cfg);
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_time(void **state)
{
    (void)state;
    assert_int_equal(dv_parse_time("@1700000000"), 1700000000);
    assert_int_equal(dv_parse_time("1700000000"), 1700000000);
    assert_true(dv_parse_time("2026-11-22 01:46") > 0);
    assert_int_equal(dv_parse_time("yesterday"), -1);
    long v;
    assert_int_equal(dv_parse_long("12", 0, 100, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(dv_parse_long("12x", 0, 100, &v), -1);
    assert_int_equal(dv_parse_long("101", 0, 100, &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe_rel),     cmocka_unit_test(test_join),
        cmocka_unit_test(test_atomic_write), cmocka_unit_test(test_hex),
        cmocka_unit_test(test_glob),         cmocka_unit_test(test_glob_list),
        cmocka_unit_test(test_time),         cmocka_unit_test(test_canon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

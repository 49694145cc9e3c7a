/* test_util.c - shared helpers: paths, atomic writes, hex, database globs, time parsing,
 * escaping text for a terminal (issue 12, finding 12). */
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

#include "dvtmp.h"
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
    char dir[256];
    assert_non_null(dvt_mkdtemp(dir, sizeof dir, "canon"));
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
    char dir[256];
    assert_non_null(dvt_mkdtemp(dir, sizeof dir, "util"));
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
    char dir[256];
    assert_non_null(dvt_mkdtemp(dir, sizeof dir, "glob"));
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
    /* issue 12, finding 13: what the globs reach but is a link or special file is named */
    char *lk = dv_path_join(dir, "mail/linked.nsf"), *fifo = dv_path_join(dir, "mail/pipe.nsf"),
         *ld = dv_path_join(dir, "mail/sub"), *other = dv_path_join(dir, "mail/other.txt");
    assert_int_equal(symlink("alice.nsf", lk), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink("/tmp", ld), 0);
    assert_int_equal(symlink("alice.nsf", other), 0); /* matches nothing: not named */
    char **refused;
    assert_int_equal(dbglob_list_ex(&cfg, &list, &n, &refused), 0);
    assert_int_equal(n, 2);
    dbglob_free(list);
    assert_string_equal(refused[0], "mail/linked.nsf: a symbolic link (never followed: not "
                                    "backed up)");
    assert_string_equal(refused[1], "mail/pipe.nsf: a FIFO (never followed: not backed up)");
    assert_string_equal(refused[2], "mail/sub: a symbolic link (never followed: the databases "
                                    "below it are not backed up)");
    assert_null(refused[3]);
    dbglob_free(refused);
    /* with globs that reach no directory, a link to one is not named */
    char *only = dv_strdup("*.nsf");
    char **saved = cfg.server.databases;
    size_t nsaved = cfg.server.ndatabases;
    cfg.server.databases = &only;
    cfg.server.ndatabases = 1;
    assert_int_equal(dbglob_list_ex(&cfg, &list, &n, &refused), 0);
    assert_int_equal(n, 1);
    assert_null(refused[0]);
    dbglob_free(list);
    dbglob_free(refused);
    cfg.server.databases = saved;
    cfg.server.ndatabases = nsaved;
    free(only);
    unlink(lk);
    unlink(fifo);
    unlink(ld);
    unlink(other);
    free(lk);
    free(fifo);
    free(ld);
    free(other);
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
    char cmd[300];
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

/* issue 12, finding 12: nothing raw reaches a terminal */
static void esc_is(const char *in, const char *want)
{
    char out[256];
    assert_int_equal(dv_escape(in, out, sizeof out), strlen(want));
    assert_string_equal(out, want);
    char *d = dv_escape_dup(in);
    assert_string_equal(d, want);
    free(d);
    assert_string_equal(dv_esc(in), want);
}

static void test_escape(void **state)
{
    (void)state;
    esc_is("plain text, 100%", "plain text, 100%");
    esc_is("", "");
    esc_is(NULL, "");
    /* a window title and a screen clear, BEL, DEL, CR, newline, tab */
    esc_is("\x1b]0;pwned\x07\x1b[2J", "\\x1b]0;pwned\\x07\\x1b[2J");
    esc_is("a\x7f\r\n\tb", "a\\x7f\\x0d\\x0a\\x09b");
    /* valid printable UTF-8 is kept; the backslash too */
    esc_is("Gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\x8e C:\\x",
           "Gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\x8e C:\\x");
    /* C1 controls as UTF-8 (U+009B is CSI): each byte */
    esc_is("x\xc2\x9b"
           "2Jy\xc2\x80\xc2\x9f\xc2\xa0",
           "x\\xc2\\x9b2Jy\\xc2\\x80\\xc2\\x9f\xc2\xa0");
    /* not UTF-8: raw 8-bit CSI, Latin-1, overlong, surrogate, > U+10FFFF, cut sequences */
    esc_is("\x9b"
           "2J",
           "\\x9b2J");
    esc_is("caf\xe9", "caf\\xe9");
    esc_is("\xc0\xaf\xe0\x80\xaf", "\\xc0\\xaf\\xe0\\x80\\xaf");
    esc_is("\xed\xa0\x80", "\\xed\\xa0\\x80");
    esc_is("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
    esc_is("\xe2\x82", "\\xe2\\x82");
    esc_is("\xe2\x82x", "\\xe2\\x82x");
    /* cut like snprintf, never inside an escape or a character */
    char small[6];
    assert_int_equal(dv_escape("ab\x1b"
                               "cd",
                               small, sizeof small),
                     8);
    assert_string_equal(small, "ab");
    assert_int_equal(dv_escape("a\xe2\x82\xac\xe2\x82\xac", small, sizeof small), 7);
    assert_string_equal(small, "a\xe2\x82\xac");
    assert_int_equal(dv_escape("abc", NULL, 0), 3);
    char nul[32];
    assert_int_equal(dv_escape_mem("a\0b", 3, nul, sizeof nul), 6);
    assert_string_equal(nul, "a\\x00b");
    /* the ring: 8 results stay valid */
    const char *r[8];
    for (int i = 0; i < 8; i++)
        r[i] = dv_esc(i % 2 ? "\x1b" : "x");
    for (int i = 0; i < 8; i++)
        assert_string_equal(r[i], i % 2 ? "\\x1b" : "x");
    /* error messages are escaped where they are made */
    dv_seterr("bad line '%s'", "\x1b]0;t\x07\xc2\x9b");
    assert_string_equal(dv_err(), "bad line '\\x1b]0;t\\x07\\xc2\\x9b'");
}

/* A path with what URIs reserve opens exactly that file (a '#' was once turned into '_'). */
static void test_file_uri(void **state)
{
    (void)state;
    char *u = dv_file_uri("/d/a#b?c%d e.nsf", "immutable=1");
    assert_string_equal(u, "file:/d/a%23b%3Fc%25d%20e.nsf?immutable=1");
    free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe_rel),     cmocka_unit_test(test_join),
        cmocka_unit_test(test_atomic_write), cmocka_unit_test(test_hex),
        cmocka_unit_test(test_glob),         cmocka_unit_test(test_glob_list),
        cmocka_unit_test(test_time),         cmocka_unit_test(test_canon),
        cmocka_unit_test(test_escape),       cmocka_unit_test(test_file_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

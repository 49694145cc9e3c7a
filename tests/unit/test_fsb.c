/* test_fsb.c - files safely beneath a root: planted links, FIFOs, devices, escapes, caps,
 * O_EXCL creation, link-safe unlink and rename; with openat2 and with the O_NOFOLLOW walk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dvtmp.h"
#include "fsb.h"
#include "util.h"

struct fx {
    char dir[256];
    char *root, *outside;
    struct fsb *r;
};

static char *at(const char *a, const char *b)
{
    return dv_path_join(a, b);
}

static void put(const char *path, const char *text)
{
    assert_int_equal(dv_write_atomic(path, text, strlen(text), 0600), 0);
}

static int setup_mode(void **state, bool fallback)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "fsb"));
    f->root = at(f->dir, "root");
    f->outside = at(f->dir, "outside");
    assert_int_equal(mkdir(f->root, 0700), 0);
    assert_int_equal(mkdir(f->outside, 0700), 0);
    char *p = at(f->outside, "secret");
    put(p, "do not touch");
    free(p);
    p = at(f->root, "sub");
    assert_int_equal(mkdir(p, 0700), 0);
    free(p);
    p = at(f->root, "sub/file");
    put(p, "hello");
    free(p);
    /* the planted things */
    p = at(f->root, "linkdir");
    assert_int_equal(symlink(f->outside, p), 0);
    free(p);
    p = at(f->root, "sub/linkfile");
    char *secret = at(f->outside, "secret");
    assert_int_equal(symlink(secret, p), 0);
    free(secret);
    free(p);
    p = at(f->root, "sub/fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    free(p);
    fsb_test_force_fallback(fallback);
    f->r = fsb_open(f->root);
    assert_non_null(f->r);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_mode(state, false);
}

static int setup_fallback(void **state)
{
    return setup_mode(state, true);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    fsb_test_force_fallback(false);
    fsb_close(f->r);
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->root);
    free(f->outside);
    free(f);
    return 0;
}

static void expect_err(const char *needle)
{
    if (!strstr(dv_err(), needle))
        fail_msg("message \"%s\" does not say \"%s\"", dv_err(), needle);
}

static void secret_intact(struct fx *f)
{
    char *p = at(f->outside, "secret"), *b = NULL;
    assert_int_equal(dv_read_file(p, &b, NULL), 0);
    assert_string_equal(b, "do not touch");
    free(b);
    free(p);
    char *cmd = dv_asprintf("test $(ls -A '%s' | wc -l) = 1", f->outside);
    assert_int_equal(system(cmd), 0); /* nothing created outside */
    free(cmd);
}

static void test_open_regular_and_refusals(void **state)
{
    struct fx *f = *state;
    int fd = fsb_openat(f->r, "sub/file", O_RDONLY, 0);
    assert_true(fd >= 0);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0); /* cleared after the open */
    close(fd);
    /* a link as the last component, a link in the middle */
    assert_int_equal(fsb_openat(f->r, "sub/linkfile", O_RDONLY, 0), -1);
    expect_err("sub/linkfile");
    assert_int_equal(fsb_openat(f->r, "linkdir/secret", O_RDONLY, 0), -1);
    expect_err("refused");
    /* a FIFO: refused at once, never waited on (no writer exists) */
    assert_int_equal(fsb_openat(f->r, "sub/fifo", O_RDONLY, 0), -1);
    expect_err("a FIFO");
    /* a device */
    char *p = at(f->root, "sub/null");
    assert_int_equal(symlink("/dev/null", p), 0);
    assert_int_equal(fsb_openat(f->r, "sub/null", O_RDONLY, 0), -1);
    free(p);
    /* a directory where a file is wanted, and the reverse */
    assert_int_equal(fsb_openat(f->r, "sub", O_RDONLY, 0), -1);
    expect_err("a directory, not a regular file");
    assert_int_equal(fsb_openat(f->r, "sub/file", O_RDONLY | O_DIRECTORY, 0), -1);
    /* escapes and unsafe paths */
    assert_int_equal(fsb_openat(f->r, "../outside/secret", O_RDONLY, 0), -1);
    expect_err("unsafe path");
    assert_int_equal(fsb_openat(f->r, "/etc/passwd", O_RDONLY, 0), -1);
    assert_int_equal(fsb_openat(f->r, "sub//file", O_RDONLY, 0), -1);
    /* a write open through a planted link never truncates its target */
    assert_int_equal(fsb_openat(f->r, "sub/linkfile", O_WRONLY | O_TRUNC, 0), -1);
    secret_intact(f);
    fd = fsb_openat(f->r, ".", O_RDONLY | O_DIRECTORY, 0);
    assert_true(fd >= 0);
    close(fd);
}

static void test_create_excl(void **state)
{
    struct fx *f = *state;
    int fd = fsb_create(f->r, "sub/new", 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    struct stat st;
    assert_int_equal(fsb_lstat(f->r, "sub/new", &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* an existing name, a planted link (dangling or not), a link in the middle */
    assert_int_equal(fsb_create(f->r, "sub/new", 0600), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(fsb_create(f->r, "sub/linkfile", 0600), -1);
    char *p = at(f->root, "sub/dangling");
    char *q = at(f->outside, "created-through-link");
    assert_int_equal(symlink(q, p), 0);
    assert_int_equal(fsb_create(f->r, "sub/dangling", 0600), -1);
    assert_int_equal(access(q, F_OK), -1);
    free(q);
    free(p);
    assert_int_equal(fsb_create(f->r, "linkdir/x", 0600), -1);
    secret_intact(f);
}

static void test_read_capped(void **state)
{
    struct fx *f = *state;
    char *b = NULL;
    size_t n = 0;
    assert_int_equal(fsb_read_capped(f->r, "sub/file", 5, &b, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(b, "hello");
    free(b);
    assert_int_equal(fsb_read_capped(f->r, "sub/file", 4, &b, &n), -1);
    expect_err("more than the 4");
    /* a sparse 1 TiB file is refused without a read */
    char *p = at(f->root, "huge");
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)1 << 40), 0);
    close(fd);
    assert_int_equal(fsb_read_capped(f->r, "huge", 1 << 20, &b, &n), -1);
    free(p);
    assert_int_equal(fsb_read_capped(f->r, "sub/fifo", 1 << 20, &b, &n), -1);
    expect_err("a FIFO");
}

static void test_unlink_rename_mkdir(void **state)
{
    struct fx *f = *state;
    /* unlink of a link removes the link, never what it points at */
    assert_int_equal(fsb_unlink(f->r, "sub/linkfile", false), 0);
    secret_intact(f);
    /* through a linked directory: refused, the outside file stays */
    assert_int_equal(fsb_unlink(f->r, "linkdir/secret", false), -1);
    secret_intact(f);
    assert_int_equal(fsb_unlink(f->r, "sub/none", true), 0);
    assert_int_equal(fsb_unlink(f->r, "sub/none", false), -1);
    /* rename: within the root, no-replace honoured, never into a linked directory */
    int fd = fsb_create(f->r, "sub/a", 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(fsb_rename(f->r, "sub/a", "sub/file", true), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(fsb_rename(f->r, "sub/a", "linkdir/a", false), -1);
    assert_int_equal(fsb_rename(f->r, "sub/a", "sub/b", true), 0);
    secret_intact(f);
    /* mkdir(s): an existing link in the way is refused */
    assert_int_equal(fsb_mkdirs(f->r, "x/y/z", 0700), 0);
    struct stat st;
    assert_int_equal(fsb_lstat(f->r, "x/y/z", &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(fsb_mkdirs(f->r, "linkdir/new", 0700), -1);
    assert_int_equal(fsb_mkdir(f->r, "linkdir", 0700, true), -1);
    expect_err("is a link");
    assert_int_equal(fsb_rmdir(f->r, "x/y/z"), 0);
    secret_intact(f);
    /* lstat of a link says it is a link */
    assert_int_equal(fsb_lstat(f->r, "linkdir", &st), 0);
    assert_true(S_ISLNK(st.st_mode));
}

static void test_write_atomic(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fsb_write_atomic(f->r, "sub/file", "new", 3, 0600), 0);
    char *b = NULL;
    assert_int_equal(fsb_read_capped(f->r, "sub/file", 100, &b, NULL), 0);
    assert_string_equal(b, "new");
    free(b);
    /* over a planted link or FIFO: refused, the outside untouched */
    assert_int_equal(fsb_write_atomic(f->r, "sub/linkfile", "x", 1, 0600), -1);
    assert_int_equal(fsb_write_atomic(f->r, "sub/fifo", "x", 1, 0600), -1);
    assert_int_equal(fsb_write_atomic(f->r, "linkdir/secret", "x", 1, 0600), -1);
    secret_intact(f);
    DIR *d = fsb_opendir(f->r, "sub");
    assert_non_null(d);
    int tmp = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        tmp += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    assert_int_equal(tmp, 0);
    assert_null(fsb_opendir(f->r, "linkdir"));
}

static void test_tmp(void **state)
{
    struct fx *f = *state;
    struct fsb_tmp t;
    /* a link planted at the temporary's name (to a file outside): removed as itself */
    char *p = at(f->root, "sub/.f.tmp"), *secret = at(f->outside, "secret");
    assert_int_equal(symlink(secret, p), 0);
    assert_int_equal(fsb_tmp_open(f->r, "sub/f", ".f.tmp", 0600, 0, &t), 0);
    assert_non_null(t.removed);
    assert_string_equal(t.removed, "a symbolic link");
    assert_int_equal(write(t.fd, "new", 3), 3);
    assert_int_equal(fsb_tmp_commit(&t, 0), 0);
    fsb_tmp_done(&t);
    secret_intact(f);
    char *b = NULL;
    assert_int_equal(fsb_read_capped(f->r, "sub/f", 100, &b, NULL), 0);
    assert_string_equal(b, "new");
    free(b);
    struct stat st;
    assert_int_equal(fsb_lstat(f->r, "sub/.f.tmp", &st), -1);
    /* a FIFO there: removed, never opened (no writer: an open would block) */
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(fsb_tmp_open(f->r, "sub/f", ".f.tmp", 0600, 0, &t), 0);
    assert_string_equal(t.removed, "a FIFO");
    /* not committed: fsb_tmp_done removes the temporary, the final name is unchanged */
    fsb_tmp_done(&t);
    assert_int_equal(fsb_lstat(f->r, "sub/.f.tmp", &st), -1);
    assert_int_equal(fsb_read_capped(f->r, "sub/f", 100, &b, NULL), 0);
    assert_string_equal(b, "new");
    free(b);
    /* the default name, no-replace */
    assert_int_equal(fsb_tmp_open(f->r, "sub/f", NULL, 0600, 0, &t), 0);
    assert_null(t.removed);
    assert_non_null(strstr(t.path, "/sub/.f.tmp."));
    assert_int_equal(fsb_tmp_commit(&t, FSB_NOREPLACE), -1);
    assert_int_equal(errno, EEXIST);
    fsb_tmp_done(&t);
    /* a linked directory on the way: refused, nothing created behind it */
    assert_int_equal(fsb_tmp_open(f->r, "linkdir/x", NULL, 0600, 0, &t), -1);
    expect_err("linkdir");
    fsb_tmp_done(&t);
    secret_intact(f);
    /* a program writes the temporary: reopened as a regular file, never a link */
    assert_int_equal(fsb_tmp_open(f->r, "sub/g", NULL, 0600, FSB_TMP_NOCREATE, &t), 0);
    assert_int_equal(t.fd, -1);
    assert_int_equal(symlink(secret, t.path), 0);
    assert_int_equal(fsb_tmp_reopen(&t), -1);
    expect_err("symbolic link");
    fsb_tmp_done(&t); /* removes the link itself */
    secret_intact(f);
    free(p);
    free(secret);
}

static void test_tree_sub_mkdtemp(void **state)
{
    struct fx *f = *state;
    assert_int_equal(fsb_mkdirs(f->r, "t/a/b", 0700), 0);
    assert_int_equal(fsb_write_atomic(f->r, "t/a/b/file", "12345", 5, 0600), 0);
    char *p = at(f->root, "t/a/link");
    assert_int_equal(symlink(f->outside, p), 0); /* a link to a directory inside the tree */
    free(p);
    p = at(f->root, "t/fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    free(p);
    uint64_t bytes = 0;
    assert_int_equal(fsb_tree(f->r, "t", false, &bytes), 0);
    assert_int_equal(bytes, 5); /* the outside file behind the link is not counted */
    bytes = 0;
    assert_int_equal(fsb_tree(f->r, "t", true, &bytes), 0);
    struct stat st;
    assert_int_equal(fsb_lstat(f->r, "t", &st), -1);
    secret_intact(f); /* the link was removed, never descended */
    assert_int_equal(fsb_tree(f->r, "t", true, &bytes), 0); /* missing: fine */
    /* a tree below a linked directory: refused */
    assert_int_equal(fsb_tree(f->r, "linkdir/x", true, &bytes), -1);
    /* the link itself as the tree: removed as a link */
    assert_int_equal(fsb_tree(f->r, "linkdir", true, &bytes), 0);
    secret_intact(f);
    /* a sub-root: never through a link */
    assert_null(fsb_sub(f->r, "sub/linkfile"));
    struct fsb *s = fsb_sub(f->r, "sub");
    assert_non_null(s);
    assert_non_null(strstr(fsb_path(s), "/root/sub"));
    assert_int_equal(fsb_lstat(s, "file", &st), 0);
    fsb_close(s);
    char *d = fsb_mkdtemp(f->r, ".scratch.");
    assert_non_null(d);
    assert_int_equal(strlen(d), strlen(".scratch.") + 6);
    assert_int_equal(fsb_lstat(f->r, d, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(fsb_rmdir(f->r, d), 0);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_regular_and_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_excl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unlink_rename_mkdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_regular_and_refusals, setup_fallback, teardown),
        cmocka_unit_test_setup_teardown(test_create_excl, setup_fallback, teardown),
        cmocka_unit_test_setup_teardown(test_read_capped, setup_fallback, teardown),
        cmocka_unit_test_setup_teardown(test_unlink_rename_mkdir, setup_fallback, teardown),
        cmocka_unit_test_setup_teardown(test_write_atomic, setup_fallback, teardown),
        cmocka_unit_test_setup_teardown(test_tmp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tree_sub_mkdtemp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tmp, setup_fallback, teardown),
        cmocka_unit_test_setup_teardown(test_tree_sub_mkdtemp, setup_fallback, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_tstore.c - the directory store of tstore.h (tstore_dir.c): atomic puts (from memory and
 * from a descriptor), ranged and streamed gets, listing by prefix in name order, head, delete;
 * and the hostile cases: a planted link or FIFO where an object is expected is refused (never
 * followed, never waited on), a name that climbs out is refused, a retention is refused. */
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
#include "tstore.h"
#include "util.h"

struct fx {
    char dir[256];
    char *root, *outside;
    struct tstore *ts;
};

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "tstore"));
    f->root = dv_path_join(f->dir, "root");
    f->outside = dv_path_join(f->dir, "outside");
    assert_int_equal(mkdir(f->root, 0700), 0);
    assert_int_equal(mkdir(f->outside, 0700), 0);
    assert_non_null(f->ts = tstore_dir_open(f->root));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tstore_close(f->ts);
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->root);
    free(f->outside);
    free(f);
    return 0;
}

static void put_str(struct tstore *ts, const char *name, const char *s)
{
    assert_int_equal(tstore_put(ts, name, s, strlen(s), NULL), 0);
}

struct seen {
    char text[1024];
    int n;
};

static int seen_cb(void *ud, const char *name, uint64_t size)
{
    struct seen *s = ud;
    size_t l = strlen(s->text);
    snprintf(s->text + l, sizeof s->text - l, "%s=%llu;", name, (unsigned long long)size);
    return ++s->n == 100 ? 7 : 0;
}

static void test_put_get_head_delete(void **state)
{
    struct fx *f = *state;
    put_str(f->ts, "sets/a/manifest.json", "{\"x\":1}\n");
    put_str(f->ts, "sets/a/manifest.json", "{\"x\":22}\n"); /* replaced atomically */
    struct tstore_info info;
    assert_int_equal(tstore_head(f->ts, "sets/a/manifest.json", &info), 0);
    assert_int_equal(info.size, 9);
    assert_string_equal(info.lock_mode, "");
    char buf[16];
    size_t got = 0;
    assert_int_equal(tstore_get_range(f->ts, "sets/a/manifest.json", 2, 3, buf, &got), 0);
    assert_int_equal(got, 3);
    assert_memory_equal(buf, "x\":", 3);
    assert_int_equal(tstore_get_range(f->ts, "sets/a/manifest.json", 7, 10, buf, &got), 0);
    assert_int_equal(got, 2); /* what there was */

    /* from a descriptor, into a descriptor (at its current offset) */
    char *src = dv_path_join(f->dir, "src"), *dst = dv_path_join(f->dir, "dst");
    size_t big = (3u << 20) + 17;
    char *data = dv_malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 7 + 3);
    assert_int_equal(dv_write_atomic(src, data, big, 0600), 0);
    int in = open(src, O_RDONLY);
    assert_true(in >= 0);
    assert_int_equal(tstore_put_fd(f->ts, "nlo/abc/big", in, big, NULL), 0);
    close(in);
    int out = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(write(out, "HDR", 3), 3);
    uint64_t size = 0;
    assert_int_equal(tstore_get_fd(f->ts, "nlo/abc/big", out, &size), 0);
    assert_int_equal(size, big);
    assert_int_equal(lseek(out, 0, SEEK_CUR), (off_t)big + 3);
    close(out);
    char *back = NULL;
    size_t blen = 0;
    assert_int_equal(dv_read_file(dst, &back, &blen), 0);
    assert_int_equal(blen, big + 3);
    assert_memory_equal(back + 3, data, big);
    free(back);
    free(data);

    /* a descriptor shorter than it claims: refused, nothing left behind */
    in = open(src, O_RDONLY);
    assert_int_equal(tstore_put_fd(f->ts, "nlo/abc/short", in, big + 1, NULL), -1);
    close(in);
    assert_int_equal(tstore_head(f->ts, "nlo/abc/short", &info), -1);
    assert_int_equal(errno, ENOENT);

    assert_int_equal(tstore_delete(f->ts, "nlo/abc/big", NULL), 0);
    assert_int_equal(tstore_delete(f->ts, "nlo/abc/big", NULL), 0); /* missing is fine */
    assert_int_equal(tstore_head(f->ts, "nlo/abc/big", &info), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(tstore_get_range(f->ts, "nlo/abc/big", 0, 4, buf, &got), -1);
    assert_int_equal(errno, ENOENT);

    /* no retention on a directory: refused, not pretended */
    struct tstore_lock lk = {.mode = "GOVERNANCE", .retain_until = dv_now() + 60};
    assert_int_equal(tstore_put(f->ts, "x", "y", 1, &lk), -1);
    assert_int_equal(errno, ENOTSUP);
    free(src);
    free(dst);
}

static void test_list_order_prefix(void **state)
{
    struct fx *f = *state;
    put_str(f->ts, "sets/b/2", "22");
    put_str(f->ts, "sets/a-2/x", "1");
    put_str(f->ts, "sets/a/z", "333");
    put_str(f->ts, "sets/a/m", "4444");
    put_str(f->ts, "nlo/abc/q", "5");
    put_str(f->ts, "target.json", "{}");
    struct seen s = {0};
    assert_int_equal(tstore_list(f->ts, "sets/", seen_cb, &s), 0);
    assert_string_equal(s.text, "sets/a-2/x=1;sets/a/m=4;sets/a/z=3;sets/b/2=2;");
    memset(&s, 0, sizeof s);
    assert_int_equal(tstore_list(f->ts, "sets/a", seen_cb, &s), 0); /* a string prefix */
    assert_string_equal(s.text, "sets/a-2/x=1;sets/a/m=4;sets/a/z=3;");
    memset(&s, 0, sizeof s);
    assert_int_equal(tstore_list(f->ts, "sets/a/", seen_cb, &s), 0);
    assert_string_equal(s.text, "sets/a/m=4;sets/a/z=3;");
    memset(&s, 0, sizeof s);
    assert_int_equal(tstore_list(f->ts, "", seen_cb, &s), 0);
    assert_string_equal(s.text, "nlo/abc/q=1;sets/a-2/x=1;sets/a/m=4;sets/a/z=3;sets/b/2=2;"
                                "target.json=2;");
    memset(&s, 0, sizeof s);
    assert_int_equal(tstore_list(f->ts, "nothing/", seen_cb, &s), 0);
    assert_int_equal(s.n, 0);
    /* the callback stops the listing with its value */
    s.n = 99;
    s.text[0] = '\0';
    assert_int_equal(tstore_list(f->ts, "", seen_cb, &s), 7);
    assert_string_equal(s.text, "nlo/abc/q=1;");
}

static void test_hostile(void **state)
{
    struct fx *f = *state;
    char *secret = dv_path_join(f->outside, "secret");
    assert_int_equal(dv_write_atomic(secret, "do not touch", 12, 0600), 0);
    put_str(f->ts, "sets/a/m", "4444");
    /* a link planted as an object, a link in place of a directory, a FIFO */
    char *p = dv_path_join(f->root, "sets/a/link");
    assert_int_equal(symlink(secret, p), 0);
    free(p);
    p = dv_path_join(f->root, "nlo");
    assert_int_equal(symlink(f->outside, p), 0);
    free(p);
    p = dv_path_join(f->root, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    free(p);

    struct tstore_info info;
    char buf[64];
    size_t got;
    assert_int_equal(tstore_head(f->ts, "sets/a/link", &info), -1);
    assert_non_null(strstr(dv_err(), "symbolic link"));
    assert_int_equal(tstore_get_range(f->ts, "sets/a/link", 0, 12, buf, &got), -1);
    assert_int_equal(tstore_head(f->ts, "fifo", &info), -1);
    assert_non_null(strstr(dv_err(), "FIFO"));
    int out = open("/dev/null", O_WRONLY);
    assert_int_equal(tstore_get_fd(f->ts, "fifo", out, NULL), -1); /* never blocks */
    close(out);
    /* through the planted directory link: neither read nor written */
    assert_int_equal(tstore_get_range(f->ts, "nlo/secret", 0, 12, buf, &got), -1);
    assert_int_equal(tstore_put(f->ts, "nlo/new", "x", 1, NULL), -1);
    char *escaped = dv_path_join(f->outside, "new");
    assert_int_equal(access(escaped, F_OK), -1);
    free(escaped);
    /* a listing refuses what is not a regular file, naming it */
    struct seen s = {0};
    assert_int_equal(tstore_list(f->ts, "sets/", seen_cb, &s), -1);
    assert_non_null(strstr(dv_err(), "sets/a/link"));
    assert_int_equal(tstore_list(f->ts, "fi", seen_cb, &s), -1);
    assert_non_null(strstr(dv_err(), "fifo"));
    /* deleting the link removes the link, never its target */
    assert_int_equal(tstore_delete(f->ts, "sets/a/link", NULL), 0);
    assert_int_equal(access(secret, F_OK), 0);
    /* names that climb out or are not in normal form */
    const char *bad[] = {"../outside/secret", "/etc/passwd", "a//b", "./x", "sets/../x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(tstore_put(f->ts, bad[i], "x", 1, NULL), -1);
        assert_int_equal(tstore_head(f->ts, bad[i], &info), -1);
        assert_int_equal(tstore_delete(f->ts, bad[i], NULL), -1);
    }
    assert_int_equal(tstore_list(f->ts, "../", seen_cb, &s), -1);
    /* a put replaces a planted link as itself (the temporary is renamed over the name) */
    p = dv_path_join(f->root, "sets/a/link2");
    assert_int_equal(symlink(secret, p), 0);
    put_str(f->ts, "sets/a/link2", "mine");
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    free(p);
    char *text = NULL;
    assert_int_equal(dv_read_file(secret, &text, NULL), 0);
    assert_string_equal(text, "do not touch");
    free(text);
    free(secret);
}

static void test_parse_time(void **state)
{
    (void)state;
    assert_int_equal(tstore_parse_time("2026-11-30T18:45:16.000000000Z"), 1796064316);
    assert_int_equal(tstore_parse_time("2026-11-30T18:45:16Z"), 1796064316);
    assert_int_equal(tstore_parse_time("soon"), 0);
    assert_int_equal(tstore_parse_time(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_get_head_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_order_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
        cmocka_unit_test(test_parse_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

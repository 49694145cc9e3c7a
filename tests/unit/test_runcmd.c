/* test_runcmd.c - configured commands run without a shell; placeholders stay one argument. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "runcmd.h"
#include "util.h"

static void test_split(void **state)
{
    (void)state;
    const struct runcmd_subst s[] = {{"{src}", "/a b/x;rm -rf"}, {"{dst}", "$(id)"}, {NULL, NULL}};
    char **v = runcmd_split("cp  --reflink=auto '{src}' x{dst}y \"two words\"", s, "t");
    assert_non_null(v);
    assert_string_equal(v[0], "cp");
    assert_string_equal(v[1], "--reflink=auto");
    assert_string_equal(v[2], "/a b/x;rm -rf");
    assert_string_equal(v[3], "x$(id)y");
    assert_string_equal(v[4], "two words");
    assert_null(v[5]);
    runcmd_argv_free(v);
    assert_null(runcmd_split("echo 'open", NULL, "post command"));
    assert_string_equal(dv_err(), "post command: unterminated ' quote in 'echo 'open'");
    assert_null(runcmd_split("   ", NULL, "pre command"));
    assert_string_equal(dv_err(), "pre command is empty");
}

static void test_run(void **state)
{
    (void)state;
    char *out = NULL;
    const char *env[] = {"DV_SET_ID=20261122-000000", NULL};
    const struct runcmd_subst s[] = {{"{x}", "a;b c"}, {NULL, NULL}};
    struct runcmd_opts o = {.what = "post command", .subst = s, .env = env, .out = &out};
    assert_int_equal(runcmd("sh -c 'echo \"$DV_SET_ID|$0\"' {x}", &o), 0);
    assert_string_equal(out, "20261122-000000|a;b c\n");
    free(out);
    struct runcmd_opts o2 = {.what = "pre command"};
    assert_int_equal(runcmd("sh -c 'echo boom >&2; exit 3'", &o2), -1);
    assert_string_equal(dv_err(), "pre command sh exited with 3: boom");
    assert_int_equal(runcmd("/nonexistent/tool", &o2), -1);
    assert_non_null(strstr(dv_err(), "pre command /nonexistent/tool: cannot start"));
    assert_int_equal(runcmd("sh -c 'kill -9 $$'", &o2), -1);
    assert_string_equal(dv_err(), "pre command sh killed by signal 9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_split), cmocka_unit_test(test_run)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

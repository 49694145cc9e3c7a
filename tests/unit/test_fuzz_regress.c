/*
 * test_fuzz_regress.c - replay every input in tests/fuzz/regress/<parser>/ through the same
 * entry points the libFuzzer harnesses use (tests/fuzz/targets.c), built by gcc without
 * libFuzzer, so inputs that once crashed a parser keep being run by `make test` (and
 * under the sanitizer and valgrind builds). Each parser also gets a few hand-made edge
 * inputs (empty, one byte, NUL bytes). A missing corpus fails the test instead of passing on
 * nothing: tests/fuzz/regress/ must be there, each directory in it must name a parser and
 * hold at least one input, and a parser's directory that exists must be readable.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../fuzz/targets.c"

#ifndef FUZZ_REGRESS_DIR
#define FUZZ_REGRESS_DIR "tests/fuzz/regress"
#endif

static const char *regress_dir(void)
{
    /* make runs the tests from the top of the checkout; SRC is set by tests/run.sh */
    static char dir[1024];
    const char *src = getenv("SRC");
    snprintf(dir, sizeof dir, "%s%s%s", src ? src : "", src ? "/" : "", FUZZ_REGRESS_DIR);
    return dir;
}

static int replay_dir(const struct fuzz_target *t)
{
    char *dir = dv_path_join(regress_dir(), t->name);
    int n = 0;
    DIR *d = opendir(dir);
    if (!d && errno != ENOENT)
        fail_msg("%s: %s", dir, strerror(errno));
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char *p = dv_path_join(dir, e->d_name);
            char *buf = NULL;
            size_t len = 0;
            assert_int_equal(dv_read_file(p, &buf, &len), 0);
            print_message("replay %s\n", p);
            t->fn((const uint8_t *)buf, len);
            free(buf);
            free(p);
            n++;
        }
        closedir(d);
        if (n == 0)
            fail_msg("%s: an empty regression corpus (remove it or add an input)", dir);
    }
    free(dir);
    return n;
}

/* the corpus is there, and each of its directories names a parser (a misspelt one would never
 * be replayed) */
static int corpus_present(void **state)
{
    (void)state;
    const char *root = regress_dir();
    DIR *d = opendir(root);
    if (!d) {
        print_error("%s: %s: the regression corpus is missing\n", root, strerror(errno));
        return -1;
    }
    int dirs = 0, bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        const struct fuzz_target *t = fuzz_targets;
        while (t->name && strcmp(t->name, e->d_name) != 0)
            t++;
        if (!t->name) {
            print_error("%s/%s: no parser of that name (tests/fuzz/targets.c)\n", root, e->d_name);
            bad++;
        }
        dirs++;
    }
    closedir(d);
    if (dirs == 0)
        print_error("%s: the regression corpus is empty\n", root);
    return dirs > 0 && bad == 0 ? 0 : -1;
}

static void test_replay(void **state)
{
    const struct fuzz_target *t = *state;
    static const uint8_t edge[][8] = {{0}, {'{'}, {'-', ' ', '\n'}, {0xff, 0xfe, 0, 0, 0, 0, 0, 0}};
    static const size_t edge_len[] = {0, 1, 3, 8};
    for (size_t i = 0; i < sizeof edge_len / sizeof edge_len[0]; i++)
        t->fn(edge[i], edge_len[i]);
    int n = replay_dir(t);
    print_message("%s: %d regression input(s)\n", t->name, n);
}

int main(void)
{
    struct CMUnitTest tests[16];
    size_t n = 0;
    for (const struct fuzz_target *t = fuzz_targets; t->name && n < 16; t++) {
        tests[n].name = t->name;
        tests[n].test_func = test_replay;
        tests[n].setup_func = NULL;
        tests[n].teardown_func = NULL;
        tests[n].initial_state = (void *)t;
        n++;
    }
    return _cmocka_run_group_tests("fuzz_regress", tests, n, corpus_present, NULL);
}

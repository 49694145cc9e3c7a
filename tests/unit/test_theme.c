/* test_theme.c - theme files: the shipped themes load, each error class gives its one line
 * (golden files in tests/golden/theme/), defaults, colours, attributes, lookup of themes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dvtmp.h"
#include "config.h"
#include "theme.h"
#include "util.h"

static char tmpdir[256];
static char *src; /* the checkout (env SRC, set by make; else the current directory) */

static int setup(void **state)
{
    (void)state;
    assert_non_null(dvt_mkdtemp(tmpdir, sizeof tmpdir, "theme"));
    src = realpath(getenv("SRC") ? getenv("SRC") : ".", NULL);
    assert_non_null(src);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    free(src);
    return system(cmd);
}

static char *write_file(const char *name, const char *text)
{
    char *p = dv_path_join(tmpdir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_shipped_themes_load(void **state)
{
    (void)state;
    char *dir = dv_path_join(src, "themes");
    char **names;
    size_t n;
    assert_int_equal(theme_list(dir, &names, &n), 0);
    const char *want[] = {"dark", "default", "high-contrast", "monochrome"};
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(names[i], want[i]);
        char *p = dv_asprintf("%s/%s.yaml", dir, names[i]);
        struct theme t;
        if (theme_load(p, &t) != 0)
            fail_msg("%s", dv_err());
        assert_string_equal(t.name, names[i]);
        theme_done(&t);
        free(p);
    }
    theme_list_free(names);
    /* default.yaml is exactly the built-in theme */
    char *p = dv_path_join(dir, "default.yaml");
    struct theme a, b;
    assert_int_equal(theme_load(p, &a), 0);
    theme_builtin(&b);
    assert_memory_equal(a.st, b.st, sizeof a.st);
    theme_done(&a);
    theme_done(&b);
    free(p);
    free(dir);
}

static void test_golden_errors(void **state)
{
    (void)state;
    char *dir = dv_path_join(src, "tests/golden/theme");
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    DIR *d = opendir(".");
    assert_non_null(d);
    struct dirent *de;
    int cases = 0;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        char errf[256];
        snprintf(errf, sizeof errf, "%.*s.err", (int)(len - 5), de->d_name);
        char *want;
        size_t wl;
        assert_int_equal(dv_read_file(errf, &want, &wl), 0);
        while (wl > 0 && want[wl - 1] == '\n')
            want[--wl] = 0;
        assert_null(strchr(want, '\n')); /* one line */
        struct theme t;
        assert_int_equal(theme_load(de->d_name, &t), -1);
        if (strcmp(dv_err(), want) != 0)
            fail_msg("%s:\n  got:      %s\n  expected: %s", de->d_name, dv_err(), want);
        theme_done(&t);
        free(want);
        cases++;
    }
    closedir(d);
    assert_int_equal(chdir(cwd), 0);
    assert_true(cases >= 10);
    free(dir);
}

static void test_unreadable(void **state)
{
    (void)state;
    struct theme t;
    char *p = dv_path_join(tmpdir, "none.yaml");
    assert_int_equal(theme_load(p, &t), -1);
    char *want = dv_asprintf("%s:1:1: cannot read theme: No such file or directory", p);
    assert_string_equal(dv_err(), want);
    theme_done(&t);
    free(want);
    free(p);
    p = dv_path_join(tmpdir, "dir.yaml");
    assert_int_equal(mkdir(p, 0755), 0);
    assert_int_equal(theme_load(p, &t), -1);
    want = dv_asprintf("%s:1:1: cannot read theme: Is a directory", p);
    assert_string_equal(dv_err(), want);
    theme_done(&t);
    free(want);
    free(p);
}

static void test_values(void **state)
{
    (void)state;
    char *p = write_file("mine.yaml", "# partial\n"
                                      "title: { fg: bright_red, bg: 123, attrs: bold }\n"
                                      "selected: { attrs: [reverse, underline] }\n"
                                      "error: { fg: default, attrs: \"\" }\n");
    struct theme t, b;
    assert_int_equal(theme_load(p, &t), 0);
    theme_builtin(&b);
    assert_string_equal(t.name, "mine");
    assert_int_equal(t.st[TH_TITLE].fg, 9);
    assert_int_equal(t.st[TH_TITLE].bg, 123);
    assert_int_equal(t.st[TH_TITLE].attrs, THA_BOLD);
    assert_int_equal(t.st[TH_SELECTED].attrs, THA_REVERSE | THA_UNDERLINE);
    assert_int_equal(t.st[TH_SELECTED].fg, b.st[TH_SELECTED].fg); /* kept */
    assert_int_equal(t.st[TH_ERROR].fg, THEME_DEFAULT_COLOR);
    assert_int_equal(t.st[TH_ERROR].attrs, 0);
    assert_memory_equal(&t.st[TH_HEADER], &b.st[TH_HEADER], sizeof t.st[0]);
    theme_done(&t);
    theme_done(&b);
    free(p);
    /* an empty file is the built-in theme */
    p = write_file("empty.yaml", "");
    assert_int_equal(theme_load(p, &t), 0);
    theme_builtin(&b);
    assert_memory_equal(t.st, b.st, sizeof t.st);
    theme_done(&t);
    theme_done(&b);
    free(p);
    assert_string_equal(theme_elem_name(TH_TAB_ACTIVE), "tab_active");
    assert_string_equal(theme_elem_name(TH_INPUT), "input");
}

static void test_paths(void **state)
{
    (void)state;
    struct dv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.base_dir = tmpdir;
    /* no themes/ beside the config: the install directory */
    char *d = theme_dir(&cfg);
    assert_string_equal(d, DV_THEMES_DIR);
    free(d);
    char *themes = dv_path_join(tmpdir, "themes");
    assert_int_equal(mkdir(themes, 0755), 0);
    d = theme_dir(&cfg);
    assert_string_equal(d, themes);
    free(d);
    char *p = theme_path(&cfg, "dark");
    char *want = dv_asprintf("%s/dark.yaml", themes);
    assert_string_equal(p, want);
    free(p);
    p = theme_path(&cfg, "dark.yaml");
    assert_string_equal(p, want);
    free(p);
    free(want);
    p = theme_path(&cfg, "my/own");
    want = dv_asprintf("%s/my/own.yaml", tmpdir);
    assert_string_equal(p, want);
    free(p);
    free(want);
    /* theme_list: only *.yaml, hidden names skipped, sorted */
    char *f;
    f = dv_path_join(themes, "b.yaml"), fclose(fopen(f, "w")), free(f);
    f = dv_path_join(themes, "a.yaml"), fclose(fopen(f, "w")), free(f);
    f = dv_path_join(themes, ".c.yaml"), fclose(fopen(f, "w")), free(f);
    f = dv_path_join(themes, "notes.txt"), fclose(fopen(f, "w")), free(f);
    char **names;
    size_t n;
    assert_int_equal(theme_list(themes, &names, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "a");
    assert_string_equal(names[1], "b");
    assert_null(names[2]);
    theme_list_free(names);
    char *none = dv_path_join(tmpdir, "nothing");
    assert_int_equal(theme_list(none, &names, &n), -1);
    free(none);
    free(themes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_themes_load),
        cmocka_unit_test(test_golden_errors),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_paths),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

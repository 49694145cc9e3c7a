/* test_tui_wrap.c - tui_wrap (tui.h): the wrapping behind text views, dialogs and help. Words
 * break at spaces; a word wider than the width breaks where it must (nothing is lost);
 * continuation lines get the hanging indent; newlines start paragraphs; control bytes come
 * out escaped; UTF-8 counts display columns. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

/* all lines joined (continuations without their indent) == the text without its spaces */
static char *squeeze(const char *s)
{
    char *o = dv_malloc(strlen(s) + 1), *p = o;
    for (; *s; s++)
        if (*s != ' ')
            *p++ = *s;
    *p = 0;
    return o;
}

static void test_words(void **state)
{
    (void)state;
    struct tui_lines l = {0};
    int n = tui_wrap("snapshot command /bin/sh exited with 3: disk full", 20, 2, &l);
    assert_int_equal(n, 3);
    assert_string_equal(l.v[0], "snapshot command");
    assert_string_equal(l.v[1], "  /bin/sh exited");
    assert_string_equal(l.v[2], "  with 3: disk full");
    for (int i = 0; i < l.n; i++)
        assert_true(tui_width(l.v[i]) <= 20);
    tui_lines_free(&l);
    assert_int_equal(l.n, 0);
}

static void test_long_word_nothing_lost(void **state)
{
    (void)state;
    const char *text =
        "path /srv/backup/sets/.20261129-155342-2.partial/db/mail/.alice.nsf.tmp.1 end";
    struct tui_lines l = {0};
    tui_wrap(text, 16, 3, &l);
    size_t len = 0;
    for (int i = 0; i < l.n; i++) {
        assert_true(tui_width(l.v[i]) <= 16);
        len += strlen(l.v[i]);
    }
    char *all = dv_malloc(len + 1);
    all[0] = 0;
    for (int i = 0; i < l.n; i++)
        strcat(all, l.v[i]);
    char *a = squeeze(all), *b = squeeze(text);
    assert_string_equal(a, b);
    free(a);
    free(b);
    free(all);
    tui_lines_free(&l);
}

static void test_paragraphs_and_escapes(void **state)
{
    (void)state;
    struct tui_lines l = {0};
    assert_int_equal(tui_wrap("one\n\ntwo\x1b[2J", 40, 0, &l), 3);
    assert_string_equal(l.v[0], "one");
    assert_string_equal(l.v[1], "");
    assert_string_equal(l.v[2], "two\\x1b[2J");
    /* appends */
    assert_int_equal(tui_wrap("", 40, 0, &l), 1);
    assert_int_equal(l.n, 4);
    tui_lines_free(&l);
}

static void test_utf8_columns(void **state)
{
    (void)state;
    if (!setlocale(LC_ALL, "C.UTF-8"))
        skip();
    struct tui_lines l = {0};
    /* 6 double-width characters are 12 columns: 2 lines of 3 at width 7 */
    tui_wrap("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 7, 0, &l);
    assert_int_equal(l.n, 2);
    assert_int_equal(tui_width(l.v[0]), 6);
    assert_int_equal(tui_width(l.v[1]), 6);
    tui_lines_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_long_word_nothing_lost),
        cmocka_unit_test(test_paragraphs_and_escapes),
        cmocka_unit_test(test_utf8_columns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

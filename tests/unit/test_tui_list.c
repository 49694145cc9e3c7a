/* test_tui_list.c - the virtual list over a keyset-paged source: movement, paging, search,
 * filter, errors, and that a 1,000,000-row source costs only what the window shows. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui_list.h"
#include "tui_vec.h"
#include "util.h"

/* Rows 0..n-1 with key "%07ld"; a row matches text when its number's decimal contains it;
 * the filter keeps multiples of `mod` (mod 1 = all). fail_next makes the next fetch fail. */
struct numsrc {
    struct tui_source src;
    long n, mod;
    bool fail_next;
};

static long keynum(const char *k)
{
    return strtol(k, NULL, 10);
}

static void fill(struct tui_row *r, long i)
{
    snprintf(r->key, sizeof r->key, "%07ld", i);
    snprintf(r->cell[0], sizeof r->cell[0], "row %ld", i);
    r->elem = 0;
}

static bool keep(const struct numsrc *s, long i)
{
    return i % s->mod == 0;
}

static int num_fetch(struct tui_source *src, enum tui_fetch mode, const char *key,
                     struct tui_row *rows, int n)
{
    struct numsrc *s = src->ud;
    if (s->fail_next) {
        s->fail_next = false;
        dv_seterr("catalog.db: database is locked");
        return -1;
    }
    int got = 0;
    if (mode == TUI_BEFORE) {
        long i = key ? keynum(key) - 1 : s->n - 1;
        long start = i;
        while (i >= 0 && got < n) /* count back, then fill in order */
            got += keep(s, i--);
        int k = 0;
        for (long j = i + 1; j <= start && k < got; j++)
            if (keep(s, j))
                fill(&rows[k++], j);
        return got;
    }
    long i = key ? keynum(key) + (mode == TUI_AFTER) : 0;
    for (; i < s->n && got < n; i++)
        if (keep(s, i))
            fill(&rows[got++], i);
    return got;
}

static bool contains(long i, const char *text)
{
    char b[32];
    snprintf(b, sizeof b, "%ld", i);
    return strstr(b, text) != NULL;
}

static int num_search(struct tui_source *src, const char *text, const char *from, int dir,
                      char found[TUI_KEY_MAX])
{
    struct numsrc *s = src->ud;
    long i = from ? keynum(from) + dir : (dir > 0 ? 0 : s->n - 1);
    for (; i >= 0 && i < s->n; i += dir)
        if (keep(s, i) && contains(i, text)) {
            snprintf(found, TUI_KEY_MAX, "%07ld", i);
            return 1;
        }
    return 0;
}

static int num_filter(struct tui_source *src, const char *text)
{
    struct numsrc *s = src->ud;
    s->mod = text[0] ? atol(text) : 1;
    return 0;
}

static struct numsrc *num_new(long n)
{
    struct numsrc *s = dv_calloc(1, sizeof *s);
    s->n = n;
    s->mod = 1;
    s->src = (struct tui_source){.fetch = num_fetch,
                                 .search = num_search,
                                 .filter = num_filter,
                                 .free = (void (*)(struct tui_source *))NULL,
                                 .ud = s};
    return s;
}

static const struct tui_column cols[] = {{"Row", 0, TUI_LEFT}};

static long cur(const struct tui_list *l)
{
    const struct tui_row *r = tui_list_current(l);
    assert_non_null(r);
    return keynum(r->key);
}

static long top(const struct tui_list *l)
{
    return keynum(l->rows[0].key);
}

static void test_million_rows_cost_a_screen(void **state)
{
    (void)state;
    struct numsrc *s = num_new(1000000);
    struct tui_list l;
    tui_list_init(&l, cols, 1);
    assert_int_equal(tui_list_set_height(&l, 20), 0);
    assert_int_equal(tui_list_set_source(&l, &s->src), 0);
    assert_int_equal(l.nrows, 20);
    assert_int_equal(cur(&l), 0);
    assert_int_equal(tui_list_end(&l), 0);
    assert_int_equal(cur(&l), 999999);
    assert_int_equal(top(&l), 999980);
    assert_int_equal(tui_list_page_up(&l), 0);
    assert_int_equal(cur(&l), 999979);
    assert_int_equal(tui_list_home(&l), 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(tui_list_page_down(&l), 0);
    assert_int_equal(cur(&l), 2000);
    /* all of that fetched a few screens' worth of rows, never the whole list */
    assert_true(l.fetch_rows <= 20 * 110);
    assert_true(l.fetch_calls <= 110);
    tui_list_done(&l);
    free(s);
}

static void test_moves(void **state)
{
    (void)state;
    struct numsrc *s = num_new(50);
    struct tui_list l;
    tui_list_init(&l, cols, 1);
    assert_int_equal(tui_list_set_height(&l, 10), 0);
    assert_int_equal(tui_list_set_source(&l, &s->src), 0);
    assert_int_equal(tui_list_up(&l, 1), 0); /* at the top: stays */
    assert_int_equal(cur(&l), 0);
    for (int i = 0; i < 12; i++)
        assert_int_equal(tui_list_down(&l, 1), 0);
    assert_int_equal(cur(&l), 12);
    assert_int_equal(top(&l), 3); /* scrolled by the 3 rows that left the window */
    assert_int_equal(l.cursor, 9);
    assert_int_equal(tui_list_page_down(&l), 0);
    assert_int_equal(cur(&l), 22);
    assert_int_equal(tui_list_page_down(&l), 0);
    assert_int_equal(tui_list_page_down(&l), 0);
    assert_int_equal(tui_list_page_down(&l), 0);
    assert_int_equal(cur(&l), 49); /* clamped at the end */
    assert_int_equal(tui_list_down(&l, 1), 0);
    assert_int_equal(cur(&l), 49);
    assert_int_equal(top(&l), 40);
    assert_int_equal(tui_list_up(&l, 10), 0);
    assert_int_equal(cur(&l), 39);
    /* shrinking the window keeps the cursor row on screen, growing fills it */
    assert_int_equal(tui_list_set_height(&l, 3), 0);
    assert_int_equal(cur(&l), 39);
    assert_int_equal(tui_list_set_height(&l, 30), 0);
    assert_int_equal(cur(&l), 39);
    assert_int_equal(l.nrows, 30);
    assert_int_equal(top(&l), 20); /* pulled up from before so the screen is full */
    /* goto a row outside the window */
    assert_int_equal(tui_list_goto(&l, "0000005"), 0);
    assert_int_equal(cur(&l), 5);
    /* rows vanish under the list: reload copes */
    s->n = 8;
    assert_int_equal(tui_list_reload(&l), 0);
    assert_true(l.nrows <= 8);
    assert_int_equal(cur(&l), 5);
    s->n = 0;
    assert_int_equal(tui_list_reload(&l), 0);
    assert_int_equal(l.nrows, 0);
    assert_null(tui_list_current(&l));
    assert_int_equal(tui_list_down(&l, 1), 0);
    tui_list_done(&l);
    free(s);
}

static void test_search_and_filter(void **state)
{
    (void)state;
    struct numsrc *s = num_new(1000);
    struct tui_list l;
    tui_list_init(&l, cols, 1);
    assert_int_equal(tui_list_set_height(&l, 10), 0);
    assert_int_equal(tui_list_set_source(&l, &s->src), 0);
    bool wrapped;
    assert_int_equal(tui_list_find(&l, "77", 1, false, &wrapped), 1);
    assert_int_equal(cur(&l), 77);
    assert_false(wrapped);
    assert_int_equal(tui_list_find(&l, "77", 1, true, &wrapped), 1); /* still matches: stays */
    assert_int_equal(cur(&l), 77);
    assert_int_equal(tui_list_find(&l, "77", 1, false, &wrapped), 1);
    assert_int_equal(cur(&l), 177);
    assert_int_equal(tui_list_find(&l, "77", -1, false, &wrapped), 1);
    assert_int_equal(cur(&l), 77);
    assert_int_equal(tui_list_find(&l, "77", -1, false, &wrapped), 1);
    assert_int_equal(cur(&l), 977); /* wrapped to the end */
    assert_true(wrapped);
    assert_int_equal(tui_list_find(&l, "abc", 1, false, &wrapped), 0);
    assert_int_equal(cur(&l), 977);
    /* filter: multiples of 100 */
    assert_int_equal(tui_list_set_filter(&l, "100"), 0);
    assert_string_equal(l.filter, "100");
    assert_int_equal(l.nrows, 10);
    assert_int_equal(cur(&l), 0);
    assert_int_equal(tui_list_down(&l, 3), 0);
    assert_int_equal(cur(&l), 300);
    assert_int_equal(tui_list_set_filter(&l, ""), 0);
    assert_int_equal(l.nrows, 10);
    tui_list_done(&l);
    free(s);
}

static void test_errors_and_no_source(void **state)
{
    (void)state;
    struct numsrc *s = num_new(100);
    struct tui_list l;
    tui_list_init(&l, cols, 1);
    assert_int_equal(tui_list_set_height(&l, 10), 0);
    assert_null(tui_list_current(&l));
    assert_int_equal(tui_list_down(&l, 1), 0); /* no source: nothing happens */
    bool wrapped;
    assert_int_equal(tui_list_find(&l, "1", 1, false, &wrapped), -1);
    assert_string_equal(dv_err(), "this list cannot search");
    assert_int_equal(tui_list_set_source(&l, &s->src), 0);
    s->fail_next = true;
    assert_int_equal(tui_list_end(&l), -1);
    assert_string_equal(l.err, "catalog.db: database is locked");
    assert_int_equal(tui_list_home(&l), 0); /* next fetch works and clears the error */
    assert_string_equal(l.err, "");
    assert_int_equal(cur(&l), 0);
    tui_list_done(&l);
    free(s);
}

/* The in-memory source: order of adding, keys by index, tags, search and filter on cells and
 * tags, paging backwards. */
static void test_vec_source(void **state)
{
    (void)state;
    struct tui_source *src = tui_vec_new(2);
    char tag[16], a[16], b[16];
    for (int i = 0; i < 50; i++) {
        snprintf(tag, sizeof tag, "unid%02d", i);
        snprintf(a, sizeof a, "row %d", i);
        snprintf(b, sizeof b, "%s", i % 10 == 7 ? "gone" : "present");
        const char *cells[2] = {a, b};
        tui_vec_add(src, i, tag, cells);
    }
    assert_int_equal(tui_vec_len(src), 50);
    struct tui_row rows[8];
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 8), 8);
    assert_string_equal(rows[3].cell[0], "row 3");
    assert_int_equal(rows[3].elem, 3);
    assert_string_equal(tui_vec_tag(src, rows[3].key), "unid03");
    assert_int_equal(src->fetch(src, TUI_AFTER, rows[7].key, rows, 8), 8);
    assert_string_equal(rows[0].cell[0], "row 8");
    assert_int_equal(src->fetch(src, TUI_BEFORE, NULL, rows, 3), 3);
    assert_string_equal(rows[0].cell[0], "row 47");
    assert_string_equal(rows[2].cell[0], "row 49");
    char found[TUI_KEY_MAX];
    assert_int_equal(src->search(src, "GONE", NULL, 1, found), 1);
    assert_string_equal(tui_vec_tag(src, found), "unid07");
    assert_int_equal(src->search(src, "gone", found, 1, found), 1);
    assert_string_equal(tui_vec_tag(src, found), "unid17");
    assert_int_equal(src->search(src, "unid42", NULL, -1, found), 1); /* tags match too */
    assert_string_equal(tui_vec_tag(src, found), "unid42");
    assert_int_equal(src->search(src, "nothing", NULL, 1, found), 0);
    assert_int_equal(src->filter(src, "gone"), 0);
    assert_int_equal(src->count(src), 5);
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 8), 5);
    assert_string_equal(rows[4].cell[0], "row 47");
    assert_null(tui_vec_tag(src, "0000000999"));
    struct tui_list l;
    tui_list_init(&l, NULL, 2);
    assert_int_equal(tui_list_set_source(&l, src), 0); /* the list owns and frees it */
    tui_list_done(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_million_rows_cost_a_screen),
        cmocka_unit_test(test_moves),
        cmocka_unit_test(test_search_and_filter),
        cmocka_unit_test(test_errors_and_no_source),
        cmocka_unit_test(test_vec_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

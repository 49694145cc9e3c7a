/* test_tui_vec.c - the array row sources (tui_vec.h): tui_vec (rows added once, keyed by
 * index, tags) and tui_keys (a sorted array of keys, rows built on demand) share paging,
 * search, filter and count; each is checked directly and behind a tui_list. */
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

/* ---- tui_vec ---- */

static struct tui_source *vec50(void)
{
    struct tui_source *src = tui_vec_new(2);
    char tag[16], a[16], b[16];
    for (int i = 0; i < 50; i++) {
        snprintf(tag, sizeof tag, "unid%02d", i);
        snprintf(a, sizeof a, "row %d", i);
        snprintf(b, sizeof b, "%s", i % 10 == 7 ? "gone" : "present");
        const char *cells[2] = {a, b};
        tui_vec_add(src, i, i == 49 ? NULL : tag, cells);
    }
    return src;
}

static void test_vec_paging(void **state)
{
    (void)state;
    struct tui_source *src = vec50();
    assert_int_equal(tui_vec_len(src), 50);
    assert_int_equal(src->count(src), 50);
    struct tui_row rows[8];
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 8), 8);
    assert_string_equal(rows[0].key, "0000000000");
    assert_string_equal(rows[3].cell[0], "row 3");
    assert_string_equal(rows[3].cell[1], "present");
    assert_int_equal(rows[3].elem, 3);
    assert_string_equal(tui_vec_tag(src, rows[3].key), "unid03");
    assert_int_equal(src->fetch(src, TUI_FROM, rows[5].key, rows, 8), 8); /* >= key */
    assert_string_equal(rows[0].cell[0], "row 5");
    assert_int_equal(src->fetch(src, TUI_AFTER, rows[7].key, rows, 8), 8); /* > key */
    assert_string_equal(rows[0].cell[0], "row 13");
    assert_int_equal(src->fetch(src, TUI_AFTER, "0000000047", rows, 8), 2); /* the end */
    assert_string_equal(rows[1].cell[0], "row 49");
    assert_int_equal(src->fetch(src, TUI_AFTER, "0000000049", rows, 8), 0);
    assert_int_equal(src->fetch(src, TUI_BEFORE, NULL, rows, 3), 3); /* the last, in order */
    assert_string_equal(rows[0].cell[0], "row 47");
    assert_string_equal(rows[2].cell[0], "row 49");
    assert_int_equal(src->fetch(src, TUI_BEFORE, "0000000002", rows, 8), 2); /* the start */
    assert_string_equal(rows[0].cell[0], "row 0");
    assert_string_equal(rows[1].cell[0], "row 1");
    assert_null(tui_vec_tag(src, "0000000049")); /* added without a tag */
    assert_null(tui_vec_tag(src, "0000000999")); /* no such row */
    assert_null(tui_vec_tag(src, NULL));
    src->free(src);
}

static void test_vec_search_filter(void **state)
{
    (void)state;
    struct tui_source *src = vec50();
    char found[TUI_KEY_MAX];
    assert_int_equal(src->search(src, "GONE", NULL, 1, found), 1); /* any case, any cell */
    assert_string_equal(tui_vec_tag(src, found), "unid07");
    assert_int_equal(src->search(src, "gone", found, 1, found), 1); /* after from */
    assert_string_equal(tui_vec_tag(src, found), "unid17");
    assert_int_equal(src->search(src, "gone", NULL, -1, found), 1); /* from the end */
    assert_string_equal(tui_vec_tag(src, found), "unid47");
    assert_int_equal(src->search(src, "gone", found, -1, found), 1); /* before from */
    assert_string_equal(tui_vec_tag(src, found), "unid37");
    assert_int_equal(src->search(src, "unid42", NULL, -1, found), 1); /* tags match too */
    assert_string_equal(found, "0000000042");
    assert_int_equal(src->search(src, "nothing", NULL, 1, found), 0);
    assert_int_equal(src->search(src, "gone", "0000000047", 1, found), 0);
    assert_int_equal(src->filter(src, "gone"), 0);
    assert_int_equal(src->count(src), 5); /* the rows the filter keeps */
    assert_int_equal(src->pos(src, "0000000017"), 1);
    struct tui_row rows[8];
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 8), 5);
    assert_string_equal(rows[0].cell[0], "row 7");
    assert_string_equal(rows[4].cell[0], "row 47");
    assert_int_equal(src->fetch(src, TUI_BEFORE, "0000000037", rows, 2), 2);
    assert_string_equal(rows[0].cell[0], "row 17");
    assert_string_equal(rows[1].cell[0], "row 27");
    /* search sees only what the filter keeps */
    assert_int_equal(src->search(src, "row 1", NULL, 1, found), 1);
    assert_string_equal(found, "0000000017");
    assert_int_equal(src->filter(src, ""), 0);
    assert_int_equal(src->count(src), 50);
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 8), 8);
    src->free(src);
}

/* ---- tui_keys ---- */

struct keyud {
    char **keys;
    size_t n;
    int built; /* rows built: only those fetched */
    bool *done;
};

static void key_row(void *ud, size_t i, struct tui_row *r)
{
    struct keyud *k = ud;
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", k->keys[i]);
    snprintf(r->cell[0], sizeof r->cell[0], "#%zu", i);
    r->elem = (int)i;
    k->built++;
}

static void key_done(void *ud)
{
    struct keyud *k = ud;
    for (size_t i = 0; i < k->n; i++)
        free(k->keys[i]);
    free(k->keys);
    *k->done = true;
}

/* keys "db/NNNN.nsf" for NNNN = 0, 2, 4 ... 2(n-1) (sorted: zero-padded) */
static struct tui_source *keys_even(struct keyud *k, size_t n, bool *done)
{
    k->keys = dv_calloc(n ? n : 1, sizeof *k->keys);
    k->n = n;
    k->built = 0;
    k->done = done;
    for (size_t i = 0; i < n; i++)
        k->keys[i] = dv_asprintf("db/%04zu.nsf", 2 * i);
    return tui_keys_new(k->keys, n, key_row, key_done, k);
}

static void test_keys_paging(void **state)
{
    (void)state;
    struct keyud k;
    bool done = false;
    struct tui_source *src = keys_even(&k, 100, &done);
    assert_ptr_equal(tui_keys_ud(src), &k);
    assert_int_equal(src->count(src), 100);
    struct tui_row rows[5];
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 5), 5);
    assert_int_equal(k.built, 5); /* only the rows asked for are built */
    assert_string_equal(rows[0].key, "db/0000.nsf");
    assert_string_equal(rows[4].cell[0], "#4");
    /* a key between two rows: FROM and AFTER both start at the next one */
    assert_int_equal(src->fetch(src, TUI_FROM, "db/0011.nsf", rows, 2), 2);
    assert_string_equal(rows[0].key, "db/0012.nsf");
    assert_int_equal(src->fetch(src, TUI_FROM, "db/0012.nsf", rows, 2), 2);
    assert_string_equal(rows[0].key, "db/0012.nsf");
    assert_int_equal(src->fetch(src, TUI_AFTER, "db/0012.nsf", rows, 2), 2);
    assert_string_equal(rows[0].key, "db/0014.nsf");
    assert_int_equal(src->fetch(src, TUI_BEFORE, "db/0012.nsf", rows, 2), 2);
    assert_string_equal(rows[0].key, "db/0008.nsf");
    assert_string_equal(rows[1].key, "db/0010.nsf");
    assert_int_equal(src->fetch(src, TUI_BEFORE, NULL, rows, 2), 2);
    assert_string_equal(rows[1].key, "db/0198.nsf");
    assert_int_equal(src->fetch(src, TUI_AFTER, "db/0198.nsf", rows, 2), 0);
    assert_int_equal(src->fetch(src, TUI_BEFORE, "db/0000.nsf", rows, 2), 0);
    assert_int_equal(tui_keys_index(src, "db/0000.nsf"), 0);
    assert_int_equal(tui_keys_index(src, "db/0100.nsf"), 50);
    assert_int_equal(tui_keys_index(src, "db/0101.nsf"), 100); /* not a key: n */
    assert_int_equal(tui_keys_index(src, "zzz"), 100);
    assert_false(done);
    src->free(src);
    assert_true(done); /* done ran: the caller's keys are freed there */
}

static void test_keys_search_filter(void **state)
{
    (void)state;
    struct keyud k;
    bool done = false;
    struct tui_source *src = keys_even(&k, 100, &done);
    char found[TUI_KEY_MAX];
    assert_int_equal(src->search(src, "DB/005", NULL, 1, found), 1); /* any case */
    assert_string_equal(found, "db/0050.nsf");
    assert_int_equal(src->search(src, "db/005", found, 1, found), 1);
    assert_string_equal(found, "db/0052.nsf");
    assert_int_equal(src->search(src, "db/005", NULL, -1, found), 1);
    assert_string_equal(found, "db/0058.nsf");
    assert_int_equal(src->search(src, "db/005", "db/0051.nsf", -1, found), 1);
    assert_string_equal(found, "db/0050.nsf");
    assert_int_equal(src->search(src, "db/005", "db/0050.nsf", -1, found), 0);
    assert_int_equal(k.built, 0);               /* search looks at keys, builds no row */
    assert_int_equal(src->filter(src, "1"), 0); /* keys holding a 1 */
    assert_int_equal(src->count(src), 55);      /* 10..18 and 100..198 */
    struct tui_row rows[4];
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 4), 4);
    assert_string_equal(rows[0].key, "db/0010.nsf");
    assert_string_equal(rows[3].key, "db/0016.nsf");
    assert_int_equal(src->fetch(src, TUI_BEFORE, "db/0100.nsf", rows, 2), 2);
    assert_string_equal(rows[0].key, "db/0016.nsf");
    assert_string_equal(rows[1].key, "db/0018.nsf");
    src->free(src);
}

/* Behind a list: the list pages, searches and filters through the source and frees it. */
static void test_in_list(void **state)
{
    (void)state;
    static const struct tui_column cols[] = {{"Name", 0, TUI_LEFT}};
    struct keyud k;
    bool done = false;
    struct tui_list l;
    tui_list_init(&l, cols, 1);
    assert_int_equal(tui_list_set_source(&l, keys_even(&k, 1000, &done)), 0);
    assert_int_equal(tui_list_set_height(&l, 10), 0);
    assert_true(k.built <= 40); /* a screen's worth, not 1,000 rows */
    assert_int_equal(tui_list_end(&l), 0);
    assert_string_equal(tui_list_current(&l)->key, "db/1998.nsf");
    assert_int_equal(tui_list_home(&l), 0);
    bool wrapped = false;
    assert_int_equal(tui_list_find(&l, "db/0500", 1, false, &wrapped), 1);
    assert_string_equal(tui_list_current(&l)->key, "db/0500.nsf");
    assert_int_equal(tui_list_set_filter(&l, "99"), 0);
    assert_string_equal(tui_list_current(&l)->key, "db/0990.nsf");
    assert_int_equal(tui_list_set_source(&l, vec50()), 0); /* the old source is freed */
    assert_true(done);
    assert_null(tui_list_current(&l)); /* the filter stays: a refresh keeps it */
    assert_string_equal(l.filter, "99");
    assert_int_equal(tui_list_set_filter(&l, ""), 0);
    assert_int_equal(tui_list_down(&l, 3), 0);
    assert_string_equal(tui_list_current(&l)->cell[0], "row 3");
    tui_list_done(&l);
}

/* Sorting: in memory by a cell (numbers by value, ties in source order, keys unchanged), the
 * list's row position; a source without sort() is reversed by the list. */
static void test_sort(void **state)
{
    (void)state;
    struct tui_source *src = vec50();
    struct tui_row rows[8];
    assert_int_equal(src->sort(src, 1, false), 0); /* "gone" before "present" */
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 6), 6);
    assert_string_equal(rows[0].cell[0], "row 7");
    assert_string_equal(rows[4].cell[0], "row 47");
    assert_string_equal(rows[5].cell[0], "row 0");
    assert_string_equal(tui_vec_tag(src, rows[1].key), "unid17"); /* keys keep their rows */
    assert_int_equal(src->pos(src, rows[5].key), 5);
    assert_int_equal(src->fetch(src, TUI_AFTER, rows[4].key, rows, 1), 1);
    assert_string_equal(rows[0].cell[0], "row 0");
    assert_int_equal(src->fetch(src, TUI_BEFORE, rows[0].key, rows, 2), 2);
    assert_string_equal(rows[0].cell[0], "row 37");
    assert_string_equal(rows[1].cell[0], "row 47");
    assert_int_equal(src->sort(src, 0, true), 0); /* text: "row 9" > "row 8" > "row 7" */
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 3), 3);
    assert_string_equal(rows[0].cell[0], "row 9");
    assert_string_equal(rows[2].cell[0], "row 7");
    assert_int_equal(src->sort(src, -1, false), 0); /* the source's order again */
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 1), 1);
    assert_string_equal(rows[0].cell[0], "row 0");
    src->free(src);

    static const struct tui_column cols[] = {{"Name", 0, TUI_LEFT}, {"State", 8, TUI_LEFT}};
    struct tui_list l;
    tui_list_init(&l, cols, 2);
    assert_int_equal(tui_list_set_height(&l, 10), 0);
    assert_int_equal(tui_list_set_source(&l, vec50()), 0);
    assert_int_equal(tui_list_sort(&l, 1, false), 0);
    assert_string_equal(tui_list_current(&l)->cell[0], "row 7");
    char pos[64];
    assert_int_equal(tui_list_down(&l, 12), 0);
    tui_list_position(&l, pos, sizeof pos);
    assert_string_equal(pos, "row 13 of 50");
    assert_int_equal(tui_list_set_source(&l, vec50()), 0); /* a refresh keeps the order */
    assert_string_equal(tui_list_current(&l)->cell[0], "row 7");

    struct keyud k;
    bool done = false;
    struct tui_source *ks = keys_even(&k, 1000, &done);
    ks->sort = NULL; /* a keyset source that cannot sort: the list reverses it */
    ks->pos = NULL;
    assert_int_equal(tui_list_set_source(&l, ks), 0);
    assert_int_equal(tui_list_sort(&l, 1, false), -1); /* by its first column only */
    assert_int_equal(tui_list_sort(&l, 0, true), 0);
    assert_string_equal(tui_list_current(&l)->key, "db/1998.nsf");
    assert_int_equal(tui_list_down(&l, 15), 0);
    assert_string_equal(tui_list_current(&l)->key, "db/1968.nsf");
    tui_list_position(&l, pos, sizeof pos);
    assert_string_equal(pos, "row 16 of 1000"); /* counted while it scrolled */
    assert_int_equal(tui_list_up(&l, 15), 0);
    assert_string_equal(tui_list_current(&l)->key, "db/1998.nsf");
    assert_int_equal(tui_list_end(&l), 0);
    assert_string_equal(tui_list_current(&l)->key, "db/0000.nsf");
    tui_list_position(&l, pos, sizeof pos);
    assert_string_equal(pos, "row 1000 of 1000");
    bool wrapped;
    assert_int_equal(tui_list_home(&l), 0);
    assert_int_equal(tui_list_find(&l, "db/05", 1, false, &wrapped), 1);
    assert_string_equal(tui_list_current(&l)->key, "db/0598.nsf"); /* first in this order */
    tui_list_done(&l);
    assert_true(done);
}

/* ---- tui_sortable: a paged source (newest first, like the Sets list) sorted in memory ---- */

#define NPAGED 700 /* more than one snapshot chunk (256) */

static int paged_fetch(struct tui_source *s, enum tui_fetch mode, const char *key,
                       struct tui_row *rows, int n)
{
    (void)s;
    /* rows in order of descending seq (key "%06d" of seq): seq NPAGED first */
    int from = !key ? NPAGED : atoi(key) - (mode == TUI_AFTER ? 1 : 0);
    if (mode == TUI_BEFORE) {
        int top = !key ? 1 : atoi(key) + 1, k = 0;
        int hi = top + n - 1 > NPAGED ? NPAGED : top + n - 1;
        for (int seq = hi; seq >= top; seq--, k++) {
            memset(&rows[k], 0, sizeof rows[k]);
            snprintf(rows[k].key, sizeof rows[k].key, "%06d", seq);
            snprintf(rows[k].cell[0], sizeof rows[k].cell[0], "set%04d", seq);
            snprintf(rows[k].cell[1], sizeof rows[k].cell[1], "%s", seq % 3 ? "incr" : "full");
        }
        return k;
    }
    int k = 0;
    for (int seq = from; seq >= 1 && k < n; seq--, k++) {
        memset(&rows[k], 0, sizeof rows[k]);
        snprintf(rows[k].key, sizeof rows[k].key, "%06d", seq);
        snprintf(rows[k].cell[0], sizeof rows[k].cell[0], "set%04d", seq);
        snprintf(rows[k].cell[1], sizeof rows[k].cell[1], "%s", seq % 3 ? "incr" : "full");
    }
    return k;
}

static int paged_frees;
static void paged_free(struct tui_source *s)
{
    paged_frees++;
    free(s);
}

static void test_sortable(void **state)
{
    (void)state;
    struct tui_source *p = calloc(1, sizeof *p);
    *p = (struct tui_source){.fetch = paged_fetch, .free = paged_free};
    struct tui_source *src = tui_sortable_new(p, 2, 0, true);
    struct tui_row rows[4];
    /* its own order: paged as before, no search or filter there */
    assert_int_equal(src->sort(src, 0, true), 0);
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 2), 2);
    assert_string_equal(rows[0].cell[0], "set0700");
    assert_int_equal(src->count(src), -1);
    char found[TUI_KEY_MAX];
    assert_int_equal(src->search(src, "set0001", NULL, 1, found), -1);
    /* by Kind: every row read, full ones first (ties in the source's order), keys kept */
    assert_int_equal(src->sort(src, 1, false), 0);
    assert_int_equal(src->count(src), NPAGED);
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 2), 2);
    assert_string_equal(rows[0].cell[1], "full");
    assert_string_equal(rows[0].cell[0], "set0699");
    assert_string_equal(rows[0].key, "000699");
    assert_string_equal(rows[1].cell[0], "set0696");
    /* paging after a key in the sorted order, and before it */
    assert_int_equal(src->fetch(src, TUI_AFTER, "000696", rows, 1), 1);
    assert_string_equal(rows[0].cell[0], "set0693");
    assert_int_equal(src->fetch(src, TUI_BEFORE, "000696", rows, 1), 1);
    assert_string_equal(rows[0].cell[0], "set0699");
    /* the last full row is followed by the first incremental one (seq 700) */
    assert_int_equal(src->fetch(src, TUI_AFTER, "000003", rows, 1), 1);
    assert_string_equal(rows[0].cell[0], "set0700");
    assert_int_equal(src->pos(src, "000700"), NPAGED / 3);
    /* search and filter in the snapshot */
    assert_int_equal(src->search(src, "set0001", NULL, 1, found), 1);
    assert_string_equal(found, "000001");
    assert_int_equal(src->filter(src, "set000"), 0);
    assert_int_equal(src->count(src), 9);
    /* the natural column the other way: oldest first */
    assert_int_equal(src->sort(src, 0, false), 0);
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 1), 1);
    assert_string_equal(rows[0].cell[0], "set0001");
    src->free(src);
    assert_int_equal(paged_frees, 1);
}

/* Ages sort by their value: "20s" < "5m" < "3h 05m" < "8d 03h" (not as text or by the first
 * number) */
static void test_sort_ages(void **state)
{
    (void)state;
    struct tui_source *src = tui_vec_new(1);
    const char *ages[] = {"8d 03h", "20s", "3h 05m", "5m", "3h 10m", "45s"};
    for (int i = 0; i < 6; i++) {
        const char *cells[1] = {ages[i]};
        tui_vec_add(src, 0, NULL, cells);
    }
    assert_int_equal(src->sort(src, 0, false), 0);
    struct tui_row rows[6];
    assert_int_equal(src->fetch(src, TUI_FROM, NULL, rows, 6), 6);
    const char *want[] = {"20s", "45s", "5m", "3h 05m", "3h 10m", "8d 03h"};
    for (int i = 0; i < 6; i++)
        assert_string_equal(rows[i].cell[0], want[i]);
    src->free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vec_paging),  cmocka_unit_test(test_vec_search_filter),
        cmocka_unit_test(test_keys_paging), cmocka_unit_test(test_keys_search_filter),
        cmocka_unit_test(test_in_list),     cmocka_unit_test(test_sort),
        cmocka_unit_test(test_sortable),    cmocka_unit_test(test_sort_ages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_archive_anchor.c - archive_anchor (archive.h) on synthetic segments: where a replay for
 * a set starts, with transactions and on headers alone (what prune uses); a pruned archive
 * (first segment plain) is a base; the headers always name the segment the transactions do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "util.h"

#define MAXTX 8

/* A synthetic segment: flags, watch_from, observed times (0-terminated); an empty one has
 * first_us = last_us = the time it was written (as the archiver does). */
struct spec {
    uint32_t flags;
    int64_t watch, written;
    int64_t tx[MAXTX];
};

static struct archive_seg *build(const struct spec *sp, size_t n, bool heads)
{
    struct archive_seg *s = dv_calloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++) {
        s[i].seq = i + 1;
        s[i].flags = sp[i].flags;
        s[i].watch_from_us = sp[i].watch;
        size_t k = 0;
        while (k < MAXTX && sp[i].tx[k])
            k++;
        s[i].hdr_ntx = (uint32_t)k;
        s[i].first_us = k ? sp[i].tx[0] : sp[i].written;
        s[i].last_us = k ? sp[i].tx[k - 1] : sp[i].written;
        if (!heads) {
            s[i].txns = dv_calloc(k ? k : 1, sizeof *s[i].txns);
            s[i].ntxns = k;
            for (size_t j = 0; j < k; j++)
                s[i].txns[j].observed_us = sp[i].tx[j];
        }
    }
    return s;
}

static void free_segs(struct archive_seg *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].txns);
    free(s);
}

/* The anchor of a set started at start in sp[0..n): with transactions (*kt) and on headers
 * alone, which must agree; *after_idx: the index of the START/GAP named on -1, or -1. */
static long anchor(const struct spec *sp, size_t n, int64_t start, size_t *kt, long *after_idx)
{
    struct archive_seg *full = build(sp, n, false), *heads = build(sp, n, true);
    size_t hk = 99;
    const struct archive_seg *after = NULL, *hafter = NULL;
    long a = archive_anchor(full, n, start, kt, &after);
    long h = archive_anchor(heads, n, start, &hk, &hafter);
    assert_int_equal(a, h); /* the headers name the same segment */
    assert_int_equal(hk, 0);
    *after_idx = after ? (long)(after - full) : -1;
    assert_int_equal(*after_idx, hafter ? (long)(hafter - heads) : -1);
    free_segs(full, n);
    free_segs(heads, n);
    return a;
}

static const struct spec ARCHIVE[] = {
    {ARCHIVE_SEG_START, 100, 0, {110, 120}},
    {0, 0, 0, {130, 140}},
    {ARCHIVE_SEG_SEALED, 0, 150, {0}}, /* empty: written at 150 */
    {0, 0, 0, {200, 210}},
    {ARCHIVE_SEG_GAP, 300, 0, {300, 310}},
    {0, 0, 0, {320}},
};
#define NARCH (sizeof ARCHIVE / sizeof ARCHIVE[0])

static void test_whole_archive(void **state)
{
    (void)state;
    size_t kt;
    long after;
    assert_int_equal(anchor(ARCHIVE, NARCH, 105, &kt, &after), 0); /* watched from 100 */
    assert_int_equal(kt, 0);
    assert_int_equal(anchor(ARCHIVE, NARCH, 125, &kt, &after), 0);
    assert_int_equal(kt, 1);
    assert_int_equal(anchor(ARCHIVE, NARCH, 130, &kt, &after), 1); /* observed == start */
    assert_int_equal(kt, 0);
    /* an empty segment is no transaction: the anchor stays at the last one observed */
    assert_int_equal(anchor(ARCHIVE, NARCH, 160, &kt, &after), 1);
    assert_int_equal(kt, 1);
    assert_int_equal(anchor(ARCHIVE, NARCH, 205, &kt, &after), 3);
    assert_int_equal(kt, 0);
    /* a GAP watched from after the start ends the search */
    assert_int_equal(anchor(ARCHIVE, NARCH, 299, &kt, &after), 3);
    assert_int_equal(kt, 1);
    assert_int_equal(anchor(ARCHIVE, NARCH, 305, &kt, &after), 4);
    assert_int_equal(kt, 0);
    assert_int_equal(anchor(ARCHIVE, NARCH, INT64_MAX, &kt, &after), 5);
    /* the archive starts after the set began: refused, naming the START */
    assert_int_equal(anchor(ARCHIVE, NARCH, 99, &kt, &after), -1);
    assert_int_equal(after, 0);
}

static void test_pruned_archive(void **state)
{
    (void)state;
    size_t kt;
    long after;
    /* what prune leaves for a set started at 135: from segment 1 on (plain) */
    const struct spec *p = &ARCHIVE[1];
    size_t n = NARCH - 1;
    assert_int_equal(anchor(p, n, 135, &kt, &after), 0);
    assert_int_equal(kt, 0);
    assert_int_equal(anchor(p, n, 145, &kt, &after), 0);
    assert_int_equal(kt, 1);
    assert_int_equal(anchor(p, n, 205, &kt, &after), 2);
    /* a set older than what is left: no base; the message names the first segment, not the
     * later GAP */
    assert_int_equal(anchor(p, n, 125, &kt, &after), -1);
    assert_int_equal(after, -1);
    /* only a GAP left after the start: the GAP is named */
    assert_int_equal(anchor(&ARCHIVE[4], 2, 250, &kt, &after), -1);
    assert_int_equal(after, 0);
}

/* Random archives: observed times increase; empty segments, START/GAP records in between. The
 * headers give the same segment as the transactions, and every transaction before the anchor's
 * first is observed at or before the start (replaying from the anchor loses nothing). */
static void test_random_heads_match(void **state)
{
    (void)state;
    srand(13);
    for (int round = 0; round < 2000; round++) {
        struct spec sp[12];
        size_t n = 1 + (size_t)(rand() % 12);
        int64_t t = 1000;
        memset(sp, 0, sizeof sp);
        for (size_t i = 0; i < n; i++) {
            int r = rand() % 10;
            if (i == 0 && rand() % 4)
                r = 0; /* mostly a START first (unpruned) */
            if (r == 0 || r == 1) {
                sp[i].flags = i == 0 ? ARCHIVE_SEG_START : ARCHIVE_SEG_GAP;
                t += rand() % 5;
                sp[i].watch = t;
            }
            int k = rand() % 4 == 0 ? 0 : 1 + rand() % MAXTX;
            if (k == MAXTX)
                k--;
            for (int j = 0; j < k; j++) {
                t += rand() % 5;
                sp[i].tx[j] = t;
            }
            t += rand() % 3;
            sp[i].written = t;
        }
        for (int64_t start = 995; start <= t + 2; start++) {
            size_t kt;
            long after;
            long a = anchor(sp, n, start, &kt, &after);
            if (a < 0)
                continue;
            struct archive_seg *full = build(sp, n, false);
            /* everything before the anchor's transaction kt was observed by the start */
            for (long i = 0; i <= a; i++)
                for (size_t j = 0; j < full[i].ntxns && (i < a || j < kt); j++)
                    assert_true(full[i].txns[j].observed_us <= start);
            free_segs(full, n);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_archive),
        cmocka_unit_test(test_pruned_archive),
        cmocka_unit_test(test_random_heads_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_unbacked.c - the "not yet backed up" view (backend/unbacked.c): live objects of the
 * DAOS index that the catalog's pool does not hold, keyset-paged both ways across the
 * chunks it reads, with and without a catalog, and point lookups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "config.h"
#include "store.h"
#include "unbacked.h"
#include "util.h"

#define NOBJ 150 /* more than one chunk (64) of the index */

struct fx {
    char dir[64];
    struct dv_config cfg;
    char *globs[2];
    struct dv_store *st;
    struct catalog *cat;
    char live[NOBJ][STORE_NLO_NAME_LEN + 1]; /* every live name, ascending */
    char want[NOBJ][STORE_NLO_NAME_LEN + 1]; /* those not in the pool, ascending */
    size_t nwant;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    unbacked_chunk = 7; /* both cursors cross many pages */
    snprintf(f->dir, sizeof f->dir, "%s/dvunbacked.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    f->cfg.base_dir = dv_strdup(f->dir);
    f->cfg.server.data_dir = dv_asprintf("%s/data", f->dir);
    f->cfg.server.daos_dir = dv_asprintf("%s/data/daos", f->dir);
    f->globs[0] = dv_strdup("**/*.nsf");
    f->cfg.server.databases = f->globs;
    f->cfg.server.ndatabases = 1;
    f->cfg.server.max_files_per_subdir = 40;
    f->cfg.server.min_object_size = 1024;
    f->cfg.server.deferred_deletion_days = 30;
    f->cfg.server.key_file = dv_asprintf("%s/server.key", f->dir);
    f->cfg.catalog = dv_asprintf("%s/catalog.db", f->dir);
    f->st = store_open(&f->cfg);
    if (!f->st)
        fail_msg("store_open: %s", dv_err());
    struct store_db *db = store_db_create(f->st, "mail/a.nsf", "a");
    assert_non_null(db);
    unsigned char buf[2048];
    for (int i = 0; i < NOBJ; i++) {
        memset(buf, 0, sizeof buf);
        snprintf((char *)buf, sizeof buf, "attachment %d", i);
        struct store_att att = {.name = "a.bin", .data = buf, .size = sizeof buf};
        struct store_doc doc = {.form = "Memo", .subject = "s", .sender = "x", .body = "b"};
        assert_int_equal(store_doc_add(db, &doc, &att, 1, NULL), 0);
        store_nlo_name(buf, sizeof buf, f->live[i]);
    }
    store_db_close(db);
    qsort(f->live, NOBJ, sizeof f->live[0], cmp_name);
    /* the pool holds every third live name, and one name the server does not have */
    f->cat = catalog_open(f->cfg.catalog);
    assert_non_null(f->cat);
    struct catalog_pool_obj *po = dv_calloc(NOBJ + 8, sizeof *po);
    size_t np = 0;
    for (int i = 0; i < NOBJ; i++) {
        if (i % 3 == 0) {
            snprintf(po[np].name, sizeof po[np].name, "%s", f->live[i]);
            memset(po[np].sha256, 'a', 64);
            po[np].size = 2048;
            po[np].live_subdir = 1;
            po[np].first_set = 1;
            po[np++].stored_at = 1;
        } else {
            snprintf(f->want[f->nwant++], sizeof f->want[0], "%s", f->live[i]);
        }
    }
    /* and names the server does not have, between the live ones and after them */
    for (const char *c = "08c8f"; *c; c++) {
        memset(po[np].name, *c, 64);
        po[np].name[1] = (char)('0' + (c - "08c8f"));
        snprintf(po[np].name + 64, sizeof po[np].name - 64, "0000000000000800.nlo");
        memset(po[np].sha256, 'a', 64);
        po[np].size = 2048;
        po[np].live_subdir = 1;
        po[np].first_set = 1;
        po[np++].stored_at = 1;
    }
    assert_int_equal(catalog_pool_insert_batch(f->cat, po, np), 0);
    free(po);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    catalog_close(f->cat);
    store_free(f->st);
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->cfg.base_dir);
    free(f->cfg.server.data_dir);
    free(f->cfg.server.daos_dir);
    free(f->cfg.server.key_file);
    free(f->cfg.catalog);
    free(f->globs[0]);
    free(f);
    return 0;
}

/* Page through the view (forward or backward) max at a time; the names in *got. */
static size_t walk(struct fx *f, struct catalog *cat, bool backward, size_t max,
                   char (*got)[STORE_NLO_NAME_LEN + 1])
{
    struct store_object *o = dv_calloc(max, sizeof *o);
    char after[STORE_NLO_NAME_LEN + 1] = "";
    size_t total = 0;
    for (;;) {
        size_t n = 99999;
        if (unbacked_page(f->st, cat, after, backward, o, max, &n) != 0)
            fail_msg("unbacked_page: %s", dv_err());
        assert_true(n <= max);
        for (size_t i = 0; i < n; i++) {
            assert_true(total < NOBJ);
            snprintf(got[total++], sizeof got[0], "%s", o[i].name);
            assert_int_equal(o[i].size, 2048);
            assert_int_equal(o[i].refcount, 1);
            assert_true(o[i].subdir >= 1);
        }
        if (n < max)
            break;
        snprintf(after, sizeof after, "%s", o[n - 1].name);
    }
    free(o);
    return total;
}

static void test_forward_pages(void **state)
{
    struct fx *f = *state;
    static char got[NOBJ][STORE_NLO_NAME_LEN + 1];
    size_t sizes[] = {1, 7, 64, 100, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = walk(f, f->cat, false, sizes[s], got);
        assert_int_equal(n, f->nwant);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(got[i], f->want[i]);
    }
}

static void test_backward_pages(void **state)
{
    struct fx *f = *state;
    static char got[NOBJ][STORE_NLO_NAME_LEN + 1];
    size_t sizes[] = {1, 9, 65, 1000};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = walk(f, f->cat, true, sizes[s], got);
        assert_int_equal(n, f->nwant);
        for (size_t i = 0; i < n; i++)
            assert_string_equal(got[i], f->want[f->nwant - 1 - i]);
    }
}

static void test_from_the_middle(void **state)
{
    struct fx *f = *state;
    struct store_object o[5];
    size_t n;
    /* after a pooled name: the next unbacked ones */
    assert_int_equal(unbacked_page(f->st, f->cat, f->live[30], false, o, 5, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(o[0].name, f->live[31]);
    assert_string_equal(o[1].name, f->live[32]);
    assert_string_equal(o[2].name, f->live[34]);
    assert_int_equal(unbacked_page(f->st, f->cat, f->live[30], true, o, 5, &n), 0);
    assert_int_equal(n, 5);
    assert_string_equal(o[0].name, f->live[29]);
    assert_string_equal(o[1].name, f->live[28]);
    assert_string_equal(o[2].name, f->live[26]);
    /* past the last name: nothing */
    assert_int_equal(unbacked_page(f->st, f->cat, f->live[NOBJ - 1], false, o, 5, &n), 0);
    assert_int_equal(n, 0);
}

static void test_no_catalog(void **state)
{
    struct fx *f = *state;
    static char got[NOBJ][STORE_NLO_NAME_LEN + 1];
    size_t n = walk(f, NULL, false, 10, got);
    assert_int_equal(n, NOBJ);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got[i], f->live[i]);
}

static void test_get(void **state)
{
    struct fx *f = *state;
    struct store_object o;
    assert_int_equal(unbacked_get(f->st, f->cat, f->live[0], &o), 0); /* in the pool */
    assert_int_equal(unbacked_get(f->st, f->cat, f->live[1], &o), 1);
    assert_string_equal(o.name, f->live[1]);
    assert_int_equal(o.refcount, 1);
    assert_int_equal(unbacked_get(f->st, NULL, f->live[0], NULL), 1); /* no catalog */
    char gone[STORE_NLO_NAME_LEN + 1];
    memset(gone, 'f', 64);
    snprintf(gone + 64, sizeof gone - 64, "0000000000000800.nlo");
    assert_int_equal(unbacked_get(f->st, f->cat, gone, &o), 0); /* pooled, not live */
    assert_int_equal(unbacked_get(f->st, NULL, gone, &o), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_pages),
        cmocka_unit_test(test_backward_pages),
        cmocka_unit_test(test_from_the_middle),
        cmocka_unit_test(test_no_catalog),
        cmocka_unit_test(test_get),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

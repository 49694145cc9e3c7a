/* test_target_where.c - where the configured target is, from the configuration alone
 * (backend/target_where.h; issue 17): a directory, an S3 bucket with and without a prefix,
 * the defaults (region, lock mode), the Object Lock text, values cut rather than overrun. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "target_where.h"

static void test_directory(void **state)
{
    (void)state;
    struct dv_config cfg;
    dv_config_defaults(&cfg, "/srv/dv");
    struct target_where w;
    target_where_cfg(&cfg, &w);
    assert_int_equal(w.kind, TARGET_KIND_DIR);
    assert_string_equal(w.url, "/srv/dv/var/backup");
    assert_string_equal(w.endpoint, "");
    assert_int_equal(w.lock_days, 0);
    assert_string_equal(w.lock_mode, "");
    char t[64];
    target_where_lock_text(&w, t, sizeof t);
    assert_string_equal(t, "no Object Lock: a directory target");
    dv_config_done(&cfg);
}

static void test_s3(void **state)
{
    (void)state;
    struct dv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.backup.target = "s3://bkt/srv1";
    cfg.backup.s3.bucket = "bkt";
    cfg.backup.s3.prefix = "srv1/a";
    cfg.backup.s3.endpoint = "http://127.0.0.1:7480";
    struct target_where w;
    target_where_cfg(&cfg, &w);
    assert_int_equal(w.kind, TARGET_KIND_S3);
    assert_string_equal(w.url, "s3://bkt/srv1/a");
    assert_string_equal(w.endpoint, "http://127.0.0.1:7480");
    assert_string_equal(w.region, "us-east-1"); /* the default */
    assert_string_equal(w.cache, "");
    char t[64];
    target_where_lock_text(&w, t, sizeof t);
    assert_string_equal(t, "no Object Lock (object_lock_days: 0)");
    /* no prefix: the bucket alone; lock days with the default mode, one day singular */
    cfg.backup.s3.prefix = "";
    cfg.backup.s3.region = "eu-west-1";
    cfg.backup.s3.object_lock_days = 1;
    target_where_cfg(&cfg, &w);
    assert_string_equal(w.url, "s3://bkt");
    assert_string_equal(w.region, "eu-west-1");
    assert_string_equal(w.lock_mode, "governance");
    target_where_lock_text(&w, t, sizeof t);
    assert_string_equal(t, "governance, 1 day");
    cfg.backup.s3.object_lock_days = 30;
    cfg.backup.s3.object_lock_mode = "compliance";
    target_where_cfg(&cfg, &w);
    target_where_lock_text(&w, t, sizeof t);
    assert_string_equal(t, "compliance, 30 days");
    /* no endpoint (AWS): empty, the callers say so */
    cfg.backup.s3.endpoint = NULL;
    target_where_cfg(&cfg, &w);
    assert_string_equal(w.endpoint, "");
}

static void test_long_values_cut(void **state)
{
    (void)state;
    struct dv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    char *big = malloc(10000);
    assert_non_null(big);
    memset(big, 'e', 9999);
    big[9999] = 0;
    cfg.backup.s3.bucket = "bkt";
    cfg.backup.s3.prefix = big;
    cfg.backup.s3.endpoint = big;
    cfg.backup.s3.cache = big;
    cfg.backup.s3.object_lock_days = 5;
    cfg.backup.s3.object_lock_mode = big;
    struct target_where w;
    target_where_cfg(&cfg, &w);
    assert_int_equal(strlen(w.url), sizeof w.url - 1);
    assert_memory_equal(w.url, "s3://bkt/eee", 12);
    assert_int_equal(strlen(w.endpoint), sizeof w.endpoint - 1);
    assert_int_equal(strlen(w.cache), sizeof w.cache - 1);
    assert_int_equal(strlen(w.lock_mode), sizeof w.lock_mode - 1);
    char t[8];
    target_where_lock_text(&w, t, sizeof t);
    assert_int_equal(strlen(t), 7);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directory),
        cmocka_unit_test(test_s3),
        cmocka_unit_test(test_long_values_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

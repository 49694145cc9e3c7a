/* test_target_read.c - the readers' helpers (target_read.h) on a directory target: names for
 * messages, fetch-and-open (links and FIFOs refused), recorded locations, the set and pool
 * names from the target, Object Lock's retain-until text. */
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

#include "config.h"
#include "dvtmp.h"
#include "target.h"
#include "target_read.h"
#include "util.h"

struct fx {
    char dir[256];
    char *tpath;
    struct target *t;
};

static void put(const char *dir, const char *rel, const char *text)
{
    char *p = dv_path_join(dir, rel);
    char *d = dv_dirname(p);
    char *cmd = dv_asprintf("mkdir -p '%s'", d);
    assert_int_equal(system(cmd), 0);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(cmd);
    free(d);
    free(p);
}

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "tread"));
    f->tpath = dv_path_join(f->dir, "backup");
    struct target_identity tid;
    if (target_init(f->tpath, NULL, &tid, NULL) != 0)
        fail_msg("%s", dv_err());
    if (!(f->t = target_open(f->tpath)))
        fail_msg("%s", dv_err());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    target_close(f->t);
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->tpath);
    free(f);
    return 0;
}

static void test_name_and_open(void **state)
{
    struct fx *f = *state;
    char *n = target_name_of(f->t, "sets/x/manifest.json");
    char *want = dv_asprintf("%s/sets/x/manifest.json", f->tpath);
    assert_string_equal(n, want); /* a directory: its path, as messages always said */
    free(n);
    free(want);
    put(f->tpath, "sets/20261129-101010/db/a.nsf", "copy");
    int fd = target_fetch_open(f->t, "sets/20261129-101010/db/a.nsf");
    assert_true(fd >= 0);
    char buf[8] = "";
    assert_int_equal(read(fd, buf, sizeof buf), 4);
    close(fd);
    target_evict(f->t, "sets/20261129-101010/db/a.nsf"); /* a directory: nothing happens */
    struct stat st;
    char *p = dv_path_join(f->tpath, "sets/20261129-101010/db/a.nsf");
    assert_int_equal(stat(p, &st), 0);
    /* a FIFO in place of a copy: refused at once with the message restore always gave */
    char *fifo = dv_path_join(f->tpath, "sets/20261129-101010/db/b.nsf");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(target_fetch_open(f->t, "sets/20261129-101010/db/b.nsf"), -1);
    assert_non_null(strstr(dv_err(), "is a FIFO, not a regular file"));
    /* a link: never followed */
    char *lnk = dv_path_join(f->tpath, "sets/20261129-101010/db/c.nsf");
    assert_int_equal(symlink(p, lnk), 0);
    assert_int_equal(target_fetch_open(f->t, "sets/20261129-101010/db/c.nsf"), -1);
    /* missing: ENOENT */
    assert_int_equal(target_fetch_open(f->t, "sets/20261129-101010/db/none.nsf"), -1);
    assert_int_equal(errno, ENOENT);
    free(p);
    free(fifo);
    free(lnk);
}

static void test_fetch_loc(void **state)
{
    struct fx *f = *state;
    put(f->tpath, "sets/20261129-101010/db/a.nsf.delta", "d");
    char *rel = NULL;
    /* recorded target-relative (in its set) */
    assert_int_equal(target_fetch_loc(f->t, "sets/20261129-101010/db/a.nsf.delta", &rel), 0);
    assert_string_equal(rel, "sets/20261129-101010/db/a.nsf.delta");
    target_evict_loc(f->t, rel);
    /* absolute below the target (older catalogs) */
    char *abs = dv_path_join(f->tpath, "sets/20261129-101010/db/a.nsf.delta");
    assert_int_equal(target_fetch_loc(f->t, abs, &rel), 0);
    assert_string_equal(rel, "sets/20261129-101010/db/a.nsf.delta");
    target_evict_loc(f->t, rel);
    free(abs);
    /* outside the target (moved by a post command): nothing fetched */
    assert_int_equal(target_fetch_loc(f->t, "/elsewhere/x.delta", &rel), 0);
    assert_null(rel);
    /* unsafe */
    assert_int_equal(target_fetch_loc(f->t, "sets/../../x.delta", &rel), -1);
    assert_null(rel);
}

struct seen {
    char v[16][128];
    int n;
};

static int seen_cb(void *ud, const char *name)
{
    struct seen *s = ud;
    if (s->n < 16)
        snprintf(s->v[s->n++], sizeof s->v[0], "%s", name);
    return 0;
}

static bool has(const struct seen *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return true;
    return false;
}

static void test_names(void **state)
{
    struct fx *f = *state;
    put(f->tpath, "sets/20261129-101010/manifest.json", "{}");
    put(f->tpath, "sets/20261129-101011.failed/manifest.json", "{}");
    struct seen s = {0};
    assert_int_equal(target_set_names(f->t, seen_cb, &s), 0);
    assert_true(has(&s, "20261129-101010"));
    assert_true(has(&s, "20261129-101011.failed"));
    const char *a = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef00000000000000"
                    "04.nlo";
    char rel[128];
    target_pool_relpath(a, rel, sizeof rel);
    put(f->tpath, rel, "n");
    /* a valid name in the wrong pool directory is not at its pool path: not a pool object */
    char *wrong = dv_asprintf("nlo/fff/%s", a);
    put(f->tpath, wrong, "n");
    put(f->tpath, "nlo/012/not-an-nlo", "x");
    struct seen p = {0};
    assert_int_equal(target_pool_names(f->t, seen_cb, &p), 0);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.v[0], a);
    free(wrong);
}

static void test_iso_time(void **state)
{
    (void)state;
    assert_int_equal(target_parse_iso_time("1970-01-02T00:00:00Z"), 86400);
    assert_int_equal(target_parse_iso_time("1970-01-02T00:00:00.000Z"), 86400);
    /* a fraction ends later than the whole second: rounded up, never early */
    assert_int_equal(target_parse_iso_time("1970-01-02T00:00:00.250Z"), 86401);
    assert_int_equal(target_parse_iso_time("2026-11-30T19:15:41.123456789Z"), 1796066142);
    assert_int_equal(target_parse_iso_time("not a time"), 0);
    assert_int_equal(target_parse_iso_time("2026-11-30T19:15:41+02:00"), 0);
}

static void test_lockq_dir(void **state)
{
    struct fx *f = *state;
    struct dv_config cfg;
    memset(&cfg, 0, sizeof cfg);
    struct target_lockq *q = target_lockq_open(f->t, &cfg);
    assert_non_null(q);
    int64_t until = 99;
    assert_int_equal(target_lockq_until(q, "sets/x/manifest.json", &until), 0);
    assert_int_equal(until, 0); /* a directory has no Object Lock */
    target_lockq_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_name_and_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_loc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names, setup, teardown),
        cmocka_unit_test(test_iso_time),
        cmocka_unit_test_setup_teardown(test_lockq_dir, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

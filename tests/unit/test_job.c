/* test_job.c - the job history (job.h): a job records its row and events into an existing
 * catalog only, keeps the caller's event callback and dv_err(), is recorded once when one entry
 * point runs another, and job_history lists it newest first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "job.h"
#include "util.h"

struct fx {
    char dir[64];
    char *path;
};

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof f->dir, "%s/dvtest-job-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    f->path = dv_path_join(f->dir, "catalog.db");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->path);
    free(f);
    return 0;
}

static void make_catalog(const char *path)
{
    struct catalog *c = catalog_open(path);
    if (!c)
        fail_msg("%s", dv_err());
    catalog_close(c);
}

struct seen {
    int n;
    char last[256];
};

static void on_event(void *ud, enum dv_level level, const char *msg)
{
    (void)level;
    struct seen *s = ud;
    s->n++;
    snprintf(s->last, sizeof s->last, "%s", msg);
}

/* No catalog: nothing recorded, nothing created; a NULL job gets the record's own. */
static void test_no_catalog(void **state)
{
    struct fx *f = *state;
    struct job_record rec;
    struct dv_job *j = job_record_begin(&rec, f->path, "verify", NULL);
    assert_non_null(j);
    job_log(j, DV_INFO, "hello");
    dv_seterr("the job's own error");
    job_record_end(&rec, -1, NULL);
    assert_int_not_equal(access(f->path, F_OK), 0);
    assert_string_equal(dv_err(), "the job's own error");
    struct catalog_job jobs[4];
    size_t n = 99;
    assert_int_equal(job_history(f->path, 0, jobs, 4, &n), 0);
    assert_int_equal(n, 0);
    assert_int_not_equal(access(f->path, F_OK), 0);
}

/* A row and its events; the caller's callback still called; an inner entry point (doc copy
 * recovers NLOs with the same job) is not recorded again; failed keeps dv_err(). */
static void test_record(void **state)
{
    struct fx *f = *state;
    make_catalog(f->path);
    struct seen seen = {0};
    struct dv_job job;
    job_init(&job, "doccopy");
    job.on_event = on_event;
    job.event_ud = &seen;
    struct job_record outer, inner;
    struct dv_job *j = job_record_begin(&outer, f->path, "doccopy", &job);
    assert_ptr_equal(j, &job);
    assert_true(job.catalog_job_id > 0);
    int64_t id = job.catalog_job_id;
    job_log(j, DV_WARN, "copying into another database");
    struct dv_job *j2 = job_record_begin(&inner, f->path, "recover", j);
    assert_ptr_equal(j2, &job);
    job_log(j2, DV_INFO, "recovered 2");
    job_record_end(&inner, 0, "2 recovered");
    assert_int_equal(job.catalog_job_id, id); /* the outer one still records */
    dv_seterr("document X: no such document");
    job_record_end(&outer, -1, "never used");
    assert_string_equal(dv_err(), "document X: no such document");
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.last, "recovered 2");
    assert_ptr_equal(job.on_event, on_event); /* restored */
    assert_int_equal(job.catalog_job_id, 0);

    j = job_record_begin(&outer, f->path, "verify", NULL);
    job_record_end(&outer, 0, "0 problem(s)");

    struct catalog_job jobs[8];
    size_t n = 0;
    assert_int_equal(job_history(f->path, 0, jobs, 8, &n), 0);
    assert_int_equal(n, 2); /* the inner recover is no job of its own */
    assert_string_equal(jobs[0].kind, "verify");
    assert_string_equal(jobs[0].status, "ok");
    assert_string_equal(jobs[0].message, "0 problem(s)");
    assert_string_equal(jobs[1].kind, "doccopy");
    assert_string_equal(jobs[1].status, "failed");
    assert_string_equal(jobs[1].message, "document X: no such document");
    assert_true(jobs[1].ended > 0);
    /* older than the newest: paging */
    assert_int_equal(job_history(f->path, jobs[0].id, jobs, 8, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(jobs[0].id, id);

    struct catalog *c = catalog_open(f->path);
    assert_non_null(c);
    struct catalog_event ev[8];
    assert_int_equal(catalog_events_page(c, id, 0, ev, 8, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].message, "copying into another database");
    assert_int_equal(ev[0].level, DV_WARN);
    assert_string_equal(ev[1].message, "recovered 2");
    catalog_close(c);
    job_done(&job);
}

/* A cancelled job is recorded cancelled. */
static void test_cancelled(void **state)
{
    struct fx *f = *state;
    make_catalog(f->path);
    struct job_record rec;
    struct dv_job *j = job_record_begin(&rec, f->path, "restore", NULL);
    job_cancel(j);
    dv_seterr("cancelled");
    job_record_end(&rec, -1, NULL);
    struct catalog_job jobs[2];
    size_t n = 0;
    assert_int_equal(job_history(f->path, 0, jobs, 2, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(jobs[0].status, "cancelled");
    assert_string_equal(jobs[0].message, "cancelled");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_catalog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancelled, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

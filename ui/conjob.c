/* conjob.c - see conjob.h. */
#include "conjob.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 256

struct runner {
    pthread_mutex_t mu; /* guards the ring */
    struct conjob_event ring[RING];
    uint64_t nevents; /* ever logged; ring holds the last min(RING, nevents) */
    /* the job (valid while active) */
    bool active;
    atomic_bool finished;
    pthread_t th;
    struct dv_job job;
    struct conjob_spec spec;
    char kind[32], title[128];
    const struct dv_config *cfg;
    int rc;
    char error[DV_ERR_MAX];
    char summary[512];
    double started, ended;
};

static struct runner R = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void ring_add(int level, const char *msg)
{
    pthread_mutex_lock(&R.mu);
    struct conjob_event *e = &R.ring[R.nevents % RING];
    e->time = dv_now();
    e->level = level;
    snprintf(e->msg, sizeof e->msg, "%s", msg);
    R.nevents++;
    pthread_mutex_unlock(&R.mu);
}

void conjob_note(int level, const char *fmt, ...)
{
    char buf[DV_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ring_add(level, buf);
}

size_t conjob_events(struct conjob_event *out, size_t max, uint64_t *total)
{
    pthread_mutex_lock(&R.mu);
    uint64_t have = R.nevents < RING ? R.nevents : RING;
    if (have > max)
        have = max;
    for (uint64_t i = 0; i < have; i++)
        out[i] = R.ring[(R.nevents - have + i) % RING];
    if (total)
        *total = R.nevents;
    pthread_mutex_unlock(&R.mu);
    return (size_t)have;
}

/* on_event of the job: the worker's thread. */
static void on_event(void *ud, enum dv_level level, const char *msg)
{
    (void)ud;
    char buf[DV_ERR_MAX];
    snprintf(buf, sizeof buf, "%s: %s", R.kind, msg);
    ring_add((int)level, buf);
}

/* The job records itself in the catalog's job history (job.h, job_record_begin): the runner
 * only runs it. */
static void *worker(void *arg)
{
    (void)arg;
    R.rc = R.spec.run(R.spec.arg, &R.job, R.summary, sizeof R.summary);
    if (R.rc != 0)
        snprintf(R.error, sizeof R.error, "%s", dv_err()); /* dv_err is per thread */
    R.ended = dv_mono();
    atomic_store(&R.finished, true);
    return NULL;
}

int conjob_start(const struct dv_config *cfg, const struct conjob_spec *spec)
{
    if (R.active) {
        dv_seterr("a job is running: %s (wait for it or cancel it on the Jobs screen)", R.title);
        if (spec->free_arg)
            spec->free_arg(spec->arg);
        return -1;
    }
    R.spec = *spec;
    R.cfg = cfg;
    snprintf(R.kind, sizeof R.kind, "%s", spec->kind);
    snprintf(R.title, sizeof R.title, "%s", spec->title ? spec->title : spec->kind);
    R.rc = 0;
    R.error[0] = R.summary[0] = 0;
    job_init(&R.job, spec->kind);
    R.job.on_event = on_event;
    R.started = dv_mono();
    atomic_store(&R.finished, false);
    int e = pthread_create(&R.th, NULL, worker, NULL);
    if (e != 0) {
        errno = e;
        dv_syserr("start %s", R.title);
        job_done(&R.job);
        if (spec->free_arg)
            spec->free_arg(spec->arg);
        return -1;
    }
    R.active = true;
    conjob_note(DV_INFO, "%s started", R.title);
    return 0;
}

bool conjob_running(void)
{
    return R.active;
}

bool conjob_finished(void)
{
    return R.active && atomic_load(&R.finished);
}

bool conjob_snapshot(struct dv_progress *out, char *title, size_t n)
{
    if (!R.active)
        return false;
    job_snapshot(&R.job, out);
    if (title)
        snprintf(title, n, "%s", R.title);
    return true;
}

void conjob_cancel(void)
{
    if (R.active && !atomic_load(&R.finished)) {
        job_cancel(&R.job);
        conjob_note(DV_WARN, "%s: cancel requested", R.title);
    }
}

bool conjob_collect(struct conjob_result *r)
{
    if (!R.active || !atomic_load(&R.finished))
        return false;
    pthread_join(R.th, NULL);
    memset(r, 0, sizeof *r);
    snprintf(r->kind, sizeof r->kind, "%s", R.kind);
    snprintf(r->title, sizeof r->title, "%s", R.title);
    r->rc = R.rc;
    r->cancelled = job_cancelled(&R.job);
    snprintf(r->error, sizeof r->error, "%s", R.error);
    snprintf(r->summary, sizeof r->summary, "%s", R.summary);
    r->seconds = R.ended - R.started;
    if (R.rc == 0)
        conjob_note(DV_INFO, "%s done in %.1fs%s%s", R.title, r->seconds, R.summary[0] ? ": " : "",
                    R.summary);
    else
        conjob_note(DV_ERROR, "%s %s: %s", R.title, r->cancelled ? "cancelled" : "failed", R.error);
    job_done(&R.job);
    R.active = false;
    if (R.spec.on_done)
        R.spec.on_done(R.spec.arg, r, R.spec.ud);
    if (R.spec.free_arg)
        R.spec.free_arg(R.spec.arg);
    return true;
}

int conjob_stop(double timeout, struct conjob_result *r)
{
    memset(r, 0, sizeof *r);
    if (!R.active)
        return 0;
    snprintf(r->kind, sizeof r->kind, "%s", R.kind);
    snprintf(r->title, sizeof r->title, "%s", R.title);
    bool was_running = !atomic_load(&R.finished);
    if (was_running)
        conjob_cancel();
    double end = dv_mono() + timeout;
    const struct timespec tick = {0, 20 * 1000 * 1000};
    while (!atomic_load(&R.finished) && dv_mono() < end)
        nanosleep(&tick, NULL);
    if (!atomic_load(&R.finished))
        return -1;
    conjob_collect(r);
    return was_running && r->rc != 0 ? 1 : 0;
}

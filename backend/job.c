/* job.c - see job.h. */
#include "job.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "util.h"

void job_init(struct dv_job *j, const char *kind)
{
    memset(j, 0, sizeof *j);
    snprintf(j->kind, sizeof j->kind, "%s", kind);
    pthread_mutex_init(&j->mu, NULL);
    atomic_init(&j->cancel, 0);
    j->p.started = j->p.phase_started = dv_mono();
}

void job_done(struct dv_job *j)
{
    if (j)
        pthread_mutex_destroy(&j->mu);
}

static void report(struct dv_job *j, double now)
{
    j->last_report = now;
    if (j->on_progress) {
        struct dv_progress copy;
        job_snapshot(j, &copy);
        j->on_progress(j->progress_ud, &copy);
    }
}

void job_phase(struct dv_job *j, const char *phase, uint64_t items_total, uint64_t bytes_total)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    snprintf(j->p.phase, sizeof j->p.phase, "%s", phase);
    j->p.item[0] = '\0';
    j->p.items_done = j->p.bytes_done = 0;
    j->p.items_total = items_total;
    j->p.bytes_total = bytes_total;
    j->p.phase_started = dv_mono();
    pthread_mutex_unlock(&j->mu);
    report(j, dv_mono());
}

void job_advance(struct dv_job *j, uint64_t items, uint64_t bytes, const char *item)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    j->p.items_done += items;
    j->p.bytes_done += bytes;
    if (item)
        snprintf(j->p.item, sizeof j->p.item, "%s", item);
    pthread_mutex_unlock(&j->mu);
    if (!j->on_progress)
        return;
    double now = dv_mono();
    if (now - j->last_report >= 0.1)
        report(j, now);
}

void job_flush(struct dv_job *j)
{
    if (j)
        report(j, dv_mono());
}

bool job_cancelled(struct dv_job *j)
{
    return j && atomic_load(&j->cancel) != 0;
}

void job_cancel(struct dv_job *j)
{
    if (j)
        atomic_store(&j->cancel, 1);
}

void job_log(struct dv_job *j, enum dv_level level, const char *fmt, ...)
{
    if (!j || !j->on_event)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    j->on_event(j->event_ud, level, msg);
}

void job_snapshot(struct dv_job *j, struct dv_progress *out)
{
    pthread_mutex_lock(&j->mu);
    *out = j->p;
    pthread_mutex_unlock(&j->mu);
}

void job_rate(const struct dv_progress *p, double now, double *rate, double *eta)
{
    double el = now - p->phase_started;
    *rate = 0;
    *eta = -1;
    if (el <= 0.05)
        return;
    if (p->bytes_total > 0 || p->bytes_done > 0) {
        *rate = (double)p->bytes_done / el;
        if (p->bytes_total > p->bytes_done && *rate > 0)
            *eta = (double)(p->bytes_total - p->bytes_done) / *rate;
        else if (p->bytes_total && p->bytes_done >= p->bytes_total)
            *eta = 0;
    } else {
        *rate = (double)p->items_done / el;
        if (p->items_total > p->items_done && *rate > 0)
            *eta = (double)(p->items_total - p->items_done) / *rate;
    }
}

/* ---- the job history -------------------------------------------------------------------- */

/* on_event of a recorded job: the caller's callback, then the catalog. */
static void record_event(void *ud, enum dv_level level, const char *msg)
{
    struct job_record *rec = ud;
    if (rec->prev_fn)
        rec->prev_fn(rec->prev_ud, level, msg);
    char saved[DV_ERR_MAX];
    snprintf(saved, sizeof saved, "%s", dv_err());
    catalog_event_add(rec->cat, rec->id, dv_now(), (int)level, msg); /* best effort */
    dv_seterr("%s", saved);
}

struct dv_job *job_record_begin(struct job_record *rec, const char *catalog_path, const char *kind,
                                struct dv_job *job)
{
    memset(rec, 0, sizeof *rec);
    if (!job) {
        job_init(&rec->own, kind);
        job = &rec->own;
    }
    rec->job = job;
    if (job->catalog_job_id > 0 || !catalog_path)
        return job;
    char saved[DV_ERR_MAX];
    snprintf(saved, sizeof saved, "%s", dv_err());
    rec->cat = catalog_open_existing(catalog_path, NULL); /* no catalog: none is created */
    if (rec->cat && catalog_job_start(rec->cat, kind, dv_now(), &rec->id) != 0) {
        catalog_close(rec->cat);
        rec->cat = NULL;
    }
    dv_seterr("%s", saved);
    if (!rec->cat)
        return job;
    job->catalog_job_id = rec->id;
    rec->prev_fn = job->on_event;
    rec->prev_ud = job->event_ud;
    job->on_event = record_event;
    job->event_ud = rec;
    return job;
}

void job_record_end(struct job_record *rec, int rc, const char *summary)
{
    char saved[DV_ERR_MAX];
    snprintf(saved, sizeof saved, "%s", dv_err());
    if (rec->cat) {
        const char *status = rc == 0 ? "ok" : job_cancelled(rec->job) ? "cancelled" : "failed";
        catalog_job_end(rec->cat, rec->id, dv_now(), status, rc == 0 ? summary : saved);
        catalog_close(rec->cat);
        rec->job->on_event = rec->prev_fn;
        rec->job->event_ud = rec->prev_ud;
        rec->job->catalog_job_id = 0;
        rec->cat = NULL;
    }
    if (rec->job == &rec->own)
        job_done(&rec->own);
    dv_seterr("%s", saved);
}

int job_history(const char *catalog_path, int64_t before, struct catalog_job *out, size_t max,
                size_t *n)
{
    *n = 0;
    bool missing = false;
    struct catalog *cat = catalog_open_reader(catalog_path, &missing);
    if (!cat)
        return missing ? 0 : -1;
    int rc = catalog_jobs_page(cat, before, false, out, max, n);
    catalog_close(cat);
    return rc;
}

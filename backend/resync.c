/* resync.c - `resync daos` as a backend operation, recorded in the job history. See resync.h. */
#include "resync.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "store.h"
#include "util.h"

struct resync_rec {
    struct catalog *cat;
    int64_t job_id;
    dv_event_fn prev_event;
    void *prev_ud;
};

/* on_event of the job while it is recorded: the caller's handler, then the catalog. */
static void on_event(void *ud, enum dv_level level, const char *msg)
{
    struct resync_rec *c = ud;
    if (c->prev_event)
        c->prev_event(c->prev_ud, level, msg);
    if (c->cat && c->job_id)
        catalog_event_add(c->cat, c->job_id, dv_now(), (int)level, msg);
}

/* Start recording when the catalog exists and nobody records the job already. */
static void rec_start(struct resync_rec *c, const struct dv_config *cfg, struct dv_job *job)
{
    if ((job && job->catalog_job_id > 0) || access(cfg->catalog, F_OK) != 0)
        return; /* the caller records it; or no catalog: none is created for a resync */
    c->cat = catalog_open(cfg->catalog);
    if (!c->cat || catalog_job_start(c->cat, "resync", dv_now(), &c->job_id) != 0) {
        job_log(job, DV_WARN, "not recorded in the job history: %s", dv_err());
        catalog_close(c->cat);
        c->cat = NULL;
        c->job_id = 0;
        return;
    }
    if (job) {
        job->catalog_job_id = c->job_id;
        c->prev_event = job->on_event;
        c->prev_ud = job->event_ud;
        job->on_event = on_event;
        job->event_ud = c;
    }
}

static void rec_end(struct resync_rec *c, struct dv_job *job, int rc, const char *msg)
{
    if (job && c->job_id) {
        job->on_event = c->prev_event;
        job->event_ud = c->prev_ud;
    }
    if (c->cat && c->job_id)
        catalog_job_end(c->cat, c->job_id, dv_now(),
                        rc == 0              ? "ok"
                        : job_cancelled(job) ? "cancelled"
                                             : "failed",
                        msg);
    catalog_close(c->cat);
}

int resync_daos_run(const struct dv_config *cfg, struct dv_job *job, struct resync_result *r)
{
    struct resync_result res = {0};
    struct resync_rec rec = {0};
    rec_start(&rec, cfg, job);
    res.catalog_job_id = rec.job_id;
    struct store_resync_counts k = {0};
    struct dv_store *st = store_open(cfg);
    int rc = st ? store_resync(st, job, &k) : -1;
    store_free(st);
    char msg[DV_ERR_MAX];
    if (rc == 0)
        snprintf(msg, sizeof msg, "%llu NLOs, %llu databases, %llu references, %llu missing",
                 (unsigned long long)k.objects, (unsigned long long)k.databases,
                 (unsigned long long)k.references, (unsigned long long)k.missing);
    else
        snprintf(msg, sizeof msg, "%s", dv_err());
    rec_end(&rec, job, rc, msg);
    if (rc != 0)
        dv_seterr("%s", msg); /* recording may have overwritten it */
    res.objects = k.objects;
    res.bytes = k.bytes;
    res.databases = k.databases;
    res.references = k.references;
    res.missing = k.missing;
    res.duplicates = k.duplicates;
    if (r)
        *r = res;
    return rc;
}

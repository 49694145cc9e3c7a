/*
 * job.h - the context every long backend operation runs in: progress, cancellation, events.
 *
 * Backup, restore, recover, prune, verify and resync take a `struct dv_job *` (NULL is
 * allowed everywhere and means "no progress, no events, never cancelled"). The command line
 * fills it with a one-line meter; the console runs the operation on a worker thread and
 * draws the progress the job publishes. Progress callbacks are rate-limited (at most ~10 per
 * second plus every phase change), so calling job_advance() per object costs nothing.
 */
#ifndef DV_JOB_H
#define DV_JOB_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum dv_level { DV_INFO = 0, DV_WARN = 1, DV_ERROR = 2 };

struct dv_progress {
    char phase[32];                   /* "databases", "nlo", "restore", ... */
    char item[256];                   /* what is being worked on now */
    uint64_t items_done, items_total; /* total 0 = unknown */
    uint64_t bytes_done, bytes_total;
    double started;       /* dv_mono() at job start */
    double phase_started; /* dv_mono() at phase start */
};

struct dv_job;
typedef void (*dv_progress_fn)(void *ud, const struct dv_progress *p);
typedef void (*dv_event_fn)(void *ud, enum dv_level level, const char *msg);

struct dv_job {
    char kind[32];
    dv_progress_fn on_progress;
    void *progress_ud;
    dv_event_fn on_event;
    void *event_ud;
    atomic_int cancel;  /* set by anyone; long loops poll job_cancelled() */
    pthread_mutex_t mu; /* guards p for readers on other threads (job_snapshot) */
    struct dv_progress p;
    double last_report;
    int64_t catalog_job_id; /* set by whoever records the job in the catalog, or 0 */
};

void job_init(struct dv_job *j, const char *kind);
void job_done(struct dv_job *j);
/* Start a phase: resets counters, reports at once. */
void job_phase(struct dv_job *j, const char *phase, uint64_t items_total, uint64_t bytes_total);
/* Add to the counters; item may be NULL. Reports at most every 100 ms. */
void job_advance(struct dv_job *j, uint64_t items, uint64_t bytes, const char *item);
/* Report now, whatever the rate limit (end of a phase). */
void job_flush(struct dv_job *j);
bool job_cancelled(struct dv_job *j);
void job_cancel(struct dv_job *j);
/* An event: sent to on_event (CLI prints it, catalog stores it). */
void job_log(struct dv_job *j, enum dv_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Thread-safe copy of the current progress. */
void job_snapshot(struct dv_job *j, struct dv_progress *out);
/* Rate (bytes/s, or items/s when no bytes) and ETA in seconds (-1 = unknown). */
void job_rate(const struct dv_progress *p, double now, double *rate, double *eta);

#endif

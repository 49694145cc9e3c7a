/*
 * job.h - the context every long backend operation runs in: progress, cancellation, events.
 *
 * Backup, restore, recover, prune, verify and resync take a `struct dv_job *` (NULL is
 * allowed everywhere and means "no progress, no events, never cancelled"). The command line
 * fills it with a one-line meter; the console runs the operation on a worker thread and
 * draws the progress the job publishes. Progress callbacks are rate-limited (at most ~10 per
 * second plus every phase change), so calling job_advance() per object costs nothing.
 *
 * Every job records itself in the catalog's job history, whoever calls it (the command line,
 * the console, cron): job_record_begin / job_record_end below, used by the backend's entry
 * points (restore, recover, doc copy, verify, archive, daos prune; backup and prune keep their
 * own rows). Callers never record jobs.
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

/* ---- the job history (catalog jobs and events; catalog.md) ------------------------------ */

struct catalog;
struct job_record {
    struct dv_job own; /* the job used when the caller passed none */
    struct dv_job *job;
    struct catalog *cat; /* NULL: not recorded (no catalog, an outer job records, an error) */
    int64_t id;
    dv_event_fn prev_fn; /* the caller's event callback, still called */
    void *prev_ud;
};

/*
 * Record a job of kind in the catalog at catalog_path: a job row ("running") and, from here
 * on, every event the job logs (the caller's on_event still gets them). Only when the catalog
 * exists (a job never creates one), and not when job already belongs to a recorded job (an
 * entry point called by another one: doc copy recovers NLOs). Never fails: a catalog that
 * cannot be opened or written leaves the job unrecorded (dv_err() is kept as it was).
 * Returns the job to run with: job, or rec's own when job is NULL. End with job_record_end.
 */
struct dv_job *job_record_begin(struct job_record *rec, const char *catalog_path, const char *kind,
                                struct dv_job *job);
/*
 * End the job row: "ok" with summary (may be NULL) when rc is 0, else "cancelled" (the job
 * was cancelled) or "failed" with dv_err(); dv_err() is kept. Restores the job's callback.
 */
void job_record_end(struct job_record *rec, int rc, const char *summary);

struct catalog_job;
/*
 * The job history of the catalog at catalog_path, newest first: at most max jobs older than
 * job id before (0: from the newest) into out; *n gets how many. No catalog yet: no jobs (it
 * is never created). 0 or -1 with dv_err().
 */
int job_history(const char *catalog_path, int64_t before, struct catalog_job *out, size_t max,
                size_t *n);

#endif

/*
 * conjob.h - the console's job runner: one long backend operation at a time on a worker
 * thread (pthread), with its struct dv_job for progress, cancellation and events.
 *
 * The console thread starts a job (conjob_start), reads its progress (conjob_snapshot) each
 * tick, may cancel it (conjob_cancel), and collects the result once it has finished
 * (conjob_collect, which joins the thread). The job's events go into an in-memory ring
 * (conjob_events) that the Jobs screen shows. The runner records nothing in the catalog: every
 * backend operation records its own job row and events (job.h, job_record_begin), whoever
 * runs it.
 * The job function runs on the worker: it must open its own store and catalog handles.
 * All functions are called from the console's thread only (the worker touches only the
 * runner's locked state and the dv_job).
 */
#ifndef DV_CONJOB_H
#define DV_CONJOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job.h"
#include "util.h"

/* Runs on the worker. Returns 0 or -1 with dv_err() set; writes a one-line result into
 * summary (e.g. "set 20261122-014651 complete: 3 databases ..."). */
typedef int (*conjob_fn)(void *arg, struct dv_job *job, char *summary, size_t n);

struct conjob_result;

struct conjob_spec {
    const char *kind;  /* "backup", "restore", "resync", ... (copied) */
    const char *title; /* what the operator started: "backup of mail/alice.nsf" (copied) */
    conjob_fn run;
    void *arg;                   /* handed to run, then to free_arg (may be NULL) */
    void (*free_arg)(void *arg); /* called on the console thread at collect (or on failure) */
    /* Called on the console thread by conjob_collect, before free_arg (may be NULL): take
     * the job's results out of arg. */
    void (*on_done)(void *arg, const struct conjob_result *r, void *ud);
    void *ud;
};

struct conjob_result {
    char kind[32];
    char title[128];
    int rc;         /* 0 ok, -1 failed */
    bool cancelled; /* cancel was requested */
    char error[DV_ERR_MAX];
    char summary[512];
    double seconds;
};

struct conjob_event {
    int64_t time;
    int level; /* enum dv_level */
    char msg[DV_ERR_MAX];
};

/* Start spec on a worker thread. cfg must outlive the job. Returns 0, or -1 with dv_err()
 * ("a job is running: KIND" or a thread error); spec->arg is then freed with free_arg. */
int conjob_start(const struct dv_config *cfg, const struct conjob_spec *spec);
/* True from conjob_start until conjob_collect (a finished job not yet collected counts). */
bool conjob_running(void);
/* True when the worker has returned (the result waits for conjob_collect). */
bool conjob_finished(void);
/* Copy the running job's progress (and kind/title when the buffers are non-NULL). False when
 * no job is running. */
bool conjob_snapshot(struct dv_progress *out, char *title, size_t n);
/* Ask the running job to stop (it stops at its next check). No-op without a job. */
void conjob_cancel(void);
/* If the job has finished: join it, fill r, free the job, return true. Else false. */
bool conjob_collect(struct conjob_result *r);
/* Copy the last (up to max) events of this console session, oldest first; returns how
 * many. *total (may be NULL) gets how many were ever logged (detects new events). */
size_t conjob_events(struct conjob_event *out, size_t max, uint64_t *total);
/* Add an event of the console itself to the ring ("backup started"). */
void conjob_note(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * At exit, bounded: cancel the running job and wait at most timeout seconds for it to end.
 * Returns 1 when it was running and ended cancelled (or failed) after the cancel (collected
 * into r); 0 when there was none, or it had ended on its own, or ended ok anyway (collected);
 * -1 when it is still running at the timeout (r has its kind and title; it is left running,
 * uncollected: the process is about to exit).
 */
int conjob_stop(double timeout, struct conjob_result *r);

#endif

/*
 * archive_wq.h - the archiver's writer thread (archive.c's private helper): segments and run
 * records are written by one thread, in the order they were queued, so that looking at the
 * WALs never waits for a compression or an fsync, and a run record reaches the disk only
 * after every segment queued before it.
 */
#ifndef DV_ARCHIVE_WQ_H
#define DV_ARCHIVE_WQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive.h"
#include "util.h"

/* One file to write: a segment (rec, len encoded with m, at path in dir beneath the target)
 * or a run record (run.name set). */
struct wjob {
    struct wjob *next;
    char *dir, *path;
    struct archive_seg_meta m;
    unsigned char *rec;
    size_t len;
    struct archive_run_rec run;
};

struct wq {
    pthread_t th;
    bool started, stop, failed;
    pthread_mutex_t mu;
    pthread_cond_t cv, room;
    struct wjob *head, *tail;
    size_t bytes; /* queued records */
    char err[DV_ERR_MAX];
    const struct fsb *target;
    uint64_t segments, stored; /* written: segments, their bytes */
    /* S3 (archive.h "the archive on an S3 target"): target is the spool; each file written is
     * uploaded, then removed locally, before the next job is taken */
    struct tstore *ts;
    const struct dv_config *cfg;
};

/* Start the thread writing beneath target. Without it (one pass), archive_wq_put writes at once
 * (set q->target first). 0 or -1. */
int archive_wq_start(struct wq *q, const struct fsb *target);
/* Queue j (taken over; or, without a thread, write it now). 0, or -1 with dv_err() (an
 * earlier write failed: nothing more is written). Waits while 256 MiB are queued. */
int archive_wq_put(struct wq *q, struct wjob *j);
/* Wait for everything queued, stop the thread. 0, or -1 with dv_err() if a write failed. */
int archive_wq_finish(struct wq *q);
/* Has a write failed (dv_err() set)? */
bool archive_wq_failed(struct wq *q);
void archive_wjob_free(struct wjob *j);

#endif

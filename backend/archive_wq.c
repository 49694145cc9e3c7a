/* archive_wq.c - see archive_wq.h. */
#include "archive_wq.h"

#include <stdio.h>
#include <stdlib.h>

#include "fsb.h"

#define WQ_MAX_BYTES ((size_t)256 << 20) /* beyond, the archiver waits for the writer */

void archive_wjob_free(struct wjob *j)
{
    free(j->dir);
    free(j->path);
    free(j->rec);
    free(j->run.name);
    free(j->run.db_glob);
    free(j);
}

static int wjob_write_local(const struct fsb *target, const struct wjob *j, size_t *stored);

/* Write one job (and, on S3, upload it: held once acknowledged). 0, or -1 with dv_err();
 * *stored: the segment's size. */
static int wjob_write(const struct wq *q, const struct wjob *j, size_t *stored)
{
    if (wjob_write_local(q->target, j, stored) != 0)
        return -1;
    if (!q->ts)
        return 0;
    char *rel =
        j->run.name ? dv_asprintf("%s/%s", ARCHIVE_RUNS_DIR, j->run.name) : dv_strdup(j->path);
    int rc = archive_s3_upload(q->ts, q->target, q->cfg, rel);
    free(rel);
    return rc;
}

static int wjob_write_local(const struct fsb *target, const struct wjob *j, size_t *stored)
{
    *stored = 0;
    if (j->run.name)
        return archive_run_write(target, &j->run);
    unsigned char *out;
    size_t len;
    if (archive_seg_encode(&j->m, j->rec, j->len, &out, &len) != 0)
        return -1;
    /* real directories beneath the target (a link in archive/ is refused, never written
     * through), the segment written atomically beside its name */
    int rc = fsb_mkdirs(target, j->dir, 0700) == 0
                 ? fsb_write_atomic(target, j->path, out, len, 0600)
                 : -1;
    free(out);
    *stored = len;
    return rc;
}

static void *wq_main(void *arg)
{
    struct wq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->head && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        struct wjob *j = q->head;
        if (!j)
            break;
        bool skip = q->failed;
        pthread_mutex_unlock(&q->mu);
        size_t stored = 0;
        int rc = skip ? 0 : wjob_write(q, j, &stored);
        pthread_mutex_lock(&q->mu);
        if (rc != 0 && !q->failed) {
            q->failed = true;
            snprintf(q->err, sizeof q->err, "%s", dv_err());
        }
        if (!j->run.name && !skip && rc == 0) {
            q->segments++;
            q->stored += stored;
        }
        q->head = j->next;
        if (!q->head)
            q->tail = NULL;
        q->bytes -= j->len;
        pthread_cond_broadcast(&q->room);
        pthread_mutex_unlock(&q->mu);
        archive_wjob_free(j);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int archive_wq_start(struct wq *q, const struct fsb *target)
{
    q->target = target;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    pthread_cond_init(&q->room, NULL);
    if (pthread_create(&q->th, NULL, wq_main, q) != 0) {
        dv_seterr("archive: cannot start the writer thread");
        return -1;
    }
    q->started = true;
    return 0;
}

/* Queue j (or, without a writer thread, write it now). 0, or -1 with dv_err() (an earlier
 * write failed). */
int archive_wq_put(struct wq *q, struct wjob *j)
{
    if (!q->started) {
        size_t stored;
        int rc = wjob_write(q, j, &stored);
        if (rc == 0 && !j->run.name)
            q->segments++, q->stored += stored;
        archive_wjob_free(j);
        return rc;
    }
    pthread_mutex_lock(&q->mu);
    while (q->bytes > WQ_MAX_BYTES && !q->failed)
        pthread_cond_wait(&q->room, &q->mu);
    bool failed = q->failed;
    if (!failed) {
        if (q->tail)
            q->tail->next = j;
        else
            q->head = j;
        q->tail = j;
        q->bytes += j->len;
        pthread_cond_signal(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    if (failed) {
        archive_wjob_free(j);
        dv_seterr("%s", q->err);
        return -1;
    }
    return 0;
}

/* Wait for everything queued, stop the thread. 0, or -1 with dv_err() if a write failed. */
int archive_wq_finish(struct wq *q)
{
    if (q->started) {
        pthread_mutex_lock(&q->mu);
        q->stop = true;
        pthread_cond_signal(&q->cv);
        pthread_mutex_unlock(&q->mu);
        pthread_join(q->th, NULL);
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        pthread_cond_destroy(&q->room);
        q->started = false;
    }
    if (q->failed) {
        dv_seterr("%s", q->err);
        return -1;
    }
    return 0;
}

bool archive_wq_failed(struct wq *q)
{
    if (!q->started)
        return q->failed;
    pthread_mutex_lock(&q->mu);
    bool f = q->failed;
    if (f)
        dv_seterr("%s", q->err);
    pthread_mutex_unlock(&q->mu);
    return f;
}

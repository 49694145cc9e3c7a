/* catalog_jobs.c - the job history and its events (catalog.h; private parts:
 * catalog_int.h). */
#include <errno.h>
#include <string.h>

#include "catalog_int.h"
#include "util.h"

/* ---- jobs and events --------------------------------------------------------------- */

int catalog_job_start(struct catalog *c, const char *kind, int64_t started, int64_t *id)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_JOB_START);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, kind);
    sqlite3_bind_int64(s, 2, started);
    if (catalog_step_done(c, s, "start job") != 0)
        return -1;
    if (id)
        *id = sqlite3_last_insert_rowid(c->db);
    return 0;
}

int catalog_job_end(struct catalog *c, int64_t id, int64_t ended, const char *status,
                    const char *message)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_JOB_END);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, ended);
    catalog_bind_text(s, 3, status);
    catalog_bind_opt(s, 4, message);
    return catalog_step_done(c, s, "end job");
}

int catalog_jobs_page(struct catalog *c, int64_t id, bool newer, struct catalog_job *out,
                      size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, newer ? ST_JOBS_NEWER : ST_JOBS_OLDER);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, newer ? id : (id > 0 ? id : INT64_MAX));
    sqlite3_bind_int64(s, 2, (int64_t)max);
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct catalog_job *j = &out[k++];
        memset(j, 0, sizeof *j);
        j->id = sqlite3_column_int64(s, 0);
        catalog_col_copy(s, 1, j->kind, sizeof j->kind);
        j->started = sqlite3_column_int64(s, 2);
        j->ended = sqlite3_column_int64(s, 3);
        catalog_col_copy(s, 4, j->status, sizeof j->status);
        catalog_col_copy(s, 5, j->message, sizeof j->message);
    }
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return catalog_db_err(c, "list jobs");
    *n = k;
    return 0;
}

int catalog_event_add(struct catalog *c, int64_t job_id, int64_t time, int level,
                      const char *message)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_EVENT_ADD);
    if (!s)
        return -1;
    if (job_id > 0)
        sqlite3_bind_int64(s, 1, job_id);
    else
        sqlite3_bind_null(s, 1);
    sqlite3_bind_int64(s, 2, time);
    sqlite3_bind_int(s, 3, level);
    catalog_bind_text(s, 4, message ? message : "");
    return catalog_step_done(c, s, "add event");
}

int catalog_events_page(struct catalog *c, int64_t job_id, int64_t after_id,
                        struct catalog_event *out, size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, job_id > 0 ? ST_EVENTS_JOB : ST_EVENTS_ALL);
    if (!s)
        return -1;
    if (job_id > 0)
        sqlite3_bind_int64(s, 1, job_id);
    sqlite3_bind_int64(s, 2, after_id);
    sqlite3_bind_int64(s, 3, (int64_t)max);
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct catalog_event *e = &out[k++];
        e->id = sqlite3_column_int64(s, 0);
        e->job_id = sqlite3_column_int64(s, 1);
        e->time = sqlite3_column_int64(s, 2);
        e->level = sqlite3_column_int(s, 3);
        catalog_col_copy(s, 4, e->message, sizeof e->message);
    }
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return catalog_db_err(c, "list events");
    *n = k;
    return 0;
}

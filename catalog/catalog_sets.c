/* catalog_sets.c - sets, the databases a set could not copy, set files, incremental
 * backups (catalog.h; private parts: catalog_int.h). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog_int.h"
#include "util.h"

/* ---- sets -------------------------------------------------------------------------- */

const char *catalog_set_kind_name(enum catalog_set_kind k)
{
    return k == CATALOG_SET_INCREMENTAL ? "incremental" : "full";
}

const char *catalog_set_status_name(enum catalog_set_status s)
{
    return s == CATALOG_SET_COMPLETE  ? "complete"
           : s == CATALOG_SET_PARTIAL ? "partial"
           : s == CATALOG_SET_FAILED  ? "failed"
                                      : "running";
}

void catalog_read_set(sqlite3_stmt *s, int base, struct catalog_set *o)
{
    memset(o, 0, sizeof *o);
    catalog_col_copy(s, base + 0, o->id, sizeof o->id);
    o->seq = sqlite3_column_int64(s, base + 1);
    const char *k = (const char *)sqlite3_column_text(s, base + 2);
    o->kind = k && strcmp(k, "incremental") == 0 ? CATALOG_SET_INCREMENTAL : CATALOG_SET_FULL;
    o->started = sqlite3_column_int64(s, base + 3);
    o->ended = sqlite3_column_int64(s, base + 4);
    const char *st = (const char *)sqlite3_column_text(s, base + 5);
    o->status = !st                           ? CATALOG_SET_RUNNING
                : strcmp(st, "complete") == 0 ? CATALOG_SET_COMPLETE
                : strcmp(st, "partial") == 0  ? CATALOG_SET_PARTIAL
                : strcmp(st, "failed") == 0   ? CATALOG_SET_FAILED
                                              : CATALOG_SET_RUNNING;
    o->pid = sqlite3_column_int64(s, base + 6);
    o->databases = sqlite3_column_int64(s, base + 7);
    o->nlo_new = sqlite3_column_int64(s, base + 8);
    o->nlo_held = sqlite3_column_int64(s, base + 9);
    o->nlo_skipped = sqlite3_column_int64(s, base + 10);
    o->deltas_applied = sqlite3_column_int64(s, base + 11);
    o->deltas_kept = sqlite3_column_int64(s, base + 12);
    o->bytes = sqlite3_column_int64(s, base + 13);
    catalog_col_copy(s, base + 14, o->checkpoint, sizeof o->checkpoint);
    catalog_col_copy(s, base + 15, o->origin, sizeof o->origin);
    catalog_col_copy(s, base + 16, o->message, sizeof o->message);
    o->pruning = sqlite3_column_int64(s, base + 17);
}

int catalog_set_create(struct catalog *c, const char *id, enum catalog_set_kind kind,
                       int64_t started, int64_t pid, const char *origin, int64_t *seq)
{
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int rc = -1, taken = 0;
    int64_t next = 0;
    /* the id is checked in the same (IMMEDIATE) transaction as the insert: two backups of
     * two targets sharing this catalog cannot both take it */
    sqlite3_stmt *s = catalog_stmt(c, ST_SET_GET);
    if (!s)
        goto out;
    catalog_bind_text(s, 1, id);
    int g = sqlite3_step(s);
    sqlite3_reset(s);
    if (g == SQLITE_ROW) {
        taken = 1;
        rc = 0;
        goto out;
    }
    if (g != SQLITE_DONE) {
        catalog_db_err(c, "look up set");
        goto out;
    }
    if (!(s = catalog_stmt(c, ST_SET_MAXSEQ)))
        goto out;
    if (sqlite3_step(s) != SQLITE_ROW) {
        catalog_db_err(c, "read set sequence");
        goto out;
    }
    int64_t top = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (top < 0 || top >= CATALOG_SEQ_MAX) { /* never past 2^53 - 1: no overflow, no clash */
        dv_seterr("catalog %s: the newest set has seq %lld, the most a set may have is %lld: "
                  "the catalog is damaged (`dvault resync catalog` rebuilds it)",
                  c->path, (long long)top, (long long)CATALOG_SEQ_MAX);
        goto out;
    }
    next = top + 1;
    if (!(s = catalog_stmt(c, ST_SET_INSERT)))
        goto out;
    catalog_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, next);
    catalog_bind_text(s, 3, catalog_set_kind_name(kind));
    sqlite3_bind_int64(s, 4, started);
    sqlite3_bind_int64(s, 5, pid);
    catalog_bind_opt(s, 6, origin);
    if (catalog_step_done(c, s, "create set") != 0) {
        dv_preferr("set %s", id);
        goto out;
    }
    rc = 0;
out:
    if (catalog_tx_leave(c, own, rc) != 0)
        return -1;
    if (taken) {
        dv_seterr("catalog %s: set id %s is taken", c->path, id);
        return 1;
    }
    if (seq)
        *seq = next;
    return 0;
}

int catalog_set_finish(struct catalog *c, const struct catalog_set *o)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_SET_FINISH);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, o->id);
    catalog_bind_text(s, 2, catalog_set_status_name(o->status));
    sqlite3_bind_int64(s, 3, o->ended);
    sqlite3_bind_int64(s, 4, o->databases);
    sqlite3_bind_int64(s, 5, o->nlo_new);
    sqlite3_bind_int64(s, 6, o->nlo_held);
    sqlite3_bind_int64(s, 7, o->nlo_skipped);
    sqlite3_bind_int64(s, 8, o->deltas_applied);
    sqlite3_bind_int64(s, 9, o->deltas_kept);
    sqlite3_bind_int64(s, 10, o->bytes);
    catalog_bind_opt(s, 11, o->checkpoint);
    catalog_bind_opt(s, 12, o->message);
    if (catalog_step_done(c, s, "finish set") != 0)
        return -1;
    if (sqlite3_changes(c->db) != 1) {
        dv_seterr("catalog %s: no set %s", c->path, o->id);
        return -1;
    }
    return 0;
}

int catalog_set_fail(struct catalog *c, const char *id, int64_t ended, const char *message)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_SET_FAIL);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, id);
    sqlite3_bind_int64(s, 2, ended);
    catalog_bind_opt(s, 3, message);
    if (catalog_step_done(c, s, "fail set") != 0)
        return -1;
    if (sqlite3_changes(c->db) != 1) {
        dv_seterr("catalog %s: no set %s", c->path, id);
        return -1;
    }
    return 0;
}

int catalog_set_insert(struct catalog *c, const struct catalog_set *o)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_SET_INSERT_FULL);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, o->id);
    sqlite3_bind_int64(s, 2, o->seq);
    catalog_bind_text(s, 3, catalog_set_kind_name(o->kind));
    sqlite3_bind_int64(s, 4, o->started);
    if (o->ended > 0)
        sqlite3_bind_int64(s, 5, o->ended);
    else
        sqlite3_bind_null(s, 5);
    catalog_bind_text(s, 6, catalog_set_status_name(o->status));
    sqlite3_bind_int64(s, 7, o->pid);
    sqlite3_bind_int64(s, 8, o->databases);
    sqlite3_bind_int64(s, 9, o->nlo_new);
    sqlite3_bind_int64(s, 10, o->nlo_held);
    sqlite3_bind_int64(s, 11, o->nlo_skipped);
    sqlite3_bind_int64(s, 12, o->deltas_applied);
    sqlite3_bind_int64(s, 13, o->deltas_kept);
    sqlite3_bind_int64(s, 14, o->bytes);
    catalog_bind_opt(s, 15, o->checkpoint);
    catalog_bind_opt(s, 16, o->origin);
    catalog_bind_opt(s, 17, o->message);
    if (o->pruning > 0)
        sqlite3_bind_int64(s, 18, o->pruning);
    else
        sqlite3_bind_null(s, 18);
    if (catalog_step_done(c, s, "insert set") != 0) {
        dv_preferr("set %s", o->id);
        return -1;
    }
    return 0;
}

int catalog_set_mark_pruning(struct catalog *c, const char *id, int64_t now)
{
    /* The mark must be on disk before any file of the set is deleted: this one commit is
     * made with synchronous = FULL (the handle's default NORMAL defers WAL fsyncs). */
    if (!sqlite3_get_autocommit(c->db)) {
        dv_seterr("catalog %s: mark set %s pruning: not inside a transaction", c->path, id);
        return -1;
    }
    if (catalog_exec(c, "PRAGMA synchronous = FULL", "pragmas") != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s = catalog_stmt(c, ST_SET_MARK_PRUNING);
    if (s) {
        catalog_bind_text(s, 1, id);
        sqlite3_bind_int64(s, 2, now);
        rc = catalog_step_done(c, s, "mark set pruning");
        if (rc == 0 && sqlite3_changes(c->db) != 1) {
            dv_seterr("catalog %s: no set %s", c->path, id);
            rc = -1;
        }
    }
    char saved[DV_ERR_MAX];
    snprintf(saved, sizeof saved, "%s", dv_err());
    catalog_exec(c, "PRAGMA synchronous = NORMAL", "pragmas");
    if (rc != 0)
        dv_seterr("%s", saved);
    return rc;
}

int catalog_set_delete(struct catalog *c, const char *id)
{
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s = catalog_stmt(c, ST_SET_DELETE_FILES);
    if (!s || (catalog_bind_text(s, 1, id), catalog_step_done(c, s, "delete set files")) != 0)
        goto out;
    if (!(s = catalog_stmt(c, ST_SET_DELETE_FAILURES)) ||
        (catalog_bind_text(s, 1, id), catalog_step_done(c, s, "delete set failures")) != 0)
        goto out;
    if (!(s = catalog_stmt(c, ST_SET_DELETE)))
        goto out;
    catalog_bind_text(s, 1, id);
    if (catalog_step_done(c, s, "delete set") != 0)
        goto out;
    rc = 0;
out:
    return catalog_tx_leave(c, own, rc);
}

int catalog_sets_fail_stale(struct catalog *c, bool lock_held, int64_t now, int *n)
{
    /* Collect first (a few rows at most), then update. */
    struct {
        char id[32];
        int64_t pid;
    } stale[64];
    int nstale = 0, total = 0;
    for (;;) {
        sqlite3_stmt *s = catalog_stmt(c, ST_SET_RUNNING);
        if (!s)
            return -1;
        nstale = 0;
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW && nstale < 64) {
            int64_t pid = sqlite3_column_int64(s, 1);
            bool dead = pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
            if (dead || (lock_held && pid != (int64_t)getpid())) {
                catalog_col_copy(s, 0, stale[nstale].id, sizeof stale[nstale].id);
                stale[nstale].pid = pid;
                nstale++;
            }
        }
        sqlite3_reset(s);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            return catalog_db_err(c, "list running sets");
        for (int i = 0; i < nstale; i++) {
            char msg[128];
            snprintf(msg, sizeof msg, "interrupted: process %lld is gone", (long long)stale[i].pid);
            if (catalog_set_fail(c, stale[i].id, now, msg) != 0)
                return -1;
        }
        total += nstale;
        if (nstale < 64)
            break;
    }
    if (n)
        *n = total;
    return 0;
}

static int get_one_set(struct catalog *c, sqlite3_stmt *s, struct catalog_set *out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (out)
            catalog_read_set(s, 0, out);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : catalog_db_err(c, "read set");
}

int catalog_set_get(struct catalog *c, const char *id, struct catalog_set *out)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_SET_GET);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, id);
    return get_one_set(c, s, out);
}

int catalog_set_get_seq(struct catalog *c, int64_t seq, struct catalog_set *out)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_SET_GET_SEQ);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, seq);
    return get_one_set(c, s, out);
}

int catalog_set_latest(struct catalog *c, bool complete_only, struct catalog_set *out)
{
    sqlite3_stmt *s = catalog_stmt(c, complete_only ? ST_SET_LATEST_OK : ST_SET_LATEST);
    return s ? get_one_set(c, s, out) : -1;
}

int catalog_set_latest_usable(struct catalog *c, struct catalog_set *out)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_SET_LATEST_USABLE);
    return s ? get_one_set(c, s, out) : -1;
}

/* A page of sets from statement id (bound to seq and max), read into out. */
static int sets_page(struct catalog *c, int id, int64_t seq, struct catalog_set *out, size_t max,
                     size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, id);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, seq);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        catalog_read_set(s, 0, &out[k++]);
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return catalog_db_err(c, "list sets");
    *n = k;
    return 0;
}

int catalog_sets_list(struct catalog *c, int64_t before_seq, struct catalog_set *out, size_t max,
                      size_t *n)
{
    return sets_page(c, ST_SET_LIST, before_seq > 0 ? before_seq : INT64_MAX, out, max, n);
}

int catalog_sets_newer(struct catalog *c, int64_t after_seq, struct catalog_set *out, size_t max,
                       size_t *n)
{
    return sets_page(c, ST_SET_NEWER, after_seq, out, max, n);
}

int catalog_db_last_set(struct catalog *c, const char *db_path, bool complete_only,
                        struct catalog_set *out)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_DB_LAST_SET);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, db_path);
    sqlite3_bind_int(s, 2, complete_only ? 1 : 0);
    return get_one_set(c, s, out);
}

int catalog_sets_each(struct catalog *c, catalog_set_cb cb, void *ud)
{
    /* Paged so that the callback may use the catalog. */
    struct catalog_set page[64];
    int64_t before = 0;
    for (;;) {
        size_t n;
        if (catalog_sets_list(c, before, page, 64, &n) != 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            int r = cb(ud, &page[i]);
            if (r)
                return r;
        }
        if (n < 64)
            return 0;
        before = page[n - 1].seq;
    }
}

/* ---- databases a set could not copy ------------------------------------------------- */

int catalog_set_failure_add(struct catalog *c, const char *set_id, const char *db_path,
                            const char *reason)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_FAILURE_ADD);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    catalog_bind_text(s, 2, db_path);
    catalog_bind_text(s, 3, reason ? reason : "");
    if (catalog_step_done(c, s, "record a failed database") != 0) {
        dv_preferr("set %s, %s", set_id, db_path);
        return -1;
    }
    return 0;
}

static void read_failure(sqlite3_stmt *s, struct catalog_set_failure *o)
{
    memset(o, 0, sizeof *o);
    catalog_col_copy(s, 0, o->set_id, sizeof o->set_id);
    o->seq = sqlite3_column_int64(s, 1);
    catalog_col_copy(s, 2, o->db_path, sizeof o->db_path);
    catalog_col_copy(s, 3, o->reason, sizeof o->reason);
}

int catalog_set_failures(struct catalog *c, const char *set_id, struct catalog_set_failure **out,
                         size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = catalog_stmt(c, ST_FAILURE_LIST);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 4;
            *out = dv_realloc(*out, cap * sizeof **out);
        }
        read_failure(s, &(*out)[(*n)++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(*out);
        *out = NULL;
        *n = 0;
        return catalog_db_err(c, "list failed databases");
    }
    return 0;
}

static int get_one_failure(struct catalog *c, sqlite3_stmt *s, struct catalog_set_failure *out)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (out)
            read_failure(s, out);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : catalog_db_err(c, "read failed database");
}

int catalog_set_failure_get(struct catalog *c, const char *set_id, const char *db_path,
                            struct catalog_set_failure *out)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_FAILURE_GET);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    catalog_bind_text(s, 2, db_path);
    return get_one_failure(c, s, out);
}

int catalog_db_failure_latest(struct catalog *c, const char *db_path,
                              struct catalog_set_failure *out)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_FAILURE_LATEST);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, db_path);
    return get_one_failure(c, s, out);
}

/* ---- set files --------------------------------------------------------------------- */

int catalog_set_file_add(struct catalog *c, const struct catalog_set_file *f)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_FILE_ADD);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, f->set_id);
    sqlite3_bind_int64(s, 2, f->db_id);
    catalog_bind_text(s, 3, f->path);
    sqlite3_bind_int64(s, 4, f->size);
    catalog_bind_text(s, 5, f->sha256 ? f->sha256 : "");
    sqlite3_bind_int64(s, 6, f->page_size);
    catalog_bind_opt(s, 7, f->replica_id);
    catalog_bind_opt(s, 8, f->dbiid);
    catalog_bind_text(s, 9, f->delta_mode == CATALOG_DELTA_KEEP ? "keep" : "apply");
    sqlite3_bind_int64(s, 10, f->delta_pages);
    catalog_bind_opt(s, 11, f->delta_location);
    catalog_bind_opt(s, 12, f->delta_sha256);
    sqlite3_bind_int(s, 13, f->locked_copy ? 1 : 0);
    if (catalog_step_done(c, s, "record set file") != 0) {
        dv_preferr("set %s file %s", f->set_id, f->path);
        return -1;
    }
    return 0;
}

int catalog_set_file_move_delta(struct catalog *c, const char *set_id, int64_t db_id,
                                const char *new_location)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_FILE_MOVE);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    sqlite3_bind_int64(s, 2, db_id);
    catalog_bind_text(s, 3, new_location);
    if (catalog_step_done(c, s, "move delta") != 0)
        return -1;
    if (sqlite3_changes(c->db) != 1) {
        dv_seterr("catalog %s: set %s has no file for database %lld", c->path, set_id,
                  (long long)db_id);
        return -1;
    }
    return 0;
}

static void read_file_row(sqlite3_stmt *s, struct catalog_set_file *f)
{
    memset(f, 0, sizeof *f);
    f->set_id = catalog_col_dup(s, 0);
    f->db_id = sqlite3_column_int64(s, 1);
    f->db_path = catalog_col_dup(s, 2);
    f->path = catalog_col_dup(s, 3);
    f->size = sqlite3_column_int64(s, 4);
    f->sha256 = catalog_col_dup(s, 5);
    f->page_size = sqlite3_column_int64(s, 6);
    f->replica_id = catalog_col_dup(s, 7);
    f->dbiid = catalog_col_dup(s, 8);
    const char *m = (const char *)sqlite3_column_text(s, 9);
    f->delta_mode = m && strcmp(m, "keep") == 0 ? CATALOG_DELTA_KEEP : CATALOG_DELTA_APPLY;
    f->delta_pages = sqlite3_column_int64(s, 10);
    f->delta_location = catalog_col_dup(s, 11);
    f->delta_sha256 = catalog_col_dup(s, 12);
    f->locked_copy = sqlite3_column_int(s, 13) != 0;
}

int catalog_set_files(struct catalog *c, const char *set_id, struct catalog_set_file **out,
                      size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *s = catalog_stmt(c, ST_FILE_LIST);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    size_t k = 0, cap = 0;
    struct catalog_set_file *v = NULL;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 16;
            v = dv_realloc(v, cap * sizeof *v);
        }
        read_file_row(s, &v[k++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        catalog_set_files_free(v, k);
        return catalog_db_err(c, "list set files");
    }
    *out = v;
    *n = k;
    return 0;
}

int catalog_set_file_get(struct catalog *c, const char *set_id, const char *db_path,
                         struct catalog_set_file *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = catalog_stmt(c, ST_FILE_GET);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    catalog_bind_text(s, 2, db_path);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        read_file_row(s, out);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : catalog_db_err(c, "read set file");
}

void catalog_set_file_done(struct catalog_set_file *f)
{
    if (!f)
        return;
    free(f->set_id);
    free(f->db_path);
    free(f->path);
    free(f->sha256);
    free(f->replica_id);
    free(f->dbiid);
    free(f->delta_location);
    free(f->delta_sha256);
    memset(f, 0, sizeof *f);
}

void catalog_set_files_free(struct catalog_set_file *files, size_t n)
{
    if (!files)
        return;
    for (size_t i = 0; i < n; i++)
        catalog_set_file_done(&files[i]);
    free(files);
}

/* ---- incremental backups ----------------------------------------------------------- */
/* Statements here are prepared per call: they run a few times per database and backup. */

static sqlite3_stmt *prep(struct catalog *c, const char *sql)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &s, NULL) != SQLITE_OK) {
        catalog_db_err(c, "prepare");
        return NULL;
    }
    return s;
}

int catalog_file_incr_set(struct catalog *c, const char *set_id, int64_t db_id,
                          const struct catalog_file_incr *x)
{
    sqlite3_stmt *s = prep(c, "UPDATE set_files SET kind = ?3, origin = ?4, pages_total = ?5, "
                              "pages_stored = ?6, pagemap = ?7, pagemap_sha256 = ?8, "
                              "full_reason = ?9 WHERE set_id = ?1 AND db_id = ?2");
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    sqlite3_bind_int64(s, 2, db_id);
    catalog_bind_text(s, 3, catalog_set_kind_name(x->kind));
    catalog_bind_opt(s, 4, x->origin);
    sqlite3_bind_int64(s, 5, x->pages_total);
    sqlite3_bind_int64(s, 6, x->pages_stored);
    catalog_bind_opt(s, 7, x->pagemap);
    catalog_bind_opt(s, 8, x->pagemap_sha256);
    catalog_bind_opt(s, 9, x->full_reason);
    int rc = catalog_step_done(c, s, "record incremental file");
    if (rc == 0 && sqlite3_changes(c->db) == 0) {
        dv_seterr("catalog %s: no file of database %lld in set %s", c->path, (long long)db_id,
                  set_id);
        rc = -1;
    }
    sqlite3_finalize(s);
    return rc;
}

int catalog_file_incr_get(struct catalog *c, const char *set_id, int64_t db_id,
                          struct catalog_file_incr *out)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *s = prep(c, "SELECT kind, origin, pages_total, pages_stored, pagemap, "
                              "pagemap_sha256, full_reason FROM set_files "
                              "WHERE set_id = ?1 AND db_id = ?2");
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    sqlite3_bind_int64(s, 2, db_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const unsigned char *k = sqlite3_column_text(s, 0);
        out->kind = k && strcmp((const char *)k, "incremental") == 0 ? CATALOG_SET_INCREMENTAL
                                                                     : CATALOG_SET_FULL;
        catalog_col_copy(s, 1, out->origin, sizeof out->origin);
        out->pages_total = sqlite3_column_int64(s, 2);
        out->pages_stored = sqlite3_column_int64(s, 3);
        catalog_col_copy(s, 4, out->pagemap, sizeof out->pagemap);
        catalog_col_copy(s, 5, out->pagemap_sha256, sizeof out->pagemap_sha256);
        catalog_col_copy(s, 6, out->full_reason, sizeof out->full_reason);
        rc = 1;
    } else {
        rc = rc == SQLITE_DONE ? 0 : catalog_db_err(c, "read incremental file");
    }
    sqlite3_finalize(s);
    return rc;
}

int catalog_db_latest_set(struct catalog *c, int64_t db_id, char set_id[32])
{
    sqlite3_stmt *s = prep(c, "SELECT s.id FROM set_files f JOIN sets s ON s.id = f.set_id "
                              "WHERE f.db_id = ?1 AND s.status IN ('complete', 'partial') "
                              "ORDER BY s.seq DESC LIMIT 1");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, db_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        catalog_col_copy(s, 0, set_id, 32);
        rc = 1;
    } else {
        rc = rc == SQLITE_DONE ? 0 : catalog_db_err(c, "latest set of a database");
    }
    sqlite3_finalize(s);
    return rc;
}

int catalog_set_pages_set(struct catalog *c, const char *set_id, int64_t total, int64_t stored)
{
    sqlite3_stmt *s = prep(c, "UPDATE sets SET pages_total = ?2, pages_stored = ?3 WHERE id = ?1");
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    sqlite3_bind_int64(s, 2, total);
    sqlite3_bind_int64(s, 3, stored);
    int rc = catalog_step_done(c, s, "record page counters");
    sqlite3_finalize(s);
    return rc;
}

int catalog_set_pages_get(struct catalog *c, const char *set_id, int64_t *total, int64_t *stored)
{
    sqlite3_stmt *s = prep(c, "SELECT pages_total, pages_stored FROM sets WHERE id = ?1");
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *total = sqlite3_column_int64(s, 0);
        *stored = sqlite3_column_int64(s, 1);
        rc = 0;
    } else if (rc == SQLITE_DONE) {
        dv_seterr("catalog %s: no set %s", c->path, set_id);
        rc = -1;
    } else {
        rc = catalog_db_err(c, "read page counters");
    }
    sqlite3_finalize(s);
    return rc;
}

static int id_list(struct catalog *c, const char *sql, const char *set_id, char (**ids)[32],
                   size_t *n)
{
    *ids = NULL;
    *n = 0;
    sqlite3_stmt *s = prep(c, sql);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, set_id);
    int rc;
    size_t cap = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 8;
            *ids = dv_realloc(*ids, cap * sizeof **ids);
        }
        catalog_col_copy(s, 0, (*ids)[(*n)++], 32);
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        return catalog_db_err(c, "list sets");
    }
    return 0;
}

int catalog_set_chain(struct catalog *c, const char *set_id, char (**ids)[32], size_t *n)
{
    return id_list(c,
                   "WITH RECURSIVE ch(set_id, db_id) AS ("
                   " SELECT origin, db_id FROM set_files WHERE set_id = ?1 AND origin IS NOT NULL"
                   " UNION SELECT f.origin, f.db_id FROM set_files f JOIN ch"
                   " ON f.set_id = ch.set_id AND f.db_id = ch.db_id WHERE f.origin IS NOT NULL)"
                   " SELECT DISTINCT ch.set_id FROM ch LEFT JOIN sets s ON s.id = ch.set_id"
                   " ORDER BY coalesce(s.seq, 0), ch.set_id",
                   set_id, ids, n);
}

int catalog_set_dependents(struct catalog *c, const char *set_id, char (**ids)[32], size_t *n)
{
    return id_list(c,
                   "SELECT DISTINCT f.set_id FROM set_files f JOIN sets s ON s.id = f.set_id "
                   "WHERE f.origin = ?1 ORDER BY s.seq",
                   set_id, ids, n);
}

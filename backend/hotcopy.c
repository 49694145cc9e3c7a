/* hotcopy.c - see hotcopy.h; the method is design.md "Hot backup of a live database". */
#include "hotcopy.h"
#include "runcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "delta.h"
#include "util.h"
#include "wal.h"

#define HOTCOPY_CHUNK (16u << 20) /* bytes copied between progress/cancel checks */
#define HOTCOPY_BUSY_MS 30000     /* wait for a writer to finish (locked copy) */

/* Everything one copy holds, so that one exit path can release it in the right order. */
struct hc {
    const char *src, *dst, *delta_path;
    const struct hotcopy_opts *opts;
    struct hotcopy_result *res;
    char *tmp, *walp;
    sqlite3 *db;
    bool in_txn;
    int src_fd, out_fd, wal_fd;
    bool delta_written;
    struct wal_info w;
};

static int sql_err(struct hc *c, const char *step)
{
    dv_seterr("%s: %s", step, c->db ? sqlite3_errmsg(c->db) : "cannot open");
    return -1;
}

static int exec_sql(struct hc *c, const char *sql)
{
    if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sql_err(c, sql);
    return 0;
}

/* First column of the first row of sql as text into out (or "" when no row). */
static int query_text(struct hc *c, const char *sql, const char *arg, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_err(c, sql);
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, n, "%s", t ? (const char *)t : "");
    } else if (rc != SQLITE_DONE) {
        sql_err(c, sql);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

/* Open read-only, never checkpoint on close, pin a snapshot (or, not WAL, a shared lock). */
static int begin_snapshot(struct hc *c)
{
    /* The descriptor we copy from is opened BEFORE the connection and closed after it. */
    c->src_fd = open(c->src, O_RDONLY | O_CLOEXEC);
    if (c->src_fd < 0) {
        dv_syserr("open");
        return -1;
    }
    if (sqlite3_open_v2(c->src, &c->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        return sql_err(c, "open read-only");
    sqlite3_busy_timeout(c->db, c->opts->busy_ms > 0 ? c->opts->busy_ms : HOTCOPY_BUSY_MS);
    if (sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK)
        return sql_err(c, "no checkpoint on close");
    char mode[32], buf[32];
    if (query_text(c, "PRAGMA journal_mode", NULL, mode, sizeof mode) != 0)
        return -1;
    c->res->wal_mode = strcmp(mode, "wal") == 0;
    c->res->locked_copy = !c->res->wal_mode;
    if (exec_sql(c, "BEGIN") != 0)
        return -1;
    c->in_txn = true;
    if (query_text(c, "SELECT count(*) FROM sqlite_master", NULL, buf, sizeof buf) != 0)
        return -1;
    if (query_text(c, "PRAGMA page_size", NULL, buf, sizeof buf) != 0)
        return -1;
    c->res->page_size = (uint32_t)strtoul(buf, NULL, 10);
    /* The database's identity, as of the pinned snapshot. */
    char has[8];
    if (query_text(c, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='dbinfo'",
                   NULL, has, sizeof has) != 0)
        return -1;
    if (strcmp(has, "0") != 0) {
        const char *q = "SELECT value FROM dbinfo WHERE key=?";
        if (query_text(c, q, "replica_id", c->res->replica_id, sizeof c->res->replica_id) ||
            query_text(c, q, "dbiid", c->res->dbiid, sizeof c->res->dbiid))
            return -1;
    }
    struct stat sb;
    if (fstat(c->src_fd, &sb) != 0) {
        dv_syserr("stat");
        return -1;
    }
    c->res->base_size = (uint64_t)sb.st_size;
    if (sb.st_size == 0) { /* SQLite reads it as an empty database: a copy would hold nothing */
        dv_seterr("empty file (0 bytes): not a database");
        return -1;
    }
    return 0;
}

/* ---- snapshot_command ---- */

/* Run the configured snapshot command (no shell; {src} and {dst} substituted per word). */
static int run_snapshot_command(const char *cmd, const char *src, const char *dst)
{
    const struct runcmd_subst subst[] = {{"{src}", src}, {"{dst}", dst}, {NULL, NULL}};
    const struct runcmd_opts o = {.what = "snapshot command", .subst = subst};
    return runcmd(cmd, &o);
}

/* ---- the copy ---- */

static int copy_bytes(struct hc *c)
{
    struct dv_job *job = c->opts->job;
    uint64_t size = c->res->base_size, off = 0;
    if (c->opts->snapshot_command && c->opts->snapshot_command[0]) {
        if (job_cancelled(job)) {
            dv_seterr("cancelled");
            return -1;
        }
        if (run_snapshot_command(c->opts->snapshot_command, c->src, c->tmp) != 0)
            return -1;
        c->out_fd = open(c->tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (c->out_fd < 0) {
            dv_syserr("snapshot command left no %s", c->tmp);
            return -1;
        }
        if (fchmod(c->out_fd, 0600) != 0) { /* copies are 0600 whoever made them */
            dv_syserr("chmod %s", c->tmp);
            return -1;
        }
        job_advance(job, 0, size, NULL);
    } else {
        c->out_fd = open(c->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (c->out_fd < 0) {
            dv_syserr("create %s", c->tmp);
            return -1;
        }
        while (off < size) {
            if (job_cancelled(job)) {
                dv_seterr("cancelled");
                return -1;
            }
            uint64_t want = size - off < HOTCOPY_CHUNK ? size - off : HOTCOPY_CHUNK;
            int64_t got = dv_copy_range(c->src_fd, (off_t)off, c->out_fd, (off_t)off, want);
            if (got < 0) {
                dv_syserr("copy to %s", c->tmp);
                return -1;
            }
            off += (uint64_t)got;
            job_advance(job, 0, (uint64_t)got, NULL);
            if ((uint64_t)got < want)
                break; /* the file shrank (a checkpoint truncated it): see below */
        }
    }
    /*
     * Exactly the size seen at begin: bytes appended later are ignored (their pages are in
     * the WAL), and a tail cut by a checkpoint was beyond the database at that point.
     */
    if (ftruncate(c->out_fd, (off_t)size) != 0) {
        dv_syserr("set size of %s", c->tmp);
        return -1;
    }
    return 0;
}

static int capture_delta(struct hc *c)
{
    c->walp = wal_path_of(c->src);
    if (wal_scan_path(c->walp, NULL, &c->w, &c->wal_fd) != 0)
        return -1;
    if (c->w.ncommits && c->w.page_size != c->res->page_size) {
        dv_seterr("WAL %s: page size %u, the database has %u", c->walp, c->w.page_size,
                  c->res->page_size);
        return -1;
    }
    if (c->opts->delta == DV_DELTA_KEEP) {
        struct delta_header h = {.page_size = c->res->page_size, .base_size = c->res->base_size};
        snprintf(h.replica_id, sizeof h.replica_id, "%s", c->res->replica_id);
        snprintf(h.dbiid, sizeof h.dbiid, "%s", c->res->dbiid);
        struct delta_header out;
        if (c->wal_fd < 0) { /* no WAL file at all: an empty delta */
            struct delta_writer *dw;
            h.final_size = h.base_size;
            if (!(dw = delta_writer_new(c->delta_path, &h)) ||
                delta_writer_commit(dw, c->res->delta_sha256) != 0)
                return -1;
            out = h;
        } else if (delta_write_wal(c->delta_path, &h, c->wal_fd, c->walp, &c->w, &out,
                                   c->res->delta_sha256) != 0) {
            return -1;
        }
        c->delta_written = true;
        c->res->final_size = out.final_size;
        dv_crashpoint("hotcopy.delta");
    } else if (c->wal_fd >= 0) {
        if (delta_apply_wal(c->wal_fd, c->walp, &c->w, c->out_fd, c->tmp, &c->res->final_size) != 0)
            return -1;
    } else {
        c->res->final_size = c->res->base_size;
    }
    c->res->wal_frames = c->w.nframes;
    c->res->delta_pages = c->w.ncommits ? (uint32_t)c->w.npages : 0;
    return 0;
}

/* End the transaction and close SQLite, then (only then) our descriptors of the file. */
static int end_snapshot(struct hc *c)
{
    int rc = 0;
    if (c->in_txn && sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_err(c, "end transaction");
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    }
    c->in_txn = false;
    if (c->db && sqlite3_close(c->db) != SQLITE_OK && rc == 0)
        rc = sql_err(c, "close");
    c->db = NULL;
    if (c->src_fd >= 0)
        close(c->src_fd);
    if (c->wal_fd >= 0)
        close(c->wal_fd);
    c->src_fd = c->wal_fd = -1;
    return rc;
}

int hotcopy_db(const char *src, const char *dst, const char *delta_path,
               const struct hotcopy_opts *opts, struct hotcopy_result *result)
{
    static const struct hotcopy_opts no_opts = {0};
    double t0 = dv_mono();
    struct hc c = {.src = src,
                   .dst = dst,
                   .delta_path = delta_path,
                   .opts = opts ? opts : &no_opts,
                   .res = result,
                   .src_fd = -1,
                   .out_fd = -1,
                   .wal_fd = -1};
    memset(result, 0, sizeof *result);
    if (c.opts->delta == DV_DELTA_KEEP && (!delta_path || !delta_path[0])) {
        dv_seterr("hotcopy %s: delta mode keep needs a delta path", src);
        return -1;
    }
    c.tmp = dv_asprintf("%s.tmp.%ld", dst, (long)getpid());
    const char *step = "begin";
    if (begin_snapshot(&c) != 0)
        goto fail;
    step = "copy";
    if (copy_bytes(&c) != 0)
        goto fail;
    dv_crashpoint("hotcopy.copied");
    if (result->wal_mode) {
        step = "delta";
        if (capture_delta(&c) != 0)
            goto fail;
    } else {
        result->final_size = result->base_size;
    }
    step = "end";
    if (end_snapshot(&c) != 0)
        goto fail;
    step = "finish";
    if (!c.opts->defer_sync && fsync(c.out_fd) != 0) {
        dv_syserr("fsync %s", c.tmp);
        goto fail;
    }
    int rc = close(c.out_fd);
    c.out_fd = -1;
    if (rc != 0) {
        dv_syserr("close %s", c.tmp);
        goto fail;
    }
    if (rename(c.tmp, dst) != 0) {
        dv_syserr("rename %s to %s", c.tmp, dst);
        goto fail;
    }
    if ((!c.opts->defer_sync && dv_fsync_parent(dst) != 0) ||
        (!c.opts->skip_sha && dv_sha256_file_hex(dst, result->copy_sha256) != 0)) {
        unlink(dst);
        goto fail;
    }
    wal_info_free(&c.w);
    free(c.walp);
    free(c.tmp);
    result->seconds = dv_mono() - t0;
    return 0;
fail:
    dv_preferr("hotcopy %s (%s)", src, step);
    if (c.in_txn)
        sqlite3_exec(c.db, "ROLLBACK", NULL, NULL, NULL);
    c.in_txn = false;
    if (c.db)
        sqlite3_close(c.db);
    c.db = NULL;
    if (c.src_fd >= 0)
        close(c.src_fd);
    if (c.wal_fd >= 0)
        close(c.wal_fd);
    if (c.out_fd >= 0)
        close(c.out_fd);
    unlink(c.tmp);
    if (c.delta_written)
        unlink(delta_path);
    wal_info_free(&c.w);
    free(c.walp);
    free(c.tmp);
    return -1;
}

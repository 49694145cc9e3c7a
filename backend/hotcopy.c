/* hotcopy.c - see hotcopy.h; the method is design.md "Hot backup of a live database". */
#include "hotcopy.h"
#include "runcmd.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbstream.h"
#include "delta.h"
#include "fsb.h"
#include "snapshot.h"
#include "util.h"
#include "wal.h"

/* Everything one copy holds, so that one exit path can release it in the right order. */
struct hc {
    const char *src, *dst, *delta_path; /* dst and delta_path: beneath root */
    const struct fsb *root;
    const struct hotcopy_opts *opts;
    struct hotcopy_result *res;
    struct fsb_tmp t;     /* the copy's temporary beside dst (fsb.h) */
    char *tmp, *walp;     /* tmp: its path, for messages and the snapshot command */
    struct dv_snapshot s; /* the pinned snapshot; s.wal_fd: the WAL read at the stop */
    int out_fd;
    bool delta_written;
    bool streamed; /* ds holds the copy's page map and SHA-256 state (dvault's own copy) */
    struct dbstream ds;
    uint32_t *pre; /* the pages of the WAL as first scanned (an apply that met a WAL restart */
    size_t npre;   /* rescans it: pages written before that are changed too) */
    struct wal_info w;
};

/* Pin the snapshot (snapshot.h: the descriptor we copy from is the snapshot's s.fd). */
static int begin_snapshot(struct hc *c)
{
    if (snapshot_begin(&c->s, c->src, c->opts->busy_ms) != 0)
        return -1;
    c->res->wal_mode = c->s.wal_mode;
    c->res->locked_copy = !c->s.wal_mode;
    c->res->page_size = c->s.page_size;
    snprintf(c->res->replica_id, sizeof c->res->replica_id, "%s", c->s.replica_id);
    snprintf(c->res->dbiid, sizeof c->res->dbiid, "%s", c->s.dbiid);
    c->res->base_size = c->s.size;
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
    uint64_t size = c->res->base_size;
    if (c->opts->snapshot_command && c->opts->snapshot_command[0]) {
        if (job_cancelled(job)) {
            dv_seterr("cancelled");
            return -1;
        }
        if (run_snapshot_command(c->opts->snapshot_command, c->src, c->tmp) != 0)
            return -1;
        /* what the command left at the temporary's name: a regular file, never a link */
        if (fsb_tmp_reopen(&c->t) != 0) {
            const char *cmd = c->opts->snapshot_command;
            dv_preferr("snapshot command %.*s exited 0 but left no copy at {dst}",
                       (int)strcspn(cmd, " \t"), cmd);
            return -1;
        }
        c->out_fd = c->t.fd;
        if (fchmod(c->out_fd, 0600) != 0) { /* copies are 0600 whoever made them */
            dv_syserr("chmod %s", c->tmp);
            return -1;
        }
        job_advance(job, 0, size, NULL);
    } else {
        c->out_fd = c->t.fd; /* created O_EXCL by fsb_tmp_open */
        /* one read feeding the copy, its page map and its SHA-256 (dbstream.h); a file that
         * shrank under the copy (a checkpoint truncated it) gives zeros, cut below */
        c->ds = (struct dbstream){.src_fd = c->s.fd,
                                  .src_name = c->src,
                                  .dst_fd = c->out_fd,
                                  .dst_name = c->tmp,
                                  .size = size,
                                  .page_size = c->res->page_size,
                                  .want_pm = c->opts->pm != NULL,
                                  .want_sha = !c->opts->skip_sha,
                                  .writeback = true,
                                  .job = job};
        c->streamed = true;
        if (dbstream_run(&c->ds) != 0)
            return -1;
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
    if (wal_scan_path(c->walp, NULL, &c->w, &c->s.wal_fd) != 0)
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
        if (c->s.wal_fd < 0) { /* no WAL file at all: an empty delta */
            struct delta_writer *dw;
            h.final_size = h.base_size;
            if (!(dw = delta_writer_new_at(c->root, c->delta_path, &h)) ||
                delta_writer_commit(dw, c->res->delta_sha256) != 0)
                return -1;
            out = h;
        } else if (delta_write_wal(c->root, c->delta_path, &h, c->s.wal_fd, c->walp, &c->w, &out,
                                   c->res->delta_sha256) != 0) {
            return -1;
        }
        c->delta_written = true;
        c->res->final_size = out.final_size;
        dv_crashpoint("hotcopy.delta");
    } else if (c->s.wal_fd >= 0) {
        if (c->streamed && c->w.ncommits > 0) {
            c->pre = dv_calloc(c->w.npages ? c->w.npages : 1, sizeof *c->pre);
            for (size_t i = 0; i < c->w.npages; i++)
                c->pre[c->npre++] = c->w.pages[i].pgno;
        }
        if (delta_apply_wal(c->s.wal_fd, c->walp, &c->w, c->out_fd, c->tmp, &c->res->final_size) !=
            0)
            return -1;
    } else {
        c->res->final_size = c->res->base_size;
    }
    c->res->wal_frames = c->w.nframes;
    c->res->delta_pages = c->w.ncommits ? (uint32_t)c->w.npages : 0;
    return 0;
}

/* The map of finish_hashes: the kept delta's pages, or the pages the apply wrote (pg). */
static int finish_map(struct hc *c, bool keep, bool changed, const uint32_t *pg, size_t np)
{
    struct pagemap *pm = &c->ds.pm;
    if (!c->opts->pm)
        return 0;
    if (keep) {
        int dfd = fsb_openat(c->root, c->delta_path, O_RDONLY, 0);
        char *dpath = fsb_abs(c->root, c->delta_path);
        int rc = dfd < 0 ? -1 : pagemap_patch_delta(pm, dfd, dpath);
        if (dfd >= 0)
            close(dfd);
        free(dpath);
        return rc;
    }
    return changed ? pagemap_patch_fd(pm, c->out_fd, c->tmp, c->res->final_size, pg, np) : 0;
}

/*
 * The streamed page map and SHA-256 made true of what the copy is now. Apply: the delta's
 * pages digested again from the copy, the SHA-256 resumed from the first byte it changed.
 * Keep: the copy is as streamed; the map becomes the image's (the .delta's pages).
 */
static int finish_hashes(struct hc *c)
{
    struct dbstream *ds = &c->ds;
    struct hotcopy_result *r = c->res;
    bool keep = r->wal_mode && c->opts->delta == DV_DELTA_KEEP;
    bool changed = !keep && (c->w.ncommits > 0 || r->final_size != r->base_size);
    uint64_t from = r->final_size < r->base_size ? r->final_size : r->base_size;
    /* the pages the apply wrote: the delta's, and those of a first scan (see pre) */
    size_t n = c->w.ncommits ? c->w.npages : 0, np = 0;
    uint32_t *pg = dv_calloc(n + c->npre + 1, sizeof *pg);
    for (size_t i = 0; i < n; i++)
        pg[np++] = c->w.pages[i].pgno;
    for (size_t i = 0; i < c->npre; i++)
        pg[np++] = c->pre[i];
    for (size_t i = 0; changed && i < np; i++) {
        uint64_t off = (uint64_t)(pg[i] - 1) * r->page_size;
        from = off < from ? off : from;
    }
    int rc = finish_map(c, keep, changed, pg, np);
    free(pg);
    if (rc != 0)
        return -1;
    if (!c->opts->skip_sha) {
        if (!changed)
            memcpy(r->copy_sha256, ds->sha256, sizeof r->copy_sha256);
        else if (dbstream_sha_from(ds, c->out_fd, c->tmp, from, r->final_size, r->copy_sha256) != 0)
            return -1;
    }
    if (c->opts->pm) { /* the map moves to the caller */
        *c->opts->pm = ds->pm;
        memset(&ds->pm, 0, sizeof ds->pm);
    }
    return 0;
}

int hotcopy_db(const char *src, const struct fsb *root, const char *dst, const char *delta_path,
               const struct hotcopy_opts *opts, struct hotcopy_result *result)
{
    static const struct hotcopy_opts no_opts = {0};
    double t0 = dv_mono();
    struct hc c = {.src = src,
                   .dst = dst,
                   .delta_path = delta_path,
                   .root = root,
                   .opts = opts ? opts : &no_opts,
                   .res = result,
                   .s = {.fd = -1, .wal_fd = -1},
                   .out_fd = -1};
    memset(result, 0, sizeof *result);
    if (c.opts->pm)
        memset(c.opts->pm, 0, sizeof *c.opts->pm);
    if (c.opts->delta == DV_DELTA_KEEP && (!delta_path || !delta_path[0])) {
        dv_seterr("hotcopy %s: delta mode keep needs a delta path", src);
        return -1;
    }
    const char *step = "begin";
    bool cmd = c.opts->snapshot_command && c.opts->snapshot_command[0];
    /* the temporary beside dst: beneath root without links, created O_EXCL (a program given
     * its path creates it itself); anything planted at its name is removed, never followed */
    if (fsb_tmp_open(root, dst, NULL, 0600, cmd ? FSB_TMP_NOCREATE : 0, &c.t) != 0) {
        c.t.committed = true; /* nothing of ours to remove */
        goto fail;
    }
    c.tmp = dv_strdup(c.t.path);
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
    if (snapshot_end(&c.s) != 0)
        goto fail;
    step = "finish";
    if (c.streamed
            ? finish_hashes(&c) != 0
            : !c.opts->skip_sha && dv_sha256_fd_hex(c.out_fd, c.tmp, result->copy_sha256) != 0)
        goto fail;
    c.out_fd = -1; /* c.t.fd: closed by the commit */
    if (fsb_tmp_commit(&c.t, c.opts->defer_sync ? FSB_NOSYNC : 0) != 0) {
        if (c.t.committed)
            fsb_unlink(root, dst, true);
        goto fail;
    }
    fsb_tmp_done(&c.t);
    dbstream_done(&c.ds);
    free(c.pre);
    wal_info_free(&c.w);
    free(c.walp);
    free(c.tmp);
    result->seconds = dv_mono() - t0;
    return 0;
fail:
    dv_preferr("hotcopy %s (%s)", src, step);
    snapshot_end(&c.s); /* the connection, then our descriptors of the file */
    fsb_tmp_done(&c.t); /* closes the copy, removes the temporary */
    if (c.delta_written)
        fsb_unlink(root, delta_path, true);
    dbstream_done(&c.ds);
    free(c.pre);
    wal_info_free(&c.w);
    free(c.walp);
    free(c.tmp);
    return -1;
}

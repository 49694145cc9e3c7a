/* backup.c - see backup.h. */
#include "backup.h"
#include "backup_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "dbglob.h"
#include "fsb.h"
#include "hotcopy.h"
#include "incr.h"
#include "nlorefs.h"

/* The catalog page cache of a backup (docs/scale.md: the working set of references). */
#define BACKUP_CATALOG_CACHE_MIB 64
#include "pagemap.h"
#include "runcmd.h"
#include "target.h"
#include "target_spool.h"
#include "unbacked.h"
#include "util.h"

/* ---- references of a copy ------------------------------------------------------------ */

/* ---- events into the catalog ----------------------------------------------------------- */

struct ctx {
    const struct dv_config *cfg;
    const struct backup_opts *o;
    struct dv_job *job;
    struct backup_result *r;
    struct target *t;
    struct catalog *cat;
    int64_t job_id;
    dv_event_fn prev_event;
    void *prev_ud;
    char *partial;   /* the set's directory while it is written (absolute: hooks, messages) */
    struct fsb *set; /* the same for writing beneath it (fsb.h) */
    struct manifest m;
    char **delta_paths; /* absolute, of kept deltas (for the post command) */
    int64_t *delta_dbs;
    size_t ndeltas;
    enum catalog_set_kind kind;        /* incremental: databases go through incr.c */
    int64_t pages_total, pages_stored; /* over the set's databases */
    /* the databases' catalog rows are committed in batches (one_catalog): open, since when
       (us), how many databases in it */
    bool batch;
    int64_t batch_since;
    int batch_dbs;
    /* a publish failed (an S3 gateway gone, credentials revoked): the target, not the
       database, failed; the set stops there rather than fail database after database */
    char target_err[DV_ERR_MAX];
};

static void on_event(void *ud, enum dv_level level, const char *msg)
{
    struct ctx *c = ud;
    if (c->prev_event)
        c->prev_event(c->prev_ud, level, msg);
    if (c->cat && c->job_id)
        catalog_event_add(c->cat, c->job_id, dv_now(), (int)level, msg);
}

/* ---- hooks ----------------------------------------------------------------------------- */

static int run_hook(struct ctx *c, const char *phase, const char *cmd, const char *set_dir,
                    char **out)
{
    char *env[8];
    size_t k = 0;
    env[k++] = dv_asprintf("DV_PHASE=%s", phase);
    env[k++] = dv_asprintf("DV_SET_ID=%s", c->r->set_id);
    env[k++] = dv_asprintf("DV_SET_DIR=%s", set_dir);
    env[k++] = dv_asprintf("DV_TARGET=%s", target_url(c->t));
    env[k++] = dv_asprintf("DV_DATA_DIR=%s", c->cfg->server.data_dir);
    /* an S3 target's kept deltas are objects in the bucket: no file for the hook to move */
    size_t nd = target_kind(c->t) == TARGET_KIND_S3 ? 0 : c->ndeltas;
    size_t len = 1;
    for (size_t i = 0; i < nd; i++)
        len += strlen(c->delta_paths[i]) + 1;
    char *deltas = dv_calloc(1, len);
    for (size_t i = 0; i < nd; i++) {
        strcat(deltas, c->delta_paths[i]);
        if (i + 1 < nd)
            strcat(deltas, "\n");
    }
    env[k++] = dv_asprintf("DV_DELTAS=%s", deltas);
    free(deltas);
    env[k++] = dv_asprintf("DV_STATUS=%s", c->r->complete  ? "complete"
                                           : c->r->partial ? "partial"
                                                           : "failed");
    env[k] = NULL;
    struct runcmd_opts ro = {.what = phase[1] == 'r' ? "pre command" : "post command",
                             .env = (const char *const *)env,
                             .out = out};
    int rc = runcmd(cmd, &ro);
    for (size_t i = 0; i < k; i++)
        free(env[i]);
    return rc;
}

/* A post command reports "moved OLD NEW" per delta it moved; record where each lives now. */
static int apply_moves(struct ctx *c, const char *out, const char *set_dir)
{
    char *copy = dv_strdup(out), *save = NULL;
    char *moved_tsv = dv_strdup("");
    int rc = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char old[4096], new[4096];
        if (strncmp(line, "moved ", 6) != 0)
            continue;
        if (target_kind(c->t) == TARGET_KIND_S3) {
            job_log(c->job, DV_WARN,
                    "post command: ignored '%s': the kept deltas of an S3 target stay in the "
                    "bucket",
                    line);
            continue;
        }
        if (sscanf(line + 6, "%4095s %4095s", old, new) != 2 || new[0] != '/') {
            job_log(c->job, DV_WARN, "post command: ignored malformed line '%s'", line);
            continue;
        }
        size_t i;
        for (i = 0; i < c->ndeltas; i++)
            if (strcmp(c->delta_paths[i], old) == 0)
                break;
        if (i == c->ndeltas) {
            job_log(c->job, DV_WARN, "post command moved %s, which is not a delta of this set",
                    old);
            continue;
        }
        struct stat st;
        if (stat(new, &st) != 0) {
            job_log(c->job, DV_ERROR, "post command says it moved %s to %s, which does not exist",
                    old, new);
            rc = -1;
            continue;
        }
        /* recorded (restore finds it there), but prune only ever deletes a moved delta that
         * passes the moved-delta rule: say so now rather than at the prune */
        if (target_delta_moved_check(c->t, c->cfg->server.data_dir, c->cfg->server.daos_dir, new,
                                     NULL, NULL) < 0)
            job_log(c->job, DV_WARN,
                    "post command moved %s to a place prune will refuse to delete it from: %s", old,
                    dv_err());
        if (catalog_set_file_move_delta(c->cat, c->r->set_id, c->delta_dbs[i], new) != 0) {
            job_log(c->job, DV_ERROR, "catalog: %s", dv_err());
            rc = -1;
            continue;
        }
        char *rel = strncmp(old, set_dir, strlen(set_dir)) == 0 ? old + strlen(set_dir) + 1 : old;
        char *n2 = dv_asprintf("%s%s\t%s\n", moved_tsv, rel, new);
        free(moved_tsv);
        moved_tsv = n2;
        c->r->deltas_moved++;
        job_log(c->job, DV_INFO, "delta %s now lives at %s", rel, new);
    }
    if (c->r->deltas_moved) {
        /* the set stays self-describing: resync catalog reads this beside the manifest */
        char *p = dv_asprintf("sets/%s/%s", c->r->set_id, TARGET_MOVED_LIST);
        if (fsb_write_atomic(target_root(c->t), p, moved_tsv, strlen(moved_tsv), 0600) != 0) {
            job_log(c->job, DV_ERROR, "%s", dv_err());
            rc = -1;
        }
        free(p);
    }
    free(moved_tsv);
    free(copy);
    return rc;
}

/* ---- one database ---------------------------------------------------------------------- */

/*
 * Database rel could not be copied (dv_err() says why): counted, logged, and recorded in the
 * set's manifest as failed; the set goes on with the others (a partial set).
 */
static void fail_db(struct ctx *c, const char *rel, const char *src)
{
    char reason[DV_ERR_MAX];
    backup_short_reason(dv_err(), src, reason, sizeof reason);
    c->r->db_failed++;
    job_log(c->job, DV_ERROR, "%s: %s", rel, reason);
    manifest_add_failed(&c->m, rel, reason);
}

static void add_delta_path(struct ctx *c, const char *path, int64_t db_id)
{
    c->delta_paths = dv_realloc(c->delta_paths, (c->ndeltas + 1) * sizeof *c->delta_paths);
    c->delta_dbs = dv_realloc(c->delta_dbs, (c->ndeltas + 1) * sizeof *c->delta_dbs);
    c->delta_paths[c->ndeltas] = dv_strdup(path);
    c->delta_dbs[c->ndeltas] = db_id;
    c->ndeltas++;
}

/*
 * Incremental copy of one database (incr.h). Returns 0 done (hr filled for the common
 * recording: sizes, ids, the .inc's hash as copy_sha256), 1 a full copy is needed (fx says
 * why, logged), -1 failed (counted and logged, or vanished).
 */
static int incr_db(struct ctx *c, const char *rel, const char *src, const char *relcopy,
                   const char *relpm, struct incr_result *ir, struct catalog_file_incr *fx,
                   struct hotcopy_result *hr)
{
    struct incr_origin io;
    int r = incr_origin_find(c->cat, c->t, rel, &io);
    io.busy_ms = (int)(c->cfg->backup.lock_wait_seconds * 1000);
    char *relinc = dv_asprintf("%s%s", relcopy, INCR_SUFFIX);
    if (r == 0 && !io.usable) {
        snprintf(fx->full_reason, sizeof fx->full_reason, "%s", io.why);
        r = 1;
    } else if (r == 0) {
        r = incr_backup_db(src, c->set, relinc, relpm, &io, c->r->set_id, c->job, ir);
        if (r == 1)
            snprintf(fx->full_reason, sizeof fx->full_reason, "%s", ir->why);
    }
    if (r < 0) {
        if (access(src, F_OK) != 0 && errno == ENOENT) {
            c->r->db_vanished++;
            job_log(c->job, DV_WARN, "%s vanished before it could be copied: skipped", rel);
        } else {
            fail_db(c, rel, src);
        }
    } else if (r == 1) {
        job_log(c->job, DV_INFO, "%s: full copy in this incremental set: %s", rel, fx->full_reason);
    } else {
        fx->kind = CATALOG_SET_INCREMENTAL;
        snprintf(fx->origin, sizeof fx->origin, "%s", io.set_id);
        fx->pages_total = (int64_t)ir->pages_total;
        fx->pages_stored = (int64_t)ir->pages_stored;
        snprintf(fx->pagemap_sha256, sizeof fx->pagemap_sha256, "%s", ir->pagemap_sha256);
        hr->wal_mode = true; /* no warning: a locked read is reported by incr itself */
        hr->page_size = ir->page_size;
        hr->base_size = hr->final_size = ir->inc_size; /* the stored file */
        hr->delta_pages = 0;                           /* folded into the image, nothing to apply */
        snprintf(hr->replica_id, sizeof hr->replica_id, "%s", ir->replica_id);
        snprintf(hr->dbiid, sizeof hr->dbiid, "%s", ir->dbiid);
        snprintf(hr->copy_sha256, sizeof hr->copy_sha256, "%s", ir->inc_sha256);
        job_log(c->job, DV_INFO, "%s: %llu of %llu pages changed since set %s (%u runs)", rel,
                (unsigned long long)ir->pages_stored, (unsigned long long)ir->pages_total,
                io.set_id, ir->runs);
    }
    incr_origin_done(&io);
    free(relinc);
    return r;
}

/* The page map of a full copy (+ kept delta), so that the next incremental has an origin
 * (relcopy, reldelta: beneath the set's directory); written by full_pagemap_write once the
 * caller has checked it (a kept delta). */
static int full_pagemap(struct ctx *c, const char *rel, const char *relcopy, const char *reldelta,
                        struct hotcopy_result *hr, struct pagemap *pm)
{
    char *dst = fsb_abs(c->set, relcopy), *delta = reldelta ? fsb_abs(c->set, reldelta) : NULL;
    int fd = fsb_openat(c->set, relcopy, O_RDONLY, 0);
    int dfd = reldelta && fd >= 0 ? fsb_openat(c->set, reldelta, O_RDONLY, 0) : -1;
    /* one read of the copy: the page map of the image and the SHA-256 of the copy */
    int rc = fd < 0 || (reldelta && dfd < 0)
                 ? -1
                 : pagemap_of_fd(fd, dst, dfd, delta, hr->page_size, pm, hr->copy_sha256);
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    free(dst);
    free(delta);
    if (rc != 0) {
        fail_db(c, rel, "");
        return -1;
    }
    return 0;
}

static int full_pagemap_write(struct ctx *c, const char *rel, const char *relpm, struct pagemap *pm,
                              struct catalog_file_incr *fx)
{
    /* without a delta the map is the copy's own, which restore copies as it is; with one, it
     * was checked against the image restore builds (backup_read_refs_keep) */
    pm->flags |= PAGEMAP_F_CHECKED;
    if (pagemap_write_at(c->set, relpm, pm, fx->pagemap_sha256) != 0) {
        fail_db(c, rel, "");
        return -1;
    }
    fx->kind = CATALOG_SET_FULL;
    fx->pages_total = fx->pages_stored = (int64_t)pm->npages;
    return 0;
}

/* One database of the set, from its copy to its records (backup_one). */
struct one {
    const char *rel; /* the database, relative to the data directory */
    char *src;       /* the live database */
    char *relcopy;   /* its set file, beneath the set ("db/REL", or "db/REL.inc") */
    char *dst;       /* the same, absolute */
    char *reldelta;  /* its kept delta, beneath the set */
    char *delta;     /* the same, absolute */
    char *delta_rel; /* the same relative to the target, as the catalog records it */
    char *relpm;     /* its page map, beneath the set */
    char **names;    /* the NLO references recorded */
    size_t nnames;
    int inc;   /* incr_db's answer: 0 incremental, 1 full needed; -2 not tried */
    bool kept; /* a full copy whose delta was kept */
    struct incr_result ir;
    struct catalog_file_incr fx;
    struct hotcopy_result hr;
    struct pagemap pm;
};

/*
 * The copy: an incremental's pages (incr_db), else a hot copy, its page map, its references.
 * 0 done, 1 nothing to record (the database vanished: counted), -1 failed (counted).
 */
static int one_copy(struct ctx *c, struct one *d)
{
    const struct dv_config *cfg = c->cfg;
    bool keep = cfg->backup.delta == DV_DELTA_KEEP;
    if (c->kind == CATALOG_SET_INCREMENTAL) {
        d->inc = incr_db(c, d->rel, d->src, d->relcopy, d->relpm, &d->ir, &d->fx, &d->hr);
        if (d->inc < 0)
            return -1;
    }
    struct hotcopy_opts ho = {.delta = cfg->backup.delta,
                              .snapshot_command = cfg->backup.snapshot_command,
                              .job = c->job,
                              .defer_sync = true, /* one syncfs before the set is finished */
                              .pm = &d->pm,       /* the copy's one read: map and SHA-256 */
                              /* a snapshot command's copy: hashed in full_pagemap's read */
                              .skip_sha =
                                  cfg->backup.snapshot_command && cfg->backup.snapshot_command[0],
                              .busy_ms = (int)(cfg->backup.lock_wait_seconds * 1000)};
    if (d->inc != 0 &&
        hotcopy_db(d->src, c->set, d->relcopy, keep ? d->reldelta : NULL, &ho, &d->hr) != 0) {
        if (access(d->src, F_OK) != 0 && errno == ENOENT) {
            c->r->db_vanished++;
            job_log(c->job, DV_WARN, "%s vanished before it could be copied: skipped", d->rel);
            return 1;
        }
        fail_db(c, d->rel, d->src);
        return -1;
    }
    if (!d->hr.wal_mode)
        job_log(c->job, DV_WARN,
                "%s is not in WAL mode: it cannot be copied hot; copied under a short lock",
                d->rel);
    bool with_delta = keep && d->hr.wal_mode;
    /* a snapshot command's copy was not read by dvault: its map and hash from a read of it */
    if (d->inc != 0 && !d->pm.d &&
        full_pagemap(c, d->rel, d->relcopy, with_delta ? d->reldelta : NULL, &d->hr, &d->pm) != 0)
        return -1;
    if (d->inc == 0) {
        d->names = d->ir.refs, d->nnames = d->ir.nrefs;
        d->ir.refs = NULL, d->ir.nrefs = 0;
    } else if ((with_delta ? backup_read_refs_keep(c->set, d->relcopy, d->reldelta, &d->pm,
                                                   &d->names, &d->nnames)
                           : nlorefs_read_file(d->dst, &d->names, &d->nnames)) != 0) {
        fail_db(c, d->rel, "");
        return -1;
    }
    if (d->inc != 0 && full_pagemap_write(c, d->rel, d->relpm, &d->pm, &d->fx) != 0)
        return -1;
    d->kept = with_delta && d->inc != 0;
    if (d->inc == 0) { /* the set file is the .inc */
        free(d->relcopy);
        d->relcopy = dv_asprintf("db/%s%s", d->rel, INCR_SUFFIX);
    }
    return 0;
}

/* The databases' rows are committed in batches: a transaction of up to BATCH_DBS databases
 * or BATCH_US, each database in a savepoint (a database that fails leaves nothing of its
 * own; the others stay). One commit per database wrote the pages a database's references
 * touch (the NLO table, the reference index: random across them) to the WAL once per
 * database: 4,000 pages each at 2,000 references (1,000,000 NLOs: 1 s batches 48 s, 5 s
 * batches 35 s for the first backup of 1,000 databases). The catalog's write lock is held at
 * most about BATCH_US at a time: other writers (job records) wait up to 10 s. */
#define BATCH_DBS 1024
#define BATCH_US 5000000

static int batch_commit(struct ctx *c)
{
    if (!c->batch)
        return 0;
    c->batch = false;
    if (catalog_commit(c->cat) == 0)
        return 0;
    dv_preferr("catalog");
    char saved[DV_ERR_MAX];
    snprintf(saved, sizeof saved, "%s", dv_err());
    catalog_rollback(c->cat);
    dv_seterr("%s", saved);
    return -1;
}

/* The database's rows in the catalog, in the batch: its file in the set, its references. */
static int one_catalog(struct ctx *c, struct one *d, int64_t *db_id)
{
    struct hotcopy_result *hr = &d->hr;
    if (!c->batch) {
        if (catalog_begin(c->cat) != 0)
            goto fail;
        c->batch = true;
        c->batch_since = dv_now_us();
        c->batch_dbs = 0;
    }
    if (catalog_savepoint(c->cat) != 0)
        goto fail;
    if (catalog_db_upsert(c->cat, d->rel, hr->replica_id, hr->dbiid, dv_now(), db_id) != 0)
        goto rollback;
    struct catalog_set_file f = {
        .set_id = c->r->set_id,
        .db_id = *db_id,
        .path = d->relcopy,
        .size = (int64_t)(d->kept ? hr->base_size : hr->final_size),
        .sha256 = hr->copy_sha256,
        .page_size = hr->page_size,
        .replica_id = hr->replica_id,
        .dbiid = hr->dbiid,
        .delta_mode = d->kept ? CATALOG_DELTA_KEEP : CATALOG_DELTA_APPLY,
        .delta_pages = hr->delta_pages,
        .delta_location = d->kept ? d->delta_rel : NULL,
        .delta_sha256 = d->kept ? hr->delta_sha256 : NULL,
        .locked_copy = hr->locked_copy,
    };
    if (catalog_set_file_add(c->cat, &f) != 0 ||
        catalog_file_incr_set(c->cat, c->r->set_id, *db_id, &d->fx) != 0)
        goto rollback;
    if (catalog_refs_record(c->cat, *db_id, c->r->seq, (const char *const *)d->names, d->nnames) !=
        0)
        goto rollback;
    if (catalog_savepoint_release(c->cat) != 0)
        goto rollback;
    if ((++c->batch_dbs >= BATCH_DBS || dv_now_us() - c->batch_since >= BATCH_US) &&
        batch_commit(c) != 0)
        goto fail_nomsg;
    return 0;
rollback:
    dv_preferr("catalog");
    {
        char saved[DV_ERR_MAX];
        snprintf(saved, sizeof saved, "%s", dv_err());
        catalog_savepoint_rollback(c->cat);
        dv_seterr("%s", saved);
    }
    fail_db(c, d->rel, "");
    return -1;
fail:
    dv_preferr("catalog");
fail_nomsg:
    fail_db(c, d->rel, "");
    return -1;
}

/* The database in the set's manifest and the run's counts. */
static void one_manifest(struct ctx *c, struct one *d, int64_t db_id)
{
    struct hotcopy_result *hr = &d->hr;
    bool kept = d->kept;
    struct manifest_db md = {
        .db_path = (char *)d->rel,
        .path = d->relcopy,
        .size = kept ? hr->base_size : hr->final_size,
        .page_size = hr->page_size,
        .replica_id = hr->replica_id,
        .dbiid = hr->dbiid,
        .delta_keep = kept,
        .delta_pages = hr->delta_pages,
        .delta_path = kept ? d->reldelta : NULL,
        .locked_copy = hr->locked_copy,
        .kind = d->fx.kind == CATALOG_SET_INCREMENTAL ? "incremental" : "full",
        .origin = d->fx.origin,
        .pages_total = (uint64_t)d->fx.pages_total,
        .pages_stored = (uint64_t)d->fx.pages_stored,
        .pagemap = d->fx.pagemap,
        .full_reason = d->fx.full_reason,
    };
    snprintf(md.pagemap_sha256, sizeof md.pagemap_sha256, "%s", d->fx.pagemap_sha256);
    snprintf(md.sha256, sizeof md.sha256, "%s", hr->copy_sha256);
    snprintf(md.delta_sha256, sizeof md.delta_sha256, "%s", kept ? hr->delta_sha256 : "");
    manifest_add_db(&c->m, &md);
    if (kept) {
        add_delta_path(c, d->delta, db_id);
        c->r->deltas_kept++;
    } else if (hr->delta_pages > 0) {
        c->r->deltas_applied++;
    }
    c->r->databases++;
    c->r->locked_copies += hr->locked_copy;
    c->r->delta_pages += hr->delta_pages;
    c->r->db_bytes += (kept ? hr->base_size : hr->final_size);
    c->r->refs += d->nnames;
    c->pages_total += d->fx.pages_total;
    c->pages_stored += d->fx.pages_stored;
}

/*
 * The database's files are done (one_copy): publish them (target_publish: S3 uploads each
 * and removes it from the working tree; a directory has them already) before the catalog
 * records them. *pub gets a bit per file published (copy, delta, page map). 0 or -1 (the
 * database failed: counted).
 */
static int one_publish(struct ctx *c, struct one *d, unsigned *pub)
{
    const char *files[3] = {d->relcopy, d->kept ? d->reldelta : NULL, d->relpm};
    for (int i = 0; i < 3; i++) {
        if (!files[i])
            continue;
        char *rel = target_spool_set_rel(c->r->set_id, files[i]);
        int rc = target_publish(c->t, rel, 0);
        free(rel);
        if (rc != 0) {
            snprintf(c->target_err, sizeof c->target_err, "%s", dv_err());
            fail_db(c, d->rel, "");
            return -1;
        }
        *pub |= 1u << i;
    }
    dv_crashpoint("backup.published");
    return 0;
}

static int backup_one(struct ctx *c, const char *rel)
{
    struct one d;
    memset(&d, 0, sizeof d);
    d.rel = rel;
    d.inc = -2;
    d.src = dv_path_join(c->cfg->server.data_dir, rel);
    d.relcopy = dv_asprintf("db/%s", rel);
    d.dst = dv_path_join(c->partial, d.relcopy);
    d.reldelta = dv_asprintf("%s.delta", d.relcopy);
    d.delta = dv_path_join(c->partial, d.reldelta);
    /* the catalog records a delta in its set relative to the target ("sets/.ID.partial/db/..",
     * then "sets/ID/db/.."): a target moved whole keeps its deltas (docs/catalog.md) */
    d.delta_rel = dv_asprintf("sets/.%s.partial/%s", c->r->set_id, d.reldelta);
    d.relpm = dv_asprintf("%s%s", d.relcopy, INCR_PAGEMAP_SUFFIX);
    snprintf(d.fx.pagemap, sizeof d.fx.pagemap, "%s", d.relpm);
    char *dir = dv_dirname(d.relcopy);
    int64_t db_id = 0;
    int rc = -1;
    unsigned pub = 0;
    /* the database's directories in the set: real directories, never through a link */
    if (fsb_mkdirs(c->set, dir, 0700) != 0) {
        fail_db(c, rel, d.src);
    } else if ((rc = one_copy(c, &d)) == 0 && (rc = one_publish(c, &d, &pub)) == 0 &&
               (rc = one_catalog(c, &d, &db_id)) == 0) {
        one_manifest(c, &d, db_id);
        job_advance(c->job, 1, 0, rel);
        dv_crashpoint("backup.db");
    }
    if (rc == 1) /* vanished */
        rc = 0;
    pagemap_done(&d.pm);
    if (rc != 0) { /* a failed database leaves nothing of its own in the set */
        char *incfile = dv_asprintf("%s%s", d.relcopy, INCR_SUFFIX);
        fsb_unlink(c->set, d.relcopy, true);
        fsb_unlink(c->set, d.reldelta, true);
        fsb_unlink(c->set, d.relpm, true);
        fsb_unlink(c->set, incfile, true);
        free(incfile);
        /* S3: what was uploaded goes too (a directory: the unlinks above were the target) */
        const char *files[3] = {d.relcopy, d.reldelta, d.relpm};
        for (int i = 0; i < 3 && target_kind(c->t) == TARGET_KIND_S3; i++)
            if (pub & (1u << i)) {
                char *prel = target_spool_set_rel(c->r->set_id, files[i]);
                target_remove(c->t, prel, NULL);
                free(prel);
            }
    }
    incr_result_done(&d.ir);
    free(d.relpm);
    nlorefs_free(d.names, d.nnames);
    free(d.src);
    free(d.relcopy);
    free(d.dst);
    free(d.reldelta);
    free(d.delta);
    free(d.delta_rel);
    free(dir);
    return rc;
}

/* ---- the job --------------------------------------------------------------------------- */

static void fill_manifest_counts(struct ctx *c, const char *status)
{
    struct manifest *m = &c->m;
    snprintf(m->status, sizeof m->status, "%s", status);
    m->ended = dv_now();
    m->databases = (int64_t)c->r->databases;
    m->nlo_new = (int64_t)c->r->nlo.copied;
    m->nlo_held = (int64_t)c->r->nlo.held;
    m->nlo_skipped =
        (int64_t)(c->r->nlo.busy + c->r->nlo.vanished + c->r->nlo.unreadable + c->r->nlo.refused);
    m->deltas_applied = (int64_t)c->r->deltas_applied;
    m->deltas_kept = (int64_t)c->r->deltas_kept;
    m->bytes = (int64_t)(c->r->db_bytes + c->r->nlo.bytes);
    m->pages_total = c->pages_total;
    m->pages_stored = c->pages_stored;
    c->r->pages_total = (uint64_t)c->pages_total;
    c->r->pages_stored = (uint64_t)c->pages_stored;
    free(m->message);
    m->message = dv_strdup(c->r->message);
    if (c->r->nlo.list_count) {
        snprintf(m->nlo_list.file, sizeof m->nlo_list.file, "%s", TARGET_NLO_LIST);
        m->nlo_list.count = c->r->nlo.list_count;
        snprintf(m->nlo_list.sha256, sizeof m->nlo_list.sha256, "%s", c->r->nlo.list_sha256);
    }
}

static void catalog_finish(struct ctx *c, enum catalog_set_status status)
{
    struct catalog_set s;
    memset(&s, 0, sizeof s);
    snprintf(s.id, sizeof s.id, "%s", c->r->set_id);
    s.seq = c->r->seq;
    s.kind = c->kind;
    snprintf(s.checkpoint, sizeof s.checkpoint, "%s", c->r->set_id);
    s.ended = c->m.ended; /* the manifest's: a catalog rebuilt from it must say the same */
    s.status = status;
    s.databases = c->m.databases;
    s.nlo_new = c->m.nlo_new;
    s.nlo_held = c->m.nlo_held;
    s.nlo_skipped = c->m.nlo_skipped;
    s.deltas_applied = c->m.deltas_applied;
    s.deltas_kept = c->m.deltas_kept;
    s.bytes = c->m.bytes;
    snprintf(s.message, sizeof s.message, "%s", c->r->message);
    /* the set's row and the databases it failed, at once */
    int rc = catalog_begin(c->cat);
    for (size_t i = 0; rc == 0 && i < c->m.nfailed; i++)
        rc = catalog_set_failure_add(c->cat, s.id, c->m.failed[i].db_path, c->m.failed[i].reason);
    if (rc == 0)
        rc = catalog_set_finish(c->cat, &s);
    if (rc == 0)
        rc = catalog_set_pages_set(c->cat, s.id, c->pages_total, c->pages_stored);
    if (rc == 0)
        rc = catalog_commit(c->cat);
    if (rc != 0) {
        job_log(c->job, DV_ERROR, "catalog: %s", dv_err());
        catalog_rollback(c->cat);
    }
}

/*
 * A backup killed after its set directory was renamed into place (the manifest says
 * complete) but before the catalog was told: the set is whole on the target, so record it
 * complete from its manifest rather than failing it. Runs with the target lock held, before
 * stale running sets are failed. *n gets how many were recorded. 0 or -1.
 */
static int reconcile_finished(struct ctx *c, int *n)
{
    *n = 0;
    struct catalog_set page[64];
    size_t k = 0;
    int64_t before = 0;
    do {
        if (catalog_sets_list(c->cat, before, page, 64, &k) != 0)
            return -1;
        for (size_t i = 0; i < k; i++) {
            struct catalog_set *s = &page[i];
            if (s->status != CATALOG_SET_RUNNING)
                continue;
            char *dir = target_set_dir(c->t, s->id);
            char *mp = dv_asprintf("sets/%s/%s", s->id, TARGET_MANIFEST);
            struct manifest m;
            manifest_init(&m);
            bool partial = false;
            /* S3: the manifest is in the bucket (held) or nowhere */
            bool s3 = target_kind(c->t) == TARGET_KIND_S3;
            /* beneath the target, no link, no FIFO, capped (fsb) */
            if ((!s3 || target_fetch(c->t, mp) == 0) &&
                manifest_read_at(target_root(c->t), mp, &m) == 0 &&
                (strcmp(m.status, "complete") == 0 ||
                 (partial = strcmp(m.status, "partial") == 0)) &&
                strcmp(m.id, s->id) == 0 && m.seq == s->seq) {
                s->status = partial ? CATALOG_SET_PARTIAL : CATALOG_SET_COMPLETE;
                s->ended = m.ended;
                s->databases = m.databases;
                s->nlo_new = m.nlo_new;
                s->nlo_held = m.nlo_held;
                s->nlo_skipped = m.nlo_skipped;
                s->deltas_applied = m.deltas_applied;
                s->deltas_kept = m.deltas_kept;
                s->bytes = m.bytes;
                if (m.checkpoint && m.checkpoint[0])
                    snprintf(s->checkpoint, sizeof s->checkpoint, "%s", m.checkpoint);
                snprintf(s->message, sizeof s->message, "%s",
                         m.message && m.message[0] ? m.message
                                                   : "recorded from its manifest after an "
                                                     "interruption");
                int rc = catalog_begin(c->cat);
                for (size_t f = 0; rc == 0 && f < m.nfailed; f++)
                    rc = catalog_set_failure_add(c->cat, s->id, m.failed[f].db_path,
                                                 m.failed[f].reason);
                if (rc == 0)
                    rc = catalog_set_finish(c->cat, s);
                if (rc == 0 && catalog_commit(c->cat) == 0)
                    (*n)++;
                else
                    catalog_rollback(c->cat);
            }
            if (s3)
                target_evict(c->t, mp);
            manifest_done(&m);
            free(mp);
            free(dir);
        }
        if (k)
            before = page[k - 1].seq;
    } while (k == 64);
    return 0;
}

/* target_set_begin's look at the catalog (target_id_taken_fn) */
static int id_in_catalog(void *ud, const char *id)
{
    return catalog_set_get(ud, id, NULL);
}

/* A DAOS repository that vanished is an outage, not a setting: say so before anything. */
static int check_daos(const struct dv_config *cfg, const struct backup_opts *o)
{
    if (!dv_config_has_daos(cfg) || (o && o->skip_nlo))
        return 0;
    struct stat dst;
    const char *why = NULL;
    if (stat(cfg->server.daos_dir, &dst) != 0)
        why = errno == ENOENT ? "missing" : strerror(errno);
    else if (!S_ISDIR(dst.st_mode))
        why = "not a directory";
    if (!why)
        return 0;
    dv_seterr("the DAOS repository %s (server.daos_dir) is %s: the server's NLOs cannot "
              "be backed up (mount or restore it; a server without DAOS has no daos_dir)",
              cfg->server.daos_dir, why);
    return -1;
}

/* The target and the catalog, and what an interrupted earlier run left; the job recorded. */
static int open_target(struct ctx *c)
{
    c->t = target_open_cfg(c->cfg);
    if (!c->t)
        return -1;
    c->cat = catalog_open(c->cfg->catalog);
    if (!c->cat || target_bind_catalog(c->t, c->cat) != 0)
        return -1;
    /* the references' working set (the NLO table and refs pages a database's list touches):
       SQLite's 2 MiB default made every recording miss the cache at 100,000s of NLOs */
    catalog_cache_mib(c->cat, BACKUP_CATALOG_CACHE_MIB);
    catalog_refs_bulk(c->cat, true); /* first-time databases: written sorted at each commit */
    int stale = 0, partial = 0, finished = 0;
    if (reconcile_finished(c, &finished) != 0)
        return -1;
    if (finished)
        job_log(c->job, DV_WARN,
                "%d set(s) were finished on the target when their backup was interrupted: "
                "recorded from their manifests",
                finished);
    uint64_t spooled = 0; /* S3: what a crashed run left in the working tree (never held) */
    if (catalog_sets_fail_stale(c->cat, true, dv_now(), &stale) != 0 ||
        target_cleanup_partial(c->t, &partial) != 0 || target_spool_clean(c->t, &spooled) != 0)
        return -1;
    if (catalog_job_start(c->cat, "backup", dv_now(), &c->job_id) != 0)
        return -1;
    if (c->job)
        c->job->catalog_job_id = c->job_id;
    if (stale || partial)
        job_log(c->job, DV_WARN, "an earlier backup was interrupted: %d set(s) marked failed",
                stale);
    if (spooled)
        job_log(c->job, DV_INFO,
                "removed %llu byte(s) an interrupted run left unpublished in the working tree of "
                "%s",
                (unsigned long long)spooled, target_url(c->t));
    return 0;
}

/* The databases to copy: server.databases, refused ones reported, narrowed by --db. */
static int list_databases(struct ctx *c, char ***dbs, size_t *ndbs, char ***refused)
{
    if (dbglob_list_ex(c->cfg, dbs, ndbs, refused) != 0)
        return -1;
    for (char **q = *refused; *q; q++) {
        c->r->db_refused++;
        job_log(c->job, DV_WARN, "database %s", *q);
    }
    const char *glob = c->o ? c->o->db_glob : NULL;
    if (!glob)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < *ndbs; i++) {
        if (dbglob_match(glob, (*dbs)[i]) || strcmp(glob, (*dbs)[i]) == 0)
            (*dbs)[k++] = (*dbs)[i];
        else
            free((*dbs)[i]);
    }
    (*dbs)[k] = NULL;
    *ndbs = k;
    if (k == 0) {
        dv_seterr("--db %s matches no database under %s", glob, c->cfg->server.data_dir);
        return -1;
    }
    return 0;
}

/*
 * The set's kind (seed 004: after a failed or interrupted set, the next one is full) and its
 * id, taken on the target and in the catalog. origin: the incremental's origin; why_full: why
 * the set is full when an incremental was asked ("" otherwise). 0 or -1.
 */
static int create_set(struct ctx *c, int64_t now, char origin[32], char *why_full, size_t n)
{
    bool want_incr = c->o && c->o->incremental;
    if (incr_choose_kind(c->cat, want_incr, &c->kind, origin, why_full, n) != 0)
        return -1;
    if (why_full[0])
        job_log(c->job, want_incr ? DV_WARN : DV_INFO, "%s", why_full);
    /* The id must be free on the target and in the catalog, which other targets may share:
     * the catalog's insert decides (in one transaction); an id another backup took between
     * the two looks is given back and the next one tried. */
    for (int tries = 0;; tries++) {
        if (target_set_begin(c->t, now, id_in_catalog, c->cat, c->r->set_id) != 0)
            return -1;
        int cr = catalog_set_create(c->cat, c->r->set_id, c->kind, now, (int64_t)getpid(),
                                    origin[0] ? origin : NULL, &c->r->seq);
        if (cr == 0)
            return 0;
        char keep[DV_ERR_MAX];
        snprintf(keep, sizeof keep, "%s", dv_err());
        target_set_abandon(c->t, c->r->set_id);
        dv_seterr("%s", keep);
        if (cr < 0 || tries >= 100)
            return -1;
    }
}

/* The new set's manifest header and its directory (c->partial, c->set). 0 or -1. */
static int begin_manifest(struct ctx *c, int64_t now, const char *origin)
{
    const struct dv_config *cfg = c->cfg;
    struct backup_result *r = c->r;
    c->partial = target_set_partial_dir(c->t, r->set_id);
    c->m.version = MANIFEST_VERSION;
    snprintf(c->m.id, sizeof c->m.id, "%s", r->set_id);
    c->m.seq = r->seq;
    snprintf(c->m.kind, sizeof c->m.kind, "%s", catalog_set_kind_name(c->kind));
    c->m.origin = dv_strdup(origin);
    c->m.checkpoint = dv_strdup(r->set_id);
    c->m.started = now;
    c->m.config.data_dir = dv_strdup(cfg->server.data_dir);
    c->m.config.daos_dir = dv_strdup(cfg->server.daos_dir ? cfg->server.daos_dir : "");
    snprintf(c->m.config.delta, sizeof c->m.config.delta, "%s",
             cfg->backup.delta == DV_DELTA_KEEP ? "keep" : "apply");
    c->m.config.encryption = cfg->server.encryption;
    c->m.config.min_object_size = cfg->server.min_object_size;
    c->m.config.max_files_per_subdir = cfg->server.max_files_per_subdir;
    c->m.config.snapshot_command = dv_strdup(cfg->backup.snapshot_command);
    char *prel = dv_asprintf("sets/.%s.partial", r->set_id);
    c->set = fsb_sub(target_root(c->t), prel); /* just made by target_set_begin: no link */
    free(prel);
    return c->set ? 0 : -1;
}

/* 1. every database (r->message says why on -1: cancelled). */
static int copy_databases(struct ctx *c, char **dbs, size_t ndbs)
{
    uint64_t total = 0;
    for (size_t i = 0; i < ndbs; i++) {
        struct stat st;
        char *p = dv_path_join(c->cfg->server.data_dir, dbs[i]);
        if (stat(p, &st) == 0)
            total += (uint64_t)st.st_size;
        free(p);
    }
    job_phase(c->job, "databases", ndbs, total);
    for (size_t i = 0; i < ndbs && !c->target_err[0]; i++) {
        if (job_cancelled(c->job))
            break;
        backup_one(c, dbs[i]);
    }
    if (batch_commit(c) != 0) {
        /* the batch's databases are not recorded: the set cannot hold them */
        snprintf(c->r->message, sizeof c->r->message, "%s", dv_err());
        return -1;
    }
    job_flush(c->job);
    if (job_cancelled(c->job)) {
        snprintf(c->r->message, sizeof c->r->message, "cancelled");
        return -1;
    }
    if (c->target_err[0]) {
        snprintf(c->r->message, sizeof c->r->message, "the target failed: %.*s",
                 (int)sizeof c->r->message - 24, c->target_err);
        return -1;
    }
    return 0;
}

/* What the NLO pass skipped, refused, repaired or lost, in the job's log. */
static void nlo_report(struct dv_job *job, const struct nlopass_result *n)
{
    uint64_t skipped = n->busy + n->vanished + n->unreadable;
    if (skipped)
        job_log(job, DV_WARN,
                "%llu NLO(s) skipped (%llu being written, %llu vanished, %llu unreadable): "
                "picked up by the next run",
                (unsigned long long)skipped, (unsigned long long)n->busy,
                (unsigned long long)n->vanished, (unsigned long long)n->unreadable);
    if (n->refused || n->subdirs_refused)
        job_log(job, DV_WARN,
                "%llu NLO(s) and %llu DAOS subdirector%s refused: symbolic links or special "
                "files, never followed and not backed up until someone replaces them (see "
                "the warnings above)",
                (unsigned long long)n->refused, (unsigned long long)n->subdirs_refused,
                n->subdirs_refused == 1 ? "y" : "ies");
    if (n->repaired)
        job_log(job, DV_WARN, "%llu NLO(s) recorded in the pool were missing from it: copied again",
                (unsigned long long)n->repaired);
    if (n->lost)
        job_log(job, DV_ERROR,
                "%llu NLO(s) recorded in the pool are missing from it and no longer on the "
                "server: removed from the catalog (sets that need them cannot restore them; "
                "dvault verify names the sets)",
                (unsigned long long)n->lost);
}

/* 2. then the NLOs (seed 002: order matters). -1 with r->message. */
static int nlo_step(struct ctx *c)
{
    const struct dv_config *cfg = c->cfg;
    struct backup_result *r = c->r;
    if (!dv_config_has_daos(cfg)) {
        r->no_daos = true;
        job_log(c->job, DV_INFO, "NLO pass skipped: %s", DV_NO_DAOS);
        char daos[4096];
        if (dv_config_daos_unset_but_present(cfg, daos, sizeof daos))
            job_log(c->job, DV_WARN,
                    "%s looks like a DAOS repository, but the configuration names none "
                    "(server.daos_dir): its NLOs are NOT backed up; set server.daos_dir: daos",
                    daos);
        return 0;
    }
    if (c->o && c->o->skip_nlo)
        return 0;
    char *list = dv_path_join(c->partial, TARGET_NLO_LIST);
    struct nlopass_opts no = {.daos_dir = cfg->server.daos_dir,
                              .target = c->t,
                              .cat = c->cat,
                              .set_seq = r->seq,
                              .list_path = list,
                              .job = c->job};
    int nrc = nlopass_run(&no, &r->nlo);
    free(list);
    if (nrc == 0) { /* the set's list of the NLOs it stored: a set file like the copies */
        char *rel = target_spool_set_rel(r->set_id, TARGET_NLO_LIST);
        nrc = target_publish(c->t, rel, 0);
        free(rel);
    }
    if (nrc != 0) {
        snprintf(r->message, sizeof r->message, "NLO pass: %s", dv_err());
        return -1;
    }
    nlo_report(c->job, &r->nlo);
    /* "not yet backed up" kept from here (unbacked.h); a failure only costs the console time */
    struct dv_store *st = store_open(cfg);
    if (!st || unbacked_mark(st, c->cat) != 0)
        job_log(c->job, DV_WARN, "not yet backed up: %s (the console merges instead)", dv_err());
    store_free(st);
    return 0;
}

/*
 * 3. the set becomes visible only now, complete or partial: first every copy made durable at
 * once (the database copies are not fsynced one by one). -2: the set fails (r->message);
 * 0 complete; -1 partial (err says which databases failed).
 */
static int finish_set(struct ctx *c, char *err, size_t errlen)
{
    struct backup_result *r = c->r;
    /* a database that could not be copied does not sink the others: the set is partial,
       and lists it as failed (unless nothing at all could be copied) */
    char names[sizeof r->message - 64];
    backup_failed_list(&c->m, false, names, sizeof names);
    if (r->db_failed && r->databases == 0) { /* the names, and the first one's reason */
        char why[sizeof r->message];
        backup_failed_list(&c->m, true, why, sizeof why);
        if (c->m.nfailed > 1) /* one reason says it: they usually share it */
            backup_failed_list(&(struct manifest){.failed = c->m.failed, .nfailed = 1}, true, why,
                               sizeof why);
        char *m = dv_asprintf("no database could be copied: %.*s%s%s", c->m.nfailed > 1 ? 200 : 0,
                              names, c->m.nfailed > 1 ? "; first: " : "", why);
        snprintf(r->message, sizeof r->message, "%.*s", (int)sizeof r->message - 1, m);
        free(m);
        return -2;
    }
    if (r->db_failed)
        snprintf(r->message, sizeof r->message, "%llu database(s) could not be copied: %s",
                 (unsigned long long)r->db_failed, names);
    /* a directory: the copies were not fsynced one by one; S3: each was acknowledged */
    if (target_kind(c->t) == TARGET_KIND_DIR && syncfs(target_dirfd(c->t)) != 0) {
        dv_syserr("syncfs %s", target_url(c->t));
        snprintf(r->message, sizeof r->message, "%s", dv_err());
        return -2;
    }
    bool is_partial = r->db_failed > 0;
    fill_manifest_counts(c, is_partial ? "partial" : "complete");
    dv_crashpoint("backup.before_finish");
    if (target_set_finish(c->t, &c->m) != 0) {
        snprintf(r->message, sizeof r->message, "%s", dv_err());
        return -2;
    }
    dv_crashpoint("backup.after_rename");
    r->complete = !is_partial;
    r->partial = is_partial;
    catalog_finish(c, is_partial ? CATALOG_SET_PARTIAL : CATALOG_SET_COMPLETE);
    if (!is_partial)
        return 0;
    char list[DV_ERR_MAX - 128];
    backup_failed_list(&c->m, true, list, sizeof list);
    snprintf(err, errlen, "set %s is partial: %llu database(s) failed: %s", r->set_id,
             (unsigned long long)r->db_failed, list);
    job_log(c->job, DV_ERROR, "%s", err);
    return -1;
}

/* After the set is finished: kept deltas recorded where they now live, the post command. */
static int after_finish(struct ctx *c, char *err, size_t errlen)
{
    struct backup_result *r = c->r;
    int rc = 0;
    /* the hook's DV_SET_DIR: the set's directory, or where an S3 target holds it */
    char *set_dir = target_kind(c->t) == TARGET_KIND_S3
                        ? dv_asprintf("%s/sets/%s", target_url(c->t), r->set_id)
                        : target_set_dir(c->t, r->set_id);
    for (size_t i = 0; i < c->ndeltas; i++) {
        char *rel = c->delta_paths[i] + strlen(c->partial) + 1;
        char *now_path = dv_path_join(set_dir, rel);
        char *recorded = dv_asprintf("sets/%s/%s", r->set_id, rel); /* relative to the target */
        catalog_set_file_move_delta(c->cat, r->set_id, c->delta_dbs[i], recorded);
        free(recorded);
        free(c->delta_paths[i]);
        c->delta_paths[i] = now_path;
    }
    if (c->cfg->backup.post_command[0]) {
        char *out = NULL;
        /* a partial set's message stays first: it is what the operator must act on */
        if (run_hook(c, "post", c->cfg->backup.post_command, set_dir, &out) != 0) {
            if (!err[0])
                snprintf(err, errlen, "%s", dv_err());
            job_log(c->job, DV_ERROR, "%s", dv_err());
            rc = -1;
        } else if (apply_moves(c, out, set_dir) != 0) {
            if (!err[0])
                snprintf(err, errlen, "post command: some deltas could not be recorded");
            rc = -1;
        }
        free(out);
    }
    free(set_dir);
    return rc;
}

/* The run's end whatever happened: the job's row, the event hook given back, all released. */
static void run_end(struct ctx *c, int rc, const char *err)
{
    char done[160]; /* an ok job says which set it made, full or incremental */
    snprintf(done, sizeof done, "%s set %s complete: %llu database(s)",
             catalog_set_kind_name(c->kind), c->r->set_id, (unsigned long long)c->r->databases);
    if (c->cat && c->job_id)
        catalog_job_end(c->cat, c->job_id, dv_now(),
                        rc == 0                 ? "ok"
                        : job_cancelled(c->job) ? "cancelled"
                                                : "failed",
                        rc == 0 ? done : err);
    if (c->job) {
        c->job->on_event = c->prev_event;
        c->job->event_ud = c->prev_ud;
    }
    for (size_t i = 0; i < c->ndeltas; i++)
        free(c->delta_paths[i]);
    free(c->delta_paths);
    free(c->delta_dbs);
    free(c->partial);
    fsb_close(c->set);
    /* S3: nothing of the set stays in the working tree (published, or never held) */
    if (c->t && target_spool_clean(c->t, NULL) != 0)
        job_log(c->job, DV_WARN, "%s", dv_err());
    manifest_done(&c->m);
    catalog_close(c->cat);
    target_close(c->t);
}

int backup_run(const struct dv_config *cfg, const struct backup_opts *o, struct dv_job *job,
               struct backup_result *r)
{
    struct ctx c;
    memset(&c, 0, sizeof c);
    memset(r, 0, sizeof *r);
    c.cfg = cfg;
    c.o = o;
    c.job = job;
    c.r = r;
    manifest_init(&c.m);
    double t0 = dv_mono();
    char **dbs = NULL, **refused = NULL;
    size_t ndbs = 0;
    int rc = -1;
    bool set_started = false;
    char err[DV_ERR_MAX] = "";
    char origin[32], why_full[512];

    if (job) {
        c.prev_event = job->on_event;
        c.prev_ud = job->event_ud;
        job->on_event = on_event;
        job->event_ud = &c;
    }
    if (check_daos(cfg, o) != 0 || open_target(&c) != 0 ||
        list_databases(&c, &dbs, &ndbs, &refused) != 0)
        goto out;
    int64_t now = dv_now();
    if (create_set(&c, now, origin, why_full, sizeof why_full) != 0)
        goto out;
    r->incremental = c.kind == CATALOG_SET_INCREMENTAL;
    snprintf(r->message, sizeof r->message, "%s", why_full);
    set_started = true;
    job_log(job, DV_INFO, "backup set %s: %zu database(s) into %s", r->set_id, ndbs,
            target_url(c.t));
    if (begin_manifest(&c, now, origin) != 0) {
        snprintf(r->message, sizeof r->message, "%s", dv_err());
        goto fail_set;
    }
    if (cfg->backup.pre_command[0] &&
        run_hook(&c, "pre", cfg->backup.pre_command, c.partial, NULL) != 0) {
        snprintf(r->message, sizeof r->message, "%s", dv_err());
        goto fail_set;
    }
    if (copy_databases(&c, dbs, ndbs) != 0 || nlo_step(&c) != 0)
        goto fail_set;
    rc = finish_set(&c, err, sizeof err);
    if (rc == -2)
        goto fail_set;
    if (after_finish(&c, err, sizeof err) != 0)
        rc = -1;
    goto out;

fail_set:
    fill_manifest_counts(&c, "failed");
    if (target_set_fail(c.t, r->set_id, &c.m) != 0)
        job_log(job, DV_ERROR, "%s", dv_err());
    catalog_finish(&c, CATALOG_SET_FAILED);
    snprintf(err, sizeof err, "%s backup set %s failed: %s", catalog_set_kind_name(c.kind),
             r->set_id, r->message);
    job_log(job, DV_ERROR, "%s", err);
    rc = -1;
out:
    if (rc != 0 && !err[0])
        snprintf(err, sizeof err, "%s", dv_err());
    if (!set_started && rc != 0)
        snprintf(r->message, sizeof r->message, "%s", err);
    r->seconds = dv_mono() - t0;
    run_end(&c, rc, err);
    dbglob_free(dbs);
    dbglob_free(refused);
    if (rc != 0)
        dv_seterr("%s", err);
    return rc;
}

/* prune.c - see prune.h. */
#include "prune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "dbglob.h"
#include "restored.h"
#include "fsb.h"
#include "store.h"
#include "target.h"
#include "target_read.h"
#include "tstore.h"
#include "util.h"

#define POOL_BATCH 1000

const char *prune_why_text(enum prune_why w)
{
    switch (w) {
    case PRUNE_KEEP_NEWEST:
        return "among the newest keep_sets complete or partial sets";
    case PRUNE_KEEP_YOUNG:
        return "younger than keep_days";
    case PRUNE_KEEP_NEWEST_FULL:
        return "the newest complete (or partial) full set";
    case PRUNE_KEEP_ORIGIN:
        return "a retained incremental set is based on it";
    case PRUNE_KEEP_LAST_COPY:
        return "holds the last copy of a database a retained partial set could not copy";
    case PRUNE_KEEP_FAILED_NEW:
        return "failed, newer than the newest complete set (kept for inspection)";
    case PRUNE_KEEP_RUNNING:
        return "running";
    case PRUNE_GO_OLD:
        return "outside the retention";
    case PRUNE_GO_FAILED:
        return "failed, older than the newest complete set";
    case PRUNE_GO_UNFINISHED:
        return "an earlier prune was interrupted while removing it";
    case PRUNE_KEEP_LOCKED:
        return "outside the retention, but still under Object Lock";
    }
    return "?";
}

/* ---- the retention rule ---------------------------------------------------------------- */

static const struct catalog_set *sort_sets;

static int by_seq_desc(const void *a, const void *b)
{
    int64_t x = sort_sets[*(const size_t *)a].seq, y = sort_sets[*(const size_t *)b].seq;
    return x < y ? 1 : x > y ? -1 : 0;
}

static bool has_name(const char *const *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], name) == 0)
            return true;
    return false;
}

void prune_select(const struct catalog_set *sets, size_t n, long keep_sets, long keep_days,
                  int64_t now, struct prune_decision *out)
{
    prune_select_dbs(sets, NULL, n, keep_sets, keep_days, now, out);
}

void prune_select_dbs(const struct catalog_set *sets, const struct prune_set_dbs *dbs, size_t n,
                      long keep_sets, long keep_days, int64_t now, struct prune_decision *out)
{
    size_t *ord = dv_malloc((n ? n : 1) * sizeof *ord);
    for (size_t i = 0; i < n; i++)
        ord[i] = i;
    sort_sets = sets;
    qsort(ord, n, sizeof *ord, by_seq_desc);
    sort_sets = NULL;

    int64_t newest_complete = 0;
    bool full_seen = false;
    long rank = 0;
    for (size_t k = 0; k < n; k++) {
        const struct catalog_set *s = &sets[ord[k]];
        struct prune_decision *d = &out[ord[k]];
        d->prune = false;
        if (s->pruning > 0) {
            d->prune = true;
            d->why = PRUNE_GO_UNFINISHED;
            continue;
        }
        if (s->status == CATALOG_SET_RUNNING) {
            d->why = PRUNE_KEEP_RUNNING;
            continue;
        }
        if (!catalog_set_usable(s->status))
            continue; /* failed: decided below, once the newest complete set is known */
        if (!newest_complete)
            newest_complete = s->seq;
        if (rank++ < keep_sets) {
            d->why = PRUNE_KEEP_NEWEST;
        } else if (now - s->started < (int64_t)keep_days * 86400) {
            d->why = PRUNE_KEEP_YOUNG;
        } else if (!full_seen && s->kind == CATALOG_SET_FULL) {
            d->why = PRUNE_KEEP_NEWEST_FULL;
        } else {
            d->prune = true;
            d->why = PRUNE_GO_OLD;
        }
        if (s->kind == CATALOG_SET_FULL)
            full_seen = true;
    }
    for (size_t i = 0; i < n; i++) {
        if (sets[i].status != CATALOG_SET_FAILED || sets[i].pruning > 0)
            continue;
        out[i].prune = newest_complete && sets[i].seq < newest_complete;
        out[i].why = out[i].prune ? PRUNE_GO_FAILED : PRUNE_KEEP_FAILED_NEW;
    }
    /* a partial set counts as a set, but never costs a database its last copy: for every
       database a retained partial set could not copy, the newest set holding a copy stays */
    for (size_t k = 0; dbs && k < n; k++) {
        size_t i = ord[k];
        if (out[i].prune || sets[i].status != CATALOG_SET_PARTIAL)
            continue;
        for (size_t f = 0; f < dbs[i].nfailed; f++) {
            for (size_t q = 0; q < n; q++) {
                size_t j = ord[q];
                if (!catalog_set_usable(sets[j].status) || sets[j].pruning > 0 ||
                    !has_name(dbs[j].held, dbs[j].nheld, dbs[i].failed[f]))
                    continue;
                if (out[j].prune) {
                    out[j].prune = false;
                    out[j].why = PRUNE_KEEP_LAST_COPY;
                }
                break;
            }
        }
    }
    /* origins of retained sets stay, transitively */
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            if (out[i].prune || !sets[i].origin[0])
                continue;
            for (size_t j = 0; j < n; j++)
                if (out[j].prune && sets[j].pruning <= 0 &&
                    strcmp(sets[j].id, sets[i].origin) == 0) {
                    out[j].prune = false;
                    out[j].why = PRUNE_KEEP_ORIGIN;
                    changed = true;
                }
        }
    }
    free(ord);
}

/* ---- files ------------------------------------------------------------------------------ */

static bool has_prefix_dir(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

struct ctx {
    const struct dv_config *cfg;
    const struct prune_opts *o;
    struct dv_job *job;
    struct prune_result *r;
    struct target *t;
    struct catalog *cat;
    int64_t now, job_id;
    struct target_lockq *lockq; /* Object Lock retain-until of an S3 target's objects */
    struct tstore *ats;         /* S3: the bucket, for the archive's headers and run records */
};

static void logev(struct ctx *c, enum dv_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logev(struct ctx *c, enum dv_level level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    job_log(c->job, level, "%s", msg);
    if (c->cat && c->job_id)
        catalog_event_add(c->cat, c->job_id, dv_now(), (int)level, msg);
}

/* A set's directories on the target: a delta recorded inside one of them goes with it. */
struct set_dirs {
    char *dir, *failed, *partial;
};

/* Is loc a kept delta moved out of the set (an absolute path outside its directories)? */
static bool delta_moved(const struct set_dirs *sd, const char *loc)
{
    return loc && loc[0] == '/' && !has_prefix_dir(loc, sd->dir) &&
           !has_prefix_dir(loc, sd->failed) && !has_prefix_dir(loc, sd->partial);
}

/* Deltas outside the set: check every one before deleting anything (the moved-delta rule,
 * target_delta_moved_check: outside the target and the server's directories, no link on its
 * way, a regular file holding exactly the delta the set recorded); ps counts them. 0 or -1. */
static int check_moved_deltas(struct ctx *c, struct prune_set *ps,
                              const struct catalog_set_file *files, size_t nfiles,
                              const struct set_dirs *sd)
{
    for (size_t i = 0; i < nfiles; i++) {
        const char *loc = files[i].delta_location;
        if (files[i].delta_mode != CATALOG_DELTA_KEEP)
            continue;
        ps->deltas++;
        if (!delta_moved(sd, loc))
            continue;
        ps->deltas_outside++;
        struct stat st;
        int ck = target_delta_moved_check(c->t, c->cfg->server.data_dir, c->cfg->server.daos_dir,
                                          loc, files[i].delta_sha256, NULL);
        if (ck == 1)
            continue; /* gone already (a rerun, or removed by hand) */
        if (ck != 0) {
            c->r->refused++;
            char why[DV_ERR_MAX];
            snprintf(why, sizeof why, "%s", dv_err());
            dv_seterr("set %s: refusing to delete %s: the catalog says a delta lives there, but "
                      "%s",
                      ps->set.id, loc, why);
            return -1;
        }
        if (lstat(loc, &st) == 0)
            ps->bytes += (uint64_t)st.st_size;
    }
    return 0;
}

/* Remove the moved deltas of set id: each checked again right before, and removed through its
 * parent opened without links. 0 or -1. */
static int remove_moved_deltas(struct ctx *c, const char *id, const struct catalog_set_file *files,
                               size_t nfiles, const struct set_dirs *sd)
{
    for (size_t i = 0; i < nfiles; i++) {
        const char *loc = files[i].delta_location;
        if (files[i].delta_mode != CATALOG_DELTA_KEEP || !delta_moved(sd, loc))
            continue;
        int pfd = -1;
        int ck = target_delta_moved_check(c->t, c->cfg->server.data_dir, c->cfg->server.daos_dir,
                                          loc, files[i].delta_sha256, &pfd);
        if (ck == 1)
            continue;
        if (ck != 0) {
            c->r->refused++;
            dv_preferr("set %s: refusing to delete %s", id, loc);
            return -1;
        }
        if (unlinkat(pfd, strrchr(loc, '/') + 1, 0) != 0 && errno != ENOENT) {
            dv_syserr("set %s: remove delta %s", id, loc);
            close(pfd);
            return -1;
        }
        if (fsync(pfd) != 0)
            logev(c, DV_WARN, "set %s: fsync the directory of %s: %s", id, loc, strerror(errno));
        close(pfd);
        logev(c, DV_INFO, "set %s: removed delta %s", id, loc);
        dv_crashpoint("prune.delta");
    }
    return 0;
}

struct objs {
    char **rel;
    uint64_t *size;
    size_t n;
};

static int obj_add(void *ud, const char *rel, uint64_t size)
{
    struct objs *o = ud;
    o->rel = dv_realloc(o->rel, (o->n + 1) * sizeof *o->rel);
    o->size = dv_realloc(o->size, (o->n + 1) * sizeof *o->size);
    o->rel[o->n] = dv_strdup(rel);
    o->size[o->n++] = size;
    return 0;
}

static void objs_free(struct objs *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->rel[i]);
    free(o->rel);
    free(o->size);
}

/*
 * The objects of a set on a target that is not a directory (its listing: sets/<id>/ and
 * sets/<id>.failed/), measured into *bytes and, with remove, removed through target_remove:
 * each manifest first (a crash leaves a set without manifest, which the next run cleans as a
 * leftover), then the rest. An object still locked stops it: -1 with EPERM, naming it and
 * its retain-until. 0 or -1.
 */
static int store_tree(struct ctx *c, const char *id, bool remove, uint64_t *bytes)
{
    struct objs o = {0};
    int rc = 0;
    char *pre[2] = {dv_asprintf("sets/%s/", id), dv_asprintf("sets/%s.failed/", id)};
    for (int k = 0; k < 2 && rc == 0; k++)
        rc = target_list(c->t, pre[k], obj_add, &o);
    for (size_t i = 0; i < o.n; i++)
        *bytes += o.size[i];
    for (int pass = 0; pass < 2 && rc == 0 && remove; pass++)
        for (size_t i = 0; i < o.n && rc == 0; i++) {
            const char *b = strrchr(o.rel[i], '/');
            bool manifest = b && strcmp(b + 1, TARGET_MANIFEST) == 0 &&
                            strchr(o.rel[i] + 5, '/') == b; /* sets/<x>/manifest.json */
            if (manifest != (pass == 0))
                continue;
            int64_t until = 0;
            if (target_remove(c->t, o.rel[i], &until) != 0) {
                if (errno == EPERM) {
                    char when[64];
                    dv_fmt_time(until, when, sizeof when);
                    dv_seterr("%s/%s: still under Object Lock until %s: not removed",
                              target_url(c->t), o.rel[i], when);
                    errno = EPERM;
                }
                rc = -1;
            }
        }
    objs_free(&o);
    free(pre[0]);
    free(pre[1]);
    return rc;
}

/* Remove (or measure, in a dry run) one set. 0, or -1 (the set stays marked). */
static int prune_one(struct ctx *c, struct prune_set *ps)
{
    const char *id = ps->set.id;
    char *dir = target_set_dir(c->t, id);
    struct set_dirs sd = {.dir = dir,
                          .failed = dv_asprintf("%s.failed", dir),
                          .partial = target_set_partial_dir(c->t, id)};
    struct catalog_set_file *files = NULL;
    size_t nfiles = 0;
    int rc = -1;
    uint64_t tree_bytes = 0;
    /* beneath the target without links (fsb_tree): a link inside a set, even to a directory,
     * is removed as itself and never descended */
    const struct fsb *root = target_root(c->t);
    char *rel = dv_asprintf("sets/%s", id), *relf = dv_asprintf("sets/%s.failed", id);

    ps->untouched = true;
    if (catalog_set_files(c->cat, id, &files, &nfiles) != 0)
        goto out;
    ps->files = nfiles;
    if (check_moved_deltas(c, ps, files, nfiles, &sd) != 0)
        goto out;
    bool is_dir = target_kind(c->t) == TARGET_KIND_DIR;
    if (c->o->dry_run) {
        ps->untouched = false; /* a dry run counts the set as gone */
        if (!is_dir)
            rc = store_tree(c, id, false, &tree_bytes);
        else
            rc = fsb_tree(root, rel, false, &tree_bytes) == 0 &&
                         fsb_tree(root, relf, false, &tree_bytes) == 0
                     ? 0
                     : -1;
        ps->bytes += tree_bytes;
        goto out;
    }
    /* 1. mark (durable), 2. moved deltas, 3. the directory, 4. the rows */
    if (ps->set.pruning <= 0 && catalog_set_mark_pruning(c->cat, id, c->now) != 0)
        goto out;
    ps->untouched = false;
    dv_crashpoint("prune.marked");
    if (remove_moved_deltas(c, id, files, nfiles, &sd) != 0)
        goto out;
    int trc;
    if (!is_dir) { /* the bucket's objects of the set (the working tree holds none of it) */
        trc = store_tree(c, id, true, &tree_bytes);
    } else {
        trc = fsb_tree(root, rel, true, &tree_bytes);
        if (trc == 0)
            trc = fsb_tree(root, relf, true, &tree_bytes);
    }
    ps->bytes += tree_bytes;
    if (trc != 0)
        goto out;
    if (is_dir && fsb_fsync_dir(root, "sets") != 0)
        logev(c, DV_WARN, "%s", dv_err());
    dv_crashpoint("prune.files");
    if (catalog_set_delete(c->cat, id) != 0)
        goto out;
    ps->done = true;
    logev(c, DV_INFO, "set %s removed (%s): %llu copies, %llu deltas, %llu bytes", id,
          prune_why_text(ps->d.why), (unsigned long long)ps->files, (unsigned long long)ps->deltas,
          (unsigned long long)ps->bytes);
    rc = 0;
out:
    catalog_set_files_free(files, nfiles);
    free(rel);
    free(relf);
    free(sd.dir);
    free(sd.failed);
    free(sd.partial);
    return rc;
}

/* An unneeded pool object kept: still under Object Lock until `until`. */
static void pool_locked(struct ctx *c, int64_t until)
{
    c->r->nlos_locked++;
    if (until > c->r->nlos_locked_until)
        c->r->nlos_locked_until = until;
}

/* Drop from the pool the objects no remaining set needs. 0 or -1. */
static int prune_pool(struct ctx *c)
{
    struct prune_result *r = c->r;
    int64_t *seqs = dv_malloc((r->nsets ? r->nsets : 1) * sizeof *seqs);
    size_t nseqs = 0;
    for (size_t i = 0; i < r->nsets; i++)
        if (!r->sets[i].d.prune || r->sets[i].untouched)
            seqs[nseqs++] = r->sets[i].set.seq;
    int64_t needed = 0;
    int rc = catalog_needed_compute(c->cat, seqs, nseqs, &needed);
    free(seqs);
    if (rc != 0)
        return -1;
    int64_t pool_count = 0, pool_bytes = 0;
    if (catalog_pool_stats(c->cat, &pool_count, &pool_bytes) != 0)
        return -1;
    job_phase(c->job, "pool", (uint64_t)(pool_count > needed ? pool_count - needed : 0), 0);
    struct catalog_pool_obj *page = dv_malloc(POOL_BATCH * sizeof *page);
    char(*names)[CATALOG_NLO_NAME_LEN + 1] = dv_malloc(POOL_BATCH * sizeof *names);
    char after[CATALOG_NLO_NAME_LEN + 1] = "";
    bool dir = target_kind(c->t) == TARGET_KIND_DIR;
    int64_t lock_s = (int64_t)target_lock_days(c->t) * 86400;
    rc = 0;
    for (;;) {
        size_t n = 0;
        if (catalog_unneeded_page(c->cat, after, page, POOL_BATCH, &n) != 0) {
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            if (job_cancelled(c->job)) {
                dv_seterr("prune: cancelled");
                rc = -1;
                break;
            }
            if (!target_nlo_name_valid(page[i].name)) {
                logev(c, DV_WARN, "pool row '%s' is not an NLO name: left alone", page[i].name);
                continue;
            }
            /* Object Lock: uploaded no later than stored_at, so locked at most until
             * stored_at + the lock days: never tried before that */
            if (lock_s > 0 && page[i].stored_at + lock_s > c->now) {
                pool_locked(c, page[i].stored_at + lock_s);
                continue;
            }
            if (!c->o->dry_run) {
                /* through nlo/<3 hex> opened beneath the target without links (fsb): a pool
                 * directory replaced by a link (to a live DAOS subdirectory, say) is refused,
                 * nothing behind it is deleted; an S3 target: the bucket's object */
                char rel[128];
                int64_t until = 0;
                target_pool_relpath(page[i].name, rel, sizeof rel);
                if (target_remove(c->t, rel, &until) != 0) {
                    if (errno == EPERM) { /* locked longer than configured now: kept */
                        pool_locked(c, until);
                        continue;
                    }
                    dv_preferr("remove");
                    rc = -1;
                    break;
                }
            }
            memcpy(names[k++], page[i].name, sizeof names[0]);
            r->nlos++;
            r->nlo_bytes += (uint64_t)page[i].size;
            job_advance(c->job, 1, (uint64_t)page[i].size, page[i].name);
        }
        /* files first (made durable), rows after: a crash leaves rows of missing files,
         * which the next prune finds unneeded again and deletes */
        if (!c->o->dry_run && k > 0) {
            if (dir && syncfs(target_dirfd(c->t)) != 0)
                logev(c, DV_WARN, "prune: syncfs %s: %s", target_path(c->t), strerror(errno));
            dv_crashpoint("prune.pool");
            if (catalog_pool_delete(c->cat, (const char(*)[CATALOG_NLO_NAME_LEN + 1]) names, k) !=
                0)
                rc = -1;
        }
        if (rc != 0 || n < POOL_BATCH)
            break;
        memcpy(after, page[n - 1].name, sizeof after);
    }
    job_flush(c->job);
    free(page);
    free(names);
    return rc;
}

/* ---- the WAL archive --------------------------------------------------------------------- */

/* The oldest complete or partial set that stays after this prune (a dry run: would stay), or
 * NULL. */
static const struct prune_set *oldest_retained(const struct prune_result *r)
{
    const struct prune_set *o = NULL;
    for (size_t i = 0; i < r->nsets; i++) {
        const struct prune_set *ps = &r->sets[i];
        if (!catalog_set_usable(ps->set.status) || ps->set.pruning > 0 ||
            (ps->d.prune && !ps->untouched))
            continue;
        if (!o || ps->set.started < o->set.started)
            o = ps;
    }
    return o;
}

/* One database: the segments before the anchor of a set started at start_us (oldest first).
 * 0, or -1 with dv_err() (a header unreadable: nothing removed; a removal failed: stopped). */
static int prune_archive_db(struct ctx *c, const char *db, int64_t start_us,
                            struct prune_archive *pa)
{
    const struct fsb *root = target_root(c->t);
    struct archive_seg *segs = NULL;
    size_t n = 0, kt;
    bool s3 = target_kind(c->t) == TARGET_KIND_S3;
    if ((s3 ? archive_s3_heads(c->ats, db, &segs, &n) : archive_heads_at(root, db, &segs, &n)) !=
        0) {
        dv_preferr("archive of %s: nothing removed", db);
        return -1;
    }
    long a = n ? archive_anchor(segs, n, start_us, &kt, NULL) : 0;
    if (a < 0)
        a = 0; /* the archive starts after the set began: the set needs all of it */
    if (n && (size_t)a >= n)
        a = (long)n - 1; /* never the newest: the archiver resumes from it */
    pa->kept = n - (size_t)a;
    pa->first_kept = n ? segs[a].seq : 0;
    int rc = 0;
    for (size_t i = 0; i < (size_t)a; i++) {
        if (!c->o->dry_run && s3) {
            int64_t until = 0;
            if (target_remove(c->t, segs[i].rel, &until) != 0) {
                if (errno == EPERM) { /* Object Lock: kept, and every newer one with it */
                    pa->locked_until = until;
                    pa->kept = n - i;
                    pa->first_kept = segs[i].seq;
                    break;
                }
                dv_preferr("archive of %s: stopped", db);
                rc = -1;
                break;
            }
            dv_crashpoint("prune.archive");
        } else if (!c->o->dry_run) {
            if (fsb_unlink(root, segs[i].rel, true) != 0) {
                dv_preferr("archive of %s: stopped", db);
                rc = -1;
                break;
            }
            dv_crashpoint("prune.archive");
        }
        pa->segments++;
        pa->bytes += segs[i].file_size;
        job_advance(c->job, 1, segs[i].file_size, segs[i].rel);
    }
    if (!c->o->dry_run && pa->segments && !s3) {
        char *dir = dv_path_join(ARCHIVE_DIR, db);
        if (fsb_fsync_dir(root, dir) != 0)
            logev(c, DV_WARN, "%s", dv_err());
        free(dir);
    }
    archive_segs_free(segs, n);
    return rc;
}

static int run_by_started(const void *a, const void *b)
{
    int64_t x = ((const struct archive_run_rec *)a)->started_us,
            y = ((const struct archive_run_rec *)b)->started_us;
    return x < y ? -1 : x > y;
}

/* Run records confirmed only up to before start_us, oldest first, never the newest. 0 or -1. */
static int prune_archive_runs(struct ctx *c, int64_t start_us)
{
    const struct fsb *root = target_root(c->t);
    struct archive_run_rec *runs;
    size_t n;
    bool s3 = target_kind(c->t) == TARGET_KIND_S3;
    if ((s3 ? archive_s3_runs(c->ats, &runs, &n) : archive_runs_at(root, &runs, &n)) != 0) {
        dv_preferr("archive run records: nothing removed");
        return -1;
    }
    if (n)
        qsort(runs, n, sizeof *runs, run_by_started);
    int rc = 0;
    uint64_t k = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (runs[i].confirmed_us >= start_us)
            continue;
        char *rel = dv_asprintf("%s/%s", ARCHIVE_RUNS_DIR, runs[i].name);
        int64_t until = 0;
        int u = c->o->dry_run ? 0
                : s3          ? target_remove(c->t, rel, &until)
                              : fsb_unlink(root, rel, true);
        free(rel);
        if (u != 0 && s3 && errno == EPERM)
            continue; /* under Object Lock: kept (the segments' report says until when) */
        if (u != 0) {
            rc = -1;
            break;
        }
        k++;
    }
    if (!c->o->dry_run && k && !s3 && fsb_fsync_dir(root, ARCHIVE_RUNS_DIR) != 0)
        logev(c, DV_WARN, "%s", dv_err());
    c->r->archive_runs += k;
    archive_runs_free(runs, n);
    return rc;
}

/* The archive of every database that has one (prune.h). 0, or -1 with the first error (the
 * others are pruned all the same; each failure is an error event). */
static int prune_archive(struct ctx *c, char *err, size_t errlen)
{
    struct prune_result *r = c->r;
    const struct prune_set *s = oldest_retained(r);
    /* no set stays: keep what a set taken now would need */
    int64_t start_us = s ? s->set.started * 1000000 : INT64_MAX;
    if (s)
        snprintf(r->archive_set, sizeof r->archive_set, "%s", s->set.id);
    char **dbs;
    size_t n;
    /* S3: the bucket's archive (headers by ranged GETs, removals by target_remove); the
     * working tree is a spool, never pruned as if it were the archive */
    if (target_kind(c->t) == TARGET_KIND_S3 && !c->ats && !(c->ats = archive_s3_store(c->cfg))) {
        dv_preferr("archive: nothing removed");
        snprintf(err, errlen, "%s", dv_err());
        logev(c, DV_ERROR, "%s", dv_err());
        return -1;
    }
    if ((c->ats ? archive_s3_dbs(c->ats, &dbs, &n) : archive_dbs_at(target_root(c->t), &dbs, &n)) !=
        0) {
        dv_preferr("archive: nothing removed");
        snprintf(err, errlen, "%s", dv_err());
        logev(c, DV_ERROR, "%s", dv_err());
        return -1;
    }
    r->archive = dv_calloc(n ? n : 1, sizeof *r->archive);
    job_phase(c->job, "archive", 0, 0);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (job_cancelled(c->job)) {
            dbglob_free(dbs);
            job_flush(c->job);
            dv_seterr("prune: cancelled");
            return -1;
        }
        struct prune_archive *pa = &r->archive[r->narchive++];
        pa->db = dv_strdup(dbs[i]);
        if (prune_archive_db(c, dbs[i], start_us, pa) != 0) {
            pa->failed = true;
            r->archive_failed++;
            if (!err[0])
                snprintf(err, errlen, "%s", dv_err());
            logev(c, DV_ERROR, "%s", dv_err());
            rc = -1;
        }
        r->archive_segments += pa->segments;
        r->archive_bytes += pa->bytes;
        if (pa->segments && !c->o->dry_run)
            logev(c, DV_INFO,
                  "archive of %s: %llu segment(s) removed (%llu bytes), %llu kept from segment "
                  "%llu (%s)",
                  dbs[i], (unsigned long long)pa->segments, (unsigned long long)pa->bytes,
                  (unsigned long long)pa->kept, (unsigned long long)pa->first_kept,
                  s ? "what a restore from the oldest retained set needs" : "no set is retained");
        if (pa->locked_until && !c->o->dry_run) {
            char when[32];
            dv_fmt_time(pa->locked_until, when, sizeof when);
            logev(c, DV_INFO,
                  "archive of %s: segment %llu and later kept: under Object Lock until %s", dbs[i],
                  (unsigned long long)pa->first_kept, when);
        }
    }
    dbglob_free(dbs);
    if (prune_archive_runs(c, start_us) != 0) {
        if (!err[0])
            snprintf(err, errlen, "%s", dv_err());
        logev(c, DV_ERROR, "%s", dv_err());
        rc = -1;
    }
    job_flush(c->job);
    return rc;
}

static void partial_dbs_free(struct prune_set_dbs *dbs, size_t n)
{
    for (size_t i = 0; dbs && i < n; i++) {
        for (size_t k = 0; k < dbs[i].nfailed; k++)
            free((char *)dbs[i].failed[k]);
        free((void *)dbs[i].failed);
        free((void *)dbs[i].held); /* borrowed strings: those of the failed lists */
    }
    free(dbs);
}

/*
 * The input of prune_select_dbs' partial-set rule: the databases each partial set could not
 * copy, and, for each of those databases, which sets hold a copy of it (one indexed point
 * query per set and database: there are few of both). 0 or -1.
 */
static int partial_dbs(struct ctx *c, const struct catalog_set *sets, size_t n,
                       struct prune_set_dbs **out)
{
    struct prune_set_dbs *dbs = dv_calloc(n ? n : 1, sizeof *dbs);
    *out = dbs;
    for (size_t i = 0; i < n; i++) {
        if (sets[i].status != CATALOG_SET_PARTIAL || sets[i].pruning > 0)
            continue;
        struct catalog_set_failure *fl;
        size_t nfl;
        if (catalog_set_failures(c->cat, sets[i].id, &fl, &nfl) != 0)
            return -1;
        const char **v = dv_calloc(nfl ? nfl : 1, sizeof *v);
        for (size_t k = 0; k < nfl; k++)
            v[k] = dv_strdup(fl[k].db_path);
        free(fl);
        dbs[i].failed = v;
        dbs[i].nfailed = nfl;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t f = 0; f < dbs[i].nfailed; f++) {
            const char *name = dbs[i].failed[f];
            for (size_t j = 0; j < n; j++) {
                if (!catalog_set_usable(sets[j].status) || sets[j].pruning > 0 ||
                    has_name(dbs[j].held, dbs[j].nheld, name))
                    continue;
                struct catalog_set_file file;
                int g = catalog_set_file_get(c->cat, sets[j].id, name, &file);
                if (g < 0)
                    return -1;
                if (g == 0)
                    continue;
                catalog_set_file_done(&file);
                dbs[j].held = dv_realloc((void *)dbs[j].held, (dbs[j].nheld + 1) * sizeof(char *));
                ((const char **)dbs[j].held)[dbs[j].nheld++] = name;
            }
        }
    }
    return 0;
}

struct first_problem {
    char key[256], value[512];
};

static int first_problem(void *ud, const char *key, const char *value)
{
    struct first_problem *fp = ud;
    if (!fp->key[0]) {
        snprintf(fp->key, sizeof fp->key, "%s", key + strlen(TARGET_META_RESYNC));
        snprintf(fp->value, sizeof fp->value, "%s", value);
    }
    return 0;
}

static int collect(void *ud, const struct catalog_set *s)
{
    struct prune_result *r = ud;
    r->sets = dv_realloc(r->sets, (r->nsets + 1) * sizeof *r->sets);
    memset(&r->sets[r->nsets], 0, sizeof r->sets[0]);
    r->sets[r->nsets++].set = *s;
    return 0;
}

void prune_result_done(struct prune_result *r)
{
    if (!r)
        return;
    free(r->sets);
    for (size_t i = 0; i < r->narchive; i++)
        free(r->archive[i].db);
    free(r->archive);
    free(r->restored);
    memset(r, 0, sizeof *r);
}

/* The retain-until of a set's manifest object (complete or failed; 0: none, or a directory
 * target). 0 or -1. */
static int set_locked_until(struct ctx *c, const char *id, int64_t *until)
{
    *until = 0;
    if (target_kind(c->t) == TARGET_KIND_DIR)
        return 0;
    static const char *const fmt[] = {"sets/%s/" TARGET_MANIFEST,
                                      "sets/%s.failed/" TARGET_MANIFEST};
    for (size_t k = 0; k < 2; k++) {
        char *rel = dv_asprintf(fmt[k], id);
        int64_t u = 0;
        int rc = target_lockq_until(c->lockq, rel, &u);
        free(rel);
        if (rc != 0) {
            dv_preferr("prune: Object Lock of set %s", id);
            return -1;
        }
        if (u > *until)
            *until = u;
    }
    return 0;
}

/* Which sets go: the retention (per database for partial sets), then every set a retained
 * set's incremental chain needs stays (catalog_set_chain is transitive). r->sets[i].d is the
 * decision; *ngo how many go. 0 or -1. */
static int prune_decide(struct ctx *c, size_t *ngo)
{
    struct prune_result *r = c->r;
    const struct dv_config *cfg = c->cfg;
    int rc = -1;
    if (catalog_sets_each(c->cat, collect, r) != 0)
        return -1;
    struct catalog_set *plain = dv_malloc((r->nsets ? r->nsets : 1) * sizeof *plain);
    struct prune_decision *dec = dv_malloc((r->nsets ? r->nsets : 1) * sizeof *dec);
    for (size_t i = 0; i < r->nsets; i++)
        plain[i] = r->sets[i].set;
    struct prune_set_dbs *dbs = NULL;
    if (partial_dbs(c, plain, r->nsets, &dbs) != 0)
        goto out;
    prune_select_dbs(plain, dbs, r->nsets, cfg->backup.keep_sets, cfg->backup.keep_days, c->now,
                     dec);
    partial_dbs_free(dbs, r->nsets);
    /* Object Lock: a set still locked stays (and, below, every set its chains need) */
    for (size_t i = 0; i < r->nsets; i++) {
        if (!dec[i].prune)
            continue;
        int64_t until = 0;
        if (set_locked_until(c, plain[i].id, &until) != 0)
            goto out;
        if (until > c->now) {
            dec[i].prune = false;
            dec[i].why = PRUNE_KEEP_LOCKED;
            r->sets[i].locked_until = until;
            r->sets_locked++;
        }
    }
    /* incremental chains are per database (set_files.origin, incr.h) */
    for (size_t i = 0; i < r->nsets; i++) {
        char(*ids)[32];
        size_t k;
        if (dec[i].prune)
            continue;
        if (catalog_set_chain(c->cat, plain[i].id, &ids, &k) != 0)
            goto out;
        for (size_t x = 0; x < k; x++)
            for (size_t j = 0; j < r->nsets; j++)
                if (dec[j].prune && plain[j].pruning <= 0 && strcmp(plain[j].id, ids[x]) == 0) {
                    dec[j].prune = false;
                    dec[j].why = PRUNE_KEEP_ORIGIN;
                }
        free(ids);
    }
    *ngo = 0;
    for (size_t i = 0; i < r->nsets; i++) {
        r->sets[i].d = dec[i];
        *ngo += dec[i].prune;
    }
    rc = 0;
out:
    free(plain);
    free(dec);
    return rc;
}

/* Remove the sets that go, oldest first; one that fails stays marked for the next run (its
 * error into err when err is empty, *set_rc -1) and the others go on. 0, or -1 (cancelled). */
static int prune_sets(struct ctx *c, size_t ngo, char *err, size_t errsz, int *set_rc)
{
    struct prune_result *r = c->r;
    job_phase(c->job, "sets", ngo, 0);
    for (size_t i = r->nsets; i-- > 0;) {
        struct prune_set *ps = &r->sets[i];
        if (!ps->d.prune)
            continue;
        if (job_cancelled(c->job)) {
            dv_seterr("prune: cancelled");
            return -1;
        }
        if (prune_one(c, ps) != 0) {
            if (!err[0])
                snprintf(err, errsz, "%s", dv_err());
            logev(c, DV_ERROR, "%s", dv_err());
            *set_rc = -1;
            continue;
        }
        if (ps->set.status == CATALOG_SET_FAILED)
            r->failed_pruned++;
        else
            r->sets_pruned++;
        r->files += ps->files;
        r->deltas += ps->deltas;
        r->deltas_outside += ps->deltas_outside;
        r->set_bytes += ps->bytes;
        job_advance(c->job, 1, ps->bytes, ps->set.id);
    }
    return 0;
}

int prune_run(const struct dv_config *cfg, const struct prune_opts *o, struct dv_job *job,
              struct prune_result *r)
{
    static const struct prune_opts defaults = {0};
    struct ctx c = {.cfg = cfg, .o = o ? o : &defaults, .job = job, .r = r};
    memset(r, 0, sizeof *r);
    c.now = c.o->now ? c.o->now : dv_now();
    int rc = -1;
    char err[DV_ERR_MAX] = "";

    c.t = target_open_cfg(cfg); /* a directory or an S3 bucket */
    if (!c.t)
        return -1;
    c.cat = catalog_open_existing(cfg->catalog, &r->no_catalog);
    if (r->no_catalog) {
        target_close(c.t);
        return 0;
    }
    if (!(c.lockq = target_lockq_open(c.t, cfg)))
        goto out;
    if (!c.cat || target_bind_catalog(c.t, c.cat) != 0)
        goto out;
    /* a resync that could not record everything on the target (a damaged manifest, an
     * unread NLO list): what those sets need is unknown, so nothing may go */
    struct first_problem fp = {0};
    size_t nprob = 0;
    if (catalog_meta_each(c.cat, TARGET_META_RESYNC, first_problem, &fp, &nprob) < 0)
        goto out;
    if (nprob) {
        r->unrecorded = nprob;
        dv_seterr("prune refused: resync catalog could not record %zu thing(s) on the target "
                  "that may hold what a set needs (%s: %s); `dvault verify` names them: repair "
                  "or remove them, then run `dvault resync catalog` again",
                  nprob, fp.key, fp.value);
        goto out;
    }
    if (!c.o->dry_run) {
        int stale = 0, partial = 0;
        if (catalog_sets_fail_stale(c.cat, true, c.now, &stale) != 0 ||
            target_cleanup_partial(c.t, &partial) != 0)
            goto out;
        if (catalog_job_start(c.cat, "prune", dv_now(), &c.job_id) != 0)
            goto out;
        if (job)
            job->catalog_job_id = c.job_id;
    }
    size_t ngo = 0;
    if (prune_decide(&c, &ngo) != 0)
        goto out;
    int set_rc = 0;
    if (prune_sets(&c, ngo, err, sizeof err, &set_rc) != 0)
        goto out;
    job_flush(job);
    /* the archive: what the sets that stay can use (a failure is per database: go on) */
    if (job_cancelled(job)) {
        dv_seterr("prune: cancelled");
        goto out;
    }
    if (prune_archive(&c, err, sizeof err) != 0) {
        if (job_cancelled(job))
            goto out;
        set_rc = -1;
    }
    /* A set whose removal failed half-way is marked and unusable: gone for the pool too.
     * One refused before anything changed is retained, with its objects. */
    if (prune_pool(&c) != 0)
        goto out;
    /* the restore folder: copies past restore.retention_days (a copy in use stays) */
    if (restored_expire(cfg, c.o->dry_run, c.now, job, &r->restored, &r->nrestored,
                        &r->restored_skipped) != 0) {
        if (!err[0])
            snprintf(err, sizeof err, "restore folder: %s", dv_err());
        set_rc = -1;
    }
    rc = set_rc;
out:
    if (rc != 0 && !err[0])
        snprintf(err, sizeof err, "%s", dv_err());
    if (c.cat && c.job_id) {
        char msg[256];
        snprintf(msg, sizeof msg,
                 "%llu set(s), %llu failed set(s), %llu NLO(s), %llu archive segment(s), %llu "
                 "archive run record(s), %zu restored cop%s removed",
                 (unsigned long long)r->sets_pruned, (unsigned long long)r->failed_pruned,
                 (unsigned long long)r->nlos, (unsigned long long)r->archive_segments,
                 (unsigned long long)r->archive_runs, r->nrestored,
                 r->nrestored == 1 ? "y" : "ies");
        catalog_job_end(c.cat, c.job_id, dv_now(), rc == 0 ? "ok" : "failed", rc == 0 ? msg : err);
    }
    catalog_close(c.cat);
    target_lockq_close(c.lockq);
    tstore_close(c.ats);
    target_close(c.t);
    if (rc != 0)
        dv_seterr("%s", err);
    return rc;
}

/* ---- DAOS prune guard ----------------------------------------------------------------------- */

struct guard {
    struct catalog *cat; /* NULL: no catalog, nothing may go */
    bool failed;
    char err[DV_ERR_MAX];
    struct dv_store *dry; /* dry run: count what would go (and its bytes), delete nothing */
    uint64_t would, would_bytes;
};

static int held_by_complete(void *ud, const struct catalog_set *s)
{
    (void)ud;
    return catalog_set_usable(s->status) && s->pruning <= 0 ? 1 : 0;
}

static bool guard_may_delete(void *ud, const char *name)
{
    struct guard *g = ud;
    if (!g->cat || g->failed)
        return false;
    int rc = catalog_nlo_sets(g->cat, name, held_by_complete, NULL);
    if (rc < 0) {
        g->failed = true; /* refuse everything from here on, and say why at the end */
        snprintf(g->err, sizeof g->err, "%s", dv_err());
        return false;
    }
    if (rc == 1 && g->dry) {
        struct store_object o;
        g->would++;
        if (store_object_get(g->dry, name, &o) == 1)
            g->would_bytes += (uint64_t)o.size;
        return false; /* store_prune counts it as waiting: daos_body moves it back */
    }
    return rc == 1;
}

static int daos_body(const struct dv_config *cfg, long days, bool dry_run, struct dv_job *job,
                     struct store_prune_counts *counts, bool *no_catalog)
{
    struct guard g = {0};
    if (!(g.cat = catalog_open_existing(cfg->catalog, no_catalog)) && !*no_catalog)
        return -1;
    struct dv_store *st = store_open(cfg);
    if (!st) {
        catalog_close(g.cat);
        return -1;
    }
    g.dry = dry_run ? st : NULL;
    int rc = store_prune(st, days, guard_may_delete, &g, counts, job);
    store_free(st);
    if (dry_run) { /* the would-be deletions, refused by the guard above, as deletions */
        counts->waiting_backup -= g.would;
        counts->deleted = g.would;
        counts->bytes = g.would_bytes;
    }
    catalog_close(g.cat);
    if (rc == 0 && g.failed) {
        dv_seterr("daos prune: stopped deleting: catalog: %s", g.err);
        rc = -1;
    }
    return rc;
}

int prune_daos(const struct dv_config *cfg, long days, struct dv_job *job,
               struct store_prune_counts *counts, bool *no_catalog)
{
    memset(counts, 0, sizeof *counts);
    struct job_record rec;
    job = job_record_begin(&rec, cfg->catalog, "daos-prune", job);
    int rc = daos_body(cfg, days, false, job, counts, no_catalog);
    char sum[256], b[32];
    dv_fmt_bytes(counts->bytes, b, sizeof b);
    snprintf(sum, sizeof sum, "%llu NLOs deleted (%s), %llu wait for a backup, %llu not due yet",
             (unsigned long long)counts->deleted, b, (unsigned long long)counts->waiting_backup,
             (unsigned long long)counts->not_due);
    job_record_end(&rec, rc, sum);
    return rc;
}

int prune_daos_dry_run(const struct dv_config *cfg, long days, struct store_prune_counts *counts,
                       bool *no_catalog)
{
    memset(counts, 0, sizeof *counts);
    return daos_body(cfg, days, true, NULL, counts, no_catalog);
}

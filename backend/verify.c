/* verify.c - see verify.h. */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "delta.h"
#include "fsb.h"
#include "restore.h"
#include "target.h"
#include "target_read.h"
#include "util.h"

bool verify_in_sample(const char *name, double pct)
{
    if (pct <= 0 || pct >= 100)
        return true;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a 64 */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return (double)(h % 1000000) < pct * 10000.0;
}

struct ctx {
    const struct dv_config *cfg;
    const struct verify_opts *o;
    struct dv_job *job;
    verify_problem_fn problem;
    void *ud;
    struct verify_result *r;
    struct target *t;
    struct catalog *cat;
    char *scratch; /* relative to the target: a directory of ours (fsb_mkdtemp) */
    /* the set being checked */
    const struct catalog_set *set;
    char *set_dir;
    bool list_hashed; /* its NLO list was read through (its objects checked by check_nlo) */
};

static void report(struct ctx *c, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void report(struct ctx *c, const char *file, const char *fmt, ...)
{
    char msg[DV_ERR_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->r->problems++;
    if (c->problem)
        c->problem(c->ud, file, msg);
}

/* A message that already starts with "FILE: " without that prefix (the report names the file). */
static const char *after_file(const char *msg, const char *file)
{
    size_t n = strlen(file);
    return strncmp(msg, file, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

/* ---- manifest against catalog ------------------------------------------------------------ */

#define CMP_INT(field, mval, cval)                                                                 \
    do {                                                                                           \
        if ((int64_t)(mval) != (int64_t)(cval))                                                    \
            report(c, path, "%s: manifest says %lld, catalog says %lld", field, (long long)(mval), \
                   (long long)(cval));                                                             \
    } while (0)
#define CMP_STR(field, mval, cval)                                                                 \
    do {                                                                                           \
        const char *m_ = (mval) ? (mval) : "", *c_ = (cval) ? (cval) : "";                         \
        if (strcmp(m_, c_) != 0)                                                                   \
            report(c, path, "%s: manifest says '%s', catalog says '%s'", field, m_, c_);           \
    } while (0)

static void check_manifest(struct ctx *c, const struct manifest *m,
                           const struct catalog_set_file *files, size_t nfiles,
                           const struct catalog_set_failure *failed, size_t nfailed,
                           const char *path)
{
    const struct catalog_set *s = c->set;
    CMP_STR("id", m->id, s->id);
    CMP_INT("seq", m->seq, s->seq);
    CMP_STR("kind", m->kind, catalog_set_kind_name(s->kind));
    CMP_STR("status", m->status, catalog_set_status_name(s->status));
    /* a partial set: the same databases failed, for the same reasons */
    CMP_INT("number of failed databases", m->nfailed, nfailed);
    for (size_t i = 0; i < m->nfailed; i++) {
        const struct catalog_set_failure *f = NULL;
        for (size_t j = 0; j < nfailed && !f; j++)
            if (strcmp(failed[j].db_path, m->failed[i].db_path) == 0)
                f = &failed[j];
        if (!f) {
            report(c, path, "failed database %s is in the manifest, not in the catalog",
                   m->failed[i].db_path);
            continue;
        }
        char field[1200];
        snprintf(field, sizeof field, "failed database %s: reason", f->db_path);
        CMP_STR(field, m->failed[i].reason, f->reason);
    }
    CMP_INT("started", m->started, s->started);
    CMP_INT("ended", m->ended, s->ended);
    CMP_STR("origin", m->origin, s->origin);
    CMP_STR("checkpoint", m->checkpoint, s->checkpoint);
    CMP_INT("counts.databases", m->databases, s->databases);
    CMP_INT("counts.nlo_new", m->nlo_new, s->nlo_new);
    CMP_INT("counts.nlo_held", m->nlo_held, s->nlo_held);
    CMP_INT("counts.nlo_skipped", m->nlo_skipped, s->nlo_skipped);
    CMP_INT("counts.deltas_applied", m->deltas_applied, s->deltas_applied);
    CMP_INT("counts.deltas_kept", m->deltas_kept, s->deltas_kept);
    CMP_INT("counts.bytes", m->bytes, s->bytes);
    CMP_INT("number of databases", m->ndbs, nfiles);
    for (size_t i = 0; i < m->ndbs; i++) {
        const struct manifest_db *d = &m->dbs[i];
        const struct catalog_set_file *f = NULL;
        for (size_t j = 0; j < nfiles && !f; j++)
            if (files[j].db_path && strcmp(files[j].db_path, d->db_path) == 0)
                f = &files[j];
        if (!f) {
            report(c, path, "database %s is in the manifest, not in the catalog", d->db_path);
            continue;
        }
        char field[512];
        snprintf(field, sizeof field, "%s: path", d->db_path);
        CMP_STR(field, d->path, f->path);
        snprintf(field, sizeof field, "%s: size", d->db_path);
        CMP_INT(field, d->size, f->size);
        snprintf(field, sizeof field, "%s: sha256", d->db_path);
        CMP_STR(field, d->sha256, f->sha256);
        snprintf(field, sizeof field, "%s: delta", d->db_path);
        CMP_STR(field, d->delta_keep ? "keep" : "apply",
                f->delta_mode == CATALOG_DELTA_KEEP ? "keep" : "apply");
        if (d->delta_keep) {
            snprintf(field, sizeof field, "%s: delta_sha256", d->db_path);
            CMP_STR(field, d->delta_sha256, f->delta_sha256);
        }
    }
}

/*
 * SHA-256 (and size, may be NULL) of the file rel of the target (name: how messages name it):
 * fetched (an S3 target: what the bucket holds, downloaded into the working tree), opened
 * beneath the working tree without a symbolic link (a planted link to an identical file
 * elsewhere would otherwise pass) and only a regular file (a FIFO is refused at once, never
 * waited on), evicted after.
 */
static int sha_of_rel(struct ctx *c, const char *rel, const char *name, char sha[65],
                      uint64_t *size)
{
    int fd = target_fetch_open(c->t, rel), rc = -1;
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0)
        dv_syserr("stat %s", name);
    else
        rc = dv_sha256_fd_hex(fd, name, sha);
    if (rc == 0 && size)
        *size = (uint64_t)st.st_size;
    close(fd);
    target_evict(c->t, rel);
    return rc;
}

/* ---- copies, deltas, test restores --------------------------------------------------------- */

/* Read a kept delta through (delta_verify_fd) wherever it lives (the target's: fetched
 * first; a moved one where it is): target_file_open. */
static int delta_check(struct ctx *c, const char *rec, const char *loc, char sha[65],
                       uint64_t *size)
{
    char *rel = NULL;
    if (target_fetch_loc(c->t, rec, &rel) != 0)
        return -1;
    int fd = target_file_open(c->t, loc, O_RDONLY, 0);
    int rc = -1;
    if (fd >= 0) {
        struct stat st;
        rc = delta_verify_fd(fd, loc, NULL, sha);
        if (rc == 0 && fstat(fd, &st) == 0)
            *size = (uint64_t)st.st_size;
        close(fd);
    }
    target_evict_loc(c->t, rel);
    return rc;
}

static void check_file(struct ctx *c, const struct catalog_set_file *f, unsigned *serial)
{
    const char *id = c->set->id;
    if (!f->path || !dv_path_is_safe_rel(f->path)) {
        report(c, c->set_dir, "catalog: unsafe copy path '%s' for %s", f->path ? f->path : "",
               f->db_path);
        return;
    }
    char *copy = dv_path_join(c->set_dir, f->path);
    char *copy_rel = dv_asprintf("sets/%s/%s", id, f->path);
    bool ok = true;
    char sha[65];
    uint64_t size = 0;
    c->r->copies++;
    if (sha_of_rel(c, copy_rel, copy, sha, &size) != 0) {
        report(c, copy, "cannot read the copy: %s", after_file(dv_err(), copy));
        ok = false;
    } else {
        c->r->bytes += size;
        if (strcmp(sha, f->sha256) != 0) {
            report(c, copy, "SHA-256 mismatch: file %s, catalog %s", sha, f->sha256);
            ok = false;
        }
    }
    job_advance(c->job, 0, 0, f->db_path);
    if (f->delta_mode == CATALOG_DELTA_KEEP) {
        c->r->deltas++;
        char *abs =
            f->delta_location && f->delta_location[0] ? target_abs(c->t, f->delta_location) : NULL;
        const char *loc = abs;
        if (!loc || !loc[0]) {
            report(c, copy, "set %s keeps a delta for %s but the catalog does not say where", id,
                   f->db_path);
            ok = false;
        } else if (delta_check(c, f->delta_location, loc, sha, &size) != 0) {
            report(c, loc, "%s", after_file(dv_err(), loc));
            ok = false;
        } else {
            c->r->bytes += size;
            if (!f->delta_sha256 || strcmp(sha, f->delta_sha256) != 0) {
                report(c, loc, "SHA-256 mismatch: file %s, catalog %s", sha,
                       f->delta_sha256 ? f->delta_sha256 : "(none)");
                ok = false;
            }
        }
        free(abs);
    }
    if (ok) {
        /* the test restore: copy + delta + integrity_check, exactly as a restore does it */
        char *rel = dv_asprintf("%s/%u.nsf", c->scratch, (*serial)++);
        char *out = fsb_abs(target_root(c->t), rel);
        if (restore_materialize(c->cat, c->t, id, f->db_path, out, false, NULL, NULL) != 0)
            report(c, copy, "test restore of %s failed: %s", f->db_path, dv_err());
        else
            c->r->restores++;
        fsb_unlink(target_root(c->t), rel, true);
        free(rel);
        free(out);
    }
    job_advance(c->job, 1, 0, f->db_path);
    free(copy_rel);
    free(copy);
}

/* ---- the set's pool objects ----------------------------------------------------------------- */

struct nloctx {
    struct ctx *c;
    const char *list;
    uint64_t n;
};

static int check_nlo(void *ud, const struct target_nlo_entry *e)
{
    struct nloctx *x = ud;
    struct ctx *c = x->c;
    x->n++;
    c->r->nlos_listed++;
    if (job_cancelled(c->job))
        return 2;
    char prel[128];
    target_pool_relpath(e->name, prel, sizeof prel);
    char *pool = target_name_of(c->t, prel);
    struct catalog_pool_obj row;
    int f = catalog_pool_get(c->cat, e->name, &row);
    if (f < 0) {
        free(pool);
        return -1;
    }
    if (f == 0)
        report(c, pool, "listed in %s but not in the catalog pool", x->list);
    else if (strcmp(row.sha256, e->sha256) != 0 || (uint64_t)row.size != e->size ||
             row.first_set != c->set->seq)
        report(c, pool,
               "catalog pool row differs from %s: sha256 %s size %lld first set %lld, list says "
               "%s %llu %lld",
               x->list, row.sha256, (long long)row.size, (long long)row.first_set, e->sha256,
               (unsigned long long)e->size, (long long)c->set->seq);
    if (verify_in_sample(e->name, c->o->sample_pct)) {
        char sha[65];
        c->r->nlos_checked++;
        if (sha_of_rel(c, prel, pool, sha, NULL) != 0)
            report(c, pool, "cannot read the pool object: %s", after_file(dv_err(), pool));
        else if (strcmp(sha, e->sha256) != 0)
            report(c, pool, "SHA-256 mismatch: file %s, recorded %s", sha, e->sha256);
        else
            c->r->bytes += e->size;
        job_advance(c->job, 1, e->size, e->name);
    }
    free(pool);
    return 0;
}

static int check_pool(struct ctx *c, const struct manifest *m)
{
    int64_t rows = 0;
    if (catalog_pool_count_first_set(c->cat, c->set->seq, &rows) != 0)
        return -1;
    if (!m->nlo_list.file[0]) {
        if (rows != 0) {
            char *mp = dv_path_join(c->set_dir, TARGET_MANIFEST);
            report(c, mp, "the set lists no new NLO, the catalog pool has %lld first stored by it",
                   (long long)rows);
            free(mp);
        }
        return 0;
    }
    char *list = dv_path_join(c->set_dir, m->nlo_list.file);
    char *lrel = dv_asprintf("sets/%s/%s", c->set->id, m->nlo_list.file);
    char sha[65];
    /* fetched once: hashed, then read through (evicted after) */
    int lfd = target_fetch_open(c->t, lrel);
    if (lfd < 0 || dv_sha256_fd_hex(lfd, list, sha) != 0) {
        report(c, list, "cannot read the NLO list: %s", after_file(dv_err(), list));
        if (lfd >= 0) {
            close(lfd);
            target_evict(c->t, lrel);
        }
        free(lrel);
        free(list);
        return 0;
    }
    close(lfd);
    if (strcmp(sha, m->nlo_list.sha256) != 0)
        report(c, list, "SHA-256 mismatch: file %s, manifest %s", sha, m->nlo_list.sha256);
    job_phase(c->job, "nlo", m->nlo_list.count, 0);
    struct nloctx x = {.c = c, .list = list};
    int rc = target_nlolist_read_at(target_root(c->t), lrel, check_nlo, &x);
    target_evict(c->t, lrel);
    free(lrel);
    job_flush(c->job);
    if (rc == 2) {
        dv_seterr("verify: cancelled");
        free(list);
        return -1;
    }
    if (rc == -1) {
        report(c, list, "%s", after_file(dv_err(), list));
    } else {
        c->list_hashed = true;
        if (x.n != m->nlo_list.count)
            report(c, list, "%llu objects listed, the manifest says %llu", (unsigned long long)x.n,
                   (unsigned long long)m->nlo_list.count);
        if ((uint64_t)rows != x.n)
            report(c, list, "%llu objects listed, the catalog pool has %lld first stored by set %s",
                   (unsigned long long)x.n, (long long)rows, c->set->id);
    }
    free(list);
    return 0;
}

/*
 * verify --set: every NLO the set holds, not only those it stored. The set's databases
 * reference NLOs that earlier sets stored in the pool (catalog refs ranges covering the set's
 * seq: catalog_needed_compute of this one set); each is hashed against its pool row. Those
 * the set stored itself were checked through its list (unless the list could not be read).
 * A referenced NLO without a pool row is a problem: the set claims what it does not hold.
 */
static int check_held(struct ctx *c)
{
    int64_t count = 0;
    if (catalog_needed_compute(c->cat, &c->set->seq, 1, &count) != 0)
        return -1;
    job_phase(c->job, "nlo held", (uint64_t)count, 0);
    enum { PAGE = 256 };
    char(*names)[CATALOG_NLO_NAME_LEN + 1] = dv_calloc(PAGE, sizeof *names);
    char after[CATALOG_NLO_NAME_LEN + 1] = "";
    int rc = 0;
    size_t n;
    do {
        if (catalog_needed_page(c->cat, after, names, PAGE, &n) != 0) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (job_cancelled(c->job)) {
                dv_seterr("verify: cancelled");
                rc = -1;
                break;
            }
            const char *name = names[i];
            struct catalog_pool_obj row;
            int f = catalog_pool_get(c->cat, name, &row);
            if (f < 0) {
                rc = -1;
                break;
            }
            if (f == 1 && row.first_set == c->set->seq && c->list_hashed)
                continue; /* the set stored it: checked through its list */
            char prel[128];
            target_pool_relpath(name, prel, sizeof prel);
            char *pool = target_name_of(c->t, prel);
            c->r->nlos_held++;
            if (f == 0) {
                report(c, pool,
                       "referenced by the databases of set %s, but not in the catalog pool: the "
                       "set does not hold it",
                       c->set->id);
            } else if (verify_in_sample(name, c->o->sample_pct)) {
                char sha[65];
                c->r->nlos_checked++;
                if (sha_of_rel(c, prel, pool, sha, NULL) != 0)
                    report(c, pool, "cannot read the pool object: %s", after_file(dv_err(), pool));
                else if (strcmp(sha, row.sha256) != 0)
                    report(c, pool, "SHA-256 mismatch: file %s, catalog pool %s", sha, row.sha256);
                else
                    c->r->bytes += (uint64_t)row.size;
            }
            job_advance(c->job, 1, f == 1 ? (uint64_t)row.size : 0, name);
            free(pool);
        }
        if (n)
            snprintf(after, sizeof after, "%s", names[n - 1]);
    } while (rc == 0 && n == PAGE);
    job_flush(c->job);
    free(names);
    return rc;
}

/* ---- one set -----------------------------------------------------------------------------------
 */

static int verify_set(struct ctx *c, const struct catalog_set *s)
{
    c->set = s;
    char *set_rel = dv_asprintf("sets/%s", s->id);
    c->set_dir = target_name_of(c->t, set_rel); /* for messages (S3: s3://.../sets/<id>) */
    free(set_rel);
    c->list_hashed = false;
    c->r->sets++;
    struct catalog_set_file *files = NULL;
    size_t nfiles = 0, nfailed = 0;
    struct catalog_set_failure *failed = NULL;
    struct manifest m;
    manifest_init(&m);
    int rc = -1;
    if (catalog_set_files(c->cat, s->id, &files, &nfiles) != 0 ||
        catalog_set_failures(c->cat, s->id, &failed, &nfailed) != 0)
        goto out;
    char *mpath = dv_path_join(c->set_dir, TARGET_MANIFEST);
    char *mrel = dv_asprintf("sets/%s/%s", s->id, TARGET_MANIFEST);
    bool have_manifest =
        target_fetch_read(c->t, mrel) == 0 && manifest_read_at(target_root(c->t), mrel, &m) == 0;
    target_evict(c->t, mrel);
    free(mrel);
    if (!have_manifest)
        report(c, mpath, "%s", after_file(dv_err(), mpath));
    else
        check_manifest(c, &m, files, nfiles, failed, nfailed, mpath);
    free(mpath);
    job_phase(c->job, "copies", nfiles, 0);
    unsigned serial = 0;
    for (size_t i = 0; i < nfiles; i++) {
        if (job_cancelled(c->job)) {
            dv_seterr("verify: cancelled");
            goto out;
        }
        check_file(c, &files[i], &serial);
    }
    job_flush(c->job);
    if (have_manifest && check_pool(c, &m) != 0)
        goto out;
    if (c->o->set_id && check_held(c) != 0)
        goto out;
    rc = 0;
out:
    manifest_done(&m);
    free(failed);
    catalog_set_files_free(files, nfiles);
    free(c->set_dir);
    c->set_dir = NULL;
    return rc;
}

/* What `resync catalog` could not record (rebuild.h): each is a problem, named. */
static int unrecorded(void *ud, const char *key, const char *value)
{
    struct ctx *c = ud;
    const char *what = key + strlen(TARGET_META_RESYNC), *slash = strrchr(what, '/');
    char *path = dv_asprintf("%s/sets/%.*s", target_url(c->t),
                             (int)(slash ? slash - what : (ptrdiff_t)strlen(what)), what);
    report(c, path,
           "not recorded by resync catalog (%s): %s; prune refuses until it is repaired or "
           "removed and `dvault resync catalog` is run again",
           slash ? slash + 1 : "set", value);
    free(path);
    return 0;
}

static int collect(void *ud, const struct catalog_set *s)
{
    struct {
        struct catalog_set *v;
        size_t n;
    } *l = ud;
    if (!catalog_set_usable(s->status) || s->pruning > 0)
        return 0;
    l->v = dv_realloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = *s;
    return 0;
}

static int verify_body(const struct dv_config *cfg, const struct verify_opts *o, struct dv_job *job,
                       verify_problem_fn problem, void *ud, struct verify_result *r)
{
    static const struct verify_opts defaults = {0};
    struct ctx c = {
        .cfg = cfg, .o = o ? o : &defaults, .job = job, .problem = problem, .ud = ud, .r = r};
    struct {
        struct catalog_set *v;
        size_t n;
    } l = {NULL, 0};
    int rc = -1;
    c.t = target_open_cfg(cfg); /* first: a missing target is the bigger news */
    if (!c.t)
        return -1;
    bool missing = false;
    c.cat = catalog_open_existing(cfg->catalog, &missing);
    if (missing)
        dv_seterr("no catalog yet (%s): nothing to verify", cfg->catalog);
    if (!c.cat)
        goto out;
    /* the catalog itself first: its rows are what everything else is checked against */
    int ic = catalog_integrity_check(c.cat);
    if (ic < 0)
        goto out;
    if (ic > 0)
        report(&c, cfg->catalog, "%s", dv_err());
    else if (target_bind_catalog(c.t, c.cat) != 0)
        goto out;
    if (!c.o->set_id && catalog_meta_each(c.cat, TARGET_META_RESYNC, unrecorded, &c, NULL) != 0)
        goto out;
    if (c.o->set_id) {
        struct catalog_set s;
        int f = catalog_set_get(c.cat, c.o->set_id, &s);
        if (f < 0)
            goto out;
        if (f == 0) {
            dv_seterr("no backup set '%s' (dvault sets lists them)", c.o->set_id);
            goto out;
        }
        if (!catalog_set_usable(s.status) || s.pruning > 0) {
            dv_seterr("backup set %s is %s: only complete and partial sets can be verified", s.id,
                      s.pruning > 0 ? "being pruned" : catalog_set_status_name(s.status));
            goto out;
        }
        collect(&l, &s);
    } else if (catalog_sets_each(c.cat, collect, &l) != 0) {
        goto out;
    }
    if (!(c.scratch = fsb_mkdtemp(target_root(c.t), ".verify."))) {
        dv_preferr("verify: scratch directory");
        goto out;
    }
    rc = 0;
    for (size_t i = 0; i < l.n && rc == 0; i++) {
        job_log(job, DV_INFO, "verifying set %s", l.v[i].id);
        rc = verify_set(&c, &l.v[i]);
    }
    if (fsb_rmdir(target_root(c.t), c.scratch) != 0 && errno != ENOENT)
        job_log(job, DV_WARN, "verify: %s", dv_err());
    if (rc == 0 && r->problems)
        rc = 1;
out:
    free(c.scratch);
    free(l.v);
    catalog_close(c.cat);
    target_close(c.t);
    return rc;
}

int verify_run(const struct dv_config *cfg, const struct verify_opts *o, struct dv_job *job,
               verify_problem_fn problem, void *ud, struct verify_result *r)
{
    struct verify_result dummy;
    if (!r)
        r = &dummy;
    memset(r, 0, sizeof *r);
    struct job_record rec;
    job = job_record_begin(&rec, cfg->catalog, "verify", job);
    int rc = verify_body(cfg, o, job, problem, ud, r);
    char sum[512], b[32];
    dv_fmt_bytes(r->bytes, b, sizeof b);
    snprintf(sum, sizeof sum,
             "%s%llu problem(s); %llu set(s), %llu NLO(s) checked of %llu, %llu copies, %llu "
             "deltas, %llu test restores, %s read",
             r->problems ? "PROBLEMS: " : "", (unsigned long long)r->problems,
             (unsigned long long)r->sets, (unsigned long long)r->nlos_checked,
             (unsigned long long)(r->nlos_listed + r->nlos_held), (unsigned long long)r->copies,
             (unsigned long long)r->deltas, (unsigned long long)r->restores, b);
    job_record_end(&rec, rc < 0 ? -1 : 0, sum);
    return rc;
}

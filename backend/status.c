/* status.c - see status.h. */
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "dbglob.h"
#include "dvjson.h"
#include "fsb.h"
#include "target.h"
#include "tstore.h"
#include "util.h"

static void warn(struct dv_status *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct dv_status *s, const char *fmt, ...)
{
    if (s->nwarnings >= STATUS_MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->warnings[s->nwarnings++], sizeof s->warnings[0], fmt, ap);
    va_end(ap);
}

/* The WAL archive of the target: per database (headers only), and the newest run record. */
static void archive_collect(const struct dv_config *cfg, struct dv_status *s)
{
    struct archive_summary *t = &s->archive_total;
    t->max_err_us = -1;
    /* S3: from the bucket's listing (count, bytes) and the headers of each database's first
     * and last segment (span); transactions and gaps are not counted there */
    struct tstore *ts = NULL;
    struct fsb *root = NULL;
    char **dbs = NULL;
    size_t n = 0;
    if (cfg->backup.s3.bucket
            ? !(ts = archive_s3_store(cfg)) || archive_s3_dbs(ts, &dbs, &n) != 0
            : !(root = fsb_open(cfg->backup.target)) || archive_dbs_at(root, &dbs, &n) != 0) {
        snprintf(s->archive_error, sizeof s->archive_error, "%s", dv_err());
        warn(s, "archive unreadable: %s", s->archive_error);
        fsb_close(root);
        tstore_close(ts);
        return;
    }
    s->archive = dv_calloc(n ? n : 1, sizeof *s->archive);
    for (size_t i = 0; i < n; i++) {
        struct status_archive *a = &s->archive[s->narchive++];
        a->db = dv_strdup(dbs[i]);
        a->ok = (ts ? archive_s3_summary(ts, dbs[i], &a->sum)
                    : archive_summary_at(root, dbs[i], &a->sum)) == 0;
        if (!a->ok) {
            a->err = dv_strdup(dv_err());
            warn(s, "archive of %s unreadable: %s", dbs[i], a->err);
            continue;
        }
        t->from_listing = a->sum.from_listing;
        t->segments += a->sum.segments;
        t->bytes += a->sum.bytes;
        t->raw_bytes += a->sum.raw_bytes;
        t->transactions += a->sum.transactions;
        t->gaps += a->sum.gaps;
        if (a->sum.first_us && (!t->first_us || a->sum.first_us < t->first_us))
            t->first_us = a->sum.first_us;
        if (a->sum.last_us > t->last_us)
            t->last_us = a->sum.last_us;
        if (a->sum.max_err_us > t->max_err_us)
            t->max_err_us = a->sum.max_err_us;
    }
    dbglob_free(dbs);
    struct archive_run_rec *runs;
    size_t nr;
    if ((ts ? archive_s3_runs(ts, &runs, &nr) : archive_runs_at(root, &runs, &nr)) != 0) {
        warn(s, "archive run records unreadable: %s", dv_err());
    } else {
        for (size_t i = 0; i < nr; i++)
            if (!s->has_run || runs[i].started_us > s->run_started_us) {
                s->has_run = true;
                s->run_started_us = runs[i].started_us;
                s->run_confirmed_us = runs[i].confirmed_us;
            }
        archive_runs_free(runs, nr);
        s->run_stale = s->has_run && dv_now_us() - s->run_confirmed_us > STATUS_ARCHIVE_STALE_US;
    }
    fsb_close(root);
    tstore_close(ts);
}

/* The server's databases: how many, their size, the paths refused. */
static void server_collect(const struct dv_config *cfg, struct dv_status *s)
{
    char **dbs = NULL, **refused = NULL;
    size_t n = 0;
    if (dbglob_list_ex(cfg, &dbs, &n, &refused) != 0) {
        warn(s, "data directory: %s", dv_err());
        return;
    }
    s->databases = n;
    for (size_t i = 0; i < n; i++) {
        char *p = dv_path_join(cfg->server.data_dir, dbs[i]);
        struct stat st;
        if (stat(p, &st) == 0)
            s->db_bytes += (uint64_t)st.st_size;
        free(p);
    }
    dbglob_free(dbs);
    size_t nr = 0;
    while (refused[nr])
        nr++;
    if (nr) /* links and special files the globs match: never followed, never copied */
        warn(s, "%zu database path(s) refused, not backed up: %.300s%s", nr, refused[0],
             nr > 1 ? "; ..." : "");
    dbglob_free(refused);
}

/* The DAOS index (its state and counts), the server key, a repository not configured. */
static void daos_collect(const struct dv_config *cfg, struct dv_status *s)
{
    /* status is read-only: store_open would create a missing data directory */
    struct stat dst;
    struct dv_store *st = NULL;
    s->no_daos = !dv_config_has_daos(cfg);
    if (s->no_daos)
        snprintf(s->store_error, sizeof s->store_error, "%s", DV_NO_DAOS);
    else if (stat(cfg->server.data_dir, &dst) != 0)
        dv_syserr("%s", cfg->server.data_dir);
    else if (stat(cfg->server.daos_dir, &dst) != 0) /* nor a missing DAOS directory */
        dv_syserr("%s", cfg->server.daos_dir);
    else
        st = store_open(cfg);
    if (st) {
        store_check(st);
        if (store_status(st, &s->daos) == 0)
            s->store_ok = true;
        else
            snprintf(s->store_error, sizeof s->store_error, "%s", dv_err());
        store_free(st);
    } else if (!s->no_daos) {
        snprintf(s->store_error, sizeof s->store_error, "%s", dv_err());
    }
    /* the key is the server's (dvault never creates one); recovery needs it */
    if (store_key_check(cfg) != 0)
        warn(s, "%s: recovering NLOs will fail", dv_err());
    char daos[4096];
    if (dv_config_daos_unset_but_present(cfg, daos, sizeof daos))
        warn(s,
             "%.180s looks like a DAOS repository, but server.daos_dir is not set: its NLOs "
             "are not backed up",
             daos);
    if (!s->store_ok && !s->no_daos)
        warn(s, "DAOS index unreadable: %s", s->store_error);
    else if (s->daos.needs_resync)
        warn(s, "DAOS index NEEDS_RESYNC (%s): run dvault resync daos", s->daos.reason);
}

/* The sets, the pool and the binding, from the catalog (when there is one: never created). */
static void catalog_collect(const struct dv_config *cfg, struct dv_status *s)
{
    bool missing = false;
    struct catalog *cat = catalog_open_reader(cfg->catalog, &missing);
    if (!cat) {
        s->catalog_ok = missing; /* no catalog yet: no backups yet */
        if (!missing) {
            snprintf(s->catalog_error, sizeof s->catalog_error, "%s", dv_err());
            warn(s, "catalog unreadable: %s", s->catalog_error);
        }
        return;
    }
    s->catalog_ok = true;
    catalog_meta_get(cat, TARGET_ID_META_KEY, s->catalog_target, sizeof s->catalog_target);
    size_t nprob = 0;
    if (catalog_meta_each(cat, TARGET_META_RESYNC, NULL, NULL, &nprob) == 0 && nprob)
        warn(s,
             "the last resync catalog could not record %zu thing(s) on the target: "
             "prune refuses until they are dealt with (dvault verify names them)",
             nprob);
    s->has_last = catalog_set_latest(cat, false, &s->last) == 1;
    if (s->has_last && s->last.status != CATALOG_SET_COMPLETE &&
        catalog_set_failures(cat, s->last.id, &s->last_failed, &s->nlast_failed) != 0)
        warn(s, "catalog: %s", dv_err());
    s->has_last_complete = catalog_set_latest(cat, true, &s->last_complete) == 1;
    catalog_pool_stats(cat, &s->pool_objects, &s->pool_bytes);
    struct catalog_set page[256];
    size_t k = 0;
    int64_t before = 0;
    do {
        if (catalog_sets_list(cat, before, page, 256, &k) != 0)
            break;
        for (size_t i = 0; i < k; i++) {
            s->nsets++;
            s->ncomplete += page[i].status == CATALOG_SET_COMPLETE;
            s->npartial += page[i].status == CATALOG_SET_PARTIAL;
        }
        if (k)
            before = page[k - 1].seq;
    } while (k == 256);
    catalog_close(cat);
}

/* The target's identity (and whether the catalog is bound to it), then its archive. */
static void target_collect(const struct dv_config *cfg, struct dv_status *s)
{
    struct target_identity tid;
    const char *b = cfg->backup.s3.bucket, *px = cfg->backup.s3.prefix;
    if (b)
        snprintf(s->target_s3, sizeof s->target_s3, "s3://%s%s%s at %s", b, px && px[0] ? "/" : "",
                 px ? px : "", cfg->backup.s3.endpoint ? cfg->backup.s3.endpoint : "AWS");
    if (target_identity_read_cfg(cfg, &tid) != 0) {
        snprintf(s->target_error, sizeof s->target_error, "%s", dv_err());
        warn(s, "backup target not usable (the target line says why; dvault target init "
                "creates one)");
        return;
    }
    s->target_ok = true;
    snprintf(s->target_id, sizeof s->target_id, "%s", tid.id);
    if (s->catalog_target[0] && strcmp(s->catalog_target, tid.id) != 0)
        warn(s,
             "the catalog belongs to target %.32s, not to the configured target %.32s: "
             "dvault resync catalog",
             s->catalog_target, tid.id);
    archive_collect(cfg, s); /* a directory's, or the bucket's (archive_s3.c) */
}

/* What the last sets and the configuration ask of the operator. */
static void backup_advice(const struct dv_config *cfg, struct dv_status *s)
{
    int64_t now = dv_now();
    if (s->has_last && s->last.status == CATALOG_SET_FAILED)
        warn(s, "last backup %s %s: %s%s", s->last.id,
             s->last.kind == CATALOG_SET_INCREMENTAL ? "(incremental) failed" : "failed",
             s->last.message, s->last.kind == CATALOG_SET_INCREMENTAL ? "; next run is full" : "");
    if (s->has_last && s->last.status == CATALOG_SET_PARTIAL) {
        char list[200] = "";
        size_t len = 0;
        for (size_t i = 0; i < s->nlast_failed && len + 8 < sizeof list; i++) {
            int k = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                             s->last_failed[i].db_path);
            len = k < 0 || (size_t)k >= sizeof list - len ? sizeof list : len + (size_t)k;
        }
        warn(s,
             "last backup %s is partial: %zu database(s) could not be copied (%.200s%s): they "
             "are not in that set; fix them, the next backup copies them in full",
             s->last.id, s->nlast_failed, list, len >= sizeof list ? "..." : "");
    }
    if (!s->has_last_complete)
        warn(s, "no complete backup yet: run dvault backup");
    else if (now - s->last_complete.started > 2 * cfg->backup.cycle_hours * 3600)
        warn(s, "last complete backup %s is older than two backup cycles (%ld h)",
             s->last_complete.id, cfg->backup.cycle_hours);
    long ddays = cfg->server.deferred_deletion_days;
    if (!s->no_daos && ddays * 24 < cfg->backup.cycle_hours)
        warn(s,
             "deferred_deletion_days (%ld) is shorter than the backup cycle (%ld h): deleted "
             "attachments can be pruned before any backup holds them",
             ddays, cfg->backup.cycle_hours);
    if (!s->no_daos && ddays < cfg->backup.keep_days)
        warn(s,
             "deferred_deletion_days (%ld) is shorter than the retention (%ld days): restoring "
             "an older set will need NLOs recovered from the pool (listnlo missing)",
             ddays, cfg->backup.keep_days);
}

/* The target's free space against what the next full backup needs. */
static void space_collect(const struct dv_config *cfg, struct dv_status *s)
{
    struct statvfs vfs; /* a bucket has no free space to speak of */
    if (!cfg->backup.s3.bucket && statvfs(cfg->backup.target, &vfs) == 0) {
        s->target_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        s->target_size = (uint64_t)vfs.f_blocks * vfs.f_frsize;
        uint64_t need =
            s->db_bytes +
            (s->daos.bytes > (uint64_t)s->pool_bytes ? s->daos.bytes - (uint64_t)s->pool_bytes : 0);
        if (s->target_free < need) {
            char a[32], b[32];
            dv_fmt_bytes(s->target_free, a, sizeof a);
            dv_fmt_bytes(need, b, sizeof b);
            warn(s, "target space: %s free, the next full backup needs about %s", a, b);
        }
    }
}

int status_collect(const struct dv_config *cfg, struct dv_status *s)
{
    memset(s, 0, sizeof *s);
    server_collect(cfg, s);
    daos_collect(cfg, s);
    catalog_collect(cfg, s);
    target_collect(cfg, s);
    backup_advice(cfg, s);
    space_collect(cfg, s);
    return 0;
}

/* A directory the configuration names: missing or not a directory is a problem. */
static bool dir_problem(const char *path, const char *what, char *out, size_t n)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            snprintf(out, n, "%s %s does not exist", what, path);
        else
            snprintf(out, n, "%s %s: %s", what, path, strerror(errno));
        return true;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(out, n, "%s %s is not a directory", what, path);
        return true;
    }
    return false;
}

size_t status_problems(const struct dv_config *cfg, char (*out)[DV_ERR_MAX], size_t max)
{
    size_t k = 0;
    if (k < max && dir_problem(cfg->server.data_dir, "server.data_dir", out[k], DV_ERR_MAX))
        k++;
    if (dv_config_has_daos(cfg)) {
        if (k < max && dir_problem(cfg->server.daos_dir, "server.daos_dir", out[k], DV_ERR_MAX))
            k++;
        /* a missing key only (none configured, or no file): a refused one stays a warning */
        const char *kf = cfg->server.key_file;
        struct stat kst;
        if (k < max && store_key_check(cfg) != 0 &&
            (!kf || !*kf || (lstat(kf, &kst) != 0 && errno == ENOENT)))
            snprintf(out[k++], DV_ERR_MAX, "%s", dv_err());
    }
    return k;
}

void status_done(struct dv_status *s)
{
    store_status_done(&s->daos);
    free(s->last_failed);
    s->last_failed = NULL;
    s->nlast_failed = 0;
    for (size_t i = 0; i < s->narchive; i++) {
        free(s->archive[i].db);
        free(s->archive[i].err);
    }
    free(s->archive);
    s->archive = NULL;
    s->narchive = 0;
}

void status_archive_line(const struct archive_summary *a, char *buf, size_t n)
{
    char b[32], r[32], raw[48] = "", from[32], to[32], err[48] = "", gaps[32] = "";
    dv_fmt_bytes(a->bytes, b, sizeof b);
    dv_fmt_bytes(a->raw_bytes, r, sizeof r);
    if (!a->from_listing) /* an S3 target's summary does not count it (archive_s3.c) */
        snprintf(raw, sizeof raw, " (%s raw)", r);
    dv_fmt_time(a->first_us / 1000000, from, sizeof from);
    dv_fmt_time(a->last_us / 1000000, to, sizeof to);
    /* the end's date only when it differs from the start's */
    const char *to_s = strlen(to) == 19 && strncmp(from, to, 11) == 0 ? to + 11 : to;
    if (a->max_err_us >= 0)
        snprintf(err, sizeof err, ", observation error <= %lld ms",
                 (long long)((a->max_err_us + 999) / 1000));
    if (a->gaps)
        snprintf(gaps, sizeof gaps, ", %llu gap(s)", (unsigned long long)a->gaps);
    snprintf(buf, n, "%s%s, from %s to %s%s%s", b, raw, from, to_s, err, gaps);
}

void status_run_line(const struct dv_status *s, char *buf, size_t n)
{
    char st[32], co[32];
    dv_fmt_time(s->run_started_us / 1000000, st, sizeof st);
    dv_fmt_time(s->run_confirmed_us / 1000000, co, sizeof co);
    int64_t ago = (dv_now_us() - s->run_confirmed_us) / 1000000;
    snprintf(buf, n, "last run started %s, confirmed up to %s (%llds ago)%s", st, co,
             (long long)(ago < 0 ? 0 : ago), s->run_stale ? ": not running?" : "");
}

void status_print(FILE *f, const struct dv_status *s)
{
    char a[32], b[32], t[32];
    dv_fmt_bytes(s->db_bytes, a, sizeof a);
    fprintf(f, "server      %llu databases (%s)\n", (unsigned long long)s->databases, a);
    if (s->no_daos) {
        fprintf(f, "DAOS        none: %s (database-only backups)\n", DV_NO_DAOS);
    } else if (s->store_ok) {
        dv_fmt_bytes(s->daos.bytes, a, sizeof a);
        fprintf(f, "DAOS        %s%s%s, %llu NLOs (%s), %llu references, %llu zero-ref waiting\n",
                s->daos.needs_resync ? "NEEDS_RESYNC" : "SYNCHRONIZED",
                s->daos.needs_resync ? ": " : "", dv_esc(s->daos.reason),
                (unsigned long long)s->daos.objects, a, (unsigned long long)s->daos.references,
                (unsigned long long)s->daos.zero_ref);
    } else {
        fprintf(f, "DAOS        unreadable: %s\n", dv_esc(s->store_error));
    }
    if (s->has_last) {
        dv_fmt_time(s->last.started, t, sizeof t);
        fprintf(f, "last backup %s (%s, %s, started %s)%s%s\n", dv_esc(s->last.id),
                catalog_set_kind_name(s->last.kind), catalog_set_status_name(s->last.status), t,
                s->last.message[0] ? ": " : "", dv_esc(s->last.message));
    } else {
        fprintf(f, "last backup none\n");
    }
    if (s->has_last_complete && (!s->has_last || strcmp(s->last.id, s->last_complete.id) != 0))
        fprintf(f, "last good   %s\n", dv_esc(s->last_complete.id));
    dv_fmt_bytes((uint64_t)s->pool_bytes, a, sizeof a);
    fprintf(f, "sets        %lld (%lld complete, %lld partial); NLO pool %lld objects (%s)\n",
            (long long)s->nsets, (long long)s->ncomplete, (long long)s->npartial,
            (long long)s->pool_objects, a);
    if (s->store_ok && s->daos.referenced_bytes) {
        dv_fmt_bytes(s->daos.referenced_bytes, a, sizeof a);
        dv_fmt_bytes(s->daos.bytes, b, sizeof b);
        fprintf(f, "dedup       %s referenced, %s stored (%.1fx)\n", a, b,
                s->daos.bytes ? (double)s->daos.referenced_bytes / (double)s->daos.bytes : 0.0);
    }
    if (!s->target_ok) {
        fprintf(f, "target      NOT USABLE: %s\n", dv_esc(s->target_error));
    } else if (s->target_size) {
        dv_fmt_bytes(s->target_free, a, sizeof a);
        dv_fmt_bytes(s->target_size, b, sizeof b);
        fprintf(f, "target      %s, %s free of %s\n", dv_esc(s->target_id), a, b);
    } else if (s->target_s3[0]) {
        fprintf(f, "target      %s, %s\n", dv_esc(s->target_id), dv_esc(s->target_s3));
    }
    if (s->narchive) {
        char line[512];
        status_archive_line(&s->archive_total, line, sizeof line);
        fprintf(f, "archive     %zu database(s), %llu segment(s), %s\n", s->narchive,
                (unsigned long long)s->archive_total.segments, line);
        size_t more = 0;
        for (size_t i = 0; i < s->narchive; i++) {
            const struct status_archive *d = &s->archive[i];
            if (i >= STATUS_ARCHIVE_LINES && d->ok) { /* thousands: --json lists every one */
                more++;
                continue;
            }
            if (d->ok)
                status_archive_line(&d->sum, line, sizeof line);
            fprintf(f, "  %s: ", dv_esc(d->db));
            if (d->ok)
                fprintf(f, "%llu segment(s), %s\n", (unsigned long long)d->sum.segments, line);
            else
                fprintf(f, "UNREADABLE: %s\n", dv_esc(d->err));
        }
        if (more)
            fprintf(f, "  ... and %zu more database(s) (dvault status --json lists each)\n", more);
    } else if (s->target_ok) {
        fprintf(f, "archive     %s\n",
                s->archive_error[0] ? "unreadable (see the warning)" : "none");
    }
    if (s->has_run) {
        char line[256];
        status_run_line(s, line, sizeof line);
        fprintf(f, "archiver    %s\n", line);
    }
    for (size_t i = 0; i < s->nwarnings; i++)
        fprintf(f, "warning     %s\n", dv_esc(s->warnings[i]));
}

/* An archive summary's counts into o (status --json: the total and each database). */
static void archive_json(json_t *o, const struct archive_summary *m)
{
    dvjson_set(o, "segments", dvjson_int((int64_t)m->segments));
    dvjson_set(o, "bytes", dvjson_int((int64_t)m->bytes));
    dvjson_set(o, "raw_bytes", dvjson_int((int64_t)m->raw_bytes));
    dvjson_set(o, "transactions", dvjson_int((int64_t)m->transactions));
    dvjson_set(o, "first_us", dvjson_int(m->first_us));
    dvjson_set(o, "last_us", dvjson_int(m->last_us));
    dvjson_set(o, "max_err_us", dvjson_int(m->max_err_us));
    dvjson_set(o, "gaps", dvjson_int((int64_t)m->gaps));
}

static json_t *archive_tree(const struct dv_status *s)
{
    json_t *o = dvjson_obj();
    dvjson_set(o, "error", dvjson_text(s->archive_error));
    archive_json(o, &s->archive_total);
    json_t *run = json_null();
    if (s->has_run) {
        run = dvjson_obj();
        dvjson_set(run, "started_us", dvjson_int(s->run_started_us));
        dvjson_set(run, "confirmed_us", dvjson_int(s->run_confirmed_us));
        dvjson_set(run, "stale", json_boolean(s->run_stale));
    }
    dvjson_set(o, "run", run);
    json_t *dbs = dvjson_arr();
    for (size_t i = 0; i < s->narchive; i++) {
        const struct status_archive *a = &s->archive[i];
        json_t *d = dvjson_obj();
        dvjson_set(d, "db", dvjson_text(a->db));
        dvjson_set(d, "ok", json_boolean(a->ok));
        dvjson_set(d, "error", dvjson_text(a->err));
        archive_json(d, &a->sum);
        dvjson_append(dbs, d);
    }
    dvjson_set(o, "databases", dbs);
    return o;
}

static json_t *last_tree(const struct dv_status *s)
{
    if (!s->has_last)
        return json_null();
    json_t *o = dvjson_obj();
    dvjson_set(o, "id", dvjson_text(s->last.id));
    dvjson_set(o, "kind", dvjson_text(catalog_set_kind_name(s->last.kind)));
    dvjson_set(o, "status", dvjson_text(catalog_set_status_name(s->last.status)));
    dvjson_set(o, "started", dvjson_int(s->last.started));
    dvjson_set(o, "ended", dvjson_int(s->last.ended));
    json_t *fl = dvjson_arr();
    for (size_t i = 0; i < s->nlast_failed; i++) {
        json_t *d = dvjson_obj();
        dvjson_set(d, "db_path", dvjson_text(s->last_failed[i].db_path));
        dvjson_set(d, "reason", dvjson_text(s->last_failed[i].reason));
        dvjson_append(fl, d);
    }
    dvjson_set(o, "failed_databases", fl);
    return o;
}

void status_print_json(FILE *f, const struct dv_status *s)
{
    json_t *o = dvjson_obj(), *d = dvjson_obj(), *t = dvjson_obj();
    dvjson_set(o, "databases", dvjson_int((int64_t)s->databases));
    dvjson_set(o, "db_bytes", dvjson_int((int64_t)s->db_bytes));
    dvjson_set(d, "present", json_boolean(!s->no_daos));
    dvjson_set(d, "readable", json_boolean(s->store_ok));
    dvjson_set(d, "state",
               dvjson_text(s->no_daos             ? "NONE"
                           : s->daos.needs_resync ? "NEEDS_RESYNC"
                                                  : "SYNCHRONIZED"));
    dvjson_set(d, "reason", dvjson_text(s->store_ok ? s->daos.reason : s->store_error));
    dvjson_set(d, "objects", dvjson_int((int64_t)s->daos.objects));
    dvjson_set(d, "bytes", dvjson_int((int64_t)s->daos.bytes));
    dvjson_set(d, "references", dvjson_int((int64_t)s->daos.references));
    dvjson_set(d, "referenced_bytes", dvjson_int((int64_t)s->daos.referenced_bytes));
    dvjson_set(d, "zero_ref", dvjson_int((int64_t)s->daos.zero_ref));
    dvjson_set(o, "daos", d);
    dvjson_set(o, "last_backup", last_tree(s));
    dvjson_set(o, "last_complete",
               s->has_last_complete ? dvjson_text(s->last_complete.id) : json_null());
    dvjson_set(t, "ok", json_boolean(s->target_ok));
    dvjson_set(t, "id", dvjson_text(s->target_id));
    dvjson_set(t, "error", dvjson_text(s->target_error));
    dvjson_set(t, "catalog_bound_to", dvjson_text(s->catalog_target));
    if (s->target_s3[0])
        dvjson_set(t, "s3", dvjson_text(s->target_s3));
    dvjson_set(o, "target", t);
    dvjson_set(o, "sets", dvjson_int(s->nsets));
    dvjson_set(o, "complete_sets", dvjson_int(s->ncomplete));
    dvjson_set(o, "partial_sets", dvjson_int(s->npartial));
    dvjson_set(o, "pool_objects", dvjson_int(s->pool_objects));
    dvjson_set(o, "pool_bytes", dvjson_int(s->pool_bytes));
    dvjson_set(o, "target_free", dvjson_int((int64_t)s->target_free));
    dvjson_set(o, "archive", s->target_ok ? archive_tree(s) : json_null());
    json_t *w = dvjson_arr();
    for (size_t i = 0; i < s->nwarnings; i++)
        dvjson_append(w, dvjson_text(s->warnings[i]));
    dvjson_set(o, "warnings", w);
    dvjson_print(f, o, 0);
    fputc('\n', f);
    json_decref(o);
}

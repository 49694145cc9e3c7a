/* status.c - see status.h. */
#include "status.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "dbglob.h"
#include "target.h"
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

int status_collect(const struct dv_config *cfg, struct dv_status *s)
{
    memset(s, 0, sizeof *s);
    char **dbs = NULL, **refused = NULL;
    size_t n = 0;
    if (dbglob_list_ex(cfg, &dbs, &n, &refused) == 0) {
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
    } else {
        warn(s, "data directory: %s", dv_err());
    }

    /* status is read-only: store_open would create a missing data directory */
    struct stat dst;
    struct dv_store *st = NULL;
    s->no_daos = !dv_config_has_daos(cfg);
    if (s->no_daos)
        snprintf(s->store_error, sizeof s->store_error, "%s", DV_NO_DAOS);
    else if (stat(cfg->server.data_dir, &dst) != 0)
        dv_syserr("%s", cfg->server.data_dir);
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

    struct stat cst;
    if (stat(cfg->catalog, &cst) != 0) {
        s->catalog_ok = true; /* no catalog yet: no backups yet */
    } else {
        struct catalog *cat = catalog_open(cfg->catalog);
        if (!cat) {
            snprintf(s->catalog_error, sizeof s->catalog_error, "%s", dv_err());
        } else {
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
    }
    if (!s->catalog_ok)
        warn(s, "catalog unreadable: %s", s->catalog_error);

    struct target_identity tid;
    if (target_identity_read(cfg->backup.target, &tid) == 0) {
        s->target_ok = true;
        snprintf(s->target_id, sizeof s->target_id, "%s", tid.id);
        if (s->catalog_target[0] && strcmp(s->catalog_target, tid.id) != 0)
            warn(s,
                 "the catalog belongs to target %.32s, not to the configured target %.32s: "
                 "dvault resync catalog",
                 s->catalog_target, tid.id);
    } else {
        snprintf(s->target_error, sizeof s->target_error, "%s", dv_err());
        warn(s, "backup target not usable (the target line says why; dvault target init "
                "creates one)");
    }

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

    struct statvfs vfs;
    if (statvfs(cfg->backup.target, &vfs) == 0) {
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
    return 0;
}

void status_done(struct dv_status *s)
{
    store_status_done(&s->daos);
    free(s->last_failed);
    s->last_failed = NULL;
    s->nlast_failed = 0;
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
    }
    for (size_t i = 0; i < s->nwarnings; i++)
        fprintf(f, "warning     %s\n", dv_esc(s->warnings[i]));
}

void status_print_json(FILE *f, const struct dv_status *s)
{
    fprintf(f,
            "{\"databases\": %llu, \"db_bytes\": %llu, \"daos\": {\"present\": %s, "
            "\"readable\": %s, \"state\": \"%s\", \"reason\": ",
            (unsigned long long)s->databases, (unsigned long long)s->db_bytes,
            s->no_daos ? "false" : "true", s->store_ok ? "true" : "false",
            s->no_daos             ? "NONE"
            : s->daos.needs_resync ? "NEEDS_RESYNC"
                                   : "SYNCHRONIZED");
    dv_json_str(f, s->store_ok ? s->daos.reason : s->store_error);
    fprintf(f,
            ", \"objects\": %llu, \"bytes\": %llu, \"references\": %llu, "
            "\"referenced_bytes\": %llu, \"zero_ref\": %llu}, ",
            (unsigned long long)s->daos.objects, (unsigned long long)s->daos.bytes,
            (unsigned long long)s->daos.references, (unsigned long long)s->daos.referenced_bytes,
            (unsigned long long)s->daos.zero_ref);
    fprintf(f, "\"last_backup\": ");
    if (s->has_last) {
        fprintf(f, "{\"id\": ");
        dv_json_str(f, s->last.id);
        fprintf(f, ", \"kind\": \"%s\", \"status\": \"%s\", \"started\": %lld, \"ended\": %lld",
                catalog_set_kind_name(s->last.kind), catalog_set_status_name(s->last.status),
                (long long)s->last.started, (long long)s->last.ended);
        fprintf(f, ", \"failed_databases\": [");
        for (size_t i = 0; i < s->nlast_failed; i++) {
            fprintf(f, "%s{\"db_path\": ", i ? ", " : "");
            dv_json_str(f, s->last_failed[i].db_path);
            fprintf(f, ", \"reason\": ");
            dv_json_str(f, s->last_failed[i].reason);
            fprintf(f, "}");
        }
        fprintf(f, "]}");
    } else {
        fprintf(f, "null");
    }
    fprintf(f, ", \"last_complete\": ");
    if (s->has_last_complete)
        dv_json_str(f, s->last_complete.id);
    else
        fprintf(f, "null");
    fprintf(f, ", \"target\": {\"ok\": %s, \"id\": ", s->target_ok ? "true" : "false");
    dv_json_str(f, s->target_id);
    fprintf(f, ", \"error\": ");
    dv_json_str(f, s->target_error);
    fprintf(f, ", \"catalog_bound_to\": ");
    dv_json_str(f, s->catalog_target);
    fprintf(f, "}");
    fprintf(f,
            ", \"sets\": %lld, \"complete_sets\": %lld, \"partial_sets\": %lld, "
            "\"pool_objects\": %lld, \"pool_bytes\": %lld, \"target_free\": %llu, \"warnings\": [",
            (long long)s->nsets, (long long)s->ncomplete, (long long)s->npartial,
            (long long)s->pool_objects, (long long)s->pool_bytes,
            (unsigned long long)s->target_free);
    for (size_t i = 0; i < s->nwarnings; i++) {
        fprintf(f, "%s", i ? ", " : "");
        dv_json_str(f, s->warnings[i]);
    }
    fprintf(f, "]}\n");
}

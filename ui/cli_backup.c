/* cli_backup.c - `dvault backup`, `dvault sets`, `dvault status`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "backup.h"
#include "catalog.h"
#include "cli.h"
#include "dbglob.h"
#include "dvjson.h"
#include "meter.h"
#include "status.h"
#include "util.h"

int cli_backup(int argc, char **argv, struct dv_config *cfg)
{
    struct backup_opts o = {0};
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--full") == 0)
            o.incremental = false;
        else if (strcmp(argv[i], "--incremental") == 0)
            o.incremental = true;
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            o.db_glob = argv[++i];
        else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else if (strcmp(argv[i], "--databases-only") == 0)
            o.skip_nlo = true; /* hidden: benchmarks and tests (the set lacks its NLOs) */
        else
            return cli_fail(DV_EXIT_USAGE,
                            "usage: dvault backup [--full|--incremental] [--db GLOB] [-q]");
    }
    struct dv_job job;
    job_init(&job, "backup");
    struct cli_meter m;
    meter_attach(&m, &job, stderr);
    m.quiet = quiet;
    meter_cancel_on_signal(&job);
    struct backup_result r;
    int rc = backup_run(cfg, &o, &job, &r);
    meter_clear(&m);
    char b[32], nb[32];
    dv_fmt_bytes(r.db_bytes, b, sizeof b);
    dv_fmt_bytes(r.nlo.bytes, nb, sizeof nb);
    if (r.set_id[0]) {
        printf("set %s %s in %.1fs\n", r.set_id,
               r.complete  ? "complete"
               : r.partial ? "PARTIAL (usable, but some databases are missing)"
                           : "FAILED",
               r.seconds);
        printf("  kind       %s, %llu of %llu pages stored%s%s\n",
               r.incremental ? "incremental" : "full", (unsigned long long)r.pages_stored,
               (unsigned long long)r.pages_total, r.message[0] && r.complete ? ": " : "",
               r.complete ? dv_esc(r.message) : "");
        printf("  databases  %llu copied (%s), %llu failed, %llu vanished, %llu locked copies%s\n",
               (unsigned long long)r.databases, b, (unsigned long long)r.db_failed,
               (unsigned long long)r.db_vanished, (unsigned long long)r.locked_copies, "");
        if (r.db_refused)
            printf("  warning    %llu database path(s) refused: symbolic links or special files "
                   "(see the warnings), not backed up\n",
                   (unsigned long long)r.db_refused);
        printf("  deltas     %llu applied, %llu kept (%llu pages)%s\n",
               (unsigned long long)r.deltas_applied, (unsigned long long)r.deltas_kept,
               (unsigned long long)r.delta_pages, r.deltas_moved ? ", moved by post command" : "");
        if (r.no_daos)
            printf("  NLOs       NLO pass skipped: %s\n", DV_NO_DAOS);
        else
            printf("  NLOs       %llu new (%s), %llu already held, %llu skipped busy, %llu "
                   "vanished, %llu unreadable, %llu refused\n",
                   (unsigned long long)r.nlo.copied, nb, (unsigned long long)r.nlo.held,
                   (unsigned long long)r.nlo.busy, (unsigned long long)r.nlo.vanished,
                   (unsigned long long)r.nlo.unreadable, (unsigned long long)r.nlo.refused);
        if (r.nlo.refused || r.nlo.subdirs_refused)
            printf("  warning    %llu NLO(s) and %llu DAOS subdirector%s refused: symbolic links "
                   "or special files (see the warnings), not backed up\n",
                   (unsigned long long)r.nlo.refused, (unsigned long long)r.nlo.subdirs_refused,
                   r.nlo.subdirs_refused == 1 ? "y" : "ies");
        if (r.nlo.repaired || r.nlo.lost || r.nlo.pool_bad)
            printf("  pool check %llu re-copied (recorded, missing from the pool), %llu lost "
                   "(missing from the pool and the server), %llu not regular files\n",
                   (unsigned long long)r.nlo.repaired, (unsigned long long)r.nlo.lost,
                   (unsigned long long)r.nlo.pool_bad);
        printf("  references %llu recorded\n", (unsigned long long)r.refs);
    }
    job_done(&job);
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    return 0;
}

static void set_json(FILE *f, const struct catalog_set *s, const struct catalog_set_failure *fl,
                     size_t nfl)
{
    json_t *o = dvjson_obj(), *fa = dvjson_arr();
    dvjson_set(o, "id", dvjson_text(s->id));
    dvjson_set(o, "seq", dvjson_int(s->seq));
    dvjson_set(o, "kind", dvjson_text(catalog_set_kind_name(s->kind)));
    dvjson_set(o, "status", dvjson_text(catalog_set_status_name(s->status)));
    dvjson_set(o, "started", dvjson_int(s->started));
    dvjson_set(o, "ended", dvjson_int(s->ended));
    dvjson_set(o, "databases", dvjson_int(s->databases));
    dvjson_set(o, "nlo_new", dvjson_int(s->nlo_new));
    dvjson_set(o, "nlo_held", dvjson_int(s->nlo_held));
    dvjson_set(o, "nlo_skipped", dvjson_int(s->nlo_skipped));
    dvjson_set(o, "deltas_applied", dvjson_int(s->deltas_applied));
    dvjson_set(o, "deltas_kept", dvjson_int(s->deltas_kept));
    dvjson_set(o, "bytes", dvjson_int(s->bytes));
    dvjson_set(o, "origin", dvjson_text(s->origin));
    dvjson_set(o, "checkpoint", dvjson_text(s->checkpoint));
    dvjson_set(o, "message", dvjson_text(s->message));
    for (size_t i = 0; i < nfl; i++) {
        json_t *d = dvjson_obj();
        dvjson_set(d, "db_path", dvjson_text(fl[i].db_path));
        dvjson_set(d, "reason", dvjson_text(fl[i].reason));
        dvjson_append(fa, d);
    }
    dvjson_set(o, "failed_databases", fa);
    dvjson_print(f, o, 0);
    json_decref(o);
}

int cli_sets(int argc, char **argv, struct dv_config *cfg)
{
    bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 2 || (argc == 2 && !json))
        return cli_fail(DV_EXIT_USAGE, "usage: dvault sets [--json]");
    bool none = false; /* no catalog yet: no sets (a reader never creates one) */
    struct catalog *cat = catalog_open_reader(cfg->catalog, &none);
    if (!cat && !none)
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    struct catalog_set page[256];
    size_t n = 0, total = 0;
    int64_t before = 0;
    if (json)
        printf("[");
    else
        printf("%-17s %-11s %-8s %-19s %8s %5s %7s %7s %5s %5s %10s\n", "SET", "KIND", "STATUS",
               "STARTED", "DURATION", "DBS", "NLO-NEW", "HELD", "SKIP", "DELTA", "BYTES");
    do {
        if (!cat)
            break;
        if (catalog_sets_list(cat, before, page, 256, &n) != 0) {
            catalog_close(cat);
            return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
        }
        for (size_t i = 0; i < n; i++) {
            const struct catalog_set *s = &page[i];
            struct catalog_set_failure *fl = NULL;
            size_t nfl = 0;
            if (s->status != CATALOG_SET_COMPLETE && catalog_set_failures(cat, s->id, &fl, &nfl)) {
                catalog_close(cat);
                return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
            }
            if (json) {
                printf("%s\n  ", total ? "," : "");
                set_json(stdout, s, fl, nfl);
            } else {
                char started[32], dur[32], bytes[32];
                dv_fmt_time(s->started, started, sizeof started);
                if (s->ended > 0) {
                    long d = (long)(s->ended - s->started);
                    snprintf(dur, sizeof dur, "%ld:%02ld", d / 60, d % 60);
                } else {
                    snprintf(dur, sizeof dur, "-");
                }
                dv_fmt_bytes((uint64_t)s->bytes, bytes, sizeof bytes);
                printf("%-17s %-11s %-8s %-19s %8s %5lld %7lld %7lld %5lld %2lld/%-2lld %10s\n",
                       dv_esc(s->id), catalog_set_kind_name(s->kind),
                       catalog_set_status_name(s->status), started, dur, (long long)s->databases,
                       (long long)s->nlo_new, (long long)s->nlo_held, (long long)s->nlo_skipped,
                       (long long)s->deltas_applied, (long long)s->deltas_kept, bytes);
                if (s->message[0] && s->status != CATALOG_SET_COMPLETE)
                    printf("    %s\n", dv_esc(s->message));
                for (size_t k = 0; k < nfl; k++)
                    printf("    failed: %s: %s\n", dv_esc(fl[k].db_path), dv_esc(fl[k].reason));
            }
            free(fl);
            total++;
        }
        if (n)
            before = page[n - 1].seq;
    } while (n == 256);
    if (json)
        printf("%s]\n", total ? "\n" : "");
    else if (total == 0)
        printf("(no backup sets yet: dvault backup)\n");
    catalog_close(cat);
    return 0;
}

int cli_status(int argc, char **argv, struct dv_config *cfg)
{
    bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 2 || (argc == 2 && !json))
        return cli_fail(DV_EXIT_USAGE, "usage: dvault status [--json]");
    struct dv_status s;
    if (status_collect(cfg, &s) != 0)
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    if (json)
        status_print_json(stdout, &s);
    else
        status_print(stdout, &s);
    status_done(&s);
    /* a configuration that cannot work here: one line each on stderr, exit 1 */
    char probs[4][DV_ERR_MAX];
    size_t np = status_problems(cfg, probs, 4);
    fflush(stdout);
    for (size_t i = 0; i < np; i++)
        fprintf(stderr, "dvault: %s\n", dv_esc(probs[i]));
    return np ? DV_EXIT_FAIL : 0;
}

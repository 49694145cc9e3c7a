/* cli_prune.c - `dvault prune [--dry-run]`, `dvault verify [--set ID] [--sample PCT]`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dvjson.h"
#include "meter.h"
#include "prune.h"
#include "restored.h"
#include "util.h"
#include "verify.h"

/* An epoch time as the UTC text the rest of the output uses ("" for 0). */
static void when_text(int64_t t, char *buf, size_t n)
{
    if (t > 0)
        dv_fmt_time(t, buf, n);
    else
        snprintf(buf, n, "%s", "");
}

/* `prune --json`: the decisions, with Object Lock's (which sets and pool objects it kept, and
 * until when), and the totals. */
static void prune_json(const struct prune_result *r, bool dry_run, int rc)
{
    json_t *o = dvjson_obj(), *sets = dvjson_arr();
    char w[64];
    dvjson_set(o, "dry_run", json_boolean(dry_run));
    dvjson_set(o, "ok", json_boolean(rc == 0));
    if (rc != 0)
        dvjson_set(o, "error", dvjson_text(dv_err()));
    for (size_t i = 0; i < r->nsets; i++) {
        const struct prune_set *ps = &r->sets[i];
        json_t *s = dvjson_obj();
        dvjson_set(s, "id", dvjson_text(ps->set.id));
        dvjson_set(s, "status", dvjson_str(catalog_set_status_name(ps->set.status)));
        dvjson_set(s, "action",
                   dvjson_str(!ps->d.prune ? "keep"
                              : dry_run    ? "prune"
                              : ps->done   ? "pruned"
                                           : "failed"));
        dvjson_set(s, "why", dvjson_str(prune_why_text(ps->d.why)));
        if (ps->d.why == PRUNE_KEEP_LOCKED) {
            when_text(ps->locked_until, w, sizeof w);
            dvjson_set(s, "locked_until", dvjson_str(w));
            dvjson_set(s, "locked_until_epoch", dvjson_int(ps->locked_until));
        }
        if (ps->d.prune) {
            dvjson_set(s, "copies", dvjson_int((int64_t)ps->files));
            dvjson_set(s, "deltas", dvjson_int((int64_t)ps->deltas));
            dvjson_set(s, "bytes", dvjson_int((int64_t)ps->bytes));
        }
        dvjson_append(sets, s);
    }
    dvjson_set(o, "sets", sets);
    dvjson_set(o, "sets_pruned", dvjson_int((int64_t)r->sets_pruned));
    dvjson_set(o, "failed_sets_pruned", dvjson_int((int64_t)r->failed_pruned));
    dvjson_set(o, "sets_locked", dvjson_int((int64_t)r->sets_locked));
    dvjson_set(o, "nlos", dvjson_int((int64_t)r->nlos));
    dvjson_set(o, "nlo_bytes", dvjson_int((int64_t)r->nlo_bytes));
    dvjson_set(o, "nlos_locked", dvjson_int((int64_t)r->nlos_locked));
    if (r->nlos_locked) {
        when_text(r->nlos_locked_until, w, sizeof w);
        dvjson_set(o, "nlos_locked_until", dvjson_str(w));
    }
    dvjson_set(o, "archive_segments", dvjson_int((int64_t)r->archive_segments));
    dvjson_set(o, "restored", dvjson_int((int64_t)r->nrestored));
    dvjson_print(stdout, o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    printf("\n");
    json_decref(o);
}

/* The text report's sets: each decision, then what Object Lock kept. */
static void prune_print_sets(const struct prune_result *r, bool dry_run, bool quiet)
{
    for (size_t i = 0; i < r->nsets; i++) {
        const struct prune_set *ps = &r->sets[i];
        if (!ps->d.prune && quiet)
            continue;
        char b[32];
        dv_fmt_bytes(ps->bytes, b, sizeof b);
        if (ps->d.prune)
            printf("  %-6s %-19s %-8s %s: %llu copies, %llu deltas (%llu outside the set), %s%s\n",
                   dry_run    ? "prune"
                   : ps->done ? "pruned"
                              : "FAILED",
                   dv_esc(ps->set.id), catalog_set_status_name(ps->set.status),
                   prune_why_text(ps->d.why), (unsigned long long)ps->files,
                   (unsigned long long)ps->deltas, (unsigned long long)ps->deltas_outside, b, "");
        else if (ps->d.why == PRUNE_KEEP_LOCKED) {
            char w[64];
            when_text(ps->locked_until, w, sizeof w);
            printf("  %-6s %-19s %-8s %s until %s\n", "keep", dv_esc(ps->set.id),
                   catalog_set_status_name(ps->set.status), prune_why_text(ps->d.why), w);
        } else
            printf("  %-6s %-19s %-8s %s\n", "keep", dv_esc(ps->set.id),
                   catalog_set_status_name(ps->set.status), prune_why_text(ps->d.why));
    }
    if (r->sets_locked || r->nlos_locked) {
        int64_t last = 0;
        for (size_t i = 0; i < r->nsets; i++)
            if (r->sets[i].d.why == PRUNE_KEEP_LOCKED && r->sets[i].locked_until > last)
                last = r->sets[i].locked_until;
        char ws[64], wn[64], a[96] = "", b[96] = "";
        when_text(last, ws, sizeof ws);
        when_text(r->nlos_locked_until, wn, sizeof wn);
        if (r->sets_locked)
            snprintf(a, sizeof a, " (the last until %s)", ws);
        if (r->nlos_locked)
            snprintf(b, sizeof b, " (the last until %s)", wn);
        printf("object lock: kept %llu set(s) and %llu pool object(s) still locked%s%s%s\n",
               (unsigned long long)r->sets_locked, (unsigned long long)r->nlos_locked, a,
               r->sets_locked && r->nlos_locked ? "," : "", b);
    }
}

/* The text report's archive segments and restored copies. */
static void prune_print_rest(const struct prune_result *r, const struct dv_config *cfg,
                             bool dry_run, bool quiet)
{
    if (r->narchive)
        printf("archive: kept for %s%s\n",
               r->archive_set[0] ? "a restore --at from the oldest retained set, " : "no set: ",
               r->archive_set[0] ? dv_esc(r->archive_set) : "only what a set taken now needs");
    for (size_t i = 0; i < r->narchive; i++) {
        const struct prune_archive *pa = &r->archive[i];
        if (pa->locked_until && !quiet) { /* S3: Object Lock stopped the removal there */
            char when[32];
            dv_fmt_time(pa->locked_until, when, sizeof when);
            printf("  keep   %s: segment %llu and later: still under Object Lock until %s\n",
                   dv_esc(pa->db), (unsigned long long)pa->first_kept, when);
        }
        if (!pa->failed && (quiet || !pa->segments))
            continue;
        char b[32];
        dv_fmt_bytes(pa->bytes, b, sizeof b);
        printf("  %-6s %s: %llu segment(s), %s; %llu kept from segment %llu\n",
               pa->failed ? "FAILED"
               : dry_run  ? "prune"
                          : "pruned",
               dv_esc(pa->db), (unsigned long long)pa->segments, b, (unsigned long long)pa->kept,
               (unsigned long long)pa->first_kept);
    }
    if (r->nrestored || r->restored_skipped || !quiet)
        printf("restore folder: retention_days %ld%s\n", cfg->restore.retention_days,
               cfg->restore.retention_days ? "" : " (0: restored copies are kept until deleted)");
    for (size_t i = 0; i < r->nrestored; i++) {
        char age[32];
        restored_fmt_age(r->restored[i].age, age, sizeof age);
        printf("  %-6s %s: restored %s ago, a copy of %s\n", dry_run ? "prune" : "pruned",
               dv_esc(r->restored[i].path), age,
               r->restored[i].origin[0] ? dv_esc(r->restored[i].origin) : "?");
    }
}

int cli_prune(int argc, char **argv, struct dv_config *cfg)
{
    struct prune_opts o = {0};
    bool quiet = false, json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0 || strcmp(argv[i], "-n") == 0)
            o.dry_run = true;
        else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0)
            quiet = true;
        else if (strcmp(argv[i], "--json") == 0)
            json = true;
        else
            return cli_fail(DV_EXIT_USAGE, "usage: dvault prune [--dry-run] [-q] [--json]");
    }
    struct dv_job job;
    job_init(&job, "prune");
    struct cli_meter m;
    meter_attach(&m, &job, stderr);
    m.quiet = true; /* the per-set lines below say it all */
    meter_cancel_on_signal(&job);
    struct prune_result r;
    int rc = prune_run(cfg, &o, &job, &r);
    meter_clear(&m);
    job_done(&job);
    /* nothing decided (target busy, missing, not bound; catalog unreadable): only the error,
       never a report of "0 removed" for a prune that did not run */
    if (rc != 0 && r.nsets == 0) {
        prune_result_done(&r);
        return cli_fail(DV_EXIT_FAIL, "prune: %s", dv_err());
    }
    if (r.no_catalog) {
        printf("prune: no catalog yet (%s): no backup has run, nothing to prune\n", cfg->catalog);
        prune_result_done(&r);
        return 0;
    }
    if (r.unrecorded) { /* refused before deciding anything: nothing to list */
        prune_result_done(&r);
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    }
    if (json) {
        char err[DV_ERR_MAX];
        snprintf(err, sizeof err, "%s", dv_err());
        prune_json(&r, o.dry_run, rc);
        prune_result_done(&r);
        if (rc != 0)
            return cli_fail(DV_EXIT_FAIL, "prune: %s", err);
        return 0;
    }
    const char *verb = o.dry_run ? "would remove" : "removed";
    printf("retention: keep_sets %ld, keep_days %ld%s\n", cfg->backup.keep_sets,
           cfg->backup.keep_days, o.dry_run ? " (dry run: nothing changed)" : "");
    prune_print_sets(&r, o.dry_run, quiet);
    prune_print_rest(&r, cfg, o.dry_run, quiet);
    char sb[32], nb[32], ab[32];
    dv_fmt_bytes(r.set_bytes, sb, sizeof sb);
    dv_fmt_bytes(r.nlo_bytes, nb, sizeof nb);
    dv_fmt_bytes(r.archive_bytes, ab, sizeof ab);
    printf("prune %s%s %llu set(s) and %llu failed set(s): %llu copies, %llu deltas "
           "(%llu moved outside the target's sets), %s; %llu NLO(s) from the pool, %s; "
           "%llu archive segment(s), %s, and %llu archive run record(s); %zu restored cop%s%s\n",
           rc != 0 ? "stopped: it " : "", verb, (unsigned long long)r.sets_pruned,
           (unsigned long long)r.failed_pruned, (unsigned long long)r.files,
           (unsigned long long)r.deltas, (unsigned long long)r.deltas_outside, sb,
           (unsigned long long)r.nlos, nb, (unsigned long long)r.archive_segments, ab,
           (unsigned long long)r.archive_runs, r.nrestored, r.nrestored == 1 ? "y" : "ies",
           r.restored_skipped ? " (some in use were left: see dvault jobs)" : "");
    prune_result_done(&r);
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "prune: %s", dv_err());
    return 0;
}

static void print_problem(void *ud, const char *file, const char *msg)
{
    struct cli_meter *m = ud;
    meter_clear(m);
    printf("MISMATCH %s: %s\n", dv_esc(file), dv_esc(msg));
    fflush(stdout);
}

int cli_verify(int argc, char **argv, struct dv_config *cfg)
{
    struct verify_opts o = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            o.set_id = argv[++i];
        } else if (strcmp(argv[i], "--sample") == 0 && i + 1 < argc) {
            char *end = NULL;
            const char *v = argv[++i];
            o.sample_pct = strtod(v, &end);
            if (!end || end == v || (*end && strcmp(end, "%") != 0) || !(o.sample_pct > 0) ||
                o.sample_pct > 100)
                return cli_fail(DV_EXIT_USAGE,
                                "--sample: '%s' is not a percentage (0 < PCT <= 100)", v);
        } else {
            return cli_fail(DV_EXIT_USAGE, "usage: dvault verify [--set ID] [--sample PCT]");
        }
    }
    struct dv_job job;
    job_init(&job, "verify");
    struct cli_meter m;
    meter_attach(&m, &job, stderr);
    m.quiet = true;
    meter_cancel_on_signal(&job);
    struct verify_result r;
    double t0 = dv_mono();
    int rc = verify_run(cfg, &o, &job, print_problem, &m, &r);
    meter_clear(&m);
    job_done(&job);
    if (rc < 0)
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    char b[32], held[64] = "";
    dv_fmt_bytes(r.bytes, b, sizeof b);
    if (o.set_id) /* the set holds what it stored and what earlier sets stored for it */
        snprintf(held, sizeof held, ", %llu from earlier sets", (unsigned long long)r.nlos_held);
    printf("verify: %llu set(s), %llu copies, %llu deltas, %llu test restores, %llu NLO(s) "
           "checked%s of %llu (%llu new%s), %s read in %.1fs: %llu problem(s)\n",
           (unsigned long long)r.sets, (unsigned long long)r.copies, (unsigned long long)r.deltas,
           (unsigned long long)r.restores, (unsigned long long)r.nlos_checked,
           o.sample_pct > 0 && o.sample_pct < 100 ? " (sample)" : "",
           (unsigned long long)(r.nlos_listed + r.nlos_held), (unsigned long long)r.nlos_listed,
           held, b, dv_mono() - t0, (unsigned long long)r.problems);
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "verify found %llu problem(s)",
                        (unsigned long long)r.problems);
    return 0;
}

/* cli_restore.c - `dvault restore`, `recover`, `doc list|copy`, `whereis` (backend/recover.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "meter.h"
#include "pitr.h"
#include "recover.h"
#include "util.h"

/* Leftovers of killed restores that the command removed first (restore.h), on stdout. */
static void print_sweep(const struct restore_sweep *s)
{
    if (s->removed)
        printf("removed %zu leftover file(s) of an interrupted restore (%s%s)\n", s->removed,
               dv_esc(s->first), s->removed > 1 ? ", ..." : "");
}

static const char RESTORE_USAGE[] =
    "usage: dvault restore --set ID --db PATH [--into NEWPATH] [--force] [--replace-live]"
    " [--at TIME|--to-latest]";

int cli_restore(int argc, char **argv, struct dv_config *cfg)
{
    struct restore_opts o = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc)
            o.set_id = argv[++i];
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            o.db_path = argv[++i];
        else if (strcmp(argv[i], "--into") == 0 && i + 1 < argc)
            o.into = argv[++i];
        else if (strcmp(argv[i], "--force") == 0)
            o.force = true;
        else if (strcmp(argv[i], "--replace-live") == 0)
            o.replace_live = true;
        else if (strcmp(argv[i], "--at") == 0 && i + 1 < argc) {
            o.pitr = true;
            if ((o.at_us = pitr_parse_time(argv[++i])) < 0)
                return cli_fail(DV_EXIT_USAGE,
                                "restore --at '%s': not a time (YYYY-MM-DD"
                                " HH:MM[:SS[.ffffff]], @EPOCH[.ffffff])",
                                argv[i]);
        } else if (strcmp(argv[i], "--to-latest") == 0)
            o.pitr = o.to_latest = true;
        else
            return cli_fail(DV_EXIT_USAGE, "%s", RESTORE_USAGE);
    }
    if (!o.set_id || !o.db_path || (!o.into && (o.force || o.replace_live)))
        return cli_fail(DV_EXIT_USAGE, "%s", RESTORE_USAGE); /* no --into: the restore folder */
    struct dv_job job;
    struct cli_meter m;
    job_init(&job, "restore");
    meter_attach_tty(&m, &job, stderr); /* plain phase lines would clutter a one-line error */
    meter_cancel_on_signal(&job);
    struct restore_result r;
    int rc = recover_restore(cfg, &o, &job, &r);
    meter_clear(&m);
    job_done(&job);
    print_sweep(&r.sweep);
    fflush(stdout);
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "restore: %s", dv_err());
    char sz[32], when[32];
    dv_fmt_bytes(r.size, sz, sizeof sz);
    dv_fmt_time(r.info.set_started, when, sizeof when);
    printf("restored %s from set %s (%s) into %s%s\n", dv_esc(r.db_rel), dv_esc(r.info.set_id),
           when, dv_esc(r.into),
           r.live       ? " (the live database, replaced)"
           : r.replaced ? " (replaced)"
                        : "");
    printf("  size       %s (%llu bytes)%s\n", sz, (unsigned long long)r.size,
           r.info.delta_kept ? ", kept delta applied" : "");
    if (o.pitr) {
        char lt[32] = "-";
        if (r.pitr_last_us)
            dv_fmt_time(r.pitr_last_us / 1000000, lt, sizeof lt);
        printf("  archive    %llu transaction(s) replayed, the last observed %s.%06lld\n",
               (unsigned long long)r.pitr_transactions, lt, (long long)(r.pitr_last_us % 1000000));
        if (!o.to_latest && r.pitr_err_us >= 0)
            printf("  precision  holds every commit made before the time minus %.1f ms (the "
                   "archive's observation error there), none made after it\n",
                   (double)r.pitr_err_us / 1000);
        else if (!o.to_latest)
            printf("  precision  not recorded (archive written by an older dvault)\n");
    }
    printf("  documents  %llu\n", (unsigned long long)r.docs);
    if (r.no_daos)
        printf("  NLOs       none: %s\n", DV_NO_DAOS);
    else
        printf("  NLOs       %llu referenced, %llu missing from the repository\n",
               (unsigned long long)r.nlo_refs, (unsigned long long)r.nlo_missing);
    if (r.replica_id[0])
        printf("  replica_id %s%s\n  dbiid      %s\n", r.replica_id,
               r.live ? " (kept: it is the live database)" : " (new)", r.dbiid);
    if (r.old_set)
        printf("warning: set %s (%s) is older than deferred_deletion_days (%ld): NLOs it"
               " references may have been pruned; see dvault listnlo missing %s\n",
               dv_esc(r.info.set_id), when, cfg->server.deferred_deletion_days, dv_esc(r.into));
    if (r.nlo_missing)
        printf("recover them with: dvault listnlo missing %s -o missing.txt; dvault recover --list"
               " missing.txt\n",
               dv_esc(r.into));
    if (r.counted)
        printf("DAOS index is now NEEDS_RESYNC (%s): run dvault resync daos when convenient\n",
               dv_esc(r.resync_reason));
    return 0;
}

static const char *status_word(enum recover_status s)
{
    return s == RECOVER_RECOVERED       ? "recovered"
           : s == RECOVER_REPAIRED      ? "repaired"
           : s == RECOVER_PRESENT       ? "already present"
           : s == RECOVER_UNRECOVERABLE ? "unrecoverable"
                                        : "not recovered";
}

static void print_recover(const struct recover_result *r)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct recover_item *it = &r->items[i];
        printf("%-15s %s", status_word(it->status), dv_esc(it->name));
        if (it->status != RECOVER_UNRECOVERABLE) {
            if (it->subdir)
                printf(" daos/%04d", it->subdir);
            if (it->status == RECOVER_REPAIRED)
                printf(": damaged bytes replaced from %s%s (%s)",
                       it->set_id[0] ? "set " : "the pool", dv_esc(it->set_id), dv_esc(it->damage));
            else if (it->set_id[0])
                printf(" (set %s)", dv_esc(it->set_id));
        } else {
            printf(": %s", dv_esc(it->reason));
        }
        printf("\n");
        for (size_t k = 0; k < it->ndocs; k++)
            printf("    referenced by document %s \"%s\"\n", dv_esc(it->docs[k].unid),
                   dv_esc(it->docs[k].subject));
    }
    char b[32];
    dv_fmt_bytes(r->bytes, b, sizeof b);
    printf("recover: %zu NLOs: %llu recovered, %llu repaired (%s), %llu already present, %llu "
           "unrecoverable\n",
           r->n, (unsigned long long)r->recovered, (unsigned long long)r->repaired, b,
           (unsigned long long)r->present, (unsigned long long)r->unrecoverable);
}

static const char RECOVER_USAGE[] =
    "usage: dvault recover [--set ID] (--list FILE | --db PATH [--doc UNID])";

int cli_recover(int argc, char **argv, struct dv_config *cfg)
{
    struct recover_opts o = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0 && i + 1 < argc)
            o.set_id = argv[++i];
        else if (strcmp(argv[i], "--list") == 0 && i + 1 < argc)
            o.list_file = argv[++i];
        else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc)
            o.db_path = argv[++i];
        else if (strcmp(argv[i], "--doc") == 0 && i + 1 < argc)
            o.unid = argv[++i];
        else
            return cli_fail(DV_EXIT_USAGE, "%s", RECOVER_USAGE);
    }
    if (!o.list_file == !o.db_path || (o.unid && !o.db_path))
        return cli_fail(DV_EXIT_USAGE, "%s", RECOVER_USAGE);
    struct dv_job job;
    struct cli_meter m;
    job_init(&job, "recover");
    meter_attach_tty(&m, &job, stderr); /* plain phase lines would clutter a one-line error */
    meter_cancel_on_signal(&job);
    struct recover_result r;
    int rc = recover_nlos(cfg, &o, &job, &r);
    meter_clear(&m);
    job_done(&job);
    char err[DV_ERR_MAX];
    snprintf(err, sizeof err, "%s", dv_err());
    print_sweep(&r.sweep);
    if (r.n || rc == 0)
        print_recover(&r);
    if (r.recovered)
        printf("the DAOS index records them; dvault resync daos if it says NEEDS_RESYNC\n");
    recover_result_done(&r);
    fflush(stdout);
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "recover: %s", err);
    return 0;
}

static int print_doc(void *ud, const struct store_doc_info *d, enum recover_live_state live)
{
    (void)ud;
    char when[32];
    dv_fmt_time(d->created, when, sizeof when);
    const char *mark = live == RECOVER_LIVE_GONE      ? "gone"
                       : live == RECOVER_LIVE_DELETED ? "deleted"
                                                      : "";
    /* a restored database is data from the past: its text may hold anything */
    printf("%-32s %-19s %-7s %-24.24s %3d  %s%s\n", dv_esc(d->unid), when, mark, dv_esc(d->sender),
           d->natt, dv_esc(d->subject), d->deleted ? " [deleted in this copy]" : "");
    return 0;
}

static int doc_list(int argc, char **argv, struct dv_config *cfg)
{
    const char *path = NULL, *live = NULL, *search = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--deleted-in") == 0 && i + 1 < argc)
            live = argv[++i];
        else if (strcmp(argv[i], "--search") == 0 && i + 1 < argc)
            search = argv[++i];
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            path = NULL, i = argc;
    }
    if (!path)
        return cli_fail(DV_EXIT_USAGE,
                        "usage: dvault doc list PATH [--deleted-in LIVEPATH] [--search TEXT]");
    printf("%-32s %-19s %-7s %-24s %3s  %s\n", "UNID", "CREATED", "LIVE", "SENDER", "ATT",
           "SUBJECT");
    uint64_t n = 0;
    if (recover_doc_list(cfg, path, live, search, print_doc, NULL, &n) != 0)
        return cli_fail(DV_EXIT_FAIL, "doc list: %s", dv_err());
    printf("%llu documents\n", (unsigned long long)n);
    return 0;
}

static int doc_copy(int argc, char **argv, struct dv_config *cfg)
{
    const char *from = NULL, *unid = NULL, *to = NULL;
    bool force = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = argv[++i];
        else if (strcmp(argv[i], "--unid") == 0 && i + 1 < argc)
            unid = argv[++i];
        else if (strcmp(argv[i], "--to") == 0 && i + 1 < argc)
            to = argv[++i];
        else if (strcmp(argv[i], "--force") == 0)
            force = true;
        else
            from = NULL, i = argc;
    }
    if (!from || !unid || !to)
        return cli_fail(DV_EXIT_USAGE, "usage: dvault doc copy --from RESTORED --unid UNID --to "
                                       "LIVEPATH [--force]");
    struct dv_job job;
    struct cli_meter m;
    job_init(&job, "doc-copy");
    meter_attach_tty(&m, &job, stderr); /* plain phase lines would clutter a one-line error */
    struct doccopy_result r;
    int rc = recover_doc_copy_ex(cfg, from, unid, to, force, &job, &r);
    meter_clear(&m);
    job_done(&job);
    char err[DV_ERR_MAX];
    snprintf(err, sizeof err, "%s", dv_err());
    print_sweep(&r.sweep);
    if (r.other_db)
        printf("warning: %s is not the database %s was restored from (--force)\n", dv_esc(to),
               dv_esc(from));
    if (r.nlo.n)
        print_recover(&r.nlo);
    recover_result_done(&r.nlo);
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "doc copy: %s", err);
    if (r.undeleted)
        printf("doc copy: %s was soft-deleted in %s: undeleted (%d attachments, %d NLOs)\n",
               dv_esc(unid), dv_esc(to), r.attachments, r.nlos);
    else
        printf("doc copy: %s copied from %s into %s (%d attachments, %d NLOs)\n", dv_esc(unid),
               dv_esc(from), dv_esc(to), r.attachments, r.nlos);
    return 0;
}

int cli_doc(int argc, char **argv, struct dv_config *cfg)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return doc_list(argc, argv, cfg);
    if (argc >= 2 && strcmp(argv[1], "copy") == 0)
        return doc_copy(argc, argv, cfg);
    if (argc >= 2 && strcmp(argv[1], "restore") == 0)
        return cli_doc_restore(argc, argv, cfg);
    return cli_fail(DV_EXIT_USAGE,
                    "usage: dvault doc {list PATH [--deleted-in LIVEPATH] [--search"
                    " TEXT] | copy --from RESTORED --unid UNID --to LIVEPATH [--force] | restore"
                    " ...}");
}

enum { WHEREIS_MAX_CANDIDATES = 20 };

int cli_whereis(int argc, char **argv, struct dv_config *cfg)
{
    if (argc != 2)
        return cli_fail(DV_EXIT_USAGE, "usage: dvault whereis NLO|PREFIX");
    const char *name = argv[1];
    char cand[WHEREIS_MAX_CANDIDATES][STORE_NLO_NAME_LEN + 1];
    size_t l = strlen(name), nc = 0;
    if (l > 0 && l < STORE_NLO_NAME_LEN - 4) { /* a prefix, as the console shows them */
        if (recover_whereis_prefix(cfg, name, cand, WHEREIS_MAX_CANDIDATES, &nc) != 0)
            return cli_fail(DV_EXIT_FAIL, "whereis: %s", dv_err());
        if (nc == 0)
            return cli_fail(DV_EXIT_FAIL,
                            "whereis: no NLO in the DAOS index or the pool starts with '%s' "
                            "(give the full name for one that is in neither)",
                            name);
        if (nc > 1) {
            fprintf(stderr, "dvault: whereis: '%s' is ambiguous: %s%zu NLOs start with it:\n",
                    dv_esc(name), nc > WHEREIS_MAX_CANDIDATES ? "more than " : "",
                    nc > WHEREIS_MAX_CANDIDATES ? (size_t)WHEREIS_MAX_CANDIDATES : nc);
            for (size_t i = 0; i < nc && i < WHEREIS_MAX_CANDIDATES; i++)
                fprintf(stderr, "  %s\n", dv_esc(cand[i]));
            return DV_EXIT_FAIL;
        }
        name = cand[0];
    }
    struct whereis_result r;
    if (recover_whereis(cfg, name, &r) != 0) {
        recover_whereis_done(&r);
        return cli_fail(DV_EXIT_FAIL, "whereis: %s", dv_err());
    }
    printf("NLO %s\n", dv_esc(r.name));
    if (r.live_path)
        printf("live         daos/%04d (%s)", r.live_subdir, dv_esc(r.live_path));
    else
        printf("live         not in the repository");
    if (r.indexed)
        printf(", DAOS index refcount %lld\n", (long long)r.refcount);
    else
        printf(", not in the DAOS index\n");
    printf("databases    %zu referencing it at their last backup\n", r.ndbs);
    for (size_t i = 0; i < r.ndbs; i++)
        if (r.dbs[i].since[0])
            printf("  %s (since set %s)\n", dv_esc(r.dbs[i].path), dv_esc(r.dbs[i].since));
        else
            printf("  %s (since set seq %lld, pruned)\n", dv_esc(r.dbs[i].path),
                   (long long)r.dbs[i].since_seq);
    if (r.in_pool)
        printf("pool         %s (sha256 %s, %lld bytes)%s\n", dv_esc(r.pool_path),
               dv_esc(r.pool.sha256), (long long)r.pool.size, r.pool_file ? "" : " - FILE MISSING");
    else
        printf("pool         not in the pool%s\n", r.pool_file ? " (but a file is there)" : "");
    printf("sets         %zu holding it\n", r.nsets);
    for (size_t i = 0; i < r.nsets; i++)
        printf("  %s %s\n", dv_esc(r.sets[i].id), catalog_set_status_name(r.sets[i].status));
    recover_whereis_done(&r);
    return 0;
}

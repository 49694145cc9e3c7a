/* cli_docrestore.c - `dvault doc restore`: deleted documents back into the live database
 * (backend/docrestore.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "docrestore.h"
#include "dvjson.h"
#include "meter.h"
#include "pitr.h"
#include "util.h"

const char DOC_RESTORE_USAGE[] =
    "usage: dvault doc restore (--set ID [--at TIME] | --from RESTORED) --db LIVEPATH"
    " [--deleted] [--modified] [--copies] [--since TIME] [--sender TEXT] [--subject TEXT]"
    " [--force] [--dry-run] [--json]";

static const char *word(const struct docrestore_doc *d, bool dry)
{
    if (!dry || d->status == DOCRESTORE_CONFLICT || d->status == DOCRESTORE_SKIPPED)
        return docrestore_status_name(d->status);
    return d->status == DOCRESTORE_UNDELETED   ? "would undelete"
           : d->status == DOCRESTORE_REWRITTEN ? "would rewrite"
                                               : "would copy";
}

static void print_text(const struct docrestore_opts *o, const struct docrestore_result *r)
{
    char when[32] = "?";
    if (r->set_started)
        dv_fmt_time(r->set_started, when, sizeof when);
    printf("doc restore: %s from %s%s (%s)%s\n", dv_esc(r->db_rel),
           r->set_id[0] ? "set " : "the restored copy ",
           dv_esc(r->set_id[0] ? r->set_id : r->source), when,
           r->dry_run ? ": dry run, nothing is changed" : "");
    for (size_t i = 0; i < r->n; i++) {
        const struct docrestore_doc *d = &r->docs[i];
        char c[32];
        dv_fmt_time(d->created, c, sizeof c);
        printf("%-15s %s %-12s %s %-20.20s %s", word(d, r->dry_run), dv_esc(d->unid),
               docrestore_kind_name(d->kind), c, dv_esc(d->sender), dv_esc(d->subject));
        if (d->copy_unid[0] && d->status == DOCRESTORE_COPIED)
            printf(" -> copy %s", dv_esc(d->copy_unid));
        if (d->reason)
            printf(": %s", dv_esc(d->reason));
        printf("\n");
    }
    if (o->pitr)
        printf("archive: %llu transaction(s) replayed onto the set's copy, up to the time asked"
               "\n",
               (unsigned long long)r->pitr_transactions);
    if (r->settled)
        printf("settled %llu record(s) of an interrupted doc restore: DAOS index refcounts exact"
               " again\n",
               (unsigned long long)r->settled);
    if (r->older)
        printf("%llu document(s) were already deleted when the set was taken: left as they are"
               "\n",
               (unsigned long long)r->older);
    if (r->purged_unbounded) {
        char b[32] = "", s[32];
        if (r->bound)
            dv_fmt_time(r->bound, b, sizeof b);
        dv_fmt_time(o->f.since, s, sizeof s);
        if (r->bound)
            printf("--since: %llu purged document(s) carry no deletion time; they were purged "
                   "after %s (the %s), which is before %s: they may have been deleted before "
                   "it, and are included\n",
                   (unsigned long long)r->purged_unbounded, b, o->pitr ? "--at time" : "set", s);
        else
            printf("--since: %llu purged document(s) carry no deletion time, and the copy's set "
                   "is unknown: they are included\n",
                   (unsigned long long)r->purged_unbounded);
    }
    printf("NLOs: %llu referenced, %llu %s from the pool, %llu unrecoverable\n",
           (unsigned long long)r->nlo_needed, (unsigned long long)r->nlo_recovered,
           r->dry_run ? "to recover" : "recovered", (unsigned long long)r->nlo_unrecoverable);
    printf("doc restore%s: %llu undeleted, %llu rewritten, %llu copied, %llu NLOs %s, %llu "
           "conflicts, %llu skipped\n",
           r->dry_run ? " (dry run)" : "", (unsigned long long)r->undeleted,
           (unsigned long long)r->rewritten, (unsigned long long)r->copied,
           (unsigned long long)r->nlo_recovered, r->dry_run ? "to recover" : "recovered",
           (unsigned long long)r->conflicts, (unsigned long long)r->skipped);
}

static void print_json(const struct docrestore_opts *o, const struct docrestore_result *r)
{
    json_t *j = dvjson_obj(), *c = dvjson_obj(), *docs = dvjson_arr();
    dvjson_set(j, "db", dvjson_text(r->db_rel));
    dvjson_set(j, "set", dvjson_text(r->set_id));
    dvjson_set(j, "set_started", dvjson_int(r->set_started));
    if (o->pitr) {
        dvjson_set(j, "at_us", dvjson_int(o->at_us));
        dvjson_set(j, "archive_transactions", dvjson_int((int64_t)r->pitr_transactions));
    }
    if (o->from_path)
        dvjson_set(j, "from", dvjson_text(r->source));
    dvjson_set(j, "dry_run", json_boolean(r->dry_run));
    dvjson_set(c, "undeleted", dvjson_int((int64_t)r->undeleted));
    dvjson_set(c, "rewritten", dvjson_int((int64_t)r->rewritten));
    dvjson_set(c, "copied", dvjson_int((int64_t)r->copied));
    dvjson_set(c, "conflicts", dvjson_int((int64_t)r->conflicts));
    dvjson_set(c, "skipped", dvjson_int((int64_t)r->skipped));
    dvjson_set(c, "nlos_referenced", dvjson_int((int64_t)r->nlo_needed));
    dvjson_set(c, "nlos_recovered", dvjson_int((int64_t)r->nlo_recovered));
    dvjson_set(c, "nlos_unrecoverable", dvjson_int((int64_t)r->nlo_unrecoverable));
    dvjson_set(c, "deleted_before_set", dvjson_int((int64_t)r->older));
    dvjson_set(c, "purged_unbounded", dvjson_int((int64_t)r->purged_unbounded));
    dvjson_set(c, "settled", dvjson_int((int64_t)r->settled));
    dvjson_set(j, "counts", c);
    for (size_t i = 0; i < r->n; i++) {
        const struct docrestore_doc *d = &r->docs[i];
        json_t *e = dvjson_obj();
        dvjson_set(e, "unid", dvjson_text(d->unid));
        dvjson_set(e, "kind", dvjson_text(docrestore_kind_name(d->kind)));
        dvjson_set(e, "status", dvjson_text(docrestore_status_name(d->status)));
        dvjson_set(e, "subject", dvjson_text(d->subject));
        dvjson_set(e, "sender", dvjson_text(d->sender));
        dvjson_set(e, "created", dvjson_int(d->created));
        dvjson_set(e, "deleted", dvjson_int(d->deleted));
        dvjson_set(e, "attachments", dvjson_int(d->natt));
        dvjson_set(e, "nlos", dvjson_int(d->nnlo));
        if (d->copy_unid[0])
            dvjson_set(e, "copy_unid", dvjson_text(d->copy_unid));
        if (d->reason)
            dvjson_set(e, "reason", dvjson_text(d->reason));
        dvjson_append(docs, e);
    }
    dvjson_set(j, "documents", docs);
    dvjson_print(stdout, j, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    printf("\n");
    json_decref(j);
}

static int parse_time_arg(const char *opt, const char *v, int64_t *us)
{
    if ((*us = pitr_parse_time(v)) < 0)
        return cli_fail(DV_EXIT_USAGE,
                        "doc restore %s '%s': not a time (YYYY-MM-DD HH:MM[:SS[.ffffff]],"
                        " @EPOCH[.ffffff])",
                        opt, v);
    return 0;
}

int cli_doc_restore(int argc, char **argv, struct dv_config *cfg)
{
    struct docrestore_opts o = {0};
    bool json = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t us;
        if (strcmp(a, "--set") == 0 && v)
            o.set_id = v, i++;
        else if (strcmp(a, "--from") == 0 && v)
            o.from_path = v, i++;
        else if (strcmp(a, "--db") == 0 && v)
            o.db_path = v, i++;
        else if (strcmp(a, "--sender") == 0 && v)
            o.f.sender = v, i++;
        else if (strcmp(a, "--subject") == 0 && v)
            o.f.subject = v, i++;
        else if (strcmp(a, "--at") == 0 && v) {
            if (parse_time_arg(a, v, &o.at_us) != 0)
                return DV_EXIT_USAGE;
            o.pitr = true, i++;
        } else if (strcmp(a, "--since") == 0 && v) {
            if (parse_time_arg(a, v, &us) != 0)
                return DV_EXIT_USAGE;
            o.f.since = us / 1000000 ? us / 1000000 : 1, i++;
        } else if (strcmp(a, "--deleted") == 0)
            o.deleted = true;
        else if (strcmp(a, "--modified") == 0)
            o.modified = true;
        else if (strcmp(a, "--copies") == 0)
            o.copies = true;
        else if (strcmp(a, "--dry-run") == 0)
            o.dry_run = true;
        else if (strcmp(a, "--force") == 0)
            o.force = true;
        else if (strcmp(a, "--json") == 0)
            json = true;
        else
            return cli_fail(DV_EXIT_USAGE, "%s", DOC_RESTORE_USAGE);
    }
    if (!o.set_id == !o.from_path || !o.db_path || (!o.deleted && !o.modified) ||
        (o.pitr && !o.set_id))
        return cli_fail(DV_EXIT_USAGE, "%s", DOC_RESTORE_USAGE);
    struct dv_job job;
    struct cli_meter m;
    job_init(&job, "doc-restore");
    meter_attach_tty(&m, &job, stderr); /* plain phase lines would clutter a one-line error */
    meter_cancel_on_signal(&job);
    struct docrestore_result r;
    int rc = docrestore_run(cfg, &o, &job, &r);
    meter_clear(&m);
    job_done(&job);
    char err[DV_ERR_MAX];
    snprintf(err, sizeof err, "%s", dv_err());
    if (rc == 0) {
        if (r.sweep.removed)
            fprintf(json ? stderr : stdout,
                    "removed %zu leftover file(s) of an interrupted restore (%s%s)\n",
                    r.sweep.removed, dv_esc(r.sweep.first), r.sweep.removed > 1 ? ", ..." : "");
        if (json)
            print_json(&o, &r);
        else
            print_text(&o, &r);
    }
    docrestore_result_done(&r);
    fflush(stdout);
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "doc restore: %s", err);
    return 0;
}

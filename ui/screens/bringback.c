/*
 * bringback.c - Recovery's "bring back deleted documents" (issue 18, console part): every
 * document of a restored copy that the live database has since soft-deleted or purged (the
 * list's "deleted" and "gone" marks) back into the live database in one step, with
 * docrestore_run (backend/docrestore.h; the CLI's `dvault doc restore --from COPY --deleted`).
 *
 * The steps: the origin check (a copy of another database asks first, then force); a filter
 * dialog (deleted since, created from / to, sender, subject; --modified and --copies as
 * check boxes; all empty: every marked document); the preview, a dry run as a job; when it has
 * been collected (console.c's post_fn, so that the question may start the next job) the
 * counts and a question that names the live database, No by default; the restore as a job
 * (phases source, compare, the NLO recovery's, write; F9 cancels before the write); its end
 * lists the documents again (the marks, the header's counts) and shows what came back and
 * what was skipped and why in a view. The backend records both runs in the job history.
 */
#include "screens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conjob.h"
#include "docrestore.h"
#include "recover.h"
#include "util.h"

static const char BB_TITLE[] = "Bring back deleted documents";

struct bb_arg {
    const struct dv_config *cfg;
    struct console *c;
    char *from, *db; /* the restored copy, the live database */
    char since_s[64], from_s[64], to_s[64], sender[256], subject[256];
    int64_t since, cfrom, cto;
    bool modified, copies, force;
    bool dry_run;
    bool taken; /* the preview's arg went on to the question: not freed at collect */
    struct docrestore_result r;
    bool have_r;
};

/* The last filter chosen (the console thread's only): offered again for the same copy and
 * database (e.g. after No to the question). */
struct bb_filter_mem {
    char from[1024], db[1024];
    char since_s[64], from_s[64], to_s[64], sender[256], subject[256];
    int64_t since, cfrom, cto;
    bool modified, copies;
};
static struct bb_filter_mem bb_last;

static void bb_remember(const struct bb_arg *a)
{
    struct bb_filter_mem *m = &bb_last;
    snprintf(m->from, sizeof m->from, "%s", a->from);
    snprintf(m->db, sizeof m->db, "%s", a->db);
    memcpy(m->since_s, a->since_s, sizeof m->since_s);
    memcpy(m->from_s, a->from_s, sizeof m->from_s);
    memcpy(m->to_s, a->to_s, sizeof m->to_s);
    memcpy(m->sender, a->sender, sizeof m->sender);
    memcpy(m->subject, a->subject, sizeof m->subject);
    m->since = a->since, m->cfrom = a->cfrom, m->cto = a->cto;
    m->modified = a->modified, m->copies = a->copies;
}

static void bb_recall(struct bb_arg *a)
{
    const struct bb_filter_mem *m = &bb_last;
    if (strcmp(m->from, a->from) != 0 || strcmp(m->db, a->db) != 0)
        return;
    memcpy(a->since_s, m->since_s, sizeof a->since_s);
    memcpy(a->from_s, m->from_s, sizeof a->from_s);
    memcpy(a->to_s, m->to_s, sizeof a->to_s);
    memcpy(a->sender, m->sender, sizeof a->sender);
    memcpy(a->subject, m->subject, sizeof a->subject);
    a->since = m->since, a->cfrom = m->cfrom, a->cto = m->cto;
    a->modified = m->modified, a->copies = m->copies;
}

static void bb_arg_free(void *p)
{
    struct bb_arg *a = p;
    if (!a || a->taken)
        return;
    if (a->have_r)
        docrestore_result_done(&a->r);
    free(a->from);
    free(a->db);
    free(a);
}

/* "sender contains "x", deleted since ..." ("" when no filter) */
static void bb_filter_text(const struct bb_arg *a, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
#define ADD(cond, ...)                                                                             \
    if ((cond) && len < n)                                                                         \
        len += (size_t)snprintf(buf + len, n - len, __VA_ARGS__);
    ADD(a->since_s[0], "%sdeleted since %s", len ? ", " : "", a->since_s)
    ADD(a->from_s[0], "%screated from %s", len ? ", " : "", a->from_s)
    ADD(a->to_s[0], "%screated to %s", len ? ", " : "", a->to_s)
    ADD(a->sender[0], "%ssender contains \"%s\"", len ? ", " : "", a->sender)
    ADD(a->subject[0], "%ssubject contains \"%s\"", len ? ", " : "", a->subject)
#undef ADD
}

/* "N documents would come back: X undeleted, Y rewritten, Z NLOs recovered; C conflicts
 * skipped" (the dry run's words, or the run's) */
static void bb_counts(const struct docrestore_result *r, char *buf, size_t n)
{
    unsigned long long back = r->undeleted + r->rewritten + r->copied;
    char copied[64] = "", skipped[64] = "";
    if (r->copied)
        snprintf(copied, sizeof copied, ", %llu as copies", (unsigned long long)r->copied);
    if (r->skipped)
        snprintf(skipped, sizeof skipped, ", %llu skipped", (unsigned long long)r->skipped);
    snprintf(buf, n,
             "%llu document%s %s: %llu undeleted, %llu rewritten%s, %llu NLOs recovered; "
             "%llu conflicts skipped%s",
             back, back == 1 ? "" : "s", r->dry_run ? "would come back" : "came back",
             (unsigned long long)r->undeleted, (unsigned long long)r->rewritten, copied,
             (unsigned long long)r->nlo_recovered, (unsigned long long)r->conflicts, skipped);
}

static int bb_job(void *p, struct dv_job *job, char *sum, size_t n)
{
    struct bb_arg *a = p;
    struct docrestore_opts o = {.from_path = a->from,
                                .db_path = a->db,
                                .deleted = true,
                                .modified = a->modified,
                                .copies = a->copies,
                                .dry_run = a->dry_run,
                                .force = a->force};
    o.f.since = a->since;
    o.f.from = a->cfrom;
    o.f.to = a->cto;
    o.f.sender = a->sender[0] ? a->sender : NULL;
    o.f.subject = a->subject[0] ? a->subject : NULL;
    int rc = docrestore_run(a->cfg, &o, job, &a->r);
    a->have_r = true;
    if (rc == 0)
        bb_counts(&a->r, sum, n);
    return rc;
}

/* ---- the result view ---- */

static char *bb_doc_line(const struct docrestore_doc *d, bool dry)
{
    char created[32];
    dv_fmt_time(d->created, created, sizeof created);
    created[16] = 0;
    const char *what = docrestore_status_name(d->status);
    if (dry && d->status <= DOCRESTORE_COPIED)
        what = d->status == DOCRESTORE_UNDELETED   ? "would undelete"
               : d->status == DOCRESTORE_REWRITTEN ? "would rewrite"
                                                   : "would copy";
    char copy[64] = "";
    if (d->copy_unid[0] && d->status == DOCRESTORE_COPIED)
        snprintf(copy, sizeof copy, " -> copy %s", d->copy_unid);
    return dv_asprintf(" %-10s %s  %s  %s  %s  %s%s%s%s", what, d->unid,
                       docrestore_kind_name(d->kind), created, d->sender ? d->sender : "",
                       d->subject ? d->subject : "", copy, d->reason ? ": " : "",
                       d->reason ? d->reason : "");
}

static struct strv *bb_lines(const struct bb_arg *a)
{
    const struct docrestore_result *r = &a->r;
    struct strv *l = dv_calloc(1, sizeof *l);
    char line[600], filt[1200];
    bb_counts(r, line, sizeof line);
    strv_add(l, dv_asprintf(" %s", line));
    char set[64] = "";
    if (r->set_id[0])
        snprintf(set, sizeof set, " (set %s)", r->set_id);
    const char *from = a->from, *dd = a->cfg->server.data_dir; /* as the server names it */
    size_t dl = strlen(dd);
    if (dl && strncmp(from, dd, dl) == 0 && from[dl] == '/')
        from += dl + 1;
    strv_add(l, dv_asprintf(" into the LIVE database %s, from the restored copy %s%s", r->db_rel,
                            from, set));
    bb_filter_text(a, filt, sizeof filt);
    strv_add(l, dv_asprintf(" chosen: %s%s%s%s",
                            filt[0] ? filt : "every document marked gone or deleted",
                            a->modified || a->copies ? "; with" : "",
                            a->modified ? " --modified" : "", a->copies ? " --copies" : ""));
    strv_add(l, dv_asprintf(" NLOs: %llu referenced, %llu recovered from the pool, %llu "
                            "unrecoverable",
                            (unsigned long long)r->nlo_needed, (unsigned long long)r->nlo_recovered,
                            (unsigned long long)r->nlo_unrecoverable));
    if (r->older)
        strv_add(l, dv_asprintf(" %llu document(s) were in the trash already when the set was "
                                "taken: left as they are",
                                (unsigned long long)r->older));
    if (r->purged_unbounded)
        strv_add(l, dv_asprintf(" deleted since: %llu purged document(s) carry no deletion time "
                                "and may have gone before it: included",
                                (unsigned long long)r->purged_unbounded));
    if (r->settled)
        strv_add(l, dv_asprintf(" settled %llu record(s) of an interrupted doc restore first",
                                (unsigned long long)r->settled));
    strv_add(l, dv_strdup(""));
    size_t nback = 0;
    for (size_t i = 0; i < r->n; i++)
        nback += r->docs[i].status <= DOCRESTORE_COPIED;
    if (nback) {
        strv_add(l, dv_asprintf(" %s:", r->dry_run ? "Would come back" : "Came back"));
        for (size_t i = 0; i < r->n; i++)
            if (r->docs[i].status <= DOCRESTORE_COPIED)
                strv_add(l, bb_doc_line(&r->docs[i], r->dry_run));
    }
    if (nback < r->n) {
        strv_add(l, dv_asprintf(" Skipped, and why:"));
        for (size_t i = 0; i < r->n; i++)
            if (r->docs[i].status > DOCRESTORE_COPIED)
                strv_add(l, bb_doc_line(&r->docs[i], r->dry_run));
    }
    if (r->n == 0)
        strv_add(l, dv_strdup(" no document was chosen"));
    return l;
}

/* ---- the preview, the question, the run ---- */

static void bb_preview_done(void *p, const struct conjob_result *cr, void *ud);

static void bb_run_done(void *p, const struct conjob_result *cr, void *ud)
{
    struct bb_arg *a = p;
    struct console *c = ud;
    recovery_bringback(c, NULL); /* compared again: what came back is present now */
    if (cr->rc == 0) {
        char title[1200];
        snprintf(title, sizeof title, "Brought back into %s", a->r.db_rel);
        con_post(c, bb_lines(a), title);
    }
}

static bool bb_start(struct console *c, struct tui *t, struct bb_arg *a, bool dry)
{
    a->dry_run = dry;
    a->taken = false;
    if (a->have_r)
        docrestore_result_done(&a->r);
    a->have_r = false;
    char title[128];
    snprintf(title, sizeof title, "%s of deleted documents into %.60s",
             dry ? "preview" : "doc restore", a->db);
    struct conjob_spec sp = {.kind = "docrestore",
                             .title = title,
                             .run = bb_job,
                             .arg = a,
                             .free_arg = bb_arg_free,
                             .on_done = dry ? bb_preview_done : bb_run_done,
                             .ud = c};
    if (conjob_start(c->cfg, &sp) != 0) {
        tui_error(t, BB_TITLE, dv_err());
        return false;
    }
    tui_msg(t, "%s started (F9 cancels it)", title);
    recovery_bringback(c, dry ? "preview (a dry run: nothing is changed)"
                              : "restoring into the live database");
    return true;
}

/* After the preview was collected: the counts, the question naming the live database (No by
 * default), then the restore as a job. Takes a. */
static void bb_ask(struct console *c, struct tui *t, void *p)
{
    struct bb_arg *a = p;
    a->taken = false;
    char counts[600], filt[1200], q[4000];
    bb_counts(&a->r, counts, sizeof counts);
    bb_filter_text(a, filt, sizeof filt);
    uint64_t back = a->r.undeleted + a->r.rewritten + a->r.copied;
    if (back == 0) {
        struct strv *l = bb_lines(a);
        snprintf(q, sizeof q, "Preview: nothing would come back into %s", a->db);
        tui_view(t, q, NULL, l->v, (int)l->n, 0, false);
        strv_free(l);
        free(l);
        recovery_bringback(c, NULL);
        bb_arg_free(a);
        return;
    }
    snprintf(q, sizeof q,
             "Preview (%s): %s.\n\nRestore them into the LIVE database %s now? No live "
             "document is overwritten; one transaction.",
             filt[0] ? filt : "every marked document", counts, a->db);
    if (!tui_confirm(t, "Restore into the LIVE database", q)) {
        tui_msg(t, "%s cancelled: nothing was changed in %s", BB_TITLE, a->db);
        recovery_bringback(c, NULL);
        bb_arg_free(a);
        return;
    }
    if (!bb_start(c, t, a, false))
        recovery_bringback(c, NULL); /* conjob_start freed a */
}

static void bb_preview_done(void *p, const struct conjob_result *cr, void *ud)
{
    struct bb_arg *a = p;
    struct console *c = ud;
    if (cr->rc != 0) { /* failed or cancelled: said by the console; back to the list */
        recovery_bringback(c, NULL);
        return;
    }
    a->taken = true; /* on to the question, once the console has shown the job's end */
    c->post_fn = bb_ask;
    c->post_arg = a;
}

/* ---- the filter dialog ---- */

enum { F_SINCE, F_FROM, F_TO, F_SENDER, F_SUBJECT, F_MODIFIED, F_COPIES, F_GO, F_N };

/* A time field: empty clears it; end: a date alone means its last second. */
static void bb_ask_time(struct tui *t, const char *prompt, char *text, size_t n, int64_t *val,
                        bool end)
{
    char *in = tui_input(t, BB_TITLE, prompt, text);
    if (!in)
        return;
    if (!*in) {
        text[0] = 0;
        *val = 0;
    } else {
        int64_t v = dv_parse_time(in);
        if (v < 0) {
            char m[400];
            snprintf(m, sizeof m, "'%.200s' is not a time (YYYY-MM-DD [HH:MM[:SS]], @EPOCH)", in);
            tui_error(t, BB_TITLE, m);
        } else {
            snprintf(text, n, "%s", in);
            *val = end && strlen(in) == 10 && in[4] == '-' ? v + 86399 : v ? v : 1;
        }
    }
    free(in);
}

static void bb_ask_text(struct tui *t, const char *prompt, char *text, size_t n)
{
    char *in = tui_input(t, BB_TITLE, prompt, text);
    if (in)
        snprintf(text, n, "%s", in);
    free(in);
}

/* The filter dialog: a line per filter (Enter changes it), the last line previews. False:
 * cancelled (Esc). */
static bool bb_filter(struct tui *t, struct bb_arg *a, uint64_t nmarked)
{
    int cur = F_GO;
    for (;;) {
        char *l[F_N], title[200];
        const char *any = "any";
        l[F_SINCE] = dv_asprintf(" Deleted since      %s", a->since_s[0] ? a->since_s : any);
        l[F_FROM] = dv_asprintf(" Created from       %s", a->from_s[0] ? a->from_s : any);
        l[F_TO] = dv_asprintf(" Created to         %s", a->to_s[0] ? a->to_s : any);
        l[F_SENDER] = dv_asprintf(" Sender contains    %s", a->sender[0] ? a->sender : any);
        l[F_SUBJECT] = dv_asprintf(" Subject contains   %s", a->subject[0] ? a->subject : any);
        l[F_MODIFIED] = dv_asprintf(" [%c] changed documents too, as copies (--modified)",
                                    a->modified ? 'x' : ' ');
        l[F_COPIES] =
            dv_asprintf(" [%c] conflicts as copies, not skipped (--copies)", a->copies ? 'x' : ' ');
        char filt[1200];
        bb_filter_text(a, filt, sizeof filt);
        l[F_GO] = dv_asprintf(" >> Preview: what would come back (%s)",
                              filt[0] ? "the filter's choice" : "every marked document");
        snprintf(title, sizeof title, "%s: which? (%llu marked)", BB_TITLE,
                 (unsigned long long)nmarked);
        int k =
            tui_view(t, title, " Enter changes a line (^U empties it: any); the last one previews",
                     l, F_N, cur, true);
        for (int i = 0; i < F_N; i++)
            free(l[i]);
        if (k < 0)
            return false;
        cur = k;
        switch (k) {
        case F_SINCE:
            bb_ask_time(t,
                        "Deleted at or after (YYYY-MM-DD [HH:MM[:SS]] or @EPOCH; empty: any). A "
                        "purged document carries no deletion time: it is kept unless the copy "
                        "shows it deleted before then.",
                        a->since_s, sizeof a->since_s, &a->since, false);
            break;
        case F_FROM:
            bb_ask_time(t, "Created at or after (YYYY-MM-DD [HH:MM[:SS]] or @EPOCH; empty: any):",
                        a->from_s, sizeof a->from_s, &a->cfrom, false);
            break;
        case F_TO:
            bb_ask_time(t,
                        "Created at or before (YYYY-MM-DD [HH:MM[:SS]] or @EPOCH; a date alone: "
                        "to its end; empty: any):",
                        a->to_s, sizeof a->to_s, &a->cto, true);
            break;
        case F_SENDER:
            bb_ask_text(t, "Sender contains (case-insensitive; empty: any):", a->sender,
                        sizeof a->sender);
            break;
        case F_SUBJECT:
            bb_ask_text(t, "Subject contains (case-insensitive; empty: any):", a->subject,
                        sizeof a->subject);
            break;
        case F_MODIFIED:
            a->modified = !a->modified;
            break;
        case F_COPIES:
            a->copies = !a->copies;
            break;
        default:
            return true;
        }
    }
}

bool con_bringback_start(struct console *c, struct tui *t, const char *from, const char *db,
                         uint64_t nmarked)
{
    if (con_busy(t))
        return false;
    struct doccopy_origin og;
    if (recover_doc_origin(c->cfg, from, db, &og) != 0) {
        tui_error(t, BB_TITLE, dv_err());
        return false;
    }
    bool force = false;
    if (!og.same) {
        char q[6000];
        snprintf(q, sizeof q,
                 "WARNING: another database. The restored copy %.1000s is of %.1000s (replica id "
                 "%s), but the live database %.1000s has replica id %s now. Bring its deleted "
                 "documents back into %.1000s anyway?",
                 from, og.origin[0] ? og.origin : from,
                 og.origin_replica_id[0] ? og.origin_replica_id : "(none)", db,
                 og.live_replica_id[0] ? og.live_replica_id : "(none)", db);
        if (!tui_confirm(t, "Into ANOTHER database", q)) {
            tui_msg(t, "%s cancelled", BB_TITLE);
            return false;
        }
        force = true;
    }
    struct bb_arg *a = dv_calloc(1, sizeof *a);
    a->cfg = c->cfg;
    a->c = c;
    a->from = dv_strdup(from);
    a->db = dv_strdup(db);
    a->force = force;
    bb_recall(a);
    if (!bb_filter(t, a, nmarked)) {
        tui_msg(t, "%s cancelled", BB_TITLE);
        bb_arg_free(a);
        return false;
    }
    bb_remember(a);
    return bb_start(c, t, a, true);
}

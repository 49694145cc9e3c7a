/*
 * actions.c - the console's job adapters: each long operation a screen starts (backup,
 * restore, resync, DAOS prune, verify, prune, listnlo, recover, document copy) as a conjob
 * on the worker thread: its argument, the worker function that calls the backend and writes
 * the one-line summary, and what the console thread does with the result (a view of the
 * details, Recovery's lists). Also the dialogs of a restore shared by Databases and Recovery:
 * which set, which new name.
 */
#include "screens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "catalog.h"
#include "conjob.h"
#include "daos.h"
#include "prune.h"
#include "recover.h"
#include "restore.h"
#include "restored.h"
#include "resync.h"
#include "store.h"
#include "verify.h"
#include "util.h"

bool con_busy(struct tui *t)
{
    if (!conjob_running())
        return false;
    tui_msg(t, "a job is running: wait for it or cancel it on the Jobs screen");
    return true;
}

static void start_job(struct console *c, struct tui *t, const struct conjob_spec *spec)
{
    if (conjob_start(c->cfg, spec) != 0) {
        tui_error(t, "Job", dv_err());
        return;
    }
    tui_msg(t, "%s started (6 Jobs shows its progress, c cancels it there)", spec->title);
}

/* ---- backup ---- */

struct backup_arg {
    const struct dv_config *cfg;
    char *glob;
    bool incremental;
};

static void backup_arg_free(void *p)
{
    struct backup_arg *a = p;
    free(a->glob);
    free(a);
}

static int backup_job(void *p, struct dv_job *job, char *sum, size_t n)
{
    struct backup_arg *a = p;
    struct backup_opts o = {.incremental = a->incremental, .db_glob = a->glob};
    struct backup_result r;
    int rc = backup_run(a->cfg, &o, job, &r);
    char b[32];
    dv_fmt_bytes(r.db_bytes + r.nlo.bytes, b, sizeof b);
    char rep[64] = "";
    if (r.nlo.repaired)
        snprintf(rep, sizeof rep, ", %llu re-copied (missing from the pool)",
                 (unsigned long long)r.nlo.repaired);
    const char *state = r.complete ? "complete" : r.partial ? "PARTIAL" : "FAILED";
    if (r.set_id[0] && r.no_daos)
        snprintf(sum, n, "set %s %s: %llu databases, %s; NLO pass skipped: %s", r.set_id, state,
                 (unsigned long long)r.databases, b, DV_NO_DAOS);
    else if (r.set_id[0])
        snprintf(sum, n, "set %s %s: %llu databases, %llu NLOs new, %llu held%s, %s", r.set_id,
                 state, (unsigned long long)r.databases, (unsigned long long)r.nlo.copied,
                 (unsigned long long)r.nlo.held, rep, b);
    return rc;
}

void con_start_backup(struct console *c, struct tui *t, const char *glob, bool incremental)
{
    if (con_busy(t))
        return;
    struct backup_arg *a = dv_calloc(1, sizeof *a);
    a->cfg = c->cfg;
    a->glob = glob ? dv_strdup(glob) : NULL;
    a->incremental = incremental;
    char title[128];
    snprintf(title, sizeof title, "%s backup of %s", incremental ? "incremental" : "full",
             glob ? glob : "all databases");
    struct conjob_spec sp = {
        .kind = "backup", .title = title, .run = backup_job, .arg = a, .free_arg = backup_arg_free};
    start_job(c, t, &sp);
}

/* ---- resync, DAOS prune ---- */

static int resync_job(void *p, struct dv_job *job, char *sum, size_t n)
{
    struct resync_result k;
    int rc = resync_daos_run(p, job, &k); /* recorded in the job history by the backend */
    if (rc == 0)
        snprintf(sum, n, "%llu NLOs, %llu databases, %llu references, %llu missing",
                 (unsigned long long)k.objects, (unsigned long long)k.databases,
                 (unsigned long long)k.references, (unsigned long long)k.missing);
    return rc;
}

bool con_start_resync(struct console *c, struct tui *t, const char *why)
{
    if (con_busy(t))
        return false;
    char q[1200];
    snprintf(q, sizeof q,
             "%s%sRebuild the server's DAOS index from the repository and the "
             "databases? Run it while the server is quiet.",
             why ? why : "", why ? "\n\n" : "");
    if (!tui_confirm(t, "Resync", q)) {
        tui_msg(t, "resync cancelled");
        return false;
    }
    struct conjob_spec sp = {
        .kind = "resync", .title = "resync of the DAOS index", .run = resync_job, .arg = c->cfg};
    start_job(c, t, &sp);
    return true;
}

static int daos_prune_job(void *p, struct dv_job *job, char *sum, size_t n)
{
    const struct dv_config *cfg = p;
    struct store_prune_counts k = {0};
    bool no_catalog = false;
    if (prune_daos(cfg, -1, job, &k, &no_catalog) != 0)
        return -1;
    char b[32];
    dv_fmt_bytes(k.bytes, b, sizeof b);
    if (no_catalog)
        snprintf(sum, n, "no backup has run yet: nothing is safe to delete, nothing deleted");
    else
        snprintf(sum, n, "%llu NLOs deleted (%s), %llu wait for a backup, %llu not due yet",
                 (unsigned long long)k.deleted, b, (unsigned long long)k.waiting_backup,
                 (unsigned long long)k.not_due);
    return 0;
}

void con_start_daos_prune(struct console *c, struct tui *t)
{
    if (con_busy(t))
        return;
    char q[400];
    snprintf(q, sizeof q,
             "Delete the NLOs whose refcount has been 0 for %ld days "
             "(deferred_deletion_days)? Only those a complete backup set holds are deleted; the "
             "others wait for the next backup.",
             c->cfg->server.deferred_deletion_days);
    if (!tui_confirm(t, "DAOS prune", q)) {
        tui_msg(t, "DAOS prune cancelled");
        return;
    }
    struct conjob_spec sp = {
        .kind = "daos-prune", .title = "DAOS prune", .run = daos_prune_job, .arg = c->cfg};
    start_job(c, t, &sp);
}

/* ---- restore: a job over recover_restore (new replica ids unless over the live database; marks
 * the DAOS index NEEDS_RESYNC) ---- */

struct restore_arg {
    const struct dv_config *cfg;
    struct console *c;
    char *set_id, *db_path, *into;
    bool force, replace_live;
    bool flow; /* the guided single-document flow: list the documents afterwards */
    struct restore_result r;
};

static void restore_arg_free(void *p)
{
    struct restore_arg *a = p;
    free(a->set_id);
    free(a->db_path);
    free(a->into);
    free(a);
}

void con_restore_warnings(const struct restore_result *r, long ddays, char *buf, size_t n)
{
    buf[0] = 0;
    size_t len = 0;
    if (r->nlo_missing)
        len +=
            (size_t)snprintf(buf + len, n - len,
                             "%llu of its %llu NLOs are missing from the live repository "
                             "(F7 / r recovers them)",
                             (unsigned long long)r->nlo_missing, (unsigned long long)r->nlo_refs);
    if (r->old_set && len < n)
        snprintf(buf + len, n - len,
                 "%sthe set is %lld days old (deferred deletion: %ld days): "
                 "NLOs may be gone",
                 len ? "; " : "", (long long)r->set_age_days, ddays);
}

static int restore_job(void *p, struct dv_job *job, char *sum, size_t n)
{
    struct restore_arg *a = p;
    struct restore_opts o = {.set_id = a->set_id,
                             .db_path = a->db_path,
                             .into = a->into[0] ? a->into : NULL, /* "": the restore folder */
                             .force = a->force,
                             .replace_live = a->replace_live};
    if (recover_restore(a->cfg, &o, job, &a->r) != 0)
        return -1;
    char b[32], w[512];
    dv_fmt_bytes(a->r.size, b, sizeof b);
    con_restore_warnings(&a->r, a->cfg->server.deferred_deletion_days, w, sizeof w);
    if (w[0])
        job_log(job, DV_WARN, "%s", w);
    const char *idx = a->r.counted ? "; DAOS index NEEDS_RESYNC" : "";
    if (a->r.live)
        snprintf(sum, n,
                 "%s from set %s over the LIVE database (%s, %llu documents, ids kept)%s%s%s",
                 a->db_path, a->set_id, b, (unsigned long long)a->r.docs, w[0] ? "; " : "", w, idx);
    else
        snprintf(sum, n, "%s from set %s into %s (%s, %llu documents, new replica id %.8s)%s%s%s",
                 a->db_path, a->set_id, a->r.into, b, (unsigned long long)a->r.docs,
                 a->r.replica_id, w[0] ? "; " : "", w, idx);
    return 0;
}

/* The restore folder's name for db from the newest usable set holding it (restored.h:
 * "restore/mail/alice--20261129-154357.nsf"; the restore names it after the set chosen);
 * without such a set (or catalog) "restore/mail/alice.nsf", the folder all the same. */
static char *folder_default(struct console *c, const char *db)
{
    bool none;
    struct catalog *cat = con_catalog(c, &none);
    struct catalog_set s;
    char *def = NULL;
    if (cat && catalog_db_last_set(cat, db, true, &s) == 1)
        def = restored_name(c->cfg, db, s.id, false, 0, false);
    return def ? def : dv_asprintf("%s/%s", c->cfg->restore.rel, db);
}

struct setpick {
    struct catalog *cat;
    const char *db;
    struct strv ids, lines;
};

static int setpick_cb(void *ud, const struct catalog_set *s)
{
    struct setpick *p = ud;
    if (!catalog_set_usable(s->status))
        return 0;
    struct catalog_set_file f;
    int r = catalog_set_file_get(p->cat, s->id, p->db, &f);
    if (r < 0)
        return -1;
    if (r == 1) {
        char when[32], b[32];
        dv_fmt_time(s->started, when, sizeof when);
        dv_fmt_bytes((uint64_t)f.size, b, sizeof b);
        strv_add(&p->ids, dv_strdup(s->id));
        strv_add(&p->lines, dv_asprintf(" %-18s %-11s %s  %9s  delta %s", s->id,
                                        catalog_set_kind_name(s->kind), when, b,
                                        f.delta_mode == CATALOG_DELTA_KEEP ? "kept" : "applied"));
        catalog_set_file_done(&f);
    }
    return 0;
}

char *con_pick_set(struct console *c, struct tui *t, const char *db, const char *title)
{
    bool none;
    struct catalog *cat = con_catalog(c, &none);
    struct setpick p = {.cat = cat, .db = db};
    char *id = NULL;
    if (!cat || catalog_sets_each(cat, setpick_cb, &p) < 0) {
        tui_error(t, "Restore", dv_err());
    } else if (p.ids.n == 0) {
        char m[1200];
        snprintf(m, sizeof m, "no complete backup set holds %s", db);
        tui_error(t, "Restore", m);
    } else {
        int k = tui_view(t, title,
                         "  Set                Kind        Started                  Size"
                         "  Delta",
                         p.lines.v, (int)p.lines.n, 0, true);
        if (k >= 0)
            id = dv_strdup(p.ids.v[k]);
    }
    strv_free(&p.ids);
    strv_free(&p.lines);
    return id;
}

static void restore_done(void *p, const struct conjob_result *r, void *ud)
{
    struct restore_arg *a = p;
    struct console *c = ud;
    if (!a->flow)
        return;
    char warn[512] = "";
    if (r->rc == 0)
        con_restore_warnings(&a->r, c->cfg->server.deferred_deletion_days, warn, sizeof warn);
    recovery_restored(c, r->rc == 0, a->r.db_rel[0] ? a->r.db_rel : a->db_path, a->set_id,
                      a->into[0] ? a->into : a->r.into, warn);
}

void con_start_restore(struct console *c, struct tui *t, const char *db, const char *set,
                       const char *into, bool force, bool replace_live, bool flow)
{
    struct restore_arg *a = dv_calloc(1, sizeof *a);
    a->cfg = c->cfg;
    a->c = c;
    a->set_id = dv_strdup(set);
    a->db_path = dv_strdup(db);
    a->into = dv_strdup(into);
    a->force = force;
    a->replace_live = replace_live;
    a->flow = flow;
    char title[600];
    if (replace_live)
        snprintf(title, sizeof title, "restore of %s over the live database", db);
    else if (!into[0])
        snprintf(title, sizeof title, "restore of %s into the restore folder", db);
    else
        snprintf(title, sizeof title, "restore of %s into %s", db, into);
    struct conjob_spec sp = {.kind = "restore",
                             .title = title,
                             .run = restore_job,
                             .arg = a,
                             .free_arg = restore_arg_free,
                             .on_done = restore_done,
                             .ud = c};
    start_job(c, t, &sp);
}

/* con_ask_into's check of a typed name: 1 use it (*force: replace an earlier restored copy),
 * 0 ask again ("No" to replacing), -1 refused (said so). */
static int ask_into_check(struct console *c, struct tui *t, const char *db, const char *title,
                          const char *into, bool *force)
{
    struct recover_into_info ii;
    char m[2600];
    if (recover_into_check(c->cfg, db, into, &ii) != 0) {
        tui_error(t, title, dv_err());
        return -1;
    }
    const char *name = ii.rel[0] ? ii.rel : ii.path;
    switch (ii.is_source ? RECOVER_INTO_LIVE_SELF : ii.kind) {
    case RECOVER_INTO_NEW:
        return 1;
    case RECOVER_INTO_LIVE_SELF:
        tui_error(t, title,
                  "That is the live database. Restoring over it is a separate action: "
                  "Databases, L (restore over the live database, asks for its name).");
        return -1;
    case RECOVER_INTO_OTHER:
        snprintf(m, sizeof m,
                 "%.1200s exists and is not a restored copy: it is a live database (or another "
                 "file). "
                 "A restore never replaces it from here. Choose a new name; to put a backup in "
                 "place of a live database, use L (restore over the live database) on it.",
                 name);
        tui_error(t, title, m);
        return -1;
    case RECOVER_INTO_RESTORED:
        if (ii.in_use) {
            snprintf(m, sizeof m,
                     "%.1200s is in use by pid %ld: stop that use of it first, or choose a new "
                     "name.",
                     name, (long)ii.holder);
            tui_error(t, title, m);
            return -1;
        }
        snprintf(m, sizeof m,
                 "%.1200s exists: a restored copy of %.1000s (from set %s). Replace it? The copy "
                 "there now is lost. (No: choose another name.)",
                 name, ii.origin[0] ? ii.origin : "?", ii.origin_set[0] ? ii.origin_set : "?");
        if (tui_confirm(t, "Replace an earlier restored copy", m)) {
            *force = true;
            return 1;
        }
        return 0;
    }
    return -1;
}

/*
 * Ask for the new name and check it at once (recover_into_check), before anything else is
 * asked: a refused name, the live database itself, another live database (any existing file
 * that is not an earlier restored copy) and a file in use are refused here; an earlier
 * restored copy may be replaced after a confirmation that says what it is (*force then; "No"
 * asks for the name again). The default is the restore folder's name (restored.h): kept as it
 * is, the answer is "" - the restore folder, named after the set chosen next, never colliding.
 * Returns the name (malloc'd), or NULL (cancelled or refused: said so).
 */
char *con_ask_into(struct console *c, struct tui *t, const char *db, const char *title, bool *force)
{
    *force = false;
    char *def = folder_default(c, db), *initial = dv_strdup(def);
    char prompt[1200];
    snprintf(prompt, sizeof prompt,
             "Restore %s into (a new path under data_dir; the default is the restore folder, "
             "named after the database and its set, never replacing a copy):",
             db);
    char *into = NULL;
    for (;;) {
        into = tui_input(t, title, prompt, initial);
        if (!into || !*into)
            break;
        if (strcmp(into, def) == 0) { /* the restore folder: a free name at restore time */
            into[0] = 0;
            free(initial);
            free(def);
            return into;
        }
        int r = ask_into_check(c, t, db, title, into, force);
        if (r == 1) {
            free(initial);
            free(def);
            return into;
        }
        if (r < 0)
            break;
        free(initial); /* "No" to replacing: the name again */
        initial = into;
        into = NULL;
    }
    free(into);
    free(initial);
    free(def);
    return NULL;
}

/* ---- verify, prune ---- */

/* verify of one set as a job: problems collected on the worker, shown in a view afterwards */
struct verify_arg {
    const struct dv_config *cfg;
    struct console *c;
    char *set_id;
    struct strv problems;
    struct verify_result r;
};

static void verify_arg_free(void *p)
{
    struct verify_arg *a = p;
    strv_free(&a->problems);
    free(a->set_id);
    free(a);
}

static void verify_problem(void *ud, const char *file, const char *msg)
{
    struct verify_arg *a = ud;
    if (a->problems.n < 100000)
        strv_add(&a->problems, dv_asprintf(" %s: %s", file, msg));
}

static int verify_job(void *p, struct dv_job *job, char *sum, size_t n)
{
    struct verify_arg *a = p;
    struct verify_opts o = {.set_id = a->set_id};
    int rc = verify_run(a->cfg, &o, job, verify_problem, a, &a->r);
    if (rc < 0)
        return -1;
    char b[32], head[64];
    dv_fmt_bytes(a->r.bytes, b, sizeof b);
    if (a->r.problems)
        snprintf(head, sizeof head, "%llu PROBLEMS", (unsigned long long)a->r.problems);
    else
        snprintf(head, sizeof head, "no problems");
    char held[64] = "";
    if (a->set_id)
        snprintf(held, sizeof held, ", %llu from earlier sets", (unsigned long long)a->r.nlos_held);
    snprintf(sum, n,
             "%s; %llu NLO(s) checked of %llu (%llu new%s), %llu copies, %llu deltas, %llu test "
             "restores, %s read",
             head, (unsigned long long)a->r.nlos_checked,
             (unsigned long long)(a->r.nlos_listed + a->r.nlos_held),
             (unsigned long long)a->r.nlos_listed, held, (unsigned long long)a->r.copies,
             (unsigned long long)a->r.deltas, (unsigned long long)a->r.restores, b);
    return 0;
}

static void verify_done(void *p, const struct conjob_result *r, void *ud)
{
    struct verify_arg *a = p;
    struct console *c = ud;
    if (r->rc != 0 || a->problems.n == 0)
        return;
    struct strv *l = dv_calloc(1, sizeof *l);
    *l = a->problems;
    memset(&a->problems, 0, sizeof a->problems);
    char title[200];
    snprintf(title, sizeof title, "Verify of set %s: %llu problems", a->set_id,
             (unsigned long long)a->r.problems);
    con_post(c, l, title);
}

void con_start_verify(struct console *c, struct tui *t, const char *set_id)
{
    if (con_busy(t))
        return;
    struct verify_arg *a = dv_calloc(1, sizeof *a);
    a->cfg = c->cfg;
    a->c = c;
    a->set_id = dv_strdup(set_id);
    char title[128];
    snprintf(title, sizeof title, "verify of set %.40s", set_id);
    struct conjob_spec sp = {.kind = "verify",
                             .title = title,
                             .run = verify_job,
                             .arg = a,
                             .free_arg = verify_arg_free,
                             .on_done = verify_done,
                             .ud = c};
    start_job(c, t, &sp);
}

/* prune: the preview (prune_run dry_run) and the question are the Sets screen's; then the
 * real run as a job */
static int prune_job(void *p, struct dv_job *job, char *sum, size_t n)
{
    const struct dv_config *cfg = p;
    struct prune_opts o = {.dry_run = false};
    struct prune_result r;
    int rc = prune_run(cfg, &o, job, &r);
    char b[32], nb[32], ab[32];
    dv_fmt_bytes(r.set_bytes, b, sizeof b);
    dv_fmt_bytes(r.nlo_bytes, nb, sizeof nb);
    dv_fmt_bytes(r.archive_bytes, ab, sizeof ab);
    snprintf(sum, n,
             "%llu sets removed (%llu failed), %llu copies, %llu deltas, %s; %llu pool "
             "NLOs (%s); %llu archive segments (%s); %zu restored copies",
             (unsigned long long)(r.sets_pruned + r.failed_pruned),
             (unsigned long long)r.failed_pruned, (unsigned long long)r.files,
             (unsigned long long)r.deltas, b, (unsigned long long)r.nlos, nb,
             (unsigned long long)r.archive_segments, ab, r.nrestored);
    prune_result_done(&r);
    return rc;
}

void con_start_prune(struct console *c, struct tui *t)
{
    struct conjob_spec sp = {
        .kind = "prune", .title = "prune of the backup sets", .run = prune_job, .arg = c->cfg};
    start_job(c, t, &sp);
}

/* listnlo missing as a job: the repository walk can take a while at millions of NLOs */
struct listnlo_arg {
    const struct dv_config *cfg;
    char *db;
    struct strv names;
};

static void listnlo_arg_free(void *p)
{
    struct listnlo_arg *a = p;
    strv_free(&a->names);
    free(a->db);
    free(a);
}

static int listnlo_cb(void *ud, const char *name)
{
    struct listnlo_arg *a = ud;
    strv_add(&a->names, dv_strdup(name));
    return 0;
}

static int listnlo_job(void *p, struct dv_job *job, char *sum, size_t n)
{
    struct listnlo_arg *a = p;
    job_phase(job, "listnlo", 0, 0);
    uint64_t k = 0;
    int rc = daos_listnlo(a->cfg, a->db, true, listnlo_cb, a, &k);
    if (rc == 0)
        snprintf(sum, n, "%s misses %llu NLOs", a->db, (unsigned long long)k);
    return rc;
}

static void listnlo_done(void *p, const struct conjob_result *r, void *ud)
{
    struct listnlo_arg *a = p;
    struct console *c = ud;
    if (r->rc != 0)
        return;
    char title[600];
    snprintf(title, sizeof title, "missing NLOs of %s: %zu", a->db, a->names.n);
    recovery_show_missing(c, &a->names, title);
}

void con_start_listnlo(struct console *c, struct tui *t, const char *db)
{
    if (con_busy(t))
        return;
    struct listnlo_arg *a = dv_calloc(1, sizeof *a);
    a->cfg = c->cfg;
    a->db = dv_strdup(db);
    char title[600];
    snprintf(title, sizeof title, "listnlo missing %s", db);
    struct conjob_spec sp = {.kind = "listnlo",
                             .title = title,
                             .run = listnlo_job,
                             .arg = a,
                             .free_arg = listnlo_arg_free,
                             .on_done = listnlo_done,
                             .ud = c};
    start_job(c, t, &sp);
}

/* ---- recover, document copy ---- */

/* Lines for the results of recover_nlos: one per NLO. */
static struct strv *recover_lines(const struct recover_result *r)
{
    struct strv *l = dv_calloc(1, sizeof *l);
    char b[32];
    dv_fmt_bytes(r->bytes, b, sizeof b);
    strv_add(l, dv_asprintf(" %llu recovered, %llu repaired (%s), %llu already present, %llu "
                            "unrecoverable",
                            (unsigned long long)r->recovered, (unsigned long long)r->repaired, b,
                            (unsigned long long)r->present, (unsigned long long)r->unrecoverable));
    strv_add(l, dv_strdup(""));
    for (size_t i = 0; i < r->n; i++) {
        const struct recover_item *it = &r->items[i];
        if (it->status == RECOVER_UNRECOVERABLE) {
            strv_add(l, dv_asprintf(" UNRECOVERABLE %s: %s", it->name, it->reason));
            for (size_t d = 0; d < it->ndocs; d++)
                strv_add(l, dv_asprintf("     document %s %s", it->docs[d].unid,
                                        it->docs[d].subject ? it->docs[d].subject : ""));
        } else {
            char sub[16] = "";
            if (it->subdir)
                snprintf(sub, sizeof sub, "daos/%04d", it->subdir);
            strv_add(l, dv_asprintf(" %-13s %s  %s%s%s%s%s",
                                    it->status == RECOVER_RECOVERED  ? "recovered"
                                    : it->status == RECOVER_REPAIRED ? "repaired"
                                    : it->status == RECOVER_PRESENT  ? "present"
                                                                     : "not recovered",
                                    it->name, sub, it->set_id[0] ? "  set " : "", it->set_id,
                                    it->damage ? "  damaged: " : "", it->damage ? it->damage : ""));
        }
    }
    return l;
}

/* recover_nlos as a job: a list file (the panel's selection) or one document's NLOs */
struct recover_arg {
    const struct dv_config *cfg;
    char *list_file; /* a temp file, removed afterwards */
    char *db, *unid;
    struct recover_result r;
    bool doc; /* from the guided flow */
};

static void recover_arg_free(void *p)
{
    struct recover_arg *a = p;
    if (a->list_file)
        unlink(a->list_file);
    free(a->list_file);
    free(a->db);
    free(a->unid);
    recover_result_done(&a->r);
    free(a);
}

static int recover_job(void *p, struct dv_job *job, char *sum, size_t n)
{
    struct recover_arg *a = p;
    struct recover_opts o = {.list_file = a->list_file, .db_path = a->db, .unid = a->unid};
    int rc = recover_nlos(a->cfg, &o, job, &a->r);
    char b[32];
    dv_fmt_bytes(a->r.bytes, b, sizeof b);
    snprintf(sum, n, "%llu recovered, %llu repaired (%s), %llu already present, %llu unrecoverable",
             (unsigned long long)a->r.recovered, (unsigned long long)a->r.repaired, b,
             (unsigned long long)a->r.present, (unsigned long long)a->r.unrecoverable);
    return rc;
}

static void recover_done(void *p, const struct conjob_result *r, void *ud)
{
    struct recover_arg *a = p;
    struct console *c = ud;
    (void)r;
    if (a->r.n)
        con_post(c, recover_lines(&a->r),
                 a->doc ? "NLOs of the document: recovered / present / unrecoverable"
                        : "Recovered NLOs: recovered / present / unrecoverable");
    recovery_recovered(c, a->doc);
}

static void start_recover(struct console *c, struct tui *t, struct recover_arg *a,
                          const char *title)
{
    struct conjob_spec sp = {.kind = "recover",
                             .title = title,
                             .run = recover_job,
                             .arg = a,
                             .free_arg = recover_arg_free,
                             .on_done = recover_done,
                             .ud = c};
    start_job(c, t, &sp);
}

void con_start_recover_list(struct console *c, struct tui *t, char *list_file, size_t n)
{
    struct recover_arg *a = dv_calloc(1, sizeof *a);
    a->cfg = c->cfg;
    a->list_file = list_file;
    char title[64];
    snprintf(title, sizeof title, "recover of %zu NLOs", n);
    start_recover(c, t, a, title);
}

void con_start_recover_doc(struct console *c, struct tui *t, const char *db, const char *unid)
{
    struct recover_arg *a = dv_calloc(1, sizeof *a);
    a->cfg = c->cfg;
    a->db = dv_strdup(db);
    a->unid = dv_strdup(unid);
    a->doc = true;
    char title[200];
    snprintf(title, sizeof title, "recover NLOs of document %.12s", unid);
    start_recover(c, t, a, title);
}

/* recover_doc_copy as a job */
struct doccopy_arg {
    const struct dv_config *cfg;
    bool force; /* the operator confirmed a copy into another database */
    char *from, *unid, *live;
    struct doccopy_result r;
};

static void doccopy_arg_free(void *p)
{
    struct doccopy_arg *a = p;
    recover_result_done(&a->r.nlo);
    free(a->from);
    free(a->unid);
    free(a->live);
    free(a);
}

static int doccopy_job(void *p, struct dv_job *job, char *sum, size_t n)
{
    struct doccopy_arg *a = p;
    if (recover_doc_copy_ex(a->cfg, a->from, a->unid, a->live, a->force, job, &a->r) != 0)
        return -1;
    /* the job's title names the document: the summary starts with what happened */
    snprintf(sum, n, "%s %s (%d attachments, %d NLOs; %llu NLOs recovered first; unid %s)",
             a->r.undeleted ? "undeleted in" : "copied into", a->live, a->r.attachments, a->r.nlos,
             (unsigned long long)a->r.nlo.recovered, a->unid);
    return 0;
}

static void doccopy_done(void *p, const struct conjob_result *r, void *ud)
{
    struct doccopy_arg *a = p;
    struct console *c = ud;
    if (a->r.nlo.unrecoverable)
        con_post(c, recover_lines(&a->r.nlo), "The document's NLOs: nothing was copied");
    if (r->rc != 0)
        return;
    recovery_copied(c, a->unid);
    /* the copy keeps the DAOS index exact (references counted, recovered NLOs indexed): a
     * resync is offered only when the index says NEEDS_RESYNC (e.g. after the restore that
     * made the copy), and console.c asks at most once a session */
    struct dv_store *st = con_store(c);
    if (st && store_needs_resync(st))
        snprintf(c->post_resync, sizeof c->post_resync,
                 "The document is in %s again. The DAOS index is NEEDS_RESYNC (Overview says "
                 "why: usually the restore that made the copy).",
                 a->live);
}

void con_start_doccopy(struct console *c, struct tui *t, const char *from, const char *unid,
                       const char *live, bool force)
{
    struct doccopy_arg *a = dv_calloc(1, sizeof *a);
    a->force = force;
    a->cfg = c->cfg;
    a->from = dv_strdup(from);
    a->unid = dv_strdup(unid);
    a->live = dv_strdup(live);
    char title[200];
    snprintf(title, sizeof title, "copy of document %.12s into %.100s", unid, live);
    struct conjob_spec sp = {.kind = "doccopy",
                             .title = title,
                             .run = doccopy_job,
                             .arg = a,
                             .free_arg = doccopy_arg_free,
                             .on_done = doccopy_done,
                             .ud = c};
    start_job(c, t, &sp);
}

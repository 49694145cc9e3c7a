/*
 * sets.c - the Sets screen: the catalog's backup sets, newest first (key INT64_MAX - seq,
 * zero-padded), read page by page; Enter shows a set's databases, F7 verifies a set, F8
 * prunes after a preview (prune_run dry_run on the console thread: it changes nothing).
 * Below the list: where the target is (a directory, or s3://BUCKET/PREFIX at its endpoint)
 * and its Object Lock, from the configuration (target_where.h: no lock, no request).
 */
#include "screens.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "prune.h"
#include "restored.h"
#include "target_where.h"
#include "tui_vec.h"
#include "util.h"

struct setscr {
    struct con_screen base; /* first */
    struct tui_list list;
    bool loaded;
};

static void set_row(const struct catalog_set *s, struct tui_row *r)
{
    memset(r, 0, sizeof *r);
    con_seq_key(s->seq, r->key);
    snprintf(r->cell[0], sizeof r->cell[0], "%s", s->id);
    snprintf(r->cell[1], sizeof r->cell[1], "%s", s->kind == CATALOG_SET_FULL ? "full" : "incr");
    if (s->ended > 0) {
        long d = (long)(s->ended - s->started);
        snprintf(r->cell[2], sizeof r->cell[2], "%ld:%02ld", d / 60, d % 60);
    } else {
        snprintf(r->cell[2], sizeof r->cell[2], "-");
    }
    snprintf(r->cell[3], sizeof r->cell[3], "%lld", (long long)s->databases);
    snprintf(r->cell[4], sizeof r->cell[4], "%lld/%lld/%lld", (long long)s->nlo_new,
             (long long)s->nlo_held, (long long)s->nlo_skipped);
    snprintf(r->cell[5], sizeof r->cell[5], "%lld/%lld", (long long)s->deltas_applied,
             (long long)s->deltas_kept);
    dv_fmt_bytes((uint64_t)s->bytes, r->cell[6], sizeof r->cell[6]);
    snprintf(r->cell[7], sizeof r->cell[7], "%s%s%.200s", catalog_set_status_name(s->status),
             s->message[0] ? ": " : "", s->message);
    r->elem = s->status == CATALOG_SET_FAILED                                        ? TH_ERROR
              : s->status == CATALOG_SET_RUNNING || s->status == CATALOG_SET_PARTIAL ? TH_WARNING
                                                                                     : TH_TEXT;
}

static int set_fetch(struct tui_source *src, enum tui_fetch mode, const char *key,
                     struct tui_row *rows, int n)
{
    struct console *c = src->ud;
    bool none;
    struct catalog *cat = con_catalog(c, &none);
    if (!cat)
        return none ? 0 : -1;
    struct catalog_set *buf = dv_calloc((size_t)n, sizeof *buf);
    size_t k = 0;
    int rc;
    if (mode == TUI_BEFORE) {
        rc = catalog_sets_newer(cat, key ? con_key_seq(key) : 0, buf, (size_t)n, &k);
        for (size_t i = 0; rc == 0 && i < k; i++)
            set_row(&buf[k - 1 - i], &rows[i]);
    } else {
        int64_t before = !key ? 0 : mode == TUI_FROM ? con_key_seq(key) + 1 : con_key_seq(key);
        if (key && before <= 0)
            before = -1; /* nothing older than seq 1: ask for seq < 1 */
        rc = before < 0 ? 0 : catalog_sets_list(cat, before, buf, (size_t)n, &k);
        for (size_t i = 0; rc == 0 && i < k; i++)
            set_row(&buf[i], &rows[i]);
    }
    free(buf);
    return rc == 0 ? (int)k : -1;
}

static long set_count(struct tui_source *src)
{
    bool none;
    struct catalog *cat = con_catalog(src->ud, &none);
    int64_t n = 0;
    if (!cat)
        return none ? 0 : -1;
    return catalog_set_count(cat, &n) == 0 ? (long)n : -1;
}

static void src_free(struct tui_source *s)
{
    free(s);
}

/* Keyset-paged by seq (newest first, the Set column's order: a set's id is its start time);
 * sorted by another column, the sets are read into memory and sorted there (tui_sortable) */
static struct tui_source *set_source_new(struct console *c)
{
    struct tui_source *s = dv_calloc(1, sizeof *s);
    *s = (struct tui_source){.fetch = set_fetch, .count = set_count, .free = src_free, .ud = c};
    return tui_sortable_new(s, 8, 0, true);
}

static const struct tui_column set_cols[] = {
    {"Set", 17, TUI_LEFT},
    {"Kind", 4, TUI_LEFT},
    {"Time", 6, TUI_RIGHT},
    {"DBs", 4, TUI_RIGHT},
    {"NLO new/held/skip", 17, TUI_RIGHT},
    {"Deltas a/k", 10, TUI_RIGHT},
    {"Size", 9, TUI_RIGHT},
    {"Status", 0, TUI_LEFT},
};
/* 80 columns and below: no NLO and delta figures (Enter shows them), the status readable */
static const int set_narrow[] = {0, 0, 0, 0, -1, -1, 0, 0};

enum { SET_BACKUP = 1, SET_INCR, SET_RESTORE, SET_VERIFY, SET_PRUNE, SET_OPEN, SET_REFRESH };

static const struct tui_key set_keys[] = {
    {{KEY_F(2), 'B', 'b'}, SET_BACKUP, "Backup", "Start a full backup of all databases", NULL},
    {{'i'}, SET_INCR, NULL, "Start an incremental backup of all databases", NULL},
    {{KEY_F(5)}, SET_REFRESH, "Refresh", "Read the sets again", NULL},
    {{KEY_F(7), 'v'}, SET_VERIFY, "Verify", "Verify the selected set against its manifest", NULL},
    {{KEY_F(8), 'p'},
     SET_PRUNE,
     "Prune",
     "Prune sets beyond the retention (preview, then asks)",
     NULL},
    {{'\n', KEY_ENTER},
     SET_OPEN,
     NULL,
     "Show the selected set's databases (size, sha256, delta and where it lives)",
     NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static void sets_load(struct setscr *ss, struct tui *t)
{
    char cur[TUI_KEY_MAX] = "";
    const struct tui_row *r = tui_list_current(&ss->list);
    if (r)
        snprintf(cur, sizeof cur, "%s", r->key);
    if (tui_list_set_source(&ss->list, set_source_new(ss->base.c)) != 0 && t)
        tui_error(t, "Sets", dv_err());
    if (cur[0])
        tui_list_goto(&ss->list, cur);
}

static void sets_enter(struct tui_screen *s, struct tui *t)
{
    struct setscr *ss = s->ud;
    if (!ss->loaded) {
        ss->loaded = true;
        sets_load(ss, t);
    }
}

static void set_open(struct console *c, struct tui *t, int64_t seq)
{
    bool none;
    struct catalog *cat = con_catalog(c, &none);
    struct catalog_set s;
    size_t k = 0;
    if (!cat || catalog_sets_list(cat, seq + 1, &s, 1, &k) != 0) {
        tui_error(t, "Set", dv_err());
        return;
    }
    if (k == 0 || s.seq != seq) {
        tui_error(t, "Set", "the set is gone from the catalog (pruned?)");
        return;
    }
    struct catalog_set_file *f = NULL;
    size_t nf = 0;
    if (catalog_set_files(cat, s.id, &f, &nf) != 0) {
        tui_error(t, "Set", dv_err());
        return;
    }
    struct strv l = {0};
    char a[32], b[32], sz[32];
    dv_fmt_time(s.started, a, sizeof a);
    if (s.ended)
        dv_fmt_time(s.ended, b, sizeof b);
    else
        snprintf(b, sizeof b, "-");
    dv_fmt_bytes((uint64_t)s.bytes, sz, sizeof sz);
    strv_add(&l,
             dv_asprintf(" %s backup, %s: started %s, ended %s, %s", catalog_set_kind_name(s.kind),
                         catalog_set_status_name(s.status), a, b, sz));
    strv_add(&l, dv_asprintf(" NLOs: %lld new, %lld already held, %lld skipped; deltas: %lld "
                             "applied, %lld kept%s%s",
                             (long long)s.nlo_new, (long long)s.nlo_held, (long long)s.nlo_skipped,
                             (long long)s.deltas_applied, (long long)s.deltas_kept,
                             s.origin[0] ? "; based on " : "", s.origin));
    if (s.message[0])
        strv_add(&l, dv_asprintf(" %s", s.message));
    strv_add(&l, dv_strdup(""));
    strv_add(&l, dv_asprintf(" %-34s %9s  %-12s  %s", "Database", "Size", "SHA-256", "Delta"));
    for (size_t i = 0; i < nf; i++) {
        dv_fmt_bytes((uint64_t)f[i].size, sz, sizeof sz);
        char delta[1200];
        if (f[i].delta_mode == CATALOG_DELTA_KEEP)
            snprintf(delta, sizeof delta, "kept, %lld pages, at %s", (long long)f[i].delta_pages,
                     f[i].delta_location ? f[i].delta_location : "?");
        else
            snprintf(delta, sizeof delta, "applied (%lld pages)", (long long)f[i].delta_pages);
        strv_add(&l, dv_asprintf(" %-34s %9s  %.12s  %s%s", f[i].db_path, sz,
                                 f[i].sha256 ? f[i].sha256 : "", delta,
                                 f[i].locked_copy ? "  [locked copy]" : ""));
    }
    if (nf == 0)
        strv_add(&l, dv_strdup(" (no databases in this set)"));
    catalog_set_files_free(f, nf);
    struct catalog_set_failure *fl = NULL;
    size_t nfl = 0;
    if (catalog_set_failures(cat, s.id, &fl, &nfl) != 0) {
        strv_add(&l, dv_asprintf(" (failed databases unreadable: %s)", dv_err()));
    } else if (nfl) {
        strv_add(&l, dv_strdup(""));
        strv_add(&l, dv_asprintf(" Not in this set - %zu database(s) could not be copied (the next "
                                 "backup copies them in full):",
                                 nfl));
        for (size_t i = 0; i < nfl; i++)
            strv_add(&l, dv_asprintf(" %-34s FAILED: %s", fl[i].db_path, fl[i].reason));
    }
    free(fl);
    char title[96];
    /* the set's own status (a failed set may list failed databases too: it is not partial) */
    const char *st = catalog_set_status_name(s.status);
    if (nfl)
        snprintf(title, sizeof title, "Set %s (%s): %zu databases, %zu failed", s.id, st, nf, nfl);
    else
        snprintf(title, sizeof title, "Set %s (%s): %zu databases", s.id, st, nf);
    tui_view(t, title, NULL, l.v, (int)l.n, 0, false);
    strv_free(&l);
}

static void sets_prune(struct console *c, struct tui *t)
{
    if (con_busy(t))
        return;
    struct prune_opts o = {.dry_run = true};
    struct prune_result r;
    char perr[DV_ERR_MAX] = "";
    if (prune_run(c->cfg, &o, NULL, &r) != 0) {
        if (r.nsets == 0 && r.narchive == 0) { /* nothing decided */
            tui_error(t, "Prune preview", dv_err());
            prune_result_done(&r);
            return;
        }
        snprintf(perr, sizeof perr, "%s", dv_err()); /* an archive it could not read */
    }
    if (r.no_catalog) {
        tui_message(t, "Prune", "No catalog yet: no backup has run, nothing to prune.");
        prune_result_done(&r);
        return;
    }
    struct strv l = {0};
    char b[32], nb[32];
    dv_fmt_bytes(r.set_bytes, b, sizeof b);
    dv_fmt_bytes(r.nlo_bytes, nb, sizeof nb);
    uint64_t go = r.sets_pruned + r.failed_pruned;
    strv_add(&l, dv_asprintf(" retention: keep %ld sets, %ld days", c->cfg->backup.keep_sets,
                             c->cfg->backup.keep_days));
    strv_add(&l, dv_asprintf(" would remove %llu sets (%llu failed): %llu copies, %llu deltas "
                             "(%llu moved outside their set), %s",
                             (unsigned long long)go, (unsigned long long)r.failed_pruned,
                             (unsigned long long)r.files, (unsigned long long)r.deltas,
                             (unsigned long long)r.deltas_outside, b));
    strv_add(&l, dv_asprintf(" and %llu NLOs from the pool that no remaining set needs (%s)",
                             (unsigned long long)r.nlos, nb));
    char ab[32];
    dv_fmt_bytes(r.archive_bytes, ab, sizeof ab);
    uint64_t nlos = r.nlos, aseg = r.archive_segments, aruns = r.archive_runs;
    strv_add(&l, dv_asprintf(" and %llu archive segments (%s) of %zu databases and %llu run "
                             "records that no retained set can use",
                             (unsigned long long)aseg, ab, r.narchive, (unsigned long long)aruns));
    size_t nrest = r.nrestored; /* the restore folder (restored.h) */
    strv_add(&l, dv_asprintf(" and %zu restored copies older than %ld days (restore.dir)", nrest,
                             c->cfg->restore.retention_days));
    for (size_t i = 0; i < nrest; i++)
        strv_add(&l, dv_asprintf("   %s", r.restored[i].path));
    if (perr[0])
        strv_add(&l, dv_asprintf(" ERROR: %s", perr));
    strv_add(&l, dv_strdup(""));
    for (size_t i = 0; i < r.nsets; i++) {
        const struct prune_set *ps = &r.sets[i];
        char sz[32];
        dv_fmt_bytes(ps->bytes, sz, sizeof sz);
        strv_add(&l, dv_asprintf(" %-6s %-18s %-11s %-8s %9s  %s", ps->d.prune ? "REMOVE" : "keep",
                                 ps->set.id, catalog_set_kind_name(ps->set.kind),
                                 catalog_set_status_name(ps->set.status), ps->d.prune ? sz : "",
                                 prune_why_text(ps->d.why)));
    }
    prune_result_done(&r);
    tui_view(t, "Prune preview (nothing changed yet)", NULL, l.v, (int)l.n, 0, false);
    strv_free(&l);
    /* (r was cleared by prune_result_done: the counts were kept above) */
    if (go == 0 && nlos == 0 && aseg == 0 && aruns == 0 && nrest == 0) {
        tui_msg(t, "prune: nothing to remove");
        return;
    }
    char q[400];
    snprintf(q, sizeof q,
             "Prune now: remove %llu sets, %llu pool NLOs and %llu archive segments (%s + %s + "
             "%s) and %zu restored copies? This cannot be undone.",
             (unsigned long long)go, (unsigned long long)nlos, (unsigned long long)aseg, b, nb, ab,
             nrest);
    if (!tui_confirm(t, "Prune", q)) {
        tui_msg(t, "prune cancelled");
        return;
    }
    con_start_prune(c, t);
}

/* The target's lines below the list: one when it fits, else the target and its endpoint on
 * one line and the Object Lock on the next (each cut at the screen's width). */
static int sets_where_lines(const struct console *c, int w, char *l1, char *l2, size_t n)
{
    struct target_where tw;
    target_where_cfg(c->cfg, &tw);
    char lock[64];
    target_where_lock_text(&tw, lock, sizeof lock);
    if (tw.kind != TARGET_KIND_S3) {
        snprintf(l1, n, " target %s: a directory, no Object Lock", tw.url);
        l2[0] = 0;
        return 1;
    }
    char where[5400];
    snprintf(where, sizeof where, " target %s at %s", tw.url, tw.endpoint[0] ? tw.endpoint : "AWS");
    if (tw.lock_days > 0)
        snprintf(lock, sizeof lock, "Object Lock %s, %ld day%s", tw.lock_mode, tw.lock_days,
                 tw.lock_days == 1 ? "" : "s");
    if (tui_width(where) + 3 + tui_width(lock) <= w) {
        snprintf(l1, n, "%s   %s", where, lock);
        l2[0] = 0;
        return 1;
    }
    snprintf(l1, n, "%s", where);
    snprintf(l2, n, " %s%s", lock, tw.lock_days > 0 ? ", counted from each object's upload" : "");
    return 2;
}

static void sets_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    (void)t;
    struct setscr *ss = s->ud;
    char l1[5600], l2[5600];
    int k = sets_where_lines(ss->base.c, b.w, l1, l2, sizeof l1);
    if (b.h < 6) /* no room: the list alone */
        k = 0;
    tui_list_draw(&ss->list, (struct tui_rect){b.y, b.x, b.h - k, b.w});
    if (k >= 1)
        tui_put(b.y + b.h - k, b.x, b.w, l1, TH_DIM, true);
    if (k == 2)
        tui_put(b.y + b.h - 1, b.x, b.w, l2, TH_DIM, true);
}

static int set_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    (void)key;
    struct setscr *ss = s->ud;
    struct console *c = ss->base.c;
    const struct tui_row *r = tui_list_current(&ss->list);
    switch (action) {
    case SET_BACKUP:
    case SET_INCR:
        con_start_backup(c, t, NULL, action == SET_INCR);
        return TUI_REDRAW;
    case SET_REFRESH:
        sets_load(ss, t);
        return TUI_REDRAW;
    case SET_OPEN:
    case SET_VERIFY:
        if (!r) {
            tui_msg(t, "no set selected");
            return TUI_HANDLED;
        }
        if (action == SET_OPEN) {
            set_open(c, t, con_key_seq(r->key));
            return TUI_REDRAW;
        }
        con_start_verify(c, t, r->cell[0]);
        return TUI_REDRAW;
    case SET_PRUNE:
        sets_prune(c, t);
        return TUI_REDRAW;
    }
    return TUI_IGNORED;
}

static void sets_job_done(struct con_screen *s)
{
    struct setscr *ss = (struct setscr *)s;
    if (ss->loaded)
        sets_load(ss, NULL);
}

static void sets_free(struct con_screen *s)
{
    struct setscr *ss = (struct setscr *)s;
    tui_list_done(&ss->list);
    free(ss);
}

struct con_screen *sets_new(struct console *c)
{
    struct setscr *ss = dv_calloc(1, sizeof *ss);
    tui_list_init(&ss->list, set_cols, 8);
    ss->list.empty = "no backup sets yet (F2 starts a backup)";
    ss->list.narrow = set_narrow;
    /* newest first (the set ids are their start times) */
    ss->list.natural_desc = true;
    ss->base.c = c;
    ss->base.job_done = sets_job_done;
    ss->base.free = sets_free;
    ss->base.tui = (struct tui_screen){"Sets",    set_keys,   &ss->list, sets_enter,
                                       sets_draw, set_action, NULL,      ss};
    return &ss->base;
}

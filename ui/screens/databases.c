/*
 * databases.c - the Databases screen: the databases server.databases matches now (dbglob),
 * in strcmp order (a tui_keys source); each row's figures (size, documents, NLO references,
 * the last backup, the WAL archive's size) are read when the row is first shown and kept.
 * Keys back up one database, restore it into a new name or over the live one, list the NLOs
 * it misses (Recovery).
 */
#include "screens.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive.h"
#include "catalog.h"
#include "dbglob.h"
#include "dbstats.h"
#include "fsb.h"
#include "recover.h"
#include "tui_vec.h"
#include "util.h"

struct dbscr {
    struct con_screen base; /* first */
    struct tui_list list;
    bool loaded;
};

struct dbcache {
    bool have;
    bool ok;
    struct dbstats st;
    char last[40];
    int last_elem;
    char archive[32]; /* bytes of its WAL archive on the target, "-" none, "?" unreadable */
};

struct dbsrc {
    struct console *c;
    char **paths; /* sorted (strcmp), NULL-terminated */
    size_t n;
    struct dbcache *cache; /* per path, filled when a row is first shown */
    struct fsb *troot;     /* the target (archive sizes), NULL when it cannot be opened */
};

static void db_fill_cache(struct dbsrc *d, size_t i)
{
    struct dbcache *k = &d->cache[i];
    k->have = true;
    k->ok = dbstats_read(d->c->cfg, d->paths[i], &k->st) == 0;
    struct archive_summary as;
    if (!d->troot || archive_summary_at(d->troot, d->paths[i], &as) != 0)
        snprintf(k->archive, sizeof k->archive, "?");
    else if (!as.segments)
        snprintf(k->archive, sizeof k->archive, "-");
    else
        dv_fmt_bytes(as.bytes, k->archive, sizeof k->archive);
    bool none;
    struct catalog *cat = con_catalog(d->c, &none);
    struct catalog_set s;
    int r = cat ? catalog_db_last_set(cat, d->paths[i], false, &s) : 0;
    k->last_elem = TH_TEXT;
    /* a later (partial) set that could not copy it: that is the news */
    struct catalog_set_failure fl;
    struct catalog_set fs;
    if (r >= 0 && cat && catalog_db_failure_latest(cat, d->paths[i], &fl) == 1 &&
        (r == 0 || fl.seq > s.seq) && catalog_set_get(cat, fl.set_id, &fs) == 1) {
        char when[32];
        time_t tt = (time_t)fs.started;
        struct tm tm;
        localtime_r(&tt, &tm);
        strftime(when, sizeof when, "%m-%d %H:%M", &tm);
        snprintf(k->last, sizeof k->last, "%s FAIL", when);
        k->last_elem = TH_WARNING;
    } else if (r == 1) {
        char when[32];
        time_t tt = (time_t)s.started;
        struct tm tm;
        localtime_r(&tt, &tm);
        strftime(when, sizeof when, "%m-%d %H:%M", &tm);
        snprintf(k->last, sizeof k->last, "%s %s", when,
                 catalog_set_usable(s.status)     ? "ok"
                 : s.status == CATALOG_SET_FAILED ? "FAIL"
                                                  : "run");
        if (s.status == CATALOG_SET_FAILED)
            k->last_elem = TH_WARNING;
    } else if (r == 0) {
        snprintf(k->last, sizeof k->last, "never");
        k->last_elem = TH_WARNING;
    } else {
        snprintf(k->last, sizeof k->last, "?");
    }
}

static void db_row(struct dbsrc *d, size_t i, struct tui_row *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", d->paths[i]);
    snprintf(r->cell[0], sizeof r->cell[0], "%s", d->paths[i]);
    r->elem = TH_TEXT;
    if (!d->cache[i].have) /* only rows on screen are read, once */
        db_fill_cache(d, i);
    const struct dbcache *k = &d->cache[i];
    if (!k->ok && k->st.size == 0) {
        snprintf(r->cell[1], sizeof r->cell[1], "gone");
        r->elem = TH_ERROR;
        return;
    }
    dv_fmt_bytes((uint64_t)k->st.size, r->cell[1], sizeof r->cell[1]);
    if (k->ok && k->st.has_schema) {
        snprintf(r->cell[2], sizeof r->cell[2], "%lld", (long long)k->st.documents);
        snprintf(r->cell[3], sizeof r->cell[3], "%lld", (long long)k->st.nlo_refs);
    } else {
        snprintf(r->cell[2], sizeof r->cell[2], k->ok ? "-" : "?");
        snprintf(r->cell[3], sizeof r->cell[3], k->ok ? "-" : "?");
    }
    snprintf(r->cell[4], sizeof r->cell[4], "%s", k->last);
    snprintf(r->cell[5], sizeof r->cell[5], "%s", k->archive);
    if (k->last_elem != TH_TEXT)
        r->elem = k->last_elem;
}

static void db_row_cb(void *ud, size_t i, struct tui_row *r)
{
    db_row(ud, i, r);
}

static void db_done(void *ud)
{
    struct dbsrc *d = ud;
    dbglob_free(d->paths);
    free(d->cache);
    fsb_close(d->troot);
    free(d);
}

/* A source over the databases matched now; NULL with dv_err() when data_dir is unreadable. */
static struct tui_source *db_source_new(struct console *c)
{
    struct dbsrc *d = dv_calloc(1, sizeof *d);
    if (dbglob_list(c->cfg, &d->paths, &d->n) != 0) {
        free(d);
        return NULL;
    }
    qsort(d->paths, d->n, sizeof(char *), con_cmp_str); /* the source order is strcmp order */
    d->c = c;
    d->cache = dv_calloc(d->n ? d->n : 1, sizeof *d->cache);
    d->troot = fsb_open(c->cfg->backup.target); /* NULL: the sizes show "?" */
    return tui_keys_new(d->paths, d->n, db_row_cb, db_done, d);
}

static const struct tui_column db_cols[] = {
    {"Database", 0, TUI_LEFT}, {"Size", 9, TUI_RIGHT},        {"Docs", 6, TUI_RIGHT},
    {"Refs", 5, TUI_RIGHT},    {"Last backup", 16, TUI_LEFT}, {"Archive", 9, TUI_RIGHT},
};
/* 80 columns and below: the names keep 40 columns without Docs and Refs; narrower still, the
 * Archive column goes too */
static const int db_narrow[] = {0, 0, -1, -1, 0, -2};

enum { DB_REFRESH = 1, DB_BACKUP, DB_RESTORE, DB_RESTORE_LIVE, DB_LISTNLO };

static const struct tui_key db_keys[] = {
    {{KEY_F(5)}, DB_REFRESH, "Refresh", "Find the databases again, read their figures again", NULL},
    {{KEY_F(2), 'b'}, DB_BACKUP, "Backup", "Back up the selected database now", NULL},
    {{KEY_F(6), 'r'},
     DB_RESTORE,
     "Restore",
     "Restore the selected database into a new name (choose the set)",
     NULL},
    {{'L'},
     DB_RESTORE_LIVE,
     NULL,
     "Restore the selected database OVER the live one (choose the set; type its name)",
     NULL},
    {{'m'}, DB_LISTNLO, NULL, "List the NLOs the selected database misses (Recovery screen)", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static void db_load(struct dbscr *ds, struct tui *t)
{
    struct tui_source *src = db_source_new(ds->base.c);
    if (!src) {
        char msg[DV_ERR_MAX];
        snprintf(msg, sizeof msg, "%s", dv_err());
        tui_list_set_source(&ds->list, NULL);
        snprintf(ds->list.err, sizeof ds->list.err, "%s", msg);
        if (t)
            tui_error(t, "Databases", msg);
        return;
    }
    char filter[128], cur[TUI_KEY_MAX] = "";
    snprintf(filter, sizeof filter, "%s", ds->list.filter);
    const struct tui_row *r = tui_list_current(&ds->list);
    if (r)
        snprintf(cur, sizeof cur, "%s", r->key);
    if (tui_list_set_source(&ds->list, src) != 0 && t)
        tui_error(t, "Databases", dv_err());
    if (filter[0])
        tui_list_set_filter(&ds->list, filter);
    if (cur[0])
        tui_list_goto(&ds->list, cur);
}

static void db_enter(struct tui_screen *s, struct tui *t)
{
    struct dbscr *ds = s->ud;
    if (!ds->loaded) {
        ds->loaded = true;
        db_load(ds, t);
    }
}

/* restore: a job over recover_restore (new replica ids unless over the live database; marks
 * the DAOS index NEEDS_RESYNC) */
static void db_restore(struct console *c, struct tui *t, const char *db, bool over_live)
{
    if (con_busy(t))
        return;
    char *into = NULL, *set = NULL, *typed = NULL;
    bool force = false;
    char q[2600];
    if (!over_live && !(into = con_ask_into(c, t, db, "Restore", &force))) {
        tui_msg(t, "restore cancelled");
        return;
    }
    if (over_live) { /* refused at once when another process has it open */
        struct recover_into_info ii;
        if (recover_into_check(c->cfg, db, db, &ii) != 0) {
            tui_error(t, "Restore over the live database", dv_err());
            return;
        }
        if (ii.in_use) {
            snprintf(q, sizeof q,
                     "%s is in use by pid %ld: a live database is never replaced while another "
                     "process has it open (its next commit would be lost). Stop the server's use "
                     "of it first.",
                     db, (long)ii.holder);
            tui_error(t, "Restore over the live database", q);
            return;
        }
    }
    set = con_pick_set(c, t, db,
                       over_live ? "Restore over the LIVE database from which set?"
                                 : "Restore from which set? (newest complete first)");
    if (!set) {
        tui_msg(t, "restore cancelled");
        goto out;
    }
    if (over_live) {
        /* not one keystroke: the database's name, typed */
        snprintf(q, sizeof q,
                 "Replace the LIVE database %s with its copy from set %s? Every change since that "
                 "backup is lost; the replica id stays. Type the database's name (%s) to go on:",
                 db, set, db);
        typed = tui_input(t, "Restore over the live database", q, "");
        if (!typed || strcmp(typed, db) != 0) {
            tui_msg(t, "restore cancelled%s",
                    typed && *typed ? ": the name typed is not the "
                                      "database's"
                                    : "");
            goto out;
        }
    }
    con_start_restore(c, t, db, set, over_live ? db : into, force, over_live, false);
out:
    free(typed);
    free(set);
    free(into);
}

static int db_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    (void)key;
    struct dbscr *ds = s->ud;
    struct console *c = ds->base.c;
    const struct tui_row *r = tui_list_current(&ds->list);
    switch (action) {
    case DB_REFRESH:
        db_load(ds, t);
        return TUI_REDRAW;
    case DB_BACKUP:
    case DB_RESTORE:
    case DB_RESTORE_LIVE:
    case DB_LISTNLO:
        if (!r) {
            tui_msg(t, "no database selected");
            return TUI_HANDLED;
        }
        char db[TUI_KEY_MAX];
        snprintf(db, sizeof db, "%s", r->key);
        if (action == DB_BACKUP)
            con_start_backup(c, t, db, false);
        else if (action == DB_RESTORE || action == DB_RESTORE_LIVE)
            db_restore(c, t, db, action == DB_RESTORE_LIVE);
        else if (!con_no_daos(c, t))
            con_start_listnlo(c, t, db);
        return TUI_REDRAW;
    }
    return TUI_IGNORED;
}

const char *databases_selected(struct console *c)
{
    struct dbscr *ds = (struct dbscr *)c->screen[CON_DATABASES];
    const struct tui_row *r = ds ? tui_list_current(&ds->list) : NULL;
    return r ? r->key : NULL;
}

static void db_job_done(struct con_screen *s)
{
    struct dbscr *ds = (struct dbscr *)s;
    if (ds->loaded)
        db_load(ds, NULL);
}

static void db_free(struct con_screen *s)
{
    struct dbscr *ds = (struct dbscr *)s;
    tui_list_done(&ds->list);
    free(ds);
}

struct con_screen *databases_new(struct console *c)
{
    struct dbscr *ds = dv_calloc(1, sizeof *ds);
    tui_list_init(&ds->list, db_cols, (int)(sizeof db_cols / sizeof db_cols[0]));
    ds->list.empty = "no databases match server.databases";
    ds->list.narrow = db_narrow;
    ds->base.c = c;
    ds->base.job_done = db_job_done;
    ds->base.free = db_free;
    ds->base.tui = (struct tui_screen){"Databases",   db_keys,   &ds->list, db_enter,
                                       con_list_draw, db_action, NULL,      ds};
    return &ds->base;
}

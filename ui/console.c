/*
 * console.c - the operator console: theme, screens and their key tables.
 *
 * Each screen is a struct tui_screen with its own key table (the function-key bar and the
 * help screen are generated from it). Screens whose data lives in the catalog or the store
 * are laid out with their columns and keys, and show "no data source yet" until the lead
 * sets their row source (search for "LEAD:").
 */
#include "console.h"

#include <curses.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "dbglob.h"
#include "theme.h"
#include "tui.h"
#include "tui_list.h"
#include "util.h"

bool console_job_running(void)
{
    return false; /* LEAD: true while the console's worker runs a job */
}

bool console_job_progress(struct dv_progress *out)
{
    (void)out; /* LEAD: job_snapshot() of the running job */
    return false;
}

struct console {
    struct dv_config *cfg;
    struct tui *tui;
    struct theme theme;
    char *themes_dir;
    /* overview */
    size_t ndb;
    bool ndb_ok;
    char ndb_err[256];
    /* lists */
    bool dbs_loaded;
    struct tui_list dbs, sets, objects, missing, jobs;
};

static int not_wired(struct tui *t, const char *what)
{
    tui_msg(t, "%s: not available yet", what);
    return TUI_HANDLED;
}

/* ---- Overview ---- */

/*
 * LEAD: slots of the Overview filled from the backend. Each is a short text; empty means
 * "not known" and shows as "-".
 */
struct overview_slots {
    char daos_state[64];  /* store: "SYNCHRONIZED" / "NEEDS_RESYNC" + object count */
    char last_backup[96]; /* catalog: newest set id, kind, age, status */
    char dedup[96];       /* catalog: bytes referenced vs bytes in the NLO pool */
    char warnings[4][160]; /* backend warnings (failed last run, index needs resync ...) */
    int nwarnings;
};

static void overview_fill_slots(struct console *c, struct overview_slots *s)
{
    (void)c;
    memset(s, 0, sizeof *s); /* LEAD: wire to store/catalog status calls */
}

static void overview_load(struct console *c)
{
    char **dbs = NULL;
    size_t n = 0;
    c->ndb_ok = dbglob_list(c->cfg, &dbs, &n) == 0;
    c->ndb = n;
    if (!c->ndb_ok)
        snprintf(c->ndb_err, sizeof c->ndb_err, "%s", dv_err());
    dbglob_free(dbs);
}

enum { OV_REFRESH = 1, OV_BACKUP };

static const struct tui_key overview_keys[] = {
    {{KEY_F(5), 'r'}, OV_REFRESH, "Refresh", "Read the status again", NULL},
    {{KEY_F(2), 'b'}, OV_BACKUP, "Backup", "Start a backup of all databases", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static void ov_line(int *y, int ymax, int x, int w, const char *label, const char *value,
                    enum theme_elem e)
{
    if (*y >= ymax)
        return;
    tui_put(*y, x + 2, 16, label, TH_TEXT, false);
    tui_put(*y, x + 18, w - 20, value && *value ? value : "-", value && *value ? e : TH_DIM,
            false);
    (*y)++;
}

static void ov_head(int *y, int ymax, int x, int w, const char *title)
{
    if (*y >= ymax)
        return;
    tui_put(*y, x, w, title, TH_HEADER, true);
    (*y)++;
}

static void overview_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    struct console *c = s->ud;
    struct dv_config *cfg = c->cfg;
    struct overview_slots sl;
    overview_fill_slots(c, &sl);
    int y = b.y, ymax = b.y + b.h;
    char buf[512];
    ov_head(&y, ymax, b.x, b.w, " Server");
    ov_line(&y, ymax, b.x, b.w, "config", cfg->path, TH_TEXT);
    ov_line(&y, ymax, b.x, b.w, "data dir", cfg->server.data_dir, TH_TEXT);
    if (c->ndb_ok)
        snprintf(buf, sizeof buf, "%zu", c->ndb);
    else
        snprintf(buf, sizeof buf, "unreadable: %s", c->ndb_err);
    ov_line(&y, ymax, b.x, b.w, "databases", buf, c->ndb_ok ? TH_TEXT : TH_ERROR);
    ov_line(&y, ymax, b.x, b.w, "DAOS dir", cfg->server.daos_dir, TH_TEXT);
    ov_line(&y, ymax, b.x, b.w, "DAOS index", sl.daos_state, TH_TEXT);
    ov_head(&y, ymax, b.x, b.w, " Backup");
    ov_line(&y, ymax, b.x, b.w, "target", cfg->backup.target, TH_TEXT);
    ov_line(&y, ymax, b.x, b.w, "catalog", cfg->catalog, TH_TEXT);
    ov_line(&y, ymax, b.x, b.w, "last backup", sl.last_backup, TH_TEXT);
    snprintf(buf, sizeof buf, "every %ld h, keep %ld sets / %ld days", cfg->backup.cycle_hours,
             cfg->backup.keep_sets, cfg->backup.keep_days);
    ov_line(&y, ymax, b.x, b.w, "schedule", buf, TH_TEXT);
    ov_line(&y, ymax, b.x, b.w, "dedup savings", sl.dedup, TH_TEXT);
    ov_head(&y, ymax, b.x, b.w, " Warnings");
    int nw = 0;
    long dd = cfg->server.deferred_deletion_days;
    if (dd * 24 < cfg->backup.cycle_hours) {
        snprintf(buf, sizeof buf,
                 "deferred deletion (%ld days) is shorter than the backup cycle (%ld h)", dd,
                 cfg->backup.cycle_hours);
        if (y < ymax)
            tui_put(y++, b.x + 2, b.w - 4, buf, TH_WARNING, false);
        nw++;
    }
    if (dd < cfg->backup.keep_days) {
        snprintf(buf, sizeof buf,
                 "deferred deletion (%ld days) is shorter than the retention (%ld days)", dd,
                 cfg->backup.keep_days);
        if (y < ymax)
            tui_put(y++, b.x + 2, b.w - 4, buf, TH_WARNING, false);
        nw++;
    }
    for (int i = 0; i < sl.nwarnings && y < ymax; i++, nw++)
        tui_put(y++, b.x + 2, b.w - 4, sl.warnings[i], TH_WARNING, false);
    if (nw == 0 && y < ymax)
        tui_put(y++, b.x + 2, b.w - 4, "none", TH_OK, false);
}

static int overview_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    struct console *c = s->ud;
    switch (action) {
    case OV_REFRESH:
        overview_load(c);
        if (!c->ndb_ok)
            tui_error(t, "Databases", c->ndb_err);
        return TUI_REDRAW;
    case OV_BACKUP:
        return not_wired(t, "backup");
    }
    return TUI_IGNORED;
}

/* ---- Databases: a row source over dbglob_list() ---- */

struct dbsrc {
    struct tui_source src;
    char **paths; /* sorted (strcmp), NULL-terminated */
    size_t n;
    char *data_dir;
    char filter[128];
};

static bool db_match(const struct dbsrc *d, size_t i, const char *text)
{
    return !text[0] || strcasestr(d->paths[i], text) != NULL;
}

/* First index with paths[i] >= key (strictly > when after). */
static size_t db_lower(const struct dbsrc *d, const char *key, bool after)
{
    size_t lo = 0, hi = d->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->paths[mid], key);
        if (c < 0 || (after && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void db_row(const struct dbsrc *d, size_t i, struct tui_row *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", d->paths[i]);
    snprintf(r->cell[0], sizeof r->cell[0], "%s", d->paths[i]);
    r->elem = TH_TEXT;
    char *abs = dv_path_join(d->data_dir, d->paths[i]);
    struct stat sb;
    if (stat(abs, &sb) == 0) { /* only rows on screen are stat'ed */
        dv_fmt_bytes((uint64_t)sb.st_size, r->cell[1], sizeof r->cell[1]);
        struct tm tm;
        localtime_r(&sb.st_mtime, &tm);
        strftime(r->cell[2], sizeof r->cell[2], "%Y-%m-%d %H:%M", &tm);
    } else {
        snprintf(r->cell[1], sizeof r->cell[1], "gone");
        r->elem = TH_ERROR;
    }
    free(abs);
}

static int db_fetch(struct tui_source *s, enum tui_fetch mode, const char *key,
                    struct tui_row *rows, int n)
{
    struct dbsrc *d = s->ud;
    int got = 0;
    if (mode == TUI_BEFORE) {
        size_t i = key ? db_lower(d, key, false) : d->n;
        while (i > 0 && got < n) {
            i--;
            if (db_match(d, i, d->filter))
                got++;
        }
        for (int k = 0; k < got; i++)
            if (db_match(d, i, d->filter))
                db_row(d, i, &rows[k++]);
        return got;
    }
    size_t i = key ? db_lower(d, key, mode == TUI_AFTER) : 0;
    for (; i < d->n && got < n; i++)
        if (db_match(d, i, d->filter))
            db_row(d, i, &rows[got++]);
    return got;
}

static int db_search(struct tui_source *s, const char *text, const char *from, int dir,
                     char found[TUI_KEY_MAX])
{
    struct dbsrc *d = s->ud;
    if (dir > 0) {
        for (size_t i = from ? db_lower(d, from, true) : 0; i < d->n; i++)
            if (db_match(d, i, d->filter) && db_match(d, i, text)) {
                snprintf(found, TUI_KEY_MAX, "%s", d->paths[i]);
                return 1;
            }
    } else {
        for (size_t i = from ? db_lower(d, from, false) : d->n; i > 0; i--)
            if (db_match(d, i - 1, d->filter) && db_match(d, i - 1, text)) {
                snprintf(found, TUI_KEY_MAX, "%s", d->paths[i - 1]);
                return 1;
            }
    }
    return 0;
}

static int db_filter(struct tui_source *s, const char *text)
{
    struct dbsrc *d = s->ud;
    snprintf(d->filter, sizeof d->filter, "%s", text);
    return 0;
}

static long db_count(struct tui_source *s)
{
    struct dbsrc *d = s->ud;
    return d->filter[0] ? -1 : (long)d->n;
}

static void db_free(struct tui_source *s)
{
    struct dbsrc *d = s->ud;
    dbglob_free(d->paths);
    free(d->data_dir);
    free(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A source over the databases matched now; NULL with dv_err() when data_dir is unreadable. */
static struct tui_source *db_source_new(const struct dv_config *cfg)
{
    struct dbsrc *d = dv_calloc(1, sizeof *d);
    if (dbglob_list(cfg, &d->paths, &d->n) != 0) {
        free(d);
        return NULL;
    }
    qsort(d->paths, d->n, sizeof(char *), cmp_str); /* the source order is strcmp order */
    d->data_dir = dv_strdup(cfg->server.data_dir);
    d->src = (struct tui_source){.fetch = db_fetch,
                                 .search = db_search,
                                 .filter = db_filter,
                                 .count = db_count,
                                 .free = db_free,
                                 .ud = d};
    return &d->src;
}

/* LEAD: more columns (documents, NLO refs, last backup) come from the catalog. */
static const struct tui_column db_cols[] = {
    {"Database", 0, TUI_LEFT},
    {"Size", 10, TUI_RIGHT},
    {"Modified", 16, TUI_LEFT},
};

enum { DB_REFRESH = 1, DB_BACKUP, DB_RESTORE, DB_LISTNLO };

static const struct tui_key db_keys[] = {
    {{KEY_F(5), 'r'}, DB_REFRESH, "Refresh", "Find the databases again", NULL},
    {{KEY_F(2), 'b'}, DB_BACKUP, "Backup", "Back up the selected database", NULL},
    {{KEY_F(6)}, DB_RESTORE, "Restore", "Restore the selected database into a new name", NULL},
    {{'m'}, DB_LISTNLO, NULL, "List the NLOs the selected database misses", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static void db_load(struct console *c, struct tui *t)
{
    struct tui_source *src = db_source_new(c->cfg);
    if (!src) {
        char msg[DV_ERR_MAX];
        snprintf(msg, sizeof msg, "%s", dv_err());
        tui_list_set_source(&c->dbs, NULL);
        snprintf(c->dbs.err, sizeof c->dbs.err, "%s", msg);
        if (t)
            tui_error(t, "Databases", msg);
        return;
    }
    char filter[128];
    snprintf(filter, sizeof filter, "%s", c->dbs.filter);
    if (tui_list_set_source(&c->dbs, src) != 0 && t)
        tui_error(t, "Databases", dv_err());
    if (filter[0])
        tui_list_set_filter(&c->dbs, filter);
}

static void db_enter(struct tui_screen *s, struct tui *t)
{
    struct console *c = s->ud;
    if (!c->dbs_loaded) {
        c->dbs_loaded = true;
        db_load(c, t);
    }
}

static void list_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    tui_list_draw(s->list, b);
}

static int db_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    struct console *c = s->ud;
    const struct tui_row *r = tui_list_current(&c->dbs);
    switch (action) {
    case DB_REFRESH:
        db_load(c, t);
        return TUI_REDRAW;
    case DB_BACKUP:
        return not_wired(t, "backup");
    case DB_RESTORE: {
        if (!r) {
            tui_msg(t, "no database selected");
            return TUI_HANDLED;
        }
        char *into = tui_input(t, "Restore", "Restore into (a new path under data_dir):", r->key);
        if (into) {
            not_wired(t, "restore");
            free(into);
        }
        return TUI_REDRAW;
    }
    case DB_LISTNLO:
        return not_wired(t, "listnlo");
    }
    return TUI_IGNORED;
}

/* ---- Sets, Objects, Recovery, Jobs: layouts waiting for their sources ---- */

/* LEAD: set c->sets' source to a catalog query (newest first: key = inverted set id). */
static const struct tui_column set_cols[] = {
    {"Set", 17, TUI_LEFT},   {"Kind", 11, TUI_LEFT},  {"DBs", 5, TUI_RIGHT},
    {"NLOs", 8, TUI_RIGHT},  {"Size", 10, TUI_RIGHT}, {"Status", 0, TUI_LEFT},
};

enum { SET_BACKUP = 1, SET_RESTORE, SET_VERIFY, SET_PRUNE, SET_OPEN };

static const struct tui_key set_keys[] = {
    {{KEY_F(2), 'b'}, SET_BACKUP, "Backup", "Start a backup (full or incremental)", NULL},
    {{KEY_F(6)}, SET_RESTORE, "Restore", "Restore a database of the selected set", NULL},
    {{KEY_F(7), 'v'}, SET_VERIFY, "Verify", "Verify the selected set against its manifest",
     NULL},
    {{KEY_F(8)}, SET_PRUNE, "Prune", "Prune sets beyond the retention (asks first)", NULL},
    {{'\n', KEY_ENTER}, SET_OPEN, NULL, "Show the selected set's databases", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static int set_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    struct console *c = s->ud;
    switch (action) {
    case SET_BACKUP:
        return not_wired(t, "backup");
    case SET_RESTORE:
    case SET_VERIFY:
    case SET_OPEN:
        if (!tui_list_current(&c->sets)) {
            tui_msg(t, "no set selected");
            return TUI_HANDLED;
        }
        return not_wired(t, action == SET_VERIFY ? "verify" : "restore");
    case SET_PRUNE: {
        char q[256];
        snprintf(q, sizeof q,
                 "Prune the backup sets beyond the retention (keep %ld sets, %ld days)? "
                 "Their copies and deltas are deleted from the target.",
                 c->cfg->backup.keep_sets, c->cfg->backup.keep_days);
        if (tui_confirm(t, "Prune", q))
            not_wired(t, "prune");
        else
            tui_msg(t, "prune cancelled");
        return TUI_REDRAW;
    }
    }
    return TUI_IGNORED;
}

/* LEAD: source over the NLO pool / live repository (key = NLO name). */
static const struct tui_column obj_cols[] = {
    {"NLO", 0, TUI_LEFT},
    {"Size", 10, TUI_RIGHT},
    {"Subdir", 6, TUI_LEFT},
    {"Refs", 6, TUI_RIGHT},
    {"Pool", 5, TUI_LEFT},
};

enum { OBJ_WHEREIS = 1 };

static const struct tui_key obj_keys[] = {
    {{'w', '\n', KEY_ENTER}, OBJ_WHEREIS, NULL,
     "Where is the selected NLO: databases referencing it, sets holding it", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static int obj_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    return action == OBJ_WHEREIS ? not_wired(t, "whereis") : TUI_IGNORED;
}

/* LEAD: source of `listnlo missing` for the chosen database (key = NLO name). */
static const struct tui_column miss_cols[] = {
    {"Missing NLO", 0, TUI_LEFT},
    {"Size", 10, TUI_RIGHT},
    {"In set", 17, TUI_LEFT},
};

enum { REC_DB = 1, REC_RECOVER, REC_SAVE, REC_LOAD, REC_DOC, REC_RESYNC };

static const struct tui_key rec_keys[] = {
    {{KEY_F(2), 'd'}, REC_DB, "Database", "Choose the database whose missing NLOs to list",
     NULL},
    {{KEY_F(7)}, REC_RECOVER, "Recover", "Copy the listed NLOs back from the pool (asks first)",
     NULL},
    {{'s'}, REC_SAVE, NULL, "Write the list to a file (one NLO name a line)", NULL},
    {{'l'}, REC_LOAD, NULL, "Read a list of NLO names from a file", NULL},
    {{'u'}, REC_DOC, NULL, "Single-document recovery (restore, find, copy back)", NULL},
    {{KEY_F(8)}, REC_RESYNC, "Resync", "Rebuild the DAOS index (asks first)", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static int rec_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    char *in;
    switch (action) {
    case REC_DB:
        in = tui_input(t, "Missing NLOs", "Database (relative to data_dir):", NULL);
        if (in)
            not_wired(t, "listnlo missing");
        free(in);
        return TUI_REDRAW;
    case REC_SAVE:
    case REC_LOAD:
        in = tui_input(t, action == REC_SAVE ? "Save list" : "Load list", "File:", NULL);
        if (in)
            not_wired(t, action == REC_SAVE ? "save list" : "load list");
        free(in);
        return TUI_REDRAW;
    case REC_RECOVER:
        if (tui_confirm(t, "Recover", "Copy the listed NLOs into the live DAOS repository?"))
            not_wired(t, "recover");
        return TUI_REDRAW;
    case REC_RESYNC:
        if (tui_confirm(t, "Resync", "Rebuild the server's DAOS index from the repository?"))
            not_wired(t, "resync");
        return TUI_REDRAW;
    case REC_DOC:
        return not_wired(t, "document recovery");
    }
    return TUI_IGNORED;
}

/* LEAD: source over the catalog's jobs (newest first) and their events. */
static const struct tui_column job_cols[] = {
    {"Job", 6, TUI_RIGHT},   {"Kind", 9, TUI_LEFT},   {"Started", 16, TUI_LEFT},
    {"Time", 8, TUI_RIGHT},  {"Result", 0, TUI_LEFT},
};

enum { JOB_CANCEL = 1 };

static const struct tui_key job_keys[] = {
    {{KEY_F(9)}, JOB_CANCEL, "Cancel", "Cancel the running job (asks first)", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static void jobs_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    struct console *c = s->ud;
    struct dv_progress p;
    if (console_job_progress(&p) && b.h > 8) {
        tui_progress_draw((struct tui_rect){b.y + 1, b.x + 2, 3, b.w - 4}, &p, dv_mono());
        b.y += 5;
        b.h -= 5;
    }
    tui_list_draw(&c->jobs, b);
}

static int jobs_tick(struct tui_screen *s, struct tui *t)
{
    struct dv_progress p;
    return console_job_progress(&p) ? TUI_REDRAW : 0;
}

static int job_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    if (action != JOB_CANCEL)
        return TUI_IGNORED;
    if (!console_job_running()) {
        tui_msg(t, "no job is running");
        return TUI_HANDLED;
    }
    if (tui_confirm(t, "Cancel", "Cancel the running job?"))
        not_wired(t, "cancel");
    return TUI_REDRAW;
}

/* ---- global keys of the console ---- */

enum { APP_THEME = 1 };

static const struct tui_key app_keys[] = {
    {{'t'}, APP_THEME, NULL, "Next colour theme (from the themes directory)", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static int app_action(struct tui *t, int action, int key, void *ud)
{
    struct console *c = ud;
    if (action != APP_THEME)
        return TUI_IGNORED;
    char **names = NULL;
    size_t n = 0;
    if (theme_list(c->themes_dir, &names, &n) != 0 || n == 0) {
        theme_list_free(names);
        tui_msg(t, "no themes in %s", c->themes_dir);
        return TUI_HANDLED;
    }
    size_t next = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], c->theme.name) == 0)
            next = (i + 1) % n;
    char *path = dv_path_join(c->themes_dir, names[next]);
    char *file = dv_asprintf("%s.yaml", path);
    struct theme th;
    if (theme_load(file, &th) != 0) {
        tui_error(t, "Theme", dv_err());
    } else {
        theme_done(&c->theme);
        c->theme = th;
        theme_use(&c->theme);
        tui_msg(t, "theme: %s%s", c->theme.name,
                theme_mode() == THEME_MONO ? " (this terminal shows no colours)" : "");
    }
    free(file);
    free(path);
    theme_list_free(names);
    return TUI_REDRAW;
}

int console_main(struct dv_config *cfg)
{
    struct console c;
    memset(&c, 0, sizeof c);
    c.cfg = cfg;
    c.themes_dir = theme_dir(cfg);
    const char *tname = cfg->console.theme && *cfg->console.theme ? cfg->console.theme : "default";
    char *tpath = theme_path(cfg, tname);
    int rc = theme_load(tpath, &c.theme);
    if (rc != 0 && (strcmp(tname, "default") == 0 || strcmp(tname, "default.yaml") == 0) &&
        access(tpath, F_OK) != 0) {
        theme_done(&c.theme); /* no themes installed: the default is built in */
        theme_builtin(&c.theme);
        rc = 0;
    }
    free(tpath);
    if (rc != 0) {
        fprintf(stderr, "%s\n", dv_err());
        theme_done(&c.theme);
        free(c.themes_dir);
        return DV_EXIT_USAGE;
    }

    tui_list_init(&c.dbs, db_cols, 3);
    c.dbs.empty = "no databases match server.databases";
    tui_list_init(&c.sets, set_cols, 6);
    tui_list_init(&c.objects, obj_cols, 5);
    tui_list_init(&c.missing, miss_cols, 3);
    tui_list_init(&c.jobs, job_cols, 5);
    overview_load(&c);

    struct tui_screen screens[] = {
        {"Overview", overview_keys, NULL, NULL, overview_draw, overview_action, NULL, &c},
        {"Databases", db_keys, &c.dbs, db_enter, list_draw, db_action, NULL, &c},
        {"Sets", set_keys, &c.sets, NULL, list_draw, set_action, NULL, &c},
        {"Objects", obj_keys, &c.objects, NULL, list_draw, obj_action, NULL, &c},
        {"Recovery", rec_keys, &c.missing, NULL, list_draw, rec_action, NULL, &c},
        {"Jobs", job_keys, &c.jobs, NULL, jobs_draw, job_action, jobs_tick, &c},
    };

    char *sub = dv_asprintf("server %s", cfg->server.data_dir);
    struct tui *t = tui_new(sub);
    free(sub);
    if (!t) {
        rc = cli_fail(DV_EXIT_FAIL, "%s", dv_err());
        goto out;
    }
    c.tui = t;
    theme_setup();
    theme_use(&c.theme);
    for (size_t i = 0; i < sizeof screens / sizeof screens[0]; i++)
        tui_add_screen(t, &screens[i]);
    tui_set_app_keys(t, app_keys, app_action, &c);
    tui_set_quit_check(t, console_job_running);
    if (!c.ndb_ok)
        tui_msg(t, "data dir: %s", c.ndb_err);
    int sig = tui_run(t);
    tui_free(t);
    rc = sig ? 128 + sig : DV_EXIT_OK;
out:
    tui_list_done(&c.dbs);
    tui_list_done(&c.sets);
    tui_list_done(&c.objects);
    tui_list_done(&c.missing);
    tui_list_done(&c.jobs);
    theme_done(&c.theme);
    free(c.themes_dir);
    return rc;
}

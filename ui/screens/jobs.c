/*
 * jobs.c - the Jobs screen: the running job (progress, cancel), past jobs from the catalog
 * (newest first; Enter shows a job's events) and the events of this console session.
 */
#include "screens.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "conjob.h"
#include "tui_vec.h"
#include "util.h"

struct jobscr {
    struct con_screen base; /* first */
    struct tui_list list;
    bool loaded;
};

static void src_free(struct tui_source *s)
{
    free(s);
}

static void job_row(const struct catalog_job *j, struct tui_row *r)
{
    memset(r, 0, sizeof *r);
    con_seq_key(j->id, r->key);
    snprintf(r->cell[0], sizeof r->cell[0], "%lld", (long long)j->id);
    snprintf(r->cell[1], sizeof r->cell[1], "%s", j->kind);
    char when[32];
    dv_fmt_time(j->started, when, sizeof when);
    when[16] = 0;
    snprintf(r->cell[2], sizeof r->cell[2], "%s", when);
    if (j->ended > 0) {
        long d = (long)(j->ended - j->started);
        snprintf(r->cell[3], sizeof r->cell[3], "%ld:%02ld", d / 60, d % 60);
    } else {
        snprintf(r->cell[3], sizeof r->cell[3], "-");
    }
    snprintf(r->cell[4], sizeof r->cell[4], "%s%s%.200s", j->status, j->message[0] ? ": " : "",
             j->message);
    r->elem = strcmp(j->status, "ok") == 0        ? TH_TEXT
              : strcmp(j->status, "running") == 0 ? TH_PROGRESS
                                                  : TH_ERROR;
}

static int jobs_fetch(struct tui_source *src, enum tui_fetch mode, const char *key,
                      struct tui_row *rows, int n)
{
    struct console *c = src->ud;
    bool none;
    struct catalog *cat = con_catalog(c, &none);
    if (!cat)
        return none ? 0 : -1;
    struct catalog_job *buf = dv_calloc((size_t)n, sizeof *buf);
    size_t k = 0;
    int rc;
    if (mode == TUI_BEFORE) {
        rc = catalog_jobs_page(cat, key ? con_key_seq(key) : 0, true, buf, (size_t)n, &k);
        for (size_t i = 0; rc == 0 && i < k; i++)
            job_row(&buf[k - 1 - i], &rows[i]);
    } else {
        int64_t id = !key ? 0 : mode == TUI_FROM ? con_key_seq(key) + 1 : con_key_seq(key);
        rc = key && id <= 0 ? 0 : catalog_jobs_page(cat, id, false, buf, (size_t)n, &k);
        for (size_t i = 0; rc == 0 && i < k; i++)
            job_row(&buf[i], &rows[i]);
    }
    free(buf);
    return rc == 0 ? (int)k : -1;
}

static struct tui_source *jobs_source_new(struct console *c)
{
    struct tui_source *s = dv_calloc(1, sizeof *s);
    *s = (struct tui_source){.fetch = jobs_fetch, .free = src_free, .ud = c};
    return tui_sortable_new(s, 5, 0, true); /* newest first; other orders sorted in memory */
}

static const struct tui_column job_cols[] = {
    {"Job", 6, TUI_RIGHT},  {"Kind", 9, TUI_LEFT},   {"Started", 16, TUI_LEFT},
    {"Time", 6, TUI_RIGHT}, {"Result", 0, TUI_LEFT},
};

enum { JOB_CANCEL = 1, JOB_EVENTS, JOB_REFRESH };

static const struct tui_key job_keys[] = {
    {{KEY_F(9), 'c'}, JOB_CANCEL, "Cancel", "Cancel the running job (asks first)", NULL},
    {{'\n', KEY_ENTER, 'v'},
     JOB_EVENTS,
     NULL,
     "View the selected job whole: its full result and its events, wrapped (nothing cut)",
     NULL},
    {{KEY_F(5)}, JOB_REFRESH, "Refresh", "Read the jobs again", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static void jobs_load(struct jobscr *j, struct tui *t)
{
    if (tui_list_set_source(&j->list, jobs_source_new(j->base.c)) != 0 && t)
        tui_error(t, "Jobs", dv_err());
}

static void jobs_enter(struct tui_screen *s, struct tui *t)
{
    struct jobscr *j = s->ud;
    if (!j->loaded) {
        j->loaded = true;
        jobs_load(j, t);
    }
}

static void jobs_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    struct jobscr *j = s->ud;
    struct dv_progress p;
    char title[128], line[200];
    int y = b.y;
    if (conjob_snapshot(&p, title, sizeof title)) {
        snprintf(line, sizeof line, " running: %s%s", title,
                 conjob_finished() ? " (finishing)" : "   c: cancel");
        tui_put(y++, b.x, b.w, line, TH_HEADER, true);
        if (b.h > 10) {
            tui_progress_draw((struct tui_rect){y, b.x + 2, 3, b.w - 4}, &p, dv_mono());
            y += 3;
        } else {
            tui_progress_text(&p, dv_mono(), line, sizeof line);
            tui_put(y++, b.x + 2, b.w - 4, line, TH_TEXT, false);
        }
    } else {
        tui_put(y++, b.x, b.w, " no job running (F2 on Overview or Sets starts a backup)", TH_DIM,
                true);
    }
    if (tui_list_current(&j->list))
        tui_hint(t, "Enter or v: the selected job whole (its result and events, wrapped); "
                    "M: the last messages");
    int rest = b.y + b.h - y;
    int evh = rest >= 14 ? rest / 3 : rest >= 8 ? 3 : 0;
    tui_list_draw(&j->list, (struct tui_rect){y, b.x, rest - evh, b.w});
    if (evh > 1) {
        int ey = y + rest - evh;
        tui_put(ey++, b.x, b.w, " Events of this session", TH_HEADER, true);
        struct conjob_event ev[64];
        size_t n = conjob_events(ev, (size_t)(evh - 1) < 64 ? (size_t)(evh - 1) : 64, NULL);
        for (size_t i = 0; i < n; i++) {
            char when[32];
            dv_fmt_time(ev[i].time, when, sizeof when);
            snprintf(line, sizeof line, " %s %s", when + 11, ev[i].msg);
            tui_put(ey++, b.x, b.w, line,
                    ev[i].level == DV_ERROR  ? TH_ERROR
                    : ev[i].level == DV_WARN ? TH_WARNING
                                             : TH_TEXT,
                    true);
        }
    }
}

static int jobs_tick(struct tui_screen *s, struct tui *t)
{
    (void)s;
    (void)t;
    return conjob_running() ? TUI_REDRAW : 0;
}

/* The job's row again (the list holds its cells cut to TUI_CELL_MAX): 1 found, 0, -1. */
static int job_get(struct catalog *cat, int64_t id, struct catalog_job *j)
{
    size_t k = 0;
    if (catalog_jobs_page(cat, id + 1, false, j, 1, &k) != 0)
        return -1;
    return k == 1 && j->id == id;
}

/* Enter / v: the job whole, its result unwrapped from the list's column, then its events. */
static void job_events(struct console *c, struct tui *t, int64_t id)
{
    bool none;
    struct catalog *cat = con_catalog(c, &none);
    struct catalog_job j;
    int g = cat ? job_get(cat, id, &j) : -1;
    if (g <= 0) {
        tui_error(t, "Jobs", g < 0 ? dv_err() : "the job is gone from the catalog");
        return;
    }
    struct strv l = {0};
    char a[32], b[32] = "-";
    dv_fmt_time(j.started, a, sizeof a);
    if (j.ended > 0)
        dv_fmt_time(j.ended, b, sizeof b);
    strv_add(&l, dv_asprintf(" %s job, started %s, ended %s", j.kind, a, b));
    strv_add(&l, dv_asprintf(" Result: %s%s%s", j.status, j.message[0] ? ": " : "", j.message));
    strv_add(&l, dv_strdup(""));
    strv_add(&l, dv_strdup(" Events:"));
    size_t head = l.n;
    struct catalog_event ev[128];
    int64_t after = 0;
    size_t n;
    do {
        if (catalog_events_page(cat, id, after, ev, 128, &n) != 0) {
            tui_error(t, "Jobs", dv_err());
            strv_free(&l);
            return;
        }
        for (size_t i = 0; i < n; i++) {
            char when[32];
            dv_fmt_time(ev[i].time, when, sizeof when);
            strv_add(&l, dv_asprintf(" %s %-5s %s", when,
                                     ev[i].level == 2   ? "ERROR"
                                     : ev[i].level == 1 ? "warn"
                                                        : "info",
                                     ev[i].message));
        }
        if (n)
            after = ev[n - 1].id;
    } while (n == 128 && l.n < 100000);
    if (l.n == head)
        strv_add(&l, dv_strdup(" (none)"));
    char title[96];
    snprintf(title, sizeof title, "Job %lld: %s, %s", (long long)id, j.kind, j.status);
    tui_view(t, title, NULL, l.v, (int)l.n, 0, false);
    strv_free(&l);
}

static int job_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    (void)key;
    struct jobscr *j = s->ud;
    const struct tui_row *r = tui_list_current(&j->list);
    switch (action) {
    case JOB_CANCEL:
        if (!conjob_running()) {
            tui_msg(t, "no job is running");
            return TUI_HANDLED;
        }
        if (tui_confirm(t, "Cancel", "Cancel the running job?")) {
            conjob_cancel();
            tui_msg(t, "cancel requested: the job stops at its next check");
        }
        return TUI_REDRAW;
    case JOB_EVENTS:
        if (!r) {
            tui_msg(t, "no job selected");
            return TUI_HANDLED;
        }
        job_events(j->base.c, t, con_key_seq(r->key));
        return TUI_REDRAW;
    case JOB_REFRESH:
        jobs_load(j, t);
        return TUI_REDRAW;
    }
    return TUI_IGNORED;
}

static void jobs_job_done(struct con_screen *s)
{
    struct jobscr *j = (struct jobscr *)s;
    if (j->loaded)
        jobs_load(j, NULL);
}

static void jobs_free(struct con_screen *s)
{
    struct jobscr *j = (struct jobscr *)s;
    tui_list_done(&j->list);
    free(j);
}

struct con_screen *jobs_new(struct console *c)
{
    struct jobscr *j = dv_calloc(1, sizeof *j);
    tui_list_init(&j->list, job_cols, 5);
    j->list.natural_desc = true; /* newest first */
    j->list.empty = "no jobs yet";
    j->base.c = c;
    j->base.job_done = jobs_job_done;
    j->base.free = jobs_free;
    j->base.tui = (struct tui_screen){"Jobs",    job_keys,   &j->list,  jobs_enter,
                                      jobs_draw, job_action, jobs_tick, j};
    return &j->base;
}

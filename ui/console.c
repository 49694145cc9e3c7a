/*
 * console.c - the operator console: the handles, the global keys and the main loop.
 *
 * The screens live in ui/screens/, one file each (overview, databases, sets, objects,
 * recovery, jobs, restored), each with its own state behind the tui_screen vtable; the job adapters
 * they start are in ui/screens/actions.c; what they share with this file is in
 * ui/screens/screens.h. This file loads the theme, keeps the console thread's catalog and
 * store handles (opened lazily for the lists, closed after each job: jobs open their own),
 * collects a finished job (its message, the view it left, the screens read again) and
 * handles the global keys (`t`: next theme) around tui_run.
 */
#include "console.h"
#include "screens/screens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "cli.h"
#include "conjob.h"
#include "store.h"
#include "theme.h"
#include "tui.h"
#include "tui_list.h"
#include "util.h"

bool console_job_running(void)
{
    return conjob_running();
}

/* The quit check of tui (q, F10, ^C, SIGINT): the running job's title, or NULL. A job that
 * has ended (its result waiting for a dialog to close) needs no question. */
static const char *con_quit_busy(void)
{
    static char title[128];
    struct dv_progress p;
    if (!conjob_running() || conjob_finished() || !conjob_snapshot(&p, title, sizeof title))
        return NULL;
    return title;
}

bool console_job_progress(struct dv_progress *out)
{
    return conjob_snapshot(out, NULL, 0);
}

void strv_add(struct strv *s, char *str) /* takes str */
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = dv_realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = str;
}

void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

void con_post(struct console *c, struct strv *lines, const char *title)
{
    if (c->post_lines) {
        strv_free(c->post_lines);
        free(c->post_lines);
    }
    c->post_lines = lines;
    snprintf(c->post_title, sizeof c->post_title, "%s", title);
}

/* ---- handles of the console thread ---- */

/* The catalog, opened when its file exists. NULL with *none = true when there is no catalog
 * yet (no backup has run), NULL with *none = false and dv_err() on a real error. */
struct catalog *con_catalog(struct console *c, bool *none)
{
    *none = false;
    if (c->cat)
        return c->cat;
    c->cat = catalog_open_existing(c->cfg->catalog, none);
    return c->cat;
}

struct dv_store *con_store(struct console *c)
{
    struct stat sb;
    if (!c->st && stat(c->cfg->server.data_dir, &sb) != 0) { /* never create the server's dir */
        dv_syserr("%s", c->cfg->server.data_dir);
        return NULL;
    }
    if (!c->st)
        c->st = store_open(c->cfg);
    return c->st;
}

/* A server without DAOS: an NLO action says so (on the message line) and does nothing. */
bool con_no_daos(struct console *c, struct tui *t)
{
    if (dv_config_has_daos(c->cfg))
        return false;
    if (t)
        tui_msg(t, "%s (server.daos_dir is not set): no NLOs here", DV_NO_DAOS);
    return true;
}

static void con_close_handles(struct console *c)
{
    catalog_close(c->cat);
    c->cat = NULL;
    store_free(c->st);
    c->st = NULL;
}

/* ---- small helpers the screens share ---- */

int con_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void con_list_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    (void)t;
    tui_list_draw(s->list, b);
}

void con_seq_key(int64_t seq, char key[TUI_KEY_MAX])
{
    snprintf(key, TUI_KEY_MAX, "%019lld", (long long)(INT64_MAX - seq));
}

int64_t con_key_seq(const char *key)
{
    return INT64_MAX - strtoll(key, NULL, 10);
}

/* ---- the job runner's end: collect, report, refresh what the job changed ---- */

static int app_tick(struct tui *t, void *ud)
{
    struct console *c = ud;
    if (!conjob_finished() || tui_in_modal(t))
        return 0; /* a result waits until dialogs are closed */
    struct conjob_result r;
    if (!conjob_collect(&r))
        return 0;
    con_close_handles(c); /* the job may have created the catalog or changed the index */
    for (int i = 0; i < CON_NSCREENS; i++)
        if (c->screen[i] && c->screen[i]->job_done)
            c->screen[i]->job_done(c->screen[i]);
    if (r.rc != 0) {
        char m[DV_ERR_MAX + 256];
        snprintf(m, sizeof m, "%s %s: %s", r.title, r.cancelled ? "cancelled" : "failed", r.error);
        tui_msg(t, "%s", m); /* the reason too: M shows it whole after the dialog */
        tui_error(t, r.cancelled ? "Job cancelled" : "Job failed", m);
    } else {
        tui_msg(t, "%s done%s%s", r.title, r.summary[0] ? ": " : "", r.summary);
    }
    if (c->post_lines) { /* what the job left to read: per-NLO results, verify problems */
        struct strv *l = c->post_lines;
        c->post_lines = NULL;
        tui_view(t, c->post_title, NULL, l->v, (int)l->n, 0, false);
        strv_free(l);
        free(l);
    }
    if (c->post_resync[0] && r.rc == 0) { /* asked once a session; then only said */
        char why[800];
        snprintf(why, sizeof why, "%s", c->post_resync);
        c->post_resync[0] = 0;
        if (c->resync_declined)
            tui_msg(t, "F8 resyncs the DAOS index (not asked again this session): %s", why);
        else if (!con_start_resync(c, t,
                                   strcat(why, " (No: not asked again this session; F8 resyncs.)")))
            c->resync_declined = true;
    }
    c->post_resync[0] = 0;
    if (c->post_fn) { /* e.g. the question after a preview (it may start the next job) */
        void (*fn)(struct console *, struct tui *, void *) = c->post_fn;
        void *arg = c->post_arg;
        c->post_fn = NULL;
        c->post_arg = NULL;
        fn(c, t, arg);
    }
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

/* ---- leaving ---- */

enum { CON_STOP_WAIT = 30 }; /* seconds a running job gets to stop when the console leaves */

/*
 * The console leaves: the operator quit (sig 0; a running job was asked about and is to be
 * cancelled) or SIGTERM/SIGHUP arrived (no one to ask: the terminal may be gone). A running job
 * is cancelled and waited for (at most CON_STOP_WAIT seconds), the terminal still showing
 * why. Returns the exit code: 128 + sig for a signal; 1 when a job was cancelled (or did not
 * stop); else 0. msg gets the line for stderr (empty: none), printed after the terminal is
 * restored. *abandoned: the job did not stop (the process must not free what it uses).
 */
static int con_leave(struct tui *t, int sig, char *msg, size_t n, bool *abandoned)
{
    msg[0] = 0;
    *abandoned = false;
    const char *why = sig ? "terminated" : "quit";
    const char *job = con_quit_busy();
    if (job)
        tui_status_now(t, "%s: cancelling %s (waiting at most %d s for it to stop)", why, job,
                       CON_STOP_WAIT);
    struct conjob_result r;
    int st = conjob_stop(CON_STOP_WAIT, &r);
    if (st > 0)
        snprintf(msg, n, "%s: job %s cancelled", why, r.title);
    else if (st < 0)
        snprintf(msg, n, "%s: job %s did not stop within %d s: left unfinished", why, r.title,
                 CON_STOP_WAIT);
    *abandoned = st < 0;
    if (sig)
        return 128 + sig;
    return st != 0 ? DV_EXIT_FAIL : DV_EXIT_OK;
}

/* The tabs, in order (enum CON_*). */
static struct con_screen *(*const screen_new[CON_NSCREENS])(struct console *c) = {
    overview_new, databases_new, sets_new, objects_new, recovery_new, jobs_new, restored_new,
};

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

    for (int i = 0; i < CON_NSCREENS; i++)
        c.screen[i] = screen_new[i](&c);

    char *sub = dv_asprintf("server %s", cfg->server.data_dir);
    struct tui *t = tui_new(sub);
    free(sub);
    if (!t) { /* not a terminal, or one without cursor addressing (TERM=dumb) */
        rc = cli_fail(DV_EXIT_USAGE, "%s", dv_err());
        goto out;
    }
    c.tui = t;
    theme_setup();
    theme_use(&c.theme);
    for (int i = 0; i < CON_NSCREENS; i++)
        tui_add_screen(t, &c.screen[i]->tui);
    tui_set_app_keys(t, app_keys, app_action, &c);
    tui_set_quit_check(t, con_quit_busy);
    tui_set_app_tick(t, app_tick, &c);
    int sig = tui_run(t);
    char msg[300];
    bool abandoned;
    rc = con_leave(t, sig, msg, sizeof msg, &abandoned);
    tui_free(t);
    if (msg[0])
        cli_fail(rc, "%s", msg);
    if (abandoned) { /* its worker still uses the configuration and the screens: no cleanup */
        fflush(NULL);
        _exit(rc);
    }
out:
    for (int i = 0; i < CON_NSCREENS; i++)
        c.screen[i]->free(c.screen[i]);
    if (c.post_lines) {
        strv_free(c.post_lines);
        free(c.post_lines);
    }
    con_close_handles(&c);
    theme_done(&c.theme);
    free(c.themes_dir);
    return rc;
}

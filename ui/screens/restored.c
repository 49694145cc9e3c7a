/*
 * restored.c - the Restored screen (the last tab): the copies in the restore folder
 * (backend/restored.h), oldest first, with their age, the database they are a copy of and
 * the set; d / F8 deletes one (asks first, default No), Enter opens it in Recovery (its
 * documents, as after a restore), F5 reads the folder again.
 */
#include "screens.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restored.h"
#include "tui_vec.h"
#include "util.h"

struct rdscr {
    struct con_screen base; /* first */
    struct tui_list list;
    bool loaded;
    struct restored_copy *v; /* what the list shows (row tag: the index in v) */
    size_t n;
};

static const struct tui_column rd_cols[] = {
    {"Name", 0, TUI_LEFT}, {"Age", 8, TUI_RIGHT},  {"Origin database", 22, TUI_LEFT},
    {"Set", 17, TUI_LEFT}, {"Size", 9, TUI_RIGHT},
};

enum { RD_REFRESH = 1, RD_DELETE, RD_OPEN };

static const struct tui_key rd_keys[] = {
    {{KEY_F(5)}, RD_REFRESH, "Refresh", "Read the restore folder again", NULL},
    {{KEY_F(8), 'd', KEY_DC},
     RD_DELETE,
     "Delete",
     "Delete the selected restored copy (and its -wal, -shm); asks first",
     NULL},
    {{TUI_KEY_ENTER, KEY_ENTER},
     RD_OPEN,
     NULL,
     "Open the selected copy in Recovery (its documents, to copy one back)",
     NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static void rd_load(struct rdscr *rs, struct tui *t)
{
    struct restored_copy *v = NULL;
    size_t n = 0;
    if (restored_list(rs->base.c->cfg, 0, &v, &n) != 0) {
        char msg[DV_ERR_MAX];
        snprintf(msg, sizeof msg, "%s", dv_err());
        tui_list_set_source(&rs->list, NULL);
        snprintf(rs->list.err, sizeof rs->list.err, "%s", msg);
        if (t)
            tui_error(t, "Restored", msg);
        return;
    }
    free(rs->v);
    rs->v = v;
    rs->n = n;
    struct tui_source *src = tui_vec_new(5);
    for (size_t i = 0; i < n; i++) {
        char age[32], sz[32], tag[32];
        restored_fmt_age(v[i].age, age, sizeof age);
        dv_fmt_bytes(v[i].size, sz, sizeof sz);
        snprintf(tag, sizeof tag, "%zu", i);
        const char *cells[] = {v[i].rel, age, v[i].origin[0] ? v[i].origin : "?",
                               v[i].set_id[0] ? v[i].set_id : "?", sz};
        tui_vec_add(src, v[i].expired ? TH_DIM : TH_TEXT, tag, cells);
    }
    char filter[128];
    snprintf(filter, sizeof filter, "%s", rs->list.filter);
    if (tui_list_set_source(&rs->list, src) != 0 && t)
        tui_error(t, "Restored", dv_err());
    if (filter[0])
        tui_list_set_filter(&rs->list, filter);
}

static void rd_enter(struct tui_screen *s, struct tui *t)
{
    struct rdscr *rs = s->ud;
    if (!rs->loaded) {
        rs->loaded = true;
        rd_load(rs, t);
    }
}

static void rd_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    struct rdscr *rs = s->ud;
    con_list_draw(s, t, b);
    long days = rs->base.c->cfg->restore.retention_days;
    if (days)
        tui_hint(t, "%s: copies older than %ld days (dim) go at the next prune",
                 rs->base.c->cfg->restore.rel, days);
    else
        tui_hint(t, "%s: restored copies are kept until deleted (retention_days 0)",
                 rs->base.c->cfg->restore.rel);
}

/* The copy under the cursor, or NULL (said so). */
static const struct restored_copy *rd_selected(struct rdscr *rs, struct tui *t)
{
    const struct tui_row *r = tui_list_current(&rs->list);
    const char *tag = r && rs->list.src ? tui_vec_tag(rs->list.src, r->key) : NULL;
    size_t i = tag ? (size_t)strtoul(tag, NULL, 10) : rs->n;
    if (i >= rs->n) {
        tui_msg(t, "no restored copy selected");
        return NULL;
    }
    return &rs->v[i];
}

static void rd_delete(struct rdscr *rs, struct tui *t, const struct restored_copy *cp)
{
    char q[2600], age[32], path[4096];
    restored_fmt_age(cp->age, age, sizeof age);
    snprintf(q, sizeof q,
             "Delete the restored copy %.1200s (a copy of %.1000s from set %s, restored %s ago)? "
             "It is not in any backup: it is gone for good.",
             cp->rel, cp->origin[0] ? cp->origin : "?", cp->set_id[0] ? cp->set_id : "?", age);
    snprintf(path, sizeof path, "%s", cp->path);
    if (!tui_confirm(t, "Delete a restored copy", q)) {
        tui_msg(t, "delete cancelled");
        return;
    }
    if (restored_delete(rs->base.c->cfg, path, NULL) != 0) {
        tui_error(t, "Delete a restored copy", dv_err());
    } else {
        const char *b = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
        tui_msg(t, "deleted %s", b);
    }
    rd_load(rs, t);
}

static int rd_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    (void)key;
    struct rdscr *rs = s->ud;
    const struct restored_copy *cp;
    switch (action) {
    case RD_REFRESH:
        rd_load(rs, t);
        return TUI_REDRAW;
    case RD_DELETE:
        if ((cp = rd_selected(rs, t)) != NULL)
            rd_delete(rs, t, cp);
        return TUI_REDRAW;
    case RD_OPEN:
        if (!(cp = rd_selected(rs, t)))
            return TUI_HANDLED;
        if (!cp->origin[0]) {
            tui_msg(t, "%s records no origin database: not a copy dvault restored", cp->rel);
            return TUI_HANDLED;
        }
        char *rel = dv_asprintf("%s/%s", rs->base.c->cfg->restore.rel, cp->rel);
        recovery_restored(rs->base.c, true, cp->origin, cp->set_id, rel, "");
        free(rel);
        return TUI_REDRAW;
    }
    return TUI_IGNORED;
}

static void rd_job_done(struct con_screen *s)
{
    struct rdscr *rs = (struct rdscr *)s;
    if (rs->loaded)
        rd_load(rs, NULL);
}

static void rd_free(struct con_screen *s)
{
    struct rdscr *rs = (struct rdscr *)s;
    tui_list_done(&rs->list);
    free(rs->v);
    free(rs);
}

struct con_screen *restored_new(struct console *c)
{
    struct rdscr *rs = dv_calloc(1, sizeof *rs);
    tui_list_init(&rs->list, rd_cols, (int)(sizeof rd_cols / sizeof rd_cols[0]));
    rs->list.empty = "no restored copies (dvault restore without --into, or Databases r, puts "
                     "them here)";
    rs->base.c = c;
    rs->base.job_done = rd_job_done;
    rs->base.free = rd_free;
    rs->base.tui =
        (struct tui_screen){"Restored", rd_keys, &rs->list, rd_enter, rd_draw, rd_action, NULL, rs};
    return &rs->base;
}

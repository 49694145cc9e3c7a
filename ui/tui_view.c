/*
 * tui_view.c - a modal scrolling view of text lines, optionally a picker (see tui.h). A
 * plain view wraps its lines to the box's width (again after a resize) and scrolls the
 * wrapped lines; a picker moves a cursor over the lines as given.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "util.h"

struct view {
    struct tui_modal m;
    const char *title, *header, *foot;
    char *const *lines;
    int n, cursor, top, page;
    bool pick;
    int result;
    /* a plain view: the lines wrapped to width ww; initial: the line to show at the top on
     * the first draw (then -1) */
    struct tui_lines wl;
    int *owner; /* owner[k]: the line wrapped line k belongs to */
    int ww, initial;
};

static int leading_spaces(const char *s)
{
    int k = 0;
    while (s[k] == ' ')
        k++;
    return k;
}

/* Wrap the lines to w columns (again when the width changed): the top stays on the line it
 * was in (or goes to the line initial on the first draw). */
static void view_wrap(struct view *v, int w)
{
    if (v->pick || w == v->ww)
        return;
    int logical = v->initial >= 0 ? v->initial : v->top < v->wl.n ? v->owner[v->top] : 0;
    tui_lines_free(&v->wl);
    free(v->owner);
    v->owner = NULL;
    v->top = 0;
    for (int i = 0; i < v->n; i++) {
        int from = v->wl.n;
        if (i == logical)
            v->top = from;
        tui_wrap(v->lines[i], w, leading_spaces(v->lines[i]) + 2, &v->wl);
        v->owner = dv_realloc(v->owner, (size_t)(v->wl.n + 1) * sizeof *v->owner);
        for (int k = from; k < v->wl.n; k++)
            v->owner[k] = i;
    }
    v->ww = w;
    v->initial = -1;
}

static void view_clamp(struct view *v)
{
    if (v->pick) {
        int last = v->n > 0 ? v->n - 1 : 0;
        if (v->cursor > last)
            v->cursor = last;
        if (v->cursor < 0)
            v->cursor = 0;
        if (v->cursor < v->top)
            v->top = v->cursor;
        if (v->cursor >= v->top + v->page)
            v->top = v->cursor - v->page + 1;
        return;
    }
    if (v->top > v->wl.n - v->page)
        v->top = v->wl.n - v->page;
    if (v->top < 0)
        v->top = 0;
}

static void view_draw(struct tui_modal *m, struct tui *t)
{
    (void)t;
    struct view *v = (struct view *)m;
    int w = COLS - 4 > 110 ? 110 : COLS - 4;
    int h = LINES - 4;
    struct tui_rect r = {2, (COLS - w) / 2, h, w};
    tui_fill(r, TH_DIALOG);
    tui_box(r, TH_DIALOG, NULL);
    char tb[160];
    snprintf(tb, sizeof tb, " %s ", v->title);
    tui_put(r.y, r.x + 2, r.w - 4, tb, TH_DIALOG_TITLE, false);
    int y = r.y + 1;
    if (v->header) {
        tui_put(y++, r.x + 1, r.w - 2, v->header, TH_HEADER, true);
    }
    int rows = r.y + r.h - 2 - y;
    v->page = rows > 1 ? rows : 1;
    view_wrap(v, r.w - 2);
    view_clamp(v);
    int n = v->pick ? v->n : v->wl.n;
    char *const *lines = v->pick ? v->lines : v->wl.v;
    if (n == 0)
        tui_put(y, r.x + 2, r.w - 4, "(nothing)", TH_DIM, false);
    for (int i = 0; i < v->page && v->top + i < n; i++) {
        int k = v->top + i;
        enum theme_elem e = v->pick && k == v->cursor ? TH_SELECTED : TH_DIALOG;
        tui_put(y + i, r.x + 1, r.w - 2, lines[k], e, true);
    }
    char f[160];
    if (v->pick)
        snprintf(f, sizeof f, " %s%d/%d ", v->foot, v->n ? v->cursor + 1 : 0, v->n);
    else
        snprintf(f, sizeof f, " %slines %d-%d of %d ", v->foot, n ? v->top + 1 : 0,
                 v->top + v->page < n ? v->top + v->page : n, n);
    tui_put(r.y + r.h - 1, r.x + 2, r.w - 4, f, TH_DIALOG_TITLE, false);
}

static int view_key(struct tui_modal *m, struct tui *t, int ch)
{
    (void)t;
    struct view *v = (struct view *)m;
    /* a picker moves its cursor; a view moves its top line */
    int *pos = v->pick ? &v->cursor : &v->top;
    int n = v->pick ? v->n : v->wl.n;
    switch (ch) {
    case KEY_UP:
    case 'k':
        (*pos)--;
        break;
    case KEY_DOWN:
    case 'j':
        (*pos)++;
        break;
    case KEY_PPAGE:
    case TUI_CTRL('b'):
        *pos -= v->page;
        break;
    case KEY_NPAGE:
    case TUI_CTRL('f'):
    case ' ':
        *pos += v->page;
        break;
    case KEY_HOME:
    case 'g':
        *pos = 0;
        break;
    case KEY_END:
    case 'G':
        *pos = n;
        break;
    case '\n':
    case '\r':
    case KEY_ENTER:
        v->result = v->pick && v->n > 0 ? v->cursor : -1;
        return TUI_BACK;
    case TUI_KEY_ESC:
    case 'q':
        v->result = -1;
        return TUI_BACK;
    default:
        return TUI_HANDLED;
    }
    view_clamp(v);
    return TUI_REDRAW;
}

int tui_view(struct tui *t, const char *title, const char *header, char *const *lines, int n,
             int initial, bool pick)
{
    struct view v = {.m = {.draw = view_draw, .key = view_key},
                     .title = title,
                     .header = header,
                     .foot = pick ? "Enter choose  Esc cancel  " : "Esc close  ",
                     .lines = lines,
                     .n = n,
                     .cursor = initial >= 0 && initial < n ? initial : 0,
                     .pick = pick,
                     .page = 1,
                     .result = -1,
                     .initial = initial >= 0 && initial < n ? initial : 0};
    int rc = tui_modal_run(t, &v.m);
    tui_lines_free(&v.wl);
    free(v.owner);
    return rc != 0 ? -1 : v.result;
}

/* tui_view.c - a modal scrolling view of text lines, optionally a picker (see tui.h). */
#include <curses.h>
#include <stdio.h>
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
};

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
    if (v->cursor < v->top)
        v->top = v->cursor;
    if (v->cursor >= v->top + v->page)
        v->top = v->cursor - v->page + 1;
    if (v->n == 0)
        tui_put(y, r.x + 2, r.w - 4, "(nothing)", TH_DIM, false);
    for (int i = 0; i < v->page && v->top + i < v->n; i++) {
        int k = v->top + i;
        enum theme_elem e = v->pick && k == v->cursor ? TH_SELECTED : TH_DIALOG;
        tui_put(y + i, r.x + 1, r.w - 2, v->lines[k], e, true);
    }
    char f[160];
    snprintf(f, sizeof f, " %s%d/%d ", v->foot ? v->foot : "", v->n ? v->cursor + 1 : 0, v->n);
    tui_put(r.y + r.h - 1, r.x + 2, r.w - 4, f, TH_DIALOG_TITLE, false);
}

static int view_key(struct tui_modal *m, struct tui *t, int ch)
{
    (void)t;
    struct view *v = (struct view *)m;
    int last = v->n > 0 ? v->n - 1 : 0;
    int step = v->pick ? 1 : 1;
    switch (ch) {
    case KEY_UP:
    case 'k':
        v->cursor -= step;
        break;
    case KEY_DOWN:
    case 'j':
        v->cursor += step;
        break;
    case KEY_PPAGE:
    case TUI_CTRL('b'):
        v->cursor -= v->page;
        break;
    case KEY_NPAGE:
    case TUI_CTRL('f'):
    case ' ':
        v->cursor += v->page;
        break;
    case KEY_HOME:
    case 'g':
        v->cursor = 0;
        break;
    case KEY_END:
    case 'G':
        v->cursor = last;
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
    if (!v->pick) { /* a view scrolls: the cursor is the top line */
        if (v->cursor > v->n - v->page)
            v->cursor = v->n - v->page;
        if (v->cursor < 0)
            v->cursor = 0;
        v->top = v->cursor;
    }
    if (v->cursor > last)
        v->cursor = last;
    if (v->cursor < 0)
        v->cursor = 0;
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
                     .result = -1};
    if (tui_modal_run(t, &v.m) != 0)
        return -1;
    return v.result;
}

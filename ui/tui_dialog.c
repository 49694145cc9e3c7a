/*
 * tui_dialog.c - the modal dialogs (message, error, confirm, input) and the help view, which
 * is generated from the key tables of the current screen, the list, the application and the
 * console itself.
 */
#include <curses.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"
#include "tui_list.h"
#include "util.h"

/* Word-wrap text into at most maxl lines of width w (each malloc'd into lines[]). */
static int wrap(const char *text, int w, char **lines, int maxl)
{
    int n = 0;
    const char *p = text;
    while (*p && n < maxl) {
        const char *nl = strchr(p, '\n');
        size_t plen = nl ? (size_t)(nl - p) : strlen(p);
        char *para = dv_malloc(plen + 1);
        memcpy(para, p, plen);
        para[plen] = 0;
        char *q = para;
        do {
            /* take as many words as fit */
            size_t best = 0, i = 0;
            while (q[i]) {
                size_t j = i;
                while (q[j] == ' ')
                    j++;
                while (q[j] && q[j] != ' ')
                    j++;
                char save = q[j];
                q[j] = 0;
                int cw = tui_width(q);
                q[j] = save;
                if (cw > w && best)
                    break;
                best = j;
                i = j;
                if (cw > w)
                    break;
            }
            if (n < maxl) {
                char *l = dv_malloc(best + 1);
                memcpy(l, q, best);
                l[best] = 0;
                lines[n++] = l;
            }
            q += best;
            while (*q == ' ')
                q++;
        } while (*q && n < maxl);
        free(para);
        p += plen;
        if (*p == '\n')
            p++;
    }
    return n;
}

enum dlg_kind { DLG_MESSAGE, DLG_ERROR, DLG_CONFIRM, DLG_INPUT };

struct dialog {
    struct tui_modal m;
    enum dlg_kind kind;
    const char *title, *text;
    int sel; /* confirm: 0 yes, 1 no */
    bool yes;
    char input[1024];
};

static void dialog_draw(struct tui_modal *m, struct tui *t)
{
    struct dialog *d = (struct dialog *)m;
    int maxw = COLS - 4 < 72 ? COLS - 4 : 72;
    char *lines[32];
    int nl = wrap(d->text, maxw - 4, lines, d->kind == DLG_INPUT ? 4 : 32);
    int w = tui_width(d->title) + 8, h;
    for (int i = 0; i < nl; i++)
        if (tui_width(lines[i]) + 4 > w)
            w = tui_width(lines[i]) + 4;
    if (d->kind == DLG_INPUT)
        w = maxw;
    if (w < 30)
        w = 30;
    if (w > maxw)
        w = maxw;
    int nall = nl, maxlines = LINES - 8;
    if (nl > maxlines)
        nl = maxlines;
    h = nl + 4 + (d->kind == DLG_INPUT ? 2 : 0);
    struct tui_rect r = {(LINES - h) / 2, (COLS - w) / 2, h, w};
    tui_fill(r, TH_DIALOG);
    tui_box(r, TH_DIALOG, NULL);
    if (d->title) {
        char tb[128];
        snprintf(tb, sizeof tb, " %s ", d->title);
        tui_put(r.y, r.x + 2, r.w - 4, tb, d->kind == DLG_ERROR ? TH_BANNER : TH_DIALOG_TITLE,
                false);
    }
    for (int i = 0; i < nl; i++)
        tui_put(r.y + 1 + i, r.x + 2, r.w - 4, lines[i], TH_DIALOG, false);
    int by = r.y + r.h - 2;
    if (d->kind == DLG_INPUT) {
        int fw = r.w - 4;
        const char *s = d->input;
        while (tui_width(s) > fw - 1)
            s++; /* show the tail of a long input */
        while ((*s & 0xc0) == 0x80)
            s++;
        tui_put(r.y + 2 + nl, r.x + 2, fw, s, TH_INPUT, true);
        int cx = r.x + 2 + tui_width(s);
        attrset(theme_attr(TH_INPUT) | A_REVERSE);
        mvaddch(r.y + 2 + nl, cx, ' ');
        attrset(A_NORMAL);
        tui_put(by, r.x + 2, r.w - 4, "Enter: OK   Esc: cancel", TH_DIALOG, false);
    } else if (d->kind == DLG_CONFIRM) {
        const char *yes = "[ Yes ]", *no = "[ No ]";
        int bx = r.x + (r.w - 15) / 2;
        tui_put(by, bx, 7, yes, d->sel == 0 ? TH_SELECTED : TH_DIALOG, false);
        tui_put(by, bx + 9, 6, no, d->sel == 1 ? TH_SELECTED : TH_DIALOG, false);
    } else {
        tui_put(by, r.x + (r.w - 6) / 2, 6, "[ OK ]", TH_SELECTED, false);
    }
    for (int i = 0; i < nall; i++)
        free(lines[i]);
}

static int dialog_key(struct tui_modal *m, struct tui *t, int ch)
{
    struct dialog *d = (struct dialog *)m;
    switch (d->kind) {
    case DLG_MESSAGE:
    case DLG_ERROR:
        if (ch == '\n' || ch == '\r' || ch == KEY_ENTER || ch == TUI_KEY_ESC || ch == ' ' ||
            ch == 'q')
            return TUI_BACK;
        return TUI_HANDLED;
    case DLG_CONFIRM:
        if (ch == 'y' || ch == 'Y') {
            d->yes = true;
            return TUI_BACK;
        }
        if (ch == 'n' || ch == 'N' || ch == TUI_KEY_ESC || ch == 'q')
            return TUI_BACK;
        if (ch == KEY_LEFT || ch == KEY_RIGHT || ch == '\t' || ch == KEY_BTAB || ch == 'h' ||
            ch == 'l') {
            d->sel ^= 1;
            return TUI_REDRAW;
        }
        if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
            d->yes = d->sel == 0;
            return TUI_BACK;
        }
        return TUI_HANDLED;
    case DLG_INPUT: {
        size_t n = strlen(d->input);
        if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
            d->yes = true;
            return TUI_BACK;
        }
        if (ch == TUI_KEY_ESC)
            return TUI_BACK;
        if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
            while (n > 0 && (d->input[n - 1] & 0xc0) == 0x80)
                n--; /* UTF-8 continuation bytes */
            if (n > 0)
                n--;
            d->input[n] = 0;
            return TUI_REDRAW;
        }
        if (ch == TUI_CTRL('U')) {
            d->input[0] = 0;
            return TUI_REDRAW;
        }
        if (ch >= 32 && ch < 256 && ch != 127 && n + 1 < sizeof d->input) {
            d->input[n] = (char)ch;
            d->input[n + 1] = 0;
            return TUI_REDRAW;
        }
        return TUI_HANDLED;
    }
    }
    return TUI_HANDLED;
}

static void dialog_run(struct tui *t, struct dialog *d)
{
    d->m.draw = dialog_draw;
    d->m.key = dialog_key;
    if (!d->text)
        d->text = "";
    if (tui_modal_run(t, &d->m) != 0)
        d->yes = false;
}

void tui_message(struct tui *t, const char *title, const char *text)
{
    struct dialog d = {.kind = DLG_MESSAGE, .title = title, .text = text};
    dialog_run(t, &d);
}

void tui_error(struct tui *t, const char *title, const char *text)
{
    struct dialog d = {.kind = DLG_ERROR, .title = title ? title : "Error", .text = text};
    dialog_run(t, &d);
}

bool tui_confirm(struct tui *t, const char *title, const char *text)
{
    struct dialog d = {.kind = DLG_CONFIRM, .title = title, .text = text, .sel = 1};
    dialog_run(t, &d);
    return d.yes;
}

char *tui_input(struct tui *t, const char *title, const char *prompt, const char *initial)
{
    struct dialog d = {.kind = DLG_INPUT, .title = title, .text = prompt};
    if (initial)
        snprintf(d.input, sizeof d.input, "%s", initial);
    dialog_run(t, &d);
    return d.yes ? dv_strdup(d.input) : NULL;
}

/* ---- help: generated from the key tables ---- */

struct help {
    struct tui_modal m;
    char **lines;
    int n, top;
};

static void help_add(struct help *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void help_add(struct help *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char buf[512];
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    h->lines = dv_realloc(h->lines, (size_t)(h->n + 1) * sizeof(char *));
    h->lines[h->n++] = dv_strdup(buf);
}

static void help_section(struct help *h, const char *title, const struct tui_key *tab, bool heading)
{
    if (!tab || !tab->action)
        return;
    if (heading) {
        if (h->n)
            help_add(h, "%s", "");
        help_add(h, "%s", title);
    }
    for (; tab->action; tab++) {
        if (!tab->help)
            continue;
        char keys[64] = "";
        if (tab->label) {
            snprintf(keys, sizeof keys, "%s", tab->label);
        } else {
            for (int i = 0; i < 3 && tab->keys[i]; i++) {
                char kn[16];
                size_t n = strlen(keys);
                snprintf(keys + n, sizeof keys - n, "%s%s", i ? ", " : "",
                         tui_key_name(tab->keys[i], kn, sizeof kn));
            }
        }
        help_add(h, "  %-16s %s", keys, tab->help);
    }
}

static void help_draw(struct tui_modal *m, struct tui *t)
{
    struct help *h = (struct help *)m;
    struct tui_rect r = {2, 0, LINES - 4, COLS};
    tui_fill(r, TH_TEXT);
    tui_box(r, TH_BORDER, "Help  (Esc closes, arrows scroll)");
    int rows = r.h - 2;
    if (h->top > h->n - rows)
        h->top = h->n - rows > 0 ? h->n - rows : 0;
    for (int i = 0; i < rows && h->top + i < h->n; i++) {
        const char *l = h->lines[h->top + i];
        tui_put(r.y + 1 + i, 2, r.w - 4, l, l[0] && l[0] != ' ' ? TH_HEADER : TH_TEXT, false);
    }
}

static int help_key(struct tui_modal *m, struct tui *t, int ch)
{
    struct help *h = (struct help *)m;
    int rows = LINES - 6;
    switch (ch) {
    case TUI_KEY_ESC:
    case 'q':
    case '?':
    case KEY_F(1):
    case '\n':
    case '\r':
    case KEY_ENTER:
        return TUI_BACK;
    case KEY_DOWN:
    case 'j':
        h->top++;
        return TUI_REDRAW;
    case KEY_UP:
    case 'k':
        h->top = h->top > 0 ? h->top - 1 : 0;
        return TUI_REDRAW;
    case KEY_NPAGE:
    case ' ':
        h->top += rows;
        return TUI_REDRAW;
    case KEY_PPAGE:
        h->top = h->top > rows ? h->top - rows : 0;
        return TUI_REDRAW;
    case KEY_HOME:
        h->top = 0;
        return TUI_REDRAW;
    case KEY_END:
        h->top = h->n;
        return TUI_REDRAW;
    }
    return TUI_HANDLED;
}

void tui_help(struct tui *t)
{
    struct help h = {.m = {.draw = help_draw, .key = help_key}};
    struct tui_screen *s = tui_current(t);
    if (s) {
        char title[96];
        snprintf(title, sizeof title, "%s screen", s->name);
        help_section(&h, title, s->keys, true);
        if (s->list)
            help_section(&h, "List", tui_list_keys, true);
    }
    const struct tui_key *ak = tui_app_keys(t);
    bool app = ak && ak->action;
    help_section(&h, "Everywhere", ak, true);
    help_section(&h, "Everywhere", tui_global_keys(), !app);
    tui_modal_run(t, &h.m);
    for (int i = 0; i < h.n; i++)
        free(h.lines[i]);
    free(h.lines);
}

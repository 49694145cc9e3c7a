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
#include <wchar.h>

#include "tui.h"
#include "tui_list.h"
#include "util.h"

/* Display columns of the character at s (len bytes left): its byte length in *n. Invalid
 * bytes and what the locale cannot show count 1 (tui_put shows them as '?'). */
static int char_cols(const char *s, size_t len, size_t *n)
{
    mbstate_t st;
    memset(&st, 0, sizeof st);
    wchar_t wc;
    size_t k = mbrtowc(&wc, s, len, &st);
    if (k == (size_t)-1 || k == (size_t)-2 || k == 0) {
        *n = 1;
        return 1;
    }
    *n = k;
    int cw = wcwidth(wc);
    return cw < 0 ? 1 : cw;
}

/* Wrap one paragraph (no newline; escaped) into l: at spaces, else hard at w columns. */
static void wrap_para(const char *p, int w, int hang, struct tui_lines *l)
{
    size_t len = strlen(p), start = 0;
    bool first = true;
    do {
        int avail = first ? w : w - hang, cols = 0;
        if (avail < 1)
            avail = 1;
        size_t i = start, brk = 0, end = len;
        while (i < len) {
            size_t n;
            int cw = char_cols(p + i, len - i, &n);
            if (p[i] == ' ' && i > start)
                brk = i;
            if (cols + cw > avail) {
                end = brk > start ? brk : i > start ? i : i + n;
                break;
            }
            cols += cw;
            i += n;
        }
        if (i >= len)
            end = len;
        char *line = dv_asprintf("%*s%.*s", first ? 0 : hang, "", (int)(end - start), p + start);
        l->v = dv_realloc(l->v, (size_t)(l->n + 1) * sizeof *l->v);
        l->v[l->n++] = line;
        start = end;
        while (start < len && p[start] == ' ')
            start++;
        first = false;
    } while (start < len);
}

int tui_wrap(const char *text, int w, int hang, struct tui_lines *l)
{
    int before = l->n;
    if (hang > w / 2)
        hang = w / 2;
    const char *p = text ? text : "";
    do {
        const char *nl = strchr(p, '\n');
        size_t plen = nl ? (size_t)(nl - p) : strlen(p);
        char *raw = dv_malloc(plen + 1), *esc = dv_malloc(4 * plen + 1);
        memcpy(raw, p, plen);
        raw[plen] = 0;
        dv_escape(raw, esc, 4 * plen + 1);
        wrap_para(esc, w < 1 ? 1 : w, hang < 0 ? 0 : hang, l);
        free(raw);
        free(esc);
        p = nl ? nl + 1 : p + plen;
    } while (*p);
    return l->n - before;
}

void tui_lines_free(struct tui_lines *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
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
    struct tui_lines wl = {0};
    tui_wrap(d->text, maxw - 4, 0, &wl);
    char **lines = wl.v;
    int nl = wl.n < (d->kind == DLG_INPUT ? 4 : 32) ? wl.n : d->kind == DLG_INPUT ? 4 : 32;
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
    int maxlines = LINES - 8;
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
    tui_lines_free(&wl);
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

/*
 * The help's entries: a heading (keys NULL) or keys + what they do. At each draw the
 * description is wrapped under itself to the width there is (narrow terminals), and the
 * view scrolls the wrapped lines.
 */
struct help_entry {
    char *keys, *text;
};

struct help {
    struct tui_modal m;
    struct help_entry *e;
    int n, top;
    struct tui_lines wl; /* the entries wrapped at the last draw */
    int rows;            /* rows the last draw showed */
};

static void help_add(struct help *h, const char *keys, const char *text)
{
    h->e = dv_realloc(h->e, (size_t)(h->n + 1) * sizeof *h->e);
    h->e[h->n].keys = keys ? dv_strdup(keys) : NULL;
    h->e[h->n++].text = dv_strdup(text);
}

static bool binds(const struct tui_key *tab, int key)
{
    for (; tab && tab->action; tab++)
        for (int i = 0; i < 3 && tab->keys[i]; i++)
            if (tab->keys[i] == key)
                return true;
    return false;
}

/* The key names of an entry: its label ("1-N": N = the screens there are), else the names of
 * its keys, each once (Enter is two key codes), without those shadow binds (a screen's own
 * Space over the list's). Empty when every key is shadowed. */
static void help_keys(struct tui *t, const struct tui_key *k, const struct tui_key *shadow,
                      char *keys, size_t n)
{
    keys[0] = 0;
    if (k->label) {
        const char *nn = strstr(k->label, "N");
        if (nn && strcmp(nn, "N") == 0)
            snprintf(keys, n, "%.*s%d", (int)(nn - k->label), k->label, tui_screen_count(t));
        else
            snprintf(keys, n, "%s", k->label);
        return;
    }
    for (int i = 0; i < 3 && k->keys[i]; i++) {
        char kn[16];
        tui_key_name(k->keys[i], kn, sizeof kn);
        if (binds(shadow, k->keys[i]))
            continue;
        bool dup = false;
        for (int j = 0; j < i; j++) {
            char kj[16];
            dup |= strcmp(tui_key_name(k->keys[j], kj, sizeof kj), kn) == 0;
        }
        size_t l = strlen(keys);
        if (!dup)
            snprintf(keys + l, n - l, "%s%s", l ? ", " : "", kn);
    }
}

static void help_section(struct help *h, struct tui *t, const char *title,
                         const struct tui_key *tab, const struct tui_key *shadow, bool heading)
{
    if (!tab || !tab->action)
        return;
    if (heading) {
        if (h->n)
            help_add(h, NULL, "");
        help_add(h, NULL, title);
    }
    for (; tab->action; tab++) {
        if (!tab->help)
            continue;
        char keys[64];
        help_keys(t, tab, shadow, keys, sizeof keys);
        if (keys[0])
            help_add(h, keys, tab->help);
    }
}

/* Wrap the entries to w columns: keys in a column of 16, the text beside it and under it. */
static void help_wrap(struct help *h, int w)
{
    tui_lines_free(&h->wl);
    int kw = w >= 60 ? 16 : 12;
    for (int i = 0; i < h->n; i++) {
        if (!h->e[i].keys) {
            h->wl.v = dv_realloc(h->wl.v, (size_t)(h->wl.n + 1) * sizeof *h->wl.v);
            h->wl.v[h->wl.n++] = dv_strdup(h->e[i].text);
            continue;
        }
        bool own = tui_width(h->e[i].keys) > kw; /* keys wider than their column: own line */
        if (own) {
            h->wl.v = dv_realloc(h->wl.v, (size_t)(h->wl.n + 1) * sizeof *h->wl.v);
            h->wl.v[h->wl.n++] = dv_asprintf("  %s", h->e[i].keys);
        }
        int from = h->wl.n;
        tui_wrap(h->e[i].text, w - kw - 3, 0, &h->wl);
        for (int k = from; k < h->wl.n; k++) {
            char *l =
                dv_asprintf("  %-*s %s", kw, k == from && !own ? h->e[i].keys : "", h->wl.v[k]);
            free(h->wl.v[k]);
            h->wl.v[k] = l;
        }
    }
}

static void help_draw(struct tui_modal *m, struct tui *t)
{
    (void)t;
    struct help *h = (struct help *)m;
    struct tui_rect r = {2, 0, LINES - 4, COLS};
    tui_fill(r, TH_TEXT);
    tui_box(r, TH_BORDER, "Help  (Esc closes, arrows scroll)");
    help_wrap(h, r.w - 4);
    int rows = r.h - 2;
    h->rows = rows;
    if (h->top > h->wl.n - rows)
        h->top = h->wl.n - rows > 0 ? h->wl.n - rows : 0;
    for (int i = 0; i < rows && h->top + i < h->wl.n; i++) {
        const char *l = h->wl.v[h->top + i];
        tui_put(r.y + 1 + i, 2, r.w - 4, l, l[0] && l[0] != ' ' ? TH_HEADER : TH_TEXT, false);
    }
    if (h->wl.n > rows) {
        char f[48];
        snprintf(f, sizeof f, " lines %d-%d of %d ", h->top + 1,
                 h->top + rows < h->wl.n ? h->top + rows : h->wl.n, h->wl.n);
        tui_put(r.y + r.h - 1, r.w - tui_width(f) - 2, tui_width(f), f, TH_BORDER, false);
    }
}

static int help_key(struct tui_modal *m, struct tui *t, int ch)
{
    (void)t;
    struct help *h = (struct help *)m;
    int rows = h->rows > 1 ? h->rows : 1;
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
    case 'g':
        h->top = 0;
        return TUI_REDRAW;
    case KEY_END:
    case 'G':
        h->top = h->wl.n;
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
        help_section(&h, t, title, s->keys, NULL, true);
        if (s->list) /* a key the screen binds itself is the screen's (Space on Recovery) */
            help_section(&h, t, "List", tui_list_keys, s->keys, true);
    }
    const struct tui_key *ak = tui_app_keys(t);
    bool app = ak && ak->action;
    help_section(&h, t, "Everywhere", ak, NULL, true);
    help_section(&h, t, "Everywhere", tui_global_keys(), NULL, !app);
    tui_modal_run(t, &h.m);
    for (int i = 0; i < h.n; i++) {
        free(h.e[i].keys);
        free(h.e[i].text);
    }
    free(h.e);
    tui_lines_free(&h.wl);
}

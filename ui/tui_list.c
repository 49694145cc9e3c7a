/*
 * tui_list.c - the virtual list: a window of visible rows over a keyset-paged row source.
 *
 * Moving asks the source only for the rows that come into view (fetch AFTER the last
 * visible key / BEFORE the first); Home and End are one fetch each; searching is delegated
 * to the source. Nothing here depends on how many rows the source has.
 */
#include "tui_list.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

const struct tui_key tui_list_keys[] = {
    {{KEY_UP, 'k'}, TUI_LIST_UP, NULL, "Cursor up", NULL},
    {{KEY_DOWN, 'j'}, TUI_LIST_DOWN, NULL, "Cursor down", NULL},
    {{KEY_PPAGE, TUI_CTRL('B')}, TUI_LIST_PGUP, NULL, "Page up", NULL},
    {{KEY_NPAGE, TUI_CTRL('F'), ' '}, TUI_LIST_PGDN, NULL, "Page down", NULL},
    {{KEY_HOME, 'g'}, TUI_LIST_HOME, NULL, "First row", NULL},
    {{KEY_END, 'G'}, TUI_LIST_END, NULL, "Last row", NULL},
    {{KEY_F(3), '/'},
     TUI_LIST_SEARCH,
     "Search",
     "Search as you type (Enter keeps, Esc goes back)",
     NULL},
    {{'n'}, TUI_LIST_NEXT, NULL, "Next match of the last search", NULL},
    {{'N'}, TUI_LIST_PREV, NULL, "Previous match of the last search", NULL},
    {{KEY_F(4), '\\'},
     TUI_LIST_FILTER,
     "Filter",
     "Show only rows containing a text (empty: all)",
     NULL},
    {{'>'}, TUI_LIST_SORT_NEXT, NULL, "Sort by the next column (a header click sorts too)", NULL},
    {{'<'}, TUI_LIST_SORT_PREV, NULL, "Sort by the previous column", NULL},
    {{'S'}, TUI_LIST_SORT_REV, NULL, "Reverse the sort (click the sorted header again)", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

void tui_list_init(struct tui_list *l, const struct tui_column *cols, int ncols)
{
    memset(l, 0, sizeof *l);
    l->cols = cols;
    l->ncols = ncols > TUI_COLS_MAX ? TUI_COLS_MAX : ncols;
    l->empty = "no rows";
    l->nosrc = "no data source yet";
    l->sort_col = -1;
    l->natural_col = 0; /* most sources are in the order of their first column */
    l->top = l->total = -1;
}

void tui_list_done(struct tui_list *l)
{
    if (l->src && l->src->free)
        l->src->free(l->src);
    l->src = NULL;
    free(l->rows);
    free(l->scratch);
    l->rows = l->scratch = NULL;
    l->nrows = l->height = l->cursor = 0;
}

static void reverse_rows(struct tui_row *rows, int n)
{
    for (int i = 0; i < n / 2; i++) {
        struct tui_row tmp = rows[i];
        rows[i] = rows[n - 1 - i];
        rows[n - 1 - i] = tmp;
    }
}

/* The source's fetch, through the list's reversal when the list reverses a source that cannot
 * sort: AFTER is the source's BEFORE, BEFORE its AFTER, FROM the key itself and the rows
 * before it, each page turned around. */
static int src_fetch(struct tui_list *l, enum tui_fetch mode, const char *key, struct tui_row *rows,
                     int n)
{
    struct tui_source *s = l->src;
    if (!l->reversed)
        return s->fetch(s, mode, key, rows, n);
    int r, got = 0;
    switch (mode) {
    case TUI_AFTER:
        r = s->fetch(s, TUI_BEFORE, key, rows, n);
        break;
    case TUI_BEFORE:
        r = s->fetch(s, key ? TUI_AFTER : TUI_FROM, key, rows, n);
        break;
    default:
        if (!key) {
            r = s->fetch(s, TUI_BEFORE, NULL, rows, n);
            break;
        }
        r = s->fetch(s, TUI_FROM, key, rows, 1);
        if (r < 0)
            return -1;
        got = r == 1 && strcmp(rows[0].key, key) == 0;
        r = n > got ? s->fetch(s, TUI_BEFORE, key, rows + got, n - got) : 0;
        break;
    }
    if (r < 0)
        return -1;
    if (r > n - got)
        r = n - got;
    reverse_rows(rows + got, r);
    return got + r;
}

static int fetch(struct tui_list *l, enum tui_fetch mode, const char *key, struct tui_row *rows,
                 int n)
{
    if (!l->src || n <= 0)
        return 0;
    l->fetch_calls++;
    int r = src_fetch(l, mode, key, rows, n);
    if (r < 0) {
        snprintf(l->err, sizeof l->err, "%s", dv_err());
        return -1;
    }
    if (r > n)
        r = n;
    l->fetch_rows += r;
    l->err[0] = 0;
    return r;
}

/* The row count, read again (when the source, its filter or its order changed). */
static void refresh_total(struct tui_list *l)
{
    l->total = l->src && l->src->count ? l->src->count(l->src) : -1;
}

/* The index of the row with this key in the list's order, or -1 when the source cannot say. */
static long key_pos(const struct tui_list *l, const char *key)
{
    if (!l->src || !l->src->pos)
        return -1;
    long p = l->src->pos(l->src, key);
    if (p < 0 || !l->reversed)
        return p;
    return l->total > p ? l->total - 1 - p : -1;
}

/* Fill the window from key (NULL: the first row); if that leaves it short, pull rows from
 * before so the screen stays full (End, a deleted tail, a bigger terminal). */
static int load_from(struct tui_list *l, const char *key)
{
    char k[TUI_KEY_MAX];
    if (key)
        snprintf(k, sizeof k, "%s", key);
    int n = fetch(l, TUI_FROM, key ? k : NULL, l->rows, l->height);
    if (n < 0)
        return -1;
    if (n < l->height && (n > 0 || key)) {
        char first[TUI_KEY_MAX];
        snprintf(first, sizeof first, "%s", n ? l->rows[0].key : k);
        int m = fetch(l, TUI_BEFORE, first, l->scratch, l->height - n);
        if (m < 0)
            return -1;
        if (m > 0) {
            memmove(l->rows + m, l->rows, (size_t)n * sizeof *l->rows);
            memcpy(l->rows, l->scratch, (size_t)m * sizeof *l->rows);
            n += m;
        }
    }
    l->nrows = n;
    if (l->cursor >= n)
        l->cursor = n > 0 ? n - 1 : 0;
    l->top = !key ? 0 : n > 0 ? key_pos(l, l->rows[0].key) : -1;
    return 0;
}

static int index_of(const struct tui_list *l, const char *key)
{
    for (int i = 0; i < l->nrows; i++)
        if (strcmp(l->rows[i].key, key) == 0)
            return i;
    return -1;
}

int tui_list_set_height(struct tui_list *l, int height)
{
    if (height < 1)
        height = 1;
    if (height == l->height && l->rows)
        return 0;
    char top[TUI_KEY_MAX] = "", cur[TUI_KEY_MAX] = "";
    bool have = l->nrows > 0;
    long want = -1;
    if (have) {
        snprintf(cur, sizeof cur, "%s", l->rows[l->cursor].key);
        /* keep the cursor row on screen when the window shrinks below it */
        int t = l->cursor >= height ? l->cursor - height + 1 : 0;
        snprintf(top, sizeof top, "%s", l->rows[t].key);
        want = l->top >= 0 ? l->top + t : -1;
    }
    l->rows = dv_realloc(l->rows, (size_t)height * sizeof *l->rows);
    l->scratch = dv_realloc(l->scratch, (size_t)height * 2 * sizeof *l->rows);
    l->height = height;
    l->nrows = 0;
    if (!l->src)
        return 0;
    if (load_from(l, have ? top : NULL) != 0)
        return -1;
    if (l->top < 0 && want >= 0 && l->nrows > 0 && strcmp(l->rows[0].key, top) == 0)
        l->top = want;
    int i = have ? index_of(l, cur) : 0;
    l->cursor = i >= 0 ? i : 0;
    return 0;
}

int tui_list_set_source(struct tui_list *l, struct tui_source *src)
{
    if (l->src && l->src->free)
        l->src->free(l->src);
    l->src = src;
    l->nrows = l->cursor = 0;
    l->err[0] = 0;
    l->top = l->total = -1;
    if (!src) {
        l->search[0] = l->filter[0] = 0;
        return 0;
    }
    /* a refresh: the new source shows what the old one did (filter, order) */
    if (l->filter[0] && (!src->filter || src->filter(src, l->filter) != 0))
        l->filter[0] = 0;
    l->reversed = false;
    if (l->sort_col >= 0 && src->sort) {
        if (src->sort(src, l->sort_col, l->sort_desc) != 0)
            l->sort_col = -1;
    } else if (l->sort_col >= 0 && l->sort_col == l->natural_col) {
        l->reversed = l->sort_desc != l->natural_desc;
    } else {
        l->sort_col = -1;
    }
    refresh_total(l);
    if (!l->rows)
        return tui_list_set_height(l, l->height > 0 ? l->height : 1);
    return load_from(l, NULL);
}

int tui_list_reload(struct tui_list *l)
{
    if (!l->src || !l->rows)
        return 0;
    char top[TUI_KEY_MAX] = "", cur[TUI_KEY_MAX] = "";
    bool have = l->nrows > 0;
    if (have) {
        snprintf(top, sizeof top, "%s", l->rows[0].key);
        snprintf(cur, sizeof cur, "%s", l->rows[l->cursor].key);
    }
    refresh_total(l);
    /* a list shown from its first row stays there (rows added at the top appear) */
    bool first = l->top == 0;
    if (load_from(l, have && !first ? top : NULL) != 0)
        return -1;
    if (have) {
        int i = index_of(l, cur);
        if (i >= 0)
            l->cursor = i;
    }
    return 0;
}

int tui_list_down(struct tui_list *l, int n)
{
    if (l->nrows == 0 || n <= 0)
        return 0;
    int pos = l->cursor + n;
    int need = pos - (l->nrows - 1);
    if (need <= 0) {
        l->cursor = pos;
        return 0;
    }
    if (need > l->height)
        need = l->height;
    memcpy(l->scratch, l->rows, (size_t)l->nrows * sizeof *l->rows);
    int m = fetch(l, TUI_AFTER, l->rows[l->nrows - 1].key, l->scratch + l->nrows, need);
    if (m < 0)
        return -1;
    int total = l->nrows + m;
    if (pos > total - 1)
        pos = total - 1;
    int start = total > l->height ? total - l->height : 0;
    memcpy(l->rows, l->scratch + start, (size_t)(total - start) * sizeof *l->rows);
    l->nrows = total - start;
    l->cursor = pos - start;
    if (l->top >= 0)
        l->top += start;
    return 0;
}

int tui_list_up(struct tui_list *l, int n)
{
    if (l->nrows == 0 || n <= 0)
        return 0;
    int pos = l->cursor - n;
    if (pos >= 0) {
        l->cursor = pos;
        return 0;
    }
    int need = -pos > l->height ? l->height : -pos;
    int m = fetch(l, TUI_BEFORE, l->rows[0].key, l->scratch, need);
    if (m < 0)
        return -1;
    memcpy(l->scratch + m, l->rows, (size_t)l->nrows * sizeof *l->rows);
    int total = m + l->nrows;
    pos = l->cursor + m - n;
    if (pos < 0)
        pos = 0;
    l->nrows = total < l->height ? total : l->height;
    memcpy(l->rows, l->scratch, (size_t)l->nrows * sizeof *l->rows);
    l->cursor = pos;
    if (l->top >= 0)
        l->top = l->top >= m ? l->top - m : -1;
    return 0;
}

int tui_list_page_down(struct tui_list *l)
{
    return tui_list_down(l, l->height);
}

int tui_list_page_up(struct tui_list *l)
{
    return tui_list_up(l, l->height);
}

int tui_list_home(struct tui_list *l)
{
    l->cursor = 0;
    return load_from(l, NULL);
}

int tui_list_end(struct tui_list *l)
{
    int m = fetch(l, TUI_BEFORE, NULL, l->rows, l->height);
    if (m < 0)
        return -1;
    l->nrows = m;
    l->cursor = m > 0 ? m - 1 : 0;
    l->top = l->total >= m ? l->total - m : -1;
    return 0;
}

int tui_list_goto(struct tui_list *l, const char *key)
{
    int i = index_of(l, key);
    if (i >= 0) {
        l->cursor = i;
        return 0;
    }
    char k[TUI_KEY_MAX];
    snprintf(k, sizeof k, "%s", key);
    if (load_from(l, k) != 0)
        return -1;
    i = index_of(l, k);
    l->cursor = i >= 0 ? i : 0;
    return 0;
}

int tui_list_find(struct tui_list *l, const char *text, int dir, bool include_current,
                  bool *wrapped)
{
    *wrapped = false;
    if (!l->src || !l->src->search) {
        dv_seterr("this list cannot search");
        return -1;
    }
    char from[TUI_KEY_MAX];
    const char *fromp = NULL;
    if (l->nrows > 0) {
        const char *cur = l->rows[l->cursor].key;
        snprintf(from, sizeof from, "%s", cur);
        fromp = from;
        if (include_current) { /* start just before the cursor row (after, going back) */
            struct tui_row *r = l->scratch;
            int m = fetch(l, dir > 0 ? TUI_BEFORE : TUI_AFTER, cur, r, 1);
            if (m < 0)
                return -1;
            if (m == 1)
                snprintf(from, sizeof from, "%s", r->key);
            else
                fromp = NULL;
        }
    }
    char found[TUI_KEY_MAX];
    int sdir = l->reversed ? -dir : dir; /* the source searches in its own order */
    int r = l->src->search(l->src, text, fromp, sdir, found);
    if (r == 0 && fromp) {
        r = l->src->search(l->src, text, NULL, sdir, found);
        *wrapped = r == 1;
    }
    if (r < 0) {
        snprintf(l->err, sizeof l->err, "%s", dv_err());
        return -1;
    }
    if (r == 1 && tui_list_goto(l, found) != 0)
        return -1;
    return r;
}

int tui_list_set_filter(struct tui_list *l, const char *text)
{
    if (!l->src || !l->src->filter) {
        dv_seterr("this list has no filter");
        return -1;
    }
    if (l->src->filter(l->src, text) != 0)
        return -1;
    snprintf(l->filter, sizeof l->filter, "%s", text);
    refresh_total(l);
    return tui_list_home(l);
}

int tui_list_sort(struct tui_list *l, int col, bool desc)
{
    if (col >= l->ncols)
        col = -1;
    bool rev = false;
    if (l->src && col >= 0 && !l->src->sort) {
        if (col != l->natural_col) {
            if (l->natural_col >= 0)
                dv_seterr("this list sorts by %s only (S reverses it)",
                          l->cols[l->natural_col].title);
            else
                dv_seterr("this list cannot sort");
            return -1;
        }
        rev = desc != l->natural_desc;
    } else if (l->src && l->src->sort && l->src->sort(l->src, col, desc) != 0) {
        return -1;
    }
    l->sort_col = col;
    l->sort_desc = desc;
    if (!l->src)
        return 0;
    l->reversed = rev;
    refresh_total(l);
    /* the first row of the new order: what the operator sorted for is at the top */
    l->cursor = 0;
    return load_from(l, NULL);
}

void tui_list_position(const struct tui_list *l, char *buf, size_t n)
{
    if (l->nrows > 0 && l->top >= 0 && l->total >= 0)
        snprintf(buf, n, "row %ld of %ld", l->top + l->cursor + 1, l->total);
    else if (l->nrows > 0 && l->top >= 0)
        snprintf(buf, n, "row %ld", l->top + l->cursor + 1);
    else if (l->total >= 0)
        snprintf(buf, n, "%ld rows", l->total);
    else
        snprintf(buf, n, "%s", "");
}

const struct tui_row *tui_list_current(const struct tui_list *l)
{
    return l->nrows > 0 ? &l->rows[l->cursor] : NULL;
}

/* ---- drawing ---- */

/* Column widths in w (0: left out): the flexible column takes what the others leave; where
 * that is under TUI_FLEX_MIN the list's narrow widths apply (80 columns and below), and where
 * it still is, the columns marked -2 go too. */
static void col_widths(const struct tui_list *l, int w, int *out)
{
    for (int pass = 0; pass < 3; pass++) {
        int fixed = 0, flex = -1, shown = 0;
        for (int i = 0; i < l->ncols; i++) {
            int cw = l->cols[i].width, nw = pass > 0 && l->narrow ? l->narrow[i] : 0;
            if (nw > 0)
                cw = nw;
            else if (nw == -1 || (nw == -2 && pass == 2))
                cw = 0;
            out[i] = cw;
            if (l->cols[i].width == 0 && flex < 0) {
                flex = i;
                shown++;
            } else if (cw > 0) {
                fixed += cw;
                shown++;
            }
        }
        fixed += shown - 1; /* one space between columns */
        if (flex < 0)
            return;
        int rest = w - fixed;
        out[flex] = rest < 4 ? 4 : rest;
        if (rest >= TUI_FLEX_MIN || !l->narrow)
            return;
    }
}

static void draw_cells(struct tui_list *l, int y, int x, int w, const int *cw,
                       char cells[][TUI_CELL_MAX], const char *const *titles, enum theme_elem e)
{
    tui_put(y, x, w, "", e, true);
    int cx = x;
    for (int i = 0; i < l->ncols; i++) {
        l->col_x[i] = cx;
        l->col_w[i] = 0;
        if (cw[i] <= 0 || cx >= x + w)
            continue;
        int cwid = cw[i];
        if (cx + cwid > x + w)
            cwid = x + w - cx;
        l->col_w[i] = cwid;
        const char *s = cells ? cells[i] : titles[i];
        if (l->cols[i].align == TUI_RIGHT)
            tui_put_right(y, cx, cwid, s, e);
        else
            tui_put(y, cx, cwid, s, e, true);
        cx += cw[i] + 1;
    }
}

/* The column shown sorted and its direction (-1: none). */
static int sort_shown(const struct tui_list *l, bool *desc)
{
    *desc = l->sort_col >= 0 ? l->sort_desc : l->natural_desc;
    return l->sort_col >= 0 ? l->sort_col : l->natural_col;
}

/* The footer: "row 12 of 340", the filter, the order. */
static void draw_footer(const struct tui_list *l, struct tui_rect r)
{
    char pos[64], f[300] = "", b[512];
    tui_list_position(l, pos, sizeof pos);
    if (l->filter[0])
        snprintf(f, sizeof f, "  filter: %s", l->filter);
    bool desc;
    int sc = sort_shown(l, &desc);
    char so[96] = "";
    if (sc >= 0)
        snprintf(so, sizeof so, "  sorted by %s %s", l->cols[sc].title,
                 desc ? (tui_utf8() ? "\u25bc" : "v") : (tui_utf8() ? "\u25b2" : "^"));
    snprintf(b, sizeof b, " %s%s%s", pos, pos[0] ? so : so + (so[0] ? 2 : 0), f);
    tui_put(r.y + r.h - 1, r.x, r.w, b, TH_DIM, true);
}

void tui_list_draw(struct tui_list *l, struct tui_rect r)
{
    if (r.h < 3 || r.w < 4)
        return;
    l->drawn = r;
    int rows_h = r.h - 2; /* header, rows, footer */
    if (tui_list_set_height(l, rows_h) != 0 && !l->err[0])
        snprintf(l->err, sizeof l->err, "%s", dv_err());
    int cw[TUI_COLS_MAX] = {0};
    const char *titles[TUI_COLS_MAX] = {0};
    col_widths(l, r.w - 2, cw);
    bool desc;
    int sc = sort_shown(l, &desc);
    for (int i = 0; i < l->ncols; i++)
        titles[i] = l->cols[i].title;
    tui_put(r.y, r.x, 1, "", TH_HEADER, true);
    draw_cells(l, r.y, r.x + 1, r.w - 1, cw, NULL, titles, TH_HEADER);
    if (sc >= 0 && sc < l->ncols && l->col_w[sc] > 0) {
        /* the arrow inside the column beside its title (after a left-aligned one, before a
         * right-aligned one); a title filling its column gets it in the space before it, so
         * it never touches the next column's title */
        int tw = tui_width(titles[sc]), ax = l->col_x[sc], w = l->col_w[sc];
        if (tw >= w)
            ax = ax > r.x ? ax - 1 : ax;
        else
            ax += l->cols[sc].align == TUI_RIGHT ? w - tw - 1 : tw;
        if (ax > r.x + r.w - 1)
            ax = r.x + r.w - 1;
        tui_put(r.y, ax, 1, tui_utf8() ? (desc ? "\u25bc" : "\u25b2") : (desc ? "v" : "^"),
                TH_HEADER, false);
    }
    draw_footer(l, r);
    const char *note = NULL;
    enum theme_elem ne = TH_DIM;
    if (l->err[0])
        note = l->err, ne = TH_ERROR;
    else if (!l->src)
        note = l->nosrc;
    else if (l->nrows == 0)
        note = l->filter[0] ? "no rows match the filter" : l->empty;
    if (note) {
        tui_put(r.y + 1 + (rows_h - 1) / 3, r.x + 2, r.w - 4, note, ne, false);
        return;
    }
    for (int i = 0; i < l->nrows && i < rows_h; i++) {
        enum theme_elem e = i == l->cursor ? TH_SELECTED : (enum theme_elem)l->rows[i].elem;
        tui_put(r.y + 1 + i, r.x, 1, "", e, true);
        draw_cells(l, r.y + 1 + i, r.x + 1, r.w - 1, cw, l->rows[i].cell, NULL, e);
    }
}

int tui_list_click(struct tui_list *l, int y, int x)
{
    struct tui_rect r = l->drawn;
    if (r.h < 3 || y < r.y || y >= r.y + r.h - 1 || x < r.x || x >= r.x + r.w)
        return 0;
    if (y == r.y) {
        for (int i = 0; i < l->ncols; i++)
            if (l->col_w[i] > 0 && x >= l->col_x[i] && x <= l->col_x[i] + l->col_w[i]) {
                bool desc;
                int sc = sort_shown(l, &desc);
                return tui_list_sort(l, i, i == sc ? !desc : false) == 0 ? 1 : -1;
            }
        return 1;
    }
    int i = y - r.y - 1;
    if (i >= l->nrows)
        return 0;
    l->cursor = i;
    return 2;
}

/* ---- incremental search: a prompt on the status line ---- */

struct isearch {
    struct tui_modal m;
    struct tui_list *l;
    char text[128];
    char start[TUI_KEY_MAX]; /* where the cursor was, for Esc */
    bool had_start;
    int result; /* 1 found, 0 not found, -1 error */
    bool wrapped;
};

static void isearch_draw(struct tui_modal *m, struct tui *t)
{
    struct isearch *s = (struct isearch *)m;
    char b[200];
    snprintf(b, sizeof b, "/%s", s->text);
    tui_put(LINES - 2, 0, COLS, "", TH_INPUT, true); /* nothing of the status line is left */
    int x = tui_put(LINES - 2, 0, COLS, b, TH_INPUT, false);
    attrset(theme_attr(TH_INPUT) | A_REVERSE);
    mvaddch(LINES - 2, x, ' ');
    attrset(A_NORMAL);
    const char *st = !s->text[0]      ? ""
                     : s->result < 0  ? dv_err()
                     : s->result == 0 ? "  not found"
                     : s->wrapped     ? "  (wrapped)"
                                      : "";
    tui_put(LINES - 2, x + 1, COLS - x - 1, st, s->result == 1 ? TH_DIM : TH_WARNING, false);
}

static int isearch_key(struct tui_modal *m, struct tui *t, int ch)
{
    struct isearch *s = (struct isearch *)m;
    size_t n = strlen(s->text);
    if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        snprintf(s->l->search, sizeof s->l->search, "%s", s->text);
        return TUI_BACK;
    }
    if (ch == TUI_KEY_ESC) {
        if (s->had_start)
            tui_list_goto(s->l, s->start);
        return TUI_BACK;
    }
    if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        while (n > 0 && (s->text[n - 1] & 0xc0) == 0x80)
            n--;
        if (n > 0)
            n--;
        s->text[n] = 0;
    } else if (ch >= 32 && ch < 256 && ch != 127 && n + 1 < sizeof s->text) {
        s->text[n] = (char)ch;
        s->text[n + 1] = 0;
    } else {
        return TUI_HANDLED;
    }
    if (!s->text[0]) {
        if (s->had_start)
            tui_list_goto(s->l, s->start);
        return TUI_REDRAW;
    }
    /* incremental: the current row stays if it still matches */
    if (s->had_start)
        tui_list_goto(s->l, s->start);
    s->result = tui_list_find(s->l, s->text, 1, true, &s->wrapped);
    return TUI_REDRAW;
}

int tui_list_action(struct tui *t, struct tui_list *l, int action, int key)
{
    if (!l->src) {
        if (action == TUI_LIST_SEARCH || action == TUI_LIST_FILTER)
            tui_msg(t, "%s", l->nosrc);
        return TUI_HANDLED;
    }
    int rc = 0;
    switch (action) {
    case TUI_LIST_UP:
        rc = tui_list_up(l, 1);
        break;
    case TUI_LIST_DOWN:
        rc = tui_list_down(l, 1);
        break;
    case TUI_LIST_PGUP:
        rc = tui_list_page_up(l);
        break;
    case TUI_LIST_PGDN:
        rc = tui_list_page_down(l);
        break;
    case TUI_LIST_HOME:
        rc = tui_list_home(l);
        break;
    case TUI_LIST_END:
        rc = tui_list_end(l);
        break;
    case TUI_LIST_SEARCH: {
        if (!l->src->search) {
            tui_msg(t, "this list cannot search");
            return TUI_HANDLED;
        }
        struct isearch s = {.m = {.draw = isearch_draw, .key = isearch_key}, .l = l};
        const struct tui_row *cur = tui_list_current(l);
        if (cur) {
            snprintf(s.start, sizeof s.start, "%s", cur->key);
            s.had_start = true;
        }
        tui_modal_run(t, &s.m);
        return TUI_REDRAW;
    }
    case TUI_LIST_NEXT:
    case TUI_LIST_PREV: {
        if (!l->search[0]) {
            tui_msg(t, "no search yet: / starts one");
            return TUI_HANDLED;
        }
        bool wrapped;
        int r = tui_list_find(l, l->search, action == TUI_LIST_NEXT ? 1 : -1, false, &wrapped);
        if (r < 0)
            rc = -1;
        else if (r == 0)
            tui_msg(t, "not found: %s", l->search);
        else if (wrapped)
            tui_msg(t, "search wrapped around: %s", l->search);
        break;
    }
    case TUI_LIST_SORT_NEXT:
    case TUI_LIST_SORT_PREV:
    case TUI_LIST_SORT_REV: {
        bool desc;
        int sc = sort_shown(l, &desc);
        if (action == TUI_LIST_SORT_REV) {
            rc = tui_list_sort(l, sc < 0 ? 0 : sc, sc < 0 ? true : !desc);
        } else {
            int step = action == TUI_LIST_SORT_NEXT ? 1 : l->ncols - 1;
            rc = tui_list_sort(l, sc < 0 ? 0 : (sc + step) % l->ncols, false);
        }
        if (rc != 0) {
            tui_msg(t, "%s", dv_err());
            return TUI_REDRAW;
        }
        sc = sort_shown(l, &desc);
        if (sc >= 0)
            tui_msg(t, "sorted by %s, %s", l->cols[sc].title, desc ? "descending" : "ascending");
        break;
    }
    case TUI_LIST_FILTER: {
        if (!l->src->filter) {
            tui_msg(t, "this list has no filter");
            return TUI_HANDLED;
        }
        char *f = tui_input(t, "Filter", "Show only rows containing (empty: all rows):", l->filter);
        if (!f)
            return TUI_REDRAW;
        rc = tui_list_set_filter(l, f);
        free(f);
        break;
    }
    default:
        return TUI_IGNORED;
    }
    if (rc != 0)
        tui_error(t, "Error", dv_err());
    return TUI_REDRAW;
}

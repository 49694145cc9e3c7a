/*
 * tui_list.h - a virtual list (tig-style): only the rows on screen exist in memory.
 *
 * Data comes from a row source (struct tui_source) with keyset paging: the list asks for
 * "n rows from / after / before KEY", never for row number i, so a list of 1,000,000 rows
 * costs what the screen shows. The list keeps the key of its top row and the visible rows.
 *
 * ROW SOURCE CONTRACT (how to add a source, e.g. backup sets from the catalog):
 *   - Every row has a key: a NUL-terminated string < TUI_KEY_MAX bytes, unique in the
 *     source, that fixes the row's place in the source's order (a path, a set id, a rowid
 *     printed with leading zeros ...). The order must be total and stable between calls; rows
 *     may appear or vanish between calls (the list copes: it asks again from its top key).
 *   - fetch(src, mode, key, rows, n) fills rows[0..] and returns how many (0..n), or -1 with
 *     dv_err() set (shown as an error dialog, never a crash):
 *         TUI_FROM    the first n rows with row key >= key (key NULL: from the first row)
 *         TUI_AFTER   the first n rows with row key >  key
 *         TUI_BEFORE  the last n rows with row key < key (key NULL: the last n rows)
 *     Rows always come back in source order (ascending), in every mode. For each row fill
 *     key, cell[0..ncols-1] (text; numbers already formatted, the column says how to align)
 *     and elem (theme element of the row, TH_TEXT for plain rows). A SQL source is
 *     "WHERE k > ? ORDER BY k LIMIT n" (BEFORE: "k < ? ORDER BY k DESC LIMIT n", reversed).
 *   - search(src, text, from, dir, found): the first row after `from` (dir 1) or before it
 *     (dir -1) that matches text (from NULL: from the start / the end); writes its key to
 *     found and returns 1, returns 0 when there is none, -1 on error. Optional (NULL: the
 *     list says search is not available).
 *   - filter(src, text): from now on fetch/search return only rows matching text ("" = all).
 *     Returns 0 or -1. Optional.
 *   - count(src): total rows (those the filter keeps) if that is cheap, else -1. Optional.
 *   - pos(src, key): how many rows (those the filter keeps) come before key in the order, if
 *     that is cheap, else -1. Optional: without it the list still says "row N" after Home
 *     and while it scrolls from there (it counts the rows it moves over).
 *   - sort(src, col, desc): from now on order the rows by cell col (desc: descending), ties
 *     in the source's own order; col -1 is the source's own order. Returns 0 or -1. The keys
 *     must then follow that order: a SQL source puts the sort value in the key (sort value +
 *     unique id, "ORDER BY v, id" and "WHERE (v, id) > (?, ?)"); an in-memory source may
 *     keep its keys and map a key to its place itself (tui_vec.c). Optional: a list over a
 *     source without sort() sorts by its natural column only (tui_list.natural_col), either
 *     way: the list reverses the source (fetch AFTER <-> BEFORE), the source does nothing.
 *   - free(src): releases the source (called by tui_list_set_source / tui_list_done).
 *   Sources are called on the console's thread only.
 */
#ifndef DV_TUI_LIST_H
#define DV_TUI_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "theme.h"
#include "tui.h"

#define TUI_KEY_MAX 512
#define TUI_CELL_MAX 256
#define TUI_COLS_MAX 8

enum tui_align { TUI_LEFT = 0, TUI_RIGHT = 1 };

struct tui_column {
    const char *title;
    int width; /* columns; 0 = takes what the others leave (one such column) */
    enum tui_align align;
};
/* Where the flexible column would get fewer than this, a list's narrow widths apply. */
#define TUI_FLEX_MIN 40

struct tui_row {
    char key[TUI_KEY_MAX];
    char cell[TUI_COLS_MAX][TUI_CELL_MAX];
    int elem; /* enum theme_elem */
};

enum tui_fetch { TUI_FROM, TUI_AFTER, TUI_BEFORE };

struct tui_source {
    int (*fetch)(struct tui_source *s, enum tui_fetch mode, const char *key, struct tui_row *rows,
                 int n);
    int (*search)(struct tui_source *s, const char *text, const char *from, int dir,
                  char found[TUI_KEY_MAX]);
    int (*filter)(struct tui_source *s, const char *text);
    long (*count)(struct tui_source *s);
    long (*pos)(struct tui_source *s, const char *key);
    int (*sort)(struct tui_source *s, int col, bool desc);
    void (*free)(struct tui_source *s);
    void *ud;
};

struct tui_list {
    const struct tui_column *cols;
    int ncols;
    /* Optional, one per column: the widths where the flexible column would get fewer than
     * TUI_FLEX_MIN columns (80 columns and below): 0 keeps the width, > 0 is the narrower
     * width, -1 leaves the column out (sorting by it still works), -2 leaves it out only
     * where the flexible column is still too narrow with the others narrowed (60 columns). */
    const int *narrow;
    const char *empty;      /* text when the source has no rows */
    const char *nosrc;      /* text when there is no source ("no data source yet") */
    struct tui_source *src; /* owned */
    struct tui_row *rows;   /* the visible window: rows[0..nrows) */
    int nrows, height;      /* rows held / rows the screen shows */
    int cursor;             /* index in rows */
    char search[128];
    char filter[128];
    char err[1024]; /* last source error, drawn in place of the rows */
    /* what paging cost (for tests and the curious): calls to fetch and rows returned */
    long fetch_calls, fetch_rows;
    struct tui_row *scratch; /* 2 x height rows for scrolling */
    /* sorting: the column shown sorted (-1: the natural order) and its direction; the
     * natural order of the source (set by the screen: e.g. the Sets list is newest first) */
    int sort_col;
    bool sort_desc;
    int natural_col; /* -1: no column (rows as added); tui_list_init sets 0, ascending */
    bool natural_desc;
    bool reversed; /* the list reverses a source that cannot sort (fetch AFTER <-> BEFORE) */
    /* "row N of M": the index of rows[0] (-1 unknown) and the row count (-1 unknown; read
     * again when the source, its filter or its order changes) */
    long top, total;
    /* where the list was drawn last (mouse): the rectangle, the column x and widths */
    struct tui_rect drawn;
    int col_x[TUI_COLS_MAX], col_w[TUI_COLS_MAX];
};

/* List actions (the list's key table: tui_list_keys). */
enum {
    TUI_LIST_UP = 1,
    TUI_LIST_DOWN,
    TUI_LIST_PGUP,
    TUI_LIST_PGDN,
    TUI_LIST_HOME,
    TUI_LIST_END,
    TUI_LIST_SEARCH,
    TUI_LIST_NEXT,
    TUI_LIST_PREV,
    TUI_LIST_FILTER,
    TUI_LIST_SORT_NEXT,
    TUI_LIST_SORT_PREV,
    TUI_LIST_SORT_REV,
};
extern const struct tui_key tui_list_keys[];

/* Set up an empty list with these columns (not copied: static tables). */
void tui_list_init(struct tui_list *l, const struct tui_column *cols, int ncols);
/* Free the source and the rows. */
void tui_list_done(struct tui_list *l);
/* Replace the source (the old one is freed; src owned from now on; NULL = none). Loads the
 * first page. The new source gets the list's filter and sort (a refresh keeps them); NULL
 * forgets the filter and search (a different list comes next). Returns 0 or -1 (dv_err,
 * also kept in l->err). */
int tui_list_set_source(struct tui_list *l, struct tui_source *src);
/* The number of rows shown changed: reload from the top row. Returns 0 or -1. */
int tui_list_set_height(struct tui_list *l, int height);
/* Fetch the visible rows again (data changed), keeping the cursor on its row if it is still
 * there. Returns 0 or -1. */
int tui_list_reload(struct tui_list *l);

/* Movement. Each returns 0 or -1 (source error). Down/up by n rows: the cursor moves, the
 * window scrolls when the cursor leaves it. Page moves scroll by a screen. */
int tui_list_down(struct tui_list *l, int n);
int tui_list_up(struct tui_list *l, int n);
int tui_list_page_down(struct tui_list *l);
int tui_list_page_up(struct tui_list *l);
int tui_list_home(struct tui_list *l);
int tui_list_end(struct tui_list *l);
/* Put the cursor on key (the row is shown, at the top when it was not visible). */
int tui_list_goto(struct tui_list *l, const char *key);
/* Search text from the cursor (excluded) in dir (1 / -1), wrapping once around the end.
 * Returns 1 found (cursor moved; *wrapped set if it wrapped), 0 not found, -1 error. */
int tui_list_find(struct tui_list *l, const char *text, int dir, bool include_current,
                  bool *wrapped);
/* Set the source's filter and go to the first row. Returns 0 or -1. */
int tui_list_set_filter(struct tui_list *l, const char *text);
/* Sort by column col (-1: the natural order) in direction desc; the cursor goes to the first
 * row. Returns 0 or -1 (this source cannot sort by that column: dv_err says so). */
int tui_list_sort(struct tui_list *l, int col, bool desc);
/* The indicator of the list's footer: "row 12 of 340", "row 12", "" (not known). */
void tui_list_position(const struct tui_list *l, char *buf, size_t n);
/* A mouse press at (y, x) (screen cells) on the list as drawn last: the header sorts by that
 * column (again: reverses), a row gets the cursor. Returns 0 outside the list, 1 header, 2
 * a row (the cursor is on it), -1 error (shown by the caller). */
int tui_list_click(struct tui_list *l, int y, int x);
/* The row under the cursor, or NULL. */
const struct tui_row *tui_list_current(const struct tui_list *l);

/* Draw header + rows in r (sets the height from r). */
void tui_list_draw(struct tui_list *l, struct tui_rect r);
/* Handle a list action for the manager (errors become a dialog). Returns flags. */
int tui_list_action(struct tui *t, struct tui_list *l, int action, int key);

#endif

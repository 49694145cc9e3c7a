/*
 * tui_vec.c - row sources backed by a C array (see tui_vec.h).
 *
 * Both sources are an index space 0..n in source order with five operations (the index of
 * a key, whether row i matches a text, row i's key, row i itself, one cell of row i); paging,
 * search, filter, count, position and sort are written once over them (struct arrsrc).
 * Sorted, the rows are shown in the order of a permutation (perm: place -> index, inv: index
 * -> place); keys stay what they are and are mapped to their place through inv.
 */
#include "tui_vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct arrsrc {
    struct tui_source src; /* src.ud points here */
    size_t n;
    char filter[128];
    /* first index whose key is >= key (> key when after); n when there is none */
    size_t (*lower)(const struct arrsrc *a, const char *key, bool after);
    bool (*match)(const struct arrsrc *a, size_t i, const char *text); /* text not "" */
    void (*key)(const struct arrsrc *a, size_t i, char out[TUI_KEY_MAX]);
    void (*row)(struct arrsrc *a, size_t i, struct tui_row *r);
    /* cell col of row i without building the row (NULL: the row is built) */
    const char *(*cell)(const struct arrsrc *a, size_t i, int col);
    size_t *perm, *inv; /* sorted: place -> index, index -> place; NULL: source order */
};

static bool arr_match(const struct arrsrc *a, size_t i, const char *text)
{
    return !text[0] || a->match(a, i, text);
}

/* The index of the row shown at place p. */
static size_t at(const struct arrsrc *a, size_t p)
{
    return a->perm ? a->perm[p] : p;
}

/* The first place whose row comes at or after key (after: strictly after). */
static size_t place_of(const struct arrsrc *a, const char *key, bool after)
{
    if (!a->perm)
        return a->lower(a, key, after);
    size_t i = a->lower(a, key, false);
    if (i >= a->n)
        return a->n;
    char k[TUI_KEY_MAX];
    a->key(a, i, k);
    return a->inv[i] + (after && strcmp(k, key) == 0 ? 1 : 0);
}

static int arr_fetch(struct tui_source *s, enum tui_fetch mode, const char *key,
                     struct tui_row *rows, int n)
{
    struct arrsrc *a = s->ud;
    int got = 0;
    if (mode == TUI_BEFORE) { /* count back n matching rows, then fill them in order */
        size_t p = key ? place_of(a, key, false) : a->n;
        while (p > 0 && got < n) {
            p--;
            if (arr_match(a, at(a, p), a->filter))
                got++;
        }
        for (int k = 0; k < got; p++)
            if (arr_match(a, at(a, p), a->filter))
                a->row(a, at(a, p), &rows[k++]);
        return got;
    }
    size_t p = key ? place_of(a, key, mode == TUI_AFTER) : 0;
    for (; p < a->n && got < n; p++)
        if (arr_match(a, at(a, p), a->filter))
            a->row(a, at(a, p), &rows[got++]);
    return got;
}

static int arr_search(struct tui_source *s, const char *text, const char *from, int dir,
                      char found[TUI_KEY_MAX])
{
    struct arrsrc *a = s->ud;
    if (dir > 0) {
        for (size_t p = from ? place_of(a, from, true) : 0; p < a->n; p++)
            if (arr_match(a, at(a, p), a->filter) && arr_match(a, at(a, p), text)) {
                a->key(a, at(a, p), found);
                return 1;
            }
    } else {
        for (size_t p = from ? place_of(a, from, false) : a->n; p > 0; p--)
            if (arr_match(a, at(a, p - 1), a->filter) && arr_match(a, at(a, p - 1), text)) {
                a->key(a, at(a, p - 1), found);
                return 1;
            }
    }
    return 0;
}

static int arr_filter(struct tui_source *s, const char *text)
{
    struct arrsrc *a = s->ud;
    snprintf(a->filter, sizeof a->filter, "%s", text);
    return 0;
}

/* Rows the filter keeps among places [0, end). */
static long arr_kept(const struct arrsrc *a, size_t end)
{
    if (!a->filter[0])
        return (long)end;
    long k = 0;
    for (size_t p = 0; p < end; p++)
        k += arr_match(a, at(a, p), a->filter);
    return k;
}

static long arr_count(struct tui_source *s)
{
    struct arrsrc *a = s->ud;
    return arr_kept(a, a->n);
}

static long arr_pos(struct tui_source *s, const char *key)
{
    struct arrsrc *a = s->ud;
    return arr_kept(a, place_of(a, key, false));
}

/*
 * Two cells in a list's order: numbers (with a unit: "1.5 MiB", "12", "0:40") by value, before
 * text; text and equal numbers byte-wise ("2026-11-29 10:00" sorts as a date).
 */
static double cell_value(const char *s, bool *num)
{
    char *end;
    double v = strtod(s, &end);
    *num = end != s;
    if (!*num)
        return 0;
    /* an age or a duration: "20s", "5m", "3h 05m", "8d 03h" (seconds) */
    if (*end == 's' || *end == 'm' || *end == 'h' || *end == 'd') {
        double t = 0;
        const char *p = s;
        for (;;) {
            double x = strtod(p, &end);
            if (end == p)
                break;
            double u = *end == 's'   ? 1
                       : *end == 'm' ? 60
                       : *end == 'h' ? 3600
                       : *end == 'd' ? 86400
                                     : 0;
            if (u == 0 || (end[1] && end[1] != ' '))
                return v; /* not a duration after all */
            t += x * u;
            p = end + 1;
        }
        return t;
    }
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    while (*end == ' ')
        end++;
    double m = 1;
    for (int u = 0; u < 6; u++, m *= 1024)
        if (strcmp(end, units[u]) == 0)
            return v * m;
    return v;
}

struct sortent {
    char *v;
    double num; /* the value when isnum */
    bool isnum;
    size_t i;
};

static bool sort_desc_now; /* the console's thread only */

static int sortent_cmp(const void *pa, const void *pb)
{
    const struct sortent *x = pa, *y = pb;
    int c = x->isnum != y->isnum           ? (x->isnum ? -1 : 1)
            : x->isnum && x->num != y->num ? (x->num < y->num ? -1 : 1)
                                           : strcmp(x->v, y->v);
    if (sort_desc_now)
        c = -c;
    if (c)
        return c;
    return x->i < y->i ? -1 : x->i > y->i; /* ties in source order */
}

static int arr_sort(struct tui_source *s, int col, bool desc)
{
    struct arrsrc *a = s->ud;
    free(a->perm);
    free(a->inv);
    a->perm = a->inv = NULL;
    if (col < 0 || col >= TUI_COLS_MAX || a->n == 0)
        return 0;
    struct sortent *e = dv_calloc(a->n, sizeof *e);
    struct tui_row *r = a->cell ? NULL : dv_malloc(sizeof *r);
    for (size_t i = 0; i < a->n; i++) {
        const char *v = a->cell ? a->cell(a, i, col) : NULL;
        if (!a->cell) {
            a->row(a, i, r); /* a tui_keys row is built here: every row is read once */
            v = r->cell[col];
        }
        e[i].v = a->cell ? (char *)(v ? v : "") : dv_strdup(v); /* a vec's cells stay */
        e[i].num = cell_value(e[i].v, &e[i].isnum);
        e[i].i = i;
    }
    free(r);
    sort_desc_now = desc;
    qsort(e, a->n, sizeof *e, sortent_cmp);
    a->perm = dv_calloc(a->n, sizeof *a->perm);
    a->inv = dv_calloc(a->n, sizeof *a->inv);
    for (size_t p = 0; p < a->n; p++) {
        a->perm[p] = e[p].i;
        a->inv[e[p].i] = p;
        if (!a->cell)
            free(e[p].v);
    }
    free(e);
    return 0;
}

static void arr_done(struct arrsrc *a)
{
    free(a->perm);
    free(a->inv);
}

static void arr_init(struct arrsrc *a, void (*free_fn)(struct tui_source *s))
{
    a->src = (struct tui_source){.fetch = arr_fetch,
                                 .search = arr_search,
                                 .filter = arr_filter,
                                 .count = arr_count,
                                 .pos = arr_pos,
                                 .sort = arr_sort,
                                 .free = free_fn,
                                 .ud = a};
}

/* ---- tui_vec: rows added once, keyed by index ---- */

struct vrow {
    int elem;
    char *tag;
    char *cells[TUI_COLS_MAX];
};

struct vecsrc {
    struct arrsrc a; /* first */
    int ncells;
    struct vrow *v;
    size_t cap;
};

static bool vec_match(const struct arrsrc *a, size_t i, const char *text)
{
    const struct vecsrc *d = (const struct vecsrc *)a;
    if (d->v[i].tag && strcasestr(d->v[i].tag, text))
        return true;
    for (int k = 0; k < d->ncells; k++)
        if (d->v[i].cells[k] && strcasestr(d->v[i].cells[k], text))
            return true;
    return false;
}

static void vec_key(const struct arrsrc *a, size_t i, char out[TUI_KEY_MAX])
{
    (void)a;
    snprintf(out, TUI_KEY_MAX, "%010zu", i);
}

static void vec_row(struct arrsrc *a, size_t i, struct tui_row *r)
{
    const struct vecsrc *d = (const struct vecsrc *)a;
    memset(r, 0, sizeof *r);
    vec_key(a, i, r->key);
    for (int k = 0; k < d->ncells; k++)
        snprintf(r->cell[k], sizeof r->cell[k], "%s", d->v[i].cells[k] ? d->v[i].cells[k] : "");
    r->elem = d->v[i].elem;
}

static const char *vec_cell(const struct arrsrc *a, size_t i, int col)
{
    const struct vecsrc *d = (const struct vecsrc *)a;
    return col < d->ncells ? d->v[i].cells[col] : NULL;
}

/* Keys are indexes, so "after" is +1. */
static size_t vec_lower(const struct arrsrc *a, const char *key, bool after)
{
    size_t i = (size_t)strtoull(key, NULL, 10) + (after ? 1 : 0);
    return i > a->n ? a->n : i;
}

static void vec_free(struct tui_source *s)
{
    struct vecsrc *d = s->ud;
    for (size_t i = 0; i < d->a.n; i++) {
        free(d->v[i].tag);
        for (int k = 0; k < d->ncells; k++)
            free(d->v[i].cells[k]);
    }
    free(d->v);
    arr_done(&d->a);
    free(d);
}

struct tui_source *tui_vec_new(int ncells)
{
    struct vecsrc *d = dv_calloc(1, sizeof *d);
    d->ncells = ncells < 0 ? 0 : ncells > TUI_COLS_MAX ? TUI_COLS_MAX : ncells;
    d->a.lower = vec_lower;
    d->a.match = vec_match;
    d->a.key = vec_key;
    d->a.row = vec_row;
    d->a.cell = vec_cell;
    arr_init(&d->a, vec_free);
    return &d->a.src;
}

void tui_vec_add(struct tui_source *src, int elem, const char *tag, const char *const *cells)
{
    struct vecsrc *d = src->ud;
    if (d->a.n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->v = dv_realloc(d->v, d->cap * sizeof *d->v);
    }
    struct vrow *r = &d->v[d->a.n++];
    memset(r, 0, sizeof *r);
    r->elem = elem;
    r->tag = tag ? dv_strdup(tag) : NULL;
    for (int k = 0; k < d->ncells; k++)
        r->cells[k] = cells && cells[k] ? dv_strdup(cells[k]) : NULL;
}

size_t tui_vec_len(const struct tui_source *src)
{
    return ((const struct vecsrc *)src->ud)->a.n;
}

const char *tui_vec_tag(const struct tui_source *src, const char *key)
{
    const struct vecsrc *d = src->ud;
    if (!key)
        return NULL;
    size_t i = (size_t)strtoull(key, NULL, 10);
    return i < d->a.n ? d->v[i].tag : NULL;
}

/* ---- tui_keys: a sorted array of keys, rows built by the caller ---- */

struct keysrc {
    struct arrsrc a; /* first */
    char *const *keys;
    void (*row)(void *ud, size_t i, struct tui_row *r);
    void (*done)(void *ud);
    void *ud;
};

static size_t keys_lower(const struct arrsrc *a, const char *key, bool after)
{
    const struct keysrc *d = (const struct keysrc *)a;
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(d->keys[mid], key);
        if (c < 0 || (after && c == 0))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool keys_match(const struct arrsrc *a, size_t i, const char *text)
{
    return strcasestr(((const struct keysrc *)a)->keys[i], text) != NULL;
}

static void keys_key(const struct arrsrc *a, size_t i, char out[TUI_KEY_MAX])
{
    snprintf(out, TUI_KEY_MAX, "%s", ((const struct keysrc *)a)->keys[i]);
}

static void keys_row(struct arrsrc *a, size_t i, struct tui_row *r)
{
    struct keysrc *d = (struct keysrc *)a;
    d->row(d->ud, i, r);
}

static void keys_free(struct tui_source *s)
{
    struct keysrc *d = s->ud;
    if (d->done)
        d->done(d->ud);
    arr_done(&d->a);
    free(d);
}

struct tui_source *tui_keys_new(char *const *keys, size_t n,
                                void (*row)(void *ud, size_t i, struct tui_row *r),
                                void (*done)(void *ud), void *ud)
{
    struct keysrc *d = dv_calloc(1, sizeof *d);
    d->keys = keys;
    d->row = row;
    d->done = done;
    d->ud = ud;
    d->a.n = n;
    d->a.lower = keys_lower;
    d->a.match = keys_match;
    d->a.key = keys_key;
    d->a.row = keys_row;
    arr_init(&d->a, keys_free);
    return &d->a.src;
}

size_t tui_keys_index(const struct tui_source *src, const char *key)
{
    const struct keysrc *d = src->ud;
    size_t i = keys_lower(&d->a, key, false);
    return i < d->a.n && strcmp(d->keys[i], key) == 0 ? i : d->a.n;
}

void *tui_keys_ud(const struct tui_source *src)
{
    return ((const struct keysrc *)src->ud)->ud;
}

/* ---- tui_sortable: a paged source, snapshotted in memory to sort by another column ---- */

#define SORTABLE_MAX 200000 /* rows a snapshot may hold (a catalog list: sets, jobs) */

struct snaprow {
    int elem;
    char *key; /* the paged source's key: the screen's handle on the row */
    char *cells[TUI_COLS_MAX];
};

struct snapsrc {
    struct arrsrc a; /* first */
    int ncells;
    struct snaprow *v;
    size_t *byk; /* indexes sorted by key: a key's index by binary search */
};

static bool snap_match(const struct arrsrc *a, size_t i, const char *text)
{
    const struct snapsrc *d = (const struct snapsrc *)a;
    for (int k = 0; k < d->ncells; k++)
        if (d->v[i].cells[k] && strcasestr(d->v[i].cells[k], text))
            return true;
    return false;
}

static void snap_key(const struct arrsrc *a, size_t i, char out[TUI_KEY_MAX])
{
    snprintf(out, TUI_KEY_MAX, "%s", ((const struct snapsrc *)a)->v[i].key);
}

static void snap_row(struct arrsrc *a, size_t i, struct tui_row *r)
{
    const struct snapsrc *d = (const struct snapsrc *)a;
    memset(r, 0, sizeof *r);
    snap_key(a, i, r->key);
    for (int k = 0; k < d->ncells; k++)
        snprintf(r->cell[k], sizeof r->cell[k], "%s", d->v[i].cells[k] ? d->v[i].cells[k] : "");
    r->elem = d->v[i].elem;
}

static const char *snap_cell(const struct arrsrc *a, size_t i, int col)
{
    const struct snapsrc *d = (const struct snapsrc *)a;
    return col < d->ncells ? d->v[i].cells[col] : NULL;
}

/* A key's index in source order (+1 after); a key the snapshot does not hold: from the start
 * (a list asks for one only across a refresh, which builds a new snapshot anyway). */
static size_t snap_lower(const struct arrsrc *a, const char *key, bool after)
{
    const struct snapsrc *d = (const struct snapsrc *)a;
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->v[d->byk[mid]].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < a->n && strcmp(d->v[d->byk[lo]].key, key) == 0)
        return d->byk[lo] + (after ? 1 : 0);
    return 0;
}

static const struct snaprow *byk_rows; /* the console's thread only (qsort has no context) */

static int byk_cmp(const void *x, const void *y)
{
    return strcmp(byk_rows[*(const size_t *)x].key, byk_rows[*(const size_t *)y].key);
}

static void snap_free(struct tui_source *s)
{
    struct snapsrc *d = s->ud;
    for (size_t i = 0; i < d->a.n; i++) {
        free(d->v[i].key);
        for (int k = 0; k < d->ncells; k++)
            free(d->v[i].cells[k]);
    }
    free(d->v);
    free(d->byk);
    arr_done(&d->a);
    free(d);
}

/* Every row of src, in its order (NULL with dv_err: an error, or more than SORTABLE_MAX). */
static struct tui_source *snap_take(struct tui_source *src, int ncells)
{
    struct snapsrc *d = dv_calloc(1, sizeof *d);
    d->ncells = ncells < 0 ? 0 : ncells > TUI_COLS_MAX ? TUI_COLS_MAX : ncells;
    d->a.lower = snap_lower;
    d->a.match = snap_match;
    d->a.key = snap_key;
    d->a.row = snap_row;
    d->a.cell = snap_cell;
    arr_init(&d->a, snap_free);
    enum { CHUNK = 256 };
    struct tui_row *rows = dv_calloc(CHUNK, sizeof *rows);
    size_t cap = 0;
    char last[TUI_KEY_MAX] = "";
    for (;;) {
        int got = src->fetch(src, d->a.n ? TUI_AFTER : TUI_FROM, d->a.n ? last : NULL, rows, CHUNK);
        if (got < 0 || d->a.n + (size_t)got > SORTABLE_MAX) {
            if (got >= 0)
                dv_seterr("more than %d rows: too many to sort by this column", SORTABLE_MAX);
            free(rows);
            snap_free(&d->a.src);
            return NULL;
        }
        for (int k = 0; k < got; k++) {
            if (d->a.n == cap) {
                cap = cap ? cap * 2 : CHUNK;
                d->v = dv_realloc(d->v, cap * sizeof *d->v);
            }
            struct snaprow *r = &d->v[d->a.n++];
            r->elem = rows[k].elem;
            r->key = dv_strdup(rows[k].key);
            for (int c = 0; c < d->ncells; c++)
                r->cells[c] = dv_strdup(rows[k].cell[c]);
        }
        if (got < CHUNK)
            break;
        snprintf(last, sizeof last, "%s", rows[got - 1].key);
    }
    free(rows);
    d->byk = dv_calloc(d->a.n ? d->a.n : 1, sizeof *d->byk);
    for (size_t i = 0; i < d->a.n; i++)
        d->byk[i] = i;
    byk_rows = d->v;
    qsort(d->byk, d->a.n, sizeof *d->byk, byk_cmp);
    return &d->a.src;
}

struct sortable {
    struct tui_source src;           /* src.ud points here */
    struct tui_source *paged, *snap; /* snap: while sorted other than the natural order */
    int ncells, natural_col;
    bool natural_desc;
    char filter[128];
};

/* The source answering now: the snapshot while there is one. */
static struct tui_source *srt_now(struct tui_source *s)
{
    struct sortable *w = s->ud;
    return w->snap ? w->snap : w->paged;
}

static int srt_fetch(struct tui_source *s, enum tui_fetch mode, const char *key,
                     struct tui_row *rows, int n)
{
    struct tui_source *u = srt_now(s);
    return u->fetch(u, mode, key, rows, n);
}

static int srt_search(struct tui_source *s, const char *text, const char *from, int dir,
                      char found[TUI_KEY_MAX])
{
    struct tui_source *u = srt_now(s);
    if (!u->search) {
        dv_seterr("search needs a sorted view here (> sorts by the next column)");
        return -1;
    }
    return u->search(u, text, from, dir, found);
}

static int srt_filter(struct tui_source *s, const char *text)
{
    struct sortable *w = s->ud;
    struct tui_source *u = srt_now(s);
    if (!u->filter) {
        dv_seterr("filter needs a sorted view here (> sorts by the next column)");
        return -1;
    }
    snprintf(w->filter, sizeof w->filter, "%s", text);
    return u->filter(u, text);
}

static long srt_count(struct tui_source *s)
{
    struct tui_source *u = srt_now(s);
    return u->count ? u->count(u) : -1;
}

static long srt_pos(struct tui_source *s, const char *key)
{
    struct tui_source *u = srt_now(s);
    return u->pos ? u->pos(u, key) : -1;
}

static int srt_sort(struct tui_source *s, int col, bool desc)
{
    struct sortable *w = s->ud;
    if (col < 0 || (col == w->natural_col && desc == w->natural_desc)) {
        if (w->snap)
            w->snap->free(w->snap);
        w->snap = NULL;
        return 0;
    }
    if (!w->snap) {
        if (!(w->snap = snap_take(w->paged, w->ncells)))
            return -1;
        if (w->filter[0])
            w->snap->filter(w->snap, w->filter);
    }
    /* the natural column the other way round: the snapshot reversed (ties stay in order) */
    return w->snap->sort(w->snap, col, desc);
}

static void srt_free(struct tui_source *s)
{
    struct sortable *w = s->ud;
    if (w->snap)
        w->snap->free(w->snap);
    w->paged->free(w->paged);
    free(w);
}

struct tui_source *tui_sortable_new(struct tui_source *paged, int ncells, int natural_col,
                                    bool natural_desc)
{
    struct sortable *w = dv_calloc(1, sizeof *w);
    w->paged = paged;
    w->ncells = ncells;
    w->natural_col = natural_col;
    w->natural_desc = natural_desc;
    w->src = (struct tui_source){.fetch = srt_fetch,
                                 .search = srt_search,
                                 .filter = srt_filter,
                                 .count = srt_count,
                                 .pos = srt_pos,
                                 .sort = srt_sort,
                                 .free = srt_free,
                                 .ud = w};
    return &w->src;
}

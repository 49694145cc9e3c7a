/*
 * tui_vec.c - row sources backed by a C array (see tui_vec.h).
 *
 * Both sources are an index space 0..n in source order with four operations (the index of
 * a key, whether row i matches a text, row i's key, row i itself); paging, search, filter
 * and count are written once over them (struct arrsrc).
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
};

static bool arr_match(const struct arrsrc *a, size_t i, const char *text)
{
    return !text[0] || a->match(a, i, text);
}

static int arr_fetch(struct tui_source *s, enum tui_fetch mode, const char *key,
                     struct tui_row *rows, int n)
{
    struct arrsrc *a = s->ud;
    int got = 0;
    if (mode == TUI_BEFORE) { /* count back n matching rows, then fill them in order */
        size_t i = key ? a->lower(a, key, false) : a->n;
        while (i > 0 && got < n) {
            i--;
            if (arr_match(a, i, a->filter))
                got++;
        }
        for (int k = 0; k < got; i++)
            if (arr_match(a, i, a->filter))
                a->row(a, i, &rows[k++]);
        return got;
    }
    size_t i = key ? a->lower(a, key, mode == TUI_AFTER) : 0;
    for (; i < a->n && got < n; i++)
        if (arr_match(a, i, a->filter))
            a->row(a, i, &rows[got++]);
    return got;
}

static int arr_search(struct tui_source *s, const char *text, const char *from, int dir,
                      char found[TUI_KEY_MAX])
{
    struct arrsrc *a = s->ud;
    if (dir > 0) {
        for (size_t i = from ? a->lower(a, from, true) : 0; i < a->n; i++)
            if (arr_match(a, i, a->filter) && arr_match(a, i, text)) {
                a->key(a, i, found);
                return 1;
            }
    } else {
        for (size_t i = from ? a->lower(a, from, false) : a->n; i > 0; i--)
            if (arr_match(a, i - 1, a->filter) && arr_match(a, i - 1, text)) {
                a->key(a, i - 1, found);
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

static long arr_count(struct tui_source *s)
{
    struct arrsrc *a = s->ud;
    return a->filter[0] ? -1 : (long)a->n;
}

static void arr_init(struct arrsrc *a, void (*free_fn)(struct tui_source *s))
{
    a->src = (struct tui_source){.fetch = arr_fetch,
                                 .search = arr_search,
                                 .filter = arr_filter,
                                 .count = arr_count,
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

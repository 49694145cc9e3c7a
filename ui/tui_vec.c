/*
 * tui_vec.c - an in-memory row source (see tui_vec.h).
 */
#include "tui_vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct vrow {
    int elem;
    char *tag;
    char *cells[TUI_COLS_MAX];
};

struct vecsrc {
    struct tui_source src;
    int ncells;
    struct vrow *v;
    size_t n, cap;
    char filter[128];
};

static bool vec_match(const struct vecsrc *d, size_t i, const char *text)
{
    if (!text[0])
        return true;
    if (d->v[i].tag && strcasestr(d->v[i].tag, text))
        return true;
    for (int k = 0; k < d->ncells; k++)
        if (d->v[i].cells[k] && strcasestr(d->v[i].cells[k], text))
            return true;
    return false;
}

static void vec_row(const struct vecsrc *d, size_t i, struct tui_row *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%010zu", i);
    for (int k = 0; k < d->ncells; k++)
        snprintf(r->cell[k], sizeof r->cell[k], "%s", d->v[i].cells[k] ? d->v[i].cells[k] : "");
    r->elem = d->v[i].elem;
}

/* Index of key; keys are indexes, so "after" is +1. */
static size_t vec_index(const struct vecsrc *d, const char *key, bool after)
{
    size_t i = (size_t)strtoull(key, NULL, 10) + (after ? 1 : 0);
    return i > d->n ? d->n : i;
}

static int vec_fetch(struct tui_source *s, enum tui_fetch mode, const char *key,
                     struct tui_row *rows, int n)
{
    struct vecsrc *d = s->ud;
    int got = 0;
    if (mode == TUI_BEFORE) {
        size_t i = key ? vec_index(d, key, false) : d->n;
        while (i > 0 && got < n) {
            i--;
            if (vec_match(d, i, d->filter))
                got++;
        }
        for (int k = 0; k < got; i++)
            if (vec_match(d, i, d->filter))
                vec_row(d, i, &rows[k++]);
        return got;
    }
    size_t i = key ? vec_index(d, key, mode == TUI_AFTER) : 0;
    for (; i < d->n && got < n; i++)
        if (vec_match(d, i, d->filter))
            vec_row(d, i, &rows[got++]);
    return got;
}

static int vec_search(struct tui_source *s, const char *text, const char *from, int dir,
                      char found[TUI_KEY_MAX])
{
    struct vecsrc *d = s->ud;
    if (dir > 0) {
        for (size_t i = from ? vec_index(d, from, true) : 0; i < d->n; i++)
            if (vec_match(d, i, d->filter) && vec_match(d, i, text)) {
                snprintf(found, TUI_KEY_MAX, "%010zu", i);
                return 1;
            }
    } else {
        for (size_t i = from ? vec_index(d, from, false) : d->n; i > 0; i--)
            if (vec_match(d, i - 1, d->filter) && vec_match(d, i - 1, text)) {
                snprintf(found, TUI_KEY_MAX, "%010zu", i - 1);
                return 1;
            }
    }
    return 0;
}

static int vec_filter(struct tui_source *s, const char *text)
{
    struct vecsrc *d = s->ud;
    snprintf(d->filter, sizeof d->filter, "%s", text);
    return 0;
}

static long vec_count(struct tui_source *s)
{
    struct vecsrc *d = s->ud;
    return d->filter[0] ? -1 : (long)d->n;
}

static void vec_free(struct tui_source *s)
{
    struct vecsrc *d = s->ud;
    for (size_t i = 0; i < d->n; i++) {
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
    d->src = (struct tui_source){.fetch = vec_fetch,
                                 .search = vec_search,
                                 .filter = vec_filter,
                                 .count = vec_count,
                                 .free = vec_free,
                                 .ud = d};
    return &d->src;
}

void tui_vec_add(struct tui_source *src, int elem, const char *tag, const char *const *cells)
{
    struct vecsrc *d = src->ud;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 64;
        d->v = dv_realloc(d->v, d->cap * sizeof *d->v);
    }
    struct vrow *r = &d->v[d->n++];
    memset(r, 0, sizeof *r);
    r->elem = elem;
    r->tag = tag ? dv_strdup(tag) : NULL;
    for (int k = 0; k < d->ncells; k++)
        r->cells[k] = cells && cells[k] ? dv_strdup(cells[k]) : NULL;
}

size_t tui_vec_len(const struct tui_source *src)
{
    return ((const struct vecsrc *)src->ud)->n;
}

const char *tui_vec_tag(const struct tui_source *src, const char *key)
{
    const struct vecsrc *d = src->ud;
    if (!key)
        return NULL;
    size_t i = (size_t)strtoull(key, NULL, 10);
    return i < d->n ? d->v[i].tag : NULL;
}

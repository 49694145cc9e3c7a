/* unbacked.c - the live NLOs no backup holds yet. See unbacked.h. */
#include "unbacked.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "util.h"

/* 1 when the pool holds name, 0 not (always 0 without a catalog), -1 error. */
static int in_pool(struct catalog *cat, const char *name)
{
    return cat ? catalog_pool_get(cat, name, NULL) : 0;
}

size_t unbacked_chunk = 1024;
#define CHUNK unbacked_chunk

/* The pool's names as a cursor in the page's direction (keyset-paged from the same start). */
struct pool_cursor {
    struct catalog *cat;
    bool backward, more;
    char (*names)[CATALOG_NLO_NAME_LEN + 1];
    size_t n, i;
};

/* The cursor's current name (NULL: exhausted), refilled when a page is used up. */
static int pool_cur(struct pool_cursor *p, const char **name)
{
    if (p->i == p->n && p->more) {
        char key[CATALOG_NLO_NAME_LEN + 1];
        snprintf(key, sizeof key, "%s", p->names[p->n - 1]);
        int rc = p->backward ? catalog_pool_name_page_back(p->cat, key, p->names, CHUNK, &p->n)
                             : catalog_pool_name_page(p->cat, key, p->names, CHUNK, &p->n);
        if (rc != 0)
            return -1;
        p->i = 0;
        p->more = p->n == CHUNK;
    }
    *name = p->i < p->n ? p->names[p->i] : NULL;
    return 0;
}

/* The whole merge (no mark, or it cannot be trusted). */
static int merge_page(struct dv_store *st, struct catalog *cat, const char *after, bool backward,
                      struct store_object *out, size_t max, size_t *n)
{
    *n = 0;
    if (max == 0)
        return 0;
    /* Two name-ordered cursors merged: the live index and the pool, each read once in
       large keyset pages (no point lookup per live object). */
    struct store_object *lv = dv_calloc(CHUNK, sizeof *lv);
    struct pool_cursor p = {.cat = cat, .backward = backward};
    char key[STORE_NLO_NAME_LEN + 1];
    snprintf(key, sizeof key, "%s", after ? after : "");
    int rc = 0;
    if (cat) {
        p.names = dv_malloc(CHUNK * sizeof *p.names);
        rc = backward ? catalog_pool_name_page_back(cat, key, p.names, CHUNK, &p.n)
                      : catalog_pool_name_page(cat, key, p.names, CHUNK, &p.n);
        p.more = p.n == CHUNK;
    }
    while (rc == 0 && *n < max) {
        size_t k = 0;
        if ((rc = store_objects_page(st, key, backward, false, lv, CHUNK, &k)) != 0)
            break;
        for (size_t i = 0; rc == 0 && i < k && *n < max; i++) {
            const char *pn = NULL;
            int cmp = -1;
            while (cat && (rc = pool_cur(&p, &pn)) == 0 && pn) {
                cmp = strcmp(lv[i].name, pn);
                if (backward)
                    cmp = -cmp;
                if (cmp <= 0)
                    break;
                p.i++; /* a pool name no longer live */
            }
            if (rc == 0 && !(pn && cmp == 0))
                out[(*n)++] = lv[i];
        }
        if (rc != 0 || k < CHUNK)
            break;
        snprintf(key, sizeof key, "%s", lv[k - 1].name);
    }
    free(p.names);
    free(lv);
    return rc;
}

int unbacked_get(struct dv_store *st, struct catalog *cat, const char *name,
                 struct store_object *out)
{
    struct store_object o;
    int lr = store_object_get(st, name, &o);
    if (lr != 1)
        return lr;
    int pr = in_pool(cat, name);
    if (pr != 0)
        return pr < 0 ? -1 : 0;
    if (out)
        *out = o;
    return 1;
}

/* ---- the kept answer ---------------------------------------------------------------------- */

size_t unbacked_mark_max = 100000;

struct names {
    char (*v)[STORE_NLO_NAME_LEN + 1];
    size_t n, cap;
};

static int names_add(void *ud, const char *name)
{
    struct names *l = ud;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = dv_realloc(l->v, l->cap * sizeof *l->v);
    }
    snprintf(l->v[l->n++], sizeof *l->v, "%s", name);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The mark is valid: the catalog's "EPOCH SEQ" has the index's epoch, the log reached SEQ
 * and still holds everything after it. 1 valid (*seq), 0 not, -1 error. */
static int mark_valid(struct dv_store *st, struct catalog *cat, int64_t *seq)
{
    char mark[128], ep[STORE_ADDED_EPOCH_LEN + 1], mep[STORE_ADDED_EPOCH_LEN + 1];
    int r = catalog_unbacked_mark(cat, mark, sizeof mark);
    if (r <= 0)
        return r;
    int64_t last = 0, first = 0;
    if (store_added_state(st, ep, &last, &first) != 0)
        return -1;
    long long mseq;
    if (sscanf(mark, "%32s %lld", mep, &mseq) != 2 || strcmp(mep, ep) != 0 || mseq > last ||
        first > mseq + 1)
        return 0;
    *seq = mseq;
    return 1;
}

int unbacked_page(struct dv_store *st, struct catalog *cat, const char *after, bool backward,
                  struct store_object *out, size_t max, size_t *n)
{
    *n = 0;
    int64_t seq = 0;
    int v = cat ? mark_valid(st, cat, &seq) : 0;
    if (v < 0)
        return -1;
    if (v == 0)
        return merge_page(st, cat, after, backward, out, max, n);
    /* The candidates: the names the last NLO pass left out, and the names the index gained
       since; each checked now (live, not in the pool). */
    struct names l = {0};
    int rc = catalog_unbacked_names(cat, names_add, &l);
    if (rc == 0)
        rc = store_added_since(st, seq, names_add, &l);
    if (rc == 0 && l.n)
        qsort(l.v, l.n, sizeof *l.v, cmp_name);
    const char *a = after ? after : "";
    for (size_t k = 0; rc == 0 && k < l.n && *n < max; k++) {
        size_t i = backward ? l.n - 1 - k : k;
        size_t prev = backward ? i + 1 : i - 1;
        if (k > 0 && strcmp(l.v[i], l.v[prev]) == 0)
            continue;
        int c = strcmp(l.v[i], a);
        if (a[0] && (backward ? c >= 0 : c <= 0))
            continue;
        struct store_object o;
        int lr = store_object_get(st, l.v[i], &o);
        if (lr < 0) {
            rc = -1;
            break;
        }
        if (lr == 0)
            continue;
        int pr = in_pool(cat, l.v[i]);
        if (pr < 0)
            rc = -1;
        else if (pr == 0)
            out[(*n)++] = o;
    }
    free(l.v);
    return rc;
}

int unbacked_mark(struct dv_store *st, struct catalog *cat)
{
    char ep[STORE_ADDED_EPOCH_LEN + 1];
    int64_t seq = 0, first = 0;
    if (store_added_state(st, ep, &seq, &first) != 0)
        return -1;
    struct names l = {0};
    struct store_object *page = dv_calloc(CHUNK, sizeof *page);
    char key[STORE_NLO_NAME_LEN + 1] = "";
    int rc = 0;
    bool over = false;
    for (;;) { /* the merge once, after seq was read: a name added since is in the log */
        size_t k = 0;
        if ((rc = merge_page(st, cat, key, false, page, CHUNK, &k)) != 0)
            break;
        for (size_t i = 0; i < k; i++)
            names_add(&l, page[i].name);
        if (l.n > unbacked_mark_max) {
            over = true; /* too many to keep: the merge answers (exact, slower) */
            break;
        }
        if (k < CHUNK)
            break;
        snprintf(key, sizeof key, "%s", page[k - 1].name);
    }
    free(page);
    char mark[128];
    snprintf(mark, sizeof mark, "%s %lld", ep, (long long)seq);
    if (rc == 0)
        rc = catalog_unbacked_set(cat, over ? NULL : mark,
                                  (const char(*)[CATALOG_NLO_NAME_LEN + 1]) l.v, over ? 0 : l.n);
    free(l.v);
    return rc;
}

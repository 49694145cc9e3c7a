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

int unbacked_page(struct dv_store *st, struct catalog *cat, const char *after, bool backward,
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

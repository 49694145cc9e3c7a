/* unbacked.c - the live NLOs no backup holds yet. See unbacked.h. */
#include "unbacked.h"

#include <stdio.h>
#include <stdlib.h>

#include "catalog.h"
#include "util.h"

/* 1 when the pool holds name, 0 not (always 0 without a catalog), -1 error. */
static int in_pool(struct catalog *cat, const char *name)
{
    return cat ? catalog_pool_get(cat, name, NULL) : 0;
}

int unbacked_page(struct dv_store *st, struct catalog *cat, const char *after, bool backward,
                  struct store_object *out, size_t max, size_t *n)
{
    *n = 0;
    if (max == 0)
        return 0;
    size_t chunk = max < 64 ? 64 : max;
    struct store_object *lv = dv_calloc(chunk, sizeof *lv);
    char key[STORE_NLO_NAME_LEN + 1];
    snprintf(key, sizeof key, "%s", after ? after : "");
    int rc = 0;
    while (*n < max) {
        size_t k = 0;
        if ((rc = store_objects_page(st, key, backward, false, lv, chunk, &k)) != 0)
            break;
        for (size_t i = 0; rc == 0 && i < k && *n < max; i++) {
            int pr = in_pool(cat, lv[i].name);
            if (pr < 0)
                rc = -1;
            else if (pr == 0)
                out[(*n)++] = lv[i];
        }
        if (rc != 0 || k < chunk)
            break;
        snprintf(key, sizeof key, "%s", lv[k - 1].name);
    }
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

/*
 * nlopass_sweep.c - the NLO pass's pool check on a store without directories (an S3 target;
 * nlopass.h): one listing of the bucket's nlo/ in key order merged with the catalog's names.
 */
#include "nlopass.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define PAGE 4096   /* catalog names per page */
#define ABSENT 4096 /* absent names handed over at once (then the listing starts again) */

typedef char name_t[TARGET_NLO_NAME_LEN + 1];

struct sweep {
    struct catalog *cat;
    struct dv_job *job;
    name_t *page; /* the catalog's names, one page */
    size_t np, j;
    bool more;
    name_t after;
    name_t *absent; /* recorded names the listing passed without holding them */
    size_t nabs;
    uint64_t seen;
};

/* The catalog's current name (NULL: none left), paging on. -1 in *err on a catalog error. */
static const char *cur(struct sweep *s, int *err)
{
    if (s->j == s->np && s->more) {
        if (catalog_pool_name_page(s->cat, s->after, s->page, PAGE, &s->np) != 0) {
            *err = -1;
            return NULL;
        }
        s->j = 0;
        s->more = s->np == PAGE;
        if (s->np)
            memcpy(s->after, s->page[s->np - 1], sizeof s->after);
    }
    return s->j < s->np ? s->page[s->j] : NULL;
}

/* target_list's callback: merge one listed object with the catalog; 1 when the absent names
 * fill their buffer (the listing stops, they are handed over, and it starts again: the
 * catalog's cursor only moves forward, so what was merged is skipped), -1 on an error. */
static int listed(void *ud, const char *rel, uint64_t size)
{
    (void)size;
    struct sweep *s = ud;
    const char *nm = strrchr(rel, '/');
    nm = nm ? nm + 1 : rel;
    if (strlen(nm) != TARGET_NLO_NAME_LEN || !target_nlo_name_valid(nm) ||
        strncmp(rel, "nlo/", 4) != 0 || strncmp(rel + 4, nm, 3) != 0 || rel[7] != '/' ||
        rel + 8 != nm)
        return 0; /* not a pool object where it belongs: not held, not this check's business */
    if (++s->seen % 4096 == 0 && job_cancelled(s->job)) {
        dv_seterr("NLO pass cancelled");
        return -1;
    }
    int err = 0;
    const char *c;
    while ((c = cur(s, &err)) && memcmp(c, nm, TARGET_NLO_NAME_LEN) < 0) {
        memcpy(s->absent[s->nabs++], c, sizeof(name_t));
        s->j++;
        if (s->nabs == ABSENT)
            return 1;
    }
    if (err)
        return -1;
    if (c && memcmp(c, nm, TARGET_NLO_NAME_LEN) == 0)
        s->j++; /* held */
    return 0;
}

static int hand_over(struct sweep *s, int (*absent)(void *, const char *), void *ud)
{
    for (size_t i = 0; i < s->nabs; i++)
        if (absent(ud, s->absent[i]) != 0)
            return -1;
    s->nabs = 0;
    return 0;
}

int nlopass_pool_sweep(struct target *t, struct catalog *cat, struct dv_job *job,
                       int (*absent)(void *ud, const char *name), void *ud)
{
    struct sweep s = {.cat = cat, .job = job, .more = true};
    s.page = dv_malloc(PAGE * sizeof *s.page);
    s.absent = dv_malloc(ABSENT * sizeof *s.absent);
    int rc;
    for (;;) {
        rc = target_list(t, "nlo/", listed, &s);
        if (rc < 0) {
            dv_preferr("NLO pass: pool check: list %s/nlo/", target_url(t));
            break;
        }
        if (hand_over(&s, absent, ud) != 0) {
            rc = -1;
            break;
        }
        if (rc == 0)
            break; /* the listing is done */
    }
    /* what the catalog records past the last listed object: not held either */
    int err = 0;
    const char *c;
    while (rc == 0 && (c = cur(&s, &err))) {
        memcpy(s.absent[s.nabs++], c, sizeof(name_t));
        s.j++;
        if (s.nabs == ABSENT && hand_over(&s, absent, ud) != 0)
            rc = -1;
    }
    if (rc == 0 && (err || hand_over(&s, absent, ud) != 0))
        rc = -1;
    free(s.page);
    free(s.absent);
    return rc;
}

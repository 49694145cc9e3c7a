/*
 * unbacked.h - the live NLOs no backup holds yet ("not yet backed up"): objects of the server's
 * DAOS index (store.h) that are not in the pool of dvault's catalog. The console's Objects
 * screen shows them; the answer is the same for any caller.
 */
#ifndef DV_UNBACKED_H
#define DV_UNBACKED_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

struct catalog;

/*
 * A keyset page of the live objects not in cat's pool, by name: names > after (NULL or "" =
 * from the first), ascending; with backward, names < after (NULL or "" = from the last),
 * descending. cat NULL means there is no catalog: no backup holds anything, every live object
 * is listed. At most max into out[] (rows as store_objects_page gives them); *n gets the
 * count, fewer than max only at the end. A merge of two name-ordered cursors, the index's
 * objects and the pool's names, each read in keyset pages of 1,024 (no lookup per object):
 * a page costs the names up to its last row in both lists. 0, or -1 with dv_err() set.
 */
/* The keyset page size of both cursors (1,024; tests set it small to cross many pages). */
extern size_t unbacked_chunk;
int unbacked_page(struct dv_store *st, struct catalog *cat, const char *after, bool backward,
                  struct store_object *out, size_t max, size_t *n);
/*
 * Keep the answer (after an NLO pass; docs/catalog.md, "Version 7"): the live names not in
 * the pool now, with a mark on the DAOS index's log of names it gains (doi_added). While the
 * mark holds, unbacked_page checks only those names and the ones logged since (a page costs
 * the not-backed-up names, not the repository); otherwise (no mark, a resync daos, an
 * object taken out of the pool, more than unbacked_mark_max names) it merges as above.
 * 0 or -1.
 */
extern size_t unbacked_mark_max;
int unbacked_mark(struct dv_store *st, struct catalog *cat);
/* One name: 1 when it is live and not in the pool (out, which may be NULL, filled), 0 when it
 * is not live or a backup holds it, -1 on error. */
int unbacked_get(struct dv_store *st, struct catalog *cat, const char *name,
                 struct store_object *out);

#endif

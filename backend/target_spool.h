/*
 * target_spool.h - the working tree of an S3 target as a spool (issue 17; target.h, "the
 * target's store"): what a run leaves in it, and what a crashed run left.
 *
 * On an S3 target every file a writer makes in the working tree (target_root()) is published
 * and then removed as soon as it is finished: a database copy with its page map and kept
 * delta, one NLO commit batch (nlopass.c), a set's lists. So, while a backup runs, the spool
 * holds at most the database being copied (copy + page map + kept delta) and one NLO batch
 * (at most 16,384 objects or 256 MiB) besides a set's small lists. A run killed before it
 * published (kill -9, power loss) leaves its files there; they count for nothing (nothing in
 * the working tree is held) and the next run that takes the target's lock removes them.
 * On a directory target the working tree is the target: nothing here applies.
 */
#ifndef DV_TARGET_SPOOL_H
#define DV_TARGET_SPOOL_H

#include <stdint.h>

struct target;

/*
 * S3 target, its lock held (target_open*): remove everything below the working tree's sets/
 * and nlo/ (files of an earlier or this run, never held: what was published is in the
 * bucket). *bytes (may be NULL) gets the size of the regular files removed. Directory target:
 * nothing, 0. 0 or -1 with dv_err() naming what could not be removed.
 */
int target_spool_clean(struct target *t, uint64_t *bytes);

/* A file of a set's partial directory, "sets/.<id>.partial/<rel>" (malloc'd), as
 * target_publish() takes it. */
char *target_spool_set_rel(const char *set_id, const char *rel);

#endif

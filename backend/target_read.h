/*
 * target_read.h - reading a target of either kind (issue 17; target.h, "the target's store"):
 * what the readers (restore, verify, recover, resync catalog, prune, doc restore) need beyond
 * target.h, built on its public API (target_read.c) and, for Object Lock, on s3.h.
 *
 * The rule for every reader: a file of the target is FETCHED before it is opened (S3: the
 * object is downloaded into the working tree; directory: it is checked to be there, a regular
 * file) and EVICTED after use (S3: the working copy is dropped; directory: nothing), and what
 * the target holds is learnt from the catalog or from the target's listing, never from the
 * working tree of an S3 target (a spool, not a copy).
 */
#ifndef DV_TARGET_READ_H
#define DV_TARGET_READ_H

#include <stdint.h>

struct target;
struct dv_config;

/* How a file of the target is named in messages: "<target_url>/<rel>" (a directory target:
 * its path, as before; an S3 target: "s3://BUCKET/PREFIX/<rel>"). malloc'd. */
char *target_name_of(const struct target *t, const char *rel);

/* target_fetch for a reader: an S3 target's rel is downloaded into the working tree; for a
 * directory target nothing is done here, the reader's own open beneath the target checks it
 * (with the messages it always gave: "PATH is a FIFO, not a regular file: refused"), and no
 * syscall is added to the directory path (issue 16's recover speed). 0 or -1 (errno ENOENT
 * when the target does not hold it). */
int target_fetch_read(struct target *t, const char *rel);

/* Fetch rel and open it read-only beneath the working tree (fsb_openat: no link, a regular
 * file, O_NONBLOCK). A descriptor, or -1 with dv_err() (errno ENOENT when the target does
 * not hold it). The caller closes it and evicts rel (target_evict) when done. */
int target_fetch_open(struct target *t, const char *rel);

/*
 * A recorded location (a kept delta: target-relative as the catalog records one in its set,
 * absolute below the target as older catalogs did, or absolute outside it where a post
 * command moved it): when it is the target's, it is fetched and *rel (malloc'd) gets its path
 * relative to the target, for target_evict; outside the target *rel is NULL and nothing is
 * fetched. Open it afterwards with target_file_open(t, loc, ...). 0, or -1 with dv_err().
 */
int target_fetch_loc(struct target *t, const char *loc, char **rel);
/* target_evict of a rel target_fetch_loc returned (NULL: nothing), and free it. */
void target_evict_loc(struct target *t, char *rel);

/*
 * The names below sets/ that may be sets ("<id>" and "<id>.failed"; the caller checks them):
 * directory: the entries of sets/ of any kind (the caller refuses what is not a set
 * directory, naming it); S3: the distinct first parts of the object names below sets/, from
 * the bucket's listing. cb returns non-zero to stop (returned). 0 or -1.
 */
typedef int (*target_name_cb)(void *ud, const char *name);
int target_set_names(struct target *t, target_name_cb cb, void *ud);

/*
 * The names of the pool objects (valid NLO names only; in name order on S3): directory: the
 * entries of nlo/<3 hex>/ (any kind: the caller opens them beneath the target, refusing what
 * is not a regular file); S3: the objects below nlo/ from the bucket's listing. 0 or -1.
 */
int target_pool_names(struct target *t, target_name_cb cb, void *ud);

/*
 * Object Lock: the retain-until of an object of an S3 target (a HEAD of its current version,
 * over s3.h with the configured endpoint and credentials), so that prune never tries to
 * remove what is locked. A directory target has no lock: *until 0. A missing object: 0 with
 * *until 0. 0 or -1 with dv_err().
 */
struct target_lockq;
struct target_lockq *target_lockq_open(const struct target *t, const struct dv_config *cfg);
int target_lockq_until(struct target_lockq *q, const char *rel, int64_t *until);
void target_lockq_close(struct target_lockq *q);
/* Does the configured target hold rel as a regular file/object (no lock taken: for `whereis`)?
 * Directory: beneath it without links; S3: a HEAD. 1 yes, 0 no, -1 with dv_err(). */
int target_holds_cfg(const struct dv_config *cfg, const char *rel);
/* "2026-11-29T19:00:00.000Z" (S3's retain-until) as epoch seconds; 0 if it is not one. */
int64_t target_parse_iso_time(const char *iso);

#endif

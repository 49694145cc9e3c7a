/*
 * target.h - the backup target directory: layout, lock, set directories, pool paths, NLO lists
 * (target.c), its identity (target_id.c); a set's manifest is manifest.h's (included here).
 *
 * Layout (docs/architecture.md, "The backup target"; formats in docs/formats.md):
 *
 *   <target>/target.json                 the identity: id, format version, creation, server
 *   <target>/lock                        held (flock) by the process running a job; holds its pid
 *   <target>/sets/.<id>.partial/         a set being written
 *   <target>/sets/<id>/manifest.json     a complete set (the catalog is rebuilt from these)
 *   <target>/sets/<id>/nlo-new.tsv       the NLOs this set stored in the pool (one per line)
 *   <target>/sets/<id>/db/<relpath>      database copies (+ <relpath>.delta when kept)
 *   <target>/sets/<id>.failed/           a set that failed (kept for inspection, pruned later)
 *   <target>/nlo/<3 hex>/<name>          the NLO pool (name = the 84-char NLO file name)
 *
 * Set ids are UTC "YYYYMMDD-HHMMSS", with "-N" (N >= 2) when that second is taken - on this
 * target or in the catalog (which several targets may share).
 */
#ifndef DV_TARGET_H
#define DV_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "manifest.h" /* a set's manifest: its struct, writer and reader */

#define TARGET_SET_ID_MAX MANIFEST_SET_ID_MAX
#define TARGET_NLO_NAME_LEN 84 /* 64 hex sha256 + 16 hex size + ".nlo" */
#define TARGET_NLO_LIST "nlo-new.tsv"
#define TARGET_MANIFEST "manifest.json"
struct target;
struct catalog;
struct fsb;

/* ---- identity (target_id.c; docs/formats.md "Target identity") ---------------------- */

#define TARGET_ID_FILE "target.json"
#define TARGET_ID_FORMAT "dvault-target"
#define TARGET_ID_VERSION 1
#define TARGET_ID_MAX 65536            /* bytes: an identity is read whole, never more */
#define TARGET_ID_META_KEY "target_id" /* the catalog's meta row naming its target */

struct target_identity {
    int version;         /* TARGET_ID_VERSION */
    char id[33];         /* 32 lower-case hex: 128 random bits */
    int64_t created;     /* epoch seconds */
    char host[256];      /* the server it belongs to: host name ... */
    char data_dir[4096]; /* ... and data directory (absolute) */
};

/*
 * Create a target at path (`dvault target init`): the directory is created (0700, with its
 * parents) if missing, or must be empty (a lost+found aside); a directory laid out by an
 * earlier dvault (only lock, sets/, nlo/, archive/) is adopted and *adopted_sets (may be
 * NULL; -1 otherwise) gets its number of complete sets. Writes target.json (a new random id,
 * now, this host and data_dir) with O_EXCL and a no-replace rename, creates sets/ and nlo/.
 * Refuses an existing target and any other non-empty directory. id gets the identity. 0/-1.
 */
int target_init(const char *path, const char *data_dir, struct target_identity *id,
                int *adopted_sets);
/*
 * Read and check the identity of the target at path without locking it. -1 with a message
 * naming the path and the way out when the path does not exist, is empty, was laid out by an
 * earlier dvault, is not a target, or its target.json is a link, not a regular file, too big,
 * malformed or of another format version.
 */
int target_identity_read(const char *path, struct target_identity *id);
/* The same beneath an open target root (fsb.h; its path names it in messages). */
struct fsb;
int target_identity_check(const struct fsb *root, struct target_identity *id);
/* The identity as JSON text (malloc'd, ends in a newline). */
char *target_identity_json(const struct target_identity *id);
/*
 * Bind a catalog to the open target, or check that it is bound to it: the catalog records
 * the target's id (meta "target_id") the first time, when the two agree (neither has sets,
 * or the target holds the catalog's newest complete set). A catalog bound to another target,
 * or one that disagrees, is refused naming both and `dvault resync catalog`. 0 or -1.
 */
int target_bind_catalog(struct target *t, struct catalog *cat);

/*
 * Open the target at path: check its identity (target_identity_check: never created here; a
 * missing, empty or foreign directory is refused naming `dvault target init`) and take its
 * lock (flock on <path>/lock, our pid written inside). Returns the handle, or NULL with
 * dv_err() = "target busy (pid N): PATH" when another live process holds the lock, or the
 * system error. A lock left by a dead process is free (the kernel drops it with the
 * process), so it is taken over without ceremony.
 */
struct target *target_open(const char *path);
/* The identity read by target_open. */
const struct target_identity *target_identity(const struct target *t);
/* Release the lock and free; NULL is a no-op. */
void target_close(struct target *t);
/* The target directory (absolute if given so); owned by the handle. */
const char *target_path(const struct target *t);
/* An O_DIRECTORY descriptor of the target root, owned by the handle (syncfs, openat). */
int target_dirfd(const struct target *t);
/* The target root for fsb_* (files safely beneath it: fsb.h), owned by the handle. */
const struct fsb *target_root(const struct target *t);

/* The path of a file of the target relative to its root (a pointer into path; a relative path
 * is taken as relative to the root already), or NULL when path is not below the target (or
 * not in normal form below it). */
const char *target_rel(const struct target *t, const char *path);
/* A recorded location as an absolute path (a relative one is joined to the target's root), for
 * opening and for messages; malloc'd. */
char *target_abs(const struct target *t, const char *loc);
/*
 * Open a file named by its absolute path, or by its path relative to the target's root (as the
 * catalog records a kept delta in its set): below the target it is opened beneath the target
 * (fsb_openat: no link anywhere below the target, O_NONBLOCK, a regular file); outside it (a
 * kept delta a post command moved) as an operator's file (dv_open_regular: O_NONBLOCK, a
 * regular file; read only). flags and mode as for fsb_openat. Descriptor, or -1 with dv_err().
 */
int target_file_open(const struct target *t, const char *path, int flags, mode_t mode);

/* True if name is a well-formed NLO file name: 80 lower-case hex digits + ".nlo". */
bool target_nlo_name_valid(const char *name);
/* True if s is 64 lower-case hex digits (a SHA-256 as dvault writes it). */
bool target_sha256_valid(const char *s);
/* True if id looks like a set id (YYYYMMDD-HHMMSS or YYYYMMDD-HHMMSS-N). */
bool target_set_id_valid(const char *id);

/* Pool path of an NLO relative to the target root ("nlo/abc/<name>") into out (>= 96 bytes). */
void target_pool_relpath(const char *name, char *out, size_t n);
/* Absolute (target-joined) pool path of an NLO; malloc'd. */
char *target_pool_path(const struct target *t, const char *name);

/* Is a set id taken somewhere else (a catalog several targets share)? 1 yes, 0 no, -1 error. */
typedef int (*target_id_taken_fn)(void *ud, const char *id);
/*
 * Allocate a set id for time now (UTC) - the first of "YYYYMMDD-HHMMSS", "...-2", ... that
 * has no directory on the target (complete, partial or failed) and that taken_elsewhere (may
 * be NULL) does not call taken - and create sets/.<id>.partial/ (0700). id gets the id.
 * 0 or -1.
 */
int target_set_begin(struct target *t, int64_t now, target_id_taken_fn taken_elsewhere, void *ud,
                     char id[TARGET_SET_ID_MAX]);
/* Give back an id target_set_begin allocated and nothing used yet: remove its (empty)
 * partial directory. 0 or -1. */
int target_set_abandon(struct target *t, const char *id);
/* Paths of a set's directories (malloc'd): the partial one, the complete one. */
char *target_set_partial_dir(const struct target *t, const char *id);
char *target_set_dir(const struct target *t, const char *id);

/*
 * Finish a set: write manifest.json (status "complete", or "partial" when m lists failed
 * databases) atomically into the partial directory, rename sets/.<id>.partial to sets/<id>,
 * fsync sets/. The caller has made the set's files durable. 0 or -1 (the partial directory
 * is left as it was).
 */
int target_set_finish(struct target *t, const struct manifest *m);
/*
 * Fail a set: if m is not NULL write its manifest (status "failed") into the partial
 * directory, then rename it to sets/<id>.failed and fsync sets/. 0 or -1.
 */
int target_set_fail(struct target *t, const char *id, const struct manifest *m);
/*
 * Leftover sets/.<id>.partial directories (a crashed run: we hold the lock, so nobody is
 * writing them) are renamed to sets/<id>.failed. *n (may be NULL) gets how many. 0 or -1.
 */
int target_cleanup_partial(struct target *t, int *n);
/* Ids of the complete sets (sets/<id>/ with a valid id), sorted ascending; free with
 * target_ids_free. 0 or -1. */
int target_sets_scan(struct target *t, char ***ids, size_t *n);
void target_ids_free(char **ids, size_t n);

/* ---- the target's store: a directory, or an S3 bucket (issue 17; target_s3.c, tstore.h) --
 *
 * A target is a store of objects named by their path relative to the target root
 * ("target.json", "sets/<id>/manifest.json", "sets/<id>/db/mail/x.nsf", "nlo/abc/<name>",
 * "archive/..."): tstore.h is the small interface (put atomically, get a range, list by prefix
 * in name order, head, delete), with two implementations: a directory (tstore_dir.c, over
 * fsb.h) and an S3 bucket + prefix (tstore_s3.c, over s3.h).
 *
 * Everything dvault writes below a target is first written in the target's WORKING TREE,
 * target_root() / target_path(), laid out as the target itself; then it is PUBLISHED. For a
 * directory target the working tree is the target itself and publishing is done already (the
 * callers' fsync / syncfs rules make it durable). For an S3 target the working tree is a
 * local directory (backup.s3.cache) and publishing uploads the file (with the configured
 * Object Lock retention) and, once the gateway acknowledged it, removes the local copy: the
 * working tree is a spool, never a copy, and nothing in it counts as held.
 * What dvault reads from a target it FETCHES first (S3: downloaded into the working tree,
 * checked against the size the store reports; directory: it is there) and evicts after use.
 * A set is complete when its manifest.json is held (published last); for a directory the
 * rename of sets/.<id>.partial to sets/<id> as before; on S3 the partial directory of the
 * working tree maps to the keys sets/<id>/... and the manifest is uploaded after every other
 * object of the set was acknowledged.
 */
enum target_kind { TARGET_KIND_DIR = 0, TARGET_KIND_S3 = 1 };
enum target_kind target_kind(const struct target *t);
/* Where the target is, for messages and the console: the directory's path, or
 * "s3://BUCKET/PREFIX" (the endpoint: target_endpoint, NULL for a directory). */
const char *target_url(const struct target *t);
const char *target_endpoint(const struct target *t);
/* Object Lock of an S3 target: days (0: none) and mode ("governance"/"compliance"). */
long target_lock_days(const struct target *t);
const char *target_lock_mode(const struct target *t);

/* target_open / target_identity_read / target_init for the configured target, a directory
 * or an S3 bucket (cfg->backup.s3.bucket set). Same contracts as the path forms (the path
 * forms refuse an "s3://" path with ENOTSUP). S3 (target_s3.c; docs/s3.md "The S3 target"):
 * open reads and checks PREFIX/target.json, creates the working tree (backup.s3.cache) and
 * takes the flock on <cache>/lock; init creates the bucket if needed (with Object Lock when
 * object_lock_days > 0), refuses an existing target or a prefix holding anything, writes the
 * identity; *adopted_sets is -1. */
struct dv_config;
struct target *target_open_cfg(const struct dv_config *cfg);
/* The configured bucket's object store alone (tstore.h), without opening the target or taking
 * its lock: the WAL archiver, which runs beside backups. NULL with dv_err(). */
struct tstore;
struct tstore *target_s3_store_cfg(const struct dv_config *cfg);
int target_identity_read_cfg(const struct dv_config *cfg, struct target_identity *id);
int target_init_cfg(const struct dv_config *cfg, struct target_identity *id, int *adopted_sets);

enum { TARGET_PUB_KEEP = 1 /* S3: keep the working copy after the upload */ };
/*
 * Publish rel (a regular file of the working tree, relative to the root; a file in a set's
 * partial directory sets/.<id>.partial/X goes to sets/<id>/X) to the target. Directory: 0 at
 * once. S3: uploaded (multipart when large), acknowledged, then removed from the working
 * tree unless TARGET_PUB_KEEP. 0 or -1 with dv_err() naming the object.
 */
int target_publish(struct target *t, const char *rel, unsigned flags);
/* The same for many (NLOs): S3 uploads them several at a time. 0 or -1 (the first failure). */
int target_publish_many(struct target *t, const char *const *rels, size_t n, unsigned flags);
/*
 * Make rel present in the working tree. Directory: 0 if it is there (-1, errno ENOENT, if
 * not). S3: downloaded to a temporary beside it and renamed into place once its size is what
 * the store reported; -1 with errno ENOENT when the target does not hold it. A working copy
 * already there with the size the store reports is used as it is (objects are written once,
 * never changed in place); a file of a set's partial directory is local by definition.
 */
int target_fetch(struct target *t, const char *rel);
/* Drop the working copy of a fetched (or kept) rel. Directory: nothing. */
void target_evict(struct target *t, const char *rel);
/*
 * Remove rel from the target (and its working copy). A missing rel is fine. An object still
 * under Object Lock: -1 with errno EPERM, *locked_until (may be NULL) its retain-until time.
 */
int target_remove(struct target *t, const char *rel, int64_t *locked_until);
/* The objects below prefix ("sets/", "nlo/abc/"; a string prefix, as S3's), in name order
 * (S3: byte order of the whole key; directory: byte order within each directory) with their
 * sizes. Directory: the working tree walked without following links (a link or other
 * non-regular file below the prefix is refused, naming it). cb returns
 * non-zero to stop (returned). 0 or -1. */
typedef int (*target_list_cb)(void *ud, const char *rel, uint64_t size);
int target_list(struct target *t, const char *prefix, target_list_cb cb, void *ud);

/* ---- kept deltas a post command moved out of the set ------------------------------------ */

#define TARGET_MOVED_LIST "deltas-moved.tsv"
#define TARGET_MOVED_MAX (16u << 20)         /* bytes: deltas-moved.tsv is read whole, never more */
#define TARGET_META_RESYNC "resync_problem/" /* catalog meta keys: what resync could not record */

/*
 * May loc be used (and removed by prune) as a kept delta of a set, living outside the set?
 * The rule (docs/operations.md, "Retention and prune"): loc is an absolute path in normal form (no
 * ".", "..", "//") ending in ".delta"; it is not inside the target, data_dir or daos_dir
 * (compared as canonical paths); no symbolic link is anywhere on its way (resolved from "/"
 * with RESOLVE_NO_SYMLINKS); it is a regular file; and, with sha256 not NULL, its content
 * has that SHA-256 (the delta the set's manifest and catalog recorded, so a planted location
 * can only ever name that very delta). Returns 0 (ok), 1 (it does not exist: nothing to use
 * or remove; the rest of the rule was checked as far as it could be), or -1 with dv_err()
 * "LOC: why". With dirfd not NULL and 0 returned, *dirfd is its parent directory opened
 * without links (the caller removes it with unlinkat(*dirfd, basename)) and must close it.
 */
int target_delta_moved_check(const struct target *t, const char *data_dir, const char *daos_dir,
                             const char *loc, const char *sha256, int *dirfd);

/*
 * The NLO list: one line per object "<name>\t<sha256>\t<size>\t<live_subdir>\n".
 * target_nlolist_read() calls cb for each line (cb returns non-zero to stop: that value is
 * returned); a malformed line fails with "PATH: line N (byte OFF): message". Returns 0 or
 * -1, or cb's value.
 */
struct target_nlo_entry {
    char name[TARGET_NLO_NAME_LEN + 1];
    char sha256[65];
    uint64_t size;
    int64_t live_subdir;
};
typedef int (*target_nlo_cb)(void *ud, const struct target_nlo_entry *e);
int target_nlolist_read(const char *path, target_nlo_cb cb, void *ud);
/* The same beneath a root (fsb_openat: no link, regular files only); read line by line, a
 * line longer than 256 bytes is refused; nothing of a bad line is quoted. */
int target_nlolist_read_at(const struct fsb *root, const char *rel, target_nlo_cb cb, void *ud);
/* Format one entry as a line into out (>= 192 bytes); returns its length. */
size_t target_nlolist_line(const struct target_nlo_entry *e, char *out, size_t n);

#endif

/*
 * catalog.h - dvault's own SQLite catalog: databases, backup sets, per-set files, the NLO
 * pool, NLO references (as ranges of set sequence numbers), jobs and events.
 *
 * The schema (exact CREATE statements) is in docs/catalog.md. The file is opened in WAL
 * mode with foreign keys on and a busy timeout; it is created 0600. The schema version is
 * PRAGMA user_version; migrations are applied in order, one transaction each.
 *
 * A handle is used by one thread at a time. Every statement is prepared once per handle and
 * reused. Functions that write and are called outside a transaction run in their own
 * transaction; inside catalog_begin()/catalog_commit() they join the caller's.
 *
 * Names: an NLO name is the object's file name as the server writes it, 84 characters:
 * 64 hex (sha256 of the plaintext) + 16 hex (size) + ".nlo". A set's seq is its position in
 * time (1, 2, 3, ...); ranges of references are expressed in seqs.
 */
#ifndef DV_CATALOG_H
#define DV_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CATALOG_SCHEMA_VERSION 8
#define CATALOG_NLO_NAME_LEN 84 /* strlen of an NLO name, ".nlo" included */

struct catalog;

/*
 * Open (creating it 0600 if needed) the catalog at path and bring its schema up to date.
 * Returns the handle, or NULL with dv_err() naming the file (unreadable, not a SQLite file,
 * schema version newer than this program, a migration that failed - rolled back).
 */
struct catalog *catalog_open(const char *path);
/*
 * The same for a reader (status, sets, verify, prune, recover, the console): open the catalog
 * only if it exists - never create one. When it does not exist: NULL, *missing (may be NULL)
 * true and dv_err() = "no catalog yet (PATH): no backup has run"; any other failure as
 * catalog_open, *missing false.
 */
struct catalog *catalog_open_existing(const char *path, bool *missing);
/*
 * The same for a command that only reads (status, sets, jobs, whereis): it never converts
 * the schema (a conversion of a large catalog holds its write lock for minutes). A catalog
 * of an older schema is refused naming its version and the commands that convert it; an
 * empty file counts as no catalog yet.
 */
struct catalog *catalog_open_reader(const char *path, bool *missing);
/* Close; NULL is a no-op. */
void catalog_close(struct catalog *c);
/* The schema version of the open file (PRAGMA user_version). */
int catalog_schema_version(struct catalog *c);
/*
 * PRAGMA integrity_check of the catalog file: 0 when "ok", 1 with the first problem in
 * dv_err() (naming the file), -1 when it cannot run.
 */
int catalog_integrity_check(struct catalog *c);
/* The file path given to catalog_open (owned by the handle). */
const char *catalog_path(struct catalog *c);
/*
 * Size this handle's page cache for a big writer (a backup, resync catalog): mib MiB
 * (SQLite's default is 2). Pages are taken as they are read, so a small job stays small.
 */
void catalog_cache_mib(struct catalog *c, int mib);

/* Inside an explicit transaction: one savepoint (not nestable) - set, release (keep its
 * writes), roll back to it and release (drop them). 0 or -1. */
int catalog_savepoint(struct catalog *c);
int catalog_savepoint_release(struct catalog *c);
int catalog_savepoint_rollback(struct catalog *c);
/* Explicit transactions (BEGIN IMMEDIATE / COMMIT / ROLLBACK). 0 or -1. Not nestable. */
int catalog_begin(struct catalog *c);
int catalog_commit(struct catalog *c);
int catalog_rollback(struct catalog *c);

/* ---- databases --------------------------------------------------------------------- */

/*
 * Find or create the row of a database (path relative to data_dir, as the server names it)
 * and refresh replica_id, dbiid (NULL or "" leave them) and last_seen = now. *id gets its id.
 * 0 or -1.
 */
int catalog_db_upsert(struct catalog *c, const char *path, const char *replica_id,
                      const char *dbiid, int64_t now, int64_t *id);
/* Look a database up by path: 1 found (*id set), 0 not found, -1 error. */
int catalog_db_lookup(struct catalog *c, const char *path, int64_t *id);

/* ---- sets -------------------------------------------------------------------------- */

enum catalog_set_kind { CATALOG_SET_FULL = 0, CATALOG_SET_INCREMENTAL = 1 };
enum catalog_set_status {
    CATALOG_SET_RUNNING = 0,
    CATALOG_SET_COMPLETE = 1,
    CATALOG_SET_FAILED = 2,
    CATALOG_SET_PARTIAL = 3 /* finished, but some databases could not be copied (set_failures):
                               every database it holds is usable as in a complete set */
};
/* A set whose copies can be used (restored, recovered from, an origin): complete or partial. */
static inline bool catalog_set_usable(enum catalog_set_status s)
{
    return s == CATALOG_SET_COMPLETE || s == CATALOG_SET_PARTIAL;
}

struct catalog_set {
    char id[32]; /* "20261122-014651" or "20261122-014651-2" */
    int64_t seq;
    enum catalog_set_kind kind;
    int64_t started, ended; /* epoch seconds; ended 0 while running */
    enum catalog_set_status status;
    int64_t pid;
    int64_t databases, nlo_new, nlo_held, nlo_skipped, deltas_applied, deltas_kept, bytes;
    char checkpoint[128]; /* named origin checkpoint for the next incremental, "" if none */
    char origin[32];      /* set this incremental is based on, "" for a full set */
    char message[512];    /* failure reason or remark, "" if none */
    int64_t pruning;      /* epoch when a prune began removing the set; 0 = not being pruned */
};

const char *catalog_set_kind_name(enum catalog_set_kind k);     /* "full" | "incremental" */
const char *catalog_set_status_name(enum catalog_set_status s); /* "running" | ... */

/* The largest seq a set may have (2^53 - 1: what every JSON reader holds exactly; manifests
 * are range-checked to it too, so max(seq) + 1 never overflows). */
#define CATALOG_SEQ_MAX ((int64_t)9007199254740991)

/*
 * Record a new running set with the next seq (max + 1). origin may be NULL. *seq gets the
 * seq (may be NULL). Returns 0, 1 when the id is taken (nothing written: set ids are unique
 * per catalog, which several targets may share), or -1.
 */
int catalog_set_create(struct catalog *c, const char *id, enum catalog_set_kind kind,
                       int64_t started, int64_t pid, const char *origin, int64_t *seq);
/*
 * End a set: writes status, ended, the counts, checkpoint and message from s (looked up by
 * s->id). Use status COMPLETE, PARTIAL or FAILED. 0, or -1 (also when the set does not exist).
 */
int catalog_set_finish(struct catalog *c, const struct catalog_set *s);
/*
 * Insert a complete set row as given (explicit seq, status, counts; pruning 0 = NULL): used
 * by the catalog rebuild from the target's manifests. Fails if the id or seq exists. 0 or -1.
 */
int catalog_set_insert(struct catalog *c, const struct catalog_set *s);
/*
 * Mark a set as being pruned (sets.pruning = now), durably (this commit is fsynced whatever
 * the handle's synchronous setting), before any of its files is deleted; a later prune
 * finishes a marked set. Must be called outside a transaction. 0 or -1 (also: no such set).
 */
int catalog_set_mark_pruning(struct catalog *c, const char *id, int64_t now);
/* Delete a set's files rows and its row (one transaction or the caller's). The refs rows
 * stay: they are ranges of seqs and simply no longer match a set. 0 or -1 (no row: 0). */
int catalog_set_delete(struct catalog *c, const char *id);
/* Mark a set failed with a message (counts untouched). 0 or -1. */
int catalog_set_fail(struct catalog *c, const char *id, int64_t ended, const char *message);
/*
 * Mark `running` sets as failed ("interrupted: process N is gone") when their pid is dead.
 * If lock_held (the caller holds the target lock, so no other process can be running a set),
 * every running set whose pid is not this process's is stale too (pid reuse after a reboot).
 * *n (may be NULL) gets how many were marked. 0 or -1.
 */
int catalog_sets_fail_stale(struct catalog *c, bool lock_held, int64_t now, int *n);
/* One set by id: 1 found, 0 not found, -1 error. */
int catalog_set_get(struct catalog *c, const char *id, struct catalog_set *out);
/* The same by seq: 1 found, 0 not, -1 error. */
int catalog_set_get_seq(struct catalog *c, int64_t seq, struct catalog_set *out);
/* Newest set (complete_only: newest complete one): 1 found, 0 none, -1 error. */
int catalog_set_latest(struct catalog *c, bool complete_only, struct catalog_set *out);
/* Newest usable set (complete or partial, not being pruned): 1 found, 0 none, -1 error. */
int catalog_set_latest_usable(struct catalog *c, struct catalog_set *out);
/*
 * Sets newest first, keyset-paged: those with seq < before_seq (0 = from the newest), at
 * most max into out[]; *n gets how many. Next page: before_seq = out[*n - 1].seq. 0 or -1.
 */
int catalog_sets_list(struct catalog *c, int64_t before_seq, struct catalog_set *out, size_t max,
                      size_t *n);

/*
 * Sets oldest first with seq > after_seq (0 = from the oldest), at most max into out[]; the
 * other direction of catalog_sets_list for a list scrolling towards newer sets. 0 or -1.
 */
int catalog_sets_newer(struct catalog *c, int64_t after_seq, struct catalog_set *out, size_t max,
                       size_t *n);
/*
 * The newest set (complete_only: the newest complete or partial one) that holds a copy of
 * database db_path (as the server names it): 1 found (out filled, may be NULL), 0 none, -1
 * error. One indexed query (set_files by db_id); cheap enough per row on screen.
 */
int catalog_db_last_set(struct catalog *c, const char *db_path, bool complete_only,
                        struct catalog_set *out);

/* ---- databases a set could not copy (schema version 5) ----------------------------- */

/* A database a set failed to copy (a partial set lists at least one; a failed set may too). */
struct catalog_set_failure {
    char set_id[32];
    int64_t seq; /* of the set */
    char db_path[1024];
    char reason[512];
};

/* Record that set set_id could not copy db_path, and why. 0 or -1. */
int catalog_set_failure_add(struct catalog *c, const char *set_id, const char *db_path,
                            const char *reason);
/* The databases set_id failed, by path; *out malloc'd (free it). 0 or -1. */
int catalog_set_failures(struct catalog *c, const char *set_id, struct catalog_set_failure **out,
                         size_t *n);
/* Did set_id fail db_path: 1 (out filled, may be NULL), 0 no, -1 error. */
int catalog_set_failure_get(struct catalog *c, const char *set_id, const char *db_path,
                            struct catalog_set_failure *out);
/* The newest usable (complete or partial, not being pruned) set that failed db_path: 1, 0
 * none, -1 error. */
int catalog_db_failure_latest(struct catalog *c, const char *db_path,
                              struct catalog_set_failure *out);

/* ---- files of a set ---------------------------------------------------------------- */

enum catalog_delta_mode { CATALOG_DELTA_APPLY = 0, CATALOG_DELTA_KEEP = 1 };

/* Strings are borrowed on input; on output (catalog_set_files) they are owned by the array. */
struct catalog_set_file {
    char *set_id;
    int64_t db_id;
    char *db_path; /* output only: databases.path */
    char *path;    /* the copy, relative to the set directory: "db/mail/alice.nsf" */
    int64_t size;
    char *sha256; /* of the copy as stored */
    int64_t page_size;
    char *replica_id, *dbiid; /* may be NULL */
    enum catalog_delta_mode delta_mode;
    int64_t delta_pages;
    char *delta_location; /* absolute path of the kept .delta now; NULL when applied */
    char *delta_sha256;   /* NULL when applied */
    bool locked_copy;
};

/* Record (or replace) the file of database f->db_id in set f->set_id. 0 or -1. */
int catalog_set_file_add(struct catalog *c, const struct catalog_set_file *f);
/* A post-backup command moved a kept delta: record where it lives now. 0 or -1 (no row). */
int catalog_set_file_move_delta(struct catalog *c, const char *set_id, int64_t db_id,
                                const char *new_location);
/* All files of a set ordered by database path; *out owned by the caller. 0 or -1. */
int catalog_set_files(struct catalog *c, const char *set_id, struct catalog_set_file **out,
                      size_t *n);
/* The file of one database (path as the server names it) in a set: 1, 0 not there, -1.
 * Release out's strings with catalog_set_file_done(). */
int catalog_set_file_get(struct catalog *c, const char *set_id, const char *db_path,
                         struct catalog_set_file *out);
/* Free the strings of one file (not the struct); NULL is a no-op. */
void catalog_set_file_done(struct catalog_set_file *f);
/* Free an array from catalog_set_files(): strings and the array. */
void catalog_set_files_free(struct catalog_set_file *files, size_t n);

/* ---- the NLO pool ------------------------------------------------------------------ */

struct catalog_pool_obj {
    char name[CATALOG_NLO_NAME_LEN + 1];
    char sha256[65];     /* of the bytes stored in the pool */
    int64_t size;        /* stored bytes */
    int64_t live_subdir; /* NNNN the object was last seen in (e.g. 1 for daos/0001) */
    int64_t first_set;   /* seq of the set that stored it */
    int64_t stored_at;   /* epoch seconds */
};

/* Point lookup by name: 1 found, 0 not, -1 error. out may be NULL. */
int catalog_pool_get(struct catalog *c, const char *name, struct catalog_pool_obj *out);
/*
 * Insert a batch in one transaction (or the caller's). An object already in the pool only
 * gets its live_subdir updated (first_set, sha256, size and stored_at are kept): that is how
 * an object found under another subdirectory is re-homed for the next merge. 0 or -1 (the
 * batch is rolled back when the transaction is ours).
 */
int catalog_pool_insert_batch(struct catalog *c, const struct catalog_pool_obj *objs, size_t n);
/*
 * Objects copied into the pool again because its file was missing (or not a regular file):
 * sha256, size and live_subdir of the existing rows are set (first_set and stored_at are
 * kept: the set that first stored the object still lists it). One transaction (or the
 * caller's). 0 or -1.
 */
int catalog_pool_repair_batch(struct catalog *c, const struct catalog_pool_obj *objs, size_t n);
/* The whole pool's names in name order, keyset-paged (names > after, NULL or "" = from the
 * start, at most max). The NLO pass checks them against the pool's files. 0 or -1. */
int catalog_pool_name_page(struct catalog *c, const char *after,
                           char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n);
/* The same descending: names < before (NULL or "" = from the last). */
int catalog_pool_name_page_back(struct catalog *c, const char *before,
                                char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n);
/*
 * Names of one live subdirectory in name order, keyset-paged: names > after (NULL or "" =
 * from the start), at most max, into names[] (each 85 bytes incl. NUL). *n gets the count.
 */
int catalog_pool_subdir_page(struct catalog *c, int64_t live_subdir, const char *after,
                             char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n);
/* The whole pool in name order, keyset-paged like the above. */
int catalog_pool_page(struct catalog *c, const char *after, struct catalog_pool_obj *out,
                      size_t max, size_t *n);
/* Number of pool objects first stored by the set with seq seq. 0 or -1. */
int catalog_pool_count_first_set(struct catalog *c, int64_t seq, int64_t *count);
/* The pool in descending name order: names < before (NULL or "" = from the last), at most
 * max. The backward direction of catalog_pool_page. 0 or -1. */
int catalog_pool_page_back(struct catalog *c, const char *before, struct catalog_pool_obj *out,
                           size_t max, size_t *n);
/* Count and total stored bytes of the pool: running totals (table totals, kept by triggers
 * in the transaction of every change), not a scan. */
int catalog_pool_stats(struct catalog *c, int64_t *count, int64_t *bytes);
/* Remove names from the pool (after prune deleted their files): the row goes, or only its pool
 * columns when references still name it. 0 or -1. */
int catalog_pool_delete(struct catalog *c, const char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t n);

/* ---- references -------------------------------------------------------------------- */

/*
 * Record that database db_id, backed up in the set with seq set_seq, references exactly the
 * NLO names in names[] (sorted ascending by strcmp; duplicates allowed and ignored). Compared
 * with the database's open ranges: new names open a range (first_seq = set_seq), names no
 * longer referenced are closed at the seq of the database's previous backup, unchanged
 * ranges are not written. set_seq must be greater than the seq of the database's previous
 * recording. One transaction (or the caller's). 0 or -1 (unsorted list, seq not increasing).
 */
int catalog_refs_record(struct catalog *c, int64_t db_id, int64_t set_seq, const char *const *names,
                        size_t n);
/*
 * The bulk path (the first backup): with on, catalog_refs_record inside the caller's
 * transaction stages the names of a database that has no reference rows yet (never
 * recorded) instead of writing them; the commit of that transaction (catalog_commit) writes
 * every staged database's rows first, the names sorted once for all of them (docs/catalog.md,
 * "The bulk path"). A rollback, or the rollback of the savepoint the database was recorded
 * in, drops what it staged. Rows written are the same as without it.
 */
void catalog_refs_bulk(struct catalog *c, bool on);

/*
 * The databases that referenced NLO name at their latest backup (an open range), by path,
 * with the seq of the set since which they do: from the catalog's index (refs_nlo), no
 * database opened. cb returns 0 to go on, non-zero to stop (that value is returned); it may
 * use the catalog. -1 on error.
 */
typedef int (*catalog_ref_cb)(void *ud, const char *db_path, int64_t since_seq);
int catalog_nlo_referrers(struct catalog *c, const char *name, catalog_ref_cb cb, void *ud);

typedef int (*catalog_set_cb)(void *ud, const struct catalog_set *s);
/*
 * The sets that hold an NLO, newest first: the set that first stored it in the pool, and the
 * sets in which a database referencing it was backed up. cb returns 0 to go on, non-zero to
 * stop (that value is returned). -1 on error.
 */
int catalog_nlo_sets(struct catalog *c, const char *name, catalog_set_cb cb, void *ud);
/* Iterate sets, newest first, with the callback (convenience for small catalogs). */
int catalog_sets_each(struct catalog *c, catalog_set_cb cb, void *ud);

/*
 * Prune support. catalog_needed_compute() fills a temporary table (per handle) with the NLO
 * names needed by the retained sets (seqs[]): those referenced by a database backed up in a
 * retained set (per the reference ranges), plus those first stored by a retained set.
 * *count (may be NULL) gets the number of names. Then page through it or through the pool
 * objects not needed (both in name order, keyset-paged). 0 or -1.
 */
int catalog_needed_compute(struct catalog *c, const int64_t *seqs, size_t nseqs, int64_t *count);
int catalog_needed_page(struct catalog *c, const char *after,
                        char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n);
int catalog_unneeded_page(struct catalog *c, const char *after, struct catalog_pool_obj *out,
                          size_t max, size_t *n);

/* ---- jobs and events --------------------------------------------------------------- */

/* Start a job row (status "running"); *id gets its id. 0 or -1. */
int catalog_job_start(struct catalog *c, const char *kind, int64_t started, int64_t *id);
/* End a job: status "ok" | "failed" | "cancelled", message may be NULL. 0 or -1. */
int catalog_job_end(struct catalog *c, int64_t id, int64_t ended, const char *status,
                    const char *message);
struct catalog_job {
    int64_t id;
    char kind[32];
    int64_t started, ended; /* ended 0 while running */
    char status[16];        /* "running" | "ok" | "failed" | "cancelled" */
    char message[512];
};
/*
 * Jobs, keyset-paged by id: newer false: ids < id (id 0 = from the newest), newest first;
 * newer true: ids > id, oldest first. At most max into out[]; *n gets the count. 0 or -1.
 */
int catalog_jobs_page(struct catalog *c, int64_t id, bool newer, struct catalog_job *out,
                      size_t max, size_t *n);
/* Append an event (level: 0 info, 1 warn, 2 error, as enum dv_level). 0 or -1. */
int catalog_event_add(struct catalog *c, int64_t job_id, int64_t time, int level,
                      const char *message);

struct catalog_event {
    int64_t id, job_id, time;
    int level;
    char message[1024];
};
/* Events of a job (job_id 0: of all jobs) with id > after_id, oldest first, keyset-paged. */
int catalog_events_page(struct catalog *c, int64_t job_id, int64_t after_id,
                        struct catalog_event *out, size_t max, size_t *n);

/* ---- incremental backups (schema version 3; backend/incr.h) ------------------------ */

/* Per-database facts of a set file beyond struct catalog_set_file (set_files columns). */
struct catalog_file_incr {
    enum catalog_set_kind kind; /* a full copy, or an incremental file (.inc) */
    char origin[32];            /* incremental: the set it applies on (the previous link of this
                                 * database's chain); "" for a full copy */
    int64_t pages_total;        /* pages of the consistent image */
    int64_t pages_stored;       /* pages stored in this set (all of them for a full copy) */
    char pagemap[512];          /* the page map, relative to the set directory; "" if none */
    char pagemap_sha256[65];
    char full_reason[256]; /* why a database got a full copy in an incremental set */
};

/* Record the incremental facts of the file (set_id, db_id), which must exist. 0 or -1. */
int catalog_file_incr_set(struct catalog *c, const char *set_id, int64_t db_id,
                          const struct catalog_file_incr *x);
/* Read them: 1 found, 0 no such file, -1 error. A file from before version 3 reads as a full
 * copy without a page map. */
int catalog_file_incr_get(struct catalog *c, const char *set_id, int64_t db_id,
                          struct catalog_file_incr *out);
/* The newest complete or partial set holding a file of database db_id: 1 (*set_id filled), 0
 * none, -1. */
int catalog_db_latest_set(struct catalog *c, int64_t db_id, char set_id[32]);
/* Page counters of a set (sum over its databases). 0 or -1. */
int catalog_set_pages_set(struct catalog *c, const char *set_id, int64_t total, int64_t stored);
int catalog_set_pages_get(struct catalog *c, const char *set_id, int64_t *total, int64_t *stored);
/*
 * The sets that set_id's files need to be restored (following set_files.origin per database,
 * transitively), without set_id itself, oldest first. *ids is malloc'd (free it), *n its
 * length. Prune keeps these while it keeps set_id. 0 or -1.
 */
int catalog_set_chain(struct catalog *c, const char *set_id, char (**ids)[32], size_t *n);
/* Sets holding an incremental file whose origin is set_id (those that need it directly);
 * same conventions. 0 or -1. */
int catalog_set_dependents(struct catalog *c, const char *set_id, char (**ids)[32], size_t *n);

/* ---- not yet backed up, kept (schema version 7; backend/unbacked.c) ------------------- */

/*
 * The mark (meta unbacked_mark: "TOKEN SEQ" of the DAOS index's log, unbacked.c) and the live
 * names the NLO pass left out of the pool when it was taken. catalog_unbacked_set replaces
 * both in one transaction (mark NULL: only drop it); catalog_unbacked_names calls fn for each
 * name (any order). Taking an object out of the pool drops the mark. 0 or -1 (get: 1, 0).
 */
int catalog_unbacked_mark(struct catalog *c, char *out, size_t n);
int catalog_unbacked_set(struct catalog *c, const char *mark,
                         const char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t n);
typedef int (*catalog_name_fn)(void *ud, const char *name);
int catalog_unbacked_names(struct catalog *c, catalog_name_fn fn, void *ud);

/* ---- meta: facts about the catalog itself (schema version 4) ------------------------- */

/* The value of key into out (n bytes, truncated): 1 found, 0 absent (out ""), -1 error. */
int catalog_meta_get(struct catalog *c, const char *key, char *out, size_t n);
/* Insert or replace key = value. 0 or -1. */
int catalog_meta_set(struct catalog *c, const char *key, const char *value);
/*
 * Every row whose key starts with prefix, in key order: fn(ud, key, value) (fn may be NULL:
 * only count); fn returning non-zero stops (that value is returned). *n (may be NULL) gets
 * how many rows were seen. 0, -1, or fn's value.
 */
typedef int (*catalog_meta_fn)(void *ud, const char *key, const char *value);
int catalog_meta_each(struct catalog *c, const char *prefix, catalog_meta_fn fn, void *ud,
                      size_t *n);
/* Number of sets recorded, whatever their status. 0 or -1. */
int catalog_set_count(struct catalog *c, int64_t *n);

#endif

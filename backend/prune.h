/*
 * prune.h - apply the retention (backup.retention) to the target: remove old sets, their
 * copies and kept deltas wherever they live now, then the pool objects no retained set needs.
 *
 * Which sets stay (prune_select):
 *   - the newest keep_sets complete or partial sets, and every such set younger than keep_days
 *     (age = now - started): a partial set counts as a set;
 *   - always the newest complete (or partial) full set;
 *   - for every database a retained partial set could not copy, the newest set that holds a
 *     copy of it (a partial set is never the reason a database's last copy goes);
 *   - every set a retained set is based on (sets.origin, followed transitively), so that an
 *     incremental's chain stays restorable;
 *   - failed sets newer than the newest complete set (kept for inspection); older failed sets
 *     go; running sets are never touched.
 * A set marked "pruning" by an earlier, interrupted prune is always finished.
 *
 * Prune refuses to run at all while the catalog records things `resync catalog` could not
 * record (a set directory with a damaged manifest, an unread NLO list: meta rows
 * TARGET_META_RESYNC*): what those sets need is unknown, and their pool objects would look
 * unneeded. verify names them; a resync after they are repaired or removed clears them.
 *
 * Removing a set, in a crash-safe order: (1) the catalog marks it pruning (durably), (2) its
 * kept deltas that a post command moved outside the set are deleted where they live (every
 * location is checked first with the moved-delta rule, target_delta_moved_check: an absolute
 * ".delta" file outside the target, data_dir and daos_dir, no link on its way, holding exactly
 * the recorded delta; anything else is refused, and the set is left as it was, unmarked and
 * retained, the prune failing), (3) its directory
 * (sets/<id>, sets/<id>.failed) is removed, (4) its catalog rows (sets, set_files) are deleted. The
 * refs rows stay: they are ranges of seqs, and a range whose seqs no longer name a set simply
 * matches nothing. Then the pool: the objects that no remaining set needs (catalog_needed_compute)
 * are deleted, files first, rows after, in batches. A rerun after a crash at any point finishes the
 * work.
 *
 * The WAL archive (archive.h), after the sets: a restore --at needs the set before the moment
 * and the segments after the set began. S is the oldest complete or partial set that stays;
 * for every database with an archive, the segments older than the one a replay from S would
 * start at (archive_anchor, on the headers: start S.started) are removed, oldest first (a
 * crash leaves a contiguous suffix), never the newest (the archiver resumes from it). With no
 * set retained, the anchor is that of a set taken now (the newest segment, or the newest one
 * a later set can start from). An archive that starts after S keeps everything. A header that
 * cannot be read leaves that database's archive as it was (an error event; the prune fails,
 * the other databases are pruned). Run records (archive/runs) confirmed only up to before
 * S.started go too, except the newest.
 *
 * Object Lock (an S3 target, docs/operations.md "Object Lock and retention"): prune never tries
 * to remove what is still locked. A set the retention lets go is first asked for the
 * retain-until of its manifest object (a HEAD; the manifest is uploaded last, so it is locked
 * longest): while that is in the future the set stays (PRUNE_KEEP_LOCKED, locked_until), and
 * with it every set its chains need. Its objects are removed manifest first (a crash leaves a
 * set without manifest: a leftover the next run cleans). An unneeded pool object stays while
 * stored_at + object_lock_days is in the future (its upload was no later than stored_at); a
 * removal the store still refuses (EPERM: a longer lock than configured now) keeps it too.
 * Either is counted (sets_locked, nlos_locked, nlos_locked_until) and said, never an error.
 *
 * The restore folder last (restored.h, restored_expire): the copies older than
 * restore.retention_days (by the time each copy records it was restored) are deleted, with
 * their -wal and -shm; one in use is left (an event names it). Never with retention 0.
 */
#ifndef DV_PRUNE_H
#define DV_PRUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "config.h"
#include "job.h"

/* Why a set stays or goes (prune_why_text gives the sentence). */
enum prune_why {
    PRUNE_KEEP_NEWEST,      /* among the newest keep_sets complete sets */
    PRUNE_KEEP_YOUNG,       /* younger than keep_days */
    PRUNE_KEEP_NEWEST_FULL, /* the newest complete full set */
    PRUNE_KEEP_ORIGIN,      /* a retained set is based on it */
    PRUNE_KEEP_LAST_COPY,   /* the last copy of a database a retained partial set lacks */
    PRUNE_KEEP_FAILED_NEW,  /* failed, newer than the newest complete set */
    PRUNE_KEEP_RUNNING,     /* running (never touched) */
    PRUNE_GO_OLD,           /* complete, outside the retention */
    PRUNE_GO_FAILED,        /* failed, older than the newest complete set */
    PRUNE_GO_UNFINISHED,    /* an earlier prune was interrupted while removing it */
    PRUNE_KEEP_LOCKED,      /* outside the retention, but under Object Lock (S3): kept until its
                               retention ends (prune_set.locked_until) */
};
const char *prune_why_text(enum prune_why w);

struct prune_decision {
    bool prune;
    enum prune_why why;
};

/*
 * The retention rule alone (no I/O): sets[0..n) in any order; out[i] gets the decision for
 * sets[i]. keep_sets >= 0, keep_days >= 0; now in epoch seconds.
 */
void prune_select(const struct catalog_set *sets, size_t n, long keep_sets, long keep_days,
                  int64_t now, struct prune_decision *out);

/* What a set holds and what it could not copy, by database path (as the server names it). */
struct prune_set_dbs {
    const char *const *held; /* databases with a copy in the set (only those that matter: the
                                ones some partial set failed) */
    size_t nheld;
    const char *const *failed; /* databases a partial set could not copy */
    size_t nfailed;
};
/*
 * prune_select with the partial-set rule: dbs[i] describes sets[i] (dbs NULL: no partial
 * information, as prune_select). For every database a retained partial set could not copy,
 * the newest usable set (not being pruned) holding a copy of it is kept (PRUNE_KEEP_LAST_COPY),
 * and its origins with it.
 */
void prune_select_dbs(const struct catalog_set *sets, const struct prune_set_dbs *dbs, size_t n,
                      long keep_sets, long keep_days, int64_t now, struct prune_decision *out);

/* One set of the plan with what removing it frees (or freed). */
struct prune_set {
    struct catalog_set set;
    struct prune_decision d;
    uint64_t files;          /* database copies */
    uint64_t deltas;         /* kept deltas */
    uint64_t deltas_outside; /* ... of which a post command moved outside the set */
    uint64_t bytes;          /* of everything removed: the directory's files + moved deltas */
    bool done;               /* removed (false in a dry run, or when it failed) */
    bool untouched;          /* its removal failed before anything changed: still retained */
    int64_t locked_until;    /* PRUNE_KEEP_LOCKED: the retain-until of its manifest (epoch s) */
};

/* The archive prune of one database (or what it would do, in a dry run). */
struct prune_archive {
    char *db;                  /* as the server names it */
    uint64_t segments, bytes;  /* (would be) removed */
    uint64_t kept, first_kept; /* segments that stay; the seq of the oldest of them */
    bool failed;               /* left as it was, or stopped part-way (an error event says why) */
    int64_t locked_until;      /* S3: removal stopped at a segment under Object Lock until then */
};

struct prune_opts {
    bool dry_run; /* decide and count, change nothing (no lock file write beyond the lock) */
    int64_t now;  /* 0 = dv_now() (tests give a later time) */
};

struct prune_result {
    struct prune_set *sets; /* every set of the catalog, newest first, with its decision */
    size_t nsets;
    uint64_t sets_pruned, failed_pruned; /* (would be) removed: complete/other, failed */
    uint64_t files, deltas, deltas_outside, set_bytes;
    uint64_t nlos, nlo_bytes; /* pool objects (would be) removed */
    uint64_t refused;         /* delta locations refused (the set stays marked) */
    /* Object Lock (an S3 target): what the retention would remove but the lock keeps */
    uint64_t sets_locked;      /* sets kept (PRUNE_KEEP_LOCKED) */
    uint64_t nlos_locked;      /* unneeded pool objects kept, still locked */
    int64_t nlos_locked_until; /* the latest retain-until among them */
    bool no_catalog;           /* no catalog yet: nothing to do */
    uint64_t unrecorded; /* things resync catalog could not record (prune refused: rebuild.h) */
    /* the WAL archive: one entry per database that has one */
    struct prune_archive *archive;
    size_t narchive;
    char archive_set[32];                     /* S: the set the archive is kept for ("" none) */
    uint64_t archive_segments, archive_bytes; /* (would be) removed */
    uint64_t archive_runs;                    /* run records (would be) removed */
    uint64_t archive_failed;                  /* databases whose archive could not be pruned */
    /* the restore folder (restored.h): copies older than restore.retention_days */
    struct restored_copy *restored; /* (would be) removed */
    size_t nrestored;
    size_t restored_skipped; /* expired, but could not be removed (in use: an event says why) */
};

/*
 * Run (or preview, with o->dry_run) the prune of cfg's target under the target lock
 * (target_open) for the whole run; o may be NULL (a real run, now). A real run first marks
 * stale running sets failed and turns .partial leftovers into .failed, like a backup, and
 * records a "prune" job with its events in the catalog; a dry run writes nothing.
 * r is filled either way (free with prune_result_done). Returns 0, or -1 with dv_err()
 * (target busy, catalog unusable, a delta location refused, a file that could not be
 * deleted). When the catalog file does not exist, returns 0 with r->no_catalog and does not
 * create it.
 */
int prune_run(const struct dv_config *cfg, const struct prune_opts *o, struct dv_job *job,
              struct prune_result *r);
void prune_result_done(struct prune_result *r);

/* ---- DAOS prune guard ---------------------------------------------------------------------- */

struct store_prune_counts;
/*
 * The server's deferred-deletion prune (store_prune) with dvault's guard: an NLO is deleted
 * only if a COMPLETE (or partial) set holds it (its pool row's first set is such a set, or
 * such a set backed up a database referencing it; catalog_nlo_sets). The others wait for the next
 * backup (counts->waiting_backup). When the catalog does not exist yet (no backup ever ran),
 * nothing is deleted and *no_catalog is set. days < 0: server.deferred_deletion_days.
 * Returns 0 or -1 with dv_err() (store, index NEEDS_RESYNC, catalog error).
 */
int prune_daos(const struct dv_config *cfg, long days, struct dv_job *job,
               struct store_prune_counts *counts, bool *no_catalog);
/* What prune_daos would delete, deleting nothing (no job recorded): counts->deleted and
 * ->bytes are the NLOs (and their file bytes) it would delete. 0 or -1 like prune_daos. */
int prune_daos_dry_run(const struct dv_config *cfg, long days, struct store_prune_counts *counts,
                       bool *no_catalog);

#endif

/*
 * docrestore.h - bring back what a user deleted: every document a backup holds that the live
 * database has since soft-deleted or purged, restored into the live database in one step
 * (issue 18; operator's guide: docs/operations.md, "A user deleted mail yesterday").
 *
 * The source is a set's copy of the database (materialized by restore.h into a scratch
 * directory of the target, never among the live databases; a kept delta applied, an
 * incremental chain rebuilt, the WAL archive replayed with --at), or a restored copy the
 * operator already has (from_path: the console's Recovery list). Each document of the source
 * is compared with the live database:
 *   soft-deleted live, the same version as the source   undeleted in place (the source's
 *                                                         modified time back)
 *   soft-deleted live, changed after the set            conflict (--copies: a copy)
 *   purged (the live database lacks its unid)           rewritten: unid, fields, attachments
 *   present live and changed since the set (modified)   a copy beside it (with o->modified)
 * A copy has a new unid (derived from the unid, the set and the time: the same on a second
 * run, which then finds it there) and the subject prefixed with "[restored from set ID] ".
 * A live document is never overwritten.
 *
 * Order: everything is read and decided first; the NLOs the chosen documents reference are
 * recovered from the pool where the repository lacks them (recover.h: byte-identical, as the
 * server wrote them, verified); then ONE transaction on the live database (store.h batches:
 * BEGIN IMMEDIATE, the states checked again under the lock, the rows written, every NLO
 * reference counted in one index transaction, COMMIT). A failure or kill -9 leaves the live
 * database as it was or with everything restored, and the DAOS index exact once the next
 * batch (the next doc restore of that database) or a resync has settled it. NLOs installed
 * for a transaction that did not commit are ordinary zero-reference objects: the next run
 * uses them, else DAOS prune removes them after deferred_deletion_days.
 *
 * Nothing here prints; it records itself as a job (kind "docrestore"). The console calls it
 * from a worker thread: a preview (count) is o->dry_run with the same source and filters
 * (from_path: the restored copy the Recovery list shows), the run the same without it; the
 * job reports phases "source", "compare", the NLO recovery's, "write"; cancelling stops
 * before the write (the write itself, one short transaction, is not interrupted).
 */
#ifndef DV_DOCRESTORE_H
#define DV_DOCRESTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job.h"
#include "recover.h"
#include "store.h"

/* Which documents: every filter set must hold (all unset: every candidate). */
struct docrestore_filter {
    int64_t since;            /* deleted at or after (epoch s; 0: any): soft-deleted ones by their
                                 deletion time; purged ones are kept unless the source shows them
                                 deleted before since (their purge time is unknown: after the set) */
    int64_t from, to;         /* created within [from, to] (epoch s; 0: open) */
    const char *sender;       /* case-insensitive substring (NULL: any) */
    const char *subject;      /* case-insensitive substring (NULL: any) */
    const char *const *unids; /* only these (NULL: any) */
    size_t nunids;
};

struct docrestore_opts {
    const char *set_id;    /* the source: a set's copy of db_path ... */
    const char *from_path; /* ... or a restored copy (relative to data_dir or absolute) */
    const char *db_path;   /* the live database (as the server names it, or absolute) */
    bool deleted;          /* soft-deleted and purged documents come back */
    bool modified;         /* documents changed since the set come back as copies */
    bool copies;           /* a conflict comes back as a copy instead of being skipped */
    bool dry_run;          /* decide and report only: nothing is written anywhere */
    bool pitr;             /* set_id + the WAL archive up to at_us (pitr.h) */
    int64_t at_us;
    bool force; /* from_path: a copy of another database (replica ids differ) */
    struct docrestore_filter f;
};

enum docrestore_kind {
    DOCRESTORE_SOFT = 0, /* soft-deleted in the live database */
    DOCRESTORE_PURGED,   /* not in the live database */
    DOCRESTORE_CHANGED,  /* present live, changed since the set */
};
enum docrestore_status {
    DOCRESTORE_UNDELETED = 0, /* (dry run: would be) */
    DOCRESTORE_REWRITTEN,
    DOCRESTORE_COPIED,
    DOCRESTORE_CONFLICT, /* skipped: the live unid holds newer work */
    DOCRESTORE_SKIPPED,  /* skipped: reason says why (an NLO unrecoverable, a copy there) */
};
const char *docrestore_kind_name(enum docrestore_kind k);     /* "soft-deleted", "purged", ... */
const char *docrestore_status_name(enum docrestore_status s); /* "undeleted", "rewritten", ... */

struct docrestore_doc {
    char unid[STORE_UNID_LEN + 1];
    char copy_unid[STORE_UNID_LEN + 1]; /* COPIED (or a copy found there): the copy's unid */
    enum docrestore_kind kind;
    enum docrestore_status status;
    char *subject, *sender; /* as in the source (malloc'd) */
    int64_t created;
    int64_t deleted; /* live soft-deletion time (0: purged or present) */
    int natt, nnlo;
    char *reason; /* CONFLICT, SKIPPED: why (malloc'd; NULL otherwise) */
};

struct docrestore_result {
    char db_rel[1024];   /* the live database */
    char source[4096];   /* the source file (a scratch copy is gone afterwards) */
    char set_id[32];     /* the set (from_path: its restored_from_set, "" unknown) */
    int64_t set_started; /* the set's time (0 unknown) */
    int64_t bound;       /* purged documents were purged after this (set time, or --at) */
    bool dry_run;
    struct docrestore_doc *docs; /* every candidate, in the source's order (created, unid) */
    size_t n;
    uint64_t undeleted, rewritten, copied, conflicts, skipped;
    uint64_t older;            /* soft-deleted in the source too: deleted before the set, left */
    uint64_t purged_unbounded; /* purged ones --since cannot place (the set is older than it) */
    uint64_t nlo_needed;       /* distinct NLOs the restored documents reference */
    uint64_t nlo_recovered;    /* (dry run: missing from the repository, the pool has them) */
    uint64_t nlo_unrecoverable;
    uint64_t settled; /* records of interrupted batches settled first (store.h) */
    uint64_t pitr_transactions;
    struct recover_result nlo;  /* the NLO recovery (items per name) */
    struct restore_sweep sweep; /* leftovers of killed restores removed first */
};

/*
 * Restore (or, with o->dry_run, only decide) as described above; r is filled either way
 * (release with docrestore_result_done). Refused before anything is read: no source, both
 * sources, neither deleted nor modified, --at without a set, a live database that is not a
 * document database, a from_path whose origin is not the live database (without force).
 * Returns 0 (conflicts and skipped documents are results, not errors) or -1 with dv_err():
 * then the live database is as it was.
 */
int docrestore_run(const struct dv_config *cfg, const struct docrestore_opts *o, struct dv_job *job,
                   struct docrestore_result *r);
void docrestore_result_done(struct docrestore_result *r);

#endif

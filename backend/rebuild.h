/*
 * rebuild.h - `dvault resync catalog`: rebuild the catalog from the backup target alone.
 *
 * Every set directory is self-describing (docs/formats.md): manifest.json, nlo-new.tsv and,
 * when a post command moved kept deltas, deltas-moved.tsv ("<path in the set>\t<absolute
 * location>\n"). The rebuild reads them in seq order into a new catalog:
 *   - complete sets (sets/<id>/): the set row with every count as the manifest says, its
 *     databases and files (a kept delta's location: inside the set, or where deltas-moved.tsv
 *     says), the references of each copy (read from the copy; a kept delta is first applied to
 *     a scratch copy), and the pool objects it stored (nlo-new.tsv; an object whose pool file
 *     is missing is not recorded, and counted);
 *   - partial sets (sets/<id>/, manifest status "partial"): as complete sets, plus the
 *     databases they could not copy (failed_databases) with their reasons;
 *   - failed sets (sets/<id>.failed/ with a manifest): the set row (status failed) and the pool
 *     objects it stored; their copies are not recorded (a failed set is never restored from);
 *     a failed set without a manifest (an interrupted run) cannot be described and is skipped;
 *   - pool files that no remaining set's list names (stored by a set since pruned, still needed
 *     by a retained one) are recorded with first_set 0, their hash read from the file.
 * The new catalog is built under a temporary name and only then put in place; the old one is
 * moved aside to "<catalog>.old.<YYYYMMDD-HHMMSS>" (with its -wal/-shm), never deleted. Jobs
 * and events (history) are not on the target and start empty.
 */
#ifndef DV_REBUILD_H
#define DV_REBUILD_H

#include <stdint.h>

#include "config.h"
#include "job.h"

struct rebuild_result {
    char old_catalog[1024]; /* where the previous catalog was moved; "" when there was none */
    uint64_t sets;          /* complete sets recorded */
    uint64_t partial_sets;  /* partial sets recorded */
    uint64_t failed_sets;   /* failed sets recorded */
    uint64_t skipped;       /* set directories that could not be recorded (see the events) */
    uint64_t files, deltas_moved, refs;
    uint64_t refs_unreadable; /* copies whose references could not be read */
    uint64_t nlos;            /* pool objects recorded from the sets' lists */
    uint64_t nlos_missing;    /* listed, but the pool file is missing: not recorded */
    uint64_t orphans;         /* pool files no list names: recorded with first_set 0 */
    uint64_t problems;        /* skipped set directories and unread NLO lists of sets that may hold
                                 what is needed: recorded in the catalog (meta TARGET_META_RESYNC*),
                                 prune refuses while there are any (verify names them) */
};

/*
 * Rebuild cfg's catalog from cfg's target, under the target lock. Everything is read beneath
 * the target without following links (fsb.h): manifests and deltas-moved.tsv capped, NLO lists
 * line by line, copies (db/) never through a link. Problems with one set (unreadable manifest,
 * failed set without manifest, duplicate seq) are logged as job events and counted in
 * r->skipped; for complete and partial set directories (and unread NLO lists) they are also
 * recorded in the new catalog (meta TARGET_META_RESYNC*, r->problems): prune refuses while
 * they exist, verify names them. A deltas-moved.tsv location is taken only under the
 * moved-delta rule (target_delta_moved_check); a copy whose references cannot be read is recorded
 * without them (logged, counted in r->refs_unreadable: `dvault verify` names the damage). The
 * rebuild goes on. Returns 0, or -1 with dv_err() (target busy, cannot create the new catalog, I/O
 * error, cancelled); on failure the existing catalog is left in place, untouched.
 */
int rebuild_catalog(const struct dv_config *cfg, struct dv_job *job, struct rebuild_result *r);

#endif

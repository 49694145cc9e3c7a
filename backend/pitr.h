/*
 * pitr.h - point-in-time restore: a backup set's consistent copy plus archived WAL frames
 * (archive.h) of the transactions observed at or before a time.
 *
 * Which transactions: the archive is replayed from the newest transaction observed at or
 * before the set began (it, and every one before it, is already in the set's image: the
 * observed time is never earlier than the real commit) up to the last one observed at or
 * before TIME (or the newest, --to-latest). Replaying a transaction the image already holds
 * is harmless: frames are whole page images applied in commit order, so the result is the
 * database after the last transaction applied. Only whole transactions are applied (each
 * ends with its commit frame), and the size is set from each commit frame.
 *
 * The start may also be a record of watching: a START or GAP segment says from when the
 * database was watched, so a set taken while it was idle (no transaction since the archive
 * began) is a base.
 *
 * Refused, never bridged: TIME before the end of the set (the image may already be later
 * than TIME: choose an older set); the archive watched from after the set began (frames
 * between may be missing); a segment flagged GAP between that start and TIME; TIME after
 * what the archive is known to hold (archive.h run records: the archiver stopped, or has not
 * confirmed it yet); TIME so close to the set's end that a transaction not replayed may be
 * in the set's copy (its observation error reaches back before the end). Messages name the
 * database, the set and the times.
 *
 * Precision: a transaction is observed after its commit, by at most its segment's error.
 * The result holds every commit before TIME - err_us and none after TIME.
 */
#ifndef DV_PITR_H
#define DV_PITR_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "restore.h"

struct pitr_target {
    const char *target;          /* the backup target directory */
    const struct dv_config *cfg; /* with t on S3: the bucket's segment headers are read */
    struct target *t;            /* the open target (may be NULL for a directory): an S3 target's
                                  * archive is fetched into its working tree, evicted after */
    const char *db_rel;          /* the database as the server names it */
    const char *set_id;
    int64_t set_started; /* epoch seconds (catalog) */
    int64_t set_ended;
    int64_t at_us; /* TIME in microseconds; ignored when to_latest */
    bool to_latest;
};

struct pitr_result {
    uint64_t transactions, frames, segments;
    int64_t first_us, last_us; /* observed times of the first / last transaction applied */
    int64_t known_to_us;       /* the archive holds every commit before it (run records) */
    int64_t err_us; /* precision: every commit before TIME - err_us is applied, none after
                     * TIME (-1: not recorded, an archive of an older dvault) */
};

/* Parse TIME ("YYYY-MM-DD HH:MM[:SS[.ffffff]]" local, "@EPOCH[.ffffff]", or an epoch number
 * with optional fraction) into microseconds; -1 on error. */
int64_t pitr_parse_time(const char *s);

/*
 * Apply the archived transactions selected as above to the image at path (the set's
 * consistent copy, complete, not open elsewhere); fsynced. 0, or -1 with dv_err() (a gap, a
 * time outside what the set and the archive cover, a corrupt segment naming its file).
 */
int pitr_apply(const struct pitr_target *pt, const char *path, struct pitr_result *r);

/*
 * A restore_prepare_fn (restore.h) that applies the archive to the temporary file, then
 * calls next (may be NULL): pass a struct pitr_prepare as ud.
 */
struct pitr_prepare {
    struct pitr_target pt;
    struct pitr_result r;
    restore_prepare_fn next;
    void *next_ud;
};
int pitr_prepare_fn(void *ud, const char *tmp_path);

/* Fill pt's set times from the catalog. 0, or -1 (unknown set). */
int pitr_target_from_catalog(struct catalog *cat, struct pitr_target *pt);

#endif

/*
 * verify.h - check that the backup sets on the target are what the catalog says, and usable.
 *
 * For each complete or partial set (or one): the manifest parses and matches the catalog (set
 * row, status, counts, every database copy and kept delta, the databases a partial set could
 * not copy and why); each database copy's SHA-256 is recomputed; each kept
 * delta is read completely (delta_verify: header, every record, trailer) wherever it lives now
 * and its SHA-256 compared; each database is test-restored (restore_materialize: copy + delta
 * + PRAGMA integrity_check) into a scratch directory under the target, then deleted; the
 * set's NLO list (nlo-new.tsv) is checked against its manifest (count, SHA-256) and against
 * the catalog pool rows (every listed object has a row with the same hash, size and first
 * set, and the set has no other rows), and the SHA-256 of the listed pool files is recomputed
 * (all, or a deterministic sample). With --set, every NLO the set holds is checked: also
 * those its databases reference that earlier sets stored (the catalog's reference ranges),
 * each hashed against its pool row; one referenced but not in the pool is a problem. Every
 * problem is reported as one line naming the file.
 */
#ifndef DV_VERIFY_H
#define DV_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "job.h"

struct verify_opts {
    const char *set_id; /* NULL = every complete and partial set */
    double sample_pct;  /* NLOs whose content is hashed: 0 or >= 100 = all; else this percent,
                           chosen by a hash of the name (the same objects every run) */
};

/* One problem: file is the path concerned (absolute), msg says what is wrong. */
typedef void (*verify_problem_fn)(void *ud, const char *file, const char *msg);

struct verify_result {
    uint64_t sets;
    uint64_t copies, deltas, restores; /* checked */
    uint64_t nlos_listed;              /* objects in the sets' NLO lists (stored by the set) */
    uint64_t nlos_held;                /* --set: objects its databases reference, stored earlier */
    uint64_t nlos_checked;             /* of listed + held, those whose content was hashed */
    uint64_t bytes;                    /* bytes read */
    uint64_t problems;
};

/* True if an NLO name falls into a sample of pct percent (deterministic, by name hash). */
bool verify_in_sample(const char *name, double pct);

/*
 * Verify cfg's target against its catalog under the target lock. problem (may be NULL) is
 * called for every mismatch. Returns 0 when everything matched, 1 when problems were found
 * (r->problems of them), -1 when the verify could not run (no catalog, unknown or incomplete
 * --set, target busy, cancelled) with dv_err(). r may be NULL.
 */
int verify_run(const struct dv_config *cfg, const struct verify_opts *o, struct dv_job *job,
               verify_problem_fn problem, void *ud, struct verify_result *r);

#endif

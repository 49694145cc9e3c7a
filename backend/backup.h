/*
 * backup.h - one backup job: every database hot-copied first, then the NLO pass.
 *
 * The order is the seed's "order matters": all databases are copied (each consistent as of
 * its own stop, design.md "Hot backup"), their references recorded, and only then is the
 * DAOS repository walked, so every NLO a copied database references is either already in the
 * pool or copied by this run. The set becomes visible (sets/<id>/ with its manifest) only
 * when finished: complete, or partial when some databases could not be copied (they are
 * listed in the manifest and the catalog, and the next run copies them in full); a failed or
 * interrupted run leaves sets/<id>.failed and a failed catalog row.
 */
#ifndef DV_BACKUP_H
#define DV_BACKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "job.h"
#include "nlopass.h"

struct backup_opts {
    bool incremental;    /* --incremental (falls back to full where it must) */
    const char *db_glob; /* --db GLOB: only these databases (NULL = all of server.databases) */
    bool skip_nlo;       /* tests and benchmarks (hidden `backup --databases-only`): databases
                            without the NLO pass */
};

struct backup_result {
    char set_id[32];
    int64_t seq;
    bool complete;          /* the set is complete (even if the post command failed) */
    bool partial;           /* the set is partial: usable, but db_failed databases are missing */
    uint64_t databases;     /* copied */
    uint64_t db_failed;     /* could not be copied (listed in the set: partial, or failed when
                               no database at all could be copied) */
    uint64_t db_vanished;   /* listed, then gone before the copy: skipped */
    uint64_t db_refused;    /* matched by the globs but a symbolic link or special file (or a
                               link where matched databases could be): not copied, reported */
    uint64_t locked_copies; /* not in WAL mode: copied under a lock */
    uint64_t deltas_applied, deltas_kept, delta_pages;
    uint64_t db_bytes; /* bytes of database copies written */
    uint64_t refs;     /* NLO references recorded */
    struct nlopass_result nlo;
    bool no_daos;     /* the server has no DAOS repository: the NLO pass was skipped */
    bool incremental; /* the set is incremental (a full one when one must be: message) */
    uint64_t pages_total, pages_stored; /* pages of the images / stored in this set */
    uint64_t deltas_moved;              /* reported by the post command */
    double seconds;
    char message[512]; /* why the set failed, or a remark */
};

/*
 * Run a backup of cfg's server into cfg's target, recording it in cfg's catalog.
 * Returns 0 when the set is complete and every hook succeeded; -1 otherwise with dv_err()
 * (target busy, catalog unusable, the NLO pass failed, cancelled, pre/post command failed,
 * or "set ID is partial: N database(s) failed: PATH (reason); ..."). A database that cannot
 * be copied does not fail the set: the others are copied, the NLO pass runs and the set is
 * finished as partial (r->partial), listing the failed databases with their reasons; only
 * when no database at all could be copied does the set fail. r is filled either way
 * (r->complete || r->partial tells whether the set is usable). The live server is only read.
 */
int backup_run(const struct dv_config *cfg, const struct backup_opts *o, struct dv_job *job,
               struct backup_result *r);

#endif

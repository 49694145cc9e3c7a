/*
 * resync.h - `resync daos` as a backend operation: rebuild the live server's DAOS index from
 * the repository and the databases (store_resync), recorded in the job history of dvault's
 * catalog whoever runs it (the command line, the console, cron).
 */
#ifndef DV_RESYNC_H
#define DV_RESYNC_H

#include <stdint.h>

#include "config.h"
#include "job.h"

struct resync_result {
    uint64_t objects, bytes; /* NLOs indexed, and their bytes */
    uint64_t databases;      /* databases found by the globs */
    uint64_t references;     /* NLO references counted */
    uint64_t missing;        /* references to NLOs not in the repository */
    uint64_t duplicates;     /* an NLO name found in two subdirectories (first one kept) */
    int64_t catalog_job_id;  /* the job history's row, or 0 when not recorded here */
};

/*
 * Open the live server, resync its DAOS index (store.h, store_resync: progress, warnings and
 * cancellation through job, which may be NULL), close it. When the catalog exists (it is never
 * created here) the run is recorded in its job history as kind "resync" (started, ended,
 * status ok|failed|cancelled, a summary or the error) with the job's warnings as events;
 * unless job->catalog_job_id is already set: the caller records it then. A catalog that
 * cannot be opened is only warned about: the resync runs. r may be NULL. Returns 0 or -1
 * with dv_err() set.
 */
int resync_daos_run(const struct dv_config *cfg, struct dv_job *job, struct resync_result *r);

#endif

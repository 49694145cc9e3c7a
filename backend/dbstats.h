/*
 * dbstats.h - cheap figures of one live database for the console's Databases screen:
 * documents, soft-deleted documents, attachments and distinct NLO references.
 *
 * Reads the file through its own read-only SQLite connection (WAL readers never block the
 * server's writers, nothing is written beside the file), a few indexed count queries. The
 * console calls it only for the rows on screen and caches the answer.
 */
#ifndef DV_DBSTATS_H
#define DV_DBSTATS_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

struct dbstats {
    bool has_schema;   /* notes and attachments tables exist (else the counts are 0) */
    int64_t documents; /* notes not soft-deleted */
    int64_t deleted;   /* soft-deleted notes */
    int64_t attachments;
    int64_t nlo_refs; /* distinct NLO names referenced (attachments.nlo) */
    int64_t size;     /* bytes of the database file */
};

/*
 * Figures of database path (relative to cfg's data_dir, or absolute). Returns 0, or -1 with
 * dv_err() naming the file (missing, not a SQLite database, busy past the timeout).
 */
int dbstats_read(const struct dv_config *cfg, const char *path, struct dbstats *out);

#endif

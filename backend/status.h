/*
 * status.h - what `dvault status` and the console's overview show: the server, its DAOS
 * index, the last backup, the pool, and the warnings an operator should act on.
 */
#ifndef DV_STATUS_H
#define DV_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "archive.h"
#include "catalog.h"
#include "config.h"
#include "store.h"
#include "util.h"

#define STATUS_MAX_WARNINGS 16
#define STATUS_ARCHIVE_STALE_US 60000000 /* a run record confirmed longer ago: not running? */
#define STATUS_ARCHIVE_LINES 20          /* status (text) names this many databases' archives */

/* One database's WAL archive (archive_summary_at: headers only). */
struct status_archive {
    char *db;  /* as the server names it */
    bool ok;   /* its headers read (else err) */
    char *err; /* why not (malloc'd), NULL when ok */
    struct archive_summary sum;
};

struct dv_status {
    /* server */
    uint64_t databases, db_bytes;
    bool no_daos;  /* the server has no DAOS repository (server.daos_dir not set) */
    bool store_ok; /* the store could be opened (else store_error; false when no_daos) */
    char store_error[DV_ERR_MAX];
    struct store_status daos; /* index state and counts */
    /* backups */
    bool catalog_ok;
    char catalog_error[DV_ERR_MAX];
    int64_t nsets, ncomplete, npartial;
    bool has_last, has_last_complete;
    struct catalog_set last, last_complete;
    struct catalog_set_failure *last_failed; /* the databases the last set could not copy */
    size_t nlast_failed;
    int64_t pool_objects, pool_bytes;
    /* target */
    uint64_t target_free, target_size; /* 0 when unknown */
    bool target_ok;                    /* its identity reads (else target_error) */
    char target_id[33];                /* its id ("" when not ok) */
    char target_error[1024];           /* why it cannot be used: missing, empty, not a target */
    char target_s3[1024];              /* S3: "s3://BUCKET/PREFIX at ENDPOINT"; "" for a dir */
    char catalog_target[64];           /* the target id the catalog is bound to ("" unbound) */
    /* the WAL archive (point-in-time restore): per database, in name order */
    struct status_archive *archive;
    size_t narchive;
    struct archive_summary archive_total; /* summed; span: earliest .. latest; worst error */
    char archive_error[DV_ERR_MAX];       /* the archive could not be listed ("" fine) */
    bool has_run;                         /* the archiver's newest run record */
    int64_t run_started_us, run_confirmed_us;
    bool run_stale; /* confirmed longer than STATUS_ARCHIVE_STALE_US ago: not running? */
    /* warnings, most important first */
    char warnings[STATUS_MAX_WARNINGS][DV_ERR_MAX];
    size_t nwarnings;
};

/*
 * Collect everything (read-only: opens the store, the catalog, the archive's segment headers
 * and run records, and statvfs of the target).
 * Parts that cannot be read are reported inside (store_ok, catalog_ok, warnings), so this
 * only fails on programming errors. Free with status_done.
 */
int status_collect(const struct dv_config *cfg, struct dv_status *s);
void status_done(struct dv_status *s);
/*
 * What makes the configuration unusable on this machine: data_dir missing (or not a
 * directory), the configured DAOS directory missing, the server key missing when the server
 * has DAOS and needs it (store_key_check; a key refused for its mode or size is a warning, not
 * this). One line per problem in out (each names the path), at most max; returns how many.
 * `status` and `config --check` exit 1 when any.
 */
size_t status_problems(const struct dv_config *cfg, char (*out)[DV_ERR_MAX], size_t max);
void status_print(FILE *f, const struct dv_status *s);
void status_print_json(FILE *f, const struct dv_status *s);
/* "X MiB (Y MiB raw), from A to B, observation error <= E ms[, N gap(s)]" of an archive. */
void status_archive_line(const struct archive_summary *a, char *buf, size_t n);
/* "last run started A, confirmed up to B (Ns ago)[: not running?]" (has_run). */
void status_run_line(const struct dv_status *s, char *buf, size_t n);

#endif

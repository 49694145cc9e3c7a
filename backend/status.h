/*
 * status.h - what `dvault status` and the console's overview show: the server, its DAOS
 * index, the last backup, the pool, and the warnings an operator should act on.
 */
#ifndef DV_STATUS_H
#define DV_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "catalog.h"
#include "config.h"
#include "store.h"
#include "util.h"

#define STATUS_MAX_WARNINGS 16

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
    char catalog_target[64];           /* the target id the catalog is bound to ("" unbound) */
    /* warnings, most important first */
    char warnings[STATUS_MAX_WARNINGS][DV_ERR_MAX];
    size_t nwarnings;
};

/*
 * Collect everything (read-only: opens the store, the catalog and statvfs of the target).
 * Parts that cannot be read are reported inside (store_ok, catalog_ok, warnings), so this
 * only fails on programming errors. Free with status_done.
 */
int status_collect(const struct dv_config *cfg, struct dv_status *s);
void status_done(struct dv_status *s);
void status_print(FILE *f, const struct dv_status *s);
void status_print_json(FILE *f, const struct dv_status *s);

#endif

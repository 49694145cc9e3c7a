/*
 * target_where.h - where the configured backup target is, from the configuration alone
 * (issue 17): for the console's Overview and Sets screens and for `dvault status`, which
 * must say it without opening the target (target_open takes its lock; a running backup
 * holds it) and without a request to the gateway.
 *
 * The same values target_url / target_endpoint / target_lock_days / target_lock_mode give
 * for an opened target (target.h), derived from cfg->backup.target and cfg->backup.s3.*.
 * Credentials are never part of it (only the credentials file's name is in the config).
 */
#ifndef DV_TARGET_WHERE_H
#define DV_TARGET_WHERE_H

#include <stdbool.h>
#include <stddef.h>

#include "target.h"

struct dv_config;

struct target_where {
    enum target_kind kind;
    char url[4200];      /* the directory's path, or "s3://BUCKET" / "s3://BUCKET/PREFIX" */
    char endpoint[1024]; /* S3: the endpoint ("" when none is configured: AWS); dir: "" */
    char region[64];     /* S3: the region (default us-east-1); dir: "" */
    char cache[4096];    /* S3: the local working tree (spool) when configured, else "" */
    long lock_days;      /* S3: Object Lock retention in days, 0: none; dir: 0 */
    char lock_mode[16];  /* S3 with lock_days > 0: "governance" / "compliance"; else "" */
};

/* Fill w for cfg's target. Never fails (values too long are cut). */
void target_where_cfg(const struct dv_config *cfg, struct target_where *w);

/* "governance, 30 days" / "no Object Lock (object_lock_days: 0)" / "no Object Lock: a
 * directory target"
 * into buf: what the console's lines say. */
void target_where_lock_text(const struct target_where *w, char *buf, size_t n);

#endif

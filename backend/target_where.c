/* target_where.c - see target_where.h: where the configured target is, from the config. */
#include "target_where.h"

#include <stdio.h>
#include <string.h>

#include "config.h"

void target_where_cfg(const struct dv_config *cfg, struct target_where *w)
{
    memset(w, 0, sizeof *w);
    const char *bucket = cfg->backup.s3.bucket;
    if (!bucket) {
        w->kind = TARGET_KIND_DIR;
        snprintf(w->url, sizeof w->url, "%s", cfg->backup.target ? cfg->backup.target : "");
        return;
    }
    w->kind = TARGET_KIND_S3;
    const char *prefix = cfg->backup.s3.prefix ? cfg->backup.s3.prefix : "";
    snprintf(w->url, sizeof w->url, "s3://%s%s%s", bucket, *prefix ? "/" : "", prefix);
    snprintf(w->endpoint, sizeof w->endpoint, "%s",
             cfg->backup.s3.endpoint ? cfg->backup.s3.endpoint : "");
    snprintf(w->region, sizeof w->region, "%s",
             cfg->backup.s3.region && *cfg->backup.s3.region ? cfg->backup.s3.region : "us-east-1");
    snprintf(w->cache, sizeof w->cache, "%s", cfg->backup.s3.cache ? cfg->backup.s3.cache : "");
    w->lock_days = cfg->backup.s3.object_lock_days > 0 ? cfg->backup.s3.object_lock_days : 0;
    if (w->lock_days)
        snprintf(w->lock_mode, sizeof w->lock_mode, "%s",
                 cfg->backup.s3.object_lock_mode && *cfg->backup.s3.object_lock_mode
                     ? cfg->backup.s3.object_lock_mode
                     : "governance");
}

void target_where_lock_text(const struct target_where *w, char *buf, size_t n)
{
    if (w->kind != TARGET_KIND_S3)
        snprintf(buf, n, "no Object Lock: a directory target");
    else if (w->lock_days <= 0)
        snprintf(buf, n, "no Object Lock (object_lock_days: 0)");
    else
        snprintf(buf, n, "%s, %ld day%s", w->lock_mode, w->lock_days, w->lock_days == 1 ? "" : "s");
}

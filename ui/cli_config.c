/*
 * cli_config.c - `dvault config`: print the effective configuration (after defaults);
 * `--check`: the file loads (dv_config_load refuses dangerous paths too); exit 1 when data_dir,
 * the DAOS directory or a needed server key is missing (status_problems); warnings about
 * what the file names but cannot check (a refused key, the target, a DAOS repository the file
 * does not name).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "daos.h"
#include "status.h"
#include "target.h"
#include "util.h"

int cli_config(int argc, char **argv, struct dv_config *cfg)
{
    if (argc > 1 && strcmp(argv[1], "--check") != 0)
        return cli_fail(DV_EXIT_USAGE, "usage: dvault config [--check]");
    if (argc > 1) {
        int nwarn = 0;
        char probs[4][DV_ERR_MAX];
        size_t np = status_problems(cfg, probs, 4); /* data_dir, DAOS directory, key */
        for (size_t i = 0; i < np; i++)
            fprintf(stderr, "dvault: %s\n", dv_esc(probs[i]));
        if (dv_config_has_daos(cfg) && daos_key_check(cfg) != 0) { /* refused, not missing */
            bool told = false;
            for (size_t i = 0; i < np; i++)
                told = told || strcmp(probs[i], dv_err()) == 0;
            if (!told) {
                fprintf(stderr, "warning: %s\n", dv_esc(dv_err()));
                nwarn++;
            }
        }
        char daos[4096];
        if (dv_config_daos_unset_but_present(cfg, daos, sizeof daos)) {
            fprintf(stderr,
                    "warning: %s looks like a DAOS repository, but server.daos_dir is not set: "
                    "backups will not copy its NLOs (set server.daos_dir: daos)\n",
                    dv_esc(daos));
            nwarn++;
        }
        struct target_identity tid;
        if (target_identity_read_cfg(cfg, &tid) != 0) {
            fprintf(stderr, "warning: %s\n", dv_esc(dv_err()));
            nwarn++;
        }
        if (np) {
            printf("%s: NOT ok (%zu problem%s%s)\n", cfg->path, np, np == 1 ? "" : "s",
                   nwarn ? ", and warnings" : "");
            return DV_EXIT_FAIL;
        }
        if (nwarn)
            printf("%s: ok (%d warning%s)\n", cfg->path, nwarn, nwarn == 1 ? "" : "s");
        else
            printf("%s: ok\n", cfg->path);
        return 0;
    }
    printf("# effective configuration of %s (absolute paths)\n", cfg->path);
    printf("server:\n  data_dir: %s\n  databases: [", cfg->server.data_dir);
    for (size_t i = 0; i < cfg->server.ndatabases; i++)
        printf("%s\"%s\"", i ? ", " : "", cfg->server.databases[i]);
    printf("]\n  daos_dir: %s%s\n  max_files_per_subdir: %ld\n  min_object_size: %ld\n"
           "  deferred_deletion_days: %ld\n  encryption: %s\n  key_file: %s\n",
           cfg->server.daos_dir ? cfg->server.daos_dir : "\"\"",
           cfg->server.daos_dir ? "" : "   # none: " DV_NO_DAOS " (database-only backups)",
           cfg->server.max_files_per_subdir, cfg->server.min_object_size,
           cfg->server.deferred_deletion_days, cfg->server.encryption ? "true" : "false",
           cfg->server.key_file);
    printf("backup:\n  target: %s\n  cycle_hours: %ld\n  delta: %s\n  snapshot_command: \"%s\"\n"
           "  pre_command: \"%s\"\n  post_command: \"%s\"\n  lock_wait_seconds: %ld\n"
           "  retention: { keep_sets: %ld, keep_days: %ld }\n",
           cfg->backup.target, cfg->backup.cycle_hours,
           cfg->backup.delta == DV_DELTA_KEEP ? "keep" : "apply", cfg->backup.snapshot_command,
           cfg->backup.pre_command, cfg->backup.post_command, cfg->backup.lock_wait_seconds,
           cfg->backup.keep_sets, cfg->backup.keep_days);
    const char *none = "\"\"";
    printf("  s3: { endpoint: %s, region: %s, credentials_file: %s, object_lock_days: %ld, "
           "object_lock_mode: %s, cache: %s }\n",
           cfg->backup.s3.endpoint ? cfg->backup.s3.endpoint : none, cfg->backup.s3.region,
           cfg->backup.s3.credentials_file ? cfg->backup.s3.credentials_file : none,
           cfg->backup.s3.object_lock_days, cfg->backup.s3.object_lock_mode,
           cfg->backup.s3.cache ? cfg->backup.s3.cache : none);
    printf("catalog: %s\nrestore:\n  dir: %s   # the restore folder: %s in data_dir\n"
           "  retention_days: %ld%s\n",
           cfg->catalog, cfg->restore.dir, cfg->restore.rel, cfg->restore.retention_days,
           cfg->restore.retention_days ? "" : "   # 0: restored copies are kept until deleted");
    printf("console: { theme: %s }\n", cfg->console.theme);
    return 0;
}

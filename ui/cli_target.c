/* cli_target.c - `dvault target init|show`: create the target named by the configuration
 * (its identity, docs/formats.md "Target identity"), or show the identity of an existing one. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "target.h"
#include "util.h"

static void show(const struct dv_config *cfg, const char *path, const struct target_identity *id)
{
    char when[32];
    dv_fmt_time(id->created, when, sizeof when);
    printf("target:   %s\nid:       %s\nformat:   %s version %d\ncreated:  %s\n"
           "server:   %s:%s\n",
           dv_esc(path), dv_esc(id->id), TARGET_ID_FORMAT, id->version, when, dv_esc(id->host),
           dv_esc(id->data_dir)); /* target.json is the target's: it may hold anything */
    if (cfg->backup.s3.bucket) {
        printf("endpoint: %s\nlock:     ", dv_esc(cfg->backup.s3.endpoint));
        if (cfg->backup.s3.object_lock_days > 0)
            printf("%s, %ld days\n", cfg->backup.s3.object_lock_mode,
                   cfg->backup.s3.object_lock_days);
        else
            printf("none\n");
    }
}

int cli_target(int argc, char **argv, struct dv_config *cfg)
{
    if (argc != 2 || (strcmp(argv[1], "init") != 0 && strcmp(argv[1], "show") != 0))
        return cli_fail(DV_EXIT_USAGE, "usage: dvault target {init|show}");
    struct target_identity id;
    if (strcmp(argv[1], "show") == 0) {
        if (target_identity_read_cfg(cfg, &id) != 0)
            return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
        show(cfg, cfg->backup.target, &id);
        return DV_EXIT_OK;
    }
    int adopted = -1;
    if (target_init_cfg(cfg, &id, &adopted) != 0)
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    if (adopted >= 0)
        printf("adopted the target of an earlier dvault (%d set(s)): identity written\n", adopted);
    else
        printf("created a new target%s\n",
               cfg->backup.s3.bucket && cfg->backup.s3.object_lock_days > 0
                   ? " (bucket with Object Lock)"
                   : "");
    show(cfg, cfg->backup.target, &id);
    return DV_EXIT_OK;
}

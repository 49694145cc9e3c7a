/* cli_target.c - `dvault target init|show`: create the target named by the configuration
 * (its identity, docs/formats.md "Target identity"), or show the identity of an existing one. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "target.h"
#include "util.h"

static void show(const char *path, const struct target_identity *id)
{
    char when[32];
    dv_fmt_time(id->created, when, sizeof when);
    printf("target:   %s\nid:       %s\nformat:   %s version %d\ncreated:  %s\n"
           "server:   %s:%s\n",
           dv_esc(path), dv_esc(id->id), TARGET_ID_FORMAT, id->version, when, dv_esc(id->host),
           dv_esc(id->data_dir)); /* target.json is the target's: it may hold anything */
}

int cli_target(int argc, char **argv, struct dv_config *cfg)
{
    if (argc != 2 || (strcmp(argv[1], "init") != 0 && strcmp(argv[1], "show") != 0))
        return cli_fail(DV_EXIT_USAGE, "usage: dvault target {init|show}");
    struct target_identity id;
    if (strcmp(argv[1], "show") == 0) {
        if (target_identity_read(cfg->backup.target, &id) != 0)
            return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
        show(cfg->backup.target, &id);
        return DV_EXIT_OK;
    }
    int adopted = -1;
    if (target_init(cfg->backup.target, cfg->server.data_dir, &id, &adopted) != 0)
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    if (adopted >= 0)
        printf("adopted the target of an earlier dvault (%d set(s)): identity written\n", adopted);
    else
        printf("created a new target\n");
    show(cfg->backup.target, &id);
    return DV_EXIT_OK;
}

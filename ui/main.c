/* main.c - dvault: the console when run without a subcommand, else one command. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "util.h"

static const struct cli_command commands[] = {
    {"target", cli_target,
     "target {init|show}         create the configured target / show its identity"},
    {"backup", cli_backup, "backup [--full|--incremental] [--db GLOB] [-q]"},
    {"sets", cli_sets, "sets [--json]              backup sets, newest first"},
    {"status", cli_status, "status [--json]            server, DAOS index, last backup, warnings"},
    {"config", cli_config, "config [--check]           the effective configuration"},
    {"listnlo", cli_listnlo,
     "listnlo {all|missing|damaged} PATH [-o FILE]  NLOs a database references / lacks / has "
     "damaged"},
    {"restore", cli_restore,
     "restore --set ID --db PATH [--into NEWPATH] [--force] [--replace-live] [--at "
     "TIME|--to-latest]"},
    {"restored", cli_restored,
     "restored [--json | delete PATH]  the restore folder's copies: list, delete one"},
    {"archive", cli_archive,
     "archive [--follow [SECONDS]] [--db GLOB]  ship committed WAL frames (point-in-time)"},
    {"recover", cli_recover,
     "recover [--set ID] (--list FILE | --db PATH [--doc UNID])  NLOs from the pool"},
    {"doc", cli_doc,
     "doc {list PATH [--deleted-in LIVE] [--search TEXT] | copy --from R --unid U --to LIVE "
     "[--force]}"},
    {"doc", cli_doc,
     "doc restore (--set ID [--at TIME] | --from R) --db LIVE [--deleted] [--modified] "
     "[--copies] [--since TIME] [--sender TEXT] [--subject TEXT] [--force] [--dry-run] [--json]"},
    {"whereis", cli_whereis,
     "whereis NLO|PREFIX        databases, repository, pool and sets of an NLO"},
    {"resync", cli_resync,
     "resync {daos|catalog}      rebuild the DAOS index / the catalog from the target"},
    {"prune", cli_prune,
     "prune [--dry-run] [-q]     apply the retention: old sets, pool NLOs, restored copies"},
    {"verify", cli_verify,
     "verify [--set ID] [--sample PCT]  check copies, deltas, test restores, pool"},
    {"jobs", cli_jobs,
     "jobs [--json] [--limit N]  the job history: every backup, restore, verify... (newest first)"},
    {"daos", cli_daos,
     "daos {status|prune [--days N] [--dry-run]}  the server's DAOS index, deferred deletion"},
    {NULL, NULL, NULL},
};

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    /* one line, nothing raw: messages quote file names, manifests, list files */
    fprintf(stderr, "dvault: %s\n", msg ? dv_esc(msg) : "out of memory");
    free(msg);
    return code;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dvault [-c FILE] [COMMAND [ARGS]]\n"
               "  (no command)               the console\n");
    for (size_t i = 0; commands[i].name; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "  help [--usage]             this list (--usage: one synopsis a line, as in "
               "dvault(1))\n"
               "  -c FILE selects the configuration (default ./config.yaml)\n");
}

/* `dvault help --usage`: the synopsis of every command, one a line, from the same table as
 * the list above: a usage string's synopsis ends where two spaces begin its description.
 * The man page's SYNOPSIS is checked against this (tests/e2e/man_pages.sh). */
static void usage_synopsis(FILE *f)
{
    fprintf(f, "dvault [-c FILE]\n");
    for (size_t i = 0; commands[i].name; i++) {
        const char *u = commands[i].usage, *end = strstr(u, "  ");
        fprintf(f, "dvault [-c FILE] %.*s\n", (int)(end ? (size_t)(end - u) : strlen(u)), u);
    }
    fprintf(f, "dvault help [--usage]\n");
}

int main(int argc, char **argv)
{
    const char *cfg_path = NULL;
    int i = 1;
    /* -c FILE may come before the command, or anywhere after it. */
    for (int j = 1; j < argc; j++) {
        if (strcmp(argv[j], "-c") == 0 || strcmp(argv[j], "--config") == 0) {
            if (j + 1 >= argc)
                return cli_fail(DV_EXIT_USAGE, "-c needs a file name");
            cfg_path = argv[j + 1];
            memmove(&argv[j], &argv[j + 2], sizeof(char *) * (size_t)(argc - j - 1));
            argc -= 2;
            j--;
        }
    }
    if (i < argc && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0 ||
                     strcmp(argv[i], "help") == 0)) {
        if (i + 1 < argc && strcmp(argv[i + 1], "--usage") == 0) {
            usage_synopsis(stdout);
            return 0;
        }
        if (i + 1 < argc)
            return cli_fail(DV_EXIT_USAGE, "%s: unknown argument '%s' (only --usage)", argv[i],
                            argv[i + 1]);
        usage(stdout);
        return 0;
    }
    if (i < argc && strcmp(argv[i], "--version") == 0) {
        printf("dvault 0.1\n");
        return 0;
    }
    if (!cfg_path)
        cfg_path = "config.yaml";

    struct dv_config cfg;
    if (dv_config_load(cfg_path, &cfg) != 0) {
        fprintf(stderr, "%s\n", dv_esc(dv_err()));
        dv_config_done(&cfg);
        return DV_EXIT_USAGE;
    }
    int rc;
    if (i >= argc) {
        rc = console_main(&cfg);
    } else {
        const struct cli_command *c = NULL;
        for (size_t k = 0; commands[k].name; k++)
            if (strcmp(commands[k].name, argv[i]) == 0)
                c = &commands[k];
        if (!c) {
            rc = cli_fail(DV_EXIT_USAGE, "unknown command '%s' (dvault help lists them)", argv[i]);
        } else {
            rc = c->fn(argc - i, argv + i, &cfg);
        }
    }
    dv_config_done(&cfg);
    return rc;
}

/*
 * cli.h - the command-line front end: one function per subcommand.
 *
 * Each gets argv starting at the subcommand's name (argv[0] = "backup") and the loaded
 * configuration; it returns the process exit code (DV_EXIT_OK, DV_EXIT_FAIL, or
 * DV_EXIT_USAGE for bad arguments), having printed a one-line reason on stderr on failure.
 * Commands call backend functions only; none opens a server file or the catalog itself.
 */
#ifndef DV_CLI_H
#define DV_CLI_H

#include "config.h"

typedef int (*cli_fn)(int argc, char **argv, struct dv_config *cfg);

struct cli_command {
    const char *name;
    cli_fn fn;
    const char *usage; /* one line, shown by `dvault help` */
};

/* Print "dvault: <msg>" to stderr and return code (helper for commands). */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The console (no subcommand). */
int console_main(struct dv_config *cfg);

int cli_backup(int argc, char **argv, struct dv_config *cfg);
int cli_sets(int argc, char **argv, struct dv_config *cfg);
int cli_config(int argc, char **argv, struct dv_config *cfg);
int cli_daos(int argc, char **argv, struct dv_config *cfg);
int cli_resync(int argc, char **argv, struct dv_config *cfg);
int cli_listnlo(int argc, char **argv, struct dv_config *cfg);
int cli_prune(int argc, char **argv, struct dv_config *cfg);
int cli_verify(int argc, char **argv, struct dv_config *cfg);
int cli_status(int argc, char **argv, struct dv_config *cfg);
int cli_restore(int argc, char **argv, struct dv_config *cfg);
int cli_recover(int argc, char **argv, struct dv_config *cfg);
int cli_doc(int argc, char **argv, struct dv_config *cfg);
/* `dvault doc restore ...` (argv[1] = "restore"); its usage line. */
int cli_doc_restore(int argc, char **argv, struct dv_config *cfg);
extern const char DOC_RESTORE_USAGE[];
int cli_whereis(int argc, char **argv, struct dv_config *cfg);
int cli_archive(int argc, char **argv, struct dv_config *cfg);
int cli_target(int argc, char **argv, struct dv_config *cfg);
int cli_jobs(int argc, char **argv, struct dv_config *cfg);
int cli_restored(int argc, char **argv, struct dv_config *cfg);

#endif

/*
 * runcmd.h - run a configured command (snapshot, pre and post hooks) without a shell.
 *
 * The command line is split into words on blanks; single and double quotes group words
 * ("a b" is one word; no other shell syntax: no $, no globs, no pipes). Placeholders such
 * as {src} and {dst} are substituted inside each word AFTER splitting, so a file name with
 * spaces or shell characters is always exactly one argument and never interpreted.
 * Extra environment variables are added to the child's environment.
 */
#ifndef DV_RUNCMD_H
#define DV_RUNCMD_H

#include <stddef.h>

struct runcmd_subst {
    const char *key; /* "{src}" */
    const char *value;
};

struct runcmd_opts {
    const char *what;                 /* "snapshot command", "post command": for messages */
    const struct runcmd_subst *subst; /* NULL-key-terminated, may be NULL */
    const char *const *env;           /* "NAME=value" strings, NULL-terminated, may be NULL */
    char **out;                       /* if not NULL: the child's stdout (malloc'd) */
};

/*
 * Split cmdline into a NULL-terminated argv (malloc'd words) after substitution. Returns
 * NULL with dv_err() on an unterminated quote or an empty command.
 */
char **runcmd_split(const char *cmdline, const struct runcmd_subst *subst, const char *what);
void runcmd_argv_free(char **argv);

/*
 * Run cmdline and wait for it. Returns 0 when it exits 0; -1 otherwise with dv_err() =
 * "<what> <argv0> exited with N: <the last non-blank line of its stderr>" ("killed by signal
 * N: ...", "<what> <argv0>: cannot start: ..."); the line is left out when stderr said
 * nothing. Stdout goes to o->out when asked for, else it is merged into stderr.
 */
int runcmd(const char *cmdline, const struct runcmd_opts *o);

#endif

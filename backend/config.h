/*
 * config.h - dvault's configuration (config.yaml), loaded with libyaml.
 *
 * Every path in the struct is absolute once loaded: relative paths in the file are taken
 * relative to the directory of the config file, and server.daos_dir relative to
 * server.data_dir. Errors are one line "FILE:LINE:COL: message" (1-based) in dv_err().
 */
#ifndef DV_CONFIG_H
#define DV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum dv_delta_mode { DV_DELTA_APPLY = 0, DV_DELTA_KEEP = 1 };

struct dv_config {
    char *path;     /* the config file as given (NULL when only defaults) */
    char *base_dir; /* absolute directory of the config file */
    struct {
        char *data_dir;
        char **databases; /* globs relative to data_dir; NULL-terminated too */
        size_t ndatabases;
        char *daos_dir;
        long max_files_per_subdir;   /* 1 .. 1,000,000; default 40000 */
        long min_object_size;        /* 0 .. 1 GiB; default 4096 */
        long deferred_deletion_days; /* 0 .. 36500; default 30 */
        bool encryption;             /* default true */
        char *key_file;
    } server;
    struct {
        char *target;
        long cycle_hours; /* 1 .. 8760; default 24 */
        enum dv_delta_mode delta;
        char *snapshot_command; /* "" = none */
        char *pre_command;
        char *post_command;
        long lock_wait_seconds; /* 1 .. 3600; default 30: how long a copy waits for a database
                                   a client holds locked before that database is failed */
        long keep_sets;         /* 1 .. 100000; default 14 */
        long keep_days;         /* 0 .. 36500; default 35 */
    } backup;
    char *catalog;
    struct {
        char *theme; /* a file name in themes/ (".yaml" optional); default "default" */
    } console;
};

/* Fill cfg with the documented defaults, paths relative to base_dir (absolute). */
void dv_config_defaults(struct dv_config *cfg, const char *base_dir);

/*
 * Load path into cfg (defaults first, then the file's keys). Returns 0, or -1 with
 * dv_err() = "PATH:LINE:COL: message" for syntax errors, unknown keys, wrong types and
 * out-of-range values, or "PATH: reason" when the file cannot be read. On failure cfg is
 * left initialised (call dv_config_done either way).
 */
int dv_config_load(const char *path, struct dv_config *cfg);

void dv_config_done(struct dv_config *cfg);

#endif

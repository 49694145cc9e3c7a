/*
 * config.h - dvault's configuration (config.yaml), loaded with libyaml.
 *
 * Every path in the struct is absolute once loaded: relative paths in the file are taken
 * relative to the directory of the config file, and server.daos_dir relative to
 * server.data_dir. Errors are one line "FILE:LINE:COL: message" (1-based) in dv_err().
 *
 * server.daos_dir absent or "" (or null) means a server without DAOS: server.daos_dir is
 * NULL, backups copy the databases only, and every NLO command says DV_NO_DAOS.
 *
 * restore.dir (default "restore") is the restore folder: relative to data_dir, or an absolute
 * path inside data_dir; it must stay inside data_dir (no ".." part), must not be data_dir
 * itself, nor be in or hold the DAOS directory. Databases in it are never backed up (dbglob.h).
 */
#ifndef DV_CONFIG_H
#define DV_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum dv_delta_mode { DV_DELTA_APPLY = 0, DV_DELTA_KEEP = 1 };

struct dv_config {
    char *path;     /* the config file as given (NULL when only defaults) */
    char *base_dir; /* absolute directory of the config file */
    struct {
        char *data_dir;
        char **databases; /* globs relative to data_dir; NULL-terminated too */
        size_t ndatabases;
        char *daos_dir;              /* NULL: the server has no DAOS repository */
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
        /* backup.target "s3://BUCKET/PREFIX" (issue 17; docs/s3.md): then these */
        struct {
            char *bucket;           /* NULL: the target is a directory */
            char *prefix;           /* "" or "a/b" (no leading or trailing '/') */
            char *endpoint;         /* "http://127.0.0.1:7480"; required for non-AWS */
            char *region;           /* default "us-east-1" */
            char *credentials_file; /* NULL: the environment only */
            char *cache;            /* the local working tree; default next to the catalog */
            long object_lock_days;  /* 0 .. 36500; default 0 (no retention) */
            char *object_lock_mode; /* "governance" (default) or "compliance" */
        } s3;
    } backup;
    char *catalog;
    struct {
        char *dir; /* absolute: data_dir + rel (lexically; the restore folder, restored.h) */
        char *rel; /* relative to data_dir, normalised: no "..", ".", empty part; never "" */
        long retention_days; /* 0 .. 36500; default 7; 0 = kept until deleted by hand */
    } restore;
    struct {
        char *theme; /* a file name in themes/ (".yaml" optional); default "default" */
    } console;
};

/* What every NLO command says on a server without DAOS (tests and scripts grep for it). */
#define DV_NO_DAOS "this server has no DAOS repository"

/* True when the server has a DAOS repository (server.daos_dir is set). */
static inline bool dv_config_has_daos(const struct dv_config *cfg)
{
    return cfg->server.daos_dir != NULL;
}

/*
 * On a server configured without DAOS: does data_dir hold what looks like a DAOS repository
 * all the same (daos/daoscat.db or daos/daos.cfg)? Then a config that merely forgot the key
 * would back up no NLO: the caller warns. path (n bytes) gets the directory. True/false.
 */
bool dv_config_daos_unset_but_present(const struct dv_config *cfg, char *path, size_t n);

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

/*
 * YAML files (the configuration, themes) may nest at most DV_YAML_DEPTH_MAX levels. Reads the
 * events of f only until the nesting goes deeper (libyaml's scanner is quadratic in the
 * nesting: a 200 KB file of '[' took minutes), then rewinds f. 0, or -1 with dv_err() =
 * "PATH:LINE:COL: nested deeper than N levels" (the first too deep collection). A syntax error
 * is left to the loader that follows.
 */
#define DV_YAML_DEPTH_MAX 32
int dv_yaml_depth_check(FILE *f, const char *path, int max);

#endif

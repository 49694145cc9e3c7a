/*
 * restore.h - bring a database back from a backup set.
 *
 * restore_materialize() is the one place that turns a set's stored copy into a usable
 * database file: it checks the copy against the catalog's SHA-256, applies a kept .delta
 * (from wherever the catalog says it lives now, verified record by record and against its
 * recorded SHA-256 first), runs PRAGMA integrity_check, and only then renames the result to
 * its final name. restore, verify and single-document recovery all go through it.
 */
#ifndef DV_RESTORE_H
#define DV_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "job.h"
#include "target.h"

struct restore_info {
    char set_id[32];
    int64_t set_started;
    uint64_t size;        /* bytes of the result */
    uint32_t delta_pages; /* pages applied from a kept delta (0 when it was applied at backup) */
    bool delta_kept;
    char delta_location[1024];
    char out_path[4096]; /* where the result is: out_path, or the name unique chose */
};

/*
 * The n-th alternative of a file name (n >= 2): "-n" before the extension of its last
 * component ("dir/alice--X.nsf" -> "dir/alice--X-2.nsf"; no extension: at the end). malloc'd.
 */
char *restore_name_alt(const char *path, unsigned n);
#define RESTORE_NAME_ALT_MAX 9999

/*
 * Write database db_path (as the server names it) of set set_id to out_path, which must not
 * exist unless overwrite (then it is replaced atomically). The target must be open (t), the
 * catalog too. The result is created 0600. Returns 0, or -1 with dv_err() naming what is
 * wrong: unknown set, set not complete, database not in the set, copy or delta corrupt
 * (naming the file), integrity_check failure, I/O error. Nothing is left at out_path (nor
 * any temporary file) on failure.
 */
int restore_materialize(struct catalog *cat, struct target *t, const char *set_id,
                        const char *db_path, const char *out_path, bool overwrite,
                        struct dv_job *job, struct restore_info *info);

/*
 * Called by restore_materialize_ex on the complete temporary file (kept delta applied) before
 * integrity_check and the final rename: it may modify the file (e.g. give it new ids). It must
 * leave no files beside tmp_path (close its SQLite connections). 0, or -1 with dv_err() set
 * (the restore then fails and nothing is left).
 */
typedef int (*restore_prepare_fn)(void *ud, const char *tmp_path);

/* restore_materialize, with prepare (may be NULL) run on the temporary file. */
int restore_materialize_ex(struct catalog *cat, struct target *t, const char *set_id,
                           const char *db_path, const char *out_path, bool overwrite,
                           restore_prepare_fn prepare, void *prepare_ud, struct dv_job *job,
                           struct restore_info *info);

/*
 * Called by restore_materialize_steps after integrity_check, right before the rename of the
 * temporary file to out_path (e.g. to fence a live database that is about to be replaced).
 * 0 to go on, or -1 with dv_err() set (then nothing is renamed and the temporary is removed).
 */
typedef int (*restore_before_rename_fn)(void *ud, const char *tmp_path, const char *out_path);

struct restore_steps {
    const char *root; /* out_path stays beneath this directory (canonical; NULL: its parent):
                         the temporary is created and renamed through fsb.h below it */
    restore_prepare_fn prepare;
    void *prepare_ud;
    restore_before_rename_fn before_rename;
    void *before_ud;
    bool unique; /* not overwrite: when out_path appears meanwhile (another restore took the
                    name), the result takes restore_name_alt(out_path, 2, 3, ...) instead, never
                    replacing anything (RENAME_NOREPLACE); info->out_path says which */
};

/* restore_materialize with the steps above (s may be NULL). */
int restore_materialize_steps(struct catalog *cat, struct target *t, const char *set_id,
                              const char *db_path, const char *out_path, bool overwrite,
                              const struct restore_steps *s, struct dv_job *job,
                              struct restore_info *info);

/*
 * Temporary files. A restore into DIR/NAME writes DIR/.NAME.dvrestore.PID.tmp (created with
 * O_EXCL, flock'ed by the restoring process for its whole life), and SQLite may put -wal,
 * -shm or -journal beside it while the file gets new ids. restore_tmp_path gives the name;
 * restore_tmp_parse recognises such a name (the temporary or a sidecar of it): true, with
 * *pid and *main_len (the length of the temporary's own name, without a sidecar suffix).
 */
#define RESTORE_TMP_MARK ".dvrestore."
char *restore_tmp_path(const char *out_path, long pid);
bool restore_tmp_parse(const char *name, long *pid, size_t *main_len);

struct restore_sweep {
    size_t removed;   /* files removed */
    size_t kept;      /* leftovers whose restore still runs (or whose lock is held) */
    char first[1024]; /* the first one removed (relative to the directory swept) */
};

/*
 * Remove the leftovers of killed restores below dir: names restore_tmp_parse recognises whose
 * process is gone (kill(pid, 0) says ESRCH) and whose temporary is not flock'ed by anyone (a
 * restore holds its temporary's lock until it ends), or whose temporary is unlocked and more
 * than a minute old (its pid was reused). Recursive when recursive (hidden directories and
 * skip, a canonical path, are not entered: the DAOS directory); only regular files and links
 * are removed (as themselves), through fsb.h. Best effort: errors are not reported. s
 * accumulates.
 */
void restore_sweep_dir(const char *dir, const char *skip, bool recursive, struct restore_sweep *s);

/*
 * Database db_path has no file in set set_id: set dv_err() to say so - and, when the set could
 * not copy it (a partial set), why, and which set holds the newest copy - and return -1
 * (also on a catalog error, with that error).
 */
int restore_not_in_set(struct catalog *cat, const char *set_id, const char *db_path);

/* PRAGMA integrity_check of a database file opened read-only and immutable (nothing is
 * written beside it). 0 when "ok", else -1 with the first problem in dv_err(). */
int restore_integrity_check(const char *path);

#endif

/*
 * restored.h - the restore folder (restore.dir, config.h), as Domino Backup has one: where
 * `dvault restore` without --into (and the console's restore wizard) puts its copies, named
 * after the database and the set, never colliding; listed, deleted one at a time, and removed
 * by `dvault prune` once older than restore.retention_days.
 *
 * A copy's origin is recorded in the copy itself, in its dbinfo table, before the file gets
 * its name (recover.h: restored_from, restored_from_set, restored_from_replica_id, and
 * restored_time, restored_at; docs/formats.md): it travels with the file, survives a catalog
 * rebuild, and a copy without it (copied in by hand) is still listed, its time its mtime.
 *
 * The folder is beneath data_dir and hostile like it: read and changed through fsb.h (no
 * symbolic link followed, only regular files); databases in it are never backed up (dbglob.h).
 */
#ifndef DV_RESTORED_H
#define DV_RESTORED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job.h"

/*
 * The restore folder's name for database db_rel (as the server names it) of set set_id,
 * relative to data_dir: "<restore.dir>/<db_rel's directory>/<stem>--<set_id><ext>"
 * ("restore/mail/alice--20261129-154357.nsf"); a point-in-time restore adds
 * "--at-YYYYMMDD-HHMMSS" (UTC) or "--latest" after the set. The first of that name and its
 * alternatives (restore_name_alt: "-2", "-3" ...) that does not exist; the directories are
 * created (beneath data_dir, never through a link). malloc'd, or NULL with dv_err().
 */
char *restored_name(const struct dv_config *cfg, const char *db_rel, const char *set_id, bool pitr,
                    int64_t at_us, bool to_latest);

struct restored_copy {
    char rel[1024];    /* relative to the restore folder ("mail/alice--20261129-154357.nsf") */
    char path[4096];   /* absolute */
    uint64_t size;     /* bytes of the file (its -wal not counted) */
    int64_t restored;  /* when it was restored (epoch s): dbinfo restored_time, else mtime */
    bool recorded;     /* restored_time was in the copy (not the mtime) */
    int64_t age;       /* now - restored, seconds (0 when in the future) */
    char origin[1024]; /* restored_from: the database it is a copy of ("" unknown) */
    char set_id[32];   /* restored_from_set ("" unknown) */
    char at[32];       /* restored_at: "" (the set as it was), "latest", or the --at time in
                          microseconds since the epoch */
    bool expired;      /* older than restore.retention_days (never when it is 0) */
};

/*
 * The copies in the restore folder (recursively; hidden names - restores in progress - and
 * SQLite's -wal, -shm, -journal skipped; links and special files are not copies: never
 * listed), oldest first. now: the time to measure ages against (0: now). A missing folder
 * is empty. *out is malloc'd (free). 0 or -1 with dv_err().
 */
int restored_list(const struct dv_config *cfg, int64_t now, struct restored_copy **out, size_t *n);

/*
 * Delete one copy: path is absolute, or relative to data_dir ("restore/mail/x.nsf"), or
 * relative to the restore folder ("mail/x.nsf"). Refused (nothing removed) when it is not
 * inside the restore folder, is a symbolic link, not a regular file, or open by another
 * process (dbuse.h). Its -wal, -shm and -journal go too (the -shm last). Records itself in
 * the job history ("delete restored"). c (may be NULL) gets what was deleted. 0 or -1.
 */
int restored_delete(const struct dv_config *cfg, const char *path, struct restored_copy *c);

/*
 * The copies older than restore.retention_days (none when it is 0): removed (unless dry_run),
 * each as restored_delete does, except that one in use is skipped and named in *skipped.
 * *out (malloc'd) gets those removed (or that would be). Called by prune (which records the
 * job). 0 or -1 (the folder unreadable; a copy that cannot be removed is counted in skipped
 * with its reason in the job's events).
 */
int restored_expire(const struct dv_config *cfg, bool dry_run, int64_t now, struct dv_job *job,
                    struct restored_copy **out, size_t *n, size_t *skipped);

/* An age for people: "45s", "12m", "5h 02m", "3d 04h". */
void restored_fmt_age(int64_t secs, char *buf, size_t n);

#endif

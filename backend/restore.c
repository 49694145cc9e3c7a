/* restore.c - see restore.h. */
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "backup.h"
#include "delta.h"
#include "incr.h"
#include "util.h"

int restore_integrity_check(const char *path)
{
    char *uri = dv_asprintf("file:%s?immutable=1", path);
    for (char *p = uri + 5; *p && *p != '?'; p++)
        if (*p == '#')
            *p = '_'; /* our temp names never contain '#' or '?'; guard anyway */
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        dv_seterr("%s: cannot open: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL);
    int result = -1;
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *msg = (const char *)sqlite3_column_text(st, 0);
        if (msg && strcmp(msg, "ok") == 0)
            result = 0;
        else
            dv_seterr("%s: integrity_check failed: %s", path, msg ? msg : "?");
    } else {
        dv_seterr("%s: integrity_check failed: %s", path, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return result;
}

int restore_materialize(struct catalog *cat, struct target *t, const char *set_id,
                        const char *db_path, const char *out_path, bool overwrite,
                        struct dv_job *job, struct restore_info *info)
{
    return restore_materialize_ex(cat, t, set_id, db_path, out_path, overwrite, NULL, NULL, job,
                                  info);
}

int restore_not_in_set(struct catalog *cat, const char *set_id, const char *db_path)
{
    struct catalog_set_failure fl;
    int g = catalog_set_failure_get(cat, set_id, db_path, &fl);
    if (g < 0)
        return -1;
    if (g == 0) {
        dv_seterr("database '%s' is not in backup set %s", db_path, set_id);
        return -1;
    }
    /* the set could not copy it: name the newest set that does hold a copy */
    struct catalog_set s, held;
    memset(&s, 0, sizeof s);
    s.status = CATALOG_SET_PARTIAL;
    int h = catalog_set_get(cat, set_id, &s);
    if (h < 0 || (h = catalog_db_last_set(cat, db_path, true, &held)) < 0)
        return -1;
    char alt[128];
    if (h == 1)
        snprintf(alt, sizeof alt, "the newest set holding it is %s", held.id);
    else
        snprintf(alt, sizeof alt, "no set holds a copy of it");
    dv_seterr("database '%s' is not in backup set %s: the set is %s, that database could not be "
              "copied (%s); %s",
              db_path, set_id, catalog_set_status_name(s.status), fl.reason, alt);
    return -1;
}

int restore_materialize_ex(struct catalog *cat, struct target *t, const char *set_id,
                           const char *db_path, const char *out_path, bool overwrite,
                           restore_prepare_fn prepare, void *prepare_ud, struct dv_job *job,
                           struct restore_info *info)
{
    struct restore_info dummy;
    if (!info)
        info = &dummy;
    memset(info, 0, sizeof *info);
    struct catalog_set s;
    int r = catalog_set_get(cat, set_id, &s);
    if (r < 0)
        return -1;
    if (r == 0) {
        dv_seterr("no backup set '%s' (dvault sets lists them)", set_id);
        return -1;
    }
    if (!catalog_set_usable(s.status)) {
        dv_seterr("backup set %s is %s, not complete: choose a complete set", set_id,
                  catalog_set_status_name(s.status));
        return -1;
    }
    if (s.pruning > 0) {
        dv_seterr("backup set %s is being pruned (an interrupted prune): run dvault prune to "
                  "finish it and choose another set",
                  set_id);
        return -1;
    }
    snprintf(info->set_id, sizeof info->set_id, "%s", set_id);
    info->set_started = s.started;
    struct catalog_set_file f;
    memset(&f, 0, sizeof f);
    r = catalog_set_file_get(cat, set_id, db_path, &f);
    if (r < 0)
        return -1;
    if (r == 0)
        return restore_not_in_set(cat, set_id, db_path);
    if (!dv_path_is_safe_rel(f.path)) {
        dv_seterr("catalog: unsafe path '%s' for %s in set %s", f.path, db_path, set_id);
        catalog_set_file_done(&f);
        return -1;
    }
    char *set_dir = target_set_dir(t, set_id);
    char *src = dv_path_join(set_dir, f.path);
    char *tmp = NULL;
    int rc = -1, in = -1;
    struct stat st;
    if (!overwrite && lstat(out_path, &st) == 0) {
        dv_seterr("%s exists: choose a new name (or --force)", out_path);
        goto out;
    }
    if (incr_is_inc_path(f.path)) {
        /* an incremental set: rebuilt from its chain, checked against its page map (incr.h) */
        char *idir = dv_dirname(out_path);
        const char *ibase = strrchr(out_path, '/') ? strrchr(out_path, '/') + 1 : out_path;
        tmp = dv_asprintf("%s/.%s.restore.%ld", idir, ibase, (long)getpid());
        free(idir);
        if (incr_chain_build(cat, t, set_id, db_path, tmp, job, NULL) != 0)
            goto out;
        goto check;
    }
    /* 1. the stored copy must be what the backup wrote */
    job_phase(job, "restore", 1, (uint64_t)f.size);
    char sha[65];
    /* the target may have been tampered with: never follow a symbolic link below it (a
     * planted link would make restore read outside the target) */
    char *rel = dv_asprintf("sets/%s/%s", set_id, f.path);
    in = dv_open_beneath(target_path(t), rel, O_RDONLY);
    free(rel);
    if (in < 0)
        goto out;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        dv_seterr("%s is not a regular file: refused", src);
        goto out;
    }
    if (dv_sha256_fd_hex(in, src, sha) != 0)
        goto out;
    if (strcmp(sha, f.sha256) != 0) {
        dv_seterr("%s is corrupt: SHA-256 %s, the backup recorded %s", src, sha, f.sha256);
        goto out;
    }
    /* 2. copy next to the destination, under a hidden temporary name */
    char *dir = dv_dirname(out_path);
    const char *base = strrchr(out_path, '/') ? strrchr(out_path, '/') + 1 : out_path;
    tmp = dv_asprintf("%s/.%s.restore.%ld", dir, base, (long)getpid());
    free(dir);
    if (dv_copy_fd_atomic(in, src, tmp, 0600) != 0)
        goto out;
    dv_crashpoint("restore.copied"); /* tests: a hidden temporary, nothing at out_path */
    job_advance(job, 0, (uint64_t)f.size, db_path);
    /* 3. a kept delta is applied now (seed 000: restore applies it, then removes it) */
    if (f.delta_mode == CATALOG_DELTA_KEEP) {
        info->delta_kept = true;
        if (!f.delta_location || !f.delta_location[0]) {
            dv_seterr("set %s keeps a delta for %s but the catalog does not say where", set_id,
                      db_path);
            goto out;
        }
        snprintf(info->delta_location, sizeof info->delta_location, "%s", f.delta_location);
        struct delta_header h;
        char dsha[65];
        size_t tl = strlen(target_path(t));
        if (strncmp(f.delta_location, target_path(t), tl) == 0 && f.delta_location[tl] == '/') {
            int dfd = dv_open_beneath(target_path(t), f.delta_location + tl + 1, O_RDONLY);
            if (dfd < 0)
                goto out; /* a delta on the target is never read through a symbolic link */
            close(dfd);
        }
        if (delta_verify(f.delta_location, &h, dsha) != 0)
            goto out;
        if (f.delta_sha256 && strcmp(dsha, f.delta_sha256) != 0) {
            dv_seterr("%s is corrupt: SHA-256 %s, the backup recorded %s", f.delta_location, dsha,
                      f.delta_sha256);
            goto out;
        }
        if (delta_apply(f.delta_location, tmp) != 0)
            goto out;
        info->delta_pages = h.page_count;
    }
    /* 4. the caller's changes (new ids), then check before the file gets its real name */
check:
    if (prepare && prepare(prepare_ud, tmp) != 0)
        goto out;
    if (restore_integrity_check(tmp) != 0)
        goto out;
    dv_crashpoint("restore.before_rename"); /* tests: out_path (a live db) still the old file */
    if (stat(tmp, &st) == 0)
        info->size = (uint64_t)st.st_size;
    if (overwrite) {
        if (rename(tmp, out_path) != 0) {
            dv_syserr("rename %s to %s", tmp, out_path);
            goto out;
        }
    } else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out_path, RENAME_NOREPLACE) != 0 &&
               !(errno == EINVAL && link(tmp, out_path) == 0 && unlink(tmp) == 0)) {
        /* EINVAL: the file system has no RENAME_NOREPLACE; link() never replaces either */
        if (errno == EEXIST)
            dv_seterr("%s exists: choose a new name (or --force)", out_path);
        else
            dv_syserr("rename %s to %s", tmp, out_path);
        goto out;
    }
    if (dv_fsync_parent(out_path) != 0)
        goto out;
    job_advance(job, 1, 0, NULL);
    rc = 0;
out:
    if (in >= 0)
        close(in);
    if (rc != 0 && tmp)
        unlink(tmp);
    free(tmp);
    free(src);
    free(set_dir);
    catalog_set_file_done(&f);
    return rc;
}

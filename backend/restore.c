/* restore.c - see restore.h. */
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dbcopy.h"
#include "delta.h"
#include "fsb.h"
#include "incr.h"
#include "util.h"

int restore_integrity_check(const char *path)
{
    return dbcopy_integrity_check(path);
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
    struct restore_steps st = {.prepare = prepare, .prepare_ud = prepare_ud};
    return restore_materialize_steps(cat, t, set_id, db_path, out_path, overwrite, &st, job, info);
}

char *restore_tmp_path(const char *out_path, long pid)
{
    char *dir = dv_dirname(out_path);
    const char *base = strrchr(out_path, '/') ? strrchr(out_path, '/') + 1 : out_path;
    char *tmp = dv_asprintf("%s/.%s" RESTORE_TMP_MARK "%ld.tmp", dir, base, pid);
    free(dir);
    return tmp;
}

bool restore_tmp_parse(const char *name, long *pid, size_t *main_len)
{
    if (name[0] != '.')
        return false;
    /* the last marker: a NAME may itself contain one */
    const char *m = NULL;
    for (const char *p = strstr(name + 1, RESTORE_TMP_MARK); p; p = strstr(p + 1, RESTORE_TMP_MARK))
        m = p;
    if (!m || m == name + 1)
        return false;
    const char *d = m + strlen(RESTORE_TMP_MARK), *e = d;
    while (*e >= '0' && *e <= '9')
        e++;
    if (e == d || e - d > 10 || strncmp(e, ".tmp", 4) != 0)
        return false;
    const char *suf = e + 4;
    if (*suf && strcmp(suf, "-wal") != 0 && strcmp(suf, "-shm") != 0 &&
        strcmp(suf, "-journal") != 0)
        return false;
    long p = strtol(d, NULL, 10);
    if (p <= 0)
        return false;
    *pid = p;
    *main_len = (size_t)(suf - name);
    return true;
}

/* Remove the temporary and whatever SQLite left beside it. */
static void remove_tmp(struct fsb *root, const char *tmp_rel)
{
    static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
        char *p = dv_asprintf("%s%s", tmp_rel, sfx[i]);
        fsb_unlink(root, p, true);
        free(p);
    }
}

int restore_materialize_steps(struct catalog *cat, struct target *t, const char *set_id,
                              const char *db_path, const char *out_path, bool overwrite,
                              const struct restore_steps *steps, struct dv_job *job,
                              struct restore_info *info)
{
    struct restore_info dummy;
    struct restore_steps nosteps = {0};
    if (!info)
        info = &dummy;
    if (!steps)
        steps = &nosteps;
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
    char *tmp = NULL, *tmp_rel = NULL, *out_rel = NULL, *rootdir = NULL;
    struct fsb *root = NULL;
    int rc = -1, in = -1, out = -1, dfd = -1;
    struct stat st;
    /* where the result goes: beneath root, never through a link (fsb.h) */
    rootdir = steps->root ? dv_strdup(steps->root) : dv_dirname(out_path);
    size_t rl = strcmp(rootdir, "/") == 0 ? 0 : strlen(rootdir);
    if (strncmp(out_path, rootdir, rl) != 0 || out_path[rl] != '/' ||
        !dv_path_is_safe_rel(out_path + rl + 1)) {
        dv_seterr("%s is not below %s", out_path, rootdir);
        goto out;
    }
    out_rel = dv_strdup(out_path + rl + 1);
    if (!(root = fsb_open(rootdir)))
        goto out;
    if (!overwrite && fsb_lstat(root, out_rel, &st) == 0) {
        dv_seterr("%s exists: choose a new name (or --force)", out_path);
        goto out;
    }
    /* the temporary: a new file (O_EXCL), locked by us until we are done (restore.h) */
    tmp = restore_tmp_path(out_path, (long)getpid());
    tmp_rel = dv_asprintf("%.*s%s",
                          (int)(strrchr(out_rel, '/') ? strrchr(out_rel, '/') - out_rel + 1 : 0),
                          out_rel, strrchr(tmp, '/') + 1);
    if ((out = fsb_openat(root, tmp_rel, O_RDWR | O_CREAT | O_EXCL, 0600)) < 0) {
        tmp_rel[0] = 0; /* not ours: never removed */
        goto out;
    }
    if (flock(out, LOCK_EX | LOCK_NB) != 0) {
        dv_syserr("lock %s", tmp);
        goto out;
    }
    if (incr_is_inc_path(f.path)) {
        /* an incremental set: rebuilt from its chain, checked against its page map (incr.h) */
        if (incr_chain_build(cat, t, set_id, db_path, out, tmp, job, NULL) != 0)
            goto out;
        goto check;
    }
    /* 1. the stored copy must be what the backup wrote */
    job_phase(job, "restore", 1, (uint64_t)f.size);
    char sha[65];
    /* the target may have been tampered with: opened beneath it (fsb.h), never through a
     * symbolic link (a planted link would make restore read outside the target), and only a
     * regular file (a FIFO is refused at once, never waited on) */
    char *rel = dv_asprintf("sets/%s/%s", set_id, f.path);
    in = fsb_openat(target_root(t), rel, O_RDONLY, 0);
    free(rel);
    if (in < 0)
        goto out;
    if (fstat(in, &st) != 0) {
        dv_syserr("stat %s", src);
        goto out;
    }
    if (dv_sha256_fd_hex(in, src, sha) != 0)
        goto out;
    if (strcmp(sha, f.sha256) != 0) {
        dv_seterr("%s is corrupt: SHA-256 %s, the backup recorded %s", src, sha, f.sha256);
        goto out;
    }
    /* 2. copy next to the destination, into the hidden temporary */
    int64_t n = dv_copy_range(in, 0, out, 0, (uint64_t)st.st_size);
    if (n < 0 || (uint64_t)n != (uint64_t)st.st_size) {
        if (n < 0)
            dv_syserr("copy %s to %s", src, tmp);
        else
            dv_seterr("copy %s: file shrank while copying", src);
        goto out;
    }
    if (fsync(out) != 0) {
        dv_syserr("fsync %s", tmp);
        goto out;
    }
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
        char *abs = target_abs(t, f.delta_location); /* in its set: recorded target-relative */
        free(f.delta_location);
        f.delta_location = abs;
        snprintf(info->delta_location, sizeof info->delta_location, "%s", f.delta_location);
        struct delta_header h;
        char dsha[65];
        /* a delta on the target beneath it without links; a moved one as it is; a regular
         * file either way (target_file_open); verified and applied from this one descriptor */
        dfd = target_file_open(t, f.delta_location, O_RDONLY, 0);
        if (dfd < 0 || delta_verify_fd(dfd, f.delta_location, &h, dsha) != 0)
            goto out;
        if (f.delta_sha256 && strcmp(dsha, f.delta_sha256) != 0) {
            dv_seterr("%s is corrupt: SHA-256 %s, the backup recorded %s", f.delta_location, dsha,
                      f.delta_sha256);
            goto out;
        }
        if (delta_apply_fd(dfd, f.delta_location, out, tmp) != 0)
            goto out;
        info->delta_pages = h.page_count;
    }
    /* 4. the caller's changes (new ids), then check before the file gets its real name */
check:
    if (steps->prepare && steps->prepare(steps->prepare_ud, tmp) != 0)
        goto out;
    if (restore_integrity_check(tmp) != 0)
        goto out;
    dv_crashpoint("restore.before_rename"); /* tests: out_path (a live db) still the old file */
    if (fstat(out, &st) == 0)
        info->size = (uint64_t)st.st_size;
    if (steps->before_rename && steps->before_rename(steps->before_ud, tmp, out_path) != 0)
        goto out;
    if (overwrite) {
        if (fsb_rename(root, tmp_rel, out_rel, false) != 0)
            goto out;
    } else if (fsb_rename(root, tmp_rel, out_rel, true) != 0) {
        int e = errno;
        /* EINVAL: the file system has no RENAME_NOREPLACE; link() never replaces either */
        if (e == EINVAL) {
            int rfd = fsb_openat(root, ".", O_RDONLY | O_DIRECTORY, 0);
            const char *tb = strrchr(tmp_rel, '/') ? strrchr(tmp_rel, '/') + 1 : tmp_rel;
            const char *ob = strrchr(out_rel, '/') ? strrchr(out_rel, '/') + 1 : out_rel;
            char *pd = dv_dirname(out_rel);
            int pfd = rfd >= 0
                          ? (strcmp(pd, ".") == 0 ? dup(rfd)
                                                  : fsb_openat(root, pd, O_RDONLY | O_DIRECTORY, 0))
                          : -1;
            free(pd);
            e = pfd >= 0 && linkat(pfd, tb, pfd, ob, 0) == 0 ? 0 : errno;
            if (e == 0)
                unlinkat(pfd, tb, 0);
            if (pfd >= 0)
                close(pfd);
            if (rfd >= 0)
                close(rfd);
        }
        if (e == EEXIST) {
            dv_seterr("%s exists: choose a new name (or --force)", out_path);
            goto out;
        } else if (e != 0) {
            errno = e;
            dv_syserr("rename %s to %s", tmp, out_path);
            goto out;
        }
    }
    tmp_rel[0] = 0; /* renamed: nothing to remove */
    if (dv_fsync_parent(out_path) != 0)
        goto out;
    job_advance(job, 1, 0, NULL);
    rc = 0;
out:
    if (in >= 0)
        close(in);
    if (dfd >= 0)
        close(dfd);
    if (rc != 0 && root && tmp_rel && tmp_rel[0])
        remove_tmp(root, tmp_rel);
    if (out >= 0)
        close(out); /* after the removal: the lock said "a restore runs" until then */
    fsb_close(root);
    free(tmp);
    free(tmp_rel);
    free(out_rel);
    free(rootdir);
    free(src);
    free(set_dir);
    catalog_set_file_done(&f);
    return rc;
}

/* Is the process alive? (EPERM: it is, another user's.) */
static bool pid_alive(long pid)
{
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* 1 when the temporary rel is flock'ed by someone, 0 when not (or missing: *exists false). */
static int tmp_locked(struct fsb *root, const char *rel, bool *exists, time_t *mtime)
{
    struct stat st;
    *exists = false;
    if (fsb_lstat(root, rel, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    *exists = true;
    *mtime = st.st_mtime;
    int fd = fsb_openat(root, rel, O_RDONLY, 0);
    if (fd < 0)
        return 1; /* cannot tell: keep it */
    int held = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

static void sweep_rel(struct fsb *root, const char *rel, const char *skip_rel, int depth,
                      bool recursive, struct restore_sweep *s)
{
    if (depth > 64)
        return;
    DIR *d = fsb_opendir(root, rel);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        char *p = strcmp(rel, ".") == 0 ? dv_strdup(nm) : dv_asprintf("%s/%s", rel, nm);
        struct stat st;
        long pid;
        size_t ml;
        if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            free(p);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (recursive && nm[0] != '.' && !(skip_rel && strcmp(p, skip_rel) == 0))
                sweep_rel(root, p, skip_rel, depth + 1, recursive, s);
        } else if ((S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) &&
                   restore_tmp_parse(nm, &pid, &ml)) {
            char *main_rel = dv_asprintf("%.*s%.*s", (int)(strlen(p) - strlen(nm)), p, (int)ml, nm);
            bool exists = false;
            time_t mt = 0;
            int locked = tmp_locked(root, main_rel, &exists, &mt);
            bool stale = exists && time(NULL) - mt > 60;
            if (!locked && (!pid_alive(pid) || stale) && fsb_unlink(root, p, true) == 0) {
                if (!s->removed++)
                    snprintf(s->first, sizeof s->first, "%s", p);
            } else {
                s->kept++;
            }
            free(main_rel);
        }
        free(p);
    }
    closedir(d);
}

void restore_sweep_dir(const char *dir, const char *skip, bool recursive, struct restore_sweep *s)
{
    struct fsb *root = fsb_open(dir);
    if (!root)
        return;
    char *skip_rel = NULL;
    size_t dl = strlen(dir);
    if (skip && strncmp(skip, dir, dl) == 0 && skip[dl] == '/' && skip[dl + 1])
        skip_rel = dv_strdup(skip + dl + 1);
    sweep_rel(root, ".", skip_rel, 0, recursive, s);
    free(skip_rel);
    fsb_close(root);
}

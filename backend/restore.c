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
#include "target_read.h"
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

char *restore_name_alt(const char *path, unsigned n)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot > base ? (size_t)(dot - path) : strlen(path);
    return dv_asprintf("%.*s-%u%s", (int)stem, path, n, path + stem);
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

/* One materialization (restore_materialize_steps), from step to step. */
struct mat {
    struct catalog *cat;
    struct target *t;
    const char *set_id, *db_path, *out_path;
    bool overwrite, unique;
    struct dv_job *job;
    struct restore_info *info;
    struct catalog_set_file f;
    char *set_dir, *src; /* the stored copy (for messages) */
    char *in_rel;        /* the copy fetched from the target (evicted when done) */
    char *delta_rel;     /* a kept delta fetched from the target (evicted when done) */
    char *rootdir;       /* the result is created and renamed beneath it */
    struct fsb *root;
    char *out_rel;       /* out_path below root */
    char *tmp, *tmp_rel; /* the temporary ("" once renamed or when it is not ours) */
    int in, out, dfd;
};

/* The set (usable, not being pruned) and its file of db_path, a safe path. 0 or -1. */
static int mat_find(struct mat *m)
{
    struct catalog_set s;
    int r = catalog_set_get(m->cat, m->set_id, &s);
    if (r < 0)
        return -1;
    if (r == 0) {
        dv_seterr("no backup set '%s' (dvault sets lists them)", m->set_id);
        return -1;
    }
    if (!catalog_set_usable(s.status)) {
        dv_seterr("backup set %s is %s, not complete: choose a complete set", m->set_id,
                  catalog_set_status_name(s.status));
        return -1;
    }
    if (s.pruning > 0) {
        dv_seterr("backup set %s is being pruned (an interrupted prune): run dvault prune to "
                  "finish it and choose another set",
                  m->set_id);
        return -1;
    }
    snprintf(m->info->set_id, sizeof m->info->set_id, "%s", m->set_id);
    m->info->set_started = s.started;
    r = catalog_set_file_get(m->cat, m->set_id, m->db_path, &m->f);
    if (r < 0)
        return -1;
    if (r == 0)
        return restore_not_in_set(m->cat, m->set_id, m->db_path);
    if (!dv_path_is_safe_rel(m->f.path)) {
        dv_seterr("catalog: unsafe path '%s' for %s in set %s", m->f.path, m->db_path, m->set_id);
        return -1;
    }
    return 0;
}

/* Where the result goes (beneath root, never through a link: fsb.h), and the temporary: a
 * new file (O_EXCL), locked by us until we are done (restore.h). 0 or -1. */
static int mat_open_tmp(struct mat *m, const char *root_dir)
{
    m->rootdir = root_dir ? dv_strdup(root_dir) : dv_dirname(m->out_path);
    size_t rl = strcmp(m->rootdir, "/") == 0 ? 0 : strlen(m->rootdir);
    if (strncmp(m->out_path, m->rootdir, rl) != 0 || m->out_path[rl] != '/' ||
        !dv_path_is_safe_rel(m->out_path + rl + 1)) {
        dv_seterr("%s is not below %s", m->out_path, m->rootdir);
        return -1;
    }
    m->out_rel = dv_strdup(m->out_path + rl + 1);
    if (!(m->root = fsb_open(m->rootdir)))
        return -1;
    struct stat st;
    if (!m->overwrite && !m->unique && fsb_lstat(m->root, m->out_rel, &st) == 0) {
        dv_seterr("%s exists: choose a new name (or --force)", m->out_path);
        return -1;
    }
    m->tmp = restore_tmp_path(m->out_path, (long)getpid());
    const char *sl = strrchr(m->out_rel, '/');
    m->tmp_rel = dv_asprintf("%.*s%s", (int)(sl ? sl - m->out_rel + 1 : 0), m->out_rel,
                             strrchr(m->tmp, '/') + 1);
    if ((m->out = fsb_openat(m->root, m->tmp_rel, O_RDWR | O_CREAT | O_EXCL, 0600)) < 0) {
        m->tmp_rel[0] = 0; /* not ours: never removed */
        return -1;
    }
    if (flock(m->out, LOCK_EX | LOCK_NB) != 0) {
        dv_syserr("lock %s", m->tmp);
        return -1;
    }
    return 0;
}

/* 1. The stored copy must be what the backup wrote; 2. copied next to the destination, into
 * the hidden temporary. 0 or -1. */
static int mat_copy(struct mat *m)
{
    job_phase(m->job, "restore", 1, (uint64_t)m->f.size);
    char sha[65];
    struct stat st;
    /* the target may have been tampered with: opened beneath it (fsb.h), never through a
     * symbolic link (a planted link would make restore read outside the target), and only a
     * regular file (a FIFO is refused at once, never waited on) */
    m->in_rel = dv_asprintf("sets/%s/%s", m->set_id, m->f.path);
    m->in = target_fetch_open(m->t, m->in_rel); /* S3: downloaded into the working tree */
    if (m->in < 0)
        return -1;
    if (fstat(m->in, &st) != 0) {
        dv_syserr("stat %s", m->src);
        return -1;
    }
    if (dv_sha256_fd_hex(m->in, m->src, sha) != 0)
        return -1;
    if (strcmp(sha, m->f.sha256) != 0) {
        dv_seterr("%s is corrupt: SHA-256 %s, the backup recorded %s", m->src, sha, m->f.sha256);
        return -1;
    }
    int64_t n = dv_copy_range(m->in, 0, m->out, 0, (uint64_t)st.st_size);
    if (n < 0 || (uint64_t)n != (uint64_t)st.st_size) {
        if (n < 0)
            dv_syserr("copy %s to %s", m->src, m->tmp);
        else
            dv_seterr("copy %s: file shrank while copying", m->src);
        return -1;
    }
    if (fsync(m->out) != 0) {
        dv_syserr("fsync %s", m->tmp);
        return -1;
    }
    dv_crashpoint("restore.copied"); /* tests: a hidden temporary, nothing at out_path */
    job_advance(m->job, 0, (uint64_t)m->f.size, m->db_path);
    return 0;
}

/* 3. A kept delta is applied now (seed 000: restore applies it, then removes it). 0 or -1. */
static int mat_delta(struct mat *m)
{
    struct catalog_set_file *f = &m->f;
    if (f->delta_mode != CATALOG_DELTA_KEEP)
        return 0;
    m->info->delta_kept = true;
    if (!f->delta_location || !f->delta_location[0]) {
        dv_seterr("set %s keeps a delta for %s but the catalog does not say where", m->set_id,
                  m->db_path);
        return -1;
    }
    /* an S3 target's: downloaded into the working tree first (a moved one is where it is) */
    if (target_fetch_loc(m->t, f->delta_location, &m->delta_rel) != 0)
        return -1;
    char *abs = target_abs(m->t, f->delta_location); /* in its set: recorded target-relative */
    free(f->delta_location);
    f->delta_location = abs;
    snprintf(m->info->delta_location, sizeof m->info->delta_location, "%s", f->delta_location);
    struct delta_header h;
    char dsha[65];
    /* a delta on the target beneath it without links; a moved one as it is; a regular
     * file either way (target_file_open); verified and applied from this one descriptor */
    m->dfd = target_file_open(m->t, f->delta_location, O_RDONLY, 0);
    if (m->dfd < 0 || delta_verify_fd(m->dfd, f->delta_location, &h, dsha) != 0)
        return -1;
    if (f->delta_sha256 && strcmp(dsha, f->delta_sha256) != 0) {
        dv_seterr("%s is corrupt: SHA-256 %s, the backup recorded %s", f->delta_location, dsha,
                  f->delta_sha256);
        return -1;
    }
    if (delta_apply_fd(m->dfd, f->delta_location, m->out, m->tmp) != 0)
        return -1;
    m->info->delta_pages = h.page_count;
    return 0;
}

/* link() + unlink() where the file system has no RENAME_NOREPLACE (link never replaces
 * either): 0 or an errno value. */
static int mat_link_noreplace(struct mat *m)
{
    int rfd = fsb_openat(m->root, ".", O_RDONLY | O_DIRECTORY, 0);
    const char *tb = strrchr(m->tmp_rel, '/') ? strrchr(m->tmp_rel, '/') + 1 : m->tmp_rel;
    const char *ob = strrchr(m->out_rel, '/') ? strrchr(m->out_rel, '/') + 1 : m->out_rel;
    char *pd = dv_dirname(m->out_rel);
    int pfd = rfd >= 0 ? (strcmp(pd, ".") == 0 ? dup(rfd)
                                               : fsb_openat(m->root, pd, O_RDONLY | O_DIRECTORY, 0))
                       : -1;
    free(pd);
    int e = pfd >= 0 && linkat(pfd, tb, pfd, ob, 0) == 0 ? 0 : errno;
    if (e == 0)
        unlinkat(pfd, tb, 0);
    if (pfd >= 0)
        close(pfd);
    if (rfd >= 0)
        close(rfd);
    return e;
}

/* The temporary gets its real name (replacing only with overwrite; with unique, the first free
 * alternative when the name was taken meanwhile). 0 or -1. */
static int mat_rename(struct mat *m)
{
    char *first_rel = dv_strdup(m->out_rel);
    int e = 0;
    for (unsigned alt = 2;; alt++) {
        if (m->overwrite) {
            e = fsb_rename(m->root, m->tmp_rel, m->out_rel, false) != 0 ? -1 : 0;
        } else if (fsb_rename(m->root, m->tmp_rel, m->out_rel, true) != 0) {
            e = errno == EINVAL ? mat_link_noreplace(m) : errno;
        }
        if (e != EEXIST || !m->unique || alt > RESTORE_NAME_ALT_MAX)
            break;
        free(m->out_rel); /* another restore took the name meanwhile: the next one */
        m->out_rel = restore_name_alt(first_rel, alt);
        e = 0;
    }
    free(first_rel);
    char *final = fsb_abs(m->root, m->out_rel);
    if (e == EEXIST)
        dv_seterr("%s exists: choose a new name (or --force)", final);
    else if (e > 0)
        errno = e, dv_syserr("rename %s to %s", m->tmp, final);
    int rc = -1;
    if (e == 0) {
        m->tmp_rel[0] = 0; /* renamed: nothing to remove */
        snprintf(m->info->out_path, sizeof m->info->out_path, "%s", final);
        rc = dv_fsync_parent(final);
    }
    free(final);
    return rc;
}

static void mat_done(struct mat *m, int rc)
{
    if (m->in >= 0)
        close(m->in);
    if (m->dfd >= 0)
        close(m->dfd);
    if (m->in_rel)
        target_evict(m->t, m->in_rel);
    free(m->in_rel);
    target_evict_loc(m->t, m->delta_rel);
    if (rc != 0 && m->root && m->tmp_rel && m->tmp_rel[0])
        remove_tmp(m->root, m->tmp_rel);
    if (m->out >= 0)
        close(m->out); /* after the removal: the lock said "a restore runs" until then */
    fsb_close(m->root);
    free(m->tmp);
    free(m->tmp_rel);
    free(m->out_rel);
    free(m->rootdir);
    free(m->src);
    free(m->set_dir);
    catalog_set_file_done(&m->f);
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
    struct mat m = {.cat = cat,
                    .t = t,
                    .set_id = set_id,
                    .db_path = db_path,
                    .out_path = out_path,
                    .overwrite = overwrite,
                    .unique = steps->unique && !overwrite,
                    .job = job,
                    .info = info,
                    .in = -1,
                    .out = -1,
                    .dfd = -1};
    int rc = -1;
    if (mat_find(&m) != 0) {
        catalog_set_file_done(&m.f);
        return -1;
    }
    m.set_dir = target_set_dir(t, set_id);
    char *src_rel = dv_asprintf("sets/%s/%s", set_id, m.f.path);
    m.src = target_name_of(t, src_rel); /* an S3 target: s3://BUCKET/PREFIX/sets/... */
    free(src_rel);
    if (mat_open_tmp(&m, steps->root) != 0)
        goto out;
    if (incr_is_inc_path(m.f.path)) {
        /* an incremental set: rebuilt from its chain, checked against its page map (incr.h) */
        if (incr_chain_build(cat, t, set_id, db_path, m.out, m.tmp, job, NULL) != 0)
            goto out;
    } else if (mat_copy(&m) != 0 || mat_delta(&m) != 0) {
        goto out;
    }
    /* 4. the caller's changes (new ids), then check before the file gets its real name */
    if (steps->prepare && steps->prepare(steps->prepare_ud, m.tmp) != 0)
        goto out;
    if (restore_integrity_check(m.tmp) != 0)
        goto out;
    dv_crashpoint("restore.before_rename"); /* tests: out_path (a live db) still the old file */
    struct stat st;
    if (fstat(m.out, &st) == 0)
        info->size = (uint64_t)st.st_size;
    if (steps->before_rename && steps->before_rename(steps->before_ud, m.tmp, out_path) != 0)
        goto out;
    if (mat_rename(&m) != 0)
        goto out;
    job_advance(job, 1, 0, NULL);
    rc = 0;
out:
    mat_done(&m, rc);
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

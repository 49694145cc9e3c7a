/* restored.c - the restore folder: names, listing, delete, expiry. See restored.h. */
#include "restored.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dbuse.h"
#include "fsb.h"
#include "restore.h"
#include "util.h"

#define RESTORED_DEPTH_MAX 32

/* The restore folder beneath data_dir (never through a link); NULL with dv_err(), or NULL
 * with *missing when it does not exist (yet). */
static struct fsb *folder_open(const struct dv_config *cfg, bool *missing)
{
    *missing = false;
    struct fsb *data = fsb_open(cfg->server.data_dir);
    if (!data)
        return NULL;
    struct stat st;
    struct fsb *f = NULL;
    if (fsb_lstat(data, cfg->restore.rel, &st) != 0 && errno == ENOENT)
        *missing = true;
    else
        f = fsb_sub(data, cfg->restore.rel);
    fsb_close(data);
    return f;
}

char *restored_name(const struct dv_config *cfg, const char *db_rel, const char *set_id, bool pitr,
                    int64_t at_us, bool to_latest)
{
    const char *base = strrchr(db_rel, '/') ? strrchr(db_rel, '/') + 1 : db_rel;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot > base ? (size_t)(dot - base) : strlen(base);
    char when[40] = "";
    if (pitr && to_latest) {
        snprintf(when, sizeof when, "--latest");
    } else if (pitr) {
        time_t t = (time_t)(at_us / 1000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "--at-%Y%m%d-%H%M%S", &tm);
    }
    char *dir = base == db_rel
                    ? dv_strdup(cfg->restore.rel)
                    : dv_asprintf("%s/%.*s", cfg->restore.rel, (int)(base - db_rel - 1), db_rel);
    char *name = dv_asprintf("%s/%.*s--%s%s%s", dir, (int)stem, base, set_id, when, base + stem);
    struct fsb *data = fsb_open(cfg->server.data_dir);
    char *out = NULL;
    if (!data || !dv_path_is_safe_rel(name) || fsb_mkdirs(data, dir, 0700) != 0) {
        if (data && !dv_path_is_safe_rel(name))
            dv_seterr("restore folder: '%s' is not a safe name", name);
        goto done;
    }
    struct stat st;
    for (unsigned alt = 1; alt <= RESTORE_NAME_ALT_MAX; alt++) {
        char *c = alt == 1 ? dv_strdup(name) : restore_name_alt(name, alt);
        if (fsb_lstat(data, c, &st) != 0 && errno == ENOENT) {
            out = c;
            break;
        }
        free(c);
    }
    if (!out)
        dv_seterr("restore folder: %s and its %d alternatives exist", name, RESTORE_NAME_ALT_MAX);
done:
    fsb_close(data);
    free(dir);
    free(name);
    return out;
}

/* The origin recorded in the copy's dbinfo, read through the descriptor fd (the file fsb.h
 * opened: never a link), immutable: no lock, nothing written beside it. */
static void read_origin(int fd, struct restored_copy *c)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    char *uri = dv_file_uri(path, "immutable=1");
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(uri, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(h,
                               "SELECT key, value FROM dbinfo WHERE key IN ('restored_from',"
                               " 'restored_from_set', 'restored_time', 'restored_at')",
                               -1, &s, NULL) == SQLITE_OK) {
            while (sqlite3_step(s) == SQLITE_ROW) {
                const char *k = (const char *)sqlite3_column_text(s, 0);
                const char *v = (const char *)sqlite3_column_text(s, 1);
                long long t;
                if (!k || !v)
                    continue;
                if (strcmp(k, "restored_from") == 0)
                    snprintf(c->origin, sizeof c->origin, "%s", v);
                else if (strcmp(k, "restored_from_set") == 0)
                    snprintf(c->set_id, sizeof c->set_id, "%s", v);
                else if (strcmp(k, "restored_at") == 0)
                    snprintf(c->at, sizeof c->at, "%s", v);
                else if (sscanf(v, "%lld", &t) == 1 && t > 0)
                    c->restored = t, c->recorded = true;
            }
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    free(uri);
}

static bool is_sidecar_name(const char *nm)
{
    static const char *const sfx[] = {"-wal", "-shm", "-journal"};
    size_t l = strlen(nm);
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(sfx[i]);
        if (l > sl && strcmp(nm + l - sl, sfx[i]) == 0)
            return true;
    }
    return false;
}

/* One copy rel beneath the folder f: its figures (a regular file, opened without links). */
static int copy_info(struct fsb *f, const char *rel, int64_t now, long days,
                     struct restored_copy *c)
{
    memset(c, 0, sizeof *c);
    int fd = fsb_openat(f, rel, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        dv_syserr("%s/%s", fsb_path(f), rel);
        close(fd);
        return -1;
    }
    snprintf(c->rel, sizeof c->rel, "%s", rel);
    char *abs = fsb_abs(f, rel);
    snprintf(c->path, sizeof c->path, "%s", abs);
    free(abs);
    c->size = (uint64_t)st.st_size;
    c->restored = (int64_t)st.st_mtime;
    read_origin(fd, c);
    close(fd);
    c->age = now > c->restored ? now - c->restored : 0;
    c->expired = days > 0 && c->age > (int64_t)days * 86400;
    return 0;
}

struct clist {
    struct restored_copy *v;
    size_t n, cap;
};

static void walk(struct fsb *f, const char *rel, int depth, int64_t now, long days, struct clist *l)
{
    DIR *d = depth <= RESTORED_DEPTH_MAX ? fsb_opendir(f, rel) : NULL;
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *nm = e->d_name;
        if (nm[0] == '.' || is_sidecar_name(nm)) /* restores in progress; SQLite's files */
            continue;
        struct stat st;
        if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        char *p = strcmp(rel, ".") == 0 ? dv_strdup(nm) : dv_asprintf("%s/%s", rel, nm);
        if (S_ISDIR(st.st_mode)) {
            walk(f, p, depth + 1, now, days, l);
        } else if (S_ISREG(st.st_mode)) {
            if (l->n == l->cap) {
                l->cap = l->cap ? l->cap * 2 : 16;
                l->v = dv_realloc(l->v, l->cap * sizeof *l->v);
            }
            if (copy_info(f, p, now, days, &l->v[l->n]) == 0)
                l->n++;
        }
        free(p);
    }
    closedir(d);
}

static int cmp_age(const void *a, const void *b)
{
    const struct restored_copy *x = a, *y = b;
    if (x->restored != y->restored)
        return x->restored < y->restored ? -1 : 1;
    return strcmp(x->rel, y->rel);
}

int restored_list(const struct dv_config *cfg, int64_t now, struct restored_copy **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    bool missing;
    struct fsb *f = folder_open(cfg, &missing);
    if (!f)
        return missing ? 0 : -1;
    struct clist l = {0};
    walk(f, ".", 0, now ? now : dv_now(), cfg->restore.retention_days, &l);
    fsb_close(f);
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, cmp_age);
    *out = l.v;
    *n = l.n;
    return 0;
}

/* path (restored_delete's forms) as a path relative to the restore folder. malloc'd or NULL. */
static char *folder_rel(const struct dv_config *cfg, const char *path)
{
    char *rel = NULL;
    if (path[0] == '/') {
        /* the parent's links resolved, the last component as it is (a link is refused) */
        char *parent = dv_dirname(path), *pc = dv_path_canon(parent),
             *fc = dv_path_canon(cfg->restore.dir);
        const char *base = strrchr(path, '/') + 1;
        size_t fl = strlen(fc);
        if (dv_path_within(pc, fc) && base[0])
            rel = pc[fl] ? dv_asprintf("%s/%s", pc + fl + 1, base) : dv_strdup(base);
        free(parent);
        free(pc);
        free(fc);
    } else {
        size_t rl = strlen(cfg->restore.rel);
        const char *r =
            strncmp(path, cfg->restore.rel, rl) == 0 && path[rl] == '/' ? path + rl + 1 : path;
        rel = dv_strdup(r);
    }
    if (rel && !dv_path_is_safe_rel(rel)) {
        free(rel);
        rel = NULL;
    }
    if (!rel)
        dv_seterr("'%s' is not in the restore folder %s: only restored copies are deleted", path,
                  cfg->restore.dir);
    return rel;
}

/* Remove copy rel beneath f (checked: a regular file nobody holds), then its sidecars. */
static int remove_copy(struct fsb *f, const char *rel)
{
    struct stat st;
    if (fsb_lstat(f, rel, &st) != 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        dv_seterr("%s/%s is %s: refused (only restored copies are deleted)", fsb_path(f), rel,
                  fsb_kind(st.st_mode));
        return -1;
    }
    char *abs = fsb_abs(f, rel);
    int rc = dbuse_refuse_if_held(abs, abs);
    free(abs);
    if (rc != 0 || fsb_unlink(f, rel, false) != 0)
        return -1;
    static const char *const sfx[] = {"-wal", "-journal", "-shm"}; /* -shm last (dbuse.h) */
    for (size_t i = 0; i < 3; i++) {
        char *p = dv_asprintf("%s%s", rel, sfx[i]);
        fsb_unlink(f, p, true);
        free(p);
    }
    char *dir = dv_dirname(rel);
    fsb_fsync_dir(f, dir);
    free(dir);
    return 0;
}

int restored_delete(const struct dv_config *cfg, const char *path, struct restored_copy *c)
{
    struct restored_copy dummy;
    if (!c)
        c = &dummy;
    memset(c, 0, sizeof *c);
    char *rel = folder_rel(cfg, path);
    if (!rel)
        return -1;
    bool missing;
    struct fsb *f = folder_open(cfg, &missing);
    if (!f) {
        if (missing)
            dv_seterr("%s: no such restored copy (the restore folder %s does not exist)", path,
                      cfg->restore.dir);
        free(rel);
        return -1;
    }
    struct stat st;
    int rc = -1;
    if (fsb_lstat(f, rel, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        dv_seterr("%s/%s is %s: refused (only restored copies are deleted)", fsb_path(f), rel,
                  fsb_kind(st.st_mode));
        goto out;
    }
    if (copy_info(f, rel, dv_now(), cfg->restore.retention_days, c) != 0)
        goto out;
    struct job_record rec;
    job_record_begin(&rec, cfg->catalog, "delete restored", NULL);
    rc = remove_copy(f, rel);
    char sum[1200];
    snprintf(sum, sizeof sum, "%.1000s (a copy of %.100s from set %.31s)", c->path,
             c->origin[0] ? c->origin : "?", c->set_id[0] ? c->set_id : "?");
    job_record_end(&rec, rc, sum);
out:
    fsb_close(f);
    free(rel);
    return rc;
}

int restored_expire(const struct dv_config *cfg, bool dry_run, int64_t now, struct dv_job *job,
                    struct restored_copy **out, size_t *n, size_t *skipped)
{
    *out = NULL;
    *n = 0;
    *skipped = 0;
    struct restored_copy *all = NULL;
    size_t nall = 0;
    if (cfg->restore.retention_days == 0)
        return 0; /* kept until deleted by hand */
    if (restored_list(cfg, now, &all, &nall) != 0)
        return -1;
    bool missing;
    struct fsb *f = nall && !dry_run ? folder_open(cfg, &missing) : NULL;
    if (nall && !dry_run && !f) {
        free(all);
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < nall; i++) {
        if (!all[i].expired)
            continue;
        if (!dry_run && remove_copy(f, all[i].rel) != 0) {
            job_log(job, DV_WARN, "restored copy %s not removed: %s", all[i].path, dv_err());
            (*skipped)++;
            continue;
        }
        if (!dry_run)
            job_log(job, DV_INFO, "removed restored copy %s (%lld days old, retention %ld days)",
                    all[i].path, (long long)(all[i].age / 86400), cfg->restore.retention_days);
        all[k++] = all[i];
    }
    fsb_close(f);
    *out = all;
    *n = k;
    return 0;
}

void restored_fmt_age(int64_t secs, char *buf, size_t n)
{
    if (secs < 0)
        secs = 0;
    if (secs < 60)
        snprintf(buf, n, "%llds", (long long)secs);
    else if (secs < 3600)
        snprintf(buf, n, "%lldm", (long long)(secs / 60));
    else if (secs < 86400)
        snprintf(buf, n, "%lldh %02lldm", (long long)(secs / 3600), (long long)(secs % 3600 / 60));
    else
        snprintf(buf, n, "%lldd %02lldh", (long long)(secs / 86400),
                 (long long)(secs % 86400 / 3600));
}

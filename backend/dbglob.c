/* dbglob.c - see dbglob.h. */
#include "dbglob.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"

/* Match pattern components against path components; `**` spans zero or more of them. */
static bool match_parts(const char *pat, const char *path)
{
    for (;;) {
        if (*pat == '\0')
            return *path == '\0';
        const char *pe = strchr(pat, '/');
        size_t pn = pe ? (size_t)(pe - pat) : strlen(pat);
        if (pn == 2 && pat[0] == '*' && pat[1] == '*') {
            const char *rest = pe ? pe + 1 : "";
            if (*rest == '\0')
                return true; /* trailing ** matches everything below */
            for (const char *p = path;;) {
                if (match_parts(rest, p))
                    return true;
                const char *s = strchr(p, '/');
                if (!s)
                    return false;
                p = s + 1;
            }
        }
        if (*path == '\0')
            return false;
        const char *se = strchr(path, '/');
        size_t sn = se ? (size_t)(se - path) : strlen(path);
        char pbuf[512], sbuf[512];
        if (pn >= sizeof pbuf || sn >= sizeof sbuf)
            return false;
        memcpy(pbuf, pat, pn);
        pbuf[pn] = '\0';
        memcpy(sbuf, path, sn);
        sbuf[sn] = '\0';
        if (fnmatch(pbuf, sbuf, FNM_PERIOD) != 0)
            return false;
        if (!pe)
            return se == NULL;
        if (!se)
            return false;
        pat = pe + 1;
        path = se + 1;
    }
}

bool dbglob_match(const char *pattern, const char *relpath)
{
    return match_parts(pattern, relpath);
}

bool dbglob_in_restore(const struct dv_config *cfg, const char *relpath)
{
    const char *r = cfg->restore.rel;
    size_t n = r ? strlen(r) : 0;
    return n && strncmp(relpath, r, n) == 0 && (relpath[n] == '/' || relpath[n] == '\0');
}

bool dbglob_match_any(const struct dv_config *cfg, const char *relpath)
{
    if (dbglob_in_restore(cfg, relpath))
        return false; /* the restore folder: never a server database (config.h) */
    for (size_t i = 0; i < cfg->server.ndatabases; i++)
        if (dbglob_match(cfg->server.databases[i], relpath))
            return true;
    return false;
}

struct list {
    char **v;
    size_t n, cap;
};

static void list_add(struct list *l, char *s)
{
    if (l->n + 2 > l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = dv_realloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = s;
    l->v[l->n] = NULL;
}

/* True if pattern could match a path below directory rel: its components match rel's as a
 * prefix (a `**` matches whatever follows). */
static bool match_below(const char *pat, const char *rel)
{
    for (;;) {
        if (*rel == '\0')
            return *pat != '\0';
        if (*pat == '\0')
            return false;
        const char *pe = strchr(pat, '/');
        size_t pn = pe ? (size_t)(pe - pat) : strlen(pat);
        if (pn == 2 && pat[0] == '*' && pat[1] == '*')
            return true;
        const char *se = strchr(rel, '/');
        size_t sn = se ? (size_t)(se - rel) : strlen(rel);
        char pbuf[512], sbuf[512];
        if (pn >= sizeof pbuf || sn >= sizeof sbuf || !pe)
            return false;
        memcpy(pbuf, pat, pn);
        pbuf[pn] = '\0';
        memcpy(sbuf, rel, sn);
        sbuf[sn] = '\0';
        if (fnmatch(pbuf, sbuf, FNM_PERIOD) != 0)
            return false;
        pat = pe + 1;
        rel = se ? se + 1 : "";
    }
}

static bool match_below_any(const struct dv_config *cfg, const char *rel)
{
    for (size_t i = 0; i < cfg->server.ndatabases; i++)
        if (match_below(cfg->server.databases[i], rel))
            return true;
    return false;
}

static const char *type_what(unsigned char t)
{
    return t == DT_LNK                  ? "a symbolic link"
           : t == DT_FIFO               ? "a FIFO"
           : t == DT_SOCK               ? "a socket"
           : t == DT_CHR || t == DT_BLK ? "a device"
                                        : "not a regular file";
}

/* A symbolic link to a directory (stat only: what it points to is never listed or read). */
static bool link_to_dir(const char *abs)
{
    struct stat st;
    return stat(abs, &st) == 0 && S_ISDIR(st.st_mode);
}

static int walk(const struct dv_config *cfg, const char *abs, const char *rel, struct list *l,
                struct list *refused)
{
    DIR *d = opendir(abs);
    if (!d) {
        if (rel[0] == '\0') {
            dv_syserr("data directory %s", abs);
            return -1;
        }
        return 0; /* a subdirectory that vanished or is unreadable: not a database */
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *a = dv_path_join(abs, e->d_name);
        char *r = rel[0] ? dv_asprintf("%s/%s", rel, e->d_name) : dv_strdup(e->d_name);
        unsigned char type = e->d_type;
        if (type == DT_UNKNOWN) {
            struct stat st;
            type = lstat(a, &st) != 0     ? DT_UNKNOWN
                   : S_ISDIR(st.st_mode)  ? DT_DIR
                   : S_ISREG(st.st_mode)  ? DT_REG
                   : S_ISLNK(st.st_mode)  ? DT_LNK
                   : S_ISFIFO(st.st_mode) ? DT_FIFO
                   : S_ISSOCK(st.st_mode) ? DT_SOCK
                                          : DT_CHR;
        }
        if (type == DT_DIR && dbglob_in_restore(cfg, r)) {
            free(r); /* the restore folder: its copies are never backed up */
        } else if (type == DT_DIR &&
                   (!cfg->server.daos_dir || strcmp(a, cfg->server.daos_dir) != 0)) {
            walk(cfg, a, r, l, refused);
            free(r);
        } else if (type == DT_REG && dbglob_match_any(cfg, r)) {
            list_add(l, r);
        } else if (refused && type != DT_DIR && type != DT_REG && type != DT_UNKNOWN &&
                   (dbglob_match_any(cfg, r) ||
                    (type == DT_LNK && match_below_any(cfg, r) && link_to_dir(a)))) {
            /* a name the globs match (or a link where a matched directory could be) that is
               not a regular file: never followed, never copied - and said so */
            char *why =
                dbglob_match_any(cfg, r)
                    ? dv_asprintf("%s: %s (never followed: not backed up)", r, type_what(type))
                    : dv_asprintf("%s: a symbolic link (never followed: the databases "
                                  "below it are not backed up)",
                                  r);
            list_add(refused, why);
            free(r);
        } else {
            free(r);
        }
        free(a);
    }
    closedir(d);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int dbglob_list_ex(const struct dv_config *cfg, char ***out, size_t *count, char ***refused)
{
    struct list l = {0}, rf = {0};
    list_add(&l, NULL);
    l.n = 0;
    if (refused) {
        list_add(&rf, NULL);
        rf.n = 0;
    }
    if (walk(cfg, cfg->server.data_dir, "", &l, refused ? &rf : NULL) != 0) {
        dbglob_free(l.v);
        dbglob_free(rf.v);
        return -1;
    }
    qsort(l.v, l.n, sizeof *l.v, cmp_str);
    *out = l.v;
    if (count)
        *count = l.n;
    if (refused) {
        qsort(rf.v, rf.n, sizeof *rf.v, cmp_str);
        *refused = rf.v;
    }
    return 0;
}

int dbglob_list(const struct dv_config *cfg, char ***out, size_t *count)
{
    return dbglob_list_ex(cfg, out, count, NULL);
}

void dbglob_free(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}

char *dbglob_resolve(const struct dv_config *cfg, const char *path, char **rel)
{
    char *abs = path[0] == '/' ? dv_strdup(path) : dv_path_join(cfg->server.data_dir, path);
    if (rel) {
        size_t n = strlen(cfg->server.data_dir);
        if (strncmp(abs, cfg->server.data_dir, n) == 0 && abs[n] == '/')
            *rel = dv_strdup(abs + n + 1);
        else
            *rel = NULL;
    }
    return abs;
}

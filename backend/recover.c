/* recover.c - restore and recovery (seed 003). See recover.h, docs/operations.md. */
#include "recover.h"
#include "pitr.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dbglob.h"
#include "target.h"
#include "util.h"

/* ---- shared helpers -------------------------------------------------------------------- */

static struct catalog *open_catalog(const struct dv_config *cfg)
{
    struct stat sb;
    if (stat(cfg->catalog, &sb) != 0) {
        dv_syserr("catalog %s (no backup yet? dvault backup)", cfg->catalog);
        return NULL;
    }
    return catalog_open(cfg->catalog);
}

/* The target, checked (its identity: a moved or unmounted one is refused) and locked, and
 * the catalog bound to it. */
static struct target *open_target(const struct dv_config *cfg, struct catalog *cat)
{
    struct target *t = target_open(cfg->backup.target);
    if (t && target_bind_catalog(t, cat) != 0) {
        target_close(t);
        return NULL;
    }
    return t;
}

/* Newest usable (complete or partial) set holding an NLO (first in newest-first order). */
struct set_pick {
    const char *want; /* a set id that must be among them (NULL: none) */
    bool want_found;
    char newest[32];
    size_t n;
};

static int pick_set(void *ud, const struct catalog_set *s)
{
    struct set_pick *p = ud;
    p->n++;
    if (s->pruning > 0) /* half-removed by an interrupted prune: not a source */
        return 0;
    if (catalog_set_usable(s->status) && !p->newest[0])
        snprintf(p->newest, sizeof p->newest, "%s", s->id);
    if (p->want && strcmp(p->want, s->id) == 0)
        p->want_found = true;
    return 0;
}

static char *canonical(const char *path)
{
    char *dir = dv_dirname(path);
    char buf[PATH_MAX];
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *out = NULL;
    if (realpath(dir, buf))
        out = dv_asprintf("%s/%s", strcmp(buf, "/") == 0 ? "" : buf, base);
    free(dir);
    return out;
}

static void unlink_sidecars(const char *path)
{
    char *w = dv_asprintf("%s-wal", path), *s = dv_asprintf("%s-shm", path);
    unlink(w);
    unlink(s);
    free(w);
    free(s);
}

/*
 * Before replacing a database file: fold its WAL into it and make sure nobody keeps frames
 * there (a stale -wal beside the new file would be replayed onto it).
 */
static int wal_quiesce(const char *path)
{
    char *w = dv_asprintf("%s-wal", path);
    struct stat sb;
    int rc = 0;
    if (stat(w, &sb) == 0) {
        sqlite3 *h = NULL;
        if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
            dv_seterr("%s: cannot open to checkpoint its WAL: %s", path,
                      h ? sqlite3_errmsg(h) : "out of memory");
            rc = -1;
        } else {
            sqlite3_busy_timeout(h, 10000);
            sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
        }
        sqlite3_close(h);
        if (rc == 0 && stat(w, &sb) == 0 && sb.st_size > 0) {
            dv_seterr("%s is in use (its WAL cannot be checkpointed): stop the server's use of it"
                      " first",
                      path);
            rc = -1;
        }
    }
    free(w);
    return rc;
}

/* ---- restore --------------------------------------------------------------------------- */

struct newids {
    char replica[33], dbiid[33];
    bool set;
};

static void random_hex32(char out[33])
{
    unsigned char b[16];
    dv_random(b, sizeof b);
    dv_hex(b, sizeof b, out);
}

/* restore_prepare_fn: new replica_id and dbiid in the temporary file's dbinfo. */
static int give_new_ids(void *ud, const char *tmp)
{
    struct newids *ids = ud;
    sqlite3 *h = NULL;
    int rc = -1;
    if (sqlite3_open_v2(tmp, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", tmp, h ? sqlite3_errmsg(h) : "out of memory");
        goto out;
    }
    sqlite3_stmt *s = NULL;
    bool has = false;
    if (sqlite3_prepare_v2(h,
                           "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dbinfo'",
                           -1, &s, NULL) == SQLITE_OK)
        has = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    if (!has) { /* not a document database: nothing to rename */
        rc = 0;
        goto out;
    }
    random_hex32(ids->replica);
    random_hex32(ids->dbiid);
    if (sqlite3_exec(h, "PRAGMA synchronous=FULL; BEGIN IMMEDIATE", NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(h,
                           "INSERT OR REPLACE INTO dbinfo(key, value) VALUES ('replica_id', ?1),"
                           " ('dbiid', ?2)",
                           -1, &s, NULL) != SQLITE_OK) {
        dv_seterr("%s: new ids: %s", tmp, sqlite3_errmsg(h));
        goto out;
    }
    sqlite3_bind_text(s, 1, ids->replica, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, ids->dbiid, -1, SQLITE_STATIC);
    int r = sqlite3_step(s);
    sqlite3_finalize(s);
    if (r != SQLITE_DONE || sqlite3_exec(h, "COMMIT", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK) {
        dv_seterr("%s: new ids: %s", tmp, sqlite3_errmsg(h));
        goto out;
    }
    ids->set = true;
    rc = 0;
out:
    sqlite3_close(h);
    unlink_sidecars(tmp); /* checkpointed: empty if still there */
    return rc;
}

static int count_doc(void *ud, const struct store_doc_info *d)
{
    (void)ud;
    (void)d;
    return 0;
}

static int count_name(void *ud, const char *name)
{
    (void)ud;
    (void)name;
    return 0;
}

static void read_ids(const char *path, struct restore_result *r)
{
    sqlite3 *h = NULL;
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *s = NULL;
        if (sqlite3_prepare_v2(h,
                               "SELECT key, value FROM dbinfo WHERE key IN ('replica_id',"
                               " 'dbiid')",
                               -1, &s, NULL) == SQLITE_OK) {
            while (sqlite3_step(s) == SQLITE_ROW) {
                const char *k = (const char *)sqlite3_column_text(s, 0);
                const char *v = (const char *)sqlite3_column_text(s, 1);
                if (!k || !v)
                    continue;
                if (strcmp(k, "replica_id") == 0)
                    snprintf(r->replica_id, sizeof r->replica_id, "%s", v);
                else
                    snprintf(r->dbiid, sizeof r->dbiid, "%s", v);
            }
        }
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
}

int recover_restore(const struct dv_config *cfg, const struct restore_opts *o, struct dv_job *job,
                    struct restore_result *r)
{
    memset(r, 0, sizeof *r);
    if (!o->set_id || !o->db_path || !o->into) {
        dv_seterr("restore needs a set, a database and a new name");
        return -1;
    }
    char *rel = NULL, *live = dbglob_resolve(cfg, o->db_path, &rel);
    char *into = NULL, *cinto = NULL, *clive = NULL, *parent = NULL;
    struct catalog *cat = NULL;
    struct target *t = NULL;
    struct dv_store *st = NULL;
    int rc = -1;
    if (!rel || (o->db_path[0] != '/' && !dv_path_is_safe_rel(o->db_path))) {
        dv_seterr("database '%s' is not below the data directory %s", o->db_path,
                  cfg->server.data_dir);
        goto out;
    }
    snprintf(r->db_rel, sizeof r->db_rel, "%s", rel);
    if (o->into[0] == '/') {
        into = dv_strdup(o->into);
    } else {
        if (!dv_path_is_safe_rel(o->into)) {
            dv_seterr("--into '%s' leaves the data directory (use an absolute path to restore"
                      " elsewhere)",
                      o->into);
            goto out;
        }
        into = dv_path_join(cfg->server.data_dir, o->into);
    }
    parent = dv_dirname(into);
    struct stat sb;
    int sr = stat(parent, &sb);
    if (sr != 0 || !S_ISDIR(sb.st_mode)) {
        if (sr == 0)
            errno = ENOTDIR;
        dv_syserr("--into %s: directory %s", o->into, parent);
        goto out;
    }
    const char *base = strrchr(into, '/') + 1;
    if (!base[0] || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        dv_seterr("--into '%s' is not a file name", o->into);
        goto out;
    }
    cinto = canonical(into);
    clive = canonical(live);
    if (!cinto) {
        dv_syserr("--into %s", o->into);
        goto out;
    }
    if (o->into[0] != '/') { /* a relative --into stays below data_dir, even via a symlink */
        char droot[PATH_MAX];
        size_t dl = realpath(cfg->server.data_dir, droot) ? strlen(droot) : 0;
        if (!dl || strncmp(cinto, droot, dl) != 0 || cinto[dl] != '/') {
            dv_seterr("--into '%s' leaves the data directory through a symbolic link (it is %s)",
                      o->into, cinto);
            goto out;
        }
    }
    snprintf(r->into, sizeof r->into, "%s", cinto);
    bool is_live = clive && strcmp(cinto, clive) == 0;
    bool exists = lstat(cinto, &sb) == 0;
    if (exists && S_ISLNK(sb.st_mode)) {
        dv_seterr("%s is a symbolic link: refused (restore into a new name)", cinto);
        goto out;
    }
    if (is_live && !o->replace_live) {
        dv_seterr("%s is the live database %s: restore into a new name, or --replace-live to"
                  " put the backup in its place",
                  o->into, rel);
        goto out;
    }
    if (!is_live && o->replace_live) {
        dv_seterr("--replace-live: %s is not the live database %s", o->into, rel);
        goto out;
    }
    if (exists && !is_live && !o->force) {
        dv_seterr("%s exists: choose a new name (or --force)", cinto);
        goto out;
    }
    if (exists && S_ISDIR(sb.st_mode)) {
        dv_seterr("%s is a directory", cinto);
        goto out;
    }
    if (!(cat = open_catalog(cfg)))
        goto out;
    struct catalog_set set;
    int g = catalog_set_get(cat, o->set_id, &set);
    if (g <= 0) {
        if (g == 0)
            dv_seterr("no backup set '%s' (dvault sets lists them)", o->set_id);
        goto out;
    }
    struct catalog_set_file f;
    memset(&f, 0, sizeof f);
    g = catalog_set_file_get(cat, o->set_id, rel, &f);
    catalog_set_file_done(&f);
    if (g <= 0) {
        if (g == 0)
            restore_not_in_set(cat, o->set_id, rel);
        goto out;
    }
    if (!(st = store_open(cfg)))
        goto out;
    if (!(t = open_target(cfg, cat)))
        goto out;
    if (exists && wal_quiesce(cinto) != 0)
        goto out;
    /* replacing a file the store may index: mark the index first, so that a crash right
     * after the rename cannot leave it SYNCHRONIZED with the old file's references */
    if (exists) {
        char why[512];
        snprintf(why, sizeof why, "restoring %.200s from set %.31s into %.200s", rel, o->set_id,
                 cinto);
        if (store_mark_needs_resync(st, why) != 0)
            goto out;
    }
    struct newids ids = {0};
    restore_prepare_fn prep = is_live ? NULL : give_new_ids;
    void *prep_ud = &ids;
    struct pitr_prepare pp = {.pt = {.target = cfg->backup.target,
                                     .db_rel = rel,
                                     .set_id = o->set_id,
                                     .set_started = set.started,
                                     .set_ended = set.ended,
                                     .at_us = o->at_us,
                                     .to_latest = o->to_latest},
                              .next = prep,
                              .next_ud = prep_ud};
    if (o->pitr)
        prep = pitr_prepare_fn, prep_ud = &pp;
    if (restore_materialize_ex(cat, t, o->set_id, rel, cinto, exists, prep, prep_ud, job,
                               &r->info) != 0)
        goto out;
    dv_crashpoint("restore.after_rename"); /* tests: in place, before the bookkeeping */
    r->pitr_transactions = pp.r.transactions;
    r->pitr_last_us = pp.r.last_us;
    if (exists)
        unlink_sidecars(cinto); /* empty after wal_quiesce; they belonged to the old file */
    r->replaced = exists;
    r->live = is_live;
    r->size = r->info.size;
    read_ids(cinto, r);
    int64_t age = dv_now() - r->info.set_started;
    r->set_age_days = age > 0 ? age / 86400 : 0;
    r->old_set = age > (int64_t)cfg->server.deferred_deletion_days * 86400;
    snprintf(r->resync_reason, sizeof r->resync_reason,
             "restored %.200s from set %.31s into %.200s", rel, o->set_id, cinto);
    /* The restore happened: from here on a failure is reported but the file stays. */
    if (store_mark_needs_resync(st, r->resync_reason) != 0)
        goto out;
    if (store_docs(st, cinto, NULL, count_doc, NULL, &r->docs) != 0 ||
        store_listnlo(st, cinto, false, count_name, NULL, &r->nlo_refs) != 0 ||
        store_listnlo(st, cinto, true, count_name, NULL, &r->nlo_missing) != 0) {
        dv_preferr("restored %s, but", cinto);
        goto out;
    }
    rc = 0;
out:
    store_free(st);
    target_close(t);
    catalog_close(cat);
    free(rel);
    free(live);
    free(into);
    free(cinto);
    free(clive);
    free(parent);
    return rc;
}

/* ---- list files ------------------------------------------------------------------------ */

void recover_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int recover_list_read(const char *path, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    char *buf;
    size_t len;
    if (dv_read_file(path, &buf, &len) != 0)
        return -1;
    char **v = NULL;
    size_t k = 0, cap = 0;
    int rc = 0;
    size_t line = 0;
    char *p = buf, *end = buf + len;
    while (p < end && rc == 0) {
        line++;
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        size_t l = (size_t)(e - p);
        if (l == 0 || *p == '#') {
            p = next;
            continue;
        }
        if (memchr(p, '\0', l)) {
            dv_seterr("%s:%zu: NUL byte in the line", path, line);
            rc = -1;
            break;
        }
        char item[STORE_NLO_NAME_LEN + 1];
        if (memchr(p, '/', l) || (l >= 2 && p[0] == '.' && p[1] == '.')) {
            dv_seterr("%s:%zu: '%.*s' is a path, not an NLO name", path, line,
                      (int)(l > 100 ? 100 : l), p);
            rc = -1;
        } else if (l != STORE_NLO_NAME_LEN && l != STORE_NLO_NAME_LEN - 4) {
            dv_seterr("%s:%zu: '%.*s' is not an NLO name (%zu characters, expected %d hex digits"
                      " + \".nlo\")",
                      path, line, (int)(l > 100 ? 100 : l), p, l, STORE_NLO_NAME_LEN - 4);
            rc = -1;
        } else {
            memcpy(item, p, l);
            item[l] = '\0';
            if (l == STORE_NLO_NAME_LEN - 4)
                strcat(item, ".nlo");
            if (!store_nlo_name_valid(item)) {
                dv_seterr("%s:%zu: '%s' is not an NLO name (80 lower-case hex digits + \".nlo\")",
                          path, line, item);
                rc = -1;
            }
        }
        if (rc == 0) {
            if (k == cap) {
                cap = cap ? cap * 2 : 64;
                v = dv_realloc(v, cap * sizeof *v);
            }
            v[k++] = dv_strdup(item);
        }
        p = next;
    }
    free(buf);
    if (rc != 0) {
        recover_names_free(v, k);
        return -1;
    }
    /* drop duplicates, keep file order */
    if (k > 1) {
        char **sorted = dv_malloc(k * sizeof *sorted);
        memcpy(sorted, v, k * sizeof *sorted);
        qsort(sorted, k, sizeof *sorted, name_cmp);
        bool dup = false;
        for (size_t i = 1; i < k && !dup; i++)
            dup = strcmp(sorted[i - 1], sorted[i]) == 0;
        free(sorted);
        if (dup) {
            size_t m = 0;
            for (size_t i = 0; i < k; i++) {
                bool seen = false;
                for (size_t j = 0; j < m && !seen; j++)
                    seen = strcmp(v[j], v[i]) == 0;
                if (seen)
                    free(v[i]);
                else
                    v[m++] = v[i];
            }
            k = m;
        }
    }
    *names = v;
    *n = k;
    return 0;
}

/* ---- recover NLOs ---------------------------------------------------------------------- */

struct namevec {
    char **v;
    size_t n, cap;
};

static int collect_name(void *ud, const char *name)
{
    struct namevec *nv = ud;
    if (nv->n == nv->cap) {
        nv->cap = nv->cap ? nv->cap * 2 : 64;
        nv->v = dv_realloc(nv->v, nv->cap * sizeof *nv->v);
    }
    nv->v[nv->n++] = dv_strdup(name);
    return 0;
}

struct docvec {
    struct recover_docref *v;
    size_t n, cap;
};

static int collect_doc(void *ud, const struct store_doc_info *d)
{
    struct docvec *dv = ud;
    if (dv->n == dv->cap) {
        dv->cap = dv->cap ? dv->cap * 2 : 4;
        dv->v = dv_realloc(dv->v, dv->cap * sizeof *dv->v);
    }
    struct recover_docref *r = &dv->v[dv->n++];
    snprintf(r->unid, sizeof r->unid, "%s", d->unid);
    r->subject = dv_strdup(d->subject);
    return 0;
}

void recover_result_done(struct recover_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        for (size_t k = 0; k < r->items[i].ndocs; k++)
            free(r->items[i].docs[k].subject);
        free(r->items[i].docs);
        free(r->items[i].reason);
    }
    free(r->items);
    memset(r, 0, sizeof *r);
}

static void unrecoverable(struct recover_item *it, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void unrecoverable(struct recover_item *it, const char *fmt, ...)
{
    it->status = RECOVER_UNRECOVERABLE;
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    free(it->reason);
    it->reason = dv_malloc((size_t)(n > 0 ? n : 0) + 1);
    vsnprintf(it->reason, (size_t)(n > 0 ? n : 0) + 1, fmt, ap2);
    va_end(ap2);
}

int recover_nlos(const struct dv_config *cfg, const struct recover_opts *o, struct dv_job *job,
                 struct recover_result *r)
{
    memset(r, 0, sizeof *r);
    struct namevec nv = {0};
    struct catalog *cat = NULL;
    struct target *t = NULL;
    struct dv_store *st = NULL;
    struct store_repo *repo = NULL;
    struct store_install *inst = NULL;
    size_t *idx = NULL, ngood = 0;
    int rc = -1;
    if (!o->list_file == !o->db_path) {
        dv_seterr("recover needs either a list file or a database");
        return -1;
    }
    if (o->unid && !o->db_path) {
        dv_seterr("recover: a document needs its database");
        return -1;
    }
    /* 1. the names: a bad list file stops everything before anything is opened */
    if (o->list_file && recover_list_read(o->list_file, &nv.v, &nv.n) != 0)
        return -1;
    if (!(st = store_open(cfg)))
        goto out;
    if (o->db_path) {
        int lr = o->unid ? store_doc_nlos(st, o->db_path, o->unid, collect_name, &nv)
                         : store_listnlo(st, o->db_path, true, collect_name, &nv, NULL);
        if (lr != 0)
            goto out;
    }
    if ((nv.n || o->set_id) && !(cat = open_catalog(cfg)))
        goto out;
    if (o->set_id) {
        struct catalog_set s;
        int g = catalog_set_get(cat, o->set_id, &s);
        if (g <= 0) {
            if (g == 0)
                dv_seterr("no backup set '%s' (dvault sets lists them)", o->set_id);
            goto out;
        }
        if (!catalog_set_usable(s.status)) {
            dv_seterr("backup set %s is %s, not complete: choose a complete set", o->set_id,
                      catalog_set_status_name(s.status));
            goto out;
        }
    }
    r->items = dv_calloc(nv.n ? nv.n : 1, sizeof *r->items);
    r->n = nv.n;
    if (!(repo = store_repo_scan(st)))
        goto out;
    /* 2. decide for every name, before anything is copied */
    job_phase(job, "check", nv.n, 0);
    idx = dv_calloc(nv.n ? nv.n : 1, sizeof *idx);
    size_t ncand = 0;
    for (size_t i = 0; i < nv.n; i++) {
        struct recover_item *it = &r->items[i];
        snprintf(it->name, sizeof it->name, "%s", nv.v[i]);
        if (!store_nlo_name_valid(nv.v[i])) {
            unrecoverable(it, "'%.100s' is not an NLO name", nv.v[i]);
            continue;
        }
        struct set_pick pk = {.want = o->set_id};
        if (catalog_nlo_sets(cat, it->name, pick_set, &pk) < 0)
            goto out;
        snprintf(it->set_id, sizeof it->set_id, "%s", pk.newest);
        if (store_repo_has(repo, it->name)) {
            it->status = RECOVER_PRESENT;
            continue;
        }
        struct catalog_pool_obj po;
        int g = catalog_pool_get(cat, it->name, &po);
        if (g < 0)
            goto out;
        if (g == 0)
            unrecoverable(it, "no backup set holds it (not in the pool)");
        else if (o->set_id && !pk.want_found && pk.newest[0])
            unrecoverable(it, "backup set %s does not hold it (set %s does)", o->set_id, pk.newest);
        else if (o->set_id && !pk.want_found)
            unrecoverable(it, "backup set %s does not hold it", o->set_id);
        else
            idx[ncand++] = i;
        job_advance(job, 1, 0, NULL);
    }
    /* 3. the pool copies: present, and what the backup wrote. Installing reads every copy
     * back (and decrypts it when encrypted): the server key is needed from here on. */
    if (ncand) {
        if (store_key_require(st) != 0) {
            dv_preferr("the server key is needed to check what is installed");
            goto out;
        }
        if (!(t = open_target(cfg, cat)))
            goto out;
        inst = dv_calloc(ncand, sizeof *inst);
        job_phase(job, "verify pool copies", ncand, 0);
        for (size_t k = 0; k < ncand; k++) {
            struct recover_item *it = &r->items[idx[k]];
            struct catalog_pool_obj po;
            if (catalog_pool_get(cat, it->name, &po) != 1)
                goto out;
            char *pp = target_pool_path(t, it->name), sha[65], prel[128];
            /* never through a symbolic link planted in the pool (reads outside the target) */
            target_pool_relpath(it->name, prel, sizeof prel);
            int pfd = dv_open_beneath(target_path(t), prel, O_RDONLY), hrc = -1;
            struct stat psb;
            if (pfd >= 0 && (fstat(pfd, &psb) != 0 || !S_ISREG(psb.st_mode)))
                dv_seterr("not a regular file");
            else if (pfd >= 0)
                hrc = dv_sha256_fd_hex(pfd, pp, sha);
            if (pfd >= 0)
                close(pfd);
            if (hrc != 0) {
                unrecoverable(it, "pool file %s: %s", pp, dv_err());
            } else if (strcmp(sha, po.sha256) != 0) {
                unrecoverable(it, "pool file %s is corrupt: SHA-256 %s, the catalog recorded %s",
                              pp, sha, po.sha256);
            } else {
                inst[ngood].name = it->name;
                inst[ngood].src_path = pp;
                idx[ngood++] = idx[k];
                pp = NULL;
            }
            free(pp);
            job_advance(job, 1, (uint64_t)po.size, it->name);
        }
    }
    /* 4. copy them into the live repository */
    int irc = ngood ? store_nlo_install_many(st, inst, ngood, job) : 0;
    char inst_err[DV_ERR_MAX] = "";
    if (irc != 0)
        snprintf(inst_err, sizeof inst_err, "%s", dv_err());
    for (size_t k = 0; k < ngood; k++) {
        struct recover_item *it = &r->items[idx[k]];
        it->subdir = inst[k].subdir;
        if (inst[k].status == STORE_INSTALL_NEW) {
            it->status = RECOVER_RECOVERED;
            struct stat sb;
            if (stat(inst[k].src_path, &sb) == 0)
                r->bytes += (uint64_t)sb.st_size;
        } else if (inst[k].status == STORE_INSTALL_PRESENT) {
            it->status = RECOVER_PRESENT;
        } else {
            unrecoverable(it, "copy failed: %s", inst[k].err ? inst[k].err : "not processed");
        }
    }
    /* 5. report */
    const struct recover_item *first_bad = NULL;
    for (size_t i = 0; i < r->n; i++) {
        struct recover_item *it = &r->items[i];
        if (it->status == RECOVER_PRESENT && !it->subdir) {
            char *p = store_nlo_path(st, it->name);
            if (p) {
                const char *sl = strrchr(p, '/');
                it->subdir = sl && sl - p >= 4 ? atoi(sl - 4) : 0;
            }
            free(p);
        }
        r->recovered += it->status == RECOVER_RECOVERED;
        r->present += it->status == RECOVER_PRESENT;
        if (it->status == RECOVER_UNRECOVERABLE) {
            r->unrecoverable++;
            if (!first_bad)
                first_bad = it;
            if (o->db_path && store_nlo_name_valid(it->name)) {
                struct docvec dv = {0};
                struct store_doc_filter f = {.nlo = it->name};
                store_docs(st, o->db_path, &f, collect_doc, &dv, NULL);
                it->docs = dv.v;
                it->ndocs = dv.n;
            }
        }
    }
    if (first_bad) {
        dv_seterr("%llu of %zu NLOs unrecoverable (first: %s: %s)",
                  (unsigned long long)r->unrecoverable, r->n, first_bad->name, first_bad->reason);
        goto out;
    }
    if (irc != 0) {
        dv_seterr("%s", inst_err);
        goto out;
    }
    rc = 0;
out:
    for (size_t k = 0; inst && k < ngood; k++)
        free((char *)inst[k].src_path);
    store_repo_free(repo);
    store_free(st);
    target_close(t);
    catalog_close(cat);
    recover_names_free(nv.v, nv.n);
    free(idx);
    store_install_done(inst, ngood);
    free(inst);
    return rc;
}

/* ---- documents ------------------------------------------------------------------------- */

const char *recover_live_state_name(enum recover_live_state s)
{
    switch (s) {
    case RECOVER_LIVE_PRESENT:
        return "present";
    case RECOVER_LIVE_DELETED:
        return "deleted";
    case RECOVER_LIVE_GONE:
        return "gone";
    default:
        return "";
    }
}

struct livedoc {
    char unid[STORE_UNID_LEN + 1];
    bool deleted;
};

struct livevec {
    struct livedoc *v;
    size_t n, cap;
};

static int collect_live(void *ud, const struct store_doc_info *d)
{
    struct livevec *lv = ud;
    if (lv->n == lv->cap) {
        lv->cap = lv->cap ? lv->cap * 2 : 256;
        lv->v = dv_realloc(lv->v, lv->cap * sizeof *lv->v);
    }
    snprintf(lv->v[lv->n].unid, sizeof lv->v[0].unid, "%s", d->unid);
    lv->v[lv->n++].deleted = d->deleted != 0;
    return 0;
}

static int livedoc_cmp(const void *a, const void *b)
{
    return strcmp(((const struct livedoc *)a)->unid, ((const struct livedoc *)b)->unid);
}

struct listctx {
    struct livevec *live;
    recover_doc_fn fn;
    void *ud;
};

static int list_one(void *ud, const struct store_doc_info *d)
{
    struct listctx *c = ud;
    enum recover_live_state s = RECOVER_LIVE_UNKNOWN;
    if (c->live) {
        struct livedoc key;
        snprintf(key.unid, sizeof key.unid, "%s", d->unid);
        const struct livedoc *f =
            c->live->n ? bsearch(&key, c->live->v, c->live->n, sizeof key, livedoc_cmp) : NULL;
        s = !f ? RECOVER_LIVE_GONE : f->deleted ? RECOVER_LIVE_DELETED : RECOVER_LIVE_PRESENT;
    }
    return c->fn(c->ud, d, s);
}

int recover_doc_list(const struct dv_config *cfg, const char *path, const char *live_path,
                     const char *search, recover_doc_fn fn, void *ud, uint64_t *n)
{
    if (n)
        *n = 0;
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    struct livevec lv = {0};
    int rc = 0;
    if (live_path) {
        rc = store_docs(st, live_path, NULL, collect_live, &lv, NULL);
        if (rc == 0 && lv.n)
            qsort(lv.v, lv.n, sizeof *lv.v, livedoc_cmp);
    }
    if (rc == 0) {
        struct listctx c = {.live = live_path ? &lv : NULL, .fn = fn, .ud = ud};
        struct store_doc_filter f = {.search = search};
        rc = store_docs(st, path, &f, list_one, &c, n);
    }
    free(lv.v);
    store_free(st);
    return rc;
}

static int first_doc(void *ud, const struct store_doc_info *d)
{
    struct store_doc_info *out = ud;
    out->natt = d->natt;
    out->nnlo = d->nnlo;
    return 1;
}

int recover_doc_copy(const struct dv_config *cfg, const char *from_path, const char *unid,
                     const char *live_path, struct dv_job *job, struct doccopy_result *r)
{
    memset(r, 0, sizeof *r);
    struct dv_store *st = NULL;
    struct store_db *src = NULL, *dst = NULL;
    int rc = -1;
    if (!(st = store_open(cfg)))
        return -1;
    struct store_doc_info info = {0};
    struct store_doc_filter f = {.unid = unid};
    int g = store_docs(st, from_path, &f, first_doc, &info, NULL);
    if (g < 0)
        goto out;
    if (g == 0) {
        dv_seterr("%s has no document %s (dvault doc list %s)", from_path, unid, from_path);
        goto out;
    }
    r->attachments = info.natt;
    r->nlos = info.nnlo;
    if (!(dst = store_db_open(st, live_path)))
        goto out;
    int state = store_doc_state(dst, unid);
    if (state < 0)
        goto out;
    if (state == 1) {
        dv_seterr("%s already has document %s (not deleted): nothing to copy", live_path, unid);
        goto out;
    }
    /* The NLOs first: the document must be readable the moment it reappears. */
    store_db_close(dst);
    dst = NULL;
    store_free(st);
    st = NULL;
    struct recover_opts ro = {.db_path = from_path, .unid = unid};
    if (recover_nlos(cfg, &ro, job, &r->nlo) != 0)
        return -1;
    if (!(st = store_open(cfg)) || !(dst = store_db_open(st, live_path)))
        goto out;
    state = store_doc_state(dst, unid);
    if (state == 2) {
        if (store_doc_undelete(dst, unid) != 0)
            goto out;
        r->undeleted = true;
    } else if (state == 0) {
        if (!(src = store_db_open(st, from_path)) || store_doc_copy(src, unid, dst) != 0)
            goto out;
        r->copied = true;
        /* deleted in the backup too: the operator wants it back, visible */
        if (store_doc_state(dst, unid) == 2 && store_doc_undelete(dst, unid) != 0)
            goto out;
    } else {
        if (state == 1)
            dv_seterr("%s already has document %s (not deleted): nothing to copy", live_path, unid);
        goto out;
    }
    rc = 0;
out:
    store_db_close(src);
    store_db_close(dst);
    store_free(st);
    return rc;
}

/* ---- whereis --------------------------------------------------------------------------- */

struct refvec {
    struct whereis_db *v;
    size_t n, cap;
};

static int collect_ref(void *ud, const char *path, int64_t count)
{
    struct refvec *rv = ud;
    if (rv->n == rv->cap) {
        rv->cap = rv->cap ? rv->cap * 2 : 8;
        rv->v = dv_realloc(rv->v, rv->cap * sizeof *rv->v);
    }
    rv->v[rv->n].path = dv_strdup(path);
    rv->v[rv->n++].refs = count;
    return 0;
}

struct setvec {
    struct catalog_set *v;
    size_t n, cap;
};

static int collect_set(void *ud, const struct catalog_set *s)
{
    struct setvec *sv = ud;
    if (sv->n == sv->cap) {
        sv->cap = sv->cap ? sv->cap * 2 : 8;
        sv->v = dv_realloc(sv->v, sv->cap * sizeof *sv->v);
    }
    sv->v[sv->n++] = *s;
    return 0;
}

void recover_whereis_done(struct whereis_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ndbs; i++)
        free(r->dbs[i].path);
    free(r->dbs);
    free(r->sets);
    free(r->live_path);
    free(r->pool_path);
    memset(r, 0, sizeof *r);
}

int recover_whereis(const struct dv_config *cfg, const char *name, struct whereis_result *r)
{
    memset(r, 0, sizeof *r);
    r->refcount = -1;
    size_t l = strlen(name);
    if (l == STORE_NLO_NAME_LEN - 4)
        snprintf(r->name, sizeof r->name, "%s.nlo", name);
    else if (l == STORE_NLO_NAME_LEN)
        snprintf(r->name, sizeof r->name, "%s", name);
    if (!store_nlo_name_valid(r->name)) {
        dv_seterr("'%.100s' is not an NLO name (80 lower-case hex digits + \".nlo\")", name);
        return -1;
    }
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    int rc = -1;
    struct refvec rv = {0};
    if (store_nlo_referrers(st, r->name, collect_ref, &rv) != 0)
        goto out;
    r->dbs = rv.v;
    r->ndbs = rv.n;
    int sub = 0;
    int64_t refc = 0;
    int g = store_nlo_info(st, r->name, &sub, &refc);
    if (g < 0)
        goto out;
    r->indexed = g == 1;
    r->refcount = g == 1 ? refc : -1;
    r->live_path = store_nlo_path(st, r->name);
    if (r->live_path) {
        const char *sl = strrchr(r->live_path, '/');
        r->live_subdir = sl && sl - r->live_path >= 4 ? atoi(sl - 4) : 0;
    }
    struct stat sb;
    if (stat(cfg->catalog, &sb) == 0) {
        struct catalog *cat = catalog_open(cfg->catalog);
        if (!cat)
            goto out;
        struct setvec sv = {0};
        g = catalog_nlo_sets(cat, r->name, collect_set, &sv);
        r->sets = sv.v;
        r->nsets = sv.n;
        int pg = g == 0 ? catalog_pool_get(cat, r->name, &r->pool) : -1;
        catalog_close(cat);
        if (g != 0 || pg < 0)
            goto out;
        r->in_pool = pg == 1;
    }
    char rel[128];
    target_pool_relpath(r->name, rel, sizeof rel);
    r->pool_path = dv_path_join(cfg->backup.target, rel);
    r->pool_file = access(r->pool_path, F_OK) == 0;
    rc = 0;
out:
    store_free(st);
    return rc;
}

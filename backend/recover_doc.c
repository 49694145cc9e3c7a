/* recover_doc.c - single documents (list, origin, copy) and where an NLO is (whereis). See
 * recover.h. */
#include "recover.h"
#include "recover_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dbglob.h"
#include "fsb.h"
#include "target.h"
#include "target_read.h"
#include "util.h"

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

/* dbinfo values of a database (relative or absolute) read without locks or files beside it. */
static int db_info_of(const struct dv_config *cfg, const char *path, struct recover_into_info *ii)
{
    memset(ii, 0, sizeof *ii);
    char *rel = NULL, *abs = dbglob_resolve(cfg, path, &rel);
    struct stat sb;
    int rc = -1;
    if (!abs || lstat(abs, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (abs && lstat(abs, &sb) == 0)
            dv_seterr("database %s is not a regular file", abs);
        else
            dv_syserr("database %s", abs ? abs : path);
    } else {
        recover_file_info(abs, ii);
        rc = 0;
    }
    free(rel);
    free(abs);
    return rc;
}

int recover_doc_origin(const struct dv_config *cfg, const char *from_path, const char *live_path,
                       struct doccopy_origin *o)
{
    memset(o, 0, sizeof *o);
    struct recover_into_info f, l;
    if (db_info_of(cfg, from_path, &f) != 0 || db_info_of(cfg, live_path, &l) != 0)
        return -1;
    snprintf(o->from_replica_id, sizeof o->from_replica_id, "%s", f.replica_id);
    snprintf(o->origin, sizeof o->origin, "%s", f.origin);
    snprintf(o->origin_replica_id, sizeof o->origin_replica_id, "%s",
             f.origin_replica_id[0] ? f.origin_replica_id : f.replica_id);
    snprintf(o->live_replica_id, sizeof o->live_replica_id, "%s", l.replica_id);
    o->same = o->origin_replica_id[0] && strcmp(o->origin_replica_id, o->live_replica_id) == 0;
    return 0;
}

int recover_doc_copy(const struct dv_config *cfg, const char *from_path, const char *unid,
                     const char *live_path, struct dv_job *job, struct doccopy_result *r)
{
    return recover_doc_copy_ex(cfg, from_path, unid, live_path, false, job, r);
}

static int doc_copy_run(const struct dv_config *cfg, const char *from_path, const char *unid,
                        const char *live_path, bool force, struct dv_job *job,
                        struct doccopy_result *r)
{
    struct dv_store *st = NULL;
    struct store_db *src = NULL, *dst = NULL;
    int rc = -1;
    /* the document goes back into the database it came from, or --force says otherwise */
    struct doccopy_origin og;
    if (recover_doc_origin(cfg, from_path, live_path, &og) != 0)
        return -1;
    if (!og.same && !force) {
        if (og.origin[0])
            dv_seterr("%s is a restored copy of %s (replica id %s), but %s has replica id %s: "
                      "it is another database; --force copies the document anyway",
                      from_path, og.origin, og.origin_replica_id, live_path,
                      og.live_replica_id[0] ? og.live_replica_id : "(none)");
        else
            dv_seterr("%s (replica id %s) and %s (replica id %s) are different databases: "
                      "--force copies the document anyway",
                      from_path, og.origin_replica_id[0] ? og.origin_replica_id : "(none)",
                      live_path, og.live_replica_id[0] ? og.live_replica_id : "(none)");
        return -1;
    }
    r->other_db = !og.same;
    if (!og.same)
        job_log(job, DV_WARN,
                "copying a document of %s (origin replica id %s) into %s (replica id "
                "%s): another database (forced)",
                from_path, og.origin_replica_id, live_path, og.live_replica_id);
    recover_sweep_leftovers(cfg, NULL, job, &r->sweep);
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
    if (!dv_config_has_daos(cfg) && info.nnlo > 0) {
        dv_seterr("document %s has %d NLO attachment(s): %s", unid, info.nnlo, DV_NO_DAOS);
        return -1;
    }
    struct recover_opts ro = {.db_path = from_path, .unid = unid};
    if (dv_config_has_daos(cfg) && recover_nlos(cfg, &ro, job, &r->nlo) != 0)
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

int recover_doc_copy_ex(const struct dv_config *cfg, const char *from_path, const char *unid,
                        const char *live_path, bool force, struct dv_job *job,
                        struct doccopy_result *r)
{
    memset(r, 0, sizeof *r);
    struct job_record rec;
    job = job_record_begin(&rec, cfg->catalog, "doccopy", job);
    int rc = doc_copy_run(cfg, from_path, unid, live_path, force, job, r);
    char sum[1024];
    snprintf(sum, sizeof sum,
             "document %.64s %s %.400s (%d attachments, %d NLOs; %llu NLOs recovered first)", unid,
             r->undeleted ? "undeleted in" : "copied into", live_path, r->attachments, r->nlos,
             (unsigned long long)r->nlo.recovered);
    job_record_end(&rec, rc, sum);
    return rc;
}

/* ---- whereis --------------------------------------------------------------------------- */

struct refvec {
    struct whereis_db *v;
    size_t n, cap;
};

static int collect_ref(void *ud, const char *path, int64_t since_seq)
{
    struct refvec *rv = ud;
    if (rv->n == rv->cap) {
        rv->cap = rv->cap ? rv->cap * 2 : 8;
        rv->v = dv_realloc(rv->v, rv->cap * sizeof *rv->v);
    }
    memset(&rv->v[rv->n], 0, sizeof rv->v[rv->n]);
    rv->v[rv->n].path = dv_strdup(path);
    rv->v[rv->n++].since_seq = since_seq;
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
    if (!dv_config_has_daos(cfg)) {
        dv_seterr("%s (server.daos_dir is not set)", DV_NO_DAOS);
        return -1;
    }
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    int rc = -1;
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
    bool no_catalog = false;
    struct catalog *cat = catalog_open_reader(cfg->catalog, &no_catalog);
    if (!cat && !no_catalog)
        goto out;
    if (cat) {
        struct refvec rv = {0};
        struct setvec sv = {0};
        int gr = catalog_nlo_referrers(cat, r->name, collect_ref, &rv);
        r->dbs = rv.v;
        r->ndbs = rv.n;
        g = gr == 0 ? catalog_nlo_sets(cat, r->name, collect_set, &sv) : -1;
        r->sets = sv.v;
        r->nsets = sv.n;
        int pg = g == 0 ? catalog_pool_get(cat, r->name, &r->pool) : -1;
        for (size_t i = 0; g == 0 && i < r->ndbs; i++) {
            struct catalog_set since;
            if (catalog_set_get_seq(cat, r->dbs[i].since_seq, &since) == 1)
                snprintf(r->dbs[i].since, sizeof r->dbs[i].since, "%s", since.id);
        }
        catalog_close(cat);
        if (g != 0 || pg < 0)
            goto out;
        r->in_pool = pg == 1;
    }
    char rel[128];
    target_pool_relpath(r->name, rel, sizeof rel);
    r->pool_path = cfg->backup.s3.bucket ? dv_asprintf("%s/%s", cfg->backup.target, rel)
                                         : dv_path_join(cfg->backup.target, rel);
    /* a regular file beneath the target (a link or FIFO under its name is not a pool file);
     * an S3 target: the bucket's object (a HEAD) */
    int held = target_holds_cfg(cfg, rel);
    r->pool_file = held == 1;
    rc = 0;
out:
    store_free(st);
    return rc;
}

/* Merge name into the sorted, duplicate-free names[0..*n) (at most max kept, *n counts on). */
static void prefix_add(char (*names)[STORE_NLO_NAME_LEN + 1], size_t max, size_t *n, size_t *kept,
                       const char *name)
{
    size_t i = 0;
    while (i < *kept && strcmp(names[i], name) < 0)
        i++;
    if (i < *kept && strcmp(names[i], name) == 0)
        return;
    (*n)++;
    if (i >= max)
        return;
    size_t last = *kept < max ? *kept : max - 1;
    memmove(names[i + 1], names[i], (last - i) * sizeof names[0]);
    snprintf(names[i], sizeof names[0], "%s", name);
    if (*kept < max)
        (*kept)++;
}

int recover_whereis_prefix(const struct dv_config *cfg, const char *prefix,
                           char (*names)[STORE_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    *n = 0;
    size_t l = strlen(prefix);
    char p[STORE_NLO_NAME_LEN + 1];
    for (size_t i = 0; i < l && i < 80; i++)
        p[i] = (char)tolower((unsigned char)prefix[i]);
    p[l < 80 ? l : 80] = '\0';
    if (l == 0 || l >= 80 || strspn(p, "0123456789abcdef") != l) {
        dv_seterr("'%.100s' is not an NLO name or the start of one (hex digits)", prefix);
        return -1;
    }
    if (!dv_config_has_daos(cfg)) {
        dv_seterr("%s (server.daos_dir is not set)", DV_NO_DAOS);
        return -1;
    }
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    size_t kept = 0;
    /* names > prefix, in order: those that start with it come first (max + 1 tells "more") */
    struct store_object obj[32];
    size_t k = 0;
    int rc = store_objects_page(st, p, false, false, obj, max + 1 < 32 ? max + 1 : 32, &k);
    for (size_t i = 0; rc == 0 && i < k && strncmp(obj[i].name, p, l) == 0; i++)
        prefix_add(names, max, n, &kept, obj[i].name);
    store_free(st);
    if (rc != 0)
        return -1;
    bool no_catalog = false;
    struct catalog *cat = catalog_open_reader(cfg->catalog, &no_catalog);
    if (!cat)
        return no_catalog ? 0 : -1;
    char pool[32][CATALOG_NLO_NAME_LEN + 1];
    rc = catalog_pool_name_page(cat, p, pool, max + 1 < 32 ? max + 1 : 32, &k);
    for (size_t i = 0; rc == 0 && i < k && strncmp(pool[i], p, l) == 0; i++)
        prefix_add(names, max, n, &kept, pool[i]);
    catalog_close(cat);
    return rc;
}

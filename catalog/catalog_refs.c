/* catalog_refs.c - the NLO pool, references, prune support (catalog.h; private parts:
 * catalog_int.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "catalog_int.h"
#include "util.h"

/* ---- pool -------------------------------------------------------------------------- */

static void read_pool(sqlite3_stmt *s, struct catalog_pool_obj *o)
{
    memset(o, 0, sizeof *o);
    catalog_col_name(s, 0, o->name, sizeof o->name);
    catalog_col_sha(s, 1, o->sha256, sizeof o->sha256);
    o->size = sqlite3_column_int64(s, 2);
    o->live_subdir = sqlite3_column_int64(s, 3);
    o->first_set = sqlite3_column_int64(s, 4);
    o->stored_at = sqlite3_column_int64(s, 5);
}

int catalog_pool_get(struct catalog *c, const char *name, struct catalog_pool_obj *out)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_GET);
    if (!s)
        return -1;
    catalog_bind_name(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (out)
            read_pool(s, out);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : catalog_db_err(c, "look up pool object");
}

/* The NLO ids (schema 6): the next free one lives in totals ('nlo_next_id'); a writer reads
 * it once, counts on in memory and stores it back in the same transaction. */
static int next_id_load(struct catalog *c, int64_t *next)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_NLO_NEXT_ID);
    if (!s)
        return -1;
    int rc = sqlite3_step(s);
    *next = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
    sqlite3_reset(s);
    if (rc != SQLITE_ROW || *next < 1) {
        if (rc == SQLITE_ROW || rc == SQLITE_DONE)
            dv_seterr("catalog %s: totals has no valid nlo_next_id", c->path);
        else
            catalog_db_err(c, "read the next NLO id");
        return -1;
    }
    return 0;
}

static int next_id_store(struct catalog *c, int64_t next)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_NLO_SET_NEXT_ID);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, next);
    return catalog_step_done(c, s, "store the next NLO id");
}

/* The id of a name: 1 (with *in_pool), 0 when the catalog has no row for it, -1 error. */
static int nlo_id(struct catalog *c, const char *name, int64_t *id, bool *in_pool)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_NLO_ID);
    if (!s)
        return -1;
    catalog_bind_name(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        if (in_pool)
            *in_pool = sqlite3_column_int(s, 1) != 0;
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : catalog_db_err(c, "look up NLO");
}

/* The running totals (table totals; status reads them): every writer of the pool adds its
 * changes in its own transaction. */
static int totals_add(struct catalog *c, int64_t objects, int64_t bytes)
{
    const char *keys[2] = {"pool_objects", "pool_bytes"};
    int64_t v[2] = {objects, bytes};
    for (int i = 0; i < 2; i++) {
        if (!v[i])
            continue;
        sqlite3_stmt *s = catalog_stmt(c, ST_TOTALS_ADD);
        if (!s)
            return -1;
        sqlite3_bind_text(s, 1, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, v[i]);
        if (catalog_step_done(c, s, "update totals") != 0)
            return -1;
    }
    return 0;
}

/* The stored size of a pooled name: 1 (with *size), 0 not pooled, -1 error. */
static int pool_size(struct catalog *c, const char *name, int64_t *size)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_SIZE);
    if (!s)
        return -1;
    catalog_bind_name(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *size = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : catalog_db_err(c, "look up pool object");
}

static void bind_pool(sqlite3_stmt *s, const struct catalog_pool_obj *o, bool all_columns)
{
    catalog_bind_name(s, 1, o->name);
    catalog_bind_sha(s, 2, o->sha256);
    sqlite3_bind_int64(s, 3, o->size);
    sqlite3_bind_int64(s, 4, o->live_subdir);
    if (all_columns) {
        sqlite3_bind_int64(s, 5, o->first_set);
        sqlite3_bind_int64(s, 6, o->stored_at);
    }
}

/* One object: a new name gets a row and an id; a name only references knew joins the pool;
 * a pooled one is re-homed (live_subdir) when it moved. */
static int pool_put(struct catalog *c, const struct catalog_pool_obj *o, int64_t *next,
                    int64_t *objects, int64_t *bytes)
{
    int64_t id;
    bool in_pool = false;
    int f = nlo_id(c, o->name, &id, &in_pool);
    if (f < 0)
        return -1;
    int st = f == 0 ? ST_POOL_INSERT : in_pool ? ST_POOL_REHOME : ST_POOL_ADOPT;
    sqlite3_stmt *s = catalog_stmt(c, st);
    if (!s)
        return -1;
    bind_pool(s, o, st != ST_POOL_REHOME);
    if (st == ST_POOL_INSERT)
        sqlite3_bind_int64(s, 7, (*next)++);
    if (st != ST_POOL_REHOME) {
        ++*objects;
        *bytes += o->size;
    }
    return catalog_step_done(c, s, "insert pool object");
}

int catalog_pool_insert_batch(struct catalog *c, const struct catalog_pool_obj *objs, size_t n)
{
    if (n == 0)
        return 0;
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int64_t next = 0, first = 0, objects = 0, bytes = 0;
    int rc = next_id_load(c, &next);
    first = next;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = pool_put(c, &objs[i], &next, &objects, &bytes);
    if (rc == 0 && next != first)
        rc = next_id_store(c, next);
    if (rc == 0)
        rc = totals_add(c, objects, bytes);
    return catalog_tx_leave(c, own, rc);
}

int catalog_pool_repair_batch(struct catalog *c, const struct catalog_pool_obj *objs, size_t n)
{
    if (n == 0)
        return 0;
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int rc = 0;
    int64_t bytes = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int64_t old = 0;
        int f = pool_size(c, objs[i].name, &old);
        if (f <= 0) {
            rc = f; /* not pooled: the UPDATE below would not match it either */
            continue;
        }
        sqlite3_stmt *s = catalog_stmt(c, ST_POOL_REPAIR);
        if (!s) {
            rc = -1;
            break;
        }
        bind_pool(s, &objs[i], false);
        bytes += objs[i].size - old;
        rc = catalog_step_done(c, s, "record repaired pool object");
    }
    if (rc == 0)
        rc = totals_add(c, 0, bytes);
    return catalog_tx_leave(c, own, rc);
}

static int name_page(struct catalog *c, sqlite3_stmt *s, char (*names)[CATALOG_NLO_NAME_LEN + 1],
                     size_t max, size_t *n, const char *what)
{
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        catalog_col_name(s, 0, names[k++], CATALOG_NLO_NAME_LEN + 1);
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return catalog_db_err(c, what);
    *n = k;
    return 0;
}

int catalog_pool_name_page_back(struct catalog *c, const char *before,
                                char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_NAME_PAGE_BACK);
    if (!s)
        return -1;
    catalog_bind_bound_back(s, 1, before);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return name_page(c, s, names, max, n, "list pool names");
}

int catalog_pool_subdir_page(struct catalog *c, int64_t live_subdir, const char *after,
                             char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_SUBDIR_PAGE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, live_subdir);
    catalog_bind_bound(s, 2, after);
    sqlite3_bind_int64(s, 3, (int64_t)max);
    return name_page(c, s, names, max, n, "list pool subdirectory");
}

int catalog_pool_name_page(struct catalog *c, const char *after,
                           char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_NAME_PAGE);
    if (!s)
        return -1;
    catalog_bind_bound(s, 1, after);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return name_page(c, s, names, max, n, "list pool names");
}

static int pool_page(struct catalog *c, sqlite3_stmt *s, struct catalog_pool_obj *out, size_t max,
                     size_t *n)
{
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        read_pool(s, &out[k++]);
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return catalog_db_err(c, "list pool");
    *n = k;
    return 0;
}

int catalog_pool_page(struct catalog *c, const char *after, struct catalog_pool_obj *out,
                      size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_PAGE);
    if (!s)
        return -1;
    catalog_bind_bound(s, 1, after);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return pool_page(c, s, out, max, n);
}

int catalog_pool_count_first_set(struct catalog *c, int64_t seq, int64_t *count)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_COUNT_FIRST);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, seq);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return catalog_db_err(c, "count pool objects of a set");
    }
    *count = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

int catalog_pool_page_back(struct catalog *c, const char *before, struct catalog_pool_obj *out,
                           size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_PAGE_BACK);
    if (!s)
        return -1;
    catalog_bind_bound_back(s, 1, before);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return pool_page(c, s, out, max, n);
}

int catalog_pool_stats(struct catalog *c, int64_t *count, int64_t *bytes)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_STATS);
    if (!s)
        return -1;
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return catalog_db_err(c, "pool stats");
    }
    if (count)
        *count = sqlite3_column_int64(s, 0);
    if (bytes)
        *bytes = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    return 0;
}

int catalog_pool_delete(struct catalog *c, const char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t n)
{
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int rc = 0;
    int64_t objects = 0, bytes = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int64_t old = 0;
        int f = pool_size(c, names[i], &old);
        if (f < 0) {
            rc = -1;
            break;
        }
        if (f == 1) {
            objects--;
            bytes -= old;
        }
        /* the row goes unless references still name it: then only its pool columns */
        sqlite3_stmt *s = catalog_stmt(c, ST_POOL_DELETE_ROW);
        if (!s) {
            rc = -1;
            break;
        }
        catalog_bind_name(s, 1, names[i]);
        rc = catalog_step_done(c, s, "delete pool object");
        if (rc != 0 || sqlite3_changes(c->db) > 0)
            continue;
        if (!(s = catalog_stmt(c, ST_POOL_FORGET))) {
            rc = -1;
            break;
        }
        catalog_bind_name(s, 1, names[i]);
        rc = catalog_step_done(c, s, "delete pool object");
    }
    if (rc == 0)
        rc = totals_add(c, objects, bytes);
    sqlite3_stmt *s = rc == 0 && n ? catalog_stmt(c, ST_UNBACKED_DROP_MARK) : NULL;
    if (rc == 0 && n) /* live objects may have left the pool: "not yet backed up" recomputed */
        rc = s ? catalog_step_done(c, s, "drop the unbacked mark") : -1;
    return catalog_tx_leave(c, own, rc);
}

/* ---- not yet backed up, kept ------------------------------------------------------- */

int catalog_unbacked_mark(struct catalog *c, char *out, size_t n)
{
    return catalog_meta_get(c, "unbacked_mark", out, n);
}

int catalog_unbacked_set(struct catalog *c, const char *mark,
                         const char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t n)
{
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    sqlite3_stmt *s;
    int rc = (s = catalog_stmt(c, ST_UNBACKED_DROP_MARK))
                 ? catalog_step_done(c, s, "drop the unbacked mark")
                 : -1;
    if (rc == 0)
        rc = (s = catalog_stmt(c, ST_UNBACKED_CLEAR)) ? catalog_step_done(c, s, "clear unbacked")
                                                      : -1;
    for (size_t i = 0; rc == 0 && mark && i < n; i++) {
        if (!(s = catalog_stmt(c, ST_UNBACKED_ADD))) {
            rc = -1;
            break;
        }
        catalog_bind_name(s, 1, names[i]);
        rc = catalog_step_done(c, s, "record unbacked");
    }
    if (rc == 0 && mark)
        rc = catalog_meta_set(c, "unbacked_mark", mark);
    return catalog_tx_leave(c, own, rc);
}

int catalog_unbacked_names(struct catalog *c, catalog_name_fn fn, void *ud)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_UNBACKED_NAMES);
    if (!s)
        return -1;
    int r, rc = 0;
    char name[CATALOG_NLO_NAME_LEN + 1];
    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW) {
        catalog_col_name(s, 0, name, sizeof name);
        rc = fn(ud, name);
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = catalog_db_err(c, "read unbacked");
    sqlite3_reset(s);
    return rc;
}

/* ---- references -------------------------------------------------------------------- */

#define REFS_PAGE 1024

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* The ids of names[] (a row with a new id for a name the catalog does not know), sorted and
 * without duplicates: *ids (malloc'd), *nids. */
static int names_to_ids(struct catalog *c, const char *const *names, size_t n, int64_t **ids,
                        size_t *nids)
{
    *ids = dv_malloc((n ? n : 1) * sizeof **ids);
    *nids = 0;
    int64_t next = 0, first = 0;
    bool loaded = false;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        int64_t id;
        int f = nlo_id(c, names[i], &id, NULL);
        if (f < 0)
            return -1;
        if (f == 0) {
            if (!loaded) {
                if (next_id_load(c, &next) != 0)
                    return -1;
                first = next;
                loaded = true;
            }
            sqlite3_stmt *s = catalog_stmt(c, ST_NLO_INSERT_NAME);
            if (!s)
                return -1;
            id = next++;
            catalog_bind_name(s, 1, names[i]);
            sqlite3_bind_int64(s, 2, id);
            if (catalog_step_done(c, s, "record NLO name") != 0)
                return -1;
        }
        (*ids)[(*nids)++] = id;
    }
    if (loaded && next != first && next_id_store(c, next) != 0)
        return -1;
    qsort(*ids, *nids, sizeof **ids, cmp_id);
    return 0;
}

static int refs_write(struct catalog *c, int st, int64_t db_id, int64_t nlo, int64_t seq,
                      const char *what)
{
    sqlite3_stmt *s = catalog_stmt(c, st);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, db_id);
    sqlite3_bind_int64(s, 2, nlo);
    sqlite3_bind_int64(s, 3, seq);
    return catalog_step_done(c, s, what);
}

/* SHA-256 of the distinct names in order, each with its NUL: the list a database's
 * references were last recorded from (databases.refs_digest). */
static void refs_digest(const char *const *names, size_t n, unsigned char out[32])
{
    EVP_MD_CTX *x = EVP_MD_CTX_new();
    unsigned len = 32;
    if (!x || EVP_DigestInit_ex(x, EVP_sha256(), NULL) != 1)
        abort();
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            EVP_DigestUpdate(x, names[i], strlen(names[i]) + 1);
    EVP_DigestFinal_ex(x, out, &len);
    EVP_MD_CTX_free(x);
}

/* ---- the bulk path: databases recorded for the first time ---------------------------- */

void catalog_refs_bulk(struct catalog *c, bool on)
{
    c->stage.on = on;
}

void catalog_stage_clear(struct catalog *c)
{
    c->stage.nents = c->stage.ndbs = 0;
    c->stage.mark_ents = c->stage.mark_dbs = 0;
    c->stage.sp_depth = 0;
}

/* A database with no reference rows at all (never recorded): its names staged as keys, to be
 * written with the others' in key order by the flush. 1 staged, 0 not eligible (the caller
 * records it as usual: a name that is no NLO name, or rows already there), -1 error. */
static int stage_db(struct catalog *c, int64_t db_id, int64_t seq, const char *const *names,
                    size_t n, const unsigned char digest[32])
{
    struct catalog_stage *g = &c->stage;
    for (size_t i = 0; i < g->ndbs; i++)
        if (g->dbs[i].id == db_id) {
            dv_seterr("catalog: references of database %lld already recorded in this "
                      "transaction",
                      (long long)db_id);
            return -1;
        }
    sqlite3_stmt *s = catalog_stmt(c, ST_REFS_ANY);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, db_id);
    int r = sqlite3_step(s);
    sqlite3_reset(s);
    if (r == SQLITE_ROW)
        return 0;
    if (r != SQLITE_DONE)
        return catalog_db_err(c, "read references");
    if (g->nents + n > g->cap) {
        g->cap = g->nents + n > 2 * g->cap ? g->nents + n : 2 * g->cap;
        g->ents = dv_realloc(g->ents, g->cap * sizeof *g->ents);
    }
    size_t k = g->nents;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
            continue;
        struct catalog_stage_ent *e = &g->ents[k++];
        size_t len = catalog_name_key(names[i], strlen(names[i]), e->key);
        if (len == 0)
            return 0; /* stored as TEXT: the usual path (g->nents unchanged) */
        e->len = (uint8_t)len;
        e->db = (uint32_t)g->ndbs;
    }
    if (g->ndbs == g->dcap) {
        g->dcap = g->dcap ? 2 * g->dcap : 64;
        g->dbs = dv_realloc(g->dbs, g->dcap * sizeof *g->dbs);
    }
    struct catalog_stage_db *d = &g->dbs[g->ndbs++];
    d->id = db_id;
    d->seq = seq;
    memcpy(d->digest, digest, 32);
    g->nents = k;
    return 1;
}

static int cmp_ent(const void *a, const void *b)
{
    const struct catalog_stage_ent *x = a, *y = b;
    int d = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);
    return d ? d : (int)x->len - (int)y->len;
}

struct pair {
    int64_t nlo, db; /* db: index into the staged databases */
};

static int cmp_pair(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    return x->nlo != y->nlo ? (x->nlo < y->nlo ? -1 : 1) : (x->db > y->db) - (x->db < y->db);
}

/* The staged databases' references, in the open transaction: the names sorted (one probe per
 * distinct name in key order, a new one inserted where the probe left the B-tree: its pages
 * are touched once, in order), then the (nlo id, database) pairs in id order (the reverse
 * index in order; each database's rows append to its own new range of the table). */
int catalog_stage_flush(struct catalog *c)
{
    struct catalog_stage *g = &c->stage;
    if (g->ndbs == 0) {
        g->nents = 0;
        return 0;
    }
    /* all or nothing: a failure leaves no row of it and keeps what is staged (the commit
       then fails and the caller rolls the transaction back) */
    if (catalog_exec(c, "SAVEPOINT dv_stage", "stage references") != 0)
        return -1;
    int rc = -1;
    struct pair *pairs = dv_malloc((g->nents ? g->nents : 1) * sizeof *pairs);
    if (g->nents) /* databases without a reference stage no name (ents NULL) */
        qsort(g->ents, g->nents, sizeof *g->ents, cmp_ent);
    int64_t next = 0, first = 0, id = 0;
    if (next_id_load(c, &next) != 0)
        goto out;
    first = next;
    for (size_t i = 0; i < g->nents; i++) {
        struct catalog_stage_ent *e = &g->ents[i];
        if (i == 0 || cmp_ent(e, e - 1) != 0) {
            /* insert with the next id (one descent for a new name, the usual case here); a
               name the table has already: its id */
            sqlite3_stmt *s = catalog_stmt(c, ST_NLO_INSERT_NEW);
            if (!s)
                goto out;
            sqlite3_bind_blob(s, 1, e->key, e->len, SQLITE_STATIC);
            sqlite3_bind_int64(s, 2, next);
            if (catalog_step_done(c, s, "record NLO name") != 0)
                goto out;
            if (sqlite3_changes(c->db) > 0) {
                id = next++;
            } else {
                if (!(s = catalog_stmt(c, ST_NLO_ID)))
                    goto out;
                sqlite3_bind_blob(s, 1, e->key, e->len, SQLITE_STATIC);
                int r = sqlite3_step(s);
                if (r == SQLITE_ROW)
                    id = sqlite3_column_int64(s, 0);
                sqlite3_reset(s);
                if (r != SQLITE_ROW) {
                    catalog_db_err(c, "look up NLO");
                    goto out;
                }
            }
        }
        pairs[i].nlo = id;
        pairs[i].db = e->db;
    }
    if (next != first && next_id_store(c, next) != 0)
        goto out;
    qsort(pairs, g->nents, sizeof *pairs, cmp_pair);
    for (size_t i = 0; i < g->nents; i++) {
        const struct catalog_stage_db *d = &g->dbs[pairs[i].db];
        if (refs_write(c, ST_REFS_OPEN, d->id, pairs[i].nlo, d->seq, "open reference") != 0)
            goto out;
    }
    for (size_t i = 0; i < g->ndbs; i++) {
        sqlite3_stmt *s = catalog_stmt(c, ST_DB_SET_LAST_REF);
        if (!s)
            goto out;
        sqlite3_bind_int64(s, 1, g->dbs[i].id);
        sqlite3_bind_int64(s, 2, g->dbs[i].seq);
        sqlite3_bind_blob(s, 3, g->dbs[i].digest, 32, SQLITE_STATIC);
        if (catalog_step_done(c, s, "record reference seq") != 0)
            goto out;
    }
    rc = 0;
out:
    free(pairs);
    if (rc != 0) {
        char saved[DV_ERR_MAX];
        snprintf(saved, sizeof saved, "%s", dv_err());
        catalog_exec(c, "ROLLBACK TO dv_stage; RELEASE dv_stage", "stage references");
        dv_seterr("%s", saved);
        return -1;
    }
    g->nents = g->ndbs = 0;
    g->mark_ents = g->mark_dbs = 0;
    return catalog_exec(c, "RELEASE dv_stage", "stage references");
}

int catalog_refs_record(struct catalog *c, int64_t db_id, int64_t set_seq, const char *const *names,
                        size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) > 0) {
            dv_seterr("catalog: references of database %lld are not sorted (%s after %s)",
                      (long long)db_id, names[i], names[i - 1]);
            return -1;
        }
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int rc = -1;
    int64_t *page = dv_malloc(REFS_PAGE * sizeof *page), *ids = NULL;
    int64_t prev = 0;
    sqlite3_stmt *s = catalog_stmt(c, ST_DB_LAST_REF);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, db_id);
    int r = sqlite3_step(s);
    if (r != SQLITE_ROW) {
        sqlite3_reset(s);
        if (r == SQLITE_DONE)
            dv_seterr("catalog %s: no database %lld", c->path, (long long)db_id);
        else
            catalog_db_err(c, "read database");
        goto out;
    }
    prev = sqlite3_column_int64(s, 0); /* NULL -> 0: never recorded */
    unsigned char digest[32];
    refs_digest(names, n, digest);
    bool same =
        sqlite3_column_bytes(s, 1) == 32 && memcmp(sqlite3_column_blob(s, 1), digest, 32) == 0;
    sqlite3_reset(s);
    if (set_seq <= prev) {
        dv_seterr("catalog: references of database %lld already recorded up to set seq %lld "
                  "(got %lld)",
                  (long long)db_id, (long long)prev, (long long)set_seq);
        goto out;
    }
    /* The same list as last time (the usual nightly case): the open ranges are exactly these
       names already - nothing to look up or write but the seq. */
    size_t nids = 0;
    if (same)
        goto recorded;
    if (prev == 0 && !own && c->stage.on) {
        int st = stage_db(c, db_id, set_seq, names, n, digest);
        if (st != 0) { /* staged (1): written by the flush; or an error */
            rc = st < 0 ? -1 : 0;
            goto out;
        }
    }
    if (names_to_ids(c, names, n, &ids, &nids) != 0)
        goto out;

    /* Merge the sorted ids with the open ranges, paged in id order (the primary key's order:
     * rows written below are before the current page position, so paging stays consistent).
     * An unchanged reference is not written. */
    size_t i = 0, np = 0, j = 0;
    bool more = true;
    int64_t last = 0;
    for (;;) {
        if (j == np && more) {
            if (!(s = catalog_stmt(c, ST_REFS_OPEN_PAGE)))
                goto out;
            sqlite3_bind_int64(s, 1, db_id);
            sqlite3_bind_int64(s, 2, last);
            sqlite3_bind_int64(s, 3, REFS_PAGE);
            np = 0;
            while (np < REFS_PAGE && (r = sqlite3_step(s)) == SQLITE_ROW)
                page[np++] = sqlite3_column_int64(s, 0);
            sqlite3_reset(s);
            if (np < REFS_PAGE && r != SQLITE_DONE) {
                catalog_db_err(c, "read references");
                goto out;
            }
            j = 0;
            more = np == REFS_PAGE;
            if (np)
                last = page[np - 1];
        }
        bool have_r = j < np, have_l = i < nids;
        if (!have_r && !have_l)
            break;
        int cmp = !have_r ? -1 : !have_l ? 1 : cmp_id(&ids[i], &page[j]);
        if (cmp == 0) {
            i++;
            j++;
        } else if (cmp < 0) {
            if (refs_write(c, ST_REFS_OPEN, db_id, ids[i++], set_seq, "open reference") != 0)
                goto out;
        } else {
            if (refs_write(c, ST_REFS_CLOSE, db_id, page[j++], prev, "close reference") != 0)
                goto out;
        }
    }
recorded:
    if (!(s = catalog_stmt(c, ST_DB_SET_LAST_REF)))
        goto out;
    sqlite3_bind_int64(s, 1, db_id);
    sqlite3_bind_int64(s, 2, set_seq);
    sqlite3_bind_blob(s, 3, digest, 32, SQLITE_STATIC);
    if (catalog_step_done(c, s, "record reference seq") != 0)
        goto out;
    rc = 0;
out:
    free(page);
    free(ids);
    return catalog_tx_leave(c, own, rc);
}

int catalog_nlo_referrers(struct catalog *c, const char *name, catalog_ref_cb cb, void *ud)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_NLO_REFERRERS);
    if (!s)
        return -1;
    catalog_bind_name(s, 1, name);
    size_t k = 0, cap = 0;
    char **paths = NULL;
    int64_t *since = NULL;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            paths = dv_realloc(paths, cap * sizeof *paths);
            since = dv_realloc(since, cap * sizeof *since);
        }
        paths[k] = catalog_col_dup(s, 0);
        since[k++] = sqlite3_column_int64(s, 1);
    }
    sqlite3_reset(s);
    int ret = rc == SQLITE_DONE ? 0 : catalog_db_err(c, "databases referencing NLO");
    for (size_t i = 0; i < k; i++) {
        if (ret == 0 && paths[i])
            ret = cb(ud, paths[i], since[i]);
        free(paths[i]);
    }
    free(paths);
    free(since);
    return ret;
}

int catalog_nlo_sets(struct catalog *c, const char *name, catalog_set_cb cb, void *ud)
{
    /* Collect first so that the callback may use the catalog. */
    sqlite3_stmt *s = catalog_stmt(c, ST_NLO_SETS);
    if (!s)
        return -1;
    catalog_bind_name(s, 1, name);
    size_t k = 0, cap = 0;
    struct catalog_set *v = NULL;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            v = dv_realloc(v, cap * sizeof *v);
        }
        catalog_read_set(s, 0, &v[k++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(v);
        return catalog_db_err(c, "sets holding NLO");
    }
    int r = 0;
    for (size_t i = 0; i < k && r == 0; i++)
        r = cb(ud, &v[i]);
    free(v);
    return r;
}

/* ---- prune support ----------------------------------------------------------------- */

static int temp_tables(struct catalog *c)
{
    if (c->temp_ready)
        return 0;
    if (catalog_exec(c,
                     "CREATE TEMP TABLE IF NOT EXISTS keep_sets (seq INTEGER PRIMARY KEY);"
                     "CREATE TEMP TABLE IF NOT EXISTS needed (id INTEGER PRIMARY KEY);",
                     "create temporary tables") != 0)
        return -1;
    c->temp_ready = true;
    return 0;
}

int catalog_needed_compute(struct catalog *c, const int64_t *seqs, size_t nseqs, int64_t *count)
{
    if (temp_tables(c) != 0)
        return -1;
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s;
    if (!(s = catalog_stmt(c, ST_KEEP_CLEAR)) ||
        catalog_step_done(c, s, "clear retained sets") != 0)
        goto out;
    if (!(s = catalog_stmt(c, ST_NEEDED_CLEAR)) ||
        catalog_step_done(c, s, "clear needed NLOs") != 0)
        goto out;
    for (size_t i = 0; i < nseqs; i++) {
        if (!(s = catalog_stmt(c, ST_KEEP_ADD)))
            goto out;
        sqlite3_bind_int64(s, 1, seqs[i]);
        if (catalog_step_done(c, s, "add retained set") != 0)
            goto out;
    }
    if (!(s = catalog_stmt(c, ST_NEEDED_FIRST)) ||
        catalog_step_done(c, s, "NLOs stored by retained sets") != 0)
        goto out;
    if (!(s = catalog_stmt(c, ST_NEEDED_REFS)) ||
        catalog_step_done(c, s, "NLOs referenced by retained sets") != 0)
        goto out;
    if (count) {
        if (!(s = catalog_stmt(c, ST_NEEDED_COUNT)))
            goto out;
        if (sqlite3_step(s) != SQLITE_ROW) {
            sqlite3_reset(s);
            catalog_db_err(c, "count needed NLOs");
            goto out;
        }
        *count = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    rc = 0;
out:
    return catalog_tx_leave(c, own, rc);
}

int catalog_needed_page(struct catalog *c, const char *after,
                        char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    if (temp_tables(c) != 0)
        return -1;
    sqlite3_stmt *s = catalog_stmt(c, ST_NEEDED_PAGE);
    if (!s)
        return -1;
    catalog_bind_bound(s, 1, after);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return name_page(c, s, names, max, n, "list needed NLOs");
}

int catalog_unneeded_page(struct catalog *c, const char *after, struct catalog_pool_obj *out,
                          size_t max, size_t *n)
{
    if (temp_tables(c) != 0)
        return -1;
    sqlite3_stmt *s = catalog_stmt(c, ST_UNNEEDED_PAGE);
    if (!s)
        return -1;
    catalog_bind_bound(s, 1, after);
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return pool_page(c, s, out, max, n);
}

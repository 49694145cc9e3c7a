/*
 * store_batch.c - batches: many documents written into one database in one transaction, their
 * NLO references counted in one index transaction and settled exactly after a crash (store.h,
 * "batches"; docs/store.md).
 */
#include "store_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dvjson.h"
#include "util.h"

#define PENDING_PREFIX "pending_refs:"
#define MARKER_KEY "dvault_batch"

struct store_batch {
    struct store_db *db;
    struct namelist refs; /* one entry per NLO attachment row inserted */
    char token[33];
};

/* The dbinfo marker of db (the connection's view: inside its transaction). "" when none. */
static void read_marker(struct store_db *db, char *out, size_t n)
{
    out[0] = '\0';
    if (store_db_has_table(db->h, "dbinfo"))
        store_db_read_info(db->h, MARKER_KEY, out, n);
}

/* Release the references of a pending record and delete it, in one index transaction, only
 * if the record is still there (another settler may have been first). 0 or -1. */
static int release_record(struct dv_store *st, const char *key, const char *ditkey,
                          const struct namelist *names)
{
    if (store_idx_begin(st) != 0)
        return -1;
    sqlite3_stmt *d = store_sq_prep(st->idx, "DELETE FROM meta WHERE key = ?1", "DAOS index");
    sqlite3_stmt *s = store_sq_prep(st->idx,
                                    "UPDATE doi SET refcount = refcount - 1, zero_since = CASE WHEN"
                                    " refcount - 1 <= 0 THEN coalesce(zero_since, ?2) ELSE NULL END"
                                    " WHERE name = ?1 AND refcount > 0",
                                    "DAOS index: release");
    int rc = s && d ? 0 : -1;
    bool mine = false;
    if (rc == 0) {
        sqlite3_bind_text(d, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(d) == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "DAOS index");
        mine = rc == 0 && sqlite3_changes(st->idx) == 1;
    }
    int64_t now = dv_now();
    for (size_t i = 0; rc == 0 && mine && i < names->n; i++) {
        sqlite3_bind_text(s, 1, names->v[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, now);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "DAOS index: release");
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    sqlite3_finalize(d);
    if (rc == 0 && mine)
        rc = store_dit_adjust(st, ditkey, -(int64_t)names->n);
    if (rc != 0 || !mine) { /* an error, or settled by someone else meanwhile */
        store_idx_rollback(st);
        return rc;
    }
    if (store_idx_commit(st) != 0) {
        store_idx_rollback(st);
        return -1;
    }
    return 0;
}

/* A pending record's JSON: {"db": ditkey, "path": absolute path, "refs": [names]}. */
static char *record_json(const struct store_db *db, const struct namelist *refs)
{
    json_t *o = dvjson_obj(), *a = dvjson_arr();
    dvjson_set(o, "db", dvjson_str(db->ditkey));
    dvjson_set(o, "path", dvjson_str(db->path));
    for (size_t i = 0; i < refs->n; i++)
        dvjson_append(a, dvjson_str(refs->v[i]));
    dvjson_set(o, "refs", a);
    char *t = dvjson_dumps(o, JSON_COMPACT);
    json_decref(o);
    return t;
}

/* Settle one record (key, JSON value) if it is db's. *n counts those settled. 0 or -1. */
static int settle_one(struct store_db *db, const char *key, const char *value, const char *marker,
                      uint64_t *n)
{
    json_error_t je;
    json_t *o = dvjson_loadb(value, strlen(value), 64u << 20, &je, NULL);
    const char *path = o ? json_string_value(json_object_get(o, "path")) : NULL;
    const char *ditkey = o ? json_string_value(json_object_get(o, "db")) : NULL;
    json_t *refs = o ? json_object_get(o, "refs") : NULL;
    int rc = 0;
    if (!path || !ditkey || !json_is_array(refs)) {
        dv_seterr("DAOS index: %s: not a batch record (dvault resync daos recounts)", key);
        json_decref(o);
        return -1;
    }
    if (strcmp(path, db->path) != 0) {
        json_decref(o);
        return 0;
    }
    const char *token = key + strlen(PENDING_PREFIX);
    size_t tl = strlen(token);
    bool committed = strncmp(marker, token, tl) == 0 && (marker[tl] == ' ' || !marker[tl]);
    if (committed) { /* counted and committed: only the record goes */
        if (store_idx_begin(db->st) != 0) {
            json_decref(o);
            return -1;
        }
        sqlite3_stmt *s =
            store_sq_prep(db->st->idx, "DELETE FROM meta WHERE key = ?1", "DAOS index");
        rc = s ? 0 : -1;
        if (s) {
            sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(db->st->idx, "DAOS index");
            sqlite3_finalize(s);
        }
        if (rc != 0 || store_idx_commit(db->st) != 0) {
            store_idx_rollback(db->st);
            rc = -1;
        }
    } else {
        struct namelist names = {0};
        for (size_t i = 0; i < json_array_size(refs); i++) {
            const char *nm = json_string_value(json_array_get(refs, i));
            if (nm && store_nlo_name_valid(nm))
                store_nl_add(&names, nm);
        }
        rc = release_record(db->st, key, ditkey, &names);
        store_nl_free(&names);
    }
    if (rc == 0)
        (*n)++;
    json_decref(o);
    return rc;
}

/* Settle every record of db (we hold its write lock). 0 or -1. */
static int settle(struct store_db *db, uint64_t *n)
{
    if (!store_has_daos(db->st))
        return 0;
    sqlite3_stmt *s = store_sq_prep(
        db->st->idx, "SELECT key, value FROM meta WHERE substr(key, 1, 13) = '" PENDING_PREFIX "'",
        "DAOS index");
    if (!s)
        return -1;
    char **keys = NULL, **vals = NULL;
    size_t k = 0, cap = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            keys = dv_realloc(keys, cap * sizeof *keys);
            vals = dv_realloc(vals, cap * sizeof *vals);
        }
        keys[k] = dv_strdup((const char *)sqlite3_column_text(s, 0));
        vals[k++] =
            dv_strdup(sqlite3_column_text(s, 1) ? (const char *)sqlite3_column_text(s, 1) : "");
    }
    sqlite3_finalize(s);
    char marker[256];
    read_marker(db, marker, sizeof marker);
    int rc = 0;
    for (size_t i = 0; i < k; i++) {
        if (rc == 0)
            rc = settle_one(db, keys[i], vals[i], marker, n);
        free(keys[i]);
        free(vals[i]);
    }
    free(keys);
    free(vals);
    return rc;
}

struct store_batch *store_batch_begin(struct store_db *db, uint64_t *settled)
{
    uint64_t n = 0;
    if (store_db_begin(db) != 0)
        return NULL;
    if (settle(db, &n) != 0) {
        store_db_rollback(db);
        return NULL;
    }
    if (settled)
        *settled = n;
    struct store_batch *b = dv_calloc(1, sizeof *b);
    b->db = db;
    unsigned char r[16];
    dv_random(r, sizeof r);
    dv_hex(r, sizeof r, b->token);
    return b;
}

int store_batch_undelete(struct store_batch *b, const char *unid, int64_t modified)
{
    struct store_db *db = b->db;
    sqlite3_stmt *s = store_sq_prep(db->h,
                                    "UPDATE notes SET deleted = NULL, modified = ?1 WHERE"
                                    " unid = ?2 AND deleted IS NOT NULL",
                                    db->path);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, modified);
    sqlite3_bind_text(s, 2, unid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(db->h, db->path);
    sqlite3_finalize(s);
    return rc != 0 ? -1 : sqlite3_changes(db->h) == 1;
}

int store_batch_insert(struct store_batch *b, const struct store_doc_row *d,
                       const struct store_att_row *a, size_t na)
{
    struct store_db *db = b->db;
    int64_t note_id;
    if (store_insert_note(db, d, &note_id) != 0)
        return -1;
    int rc = 0;
    sqlite3_stmt *s = store_sq_prep(db->h,
                                    "INSERT INTO attachments(note_id, name, size, nlo, data)"
                                    " VALUES (?1, ?2, ?3, ?4, ?5)",
                                    db->path);
    if (!s)
        return -1;
    for (size_t i = 0; rc == 0 && i < na; i++) {
        if (a[i].nlo && !store_has_daos(db->st)) {
            dv_seterr("document %s has an NLO attachment (%s): %s", d->unid, a[i].nlo, DV_NO_DAOS);
            rc = -1;
            break;
        }
        rc = store_insert_att(db, s, note_id, a[i].name, a[i].size, a[i].nlo, a[i].data, a[i].dlen);
        if (rc == 0 && a[i].nlo)
            store_nl_add(&b->refs, a[i].nlo);
    }
    sqlite3_finalize(s);
    return rc;
}

/* One index transaction: +1 per reference, the DIT, the pending record. 0 or -1. */
static int count_refs(struct store_batch *b)
{
    struct store_db *db = b->db;
    struct dv_store *st = db->st;
    if (b->refs.n == 0)
        return 0;
    char *key = dv_asprintf(PENDING_PREFIX "%s", b->token), *val = record_json(db, &b->refs);
    int rc = store_idx_begin(st);
    sqlite3_stmt *u = rc == 0 ? store_sq_prep(st->idx,
                                              "UPDATE doi SET refcount = refcount + 1, zero_since"
                                              " = NULL WHERE name = ?1",
                                              "DAOS index")
                              : NULL;
    sqlite3_stmt *m =
        u ? store_sq_prep(st->idx, "INSERT INTO meta(key, value) VALUES (?1, ?2)", "DAOS index")
          : NULL;
    if (rc == 0 && (!u || !m))
        rc = -1;
    for (size_t i = 0; rc == 0 && i < b->refs.n; i++) {
        sqlite3_bind_text(u, 1, b->refs.v[i], -1, SQLITE_STATIC);
        rc = sqlite3_step(u) == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "DAOS index: reference");
        if (rc == 0 && sqlite3_changes(st->idx) != 1) {
            dv_seterr("NLO %s is not in the DAOS index (recover it first, or dvault resync daos)",
                      b->refs.v[i]);
            rc = -1;
        }
        sqlite3_reset(u);
    }
    if (rc == 0) {
        sqlite3_bind_text(m, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(m, 2, val, -1, SQLITE_STATIC);
        rc = sqlite3_step(m) == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "DAOS index: record");
    }
    sqlite3_finalize(u);
    sqlite3_finalize(m);
    if (rc == 0)
        rc = store_dit_adjust(st, db->ditkey, (int64_t)b->refs.n);
    if (rc != 0 || store_idx_commit(st) != 0) {
        store_idx_rollback(st);
        rc = -1;
    }
    free(key);
    free(val);
    return rc;
}

static void batch_free(struct store_batch *b)
{
    store_nl_free(&b->refs);
    free(b);
}

int store_batch_commit(struct store_batch *b, const char *marker)
{
    struct store_db *db = b->db;
    struct dv_store *st = db->st;
    if (count_refs(b) != 0) {
        store_db_rollback(db);
        batch_free(b);
        return -1;
    }
    bool counted = b->refs.n > 0;
    char *key = dv_asprintf(PENDING_PREFIX "%s", b->token);
    char *val = dv_asprintf("%s %s", b->token, marker ? marker : "");
    int rc = 0;
    dv_crashpoint("batch.counted"); /* tests: references counted, nothing committed */
    if (store_db_has_table(db->h, "dbinfo")) {
        sqlite3_stmt *s = store_sq_prep(db->h,
                                        "INSERT OR REPLACE INTO dbinfo(key, value)"
                                        " VALUES ('" MARKER_KEY "', ?1)",
                                        db->path);
        rc = s ? 0 : -1;
        if (s) {
            sqlite3_bind_text(s, 1, val, -1, SQLITE_STATIC);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(db->h, db->path);
            sqlite3_finalize(s);
        }
    } else if (counted) {
        dv_seterr("%s has no dbinfo table: not a document database", db->path);
        rc = -1;
    }
    dv_crashpoint("batch.before_commit");
    if (rc == 0 && store_db_commit(db) != 0)
        rc = -1;
    if (rc != 0) {
        char keep[DV_ERR_MAX];
        snprintf(keep, sizeof keep, "%s", dv_err());
        store_db_rollback(db);
        if (counted) { /* released with the record, unless a settler was first */
            release_record(st, key, db->ditkey, &b->refs);
        }
        dv_seterr("%s", keep);
    } else if (counted) {
        dv_crashpoint("batch.committed"); /* tests: committed, the record still there */
        if (store_idx_begin(st) == 0) {
            sqlite3_stmt *s =
                store_sq_prep(st->idx, "DELETE FROM meta WHERE key = ?1", "DAOS index");
            int r = s ? 0 : -1;
            if (s) {
                sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
                r = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
                sqlite3_finalize(s);
            }
            if (r != 0 || store_idx_commit(st) != 0)
                store_idx_rollback(st); /* the next batch settles it: committed */
        }
    }
    free(key);
    free(val);
    batch_free(b);
    return rc;
}

void store_batch_abort(struct store_batch *b)
{
    if (!b)
        return;
    store_db_rollback(b->db); /* nothing was counted before store_batch_commit */
    batch_free(b);
}

int64_t store_batch_pending(struct dv_store *st)
{
    if (!store_has_daos(st))
        return 0;
    return store_q_int(
        st->idx, "SELECT count(*) FROM meta WHERE substr(key, 1, 13) = '" PENDING_PREFIX "'", 0);
}

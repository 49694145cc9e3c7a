/*
 * store_sim.c - the simulated server's write path: creating databases, adding, deleting and
 * purging documents, reading attachments. Only dvload (and tests) use it; dvault never writes
 * documents except through recovery (store_recovery.c).
 */
#include "store_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

static const char DB_SCHEMA[] =
    "CREATE TABLE dbinfo(key TEXT PRIMARY KEY, value TEXT);"
    "CREATE TABLE notes(note_id INTEGER PRIMARY KEY, unid TEXT UNIQUE NOT NULL, form TEXT,"
    " subject TEXT, sender TEXT, created INTEGER, modified INTEGER, deleted INTEGER, body TEXT);"
    "CREATE TABLE attachments(att_id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL, name TEXT,"
    " size INTEGER, nlo TEXT, data BLOB);"
    "CREATE INDEX attachments_note ON attachments(note_id);"
    "CREATE INDEX attachments_nlo ON attachments(nlo) WHERE nlo IS NOT NULL;"
    "CREATE INDEX notes_deleted ON notes(deleted) WHERE deleted IS NOT NULL;";

static void random_hex(char out[STORE_UNID_LEN + 1])
{
    unsigned char b[16];
    dv_random(b, sizeof b);
    dv_hex(b, sizeof b, out);
}

struct store_db *store_db_create(struct dv_store *st, const char *relpath, const char *title)
{
    return store_db_create_ps(st, relpath, title, 0);
}

struct store_db *store_db_create_ps(struct dv_store *st, const char *relpath, const char *title,
                                    unsigned page_size)
{
    struct store_db *db = store_db_new(st, relpath);
    if (page_size && (page_size < 512 || page_size > 65536 || (page_size & (page_size - 1)))) {
        dv_seterr("page size %u is not a power of two in 512..65536", page_size);
        goto fail;
    }
    if (access(db->path, F_OK) == 0) {
        dv_seterr("database %s already exists", db->path);
        goto fail;
    }
    char *dir = dv_dirname(db->path);
    int mk = dv_mkdirs(dir, 0750);
    free(dir);
    if (mk != 0 ||
        store_sq_open(db->path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE,
                      &db->h) != 0)
        goto fail;
    random_hex(db->replica);
    random_hex(db->dbiid);
    if (page_size) { /* before the first write: WAL mode fixes it */
        char *q = dv_asprintf("PRAGMA page_size=%u", page_size);
        int r = store_sq_exec(db->h, q, db->path);
        free(q);
        if (r != 0)
            goto fail;
    }
    if (store_sq_exec(db->h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", db->path) != 0 ||
        store_sq_exec(db->h, "BEGIN IMMEDIATE", db->path) != 0 ||
        store_sq_exec(db->h, DB_SCHEMA, db->path) != 0)
        goto fail;
    sqlite3_stmt *s = store_sq_prep(db->h,
                                    "INSERT INTO dbinfo(key, value) VALUES ('replica_id', ?1),"
                                    " ('dbiid', ?2), ('title', ?3)",
                                    db->path);
    if (!s)
        goto fail;
    sqlite3_bind_text(s, 1, db->replica, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, db->dbiid, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, title ? title : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        store_sq_fail(db->h, db->path);
        goto fail;
    }
    if (store_sq_exec(db->h, "COMMIT", db->path) != 0)
        goto fail;
    if (!store_has_daos(st))
        return db;
    s = store_sq_prep(
        st->idx,
        "INSERT OR REPLACE INTO dit(path, replica_id, dbiid, nrefs) VALUES (?1, ?2, ?3, 0)",
        "DAOS index: DIT");
    if (!s)
        goto fail;
    sqlite3_bind_text(s, 1, db->ditkey, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, db->replica, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, db->dbiid, -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        store_sq_fail(st->idx, "DAOS index: DIT");
        goto fail;
    }
    return db;
fail:
    dv_preferr("create database %s", relpath);
    store_db_close(db);
    return NULL;
}

/* Attachments of min_object_size and up become NLOs; without DAOS every one is inline. */
static bool att_is_nlo(const struct dv_store *st, size_t size)
{
    return store_has_daos(st) && (long)size >= st->cfg->server.min_object_size;
}

int store_doc_add(struct store_db *db, const struct store_doc *doc, const struct store_att *att,
                  size_t natt, char unid_out[STORE_UNID_LEN + 1])
{
    char unid[STORE_UNID_LEN + 1];
    random_hex(unid);
    struct ref *r = dv_calloc(natt ? natt : 1, sizeof *r);
    size_t nr = 0;
    for (size_t i = 0; i < natt; i++) {
        if (att_is_nlo(db->st, att[i].size)) {
            store_nlo_name(att[i].data, att[i].size, r[nr].name);
            r[nr].data = att[i].data;
            r[nr].size = att[i].size;
            nr++;
        }
    }
    bool own;
    int rc = store_op_begin(db, &own);
    if (rc != 0) {
        free(r);
        return -1;
    }
    /* The database write lock is held from here: references first (files written outside the
     * index transaction), then the rows. */
    rc = store_refs_acquire(db, r, nr);
    int64_t now = dv_now(), created = doc->created ? doc->created : now;
    const struct store_doc_row row = {.unid = unid,
                                      .form = doc->form,
                                      .subject = doc->subject,
                                      .sender = doc->sender,
                                      .body = doc->body,
                                      .created = created,
                                      .modified = created};
    int64_t note_id = 0;
    if (rc == 0)
        rc = store_insert_note(db, &row, &note_id);
    sqlite3_stmt *s =
        rc == 0 ? store_sq_prep(db->h,
                                "INSERT INTO attachments(note_id, name, size, nlo, data) VALUES"
                                " (?1, ?2, ?3, ?4, ?5)",
                                db->path)
                : NULL;
    for (size_t i = 0, k = 0; s && rc == 0 && i < natt; i++) {
        bool big = att_is_nlo(db->st, att[i].size);
        rc = store_insert_att(db, s, note_id, att[i].name, (int64_t)att[i].size,
                              big ? r[k].name : NULL, att[i].data, att[i].size);
        if (big)
            k++;
    }
    if (natt && !s)
        rc = -1;
    sqlite3_finalize(s);
    free(r);
    rc = store_op_end(db, own, rc);
    if (rc == 0 && unid_out)
        memcpy(unid_out, unid, sizeof unid);
    return rc;
}

int store_doc_delete(struct store_db *db, const char *unid, int64_t when)
{
    if (!when)
        when = dv_now();
    sqlite3_stmt *s = store_sq_prep(db->h,
                                    "UPDATE notes SET deleted = ?1, modified = ?1 WHERE unid = ?2"
                                    " AND deleted IS NULL",
                                    db->path);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, when);
    sqlite3_bind_text(s, 2, unid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(db->h, db->path);
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(db->h) == 0) {
        s = store_sq_prep(db->h, "SELECT 1 FROM notes WHERE unid = ?1", db->path);
        if (!s)
            return -1;
        sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
        if (sqlite3_step(s) != SQLITE_ROW) {
            dv_seterr("%s: no document %s", db->path, unid);
            rc = -1;
        }
        sqlite3_finalize(s);
    }
    return rc;
}

int store_purge(struct store_db *db, int64_t before, size_t *ndocs)
{
    bool own;
    if (store_op_begin(db, &own) != 0)
        return -1;
    size_t mark = db->released.n;
    int rc = 0;
    sqlite3_stmt *s = store_sq_prep(db->h,
                                    "SELECT a.nlo FROM notes n JOIN attachments a ON a.note_id ="
                                    " n.note_id WHERE n.deleted IS NOT NULL AND n.deleted <= ?1"
                                    " AND a.nlo IS NOT NULL",
                                    db->path);
    if (!s)
        rc = -1;
    else {
        sqlite3_bind_int64(s, 1, before);
        int r;
        while ((r = sqlite3_step(s)) == SQLITE_ROW)
            store_nl_add(&db->released, (const char *)sqlite3_column_text(s, 0));
        if (r != SQLITE_DONE)
            rc = store_sq_fail(db->h, db->path);
        sqlite3_finalize(s);
    }
    size_t n = 0;
    if (rc == 0) {
        s = store_sq_prep(db->h,
                          "DELETE FROM attachments WHERE note_id IN (SELECT note_id FROM notes"
                          " WHERE deleted IS NOT NULL AND deleted <= ?1)",
                          db->path);
        rc = s ? 0 : -1;
        if (s) {
            sqlite3_bind_int64(s, 1, before);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(db->h, db->path);
            sqlite3_finalize(s);
        }
    }
    if (rc == 0) {
        s = store_sq_prep(db->h, "DELETE FROM notes WHERE deleted IS NOT NULL AND deleted <= ?1",
                          db->path);
        rc = s ? 0 : -1;
        if (s) {
            sqlite3_bind_int64(s, 1, before);
            rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(db->h, db->path);
            n = (size_t)sqlite3_changes(db->h);
            sqlite3_finalize(s);
        }
    }
    if (rc != 0)
        db->released.n = mark;
    rc = store_op_end(db, own, rc);
    if (rc == 0 && ndocs)
        *ndocs = n;
    return rc;
}

int store_att_read(struct store_db *db, int64_t att_id, unsigned char **buf, size_t *len)
{
    sqlite3_stmt *s =
        store_sq_prep(db->h, "SELECT nlo, data FROM attachments WHERE att_id = ?1", db->path);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, att_id);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        dv_seterr("%s: no attachment %lld", db->path, (long long)att_id);
        return -1;
    }
    int rc = 0;
    if (sqlite3_column_type(s, 0) != SQLITE_NULL) {
        char name[STORE_NLO_NAME_LEN + 1];
        snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(s, 0));
        sqlite3_finalize(s);
        char *p = store_nlo_path(db->st, name);
        if (!p) {
            char keep[DV_ERR_MAX], reason[512];
            snprintf(keep, sizeof keep, "%s", dv_err());
            snprintf(reason, sizeof reason, "NLO %s referenced by %.300s is missing", name,
                     db->ditkey);
            store_mark_needs_resync(db->st, reason);
            dv_seterr("%s", keep);
            return -1;
        }
        rc = store_nlo_read_path(db->st, name, p, buf, len);
        free(p);
        return rc;
    }
    size_t n = (size_t)sqlite3_column_bytes(s, 1);
    *buf = dv_malloc(n ? n : 1);
    memcpy(*buf, sqlite3_column_blob(s, 1), n);
    *len = n;
    sqlite3_finalize(s);
    return rc;
}

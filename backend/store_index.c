/*
 * store_index.c - the DAOS index (daoscat.db): state (NEEDS_RESYNC), subdirectory slots and
 * daos.cfg, reference counts (DIT, DOI) acquired and released, status, check, object pages.
 */
#include "store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include "dbglob.h"
#include "fsb.h"
#include "util.h"

/* ---- the index: state, subdir counts, daos.cfg ------------------------------------------- */

int store_idx_begin(struct dv_store *st)
{
    return store_sq_exec(st->idx, "BEGIN IMMEDIATE", "DAOS index: begin");
}

int store_idx_commit(struct dv_store *st)
{
    if (store_sq_exec(st->idx, "COMMIT", "DAOS index: commit") != 0) {
        sqlite3_exec(st->idx, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

void store_idx_rollback(struct dv_store *st)
{
    if (!sqlite3_get_autocommit(st->idx))
        sqlite3_exec(st->idx, "ROLLBACK", NULL, NULL, NULL);
}

int store_idx_set_state(struct dv_store *st, bool needs, const char *reason)
{
    sqlite3_stmt *s = store_sq_prep(st->idx,
                                    "INSERT OR REPLACE INTO meta(key, value) VALUES"
                                    " ('state', ?1), ('reason', ?2), ('since', ?3)",
                                    "DAOS index: set state");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, needs ? "NEEDS_RESYNC" : "SYNCHRONIZED", -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, reason ? reason : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 3, dv_now());
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "DAOS index: set state");
    sqlite3_finalize(s);
    return rc;
}

int store_mark_needs_resync(struct dv_store *st, const char *reason)
{
    if (!store_has_daos(st))
        return 0; /* no index to mark */
    /* Keep the first reason: it is the one the operator needs to see. */
    if (store_needs_resync(st))
        return 0;
    return store_idx_set_state(st, true, reason);
}

bool store_needs_resync(struct dv_store *st)
{
    if (!store_has_daos(st))
        return false;
    sqlite3_stmt *s =
        store_sq_prep(st->idx, "SELECT value FROM meta WHERE key = 'state'", "DAOS index");
    if (!s)
        return false;
    bool needs = false;
    if (sqlite3_step(s) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(s, 0);
        needs = v && strcmp(v, "NEEDS_RESYNC") == 0;
    }
    sqlite3_finalize(s);
    return needs;
}

/* Lowest subdirectory with room; counts one more file in it. Inside an index transaction. */
int store_idx_take_slot(struct dv_store *st, int *subdir)
{
    sqlite3_stmt *s = store_sq_prep(
        st->idx, "SELECT subdir FROM subdirs WHERE count < ?1 ORDER BY subdir LIMIT 1",
        "DAOS index: choose subdirectory");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, st->cfg->server.max_files_per_subdir);
    int rc = sqlite3_step(s), d = 0;
    if (rc == SQLITE_ROW)
        d = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_sq_fail(st->idx, "DAOS index: choose subdirectory");
    if (d == 0) {
        /* All full: the first number not in use (gaps are reused). */
        s = store_sq_prep(
            st->idx,
            "SELECT coalesce((SELECT min(subdir) + 1 FROM subdirs WHERE subdir + 1 NOT IN"
            " (SELECT subdir FROM subdirs)), 1)",
            "DAOS index: new subdirectory");
        if (!s)
            return -1;
        if (sqlite3_step(s) == SQLITE_ROW)
            d = sqlite3_column_int(s, 0);
        sqlite3_finalize(s);
        if (d < 1 || d > MAX_SUBDIR) {
            dv_seterr("DAOS repository is full (%d subdirectories of %ld objects)", MAX_SUBDIR,
                      st->cfg->server.max_files_per_subdir);
            return -1;
        }
    }
    s = store_sq_prep(st->idx,
                      "INSERT INTO subdirs(subdir, count) VALUES (?1, 1)"
                      " ON CONFLICT(subdir) DO UPDATE SET count = count + 1",
                      "DAOS index: count subdirectory");
    if (!s)
        return -1;
    sqlite3_bind_int(s, 1, d);
    rc = sqlite3_step(s) == SQLITE_DONE ? 0
                                        : store_sq_fail(st->idx, "DAOS index: count subdirectory");
    sqlite3_finalize(s);
    *subdir = d;
    return rc;
}

int store_idx_free_slot(struct dv_store *st, int subdir)
{
    sqlite3_stmt *s =
        store_sq_prep(st->idx, "UPDATE subdirs SET count = max(count - 1, 0) WHERE subdir = ?1",
                      "DAOS index: uncount subdirectory");
    if (!s)
        return -1;
    sqlite3_bind_int(s, 1, subdir);
    int rc =
        sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "DAOS index: subdirectory");
    sqlite3_finalize(s);
    return rc;
}

/*
 * Rewrite daos.cfg from the index's subdirectory counts. Writers in several processes and
 * threads serialise on an flock of .daos.cfg.lock, and each reads the counts while holding
 * it, so the last file written is the newest state.
 */
int store_cfg_write(struct dv_store *st)
{
    /* beneath the DAOS directory (fsb.h): the lock and the file are never a planted link or
     * FIFO, the new file is written beside daos.cfg (O_EXCL) and renamed over it */
    if (!st->daos) {
        store_no_daos();
        return -1;
    }
    char *tmp = dv_asprintf(".daos.cfg.%ld.%u.tmp", (long)getpid(), store_tmp_seq());
    int rc = -1, lfd = fsb_openat(st->daos, ".daos.cfg.lock", O_RDWR | O_CREAT, 0640);
    char *text = NULL;
    size_t len = 0, cap = 0;
    struct fsb_tmp t;
    memset(&t, 0, sizeof t);
    if (lfd < 0)
        goto out;
    if (flock(lfd, LOCK_EX) != 0) {
        dv_syserr("lock %s/.daos.cfg.lock", fsb_path(st->daos));
        goto out;
    }
    sqlite3_stmt *s = store_sq_prep(st->idx, "SELECT subdir, count FROM subdirs ORDER BY subdir",
                                    "DAOS index: read subdirectories");
    if (!s)
        goto out;
    int r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        char line[64];
        int n = snprintf(line, sizeof line, "%04d %lld\n", sqlite3_column_int(s, 0),
                         (long long)sqlite3_column_int64(s, 1));
        if (len + (size_t)n + 1 > cap) {
            cap = cap ? cap * 2 : 4096;
            text = dv_realloc(text, cap);
        }
        memcpy(text + len, line, (size_t)n);
        len += (size_t)n;
    }
    sqlite3_finalize(s);
    if (r != SQLITE_DONE) {
        store_sq_fail(st->idx, "DAOS index: read subdirectories");
        goto out;
    }
    if (fsb_tmp_open(st->daos, "daos.cfg", tmp, 0640, 0, &t) != 0)
        goto out;
    if (dv_write_all(t.fd, text ? text : "", len) != 0) {
        dv_syserr("write %s", t.path);
        goto out;
    }
    rc = fsb_tmp_commit(&t, 0);
out:
    fsb_tmp_done(&t); /* removes the temporary unless it was renamed */
    if (lfd >= 0)
        close(lfd); /* drops the flock */
    free(text);
    free(tmp);
    return rc;
}

/* After the index was recreated: take subdirectory counts from daos.cfg if it is there. */
void store_cfg_load_counts(struct dv_store *st)
{
    char *text;
    size_t len;
    /* beneath the DAOS directory: a regular file of at most 1 MiB (never a FIFO) */
    if (st->daos && fsb_read_capped(st->daos, "daos.cfg", 1u << 20, &text, &len) == 0) {
        sqlite3_stmt *s = store_sq_prep(
            st->idx, "INSERT OR REPLACE INTO subdirs(subdir, count) VALUES (?1, ?2)", "DAOS index");
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); s && line;
             line = strtok_r(NULL, "\n", &save)) {
            int d;
            long long c;
            if (sscanf(line, "%d %lld", &d, &c) == 2 && d >= 1 && d <= MAX_SUBDIR && c >= 0) {
                sqlite3_bind_int(s, 1, d);
                sqlite3_bind_int64(s, 2, c);
                sqlite3_step(s);
                sqlite3_reset(s);
            }
        }
        sqlite3_finalize(s);
        free(text);
    }
}

/* ---- references in the index --------------------------------------------------------------- */

int store_dit_adjust(struct dv_store *st, const char *ditkey, int64_t delta)
{
    sqlite3_stmt *s = store_sq_prep(
        st->idx, "UPDATE dit SET nrefs = max(nrefs + ?1, 0) WHERE path = ?2", "DAOS index: DIT");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, delta);
    sqlite3_bind_text(s, 2, ditkey, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "DAOS index: DIT");
    sqlite3_finalize(s);
    return rc;
}

/*
 * Release n references (names may repeat) held by database ditkey. One short index
 * transaction. A refcount that would go below 0 marks NEEDS_RESYNC.
 */
int store_refs_release(struct dv_store *st, const char *ditkey, const struct namelist *l)
{
    if (l->n == 0 || !store_has_daos(st))
        return 0; /* without DAOS nothing was counted */
    if (store_idx_begin(st) != 0)
        return -1;
    sqlite3_stmt *s = store_sq_prep(st->idx,
                                    "UPDATE doi SET refcount = refcount - 1, zero_since = CASE WHEN"
                                    " refcount - 1 <= 0 THEN coalesce(zero_since, ?2) ELSE NULL END"
                                    " WHERE name = ?1 AND refcount > 0",
                                    "DAOS index: release");
    if (!s) {
        store_idx_rollback(st);
        return -1;
    }
    int64_t now = dv_now();
    const char *bad = NULL;
    for (size_t i = 0; i < l->n; i++) {
        sqlite3_bind_text(s, 1, l->v[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, now);
        if (sqlite3_step(s) != SQLITE_DONE) {
            store_sq_fail(st->idx, "DAOS index: release");
            sqlite3_finalize(s);
            store_idx_rollback(st);
            return -1;
        }
        if (sqlite3_changes(st->idx) == 0 && !bad)
            bad = l->v[i];
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    int rc = store_dit_adjust(st, ditkey, -(int64_t)l->n);
    if (rc == 0 && bad) {
        char reason[256];
        snprintf(reason, sizeof reason, "refcount of %.84s in %.100s went below 0", bad, ditkey);
        if (!store_needs_resync(st))
            rc = store_idx_set_state(st, true, reason);
    }
    if (rc != 0) {
        store_idx_rollback(st);
        return -1;
    }
    return store_idx_commit(st);
}

/*
 * Count one reference per r[i] in the index for database db, then make sure each NLO file
 * exists: a new one (r->data set) is written outside the index transaction. r->data NULL
 * means the file must already be in the repository (r->subdir found by the caller).
 * On success the names are recorded in db->reserved (rolled back with the transaction).
 */
int store_refs_acquire(struct store_db *db, struct ref *r, size_t n)
{
    struct dv_store *st = db->st;
    if (n == 0)
        return 0;
    if (!store_has_daos(st))
        return store_no_daos();
    if (store_idx_begin(st) != 0)
        return -1;
    sqlite3_stmt *sel =
        store_sq_prep(st->idx, "SELECT subdir FROM doi WHERE name = ?1", "DAOS index");
    sqlite3_stmt *upd = store_sq_prep(st->idx,
                                      "UPDATE doi SET refcount = refcount + 1, zero_since = NULL"
                                      " WHERE name = ?1",
                                      "DAOS index");
    sqlite3_stmt *ins = store_sq_prep(st->idx,
                                      "INSERT INTO doi(name, subdir, size, refcount) VALUES"
                                      " (?1, ?2, ?3, 1)",
                                      "DAOS index");
    bool unindexed = false, newslots = false;
    int rc = sel && upd && ins ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        r[i].created = false;
        sqlite3_bind_text(sel, 1, r[i].name, -1, SQLITE_STATIC);
        int sr = sqlite3_step(sel);
        if (sr == SQLITE_ROW) {
            r[i].subdir = sqlite3_column_int(sel, 0);
            sqlite3_reset(sel);
            sqlite3_bind_text(upd, 1, r[i].name, -1, SQLITE_STATIC);
            rc = sqlite3_step(upd) == SQLITE_DONE ? 0
                                                  : store_sq_fail(st->idx, "DAOS index: reference");
            sqlite3_reset(upd);
            continue;
        }
        sqlite3_reset(sel);
        if (sr != SQLITE_DONE) {
            rc = store_sq_fail(st->idx, "DAOS index: lookup");
            break;
        }
        if (r[i].data) {
            rc = store_idx_take_slot(st, &r[i].subdir);
            r[i].created = true;
            newslots = true;
        } else {
            unindexed = true; /* a file in the repository the index does not know */
        }
        if (rc == 0) {
            sqlite3_bind_text(ins, 1, r[i].name, -1, SQLITE_STATIC);
            sqlite3_bind_int(ins, 2, r[i].subdir);
            sqlite3_bind_int64(ins, 3, (sqlite3_int64)store_name_size(r[i].name));
            rc = sqlite3_step(ins) == SQLITE_DONE
                     ? 0
                     : store_sq_fail(st->idx, "DAOS index: new object");
            sqlite3_reset(ins);
        }
    }
    sqlite3_finalize(sel);
    sqlite3_finalize(upd);
    sqlite3_finalize(ins);
    if (rc == 0)
        rc = store_dit_adjust(st, db->ditkey, (int64_t)n);
    if (rc == 0 && unindexed && !store_needs_resync(st))
        rc = store_idx_set_state(st, true, "an NLO in the repository was not in the DAOS index");
    if (rc != 0 || store_idx_commit(st) != 0) {
        store_idx_rollback(st);
        return -1;
    }
    struct namelist taken = {0};
    for (size_t i = 0; i < n; i++)
        store_nl_add(&taken, r[i].name);
    /* Outside the index transaction: write the files that are not there yet. */
    for (size_t i = 0; i < n; i++) {
        if (!r[i].data)
            continue;
        char *p = store_nlo_file(st, r[i].subdir, r[i].name);
        bool present = !r[i].created && access(p, F_OK) == 0;
        free(p);
        if (present)
            continue;
        unsigned char *bytes;
        size_t len;
        if (store_nlo_encode(st, r[i].name, r[i].data, r[i].size, &bytes, &len) != 0 ||
            (rc = store_nlo_put_bytes(st, r[i].subdir, r[i].name, bytes, len, -1), free(bytes),
             rc) != 0) {
            char keep[DV_ERR_MAX];
            snprintf(keep, sizeof keep, "%s", dv_err());
            store_refs_release(st, db->ditkey, &taken);
            store_nl_free(&taken);
            dv_seterr("%s", keep);
            return -1;
        }
    }
    for (size_t i = 0; i < taken.n; i++)
        store_nl_add(&db->reserved, taken.v[i]);
    store_nl_free(&taken);
    if (newslots)
        return store_cfg_write(st);
    return 0;
}

/* ---- status, check -----------------------------------------------------------------------------
 */

int64_t store_q_int(sqlite3 *h, const char *sql, int64_t bind)
{
    sqlite3_stmt *s = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_bind_parameter_count(s) > 0)
            sqlite3_bind_int64(s, 1, bind);
        if (sqlite3_step(s) == SQLITE_ROW)
            v = sqlite3_column_int64(s, 0);
    }
    sqlite3_finalize(s);
    return v;
}

int store_status(struct dv_store *st, struct store_status *out)
{
    memset(out, 0, sizeof *out);
    if (!store_has_daos(st))
        return store_no_daos();
    if (store_sq_exec(st->idx, "BEGIN", "DAOS index") != 0)
        return -1;
    sqlite3_stmt *s = store_sq_prep(st->idx, "SELECT key, value FROM meta", "DAOS index");
    if (!s) {
        store_idx_rollback(st);
        return -1;
    }
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(s, 0);
        const char *v = (const char *)sqlite3_column_text(s, 1);
        if (!k || !v)
            continue;
        if (strcmp(k, "state") == 0)
            out->needs_resync = strcmp(v, "NEEDS_RESYNC") == 0;
        else if (strcmp(k, "reason") == 0)
            snprintf(out->reason, sizeof out->reason, "%s", v);
        else if (strcmp(k, "since") == 0)
            out->state_since = strtoll(v, NULL, 10);
    }
    sqlite3_finalize(s);
    int64_t cutoff = dv_now() - (int64_t)st->cfg->server.deferred_deletion_days * 86400;
    /* the running totals (doi_totals, kept by triggers), not scans of the index */
    s = store_sq_prep(st->idx,
                      "SELECT objects, bytes, refs, ref_bytes, zero, zero_bytes FROM doi_totals"
                      " WHERE k = 1",
                      "DAOS index");
    if (!s) {
        store_idx_rollback(st);
        return -1;
    }
    if (sqlite3_step(s) == SQLITE_ROW) {
        out->objects = (uint64_t)sqlite3_column_int64(s, 0);
        out->bytes = (uint64_t)sqlite3_column_int64(s, 1);
        out->references = (uint64_t)sqlite3_column_int64(s, 2);
        out->referenced_bytes = (uint64_t)sqlite3_column_int64(s, 3);
        out->zero_ref = (uint64_t)sqlite3_column_int64(s, 4);
        out->zero_ref_bytes = (uint64_t)sqlite3_column_int64(s, 5);
    }
    sqlite3_finalize(s);
    out->zero_ref_due = (uint64_t)store_q_int(
        st->idx, "SELECT count(*) FROM doi WHERE refcount = 0 AND zero_since <= ?1", cutoff);
    out->databases = (uint64_t)store_q_int(st->idx, "SELECT count(*) FROM dit", 0);
    s = store_sq_prep(st->idx, "SELECT subdir, count FROM subdirs ORDER BY subdir", "DAOS index");
    size_t cap = 0;
    while (s && sqlite3_step(s) == SQLITE_ROW) {
        if (out->nsubdirs == cap) {
            cap = cap ? cap * 2 : 16;
            out->subdirs = dv_realloc(out->subdirs, cap * sizeof *out->subdirs);
        }
        out->subdirs[out->nsubdirs].subdir = sqlite3_column_int(s, 0);
        out->subdirs[out->nsubdirs++].count = (long)sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    sqlite3_exec(st->idx, "COMMIT", NULL, NULL, NULL);
    return s ? 0 : -1;
}

void store_status_done(struct store_status *s)
{
    if (s) {
        free(s->subdirs);
        s->subdirs = NULL;
        s->nsubdirs = 0;
    }
}

/* replica_id of a database file opened read-only ("" if none). */
static int file_replica(const char *abs, char *out, size_t n)
{
    sqlite3 *h;
    out[0] = '\0';
    if (store_sq_open(abs, SQLITE_OPEN_READONLY, &h) != 0)
        return -1;
    if (store_db_has_table(h, "dbinfo"))
        store_db_read_info(h, "replica_id", out, n);
    sqlite3_close(h);
    return 0;
}

/* A database file as store_check last read its replica id. */
struct seen {
    char *path;
    int64_t dev, ino, size, ctime_ns;
    char replica[64];
};

static bool seen_same(sqlite3_stmt *s, const struct stat *sb, const char *replica)
{
    const char *r = (const char *)sqlite3_column_text(s, 6);
    return sqlite3_column_type(s, 2) != SQLITE_NULL &&
           sqlite3_column_int64(s, 2) == (int64_t)sb->st_dev &&
           sqlite3_column_int64(s, 3) == (int64_t)sb->st_ino &&
           sqlite3_column_int64(s, 4) == (int64_t)sb->st_size &&
           sqlite3_column_int64(s, 5) ==
               (int64_t)sb->st_ctim.tv_sec * 1000000000 + sb->st_ctim.tv_nsec &&
           r && strcmp(r, replica) == 0;
}

/* Remember the files whose replica id matched (best effort: a busy index skips it). */
static void seen_record(struct dv_store *st, struct seen *v, size_t n)
{
    if (!n || sqlite3_exec(st->idx, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return;
    sqlite3_stmt *s = store_sq_prep(st->idx,
                                    "INSERT OR REPLACE INTO dit_seen(path, dev, ino, size,"
                                    " ctime_ns, replica_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                                    "DAOS index");
    for (size_t i = 0; s && i < n; i++) {
        sqlite3_bind_text(s, 1, v[i].path, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, v[i].dev);
        sqlite3_bind_int64(s, 3, v[i].ino);
        sqlite3_bind_int64(s, 4, v[i].size);
        sqlite3_bind_int64(s, 5, v[i].ctime_ns);
        sqlite3_bind_text(s, 6, v[i].replica, -1, SQLITE_STATIC);
        sqlite3_step(s);
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    sqlite3_exec(st->idx, s ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
}

int store_check(struct dv_store *st)
{
    if (!store_has_daos(st))
        return store_no_daos();
    char **dbs;
    size_t n;
    if (dbglob_list(st->cfg, &dbs, &n) != 0)
        return -1;
    /* A database whose file is the one whose replica id was read last time (same device,
       inode, size and ctime: any write or replacement changes one) is not opened again:
       status at 1,000 databases was 1,000 SQLite opens. */
    sqlite3_stmt *s = store_sq_prep(st->idx,
                                    "SELECT d.path, coalesce(d.replica_id, ''), s.dev, s.ino,"
                                    " s.size, s.ctime_ns, s.replica_id FROM dit d"
                                    " LEFT JOIN dit_seen s ON s.path = d.path"
                                    " WHERE d.path NOT LIKE '/%' ORDER BY d.path",
                                    "DAOS index");
    if (!s) {
        dbglob_free(dbs);
        return -1;
    }
    char reason[600] = "";
    size_t diffs = 0, i = 0, nseen = 0;
    struct seen *seen = NULL;
    int r = sqlite3_step(s);
    /* Merge the two sorted lists (both in strcmp order: SQLite's default BINARY collation). */
    while (i < n || r == SQLITE_ROW) {
        const char *dp = r == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
        int c = i >= n ? 1 : !dp ? -1 : strcmp(dbs[i], dp);
        char why[600] = "";
        if (c < 0) {
            snprintf(why, sizeof why, "database %.300s appeared outside the store", dbs[i]);
            i++;
        } else if (c > 0) {
            snprintf(why, sizeof why, "database %.300s disappeared", dp);
            r = sqlite3_step(s);
        } else {
            char *abs = dv_path_join(st->cfg->server.data_dir, dbs[i]);
            const char *want = (const char *)sqlite3_column_text(s, 1);
            struct stat sb;
            bool have = stat(abs, &sb) == 0;
            char rep[64];
            if (!(have && seen_same(s, &sb, want)) && file_replica(abs, rep, sizeof rep) == 0) {
                if (strcmp(rep, want) != 0) {
                    snprintf(why, sizeof why,
                             "replica id of database %.300s changed outside the store", dbs[i]);
                } else if (have) {
                    if ((nseen & (nseen - 1)) == 0)
                        seen = dv_realloc(seen, (nseen ? nseen * 2 : 1) * sizeof *seen);
                    struct seen *e = &seen[nseen++];
                    e->path = dv_strdup(dbs[i]);
                    e->dev = (int64_t)sb.st_dev;
                    e->ino = (int64_t)sb.st_ino;
                    e->size = (int64_t)sb.st_size;
                    e->ctime_ns = (int64_t)sb.st_ctim.tv_sec * 1000000000 + sb.st_ctim.tv_nsec;
                    snprintf(e->replica, sizeof e->replica, "%s", rep);
                }
            }
            free(abs);
            i++;
            r = sqlite3_step(s);
        }
        if (why[0] && diffs++ == 0)
            snprintf(reason, sizeof reason, "%s", why);
    }
    sqlite3_finalize(s);
    dbglob_free(dbs);
    seen_record(st, seen, nseen);
    for (size_t k = 0; k < nseen; k++)
        free(seen[k].path);
    free(seen);
    if (diffs > 1) {
        size_t l = strlen(reason);
        snprintf(reason + l, sizeof reason - l, " (and %zu more differences)", diffs - 1);
    }
    return diffs ? store_mark_needs_resync(st, reason) : 0;
}

static void obj_read(sqlite3_stmt *s, struct store_object *o)
{
    memset(o, 0, sizeof *o);
    const unsigned char *n = sqlite3_column_text(s, 0);
    snprintf(o->name, sizeof o->name, "%s", n ? (const char *)n : "");
    o->subdir = sqlite3_column_int(s, 1);
    o->size = sqlite3_column_int64(s, 2);
    o->refcount = sqlite3_column_int64(s, 3);
    o->zero_since = sqlite3_column_int64(s, 4);
}

int store_objects_page(struct dv_store *st, const char *after, bool backward, bool zero_ref_only,
                       struct store_object *out, size_t max, size_t *n)
{
    if (!store_has_daos(st))
        return store_no_daos();
    /* Four fixed statements (direction x filter), each a range scan of the primary key. */
    static const char *const sql[2][2] = {
        {"SELECT name, subdir, size, refcount, zero_since FROM doi WHERE name > ?1 "
         "ORDER BY name LIMIT ?2",
         "SELECT name, subdir, size, refcount, zero_since FROM doi WHERE name > ?1 "
         "AND refcount = 0 ORDER BY name LIMIT ?2"},
        {"SELECT name, subdir, size, refcount, zero_since FROM doi WHERE (?1 = '' OR name < ?1) "
         "ORDER BY name DESC LIMIT ?2",
         "SELECT name, subdir, size, refcount, zero_since FROM doi WHERE (?1 = '' OR name < ?1) "
         "AND refcount = 0 ORDER BY name DESC LIMIT ?2"},
    };
    *n = 0;
    sqlite3_stmt *s = store_sq_prep(st->idx, sql[backward][zero_ref_only], "DAOS index: objects");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, after ? after : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
    int r;
    size_t k = 0;
    while (k < max && (r = sqlite3_step(s)) == SQLITE_ROW)
        obj_read(s, &out[k++]);
    int rc = 0;
    if (k < max && r != SQLITE_DONE)
        rc = store_sq_fail(st->idx, "DAOS index: objects");
    sqlite3_finalize(s);
    *n = k;
    return rc;
}

int store_object_get(struct dv_store *st, const char *name, struct store_object *out)
{
    if (!store_has_daos(st))
        return store_no_daos();
    sqlite3_stmt *s = store_sq_prep(
        st->idx, "SELECT name, subdir, size, refcount, zero_since FROM doi WHERE name = ?1",
        "DAOS index: object");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_TRANSIENT);
    int r = sqlite3_step(s), rc;
    if (r == SQLITE_ROW) {
        if (out)
            obj_read(s, out);
        rc = 1;
    } else {
        rc = r == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "DAOS index: object");
    }
    sqlite3_finalize(s);
    return rc;
}

int store_objects(struct dv_store *st, store_object_fn fn, void *ud)
{
    if (!store_has_daos(st))
        return store_no_daos();
    sqlite3_stmt *s = store_sq_prep(st->idx, "SELECT name, subdir, refcount FROM doi ORDER BY name",
                                    "DAOS index: objects");
    if (!s)
        return -1;
    int rc = 0, r;
    while ((r = sqlite3_step(s)) == SQLITE_ROW) {
        if ((rc = fn(ud, (const char *)sqlite3_column_text(s, 0), sqlite3_column_int(s, 1),
                     sqlite3_column_int64(s, 2))) != 0)
            break;
    }
    if (rc == 0 && r != SQLITE_DONE)
        rc = store_sq_fail(st->idx, "DAOS index: objects");
    sqlite3_finalize(s);
    return rc;
}

/* ---- the names the index gained (doi_added; unbacked.c) ---------------------------------- */

int store_added_state(struct dv_store *st, char epoch[STORE_ADDED_EPOCH_LEN + 1], int64_t *last,
                      int64_t *first)
{
    if (!store_has_daos(st))
        return store_no_daos();
    sqlite3_stmt *s =
        store_sq_prep(st->idx,
                      "SELECT (SELECT value FROM meta WHERE key = 'unbacked_epoch'),"
                      " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'doi_added'), 0),"
                      " (SELECT min(seq) FROM doi_added)",
                      "DAOS index: added names");
    if (!s)
        return -1;
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : store_sq_fail(st->idx, "DAOS index: added names");
    if (rc == 0) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(epoch, STORE_ADDED_EPOCH_LEN + 1, "%s", t ? (const char *)t : "-");
        *last = sqlite3_column_int64(s, 1);
        *first = sqlite3_column_type(s, 2) == SQLITE_NULL ? *last + 1 : sqlite3_column_int64(s, 2);
    }
    sqlite3_finalize(s);
    return rc;
}

int store_added_since(struct dv_store *st, int64_t seq, store_name_fn fn, void *ud)
{
    if (!store_has_daos(st))
        return store_no_daos();
    sqlite3_stmt *s = store_sq_prep(st->idx, "SELECT DISTINCT name FROM doi_added WHERE seq > ?1",
                                    "DAOS index: added names");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, seq);
    int r = SQLITE_DONE, rc = 0;
    while (rc == 0 && (r = sqlite3_step(s)) == SQLITE_ROW)
        rc = fn(ud, (const char *)sqlite3_column_text(s, 0));
    if (rc == 0 && r != SQLITE_DONE)
        rc = store_sq_fail(st->idx, "DAOS index: added names");
    sqlite3_finalize(s);
    return rc;
}

/*
 * store_maint.c - maintenance of the DAOS index and repository: resync (by stages), prune,
 * listnlo.
 */
#include "store_priv.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dbglob.h"
#include "fsb.h"
#include "util.h"

/* ---- resync ---------------------------------------------------------------------------------- */

/*
 * Resync rebuilds the index in one index transaction, by stages: clear (keeping the zero-ref
 * times), scan the repository into a scratch table, write the objects in name order, count
 * every database's references, apply the counts and report missing NLOs, restore the zero-ref
 * times. Any stage failing rolls the whole transaction back: the index is unchanged.
 */

static const char RESYNC_CLEAR[] =
    "DROP TABLE IF EXISTS temp.old_zero;"
    "CREATE TEMP TABLE old_zero(name TEXT PRIMARY KEY, zero_since INTEGER) WITHOUT ROWID;"
    "INSERT INTO temp.old_zero SELECT name, zero_since FROM doi WHERE zero_since IS NOT NULL;"
    "DELETE FROM doi; DELETE FROM dit; DELETE FROM subdirs;"
    /* a rebuilt index: the log of added names starts again, under a new epoch (unbacked.c) */
    "DELETE FROM doi_added;"
    "INSERT OR REPLACE INTO meta(key, value) VALUES ('unbacked_epoch', lower(hex(randomblob(8))));"
    /* references counted by a batch that a crash left unsettled (store_batch_*): the counts
     * are rebuilt from the databases now, a later settlement would count them twice */
    "DELETE FROM meta WHERE key LIKE 'pending_refs:%';";

/*
 * Objects and references are gathered in memory as 40-byte keys (the name's SHA-256 and size,
 * hex to bytes: byte order is the names' order) and sorted there, in runs of at most
 * RESYNC_RUN entries, then written to the DOI in name order: one B-tree descent per row on
 * pages just visited. (Scratch tables in SQLite cost an insert per row, a sort, and a join
 * UPDATE: 60% of a resync at 1,000,000 NLOs.) Memory: 48 bytes an entry, at most
 * RESYNC_RUN of them (192 MiB); a larger repository is done in several runs, each in name
 * order.
 */
#define RESYNC_KEY 40
#define RESYNC_RUN (4u << 20)

struct rs_ent {
    unsigned char key[RESYNC_KEY];
    uint32_t a; /* an object: its subdirectory; a reference: its database's number */
    uint32_t k; /* a reference: how many times the database names it */
};

struct rs_run {
    struct rs_ent *v;
    size_t n, cap;
};

static int hexv(int c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* A valid NLO name (store_nlo_name_valid) to its key. */
static void rs_key(const char *name, unsigned char key[RESYNC_KEY])
{
    for (int i = 0; i < RESYNC_KEY; i++)
        key[i] = (unsigned char)(hexv(name[2 * i]) << 4 | hexv(name[2 * i + 1]));
}

static void rs_name(const unsigned char key[RESYNC_KEY], char name[STORE_NLO_NAME_LEN + 1])
{
    static const char d[] = "0123456789abcdef";
    for (int i = 0; i < RESYNC_KEY; i++) {
        name[2 * i] = d[key[i] >> 4];
        name[2 * i + 1] = d[key[i] & 15];
    }
    memcpy(name + 80, ".nlo", 5);
}

static uint64_t rs_size(const unsigned char key[RESYNC_KEY])
{
    uint64_t v = 0;
    for (int i = 32; i < RESYNC_KEY; i++)
        v = v << 8 | key[i];
    return v;
}

static int rs_cmp(const void *a, const void *b)
{
    const struct rs_ent *x = a, *y = b;
    int d = memcmp(x->key, y->key, RESYNC_KEY);
    return d ? d : (x->a > y->a) - (x->a < y->a);
}

static void rs_add(struct rs_run *r, const char *name, uint32_t a, uint32_t k)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 65536;
        r->v = dv_realloc(r->v, r->cap * sizeof *r->v);
    }
    struct rs_ent *e = &r->v[r->n++];
    rs_key(name, e->key);
    e->a = a;
    e->k = k;
}

static int resync_cancelled(void)
{
    dv_seterr("resync cancelled (index unchanged)");
    return -1;
}

/* A run of objects into the DOI in name order; the lowest subdirectory of a duplicate wins
 * (also across runs: the first inserted), the others are warned about and taken off the
 * counts. */
static int resync_objects_flush(struct dv_store *st, struct rs_run *r, sqlite3_stmt *ins,
                                struct dv_job *job, struct store_resync_counts *c)
{
    if (r->n) /* qsort(NULL, 0, ...) is undefined */
        qsort(r->v, r->n, sizeof *r->v, rs_cmp);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->n; i++) {
        char name[STORE_NLO_NAME_LEN + 1];
        rs_name(r->v[i].key, name);
        bool dup = i > 0 && memcmp(r->v[i].key, r->v[i - 1].key, RESYNC_KEY) == 0;
        if (!dup) {
            sqlite3_bind_text(ins, 1, name, STORE_NLO_NAME_LEN, SQLITE_TRANSIENT);
            sqlite3_bind_int(ins, 2, (int)r->v[i].a);
            sqlite3_bind_int64(ins, 3, (sqlite3_int64)rs_size(r->v[i].key));
            if (sqlite3_step(ins) != SQLITE_DONE)
                rc = store_sq_fail(st->idx, "resync: objects");
            sqlite3_reset(ins);
            dup = rc == 0 && sqlite3_changes(st->idx) == 0; /* an earlier run had it */
        }
        if (rc == 0 && dup) {
            c->duplicates++;
            c->objects--;
            c->bytes -= rs_size(r->v[i].key);
            job_log(job, DV_WARN, "NLO %s is in two subdirectories; %04u/%s ignored", name,
                    r->v[i].a, name);
        }
    }
    r->n = 0;
    return rc;
}

/* One subdirectory's NLO files into the run (flushed when full); *files gets how many. */
static int resync_scan_dir(struct dv_store *st, int dir, struct rs_run *r, sqlite3_stmt *ins,
                           struct dv_job *job, struct store_resync_counts *c, int64_t *files)
{
    char sub[16];
    snprintf(sub, sizeof sub, "%04d", dir);
    /* beneath the DAOS directory: a subdirectory that is a link is refused, not indexed */
    DIR *d = fsb_opendir(st->daos, sub);
    if (!d) {
        dv_preferr("resync");
        return -1;
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || !store_nlo_name_valid(e->d_name))
            continue;
        (*files)++;
        rs_add(r, e->d_name, (uint32_t)dir, 0);
        c->objects++; /* duplicates are taken off by resync_objects_flush */
        c->bytes += store_name_size(e->d_name);
        job_advance(job, 1, 0, NULL);
        if (r->n >= RESYNC_RUN && (rc = resync_objects_flush(st, r, ins, job, c)) != 0)
            break;
        if ((c->objects & 0x3ff) == 0 && job_cancelled(job)) {
            rc = resync_cancelled();
            break;
        }
    }
    closedir(d);
    return rc;
}

/* Stage: every subdirectory's NLO files into the DOI (refcount 0), and the subdirectory
 * counts. */
static int resync_scan_repo(struct dv_store *st, const int *dirs, size_t ndirs, struct dv_job *job,
                            struct store_resync_counts *c)
{
    sqlite3_stmt *ins = store_sq_prep(st->idx,
                                      "INSERT OR IGNORE INTO doi(name, subdir, size, refcount)"
                                      " VALUES (?1, ?2, ?3, 0)",
                                      "resync");
    sqlite3_stmt *cnt =
        store_sq_prep(st->idx, "INSERT INTO subdirs(subdir, count) VALUES (?1, ?2)", "resync");
    struct rs_run r = {0};
    int rc = ins && cnt ? 0 : -1;
    job_phase(job, "repository", 0, 0);
    for (size_t k = 0; rc == 0 && k < ndirs; k++) {
        int64_t files = 0;
        if ((rc = resync_scan_dir(st, dirs[k], &r, ins, job, c, &files)) != 0)
            break;
        sqlite3_bind_int(cnt, 1, dirs[k]);
        sqlite3_bind_int64(cnt, 2, files);
        if (sqlite3_step(cnt) != SQLITE_DONE)
            rc = store_sq_fail(st->idx, "resync: subdirectory count");
        sqlite3_reset(cnt);
    }
    if (rc == 0)
        rc = resync_objects_flush(st, &r, ins, job, c);
    free(r.v);
    sqlite3_finalize(ins);
    sqlite3_finalize(cnt);
    if (rc == 0)
        job_flush(job);
    return rc;
}

/* What the references found missing: (database number, name), the first RESYNC_MISSING_KEPT
 * in (database, name) order are warned about, the rest counted. */
#define RESYNC_MISSING_KEPT 20
struct rs_missing {
    uint32_t db;
    char *name;
};
struct rs_ctx {
    struct rs_run refs;
    sqlite3_stmt *upd;
    struct rs_missing kept[RESYNC_MISSING_KEPT + 1];
    size_t nkept;
};

static int rs_missing_cmp(const struct rs_missing *x, const struct rs_missing *y)
{
    return x->db != y->db ? (x->db < y->db ? -1 : 1) : strcmp(x->name, y->name);
}

/* Keep (db, name) if it is among the first RESYNC_MISSING_KEPT in order. */
static void rs_missing_add(struct rs_ctx *x, struct store_resync_counts *c, uint32_t db,
                           const char *name)
{
    c->missing++;
    struct rs_missing m = {db, (char *)name};
    if (x->nkept == RESYNC_MISSING_KEPT && rs_missing_cmp(&m, &x->kept[x->nkept - 1]) >= 0)
        return;
    size_t i = x->nkept;
    while (i > 0 && rs_missing_cmp(&m, &x->kept[i - 1]) < 0) {
        x->kept[i] = x->kept[i - 1];
        i--;
    }
    x->kept[i].db = db;
    x->kept[i].name = dv_asprintf("%.256s", name);
    if (x->nkept < RESYNC_MISSING_KEPT)
        x->nkept++;
    else
        free(x->kept[RESYNC_MISSING_KEPT].name);
}

/* A run of references: sorted, summed per name, added to the DOI's counts in name order; a
 * name no object answers is missing. */
static int resync_refs_flush(struct dv_store *st, struct rs_ctx *x, struct store_resync_counts *c)
{
    struct rs_run *r = &x->refs;
    if (r->n) /* qsort(NULL, 0, ...) is undefined */
        qsort(r->v, r->n, sizeof *r->v, rs_cmp);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < r->n;) {
        size_t j = i;
        int64_t sum = 0;
        for (; j < r->n && memcmp(r->v[j].key, r->v[i].key, RESYNC_KEY) == 0; j++)
            sum += r->v[j].k;
        char name[STORE_NLO_NAME_LEN + 1];
        rs_name(r->v[i].key, name);
        sqlite3_bind_text(x->upd, 1, name, STORE_NLO_NAME_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(x->upd, 2, sum);
        if (sqlite3_step(x->upd) != SQLITE_DONE)
            rc = store_sq_fail(st->idx, "resync: count references");
        sqlite3_reset(x->upd);
        if (rc == 0 && sqlite3_changes(st->idx) == 0)
            for (size_t m = i; m < j; m++)
                rs_missing_add(x, c, r->v[m].a, name);
        i = j;
    }
    r->n = 0;
    return rc;
}

/* Database number i's references (attachments.nlo, grouped) into the run; *nrefs gets its
 * total. 0, or -1 with dv_err() naming the database. */
static int resync_db_refs(struct dv_store *st, sqlite3 *h, const char *db, size_t i,
                          struct rs_ctx *x, int64_t *nrefs, struct store_resync_counts *c)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(h,
                           "SELECT nlo, count(*) FROM attachments WHERE nlo IS NOT NULL"
                           " GROUP BY nlo",
                           -1, &q, NULL) != SQLITE_OK)
        return store_sq_fail(h, db);
    int qrc;
    while ((qrc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 0);
        int64_t k = sqlite3_column_int64(q, 1);
        *nrefs += k;
        c->references += (uint64_t)k;
        if (!name || !store_nlo_name_valid(name)) { /* no object can answer it */
            if (name)
                rs_missing_add(x, c, (uint32_t)i, name);
            continue;
        }
        rs_add(&x->refs, name, (uint32_t)i, (uint32_t)(k > UINT32_MAX ? UINT32_MAX : k));
        if (x->refs.n >= RESYNC_RUN && resync_refs_flush(st, x, c) != 0) {
            qrc = -1;
            break;
        }
    }
    qrc = qrc == SQLITE_DONE ? 0 : (qrc == -1 ? -1 : store_sq_fail(h, db));
    sqlite3_finalize(q);
    return qrc;
}

/* Database number i (dbs[i], relative to data_dir): its references into the run, its DIT
 * row through dit. */
static int resync_one_db(struct dv_store *st, const char *db, size_t i, struct rs_ctx *x,
                         sqlite3_stmt *dit, struct store_resync_counts *c)
{
    char *abs = dv_path_join(st->cfg->server.data_dir, db);
    sqlite3 *h;
    int orc = store_sq_open(abs, SQLITE_OPEN_READONLY, &h);
    free(abs);
    if (orc != 0) {
        dv_preferr("resync");
        return -1;
    }
    char rep[64] = "", iid[64] = "";
    int64_t nrefs = 0;
    int qrc = 0;
    /* One read transaction per database: a consistent view of it. */
    sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);
    if (store_db_has_table(h, "dbinfo")) {
        store_db_read_info(h, "replica_id", rep, sizeof rep);
        store_db_read_info(h, "dbiid", iid, sizeof iid);
    }
    if (store_db_has_table(h, "attachments"))
        qrc = resync_db_refs(st, h, db, i, x, &nrefs, c);
    sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(h);
    if (qrc != 0) {
        dv_preferr("resync %s", db);
        return -1;
    }
    sqlite3_bind_text(dit, 1, db, -1, SQLITE_STATIC);
    if (rep[0])
        sqlite3_bind_text(dit, 2, rep, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(dit, 2);
    if (iid[0])
        sqlite3_bind_text(dit, 3, iid, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(dit, 3);
    sqlite3_bind_int64(dit, 4, nrefs);
    int rc = sqlite3_step(dit) == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "resync: DIT");
    sqlite3_reset(dit);
    sqlite3_clear_bindings(dit);
    return rc;
}

/* Stage: every database's references counted into the DOI (in name order, by runs), its DIT
 * row; then the references no object answers are reported. */
static int resync_databases(struct dv_store *st, char **dbs, size_t ndbs, struct dv_job *job,
                            struct store_resync_counts *c)
{
    struct rs_ctx x = {0};
    x.upd =
        store_sq_prep(st->idx, "UPDATE doi SET refcount = refcount + ?2 WHERE name = ?1", "resync");
    sqlite3_stmt *dit = store_sq_prep(
        st->idx,
        "INSERT OR REPLACE INTO dit(path, replica_id, dbiid, nrefs) VALUES (?1, ?2, ?3, ?4)",
        "resync");
    int rc = x.upd && dit ? 0 : -1;
    job_phase(job, "databases", ndbs, 0);
    for (size_t i = 0; rc == 0 && i < ndbs; i++) {
        if (job_cancelled(job)) {
            rc = resync_cancelled();
            break;
        }
        if ((rc = resync_one_db(st, dbs[i], i, &x, dit, c)) != 0)
            break;
        c->databases++;
        job_advance(job, 1, 0, dbs[i]);
    }
    if (rc == 0)
        rc = resync_refs_flush(st, &x, c);
    for (size_t k = 0; k < x.nkept; k++) {
        if (rc == 0 && x.kept[k].db < ndbs)
            job_log(job, DV_WARN, "%s references NLO %s, which is not in the repository",
                    dbs[x.kept[k].db], x.kept[k].name);
        free(x.kept[k].name);
    }
    if (rc == 0 && c->missing > RESYNC_MISSING_KEPT)
        job_log(job, DV_WARN, "%llu references to NLOs not in the repository in all",
                (unsigned long long)c->missing);
    free(x.refs.v);
    sqlite3_finalize(x.upd);
    sqlite3_finalize(dit);
    return rc;
}

/* Stage: zero-ref objects keep the zero_since they had, else now. */
static int resync_zero_since(struct dv_store *st, int64_t now)
{
    sqlite3_stmt *z =
        store_sq_prep(st->idx,
                      "UPDATE doi SET zero_since = coalesce((SELECT zero_since FROM"
                      " temp.old_zero o WHERE o.name = doi.name), ?1) WHERE refcount = 0",
                      "resync");
    if (!z)
        return -1;
    sqlite3_bind_int64(z, 1, now);
    int zr = sqlite3_step(z);
    sqlite3_finalize(z);
    if (zr != SQLITE_DONE)
        return store_sq_fail(st->idx, "resync: zero-ref times");
    return store_sq_exec(st->idx, "DROP TABLE temp.old_zero", "resync");
}

int store_resync(struct dv_store *st, struct dv_job *job, struct store_resync_counts *counts)
{
    if (!store_has_daos(st))
        return store_no_daos();
    struct store_resync_counts c = {0};
    int *dirs = NULL;
    size_t ndirs = 0;
    char **dbs = NULL;
    size_t ndbs = 0;
    if (store_list_subdirs(st, &dirs, &ndirs) != 0 || dbglob_list(st->cfg, &dbs, &ndbs) != 0) {
        free(dirs);
        return -1;
    }
    int64_t now = dv_now();
    int rc = -1;
    if (store_idx_begin(st) != 0)
        goto out;
    /* the totals' triggers are off while every row is rewritten (one count at the end) */
    if (store_sq_exec(st->idx, STORE_TOTALS_OFF, "resync: totals") != 0 ||
        store_sq_exec(st->idx, RESYNC_CLEAR, "resync: clear the index") != 0 ||
        resync_scan_repo(st, dirs, ndirs, job, &c) != 0 ||
        resync_databases(st, dbs, ndbs, job, &c) != 0 || resync_zero_since(st, now) != 0 ||
        store_sq_exec(st->idx, STORE_TOTALS_ON, "resync: totals") != 0 ||
        store_idx_set_state(st, false, "") != 0) {
        store_idx_rollback(st);
        goto out;
    }
    if (store_idx_commit(st) != 0) {
        store_idx_rollback(st);
        goto out;
    }
    /* The whole index was rewritten into the WAL: fold it back now (best effort), or every
     * lookup after a resync pays the WAL's page search until the next checkpoint. */
    sqlite3_wal_checkpoint_v2(st->idx, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    rc = store_cfg_write(st);
    job_flush(job);
out:
    free(dirs);
    dbglob_free(dbs);
    if (counts)
        *counts = c;
    return rc;
}

/* ---- prune -------------------------------------------------------------------------------------
 */

struct cand {
    char name[STORE_NLO_NAME_LEN + 1];
    int subdir;
};

int store_prune(struct dv_store *st, long days, store_may_delete_fn may_delete, void *ud,
                struct store_prune_counts *counts, struct dv_job *job)
{
    if (!store_has_daos(st))
        return store_no_daos();
    struct store_prune_counts c = {0};
    if (counts)
        *counts = c;
    if (store_check(st) != 0)
        return -1;
    if (store_needs_resync(st)) {
        struct store_status ss;
        if (store_status(st, &ss) == 0) {
            dv_seterr(
                "DAOS index is NEEDS_RESYNC (%s): prune refused, run dvault resync daos first",
                ss.reason);
            store_status_done(&ss);
        }
        return -1;
    }
    if (days < 0)
        days = st->cfg->server.deferred_deletion_days;
    int64_t cutoff = dv_now() - (int64_t)days * 86400;
    c.not_due = (uint64_t)store_q_int(
        st->idx, "SELECT count(*) FROM doi WHERE refcount = 0 AND zero_since > ?1", cutoff);
    /* Candidates, read without holding a write lock; each is checked again before deletion. */
    struct cand *v = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = store_sq_prep(st->idx,
                                    "SELECT name, subdir FROM doi WHERE refcount = 0 AND"
                                    " zero_since <= ?1 ORDER BY name",
                                    "DAOS index");
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, cutoff);
    while (sqlite3_step(s) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        if (may_delete && !may_delete(ud, name)) {
            c.waiting_backup++;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            v = dv_realloc(v, cap * sizeof *v);
        }
        snprintf(v[n].name, sizeof v[n].name, "%s", name);
        v[n++].subdir = sqlite3_column_int(s, 1);
    }
    sqlite3_finalize(s);
    job_phase(job, "prune", n, 0);
    sqlite3_stmt *chk = store_sq_prep(st->idx,
                                      "SELECT 1 FROM doi WHERE name = ?1 AND refcount = 0 AND"
                                      " zero_since <= ?2",
                                      "DAOS index");
    sqlite3_stmt *del = store_sq_prep(st->idx, "DELETE FROM doi WHERE name = ?1", "DAOS index");
    int rc = chk && del ? 0 : -1;
    /* Batches: the unlink happens under the index write lock, so that a writer cannot take a
     * new reference to an object between the check and the deletion. */
    for (size_t i = 0; rc == 0 && i < n;) {
        if (job_cancelled(job)) {
            dv_seterr("prune cancelled after %llu objects", (unsigned long long)c.deleted);
            rc = -1;
            break;
        }
        if (store_idx_begin(st) != 0) {
            rc = -1;
            break;
        }
        size_t end = i + PRUNE_BATCH < n ? i + PRUNE_BATCH : n;
        for (; rc == 0 && i < end; i++) {
            sqlite3_bind_text(chk, 1, v[i].name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(chk, 2, cutoff);
            bool still = sqlite3_step(chk) == SQLITE_ROW;
            sqlite3_reset(chk);
            if (!still)
                continue;
            /* through its subdirectory opened beneath the DAOS directory without links: a
             * subdirectory replaced by a link is refused, nothing behind it deleted */
            char rel[128];
            snprintf(rel, sizeof rel, "%04d/%s", v[i].subdir, v[i].name);
            if (fsb_unlink(st->daos, rel, true) != 0) {
                dv_preferr("prune: delete");
                rc = -1;
                break;
            }
            sqlite3_bind_text(del, 1, v[i].name, -1, SQLITE_STATIC);
            rc = sqlite3_step(del) == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "prune");
            sqlite3_reset(del);
            if (rc == 0)
                rc = store_idx_free_slot(st, v[i].subdir);
            if (rc == 0) {
                c.deleted++;
                c.bytes += store_name_size(v[i].name);
                job_advance(job, 1, store_name_size(v[i].name), v[i].name);
            }
        }
        if (rc != 0 || store_idx_commit(st) != 0) {
            store_idx_rollback(st); /* files already unlinked in this batch: resync will notice */
            rc = -1;
        }
    }
    sqlite3_finalize(chk);
    sqlite3_finalize(del);
    free(v);
    if (c.deleted && store_cfg_write(st) != 0)
        rc = -1;
    job_flush(job);
    if (counts)
        *counts = c;
    return rc;
}

/* ---- listnlo -----------------------------------------------------------------------------------
 */

int store_listnlo(struct dv_store *st, const char *db_path, bool missing_only, store_name_fn fn,
                  void *ud, uint64_t *nout)
{
    if (nout)
        *nout = 0;
    if (!store_has_daos(st))
        return store_no_daos();
    char *abs =
        db_path[0] == '/' ? dv_strdup(db_path) : dv_path_join(st->cfg->server.data_dir, db_path);
    if (access(abs, R_OK) != 0) {
        dv_syserr("database %s", abs);
        free(abs);
        return -1;
    }
    sqlite3 *h;
    if (store_sq_open(abs, SQLITE_OPEN_READONLY, &h) != 0) {
        free(abs);
        return -1;
    }
    int rc = 0;
    if (!store_db_has_table(h, "attachments")) {
        /* Also tells an unreadable file apart from a database without attachments. */
        if (sqlite3_exec(h, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK)
            rc = store_sq_fail(h, abs);
        sqlite3_close(h);
        free(abs);
        return rc;
    }
    int *dirs = NULL;
    size_t ndirs = 0;
    bool listed = false, sweep = missing_only && store_needs_resync(st);
    sqlite3_stmt *q = NULL;
    if (missing_only &&
        !(q = store_sq_prep(st->idx, "SELECT subdir FROM doi WHERE name = ?1", "DAOS index"))) {
        sqlite3_close(h);
        free(abs);
        return -1;
    }
    /* One read transaction for every lookup: not a lock and a WAL check per name. */
    bool in_tx = missing_only && sqlite3_get_autocommit(st->idx) &&
                 sqlite3_exec(st->idx, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_stmt *s = store_sq_prep(h,
                                    "SELECT DISTINCT nlo FROM attachments WHERE nlo IS NOT NULL"
                                    " ORDER BY nlo",
                                    abs);
    uint64_t count = 0;
    if (!s)
        rc = -1;
    int r = SQLITE_DONE;
    while (s && (r = sqlite3_step(s)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(s, 0);
        if (missing_only && store_nlo_name_valid(name)) {
            int pr = store_nlo_present(st, q, name, &dirs, &ndirs, &listed, sweep);
            if (pr < 0) {
                rc = -1;
                break;
            }
            if (pr)
                continue;
        }
        count++;
        if ((rc = fn(ud, name)) != 0)
            break;
    }
    if (s && rc == 0 && r != SQLITE_DONE && r != SQLITE_ROW)
        rc = store_sq_fail(h, abs);
    sqlite3_finalize(s);
    sqlite3_finalize(q);
    if (in_tx)
        sqlite3_exec(st->idx, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(h);
    free(dirs);
    free(abs);
    if (nout)
        *nout = count;
    return rc;
}

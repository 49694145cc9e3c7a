/*
 * store_recovery.c - recovery support: copying a document between databases, installing
 * NLOs from a backup, checking and repairing live NLO bytes, the read-only listings of
 * documents, attachments and referrers that recover and the console use.
 */
#include "store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbglob.h"
#include "fsb.h"
#include "util.h"

/* ---- doc copy ------------------------------------------------------------------------------ */

struct copied_att {
    char *name, *nlo;
    int64_t size;
    void *data;
    size_t dlen;
};

/* A document read from the source database: notes columns 1..7 (form, subject, sender,
 * created, modified, deleted, body) as text, the times as numbers, its attachments. */
struct copied_doc {
    char *col[8];
    int64_t note, created, modified, deltime;
    bool deleted;
    struct copied_att *a;
    size_t na;
};

static void copied_doc_free(struct copied_doc *d)
{
    for (size_t i = 0; i < d->na; i++) {
        free(d->a[i].name);
        free(d->a[i].nlo);
        free(d->a[i].data);
    }
    free(d->a);
    for (int i = 0; i < 8; i++)
        free(d->col[i]);
}

static int copy_read_note(struct store_db *src, const char *unid, struct copied_doc *d)
{
    sqlite3_stmt *s = store_sq_prep(src->h,
                                    "SELECT note_id, form, subject, sender, created, modified,"
                                    " deleted, body FROM notes WHERE unid = ?1",
                                    src->path);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_finalize(s);
        dv_seterr("%s: no document %s", src->path, unid);
        return -1;
    }
    d->note = sqlite3_column_int64(s, 0);
    for (int i = 1; i < 8; i++)
        if (sqlite3_column_type(s, i) != SQLITE_NULL)
            d->col[i] = dv_strdup((const char *)sqlite3_column_text(s, i));
    d->created = sqlite3_column_int64(s, 4);
    d->modified = sqlite3_column_int64(s, 5);
    d->deleted = sqlite3_column_type(s, 6) != SQLITE_NULL;
    d->deltime = sqlite3_column_int64(s, 6);
    sqlite3_finalize(s);
    return 0;
}

static int copy_read_atts(struct store_db *src, struct copied_doc *d)
{
    sqlite3_stmt *s = store_sq_prep(src->h,
                                    "SELECT name, size, nlo, data FROM attachments"
                                    " WHERE note_id = ?1 ORDER BY att_id",
                                    src->path);
    if (!s)
        return -1;
    size_t cap = 0;
    sqlite3_bind_int64(s, 1, d->note);
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (d->na == cap) {
            cap = cap ? cap * 2 : 8;
            d->a = dv_realloc(d->a, cap * sizeof *d->a);
        }
        struct copied_att *c = &d->a[d->na++];
        memset(c, 0, sizeof *c);
        if (sqlite3_column_type(s, 0) != SQLITE_NULL)
            c->name = dv_strdup((const char *)sqlite3_column_text(s, 0));
        c->size = sqlite3_column_int64(s, 1);
        if (sqlite3_column_type(s, 2) != SQLITE_NULL)
            c->nlo = dv_strdup((const char *)sqlite3_column_text(s, 2));
        else if (sqlite3_column_type(s, 3) != SQLITE_NULL) {
            c->dlen = (size_t)sqlite3_column_bytes(s, 3);
            c->data = dv_malloc(c->dlen ? c->dlen : 1);
            memcpy(c->data, sqlite3_column_blob(s, 3), c->dlen);
        }
    }
    sqlite3_finalize(s);
    return 0;
}

/* Every referenced NLO must be in the repository (found outside any transaction): r[] gets
 * one reference per NLO attachment, *nr their count. */
static int copy_find_nlos(struct dv_store *st, const char *unid, const struct copied_doc *d,
                          struct ref *r, size_t *nr)
{
    for (size_t i = 0; i < d->na; i++) {
        const char *nlo = d->a[i].nlo;
        if (!nlo)
            continue;
        if (!store_has_daos(st)) {
            dv_seterr("document %s has an NLO attachment (%s): %s", unid, nlo, DV_NO_DAOS);
            return -1;
        }
        char *p = store_nlo_path(st, nlo);
        if (!p) {
            dv_seterr("document %s references NLO %s, which is not in the repository"
                      " (recover it first)",
                      unid, nlo);
            return -1;
        }
        char *slash = strrchr(p, '/');
        *slash = '\0';
        r[*nr].subdir = store_subdir_num(strrchr(p, '/') + 1);
        free(p);
        snprintf(r[*nr].name, sizeof r[*nr].name, "%s", nlo);
        (*nr)++;
    }
    return 0;
}

static int copy_check_absent(struct store_db *dst, const char *unid)
{
    sqlite3_stmt *s = store_sq_prep(dst->h, "SELECT 1 FROM notes WHERE unid = ?1", dst->path);
    if (!s)
        return -1;
    int rc = 0;
    sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
    if (sqlite3_step(s) == SQLITE_ROW) {
        dv_seterr("%s already has document %s", dst->path, unid);
        rc = -1;
    }
    sqlite3_finalize(s);
    return rc;
}

/* Inside dst's transaction: the references counted, the note and its attachments inserted. */
static int copy_write(struct store_db *dst, const char *unid, const struct copied_doc *d,
                      struct ref *r, size_t nr)
{
    if (store_refs_acquire(dst, r, nr) != 0)
        return -1;
    const struct store_doc_row row = {.unid = unid,
                                      .form = d->col[1],
                                      .subject = d->col[2],
                                      .sender = d->col[3],
                                      .body = d->col[7],
                                      .created = d->created,
                                      .modified = d->modified,
                                      .deleted = d->deleted,
                                      .deltime = d->deltime};
    int64_t note_id;
    if (store_insert_note(dst, &row, &note_id) != 0)
        return -1;
    int rc = 0;
    sqlite3_stmt *s = store_sq_prep(dst->h,
                                    "INSERT INTO attachments(note_id, name, size, nlo, data)"
                                    " VALUES (?1, ?2, ?3, ?4, ?5)",
                                    dst->path);
    if (!s)
        return -1;
    for (size_t i = 0; rc == 0 && i < d->na; i++)
        rc = store_insert_att(dst, s, note_id, d->a[i].name, d->a[i].size, d->a[i].nlo,
                              d->a[i].data, d->a[i].dlen);
    sqlite3_finalize(s);
    return rc;
}

int store_doc_copy(struct store_db *src, const char *unid, struct store_db *dst)
{
    struct copied_doc d = {0};
    if (copy_read_note(src, unid, &d) != 0)
        return -1;
    int rc = copy_read_atts(src, &d);
    struct ref *r = dv_calloc(d.na ? d.na : 1, sizeof *r);
    size_t nr = 0;
    if (rc == 0)
        rc = copy_find_nlos(dst->st, unid, &d, r, &nr);
    if (rc == 0)
        rc = copy_check_absent(dst, unid);
    bool own = false;
    if (rc == 0 && store_op_begin(dst, &own) == 0)
        rc = store_op_end(dst, own, copy_write(dst, unid, &d, r, nr));
    else
        rc = -1;
    copied_doc_free(&d);
    free(r);
    return rc;
}

/* ---- recovery support ------------------------------------------------------------------------ */

struct store_repo {
    struct dv_store *st;
    sqlite3_stmt *q;
    int *dirs;
    size_t ndirs;
    bool listed, sweep;
};

struct store_repo *store_repo_scan(struct dv_store *st)
{
    if (!store_has_daos(st)) {
        store_no_daos();
        return NULL;
    }
    struct store_repo *r = dv_calloc(1, sizeof *r);
    r->st = st;
    r->sweep = store_needs_resync(st);
    if (!(r->q = store_sq_prep(st->idx, "SELECT subdir FROM doi WHERE name = ?1", "DAOS index"))) {
        free(r);
        return NULL;
    }
    return r;
}

bool store_repo_has(const struct store_repo *r, const char *name)
{
    if (!r || !store_nlo_name_valid(name))
        return false;
    struct store_repo *w = (struct store_repo *)r; /* the lazily listed subdirectories */
    return store_nlo_present(w->st, w->q, name, &w->dirs, &w->ndirs, &w->listed, w->sweep) == 1;
}

void store_repo_free(struct store_repo *r)
{
    if (!r)
        return;
    sqlite3_finalize(r->q);
    free(r->dirs);
    free(r);
}

static int subdir_of_path(const char *p)
{
    const char *slash = strrchr(p, '/');
    if (!slash || slash - p < 5)
        return 0;
    char d[5];
    memcpy(d, slash - 4, 4);
    d[4] = '\0';
    return store_subdir_num(d);
}

/* refs[i] = attachment rows referencing names[i] across the glob databases (one pass). */
static int count_refs_many(struct dv_store *st, const char *const *names, size_t n, int64_t *refs)
{
    char **dbs;
    size_t ndbs;
    if (dbglob_list(st->cfg, &dbs, &ndbs) != 0)
        return -1;
    memset(refs, 0, n * sizeof *refs);
    for (size_t i = 0; i < ndbs; i++) {
        char *abs = dv_path_join(st->cfg->server.data_dir, dbs[i]);
        sqlite3 *h;
        if (store_sq_open(abs, SQLITE_OPEN_READONLY, &h) == 0) {
            sqlite3_stmt *s = NULL;
            if (store_db_has_table(h, "attachments") &&
                sqlite3_prepare_v2(h, "SELECT count(*) FROM attachments WHERE nlo = ?1", -1, &s,
                                   NULL) == SQLITE_OK) {
                sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);
                for (size_t k = 0; k < n; k++) {
                    sqlite3_bind_text(s, 1, names[k], -1, SQLITE_STATIC);
                    if (sqlite3_step(s) == SQLITE_ROW)
                        refs[k] += sqlite3_column_int64(s, 0);
                    sqlite3_reset(s);
                }
                sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
            }
            sqlite3_finalize(s);
            sqlite3_close(h);
        }
        free(abs);
    }
    dbglob_free(dbs);
    return 0;
}

static void inst_fail(struct store_install *e, const char *msg)
{
    e->status = STORE_INSTALL_FAILED;
    free(e->err);
    e->err = dv_strdup(msg);
}

void store_install_done(struct store_install *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].err);
        v[i].err = NULL;
    }
}

/* Stage 0: refuse bad names, mark those the repository has PRESENT; todo[] gets the indexes
 * of the others, *nt their count. */
static int inst_sort(struct dv_store *st, struct store_install *v, size_t n, size_t *todo,
                     size_t *nt)
{
    struct store_repo *repo = store_repo_scan(st);
    if (!repo)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!store_nlo_name_valid(v[i].name)) {
            char m[160];
            snprintf(m, sizeof m, "'%.100s' is not an NLO name", v[i].name);
            inst_fail(&v[i], m);
        } else if (store_repo_has(repo, v[i].name)) {
            v[i].status = STORE_INSTALL_PRESENT;
            free(v[i].err);
            v[i].err = NULL;
            char *p = store_nlo_path(st, v[i].name);
            v[i].subdir = p ? subdir_of_path(p) : 0;
            free(p);
        } else {
            todo[(*nt)++] = i;
        }
    }
    store_repo_free(repo);
    return 0;
}

/* Stage 1: slots for all of them in one index transaction (none taken on failure). */
static int inst_take_slots(struct dv_store *st, struct store_install *v, const size_t *todo,
                           size_t nt)
{
    int rc = store_idx_begin(st);
    for (size_t k = 0; rc == 0 && k < nt; k++)
        rc = store_idx_take_slot(st, &v[todo[k]].subdir);
    if (rc == 0 && store_idx_commit(st) != 0)
        rc = -1;
    if (rc != 0) {
        store_idx_rollback(st);
        for (size_t k = 0; k < nt; k++)
            v[todo[k]].subdir = 0;
    }
    return rc;
}

/*
 * Stage 2 (issue 16: durable per batch, not per file). Each NLO of a batch is copied into a
 * hidden temporary beside its slot (O_EXCL, beneath the DAOS directory without links) and read
 * back and verified there (one that does not read back is removed: nothing is ever visible
 * under its name); then one syncfs makes the batch's bytes durable, each is renamed to its
 * name (never replacing one), and each subdirectory the batch touched is fsynced once. The
 * index records them afterwards (stage 3): an NLO it lists is durable. A crash leaves hidden
 * temporaries at worst, never a partial NLO under its name.
 */
#define INST_BATCH 256 /* temporaries open at once (each holds its directory's descriptor) */

struct staged {
    struct fsb_tmp t;
    size_t i; /* index in v */
    uint64_t size;
};

/* One NLO into its temporary, read back and verified. 0, or -1 with dv_err() (nothing left). */
static int inst_stage(struct dv_store *st, const struct store_install *e, struct staged *g)
{
    /* beneath the caller's root (a pool object: no link), or a path opened O_NONBLOCK;
     * a regular file either way (no FIFO is waited on) */
    int fd = e->src_root ? fsb_openat(e->src_root, e->src_path, O_RDONLY, 0)
                         : dv_open_regular(e->src_path, O_RDONLY);
    struct stat sb;
    if (fd < 0) {
        dv_preferr("NLO source");
        return -1;
    }
    if (fstat(fd, &sb) != 0) {
        dv_syserr("NLO source %s", e->src_path);
        close(fd);
        return -1;
    }
    char sub[16], rel[128];
    snprintf(sub, sizeof sub, "%04d", e->subdir);
    snprintf(rel, sizeof rel, "%04d/%s", e->subdir, e->name);
    char *tmpbase = dv_asprintf(".%.16s.%ld.%u.tmp", e->name, (long)getpid(), store_tmp_seq());
    int rc = -1;
    if (fsb_mkdir(st->daos, sub, 0750, true) != 0 ||
        fsb_tmp_open(st->daos, rel, tmpbase, 0640, 0, &g->t) != 0)
        goto out;
    int64_t n = dv_copy_range(fd, 0, g->t.fd, 0, (uint64_t)sb.st_size);
    if (n != (int64_t)sb.st_size) {
        if (n >= 0)
            dv_seterr("copy into %s: source shorter than expected", g->t.path);
        else
            dv_syserr("copy into %s", g->t.path);
        goto out;
    }
    char *tpath = dv_asprintf("%s/%s/%s", st->cfg->server.daos_dir, sub, g->t.name);
    unsigned char *plain = NULL;
    size_t plen;
    rc = store_nlo_read_path(st, e->name, tpath, &plain, &plen);
    if (rc != 0) { /* named by the NLO's own path (where it would have been), not the temporary */
        char *final = store_nlo_file(st, e->subdir, e->name), msg[DV_ERR_MAX];
        const char *err = dv_err(), *at = strstr(err, tpath);
        if (at)
            snprintf(msg, sizeof msg, "%.*s%s%s", (int)(at - err), err, final, at + strlen(tpath));
        else
            snprintf(msg, sizeof msg, "%s", err);
        dv_seterr("the copy does not read back: %s", msg);
        free(final);
    }
    close(g->t.fd); /* checked: only its name is needed now (fewer descriptors per batch) */
    g->t.fd = -1;
    free(plain);
    free(tpath);
    g->size = (uint64_t)sb.st_size;
out:
    close(fd);
    free(tmpbase);
    return rc;
}

/* The batch made durable and renamed into place (see above); a name already there counts as
 * installed (the same bytes: an NLO's name is its content). ok[k]: staged k is in place. */
static void inst_commit(struct dv_store *st, struct store_install *v, struct staged *g, size_t n,
                        bool *ok)
{
    int fail = 0;
    if (n && syncfs(fsb_dirfd(st->daos)) != 0) {
        dv_syserr("syncfs %s", fsb_path(st->daos));
        fail = 1;
    }
    dv_crashpoint("store-nlo-before-rename");
    int *dirs = dv_calloc(n ? n : 1, sizeof *dirs);
    size_t nd = 0;
    for (size_t k = 0; k < n; k++) {
        ok[k] = false;
        if (fail) {
            inst_fail(&v[g[k].i], dv_err());
            continue;
        }
        if (fsb_tmp_commit(&g[k].t, FSB_NOSYNC | FSB_NOREPLACE) == 0 || errno == EEXIST)
            ok[k] = true;
        else if ((errno == EINVAL || errno == ENOSYS) && /* no RENAME_NOREPLACE here */
                 (linkat(g[k].t.dfd, g[k].t.name, g[k].t.dfd, g[k].t.base, 0) == 0 ||
                  errno == EEXIST))
            ok[k] = true;
        else
            inst_fail(&v[g[k].i], dv_err());
        size_t d = 0;
        while (d < nd && dirs[d] != v[g[k].i].subdir)
            d++;
        if (ok[k] && d == nd)
            dirs[nd++] = v[g[k].i].subdir;
    }
    for (size_t d = 0; d < nd; d++) { /* once per subdirectory the batch renamed into */
        char sub[16];
        snprintf(sub, sizeof sub, "%04d", dirs[d]);
        if (fsb_fsync_dir(st->daos, sub) != 0)
            for (size_t k = 0; k < n; k++)
                if (ok[k] && v[g[k].i].subdir == dirs[d]) {
                    ok[k] = false;
                    inst_fail(&v[g[k].i], dv_err());
                }
    }
    free(dirs);
}

/* Stage 3: one refcount pass for the nok installed ones (v[done[k]]), then index them and
 * free the failed entries' slots, in one index transaction. */
static int inst_index(struct dv_store *st, struct store_install *v, size_t n, const size_t *done,
                      size_t nok)
{
    const char **names = dv_calloc(nok ? nok : 1, sizeof *names);
    int64_t *refs = dv_calloc(nok ? nok : 1, sizeof *refs);
    for (size_t k = 0; k < nok; k++)
        names[k] = v[done[k]].name;
    int rc = 0;
    if (nok && count_refs_many(st, names, nok, refs) != 0)
        rc = -1;
    if (rc == 0 && store_idx_begin(st) != 0)
        rc = -1;
    sqlite3_stmt *s = rc == 0 ? store_sq_prep(st->idx,
                                              "INSERT OR REPLACE INTO doi(name, subdir, size,"
                                              " refcount, zero_since) VALUES (?1, ?2, ?3, ?4, ?5)",
                                              "DAOS index: install")
                              : NULL;
    if (rc == 0 && !s)
        rc = -1;
    int64_t now = dv_now();
    for (size_t k = 0; rc == 0 && k < nok; k++) {
        const struct store_install *e = &v[done[k]];
        sqlite3_bind_text(s, 1, e->name, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 2, e->subdir);
        sqlite3_bind_int64(s, 3, (sqlite3_int64)store_name_size(e->name));
        sqlite3_bind_int64(s, 4, refs[k]);
        if (refs[k] == 0)
            sqlite3_bind_int64(s, 5, now);
        else
            sqlite3_bind_null(s, 5);
        rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(st->idx, "DAOS index: install");
        sqlite3_reset(s);
    }
    sqlite3_finalize(s);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (v[i].status == STORE_INSTALL_FAILED && v[i].subdir > 0)
            rc = store_idx_free_slot(st, v[i].subdir);
    if (rc == 0 && store_idx_commit(st) != 0)
        rc = -1;
    if (rc != 0)
        store_idx_rollback(st);
    free(names);
    free(refs);
    return rc;
}

int store_nlo_install_many(struct dv_store *st, struct store_install *v, size_t n,
                           struct dv_job *job)
{
    for (size_t i = 0; i < n; i++) {
        v[i].status = STORE_INSTALL_FAILED;
        v[i].subdir = 0;
        free(v[i].err);
        v[i].err = NULL; /* "not processed" */
    }
    if (!store_has_daos(st))
        return store_no_daos();
    if (n == 0)
        return 0;
    size_t *todo = dv_calloc(n, sizeof *todo);
    size_t nt = 0;
    if (inst_sort(st, v, n, todo, &nt) != 0 || (nt && inst_take_slots(st, v, todo, nt) != 0)) {
        free(todo);
        return -1;
    }
    job_phase(job, "install NLOs", nt, 0);
    size_t nok = 0;
    struct staged *g = dv_calloc(INST_BATCH, sizeof *g);
    bool ok[INST_BATCH];
    for (size_t k0 = 0; k0 < nt; k0 += INST_BATCH) {
        size_t ng = 0, end = k0 + INST_BATCH < nt ? k0 + INST_BATCH : nt;
        for (size_t k = k0; k < end; k++) {
            struct store_install *e = &v[todo[k]];
            if (job_cancelled(job)) {
                inst_fail(e, "cancelled");
                continue;
            }
            memset(&g[ng], 0, sizeof g[ng]);
            g[ng].i = todo[k];
            if (inst_stage(st, e, &g[ng]) != 0) {
                inst_fail(e, dv_err());
                fsb_tmp_done(&g[ng].t);
                continue;
            }
            ng++;
        }
        inst_commit(st, v, g, ng, ok);
        for (size_t k = 0; k < ng; k++) {
            fsb_tmp_done(&g[k].t); /* a temporary not renamed is removed */
            struct store_install *e = &v[g[k].i];
            if (!ok[k])
                continue;
            e->status = STORE_INSTALL_NEW;
            free(e->err);
            e->err = NULL;
            todo[nok++] = g[k].i; /* nok <= k0 + k: todo[k0..] is not read again */
            job_advance(job, 1, g[k].size, e->name);
        }
    }
    free(g);
    int rc = inst_index(st, v, n, todo, nok);
    free(todo);
    if (rc == 0 && nt && store_cfg_write(st) != 0)
        rc = -1;
    const char *first_err = NULL;
    for (size_t i = 0; rc == 0 && !first_err && i < n; i++)
        if (v[i].status == STORE_INSTALL_FAILED)
            first_err = v[i].err ? v[i].err : "not processed";
    if (rc == 0 && first_err) {
        dv_seterr("%s", first_err);
        rc = -1;
    }
    return rc;
}

/* ---- the stored bytes of live NLOs: recover's repair, listnlo damaged ---------------------- */

struct store_live {
    struct dv_store *st;
    struct fsb *daos; /* the DAOS directory: nothing beneath it is followed */
    sqlite3_stmt *q;
    int *dirs;
    size_t ndirs;
    bool listed, sweep;
};

struct store_live *store_live_open(struct dv_store *st)
{
    if (!store_has_daos(st)) {
        store_no_daos();
        return NULL;
    }
    struct store_live *l = dv_calloc(1, sizeof *l);
    l->st = st;
    l->sweep = store_needs_resync(st);
    if (!(l->daos = fsb_open(st->cfg->server.daos_dir)) ||
        !(l->q = store_sq_prep(st->idx, "SELECT subdir FROM doi WHERE name = ?1", "DAOS index"))) {
        store_live_close(l);
        return NULL;
    }
    return l;
}

void store_live_close(struct store_live *l)
{
    if (!l)
        return;
    fsb_close(l->daos);
    sqlite3_finalize(l->q);
    free(l->dirs);
    free(l);
}

static const char *mode_what(mode_t m)
{
    return S_ISREG(m) ? "a regular file" : fsb_kind(m);
}

/* lstat of subdir/name beneath the DAOS directory: 1 found (*sb), 0 not there, -1 error. */
static int live_lstat(struct store_live *l, int subdir, const char *name, struct stat *sb)
{
    char rel[128];
    snprintf(rel, sizeof rel, "%04d/%s", subdir, name);
    if (fsb_lstat(l->daos, rel, sb) == 0)
        return 1;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

int store_live_nlo(struct store_live *l, const char *name, bool hash, struct store_live_nlo *out)
{
    memset(out, 0, sizeof out[0]);
    if (!store_nlo_name_valid(name)) {
        dv_seterr("'%.100s' is not an NLO name", name);
        return -1;
    }
    /* where: the subdirectory the index names; every one when the index is NEEDS_RESYNC (as
       store_repo_has, but a link is found as itself, never followed) */
    int first = -1, found = 0;
    struct stat sb;
    sqlite3_bind_text(l->q, 1, name, -1, SQLITE_STATIC);
    if (sqlite3_step(l->q) == SQLITE_ROW)
        first = sqlite3_column_int(l->q, 0);
    sqlite3_reset(l->q);
    if (first > 0 && (found = live_lstat(l, first, name, &sb)) < 0)
        return -1;
    if (found)
        out->subdir = first;
    if (!found && l->sweep) {
        if (!l->listed) {
            if (store_list_subdirs(l->st, &l->dirs, &l->ndirs) != 0)
                return -1;
            l->listed = true;
        }
        for (size_t k = 0; !found && k < l->ndirs; k++) {
            if (l->dirs[k] == first)
                continue;
            if ((found = live_lstat(l, l->dirs[k], name, &sb)) < 0)
                return -1;
            if (found)
                out->subdir = l->dirs[k];
        }
    }
    if (!found) {
        out->kind = STORE_LIVE_MISSING;
        return 0;
    }
    if (!S_ISREG(sb.st_mode)) {
        out->kind = S_ISLNK(sb.st_mode) ? STORE_LIVE_LINK : STORE_LIVE_OTHER;
        snprintf(out->what, sizeof out->what, "%s", mode_what(sb.st_mode));
        return 0;
    }
    out->kind = STORE_LIVE_FILE;
    out->size = (int64_t)sb.st_size;
    if (!hash)
        return 0;
    char rel[128];
    snprintf(rel, sizeof rel, "%04d/%s", out->subdir, name);
    int fd = fsb_openat(l->daos, rel, O_RDONLY, 0);
    if (fd < 0)
        return -1;
    char *abs = dv_asprintf("%s/%s", fsb_path(l->daos), rel);
    int rc = dv_sha256_fd_hex(fd, abs, out->sha256);
    free(abs);
    close(fd);
    return rc;
}

int store_live_replace(struct store_live *l, const char *name, int subdir, int src_fd,
                       const char *want_sha256)
{
    char sub[8], rel[128], tmp[128];
    snprintf(sub, sizeof sub, "%04d", subdir);
    snprintf(rel, sizeof rel, "%s/%s", sub, name);
    /* hidden, never ending in .nlo: the server and the NLO pass skip it */
    snprintf(tmp, sizeof tmp, "%s/.%.16s.%ld.%u.repair.tmp", sub, name, (long)getpid(),
             store_tmp_seq());
    char *tmp_abs = dv_asprintf("%s/%s", fsb_path(l->daos), tmp);
    unsigned char *b = NULL, *plain = NULL;
    size_t plen;
    int rc = -1;
    struct stat sb;
    int fd = -1;
    if (fstat(src_fd, &sb) != 0) {
        dv_syserr("the pool copy of %s", name);
        goto out;
    }
    if ((fd = fsb_openat(l->daos, tmp, O_RDWR | O_CREAT | O_EXCL, 0640)) < 0)
        goto out;
    int64_t n = dv_copy_range(src_fd, 0, fd, 0, (uint64_t)sb.st_size);
    if (n < 0 || n != (int64_t)sb.st_size) {
        if (n >= 0)
            dv_seterr("copy into %s: the pool copy is shorter than expected", tmp_abs);
        else
            dv_syserr("copy into %s", tmp_abs);
        goto fail;
    }
    if (fsync(fd) != 0) {
        dv_syserr("fsync %s", tmp_abs);
        goto fail;
    }
    /* exactly the bytes the backup recorded, and a readable NLO of this name (decrypted and
       authenticated, content matches the name): checked on the copy that will be renamed */
    char sha[65];
    if (dv_sha256_fd_hex(fd, tmp_abs, sha) != 0)
        goto fail;
    if (strcmp(sha, want_sha256) != 0) {
        dv_seterr("%s: SHA-256 %s, the catalog recorded %s", tmp_abs, sha, want_sha256);
        goto fail;
    }
    b = dv_malloc((size_t)sb.st_size + 1);
    if (dv_pread_full(fd, b, (size_t)sb.st_size, 0) != (ssize_t)sb.st_size) {
        dv_syserr("read back %s", tmp_abs);
        goto fail;
    }
    if (store_nlo_decode(l->st, name, tmp_abs, b, (size_t)sb.st_size, &plain, &plen) != 0) {
        dv_preferr("the pool copy does not read back");
        goto fail;
    }
    close(fd);
    fd = -1;
    /* the damaged name must still be there: a name the server deleted meanwhile is not
       brought back */
    struct stat cur;
    if (live_lstat(l, subdir, name, &cur) != 1) {
        dv_seterr("%s/%s vanished while it was repaired: left alone", fsb_path(l->daos), rel);
        goto fail;
    }
    dv_crashpoint("recover.repair.before_rename");
    /* rename over the damaged file (a link or special file is replaced as itself) */
    if (fsb_rename(l->daos, tmp, rel, false) != 0 || fsb_fsync_dir(l->daos, sub) != 0)
        goto fail;
    rc = 0;
    goto out;
fail:
    if (fd >= 0)
        close(fd);
    fd = -1;
    fsb_unlink(l->daos, tmp, true);
out:
    if (fd >= 0)
        close(fd);
    free(plain);
    free(b);
    free(tmp_abs);
    return rc;
}

static char *db_abs(const struct dv_store *st, const char *db_path)
{
    return db_path[0] == '/' ? dv_strdup(db_path) : dv_path_join(st->cfg->server.data_dir, db_path);
}

/* Open a database read-only for listing; 1 = has notes/attachments tables, 0 = not a
 * document database (h closed), -1 error. */
static int doc_db_open(struct dv_store *st, const char *db_path, sqlite3 **h, char **abs)
{
    *abs = db_abs(st, db_path);
    if (access(*abs, R_OK) != 0) {
        dv_syserr("database %s", *abs);
        free(*abs);
        *abs = NULL;
        return -1;
    }
    if (store_sq_open(*abs, SQLITE_OPEN_READONLY, h) != 0) {
        free(*abs);
        *abs = NULL;
        return -1;
    }
    if (!store_db_has_table(*h, "notes") || !store_db_has_table(*h, "attachments")) {
        int rc = 0;
        if (sqlite3_exec(*h, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL) != SQLITE_OK)
            rc = store_sq_fail(*h, *abs);
        sqlite3_close(*h);
        *h = NULL;
        free(*abs);
        *abs = NULL;
        return rc;
    }
    return 1;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const char *t = (const char *)sqlite3_column_text(s, i);
    return t ? t : "";
}

int store_docs(struct dv_store *st, const char *db_path, const struct store_doc_filter *f,
               store_doc_fn fn, void *ud, uint64_t *nout)
{
    if (nout)
        *nout = 0;
    sqlite3 *h;
    char *abs;
    int o = doc_db_open(st, db_path, &h, &abs);
    if (o <= 0)
        return o;
    struct store_doc_filter none = {0};
    if (!f)
        f = &none;
    char *like = NULL;
    if (f->search && f->search[0]) {
        /* LIKE is case-insensitive for ASCII; escape its wildcards */
        size_t n = strlen(f->search);
        like = dv_malloc(2 * n + 3);
        char *p = like;
        *p++ = '%';
        for (const char *c = f->search; *c; c++) {
            if (*c == '%' || *c == '_' || *c == '\\')
                *p++ = '\\';
            *p++ = *c;
        }
        *p++ = '%';
        *p = '\0';
    }
    sqlite3_stmt *s = store_sq_prep(
        h,
        "SELECT n.unid, n.form, n.subject, n.sender, n.created, n.modified, n.deleted,"
        " (SELECT count(*) FROM attachments a WHERE a.note_id = n.note_id),"
        " (SELECT count(*) FROM attachments a WHERE a.note_id = n.note_id AND a.nlo IS NOT NULL)"
        " FROM notes n WHERE (?1 IS NULL OR n.subject LIKE ?1 ESCAPE '\\' OR n.sender LIKE ?1"
        " ESCAPE '\\' OR n.body LIKE ?1 ESCAPE '\\') AND (?2 IS NULL OR n.unid = ?2)"
        " AND (?3 IS NULL OR EXISTS (SELECT 1 FROM attachments a WHERE a.note_id = n.note_id"
        " AND a.nlo = ?3)) ORDER BY n.created, n.unid",
        abs);
    int rc = 0;
    uint64_t count = 0;
    if (!s) {
        rc = -1;
    } else {
        if (like)
            sqlite3_bind_text(s, 1, like, -1, SQLITE_STATIC);
        if (f->unid)
            sqlite3_bind_text(s, 2, f->unid, -1, SQLITE_STATIC);
        if (f->nlo)
            sqlite3_bind_text(s, 3, f->nlo, -1, SQLITE_STATIC);
        int r;
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            struct store_doc_info d = {.unid = col_text(s, 0),
                                       .form = col_text(s, 1),
                                       .subject = col_text(s, 2),
                                       .sender = col_text(s, 3),
                                       .created = sqlite3_column_int64(s, 4),
                                       .modified = sqlite3_column_int64(s, 5),
                                       .deleted = sqlite3_column_int64(s, 6),
                                       .natt = sqlite3_column_int(s, 7),
                                       .nnlo = sqlite3_column_int(s, 8)};
            count++;
            if ((rc = fn(ud, &d)) != 0)
                break;
        }
        if (rc == 0 && r != SQLITE_DONE)
            rc = store_sq_fail(h, abs);
    }
    sqlite3_finalize(s);
    sqlite3_close(h);
    free(like);
    free(abs);
    if (nout)
        *nout = count;
    return rc;
}

/*
 * Open the document database db_path read-only and find the note_id of unid. 0 with *h, *abs
 * (the caller closes and frees them) and *note; -1 with dv_err() ("no document ...") and
 * nothing left open.
 */
static int doc_open_note(struct dv_store *st, const char *db_path, const char *unid, sqlite3 **h,
                         char **abs, int64_t *note)
{
    int o = doc_db_open(st, db_path, h, abs);
    if (o < 0)
        return -1;
    if (o == 0) {
        dv_seterr("%s: no document %s (not a document database)", db_path, unid);
        return -1;
    }
    int rc = -1;
    sqlite3_stmt *s = store_sq_prep(*h, "SELECT note_id FROM notes WHERE unid = ?1", *abs);
    if (s) {
        sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) {
            *note = sqlite3_column_int64(s, 0);
            rc = 0;
        } else {
            dv_seterr("%s: no document %s", *abs, unid);
        }
        sqlite3_finalize(s);
    }
    if (rc != 0) {
        sqlite3_close(*h);
        free(*abs);
    }
    return rc;
}

int store_doc_nlos(struct dv_store *st, const char *db_path, const char *unid, store_name_fn fn,
                   void *ud)
{
    sqlite3 *h;
    char *abs;
    int64_t note;
    if (doc_open_note(st, db_path, unid, &h, &abs, &note) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s = store_sq_prep(h,
                                    "SELECT DISTINCT nlo FROM attachments WHERE note_id = ?1"
                                    " AND nlo IS NOT NULL ORDER BY nlo",
                                    abs);
    if (s) {
        sqlite3_bind_int64(s, 1, note);
        int r;
        rc = 0;
        while ((r = sqlite3_step(s)) == SQLITE_ROW)
            if ((rc = fn(ud, col_text(s, 0))) != 0)
                break;
        if (rc == 0 && r != SQLITE_DONE)
            rc = store_sq_fail(h, abs);
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    free(abs);
    return rc;
}

int store_doc_atts(struct dv_store *st, const char *db_path, const char *unid, store_att_fn fn,
                   void *ud)
{
    sqlite3 *h;
    char *abs;
    int64_t note;
    if (doc_open_note(st, db_path, unid, &h, &abs, &note) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s = store_sq_prep(h,
                                    "SELECT att_id, name, coalesce(size, length(data), 0), nlo FROM"
                                    " attachments WHERE note_id = ?1 ORDER BY att_id",
                                    abs);
    if (s) {
        sqlite3_bind_int64(s, 1, note);
        int r;
        rc = 0;
        while ((r = sqlite3_step(s)) == SQLITE_ROW) {
            struct store_att_info a = {.att_id = sqlite3_column_int64(s, 0),
                                       .name = col_text(s, 1),
                                       .size = sqlite3_column_int64(s, 2),
                                       .nlo = col_text(s, 3)};
            if ((rc = fn(ud, &a)) != 0)
                break;
        }
        if (rc == 0 && r != SQLITE_DONE)
            rc = store_sq_fail(h, abs);
        sqlite3_finalize(s);
    }
    sqlite3_close(h);
    free(abs);
    return rc;
}

int store_doc_state(struct store_db *db, const char *unid)
{
    sqlite3_stmt *s = store_sq_prep(db->h, "SELECT deleted FROM notes WHERE unid = ?1", db->path);
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, unid, -1, SQLITE_STATIC);
    int r = sqlite3_step(s), rc;
    if (r == SQLITE_ROW)
        rc = sqlite3_column_type(s, 0) == SQLITE_NULL ? 1 : 2;
    else if (r == SQLITE_DONE)
        rc = 0;
    else
        rc = store_sq_fail(db->h, db->path);
    sqlite3_finalize(s);
    return rc;
}

int store_doc_undelete(struct store_db *db, const char *unid)
{
    sqlite3_stmt *s = store_sq_prep(db->h,
                                    "UPDATE notes SET deleted = NULL, modified = ?1 WHERE"
                                    " unid = ?2 AND deleted IS NOT NULL",
                                    db->path);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, dv_now());
    sqlite3_bind_text(s, 2, unid, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : store_sq_fail(db->h, db->path);
    sqlite3_finalize(s);
    if (rc == 0 && sqlite3_changes(db->h) == 0) {
        dv_seterr("%s: document %s is not soft-deleted", db->path, unid);
        rc = -1;
    }
    return rc;
}

int store_nlo_referrers(struct dv_store *st, const char *name, store_ref_fn fn, void *ud)
{
    char **dbs;
    size_t ndbs;
    if (dbglob_list(st->cfg, &dbs, &ndbs) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ndbs; i++) {
        char *abs = dv_path_join(st->cfg->server.data_dir, dbs[i]);
        sqlite3 *h;
        int64_t count = 0;
        if (store_sq_open(abs, SQLITE_OPEN_READONLY, &h) == 0) {
            sqlite3_stmt *s = NULL;
            if (store_db_has_table(h, "attachments") &&
                sqlite3_prepare_v2(h, "SELECT count(*) FROM attachments WHERE nlo = ?1", -1, &s,
                                   NULL) == SQLITE_OK) {
                sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
                if (sqlite3_step(s) == SQLITE_ROW)
                    count = sqlite3_column_int64(s, 0);
            }
            sqlite3_finalize(s);
            sqlite3_close(h);
        }
        free(abs);
        if (count > 0)
            rc = fn(ud, dbs[i], count);
    }
    dbglob_free(dbs);
    return rc;
}

int store_nlo_info(struct dv_store *st, const char *name, int *subdir, int64_t *refcount)
{
    if (!store_has_daos(st))
        return store_no_daos();
    sqlite3_stmt *s =
        store_sq_prep(st->idx, "SELECT subdir, refcount FROM doi WHERE name = ?1", "DAOS index");
    if (!s)
        return -1;
    sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
    int r = sqlite3_step(s), rc = 0;
    if (r == SQLITE_ROW) {
        *subdir = sqlite3_column_int(s, 0);
        *refcount = sqlite3_column_int64(s, 1);
        rc = 1;
    } else if (r != SQLITE_DONE) {
        rc = store_sq_fail(st->idx, "DAOS index");
    }
    sqlite3_finalize(s);
    return rc;
}

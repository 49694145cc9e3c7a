/* docrestore.c - deleted documents back into the live database in one step (docrestore.h). */
#include "docrestore.h"
#include "recover_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "dbglob.h"
#include "fsb.h"
#include "pitr.h"
#include "restore.h"
#include "target.h"
#include "util.h"

#define SCRATCH_PREFIX ".docrestore."

const char *docrestore_kind_name(enum docrestore_kind k)
{
    return k == DOCRESTORE_SOFT ? "soft-deleted" : k == DOCRESTORE_PURGED ? "purged" : "changed";
}

const char *docrestore_status_name(enum docrestore_status s)
{
    switch (s) {
    case DOCRESTORE_UNDELETED:
        return "undeleted";
    case DOCRESTORE_REWRITTEN:
        return "rewritten";
    case DOCRESTORE_COPIED:
        return "copied";
    case DOCRESTORE_CONFLICT:
        return "conflict";
    default:
        return "skipped";
    }
}

void docrestore_result_done(struct docrestore_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->docs[i].subject);
        free(r->docs[i].sender);
        free(r->docs[i].reason);
    }
    free(r->docs);
    recover_result_done(&r->nlo);
    r->docs = NULL;
    r->n = 0;
}

/* ---- documents as read from the source and the live database ------------------------------ */

struct srcatt {
    char *name, *nlo;
    int64_t size;
    void *data;
    size_t dlen;
};

/* A candidate: the source's row, what to do with it. */
struct cand {
    size_t doc; /* index in r->docs */
    int64_t note_id;
    char *col[6]; /* form, subject, sender, body (1..4; 0 and 5 unused) */
    int64_t created, modified;
    struct srcatt *a;
    size_t na;
    char live_hash[65]; /* SOFT: the live version decided on (checked again under the lock) */
};

struct livedoc {
    char unid[STORE_UNID_LEN + 1];
    int64_t note_id;
    int64_t deleted; /* 0: present */
};

struct ctx {
    const struct dv_config *cfg;
    const struct docrestore_opts *o;
    struct dv_job *job;
    struct docrestore_result *r;
    char *live_abs, *src_abs;
    char *scratch;      /* relative to the target root: our scratch directory, or NULL */
    char *scratch_root; /* the target's working tree it is in (S3: the local cache) */
    char src_tag[128];  /* the set (and --at) or the copy's replica id: copies' unids */
    sqlite3 *src, *live;
    struct livedoc *lv;
    size_t nlv;
    struct cand *c;
    size_t nc, cap;
    char **names; /* distinct NLOs of the candidates (sorted) */
    size_t nnames;
};

static void cand_free(struct cand *c)
{
    for (int i = 0; i < 6; i++)
        free(c->col[i]);
    for (size_t i = 0; i < c->na; i++) {
        free(c->a[i].name);
        free(c->a[i].nlo);
        free(c->a[i].data);
    }
    free(c->a);
}

static int open_ro(const char *path, sqlite3 **h)
{
    if (sqlite3_open_v2(path, h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", path, *h ? sqlite3_errmsg(*h) : "out of memory");
        sqlite3_close(*h);
        *h = NULL;
        return -1;
    }
    sqlite3_busy_timeout(*h, 60000);
    return 0;
}

static bool has_notes(sqlite3 *h)
{
    sqlite3_stmt *s = NULL;
    bool yes = false;
    if (sqlite3_prepare_v2(h,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
                           " ('notes', 'attachments', 'dbinfo')",
                           -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        yes = sqlite3_column_int(s, 0) == 3;
    sqlite3_finalize(s);
    return yes;
}

/* Append len bytes with their length (no two versions hash alike by shifting a boundary). */
static void buf_add(char **b, size_t *n, size_t *cap, const void *p, size_t len)
{
    while (*n + len + 16 > *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *b = dv_realloc(*b, *cap);
    }
    *n += (size_t)snprintf(*b + *n, 16, "%zu:", len);
    if (len)
        memcpy(*b + *n, p, len);
    *n += len;
}

static void buf_col(char **b, size_t *n, size_t *cap, sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL) {
        buf_add(b, n, cap, "N", 1);
        return;
    }
    const void *p = sqlite3_column_blob(s, i);
    buf_add(b, n, cap, "V", 1);
    buf_add(b, n, cap, p, (size_t)sqlite3_column_bytes(s, i));
}

/* A document's version: SHA-256 over form, subject, sender, created, body and its
 * attachments (name, size, NLO, inline bytes) - not modified or deleted, which a soft
 * deletion changes. 0 or -1. */
static int doc_hash(sqlite3 *h, const char *path, int64_t note_id, char out[65])
{
    sqlite3_stmt *n = NULL, *a = NULL;
    char *b = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    if (sqlite3_prepare_v2(h,
                           "SELECT form, subject, sender, created, body FROM notes WHERE"
                           " note_id = ?1",
                           -1, &n, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h,
                           "SELECT name, size, nlo, data FROM attachments WHERE note_id = ?1"
                           " ORDER BY att_id",
                           -1, &a, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", path, sqlite3_errmsg(h));
        goto out;
    }
    sqlite3_bind_int64(n, 1, note_id);
    if (sqlite3_step(n) != SQLITE_ROW) {
        dv_seterr("%s: document %lld vanished", path, (long long)note_id);
        goto out;
    }
    for (int i = 0; i < 5; i++)
        buf_col(&b, &len, &cap, n, i);
    sqlite3_bind_int64(a, 1, note_id);
    while (sqlite3_step(a) == SQLITE_ROW)
        for (int i = 0; i < 4; i++)
            buf_col(&b, &len, &cap, a, i);
    dv_sha256_hex(b ? b : "", len, out);
    rc = 0;
out:
    sqlite3_finalize(n);
    sqlite3_finalize(a);
    free(b);
    return rc;
}

static int livedoc_cmp(const void *x, const void *y)
{
    return strcmp(((const struct livedoc *)x)->unid, ((const struct livedoc *)y)->unid);
}

static const struct livedoc *live_find(const struct ctx *c, const char *unid)
{
    struct livedoc key;
    snprintf(key.unid, sizeof key.unid, "%s", unid);
    return c->nlv ? bsearch(&key, c->lv, c->nlv, sizeof key, livedoc_cmp) : NULL;
}

/* The live database's documents (unid, note_id, deletion time), sorted by unid. */
static int load_live(struct ctx *c)
{
    sqlite3_stmt *s = NULL;
    size_t cap = 0;
    if (sqlite3_exec(c->live, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->live, "SELECT unid, note_id, deleted FROM notes", -1, &s, NULL) !=
            SQLITE_OK) {
        dv_seterr("%s: %s", c->live_abs, sqlite3_errmsg(c->live));
        return -1;
    }
    int st;
    while ((st = sqlite3_step(s)) == SQLITE_ROW) {
        const char *u = (const char *)sqlite3_column_text(s, 0);
        if (!u)
            continue;
        if (c->nlv == cap) {
            cap = cap ? cap * 2 : 1024;
            c->lv = dv_realloc(c->lv, cap * sizeof *c->lv);
        }
        struct livedoc *l = &c->lv[c->nlv++];
        snprintf(l->unid, sizeof l->unid, "%s", u);
        l->note_id = sqlite3_column_int64(s, 1);
        l->deleted = sqlite3_column_type(s, 2) == SQLITE_NULL ? 0 : sqlite3_column_int64(s, 2);
        if (sqlite3_column_type(s, 2) != SQLITE_NULL && l->deleted == 0)
            l->deleted = 1; /* deleted at the epoch: still deleted */
    }
    sqlite3_finalize(s);
    if (st != SQLITE_DONE) {
        dv_seterr("%s: %s", c->live_abs, sqlite3_errmsg(c->live));
        return -1;
    }
    if (c->nlv)
        qsort(c->lv, c->nlv, sizeof *c->lv, livedoc_cmp);
    return 0;
}

/* ---- deciding ---------------------------------------------------------------------------- */

static bool icontains(const char *hay, const char *needle)
{
    if (!needle || !*needle)
        return true;
    return hay && strcasestr(hay, needle) != NULL;
}

static bool filter_ok(const struct docrestore_filter *f, const char *unid, const char *subject,
                      const char *sender, int64_t created)
{
    if (f->from && created < f->from)
        return false;
    if (f->to && created > f->to)
        return false;
    if (!icontains(subject, f->subject) || !icontains(sender, f->sender))
        return false;
    if (f->unids) {
        for (size_t i = 0; i < f->nunids; i++)
            if (strcmp(f->unids[i], unid) == 0)
                return true;
        return false;
    }
    return true;
}

/* The copy's unid: derived from the unid and the source, so that a second run finds it. */
static void copy_unid(const struct ctx *c, const char *unid, char out[STORE_UNID_LEN + 1])
{
    char *s = dv_asprintf("dvault doc restore copy|%s|%s", unid, c->src_tag);
    char h[65];
    dv_sha256_hex(s, strlen(s), h);
    free(s);
    snprintf(out, STORE_UNID_LEN + 1, "%.32s", h);
}

static char *col_dup(sqlite3_stmt *s, int i)
{
    return sqlite3_column_type(s, i) == SQLITE_NULL
               ? NULL
               : dv_strdup((const char *)sqlite3_column_text(s, i));
}

/* The source row's attachments into c. 0 or -1. */
static int load_atts(struct ctx *x, struct cand *c)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(x->src,
                           "SELECT name, size, nlo, data FROM attachments WHERE note_id = ?1"
                           " ORDER BY att_id",
                           -1, &s, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", x->src_abs, sqlite3_errmsg(x->src));
        return -1;
    }
    sqlite3_bind_int64(s, 1, c->note_id);
    size_t cap = 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        if (c->na == cap) {
            cap = cap ? cap * 2 : 4;
            c->a = dv_realloc(c->a, cap * sizeof *c->a);
        }
        struct srcatt *a = &c->a[c->na++];
        memset(a, 0, sizeof *a);
        a->name = col_dup(s, 0);
        a->size = sqlite3_column_int64(s, 1);
        a->nlo = col_dup(s, 2);
        if (!a->nlo && sqlite3_column_type(s, 3) != SQLITE_NULL) {
            a->dlen = (size_t)sqlite3_column_bytes(s, 3);
            a->data = dv_malloc(a->dlen ? a->dlen : 1);
            if (a->dlen)
                memcpy(a->data, sqlite3_column_blob(s, 3), a->dlen);
        }
    }
    sqlite3_finalize(s);
    return 0;
}

static struct docrestore_doc *add_doc(struct ctx *x, sqlite3_stmt *s, enum docrestore_kind kind,
                                      enum docrestore_status st, int64_t live_deleted)
{
    struct docrestore_result *r = x->r;
    if (r->n % 64 == 0)
        r->docs = dv_realloc(r->docs, (r->n + 64) * sizeof *r->docs);
    struct docrestore_doc *d = &r->docs[r->n++];
    memset(d, 0, sizeof *d);
    snprintf(d->unid, sizeof d->unid, "%s", (const char *)sqlite3_column_text(s, 1));
    d->kind = kind;
    d->status = st;
    d->subject =
        dv_strdup(sqlite3_column_text(s, 3) ? (const char *)sqlite3_column_text(s, 3) : "");
    d->sender = dv_strdup(sqlite3_column_text(s, 4) ? (const char *)sqlite3_column_text(s, 4) : "");
    d->created = sqlite3_column_int64(s, 5);
    d->deleted = live_deleted;
    return d;
}

static void set_reason(struct docrestore_doc *d, enum docrestore_status st, const char *why)
{
    d->status = st;
    free(d->reason);
    d->reason = dv_strdup(why);
}

/* One source document (s: note_id, unid, form, subject, sender, created, modified, deleted,
 * body): decided, added to r->docs (and to the candidates) when it is one. 0 or -1. */
static int decide_one(struct ctx *x, sqlite3_stmt *s)
{
    const struct docrestore_opts *o = x->o;
    struct docrestore_result *r = x->r;
    const char *unid = (const char *)sqlite3_column_text(s, 1);
    if (!unid || strlen(unid) != STORE_UNID_LEN)
        return 0;
    bool src_deleted = sqlite3_column_type(s, 7) != SQLITE_NULL;
    int64_t src_deltime = sqlite3_column_int64(s, 7);
    if (!filter_ok(&o->f, unid, (const char *)sqlite3_column_text(s, 3),
                   (const char *)sqlite3_column_text(s, 4), sqlite3_column_int64(s, 5)))
        return 0;
    const struct livedoc *l = live_find(x, unid);
    enum docrestore_kind kind;
    enum docrestore_status st;
    char shash[65] = "", lhash[65] = "";
    if (!l) { /* purged since the set */
        if (!o->deleted || (o->f.since && src_deleted && src_deltime < o->f.since))
            return 0;
        kind = DOCRESTORE_PURGED;
        st = DOCRESTORE_REWRITTEN;
        if (o->f.since && r->bound < o->f.since)
            r->purged_unbounded++;
    } else if (l->deleted) {
        if (!o->deleted)
            return 0;
        if (src_deleted) { /* in the trash when the set was taken already */
            r->older++;
            return 0;
        }
        if (o->f.since && l->deleted < o->f.since)
            return 0;
        if (doc_hash(x->src, x->src_abs, sqlite3_column_int64(s, 0), shash) != 0 ||
            doc_hash(x->live, x->live_abs, l->note_id, lhash) != 0)
            return -1;
        kind = DOCRESTORE_SOFT;
        st = strcmp(shash, lhash) == 0 ? DOCRESTORE_UNDELETED
             : o->copies               ? DOCRESTORE_COPIED
                                       : DOCRESTORE_CONFLICT;
    } else {
        if (!o->modified || src_deleted)
            return 0;
        if (doc_hash(x->src, x->src_abs, sqlite3_column_int64(s, 0), shash) != 0 ||
            doc_hash(x->live, x->live_abs, l->note_id, lhash) != 0)
            return -1;
        if (strcmp(shash, lhash) == 0)
            return 0;
        kind = DOCRESTORE_CHANGED;
        st = DOCRESTORE_COPIED;
    }
    struct docrestore_doc *d = add_doc(x, s, kind, st, l ? l->deleted : 0);
    if (st == DOCRESTORE_CONFLICT) {
        set_reason(d, st,
                   "the live document was changed after the set, then deleted: its newer "
                   "version stays (--copies brings the set's version back as a copy)");
        return 0;
    }
    if (st == DOCRESTORE_COPIED) {
        copy_unid(x, unid, d->copy_unid);
        if (live_find(x, d->copy_unid)) {
            set_reason(d, DOCRESTORE_SKIPPED, "restored as a copy before (the copy is there)");
            return 0;
        }
    }
    if (x->nc == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 64;
        x->c = dv_realloc(x->c, x->cap * sizeof *x->c);
    }
    struct cand *c = &x->c[x->nc++];
    memset(c, 0, sizeof *c);
    c->doc = r->n - 1;
    c->note_id = sqlite3_column_int64(s, 0);
    for (int i = 1; i <= 3; i++)
        c->col[i] = col_dup(s, i + 1); /* form, subject, sender */
    c->col[4] = col_dup(s, 8);         /* body */
    c->created = sqlite3_column_int64(s, 5);
    c->modified = sqlite3_column_int64(s, 6);
    snprintf(c->live_hash, sizeof c->live_hash, "%s", lhash);
    if (load_atts(x, c) != 0)
        return -1;
    for (size_t i = 0; i < c->na; i++)
        d->natt++, d->nnlo += c->a[i].nlo != NULL;
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every source document against the live database. 0 or -1. */
static int decide(struct ctx *x)
{
    if (open_ro(x->src_abs, &x->src) != 0 || open_ro(x->live_abs, &x->live) != 0)
        return -1;
    if (!has_notes(x->src)) {
        dv_seterr("%s is not a document database (no notes, attachments, dbinfo)", x->src_abs);
        return -1;
    }
    if (load_live(x) != 0)
        return -1;
    sqlite3_stmt *s = NULL;
    if (sqlite3_exec(x->src, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(x->src,
                           "SELECT note_id, unid, form, subject, sender, created, modified,"
                           " deleted, body FROM notes ORDER BY created, unid",
                           -1, &s, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", x->src_abs, sqlite3_errmsg(x->src));
        return -1;
    }
    job_phase(x->job, "compare", 0, 0);
    int rc = 0, st;
    while (rc == 0 && (st = sqlite3_step(s)) == SQLITE_ROW) {
        rc = decide_one(x, s);
        job_advance(x->job, 1, 0, NULL);
        if (rc == 0 && job_cancelled(x->job)) {
            dv_seterr("cancelled");
            rc = -1;
        }
    }
    if (rc == 0 && st != SQLITE_DONE) {
        dv_seterr("%s: %s", x->src_abs, sqlite3_errmsg(x->src));
        rc = -1;
    }
    sqlite3_finalize(s);
    if (rc != 0)
        return -1;
    /* the distinct NLOs the candidates reference */
    size_t cap = 0;
    for (size_t i = 0; i < x->nc; i++)
        for (size_t k = 0; k < x->c[i].na; k++)
            if (x->c[i].a[k].nlo) {
                if (x->nnames == cap) {
                    cap = cap ? cap * 2 : 64;
                    x->names = dv_realloc(x->names, cap * sizeof *x->names);
                }
                x->names[x->nnames++] = x->c[i].a[k].nlo;
            }
    if (x->nnames)
        qsort(x->names, x->nnames, sizeof *x->names, name_cmp);
    size_t m = 0;
    for (size_t i = 0; i < x->nnames; i++)
        if (!m || strcmp(x->names[m - 1], x->names[i]) != 0)
            x->names[m++] = x->names[i];
    x->nnames = m;
    x->r->nlo_needed = m;
    return 0;
}

/* ---- NLOs -------------------------------------------------------------------------------- */

/* Documents referencing an NLO that cannot come back are skipped, naming it. */
static void skip_docs_of(struct ctx *x, const char *name, const char *why)
{
    for (size_t i = 0; i < x->nc; i++) {
        struct docrestore_doc *d = &x->r->docs[x->c[i].doc];
        if (d->status == DOCRESTORE_SKIPPED || d->status == DOCRESTORE_CONFLICT)
            continue;
        for (size_t k = 0; k < x->c[i].na; k++)
            if (x->c[i].a[k].nlo && strcmp(x->c[i].a[k].nlo, name) == 0) {
                char *m = dv_asprintf("NLO %s cannot be recovered: %s", name, why);
                set_reason(d, DOCRESTORE_SKIPPED, m);
                free(m);
                break;
            }
    }
}

/* Dry run: what the repository lacks, and whether the pool has it; nothing is copied. */
static int nlos_preview(struct ctx *x)
{
    if (!x->nnames)
        return 0;
    struct dv_store *st = store_open(x->cfg);
    struct store_repo *repo = st ? store_repo_scan(st) : NULL;
    struct catalog *cat = repo ? recover_open_catalog(x->cfg) : NULL;
    int rc = cat ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < x->nnames; i++) {
        if (store_repo_has(repo, x->names[i]))
            continue;
        struct catalog_pool_obj po;
        int g = catalog_pool_get(cat, x->names[i], &po);
        if (g < 0)
            rc = -1;
        else if (g == 1)
            x->r->nlo_recovered++;
        else {
            x->r->nlo_unrecoverable++;
            skip_docs_of(x, x->names[i], "no backup set holds it (not in the pool)");
        }
    }
    catalog_close(cat);
    store_repo_free(repo);
    store_free(st);
    return rc;
}

/* Recover the missing ones from the pool (recover.h); an unrecoverable one skips its
 * documents, any other failure stops everything (the live database untouched). */
static int nlos_recover(struct ctx *x)
{
    if (!x->nnames)
        return 0;
    if (!dv_config_has_daos(x->cfg)) {
        dv_seterr("documents to restore reference %zu NLO(s): %s", x->nnames, DV_NO_DAOS);
        return -1;
    }
    struct recover_opts ro = {.names = (const char *const *)x->names, .nnames = x->nnames};
    int rc = recover_nlos(x->cfg, &ro, x->job, &x->r->nlo);
    const struct recover_result *n = &x->r->nlo;
    x->r->nlo_recovered = n->recovered;
    x->r->nlo_unrecoverable = n->unrecoverable;
    if (rc == 0)
        return 0;
    if (!n->unrecoverable || n->n != x->nnames)
        return -1;
    for (size_t i = 0; i < n->n; i++) {
        if (n->items[i].status == RECOVER_NOT_DONE)
            return -1;
        if (n->items[i].status == RECOVER_UNRECOVERABLE)
            skip_docs_of(x, n->items[i].name, n->items[i].reason ? n->items[i].reason : "?");
    }
    job_log(x->job, DV_WARN, "%llu NLO(s) unrecoverable: their documents are skipped",
            (unsigned long long)n->unrecoverable);
    return 0;
}

/* ---- writing ----------------------------------------------------------------------------- */

static int write_one(struct ctx *x, struct store_batch *b, struct store_db *db, struct cand *c)
{
    struct docrestore_doc *d = &x->r->docs[c->doc];
    if (d->status == DOCRESTORE_UNDELETED) {
        /* still deleted, still the version decided on: else newer work came meanwhile */
        sqlite3 *h = store_db_sqlite(db);
        sqlite3_stmt *s = NULL;
        int64_t note_id = -1;
        bool deleted = false;
        if (sqlite3_prepare_v2(h, "SELECT note_id, deleted FROM notes WHERE unid = ?1", -1, &s,
                               NULL) != SQLITE_OK) {
            dv_seterr("%s: %s", x->live_abs, sqlite3_errmsg(h));
            return -1;
        }
        sqlite3_bind_text(s, 1, d->unid, -1, SQLITE_STATIC);
        if (sqlite3_step(s) == SQLITE_ROW) {
            note_id = sqlite3_column_int64(s, 0);
            deleted = sqlite3_column_type(s, 1) != SQLITE_NULL;
        }
        sqlite3_finalize(s);
        char h2[65] = "";
        if (deleted && doc_hash(h, x->live_abs, note_id, h2) != 0)
            return -1;
        if (!deleted || strcmp(h2, c->live_hash) != 0) {
            set_reason(d, DOCRESTORE_CONFLICT, "changed in the live database meanwhile");
            return 0;
        }
        return store_batch_undelete(b, d->unid, c->modified) == 1 ? 0 : -1;
    }
    const char *unid = d->status == DOCRESTORE_COPIED ? d->copy_unid : d->unid;
    int state = store_doc_state(db, unid);
    if (state < 0)
        return -1;
    if (state != 0) {
        if (d->status == DOCRESTORE_COPIED)
            set_reason(d, DOCRESTORE_SKIPPED, "restored as a copy before (the copy is there)");
        else
            set_reason(d, DOCRESTORE_CONFLICT, "re-created in the live database meanwhile");
        return 0;
    }
    char *subject = NULL;
    if (d->status == DOCRESTORE_COPIED)
        subject = dv_asprintf("[restored from %s] %s", x->src_tag, c->col[2] ? c->col[2] : "");
    struct store_doc_row row = {.unid = unid,
                                .form = c->col[1],
                                .subject = subject ? subject : c->col[2],
                                .sender = c->col[3],
                                .body = c->col[4],
                                .created = c->created,
                                .modified = c->modified};
    struct store_att_row *a = dv_calloc(c->na ? c->na : 1, sizeof *a);
    for (size_t i = 0; i < c->na; i++)
        a[i] = (struct store_att_row){c->a[i].name, c->a[i].size, c->a[i].nlo, c->a[i].data,
                                      c->a[i].dlen};
    int rc = store_batch_insert(b, &row, a, c->na);
    free(a);
    free(subject);
    return rc;
}

/* One transaction: every candidate still to restore written, then committed. 0 or -1. */
static int write_all(struct ctx *x)
{
    size_t todo = 0;
    for (size_t i = 0; i < x->nc; i++) {
        enum docrestore_status s = x->r->docs[x->c[i].doc].status;
        todo += s != DOCRESTORE_SKIPPED && s != DOCRESTORE_CONFLICT;
    }
    struct dv_store *st = store_open(x->cfg);
    if (!todo) { /* nothing to write: only settle what an interrupted run left, if anything */
        int64_t p = st ? store_batch_pending(st) : -1;
        struct store_db *db = p > 0 ? store_db_open(st, x->live_abs) : NULL;
        struct store_batch *b = db ? store_batch_begin(db, &x->r->settled) : NULL;
        store_batch_abort(b); /* the rows: none; the settlement is the index's, committed */
        store_db_close(db);
        store_free(st);
        return p < 0 || (p > 0 && !b) ? -1 : 0;
    }
    struct store_db *db = st ? store_db_open(st, x->live_abs) : NULL;
    struct store_batch *b = db ? store_batch_begin(db, &x->r->settled) : NULL;
    int rc = b ? 0 : -1;
    job_phase(x->job, "write", todo, 0);
    for (size_t i = 0; rc == 0 && i < x->nc; i++) {
        enum docrestore_status s = x->r->docs[x->c[i].doc].status;
        if (s == DOCRESTORE_SKIPPED || s == DOCRESTORE_CONFLICT)
            continue;
        rc = write_one(x, b, db, &x->c[i]);
        job_advance(x->job, 1, 0, x->r->docs[x->c[i].doc].unid);
    }
    dv_crashpoint("docrestore.written"); /* tests: rows written, nothing counted or committed */
    if (rc == 0) {
        char marker[160];
        snprintf(marker, sizeof marker, "doc restore from %.100s at %lld", x->src_tag,
                 (long long)dv_now());
        rc = store_batch_commit(b, marker);
    } else {
        store_batch_abort(b);
    }
    store_db_close(db);
    store_free(st);
    return rc;
}

/* ---- the source ---------------------------------------------------------------------------- */

/* Scratch directories of doc restores whose process is gone (we hold the target's lock). */
static void sweep_scratch(struct target *t)
{
    DIR *d = fsb_opendir(target_root(t), ".");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, SCRATCH_PREFIX, strlen(SCRATCH_PREFIX)) != 0)
            continue;
        long pid = atol(e->d_name + strlen(SCRATCH_PREFIX));
        uint64_t bytes = 0;
        if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            fsb_tree(target_root(t), e->d_name, true, &bytes);
    }
    if (d)
        closedir(d);
}

/* The set's copy of the database, materialized into a scratch directory of the target. */
static int source_from_set(struct ctx *x)
{
    const struct docrestore_opts *o = x->o;
    struct catalog *cat = recover_open_catalog(x->cfg);
    struct target *t = NULL;
    int rc = -1;
    struct catalog_set set;
    if (!cat)
        return -1;
    int g = catalog_set_get(cat, o->set_id, &set);
    if (g <= 0) {
        if (g == 0)
            dv_seterr("no backup set '%s' (dvault sets lists them)", o->set_id);
        goto out;
    }
    if (!catalog_set_usable(set.status) || set.pruning > 0) {
        dv_seterr("backup set %s is %s: choose a complete set", set.id,
                  set.pruning > 0 ? "being pruned" : catalog_set_status_name(set.status));
        goto out;
    }
    snprintf(x->r->set_id, sizeof x->r->set_id, "%s", set.id);
    x->r->set_started = set.started;
    x->r->bound = o->pitr ? o->at_us / 1000000 : set.started;
    if (o->pitr)
        snprintf(x->src_tag, sizeof x->src_tag, "set %s at @%lld.%06lld", set.id,
                 (long long)(o->at_us / 1000000), (long long)(o->at_us % 1000000));
    else
        snprintf(x->src_tag, sizeof x->src_tag, "set %s", set.id);
    if (!(t = recover_open_target(x->cfg, cat)))
        goto out;
    sweep_scratch(t);
    char prefix[64];
    snprintf(prefix, sizeof prefix, SCRATCH_PREFIX "%ld.", (long)getpid());
    free(x->scratch_root);
    x->scratch_root = dv_strdup(target_path(t)); /* the working tree: S3's is a local cache */
    if (!(x->scratch = fsb_mkdtemp(target_root(t), prefix))) {
        dv_preferr("doc restore: scratch directory");
        goto out;
    }
    char *dir = fsb_abs(target_root(t), x->scratch);
    char *canon = realpath(dir, NULL);
    free(dir);
    if (!canon) {
        dv_syserr("%s", x->scratch);
        goto out;
    }
    x->src_abs = dv_asprintf("%s/source.nsf", canon);
    struct pitr_prepare pp = {.pt = {.target = x->cfg->backup.target,
                                     .t = t,
                                     .cfg = x->cfg,
                                     .db_rel = x->r->db_rel,
                                     .set_id = set.id,
                                     .set_started = set.started,
                                     .set_ended = set.ended,
                                     .at_us = o->at_us}};
    struct restore_steps steps = {
        .root = canon, .prepare = o->pitr ? pitr_prepare_fn : NULL, .prepare_ud = &pp};
    struct restore_info info;
    job_phase(x->job, "source", 0, 0);
    rc = restore_materialize_steps(cat, t, set.id, x->r->db_rel, x->src_abs, false, &steps, x->job,
                                   &info);
    x->r->pitr_transactions = pp.r.transactions;
    free(canon);
    if (rc == 0) { /* the same database as the live one, not one that replaced it since */
        struct recover_into_info si, li;
        memset(&si, 0, sizeof si);
        memset(&li, 0, sizeof li);
        recover_file_info(x->src_abs, &si);
        recover_file_info(x->live_abs, &li);
        if (strcmp(si.replica_id, li.replica_id) != 0 && !o->force) {
            dv_seterr("%s had replica id %s in set %s, the live file has %s: it was replaced by "
                      "another database since; --force restores into it anyway",
                      x->r->db_rel, si.replica_id[0] ? si.replica_id : "(none)", set.id,
                      li.replica_id[0] ? li.replica_id : "(none)");
            rc = -1;
        }
    }
out:
    target_close(t);
    catalog_close(cat);
    return rc;
}

/* A restored copy the operator has: its origin must be the live database. */
static int source_from_copy(struct ctx *x)
{
    const struct docrestore_opts *o = x->o;
    char *rel = NULL;
    x->src_abs = dbglob_resolve(x->cfg, o->from_path, &rel);
    free(rel);
    struct doccopy_origin og;
    if (!x->src_abs || recover_doc_origin(x->cfg, o->from_path, o->db_path, &og) != 0)
        return -1;
    if (!og.same && !o->force) {
        dv_seterr("%s (origin replica id %s) is not a copy of %s (replica id %s): --force "
                  "restores from it anyway",
                  o->from_path, og.origin_replica_id[0] ? og.origin_replica_id : "(none)",
                  o->db_path, og.live_replica_id[0] ? og.live_replica_id : "(none)");
        return -1;
    }
    struct recover_into_info ii;
    memset(&ii, 0, sizeof ii);
    recover_file_info(x->src_abs, &ii);
    snprintf(x->r->set_id, sizeof x->r->set_id, "%s", ii.origin_set);
    if (ii.origin_set[0])
        snprintf(x->src_tag, sizeof x->src_tag, "set %.100s", ii.origin_set);
    else
        snprintf(x->src_tag, sizeof x->src_tag, "copy %s", og.from_replica_id);
    if (ii.origin_set[0]) {
        struct catalog *cat = catalog_open_existing(x->cfg->catalog, NULL);
        struct catalog_set set;
        if (cat && catalog_set_get(cat, ii.origin_set, &set) == 1)
            x->r->set_started = x->r->bound = set.started;
        catalog_close(cat);
    }
    return 0;
}

static void cleanup_scratch(struct ctx *x)
{
    if (!x->scratch)
        return;
    struct fsb *root = fsb_open(x->scratch_root);
    uint64_t bytes = 0;
    if (root && fsb_tree(root, x->scratch, true, &bytes) != 0)
        job_log(x->job, DV_WARN, "doc restore: %s", dv_err());
    fsb_close(root);
}

/* ---- the whole --------------------------------------------------------------------------- */

static int check_opts(const struct dv_config *cfg, const struct docrestore_opts *o, struct ctx *x)
{
    if (!o->set_id == !o->from_path) {
        dv_seterr("doc restore needs a source: a set (--set ID) or a restored copy (--from PATH)");
        return -1;
    }
    if (!o->deleted && !o->modified) {
        dv_seterr("doc restore: nothing asked (--deleted and/or --modified)");
        return -1;
    }
    if (o->pitr && !o->set_id) {
        dv_seterr("doc restore: --at goes with --set");
        return -1;
    }
    char *rel = NULL;
    x->live_abs = o->db_path ? dbglob_resolve(cfg, o->db_path, &rel) : NULL;
    if (!x->live_abs || !rel || (o->db_path[0] != '/' && !dv_path_is_safe_rel(o->db_path))) {
        dv_seterr("database '%s' is not below the data directory %s", o->db_path ? o->db_path : "",
                  cfg->server.data_dir);
        free(rel);
        return -1;
    }
    snprintf(x->r->db_rel, sizeof x->r->db_rel, "%s", rel);
    free(rel);
    struct stat sb;
    if (lstat(x->live_abs, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        if (lstat(x->live_abs, &sb) == 0)
            dv_seterr("live database %s is %s: refused", x->live_abs, fsb_kind(sb.st_mode));
        else
            dv_syserr("live database %s", x->live_abs);
        return -1;
    }
    sqlite3 *h = NULL;
    if (open_ro(x->live_abs, &h) != 0)
        return -1;
    bool ok = has_notes(h);
    sqlite3_close(h);
    if (!ok) {
        dv_seterr("%s is not a document database (no notes, attachments, dbinfo)", x->live_abs);
        return -1;
    }
    return 0;
}

static void count(struct docrestore_result *r)
{
    r->undeleted = r->rewritten = r->copied = r->conflicts = r->skipped = 0;
    for (size_t i = 0; i < r->n; i++) {
        switch (r->docs[i].status) {
        case DOCRESTORE_UNDELETED:
            r->undeleted++;
            break;
        case DOCRESTORE_REWRITTEN:
            r->rewritten++;
            break;
        case DOCRESTORE_COPIED:
            r->copied++;
            break;
        case DOCRESTORE_CONFLICT:
            r->conflicts++;
            break;
        default:
            r->skipped++;
        }
    }
}

static int run(struct ctx *x)
{
    if (!x->o->dry_run)
        recover_sweep_leftovers(x->cfg, NULL, x->job, &x->r->sweep);
    if ((x->o->set_id ? source_from_set(x) : source_from_copy(x)) != 0)
        return -1;
    snprintf(x->r->source, sizeof x->r->source, "%s", x->src_abs);
    if (decide(x) != 0)
        return -1;
    sqlite3_close(x->src);
    x->src = NULL;
    sqlite3_exec(x->live, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(x->live); /* no reader of ours holds the WAL while we write */
    x->live = NULL;
    if (x->o->dry_run) {
        int rc = nlos_preview(x);
        count(x->r);
        return rc;
    }
    if (nlos_recover(x) != 0)
        return -1;
    dv_crashpoint("docrestore.recovered"); /* tests: NLOs installed, nothing written */
    if (job_cancelled(x->job)) {
        dv_seterr("cancelled before anything was written (NLOs recovered stay)");
        return -1;
    }
    if (write_all(x) != 0)
        return -1;
    if (x->r->settled)
        job_log(x->job, DV_INFO, "settled %llu record(s) of an interrupted restore of %s",
                (unsigned long long)x->r->settled, x->r->db_rel);
    count(x->r);
    return 0;
}

int docrestore_run(const struct dv_config *cfg, const struct docrestore_opts *o, struct dv_job *job,
                   struct docrestore_result *r)
{
    memset(r, 0, sizeof *r);
    r->dry_run = o->dry_run;
    struct ctx x = {.cfg = cfg, .o = o, .r = r};
    if (check_opts(cfg, o, &x) != 0) { /* refused: nothing done, no job */
        free(x.live_abs);
        return -1;
    }
    struct job_record rec;
    x.job = job = job_record_begin(&rec, cfg->catalog, "docrestore", job);
    int rc = run(&x);
    sqlite3_close(x.src);
    sqlite3_close(x.live);
    cleanup_scratch(&x);
    if (rc != 0) { /* nothing was restored */
        for (size_t i = 0; i < r->n; i++)
            if (r->docs[i].status <= DOCRESTORE_COPIED)
                set_reason(&r->docs[i], DOCRESTORE_SKIPPED, "not restored: the restore failed");
        count(r);
        r->undeleted = r->rewritten = r->copied = 0;
    }
    char sum[1024];
    snprintf(sum, sizeof sum,
             "%s%.200s from %.100s: %llu undeleted, %llu rewritten, %llu copied, %llu NLOs "
             "recovered, %llu conflicts, %llu skipped",
             o->dry_run ? "dry run: " : "", r->db_rel, x.src_tag[0] ? x.src_tag : "?",
             (unsigned long long)r->undeleted, (unsigned long long)r->rewritten,
             (unsigned long long)r->copied, (unsigned long long)r->nlo_recovered,
             (unsigned long long)r->conflicts, (unsigned long long)r->skipped);
    job_record_end(&rec, rc, sum);
    for (size_t i = 0; i < x.nc; i++)
        cand_free(&x.c[i]);
    free(x.c);
    free(x.names);
    free(x.lv);
    free(x.live_abs);
    free(x.src_abs);
    free(x.scratch);
    free(x.scratch_root);
    return rc;
}

/*
 * recovery.c - the Recovery screen, in four modes with a key table each (the bar and the
 * help follow the mode):
 *   NLOs       a list of NLO names (listnlo missing of a database, or read from a file) with
 *              marks; F7 recovers the marked (or all) from the pool, s saves the list
 *   restoring  the guided single-document flow's restore runs (progress; F9 cancels)
 *   documents  the restored copy's documents, compared with the live database; B / F11 brings
 *              back every one marked gone or deleted (bringback.c: filter, preview, question,
 *              restore; its jobs' progress is shown as the restoring mode's)
 *   document   one document: its attachments and where each NLO is; F7 recovers its NLOs,
 *              F6 copies it into the live database (then offers a resync)
 */
#include "screens.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog.h"
#include "conjob.h"
#include "daos.h"
#include "dbglob.h"
#include "recover.h"
#include "store.h"
#include "tui_vec.h"
#include "util.h"

/* The Recovery screen's modes: the NLO panel, a restore running for the guided flow, the
 * restored copy's documents, one document. */
enum { RM_NLOS, RM_RESTORING, RM_DOCS, RM_DOC };

struct recscr {
    struct con_screen base; /* first */
    int mode;               /* RM_* */
    struct tui_list missing, docs, atts;
    char missing_title[512];
    /* the guided single-document flow */
    char db[1024];        /* the live database (as the server names it) */
    char set[64];         /* the set it was restored from */
    char into[1024];      /* the restored copy (relative to data_dir, as entered) */
    char warn[512];       /* what the restore warned about ("" when nothing) */
    char busy[128];       /* RM_RESTORING for bringing back deleted documents: which job ("":
                             the guided flow's restore) */
    int64_t copy_missing; /* the restored copy's NLOs missing from the live repository, counted
                           * again after every recover, refresh and copy (-1: not counted) */
    uint64_t ndocs, nmarked;
    char unid[STORE_UNID_LEN + 1]; /* the opened document */
    char subject[256], sender[256], created[32], live[16];
    int natt, nnlo, nmissing, nlost; /* NLOs missing live / not recoverable */
    bool copied;                     /* the opened document was copied into the live database */
};

static struct recscr *rec_of(struct console *c)
{
    return (struct recscr *)c->screen[CON_RECOVERY];
}

struct namesrc {
    struct console *c;
    char **names; /* sorted, unique */
    size_t n;
    bool *mark;
};

static void names_row(struct namesrc *d, size_t i, struct tui_row *r)
{
    memset(r, 0, sizeof *r);
    const char *name = d->names[i];
    snprintf(r->key, sizeof r->key, "%s", name);
    snprintf(r->cell[0], sizeof r->cell[0], "%s %s", d->mark[i] ? "*" : " ", name);
    /* the name carries the plaintext size: 64 hex + 16 hex size + ".nlo" */
    unsigned long long size = 0;
    char hex[17];
    if (strlen(name) == STORE_NLO_NAME_LEN) {
        memcpy(hex, name + 64, 16);
        hex[16] = 0;
        size = strtoull(hex, NULL, 16);
    }
    dv_fmt_bytes(size, r->cell[1], sizeof r->cell[1]);
    bool none;
    struct catalog *cat = con_catalog(d->c, &none);
    struct catalog_pool_obj po;
    int pr = cat ? catalog_pool_get(cat, name, &po) : 0;
    if (pr == 1) {
        /* held: the id of the set that first stored it (as every other screen names sets) */
        con_set_name(d->c, po.first_set, r->cell[2], sizeof r->cell[2]);
    } else
        snprintf(r->cell[2], sizeof r->cell[2], pr < 0 ? "?" : "NOT IN POOL");
    r->elem = pr == 1 ? (d->mark[i] ? TH_OK : TH_TEXT) : TH_ERROR;
}

static void names_row_cb(void *ud, size_t i, struct tui_row *r)
{
    names_row(ud, i, r);
}

static void names_done(void *ud)
{
    struct namesrc *d = ud;
    for (size_t i = 0; i < d->n; i++)
        free(d->names[i]);
    free(d->names);
    free(d->mark);
    free(d);
}

/* Takes the names (sorted or not; duplicates dropped). */
static struct tui_source *names_source_new(struct recscr *rs, struct strv *v)
{
    struct namesrc *d = dv_calloc(1, sizeof *d);
    d->c = rs->base.c;
    if (v->n)
        qsort(v->v, v->n, sizeof(char *), con_cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        if (k > 0 && strcmp(v->v[k - 1], v->v[i]) == 0)
            free(v->v[i]);
        else
            v->v[k++] = v->v[i];
    }
    d->names = v->v;
    d->n = k;
    d->mark = dv_calloc(k ? k : 1, sizeof *d->mark);
    memset(v, 0, sizeof *v);
    return tui_keys_new(d->names, d->n, names_row_cb, names_done, d);
}

static void missing_set(struct recscr *rs, struct tui *t, struct strv *v, const char *title)
{
    snprintf(rs->missing_title, sizeof rs->missing_title, "%s", title);
    tui_list_set_source(&rs->missing, NULL); /* another list: its own filter, not the last */
    if (tui_list_set_source(&rs->missing, names_source_new(rs, v)) != 0)
        tui_error(t, "Recovery", dv_err());
}

static void rec_set_mode(struct recscr *rs, int mode);

void recovery_show_missing(struct console *c, struct strv *names, const char *title)
{
    struct recscr *rs = rec_of(c);
    missing_set(rs, c->tui, names, title);
    /* the list asked for, whatever the screen showed before (a document, its documents) */
    if (rs->mode != RM_RESTORING)
        rec_set_mode(rs, RM_NLOS);
    tui_switch(c->tui, CON_RECOVERY);
}

static const struct tui_column miss_cols[] = {
    {"NLO", 0, TUI_LEFT},
    {"Size", 10, TUI_RIGHT},
    {"In pool", 18, TUI_LEFT},
};

enum {
    REC_DB = 1,
    REC_RECOVER,
    REC_SAVE,
    REC_LOAD,
    REC_DOC,
    REC_RESYNC,
    REC_MARK,
    REC_ALL,
    REC_OPEN,
    REC_DOC_NLOS,
    REC_COPY,
    REC_BACK,
    REC_REFRESH,
    REC_CANCEL,
    REC_BRING,
};

static const struct tui_key rec_keys[] = {
    {{KEY_F(2), 'd'},
     REC_DB,
     "Database",
     "Choose (from a list, or type a path) the database whose missing NLOs to list",
     NULL},
    {{' '}, REC_MARK, NULL, "Select / unselect the NLO under the cursor", NULL},
    {{'a'}, REC_ALL, NULL, "Select all / none", NULL},
    {{KEY_F(6), 'u'},
     REC_DOC,
     "DocRec",
     "Single-document recovery: choose a database and a set, restore into a new name, find "
     "the document, recover its NLOs, copy it back",
     NULL},
    {{KEY_F(7)},
     REC_RECOVER,
     "Recover",
     "Copy the selected (or all listed) NLOs back from the pool (asks first)",
     NULL},
    {{'s'},
     REC_SAVE,
     NULL,
     "Write the list (the selection if any) to a file, one name a line",
     NULL},
    {{'l'}, REC_LOAD, NULL, "Read a list of NLO names from a file", NULL},
    {{KEY_F(8), 'R'}, REC_RESYNC, "Resync", "Rebuild the DAOS index (asks first)", NULL},
    {{KEY_F(9)}, REC_BACK, NULL, "Back to the restored copy's documents (after a restore)", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static const struct tui_key rec_wait_keys[] = {
    {{KEY_F(9), 'c'}, REC_CANCEL, "Cancel", "Cancel the restore (asks first)", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static const struct tui_key rec_docs_keys[] = {
    {{'\n', KEY_ENTER, 'o'},
     REC_OPEN,
     NULL,
     "Open the selected document: its attachments, where each NLO is",
     NULL},
    {{KEY_F(2)}, REC_DOC, "Restore", "Start again: choose a database and a set to restore", NULL},
    {{KEY_F(5)}, REC_REFRESH, "Refresh", "Compare with the live database again", NULL},
    {{KEY_F(6), 'c'},
     REC_COPY,
     "CopyLive",
     "Copy the selected document into the live database (its missing NLOs first; asks)",
     NULL},
    {{KEY_F(7), 'r'},
     REC_DOC_NLOS,
     "RecNLOs",
     "Recover the selected document's missing NLOs from the pool",
     NULL},
    {{KEY_F(8), 'R'}, REC_RESYNC, "Resync", "Rebuild the DAOS index (asks first)", NULL},
    {{KEY_F(11), 'B'},
     REC_BRING,
     "BringBack",
     "Bring back every document marked gone or deleted into the live database: a filter (date, "
     "sender, subject) first, then a preview count and a question naming the live database",
     NULL},
    {{KEY_F(9), TUI_KEY_ESC}, REC_BACK, "Back", "Back to the missing-NLO panel", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static const struct tui_key rec_doc_keys[] = {
    {{KEY_F(5)}, REC_REFRESH, "Refresh", "Look at the document's NLOs again", NULL},
    {{KEY_F(6), 'c'},
     REC_COPY,
     "CopyLive",
     "Copy this document into the live database (its missing NLOs first; asks)",
     NULL},
    {{KEY_F(7), 'r'}, REC_DOC_NLOS, "RecNLOs", "Recover this document's missing NLOs", NULL},
    {{KEY_F(8), 'R'}, REC_RESYNC, "Resync", "Rebuild the DAOS index (asks first)", NULL},
    {{KEY_F(9), TUI_KEY_ESC}, REC_BACK, "Back", "Back to the documents of the restored copy", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static const struct tui_column doc_cols[] = {
    {"In live", 7, TUI_LEFT}, {"Created", 16, TUI_LEFT}, {"Att", 3, TUI_RIGHT},
    {"NLO", 3, TUI_RIGHT},    {"Subject", 0, TUI_LEFT},  {"From", 18, TUI_LEFT},
};

/* 80 columns and below: the date of Created, no Att, a narrower From: the subject keeps
 * about 40 columns */
static const int doc_narrow[] = {0, 10, -1, 0, 0, 12};

static const struct tui_column att_cols[] = {
    {"Attachment", 0, TUI_LEFT}, {"Size", 9, TUI_RIGHT},       {"Stored", 14, TUI_LEFT},
    {"Live", 12, TUI_LEFT},      {"Newest set", 17, TUI_LEFT}, {"Refs now", 10, TUI_LEFT},
};

static const int att_narrow[] = {0, 0, 12, 8, -1, 7};

static void rec_set_mode(struct recscr *rs, int mode)
{
    struct tui_screen *s = &rs->base.tui;
    rs->mode = mode;
    switch (mode) {
    case RM_NLOS:
        s->keys = rec_keys;
        s->list = &rs->missing;
        break;
    case RM_RESTORING:
        s->keys = rec_wait_keys;
        s->list = NULL;
        break;
    case RM_DOCS:
        s->keys = rec_docs_keys;
        s->list = &rs->docs;
        break;
    case RM_DOC:
        s->keys = rec_doc_keys;
        s->list = &rs->atts;
        break;
    }
}

struct doclist {
    struct tui_source *src;
    uint64_t marked;
};

static int rec_doc_cb(void *ud, const struct store_doc_info *d, enum recover_live_state live)
{
    struct doclist *l = ud;
    char when[32], natt[16], nnlo[16], from[256];
    dv_fmt_time(d->created, when, sizeof when);
    when[16] = 0;
    snprintf(natt, sizeof natt, "%d", d->natt);
    snprintf(nnlo, sizeof nnlo, "%d", d->nnlo);
    snprintf(from, sizeof from, "%s", d->sender);
    bool marked = live == RECOVER_LIVE_DELETED || live == RECOVER_LIVE_GONE;
    l->marked += marked;
    const char *cells[6] = {recover_live_state_name(live), when, natt, nnlo, d->subject, from};
    tui_vec_add(l->src, marked ? TH_WARNING : d->deleted ? TH_DIM : TH_TEXT, d->unid, cells);
    return 0;
}

static int count_name(void *ud, const char *name)
{
    (void)ud, (void)name;
    return 0;
}

/* Count the restored copy's NLOs missing from the live repository again (the header's
 * figure); left as it was when it cannot be counted. */
static void rec_recount(struct recscr *rs)
{
    struct console *c = rs->base.c;
    uint64_t n = 0;
    if (!rs->into[0] || !dv_config_has_daos(c->cfg))
        return;
    if (daos_listnlo(c->cfg, rs->into, true, count_name, NULL, &n) == 0)
        rs->copy_missing = (int64_t)n;
}

/* (Re)read the restored copy's documents, compared with the live database. */
static void rec_load_docs(struct recscr *rs, struct tui *t)
{
    rec_recount(rs);
    struct console *c = rs->base.c;
    struct doclist l = {.src = tui_vec_new(6)};
    char cur[TUI_KEY_MAX] = "";
    const struct tui_row *r = tui_list_current(&rs->docs);
    if (r && rs->docs.src)
        snprintf(cur, sizeof cur, "%s", r->key);
    uint64_t n = 0;
    if (recover_doc_list(c->cfg, rs->into, rs->db, NULL, rec_doc_cb, &l, &n) != 0) {
        char m[DV_ERR_MAX];
        snprintf(m, sizeof m, "%s", dv_err());
        l.src->free(l.src);
        tui_list_set_source(&rs->docs, NULL);
        snprintf(rs->docs.err, sizeof rs->docs.err, "%s", m);
        if (t)
            tui_error(t, "Documents", m);
        return;
    }
    rs->ndocs = n;
    rs->nmarked = l.marked;
    if (tui_list_set_source(&rs->docs, l.src) != 0 && t)
        tui_error(t, "Documents", dv_err());
    if (cur[0])
        tui_list_goto(&rs->docs, cur);
}

struct attlist {
    struct console *c;
    struct tui_source *src;
    int natt, nnlo, missing, lost;
};

static int rec_att_cb(void *ud, const struct store_att_info *a)
{
    struct attlist *l = ud;
    char size[32], stored[32], live[32] = "", set[48] = "", refs[32] = "";
    dv_fmt_bytes((uint64_t)(a->size < 0 ? 0 : a->size), size, sizeof size);
    int elem = TH_TEXT;
    l->natt++;
    if (!a->nlo[0]) {
        snprintf(stored, sizeof stored, "inline");
        snprintf(live, sizeof live, "-");
    } else {
        l->nnlo++;
        snprintf(stored, sizeof stored, "NLO %.8s", a->nlo);
        struct whereis_result w;
        if (recover_whereis(l->c->cfg, a->nlo, &w) != 0) {
            snprintf(live, sizeof live, "?");
            snprintf(set, sizeof set, "%.40s", dv_err());
            elem = TH_ERROR;
        } else {
            if (w.live_path)
                snprintf(live, sizeof live, "yes %04d", w.live_subdir);
            else
                snprintf(live, sizeof live, "MISSING");
            if (w.nsets)
                snprintf(set, sizeof set, "%s%s", w.sets[0].id, w.nsets > 1 ? " +" : "");
            else
                snprintf(set, sizeof set, "none");
            snprintf(refs, sizeof refs, "%zu db%s", w.ndbs, w.ndbs == 1 ? "" : "s");
            if (!w.live_path) {
                l->missing++;
                bool ok = w.in_pool && w.pool_file;
                l->lost += !ok;
                elem = ok ? TH_WARNING : TH_ERROR;
                if (!ok && w.nsets == 0)
                    snprintf(set, sizeof set, "none: LOST");
            }
        }
        recover_whereis_done(&w);
    }
    const char *cells[6] = {a->name, size, stored, live, set, refs};
    tui_vec_add(l->src, elem, a->nlo, cells);
    return 0;
}

/* (Re)read the opened document's attachments and where each NLO is. */
static void rec_load_doc(struct recscr *rs, struct tui *t)
{
    struct console *c = rs->base.c;
    struct dv_store *st = con_store(c);
    struct attlist l = {.c = c, .src = tui_vec_new(6)};
    if (!st || store_doc_atts(st, rs->into, rs->unid, rec_att_cb, &l) < 0) {
        char m[DV_ERR_MAX];
        snprintf(m, sizeof m, "%s", dv_err());
        l.src->free(l.src);
        tui_list_set_source(&rs->atts, NULL);
        snprintf(rs->atts.err, sizeof rs->atts.err, "%s", m);
        if (t)
            tui_error(t, "Document", m);
        return;
    }
    rs->natt = l.natt;
    rs->nnlo = l.nnlo;
    rs->nmissing = l.missing;
    rs->nlost = l.lost;
    if (tui_list_set_source(&rs->atts, l.src) != 0 && t)
        tui_error(t, "Document", dv_err());
}

/* The live state of the opened document now (from the documents list, read again). */
static void rec_refresh_doc_state(struct recscr *rs)
{
    for (int i = 0; rs->docs.src && i < 1; i++) {
        const struct tui_row *r = tui_list_current(&rs->docs);
        const char *tag = r ? tui_vec_tag(rs->docs.src, r->key) : NULL;
        if (tag && strcmp(tag, rs->unid) == 0)
            snprintf(rs->live, sizeof rs->live, "%.15s", r->cell[0]);
    }
}

static void rec_open(struct recscr *rs, struct tui *t)
{
    const struct tui_row *r = tui_list_current(&rs->docs);
    const char *unid = r ? tui_vec_tag(rs->docs.src, r->key) : NULL;
    if (!unid) {
        tui_msg(t, "no document selected");
        return;
    }
    snprintf(rs->unid, sizeof rs->unid, "%s", unid);
    snprintf(rs->live, sizeof rs->live, "%.15s", r->cell[0]);
    snprintf(rs->created, sizeof rs->created, "%.31s", r->cell[1]);
    snprintf(rs->subject, sizeof rs->subject, "%s", r->cell[4]);
    snprintf(rs->sender, sizeof rs->sender, "%s", r->cell[5]);
    rs->copied = false;
    rec_load_doc(rs, t);
    rec_set_mode(rs, RM_DOC);
}

/* The selected (DOCS) or opened (DOC) document's unid, or NULL. */
static const char *rec_cur_unid(struct recscr *rs)
{
    if (rs->mode == RM_DOC)
        return rs->unid[0] ? rs->unid : NULL;
    const struct tui_row *r = tui_list_current(&rs->docs);
    return r ? tui_vec_tag(rs->docs.src, r->key) : NULL;
}

void recovery_restored(struct console *c, bool ok, const char *db, const char *set,
                       const char *into, const char *warn)
{
    struct recscr *rs = rec_of(c);
    if (!ok) {
        rec_set_mode(rs, RM_NLOS);
        return;
    }
    snprintf(rs->db, sizeof rs->db, "%s", db);
    snprintf(rs->set, sizeof rs->set, "%s", set);
    snprintf(rs->into, sizeof rs->into, "%s", into);
    snprintf(rs->warn, sizeof rs->warn, "%s", warn);
    rs->copy_missing = -1;
    rs->unid[0] = 0;
    tui_list_set_source(&rs->docs, NULL);
    rec_load_docs(rs, NULL);
    rec_set_mode(rs, RM_DOCS);
    tui_switch(c->tui, CON_RECOVERY);
}

void recovery_recovered(struct console *c, bool doc)
{
    struct recscr *rs = rec_of(c);
    if (rs->mode == RM_DOCS || rs->mode == RM_DOC)
        rec_recount(rs);
    if (doc && rs->mode == RM_DOC)
        rec_load_doc(rs, NULL);
    if (!doc && rs->missing.src)
        tui_list_reload(&rs->missing);
}

void recovery_copied(struct console *c, const char *unid)
{
    struct recscr *rs = rec_of(c);
    if (strcmp(unid, rs->unid) == 0)
        rs->copied = true;
    rec_load_docs(rs, NULL);
    if (rs->mode == RM_DOC) {
        rec_refresh_doc_state(rs);
        rec_load_doc(rs, NULL);
    }
}

void recovery_bringback(struct console *c, const char *busy)
{
    struct recscr *rs = rec_of(c);
    if (busy) {
        snprintf(rs->busy, sizeof rs->busy, "%s", busy);
        rec_set_mode(rs, RM_RESTORING);
        return;
    }
    rs->busy[0] = 0;
    rec_load_docs(rs, NULL); /* the marks and the header's counts again */
    rec_set_mode(rs, RM_DOCS);
}

/*
 * Choose a database of server.databases in a picker (pre: the one the cursor starts on).
 * other: a last entry lets the operator type a path instead (a database outside the list).
 * Returns the path (malloc'd) or NULL (cancelled, or an error already shown).
 */
static char *rec_pick_db(struct console *c, struct tui *t, const char *title, const char *pre,
                         bool other)
{
    char **paths = NULL;
    size_t n = 0;
    if (dbglob_list(c->cfg, &paths, &n) != 0) {
        tui_error(t, title, dv_err());
        return NULL;
    }
    if (n == 0 && !other) {
        tui_error(t, title, "no databases match server.databases");
        dbglob_free(paths);
        return NULL;
    }
    qsort(paths, n, sizeof(char *), con_cmp_str);
    int initial = 0;
    struct strv lines = {0};
    for (size_t i = 0; i < n; i++) {
        if (pre && strcmp(paths[i], pre) == 0)
            initial = (int)i;
        strv_add(&lines, dv_asprintf(" %s", paths[i]));
    }
    if (other)
        strv_add(&lines, dv_strdup(" Another database: type its path ..."));
    int k = tui_view(t, title, NULL, lines.v, (int)lines.n, initial, true);
    strv_free(&lines);
    char *db = k >= 0 && (size_t)k < n ? dv_strdup(paths[k]) : NULL;
    dbglob_free(paths);
    if (other && k >= 0 && (size_t)k == n)
        db = tui_input(t, title, "Database (relative to data_dir):", pre);
    if (db && !*db) {
        free(db);
        db = NULL;
    }
    return db;
}

/* The guided flow's start: database, set, new name; then the restore runs as a job. */
static void rec_flow_start(struct recscr *rs, struct tui *t)
{
    struct console *c = rs->base.c;
    if (con_busy(t))
        return;
    const char *dr = databases_selected(c);
    char *db = rec_pick_db(c, t, "Single-document recovery 1/3: which database held the document?",
                           rs->db[0] ? rs->db : dr, false);
    char *set = NULL, *into = NULL;
    if (!db)
        goto cancelled;
    set = con_pick_set(c, t, db, "Single-document recovery 2/3: restore it from which set?");
    if (!set)
        goto cancelled;
    bool force = false;
    into = con_ask_into(c, t, db, "Single-document recovery 3/3", &force);
    if (!into)
        goto cancelled;
    snprintf(rs->db, sizeof rs->db, "%s", db);
    snprintf(rs->set, sizeof rs->set, "%s", set);
    snprintf(rs->into, sizeof rs->into, "%s", into);
    rs->busy[0] = 0;
    con_start_restore(c, t, db, set, into, force, false, true);
    if (conjob_running())
        rec_set_mode(rs, RM_RESTORING);
    goto out;
cancelled:
    tui_msg(t, "single-document recovery cancelled");
out:
    free(db);
    free(set);
    free(into);
}

static void rec_doc_nlos(struct recscr *rs, struct tui *t)
{
    struct console *c = rs->base.c;
    const char *unid = rec_cur_unid(rs);
    if (!unid) {
        tui_msg(t, "no document selected");
        return;
    }
    if (con_busy(t))
        return;
    con_start_recover_doc(c, t, rs->into, unid);
}

static void rec_copy(struct recscr *rs, struct tui *t)
{
    struct console *c = rs->base.c;
    const char *unid = rec_cur_unid(rs);
    if (!unid) {
        tui_msg(t, "no document selected");
        return;
    }
    if (con_busy(t))
        return;
    char q[6000];
    struct doccopy_origin og;
    if (recover_doc_origin(c->cfg, rs->into, rs->db, &og) != 0) {
        tui_error(t, "Copy into the live database", dv_err());
        return;
    }
    if (!og.same) {
        /* the restored copy is not of this database (any more): say so, naming both */
        snprintf(q, sizeof q,
                 "WARNING: another database. The restored copy %.1000s is of %.1000s (replica id "
                 "%s), but the live database %.1000s has replica id %s now. Copy document %s "
                 "into %.1000s anyway?",
                 rs->into, og.origin[0] ? og.origin : rs->into,
                 og.origin_replica_id[0] ? og.origin_replica_id : "(none)", rs->db,
                 og.live_replica_id[0] ? og.live_replica_id : "(none)", unid, rs->db);
        if (!tui_confirm(t, "Copy into ANOTHER database", q)) {
            tui_msg(t, "copy cancelled");
            return;
        }
    } else {
        snprintf(q, sizeof q,
                 "Copy document %s from the restored copy %s into the LIVE database %s? Its "
                 "missing NLOs are recovered from the pool first; a soft-deleted document is "
                 "undeleted.",
                 unid, rs->into, rs->db);
        if (!tui_confirm(t, "Copy into the live database", q)) {
            tui_msg(t, "copy cancelled");
            return;
        }
    }
    con_start_doccopy(c, t, rs->into, unid, rs->db, !og.same);
}

/* The restored copy as the server names its files: relative to data_dir when it is below. */
static const char *rec_into_rel(const struct recscr *rs)
{
    const char *into = rs->into, *dd = rs->base.c->cfg->server.data_dir;
    size_t dl = strlen(dd);
    if (dl && strncmp(into, dd, dl) == 0 && into[dl] == '/')
        into += dl + 1;
    return into;
}

/* RM_RESTORING: the running job's progress (the guided flow's restore, or bringing back
 * deleted documents) */
static void rec_draw_busy(struct recscr *rs, struct tui *t, struct tui_rect b)
{
    char line[2400];
    struct dv_progress p;
    char title[128];
    if (rs->busy[0]) {
        snprintf(line, sizeof line, " Bring back deleted documents: %s", rs->busy);
        tui_put(b.y, b.x, b.w, line, TH_HEADER, true);
        snprintf(line, sizeof line, " into the LIVE database %s from the restored copy %s", rs->db,
                 rec_into_rel(rs));
    } else {
        tui_put(b.y, b.x, b.w, " Single-document recovery: restoring into a new name", TH_HEADER,
                true);
        snprintf(line, sizeof line, " %s from set %s into %s", rs->db, rs->set, rs->into);
    }
    tui_put(b.y + 1, b.x, b.w, line, TH_TEXT, true);
    if (conjob_snapshot(&p, title, sizeof title))
        tui_progress_draw((struct tui_rect){b.y + 3, b.x + 2, 3, b.w - 4}, &p, dv_mono());
    if (rs->busy[0])
        tui_hint(t, "the documents are compared again when it ends (F9 cancels: before the "
                    "write)");
    else
        tui_hint(t, "restoring: the documents of the copy are listed when it ends (F9 "
                    "cancels)");
}

static void rec_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    struct recscr *rs = s->ud;
    struct console *c = rs->base.c;
    char line[2400];
    if (rs->mode == RM_RESTORING) {
        rec_draw_busy(rs, t, b);
        return;
    }
    if (rs->mode == RM_DOCS) {
        const char *into = rec_into_rel(rs);
        /* a restore folder name says the database and the set already (DB--SET...) */
        char stem[1100];
        snprintf(stem, sizeof stem, "%.*s--%s",
                 (int)(strrchr(rs->db, '.') ? strrchr(rs->db, '.') - rs->db : (int)strlen(rs->db)),
                 rs->db, rs->set);
        const char *m = strstr(into, stem);
        if (m && (m == into || m[-1] == '/'))
            snprintf(line, sizeof line, " %llu documents, %llu no longer live (marked) in copy %s",
                     (unsigned long long)rs->ndocs, (unsigned long long)rs->nmarked, into);
        else
            snprintf(line, sizeof line,
                     " %llu documents, %llu no longer live (marked): %s from set %s, copy %s",
                     (unsigned long long)rs->ndocs, (unsigned long long)rs->nmarked, rs->db,
                     rs->set, into);
        /* the header whole: wrapped onto a second line (the list one row shorter) when wide */
        struct tui_lines hl = {0};
        tui_wrap(line, b.w - 1, 2, &hl);
        int hn = hl.n > 2 ? 2 : hl.n < 1 ? 1 : hl.n;
        for (int i = 0; i < hn; i++)
            tui_put(b.y + i, b.x, b.w, hl.v[i], TH_HEADER, true);
        tui_lines_free(&hl);
        b.y += hn - 1;
        b.h -= hn - 1;
        char miss[300];
        if (rs->copy_missing > 0)
            snprintf(miss, sizeof miss,
                     " %lld NLOs of the restored copy are missing from the live repository "
                     "(F7 recovers those of the selected document)",
                     (long long)rs->copy_missing);
        else if (rs->copy_missing == 0)
            snprintf(miss, sizeof miss,
                     " every NLO of the restored copy is in the live repository");
        tui_put(b.y + 1, b.x, b.w,
                rs->copy_missing >= 0         ? miss
                : rs->warn[0]                 ? rs->warn
                : !dv_config_has_daos(c->cfg) ? " no DAOS: the attachments are inline"
                                              : " DAOS index NEEDS_RESYNC "
                                                "after the restore (F8 resyncs)",
                rs->copy_missing > 0 || (rs->copy_missing < 0 && rs->warn[0]) ? TH_WARNING : TH_DIM,
                true);
        tui_list_draw(&rs->docs, (struct tui_rect){b.y + 2, b.x, b.h - 2, b.w});
        tui_hint(t, "/ finds a document, Enter opens it, B brings back every marked one, F6 copies "
                    "one into the live database, F9 back");
        return;
    }
    if (rs->mode == RM_DOC) {
        snprintf(line, sizeof line, " %s  (from %s)", rs->subject, rs->sender);
        tui_put(b.y, b.x, b.w, line, TH_HEADER, true);
        bool gone = strcmp(rs->live, "present") != 0;
        snprintf(line, sizeof line, " unid %s, created %s; in the live %s: %s", rs->unid,
                 rs->created, rs->db, rs->live);
        tui_put(b.y + 1, b.x, b.w, line, gone ? TH_WARNING : TH_TEXT, true);
        snprintf(line, sizeof line,
                 " %d attachments, %d NLOs: %d missing from the live "
                 "repository%s",
                 rs->natt, rs->nnlo, rs->nmissing, rs->nlost ? " (SOME NOT IN THE POOL)" : "");
        tui_put(b.y + 2, b.x, b.w, line,
                rs->nlost      ? TH_ERROR
                : rs->nmissing ? TH_WARNING
                               : TH_OK,
                true);
        tui_list_draw(&rs->atts, (struct tui_rect){b.y + 3, b.x, b.h - 3, b.w});
        if (rs->copied)
            tui_hint(t, "copied into %s: F8 resyncs the DAOS index, F9 back to the documents",
                     rs->db);
        else if (rs->nmissing)
            tui_hint(t, "F7 recovers the %d missing NLOs, then F6 copies the document into %s",
                     rs->nmissing, rs->db);
        else if (gone)
            tui_hint(t, "its NLOs are all live: F6 copies the document into %s", rs->db);
        else
            tui_hint(t, "the live database has this document: nothing to copy (F9 back)");
        return;
    }
    if (con_no_daos(c, NULL)) {
        tui_put(b.y, b.x, b.w, " " DV_NO_DAOS " (server.daos_dir is not set): no NLOs to recover",
                TH_HEADER, true);
        tui_put(b.y + 1, b.x, b.w,
                " Attachments are inline: F6 (u) single-document recovery restores a document "
                "with them.",
                TH_DIM, true);
        tui_hint(t, "F6 (u) single-document recovery");
        return;
    }
    tui_put(b.y, b.x, b.w,
            rs->missing_title[0] ? rs->missing_title
                                 : " no list yet: d chooses a database, l reads a list file",
            TH_DIM, true);
    tui_list_draw(&rs->missing, (struct tui_rect){b.y + 1, b.x, b.h - 1, b.w});
    if (rs->missing.src)
        tui_hint(t, "Space selects, F7 recovers the selected (or all) NLOs, s saves the list; "
                    "F6 single-document recovery");
    else
        tui_hint(t, "F6 (u) single-document recovery; F2 lists the NLOs a database misses; l "
                    "reads a list");
}

static int rec_tick(struct tui_screen *s, struct tui *t)
{
    (void)t;
    struct recscr *rs = s->ud;
    return rs->mode == RM_RESTORING && conjob_running() ? TUI_REDRAW : 0;
}

static struct namesrc *rec_names(struct recscr *rs)
{
    return rs->missing.src ? tui_keys_ud(rs->missing.src) : NULL;
}

static int rec_save(struct recscr *rs, struct tui *t)
{
    struct console *c = rs->base.c;
    struct namesrc *d = rec_names(rs);
    if (!d || d->n == 0) {
        tui_msg(t, "the list is empty");
        return TUI_HANDLED;
    }
    char *file = tui_input(t, "Save list", "File (one NLO name a line):", "missing-nlos.txt");
    if (!file || !*file) {
        free(file);
        return TUI_REDRAW;
    }
    size_t nmark = 0;
    for (size_t i = 0; i < d->n; i++)
        nmark += d->mark[i];
    size_t cap = d->n * (STORE_NLO_NAME_LEN + 1) + 1, len = 0;
    char *buf = dv_malloc(cap);
    for (size_t i = 0; i < d->n; i++)
        if (!nmark || d->mark[i])
            len += (size_t)snprintf(buf + len, cap - len, "%s\n", d->names[i]);
    char *abs = dv_path_abs(c->cfg->base_dir, file);
    struct stat st;
    if (lstat(abs, &st) == 0) {
        char q[1300];
        snprintf(q, sizeof q, "%s exists. Replace it?", abs);
        if (!tui_confirm(t, "Save list", q)) {
            free(abs);
            free(buf);
            free(file);
            return TUI_REDRAW;
        }
    }
    if (dv_write_atomic(abs, buf, len, 0644) != 0)
        tui_error(t, "Save list", dv_err());
    else
        tui_msg(t, "%zu names written to %s", nmark ? nmark : d->n, abs);
    free(abs);
    free(buf);
    free(file);
    return TUI_REDRAW;
}

static int rec_load(struct recscr *rs, struct tui *t)
{
    struct console *c = rs->base.c;
    char *file = tui_input(t, "Load list", "File (one NLO name a line):", "missing-nlos.txt");
    if (!file || !*file) {
        free(file);
        return TUI_REDRAW;
    }
    char *abs = dv_path_abs(c->cfg->base_dir, file);
    /* the one list-file grammar (recover --list reads the same): comments, blank lines,
     * names with or without ".nlo"; a regular file of bounded size, a FIFO refused unread */
    char **names = NULL;
    size_t n = 0;
    if (recover_list_read(abs, &names, &n) != 0) {
        tui_error(t, "Load list", dv_err());
    } else {
        struct strv v = {0};
        for (size_t i = 0; i < n; i++)
            strv_add(&v, names[i]); /* the names move into v */
        free(names);
        char title[1200];
        snprintf(title, sizeof title, " NLOs listed in %s: %zu", abs, v.n);
        missing_set(rs, t, &v, title);
    }
    free(abs);
    free(file);
    return TUI_REDRAW;
}

/* F7 on the panel: the selection (or every listed name) into a temp list file, then
 * recover_nlos reads it as a job. */
static int rec_recover_list(struct recscr *rs, struct tui *t)
{
    struct console *c = rs->base.c;
    struct namesrc *d = rec_names(rs);
    if (!d || d->n == 0) {
        tui_msg(t, "the list is empty");
        return TUI_HANDLED;
    }
    if (con_busy(t))
        return TUI_HANDLED;
    size_t nmark = 0;
    for (size_t i = 0; i < d->n; i++)
        nmark += d->mark[i];
    char q[300];
    snprintf(q, sizeof q,
             "Copy the %zu %s NLOs from the backup pool into the live DAOS "
             "repository?",
             nmark ? nmark : d->n, nmark ? "selected" : "listed");
    if (!tui_confirm(t, "Recover", q)) {
        tui_msg(t, "recover cancelled");
        return TUI_REDRAW;
    }
    const char *tmp = getenv("TMPDIR");
    char *path = dv_asprintf("%s/dvault-recover-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        if (fd >= 0)
            close(fd);
        dv_syserr("%s", path);
        tui_error(t, "Recover", dv_err());
        free(path);
        return TUI_REDRAW;
    }
    for (size_t i = 0; i < d->n; i++)
        if (!nmark || d->mark[i])
            fprintf(f, "%s\n", d->names[i]);
    if (fclose(f) != 0) {
        dv_syserr("%s", path);
        tui_error(t, "Recover", dv_err());
        unlink(path);
        free(path);
        return TUI_REDRAW;
    }
    con_start_recover_list(c, t, path, nmark ? nmark : d->n);
    return TUI_REDRAW;
}

static int rec_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    (void)key;
    struct recscr *rs = s->ud;
    struct console *c = rs->base.c;
    struct namesrc *d = rec_names(rs);
    const struct tui_row *r = tui_list_current(&rs->missing);
    if ((action == REC_DB || action == REC_MARK || action == REC_ALL || action == REC_SAVE ||
         action == REC_LOAD || action == REC_RECOVER || action == REC_RESYNC ||
         action == REC_DOC_NLOS) &&
        con_no_daos(c, t))
        return TUI_HANDLED;
    switch (action) {
    case REC_DB: {
        char *in =
            rec_pick_db(c, t, "Missing NLOs: of which database?", databases_selected(c), true);
        if (in)
            con_start_listnlo(c, t, in);
        free(in);
        return TUI_REDRAW;
    }
    case REC_MARK:
    case REC_ALL:
        if (!d || d->n == 0) {
            tui_msg(t, "the list is empty");
            return TUI_HANDLED;
        }
        if (action == REC_MARK && r) {
            size_t i = tui_keys_index(rs->missing.src, r->key);
            if (i < d->n)
                d->mark[i] = !d->mark[i];
            tui_list_reload(&rs->missing);
            tui_list_down(&rs->missing, 1);
        } else if (action == REC_ALL) {
            bool any = false;
            for (size_t i = 0; i < d->n; i++)
                any |= d->mark[i];
            for (size_t i = 0; i < d->n; i++)
                d->mark[i] = !any;
            tui_list_reload(&rs->missing);
        }
        return TUI_REDRAW;
    case REC_SAVE:
        return rec_save(rs, t);
    case REC_LOAD:
        return rec_load(rs, t);
    case REC_RECOVER:
        return rec_recover_list(rs, t);
    case REC_RESYNC:
        con_start_resync(c, t, NULL);
        return TUI_REDRAW;
    case REC_DOC:
        rec_flow_start(rs, t);
        return TUI_REDRAW;
    case REC_OPEN:
        rec_open(rs, t);
        return TUI_REDRAW;
    case REC_DOC_NLOS:
        rec_doc_nlos(rs, t);
        return TUI_REDRAW;
    case REC_COPY:
        rec_copy(rs, t);
        return TUI_REDRAW;
    case REC_BRING:
        con_bringback_start(c, t, rs->into, rs->db, rs->nmarked);
        return TUI_REDRAW;
    case REC_REFRESH:
        rec_load_docs(rs, t);
        if (rs->mode == RM_DOC) {
            rec_refresh_doc_state(rs);
            rec_load_doc(rs, t);
        }
        return TUI_REDRAW;
    case REC_BACK:
        if (rs->mode == RM_DOC)
            rec_set_mode(rs, RM_DOCS);
        else if (rs->mode == RM_DOCS)
            rec_set_mode(rs, RM_NLOS);
        else if (rs->into[0] && rs->docs.src)
            rec_set_mode(rs, RM_DOCS);
        else
            return TUI_IGNORED;
        return TUI_REDRAW;
    case REC_CANCEL:
        if (conjob_running() &&
            tui_confirm(t, "Cancel",
                        rs->busy[0] ? "Cancel it? (Nothing is changed before the "
                                      "write.)"
                                    : "Cancel the restore?")) {
            conjob_cancel();
            tui_msg(t, "cancel requested: the restore stops at its next check");
        }
        return TUI_REDRAW;
    }
    return TUI_IGNORED;
}

static void rec_free(struct con_screen *s)
{
    struct recscr *rs = (struct recscr *)s;
    tui_list_done(&rs->missing);
    tui_list_done(&rs->docs);
    tui_list_done(&rs->atts);
    free(rs);
}

struct con_screen *recovery_new(struct console *c)
{
    struct recscr *rs = dv_calloc(1, sizeof *rs);
    tui_list_init(&rs->missing, miss_cols, 3);
    rs->missing.empty = "no NLOs missing";
    rs->missing.nosrc = "choose a database (d) or read a list (l)";
    tui_list_init(&rs->docs, doc_cols, 6);
    rs->docs.empty = "the restored copy has no documents";
    rs->docs.narrow = doc_narrow;
    rs->docs.natural_col = -1; /* as the restored copy lists them */
    tui_list_init(&rs->atts, att_cols, 6);
    rs->atts.empty = "the document has no attachments";
    rs->atts.narrow = att_narrow;
    rs->atts.natural_col = -1;
    rs->base.c = c;
    rs->base.free = rec_free;
    rs->base.tui = (struct tui_screen){"Recovery", rec_keys,   &rs->missing, NULL,
                                       rec_draw,   rec_action, rec_tick,     rs};
    return &rs->base;
}

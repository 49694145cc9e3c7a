/*
 * console.c - the operator console: theme, screens and their key tables, wired to the backend.
 *
 * Each screen is a struct tui_screen with its own key table (the function-key bar and the
 * help screen are generated from it). Data comes from backend calls only (status_collect,
 * catalog queries, store queries, dbstats); long work (backup, restore, resync, listnlo) runs
 * through the job runner (conjob.h) on a worker thread while the console keeps answering.
 * The console thread keeps its own catalog and store handles for the lists (reopened after
 * each job); jobs open their own.
 */
#include "console.h"
#include "screens/screens.h"

#include <ctype.h>
#include <curses.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backup.h"
#include "catalog.h"
#include "cli.h"
#include "conjob.h"
#include "dbglob.h"
#include "dbstats.h"
#include "fsb.h"
#include "prune.h"
#include "recover.h"
#include "restore.h"
#include "status.h"
#include "store.h"
#include "target.h"
#include "theme.h"
#include "tui.h"
#include "tui_list.h"
#include "tui_vec.h"
#include "verify.h"
#include "util.h"

bool console_job_running(void)
{
    return conjob_running();
}

bool console_job_progress(struct dv_progress *out)
{
    return conjob_snapshot(out, NULL, 0);
}

void strv_add(struct strv *s, char *str) /* takes str */
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = dv_realloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = str;
}

void strv_free(struct strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

void con_post(struct console *c, struct strv *lines, const char *title)
{
    if (c->post_lines) {
        strv_free(c->post_lines);
        free(c->post_lines);
    }
    c->post_lines = lines;
    snprintf(c->post_title, sizeof c->post_title, "%s", title);
}

/* ---- handles of the console thread ---- */

/* The catalog, opened when its file exists. NULL with *none = true when there is no catalog
 * yet (no backup has run), NULL with *none = false and dv_err() on a real error. */
struct catalog *con_catalog(struct console *c, bool *none)
{
    *none = false;
    if (c->cat)
        return c->cat;
    struct stat sb;
    if (stat(c->cfg->catalog, &sb) != 0) {
        *none = true;
        dv_seterr("no catalog yet (%s): no backup has run", c->cfg->catalog);
        return NULL;
    }
    c->cat = catalog_open(c->cfg->catalog);
    return c->cat;
}

struct dv_store *con_store(struct console *c)
{
    struct stat sb;
    if (!c->st && stat(c->cfg->server.data_dir, &sb) != 0) { /* never create the server's dir */
        dv_syserr("%s", c->cfg->server.data_dir);
        return NULL;
    }
    if (!c->st)
        c->st = store_open(c->cfg);
    return c->st;
}

/* A server without DAOS: an NLO action says so (on the message line) and does nothing. */
bool con_no_daos(struct console *c, struct tui *t)
{
    if (dv_config_has_daos(c->cfg))
        return false;
    if (t)
        tui_msg(t, "%s (server.daos_dir is not set): no NLOs here", DV_NO_DAOS);
    return true;
}

static void con_close_handles(struct console *c)
{
    catalog_close(c->cat);
    c->cat = NULL;
    store_free(c->st);
    c->st = NULL;
}

/* ---- jobs: what the console starts ---- */

int con_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void con_list_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    (void)t;
    tui_list_draw(s->list, b);
}

void con_seq_key(int64_t seq, char key[TUI_KEY_MAX])
{
    snprintf(key, TUI_KEY_MAX, "%019lld", (long long)(INT64_MAX - seq));
}

int64_t con_key_seq(const char *key)
{
    return INT64_MAX - strtoll(key, NULL, 10);
}

/* ---- Recovery: a list of NLO names (listnlo missing, or read from a file), with marks ---- */

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
    if (pr == 1)
        snprintf(r->cell[2], sizeof r->cell[2], "yes (set #%lld)", (long long)po.first_set);
    else
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
static struct tui_source *names_source_new(struct console *c, struct strv *v)
{
    struct namesrc *d = dv_calloc(1, sizeof *d);
    d->c = c;
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

static void missing_set(struct console *c, struct tui *t, struct strv *v, const char *title)
{
    snprintf(c->missing_title, sizeof c->missing_title, "%s", title);
    if (tui_list_set_source(&c->missing, names_source_new(c, v)) != 0)
        tui_error(t, "Recovery", dv_err());
}

void recovery_show_missing(struct console *c, struct strv *names, const char *title)
{
    missing_set(c, c->tui, names, title);
    tui_switch(c->tui, CON_RECOVERY);
}

static const struct tui_column miss_cols[] = {
    {"NLO", 0, TUI_LEFT},
    {"Size", 10, TUI_RIGHT},
    {"In pool", 18, TUI_LEFT},
};

/* The Recovery screen's modes: the NLO panel, a restore running for the guided flow, the
 * restored copy's documents, one document. Each has its own key table (bar and help follow). */
enum { RM_NLOS, RM_RESTORING, RM_DOCS, RM_DOC };

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
};

static const struct tui_key rec_keys[] = {
    {{KEY_F(2), 'd'}, REC_DB, "Database", "Choose the database whose missing NLOs to list", NULL},
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

static const struct tui_column att_cols[] = {
    {"Attachment", 0, TUI_LEFT}, {"Size", 9, TUI_RIGHT},       {"Stored", 14, TUI_LEFT},
    {"Live", 12, TUI_LEFT},      {"Newest set", 17, TUI_LEFT}, {"Refs now", 10, TUI_LEFT},
};

static void rec_set_mode(struct console *c, int mode)
{
    struct tui_screen *s = c->rec_screen;
    c->rec_mode = mode;
    if (!s)
        return;
    switch (mode) {
    case RM_NLOS:
        s->keys = rec_keys;
        s->list = &c->missing;
        break;
    case RM_RESTORING:
        s->keys = rec_wait_keys;
        s->list = NULL;
        break;
    case RM_DOCS:
        s->keys = rec_docs_keys;
        s->list = &c->docs;
        break;
    case RM_DOC:
        s->keys = rec_doc_keys;
        s->list = &c->atts;
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

/* (Re)read the restored copy's documents, compared with the live database. */
static void rec_load_docs(struct console *c, struct tui *t)
{
    struct doclist l = {.src = tui_vec_new(6)};
    char cur[TUI_KEY_MAX] = "";
    const struct tui_row *r = tui_list_current(&c->docs);
    if (r && c->docs.src)
        snprintf(cur, sizeof cur, "%s", r->key);
    uint64_t n = 0;
    if (recover_doc_list(c->cfg, c->rec_into, c->rec_db, NULL, rec_doc_cb, &l, &n) != 0) {
        char m[DV_ERR_MAX];
        snprintf(m, sizeof m, "%s", dv_err());
        l.src->free(l.src);
        tui_list_set_source(&c->docs, NULL);
        snprintf(c->docs.err, sizeof c->docs.err, "%s", m);
        if (t)
            tui_error(t, "Documents", m);
        return;
    }
    c->rec_ndocs = n;
    c->rec_nmarked = l.marked;
    if (tui_list_set_source(&c->docs, l.src) != 0 && t)
        tui_error(t, "Documents", dv_err());
    if (cur[0])
        tui_list_goto(&c->docs, cur);
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
static void rec_load_doc(struct console *c, struct tui *t)
{
    struct dv_store *st = con_store(c);
    struct attlist l = {.c = c, .src = tui_vec_new(6)};
    if (!st || store_doc_atts(st, c->rec_into, c->rec_unid, rec_att_cb, &l) < 0) {
        char m[DV_ERR_MAX];
        snprintf(m, sizeof m, "%s", dv_err());
        l.src->free(l.src);
        tui_list_set_source(&c->atts, NULL);
        snprintf(c->atts.err, sizeof c->atts.err, "%s", m);
        if (t)
            tui_error(t, "Document", m);
        return;
    }
    c->rec_natt = l.natt;
    c->rec_nnlo = l.nnlo;
    c->rec_missing = l.missing;
    c->rec_lost = l.lost;
    if (tui_list_set_source(&c->atts, l.src) != 0 && t)
        tui_error(t, "Document", dv_err());
}

/* The live state of the opened document now (from the documents list, read again). */
static void rec_refresh_doc_state(struct console *c)
{
    for (int i = 0; c->docs.src && i < 1; i++) {
        const struct tui_row *r = tui_list_current(&c->docs);
        const char *tag = r ? tui_vec_tag(c->docs.src, r->key) : NULL;
        if (tag && strcmp(tag, c->rec_unid) == 0)
            snprintf(c->rec_live, sizeof c->rec_live, "%.15s", r->cell[0]);
    }
}

static void rec_open(struct console *c, struct tui *t)
{
    const struct tui_row *r = tui_list_current(&c->docs);
    const char *unid = r ? tui_vec_tag(c->docs.src, r->key) : NULL;
    if (!unid) {
        tui_msg(t, "no document selected");
        return;
    }
    snprintf(c->rec_unid, sizeof c->rec_unid, "%s", unid);
    snprintf(c->rec_live, sizeof c->rec_live, "%.15s", r->cell[0]);
    snprintf(c->rec_created, sizeof c->rec_created, "%.31s", r->cell[1]);
    snprintf(c->rec_subject, sizeof c->rec_subject, "%s", r->cell[4]);
    snprintf(c->rec_sender, sizeof c->rec_sender, "%s", r->cell[5]);
    c->rec_copied = false;
    rec_load_doc(c, t);
    rec_set_mode(c, RM_DOC);
}

/* The selected (DOCS) or opened (DOC) document's unid, or NULL. */
static const char *rec_cur_unid(struct console *c)
{
    if (c->rec_mode == RM_DOC)
        return c->rec_unid[0] ? c->rec_unid : NULL;
    const struct tui_row *r = tui_list_current(&c->docs);
    return r ? tui_vec_tag(c->docs.src, r->key) : NULL;
}

void recovery_restored(struct console *c, bool ok, const char *db, const char *set,
                       const char *into, const char *warn)
{
    if (!ok) {
        rec_set_mode(c, RM_NLOS);
        return;
    }
    snprintf(c->rec_db, sizeof c->rec_db, "%s", db);
    snprintf(c->rec_set, sizeof c->rec_set, "%s", set);
    snprintf(c->rec_into, sizeof c->rec_into, "%s", into);
    snprintf(c->rec_warn, sizeof c->rec_warn, "%s", warn);
    c->rec_unid[0] = 0;
    tui_list_set_source(&c->docs, NULL);
    rec_load_docs(c, NULL);
    rec_set_mode(c, RM_DOCS);
    tui_switch(c->tui, CON_RECOVERY);
}

void recovery_recovered(struct console *c, bool doc)
{
    if (doc && c->rec_mode == RM_DOC)
        rec_load_doc(c, NULL);
    if (!doc && c->missing.src)
        tui_list_reload(&c->missing);
}

void recovery_copied(struct console *c, const char *unid)
{
    if (strcmp(unid, c->rec_unid) == 0)
        c->rec_copied = true;
    rec_load_docs(c, NULL);
    if (c->rec_mode == RM_DOC) {
        rec_refresh_doc_state(c);
        rec_load_doc(c, NULL);
    }
}

/* The guided flow's start: database, set, new name; then the restore runs as a job. */
static void rec_flow_start(struct console *c, struct tui *t)
{
    if (con_busy(t))
        return;
    char **paths = NULL;
    size_t n = 0;
    if (dbglob_list(c->cfg, &paths, &n) != 0) {
        tui_error(t, "Single-document recovery", dv_err());
        return;
    }
    if (n == 0) {
        tui_error(t, "Single-document recovery", "no databases match server.databases");
        dbglob_free(paths);
        return;
    }
    qsort(paths, n, sizeof(char *), con_cmp_str);
    const char *dr = databases_selected(c);
    const char *pre = c->rec_db[0] ? c->rec_db : dr ? dr : "";
    int initial = 0;
    struct strv lines = {0};
    for (size_t i = 0; i < n; i++) {
        if (strcmp(paths[i], pre) == 0)
            initial = (int)i;
        strv_add(&lines, dv_asprintf(" %s", paths[i]));
    }
    int k = tui_view(t, "Single-document recovery 1/3: which database held the document?", NULL,
                     lines.v, (int)lines.n, initial, true);
    strv_free(&lines);
    char *db = k >= 0 ? dv_strdup(paths[k]) : NULL;
    dbglob_free(paths);
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
    snprintf(c->rec_db, sizeof c->rec_db, "%s", db);
    snprintf(c->rec_set, sizeof c->rec_set, "%s", set);
    snprintf(c->rec_into, sizeof c->rec_into, "%s", into);
    con_start_restore(c, t, db, set, into, force, false, true);
    if (conjob_running())
        rec_set_mode(c, RM_RESTORING);
    goto out;
cancelled:
    tui_msg(t, "single-document recovery cancelled");
out:
    free(db);
    free(set);
    free(into);
}

static void rec_doc_nlos(struct console *c, struct tui *t)
{
    const char *unid = rec_cur_unid(c);
    if (!unid) {
        tui_msg(t, "no document selected");
        return;
    }
    if (con_busy(t))
        return;
    con_start_recover_doc(c, t, c->rec_into, unid);
}

static void rec_copy(struct console *c, struct tui *t)
{
    const char *unid = rec_cur_unid(c);
    if (!unid) {
        tui_msg(t, "no document selected");
        return;
    }
    if (con_busy(t))
        return;
    char q[6000];
    struct doccopy_origin og;
    if (recover_doc_origin(c->cfg, c->rec_into, c->rec_db, &og) != 0) {
        tui_error(t, "Copy into the live database", dv_err());
        return;
    }
    if (!og.same) {
        /* the restored copy is not of this database (any more): say so, naming both */
        snprintf(q, sizeof q,
                 "WARNING: another database. The restored copy %.1000s is of %.1000s (replica id "
                 "%s), but the live database %.1000s has replica id %s now. Copy document %s "
                 "into %.1000s anyway?",
                 c->rec_into, og.origin[0] ? og.origin : c->rec_into,
                 og.origin_replica_id[0] ? og.origin_replica_id : "(none)", c->rec_db,
                 og.live_replica_id[0] ? og.live_replica_id : "(none)", unid, c->rec_db);
        if (!tui_confirm(t, "Copy into ANOTHER database", q)) {
            tui_msg(t, "copy cancelled");
            return;
        }
    } else {
        snprintf(q, sizeof q,
                 "Copy document %s from the restored copy %s into the LIVE database %s? Its "
                 "missing NLOs are recovered from the pool first; a soft-deleted document is "
                 "undeleted.",
                 unid, c->rec_into, c->rec_db);
        if (!tui_confirm(t, "Copy into the live database", q)) {
            tui_msg(t, "copy cancelled");
            return;
        }
    }
    con_start_doccopy(c, t, c->rec_into, unid, c->rec_db, !og.same);
}

static void rec_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    struct console *c = s->ud;
    char line[2400];
    if (c->rec_mode == RM_RESTORING) {
        struct dv_progress p;
        char title[128];
        tui_put(b.y, b.x, b.w, " Single-document recovery: restoring into a new name", TH_HEADER,
                true);
        snprintf(line, sizeof line, " %s from set %s into %s", c->rec_db, c->rec_set, c->rec_into);
        tui_put(b.y + 1, b.x, b.w, line, TH_TEXT, true);
        if (conjob_snapshot(&p, title, sizeof title))
            tui_progress_draw((struct tui_rect){b.y + 3, b.x + 2, 3, b.w - 4}, &p, dv_mono());
        tui_hint(t, "restoring: the documents of the copy are listed when it ends (F9 cancels)");
        return;
    }
    if (c->rec_mode == RM_DOCS) {
        snprintf(line, sizeof line,
                 " %llu documents, %llu no longer live (marked): %s from set "
                 "%s, restored as %s",
                 (unsigned long long)c->rec_ndocs, (unsigned long long)c->rec_nmarked, c->rec_db,
                 c->rec_set, c->rec_into);
        tui_put(b.y, b.x, b.w, line, TH_HEADER, true);
        tui_put(b.y + 1, b.x, b.w,
                c->rec_warn[0]                ? c->rec_warn
                : !dv_config_has_daos(c->cfg) ? " no DAOS: the attachments are inline"
                                              : " DAOS index NEEDS_RESYNC "
                                                "after the restore (F8 resyncs)",
                c->rec_warn[0] ? TH_WARNING : TH_DIM, true);
        tui_list_draw(&c->docs, (struct tui_rect){b.y + 2, b.x, b.h - 2, b.w});
        tui_hint(t, "/ finds a document, Enter opens it, F7 recovers its NLOs, F6 copies it into "
                    "the live database, F9 back");
        return;
    }
    if (c->rec_mode == RM_DOC) {
        snprintf(line, sizeof line, " %s  (from %s)", c->rec_subject, c->rec_sender);
        tui_put(b.y, b.x, b.w, line, TH_HEADER, true);
        bool gone = strcmp(c->rec_live, "present") != 0;
        snprintf(line, sizeof line, " unid %s, created %s; in the live %s: %s", c->rec_unid,
                 c->rec_created, c->rec_db, c->rec_live);
        tui_put(b.y + 1, b.x, b.w, line, gone ? TH_WARNING : TH_TEXT, true);
        snprintf(line, sizeof line,
                 " %d attachments, %d NLOs: %d missing from the live "
                 "repository%s",
                 c->rec_natt, c->rec_nnlo, c->rec_missing,
                 c->rec_lost ? " (SOME NOT IN THE POOL)" : "");
        tui_put(b.y + 2, b.x, b.w, line,
                c->rec_lost      ? TH_ERROR
                : c->rec_missing ? TH_WARNING
                                 : TH_OK,
                true);
        tui_list_draw(&c->atts, (struct tui_rect){b.y + 3, b.x, b.h - 3, b.w});
        if (c->rec_copied)
            tui_hint(t, "copied into %s: F8 resyncs the DAOS index, F9 back to the documents",
                     c->rec_db);
        else if (c->rec_missing)
            tui_hint(t, "F7 recovers the %d missing NLOs, then F6 copies the document into %s",
                     c->rec_missing, c->rec_db);
        else if (gone)
            tui_hint(t, "its NLOs are all live: F6 copies the document into %s", c->rec_db);
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
            c->missing_title[0] ? c->missing_title
                                : " no list yet: d chooses a database, l reads a list file",
            TH_DIM, true);
    tui_list_draw(&c->missing, (struct tui_rect){b.y + 1, b.x, b.h - 1, b.w});
    if (c->missing.src)
        tui_hint(t, "Space selects, F7 recovers the selected (or all) NLOs, s saves the list; "
                    "F6 single-document recovery");
    else
        tui_hint(t, "F6 (u) single-document recovery; F2 lists the NLOs a database misses; l "
                    "reads a list");
}

static int rec_tick(struct tui_screen *s, struct tui *t)
{
    (void)t;
    struct console *c = s->ud;
    return c->rec_mode == RM_RESTORING && conjob_running() ? TUI_REDRAW : 0;
}

static struct namesrc *rec_names(struct console *c)
{
    return c->missing.src ? tui_keys_ud(c->missing.src) : NULL;
}

static int rec_save(struct console *c, struct tui *t)
{
    struct namesrc *d = rec_names(c);
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
    if (dv_write_atomic(abs, buf, len, 0644) != 0)
        tui_error(t, "Save list", dv_err());
    else
        tui_msg(t, "%zu names written to %s", nmark ? nmark : d->n, abs);
    free(abs);
    free(buf);
    free(file);
    return TUI_REDRAW;
}

static int rec_load(struct console *c, struct tui *t)
{
    char *file = tui_input(t, "Load list", "File (one NLO name a line):", "missing-nlos.txt");
    if (!file || !*file) {
        free(file);
        return TUI_REDRAW;
    }
    char *abs = dv_path_abs(c->cfg->base_dir, file);
    char *buf = NULL;
    size_t len = 0;
    /* an operator's file: a regular file of bounded size (a FIFO is refused, never waited on) */
    if (dv_read_file_capped(abs, RECOVER_LIST_MAX, &buf, &len) != 0) {
        tui_error(t, "Load list", dv_err());
    } else {
        struct strv v = {0};
        size_t bad = 0, line = 0, first_bad = 0;
        for (char *p = buf, *nl; p && *p; p = nl ? nl + 1 : NULL) {
            nl = strchr(p, '\n');
            if (nl)
                *nl = 0;
            line++;
            size_t L = strlen(p);
            while (L && (p[L - 1] == '\r' || p[L - 1] == ' '))
                p[--L] = 0;
            if (!L)
                continue;
            if (store_nlo_name_valid(p))
                strv_add(&v, dv_strdup(p));
            else if (!bad++)
                first_bad = line;
        }
        if (bad) {
            char m[1400];
            snprintf(m, sizeof m, "%s:%zu: not an NLO name (%zu bad lines); nothing loaded", abs,
                     first_bad, bad);
            tui_error(t, "Load list", m);
            strv_free(&v);
        } else {
            char title[1200];
            snprintf(title, sizeof title, " NLOs listed in %s: %zu", abs, v.n);
            missing_set(c, t, &v, title);
        }
    }
    free(buf);
    free(abs);
    free(file);
    return TUI_REDRAW;
}

/* F7 on the panel: the selection (or every listed name) into a temp list file, then
 * recover_nlos reads it as a job. */
static int rec_recover_list(struct console *c, struct tui *t)
{
    struct namesrc *d = rec_names(c);
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
    struct console *c = s->ud;
    struct namesrc *d = rec_names(c);
    const struct tui_row *r = tui_list_current(&c->missing);
    if ((action == REC_DB || action == REC_MARK || action == REC_ALL || action == REC_SAVE ||
         action == REC_LOAD || action == REC_RECOVER || action == REC_RESYNC ||
         action == REC_DOC_NLOS) &&
        con_no_daos(c, t))
        return TUI_HANDLED;
    switch (action) {
    case REC_DB: {
        char *in =
            tui_input(t, "Missing NLOs", "Database (relative to data_dir):", databases_selected(c));
        if (in && *in)
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
            size_t i = tui_keys_index(c->missing.src, r->key);
            if (i < d->n)
                d->mark[i] = !d->mark[i];
            tui_list_reload(&c->missing);
            tui_list_down(&c->missing, 1);
        } else if (action == REC_ALL) {
            bool any = false;
            for (size_t i = 0; i < d->n; i++)
                any |= d->mark[i];
            for (size_t i = 0; i < d->n; i++)
                d->mark[i] = !any;
            tui_list_reload(&c->missing);
        }
        return TUI_REDRAW;
    case REC_SAVE:
        return rec_save(c, t);
    case REC_LOAD:
        return rec_load(c, t);
    case REC_RECOVER:
        return rec_recover_list(c, t);
    case REC_RESYNC:
        con_start_resync(c, t, NULL);
        return TUI_REDRAW;
    case REC_DOC:
        rec_flow_start(c, t);
        return TUI_REDRAW;
    case REC_OPEN:
        rec_open(c, t);
        return TUI_REDRAW;
    case REC_DOC_NLOS:
        rec_doc_nlos(c, t);
        return TUI_REDRAW;
    case REC_COPY:
        rec_copy(c, t);
        return TUI_REDRAW;
    case REC_REFRESH:
        rec_load_docs(c, t);
        if (c->rec_mode == RM_DOC) {
            rec_refresh_doc_state(c);
            rec_load_doc(c, t);
        }
        return TUI_REDRAW;
    case REC_BACK:
        if (c->rec_mode == RM_DOC)
            rec_set_mode(c, RM_DOCS);
        else if (c->rec_mode == RM_DOCS)
            rec_set_mode(c, RM_NLOS);
        else if (c->rec_into[0] && c->docs.src)
            rec_set_mode(c, RM_DOCS);
        else
            return TUI_IGNORED;
        return TUI_REDRAW;
    case REC_CANCEL:
        if (conjob_running() && tui_confirm(t, "Cancel", "Cancel the restore?")) {
            conjob_cancel();
            tui_msg(t, "cancel requested: the restore stops at its next check");
        }
        return TUI_REDRAW;
    }
    return TUI_IGNORED;
}

/* ---- the job runner's end: collect, report, refresh what the job changed ---- */

static int app_tick(struct tui *t, void *ud)
{
    struct console *c = ud;
    if (!conjob_finished() || tui_in_modal(t))
        return 0; /* a result waits until dialogs are closed */
    struct conjob_result r;
    if (!conjob_collect(&r))
        return 0;
    con_close_handles(c); /* the job may have created the catalog or changed the index */
    for (int i = 0; i < CON_NSCREENS; i++)
        if (c->screen[i] && c->screen[i]->job_done)
            c->screen[i]->job_done(c->screen[i]);
    if (r.rc != 0) {
        char m[DV_ERR_MAX + 256];
        snprintf(m, sizeof m, "%s %s: %s", r.title, r.cancelled ? "cancelled" : "failed", r.error);
        tui_msg(t, "%s %s", r.title, r.cancelled ? "cancelled" : "failed");
        tui_error(t, r.cancelled ? "Job cancelled" : "Job failed", m);
    } else {
        tui_msg(t, "%s done%s%s", r.title, r.summary[0] ? ": " : "", r.summary);
    }
    if (c->post_lines) { /* what the job left to read: per-NLO results, verify problems */
        struct strv *l = c->post_lines;
        c->post_lines = NULL;
        tui_view(t, c->post_title, NULL, l->v, (int)l->n, 0, false);
        strv_free(l);
        free(l);
    }
    if (c->post_resync[0] && r.rc == 0) {
        char why[600];
        snprintf(why, sizeof why, "%s", c->post_resync);
        c->post_resync[0] = 0;
        con_start_resync(c, t, why);
    }
    c->post_resync[0] = 0;
    return TUI_REDRAW;
}

/* ---- global keys of the console ---- */

enum { APP_THEME = 1 };

static const struct tui_key app_keys[] = {
    {{'t'}, APP_THEME, NULL, "Next colour theme (from the themes directory)", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static int app_action(struct tui *t, int action, int key, void *ud)
{
    struct console *c = ud;
    if (action != APP_THEME)
        return TUI_IGNORED;
    char **names = NULL;
    size_t n = 0;
    if (theme_list(c->themes_dir, &names, &n) != 0 || n == 0) {
        theme_list_free(names);
        tui_msg(t, "no themes in %s", c->themes_dir);
        return TUI_HANDLED;
    }
    size_t next = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], c->theme.name) == 0)
            next = (i + 1) % n;
    char *path = dv_path_join(c->themes_dir, names[next]);
    char *file = dv_asprintf("%s.yaml", path);
    struct theme th;
    if (theme_load(file, &th) != 0) {
        tui_error(t, "Theme", dv_err());
    } else {
        theme_done(&c->theme);
        c->theme = th;
        theme_use(&c->theme);
        tui_msg(t, "theme: %s%s", c->theme.name,
                theme_mode() == THEME_MONO ? " (this terminal shows no colours)" : "");
    }
    free(file);
    free(path);
    theme_list_free(names);
    return TUI_REDRAW;
}

static void legacy_free(struct con_screen *s) /* TEMPORARY */
{
    free(s);
}

static struct con_screen *legacy_new(struct console *c, struct tui_screen ts) /* TEMPORARY */
{
    struct con_screen *s = dv_calloc(1, sizeof *s);
    s->tui = ts;
    s->c = c;
    s->free = legacy_free;
    return s;
}

int console_main(struct dv_config *cfg)
{
    struct console c;
    memset(&c, 0, sizeof c);
    c.cfg = cfg;
    c.themes_dir = theme_dir(cfg);
    const char *tname = cfg->console.theme && *cfg->console.theme ? cfg->console.theme : "default";
    char *tpath = theme_path(cfg, tname);
    int rc = theme_load(tpath, &c.theme);
    if (rc != 0 && (strcmp(tname, "default") == 0 || strcmp(tname, "default.yaml") == 0) &&
        access(tpath, F_OK) != 0) {
        theme_done(&c.theme); /* no themes installed: the default is built in */
        theme_builtin(&c.theme);
        rc = 0;
    }
    free(tpath);
    if (rc != 0) {
        fprintf(stderr, "%s\n", dv_err());
        theme_done(&c.theme);
        free(c.themes_dir);
        return DV_EXIT_USAGE;
    }

    tui_list_init(&c.missing, miss_cols, 3);
    c.missing.empty = "no NLOs missing";
    c.missing.nosrc = "choose a database (d) or read a list (l)";
    tui_list_init(&c.docs, doc_cols, 6);
    c.docs.empty = "the restored copy has no documents";
    tui_list_init(&c.atts, att_cols, 6);
    c.atts.empty = "the document has no attachments";

    struct tui_screen screens[] = {
        {"Recovery", rec_keys, &c.missing, NULL, rec_draw, rec_action, rec_tick, &c},
    };
    c.screen[CON_OVERVIEW] = overview_new(&c);
    c.screen[CON_DATABASES] = databases_new(&c);
    c.screen[CON_SETS] = sets_new(&c);
    c.screen[CON_OBJECTS] = objects_new(&c);
    c.screen[CON_RECOVERY] = legacy_new(&c, screens[0]); /* TEMPORARY */
    c.screen[CON_JOBS] = jobs_new(&c);

    char *sub = dv_asprintf("server %s", cfg->server.data_dir);
    struct tui *t = tui_new(sub);
    free(sub);
    if (!t) {
        rc = cli_fail(DV_EXIT_FAIL, "%s", dv_err());
        goto out;
    }
    c.tui = t;
    theme_setup();
    theme_use(&c.theme);
    c.rec_screen = &c.screen[CON_RECOVERY]->tui;
    for (int i = 0; i < CON_NSCREENS; i++)
        tui_add_screen(t, &c.screen[i]->tui);
    tui_set_app_keys(t, app_keys, app_action, &c);
    tui_set_quit_check(t, console_job_running);
    tui_set_app_tick(t, app_tick, &c);
    int sig = tui_run(t);
    conjob_shutdown(); /* quitting with a job running (asked first) cancels it */
    tui_free(t);
    rc = sig ? 128 + sig : DV_EXIT_OK;
out:
    tui_list_done(&c.missing);
    for (int i = 0; i < CON_NSCREENS; i++)
        c.screen[i]->free(c.screen[i]);
    tui_list_done(&c.docs);
    tui_list_done(&c.atts);
    if (c.post_lines) {
        strv_free(c.post_lines);
        free(c.post_lines);
    }
    con_close_handles(&c);
    theme_done(&c.theme);
    free(c.themes_dir);
    return rc;
}

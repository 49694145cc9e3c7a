/*
 * objects.c - the Objects screen: the live DAOS index and the NLO pool, keyset-paged by NLO
 * name, in five views (live, zero-ref, not yet backed up, pool, missing from live); `w`
 * tells where an NLO is (recover_whereis).
 */
#include "screens.h"

#include <ctype.h>
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "recover.h"
#include "store.h"
#include "unbacked.h"
#include "util.h"

struct objscr {
    struct con_screen base; /* first */
    struct tui_list list;
    bool loaded;
    int mode; /* OM_* */
};

enum { OM_LIVE, OM_ZERO, OM_UNBACKED, OM_POOL, OM_MISSING, OM_COUNT };

static const char *const obj_mode_names[OM_COUNT] = {
    "live index (all NLOs the server has)",      "zero-ref: waiting for deferred deletion",
    "not yet backed up (live, not in the pool)", "NLO pool (all objects the target holds)",
    "missing from live, held in the pool",
};

struct objsrc {
    struct tui_source src;
    struct console *c;
    int mode;
};

static bool om_live_based(int mode)
{
    return mode == OM_LIVE || mode == OM_ZERO || mode == OM_UNBACKED;
}

/* One object's row; live and pool (either may be NULL). */
static void obj_row(const char *name, const struct store_object *lv,
                    const struct catalog_pool_obj *po, struct tui_row *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->key, sizeof r->key, "%s", name);
    snprintf(r->cell[0], sizeof r->cell[0], "%s", name);
    dv_fmt_bytes((uint64_t)(lv ? lv->size : po ? po->size : 0), r->cell[1], sizeof r->cell[1]);
    if (lv) {
        snprintf(r->cell[2], sizeof r->cell[2], "%04d", lv->subdir);
        snprintf(r->cell[3], sizeof r->cell[3], "%lld", (long long)lv->refcount);
    } else {
        snprintf(r->cell[2], sizeof r->cell[2], "-");
        snprintf(r->cell[3], sizeof r->cell[3], "-");
    }
    snprintf(r->cell[4], sizeof r->cell[4], "%s", po ? "yes" : "no");
    r->elem = !lv ? TH_WARNING : lv->refcount == 0 ? TH_DIM : !po ? TH_WARNING : TH_TEXT;
}

/*
 * n rows of the mode's base order after key (backward: before key, descending), those the
 * mode's predicate keeps, with their row built. Returns the count or -1.
 */
static int obj_scan(struct objsrc *o, const char *key, bool backward, struct tui_row *rows, int n)
{
    struct console *c = o->c;
    bool none;
    struct catalog *cat = con_catalog(c, &none);
    if (!cat && !none)
        return -1;
    struct dv_store *st = NULL;
    if (om_live_based(o->mode) || o->mode == OM_MISSING || o->mode == OM_POOL) {
        if (!(st = con_store(c)))
            return -1;
    }
    if (!om_live_based(o->mode) && !cat)
        return 0;                 /* no catalog: the pool is empty */
    if (o->mode == OM_UNBACKED) { /* the backend's view: live objects no backup holds */
        struct store_object *ub = dv_calloc((size_t)(n > 0 ? n : 1), sizeof *ub);
        size_t k = 0;
        int r = unbacked_page(st, cat, key ? key : "", backward, ub, (size_t)n, &k);
        for (size_t i = 0; r == 0 && i < k; i++)
            obj_row(ub[i].name, &ub[i], NULL, &rows[i]);
        free(ub);
        return r == 0 ? (int)k : -1;
    }
    size_t chunk = (size_t)(n < 64 ? 64 : n);
    struct store_object *lv = dv_calloc(chunk, sizeof *lv);
    struct catalog_pool_obj *po = dv_calloc(chunk, sizeof *po);
    char after[TUI_KEY_MAX];
    snprintf(after, sizeof after, "%s", key ? key : "");
    int got = 0, rc = 0;
    while (got < n) {
        size_t k = 0;
        if (om_live_based(o->mode))
            rc = store_objects_page(st, after, backward, o->mode == OM_ZERO, lv, chunk, &k);
        else if (backward)
            rc = catalog_pool_page_back(cat, after, po, chunk, &k);
        else
            rc = catalog_pool_page(cat, after, po, chunk, &k);
        if (rc != 0)
            break;
        for (size_t i = 0; i < k && got < n; i++) {
            const char *name = om_live_based(o->mode) ? lv[i].name : po[i].name;
            struct store_object one;
            struct catalog_pool_obj pone;
            if (om_live_based(o->mode)) {
                int pr = cat ? catalog_pool_get(cat, name, &pone) : 0;
                if (pr < 0) {
                    rc = -1;
                    break;
                }
                if (o->mode == OM_UNBACKED && pr == 1)
                    continue;
                obj_row(name, &lv[i], pr == 1 ? &pone : NULL, &rows[got++]);
            } else {
                int lr = store_object_get(st, name, &one);
                if (lr < 0) {
                    rc = -1;
                    break;
                }
                if (o->mode == OM_MISSING && lr == 1)
                    continue;
                obj_row(name, lr == 1 ? &one : NULL, &po[i], &rows[got++]);
            }
        }
        if (rc != 0 || k < chunk)
            break;
        snprintf(after, sizeof after, "%s",
                 om_live_based(o->mode) ? lv[k - 1].name : po[k - 1].name);
    }
    free(lv);
    free(po);
    return rc == 0 ? got : -1;
}

static int obj_fetch(struct tui_source *s, enum tui_fetch mode, const char *key,
                     struct tui_row *rows, int n)
{
    struct objsrc *o = s->ud;
    if (mode == TUI_BEFORE) {
        int k = obj_scan(o, key, true, rows, n);
        for (int i = 0; i < k / 2; i++) { /* descending -> source order */
            struct tui_row tmp = rows[i];
            rows[i] = rows[k - 1 - i];
            rows[k - 1 - i] = tmp;
        }
        return k;
    }
    if (mode == TUI_FROM && key && *key && n > 0) {
        /* names >= key: the key itself when it is still there and the view keeps it */
        bool none;
        struct catalog *cat = con_catalog(o->c, &none);
        struct dv_store *st = con_store(o->c);
        if ((!cat && !none) || !st)
            return -1;
        struct store_object lv;
        struct catalog_pool_obj po;
        int lr = store_object_get(st, key, &lv);
        int pr = cat ? catalog_pool_get(cat, key, &po) : 0;
        if (lr < 0 || pr < 0)
            return -1;
        bool keep = om_live_based(o->mode) ? lr == 1 : pr == 1;
        if (o->mode == OM_ZERO && lr == 1 && lv.refcount != 0)
            keep = false;
        if (o->mode == OM_UNBACKED) {
            int ur = unbacked_get(st, cat, key, NULL); /* the same rule as unbacked_page */
            if (ur < 0)
                return -1;
            keep = ur == 1;
        }
        if (o->mode == OM_MISSING && lr == 1)
            keep = false;
        int got = 0;
        if (keep)
            obj_row(key, lr == 1 ? &lv : NULL, pr == 1 ? &po : NULL, &rows[got++]);
        int k = obj_scan(o, key, false, rows + got, n - got);
        return k < 0 ? -1 : got + k;
    }
    return obj_scan(o, key, false, rows, n);
}

/*
 * `/` on the Objects screen: NLO names are hashes, so the search is a name prefix (hex digits,
 * any case), found with one keyset seek of the current view, never a scan of a million rows.
 */
static int obj_search(struct tui_source *s, const char *text, const char *from, int dir,
                      char found[TUI_KEY_MAX])
{
    struct objsrc *o = s->ud;
    char p[TUI_KEY_MAX];
    size_t n = 0;
    for (const char *q = text; *q && n + 2 < sizeof p; q++)
        p[n++] = (char)tolower((unsigned char)*q);
    p[n] = '\0';
    if (n == 0)
        return 0;
    char start[TUI_KEY_MAX + 1];
    struct tui_row row;
    int k;
    if (dir > 0) { /* every name with prefix p sorts after p itself */
        snprintf(start, sizeof start, "%s", from && strcmp(from, p) > 0 ? from : p);
        k = obj_scan(o, start, false, &row, 1);
    } else { /* p + "~" sorts after every name with prefix p ('~' > any hex digit or '.') */
        snprintf(start, sizeof start, "%s~", p);
        if (from && strcmp(from, start) < 0)
            snprintf(start, sizeof start, "%s", from);
        k = obj_scan(o, start, true, &row, 1);
    }
    if (k < 0)
        return -1;
    if (k == 0 || strncmp(row.key, p, n) != 0)
        return 0;
    snprintf(found, TUI_KEY_MAX, "%s", row.key);
    return 1;
}

static void obj_src_free(struct tui_source *s)
{
    free(s->ud);
}

static struct tui_source *obj_source_new(struct console *c, int mode)
{
    struct objsrc *o = dv_calloc(1, sizeof *o);
    o->c = c;
    o->mode = mode;
    o->src = (struct tui_source){
        .fetch = obj_fetch, .search = obj_search, .free = obj_src_free, .ud = o};
    return &o->src;
}

static const struct tui_column obj_cols[] = {
    {"NLO", 0, TUI_LEFT},   {"Size", 10, TUI_RIGHT}, {"Subdir", 6, TUI_LEFT},
    {"Refs", 6, TUI_RIGHT}, {"Pool", 5, TUI_LEFT},
};

enum { OBJ_WHEREIS = 1, OBJ_MODE, OBJ_REFRESH };

static const struct tui_key obj_keys[] = {
    {{'w', '\n', KEY_ENTER},
     OBJ_WHEREIS,
     NULL,
     "Where is the selected NLO: the live index, the pool, the sets holding it",
     NULL},
    {{'f', KEY_F(6)},
     OBJ_MODE,
     "View",
     "Next view: live, zero-ref, not backed up, pool, missing from live",
     NULL},
    {{KEY_F(5)}, OBJ_REFRESH, "Refresh", "Read the objects again", NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static void objs_load(struct objscr *os, struct tui *t)
{
    if (tui_list_set_source(&os->list, obj_source_new(os->base.c, os->mode)) != 0 && t)
        tui_error(t, "Objects", dv_err());
}

static void objs_enter(struct tui_screen *s, struct tui *t)
{
    struct objscr *os = s->ud;
    struct console *c = os->base.c;
    if (con_no_daos(c, NULL))
        return;
    if (!os->loaded) {
        os->loaded = true;
        objs_load(os, t);
    }
}

static void objs_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    (void)t;
    struct objscr *os = s->ud;
    struct console *c = os->base.c;
    char line[160];
    if (con_no_daos(c, NULL)) {
        tui_put(b.y, b.x, b.w, " " DV_NO_DAOS " (server.daos_dir is not set)", TH_HEADER, true);
        tui_put(b.y + 1, b.x, b.w,
                " Attachments are stored inline in the databases: no NLOs, no DAOS index, no "
                "NLO pool.",
                TH_DIM, true);
        return;
    }
    snprintf(line, sizeof line, " view: %s   (f: next view)", obj_mode_names[os->mode]);
    tui_put(b.y, b.x, b.w, line, TH_DIM, true);
    tui_list_draw(&os->list, (struct tui_rect){b.y + 1, b.x, b.h - 1, b.w});
}

void con_set_name(struct console *c, int64_t seq, char *buf, size_t n)
{
    bool none;
    struct catalog *cat = con_catalog(c, &none);
    struct catalog_set s;
    size_t k = 0;
    if (cat && catalog_sets_list(cat, seq + 1, &s, 1, &k) == 0 && k == 1 && s.seq == seq)
        snprintf(buf, n, "%s", s.id);
    else
        snprintf(buf, n, cat ? "a pruned set" : "?");
}

static void obj_whereis(struct console *c, struct tui *t, const char *name)
{
    struct whereis_result w;
    if (recover_whereis(c->cfg, name, &w) != 0) {
        tui_error(t, "Where is it", dv_err());
        recover_whereis_done(&w);
        return;
    }
    struct strv l = {0};
    if (w.live_path)
        strv_add(&l, dv_asprintf(" live: daos/%04d, %s", w.live_subdir,
                                 !w.indexed        ? "not in the DAOS index (resync)"
                                 : w.refcount == 0 ? "refcount 0 (waiting for deferred deletion)"
                                                   : "indexed"));
    else
        strv_add(&l, dv_strdup(" live: MISSING from the repository (Recovery, F7 brings it back)"));
    if (w.indexed && w.refcount > 0)
        strv_add(&l, dv_asprintf(" DAOS index refcount %lld", (long long)w.refcount));
    if (w.in_pool) {
        char when[32], b[32];
        dv_fmt_time(w.pool.stored_at, when, sizeof when);
        dv_fmt_bytes((uint64_t)w.pool.size, b, sizeof b);
        char set[64];
        con_set_name(c, w.pool.first_set, set, sizeof set);
        strv_add(&l, dv_asprintf(" pool: stored %s (%s), first by set %s; file %s", when, b, set,
                                 w.pool_file ? "present" : "MISSING"));
    } else {
        strv_add(&l, dv_strdup(" pool: not held by the target"));
    }
    strv_add(&l, dv_asprintf(" databases referencing it now: %zu", w.ndbs));
    for (size_t i = 0; i < w.ndbs; i++)
        strv_add(&l, dv_asprintf("   %-50s %lld attachment%s", w.dbs[i].path,
                                 (long long)w.dbs[i].refs, w.dbs[i].refs == 1 ? "" : "s"));
    strv_add(&l, dv_strdup(" sets holding it (newest first):"));
    for (size_t i = 0; i < w.nsets && i < 2000; i++) {
        char when[32];
        dv_fmt_time(w.sets[i].started, when, sizeof when);
        strv_add(&l, dv_asprintf("   %-18s %-11s %-8s %s", w.sets[i].id,
                                 catalog_set_kind_name(w.sets[i].kind),
                                 catalog_set_status_name(w.sets[i].status), when));
    }
    if (w.nsets == 0)
        strv_add(&l, dv_strdup("   none"));
    recover_whereis_done(&w);
    tui_view(t, name, NULL, l.v, (int)l.n, 0, false);
    strv_free(&l);
}

static int obj_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    (void)key;
    struct objscr *os = s->ud;
    struct console *c = os->base.c;
    if (con_no_daos(c, t))
        return TUI_HANDLED;
    const struct tui_row *r = tui_list_current(&os->list);
    switch (action) {
    case OBJ_WHEREIS:
        if (!r) {
            tui_msg(t, "no NLO selected");
            return TUI_HANDLED;
        }
        char name[TUI_KEY_MAX];
        snprintf(name, sizeof name, "%s", r->key);
        obj_whereis(c, t, name);
        return TUI_REDRAW;
    case OBJ_MODE:
        os->mode = (os->mode + 1) % OM_COUNT;
        objs_load(os, t);
        tui_msg(t, "view: %s", obj_mode_names[os->mode]);
        return TUI_REDRAW;
    case OBJ_REFRESH:
        tui_list_reload(&os->list);
        return TUI_REDRAW;
    }
    return TUI_IGNORED;
}

static void objs_job_done(struct con_screen *s)
{
    struct objscr *os = (struct objscr *)s;
    if (os->loaded)
        objs_load(os, NULL);
}

static void objs_free(struct con_screen *s)
{
    struct objscr *os = (struct objscr *)s;
    tui_list_done(&os->list);
    free(os);
}

struct con_screen *objects_new(struct console *c)
{
    struct objscr *os = dv_calloc(1, sizeof *os);
    tui_list_init(&os->list, obj_cols, 5);
    os->list.empty = "no NLOs in this view";
    os->base.c = c;
    os->base.job_done = objs_job_done;
    os->base.free = objs_free;
    os->base.tui = (struct tui_screen){"Objects", obj_keys,   &os->list, objs_enter,
                                       objs_draw, obj_action, NULL,      os};
    return &os->base;
}

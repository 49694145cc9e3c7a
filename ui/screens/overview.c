/*
 * overview.c - the Overview screen: the server (databases, DAOS index, NLOs), the backup
 * (target, last set, space, schedule), the WAL archive and the archiver, the warnings of
 * status_collect; the keys that start a backup, a resync or a DAOS prune.
 */
#include "screens.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "catalog.h"
#include "conjob.h"
#include "status.h"
#include "target_where.h"
#include "util.h"

struct ovscr {
    struct con_screen base; /* first */
    bool status_ok;
    struct dv_status status;
};

static void overview_load(struct ovscr *o)
{
    if (o->status_ok)
        status_done(&o->status);
    o->status_ok = status_collect(o->base.c->cfg, &o->status) == 0;
}

enum { OV_REFRESH = 1, OV_BACKUP, OV_INCR, OV_RESYNC, OV_DAOS_PRUNE };

static const struct tui_key overview_keys[] = {
    {{KEY_F(5), 'r'}, OV_REFRESH, "Refresh", "Read the status again", NULL},
    {{KEY_F(2), 'b', 'B'}, OV_BACKUP, "Backup", "Start a full backup of all databases", NULL},
    {{'i'}, OV_INCR, NULL, "Start an incremental backup of all databases", NULL},
    {{KEY_F(8), 'R'},
     OV_RESYNC,
     "Resync",
     "Rebuild the DAOS index (resync daos, asks first)",
     NULL},
    {{'D'},
     OV_DAOS_PRUNE,
     NULL,
     "DAOS prune: delete zero-ref NLOs past the deletion interval that a backup holds (asks)",
     NULL},
    {{0}, 0, NULL, NULL, NULL},
};

static void ov_line(int *y, int ymax, int x, int w, const char *label, const char *value,
                    enum theme_elem e)
{
    if (*y >= ymax)
        return;
    tui_put(*y, x + 2, 16, label, TH_TEXT, false);
    tui_put(*y, x + 18, w - 20, value && *value ? value : "-", value && *value ? e : TH_DIM, false);
    (*y)++;
}

/* A value too long for one line, wrapped after ", " onto lines without a label. */
static void ov_wrap(int *y, int ymax, int x, int w, const char *label, const char *value,
                    enum theme_elem e)
{
    int room = w - 20 > 20 ? w - 20 : 20;
    const char *v = value;
    while (*y < ymax) {
        int n = (int)strlen(v);
        if (n > room) { /* after the last ", " that fits, else at a space, else cut */
            int k = room;
            while (k > room / 3 && !(v[k - 1] == ',' && v[k] == ' '))
                k--;
            if (k <= room / 3)
                for (k = room; k > room / 3 && v[k] != ' ';)
                    k--;
            n = k > room / 3 ? k : room;
        }
        char line[512];
        snprintf(line, sizeof line, "%.*s", n, v);
        ov_line(y, ymax, x, w, v == value ? label : "", line, e);
        v += n;
        while (*v == ' ')
            v++;
        if (!*v)
            break;
    }
}

static void ov_head(int *y, int ymax, int x, int w, const char *title)
{
    if (*y >= ymax)
        return;
    tui_put(*y, x, w, title, TH_HEADER, true);
    (*y)++;
}

static void fmt_age(int64_t t, char *buf, size_t n)
{
    int64_t d = dv_now() - t;
    if (d < 0)
        d = 0;
    if (d < 120)
        snprintf(buf, n, "%llds ago", (long long)d);
    else if (d < 7200)
        snprintf(buf, n, "%lld min ago", (long long)(d / 60));
    else if (d < 172800)
        snprintf(buf, n, "%lld h ago", (long long)(d / 3600));
    else
        snprintf(buf, n, "%lld days ago", (long long)(d / 86400));
}

/* The banners: the DAOS index needs a resync; a job runs. */
static void ov_banners(const struct ovscr *o, struct tui_rect b, int *y)
{
    const struct dv_status *st = &o->status;
    int ymax = b.y + b.h;
    char buf[DV_ERR_MAX + 256];
    if (o->status_ok && st->store_ok && st->daos.needs_resync) {
        snprintf(buf, sizeof buf, " DAOS index NEEDS_RESYNC (press R to resync): %s ",
                 st->daos.reason[0] ? st->daos.reason : "index out of date");
        tui_put((*y)++, b.x, b.w, buf, TH_BANNER, true);
    }
    struct dv_progress p;
    char title[128];
    if (conjob_snapshot(&p, title, sizeof title) && *y < ymax) {
        int pct = tui_progress_percent(&p);
        if (pct >= 0)
            snprintf(buf, sizeof buf, " running: %s  %s %d%%  (6 Jobs shows it)", title, p.phase,
                     pct);
        else
            snprintf(buf, sizeof buf, " running: %s  %s  (6 Jobs shows it)", title, p.phase);
        tui_put((*y)++, b.x, b.w, buf, TH_PROGRESS, true);
    }
}

/* Server: databases, the DAOS directory and index, NLOs and dedup. */
static void ov_server(const struct ovscr *o, struct tui_rect b, int *y, bool compact)
{
    const struct dv_status *st = &o->status;
    struct dv_config *cfg = o->base.c->cfg;
    int ymax = b.y + b.h;
    char buf[DV_ERR_MAX + 256], a[32], bb[32];
    ov_head(y, ymax, b.x, b.w, " Server");
    if (!compact) {
        ov_line(y, ymax, b.x, b.w, "config", cfg->path, TH_TEXT);
        ov_line(y, ymax, b.x, b.w, "data dir", cfg->server.data_dir, TH_TEXT);
    }
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)st->databases);
    ov_line(y, ymax, b.x, b.w, "databases", buf, TH_TEXT);
    dv_fmt_bytes(st->db_bytes, a, sizeof a);
    ov_line(y, ymax, b.x, b.w, "database bytes", a, TH_TEXT);
    if (!dv_config_has_daos(cfg)) {
        ov_line(y, ymax, b.x, b.w, "DAOS dir", "none: " DV_NO_DAOS " (database-only backups)",
                TH_TEXT);
    } else if (!compact) {
        ov_line(y, ymax, b.x, b.w, "DAOS dir", cfg->server.daos_dir, TH_TEXT);
    }
    if (dv_config_has_daos(cfg) && !st->store_ok) {
        snprintf(buf, sizeof buf, "unreadable: %s", st->store_error);
        ov_line(y, ymax, b.x, b.w, "DAOS index", buf, TH_ERROR);
    } else if (dv_config_has_daos(cfg)) {
        snprintf(buf, sizeof buf, "%s%s%s", st->daos.needs_resync ? "NEEDS_RESYNC" : "SYNCHRONIZED",
                 st->daos.needs_resync ? ": " : "", st->daos.reason);
        ov_line(y, ymax, b.x, b.w, "DAOS index", buf, st->daos.needs_resync ? TH_WARNING : TH_OK);
        dv_fmt_bytes(st->daos.bytes, a, sizeof a);
        dv_fmt_bytes(st->daos.zero_ref_bytes, bb, sizeof bb);
        snprintf(buf, sizeof buf, "%llu (%s), %llu refs, %llu zero-ref (%s)%s",
                 (unsigned long long)st->daos.objects, a, (unsigned long long)st->daos.references,
                 (unsigned long long)st->daos.zero_ref, bb, compact ? "" : " waiting deletion");
        (compact ? ov_line : ov_wrap)(y, ymax, b.x, b.w, "NLOs", buf, TH_TEXT);
        if (st->daos.referenced_bytes && st->daos.bytes) {
            dv_fmt_bytes(st->daos.referenced_bytes, a, sizeof a);
            dv_fmt_bytes(st->daos.bytes, bb, sizeof bb);
            char sv[32];
            uint64_t saved = st->daos.referenced_bytes > st->daos.bytes
                                 ? st->daos.referenced_bytes - st->daos.bytes
                                 : 0;
            dv_fmt_bytes(saved, sv, sizeof sv);
            double x = (double)st->daos.referenced_bytes / (double)st->daos.bytes;
            if (compact)
                snprintf(buf, sizeof buf, "%s saved (%.1fx), %s stored", sv, x, bb);
            else
                snprintf(buf, sizeof buf, "%s saved (%.1fx): %s referenced, %s stored", sv, x, a,
                         bb);
        } else {
            buf[0] = 0;
        }
        (compact ? ov_line : ov_wrap)(y, ymax, b.x, b.w, "dedup savings", buf, TH_TEXT);
    }
}

/* Backup: the target, the last set, sets, space and schedule. */
static void ov_backup(const struct ovscr *o, struct tui_rect b, int *y, bool compact)
{
    const struct dv_status *st = &o->status;
    struct dv_config *cfg = o->base.c->cfg;
    int ymax = b.y + b.h;
    char buf[DV_ERR_MAX + 256], a[32], bb[32], age[32];
    ov_head(y, ymax, b.x, b.w, " Backup");
    /* where the target is and its Object Lock, from the configuration alone (target_where.h:
     * no lock taken, no request sent; a running backup holds the target's lock) */
    struct target_where tw;
    target_where_cfg(cfg, &tw);
    bool s3 = tw.kind == TARGET_KIND_S3;
    char lock[64];
    target_where_lock_text(&tw, lock, sizeof lock);
    if (s3 && compact) {
        snprintf(buf, sizeof buf, "%.900s at %.300s", tw.url, tw.endpoint[0] ? tw.endpoint : "AWS");
        ov_wrap(y, ymax, b.x, b.w, "target", buf, TH_TEXT);
    } else {
        ov_wrap(y, ymax, b.x, b.w, "target", tw.url, TH_TEXT);
    }
    if (s3 && !compact) {
        snprintf(buf, sizeof buf, "%.900s (region %s)", tw.endpoint[0] ? tw.endpoint : "AWS",
                 tw.region);
        ov_line(y, ymax, b.x, b.w, "endpoint", buf, TH_TEXT);
    }
    if (s3 && tw.lock_days > 0 && !compact)
        snprintf(buf, sizeof buf, "%s: every object kept %ld day%s from its upload", lock,
                 tw.lock_days, tw.lock_days == 1 ? "" : "s");
    else
        snprintf(buf, sizeof buf, "%s", lock);
    if (s3 || !compact)
        ov_line(y, ymax, b.x, b.w, "Object Lock", buf, s3 && tw.lock_days > 0 ? TH_OK : TH_TEXT);
    if (st->target_ok) {
        if (!compact)
            ov_line(y, ymax, b.x, b.w, "target id", st->target_id, TH_TEXT);
    } else {
        snprintf(buf, sizeof buf, "NOT USABLE: %.700s", st->target_error);
        ov_line(y, ymax, b.x, b.w, "target id", buf, TH_ERROR);
    }
    if (!compact)
        ov_line(y, ymax, b.x, b.w, "catalog", cfg->catalog, TH_TEXT);
    if (!st->catalog_ok) {
        snprintf(buf, sizeof buf, "catalog unreadable: %s", st->catalog_error);
        ov_line(y, ymax, b.x, b.w, "last backup", buf, TH_ERROR);
    } else if (st->has_last) {
        char when[32];
        dv_fmt_time(st->last.started, when, sizeof when);
        fmt_age(st->last.started, age, sizeof age);
        snprintf(buf, sizeof buf, "%s %s %s, %s (%s)%s%s", st->last.id,
                 catalog_set_kind_name(st->last.kind), catalog_set_status_name(st->last.status),
                 when, age, st->last.message[0] ? ": " : "", st->last.message);
        /* wrapped, its reason whole (cut only when the screen is short) */
        (compact ? ov_line : ov_wrap)(y, ymax, b.x, b.w, "last backup", buf,
                                      st->last.status == CATALOG_SET_COMPLETE  ? TH_OK
                                      : st->last.status == CATALOG_SET_FAILED  ? TH_ERROR
                                      : st->last.status == CATALOG_SET_PARTIAL ? TH_WARNING
                                                                               : TH_TEXT);
        if (st->has_last_complete && strcmp(st->last.id, st->last_complete.id) != 0)
            ov_line(y, ymax, b.x, b.w, "last complete", st->last_complete.id, TH_TEXT);
    } else {
        ov_line(y, ymax, b.x, b.w, "last backup", "none yet (F2 starts one)", TH_WARNING);
    }
    dv_fmt_bytes((uint64_t)st->pool_bytes, a, sizeof a);
    snprintf(buf, sizeof buf, "%lld (%lld complete, %lld partial); pool %lld NLOs, %s",
             (long long)st->nsets, (long long)st->ncomplete, (long long)st->npartial,
             (long long)st->pool_objects, a);
    (compact ? ov_line : ov_wrap)(y, ymax, b.x, b.w, "sets", buf, TH_TEXT);
    if (s3) { /* a bucket has no free-space figure; the spool is a local directory */
        if (!compact)
            ov_line(y, ymax, b.x, b.w, "spool", tw.cache[0] ? tw.cache : "(the default)", TH_TEXT);
    } else {
        if (st->target_size) {
            dv_fmt_bytes(st->target_free, a, sizeof a);
            dv_fmt_bytes(st->target_size, bb, sizeof bb);
            snprintf(buf, sizeof buf, "%s free of %s", a, bb);
        } else {
            buf[0] = 0;
        }
        ov_line(y, ymax, b.x, b.w, "target space", buf, TH_TEXT);
    }
    snprintf(buf, sizeof buf, "every %ld h, keep %ld sets / %ld days", cfg->backup.cycle_hours,
             cfg->backup.keep_sets, cfg->backup.keep_days);
    if (!compact)
        ov_line(y, ymax, b.x, b.w, "schedule", buf, TH_TEXT);
}

/* The WAL archive (all databases, its span) and the archiver's run. */
static void ov_archive(const struct ovscr *o, struct tui_rect b, int *y)
{
    const struct dv_status *st = &o->status;
    int ymax = b.y + b.h;
    char buf[DV_ERR_MAX + 256], a[32], bb[32], age[32];
    /* the WAL archive (point-in-time restore): all databases, its span, the archiver's run */
    if (st->narchive) {
        const struct archive_summary *at = &st->archive_total;
        char err[48] = "", gaps[32] = "", from[32], to[32], raw[48] = "";
        dv_fmt_bytes(at->bytes, a, sizeof a);
        dv_fmt_bytes(at->raw_bytes, bb, sizeof bb);
        if (!at->from_listing) /* an S3 target's: from the bucket's listing, not counted */
            snprintf(raw, sizeof raw, " (%s raw)", bb);
        if (at->max_err_us >= 0)
            snprintf(err, sizeof err, ", %serror <= %lld ms", b.w < 100 ? "" : "observation ",
                     (long long)((at->max_err_us + 999) / 1000));
        if (at->gaps)
            snprintf(gaps, sizeof gaps, ", %llu gap(s)", (unsigned long long)at->gaps);
        snprintf(buf, sizeof buf, "%zu databases, %s%s%s%s", st->narchive, a, raw, err, gaps);
        ov_wrap(y, ymax, b.x, b.w, "archive", buf, at->gaps ? TH_WARNING : TH_TEXT);
        dv_fmt_time(at->first_us / 1000000, from, sizeof from);
        dv_fmt_time(at->last_us / 1000000, to, sizeof to);
        snprintf(buf, sizeof buf, "from %s to %s", from,
                 strncmp(from, to, 11) == 0 && strlen(to) == 19 ? to + 11 : to);
        ov_line(y, ymax, b.x, b.w, "archive span", buf, TH_TEXT);
    } else if (o->base.c->cfg->backup.s3.bucket) {
        ov_line(y, ymax, b.x, b.w, "archive",
                "none (dvault archive --follow keeps one in the bucket)", TH_TEXT);
    } else if (st->target_ok) {
        ov_line(y, ymax, b.x, b.w, "archive",
                st->archive_error[0] ? "unreadable (see the warnings)"
                                     : "none (dvault archive --follow keeps one)",
                st->archive_error[0] ? TH_ERROR : TH_TEXT);
    }
    if (st->has_run) {
        char to[32], today[32];
        dv_fmt_time(st->run_confirmed_us / 1000000, to, sizeof to);
        dv_fmt_time(dv_now(), today, sizeof today);
        fmt_age(st->run_confirmed_us / 1000000, age, sizeof age);
        snprintf(buf, sizeof buf, "confirmed up to %s (%s)%s",
                 strlen(to) == 19 && strncmp(to, today, 11) == 0 ? to + 11 : to, age,
                 st->run_stale ? ": not running?" : "");
        ov_wrap(y, ymax, b.x, b.w, "archiver", buf, st->run_stale ? TH_WARNING : TH_OK);
    }
}

/* Warnings, wrapped at word boundaries. */
static void ov_warnings(const struct ovscr *o, struct tui_rect b, int *y)
{
    const struct dv_status *st = &o->status;
    int ymax = b.y + b.h;
    ov_head(y, ymax, b.x, b.w, " Warnings");
    for (size_t i = 0; i < st->nwarnings && *y < ymax; i++) {
        /* wrap at word boundaries; continuation lines indented */
        const char *w = st->warnings[i];
        int indent = 0;
        while (*w && *y < ymax) {
            int room = b.w - 4 - indent;
            if (room < 10)
                room = 10;
            int n = (int)strlen(w);
            if (n > room) {
                n = room;
                while (n > room / 2 && w[n] != ' ')
                    n--;
                if (w[n] != ' ')
                    n = room;
            }
            char line[256];
            snprintf(line, sizeof line, "%.*s", n, w);
            tui_put((*y)++, b.x + 2 + indent, b.w - 4 - indent, line, TH_WARNING, false);
            w += n;
            while (*w == ' ')
                w++;
            indent = 2;
        }
    }
    if (st->nwarnings == 0 && *y < ymax)
        tui_put((*y)++, b.x + 2, b.w - 4, "none", TH_OK, false);
}

/* Where there is room: each database's archive. */
static void ov_archive_dbs(const struct ovscr *o, struct tui_rect b, int *y)
{
    const struct dv_status *st = &o->status;
    int ymax = b.y + b.h;
    char buf[DV_ERR_MAX + 256];
    /* where there is room: each database's archive (the Databases screen shows its size) */
    if (st->narchive && *y + 2 < ymax) {
        ov_head(y, ymax, b.x, b.w, " Archive by database");
        for (size_t i = 0; i < st->narchive && *y < ymax; i++) {
            const struct status_archive *ad = &st->archive[i];
            if (*y == ymax - 1 && i + 1 < st->narchive) {
                snprintf(buf, sizeof buf, "... %zu more (dvault status lists them)",
                         st->narchive - i);
                tui_put((*y)++, b.x + 2, b.w - 4, buf, TH_DIM, false);
                break;
            }
            char line[400];
            if (ad->ok)
                status_archive_line(&ad->sum, line, sizeof line);
            snprintf(buf, sizeof buf, "%s: %s%s", ad->db,
                     ad->ok ? "" : "UNREADABLE: ", ad->ok ? line : ad->err);
            tui_put((*y)++, b.x + 2, b.w - 4, buf, ad->ok ? TH_TEXT : TH_ERROR, false);
        }
    }
}

static void overview_draw(struct tui_screen *s, struct tui *t, struct tui_rect b)
{
    (void)t;
    const struct ovscr *o = s->ud;
    int y = b.y;
    ov_banners(o, b, &y);
    /* a short screen (80x24) leaves out what the title shows or rarely matters (the paths of
     * the configuration, data directory, DAOS directory and catalog, the target's id, the
     * schedule), so that the archive and the warnings show */
    bool compact = b.h < 24;
    ov_server(o, b, &y, compact);
    ov_backup(o, b, &y, compact);
    ov_archive(o, b, &y);
    ov_warnings(o, b, &y);
    ov_archive_dbs(o, b, &y);
}

static void overview_enter(struct tui_screen *s, struct tui *t)
{
    (void)t;
    overview_load(s->ud);
}

static int overview_tick(struct tui_screen *s, struct tui *t)
{
    (void)s;
    (void)t;
    return conjob_running() ? TUI_REDRAW : 0;
}

static int overview_action(struct tui_screen *s, struct tui *t, int action, int key)
{
    (void)key;
    struct ovscr *o = s->ud;
    struct console *c = o->base.c;
    switch (action) {
    case OV_REFRESH:
        overview_load(o);
        tui_msg(t, "status read again");
        return TUI_REDRAW;
    case OV_BACKUP:
    case OV_INCR:
        con_start_backup(c, t, NULL, action == OV_INCR);
        return TUI_REDRAW;
    case OV_RESYNC:
        if (!con_no_daos(c, t))
            con_start_resync(c, t, NULL);
        return TUI_REDRAW;
    case OV_DAOS_PRUNE:
        if (!con_no_daos(c, t))
            con_start_daos_prune(c, t);
        return TUI_REDRAW;
    }
    return TUI_IGNORED;
}

static void overview_job_done(struct con_screen *s)
{
    overview_load((struct ovscr *)s);
}

static void overview_free(struct con_screen *s)
{
    struct ovscr *o = (struct ovscr *)s;
    if (o->status_ok)
        status_done(&o->status);
    free(o);
}

struct con_screen *overview_new(struct console *c)
{
    struct ovscr *o = dv_calloc(1, sizeof *o);
    o->base.c = c;
    o->base.job_done = overview_job_done;
    o->base.free = overview_free;
    o->base.tui = (struct tui_screen){"Overview",    overview_keys,   NULL,          overview_enter,
                                      overview_draw, overview_action, overview_tick, o};
    overview_load(o);
    return &o->base;
}

/* cli_daos.c - `dvault daos status|prune`, `dvault resync daos`, `dvault listnlo`
 * (all, missing, damaged). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "daos.h"
#include "meter.h"
#include "prune.h"
#include "rebuild.h"
#include "recover.h"
#include "resync.h"
#include "util.h"

static int daos_status(struct dv_config *cfg)
{
    if (daos_status_print(stdout, cfg) != 0)
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    return 0;
}

/* --dry-run: what would go (counts and bytes), nothing deleted, no job recorded. */
static int daos_prune_dry(struct dv_config *cfg, long days)
{
    struct store_prune_counts c;
    bool no_catalog = false;
    if (prune_daos_dry_run(cfg, days, &c, &no_catalog) != 0)
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    if (no_catalog)
        printf("daos prune --dry-run: no catalog yet (%s): no backup has run, so no NLO is safe "
               "to delete\n",
               cfg->catalog);
    char b[32];
    dv_fmt_bytes(c.bytes, b, sizeof b);
    printf("daos prune --dry-run: would delete %llu NLOs (%s); %llu wait for a backup, %llu not "
           "due yet (%ld days); nothing deleted\n",
           (unsigned long long)c.deleted, b, (unsigned long long)c.waiting_backup,
           (unsigned long long)c.not_due, days < 0 ? cfg->server.deferred_deletion_days : days);
    return 0;
}

static int daos_prune(int argc, char **argv, struct dv_config *cfg)
{
    long days = -1;
    bool dry = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry = true;
        } else if (strcmp(argv[i], "--days") == 0 && i + 1 < argc) {
            if (dv_parse_long(argv[++i], 0, 36500, &days) != 0)
                return cli_fail(DV_EXIT_USAGE, "--days: '%s' is not a number of days (0..36500)",
                                argv[i]);
        } else {
            return cli_fail(DV_EXIT_USAGE, "usage: dvault daos prune [--days N] [--dry-run]");
        }
    }
    if (dry)
        return daos_prune_dry(cfg, days);
    struct dv_job job;
    struct cli_meter m;
    job_init(&job, "daos-prune");
    meter_attach(&m, &job, stderr);
    meter_cancel_on_signal(&job);
    struct store_prune_counts c;
    bool no_catalog = false;
    /* dvault's guard: only NLOs a complete backup set holds may go (backend/prune.c) */
    int rc = prune_daos(cfg, days, &job, &c, &no_catalog);
    meter_clear(&m);
    job_done(&job);
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    if (no_catalog)
        printf("daos prune: no catalog yet (%s): no backup has run, so no NLO is safe to delete; "
               "nothing deleted\n",
               cfg->catalog);
    char b[32];
    dv_fmt_bytes(c.bytes, b, sizeof b);
    printf("daos prune: %llu deleted (%s), %llu waiting for backup, %llu not due yet (%ld days)\n",
           (unsigned long long)c.deleted, b, (unsigned long long)c.waiting_backup,
           (unsigned long long)c.not_due, days < 0 ? cfg->server.deferred_deletion_days : days);
    return 0;
}

/* The NLO commands on a server without DAOS: one line, exit 1. */
static int refuse_no_daos(const struct dv_config *cfg, const char *cmd)
{
    if (dv_config_has_daos(cfg))
        return 0;
    return cli_fail(DV_EXIT_FAIL, "%s: %s (server.daos_dir is not set)", cmd, DV_NO_DAOS);
}

int cli_daos(int argc, char **argv, struct dv_config *cfg)
{
    if (!dv_config_has_daos(cfg))
        return refuse_no_daos(cfg, "daos");
    if (argc >= 2 && strcmp(argv[1], "status") == 0 && argc == 2)
        return daos_status(cfg);
    if (argc >= 2 && strcmp(argv[1], "prune") == 0)
        return daos_prune(argc, argv, cfg);
    return cli_fail(DV_EXIT_USAGE, "usage: dvault daos {status|prune [--days N]}");
}

static int resync_catalog(struct dv_config *cfg)
{
    struct dv_job job;
    struct cli_meter m;
    job_init(&job, "resync-catalog");
    meter_attach(&m, &job, stderr);
    meter_cancel_on_signal(&job);
    struct rebuild_result r;
    double t0 = dv_mono();
    int rc = rebuild_catalog(cfg, &job, &r);
    meter_clear(&m);
    job_done(&job);
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "resync catalog: %s", dv_err());
    if (r.old_catalog[0])
        printf("the previous catalog was moved to %s\n", r.old_catalog);
    char partial[64] = "";
    if (r.partial_sets)
        snprintf(partial, sizeof partial, "%llu partial set(s), ",
                 (unsigned long long)r.partial_sets);
    printf("resync catalog: %llu complete set(s), %s%llu failed set(s), %llu database copies "
           "(%llu deltas moved), %llu references, %llu pool NLOs (+%llu found only in the pool) "
           "in %.1fs\n",
           (unsigned long long)r.sets, partial, (unsigned long long)r.failed_sets,
           (unsigned long long)r.files, (unsigned long long)r.deltas_moved,
           (unsigned long long)r.refs, (unsigned long long)r.nlos, (unsigned long long)r.orphans,
           dv_mono() - t0);
    if (r.skipped || r.nlos_missing || r.refs_unreadable)
        printf("warning: %llu set director%s skipped, %llu listed NLOs missing from the pool, "
               "%llu copies with unreadable references (see above; dvault verify)\n",
               (unsigned long long)r.skipped, r.skipped == 1 ? "y" : "ies",
               (unsigned long long)r.nlos_missing, (unsigned long long)r.refs_unreadable);
    if (r.problems)
        printf("warning: %llu thing(s) on the target could not be recorded (a damaged manifest "
               "or NLO list: see above): prune refuses until they are repaired or removed and "
               "the catalog is resynced; dvault verify names them\n",
               (unsigned long long)r.problems);
    return 0;
}

int cli_resync(int argc, char **argv, struct dv_config *cfg)
{
    if (argc != 2)
        return cli_fail(DV_EXIT_USAGE, "usage: dvault resync {daos|catalog}");
    if (strcmp(argv[1], "catalog") == 0)
        return resync_catalog(cfg);
    if (strcmp(argv[1], "daos") != 0)
        return cli_fail(DV_EXIT_USAGE, "resync: unknown target '%s' (known: daos, catalog)",
                        argv[1]);
    if (!dv_config_has_daos(cfg))
        return refuse_no_daos(cfg, "resync daos");
    struct dv_job job;
    struct cli_meter m;
    job_init(&job, "resync-daos");
    meter_attach(&m, &job, stderr);
    meter_cancel_on_signal(&job);
    struct resync_result c;
    double t0 = dv_mono();
    int rc = resync_daos_run(cfg, &job, &c);
    meter_clear(&m);
    job_done(&job);
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
    char b[32];
    dv_fmt_bytes(c.bytes, b, sizeof b);
    printf("resync daos: %llu objects (%s), %llu databases, %llu references",
           (unsigned long long)c.objects, b, (unsigned long long)c.databases,
           (unsigned long long)c.references);
    if (c.missing)
        printf(", %llu to missing NLOs (dvault listnlo missing PATH)",
               (unsigned long long)c.missing);
    if (c.duplicates)
        printf(", %llu duplicate files ignored", (unsigned long long)c.duplicates);
    printf(" in %.1fs; SYNCHRONIZED\n", dv_mono() - t0);
    return 0;
}

struct outbuf {
    FILE *f;
    char *buf;
    size_t len, cap;
};

static int put_name(void *ud, const char *name)
{
    struct outbuf *o = ud;
    if (o->f) {
        if (fprintf(o->f, "%s\n", dv_esc(name)) < 0) /* names come from a database */
            return -1;
        return 0;
    }
    size_t n = strlen(name);
    if (o->len + n + 1 > o->cap) {
        o->cap = (o->cap + n + 1) * 2;
        o->buf = dv_realloc(o->buf, o->cap);
    }
    memcpy(o->buf + o->len, name, n);
    o->buf[o->len + n] = '\n';
    o->len += n + 1;
    return 0;
}

struct damaged_out {
    struct outbuf *o;
    uint64_t shown;
};

/* listnlo damaged: names on stdout (or -o FILE: a list for recover --list), why on stderr */
static int put_damaged(void *ud, const char *name, enum recover_check what, const char *why)
{
    struct damaged_out *d = ud;
    if (d->shown++ < 20)
        fprintf(stderr, "%s %s: %s\n",
                what == RECOVER_CHECK_DAMAGED ? "damaged:" : "unknown:", dv_esc(name), dv_esc(why));
    else if (d->shown == 21)
        fprintf(stderr, "... (more below the counts)\n");
    return what == RECOVER_CHECK_DAMAGED ? put_name(d->o, name) : 0;
}

static const char LISTNLO_USAGE[] = "usage: dvault listnlo {all|missing|damaged} PATH [-o FILE]";

int cli_listnlo(int argc, char **argv, struct dv_config *cfg)
{
    const char *out = NULL, *which = NULL, *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (!which)
            which = argv[i];
        else if (!path)
            path = argv[i];
        else
            which = NULL, i = argc;
    }
    if (!which || !path ||
        (strcmp(which, "all") != 0 && strcmp(which, "missing") != 0 &&
         strcmp(which, "damaged") != 0))
        return cli_fail(DV_EXIT_USAGE, "%s", LISTNLO_USAGE);
    if (!dv_config_has_daos(cfg))
        return refuse_no_daos(cfg, "listnlo");
    if (daos_db_check(cfg, path) != 0) /* a directory or not a database: say so */
        return cli_fail(DV_EXIT_FAIL, "listnlo: %s", dv_err());
    struct outbuf o = {.f = out ? NULL : stdout};
    uint64_t n = 0;
    int rc;
    struct recover_check_counts c = {0};
    if (strcmp(which, "damaged") == 0) {
        struct damaged_out d = {.o = &o};
        rc = recover_check_nlos(cfg, path, NULL, put_damaged, &d, &c);
        n = c.damaged;
    } else {
        rc = daos_listnlo(cfg, path, strcmp(which, "missing") == 0, put_name, &o, &n);
    }
    if (rc != 0) {
        free(o.buf);
        return cli_fail(DV_EXIT_FAIL, "listnlo %s: %s", path, rc == -1 ? dv_err() : "cannot write");
    }
    if (out) {
        rc = dv_write_atomic(out, o.buf ? o.buf : "", o.len, 0644);
        free(o.buf);
        if (rc != 0)
            return cli_fail(DV_EXIT_FAIL, "%s", dv_err());
        fprintf(stderr, "listnlo: %llu %s NLO names written to %s\n", (unsigned long long)n, which,
                dv_esc(out));
    } else if (fflush(stdout) != 0) {
        return cli_fail(DV_EXIT_FAIL, "listnlo: write stdout: %s", strerror(errno));
    } else if (strcmp(which, "missing") == 0) { /* also 0: "nothing printed" is an answer */
        fprintf(stderr, "listnlo: %llu missing NLO names\n", (unsigned long long)n);
    }
    if (strcmp(which, "damaged") == 0)
        fprintf(stderr,
                "listnlo: %llu NLOs referenced: %llu match the pool, %llu damaged (dvault "
                "recover --list FILE replaces them from the pool), %llu unknown: not in the "
                "pool (not checked), %llu missing (dvault listnlo missing)\n",
                (unsigned long long)c.referenced, (unsigned long long)c.ok,
                (unsigned long long)c.damaged, (unsigned long long)c.unknown,
                (unsigned long long)c.missing);
    return 0;
}

/* cli_restored.c - `dvault restored [--json]`, `dvault restored delete PATH`: the copies in
 * the restore folder (backend/restored.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dvjson.h"
#include "restored.h"
#include "util.h"

static const char RESTORED_USAGE[] = "usage: dvault restored [--json] | restored delete PATH";

/* "" (the set as it was), "latest", or the --at time for people. */
static void fmt_at(const char *at, char *buf, size_t n)
{
    long long us;
    if (sscanf(at, "%lld", &us) == 1 && us > 0) {
        dv_fmt_time((int64_t)(us / 1000000), buf, n);
    } else {
        snprintf(buf, n, "%s", at);
    }
}

static int list_json(const struct restored_copy *v, size_t n, const struct dv_config *cfg)
{
    json_t *o = dvjson_obj(), *arr = dvjson_arr();
    dvjson_set(o, "folder", dvjson_str(cfg->restore.dir));
    dvjson_set(o, "retention_days", dvjson_int(cfg->restore.retention_days));
    for (size_t i = 0; i < n; i++) {
        json_t *c = dvjson_obj();
        long long us = 0;
        dvjson_set(c, "path", dvjson_str(v[i].path));
        dvjson_set(c, "name", dvjson_str(v[i].rel));
        dvjson_set(c, "size", dvjson_int((int64_t)v[i].size));
        dvjson_set(c, "restored", dvjson_int(v[i].restored));
        dvjson_set(c, "restored_recorded", json_boolean(v[i].recorded));
        dvjson_set(c, "age_seconds", dvjson_int(v[i].age));
        dvjson_set(c, "expired", json_boolean(v[i].expired));
        dvjson_set(c, "origin", v[i].origin[0] ? dvjson_str(v[i].origin) : json_null());
        dvjson_set(c, "set", v[i].set_id[0] ? dvjson_str(v[i].set_id) : json_null());
        dvjson_set(c, "at",
                   !v[i].at[0]                         ? json_null()
                   : sscanf(v[i].at, "%lld", &us) == 1 ? dvjson_int(us)
                                                       : dvjson_str(v[i].at));
        dvjson_append(arr, c);
    }
    dvjson_set(o, "copies", arr);
    dvjson_print(stdout, o, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    printf("\n");
    json_decref(o);
    return 0;
}

static int list_text(const struct restored_copy *v, size_t n, const struct dv_config *cfg)
{
    printf("restore folder %s: %zu cop%s (retention %ld day%s%s)\n", dv_esc(cfg->restore.dir), n,
           n == 1 ? "y" : "ies", cfg->restore.retention_days,
           cfg->restore.retention_days == 1 ? "" : "s",
           cfg->restore.retention_days ? "" : ": kept until deleted");
    if (n)
        printf("  %-44s %-8s %-24s %-17s %9s  %s\n", "NAME", "AGE", "ORIGIN", "SET", "SIZE", "AT");
    for (size_t i = 0; i < n; i++) {
        char age[32], sz[32], at[40];
        restored_fmt_age(v[i].age, age, sizeof age);
        dv_fmt_bytes(v[i].size, sz, sizeof sz);
        fmt_at(v[i].at, at, sizeof at);
        char *name = dv_strdup(dv_esc(v[i].rel)), *origin = dv_strdup(dv_esc(v[i].origin));
        printf("  %-44s %-8s %-24s %-17s %9s  %s%s\n", name, age, origin[0] ? origin : "?",
               v[i].set_id[0] ? dv_esc(v[i].set_id) : "?", sz, at[0] ? dv_esc(at) : "-",
               v[i].expired ? "  (expired: the next prune removes it)" : "");
        free(name);
        free(origin);
    }
    return 0;
}

int cli_restored(int argc, char **argv, struct dv_config *cfg)
{
    if (argc > 1 && strcmp(argv[1], "delete") == 0) {
        if (argc != 3)
            return cli_fail(DV_EXIT_USAGE, "%s", RESTORED_USAGE);
        struct restored_copy c;
        if (restored_delete(cfg, argv[2], &c) != 0)
            return cli_fail(DV_EXIT_FAIL, "restored delete: %s", dv_err());
        printf("deleted %s (a copy of %s from set %s)\n", dv_esc(c.path),
               c.origin[0] ? dv_esc(c.origin) : "?", c.set_id[0] ? dv_esc(c.set_id) : "?");
        return 0;
    }
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else
            return cli_fail(DV_EXIT_USAGE, "%s", RESTORED_USAGE);
    }
    struct restored_copy *v = NULL;
    size_t n = 0;
    if (restored_list(cfg, 0, &v, &n) != 0)
        return cli_fail(DV_EXIT_FAIL, "restored: %s", dv_err());
    int rc = json ? list_json(v, n, cfg) : list_text(v, n, cfg);
    free(v);
    return rc;
}

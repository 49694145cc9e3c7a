/* cli_jobs.c - `dvault jobs [--json] [--limit N]`: the catalog's job history (job.h), newest
 * first, as the console's Jobs screen shows it. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "cli.h"
#include "job.h"
#include "util.h"

static const char JOBS_USAGE[] = "usage: dvault jobs [--json] [--limit N]";

/* A JSON string of text kept as it is when it is UTF-8, else escaped as dv_escape does. */
static json_t *jtext(const char *s)
{
    json_t *v = json_string(s);
    if (!v) {
        char *e = dv_escape_dup(s);
        v = json_string(e);
        free(e);
    }
    if (!v)
        abort(); /* valid UTF-8 by construction: only out of memory is left */
    return v;
}

static json_t *job_json(const struct catalog_job *j)
{
    json_t *o = json_object();
    if (!o || json_object_set_new(o, "id", json_integer(j->id)) != 0 ||
        json_object_set_new(o, "kind", jtext(j->kind)) != 0 ||
        json_object_set_new(o, "started", json_integer(j->started)) != 0 ||
        json_object_set_new(o, "ended", j->ended > 0 ? json_integer(j->ended) : json_null()) != 0 ||
        json_object_set_new(o, "status", jtext(j->status)) != 0 ||
        json_object_set_new(o, "message", jtext(j->message)) != 0)
        abort();
    return o;
}

static void job_line(const struct catalog_job *j)
{
    char started[32], ended[32] = "-";
    dv_fmt_time(j->started, started, sizeof started);
    if (j->ended > 0)
        dv_fmt_time(j->ended, ended, sizeof ended);
    char status[32];
    snprintf(status, sizeof status, "%s", dv_esc(j->status));
    int len = (int)strlen(status), pad = !j->message[0] ? 0 : len < 10 ? 10 - len : 1;
    printf("%6lld %-11s %-19s %-19s %s%*s%s\n", (long long)j->id, dv_esc(j->kind), started, ended,
           status, pad, "", dv_esc(j->message));
}

static int parse_args(int argc, char **argv, bool *json, size_t *limit)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            *json = true;
        } else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            char *end = NULL;
            long long v = strtoll(argv[++i], &end, 10);
            if (!end || *end || end == argv[i] || v < 1 || v > 1000000)
                return cli_fail(DV_EXIT_USAGE, "jobs --limit '%s': a number from 1 to 1000000",
                                argv[i]);
            *limit = (size_t)v;
        } else {
            return cli_fail(DV_EXIT_USAGE, "%s", JOBS_USAGE);
        }
    }
    return 0;
}

int cli_jobs(int argc, char **argv, struct dv_config *cfg)
{
    bool json = false;
    size_t limit = 50;
    int rc = parse_args(argc, argv, &json, &limit);
    if (rc != 0)
        return rc;
    json_t *arr = json ? json_array() : NULL;
    if (json && !arr)
        abort();
    if (!json)
        printf("%6s %-11s %-19s %-19s %-9s %s\n", "ID", "KIND", "STARTED", "ENDED", "STATUS",
               "MESSAGE");
    struct catalog_job page[64];
    size_t n = 0, total = 0;
    int64_t before = 0;
    do {
        size_t want = limit - total < 64 ? limit - total : 64;
        if (job_history(cfg->catalog, before, page, want, &n) != 0) {
            json_decref(arr);
            return cli_fail(DV_EXIT_FAIL, "jobs: %s", dv_err());
        }
        for (size_t i = 0; i < n; i++) {
            if (json && json_array_append_new(arr, job_json(&page[i])) != 0)
                abort();
            if (!json)
                job_line(&page[i]);
        }
        total += n;
        if (n)
            before = page[n - 1].id;
    } while (n == 64 && total < limit);
    if (json) {
        /* ASCII only: no raw byte of a message can drive the terminal; the text stays exact */
        json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(arr);
    } else if (total == 0) {
        printf("(no jobs recorded yet)\n");
    }
    return 0;
}

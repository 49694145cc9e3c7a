/* cli_pitr.c - `dvault archive` (backend/archive.h); restore --at lives in cli_restore.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "cli.h"
#include "meter.h"
#include "util.h"

static void print_event(void *ud, enum dv_level level, const char *msg)
{
    (void)ud;
    fprintf(stderr, "%s%s\n", level >= DV_WARN ? "warning: " : "", dv_esc(msg));
}

int cli_archive(int argc, char **argv, struct dv_config *cfg)
{
    struct archive_opts o = {.follow_seconds = -1};
    for (int i = 1; i < argc; i++) {
        long secs;
        if (strcmp(argv[i], "--follow") == 0 && i + 1 < argc &&
            dv_parse_long(argv[i + 1], 0, 100L * 365 * 86400, &secs) == 0) {
            o.follow_seconds = (double)secs;
            i++;
        } else if (strcmp(argv[i], "--follow") == 0 && (i + 1 == argc || argv[i + 1][0] == '-')) {
            o.follow_seconds = 0;
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            o.db_glob = argv[++i];
        } else {
            return cli_fail(DV_EXIT_USAGE,
                            "usage: dvault archive [--follow [SECONDS]] [--db GLOB]");
        }
    }
    struct dv_job job;
    job_init(&job, "archive");
    job.on_event = print_event;
    meter_cancel_on_signal(&job); /* SIGINT/SIGTERM end --follow cleanly */
    o.job = &job;
    struct archive_result r;
    int rc = archive_run(cfg, &o, &r);
    job_done(&job);
    char raw[32], stored[32];
    dv_fmt_bytes(r.raw_bytes, raw, sizeof raw);
    dv_fmt_bytes(r.stored_bytes, stored, sizeof stored);
    printf("archive: %llu database(s), %llu segment(s) written, %llu transaction(s), %llu "
           "frame(s), %s stored as %s; observation error at most %.1f ms\n",
           (unsigned long long)r.databases, (unsigned long long)r.segments,
           (unsigned long long)r.transactions, (unsigned long long)r.frames, raw, stored,
           r.max_err_ms);
    printf("archive: %llu checkpoint cycle(s), writers waited at most %.1f ms; %llu database(s) "
           "sealed; at most %llu open at once%s\n",
           (unsigned long long)r.cycles, r.max_hold_ms, (unsigned long long)r.seals,
           (unsigned long long)r.max_open,
           o.follow_seconds < 0 ? ""
           : r.inotify          ? "; woken by inotify"
                                : "; polling");
    if (rc != 0)
        return cli_fail(DV_EXIT_FAIL, "archive: %s", dv_err());
    if (r.gaps)
        return cli_fail(DV_EXIT_FAIL,
                        "archive: %llu database(s) with a GAP (see the warnings):"
                        " point-in-time restore cannot cross it",
                        (unsigned long long)r.gaps);
    return 0;
}

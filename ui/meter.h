/*
 * meter.h - the command line's view of a job: a one-line progress meter on a terminal
 * (phase, bar, items, bytes, rate, ETA, redrawn in place on stderr), plain log lines otherwise
 * (one per phase, then at most one every 10 s). Events are printed on their own lines.
 */
#ifndef DV_METER_H
#define DV_METER_H

#include <stdbool.h>
#include <stdio.h>

#include "job.h"

struct cli_meter {
    FILE *out;
    bool tty;
    bool quiet; /* no DV_INFO events, no plain progress lines (the tty meter stays) */
    bool drawn; /* a meter line is on screen */
    char last_phase[32];
    double last_plain;
    bool done_printed; /* the current phase's completed line is out (plain mode) */
};

/* Attach a meter to job (sets its progress and event callbacks). */
void meter_attach(struct cli_meter *m, struct dv_job *j, FILE *out);
/* Attach a meter only when out is a terminal; otherwise m stays inert (clearing it is a no-op):
 * the commands whose failure is one line, which plain phase lines would clutter. */
void meter_attach_tty(struct cli_meter *m, struct dv_job *j, FILE *out);
/* Erase the meter line (before printing a summary). */
void meter_clear(struct cli_meter *m);
/* Install SIGINT/SIGTERM handlers that cancel job (second signal: default action). */
void meter_cancel_on_signal(struct dv_job *j);

/* "1:02:03" / "2:03" into buf. */
void meter_fmt_duration(double s, char *buf, size_t n);

#endif

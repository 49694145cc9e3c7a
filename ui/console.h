/*
 * console.h - the operator console (`dvault` without a command): seams for the backend.
 *
 * console_main() (declared in cli.h) loads the theme, starts the screen manager (tui.h) and
 * runs the screens: Overview, Databases, Sets, Objects, Recovery, Jobs, fed by backend calls
 * (status, catalog and store queries). Long work runs through the job runner (conjob.h).
 */
#ifndef DV_CONSOLE_H
#define DV_CONSOLE_H

#include <stdbool.h>

#include "job.h"

/* True while a job (backup, restore ...) runs on the console's worker: quitting asks first. */
bool console_job_running(void);

/* Copy the running job's progress into out; false when no job runs (Jobs screen shows its
 * progress bar only when true). */
bool console_job_progress(struct dv_progress *out);

#endif

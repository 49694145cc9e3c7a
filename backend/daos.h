/*
 * daos.h - the DAOS repository as the command line and the console see it: the index's state,
 * the NLO names a database references, the key check. The store (store.h) stays behind this
 * header: ui/ includes backend headers only.
 */
#ifndef DV_DAOS_H
#define DV_DAOS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"

/* `dvault daos status`: check the index, then print its state and counts to f. 0 or -1 with
 * dv_err() (the store cannot be opened or checked). */
int daos_status_print(FILE *f, const struct dv_config *cfg);

/* The NLO names db_path references (all, or only those missing from the repository), in
 * order, each handed to fn (a non-zero return stops: -2). *n counts them. 0, -1 with
 * dv_err(), or -2. */
typedef int (*daos_name_fn)(void *ud, const char *name);
int daos_listnlo(const struct dv_config *cfg, const char *db_path, bool missing_only,
                 daos_name_fn fn, void *ud, uint64_t *n);

/* db_path (relative to data_dir, or absolute) is a regular file that is a SQLite database
 * (or empty): 0, or -1 with dv_err() naming it ("... is a directory, not a database"). */
int daos_db_check(const struct dv_config *cfg, const char *db_path);

/* The server's key file: present, readable, the right size (store_key_check). 0 or -1. */
int daos_key_check(const struct dv_config *cfg);

#endif

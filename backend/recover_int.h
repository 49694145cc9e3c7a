/*
 * recover_int.h - what the recovery files share (recover.c, recover_nlo.c, recover_doc.c);
 * private to them. Public interface: recover.h.
 */
#ifndef DV_RECOVER_INT_H
#define DV_RECOVER_INT_H

#include "recover.h"
#include "target.h"

/* The catalog, which must exist ("no backup yet?" otherwise). NULL with dv_err(). */
struct catalog *recover_open_catalog(const struct dv_config *cfg);
/* The target, checked (its identity: a moved or unmounted one is refused) and locked, and the
 * catalog bound to it. NULL with dv_err(). */
struct target *recover_open_target(const struct dv_config *cfg, struct catalog *cat);
/* The leftovers of killed restores (restore.h): below data_dir (not in the DAOS directory),
 * and in extra_dir (the directory of an absolute --into elsewhere; NULL: none). Reported in
 * the job's events; s accumulates. */
void recover_sweep_leftovers(const struct dv_config *cfg, const char *extra_dir, struct dv_job *job,
                             struct restore_sweep *s);
/* dbinfo of an existing file (replica_id, restored_from...), read without locks and without
 * files beside it (immutable). */
void recover_file_info(const char *path, struct recover_into_info *ii);

#endif

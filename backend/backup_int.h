/*
 * backup_int.h - private to backup.c and backup_util.c: the backup job's helpers that need
 * none of its state (a kept delta's references, the messages naming failed databases).
 */
#ifndef DV_BACKUP_INT_H
#define DV_BACKUP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "fsb.h"
#include "manifest.h"
#include "pagemap.h"

/* The references of a copy whose delta was kept (copy and delta beneath the set's directory
 * set), read from the image restore builds; its page digests checked against pm. 0 or -1. */
int backup_read_refs_keep(const struct fsb *set, const char *copy, const char *delta,
                          const struct pagemap *pm, char ***names, size_t *n);
/* The reason a database could not be copied without the prefix naming the live file src:
 * "STEP: message" into out (n bytes). */
void backup_short_reason(const char *msg, const char *src, char *out, size_t n);
/* "mail/a.nsf (reason); mail/b.nsf (reason)" of m's failed databases into out (n bytes),
 * with "; and N more (...)" when they do not fit; names only without with_reasons. */
void backup_failed_list(const struct manifest *m, bool with_reasons, char *out, size_t n);

#endif

/*
 * nlorefs.h - the NLO names a database references (attachments.nlo, docs/formats.md): the one
 * module that reads them, from a live connection (incr.c, within its snapshot), from a copy
 * (backup.c, rebuild.c) or from a copy with its kept delta applied.
 *
 * A list is a malloc'd array of malloc'd names (char **, count), freed with nlorefs_free. A
 * database without an attachments table references nothing.
 */
#ifndef DV_NLOREFS_H
#define DV_NLOREFS_H

#include <stddef.h>

struct sqlite3;
struct pagemap;

/*
 * Append the distinct names db references now to the list (*names, *n) (unsorted; may duplicate
 * names already there: nlorefs_sort_unique). what names the database in messages. 0 or -1.
 */
int nlorefs_query(struct sqlite3 *db, const char *what, char ***names, size_t *n);

/*
 * Append the names a LIVE database references now, by a short look of its own (snapshot_open:
 * read-only, never checkpointing; no transaction kept), waiting busy_ms for a client's lock
 * (<= 0: the default). 0 or -1 with dv_err().
 */
int nlorefs_query_live(const char *path, int busy_ms, char ***names, size_t *n);

/* Sort names (strcmp order, as SQLite's BINARY collation) and drop duplicates. */
void nlorefs_sort_unique(char **names, size_t *n);

void nlorefs_free(char **names, size_t n);

/*
 * The references of a database FILE, sorted: opened immutable (no lock, nothing written
 * beside it), so for copies, never live databases. 0 or -1 with dv_err() naming dbfile.
 */
int nlorefs_read_file(const char *dbfile, char ***names, size_t *n);

/*
 * The references of a copy with its kept delta applied: the copy (open on copy_fd) is copied
 * into the scratch file open on scratch_fd (a new, empty file of the caller's, which removes
 * it), the delta (open on delta_fd, path delta) applied as restore applies it; with pm, the
 * result's page digests must be pm's; then its references are read. 0 or -1 with dv_err().
 */
int nlorefs_read_with_delta(int copy_fd, const char *copy, int delta_fd, const char *delta,
                            int scratch_fd, const char *scratch, const struct pagemap *pm,
                            char ***names, size_t *n);

#endif

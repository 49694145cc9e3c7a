/*
 * dbcopy.h - reading a database COPY (in a set, a scratch file, a restore's temporary): opened
 * read-only and immutable (SQLite takes no lock and writes nothing beside it: no -wal, -shm
 * or journal), so never for a live database (snapshot.h is for those).
 */
#ifndef DV_DBCOPY_H
#define DV_DBCOPY_H

struct sqlite3;

/* Open the copy at path (any name: the URI is built by dv_file_uri). 0, or -1 with dv_err()
 * ("PATH: cannot open: ..."); *db is NULL then. Close with sqlite3_close. */
int dbcopy_open(const char *path, struct sqlite3 **db);

/* PRAGMA integrity_check(1) of the copy at path. 0 when "ok", else -1 with dv_err() naming
 * the file and SQLite's first complaint. */
int dbcopy_integrity_check(const char *path);

#endif

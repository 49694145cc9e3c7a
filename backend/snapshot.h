/*
 * snapshot.h - pin a live database's read snapshot: the one module that does (hotcopy.c and
 * incr.c copy and read a database within it).
 *
 * snapshot_begin opens the database read-only with SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE (closing
 * our connection never checkpoints the live WAL), starts a read transaction and reads the
 * schema, so that SQLite holds a read mark: in WAL mode the file and the WAL frames up to the
 * snapshot cannot be overwritten or reset under us until snapshot_end; not in WAL mode, the
 * shared lock keeps writers out meanwhile. It records the journal mode, page size, the
 * database's identity (dbinfo.replica_id / dbiid) and the file's size, all as of the snapshot.
 *
 * The descriptor rule: POSIX record locks belong to the process and the file, and ANY close()
 * of ANY descriptor of the file releases them all - SQLite's included. So every descriptor of
 * the database (and of its WAL) that we open ourselves is opened before the connection and
 * closed only after sqlite3_close: s->fd is opened by snapshot_begin, s->wal_fd may be set by
 * the caller, and snapshot_end closes both after the connection. Never close() them yourself.
 *
 * The live database is never written: no checkpoint, no journal-mode change.
 */
#ifndef DV_SNAPSHOT_H
#define DV_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sqlite3;

#define SNAPSHOT_BUSY_MS 30000 /* default wait for a database a client holds locked */

struct dv_snapshot {
    struct sqlite3 *db;
    int fd;     /* the database file, read-only (opened before db, closed after it) */
    int wal_fd; /* the caller's descriptor of the WAL, or -1 (closed after db, too) */
    bool in_txn;
    bool wal_mode; /* false: a rollback-journal database, held under a shared lock */
    uint32_t page_size;
    uint64_t size;                  /* bytes of the file at begin */
    char replica_id[64], dbiid[64]; /* as of the snapshot, "" when the database has none */
};

/*
 * Open path read-only, never checkpointing on close, waiting busy_ms (<= 0: SNAPSHOT_BUSY_MS)
 * for a client's lock. For a second, short look at a live database (no descriptor of ours,
 * no transaction held). 0, or -1 with dv_err() ("open read-only: ..."); *db is NULL then.
 */
int snapshot_open(const char *path, int busy_ms, struct sqlite3 **db);

/*
 * Pin the snapshot of path (see above). s is filled; an empty (0-byte) file is refused.
 * 0, or -1 with dv_err() naming the step; call snapshot_end either way.
 */
int snapshot_begin(struct dv_snapshot *s, const char *path, int busy_ms);

/* First column of the first row of sql (one optional text parameter) into out ("" when no
 * row), within the snapshot. 0 or -1 with dv_err(). */
int snapshot_text(struct sqlite3 *db, const char *sql, const char *arg, char *out, size_t n);

/*
 * End the read transaction, close the connection, then (only then) s->fd and s->wal_fd.
 * Safe on a snapshot that failed to begin or has ended. 0, or -1 with dv_err() when the
 * transaction or connection did not end cleanly (everything is released anyway).
 */
int snapshot_end(struct dv_snapshot *s);

#endif

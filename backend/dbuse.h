/*
 * dbuse.h - is a live database open in another process? SQLite's own locks say so.
 *
 * The method (docs/operations.md, "Replacing a database: the in-use test"): every SQLite
 * connection to a database in WAL mode holds, for as long as it is open,
 *   - a shared lock on the deadman-switch byte of the -shm file (offset 128, after the eight
 *     WAL lock bytes at 120..127: os_unix.c UNIX_SHM_BASE / UNIX_SHM_DMS), and
 *   - a SHARED lock on the database file's lock bytes (PENDING_BYTE 0x40000000, RESERVED
 *     0x40000001, the 510 SHARED bytes after them) from its first transaction on;
 * a connection in rollback-journal mode holds the database file's bytes only during a
 * transaction, and one with locking_mode=EXCLUSIVE holds them for good. dvault asks the kernel
 * with F_OFD_GETLK, from a descriptor of its own (a new open file description, which
 * conflicts with every other process's POSIX and OFD locks), whether a write lock over those
 * bytes (database: 0x40000000 + 512, -shm: 120 + 9) would be refused. The kernel names the
 * holder of a POSIX lock (SQLite uses POSIX locks); for an OFD lock (l_pid -1) /proc/locks
 * and then the processes' open files (/proc/PID/fd) are searched for the pid.
 *
 * Not detected: a rollback-journal connection idle between transactions (it holds no lock;
 * server databases are WAL by contract), and a process that opens the database after the
 * test. The second is narrowed by dbuse_fence: while it is held, any SQLite connection that
 * tries to read or write the database waits (SQLITE_BUSY), so no transaction starts between
 * the last check and the replacement. A process that open()ed the old file inside the fence
 * still holds that (then unlinked) file afterwards: SQLite does not notice a rename in WAL
 * mode. Stopping the server's use of a database before replacing it remains the rule.
 *
 * The caller must not have the database open through SQLite itself: the test opens and
 * closes descriptors of the file, and a close() drops every POSIX lock the process holds on
 * it (the trap of design.md), and an OFD lock conflicts with the process's own POSIX locks.
 */
#ifndef DV_DBUSE_H
#define DV_DBUSE_H

#include <stdbool.h>
#include <sys/types.h>

/* SQLite's lock bytes (os_unix.c) */
#define DBUSE_DB_LOCK_OFF 0x40000000L /* PENDING_BYTE */
#define DBUSE_DB_LOCK_LEN 512L        /* PENDING, RESERVED, 510 SHARED bytes */
#define DBUSE_SHM_LOCK_OFF 120L       /* UNIX_SHM_BASE: 8 WAL lock bytes ... */
#define DBUSE_SHM_LOCK_LEN 9L         /* ... and the deadman switch (DMS) at 128 */

/*
 * Does another process hold SQLite locks on database path (its file or its -shm)? 0 no
 * (also when the file does not exist), 1 yes (*pid = the holder, 0 when it cannot be named;
 * *what = "its -shm" or "the database file"), -1 on an error opening or testing the file
 * (dv_err() set). pid and what may be NULL.
 */
int dbuse_holder(const char *path, pid_t *pid, const char **what);

/*
 * 0 when nobody holds database path; -1 with dv_err() = "NAME is in use by pid N (…): stop
 * …" otherwise (or the error). name is how messages call it (NULL: path).
 */
int dbuse_refuse_if_held(const char *path, const char *name);

struct dbuse_fence;
/*
 * Take write locks (OFD) over SQLite's lock bytes of path and of its -shm (when it exists), so
 * that no SQLite connection can start a transaction on it until dbuse_unfence. Refused
 * ("NAME is in use by pid N …") when anybody holds any of those bytes. NULL with dv_err().
 * The database's -wal and -shm may be unlinked while the fence is held.
 */
struct dbuse_fence *dbuse_fence(const char *path, const char *name);
void dbuse_unfence(struct dbuse_fence *f); /* NULL is a no-op */

/* Name the process holding a lock conflicting with [off, off+len) on the file open as fd
 * (dev/ino from fstat), or having it open; 0 when none can be named. Exposed for tests. */
pid_t dbuse_find_pid(int fd, off_t off, off_t len);

#endif

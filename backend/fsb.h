/*
 * fsb.h - files safely beneath a root: the one way dvault touches anything under the backup
 * target, the server's data directory and its DAOS directory.
 *
 * Everything under those roots is hostile (docs/reliability.md): another user or program may
 * have planted a symbolic link, a FIFO, a device or a huge file, or may change a name while
 * we look at it. So, for every path below a root:
 *   - it is resolved beneath the root's directory descriptor with openat2(RESOLVE_BENEATH |
 *     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): no component may be a symbolic link and
 *     nothing resolves outside the root; where the kernel lacks openat2 (before 5.6, or a
 *     seccomp filter returns ENOSYS/EPERM), each component is opened with O_NOFOLLOW;
 *   - a relative path must pass dv_path_is_safe_rel (no "..", no leading '/', no empty part);
 *   - files are opened with O_NONBLOCK (a FIFO never blocks the open) and then checked with
 *     fstat: anything but a regular file (or a directory, where one is asked for) is refused,
 *     naming the path and what it is;
 *   - files are created with O_EXCL (never truncating or writing through an existing name);
 *     unlink, rmdir, rename and mkdir act on a final name inside a parent opened as above, so
 *     a symbolic link is removed or renamed as itself, never followed;
 *   - a file read whole is capped: a larger one is refused before it is read.
 * The root itself is the configured path and is opened as given (an operator may point the
 * target at a symbolic link on purpose).
 *
 * Errors: -1 (NULL) with dv_err() = "<root>/<rel>: <what>", one line.
 */
#ifndef DV_FSB_H
#define DV_FSB_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct fsb;

/* Open a root directory (the configured path, followed if it is a link). NULL with dv_err(). */
struct fsb *fsb_open(const char *path);
/* Wrap a directory descriptor we already hold (dup'ed: the caller keeps fd). */
struct fsb *fsb_from_fd(int fd, const char *path);
void fsb_close(struct fsb *r); /* NULL is a no-op */
const char *fsb_path(const struct fsb *r);
int fsb_dirfd(const struct fsb *r);

/*
 * Open rel beneath the root. flags are open(2) flags (O_RDONLY, O_WRONLY, O_RDWR, O_CREAT,
 * O_EXCL, O_DIRECTORY, O_APPEND, O_TRUNC are honoured); O_NOFOLLOW, O_CLOEXEC are always
 * added, O_NONBLOCK for the open itself. The result must be a regular file, or a directory
 * when O_DIRECTORY is given. "." opens the root itself (O_DIRECTORY). Descriptor or -1.
 */
int fsb_openat(const struct fsb *r, const char *rel, int flags, mode_t mode);
/* Create a new regular file (O_WRONLY | O_CREAT | O_EXCL): an existing name fails (EEXIST). */
int fsb_create(const struct fsb *r, const char *rel, mode_t mode);
/* Open a directory beneath the root for reading entries; NULL with dv_err(). */
DIR *fsb_opendir(const struct fsb *r, const char *rel);
/*
 * Read a whole regular file of at most cap bytes (malloc'd, NUL-terminated; *len may be
 * NULL). A larger file (or one that grows past cap while read) is refused unread.
 */
int fsb_read_capped(const struct fsb *r, const char *rel, size_t cap, char **buf, size_t *len);
/*
 * lstat-like: what rel is, without following a final link (a link in the middle is refused).
 * 0, or -1 with errno (ENOENT is set quietly: dv_err() set anyway).
 */
int fsb_lstat(const struct fsb *r, const char *rel, struct stat *st);
/* mkdir rel (its parent must exist beneath the root); EEXIST is an error unless exist_ok and
 * the existing entry is a real directory. */
int fsb_mkdir(const struct fsb *r, const char *rel, mode_t mode, bool exist_ok);
/* mkdir -p beneath the root: every existing component must be a real directory. */
int fsb_mkdirs(const struct fsb *r, const char *rel, mode_t mode);
/* Remove a name (a file, or a link as itself); ENOENT is an error unless missing_ok. */
int fsb_unlink(const struct fsb *r, const char *rel, bool missing_ok);
/* Remove an empty directory. */
int fsb_rmdir(const struct fsb *r, const char *rel);
/* Rename within the root; noreplace: fail with EEXIST rather than replace `to`. */
int fsb_rename(const struct fsb *r, const char *from, const char *to, bool noreplace);
/* fsync the directory rel ("." = the root). */
int fsb_fsync_dir(const struct fsb *r, const char *rel);
/*
 * Durable replace of a regular file: written to ".<name>.tmp.<pid>" beside it (O_EXCL), fsync,
 * rename over rel (an existing rel must be a regular file), fsync the directory.
 */
int fsb_write_atomic(const struct fsb *r, const char *rel, const void *buf, size_t len,
                     mode_t mode);

/* Tests: force the per-component fallback (as on a kernel without openat2). */
void fsb_test_force_fallback(bool on);

#endif

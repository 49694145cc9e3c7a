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

/* A root for the directory rel beneath r (opened beneath r without links: fsb_openat with
 * O_DIRECTORY); its path is "<r's path>/<rel>". NULL with dv_err(). */
struct fsb *fsb_sub(const struct fsb *r, const char *rel);
/* "<root>/<rel>" (malloc'd): for messages, and for a program or library that takes a path. */
char *fsb_abs(const struct fsb *r, const char *rel);
/* What a file type is, for messages: "a symbolic link", "a FIFO", "a directory", ... */
const char *fsb_kind(mode_t mode);

/*
 * Walk the tree rel (never following a link: a link, even to a directory, is an entry like
 * a file), adding the sizes of its regular files to *bytes; with remove, delete everything in
 * it and rel itself (a link is removed as itself). A missing rel is fine; bytes may be NULL
 * (not counted). 0 or -1 with dv_err() naming what could not be read or removed.
 */
int fsb_tree(const struct fsb *r, const char *rel, bool remove, uint64_t *bytes);

/*
 * A file written under a temporary name beside its final name, then renamed into place.
 * fsb_tmp_open opens the final name's directory beneath the root without links (it stays
 * open: everything else acts on names inside it) and creates the temporary with O_EXCL |
 * O_NOFOLLOW: name, or ".<base>.tmp.<pid>" when name is NULL. Whatever is in the way at the
 * temporary's name (a leftover of a crash, or a planted link or FIFO) is removed as itself -
 * never followed, truncated or opened - and t->removed says what it was (NULL when nothing
 * was there). With FSB_TMP_NOCREATE the temporary is not created (a program writes it:
 * fsb_tmp_reopen opens it afterwards). fsb_tmp_commit: fsync the file (unless FSB_NOSYNC),
 * close it, rename it to the final name (FSB_NOREPLACE: fail with EEXIST rather than replace;
 * errno kept for the caller), fsync the directory (unless FSB_NOSYNC). fsb_tmp_done closes
 * what is open, removes the temporary unless it was committed, and frees; always call it.
 * 0 or -1 with dv_err() naming the path.
 */
struct fsb_tmp {
    int fd;              /* the temporary, O_RDWR; -1 once closed */
    int dfd;             /* its directory */
    char *name;          /* the temporary's name in dfd */
    char *base;          /* the final name in dfd */
    char *path;          /* "<root>/<dir>/<name>" */
    char *final;         /* "<root>/<rel>" */
    const char *removed; /* what was in the way at the temporary's name, or NULL */
    bool committed;
};
enum { FSB_TMP_NOCREATE = 1 };
enum { FSB_NOSYNC = 1, FSB_NOREPLACE = 2 };
int fsb_tmp_open(const struct fsb *r, const char *rel, const char *name, mode_t mode,
                 unsigned flags, struct fsb_tmp *t);
/* Open the temporary a program wrote (O_RDWR; a regular file, never through a link). */
int fsb_tmp_reopen(struct fsb_tmp *t);
int fsb_tmp_commit(struct fsb_tmp *t, unsigned flags);
void fsb_tmp_done(struct fsb_tmp *t);

/* A new directory rel = "<prefix>XXXXXX" (random) beneath the root, mode 0700, like mkdtemp;
 * rel is returned (malloc'd), or NULL with dv_err(). */
char *fsb_mkdtemp(const struct fsb *r, const char *prefix);

/* Tests: force the per-component fallback (as on a kernel without openat2). */
void fsb_test_force_fallback(bool on);

#endif

/*
 * util.h - small shared helpers: error reporting, durable file writes, paths, hashing, time.
 *
 * Error convention for the whole code base: a function that can fail returns 0 on success
 * and -1 on failure, after setting a one-line, human-readable message with dv_seterr().
 * The message names the file, value or line concerned. Callers that add context use
 * dv_preferr() ("restore: " + previous message). The message is thread-local, so worker
 * threads and the console's thread never clobber each other.
 */
#ifndef DV_UTIL_H
#define DV_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#define DV_ERR_MAX 1024

/* Exit codes of both programs. */
enum { DV_EXIT_OK = 0, DV_EXIT_FAIL = 1, DV_EXIT_USAGE = 2 };

void dv_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefix the current message: dv_preferr("restore %s", path) -> "restore X: <old message>". */
void dv_preferr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *dv_err(void);
/* dv_seterr() with ": strerror(errno)" appended. errno is preserved. */
void dv_syserr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* malloc that aborts on out-of-memory (we never try to limp on without memory). */
void *dv_malloc(size_t n);
void *dv_calloc(size_t n, size_t m);
void *dv_realloc(void *p, size_t n);
char *dv_strdup(const char *s);
char *dv_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Join two path parts with exactly one '/'; if b is absolute, returns a copy of b. */
char *dv_path_join(const char *a, const char *b);
/* Directory part of path (malloc'd), "." when there is none. */
char *dv_dirname(const char *path);
/* Make a path absolute against base (malloc'd); absolute paths are returned as copies. */
char *dv_path_abs(const char *base, const char *path);
/* True if a relative path stays below its root: no "..", no leading '/', no empty parts. */
bool dv_path_is_safe_rel(const char *rel);
/*
 * Canonical form of a path (malloc'd), for comparing where paths lead, not for opening: the
 * realpath of its longest existing prefix (symbolic links resolved), followed by the rest
 * normalised lexically ("." and ".." and repeated '/' removed). A relative path is taken
 * against the current directory.
 */
char *dv_path_canon(const char *path);
/* True if canonical path p is dir or below it ("/" holds everything). */
bool dv_path_within(const char *p, const char *dir);

/* mkdir -p with mode for the directories it creates. */
int dv_mkdirs(const char *path, mode_t mode);
/* fsync a directory (after a rename or create inside it). */
int dv_fsync_dir(const char *dir);
/* fsync the directory that contains path. */
int dv_fsync_parent(const char *path);
/*
 * Durable replace: write buf to "path.tmp.<pid>", fsync, rename over path, fsync the
 * directory. On failure the temp file is removed and path is left as it was.
 */
int dv_write_atomic(const char *path, const void *buf, size_t len, mode_t mode);
/* Read a whole file (malloc'd, NUL-terminated for convenience; *len excludes the NUL). */
int dv_read_file(const char *path, char **buf, size_t *len);
/*
 * Read a whole file an operator named (links followed), refusing anything but a regular file
 * (opened O_NONBLOCK: a FIFO is never waited on; /dev/zero is never read) and anything bigger
 * than cap bytes. For files beneath a root use fsb_read_capped. 0 or -1 with dv_err().
 */
int dv_read_file_capped(const char *path, size_t cap, char **buf, size_t *len);
/*
 * Open a file an operator named, or one outside every root (links followed: a kept delta a
 * post command moved), O_NONBLOCK (a FIFO is never waited on; cleared again unless flags has
 * it) and refused unless it is a regular file. Files beneath a root are opened with
 * fsb_openat (fsb.h). Descriptor, or -1 with dv_err() naming the path and what it is.
 */
int dv_open_regular(const char *path, int flags);
/* write()/pwrite() every byte, retrying on EINTR and short writes. */
int dv_write_all(int fd, const void *buf, size_t len);
int dv_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* pread exactly len bytes unless EOF; returns bytes read or -1. */
ssize_t dv_pread_full(int fd, void *buf, size_t len, off_t off);
/*
 * Copy len bytes from in at in_off to out at out_off: copy_file_range where the kernel can,
 * read/write otherwise. Stops early at EOF of in; returns bytes copied or -1.
 */
int64_t dv_copy_range(int in, off_t in_off, int out, off_t out_off, uint64_t len);
/* Copy a whole file to a new path durably (temp, fsync, rename); mode for the new file. */
int dv_copy_file_atomic(const char *src, const char *dst, mode_t mode);
/* The same from an open descriptor (read with offsets: its position does not matter); src
 * names it in messages. The caller keeps and closes in. */
int dv_copy_fd_atomic(int in, const char *src, const char *dst, mode_t mode);

/* Lower-case hex of n bytes into out (2n+1 bytes, NUL-terminated). */
void dv_hex(const unsigned char *in, size_t n, char *out);
/* Parse exactly 2n hex chars; returns 0 or -1. */
int dv_unhex(const char *hex, unsigned char *out, size_t n);
/* SHA-256 of a buffer / of a whole file (hex 65 bytes incl. NUL). */
void dv_sha256_hex(const void *buf, size_t len, char out[65]);
int dv_sha256_file_hex(const char *path, char out[65]);
/* SHA-256 of the whole file open on fd (read with pread from offset 0); name for messages. */
int dv_sha256_fd_hex(int fd, const char *name, char out[65]);
/* Random bytes from the OS (getrandom); aborts if the kernel cannot give them. */
void dv_random(void *buf, size_t n);

/* Wall clock seconds / microseconds since the epoch; monotonic seconds. */
int64_t dv_now(void);
int64_t dv_now_us(void);
double dv_mono(void);
/* "2026-11-22 01:46:51" local time into buf (>= 20 bytes). */
void dv_fmt_time(int64_t t, char *buf, size_t n);
/* Parse "YYYY-MM-DD[ HH:MM[:SS]]", "@EPOCH" or an epoch number into seconds; -1 on error. */
int64_t dv_parse_time(const char *s);
/* "1.5 GiB" style human sizes into buf. */
void dv_fmt_bytes(uint64_t n, char *buf, size_t len);

/* Parse a decimal integer within [min,max]; returns 0 or -1 (no message set). */
int dv_parse_long(const char *s, long min, long max, long *out);

/*
 * Text for a terminal (docs/architecture.md, "Conventions"). Anything taken from a file, the
 * catalog, a target, a database or a list file may hold bytes that drive the terminal (ESC
 * sequences clear the screen or set the window title). Escaped: bytes below 0x20, 0x7f, the
 * C1 controls U+0080..U+009F (each of their UTF-8 bytes) and every byte that is not part of
 * valid UTF-8 (overlong forms, surrogates, stray continuation bytes), each as the four
 * characters \xNN (lower-case hex). Valid printable UTF-8 (and the backslash) is kept.
 *
 * dv_escape writes at most n bytes including the NUL (never part of an escape or of a
 * character) and returns the length of the whole escaped text, like snprintf: a result >= n
 * means it was cut. dv_escape_mem does the same for len bytes (a NUL byte is \x00).
 * dv_escape_dup returns it malloc'd. dv_esc is for printf arguments: the result lives in one
 * of 8 buffers of the calling thread, valid until 8 more calls.
 */
size_t dv_escape(const char *in, char *out, size_t n);
size_t dv_escape_mem(const void *in, size_t len, char *out, size_t n);
char *dv_escape_dup(const char *in);
const char *dv_esc(const char *in);
/* Test hook: if env DV_CRASH_AT equals name (or "name:N" and this is the N-th hit),
 * the process kills itself with SIGKILL. Costs a getenv on first call only. */
void dv_crashpoint(const char *name);

/* SQLite "file:" URI of a path with params ("immutable=1"), percent-escaping what URIs reserve
 * ('%', '?', '#', spaces, control and non-ASCII bytes), so the URI opens exactly that file. */
char *dv_file_uri(const char *path, const char *params);

#endif

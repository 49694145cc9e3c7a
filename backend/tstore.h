/*
 * tstore.h - the target's store: a small object interface (issue 17; docs/s3.md "The S3
 * target") with two implementations, a directory (tstore_dir.c, over fsb.h) and an S3 bucket
 * and prefix (tstore_s3.c, over s3.h). target.c builds the target-level API (target.h, "the
 * target's store") on it.
 *
 * Objects are named by their path relative to the store's root ("target.json",
 * "sets/<id>/manifest.json", "nlo/abc/<name>"): a name is a safe relative path
 * (dv_path_is_safe_rel: no "..", ".", empty part, leading '/').
 *
 *   - put: atomic (directory: a temporary beside it with O_EXCL, fsync, rename, fsync of the
 *     directory; S3: one PUT or a multipart upload, visible only when complete), from a
 *     buffer or a descriptor, with an optional Object Lock retention (S3 only: a directory
 *     refuses a retention with ENOTSUP rather than pretend);
 *   - get: a range into a buffer, or the whole object into a descriptor (streamed in pieces,
 *     never whole in memory; the bytes written must be the size the store reported, else EIO);
 *   - list: every object below a string prefix, in byte order of the whole name (a directory
 *     store sorts a directory as "name/", so both list alike), paged internally
 *     (S3: ListObjectsV2 pages of 1,000); the callback returns non-zero to stop (returned);
 *   - head: size, Object Lock mode and retain-until;
 *   - delete: a missing object is fine; an object under Object Lock is -1 with errno EPERM
 *     (its retain-until in the info). On a versioned (Object Lock) bucket every version of the
 *     name is deleted, so the space is freed, not hidden behind a delete marker.
 * The directory store is hostile-proof as fsb.h is: no link is followed, a link, FIFO or any
 * non-regular file where an object is expected is refused naming it.
 *
 * Errors: -1 with dv_err() naming the object ("<store>/<name>: ..."); errno ENOENT for a
 * missing object.
 */
#ifndef DV_TSTORE_H
#define DV_TSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tstore;
struct s3;

struct tstore_lock {
    const char *mode;     /* NULL: no retention; "GOVERNANCE" or "COMPLIANCE" */
    int64_t retain_until; /* epoch seconds */
};

struct tstore_info {
    uint64_t size;
    char lock_mode[16];   /* "" when none */
    int64_t retain_until; /* 0 when none */
};

/* A directory store rooted at path (which must exist). NULL with dv_err(). */
struct tstore *tstore_dir_open(const char *path);
/* The same over a directory descriptor already open (dup'ed: the caller keeps fd); path
 * names it in messages. The directory target's store (target.c). */
struct tstore *tstore_dir_from_fd(int fd, const char *path);

struct tstore_s3_opts {
    const char *endpoint, *region, *credentials_file; /* credentials: s3_credentials */
    const char *bucket, *prefix; /* prefix "" or "a/b" (no leading or trailing '/') */
    int parallel;                /* 0: s3.h's default */
};
/* An S3 store; the credentials are read here (never kept in a message). NULL with dv_err(). */
struct tstore *tstore_s3_open(const struct tstore_s3_opts *o);
/* The S3 client and bucket of an S3 store (NULL for a directory), and the key of a name. */
struct s3 *tstore_s3(const struct tstore *ts, const char **bucket);
char *tstore_key(const struct tstore *ts, const char *name); /* malloc'd */

void tstore_close(struct tstore *ts); /* NULL is a no-op */
/* For messages: the directory's path or "s3://bucket/prefix". */
const char *tstore_name(const struct tstore *ts);

int tstore_put(struct tstore *ts, const char *name, const void *buf, size_t len,
               const struct tstore_lock *lk);
/* size bytes of fd from offset 0 (read with pread). */
int tstore_put_fd(struct tstore *ts, const char *name, int fd, uint64_t size,
                  const struct tstore_lock *lk);
/* Many at once (S3: several in flight): names[i] from fds[i] (sizes[i] bytes). 0 when every
 * one was stored, else -1 naming the first failure. */
int tstore_put_many(struct tstore *ts, const char *const *names, const int *fds,
                    const uint64_t *sizes, size_t n, const struct tstore_lock *lk);
/* Bytes [off, off+len) into buf; *got what there was. */
int tstore_get_range(struct tstore *ts, const char *name, uint64_t off, size_t len, void *buf,
                     size_t *got);
/* The whole object into fd (written from its current offset); *size (may be NULL) gets it. */
int tstore_get_fd(struct tstore *ts, const char *name, int fd, uint64_t *size);
int tstore_head(struct tstore *ts, const char *name, struct tstore_info *info);
/* info (may be NULL) gets the lock of a locked object (errno EPERM). */
int tstore_delete(struct tstore *ts, const char *name, struct tstore_info *info);

typedef int (*tstore_list_cb)(void *ud, const char *name, uint64_t size);
int tstore_list(struct tstore *ts, const char *prefix, tstore_list_cb cb, void *ud);

/* "2026-11-29T19:00:00.000Z" (S3's retain-until) as epoch seconds; 0 if it is not one. */
int64_t tstore_parse_time(const char *iso);

#endif

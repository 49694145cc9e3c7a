/*
 * s3.h - an S3 client for dvault's object-store target (issue 17; docs/s3.md): libcurl, the
 * SigV4 signer of sigv4.h, the strict XML reader of s3xml.h. No libs3 (Debian's signs SigV2).
 *
 *   - path-style addressing: <endpoint>/<bucket>/<key>, the key URI-encoded once ('/' kept),
 *     curl told to send the path as is;
 *   - every request carries x-amz-content-sha256 with the real SHA-256 of its body (never
 *     UNSIGNED-PAYLOAD) and is signed over it; uploads also carry Content-MD5, so the gateway
 *     refuses a body that changed on the way (BadDigest / XAmzContentSHA256Mismatch);
 *   - retries: a connection error (refused, reset, timed out, nothing received) or a 5xx
 *     answer is tried again, re-signed, after a backoff that doubles from opts.backoff_ms
 *     (with jitter, capped at 5 s), at most opts.retries times; a 4xx is never retried. The
 *     message of the last failure says how many attempts were made;
 *   - several requests in flight: s3_put_batch and multipart uploads run up to
 *     opts.parallel transfers at once on one curl multi handle (connections reused);
 *   - answers are read capped: an error document at 64 KiB, a listing at S3XML_MAX_BYTES, an
 *     object at what the caller allows (s3_get's cap, s3_get_range's buffer).
 *
 * Credentials (s3_credentials): AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the
 * environment when both are set, else the [default] profile (or $AWS_PROFILE) of an AWS
 * shared-credentials file, refused unless it is a regular file of this user with no bits for
 * group or others (0600). Neither key ever appears in a message: every error is built without
 * them and scrubbed of both before it is set.
 *
 * Errors: -1 with dv_err() = "s3: <METHOD> <bucket>/<key>: <status> <Code> (<Message>)" or
 * "...: <curl's reason> (after N attempts)"; errno is ENOENT for 404, EEXIST for 409, EACCES
 * for 403, EIO otherwise, and s3_err_code() gives the S3 code ("NoSuchKey", "BadDigest",
 * "SignatureDoesNotMatch", "AccessDenied", ...) or "" (thread-local, like dv_err()).
 * A struct s3 may be used from several threads: the synchronous calls share one connection
 * under a lock; a batch has its own.
 */
#ifndef DV_S3_H
#define DV_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "s3xml.h"

#define S3_MIN_PART (5u << 20)
#define S3_ERRDOC_MAX (64u << 10)

struct s3_opts {
    const char *endpoint;   /* "http://127.0.0.1:7480" (scheme, host, port; no path) */
    const char *region;     /* NULL: "us-east-1" */
    const char *access_key; /* from s3_credentials */
    const char *secret_key;
    int retries;        /* after the first attempt; < 0: default 4 */
    int backoff_ms;     /* first backoff; 0: default 200 */
    int timeout_s;      /* each request; 0: default 300 (connect: 10) */
    int parallel;       /* transfers in flight in a batch; 0: default 8 */
    uint64_t part_size; /* multipart part size; 0: default 16 MiB (>= S3_MIN_PART) */
    /* told of each failure that will be retried (why: its message), for a log or a meter;
     * called on the calling thread (a batch's: the one running it) */
    void (*on_retry)(void *arg, const char *why);
    void *on_retry_arg;
};

struct s3;

/* The key pair (malloc'd; free the secret with s3_secret_free). file may be NULL (then the
 * environment must have both). 0, or -1 with dv_err() naming the file, never a key. */
int s3_credentials(const char *file, char **access_key, char **secret_key);
void s3_secret_free(char *secret); /* wiped, then freed */

struct s3 *s3_open(const struct s3_opts *o); /* NULL with dv_err() */
void s3_close(struct s3 *s);                 /* NULL is a no-op */
const char *s3_err_code(void);

/* Object Lock and other headers of an upload. */
struct s3_put_opts {
    const char *lock_mode;   /* NULL, "GOVERNANCE" or "COMPLIANCE" */
    int64_t retain_until;    /* epoch seconds (with lock_mode) */
    const char *content_md5; /* tests only: sent instead of the real one */
};

/* What a PUT or a HEAD learnt of an object. */
struct s3_info {
    uint64_t size;
    char etag[80];
    char version_id[256];
    char lock_mode[16];
    char retain_until[40];
};

/* CreateBucket; with object_lock, x-amz-bucket-object-lock-enabled: true (and so
 * versioning). A bucket we already own is 0 where the service answers 200 (RGW, AWS in
 * us-east-1), -1 with EEXIST and code BucketAlreadyOwnedByYou where it answers 409. */
int s3_bucket_create(struct s3 *s, const char *bucket, bool object_lock);

/* PUT an object from memory. info may be NULL. */
int s3_put(struct s3 *s, const char *bucket, const char *key, const void *buf, size_t len,
           const struct s3_put_opts *po, struct s3_info *info);
/* PUT size bytes of fd from offset 0 (read with pread): one request up to the part size,
 * else a multipart upload (parts in parallel; aborted on failure). */
int s3_put_fd(struct s3 *s, const char *bucket, const char *key, int fd, uint64_t size,
              const struct s3_put_opts *po, struct s3_info *info);
/* GET a whole object of at most cap bytes (malloc'd, NUL-terminated; a larger one is refused
 * with EFBIG before more than cap bytes are read). info may be NULL. */
int s3_get(struct s3 *s, const char *bucket, const char *key, size_t cap, char **buf, size_t *len,
           struct s3_info *info);
/* GET bytes [off, off+len) into buf; *got is what there was (less at the end of the object). */
int s3_get_range(struct s3 *s, const char *bucket, const char *key, uint64_t off, size_t len,
                 void *buf, size_t *got);
/* HEAD (of a version when version_id is not NULL); a missing object is -1 with ENOENT. */
int s3_head(struct s3 *s, const char *bucket, const char *key, const char *version_id,
            struct s3_info *info);
/* DELETE (a version when version_id is not NULL: what Object Lock protects). */
int s3_delete(struct s3 *s, const char *bucket, const char *key, const char *version_id);

/* One page of ListObjectsV2 (keys in name order): token from the previous page's next_token
 * (NULL first); max_keys 1..1000 (0: the server's default). */
int s3_list(struct s3 *s, const char *bucket, const char *prefix, const char *token, int max_keys,
            struct s3_listing *out);
/* One page of ListObjectVersions (markers from the previous page, NULL first). */
int s3_list_versions(struct s3 *s, const char *bucket, const char *prefix, const char *key_marker,
                     const char *version_marker, int max_keys, struct s3_listing *out);
/* One page of ListMultipartUploads (to abort what a crash left). */
int s3_list_uploads(struct s3 *s, const char *bucket, const char *prefix, const char *key_marker,
                    const char *upload_marker, struct s3_listing *out);

/* Multipart upload, step by step (s3_put_fd does all of it). */
char *s3_mpu_create(struct s3 *s, const char *bucket, const char *key,
                    const struct s3_put_opts *po); /* the upload id, malloc'd */
int s3_mpu_abort(struct s3 *s, const char *bucket, const char *key, const char *upload_id);

/* Many objects at once: up to opts.parallel in flight, each retried on its own. */
struct s3_batch_item {
    const char *key;
    const void *buf; /* from memory, or */
    int fd;          /* from fd at off when buf is NULL */
    off_t off;
    size_t len;
    /* results */
    int rc; /* 0 or -1 */
    int attempts;
    char err[320]; /* the item's dv_err() when rc is -1 */
    struct s3_info info;
};
/* 0 when every item was stored, else -1 with dv_err() naming the first failure (each item
 * has its own rc and err). */
int s3_put_batch(struct s3 *s, const char *bucket, struct s3_batch_item *items, size_t n,
                 const struct s3_put_opts *po);

#endif

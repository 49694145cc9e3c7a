/*
 * s3_priv.h - the S3 client's private header: one request (built, signed, sent, read,
 * judged) shared by the synchronous calls (s3.c) and the batches and multipart uploads
 * (s3_batch.c).
 */
#ifndef DV_S3_PRIV_H
#define DV_S3_PRIV_H

#include <curl/curl.h>
#include <pthread.h>

#include "s3.h"
#include "sigv4.h"

struct s3 {
    char *endpoint, *hostport, *region, *ak, *sk;
    int retries, backoff_ms, timeout_s, parallel;
    uint64_t part_size;
    void (*on_retry)(void *arg, const char *why);
    void *on_retry_arg;
    pthread_mutex_t mu; /* the synchronous calls' handle */
    CURL *easy;
};

enum { S3_MAXQ = 8, S3_MAXH = 8 };

struct s3_req {
    const char *method, *bucket, *key; /* key may be NULL (a bucket request) */
    struct sigv4_param q[S3_MAXQ];
    size_t nq;
    struct sigv4_hdr h[S3_MAXH]; /* extra headers, all signed */
    size_t nh;
    /* the body: from memory, or from fd at fd_off (when body is NULL and fd >= 0) */
    const void *body;
    int fd;
    off_t fd_off;
    size_t body_len;
    char sha256[65];
    char md5[32]; /* base64, "" for none */
    /* the answer */
    size_t cap; /* bytes of body kept (an error document: S3_ERRDOC_MAX) */
    void *dst;  /* a ranged GET's buffer (dst_cap bytes), else resp */
    size_t dst_cap;
    char *resp;
    size_t resp_len;
    bool over;     /* the body went past its cap */
    bool read_err; /* the upload's source failed */
    long status;
    struct s3_info info;
    uint64_t content_length;
    bool have_length;
    CURLcode cc;
    char curl_err[CURL_ERROR_SIZE];
    int attempts;
    /* while in flight */
    size_t sent;
    struct curl_slist *hl;
    char *url;
};

enum s3_verdict { S3_OK, S3_RETRY, S3_FAIL };

/* a request with no body yet (empty body hash) */
void s3_req_init(struct s3_req *r, const char *method, const char *bucket, const char *key);
void s3_req_query(struct s3_req *r, const char *k, const char *v);
void s3_req_header(struct s3_req *r, const char *name, const char *value);
/* the body from memory / from fd (hashes computed here: SHA-256, MD5 when md5) */
void s3_req_body(struct s3_req *r, const void *buf, size_t len, bool md5);
int s3_req_body_fd(struct s3_req *r, int fd, off_t off, size_t len, bool md5);
/* set e up for the request (signed now); 0 or -1 */
int s3_req_setup(struct s3 *s, struct s3_req *r, CURL *e);
/* after a transfer: status, then what to do; on S3_FAIL/S3_RETRY dv_err() says why */
enum s3_verdict s3_req_judge(struct s3 *s, struct s3_req *r, CURL *e, CURLcode cc);
/* the backoff before attempt n (1-based retry count), in milliseconds */
long s3_backoff_ms(const struct s3 *s, int n);
/* run a request to its end on the shared handle, with retries; 0 or -1 */
int s3_run(struct s3 *s, struct s3_req *r);
void s3_req_free(struct s3_req *r);
/* the object lock headers of po */
void s3_req_lock(struct s3_req *r, const struct s3_put_opts *po, char *until, size_t n);
/* dv_seterr with both keys scrubbed from the message */
void s3_seterr(const struct s3 *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void s3_set_code(const char *code);

#endif

/*
 * sigv4.h - AWS Signature Version 4 for S3 requests (issue 17; docs/s3.md), on OpenSSL's
 * HMAC and SHA-256. Pure functions: no clock, no network (s3.c brings both), so the unit
 * tests check them against AWS's published vectors (tests/unit/test_sigv4.c).
 *
 * The canonical request is built as S3 wants it: the path URI-encoded exactly once (every
 * byte but the unreserved A-Z a-z 0-9 - . _ ~ and '/', no "." / ".." normalisation); the
 * query parameters encoded (including '/') and sorted by key, then value; the headers named
 * in lower case, values trimmed with inner runs of spaces folded to one, repeated names joined
 * with ',' in the order given, sorted by name; the payload's SHA-256 in hex (the caller
 * passes the real hash: dvault never sends UNSIGNED-PAYLOAD). The same encoded path and
 * query are what s3.c puts in the URL, so what is signed is what is sent.
 *
 * The secret is only read; the derived keys live on the stack and are wiped before return.
 */
#ifndef DV_SIGV4_H
#define DV_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct sigv4_hdr {
    const char *name; /* any case: signed in lower case */
    const char *value;
};

struct sigv4_param {
    const char *key;   /* raw: encoded by the signer */
    const char *value; /* raw; "" for a bare key ("?lifecycle" is "lifecycle=") */
};

struct sigv4_in {
    const char *method;
    const char *path; /* raw, starting with '/': "/bucket/key" */
    const struct sigv4_param *query;
    size_t nquery;
    const struct sigv4_hdr *hdrs; /* every header to sign: host, x-amz-date, ... */
    size_t nhdrs;
    const char *payload_sha256; /* 64 lower-case hex */
    const char *access_key, *secret, *region, *service;
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ" */
};

struct sigv4_out {
    char *canonical;      /* the canonical request */
    char *string_to_sign; /* "AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex sha256(canonical)>" */
    char *signed_headers; /* "host;x-amz-date" */
    char *authorization;  /* the Authorization header's value */
    char signature[65];
};

/* Sign: 0, or -1 with dv_err() (a malformed date, a header name that is not a token, a
 * value with a line break). The out strings are malloc'd: sigv4_out_free. */
int sigv4_sign(const struct sigv4_in *in, struct sigv4_out *out);
void sigv4_out_free(struct sigv4_out *out);

/* URI-encode len bytes the SigV4 way (upper-case hex); '/' kept when keep_slash. Malloc'd. */
char *sigv4_encode(const char *s, size_t len, bool keep_slash);
/* The canonical query string of n parameters (encoded, sorted): also the URL's query. */
char *sigv4_query(const struct sigv4_param *q, size_t n);
/* t as "YYYYMMDDTHHMMSSZ" (UTC) into out[17]. */
void sigv4_amz_date(time_t t, char out[17]);

#endif

/* sigv4.c - AWS Signature Version 4 (sigv4.h). */
#include "sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* a growing string */
struct sb {
    char *p;
    size_t n, cap;
};

static void sb_add(struct sb *b, const char *s, size_t len)
{
    if (b->n + len + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + len + 1)
            c *= 2;
        b->p = dv_realloc(b->p, c);
        b->cap = c;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_str(struct sb *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

char *sigv4_encode(const char *s, size_t len, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = dv_malloc(3 * len + 1), *o = out;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unreserved(c) || (keep_slash && c == '/')) {
            *o++ = (char)c;
        } else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = 0;
    return out;
}

struct enc_param {
    char *k, *v;
};

static int cmp_param(const void *a, const void *b)
{
    const struct enc_param *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

char *sigv4_query(const struct sigv4_param *q, size_t n)
{
    struct enc_param *e = dv_calloc(n ? n : 1, sizeof *e);
    for (size_t i = 0; i < n; i++) {
        e[i].k = sigv4_encode(q[i].key, strlen(q[i].key), false);
        e[i].v =
            sigv4_encode(q[i].value ? q[i].value : "", q[i].value ? strlen(q[i].value) : 0, false);
    }
    qsort(e, n, sizeof *e, cmp_param);
    struct sb b = {0};
    sb_add(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_str(&b, "&");
        sb_str(&b, e[i].k);
        sb_str(&b, "=");
        sb_str(&b, e[i].v);
        free(e[i].k);
        free(e[i].v);
    }
    free(e);
    return b.p;
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

struct canon_hdr {
    char *name;  /* lower case */
    char *value; /* trimmed, folded; repeated names joined */
    size_t order;
};

static int cmp_hdr(const void *a, const void *b)
{
    const struct canon_hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static bool token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* trim and fold runs of spaces/tabs into one space; refuse line breaks and NULs */
static char *fold_value(const char *v)
{
    size_t len = strlen(v);
    char *out = dv_malloc(len + 1), *o = out;
    bool space = false;
    for (const char *p = v; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            free(out);
            return NULL;
        }
        if (*p == ' ' || *p == '\t') {
            space = o != out;
            continue;
        }
        if (space)
            *o++ = ' ';
        space = false;
        *o++ = *p;
    }
    *o = 0;
    return out;
}

/* canonical headers block and the signed-headers list */
static int canon_headers(const struct sigv4_in *in, struct sb *block, struct sb *names)
{
    struct canon_hdr *h = dv_calloc(in->nhdrs ? in->nhdrs : 1, sizeof *h);
    int rc = -1;
    size_t n = 0;
    for (size_t i = 0; i < in->nhdrs; i++) {
        const char *nm = in->hdrs[i].name;
        if (!*nm) {
            dv_seterr("sigv4: an empty header name");
            goto out;
        }
        h[i].name = dv_strdup(nm);
        h[i].order = i;
        n = i + 1;
        for (char *p = h[i].name; *p; p++) {
            if (!token_char((unsigned char)*p)) {
                dv_seterr("sigv4: header name '%s' is not a token", dv_esc(nm));
                goto out;
            }
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        }
        h[i].value = fold_value(in->hdrs[i].value);
        if (!h[i].value) {
            dv_seterr("sigv4: header '%s' has a line break in its value", dv_esc(nm));
            goto out;
        }
    }
    qsort(h, n, sizeof *h, cmp_hdr);
    for (size_t i = 0; i < n; i++) {
        bool same = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
        if (same) {
            sb_str(block, ",");
        } else {
            if (i > 0) {
                sb_str(block, "\n");
                sb_str(names, ";");
            }
            sb_str(block, h[i].name);
            sb_str(block, ":");
            sb_str(names, h[i].name);
        }
        sb_str(block, h[i].value);
    }
    if (n)
        sb_str(block, "\n");
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
    return rc;
}

static void hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    unsigned int len = 32;
    HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

static bool valid_date(const char *d)
{
    if (!d || strlen(d) != 16 || d[8] != 'T' || d[15] != 'Z')
        return false;
    for (int i = 0; i < 15; i++)
        if (i != 8 && (d[i] < '0' || d[i] > '9'))
            return false;
    return true;
}

static bool valid_hash(const char *h)
{
    if (!h || strlen(h) != 64)
        return false;
    for (; *h; h++)
        if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
            return false;
    return true;
}

int sigv4_sign(const struct sigv4_in *in, struct sigv4_out *out)
{
    memset(out, 0, sizeof *out);
    if (!valid_date(in->amz_date)) {
        dv_seterr("sigv4: date '%s' is not YYYYMMDDTHHMMSSZ",
                  dv_esc(in->amz_date ? in->amz_date : ""));
        return -1;
    }
    if (!valid_hash(in->payload_sha256)) {
        dv_seterr("sigv4: the payload hash is not 64 lower-case hex digits");
        return -1;
    }
    if (!in->path || in->path[0] != '/') {
        dv_seterr("sigv4: the path must start with '/'");
        return -1;
    }
    struct sb c = {0}, hb = {0}, names = {0};
    sb_add(&hb, "", 0);
    sb_add(&names, "", 0);
    if (canon_headers(in, &hb, &names) < 0) {
        free(hb.p);
        free(names.p);
        return -1;
    }
    char *path = sigv4_encode(in->path, strlen(in->path), true);
    char *query = sigv4_query(in->query, in->nquery);
    sb_str(&c, in->method);
    sb_str(&c, "\n");
    sb_str(&c, path);
    sb_str(&c, "\n");
    sb_str(&c, query);
    sb_str(&c, "\n");
    sb_str(&c, hb.p);
    sb_str(&c, "\n");
    sb_str(&c, names.p);
    sb_str(&c, "\n");
    sb_str(&c, in->payload_sha256);
    free(path);
    free(query);
    free(hb.p);

    char day[9], chash[65];
    memcpy(day, in->amz_date, 8);
    day[8] = 0;
    dv_sha256_hex(c.p, c.n, chash);
    out->canonical = c.p;
    out->signed_headers = names.p;
    out->string_to_sign = dv_asprintf("AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s",
                                      in->amz_date, day, in->region, in->service, chash);

    /* kDate = HMAC("AWS4" + secret, day), kRegion, kService, kSigning */
    size_t slen = strlen(in->secret);
    char *k0 = dv_malloc(slen + 5);
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, in->secret, slen + 1);
    unsigned char k1[32], k2[32], sig[32];
    hmac(k0, slen + 4, day, k1);
    hmac(k1, 32, in->region, k2);
    hmac(k2, 32, in->service, k1);
    hmac(k1, 32, "aws4_request", k2);
    hmac(k2, 32, out->string_to_sign, sig);
    OPENSSL_cleanse(k0, slen + 5);
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(k2, sizeof k2);
    free(k0);
    dv_hex(sig, 32, out->signature);
    out->authorization =
        dv_asprintf("AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request, SignedHeaders=%s, "
                    "Signature=%s",
                    in->access_key, day, in->region, in->service, names.p, out->signature);
    return 0;
}

void sigv4_out_free(struct sigv4_out *out)
{
    free(out->canonical);
    free(out->string_to_sign);
    free(out->signed_headers);
    free(out->authorization);
    memset(out, 0, sizeof *out);
}

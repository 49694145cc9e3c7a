/* s3.c - the S3 client: credentials, one request (build, sign, send, judge, retry), the
 * synchronous calls (s3.h). Batches and multipart uploads are in s3_batch.c. */
#include "s3_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static _Thread_local char err_code[64];

const char *s3_err_code(void)
{
    return err_code;
}

void s3_set_code(const char *code)
{
    snprintf(err_code, sizeof err_code, "%s", code ? code : "");
}

/* replace every occurrence of needle in buf with "[redacted]" */
static void scrub(char *buf, size_t cap, const char *needle)
{
    size_t nl = needle ? strlen(needle) : 0;
    if (nl < 4)
        return;
    char *p;
    while ((p = strstr(buf, needle)) != NULL) {
        char tail[DV_ERR_MAX];
        snprintf(tail, sizeof tail, "%s", p + nl);
        snprintf(p, cap - (size_t)(p - buf), "[redacted]%s", tail);
    }
}

void s3_seterr(const struct s3 *s, const char *fmt, ...)
{
    char buf[DV_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (s) {
        scrub(buf, sizeof buf, s->sk);
        scrub(buf, sizeof buf, s->ak);
    }
    dv_seterr("%s", buf);
}

/* ---- credentials ------------------------------------------------------------------------ */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = 0;
    return s;
}

static int creds_parse(const char *file, char *text, const char *profile, char **ak, char **sk)
{
    bool in = false;
    int line = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        line++;
        char *t = trim(l);
        if (!*t || *t == '#' || *t == ';')
            continue;
        if (*t == '[') {
            char *end = strchr(t, ']');
            if (!end) {
                dv_seterr("%s: line %d: a section header without ']'", file, line);
                return -1;
            }
            *end = 0;
            in = strcmp(trim(t + 1), profile) == 0;
            continue;
        }
        if (!in)
            continue;
        char *eq = strchr(t, '=');
        if (!eq) {
            dv_seterr("%s: line %d: expected 'name = value'", file, line);
            return -1;
        }
        *eq = 0;
        char *name = trim(t), *val = trim(eq + 1);
        char **dst = strcmp(name, "aws_access_key_id") == 0       ? ak
                     : strcmp(name, "aws_secret_access_key") == 0 ? sk
                                                                  : NULL;
        if (!dst)
            continue;
        if (!*val) {
            dv_seterr("%s: line %d: %s is empty", file, line, name);
            return -1;
        }
        if (*dst)
            s3_secret_free(*dst);
        *dst = dv_strdup(val);
    }
    if (!*ak || !*sk) {
        dv_seterr("%s: profile [%s] lacks %s", file, dv_esc(profile),
                  !*ak ? "aws_access_key_id" : "aws_secret_access_key");
        return -1;
    }
    return 0;
}

int s3_credentials(const char *file, char **ak, char **sk)
{
    *ak = *sk = NULL;
    const char *ea = getenv("AWS_ACCESS_KEY_ID"), *es = getenv("AWS_SECRET_ACCESS_KEY");
    if (ea && *ea && es && *es) {
        *ak = dv_strdup(ea);
        *sk = dv_strdup(es);
        return 0;
    }
    if (!file) {
        dv_seterr("s3: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                  "s3.credentials_file");
        return -1;
    }
    int fd = dv_open_regular(file, O_RDONLY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        dv_syserr("%s", file);
        close(fd);
        return -1;
    }
    if (st.st_mode & 077) {
        dv_seterr("%s: mode %04o: a credentials file must be readable by its owner only (chmod "
                  "600)",
                  file, (unsigned)(st.st_mode & 07777));
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        dv_seterr("%s: owned by uid %u, not by this user (uid %u)", file, (unsigned)st.st_uid,
                  (unsigned)geteuid());
        close(fd);
        return -1;
    }
    if (st.st_size > 65536) {
        dv_seterr("%s: %lld bytes: not a credentials file (at most 64 KiB)", file,
                  (long long)st.st_size);
        close(fd);
        return -1;
    }
    char *text = dv_calloc(1, (size_t)st.st_size + 1);
    ssize_t n = dv_pread_full(fd, text, (size_t)st.st_size, 0);
    close(fd);
    if (n < 0) {
        dv_syserr("%s", file);
        free(text);
        return -1;
    }
    const char *profile = getenv("AWS_PROFILE");
    int rc = creds_parse(file, text, profile && *profile ? profile : "default", ak, sk);
    OPENSSL_cleanse(text, (size_t)st.st_size);
    free(text);
    if (rc < 0) {
        free(*ak);
        s3_secret_free(*sk);
        *ak = *sk = NULL;
    }
    return rc;
}

void s3_secret_free(char *secret)
{
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
}

/* ---- the client ------------------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct s3 *s3_open(const struct s3_opts *o)
{
    const char *ep = o->endpoint;
    const char *host = NULL;
    if (ep && strncmp(ep, "http://", 7) == 0)
        host = ep + 7;
    else if (ep && strncmp(ep, "https://", 8) == 0)
        host = ep + 8;
    size_t hl = host ? strcspn(host, "/?#") : 0;
    if (!host || !hl || (host[hl] && strcmp(host + hl, "/") != 0)) {
        dv_seterr("s3: endpoint '%s': expected http[s]://HOST[:PORT]", dv_esc(ep ? ep : ""));
        return NULL;
    }
    if (!o->access_key || !*o->access_key || !o->secret_key || !*o->secret_key) {
        dv_seterr("s3: no credentials");
        return NULL;
    }
    pthread_once(&curl_once, curl_init);
    struct s3 *s = dv_calloc(1, sizeof *s);
    s->endpoint = dv_asprintf("%.*s", (int)(host - ep + hl), ep);
    s->hostport = dv_asprintf("%.*s", (int)hl, host);
    s->region = dv_strdup(o->region && *o->region ? o->region : "us-east-1");
    s->ak = dv_strdup(o->access_key);
    s->sk = dv_strdup(o->secret_key);
    s->retries = o->retries < 0 ? 4 : o->retries;
    s->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : 200;
    s->timeout_s = o->timeout_s > 0 ? o->timeout_s : 300;
    s->parallel = o->parallel > 0 ? o->parallel : 8;
    s->part_size = o->part_size ? o->part_size : 16u << 20;
    s->on_retry = o->on_retry;
    s->on_retry_arg = o->on_retry_arg;
    if (s->part_size < S3_MIN_PART)
        s->part_size = S3_MIN_PART;
    pthread_mutex_init(&s->mu, NULL);
    s->easy = curl_easy_init();
    if (!s->easy) {
        dv_seterr("s3: curl_easy_init failed");
        s3_close(s);
        return NULL;
    }
    return s;
}

void s3_close(struct s3 *s)
{
    if (!s)
        return;
    if (s->easy)
        curl_easy_cleanup(s->easy);
    pthread_mutex_destroy(&s->mu);
    free(s->endpoint);
    free(s->hostport);
    free(s->region);
    free(s->ak);
    s3_secret_free(s->sk);
    free(s);
}

/* ---- one request ------------------------------------------------------------------------ */

void s3_req_init(struct s3_req *r, const char *method, const char *bucket, const char *key)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->bucket = bucket;
    r->key = key;
    r->fd = -1;
    r->cap = S3_ERRDOC_MAX;
    strcpy(r->sha256, SIGV4_EMPTY_SHA256);
}

void s3_req_query(struct s3_req *r, const char *k, const char *v)
{
    if (r->nq < S3_MAXQ)
        r->q[r->nq++] = (struct sigv4_param){k, v ? v : ""};
}

void s3_req_header(struct s3_req *r, const char *name, const char *value)
{
    if (r->nh < S3_MAXH)
        r->h[r->nh++] = (struct sigv4_hdr){name, value};
}

static void md5_b64(const unsigned char md[16], char out[32])
{
    EVP_EncodeBlock((unsigned char *)out, md, 16);
}

void s3_req_body(struct s3_req *r, const void *buf, size_t len, bool md5)
{
    r->body = buf;
    r->body_len = len;
    dv_sha256_hex(buf, len, r->sha256);
    if (md5) {
        unsigned char md[16];
        unsigned int n = 16;
        EVP_Digest(buf, len, md, &n, EVP_md5(), NULL);
        md5_b64(md, r->md5);
    }
}

int s3_req_body_fd(struct s3_req *r, int fd, off_t off, size_t len, bool md5)
{
    r->fd = fd;
    r->fd_off = off;
    r->body_len = len;
    EVP_MD_CTX *sha = EVP_MD_CTX_new(), *m5 = EVP_MD_CTX_new();
    EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
    EVP_DigestInit_ex(m5, EVP_md5(), NULL);
    size_t bufsz = 1 << 20, done = 0;
    unsigned char *buf = dv_malloc(bufsz);
    int rc = 0;
    while (done < len) {
        size_t want = len - done < bufsz ? len - done : bufsz;
        ssize_t n = dv_pread_full(fd, buf, want, off + (off_t)done);
        if (n < 0 || (size_t)n != want) {
            if (n < 0)
                dv_syserr("s3: reading the upload at offset %lld", (long long)(off + (off_t)done));
            else
                dv_seterr("s3: the upload's source ended at offset %lld, %zu bytes early",
                          (long long)(off + (off_t)done + n), len - done - (size_t)n);
            rc = -1;
            break;
        }
        EVP_DigestUpdate(sha, buf, want);
        EVP_DigestUpdate(m5, buf, want);
        done += want;
    }
    unsigned char md[32];
    unsigned int mlen;
    EVP_DigestFinal_ex(sha, md, &mlen);
    dv_hex(md, 32, r->sha256);
    EVP_DigestFinal_ex(m5, md, &mlen);
    if (md5)
        md5_b64(md, r->md5);
    EVP_MD_CTX_free(sha);
    EVP_MD_CTX_free(m5);
    free(buf);
    return rc;
}

void s3_req_lock(struct s3_req *r, const struct s3_put_opts *po, char *until, size_t n)
{
    if (!po || !po->lock_mode)
        return;
    struct tm tm;
    time_t t = (time_t)po->retain_until;
    gmtime_r(&t, &tm);
    strftime(until, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    s3_req_header(r, "x-amz-object-lock-mode", po->lock_mode);
    s3_req_header(r, "x-amz-object-lock-retain-until-date", until);
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct s3_req *r = arg;
    size_t want = size * nmemb, left = r->body_len - r->sent;
    if (want > left)
        want = left;
    if (!want)
        return 0;
    if (r->body) {
        memcpy(buf, (const char *)r->body + r->sent, want);
    } else {
        ssize_t n = dv_pread_full(r->fd, buf, want, r->fd_off + (off_t)r->sent);
        if (n < 0 || (size_t)n != want) {
            r->read_err = true;
            return CURL_READFUNC_ABORT;
        }
    }
    r->sent += want;
    return want;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct s3_req *r = arg;
    size_t n = size * nmemb;
    bool to_dst = r->dst && r->status >= 200 && r->status < 300;
    size_t cap = to_dst ? r->dst_cap : r->cap;
    if (r->resp_len + n > cap) {
        r->over = true;
        return 0; /* curl stops: CURLE_WRITE_ERROR */
    }
    if (to_dst) {
        memcpy((char *)r->dst + r->resp_len, data, n);
    } else {
        r->resp = dv_realloc(r->resp, r->resp_len + n + 1);
        memcpy(r->resp + r->resp_len, data, n);
        r->resp[r->resp_len + n] = 0;
    }
    r->resp_len += n;
    return n;
}

/* copy a header's value (trimmed, quotes removed) when name matches */
static bool header_is(const char *line, size_t n, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return false;
    const char *v = line + nl + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    if (end - v >= 2 && *v == '"' && end[-1] == '"')
        v++, end--;
    snprintf(out, cap, "%.*s", (int)(end - v), v);
    return true;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct s3_req *r = arg;
    size_t n = size * nmemb;
    char len[32];
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* a new answer (after a 100 Continue): forget the last one's headers */
        memset(&r->info, 0, sizeof r->info);
        r->have_length = false;
        long st = 0;
        const char *sp = memchr(data, ' ', n);
        if (sp)
            st = strtol(sp + 1, NULL, 10);
        r->status = st;
    } else if (header_is(data, n, "ETag", r->info.etag, sizeof r->info.etag) ||
               header_is(data, n, "x-amz-version-id", r->info.version_id,
                         sizeof r->info.version_id) ||
               header_is(data, n, "x-amz-object-lock-mode", r->info.lock_mode,
                         sizeof r->info.lock_mode) ||
               header_is(data, n, "x-amz-object-lock-retain-until-date", r->info.retain_until,
                         sizeof r->info.retain_until)) {
    } else if (header_is(data, n, "Content-Length", len, sizeof len)) {
        char *e;
        unsigned long long v = strtoull(len, &e, 10);
        if (*len && !*e) {
            r->content_length = v;
            r->have_length = true;
            r->info.size = v;
        }
    }
    return n;
}

int s3_req_setup(struct s3 *s, struct s3_req *r, CURL *e)
{
    char date[17];
    sigv4_amz_date(time(NULL), date);
    char *path = r->key ? dv_asprintf("/%s/%s", r->bucket, r->key) : dv_asprintf("/%s", r->bucket);
    struct sigv4_hdr h[S3_MAXH + 4];
    size_t nh = 0;
    h[nh++] = (struct sigv4_hdr){"host", s->hostport};
    h[nh++] = (struct sigv4_hdr){"x-amz-date", date};
    h[nh++] = (struct sigv4_hdr){"x-amz-content-sha256", r->sha256};
    if (r->md5[0])
        h[nh++] = (struct sigv4_hdr){"content-md5", r->md5};
    for (size_t i = 0; i < r->nh; i++)
        h[nh++] = r->h[i];
    struct sigv4_in in = {.method = r->method,
                          .path = path,
                          .query = r->q,
                          .nquery = r->nq,
                          .hdrs = h,
                          .nhdrs = nh,
                          .payload_sha256 = r->sha256,
                          .access_key = s->ak,
                          .secret = s->sk,
                          .region = s->region,
                          .service = "s3",
                          .amz_date = date};
    struct sigv4_out so;
    if (sigv4_sign(&in, &so) < 0) {
        free(path);
        return -1;
    }
    char *epath = sigv4_encode(path, strlen(path), true), *q = sigv4_query(r->q, r->nq);
    free(r->url);
    r->url = dv_asprintf("%s%s%s%s", s->endpoint, epath, *q ? "?" : "", q);
    free(epath);
    free(q);
    free(path);
    curl_slist_free_all(r->hl);
    r->hl = NULL;
    for (size_t i = 0; i < nh; i++) {
        char *line = dv_asprintf("%s: %s", h[i].name, h[i].value);
        r->hl = curl_slist_append(r->hl, line);
        free(line);
    }
    char *auth = dv_asprintf("Authorization: %s", so.authorization);
    r->hl = curl_slist_append(r->hl, auth);
    OPENSSL_cleanse(auth, strlen(auth));
    free(auth);
    sigv4_out_free(&so);
    r->hl = curl_slist_append(r->hl, "Expect:");
    r->hl = curl_slist_append(r->hl, "Content-Type:");

    curl_easy_reset(e);
    r->sent = 0;
    r->resp_len = 0;
    r->over = r->read_err = false;
    r->status = 0;
    r->curl_err[0] = 0;
    memset(&r->info, 0, sizeof r->info);
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hl);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)s->timeout_s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, r);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        if (strcmp(r->method, "POST") == 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "POST");
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    return 0;
}

static int errno_of(long status)
{
    return status == 404 ? ENOENT : status == 409 ? EEXIST : status == 403 ? EACCES : EIO;
}

enum s3_verdict s3_req_judge(struct s3 *s, struct s3_req *r, CURL *e, CURLcode cc)
{
    long st = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st);
    r->status = st;
    r->cc = cc;
    const char *what = r->key ? r->key : "", *sep = r->key ? "/" : "";
    s3_set_code("");
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->over) && !r->read_err) {
        s3_seterr(s, "s3: %s %s%s%s: %s (%s) (after %d attempt%s)", r->method, r->bucket, sep,
                  dv_esc(what), r->curl_err[0] ? r->curl_err : curl_easy_strerror(cc), s->endpoint,
                  r->attempts, r->attempts == 1 ? "" : "s");
        errno = EIO;
        return S3_RETRY;
    }
    if (r->read_err) {
        s3_seterr(s, "s3: %s %s%s%s: the upload's source could not be read", r->method, r->bucket,
                  sep, dv_esc(what));
        errno = EIO;
        return S3_FAIL;
    }
    if (st >= 200 && st < 300) {
        if (r->over) {
            s3_seterr(s, "s3: %s %s%s%s: the object is larger than the %zu bytes asked for",
                      r->method, r->bucket, sep, dv_esc(what), r->dst ? r->dst_cap : r->cap);
            errno = EFBIG;
            return S3_FAIL;
        }
        return S3_OK;
    }
    char code[64] = "", msg[256] = "";
    if (r->resp_len)
        s3xml_error(r->resp, r->resp_len, code, sizeof code, msg, sizeof msg);
    s3_set_code(code);
    s3_seterr(s, "s3: %s %s%s%s: %ld %s%s%s%s", r->method, r->bucket, sep, dv_esc(what), st,
              code[0] ? code : "(no error document)", msg[0] ? " (" : "", dv_esc(msg),
              msg[0] ? ")" : "");
    errno = errno_of(st);
    if (st >= 500) {
        char m[DV_ERR_MAX];
        snprintf(m, sizeof m, "%s (after %d attempt%s)", dv_err(), r->attempts,
                 r->attempts == 1 ? "" : "s");
        dv_seterr("%s", m);
        errno = EIO;
        return S3_RETRY;
    }
    return S3_FAIL;
}

long s3_backoff_ms(const struct s3 *s, int n)
{
    long ms = s->backoff_ms;
    for (int i = 1; i < n && ms < 5000; i++)
        ms *= 2;
    if (ms > 5000)
        ms = 5000;
    unsigned char j;
    dv_random(&j, 1);
    return ms / 2 + (ms / 2) * j / 255; /* jitter: half to all of it */
}

void s3_req_free(struct s3_req *r)
{
    free(r->resp);
    free(r->url);
    curl_slist_free_all(r->hl);
    r->resp = r->url = NULL;
    r->hl = NULL;
}

int s3_run(struct s3 *s, struct s3_req *r)
{
    pthread_mutex_lock(&s->mu);
    enum s3_verdict v = S3_FAIL;
    for (int n = 0; n <= s->retries; n++) {
        if (n) {
            long ms = s3_backoff_ms(s, n);
            struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        r->attempts = n + 1;
        if (s3_req_setup(s, r, s->easy) < 0) {
            v = S3_FAIL;
            break;
        }
        CURLcode cc = curl_easy_perform(s->easy);
        v = s3_req_judge(s, r, s->easy, cc);
        if (v != S3_RETRY)
            break;
        if (s->on_retry && n < s->retries)
            s->on_retry(s->on_retry_arg, dv_err());
    }
    curl_easy_reset(s->easy);
    pthread_mutex_unlock(&s->mu);
    return v == S3_OK ? 0 : -1;
}

/* ---- the synchronous calls -------------------------------------------------------------- */

int s3_bucket_create(struct s3 *s, const char *bucket, bool object_lock)
{
    struct s3_req r;
    s3_req_init(&r, "PUT", bucket, NULL);
    if (object_lock)
        s3_req_header(&r, "x-amz-bucket-object-lock-enabled", "true");
    s3_req_body(&r, "", 0, false);
    int rc = s3_run(s, &r);
    s3_req_free(&r);
    return rc;
}

int s3_put(struct s3 *s, const char *bucket, const char *key, const void *buf, size_t len,
           const struct s3_put_opts *po, struct s3_info *info)
{
    struct s3_req r;
    char until[40];
    s3_req_init(&r, "PUT", bucket, key);
    s3_req_body(&r, buf, len, true);
    if (po && po->content_md5)
        snprintf(r.md5, sizeof r.md5, "%s", po->content_md5);
    s3_req_lock(&r, po, until, sizeof until);
    int rc = s3_run(s, &r);
    if (rc == 0 && info)
        *info = r.info, info->size = len;
    s3_req_free(&r);
    return rc;
}

int s3_get(struct s3 *s, const char *bucket, const char *key, size_t cap, char **buf, size_t *len,
           struct s3_info *info)
{
    struct s3_req r;
    s3_req_init(&r, "GET", bucket, key);
    r.cap = cap > S3_ERRDOC_MAX ? cap : S3_ERRDOC_MAX;
    r.dst = NULL;
    int rc = s3_run(s, &r);
    if (rc == 0 && r.resp_len > cap) {
        s3_seterr(s, "s3: GET %s/%s: the object is larger than the %zu bytes asked for", bucket,
                  dv_esc(key), cap);
        errno = EFBIG;
        rc = -1;
    }
    if (rc == 0) {
        if (info)
            *info = r.info;
        *len = r.resp_len;
        *buf = r.resp ? r.resp : dv_calloc(1, 1);
        r.resp = NULL;
    }
    s3_req_free(&r);
    return rc;
}

int s3_get_range(struct s3 *s, const char *bucket, const char *key, uint64_t off, size_t len,
                 void *buf, size_t *got)
{
    *got = 0;
    if (!len)
        return 0;
    struct s3_req r;
    char range[64];
    snprintf(range, sizeof range, "bytes=%llu-%llu", (unsigned long long)off,
             (unsigned long long)(off + len - 1));
    s3_req_init(&r, "GET", bucket, key);
    s3_req_header(&r, "range", range);
    r.dst = buf;
    r.dst_cap = len;
    int rc = s3_run(s, &r);
    if (rc == 0 && r.status != 206 && !(r.status == 200 && off == 0)) {
        s3_seterr(s, "s3: GET %s/%s %s: answered %ld, not 206 Partial Content", bucket, dv_esc(key),
                  range, r.status);
        errno = EIO;
        rc = -1;
    }
    if (rc == 0)
        *got = r.resp_len;
    s3_req_free(&r);
    return rc;
}

int s3_head(struct s3 *s, const char *bucket, const char *key, const char *version_id,
            struct s3_info *info)
{
    struct s3_req r;
    s3_req_init(&r, "HEAD", bucket, key);
    if (version_id)
        s3_req_query(&r, "versionId", version_id);
    int rc = s3_run(s, &r);
    if (rc < 0 && r.status == 404) {
        s3_set_code("NoSuchKey");
        s3_seterr(s, "s3: HEAD %s/%s: 404 (no such object)", bucket, dv_esc(key));
        errno = ENOENT;
    }
    if (rc == 0 && info)
        *info = r.info;
    s3_req_free(&r);
    return rc;
}

int s3_delete(struct s3 *s, const char *bucket, const char *key, const char *version_id)
{
    struct s3_req r;
    s3_req_init(&r, "DELETE", bucket, key);
    if (version_id)
        s3_req_query(&r, "versionId", version_id);
    int rc = s3_run(s, &r);
    s3_req_free(&r);
    return rc;
}

static int list_run(struct s3 *s, struct s3_req *r, enum s3_listing_kind kind,
                    struct s3_listing *out)
{
    r->cap = S3XML_MAX_BYTES;
    int rc = s3_run(s, r);
    if (rc == 0 && s3xml_listing(r->resp ? r->resp : "", r->resp_len, kind, out) < 0) {
        dv_preferr("s3: GET %s (listing)", r->bucket);
        rc = -1;
    }
    s3_req_free(r);
    return rc;
}

int s3_list(struct s3 *s, const char *bucket, const char *prefix, const char *token, int max_keys,
            struct s3_listing *out)
{
    memset(out, 0, sizeof *out);
    struct s3_req r;
    char mk[16];
    s3_req_init(&r, "GET", bucket, NULL);
    s3_req_query(&r, "list-type", "2");
    if (prefix && *prefix)
        s3_req_query(&r, "prefix", prefix);
    if (token)
        s3_req_query(&r, "continuation-token", token);
    if (max_keys > 0) {
        snprintf(mk, sizeof mk, "%d", max_keys);
        s3_req_query(&r, "max-keys", mk);
    }
    return list_run(s, &r, S3_LIST_OBJECTS, out);
}

int s3_list_versions(struct s3 *s, const char *bucket, const char *prefix, const char *key_marker,
                     const char *version_marker, int max_keys, struct s3_listing *out)
{
    memset(out, 0, sizeof *out);
    struct s3_req r;
    char mk[16];
    s3_req_init(&r, "GET", bucket, NULL);
    s3_req_query(&r, "versions", "");
    if (prefix && *prefix)
        s3_req_query(&r, "prefix", prefix);
    if (key_marker)
        s3_req_query(&r, "key-marker", key_marker);
    if (version_marker)
        s3_req_query(&r, "version-id-marker", version_marker);
    if (max_keys > 0) {
        snprintf(mk, sizeof mk, "%d", max_keys);
        s3_req_query(&r, "max-keys", mk);
    }
    return list_run(s, &r, S3_LIST_VERSIONS, out);
}

int s3_list_uploads(struct s3 *s, const char *bucket, const char *prefix, const char *key_marker,
                    const char *upload_marker, struct s3_listing *out)
{
    memset(out, 0, sizeof *out);
    struct s3_req r;
    s3_req_init(&r, "GET", bucket, NULL);
    s3_req_query(&r, "uploads", "");
    if (prefix && *prefix)
        s3_req_query(&r, "prefix", prefix);
    if (key_marker)
        s3_req_query(&r, "key-marker", key_marker);
    if (upload_marker)
        s3_req_query(&r, "upload-id-marker", upload_marker);
    return list_run(s, &r, S3_LIST_UPLOADS, out);
}

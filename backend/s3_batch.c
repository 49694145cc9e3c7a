/* s3_batch.c - several S3 requests in flight on one curl multi handle, each retried on its
 * own (s3_put_batch, the parts of a multipart upload), and multipart uploads (s3.h). */
#include "s3_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* a request of a batch: hashed when first started, its error kept when it fails */
struct job {
    struct s3_req r;
    int state;   /* 0 not started, 1 in flight, 2 waiting to retry, 3 done */
    double due;  /* when a retry may start */
    bool hashed; /* the body's hashes computed (an fd body is hashed at its first start) */
    bool want_md5;
    int rc;
    char err[320];
};

static void job_done(struct job *j, int rc)
{
    j->state = 3;
    j->rc = rc;
    if (rc < 0)
        snprintf(j->err, sizeof j->err, "%s", dv_err());
}

/* start job j on handle e; false if it could not even be set up (then it is done, failed) */
static bool job_start(struct s3 *s, CURLM *m, struct job *j, CURL *e)
{
    if (!j->hashed) {
        j->hashed = true;
        if (s3_req_body_fd(&j->r, j->r.fd, j->r.fd_off, j->r.body_len, j->want_md5) < 0) {
            job_done(j, -1);
            return false;
        }
    }
    j->r.attempts++;
    if (s3_req_setup(s, &j->r, e) < 0) {
        job_done(j, -1);
        return false;
    }
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_multi_add_handle(m, e);
    j->state = 1;
    return true;
}

/* run n jobs, up to s->parallel at once; the number that failed */
static size_t run_jobs(struct s3 *s, struct job *jobs, size_t n)
{
    size_t par = (size_t)s->parallel < n ? (size_t)s->parallel : n, done = 0, failed = 0;
    CURLM *m = curl_multi_init();
    CURL **h = dv_calloc(par ? par : 1, sizeof *h);
    bool *busy = dv_calloc(par ? par : 1, sizeof *busy);
    for (size_t i = 0; i < par; i++)
        h[i] = curl_easy_init();
    size_t next = 0;
    while (done < n) {
        double now = dv_mono(), wake = now + 0.1;
        for (size_t i = 0; i < par; i++) {
            if (busy[i])
                continue;
            /* a retry that is due, else the next job never started */
            struct job *j = NULL;
            for (size_t k = 0; k < next && !j; k++)
                if (jobs[k].state == 2 && jobs[k].due <= now)
                    j = &jobs[k];
            while (!j && next < n)
                if (jobs[next++].state == 0)
                    j = &jobs[next - 1];
            if (!j)
                break;
            if (job_start(s, m, j, h[i]))
                busy[i] = true;
            else
                done++, failed++, i--; /* the handle is still free */
        }
        for (size_t k = 0; k < next; k++)
            if (jobs[k].state == 2 && jobs[k].due < wake)
                wake = jobs[k].due;
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        bool freed = false;
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            CURLcode cc = msg->data.result;
            struct job *j = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
            curl_multi_remove_handle(m, e);
            for (size_t i = 0; i < par; i++)
                if (h[i] == e)
                    busy[i] = false;
            freed = true;
            enum s3_verdict v = s3_req_judge(s, &j->r, e, cc);
            if (v == S3_RETRY && j->r.attempts <= s->retries) {
                if (s->on_retry)
                    s->on_retry(s->on_retry_arg, dv_err());
                j->state = 2;
                j->due = dv_mono() + (double)s3_backoff_ms(s, j->r.attempts) / 1000.0;
                continue;
            }
            job_done(j, v == S3_OK ? 0 : -1);
            done++;
            failed += v != S3_OK;
        }
        /* a handle came free: start the next job at once rather than wait in the poll */
        if (done < n && !(freed && next < n)) {
            int ms = (int)((wake - dv_mono()) * 1000);
            curl_multi_poll(m, NULL, 0, ms < 1 ? 1 : ms > 100 ? 100 : ms, NULL);
        }
    }
    for (size_t i = 0; i < par; i++)
        curl_easy_cleanup(h[i]);
    curl_multi_cleanup(m);
    free(h);
    free(busy);
    return failed;
}

int s3_put_batch(struct s3 *s, const char *bucket, struct s3_batch_item *items, size_t n,
                 const struct s3_put_opts *po)
{
    struct job *jobs = dv_calloc(n ? n : 1, sizeof *jobs);
    char(*until)[40] = dv_calloc(n ? n : 1, sizeof *until);
    for (size_t i = 0; i < n; i++) {
        struct job *j = &jobs[i];
        s3_req_init(&j->r, "PUT", bucket, items[i].key);
        if (items[i].buf) {
            s3_req_body(&j->r, items[i].buf, items[i].len, true);
            j->hashed = true;
        } else {
            j->r.fd = items[i].fd;
            j->r.fd_off = items[i].off;
            j->r.body_len = items[i].len;
            j->want_md5 = true;
        }
        s3_req_lock(&j->r, po, until[i], sizeof until[i]);
    }
    size_t failed = run_jobs(s, jobs, n);
    int first = -1;
    for (size_t i = 0; i < n; i++) {
        items[i].rc = jobs[i].rc;
        items[i].attempts = jobs[i].r.attempts;
        snprintf(items[i].err, sizeof items[i].err, "%s", jobs[i].err);
        items[i].info = jobs[i].r.info;
        items[i].info.size = items[i].len;
        if (jobs[i].rc < 0 && first < 0)
            first = (int)i;
        s3_req_free(&jobs[i].r);
    }
    free(jobs);
    free(until);
    if (failed) {
        dv_seterr("s3: %zu of %zu uploads failed; the first: %s", failed, n, items[first].err);
        return -1;
    }
    return 0;
}

/* ---- multipart -------------------------------------------------------------------------- */

char *s3_mpu_create(struct s3 *s, const char *bucket, const char *key, const struct s3_put_opts *po)
{
    struct s3_req r;
    char until[40];
    s3_req_init(&r, "POST", bucket, key);
    s3_req_query(&r, "uploads", "");
    s3_req_body(&r, "", 0, false);
    s3_req_lock(&r, po, until, sizeof until);
    char *id = NULL;
    if (s3_run(s, &r) == 0) {
        id = s3xml_upload_id(r.resp ? r.resp : "", r.resp_len);
        if (!id)
            dv_preferr("s3: POST %s/%s?uploads", bucket, dv_esc(key));
    }
    s3_req_free(&r);
    return id;
}

int s3_mpu_abort(struct s3 *s, const char *bucket, const char *key, const char *upload_id)
{
    struct s3_req r;
    s3_req_init(&r, "DELETE", bucket, key);
    s3_req_query(&r, "uploadId", upload_id);
    int rc = s3_run(s, &r);
    s3_req_free(&r);
    return rc;
}

static int mpu_complete(struct s3 *s, const char *bucket, const char *key, const char *id,
                        struct job *parts, size_t n, struct s3_info *info)
{
    size_t cap = 64 + n * 160, len = 0;
    char *xml = dv_malloc(cap);
    len += (size_t)snprintf(xml, cap, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(xml + len, cap - len,
                                "<Part><PartNumber>%zu</PartNumber><ETag>\"%s\"</ETag></Part>",
                                i + 1, parts[i].r.info.etag);
    len += (size_t)snprintf(xml + len, cap - len, "</CompleteMultipartUpload>");
    struct s3_req r;
    s3_req_init(&r, "POST", bucket, key);
    s3_req_query(&r, "uploadId", id);
    s3_req_body(&r, xml, len, true);
    int rc = s3_run(s, &r);
    char *etag = NULL;
    if (rc == 0) {
        /* S3 may answer 200 and then an error document */
        etag = s3xml_complete_etag(r.resp ? r.resp : "", r.resp_len);
        if (!etag) {
            dv_preferr("s3: POST %s/%s?uploadId (complete)", bucket, dv_esc(key));
            rc = -1;
        }
    }
    if (rc == 0 && info) {
        *info = r.info; /* RGW 16 answers an empty <ETag>: then the header's, if any */
        if (etag[0])
            snprintf(info->etag, sizeof info->etag, "%s", etag);
    }
    free(etag);
    free(xml);
    s3_req_free(&r);
    return rc;
}

int s3_put_fd(struct s3 *s, const char *bucket, const char *key, int fd, uint64_t size,
              const struct s3_put_opts *po, struct s3_info *info)
{
    char until[40];
    if (size <= s->part_size) {
        struct s3_req r;
        s3_req_init(&r, "PUT", bucket, key);
        int rc = s3_req_body_fd(&r, fd, 0, (size_t)size, true);
        s3_req_lock(&r, po, until, sizeof until);
        if (rc == 0)
            rc = s3_run(s, &r);
        if (rc == 0 && info)
            *info = r.info, info->size = size;
        s3_req_free(&r);
        return rc;
    }
    uint64_t part = s->part_size;
    if ((size + part - 1) / part > 10000) /* S3's limit on parts */
        part = ((size + 9999) / 10000 + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
    size_t n = (size_t)((size + part - 1) / part);
    char *id = s3_mpu_create(s, bucket, key, po);
    if (!id)
        return -1;
    struct job *jobs = dv_calloc(n, sizeof *jobs);
    char(*num)[24] = dv_calloc(n, sizeof *num);
    for (size_t i = 0; i < n; i++) {
        struct job *j = &jobs[i];
        uint64_t off = i * part, len = size - off < part ? size - off : part;
        snprintf(num[i], sizeof num[i], "%zu", i + 1);
        s3_req_init(&j->r, "PUT", bucket, key);
        s3_req_query(&j->r, "partNumber", num[i]);
        s3_req_query(&j->r, "uploadId", id);
        j->r.fd = fd;
        j->r.fd_off = (off_t)off;
        j->r.body_len = (size_t)len;
        j->want_md5 = true;
    }
    size_t failed = run_jobs(s, jobs, n);
    int rc = 0;
    if (failed) {
        for (size_t i = 0; i < n; i++)
            if (jobs[i].rc < 0) {
                dv_seterr("s3: multipart upload of %s/%s: part %zu of %zu: %s", bucket, dv_esc(key),
                          i + 1, n, jobs[i].err);
                break;
            }
        rc = -1;
    }
    if (rc == 0)
        rc = mpu_complete(s, bucket, key, id, jobs, n, info);
    if (rc < 0) {
        char keep[DV_ERR_MAX];
        snprintf(keep, sizeof keep, "%s", dv_err());
        s3_mpu_abort(s, bucket, key, id); /* best effort: a crash's leftovers are listed later */
        dv_seterr("%s", keep);
    } else if (info) {
        info->size = size;
    }
    for (size_t i = 0; i < n; i++)
        s3_req_free(&jobs[i].r);
    free(jobs);
    free(num);
    free(id);
    return rc;
}

/* dbstream.c - see dbstream.h. */
#include "dbstream.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "job.h"
#include "util.h"

enum { H_PM, H_SHA, H_N };

struct pipe {
    struct dbstream *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned char *buf[DBSTREAM_SLOTS];
    size_t len[DBSTREAM_SLOTS];
    uint64_t nchunks;
    uint64_t produced;      /* chunks filled and published */
    uint64_t consumed[H_N]; /* chunks each hasher is done with */
    bool active[H_N];
    bool stop; /* the reader failed: hashers leave */
    EVP_MD_CTX *sha;
};

static void *hasher(struct pipe *p, int h)
{
    struct dbstream *s = p->s;
    struct pagemap_hasher *ph = h == H_PM ? pagemap_hasher_new() : NULL;
    for (uint64_t k = 0; k < p->nchunks; k++) {
        pthread_mutex_lock(&p->mu);
        while (p->produced <= k && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        const unsigned char *b = p->buf[k % DBSTREAM_SLOTS];
        size_t len = p->len[k % DBSTREAM_SLOTS];
        if (h == H_SHA) {
            EVP_MD_CTX *c = EVP_MD_CTX_new();
            if (!c || EVP_MD_CTX_copy_ex(c, p->sha) != 1)
                abort(); /* out of memory */
            s->ck[k] = c;
            EVP_DigestUpdate(p->sha, b, len);
        } else {
            uint64_t pg = k * (DBSTREAM_CHUNK / s->page_size) + 1;
            for (size_t o = 0; o < len; o += s->page_size, pg++) {
                size_t n = len - o < s->page_size ? len - o : s->page_size;
                pagemap_digest(ph, b + o, n, pagemap_at(&s->pm, pg));
            }
        }
        pthread_mutex_lock(&p->mu);
        p->consumed[h] = k + 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    pagemap_hasher_free(ph);
    return NULL;
}

static void *pm_main(void *arg)
{
    return hasher(arg, H_PM);
}

static void *sha_main(void *arg)
{
    return hasher(arg, H_SHA);
}

/* Fill chunk k: read it (zeros past the source's end), write it, start its writeback. */
static int fill(struct pipe *p, uint64_t k)
{
    struct dbstream *s = p->s;
    unsigned char *b = p->buf[k % DBSTREAM_SLOTS];
    uint64_t off = k * DBSTREAM_CHUNK;
    size_t want = s->size - off < DBSTREAM_CHUNK ? (size_t)(s->size - off) : DBSTREAM_CHUNK;
    size_t got = 0;
    if (off < s->eof_at) {
        ssize_t r = dv_pread_full(s->src_fd, b, want, (off_t)off);
        if (r < 0) {
            dv_syserr("read %s", s->src_name);
            return -1;
        }
        got = (size_t)r;
        if (got < want)
            s->eof_at = off + got; /* the source ended early: zeros from here */
    }
    memset(b + got, 0, want - got);
    p->len[k % DBSTREAM_SLOTS] = want;
    if (s->dst_fd >= 0) {
        if (dv_pwrite_all(s->dst_fd, b, want, (off_t)off) != 0) {
            dv_syserr("write %s", s->dst_name);
            return -1;
        }
        if (s->writeback && want == DBSTREAM_CHUNK)
            (void)sync_file_range(s->dst_fd, (off_t)off, (off_t)want, SYNC_FILE_RANGE_WRITE);
    }
    job_advance(s->job, 0, want, NULL);
    return 0;
}

/* The reader: wait for chunk k's slot to be free, fill it, publish it. */
static int produce(struct pipe *p)
{
    for (uint64_t k = 0; k < p->nchunks; k++) {
        if (job_cancelled(p->s->job)) {
            dv_seterr("cancelled");
            return -1;
        }
        pthread_mutex_lock(&p->mu);
        for (int h = 0; h < H_N; h++)
            while (p->active[h] && p->consumed[h] + DBSTREAM_SLOTS <= k)
                pthread_cond_wait(&p->cv, &p->mu);
        pthread_mutex_unlock(&p->mu);
        if (fill(p, k) != 0)
            return -1;
        pthread_mutex_lock(&p->mu);
        p->produced = k + 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    return 0;
}

int dbstream_run(struct dbstream *s)
{
    struct pipe p = {.s = s};
    memset(&s->pm, 0, sizeof s->pm);
    s->sha256[0] = 0;
    s->ck = NULL;
    s->nck = 0;
    s->eof_at = s->size;
    if (s->page_size < 512 || s->page_size > 65536 || (s->page_size & (s->page_size - 1))) {
        dv_seterr("%s: page size %u", s->src_name, s->page_size);
        return -1;
    }
    p.nchunks = (s->size + DBSTREAM_CHUNK - 1) / DBSTREAM_CHUNK;
    p.active[H_PM] = s->want_pm;
    p.active[H_SHA] = s->want_sha;
    if (s->want_pm)
        pagemap_init(&s->pm, s->page_size, s->size);
    if (s->want_sha) {
        s->ck = dv_calloc(p.nchunks + 1, sizeof *s->ck);
        s->nck = p.nchunks + 1;
        if (!(p.sha = EVP_MD_CTX_new()) || EVP_DigestInit_ex(p.sha, EVP_sha256(), NULL) != 1)
            abort();
    }
    for (int i = 0; i < DBSTREAM_SLOTS; i++)
        p.buf[i] = dv_malloc(DBSTREAM_CHUNK);
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t th[H_N];
    bool started[H_N] = {false, false};
    void *(*mains[H_N])(void *) = {pm_main, sha_main};
    int rc = 0;
    for (int h = 0; h < H_N && rc == 0; h++) {
        if (!p.active[h])
            continue;
        if (pthread_create(&th[h], NULL, mains[h], &p) != 0) {
            dv_seterr("%s: cannot start a hashing thread", s->src_name);
            rc = -1;
        } else {
            started[h] = true;
        }
    }
    if (rc == 0)
        rc = produce(&p);
    pthread_mutex_lock(&p.mu);
    if (rc != 0)
        p.stop = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    for (int h = 0; h < H_N; h++)
        if (started[h])
            pthread_join(th[h], NULL);
    if (rc == 0 && s->want_sha) {
        unsigned char md[32];
        unsigned int n = 0;
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        if (!c || EVP_MD_CTX_copy_ex(c, p.sha) != 1)
            abort();
        s->ck[p.nchunks] = c;
        EVP_DigestFinal_ex(p.sha, md, &n);
        dv_hex(md, 32, s->sha256);
    }
    EVP_MD_CTX_free(p.sha);
    for (int i = 0; i < DBSTREAM_SLOTS; i++)
        free(p.buf[i]);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    return rc;
}

int dbstream_sha_from(const struct dbstream *s, int fd, const char *name, uint64_t from,
                      uint64_t size, char out[65])
{
    if (!s->ck || !s->nck) {
        dv_seterr("%s: no hash state to resume", name);
        return -1;
    }
    uint64_t k = from / DBSTREAM_CHUNK;
    if (k > s->nck - 1)
        k = s->nck - 1;
    while (k > 0 && !s->ck[k])
        k--;
    if (k * DBSTREAM_CHUNK > size)
        k = size / DBSTREAM_CHUNK;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || (s->ck[k] ? EVP_MD_CTX_copy_ex(c, s->ck[k])
                        : EVP_DigestInit_ex(c, EVP_sha256(), NULL)) != 1)
        abort();
    if (!s->ck[k])
        k = 0;
    unsigned char *buf = dv_malloc(DBSTREAM_CHUNK);
    int rc = 0;
    for (uint64_t off = k * DBSTREAM_CHUNK; off < size;) {
        size_t want = size - off < DBSTREAM_CHUNK ? (size_t)(size - off) : DBSTREAM_CHUNK;
        ssize_t got = dv_pread_full(fd, buf, want, (off_t)off);
        if (got < 0 || (size_t)got != want) {
            if (got < 0)
                dv_syserr("read %s", name);
            else
                dv_seterr("read %s: %llu bytes, expected %llu", name,
                          (unsigned long long)(off + (uint64_t)got), (unsigned long long)size);
            rc = -1;
            break;
        }
        EVP_DigestUpdate(c, buf, want);
        off += want;
    }
    if (rc == 0) {
        unsigned char md[32];
        unsigned int n = 0;
        EVP_DigestFinal_ex(c, md, &n);
        dv_hex(md, 32, out);
    }
    EVP_MD_CTX_free(c);
    free(buf);
    return rc;
}

void dbstream_done(struct dbstream *s)
{
    pagemap_done(&s->pm);
    for (uint64_t i = 0; i < s->nck; i++)
        EVP_MD_CTX_free(s->ck[i]);
    free(s->ck);
    s->ck = NULL;
    s->nck = 0;
}

/* nlopass.c - see nlopass.h. */
#include "nlopass.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fsb.h"
#include "util.h"

#define NAME_LEN TARGET_NLO_NAME_LEN
#define DENTS_BUF (1u << 20)
#define COPY_BUF (1u << 20)
#define LINES_BUF (64u << 10) /* NLO list lines written out when this is full */
/*
 * Objects per batch (one syncfs, then one catalog transaction): as large as the durability
 * rule allows (the catalog records an object only once it is durable; a crash loses at most
 * the batch's recording, and the next run copies those objects again). 16,384 objects of
 * 1-4 KiB: a syncfs per ~40 MiB, and the catalog's pool pages amortised over more rows.
 */
#define BATCH_OBJECTS 16384
#define POOL_PAGE 4096
#define MAX_REPORTED 20 /* skipped objects named one by one in events; the rest counted */

typedef char name_t[NAME_LEN + 1];

#define COPIERS 2 /* copier threads: opening, reading, hashing, writing, renaming overlap */
#define QUEUE 64  /* objects handed to them and not yet recorded */

/* What became of one object's copy (finish() reports it from the pass's thread). */
enum { K_OK, K_ABSENT, K_VANISHED, K_LINK, K_OPENERR, K_NOTREG, K_READERR, K_INWAY, K_FAIL };

/* One object to copy into the pool, and the outcome (filled by do_copy). */
struct cjob {
    name_t name;
    int sfd; /* its live subdirectory (kept open until the job is finished) */
    int subdir;
    bool repair; /* known holds the catalog's row */
    struct catalog_pool_obj known;
    int state; /* queue: 0 free, 1 queued, 2 taken, 3 done */
    int kind, err;
    mode_t mode;
    const char *removed; /* what was planted at the temporary's name (fsb's strings) */
    char where[160];     /* the temporary's path, for that warning */
    uint64_t total;
    unsigned char md[32];
    char msg[DV_ERR_MAX]; /* K_FAIL: the target failed */
};

/* A thread that copies (or the pass itself, for repairs): its buffer, hash and the pool
 * directory it last wrote into, opened beneath the target without links (fsb_sub). */
struct copier {
    const struct fsb *root;
    EVP_MD_CTX *ctx;
    char *buf;
    struct fsb *pool;
    unsigned pool_idx; /* 4096: none */
    pthread_t th;
    bool started;
    struct queue *q;
};

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct cjob job[QUEUE];
    uint64_t head, take, tail; /* finish next, copy next, add next */
    bool quit;
};

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* Sort key of a listed name: its first 16 hex digits as a number (same order as memcmp of
   lower-case hex), then the name itself on a tie. */
struct sortkey {
    uint64_t key;
    uint32_t idx;
    uint8_t reg; /* pool listing: a regular file */
};

struct pass {
    const struct nlopass_opts *o;
    struct nlopass_result *r;
    int tfd;                /* target root */
    const struct fsb *root; /* the same, for everything written beneath it (fsb.h) */
    char *dents;            /* getdents64 buffer */
    name_t *names;          /* names of the current subdirectory, as listed */
    size_t nnames, capnames;
    struct sortkey *order; /* names[] in name order (capnames entries) */
    name_t *page;          /* pool names of the current subdirectory, one page */
    struct catalog_pool_obj *batch;
    size_t nbatch, maxbatch;
    struct catalog_pool_obj *rbatch; /* objects copied again into the pool (repairs) */
    size_t nrbatch;
    name_t *lost; /* pool rows to delete: missing from the pool and from the server */
    size_t nlost;
    int dfd; /* the DAOS directory */
    uint64_t batch_bytes;
    char *lines; /* NLO list lines of the batch */
    size_t nlines;
    int listfd;
    EVP_MD_CTX *listctx;
    struct copier self; /* the pass's own copier (repairs) */
    struct copier cp[COPIERS];
    struct queue *q;
    uint8_t pooldirs[4096 / 8]; /* nlo/<3 hex> directories known to exist */
    bool s3;                    /* the target is a bucket: the batch is published (flush) */
    char (*pub)[96];            /* S3: the batch's copies, "nlo/<3 hex>/<name>" */
    size_t npub;
    uint64_t reported, reported_pool;
    int64_t now;
};

static void skip(struct pass *p, uint64_t *counter, const char *what, int subdir, const char *name,
                 int err)
{
    (*counter)++;
    if (p->reported++ < MAX_REPORTED)
        job_log(p->o->job, DV_WARN, "NLO %04d/%s %s%s%s, skipped (next run picks it up)", subdir,
                name, what, err ? ": " : "", err ? strerror(err) : "");
}

/*
 * A symbolic link or special file under an NLO's name (or a DAOS subdirectory's) is refused:
 * never followed or opened. Unlike a skipped object it does not go away by itself, so the
 * message says what to do (issue 12, finding 13).
 */
static void refuse(struct pass *p, const char *what, int subdir, const char *name)
{
    p->r->refused++;
    if (p->reported++ < MAX_REPORTED)
        job_log(p->o->job, DV_WARN,
                "NLO %04d/%s refused: %s (never followed; remove it or replace it with the "
                "file: dvault recover --list repairs it when a backup holds it)",
                subdir, name, what);
}

static const char *dtype_what(unsigned char t)
{
    return t == DT_LNK                  ? "a symbolic link"
           : t == DT_DIR                ? "a directory"
           : t == DT_FIFO               ? "a FIFO"
           : t == DT_SOCK               ? "a socket"
           : t == DT_CHR || t == DT_BLK ? "a device"
                                        : "not a regular file";
}

static int cmp_key(const void *a, const void *b, void *names)
{
    const struct sortkey *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    const name_t *n = names;
    return memcmp(n[x->idx], n[y->idx], NAME_LEN);
}

static uint64_t name_key(const char *nm)
{
    uint64_t k = 0;
    for (int i = 0; i < 16; i++)
        k = k << 4 | (uint64_t)(nm[i] <= '9' ? nm[i] - '0' : nm[i] - 'a' + 10);
    return k;
}

/* The NLO list lines gathered so far appended to the set's list (made durable with the
 * batch's objects by its syncfs). 0 or -1. */
static int lines_out(struct pass *p)
{
    if (p->nlines) {
        if (dv_write_all(p->listfd, p->lines, p->nlines) != 0) {
            dv_syserr("write %s", p->o->list_path);
            return -1;
        }
        EVP_DigestUpdate(p->listctx, p->lines, p->nlines);
        p->nlines = 0;
    }
    return 0;
}

/* A copy of the batch to publish (an S3 target; nothing to do for a directory). */
static void pub_add(struct pass *p, const char *name)
{
    if (p->s3)
        target_pool_relpath(name, p->pub[p->npub++], sizeof p->pub[0]);
}

/* Publish the batch's copies (S3: uploaded several at a time, acknowledged, removed from the
 * working tree). 0 or -1. */
static int publish(struct pass *p)
{
    if (!p->npub)
        return 0;
    const char **rels = dv_malloc(p->npub * sizeof *rels);
    for (size_t i = 0; i < p->npub; i++)
        rels[i] = p->pub[i];
    int rc = target_publish_many(p->o->target, rels, p->npub, 0);
    free(rels);
    if (rc != 0) {
        dv_preferr("NLO pass");
        return -1;
    }
    p->npub = 0;
    return 0;
}

/* Make the batch durable (a directory: syncfs; S3: published), then record it: the catalog
 * holds an object only once the target does. */
static int flush(struct pass *p)
{
    if (p->nbatch == 0 && p->nrbatch == 0)
        return 0;
    if (lines_out(p) != 0)
        return -1;
    if (p->s3) {
        dv_crashpoint("nlopass.publish");
        if (publish(p) != 0)
            return -1;
    } else if (syncfs(p->tfd) != 0) {
        dv_syserr("syncfs %s", target_path(p->o->target));
        return -1;
    }
    if (catalog_begin(p->o->cat) != 0 ||
        catalog_pool_insert_batch(p->o->cat, p->batch, p->nbatch) != 0 ||
        catalog_pool_repair_batch(p->o->cat, p->rbatch, p->nrbatch) != 0 ||
        catalog_commit(p->o->cat) != 0) {
        catalog_rollback(p->o->cat);
        dv_preferr("NLO pass");
        return -1;
    }
    p->nbatch = 0;
    p->nrbatch = 0;
    p->batch_bytes = 0;
    dv_crashpoint("nlopass.batch");
    return 0;
}

static int maybe_flush(struct pass *p)
{
    size_t maxo = p->o->batch_objects ? p->o->batch_objects : BATCH_OBJECTS;
    uint64_t maxb = p->o->batch_bytes ? p->o->batch_bytes : (256u << 20);
    if (p->nbatch + p->nrbatch >= maxo || p->batch_bytes >= maxb)
        return flush(p);
    return 0;
}

static struct catalog_pool_obj *batch_add(struct pass *p, const char *name, int subdir)
{
    struct catalog_pool_obj *b = &p->batch[p->nbatch++];
    memcpy(b->name, name, NAME_LEN + 1);
    b->live_subdir = subdir;
    b->first_set = p->o->set_seq;
    b->stored_at = p->now;
    return b;
}

static int pool_dir(struct pass *p, const char *name)
{
    unsigned idx = 0;
    for (int i = 0; i < 3; i++)
        idx = idx << 4 | (unsigned)(name[i] <= '9' ? name[i] - '0' : name[i] - 'a' + 10);
    if (p->pooldirs[idx / 8] & (1u << (idx % 8)))
        return 0;
    char dir[16];
    snprintf(dir, sizeof dir, "nlo/%.3s", name);
    /* Never write through a link or into a file where the pool's directory should be: nlo/
     * and nlo/<3 hex> are made (or found) as real directories beneath the target (fsb). The
     * copy itself opens the directory again without links: a link planted after this check
     * is refused there. */
    if (fsb_mkdirs(p->root, dir, 0700) != 0) {
        if (errno == EEXIST || errno == ELOOP || errno == ENOTDIR)
            dv_seterr("%s/%s is not a directory (a symbolic link or a file): the pool is damaged "
                      "(move it away)",
                      target_path(p->o->target), dir);
        return -1;
    }
    p->pooldirs[idx / 8] |= (uint8_t)(1u << (idx % 8));
    return 0;
}

enum { COPIED = 0, SKIPPED = 1, ABSENT = 2 };

/*
 * A copied object (its SHA-256 md, total bytes) into the catalog's batch: a repair's
 * row (known) keeps its first set; a new one is listed in the set. COPIED, or -1 when the
 * batch cannot be flushed.
 */
static int record_copy(struct pass *p, int subdir, const char *name,
                       const struct catalog_pool_obj *known, uint64_t total,
                       const unsigned char md[32])
{
    if (known) {
        struct catalog_pool_obj *b = &p->rbatch[p->nrbatch++];
        *b = *known;
        b->live_subdir = subdir;
        dv_hex(md, 32, b->sha256);
        b->size = (int64_t)total;
        if (strcmp(b->sha256, known->sha256) != 0)
            job_log(p->o->job, DV_WARN,
                    "NLO %s copied again differs from the bytes its first set recorded "
                    "(SHA-256 %s, was %s): the server rewrote it; verify reports that set",
                    name, b->sha256, known->sha256);
        p->batch_bytes += total;
        pub_add(p, name);
        p->r->repaired++;
        p->r->bytes += total;
        job_advance(p->o->job, 0, total, NULL);
        return maybe_flush(p) != 0 ? -1 : COPIED;
    }
    struct catalog_pool_obj *b = batch_add(p, name, subdir);
    dv_hex(md, 32, b->sha256);
    b->size = (int64_t)total;
    p->batch_bytes += total;
    pub_add(p, name);
    p->r->copied++;
    p->r->bytes += total;
    if (p->listfd >= 0) {
        if (p->nlines + 256 > LINES_BUF && lines_out(p) != 0)
            return -1;
        struct target_nlo_entry e;
        memcpy(e.name, name, NAME_LEN + 1);
        memcpy(e.sha256, b->sha256, 65);
        e.size = total;
        e.live_subdir = subdir;
        p->nlines += target_nlolist_line(&e, p->lines + p->nlines, 256);
        p->r->list_count++;
    }
    job_advance(p->o->job, 0, total, NULL);
    return maybe_flush(p) != 0 ? -1 : COPIED;
}

/*
 * Copy one object into the pool (a copier thread, or the pass itself): j->kind says what
 * became of it; nothing is logged or counted here (finish does, in the pass's thread).
 */
static void do_copy(struct copier *w, struct cjob *j)
{
    const char *name = j->name;
    j->kind = K_OK;
    j->removed = NULL;
    j->total = 0;
    /* O_NONBLOCK: a FIFO under an NLO's name must not block the open */
    int in = openat(j->sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) {
        j->err = errno;
        j->kind = errno == ENOENT  ? (j->repair ? K_ABSENT : K_VANISHED)
                  : errno == ELOOP ? K_LINK
                                   : K_OPENERR;
        return;
    }
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        j->err = errno;
        j->mode = st.st_mode;
        j->kind = j->err ? K_OPENERR : K_NOTREG;
        close(in);
        return;
    }
    unsigned idx = 0;
    for (int i = 0; i < 3; i++)
        idx = idx << 4 | (unsigned)(name[i] <= '9' ? name[i] - '0' : name[i] - 'a' + 10);
    char dir[16], tmpname[128];
    snprintf(dir, sizeof dir, "nlo/%.3s", name);
    snprintf(tmpname, sizeof tmpname, ".%s.tmp", name);
    /* the pool directory, opened beneath the target without links (a link planted after
     * pool_dir made it is refused here), kept while the names stay in it (names arrive in
     * hash order: about ten in a row per directory at 1,000,000 objects) */
    if (w->pool_idx != idx) {
        fsb_close(w->pool);
        w->pool_idx = 4096;
        if (!(w->pool = fsb_sub(w->root, dir))) {
            j->kind = K_FAIL;
            snprintf(j->msg, sizeof j->msg, "%s", dv_err());
            close(in);
            return;
        }
        w->pool_idx = idx;
    }
    /* the temporary: a new file (O_EXCL) in the pool directory; whatever is planted at its
     * name is removed as itself, never followed */
    struct fsb_tmp t;
    if (fsb_tmp_open(w->pool, name, tmpname, 0600, 0, &t) != 0) {
        j->kind = K_FAIL;
        if (errno == ELOOP || errno == ENOTDIR || errno == EXDEV)
            dv_seterr("%s/nlo/%.3s is not a directory (a symbolic link or a file): the pool is "
                      "damaged (move it away)",
                      fsb_path(w->root), name);
        snprintf(j->msg, sizeof j->msg, "%s", dv_err());
        fsb_tmp_done(&t);
        close(in);
        return;
    }
    if (t.removed && strcmp(t.removed, "a regular file") != 0) {
        j->removed = t.removed;
        snprintf(j->where, sizeof j->where, "%s", t.path);
    }
    EVP_DigestInit_ex(w->ctx, EVP_sha256(), NULL);
    for (;;) {
        ssize_t n = read(in, w->buf, COPY_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            j->kind = K_READERR;
            j->err = errno;
            break;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(w->ctx, w->buf, (size_t)n);
        if (dv_write_all(t.fd, w->buf, (size_t)n) != 0) {
            dv_syserr("write %s", t.path);
            j->kind = K_FAIL;
            snprintf(j->msg, sizeof j->msg, "%s", dv_err());
            break;
        }
        j->total += (uint64_t)n;
    }
    close(in);
    /* no fsync here: the batch is made durable by one syncfs (flush) */
    if (j->kind == K_OK && fsb_tmp_commit(&t, FSB_NOSYNC) != 0) {
        if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) {
            j->kind = K_INWAY; /* a directory (or such) where the pool file goes */
        } else {
            j->kind = K_FAIL;
            snprintf(j->msg, sizeof j->msg, "%s", dv_err());
        }
    }
    fsb_tmp_done(&t); /* removes the temporary unless it was renamed */
    if (j->kind == K_OK) {
        unsigned mdlen = 0;
        EVP_DigestFinal_ex(w->ctx, j->md, &mdlen);
    }
}

/*
 * What became of a copy, in the pass's thread: counted, reported, recorded. Returns COPIED,
 * SKIPPED (counted and reported), ABSENT (a repair whose live file is not there: the caller
 * decides) or -1 (target failure).
 */
static int finish(struct pass *p, struct cjob *j)
{
    const char *name = j->name;
    int subdir = j->subdir;
    if (j->removed && p->reported_pool++ < MAX_REPORTED)
        job_log(p->o->job, DV_WARN,
                "%s was %s (planted in the pool): removed as itself, never followed", j->where,
                j->removed);
    switch (j->kind) {
    case K_OK:
        return record_copy(p, subdir, name, j->repair ? &j->known : NULL, j->total, j->md);
    case K_ABSENT:
        return ABSENT;
    case K_VANISHED:
        skip(p, &p->r->vanished, "vanished", subdir, name, 0);
        return SKIPPED;
    case K_LINK:
        refuse(p, "a symbolic link", subdir, name);
        return SKIPPED;
    case K_OPENERR:
        skip(p, &p->r->unreadable, "cannot be opened", subdir, name, j->err);
        return SKIPPED;
    case K_NOTREG:
        refuse(p, fsb_kind(j->mode), subdir, name);
        return SKIPPED;
    case K_READERR:
        skip(p, &p->r->unreadable, "cannot be read", subdir, name, j->err);
        return SKIPPED;
    case K_INWAY:
        if (p->reported_pool++ < MAX_REPORTED)
            job_log(p->o->job, DV_ERROR,
                    "NLO %04d/%s not copied: %s/nlo/%.3s/%s is in the way and not a regular "
                    "file (move it away)",
                    subdir, name, target_path(p->o->target), name, name);
        p->r->pool_bad++;
        return SKIPPED;
    default:
        dv_seterr("%s", j->msg);
        return -1;
    }
}

/* ---- the copier threads: a queue of QUEUE objects, finished in the order they were added */

static void *copier_main(void *arg)
{
    struct copier *w = arg;
    struct queue *q = w->q;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->take == q->tail && !q->quit)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->take == q->tail)
            break; /* quit, and nothing left */
        struct cjob *j = &q->job[q->take++ % QUEUE];
        j->state = 2;
        pthread_mutex_unlock(&q->mu);
        do_copy(w, j);
        pthread_mutex_lock(&q->mu);
        j->state = 3;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Finish the oldest job (waiting for its copy). 0, or -1 when the target failed. */
static int finish_oldest(struct pass *p)
{
    struct queue *q = p->q;
    struct cjob *j = &q->job[q->head % QUEUE];
    pthread_mutex_lock(&q->mu);
    while (j->state != 3)
        pthread_cond_wait(&q->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
    int r = finish(p, j);
    pthread_mutex_lock(&q->mu);
    j->state = 0;
    q->head++;
    pthread_mutex_unlock(&q->mu);
    return r < 0 ? -1 : 0;
}

/* Finish every job handed out. On a failure the rest are waited for all the same (their
 * copies are not recorded: the next run copies them again). 0 or -1. */
static int drain(struct pass *p)
{
    int rc = 0;
    char saved[DV_ERR_MAX] = "";
    while (p->q && p->q->head != p->q->tail) {
        if (rc == 0) {
            if (finish_oldest(p) != 0) {
                rc = -1;
                snprintf(saved, sizeof saved, "%s", dv_err());
            }
            continue;
        }
        struct cjob *j = &p->q->job[p->q->head % QUEUE];
        pthread_mutex_lock(&p->q->mu);
        while (j->state != 3)
            pthread_cond_wait(&p->q->cv, &p->q->mu);
        j->state = 0;
        p->q->head++;
        pthread_mutex_unlock(&p->q->mu);
    }
    if (rc != 0)
        dv_seterr("%s", saved);
    return rc;
}

/* A new object to copy: to the copiers (finished later, in order), or copied here when they
 * could not be started. 0 or -1. */
static int copy_new(struct pass *p, int sfd, int subdir, const char *name)
{
    if (pool_dir(p, name) != 0)
        return -1;
    struct queue *q = p->q;
    if (!q) {
        struct cjob j = {.sfd = sfd, .subdir = subdir};
        memcpy(j.name, name, NAME_LEN + 1);
        do_copy(&p->self, &j);
        return finish(p, &j) < 0 ? -1 : 0;
    }
    if (q->tail - q->head == QUEUE && finish_oldest(p) != 0)
        return -1;
    struct cjob *j = &q->job[q->tail % QUEUE];
    memcpy(j->name, name, NAME_LEN + 1);
    j->sfd = sfd;
    j->subdir = subdir;
    j->repair = false;
    pthread_mutex_lock(&q->mu);
    j->state = 1;
    q->tail++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

/* A repair (the pool lost a recorded object): copied here, at once. */
static int copy_one(struct pass *p, int sfd, int subdir, const char *name,
                    const struct catalog_pool_obj *known)
{
    if (pool_dir(p, name) != 0)
        return -1;
    struct cjob j = {.sfd = sfd, .subdir = subdir, .repair = true, .known = *known};
    memcpy(j.name, name, NAME_LEN + 1);
    do_copy(&p->self, &j);
    return finish(p, &j);
}

/* A name the merge did not match: pooled elsewhere (re-home) or new (copy). */
static int unmatched(struct pass *p, int sfd, int subdir, const char *name)
{
    struct catalog_pool_obj known;
    int f = catalog_pool_get(p->o->cat, name, &known);
    if (f < 0)
        return -1;
    if (f == 0)
        return copy_new(p, sfd, subdir, name);
    p->r->held++;
    p->r->moved++;
    struct catalog_pool_obj *b = batch_add(p, name, subdir);
    *b = known;
    b->live_subdir = subdir;
    return maybe_flush(p);
}

/* List one subdirectory into p->names (sorted). Returns 0 or -1. */
static int list_subdir(struct pass *p, int sfd, int subdir)
{
    p->nnames = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, sfd, p->dents, DENTS_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            dv_syserr("read directory %s/%04d", p->o->daos_dir, subdir);
            return -1;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(p->dents + off);
            off += d->d_reclen;
            const char *nm = d->d_name;
            if (nm[0] == '.') {
                if (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0'))
                    continue;
                skip(p, &p->r->busy, "is being written", subdir, nm, 0);
                continue;
            }
            size_t len = strlen(nm);
            if (len != NAME_LEN || !target_nlo_name_valid(nm)) {
                if (strstr(nm, ".tmp"))
                    skip(p, &p->r->busy, "is being written", subdir, nm, 0);
                else
                    p->r->ignored++;
                continue;
            }
            /* a link or special file: refused at once, whether the pool holds the name or
               not (d_type costs nothing; DT_UNKNOWN is checked when the file is opened) */
            if (d->d_type != DT_REG && d->d_type != DT_UNKNOWN) {
                refuse(p, dtype_what(d->d_type), subdir, nm);
                continue;
            }
            if (p->nnames == p->capnames) {
                p->capnames = p->capnames ? p->capnames * 2 : 4096;
                p->names = dv_realloc(p->names, p->capnames * sizeof *p->names);
                p->order = dv_realloc(p->order, p->capnames * sizeof *p->order);
            }
            p->order[p->nnames].key = name_key(nm);
            p->order[p->nnames].idx = (uint32_t)p->nnames;
            memcpy(p->names[p->nnames++], nm, NAME_LEN + 1);
        }
    }
    /* Sorting 16-byte keys instead of 85-byte names: the listing is in hash order. */
    qsort_r(p->order, p->nnames, sizeof *p->order, cmp_key, p->names);
    return 0;
}

static int do_subdir(struct pass *p, int dfd, const char *dname, int subdir)
{
    int sfd = openat(dfd, dname, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (sfd < 0) {
        dv_syserr("open %s/%s", p->o->daos_dir, dname);
        return -1;
    }
    int rc = list_subdir(p, sfd, subdir);
    size_t np = 0, j = 0;
    uint64_t pending = 0; /* names seen, not yet reported to the job */
    bool more = true;
    name_t after = "";
    const char *prev = NULL;
    for (size_t i = 0; rc == 0 && i < p->nnames; i++) {
        if (job_cancelled(p->o->job)) {
            dv_seterr("NLO pass cancelled");
            rc = -1;
            break;
        }
        const char *nm = p->names[p->order[i].idx];
        if (prev && memcmp(nm, prev, NAME_LEN) == 0)
            continue; /* cannot happen in one directory; cheap to guard */
        prev = nm;
        p->r->seen++;
        if (++pending == 256) {
            job_advance(p->o->job, pending, 0, NULL);
            pending = 0;
        }
        int cmp = 1;
        for (;;) {
            if (j == np && more) {
                if (catalog_pool_subdir_page(p->o->cat, subdir, after, p->page, POOL_PAGE, &np) !=
                    0) {
                    rc = -1;
                    break;
                }
                j = 0;
                more = np == POOL_PAGE;
                if (np)
                    memcpy(after, p->page[np - 1], sizeof after);
            }
            if (j == np) {
                cmp = -1; /* pool exhausted */
                break;
            }
            cmp = memcmp(nm, p->page[j], NAME_LEN);
            if (cmp <= 0)
                break;
            j++; /* pooled name no longer in the live directory */
        }
        if (rc != 0)
            break;
        if (cmp == 0) {
            p->r->held++;
            j++;
            continue;
        }
        rc = unmatched(p, sfd, subdir, nm);
    }
    job_advance(p->o->job, pending, 0, NULL);
    if (drain(p) != 0 && rc == 0) /* the copiers are done with sfd */
        rc = -1;
    close(sfd);
    return rc;
}

/* ---- the pool check: every name the catalog records against the pool's files ------------ */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* List nlo/<idx as 3 hex> into p->names / p->order (sorted, with reg flags). A directory
 * that does not exist is empty; one that is not a directory is damage (-1). */
static int list_pool_dir(struct pass *p, int nfd, unsigned idx)
{
    p->nnames = 0;
    if (nfd < 0)
        return 0;
    char dn[8];
    snprintf(dn, sizeof dn, "%03x", idx);
    int fd = openat(nfd, dn, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ENOTDIR || errno == ELOOP)
            dv_seterr("%s/nlo/%s is not a directory: the pool is damaged (move it away)",
                      target_path(p->o->target), dn);
        else
            dv_syserr("open %s/nlo/%s", target_path(p->o->target), dn);
        return -1;
    }
    int rc = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, fd, p->dents, DENTS_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            dv_syserr("read directory %s/nlo/%s", target_path(p->o->target), dn);
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(p->dents + off);
            off += d->d_reclen;
            const char *nm = d->d_name;
            /* hidden: temporaries of a copy; others: not pool objects of this directory */
            if (nm[0] == '.' || strlen(nm) != NAME_LEN || memcmp(nm, dn, 3) != 0 ||
                !target_nlo_name_valid(nm))
                continue;
            bool reg = d->d_type == DT_REG;
            if (d->d_type == DT_UNKNOWN) {
                struct stat st;
                reg = fstatat(fd, nm, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
            }
            if (p->nnames == p->capnames) {
                p->capnames = p->capnames ? p->capnames * 2 : 4096;
                p->names = dv_realloc(p->names, p->capnames * sizeof *p->names);
                p->order = dv_realloc(p->order, p->capnames * sizeof *p->order);
            }
            p->order[p->nnames].key = name_key(nm + 3);
            p->order[p->nnames].idx = (uint32_t)p->nnames;
            p->order[p->nnames].reg = reg;
            memcpy(p->names[p->nnames++], nm, NAME_LEN + 1);
        }
    }
    close(fd);
    qsort_r(p->order, p->nnames, sizeof *p->order, cmp_key, p->names);
    return rc;
}

static int flush_lost(struct pass *p)
{
    if (p->nlost && catalog_pool_delete(p->o->cat, (const name_t *)p->lost, p->nlost) != 0) {
        dv_preferr("NLO pass");
        return -1;
    }
    p->nlost = 0;
    return 0;
}

/*
 * The catalog records name in the pool, the pool has no regular file of that name: copy it
 * again from the live server (where the catalog last saw it), or, when the server no longer
 * has it either, remove it from the catalog (the pool does not hold it). 0 or -1.
 */
static int pool_absent(struct pass *p, const char *name, bool bad)
{
    struct catalog_pool_obj row;
    int f = catalog_pool_get(p->o->cat, name, &row);
    if (f <= 0)
        return f;
    if (bad && p->reported_pool++ < MAX_REPORTED)
        job_log(p->o->job, DV_WARN, "pool object %s/nlo/%.3s/%s is not a regular file: not held",
                target_path(p->o->target), name, name);
    if (bad)
        p->r->pool_bad++;
    int st = ABSENT;
    char dname[16];
    snprintf(dname, sizeof dname, "%04d", (int)row.live_subdir);
    int sfd = openat(p->dfd, dname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd >= 0) {
        st = copy_one(p, sfd, (int)row.live_subdir, name, &row);
        close(sfd);
    }
    if (st < 0)
        return -1;
    if (st != ABSENT) {
        /* The walk counted it held; it was not (copied now, or skipped and reported). */
        if (p->r->held)
            p->r->held--;
        if (st == COPIED && p->reported_pool++ < MAX_REPORTED)
            job_log(p->o->job, DV_WARN,
                    "NLO %04d/%s was recorded in the pool but missing from it: copied again",
                    (int)row.live_subdir, name);
        return 0;
    }
    p->r->lost++;
    if (p->reported_pool++ < MAX_REPORTED)
        job_log(p->o->job, DV_ERROR,
                "NLO %s is missing from the pool and no longer on the server: removed from the "
                "catalog (a set that needs it cannot restore it; verify names them)",
                name);
    memcpy(p->lost[p->nlost++], name, NAME_LEN + 1);
    return p->nlost == POOL_PAGE ? flush_lost(p) : 0;
}

/*
 * Check every name the catalog records against the pool's files: one pass over the catalog
 * in name order merged with the pool's directories nlo/000 .. nlo/fff, each listed once
 * (getdents64) and sorted; a directory no recorded name falls into is not read. 0 or -1.
 */
static int sweep_absent(void *ud, const char *name)
{
    return pool_absent(ud, name, false);
}

static int pool_check(struct pass *p)
{
    if (p->s3) /* a bucket: one listing of nlo/ (nlopass_sweep.c) */
        return nlopass_pool_sweep(p->o->target, p->o->cat, p->o->job, sweep_absent, p);
    int nfd = openat(p->tfd, "nlo", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (nfd < 0 && errno != ENOENT) {
        dv_syserr("open %s/nlo", target_path(p->o->target));
        return -1;
    }
    name_t after = "";
    size_t np = 0, j = 0, k = 0;
    bool more = true;
    int cur = -1, rc = 0;
    for (;;) {
        if (j == np) {
            if (!more)
                break;
            if (catalog_pool_name_page(p->o->cat, after, p->page, POOL_PAGE, &np) != 0) {
                rc = -1;
                break;
            }
            j = 0;
            more = np == POOL_PAGE;
            if (np == 0)
                break;
            memcpy(after, p->page[np - 1], sizeof after);
        }
        const char *nm = p->page[j++];
        int h0 = hexval(nm[0]), h1 = hexval(nm[1]), h2 = hexval(nm[2]);
        if (h0 < 0 || h1 < 0 || h2 < 0)
            continue;
        int idx = h0 << 8 | h1 << 4 | h2;
        if (idx != cur) {
            if (job_cancelled(p->o->job)) {
                dv_seterr("NLO pass cancelled");
                rc = -1;
                break;
            }
            if (list_pool_dir(p, nfd, (unsigned)idx) != 0) {
                rc = -1;
                break;
            }
            cur = idx;
            k = 0;
        }
        int cmp = 1;
        while (k < p->nnames && (cmp = memcmp(p->names[p->order[k].idx], nm, NAME_LEN)) < 0)
            k++; /* in the pool, not in the catalog: not this check's business */
        if (k < p->nnames && cmp == 0 && p->order[k].reg) {
            k++;
            continue; /* held */
        }
        bool bad = k < p->nnames && cmp == 0;
        if (bad)
            k++;
        if (pool_absent(p, nm, bad) != 0) {
            rc = -1;
            break;
        }
    }
    if (nfd >= 0)
        close(nfd);
    return rc;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The DAOS repository's NNNN subdirectories (unsorted); anything else by such a name is
 * refused and reported, never followed. 0 or -1. */
static int list_subdirs(struct pass *p, int **subdirs, size_t *nsub)
{
    size_t capsub = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, p->dfd, p->dents, DENTS_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            dv_syserr("read directory %s", p->o->daos_dir);
            return -1;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(p->dents + off);
            off += d->d_reclen;
            const char *nm = d->d_name;
            if (strlen(nm) != 4 || strspn(nm, "0123456789") != 4)
                continue;
            if (d->d_type != DT_DIR) {
                struct stat st;
                bool known = d->d_type != DT_UNKNOWN;
                if (!known && fstatat(p->dfd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0)
                    continue; /* vanished */
                if (known || !S_ISDIR(st.st_mode)) {
                    /* never followed: its NLOs are not backed up, and the operator is told */
                    p->r->subdirs_refused++;
                    job_log(p->o->job, DV_WARN,
                            "DAOS subdirectory %s/%s refused: %s (never followed; its NLOs are "
                            "not backed up: make it a real directory)",
                            p->o->daos_dir, nm,
                            known ? dtype_what(d->d_type) : fsb_kind(st.st_mode));
                    continue;
                }
            }
            if (*nsub == capsub) {
                capsub = capsub ? capsub * 2 : 64;
                *subdirs = dv_realloc(*subdirs, capsub * sizeof **subdirs);
            }
            (*subdirs)[(*nsub)++] = atoi(nm);
        }
    }
    return 0;
}

static void copier_init(struct copier *w, const struct fsb *root, struct queue *q)
{
    w->root = root;
    w->ctx = EVP_MD_CTX_new();
    w->buf = dv_malloc(COPY_BUF);
    w->pool = NULL;
    w->pool_idx = 4096;
    w->q = q;
}

static void copier_free(struct copier *w)
{
    EVP_MD_CTX_free(w->ctx);
    free(w->buf);
    fsb_close(w->pool);
}

/* The copier threads and their queue; without threads (none could start) the pass copies
 * each object itself (p->q NULL). */
static void copiers_start(struct pass *p)
{
    copier_init(&p->self, p->root, NULL);
    struct queue *q = dv_calloc(1, sizeof *q);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    int started = 0;
    for (int i = 0; i < COPIERS; i++) {
        copier_init(&p->cp[i], p->root, q);
        if (pthread_create(&p->cp[i].th, NULL, copier_main, &p->cp[i]) == 0)
            p->cp[i].started = true, started++;
    }
    p->q = q;
    if (!started) {
        p->q = NULL;
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        free(q);
    }
}

/* Wait for what is handed out (unrecorded), stop the threads, free. */
static void copiers_stop(struct pass *p)
{
    struct queue *q = p->q;
    if (q) {
        char saved[DV_ERR_MAX];
        snprintf(saved, sizeof saved, "%s", dv_err());
        pthread_mutex_lock(&q->mu);
        q->quit = true;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
        for (int i = 0; i < COPIERS; i++)
            if (p->cp[i].started)
                pthread_join(p->cp[i].th, NULL);
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->cv);
        free(q);
        p->q = NULL;
        dv_seterr("%s", saved);
    }
    for (int i = 0; i < COPIERS; i++)
        copier_free(&p->cp[i]);
    copier_free(&p->self);
}

int nlopass_run(const struct nlopass_opts *o, struct nlopass_result *r)
{
    memset(r, 0, sizeof *r);
    double t0 = dv_mono();
    struct pass p = {.o = o,
                     .r = r,
                     .tfd = target_dirfd(o->target),
                     .root = target_root(o->target),
                     .listfd = -1};
    p.now = dv_now();
    p.maxbatch = o->batch_objects ? o->batch_objects : BATCH_OBJECTS;
    p.s3 = target_kind(o->target) == TARGET_KIND_S3;
    if (p.s3) /* a batch holds at most maxbatch copies, new and repaired (maybe_flush) */
        p.pub = dv_malloc(p.maxbatch * sizeof *p.pub);
    job_phase(o->job, "nlo", 0, 0);
    int rc = -1;
    int *subdirs = NULL;
    size_t nsub = 0;
    int dfd = open(o->daos_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        dv_syserr("open DAOS directory %s", o->daos_dir);
        return -1;
    }
    p.dents = dv_malloc(DENTS_BUF);
    p.page = dv_malloc(POOL_PAGE * sizeof *p.page);
    p.batch = dv_calloc(p.maxbatch, sizeof *p.batch);
    p.rbatch = dv_calloc(p.maxbatch, sizeof *p.rbatch);
    p.lost = dv_malloc(POOL_PAGE * sizeof *p.lost);
    p.dfd = dfd;
    p.lines = dv_malloc(LINES_BUF);
    copiers_start(&p);
    p.listctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(p.listctx, EVP_sha256(), NULL);
    if (o->list_path) {
        /* in the set's directory beneath the target: never a link or a FIFO (fsb) */
        p.listfd = target_file_open(o->target, o->list_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (p.listfd < 0) {
            dv_preferr("create NLO list");
            goto out;
        }
    }

    if (list_subdirs(&p, &subdirs, &nsub) != 0)
        goto out;
    qsort(subdirs, nsub, sizeof *subdirs, cmp_int);
    for (size_t i = 0; i < nsub; i++) {
        char dname[8];
        snprintf(dname, sizeof dname, "%04d", subdirs[i]);
        r->subdirs++;
        if (do_subdir(&p, dfd, dname, subdirs[i]) != 0) {
            char saved[DV_ERR_MAX];
            snprintf(saved, sizeof saved, "%s", dv_err());
            if (flush(&p) != 0) /* keep what was copied */
                dv_preferr("%s; also", saved);
            else
                dv_seterr("%s", saved);
            goto out;
        }
    }
    if (flush(&p) != 0)
        goto out;
    /* The pool is the truth: what the catalog records but the pool lacks is not held. */
    if (pool_check(&p) != 0 || flush(&p) != 0 || flush_lost(&p) != 0) {
        char saved[DV_ERR_MAX];
        snprintf(saved, sizeof saved, "%s", dv_err());
        if (flush(&p) != 0)
            dv_preferr("%s; also", saved);
        else
            dv_seterr("%s", saved);
        goto out;
    }
    rc = 0;
out:
    if (p.listfd >= 0) {
        if (rc == 0 && fsync(p.listfd) != 0) {
            dv_syserr("fsync %s", o->list_path);
            rc = -1;
        }
        close(p.listfd);
        unsigned char md[32];
        unsigned mdlen = 0;
        EVP_DigestFinal_ex(p.listctx, md, &mdlen);
        dv_hex(md, 32, r->list_sha256);
    }
    uint64_t skipped = r->busy + r->vanished + r->unreadable + r->refused;
    if (skipped > MAX_REPORTED)
        job_log(o->job, DV_WARN,
                "%llu NLOs skipped in all (%llu busy, %llu vanished, "
                "%llu unreadable, %llu refused: links or special files)",
                (unsigned long long)skipped, (unsigned long long)r->busy,
                (unsigned long long)r->vanished, (unsigned long long)r->unreadable,
                (unsigned long long)r->refused);
    job_flush(o->job);
    copiers_stop(&p);
    EVP_MD_CTX_free(p.listctx);
    free(p.lines);
    free(p.batch);
    free(p.rbatch);
    free(p.pub);
    free(p.lost);
    free(p.page);
    free(p.dents);
    free(p.names);
    free(p.order);
    free(subdirs);
    close(dfd);
    r->seconds = dv_mono() - t0;
    return rc;
}

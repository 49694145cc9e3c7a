/* nlopass.c - see nlopass.h. */
#include "nlopass.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#define POOL_PAGE 4096
#define MAX_REPORTED 20 /* skipped objects named one by one in events; the rest counted */

typedef char name_t[NAME_LEN + 1];

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
    char *copybuf;
    name_t *names; /* names of the current subdirectory, as listed */
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
    EVP_MD_CTX *ctx;            /* per-object hash, reused */
    uint8_t pooldirs[4096 / 8]; /* nlo/<3 hex> directories known to exist */
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

/* Make the batch durable (syncfs), then record it. */
static int flush(struct pass *p)
{
    if (p->nbatch == 0 && p->nrbatch == 0)
        return 0;
    if (p->nlines) {
        if (dv_write_all(p->listfd, p->lines, p->nlines) != 0) {
            dv_syserr("write %s", p->o->list_path);
            return -1;
        }
        EVP_DigestUpdate(p->listctx, p->lines, p->nlines);
        p->nlines = 0;
    }
    if (syncfs(p->tfd) != 0) {
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
    size_t maxo = p->o->batch_objects ? p->o->batch_objects : 2000;
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
 * A copied object (its SHA-256 in p->ctx, total bytes) into the catalog's batch: a repair's
 * row (known) keeps its first set; a new one is listed in the set. COPIED, or -1 when the
 * batch cannot be flushed.
 */
static int record_copy(struct pass *p, int subdir, const char *name,
                       const struct catalog_pool_obj *known, uint64_t total)
{
    unsigned char md[32];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(p->ctx, md, &mdlen);
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
        p->r->repaired++;
        p->r->bytes += total;
        job_advance(p->o->job, 0, total, NULL);
        return maybe_flush(p) != 0 ? -1 : COPIED;
    }
    struct catalog_pool_obj *b = batch_add(p, name, subdir);
    dv_hex(md, 32, b->sha256);
    b->size = (int64_t)total;
    p->batch_bytes += total;
    p->r->copied++;
    p->r->bytes += total;
    if (p->listfd >= 0) {
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
 * Copy one object into the pool: a new one (known NULL: listed in the set, recorded with
 * first_set = this set), or one the catalog records (known) whose pool file is missing: the
 * row keeps its first set, gets the hash and size of the bytes copied now. Returns COPIED,
 * SKIPPED (counted and reported), ABSENT (a repair whose live file is not there: the caller
 * decides) or -1 (target failure).
 */
static int copy_one(struct pass *p, int sfd, int subdir, const char *name,
                    const struct catalog_pool_obj *known)
{
    /* O_NONBLOCK: a FIFO under an NLO's name must not block the open */
    int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) {
        if (errno == ENOENT && known)
            return ABSENT;
        if (errno == ENOENT)
            skip(p, &p->r->vanished, "vanished", subdir, name, 0);
        else if (errno == ELOOP)
            refuse(p, "a symbolic link", subdir, name);
        else
            skip(p, &p->r->unreadable, "cannot be opened", subdir, name, errno);
        return SKIPPED;
    }
    struct stat st;
    if (fstat(in, &st) != 0) {
        skip(p, &p->r->unreadable, "cannot be opened", subdir, name, errno);
        close(in);
        return SKIPPED;
    }
    if (!S_ISREG(st.st_mode)) {
        refuse(p, fsb_kind(st.st_mode), subdir, name);
        close(in);
        return SKIPPED;
    }
    if (pool_dir(p, name) != 0) {
        close(in);
        return -1;
    }
    char tmpname[128], final[128];
    snprintf(tmpname, sizeof tmpname, ".%s.tmp", name);
    snprintf(final, sizeof final, "nlo/%.3s/%s", name, name);
    /* the temporary: a new file (O_EXCL) in the pool directory opened beneath the target
     * without links; whatever is planted at its name is removed as itself, never followed */
    struct fsb_tmp t;
    if (fsb_tmp_open(p->root, final, tmpname, 0600, 0, &t) != 0) {
        if (errno == ELOOP || errno == ENOTDIR || errno == EXDEV)
            dv_seterr("%s/nlo/%.3s is not a directory (a symbolic link or a file): the pool is "
                      "damaged (move it away)",
                      target_path(p->o->target), name);
        fsb_tmp_done(&t);
        close(in);
        return -1;
    }
    if (t.removed && strcmp(t.removed, "a regular file") != 0 && p->reported_pool++ < MAX_REPORTED)
        job_log(p->o->job, DV_WARN,
                "%s was %s (planted in the pool): removed as itself, never followed", t.path,
                t.removed);
    int out = t.fd;
    const char *tmp = t.path;
    EVP_DigestInit_ex(p->ctx, EVP_sha256(), NULL);
    uint64_t total = 0;
    int rc = 0, rerr = 0;
    for (;;) {
        ssize_t n = read(in, p->copybuf, COPY_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rerr = errno;
            break;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(p->ctx, p->copybuf, (size_t)n);
        if (dv_write_all(out, p->copybuf, (size_t)n) != 0) {
            dv_syserr("write %s", tmp);
            rc = -1;
            break;
        }
        total += (uint64_t)n;
    }
    close(in);
    int inway = 0; /* a directory (or such) where the pool file goes: not replaced */
    /* no fsync here: the batch is made durable by one syncfs (flush) */
    if (rc == 0 && !rerr && fsb_tmp_commit(&t, FSB_NOSYNC) != 0) {
        if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST)
            inway = errno;
        else
            rc = -1;
    }
    fsb_tmp_done(&t); /* removes the temporary unless it was renamed */
    if (rc != 0 || rerr || inway) {
        if (rerr)
            skip(p, &p->r->unreadable, "cannot be read", subdir, name, rerr);
        if (inway && p->reported_pool++ < MAX_REPORTED)
            job_log(p->o->job, DV_ERROR,
                    "NLO %04d/%s not copied: %s/%s is in the way and not a regular file "
                    "(move it away)",
                    subdir, name, target_path(p->o->target), final);
        if (inway)
            p->r->pool_bad++;
        return rc != 0 ? -1 : SKIPPED;
    }
    return record_copy(p, subdir, name, known, total);
}

/* A name the merge did not match: pooled elsewhere (re-home) or new (copy). */
static int unmatched(struct pass *p, int sfd, int subdir, const char *name)
{
    struct catalog_pool_obj known;
    int f = catalog_pool_get(p->o->cat, name, &known);
    if (f < 0)
        return -1;
    if (f == 0)
        return copy_one(p, sfd, subdir, name, NULL) < 0 ? -1 : 0;
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
static int pool_check(struct pass *p)
{
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
    p.maxbatch = o->batch_objects ? o->batch_objects : 2000;
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
    p.copybuf = dv_malloc(COPY_BUF);
    p.page = dv_malloc(POOL_PAGE * sizeof *p.page);
    p.batch = dv_calloc(p.maxbatch, sizeof *p.batch);
    p.rbatch = dv_calloc(p.maxbatch, sizeof *p.rbatch);
    p.lost = dv_malloc(POOL_PAGE * sizeof *p.lost);
    p.dfd = dfd;
    p.lines = dv_malloc(p.maxbatch * 256);
    p.ctx = EVP_MD_CTX_new();
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
    EVP_MD_CTX_free(p.ctx);
    EVP_MD_CTX_free(p.listctx);
    free(p.lines);
    free(p.batch);
    free(p.rbatch);
    free(p.lost);
    free(p.page);
    free(p.copybuf);
    free(p.dents);
    free(p.names);
    free(p.order);
    free(subdirs);
    close(dfd);
    r->seconds = dv_mono() - t0;
    return rc;
}

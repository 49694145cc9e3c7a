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
};

struct pass {
    const struct nlopass_opts *o;
    struct nlopass_result *r;
    int tfd;     /* target root */
    char *dents; /* getdents64 buffer */
    char *copybuf;
    name_t *names; /* names of the current subdirectory, as listed */
    size_t nnames, capnames;
    struct sortkey *order; /* names[] in name order (capnames entries) */
    name_t *page;          /* pool names of the current subdirectory, one page */
    struct catalog_pool_obj *batch;
    size_t nbatch, maxbatch;
    uint64_t batch_bytes;
    char *lines; /* NLO list lines of the batch */
    size_t nlines;
    int listfd;
    EVP_MD_CTX *listctx;
    EVP_MD_CTX *ctx;            /* per-object hash, reused */
    uint8_t pooldirs[4096 / 8]; /* nlo/<3 hex> directories known to exist */
    uint64_t reported;
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

static const char *mode_what(mode_t m)
{
    return S_ISLNK(m)                 ? "a symbolic link"
           : S_ISDIR(m)               ? "a directory"
           : S_ISFIFO(m)              ? "a FIFO"
           : S_ISSOCK(m)              ? "a socket"
           : S_ISCHR(m) || S_ISBLK(m) ? "a device"
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
    if (p->nbatch == 0)
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
    if (catalog_pool_insert_batch(p->o->cat, p->batch, p->nbatch) != 0) {
        dv_preferr("NLO pass");
        return -1;
    }
    p->nbatch = 0;
    p->batch_bytes = 0;
    dv_crashpoint("nlopass.batch");
    return 0;
}

static int maybe_flush(struct pass *p)
{
    size_t maxo = p->o->batch_objects ? p->o->batch_objects : 2000;
    uint64_t maxb = p->o->batch_bytes ? p->o->batch_bytes : (256u << 20);
    if (p->nbatch >= maxo || p->batch_bytes >= maxb)
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
    if (mkdirat(p->tfd, dir, 0700) != 0 && errno != EEXIST) {
        dv_syserr("create %s/%s", target_path(p->o->target), dir);
        return -1;
    }
    p->pooldirs[idx / 8] |= (uint8_t)(1u << (idx % 8));
    return 0;
}

/* Copy one new object. Returns 0 (copied or skipped) or -1 (target failure). */
static int copy_one(struct pass *p, int sfd, int subdir, const char *name)
{
    /* O_NONBLOCK: a FIFO under an NLO's name must not block the open */
    int in = openat(sfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (in < 0) {
        if (errno == ENOENT)
            skip(p, &p->r->vanished, "vanished", subdir, name, 0);
        else if (errno == ELOOP)
            refuse(p, "a symbolic link", subdir, name);
        else
            skip(p, &p->r->unreadable, "cannot be opened", subdir, name, errno);
        return 0;
    }
    struct stat st;
    if (fstat(in, &st) != 0) {
        skip(p, &p->r->unreadable, "cannot be opened", subdir, name, errno);
        close(in);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) {
        refuse(p, mode_what(st.st_mode), subdir, name);
        close(in);
        return 0;
    }
    if (pool_dir(p, name) != 0) {
        close(in);
        return -1;
    }
    char tmp[128], final[128];
    snprintf(tmp, sizeof tmp, "nlo/%.3s/.%s.tmp", name, name);
    snprintf(final, sizeof final, "nlo/%.3s/%s", name, name);
    int out = openat(p->tfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) {
        dv_syserr("create %s/%s", target_path(p->o->target), tmp);
        close(in);
        return -1;
    }
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
            dv_syserr("write %s/%s", target_path(p->o->target), tmp);
            rc = -1;
            break;
        }
        total += (uint64_t)n;
    }
    close(in);
    if (rc == 0 && !rerr && close(out) != 0) {
        dv_syserr("close %s/%s", target_path(p->o->target), tmp);
        rc = -1;
    } else if (rc != 0 || rerr) {
        close(out);
    }
    if (rc == 0 && !rerr && renameat(p->tfd, tmp, p->tfd, final) != 0) {
        dv_syserr("rename %s/%s", target_path(p->o->target), tmp);
        rc = -1;
    }
    if (rc != 0 || rerr) {
        unlinkat(p->tfd, tmp, 0);
        if (rerr)
            skip(p, &p->r->unreadable, "cannot be read", subdir, name, rerr);
        return rc;
    }
    unsigned char md[32];
    unsigned mdlen = 0;
    EVP_DigestFinal_ex(p->ctx, md, &mdlen);
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
    return maybe_flush(p);
}

/* A name the merge did not match: pooled elsewhere (re-home) or new (copy). */
static int unmatched(struct pass *p, int sfd, int subdir, const char *name)
{
    struct catalog_pool_obj known;
    int f = catalog_pool_get(p->o->cat, name, &known);
    if (f < 0)
        return -1;
    if (f == 0)
        return copy_one(p, sfd, subdir, name);
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

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int nlopass_run(const struct nlopass_opts *o, struct nlopass_result *r)
{
    memset(r, 0, sizeof *r);
    double t0 = dv_mono();
    struct pass p = {.o = o, .r = r, .tfd = target_dirfd(o->target), .listfd = -1};
    p.now = dv_now();
    p.maxbatch = o->batch_objects ? o->batch_objects : 2000;
    job_phase(o->job, "nlo", 0, 0);
    int rc = -1;
    int *subdirs = NULL;
    size_t nsub = 0, capsub = 0;
    int dfd = open(o->daos_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        dv_syserr("open DAOS directory %s", o->daos_dir);
        return -1;
    }
    p.dents = dv_malloc(DENTS_BUF);
    p.copybuf = dv_malloc(COPY_BUF);
    p.page = dv_malloc(POOL_PAGE * sizeof *p.page);
    p.batch = dv_calloc(p.maxbatch, sizeof *p.batch);
    p.lines = dv_malloc(p.maxbatch * 256);
    p.ctx = EVP_MD_CTX_new();
    p.listctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(p.listctx, EVP_sha256(), NULL);
    if (o->list_path) {
        p.listfd = open(o->list_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (p.listfd < 0) {
            dv_syserr("create %s", o->list_path);
            goto out;
        }
    }

    /* The NNNN subdirectories, in numeric order. */
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, p.dents, DENTS_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            dv_syserr("read directory %s", o->daos_dir);
            goto out;
        }
        if (n == 0)
            break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(p.dents + off);
            off += d->d_reclen;
            const char *nm = d->d_name;
            if (strlen(nm) != 4 || strspn(nm, "0123456789") != 4)
                continue;
            if (d->d_type != DT_DIR) {
                struct stat st;
                bool known = d->d_type != DT_UNKNOWN;
                if (!known && fstatat(dfd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0)
                    continue; /* vanished */
                if (known || !S_ISDIR(st.st_mode)) {
                    /* never followed: its NLOs are not backed up, and the operator is told */
                    r->subdirs_refused++;
                    job_log(o->job, DV_WARN,
                            "DAOS subdirectory %s/%s refused: %s (never followed; its NLOs are "
                            "not backed up: make it a real directory)",
                            o->daos_dir, nm, known ? dtype_what(d->d_type) : mode_what(st.st_mode));
                    continue;
                }
            }
            if (nsub == capsub) {
                capsub = capsub ? capsub * 2 : 64;
                subdirs = dv_realloc(subdirs, capsub * sizeof *subdirs);
            }
            subdirs[nsub++] = atoi(nm);
        }
    }
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

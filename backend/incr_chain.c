/* incr_chain.c - the chain of a database across sets (incr.h "restore and verify"): which
 * sets it needs, whether it can be an origin, and rebuilding its image from them. */
#include "incr.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbcopy.h"
#include "delta.h"
#include "fsb.h"
#include "pagemap.h"
#include "target_read.h"
#include "util.h"

/* ---- the chain of a database in a set ------------------------------------------------- */

struct link {
    char set_id[32];
    struct catalog_set_file f;
    struct catalog_file_incr x;
};

static void links_free(struct link *l, int n)
{
    for (int i = 0; i < n; i++)
        catalog_set_file_done(&l[i].f);
    free(l);
}

/* The chain of db_path from set_id back to its full copy: l[0] = the full one. */
static int chain_links(struct catalog *cat, const char *set_id, const char *db_path,
                       struct link **out, int *nout)
{
    struct link *l = NULL;
    int n = 0;
    char cur[32];
    snprintf(cur, sizeof cur, "%s", set_id);
    for (;;) {
        if (n >= 10000) {
            dv_seterr("the chain of %s from set %s does not end (a loop?)", db_path, set_id);
            goto fail;
        }
        struct catalog_set s;
        int r = catalog_set_get(cat, cur, &s);
        if (r < 0)
            goto fail;
        if (r == 0 || !catalog_set_usable(s.status)) {
            dv_seterr("set %s, which set %s needs for %s, is %s", cur, set_id, db_path,
                      r == 0 ? "gone" : catalog_set_status_name(s.status));
            goto fail;
        }
        l = dv_realloc(l, (size_t)(n + 1) * sizeof *l);
        memset(&l[n], 0, sizeof l[n]);
        snprintf(l[n].set_id, sizeof l[n].set_id, "%s", cur);
        if ((r = catalog_set_file_get(cat, cur, db_path, &l[n].f)) < 0)
            goto fail;
        if (r == 0) {
            dv_seterr("database '%s' is not in backup set %s", db_path, cur);
            goto fail;
        }
        n++;
        if (!dv_path_is_safe_rel(l[n - 1].f.path)) {
            dv_seterr("catalog: unsafe path '%s' in set %s", l[n - 1].f.path, cur);
            goto fail;
        }
        if (catalog_file_incr_get(cat, cur, l[n - 1].f.db_id, &l[n - 1].x) < 0)
            goto fail;
        if (l[n - 1].x.kind != CATALOG_SET_INCREMENTAL)
            break;
        if (!l[n - 1].x.origin[0]) {
            dv_seterr("set %s: incremental file of %s without an origin", cur, db_path);
            goto fail;
        }
        snprintf(cur, sizeof cur, "%s", l[n - 1].x.origin);
    }
    for (int i = 0; i < n / 2; i++) { /* oldest first */
        struct link tmp = l[i];
        l[i] = l[n - 1 - i];
        l[n - 1 - i] = tmp;
    }
    *out = l;
    *nout = n;
    return 0;
fail:
    links_free(l, n);
    return -1;
}

/*
 * An incremental restores only if its origin does: the origin's chain must be complete, and
 * the map of the full copy it starts with must be that image's. A full copy with a kept delta
 * whose map was written before backups checked maps (no PAGEMAP_F_CHECKED: issue 11) may have
 * a wrong one, so such a chain is not an origin: o->usable stays false, o->why says why.
 */
int incr_chain_origin_ok(struct catalog *cat, struct target *t, const char *db_path,
                         struct incr_origin *o)
{
    struct link *l = NULL;
    int n = 0;
    if (chain_links(cat, o->set_id, db_path, &l, &n) != 0) {
        snprintf(o->why, sizeof o->why, "its origin set %.31s cannot be restored: %.180s",
                 o->set_id, dv_err());
        return 0;
    }
    bool ok = true;
    if (l[0].f.delta_mode == CATALOG_DELTA_KEEP && l[0].f.delta_pages > 0) {
        uint32_t flags = 0;
        char *p = dv_asprintf("sets/%s/%s", l[0].set_id, l[0].x.pagemap);
        if (l[0].x.pagemap[0] && !dv_path_is_safe_rel(l[0].x.pagemap))
            dv_seterr("catalog: unsafe path '%s'", l[0].x.pagemap);
        bool fetched = false;
        if (!l[0].x.pagemap[0] || !dv_path_is_safe_rel(l[0].x.pagemap) ||
            !(fetched = target_fetch_read(t, p) == 0) ||
            pagemap_read_flags_at(target_root(t), p, &flags) != 0) {
            snprintf(o->why, sizeof o->why,
                     "the page map of set %s, where its chain starts, is "
                     "unusable: %.150s",
                     l[0].set_id, l[0].x.pagemap[0] ? dv_err() : "none recorded");
            ok = false;
        } else if (!(flags & PAGEMAP_F_CHECKED)) {
            snprintf(o->why, sizeof o->why,
                     "its chain starts at set %s, a copy with a kept delta whose page map an "
                     "older dvault wrote unchecked (it may be wrong)",
                     l[0].set_id);
            ok = false;
        }
        if (fetched)
            target_evict(t, p);
        free(p);
    }
    links_free(l, n);
    o->usable = ok;
    return 0;
}

/* ---- restore: the chain ---------------------------------------------------------------- */

/* The delta a full set kept beside its copy of the chain's start (first link), checked
 * against the SHA-256 the backup recorded and applied to fd (fetched first on S3, evicted
 * after). 0 or -1. */
static int apply_kept_delta(struct target *t, struct link *first, const char *db_path, int fd,
                            const char *out_name)
{
    struct delta_header dh;
    char dsha[65], *delta_rel = NULL;
    if (!first->f.delta_location) {
        dv_seterr("set %s keeps a delta for %s but the catalog does not say where", first->set_id,
                  db_path);
        return -1;
    }
    if (target_fetch_loc(t, first->f.delta_location, &delta_rel) != 0)
        return -1;
    char *abs = target_abs(t, first->f.delta_location); /* target-relative in its set */
    free(first->f.delta_location);
    first->f.delta_location = abs;
    int rc = -1, dfd = target_file_open(t, first->f.delta_location, O_RDONLY, 0);
    if (dfd < 0 || delta_verify_fd(dfd, first->f.delta_location, &dh, dsha) != 0)
        goto out;
    if (first->f.delta_sha256 && strcmp(dsha, first->f.delta_sha256) != 0) {
        dv_seterr("%s is corrupt: SHA-256 %s, the backup recorded %s", first->f.delta_location,
                  dsha, first->f.delta_sha256);
        goto out;
    }
    rc = delta_apply_fd(dfd, first->f.delta_location, fd, out_name);
out:
    if (dfd >= 0)
        close(dfd);
    target_evict_loc(t, delta_rel);
    return rc;
}

int incr_chain_build(struct catalog *cat, struct target *t, const char *set_id, const char *db_path,
                     int fd, const char *out_name, struct dv_job *job, int *links)
{
    struct link *l = NULL;
    int n = 0, rc = -1, sfd = -1, ifd = -1;
    struct pagemap want = {0};
    char *src = NULL, *src_rel = NULL;
    if (chain_links(cat, set_id, db_path, &l, &n) != 0)
        return -1;
    if (links)
        *links = n;
    job_phase(job, "restore", (uint64_t)n, 0);
    /* every file of the chain is opened beneath the target without links, O_NONBLOCK and
     * checked to be a regular file (fsb.h): a FIFO or link planted in the set is refused */
    const struct fsb *root = target_root(t);
    /* 1. the full copy the chain starts with */
    /* (an S3 target's: each fetched into the working tree first, evicted once used) */
    src_rel = dv_asprintf("sets/%s/%s", l[0].set_id, l[0].f.path);
    src = target_name_of(t, src_rel);
    sfd = target_fetch_open(t, src_rel);
    char sha[65];
    struct stat sst;
    if (sfd < 0 || dv_sha256_fd_hex(sfd, src, sha) != 0)
        goto out;
    if (strcmp(sha, l[0].f.sha256) != 0) {
        dv_seterr("%s is corrupt: SHA-256 %s, the backup recorded %s", src, sha, l[0].f.sha256);
        goto out;
    }
    /* fd is a temporary of the caller's (a restore creates and locks it first): written in
     * place from its start */
    if (fstat(sfd, &sst) != 0 || ftruncate(fd, 0) != 0) {
        dv_syserr("%s", out_name);
        goto out;
    }
    int64_t copied = dv_copy_range(sfd, 0, fd, 0, (uint64_t)sst.st_size);
    if (copied != (int64_t)sst.st_size || fsync(fd) != 0) {
        if (copied >= 0 && copied != (int64_t)sst.st_size)
            dv_seterr("copy %s: file shrank while copying", src);
        else
            dv_syserr("copy %s to %s", src, out_name);
        goto out;
    }
    if (l[0].f.delta_mode == CATALOG_DELTA_KEEP &&
        apply_kept_delta(t, &l[0], db_path, fd, out_name) != 0)
        goto out;
    close(sfd);
    sfd = -1;
    target_evict(t, src_rel);
    job_advance(job, 1, 0, l[0].set_id);
    /* 2. each incremental, in order */
    for (int i = 1; i < n; i++) {
        char *irel = dv_asprintf("sets/%s/%s", l[i].set_id, l[i].f.path);
        char *p = target_name_of(t, irel);
        ifd = target_fetch_open(t, irel);
        int r = ifd < 0 ? -1
                        : incr_file_apply(ifd, p, l[i].f.sha256, l[i - 1].set_id,
                                          (uint32_t)l[i].f.page_size, fd, out_name, NULL);
        if (r != 0)
            dv_preferr("set %s", l[i].set_id);
        free(p);
        if (ifd >= 0) {
            close(ifd);
            target_evict(t, irel);
        }
        free(irel);
        ifd = -1;
        if (r != 0)
            goto out;
        job_advance(job, 1, 0, l[i].set_id);
    }
    /* 3. the result against the set's page map */
    struct link *last = &l[n - 1];
    if (last->x.pagemap[0]) {
        char *prel = dv_asprintf("sets/%s/%s", last->set_id, last->x.pagemap);
        int r = target_fetch_read(t, prel);
        if (r == 0) {
            r = pagemap_read_at(root, prel, last->x.pagemap_sha256, &want);
            target_evict(t, prel);
        }
        free(prel);
        if (r != 0)
            goto out;
        char *what = dv_asprintf("rebuilt %s of set %s", db_path, set_id);
        r = pagemap_check_fd(&want, fd, out_name, what);
        free(what);
        if (r != 0)
            goto out;
    } else if (n > 1) {
        dv_seterr("set %s has no page map for %s", set_id, db_path);
        goto out;
    }
    rc = 0;
out:
    if (sfd >= 0) {
        close(sfd);
        target_evict(t, src_rel);
    }
    pagemap_done(&want);
    free(src_rel);
    free(src);
    links_free(l, n);
    return rc;
}

int incr_chain_verify(struct catalog *cat, struct target *t, const char *set_id,
                      const char *db_path)
{
    /* a new file of ours in the target (O_EXCL, beneath it), removed afterwards */
    char *rel = dv_asprintf(".verify-chain.%ld", (long)getpid());
    char *tmp = fsb_abs(target_root(t), rel);
    fsb_unlink(target_root(t), rel, true); /* ours from a crashed run (the target is locked) */
    int fd = fsb_openat(target_root(t), rel, O_RDWR | O_CREAT | O_EXCL, 0600);
    int rc = fd < 0 ? -1 : incr_chain_build(cat, t, set_id, db_path, fd, tmp, NULL, NULL);
    if (fd >= 0)
        close(fd);
    if (rc == 0)
        rc = dbcopy_integrity_check(tmp);
    if (rc != 0)
        dv_preferr("verify %s in set %s", db_path, set_id);
    if (fd >= 0)
        fsb_unlink(target_root(t), rel, true);
    free(rel);
    free(tmp);
    return rc;
}

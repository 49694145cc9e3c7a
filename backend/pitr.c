/* pitr.c - see pitr.h; operator's view in docs/operations-pitr.md. */
#include "pitr.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "bytes.h"
#include "fsb.h"
#include "target.h"
#include "tstore.h"
#include "util.h"

int64_t pitr_parse_time(const char *s)
{
    if (!s || !*s)
        return -1;
    char whole[64];
    const char *dot = NULL;
    /* the fraction: the last '.' followed by digits only, after the seconds */
    const char *p = strrchr(s, '.');
    if (p && p[1] && strspn(p + 1, "0123456789") == strlen(p + 1))
        dot = p;
    size_t n = dot ? (size_t)(dot - s) : strlen(s);
    if (n >= sizeof whole)
        return -1;
    memcpy(whole, s, n);
    whole[n] = '\0';
    int64_t sec = dv_parse_time(whole);
    if (sec < 0)
        return -1;
    int64_t us = 0;
    if (dot) {
        const char *f = dot + 1;
        int64_t scale = 100000;
        for (; *f && scale > 0; f++, scale /= 10)
            us += (*f - '0') * scale;
    }
    return sec * 1000000 + us;
}

int pitr_target_from_catalog(struct catalog *cat, struct pitr_target *pt)
{
    struct catalog_set s;
    int r = catalog_set_get(cat, pt->set_id, &s);
    if (r <= 0) {
        if (r == 0)
            dv_seterr("no backup set '%s'", pt->set_id);
        return -1;
    }
    pt->set_started = s.started;
    pt->set_ended = s.ended;
    return 0;
}

static void fmt_us(int64_t us, char *buf, size_t n)
{
    char t[32];
    dv_fmt_time(us / 1000000, t, sizeof t);
    snprintf(buf, n, "%s.%06lld", t, (long long)(us % 1000000));
}

/* The segment and transaction the replay starts at (archive_anchor): the newest transaction
 * observed at or before the set began, or the newest START/GAP record watched from before it
 * (*kt = 0). -1 with dv_err() when the archive cannot be a base for the set. */
static long find_start(const struct pitr_target *pt, const struct archive_seg *segs, size_t n,
                       int64_t start_us, size_t *kt)
{
    const struct archive_seg *after; /* a START/GAP watched from after the set began */
    char a[48], b[48];
    long ks = archive_anchor(segs, n, start_us, kt, &after);
    if (ks >= 0)
        return ks;
    if (!after)
        after = &segs[0];
    fmt_us(after->watch_from_us ? after->watch_from_us : after->first_us, a, sizeof a);
    fmt_us(start_us, b, sizeof b);
    if (after->flags & ARCHIVE_SEG_GAP)
        dv_seterr("gap in the archive of %s before segment %s (%s), after set %s began (%s): "
                  "transactions in between may be missing; restore from a set taken after it",
                  pt->db_rel, after->path, a, pt->set_id, b);
    else
        dv_seterr("the archive of %s starts at %s, after set %s began (%s): transactions in "
                  "between may be missing; choose a set taken after the archive started",
                  pt->db_rel, a, pt->set_id, b);
    return -1;
}

/* Until when the archive is known complete: the newest run record watching the database, or
 * the last look its newest segment records. */
static int64_t known_to(const struct fsb *root, const struct pitr_target *pt,
                        const struct archive_seg *segs, size_t n)
{
    struct archive_run_rec *runs;
    size_t nr;
    int64_t c = 0;
    if (archive_runs_at(root, &runs, &nr) == 0) {
        c = archive_confirmed_to(runs, nr, pt->db_rel);
        archive_runs_free(runs, nr);
    }
    const struct archive_seg *l = &segs[n - 1];
    int64_t seg = l->last_look_us > l->last_us ? l->last_look_us : l->last_us;
    return seg > c ? seg : c;
}

/* Read segment s again, checked again, and compare it with the listing: the records replayed
 * are those of the bytes read now. *data: the image (archive_seg_read_at). 0 or -1. */
static int reread(const struct fsb *root, const struct archive_seg *s, char **data)
{
    struct archive_seg now;
    size_t dlen;
    if (archive_seg_read_at(root, s->rel, &now, data, &dlen) != 0)
        return -1;
    bool same = now.seq == s->seq && now.ntxns == s->ntxns && now.page_size == s->page_size;
    for (size_t j = 0; same && j < now.ntxns; j++)
        same = now.txns[j].offset == s->txns[j].offset &&
               now.txns[j].nframes == s->txns[j].nframes &&
               now.txns[j].observed_us == s->txns[j].observed_us;
    archive_seg_done(&now);
    if (!same) {
        dv_seterr("%s changed while it was read: refused", s->path);
        free(*data);
        *data = NULL;
        return -1;
    }
    return 0;
}

/* Write one transaction's frames into fd and set the size from its commit. 0 or -1. */
static int apply_txn(int fd, const char *path, const struct archive_seg *s, const char *data,
                     const struct archive_txn *t)
{
    uint32_t ps = s->page_size;
    const unsigned char *p = (const unsigned char *)data + t->offset;
    for (uint32_t f = 0; f < t->nframes; f++, p += 4 + ps) {
        uint32_t pgno = dv_rd32(p);
        if (pgno == 0) {
            dv_seterr("%s: frame with page 0", s->path);
            return -1;
        }
        if (dv_pwrite_all(fd, p + 4, ps, (off_t)(pgno - 1) * ps) != 0) {
            dv_syserr("write %s", path);
            return -1;
        }
    }
    if (ftruncate(fd, (off_t)t->commit_pages * ps) != 0) {
        dv_syserr("set size of %s", path);
        return -1;
    }
    return 0;
}

/*
 * After the replay stopped before TIME's first later transaction: how early may a commit
 * that was not replayed have been (each transaction's commit is no earlier than its observed
 * time minus its segment's error)? Sets r->err_us (TIME minus the earliest such commit).
 * A transaction not replayed that may be in the set's copy (its commit may precede the set's
 * end) makes the restore inconsistent: refused. 0 or -1.
 */
static int precision(const struct pitr_target *pt, const struct archive_seg *segs, size_t n,
                     size_t i0, int64_t end_us, struct pitr_result *r)
{
    char a[48], b[48];
    r->err_us = 0;
    for (size_t i = i0; i < n; i++) {
        const struct archive_seg *s = &segs[i];
        if (s->err_us < 0) {
            r->err_us = -1; /* written by an older dvault: not recorded */
            return 0;
        }
        if (s->ntxns && s->first_us - s->err_us > pt->at_us)
            break;
        for (size_t j = 0; j < s->ntxns; j++) {
            int64_t lb = s->txns[j].observed_us - s->err_us;
            if (s->txns[j].observed_us <= pt->at_us || lb > pt->at_us)
                continue;
            if (lb < end_us) {
                fmt_us(s->txns[j].observed_us, a, sizeof a);
                fmt_us(pt->at_us, b, sizeof b);
                dv_seterr("%s is too close to the end of set %s: a transaction observed at %s "
                          "(observation error %lld ms) may already be in the set's copy; choose "
                          "a time after %s",
                          b, pt->set_id, a, (long long)(s->err_us / 1000), a);
                return -1;
            }
            if (pt->at_us - lb > r->err_us)
                r->err_us = pt->at_us - lb;
        }
    }
    return 0;
}

/* The archive's root: the target directory; on S3 the working tree, once the segments the
 * replay needs and the run records are fetched from the bucket (*fetched: evict them after).
 * NULL with dv_err() (nothing left fetched). */
static struct fsb *archive_root(const struct pitr_target *pt, int64_t start_us, int64_t *newest_us,
                                char ***fetched, size_t *nfetched)
{
    if (!(pt->t && target_kind(pt->t) == TARGET_KIND_S3)) {
        if (strncmp(pt->target, "s3://", 5) == 0) {
            dv_seterr("%s: point-in-time restore on an S3 target needs the open target",
                      pt->target);
            return NULL;
        }
        return fsb_open(pt->target);
    }
    struct tstore *ts = pt->cfg ? archive_s3_store(pt->cfg) : NULL;
    int f = ts ? archive_s3_fetch_at(pt->t, ts, pt->db_rel, start_us, pt->at_us, pt->to_latest,
                                     newest_us, fetched, nfetched)
               : archive_s3_fetch(pt->t, pt->db_rel, true, fetched, nfetched);
    tstore_close(ts);
    if (f != 0)
        return NULL;
    struct fsb *root = fsb_open(target_path(pt->t));
    if (!root && *fetched) {
        archive_s3_evict(pt->t, *fetched, *nfetched);
        *fetched = NULL;
    }
    return root;
}

int pitr_apply(const struct pitr_target *pt, const char *path, struct pitr_result *r)
{
    memset(r, 0, sizeof *r);
    struct archive_seg *segs = NULL;
    size_t nseg = 0, kt = 0;
    int fd = -1, rc = -1;
    char *data = NULL;
    char a[48], b[48];
    /* the set's image is as of a moment in [started, ended + 1 s) (seconds in the catalog) */
    int64_t start_us = pt->set_started * 1000000, end_us = (pt->set_ended + 1) * 1000000;
    if (!pt->to_latest && pt->at_us < end_us) {
        fmt_us(pt->at_us, a, sizeof a);
        fmt_us(end_us, b, sizeof b);
        dv_seterr("%s is before the end of set %s (%s): the set's copy may already be later; "
                  "choose an older set",
                  a, pt->set_id, b);
        return -1;
    }
    char **fetched = NULL;
    size_t nfetched = 0;
    int64_t newest_us = 0;
    struct fsb *root = archive_root(pt, start_us, &newest_us, &fetched, &nfetched);
    if (!root)
        return -1;
    if (archive_list_at(root, pt->db_rel, &segs, &nseg) != 0)
        goto out;
    if (nseg == 0) {
        dv_seterr("no archived WAL for %s (run dvault archive --follow beside the server)",
                  pt->db_rel);
        goto out;
    }
    r->known_to_us = known_to(root, pt, segs, nseg);
    if (newest_us > r->known_to_us) /* S3: the bucket's newest segment, maybe not fetched */
        r->known_to_us = newest_us;
    if (!pt->to_latest && pt->at_us > r->known_to_us) {
        fmt_us(pt->at_us, a, sizeof a);
        fmt_us(r->known_to_us, b, sizeof b);
        dv_seterr("%s is after what the archive of %s is known to hold (every commit before %s): "
                  "is dvault archive --follow running? choose an earlier time, or --to-latest",
                  a, pt->db_rel, b);
        goto out;
    }
    long ks = find_start(pt, segs, nseg, start_us, &kt);
    if (ks < 0)
        goto out;
    fd = dv_open_regular(path, O_RDWR); /* the restore's own temporary */
    if (fd < 0)
        goto out;
    uint32_t ps = segs[ks].page_size;
    size_t stop = nseg; /* the segment holding the first transaction not replayed */
    for (size_t i = (size_t)ks; i < nseg && stop == nseg; i++) {
        struct archive_seg *s = &segs[i];
        if (i > (size_t)ks && (s->flags & ARCHIVE_SEG_GAP)) {
            /* what may be missing was committed after the last look before the gap (the
             * archiver stopped, or was killed, after it), not only when the gap was seen */
            int64_t from = segs[i - 1].last_look_us;
            if (!pt->to_latest && pt->at_us < from) {
                stop = i;
                break; /* the gap is after TIME: not crossed */
            }
            fmt_us(from, a, sizeof a);
            fmt_us(s->watch_from_us ? s->watch_from_us : s->first_us, b, sizeof b);
            dv_seterr("gap in the archive of %s between %s and %s (segment %s): frames may be "
                      "missing there; restore from a set taken after it",
                      pt->db_rel, a, b, s->path);
            goto out;
        }
        if (s->page_size != ps) {
            dv_seterr("%s: page size %u, the archive had %u", s->path, s->page_size, ps);
            goto out;
        }
        if (i > (size_t)ks && s->seq != segs[i - 1].seq + 1) {
            dv_seterr("%s: segment %llu is missing before it (the archive of %s has a hole): "
                      "refused",
                      s->path, (unsigned long long)(segs[i - 1].seq + 1), pt->db_rel);
            goto out;
        }
        if (!s->ntxns)
            continue;
        if (!pt->to_latest && s->txns[0].observed_us > pt->at_us) {
            stop = i;
            break;
        }
        free(data);
        data = NULL;
        if (reread(root, s, &data) != 0)
            goto out;
        r->segments++;
        for (size_t j = i == (size_t)ks ? kt : 0; j < s->ntxns; j++) {
            const struct archive_txn *t = &s->txns[j];
            if (!pt->to_latest && t->observed_us > pt->at_us) {
                stop = i;
                break;
            }
            if (apply_txn(fd, path, s, data, t) != 0)
                goto out;
            if (!r->transactions)
                r->first_us = t->observed_us;
            r->last_us = t->observed_us;
            r->transactions++;
            r->frames += t->nframes;
        }
    }
    if (!pt->to_latest && precision(pt, segs, nseg, stop < nseg ? stop : nseg, end_us, r) != 0)
        goto out;
    if (fsync(fd) != 0) {
        dv_syserr("fsync %s", path);
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(data);
    archive_segs_free(segs, nseg);
    fsb_close(root);
    if (fetched)
        archive_s3_evict(pt->t, fetched, nfetched);
    return rc;
}

int pitr_prepare_fn(void *ud, const char *tmp_path)
{
    struct pitr_prepare *p = ud;
    if (pitr_apply(&p->pt, tmp_path, &p->r) != 0) {
        dv_preferr("point-in-time");
        return -1;
    }
    return p->next ? p->next(p->next_ud, tmp_path) : 0;
}

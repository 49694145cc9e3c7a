/* pitr.c - see pitr.h; operator's view in docs/operations-pitr.md. */
#include "pitr.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archive.h"
#include "fsb.h"
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

int pitr_apply(const struct pitr_target *pt, const char *path, struct pitr_result *r)
{
    memset(r, 0, sizeof *r);
    struct archive_seg *segs = NULL;
    size_t nseg = 0;
    int fd = -1, rc = -1;
    unsigned char *buf = NULL;
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
    struct fsb *root = fsb_open(pt->target);
    if (!root)
        return -1;
    if (archive_list_at(root, pt->db_rel, &segs, &nseg) != 0) {
        fsb_close(root);
        return -1;
    }
    if (nseg == 0) {
        dv_seterr("no archived WAL for %s (run dvault archive --follow beside the server)",
                  pt->db_rel);
        goto out;
    }
    /* start: the newest transaction observed at or before the set began */
    long ks = -1, kt = -1;
    for (size_t i = 0; i < nseg; i++) {
        /* a gap that began before the set: the set's image is past it, start after it */
        if ((segs[i].flags & ARCHIVE_SEG_GAP) && segs[i].ntxns &&
            segs[i].txns[0].observed_us <= start_us)
            ks = kt = -1;
        for (size_t j = 0; j < segs[i].ntxns; j++)
            if (segs[i].txns[j].observed_us <= start_us)
                ks = (long)i, kt = (long)j;
    }
    if (ks < 0) {
        fmt_us(segs[0].first_us, a, sizeof a);
        fmt_us(start_us, b, sizeof b);
        dv_seterr("gap: the archive of %s starts at %s, after set %s began (%s): transactions "
                  "in between may be missing; choose a set taken after the archive started",
                  pt->db_rel, a, pt->set_id, b);
        goto out;
    }
    fd = dv_open_regular(path, O_RDWR); /* the restore's own temporary */
    if (fd < 0)
        goto out;
    uint32_t ps = segs[ks].page_size;
    buf = dv_malloc(4 + (size_t)ps);
    size_t dlen = 0;
    for (size_t i = (size_t)ks; i < nseg; i++) {
        struct archive_seg *s = &segs[i];
        if (i > (size_t)ks && (s->flags & ARCHIVE_SEG_GAP)) {
            if (!pt->to_latest && s->first_us > pt->at_us)
                break; /* the gap is after TIME: not crossed */
            fmt_us(s->first_us, a, sizeof a);
            dv_seterr("gap in the archive of %s before segment %s (%s): frames may be missing "
                      "there; restore from a set taken after it",
                      pt->db_rel, s->path, a);
            goto out;
        }
        if (s->page_size != ps) {
            dv_seterr("%s: page size %u, the archive had %u", s->path, s->page_size, ps);
            goto out;
        }
        if (!pt->to_latest && s->ntxns && s->txns[0].observed_us > pt->at_us)
            break;
        free(data);
        data = NULL;
        /* read again, and checked again: the records replayed are those of the bytes read now
         * (a segment changed since the listing is compared, never trusted) */
        struct archive_seg now;
        int rr = archive_seg_read_at(root, s->rel, &now, &data, &dlen);
        bool same = rr == 0 && now.seq == s->seq && now.ntxns == s->ntxns && now.page_size == ps;
        for (size_t j = 0; same && j < now.ntxns; j++)
            same = now.txns[j].offset == s->txns[j].offset &&
                   now.txns[j].nframes == s->txns[j].nframes &&
                   now.txns[j].observed_us == s->txns[j].observed_us;
        archive_seg_done(&now);
        if (rr != 0)
            goto out;
        if (!same) {
            dv_seterr("%s changed while it was read: refused", s->path);
            goto out;
        }
        r->segments++;
        for (size_t j = i == (size_t)ks ? (size_t)kt : 0; j < s->ntxns; j++) {
            const struct archive_txn *t = &s->txns[j];
            if (!pt->to_latest && t->observed_us > pt->at_us)
                break;
            const unsigned char *p = (const unsigned char *)data + t->offset;
            for (uint32_t f = 0; f < t->nframes; f++, p += 4 + ps) {
                uint32_t pgno =
                    (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
                if (pgno == 0) {
                    dv_seterr("%s: frame with page 0", s->path);
                    goto out;
                }
                if (dv_pwrite_all(fd, p + 4, ps, (off_t)(pgno - 1) * ps) != 0) {
                    dv_syserr("write %s", path);
                    goto out;
                }
            }
            if (ftruncate(fd, (off_t)t->commit_pages * ps) != 0) {
                dv_syserr("set size of %s", path);
                goto out;
            }
            if (!r->transactions)
                r->first_us = t->observed_us;
            r->last_us = t->observed_us;
            r->transactions++;
            r->frames += t->nframes;
        }
    }
    if (fsync(fd) != 0) {
        dv_syserr("fsync %s", path);
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(data);
    free(buf);
    archive_segs_free(segs, nseg);
    fsb_close(root);
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

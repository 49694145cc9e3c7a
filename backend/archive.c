/* archive.c - see archive.h; segment format in docs/formats.md "Archive segment". */
#include "archive.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "dbglob.h"
#include "delta.h"
#include "target.h"
#include "util.h"
#include "wal.h"

#define SEG_MAGIC "DVARSEG"
#define SEG_TRAIL "DVASTRAI"
#define ARCHIVE_BUSY_MS 5000

/* ---- byte order, WAL checksum ----------------------------------------------------------- */

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void be64(unsigned char *p, uint64_t v)
{
    be32(p, (uint32_t)(v >> 32));
    be32(p + 4, (uint32_t)v);
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) << 32 | rd32(p + 4);
}

static uint32_t rdle32(const unsigned char *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* SQLite's WAL checksum (fileformat2.html#walformat), continuing from s. */
static void wal_ck(bool big, const unsigned char *p, size_t n, uint32_t s[2])
{
    uint32_t s1 = s[0], s2 = s[1];
    for (const unsigned char *e = p + n; p < e; p += 8) {
        s1 += (big ? rd32(p) : rdle32(p)) + s2;
        s2 += (big ? rd32(p + 4) : rdle32(p + 4)) + s1;
    }
    s[0] = s1, s[1] = s2;
}

/* ---- segments: reading ------------------------------------------------------------------- */

void archive_seg_done(struct archive_seg *s)
{
    if (!s)
        return;
    free(s->path);
    free(s->txns);
    memset(s, 0, sizeof *s);
}

void archive_segs_free(struct archive_seg *segs, size_t n)
{
    for (size_t i = 0; segs && i < n; i++)
        archive_seg_done(&segs[i]);
    free(segs);
}

int archive_seg_read(const char *path, struct archive_seg *s)
{
    memset(s, 0, sizeof *s);
    char *buf;
    size_t len;
    if (dv_read_file(path, &buf, &len) != 0)
        return -1;
    const unsigned char *u = (const unsigned char *)buf;
    int rc = -1;
    if (len < ARCHIVE_SEG_HDR + ARCHIVE_SEG_TRAILER || memcmp(u, SEG_MAGIC, 8) != 0 ||
        rd32(u + 124) != delta_crc32c(0, u, 124) || rd32(u + 8) != ARCHIVE_SEG_VERSION) {
        dv_seterr("%s: not an archive segment (bad magic, version or header checksum)", path);
        goto out;
    }
    char want[65], got[65];
    dv_hex(u + len - 32, 32, want);
    dv_sha256_hex(u, len - 32, got);
    if (memcmp(u + len - ARCHIVE_SEG_TRAILER, SEG_TRAIL, 8) != 0 || strcmp(want, got) != 0) {
        dv_seterr("%s: trailer checksum mismatch (corrupt or truncated)", path);
        goto out;
    }
    s->page_size = rd32(u + 12);
    s->seq = rd64(u + 16);
    s->flags = rd32(u + 24);
    s->salt1 = rd32(u + 28);
    s->salt2 = rd32(u + 32);
    s->ckpt_seq = rd32(u + 36);
    s->first_frame = rd32(u + 40);
    s->next_frame = rd32(u + 44);
    s->cksum[0] = rd32(u + 48);
    s->cksum[1] = rd32(u + 52);
    uint32_t ntx = rd32(u + 56), nfr = rd32(u + 60);
    s->first_us = (int64_t)rd64(u + 64);
    s->last_us = (int64_t)rd64(u + 72);
    uint32_t ps = s->page_size;
    if (ps < 512 || ps > 65536 || (ps & (ps - 1))) {
        dv_seterr("%s: bad page size %u", path, ps);
        goto out;
    }
    s->txns = dv_calloc(ntx ? ntx : 1, sizeof *s->txns);
    uint64_t off = ARCHIVE_SEG_HDR, frames = 0, end = len - ARCHIVE_SEG_TRAILER;
    for (uint32_t i = 0; i < ntx; i++) {
        if (off + 16 > end) {
            dv_seterr("%s: transaction %u: truncated", path, i);
            goto out;
        }
        struct archive_txn *t = &s->txns[i];
        t->observed_us = (int64_t)rd64(u + off);
        t->nframes = rd32(u + off + 8);
        t->commit_pages = rd32(u + off + 12);
        t->offset = off + 16;
        uint64_t sz = (uint64_t)t->nframes * (4 + ps);
        if (t->nframes == 0 || t->commit_pages == 0 || t->offset + sz > end ||
            (i && t->observed_us < s->txns[i - 1].observed_us)) {
            dv_seterr("%s: transaction %u: bad record", path, i);
            goto out;
        }
        off = t->offset + sz;
        frames += t->nframes;
        s->ntxns++;
    }
    if (off != end || frames != nfr) {
        dv_seterr("%s: records end at %llu, the file at %llu", path, (unsigned long long)off,
                  (unsigned long long)end);
        goto out;
    }
    s->path = dv_strdup(path);
    rc = 0;
out:
    if (rc != 0)
        archive_seg_done(s);
    free(buf);
    return rc;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct archive_seg *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int archive_list(const char *target, const char *db_rel, struct archive_seg **segs, size_t *n)
{
    *segs = NULL;
    *n = 0;
    char *dir = dv_asprintf("%s/%s/%s", target, ARCHIVE_DIR, db_rel);
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        free(dir);
        if (e == ENOENT)
            return 0;
        errno = e;
        dv_syserr("%s/%s/%s", target, ARCHIVE_DIR, db_rel);
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l != 14 || strcmp(de->d_name + 10, ".seg") != 0)
            continue;
        char *p = dv_path_join(dir, de->d_name);
        *segs = dv_realloc(*segs, (*n + 1) * sizeof **segs);
        if (archive_seg_read(p, &(*segs)[*n]) != 0) {
            free(p);
            rc = -1;
            break;
        }
        (*n)++;
        free(p);
    }
    closedir(d);
    free(dir);
    if (rc != 0) {
        archive_segs_free(*segs, *n);
        *segs = NULL;
        *n = 0;
        return -1;
    }
    if (*n)
        qsort(*segs, *n, sizeof **segs, seg_cmp);
    return 0;
}

/* ---- the archiver ------------------------------------------------------------------------ */

struct adb {
    char *rel, *path, *walp, *dir;
    sqlite3 *rd[2]; /* follow: two readers, the next pinned before the previous is released */
    int cur;        /* index of the pinned one, -1 none */
    bool held;      /* a snapshot has been held continuously since the position was taken */
    /* position: what has been archived */
    bool have_pos, big;
    uint32_t salt1, salt2, ckpt, page_size, next_frame, ck[2];
    uint64_t seq;        /* last segment written */
    uint32_t next_flags; /* flags of the next segment (START, GAP) */
    /* transactions read but not yet written */
    unsigned char *buf;
    size_t blen, bcap;
    uint32_t ntx, nfr, first_frame;
    int64_t first_us, last_us;
    double last_flush;
};

struct arun {
    const struct dv_config *cfg;
    const struct archive_opts *o;
    struct archive_result *r;
    char *root; /* <target>/archive */
    struct adb **dbs;
    size_t ndbs;
};

static void buf_add(struct adb *a, const void *p, size_t n)
{
    if (a->blen + n > a->bcap) {
        a->bcap = (a->blen + n) * 2;
        a->buf = dv_realloc(a->buf, a->bcap);
    }
    memcpy(a->buf + a->blen, p, n);
    a->blen += n;
}

static void adb_free(struct adb *a)
{
    if (!a)
        return;
    for (int i = 0; i < 2; i++) {
        if (a->rd[i]) {
            sqlite3_exec(a->rd[i], "COMMIT", NULL, NULL, NULL);
            sqlite3_close(a->rd[i]);
        }
    }
    free(a->rel);
    free(a->path);
    free(a->walp);
    free(a->dir);
    free(a->buf);
    free(a);
}

/* Resume from the newest segment on disk, if any. */
static int adb_load(struct arun *ar, struct adb *a)
{
    struct archive_seg *segs;
    size_t n;
    if (archive_list(ar->cfg->backup.target, a->rel, &segs, &n) != 0)
        return -1;
    if (n) {
        struct archive_seg *s = &segs[n - 1];
        a->have_pos = true;
        a->big = s->flags & ARCHIVE_SEG_BIGCK;
        a->salt1 = s->salt1, a->salt2 = s->salt2, a->ckpt = s->ckpt_seq;
        a->page_size = s->page_size;
        a->next_frame = s->next_frame;
        a->ck[0] = s->cksum[0], a->ck[1] = s->cksum[1];
        a->seq = s->seq;
    } else {
        a->next_flags = ARCHIVE_SEG_START;
    }
    archive_segs_free(segs, n);
    return 0;
}

/* Pin a snapshot on the reader that is not pinned (opening it on first use). 0 or -1. */
static int pin(struct adb *a)
{
    int k = a->cur == 0 ? 1 : 0;
    if (!a->rd[k]) {
        if (sqlite3_open_v2(a->path, &a->rd[k], SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
            dv_seterr("%s: %s", a->path, a->rd[k] ? sqlite3_errmsg(a->rd[k]) : "cannot open");
            sqlite3_close(a->rd[k]);
            a->rd[k] = NULL;
            return -1;
        }
        sqlite3_db_config(a->rd[k], SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        sqlite3_busy_timeout(a->rd[k], ARCHIVE_BUSY_MS);
    }
    if (sqlite3_exec(a->rd[k], "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL) !=
        SQLITE_OK) {
        dv_seterr("%s: pin a snapshot: %s", a->path, sqlite3_errmsg(a->rd[k]));
        sqlite3_exec(a->rd[k], "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    /* release the previous one only now */
    if (a->cur >= 0)
        sqlite3_exec(a->rd[a->cur], "COMMIT", NULL, NULL, NULL);
    a->cur = k;
    return 0;
}

static void unpin(struct adb *a)
{
    if (a->cur >= 0)
        sqlite3_exec(a->rd[a->cur], "COMMIT", NULL, NULL, NULL);
    a->cur = -1;
    a->held = false;
}

/* Write the pending transactions as the next segment. 0 or -1. */
static int flush(struct arun *ar, struct adb *a)
{
    if (!a->ntx)
        return 0;
    unsigned char h[ARCHIVE_SEG_HDR] = {0};
    memcpy(h, SEG_MAGIC, 8);
    be32(h + 8, ARCHIVE_SEG_VERSION);
    be32(h + 12, a->page_size);
    be64(h + 16, a->seq + 1);
    be32(h + 24, a->next_flags | (a->big ? ARCHIVE_SEG_BIGCK : 0));
    be32(h + 28, a->salt1);
    be32(h + 32, a->salt2);
    be32(h + 36, a->ckpt);
    be32(h + 40, a->first_frame);
    be32(h + 44, a->next_frame);
    be32(h + 48, a->ck[0]);
    be32(h + 52, a->ck[1]);
    be32(h + 56, a->ntx);
    be32(h + 60, a->nfr);
    be64(h + 64, (uint64_t)a->first_us);
    be64(h + 72, (uint64_t)a->last_us);
    be32(h + 124, delta_crc32c(0, h, 124));
    size_t len = sizeof h + a->blen + ARCHIVE_SEG_TRAILER;
    unsigned char *out = dv_malloc(len);
    memcpy(out, h, sizeof h);
    memcpy(out + sizeof h, a->buf, a->blen);
    unsigned char *t = out + sizeof h + a->blen;
    memcpy(t, SEG_TRAIL, 8);
    char hex[65];
    dv_sha256_hex(out, len - 32, hex);
    dv_unhex(hex, t + 8, 32);
    char *p = dv_asprintf("%s/%010llu.seg", a->dir, (unsigned long long)(a->seq + 1));
    int rc = dv_mkdirs(a->dir, 0700) == 0 ? dv_write_atomic(p, out, len, 0600) : -1;
    free(p);
    free(out);
    if (rc != 0)
        return -1;
    a->seq++;
    ar->r->segments++;
    ar->r->transactions += a->ntx;
    ar->r->frames += a->nfr;
    a->next_flags = 0;
    a->ntx = a->nfr = 0;
    a->blen = 0;
    a->last_flush = dv_mono();
    return 0;
}

/*
 * One look at a database's WAL: new committed transactions are appended to the pending
 * buffer (observed now). A reset since the position is a new generation: continued when a
 * snapshot was held all along, else a GAP. 0 or -1.
 */
static int poll_db(struct arun *ar, struct adb *a, bool follow)
{
    if (pin(a) != 0)
        return -1;
    int fd = open(a->walp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            goto done; /* no WAL now: nothing committed since the last checkpoint+delete */
        dv_syserr("%s", a->walp);
        return -1;
    }
    unsigned char hdr[WAL_HDR_SIZE];
    int rc = -1;
    unsigned char *frame = NULL;
    if (dv_pread_full(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr) {
        rc = 0;
        goto out;
    }
    uint32_t magic = rd32(hdr), ps = rd32(hdr + 8);
    bool big = magic == WAL_MAGIC_BE;
    uint32_t ck[2] = {0, 0};
    if ((magic != WAL_MAGIC_LE && magic != WAL_MAGIC_BE) || ps < 512 || ps > 65536 ||
        (ps & (ps - 1))) {
        rc = 0;
        goto out;
    }
    wal_ck(big, hdr, 24, ck);
    if (ck[0] != rd32(hdr + 24) || ck[1] != rd32(hdr + 28)) {
        rc = 0;
        goto out;
    }
    uint32_t s1 = rd32(hdr + 16), s2 = rd32(hdr + 20), cs = rd32(hdr + 12);
    if (!a->have_pos || s1 != a->salt1 || s2 != a->salt2) {
        if (a->have_pos && !(follow && a->held)) {
            a->next_flags |= ARCHIVE_SEG_GAP;
            ar->r->gaps++;
            job_log(ar->o->job, DV_WARN,
                    "GAP in the archive of %s: its WAL was reset since the last archived "
                    "position (segment %llu); frames committed in between may have been "
                    "checkpointed and overwritten. Point-in-time restore cannot cross this gap: "
                    "restore from a backup set taken after it",
                    a->rel, (unsigned long long)a->seq);
        }
        if (a->ntx && flush(ar, a) != 0) /* a segment holds one generation */
            goto out;
        a->have_pos = true;
        a->big = big;
        a->salt1 = s1, a->salt2 = s2, a->ckpt = cs;
        a->page_size = ps;
        a->next_frame = 0;
        a->ck[0] = ck[0], a->ck[1] = ck[1];
    }
    if (ps != a->page_size) {
        dv_seterr("%s: page size changed from %u to %u", a->walp, a->page_size, ps);
        goto out;
    }
    /* frames from the position, while salts match and the checksum chain holds */
    size_t fsz = WAL_FRAME_HDR_SIZE + ps;
    frame = dv_malloc(fsz);
    uint32_t idx = a->next_frame, run[2] = {a->ck[0], a->ck[1]};
    size_t txstart = a->blen, frames_in_tx = 0;
    unsigned char rec[16];
    buf_add(a, rec, sizeof rec); /* the record header is filled at the commit frame */
    for (;; idx++) {
        off_t off = (off_t)WAL_HDR_SIZE + (off_t)idx * (off_t)fsz;
        if (dv_pread_full(fd, frame, fsz, off) != (ssize_t)fsz)
            break;
        if (rd32(frame + 8) != s1 || rd32(frame + 12) != s2)
            break;
        wal_ck(big, frame, 8, run);
        wal_ck(big, frame + WAL_FRAME_HDR_SIZE, ps, run);
        if (run[0] != rd32(frame + 16) || run[1] != rd32(frame + 20))
            break;
        buf_add(a, frame, 4);
        buf_add(a, frame + WAL_FRAME_HDR_SIZE, ps);
        frames_in_tx++;
        uint32_t commit = rd32(frame + 4);
        if (commit) {
            int64_t now = dv_now_us();
            unsigned char *r = a->buf + txstart;
            be64(r, (uint64_t)now);
            be32(r + 8, (uint32_t)frames_in_tx);
            be32(r + 12, commit);
            if (!a->ntx) {
                a->first_frame = a->next_frame;
                a->first_us = now;
            }
            a->ntx++;
            a->nfr += (uint32_t)frames_in_tx;
            a->last_us = now;
            a->next_frame = idx + 1;
            a->ck[0] = run[0], a->ck[1] = run[1];
            txstart = a->blen;
            frames_in_tx = 0;
            buf_add(a, rec, sizeof rec);
        }
    }
    a->blen = txstart; /* drop the uncommitted tail and the unused record header */
    rc = 0;
out:
    free(frame);
    close(fd);
    if (rc != 0)
        return -1;
done:
    if (follow)
        a->held = true;
    else
        unpin(a);
    return 0;
}

static int find_or_add(struct arun *ar, const char *rel, struct adb **out)
{
    for (size_t i = 0; i < ar->ndbs; i++)
        if (strcmp(ar->dbs[i]->rel, rel) == 0) {
            *out = ar->dbs[i];
            return 0;
        }
    struct adb *a = dv_calloc(1, sizeof *a);
    a->rel = dv_strdup(rel);
    a->path = dv_path_join(ar->cfg->server.data_dir, rel);
    a->walp = wal_path_of(a->path);
    a->dir = dv_path_join(ar->root, rel);
    a->cur = -1;
    a->last_flush = dv_mono();
    if (adb_load(ar, a) != 0) {
        adb_free(a);
        return -1;
    }
    ar->dbs = dv_realloc(ar->dbs, (ar->ndbs + 1) * sizeof *ar->dbs);
    ar->dbs[ar->ndbs++] = a;
    ar->r->databases++;
    *out = a;
    return 0;
}

static int list_dbs(struct arun *ar, char ***dbs, size_t *n)
{
    if (dbglob_list(ar->cfg, dbs, n) != 0)
        return -1;
    if (ar->o->db_glob) {
        size_t k = 0;
        for (size_t i = 0; i < *n; i++) {
            if (dbglob_match(ar->o->db_glob, (*dbs)[i]) || strcmp(ar->o->db_glob, (*dbs)[i]) == 0)
                (*dbs)[k++] = (*dbs)[i];
            else
                free((*dbs)[i]);
        }
        (*dbs)[k] = NULL;
        *n = k;
    }
    return 0;
}

int archive_run(const struct dv_config *cfg, const struct archive_opts *o, struct archive_result *r)
{
    memset(r, 0, sizeof *r);
    struct arun ar = {.cfg = cfg, .o = o, .r = r};
    ar.root = dv_path_join(cfg->backup.target, ARCHIVE_DIR);
    int lockfd = -1, rc = -1;
    bool follow = o->follow_seconds >= 0;
    char **dbs = NULL;
    size_t ndbs = 0;
    struct target_identity tid; /* a moved or unmounted target is refused, never created */
    if (target_identity_read(cfg->backup.target, &tid) != 0 || dv_mkdirs(ar.root, 0700) != 0)
        goto out;
    char *lp = dv_path_join(ar.root, "lock");
    lockfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        if (lockfd >= 0 && errno == EWOULDBLOCK)
            dv_seterr("another dvault archive is running on %s", ar.root);
        else
            dv_syserr("%s", lp);
        free(lp);
        goto out;
    }
    free(lp);
    double t0 = dv_mono(), last_list = -1e9, prev_round0 = -1;
    for (;;) {
        double round0 = dv_mono();
        if (round0 - last_list >= 1.0) { /* new databases appear: look every second */
            dbglob_free(dbs);
            dbs = NULL;
            if (list_dbs(&ar, &dbs, &ndbs) != 0)
                goto out;
            last_list = round0;
        }
        for (size_t i = 0; i < ndbs; i++) {
            struct adb *a;
            if (find_or_add(&ar, dbs[i], &a) != 0)
                goto out;
            if (poll_db(&ar, a, follow) != 0) {
                if (access(a->path, F_OK) != 0)
                    continue; /* vanished: nothing to archive */
                job_log(o->job, DV_WARN, "archive %s: %s", a->rel, dv_err());
                unpin(a);
                continue;
            }
            if ((!follow || dv_mono() - a->last_flush >= ARCHIVE_FLUSH_MS / 1000.0) &&
                flush(&ar, a) != 0)
                goto out;
        }
        /* A commit is seen by the first read of its database that starts after it: at the
         * latest by the end of the round after the one that just missed it. So the
         * observation error is bounded by (end of this round - start of the previous one),
         * sleep overshoot under load included. */
        double ms = (dv_mono() - (prev_round0 >= 0 ? prev_round0 : round0)) * 1000;
        prev_round0 = round0;
        if (ms > r->max_poll_ms)
            r->max_poll_ms = ms;
        if (!follow || job_cancelled(o->job) ||
            (o->follow_seconds > 0 && dv_mono() - t0 >= o->follow_seconds))
            break;
        struct timespec ts = {0, ARCHIVE_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    rc = 0;
out:
    for (size_t i = 0; i < ar.ndbs; i++) {
        if (flush(&ar, ar.dbs[i]) != 0)
            rc = -1;
        adb_free(ar.dbs[i]);
    }
    free(ar.dbs);
    dbglob_free(dbs);
    if (lockfd >= 0)
        close(lockfd);
    free(ar.root);
    return rc;
}

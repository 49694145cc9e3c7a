/* archive.c - the WAL archiver (see archive.h); its files are archive_seg.c's. */
#include "archive.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "archive_wq.h"
#include "bytes.h"
#include "dbglob.h"
#include "fsb.h"
#include "target.h"
#include "tstore.h"
#include "util.h"
#include "wal.h"

#define ARCHIVE_BUSY_MS 5000
#define ARCHIVE_W_WAIT_MS 10 /* BEGIN IMMEDIATE waits this long for the writer, */
#define ARCHIVE_W_WAIT_MAX_MS                                                                      \
    1000 /* doubled after each miss up to this (nothing else is looked at meanwhile) */
#define ARCHIVE_MAX_OPEN 256 /* databases pinned at once; beyond, the longest idle is sealed */
#define ARCHIVE_PENDING_MAX (64u << 20) /* a segment is written once this much is pending */
#define ARCHIVE_RUNREC_S 1.0            /* the run record is rewritten this often */
#define ARCHIVE_ACTIVE_LOOK_S                                                                      \
    1.0                     /* with inotify, an active database is still looked at this often */
#define ARCHIVE_QUIET_MS 50 /* inotify: the queue is found empty at least this often */
#define ARCHIVE_JIFFY_WAIT_MS 20 /* sealing waits at most this for the clock to pass the mtime */

/* One database. Closed (no descriptor) while sealed and unchanged; open and pinned while it
 * has frames the archive may still need to see. */
struct adb {
    char *rel, *path, *walp, *dir; /* dir: archive/<rel>, relative to the target */
    sqlite3 *rd[2]; /* two connections: a pin and a free one (checkpoint, write lock) */
    int cur;        /* index of the pinned one, -1 none */
    int walfd;      /* the WAL, kept open while the database is (-1: none yet) */
    bool open, rw;  /* connections open; opened read-write (checkpoint capable) */
    bool held;      /* pinned since before the last complete look: nothing can be lost */
    /* position: what has been archived */
    bool have_pos, big;
    uint32_t salt1, salt2, ckpt, page_size, next_frame, ck[2];
    uint64_t seq;          /* last segment written */
    uint32_t next_flags;   /* flags of the next segment (START, GAP) */
    int64_t watch_from_us; /* for the next START/GAP segment */
    /* seal: everything archived and checkpointed, the database file's fingerprint */
    bool sealed;
    uint64_t seal_fp;
    struct stat wal_st; /* the WAL as last found unchanged (st_ino 0: none) */
    /* transactions read but not yet written */
    unsigned char *buf;
    size_t blen, bcap;
    uint32_t ntx, nfr, first_frame;
    int64_t first_us, last_us, err_us, pend_lb_us;
    /* times */
    int64_t lb_us;   /* lower bound of the next new commit: start of the last complete look */
    int64_t seen_us; /* every commit before it has been read */
    double last_flush, last_change, last_look, next_try;
    int w_wait_ms;                           /* how long the next BEGIN IMMEDIATE may wait */
    bool dirty, warned, failing, nowal, inw; /* inw: its directory is watched (inotify) */
};

struct arun {
    const struct dv_config *cfg;
    const struct archive_opts *o;
    struct archive_result *r;
    struct fsb *target; /* everything is written beneath it (fsb.h); S3: the spool */
    struct tstore *ts;  /* S3: the bucket, read by this thread (resume positions) */
    struct adb **dbs;   /* sorted by rel */
    size_t ndbs, nopen;
    struct adb **openv;  /* the open ones (nopen) */
    struct adb **dirtyq; /* marked dirty since the last round (ndirty) */
    size_t ndirty;
    bool follow;
    /* inotify: one watch per directory that holds a database */
    int ifd;
    char **wdir; /* by watch descriptor: the directory relative to data_dir ("" top) */
    size_t nwdir;
    int64_t t_quiet; /* the inotify queue was empty then, every database looked at since */
    struct archive_run_rec run;
    struct wq wq;
};

static int64_t now_us(void)
{
    return dv_now_us();
}

static void buf_add(struct adb *a, const void *p, size_t n)
{
    if (a->blen + n > a->bcap) {
        a->bcap = (a->blen + n) * 2;
        a->buf = dv_realloc(a->buf, a->bcap);
    }
    memcpy(a->buf + a->blen, p, n);
    a->blen += n;
}

/* ---- connections and pins ------------------------------------------------------------------ */

static void adb_close(struct arun *ar, struct adb *a)
{
    for (int i = 0; i < 2; i++) {
        if (a->rd[i]) {
            if (!sqlite3_get_autocommit(a->rd[i]))
                sqlite3_exec(a->rd[i], "ROLLBACK", NULL, NULL, NULL);
            sqlite3_close(a->rd[i]);
            a->rd[i] = NULL;
        }
    }
    if (a->open) {
        for (size_t i = 0; i < ar->nopen; i++)
            if (ar->openv[i] == a) {
                ar->openv[i] = ar->openv[--ar->nopen];
                break;
            }
    }
    if (a->walfd >= 0)
        close(a->walfd);
    a->walfd = -1;
    a->open = false;
    a->cur = -1;
    a->held = false;
}

static int conn_open(struct adb *a, int k, int flags)
{
    if (sqlite3_open_v2(a->path, &a->rd[k], flags, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", a->path, a->rd[k] ? sqlite3_errmsg(a->rd[k]) : "cannot open");
        sqlite3_close(a->rd[k]);
        a->rd[k] = NULL;
        return -1;
    }
    /* never a checkpoint of our own on close, never a statement that writes */
    sqlite3_db_config(a->rd[k], SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    sqlite3_busy_timeout(a->rd[k], ARCHIVE_BUSY_MS);
    sqlite3_exec(a->rd[k], "PRAGMA query_only=1", NULL, NULL, NULL);
    return 0;
}

/* Open both connections: read-write when the file allows it (checkpoints), else read-only
 * (the WAL cannot be reset by us then: a warning says so once). */
static int adb_open(struct arun *ar, struct adb *a)
{
    if (a->open)
        return 0;
    int fd = dv_open_regular(a->path, O_RDONLY); /* a FIFO or a device is refused first */
    if (fd < 0)
        return -1;
    close(fd);
    a->rw = access(a->path, W_OK) == 0;
    int flags = (a->rw ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY) | SQLITE_OPEN_NOFOLLOW;
    for (int k = 0; k < 2; k++) {
        if (conn_open(a, k, flags) != 0) {
            adb_close(ar, a);
            return -1;
        }
    }
    if (!a->rw && !a->warned) {
        job_log(ar->o->job, DV_WARN,
                "archive %s: the database is not writable by dvault: its WAL cannot be "
                "checkpointed while the archiver watches it and grows until the archiver stops",
                a->rel);
        a->warned = true;
    }
    a->open = true;
    a->cur = -1;
    ar->openv = dv_realloc(ar->openv, (ar->nopen + 1) * sizeof *ar->openv);
    ar->openv[ar->nopen++] = a;
    if (ar->nopen > ar->r->max_open)
        ar->r->max_open = ar->nopen;
    return 0;
}

/* Pin a read snapshot on the connection that is not pinned, then release the other: there is
 * always one. 0 or -1 (then nothing is pinned). */
static int pin(struct adb *a)
{
    int k = a->cur == 0 ? 1 : 0;
    if (sqlite3_exec(a->rd[k], "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL, NULL) !=
        SQLITE_OK) {
        dv_seterr("%s: pin a snapshot: %s", a->path, sqlite3_errmsg(a->rd[k]));
        sqlite3_exec(a->rd[k], "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (a->cur >= 0)
        sqlite3_exec(a->rd[a->cur], "COMMIT", NULL, NULL, NULL);
    a->cur = k;
    return 0;
}

/* ---- segments ------------------------------------------------------------------------------ */

/* Write the pending transactions (or, with force, a record without any) as the next segment,
 * with extra flags. 0 or -1. */
static int flush(struct arun *ar, struct adb *a, uint32_t extra, bool force)
{
    if (!a->ntx && !force && !(a->next_flags & (ARCHIVE_SEG_START | ARCHIVE_SEG_GAP)))
        return 0;
    if (!a->have_pos)
        return 0;
    int64_t now = now_us();
    struct archive_seg_meta m = {
        .seq = a->seq + 1,
        .flags = a->next_flags | extra | (a->big ? ARCHIVE_SEG_BIGCK : 0),
        .page_size = a->page_size,
        .salt1 = a->salt1,
        .salt2 = a->salt2,
        .ckpt_seq = a->ckpt,
        .first_frame = a->ntx ? a->first_frame : a->next_frame,
        .next_frame = a->next_frame,
        .cksum = {a->ck[0], a->ck[1]},
        .ntx = a->ntx,
        .nfr = a->nfr,
        .first_us = a->ntx ? a->first_us : now,
        .last_us = a->ntx ? a->last_us : now,
        .err_us = a->err_us,
        .watch_from_us =
            a->next_flags & (ARCHIVE_SEG_START | ARCHIVE_SEG_GAP) ? a->watch_from_us : 0,
        .last_look_us = a->seen_us ? a->seen_us : now,
        .seal_fp = extra & ARCHIVE_SEG_SEALED ? a->seal_fp : 0,
    };
    struct wjob *j = dv_calloc(1, sizeof *j);
    j->m = m;
    j->dir = dv_strdup(a->dir);
    j->path = dv_asprintf("%s/%010llu.seg", a->dir, (unsigned long long)(a->seq + 1));
    j->rec = a->buf; /* handed over */
    j->len = a->blen;
    size_t raw = a->blen;
    a->buf = NULL;
    a->bcap = 0;
    if (archive_wq_put(&ar->wq, j) != 0)
        return -1;
    a->seq++;
    ar->r->transactions += a->ntx;
    ar->r->frames += a->nfr;
    ar->r->raw_bytes += raw;
    a->next_flags = 0;
    a->ntx = a->nfr = 0;
    a->blen = 0;
    a->err_us = 0;
    a->pend_lb_us = 0;
    a->last_flush = dv_mono();
    return 0;
}

/* Resume from the newest segment on disk, if any. */
static int adb_load(struct arun *ar, struct adb *a)
{
    struct archive_seg *segs;
    size_t n;
    if (ar->ts) { /* S3: the spool was drained at the start: the bucket has the newest */
        bool found;
        segs = dv_calloc(1, sizeof *segs);
        if (archive_s3_last_head(ar->ts, a->rel, segs, &found) != 0) {
            free(segs);
            return -1;
        }
        n = found ? 1 : 0;
    } else if (archive_heads_at(ar->target, a->rel, &segs, &n) != 0)
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
        a->sealed = s->flags & ARCHIVE_SEG_SEALED;
        a->seal_fp = s->seal_fp;
        /* commits since then were made while nothing watched: no better bound than this */
        a->lb_us = s->last_look_us;
        a->seen_us = s->last_look_us;
    }
    archive_segs_free(segs, n);
    return 0;
}

/* ---- reading the WAL ----------------------------------------------------------------------- */

static int stat_fp(const struct adb *a, uint64_t *fp)
{
    struct stat st;
    if (stat(a->path, &st) != 0) {
        dv_syserr("%s", a->path);
        return -1;
    }
    *fp = archive_db_fp(&st);
    return 0;
}

/* The WAL's header (false: no WAL, or none SQLite would use). */
static bool wal_head(int fd, struct wal_hdr *h)
{
    unsigned char b[WAL_HDR_SIZE];
    return dv_pread_full(fd, b, sizeof b, 0) == (ssize_t)sizeof b && wal_hdr_parse(b, h);
}

/* Start the archive (START) or start it again after a gap (GAP) at generation h, frame 0. */
static void establish(struct adb *a, const struct wal_hdr *h, uint32_t flag, int64_t from)
{
    a->have_pos = true;
    a->big = h->big;
    a->salt1 = h->salt1, a->salt2 = h->salt2, a->ckpt = h->ckpt_seq;
    a->page_size = h->page_size;
    a->next_frame = 0;
    a->ck[0] = h->cksum[0], a->ck[1] = h->cksum[1];
    a->next_flags |= flag;
    a->watch_from_us = from;
}

static void gap(struct arun *ar, struct adb *a, const char *why)
{
    ar->r->gaps++;
    job_log(ar->o->job, DV_WARN,
            "GAP in the archive of %s: %s since the last archived position (segment %llu); "
            "frames committed in between may have been checkpointed and overwritten. "
            "Point-in-time restore cannot cross this gap: restore from a backup set taken "
            "after it",
            a->rel, why, (unsigned long long)a->seq);
}

/* Frames of generation h from the position on, while the salts match and the checksum chain
 * holds; committed transactions are appended to the pending buffer, observed now with lower
 * bound lb (prewatch: part of the state when watching began, no error counted). */
static int read_frames(struct arun *ar, struct adb *a, int fd, int64_t lb, bool prewatch)
{
    uint32_t ps = a->page_size;
    size_t fsz = WAL_FRAME_HDR_SIZE + ps;
    unsigned char *frame = dv_malloc(fsz), rec[16] = {0};
    uint32_t idx = a->next_frame, run[2] = {a->ck[0], a->ck[1]};
    size_t txstart = a->blen, frames_in_tx = 0;
    buf_add(a, rec, sizeof rec); /* the record header is filled at the commit frame */
    for (;; idx++) {
        off_t off = (off_t)WAL_HDR_SIZE + (off_t)idx * (off_t)fsz;
        if (dv_pread_full(fd, frame, fsz, off) != (ssize_t)fsz)
            break;
        if (dv_rd32(frame + 8) != a->salt1 || dv_rd32(frame + 12) != a->salt2)
            break;
        wal_cksum(a->big, frame, 8, run);
        wal_cksum(a->big, frame + WAL_FRAME_HDR_SIZE, ps, run);
        if (run[0] != dv_rd32(frame + 16) || run[1] != dv_rd32(frame + 20))
            break;
        buf_add(a, frame, 4);
        buf_add(a, frame + WAL_FRAME_HDR_SIZE, ps);
        frames_in_tx++;
        uint32_t commit = dv_rd32(frame + 4);
        if (!commit)
            continue;
        int64_t now = now_us();
        unsigned char *r = a->buf + txstart;
        dv_wr64(r, (uint64_t)now);
        dv_wr32(r + 8, (uint32_t)frames_in_tx);
        dv_wr32(r + 12, commit);
        if (!a->ntx) {
            a->first_frame = a->next_frame;
            a->first_us = now;
            a->pend_lb_us = prewatch ? now : lb;
        }
        int64_t err = prewatch ? 0 : now - lb;
        if (err > a->err_us)
            a->err_us = err;
        if ((double)err / 1000 > ar->r->max_err_ms)
            ar->r->max_err_ms = (double)err / 1000;
        a->ntx++;
        a->nfr += (uint32_t)frames_in_tx;
        a->last_us = now;
        a->next_frame = idx + 1;
        a->ck[0] = run[0], a->ck[1] = run[1];
        a->last_change = dv_mono();
        txstart = a->blen;
        frames_in_tx = 0;
        buf_add(a, rec, sizeof rec);
    }
    a->blen = txstart; /* drop the uncommitted tail and the unused record header */
    free(frame);
    return 0;
}

/*
 * One look at a pinned database's WAL (docs/formats.md, "Archive: continuity"). A new
 * generation (the WAL was reset) continues the archive when nothing can have been lost: a
 * pin was held all along, or the database was sealed and its file has not been written since
 * (a reset needs a checkpoint, a checkpoint writes the file). Anything else is a GAP: the
 * archive starts again there, and what the WAL holds then is part of the state from which
 * it is watched again (like the WAL found by the first look: no observation error). 0 or -1.
 */
static int look(struct arun *ar, struct adb *a)
{
    int64_t s_us = now_us(), lb = a->lb_us > ar->t_quiet ? a->lb_us : ar->t_quiet;
    bool safe = a->held;
    if (!safe && a->sealed) {
        uint64_t fp;
        if (stat_fp(a, &fp) != 0)
            return -1;
        safe = fp == a->seal_fp;
    }
    /* the WAL stays open while the database is: SQLite does not delete it while we hold a
     * connection. A FIFO is refused, never waited on. */
    if (a->walfd < 0 && (a->walfd = dv_open_regular(a->walp, O_RDONLY)) < 0 && errno != ENOENT)
        return -1;
    int fd = a->walfd;
    struct wal_hdr h;
    /* no WAL now (or an empty one), and nothing held: the server may have checkpointed and
     * removed (or truncated) it with frames we never saw - a GAP unless the seal proves
     * nothing was written since */
    if (a->have_pos && !safe && !(fd >= 0 && wal_head(fd, &h))) {
        if (a->ntx && flush(ar, a, 0, false) != 0)
            goto fail;
        gap(ar, a, "its WAL was checkpointed and removed");
        struct wal_hdr z = {.page_size = a->page_size};
        establish(a, &z, ARCHIVE_SEG_GAP, s_us);
        safe = true;
    }
    if (!a->have_pos && (fd < 0 || !wal_head(fd, &h)) && a->cur >= 0) {
        /* no WAL yet: the archive starts with the database as it is, no generation */
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(a->rd[a->cur], "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            memset(&h, 0, sizeof h);
            h.page_size = (uint32_t)sqlite3_column_int(st, 0);
            establish(a, &h, ARCHIVE_SEG_START, s_us);
        }
        sqlite3_finalize(st);
    }
    /* pinned all along, a reset during the read loses nothing: the next look continues */
    for (int pass = 0; fd >= 0 && pass < (safe ? 1 : 2); pass++) {
        if (!wal_head(fd, &h))
            break; /* no WAL (or an empty one): nothing committed since it was checkpointed */
        bool prewatch = false;
        if (!a->have_pos) {
            establish(a, &h, ARCHIVE_SEG_START, s_us);
            prewatch = true;
        } else if (h.salt1 != a->salt1 || h.salt2 != a->salt2) {
            if (a->ntx && flush(ar, a, 0, false) != 0) /* a segment holds one generation */
                goto fail;
            if (!safe) {
                gap(ar, a, pass ? "its WAL was reset while it was read" : "its WAL was reset");
                establish(a, &h, ARCHIVE_SEG_GAP, now_us());
                prewatch = true;
            } else {
                establish(a, &h, 0, a->watch_from_us);
            }
        } else if (pass) {
            break; /* the same generation after the read: it was read whole */
        }
        if (h.page_size != a->page_size) {
            dv_seterr("%s: page size changed from %u to %u", a->walp, a->page_size, h.page_size);
            goto fail;
        }
        read_frames(ar, a, fd, lb, prewatch);
        if (prewatch)
            break; /* what the WAL held when watching began (again) is not a loss */
    }
    a->lb_us = s_us;
    a->seen_us = s_us;
    a->last_look = dv_mono();
    a->held = a->cur >= 0;
    a->sealed = false;
    a->wal_st.st_ino = 0;
    return 0;
fail:
    return -1;
}

/* ---- checkpoint cycles and seals ----------------------------------------------------------- */

/* Wait (a few ms at most) until the clock that stamps files has passed the database's mtime:
 * any later write then changes the fingerprint. true when it has. */
static bool clock_past(const struct stat *st)
{
    for (int i = 0; i <= ARCHIVE_JIFFY_WAIT_MS; i++) {
        struct timespec c;
        clock_gettime(CLOCK_REALTIME_COARSE, &c);
        if (c.tv_sec > st->st_mtim.tv_sec ||
            (c.tv_sec == st->st_mtim.tv_sec && c.tv_nsec > st->st_mtim.tv_nsec))
            return true;
        struct timespec ms = {0, 1000000L};
        nanosleep(&ms, NULL);
    }
    return false;
}

static int checkpoint(struct adb *a, int k, bool *full)
{
    int log = -1, done = -1;
    int rc = sqlite3_wal_checkpoint_v2(a->rd[k], NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        dv_seterr("%s: checkpoint: %s", a->path, sqlite3_errmsg(a->rd[k]));
        return -1;
    }
    *full = rc == SQLITE_OK && log >= 0 && log == done;
    return 0;
}

/*
 * The checkpoint cycle (docs/architecture.md "WAL archiver"): let the server's WAL reset
 * once everything in it is archived. The pin is moved to the newest snapshot and a PASSIVE
 * checkpoint copies the frames up to it (no lock held: the pin forbids a reset). Then, with
 * the write lock held (BEGIN IMMEDIATE on the free connection: no frame can be added), the
 * rest is read, the pin released, a checkpoint copies the rest and, unless the database is
 * being sealed, a new snapshot is pinned (SQLite gives it read mark 0 when the WAL is all
 * copied: the next writer may reset the WAL, and no checkpoint can copy a frame of the new
 * generation before it is seen). With seal, a database all copied is left unpinned, its
 * file's fingerprint recorded, and closed. Writers wait while the lock is held: measured.
 * 0 (*sealed set), or -1 (the database stays pinned if it can).
 */
static int cycle(struct arun *ar, struct adb *a, bool seal, bool *sealed)
{
    *sealed = false;
    if (!a->rw || a->cur < 0)
        return 0;
    bool full = false;
    if (pin(a) != 0)
        return -1;
    int fr = a->cur ^ 1;
    if (checkpoint(a, fr, &full) != 0 || look(ar, a) != 0)
        return -1;
    sqlite3_exec(a->rd[fr], "PRAGMA query_only=0", NULL, NULL, NULL);
    /* a short wait (the loop looks at nothing else meanwhile), longer after each miss */
    if (a->w_wait_ms < ARCHIVE_W_WAIT_MS)
        a->w_wait_ms = ARCHIVE_W_WAIT_MS;
    sqlite3_busy_timeout(a->rd[fr], a->w_wait_ms);
    int rc = sqlite3_exec(a->rd[fr], "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sqlite3_busy_timeout(a->rd[fr], ARCHIVE_BUSY_MS);
    if (rc != SQLITE_OK) { /* the server's writer kept the lock: another time */
        sqlite3_exec(a->rd[fr], "PRAGMA query_only=1", NULL, NULL, NULL);
        a->w_wait_ms =
            a->w_wait_ms * 2 > ARCHIVE_W_WAIT_MAX_MS ? ARCHIVE_W_WAIT_MAX_MS : a->w_wait_ms * 2;
        a->next_try = dv_mono() + 0.05;
        ar->r->w_misses++;
        return 0;
    }
    a->w_wait_ms = ARCHIVE_W_WAIT_MS;
    double t0 = dv_mono();
    struct stat st;
    bool ok = look(ar, a) == 0;
    int pk = a->cur;
    sqlite3_exec(a->rd[pk], "COMMIT", NULL, NULL, NULL);
    a->cur = -1;
    ok = ok && checkpoint(a, pk, &full) == 0;
    if (ok && seal && full && stat(a->path, &st) == 0 && clock_past(&st)) {
        a->seal_fp = archive_db_fp(&st);
        *sealed = true;
    } else if (sqlite3_exec(a->rd[pk], "BEGIN; SELECT count(*) FROM sqlite_master;", NULL, NULL,
                            NULL) == SQLITE_OK) {
        a->cur = pk; /* everything before it was read under the lock: nothing can be lost */
    } else {
        sqlite3_exec(a->rd[pk], "ROLLBACK", NULL, NULL, NULL);
        ok = false;
    }
    sqlite3_exec(a->rd[fr], "ROLLBACK", NULL, NULL, NULL);
    double held = (dv_mono() - t0) * 1000;
    sqlite3_exec(a->rd[fr], "PRAGMA query_only=1", NULL, NULL, NULL);
    if (held > ar->r->max_hold_ms)
        ar->r->max_hold_ms = held;
    ar->r->cycles++;
    a->held = a->cur >= 0;
    a->next_try = dv_mono() + (full ? 0 : 1); /* a reader of the server's holds old frames */
    return ok ? 0 : -1;
}

/* Seal a database: a cycle that leaves it unpinned, the pending transactions written with
 * the seal, its connections closed. 0 (it may stay open if it could not be sealed) or -1. */
static int seal(struct arun *ar, struct adb *a)
{
    bool sealed = false;
    if (cycle(ar, a, true, &sealed) != 0)
        return -1;
    if (!sealed)
        return 0;
    a->sealed = true;
    if (flush(ar, a, ARCHIVE_SEG_SEALED, true) != 0)
        return -1;
    adb_close(ar, a);
    a->sealed = true;
    struct stat st;
    a->wal_st.st_ino = 0;
    if (stat(a->walp, &st) == 0)
        a->wal_st = st;
    ar->r->seals++;
    return 0;
}

/*
 * A sealed database, closed: has anything happened since? Compared without opening it: the
 * database file's fingerprint, then the WAL (unchanged by stat, or its header and the frame
 * at the position show nothing new). true: nothing new (it stays closed).
 */
static bool still_sealed(struct adb *a)
{
    uint64_t fp;
    struct stat st;
    if (!a->sealed || stat_fp(a, &fp) != 0 || fp != a->seal_fp)
        return false;
    if (stat(a->walp, &st) != 0)
        return errno == ENOENT;
    if (a->wal_st.st_ino == st.st_ino && a->wal_st.st_size == st.st_size &&
        a->wal_st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
        a->wal_st.st_mtim.tv_nsec == st.st_mtim.tv_nsec)
        return true;
    int fd = dv_open_regular(a->walp, O_RDONLY);
    if (fd < 0)
        return false;
    struct wal_hdr h;
    bool quiet = !wal_head(fd, &h);
    if (!quiet && h.salt1 == a->salt1 && h.salt2 == a->salt2 && h.page_size == a->page_size) {
        /* same generation: quiet unless a valid frame follows the position */
        size_t fsz = WAL_FRAME_HDR_SIZE + a->page_size;
        unsigned char fh[WAL_FRAME_HDR_SIZE];
        off_t off = (off_t)WAL_HDR_SIZE + (off_t)a->next_frame * (off_t)fsz;
        quiet = dv_pread_full(fd, fh, sizeof fh, off) != (ssize_t)sizeof fh ||
                dv_rd32(fh + 8) != a->salt1 || dv_rd32(fh + 12) != a->salt2;
    }
    close(fd);
    if (quiet)
        a->wal_st = st;
    return quiet;
}

/* ---- the databases ------------------------------------------------------------------------- */

static void adb_free(struct arun *ar, struct adb *a)
{
    if (!a)
        return;
    adb_close(ar, a);
    free(a->rel);
    free(a->path);
    free(a->walp);
    free(a->dir);
    free(a->buf);
    free(a);
}

static int adb_cmp(const void *k, const void *e)
{
    return strcmp((const char *)k, (*(struct adb *const *)e)->rel);
}

static struct adb *find(struct arun *ar, const char *rel)
{
    if (!ar->ndbs)
        return NULL;
    struct adb **p = bsearch(rel, ar->dbs, ar->ndbs, sizeof *ar->dbs, adb_cmp);
    return p ? *p : NULL;
}

static void mark(struct arun *ar, struct adb *a)
{
    if (a->dirty)
        return;
    a->dirty = true;
    ar->dirtyq = dv_realloc(ar->dirtyq, (ar->ndirty + 1) * sizeof *ar->dirtyq);
    ar->dirtyq[ar->ndirty++] = a;
}

static int add(struct arun *ar, const char *rel, struct adb **out)
{
    if ((*out = find(ar, rel)))
        return 0;
    struct adb *a = dv_calloc(1, sizeof *a);
    a->rel = dv_strdup(rel);
    a->path = dv_path_join(ar->cfg->server.data_dir, rel);
    a->walp = wal_path_of(a->path);
    a->dir = dv_asprintf("%s/%s", ARCHIVE_DIR, rel);
    a->cur = -1;
    a->walfd = -1;
    a->last_flush = a->last_change = dv_mono();
    if (adb_load(ar, a) != 0) {
        adb_free(ar, a);
        return -1;
    }
    if (!a->lb_us) /* never archived: nothing new before the first look */
        a->lb_us = now_us();
    size_t i = 0;
    while (i < ar->ndbs && strcmp(ar->dbs[i]->rel, rel) < 0)
        i++;
    ar->dbs = dv_realloc(ar->dbs, (ar->ndbs + 1) * sizeof *ar->dbs);
    memmove(ar->dbs + i + 1, ar->dbs + i, (ar->ndbs - i) * sizeof *ar->dbs);
    ar->dbs[i] = a;
    ar->ndbs++;
    ar->r->databases++;
    mark(ar, a);
    *out = a;
    return 0;
}

/* inotify: a watch on the directory that holds rel (once per directory). */
static void watch_dir(struct arun *ar, const char *rel)
{
    if (ar->ifd < 0)
        return;
    const char *slash = strrchr(rel, '/');
    char *dir = slash ? dv_asprintf("%.*s", (int)(slash - rel), rel) : dv_strdup("");
    char *abs =
        dir[0] ? dv_path_join(ar->cfg->server.data_dir, dir) : dv_strdup(ar->cfg->server.data_dir);
    int wd = inotify_add_watch(ar->ifd, abs,
                               IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM |
                                   IN_ONLYDIR | IN_DONT_FOLLOW);
    free(abs);
    if (wd < 0) {
        job_log(ar->o->job, DV_WARN,
                "archive: cannot watch %s/%s (%s): its databases are looked at every %d ms",
                ar->cfg->server.data_dir, dir, strerror(errno), ARCHIVE_POLL_MS);
        free(dir);
        return;
    }
    if ((size_t)wd >= ar->nwdir) {
        size_t n = (size_t)wd + 16;
        ar->wdir = dv_realloc(ar->wdir, n * sizeof *ar->wdir);
        memset(ar->wdir + ar->nwdir, 0, (n - ar->nwdir) * sizeof *ar->wdir);
        ar->nwdir = n;
    }
    free(ar->wdir[wd]); /* the same directory again: the same descriptor */
    ar->wdir[wd] = dir;
}

static bool watched(const struct arun *ar, const char *rel)
{
    if (ar->ifd < 0)
        return false;
    const char *slash = strrchr(rel, '/');
    size_t dl = slash ? (size_t)(slash - rel) : 0;
    for (size_t i = 0; i < ar->nwdir; i++)
        if (ar->wdir[i] && strlen(ar->wdir[i]) == dl && strncmp(ar->wdir[i], rel, dl) == 0)
            return true;
    return false;
}

static int list_dbs(struct arun *ar)
{
    char **dbs;
    size_t n;
    if (dbglob_list(ar->cfg, &dbs, &n) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (ar->o->db_glob && !dbglob_match(ar->o->db_glob, dbs[i]) &&
            strcmp(ar->o->db_glob, dbs[i]) != 0)
            continue;
        struct adb *a = find(ar, dbs[i]);
        if (!a) {
            rc = add(ar, dbs[i], &a);
            if (rc == 0 && ar->follow && !watched(ar, dbs[i]))
                watch_dir(ar, dbs[i]);
            if (rc == 0)
                a->inw = watched(ar, dbs[i]);
        }
    }
    dbglob_free(dbs);
    return rc;
}

/* Drain the inotify queue, marking the databases whose files changed. */
static void drain(struct arun *ar)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(ar->ifd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *e = (struct inotify_event *)p;
            p += sizeof *e + e->len;
            if (e->mask & IN_Q_OVERFLOW) {
                for (size_t i = 0; i < ar->ndbs; i++)
                    mark(ar, ar->dbs[i]);
                continue;
            }
            if (!e->len || e->wd < 0 || (size_t)e->wd >= ar->nwdir || !ar->wdir[e->wd])
                continue;
            char name[PATH_MAX];
            size_t l = strnlen(e->name, e->len);
            if (l > 4 && strcmp(e->name + l - 4, "-wal") == 0)
                l -= 4;
            const char *d = ar->wdir[e->wd];
            if (snprintf(name, sizeof name, "%s%s%.*s", d, d[0] ? "/" : "", (int)l, e->name) >=
                (int)sizeof name)
                continue;
            struct adb *a = find(ar, name);
            if (a)
                mark(ar, a);
        }
    }
}

/* ---- the loop ------------------------------------------------------------------------------ */

static bool wal_mode(struct adb *a)
{
    sqlite3_stmt *st;
    bool wal = false;
    if (sqlite3_prepare_v2(a->rd[0], "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        wal = strcasecmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
    sqlite3_finalize(st);
    return wal;
}

static void failed(struct arun *ar, struct adb *a)
{
    if (!a->failing && access(a->path, F_OK) == 0) /* a database removed: nothing to archive */
        job_log(ar->o->job, DV_WARN, "archive %s: %s", a->rel, dv_err());
    a->failing = true;
    if (a->ntx)
        flush(ar, a, 0, false);
    adb_close(ar, a);
}

/*
 * Look at a database that may have changed: a sealed one is first compared without opening
 * it; otherwise it is opened and pinned (if it was not), and its WAL read. Its first look
 * writes the segment that records from when it is watched (with the seal, when nothing is
 * pending: one segment). 0, or -1 only for an error writing the archive.
 */
static int visit(struct arun *ar, struct adb *a)
{
    a->dirty = false;
    if (a->nowal)
        return 0;
    if (!a->open) {
        if (a->sealed && still_sealed(a)) {
            a->seen_us = now_us();
            return 0;
        }
        if (adb_open(ar, a) != 0) {
            failed(ar, a);
            return 0;
        }
        if (!wal_mode(a)) {
            job_log(ar->o->job, DV_WARN,
                    "archive %s: not in WAL mode: point-in-time restore needs its WAL (only "
                    "backup sets restore it)",
                    a->rel);
            a->nowal = true;
            adb_close(ar, a);
            return 0;
        }
        if (pin(a) != 0) {
            failed(ar, a);
            return 0;
        }
    }
    if (look(ar, a) != 0) {
        failed(ar, a);
        return 0;
    }
    a->failing = false;
    if (ar->follow && a->next_flags & (ARCHIVE_SEG_START | ARCHIVE_SEG_GAP)) {
        if (!a->ntx && ar->follow && seal(ar, a) != 0)
            return -1;
        if (a->next_flags & (ARCHIVE_SEG_START | ARCHIVE_SEG_GAP) && flush(ar, a, 0, true) != 0)
            return -1;
    }
    return 0;
}

/* The longest-idle open database (to seal when too many are open), or NULL. */
static struct adb *longest_idle(struct arun *ar)
{
    struct adb *best = NULL;
    for (size_t i = 0; i < ar->ndbs; i++) {
        struct adb *a = ar->dbs[i];
        if (a->open && (!best || a->last_change < best->last_change))
            best = a;
    }
    return best;
}

/* An open database between events: poll (without inotify), write what is pending, run a
 * checkpoint cycle when the WAL has grown, seal it once idle. 0 or -1. */
static int tend(struct arun *ar, struct adb *a, double now)
{
    double every = a->inw ? ARCHIVE_ACTIVE_LOOK_S : ARCHIVE_POLL_MS / 1000.0;
    if (now - a->last_look >= every && look(ar, a) != 0) {
        failed(ar, a);
        return 0;
    }
    if (a->ntx &&
        (now - a->last_flush >= ARCHIVE_FLUSH_MS / 1000.0 || a->blen >= ARCHIVE_PENDING_MAX) &&
        flush(ar, a, 0, false) != 0)
        return -1;
    if (now < a->next_try)
        return 0;
    bool sealed;
    if (now - a->last_change >= ARCHIVE_IDLE_S) {
        if (seal(ar, a) != 0 && a->open)
            failed(ar, a);
        return 0;
    }
    uint64_t fsz = WAL_FRAME_HDR_SIZE + (uint64_t)a->page_size;
    if (a->held && (uint64_t)a->next_frame * fsz >= ARCHIVE_CKPT_BYTES &&
        cycle(ar, a, false, &sealed) != 0)
        failed(ar, a);
    return 0;
}

/* Every commit before the returned time is in a segment on disk (or reported as a GAP). */
static int64_t confirmed(struct arun *ar, int64_t quiet)
{
    int64_t c = now_us();
    for (size_t i = 0; i < ar->ndbs; i++) {
        struct adb *a = ar->dbs[i];
        if (a->nowal)
            continue;
        int64_t seen = a->seen_us;
        if (a->inw && !a->dirty && quiet > seen)
            seen = quiet;
        if (seen < c)
            c = seen;
        if (a->ntx && a->pend_lb_us < c)
            c = a->pend_lb_us;
    }
    return c;
}

static int write_run(struct arun *ar, int64_t c)
{
    if (c <= ar->run.confirmed_us)
        return 0;
    ar->run.confirmed_us = c;
    struct wjob *j = dv_calloc(1, sizeof *j);
    j->run = ar->run;
    j->run.name = dv_strdup(ar->run.name);
    j->run.db_glob = ar->run.db_glob ? dv_strdup(ar->run.db_glob) : NULL;
    return archive_wq_put(&ar->wq, j);
}

/* One round: wait for events (or the poll interval), look at what changed, tend the open
 * databases, and every ARCHIVE_SCAN_S list the databases again and compare the closed ones
 * (the safety net for anything inotify did not say). 0 or -1. */
static int round_once(struct arun *ar, double *last_scan, double *last_rec)
{
    /* With inotify, an empty queue every ARCHIVE_QUIET_MS is what bounds the observation
     * error of a database's first commit after a quiet spell (t_quiet); a round without an
     * event costs a few microseconds. */
    int timeout = ar->ifd >= 0 ? ARCHIVE_QUIET_MS : ARCHIVE_POLL_MS;
    struct pollfd pfd = {.fd = ar->ifd, .events = POLLIN};
    if (ar->ifd >= 0)
        poll(&pfd, 1, timeout);
    else {
        struct timespec ts = {0, (long)timeout * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (archive_wq_failed(&ar->wq))
        return -1;
    int64_t quiet = now_us();
    if (ar->ifd >= 0)
        drain(ar);
    double now = dv_mono();
    bool scan = now - *last_scan >= ARCHIVE_SCAN_S;
    if (scan) {
        if (list_dbs(ar) != 0)
            return -1;
        *last_scan = now;
    }
    for (size_t i = 0; scan && i < ar->ndbs; i++)
        if (!ar->dbs[i]->open)
            mark(ar, ar->dbs[i]); /* the safety net: every closed one compared */
    /* visit may add to the queue (a first look): take it as it is now */
    struct adb **q = ar->dirtyq;
    size_t nq = ar->ndirty;
    ar->dirtyq = NULL;
    ar->ndirty = 0;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < nq; i++)
        if (q[i]->dirty)
            rc = visit(ar, q[i]);
    free(q);
    if (rc != 0)
        return -1;
    /* tend may close (seal) some: walk a copy */
    size_t no = ar->nopen;
    struct adb **ov = dv_malloc((no ? no : 1) * sizeof *ov);
    if (no)
        memcpy(ov, ar->openv, no * sizeof *ov);
    for (size_t i = 0; rc == 0 && i < no; i++)
        if (ov[i]->open)
            rc = tend(ar, ov[i], dv_mono());
    free(ov);
    if (rc != 0)
        return -1;
    while (ar->nopen > ARCHIVE_MAX_OPEN) {
        struct adb *a = longest_idle(ar);
        if (!a || seal(ar, a) != 0 || a->open)
            break;
    }
    ar->t_quiet = ar->ifd >= 0 ? quiet : 0;
    if (dv_mono() - *last_rec >= ARCHIVE_RUNREC_S) {
        if (write_run(ar, confirmed(ar, ar->t_quiet)) != 0)
            return -1;
        *last_rec = dv_mono();
    }
    return 0;
}

/* One pass (cron): each database in turn: look, write, seal (so that the next pass can tell
 * an idle database from a gap), close. 0 or -1. */
static int one_pass(struct arun *ar)
{
    if (list_dbs(ar) != 0)
        return -1;
    for (size_t i = 0; i < ar->ndbs; i++) {
        struct adb *a = ar->dbs[i];
        if (visit(ar, a) != 0)
            return -1;
        if (a->open && seal(ar, a) != 0)
            return -1;
        if (a->open) {
            if (flush(ar, a, 0, false) != 0)
                return -1;
            adb_close(ar, a);
        }
    }
    return write_run(ar, confirmed(ar, 0));
}

static int lock_archive(struct arun *ar, int *lockfd)
{
    if (fsb_mkdir(ar->target, ARCHIVE_DIR, 0700, true) != 0)
        return -1;
    *lockfd = fsb_openat(ar->target, ARCHIVE_DIR "/lock", O_RDWR | O_CREAT, 0600);
    if (*lockfd < 0)
        return -1;
    if (flock(*lockfd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            dv_seterr("another dvault archive is running on %s/%s", fsb_path(ar->target),
                      ARCHIVE_DIR);
        else
            dv_syserr("%s/%s/lock", fsb_path(ar->target), ARCHIVE_DIR);
        return -1;
    }
    return 0;
}

static int archive_body(const struct dv_config *cfg, const struct archive_opts *o,
                        struct archive_result *r)
{
    struct arun ar = {.cfg = cfg, .o = o, .r = r, .ifd = -1, .follow = o->follow_seconds >= 0};
    int lockfd = -1, rc = -1;
    char *spool = NULL;
    struct target_identity tid; /* a moved or unmounted target is refused, never created */
    if (target_identity_read_cfg(cfg, &tid) != 0)
        goto out;
    if (cfg->backup.s3.bucket) {
        /* S3: never the target's lock (it runs beside backups): a store and a spool of its
         * own; what a killed run left in the spool is uploaded first */
        uint64_t drained = 0;
        if (!(spool = archive_s3_spool(cfg)) || !(ar.target = fsb_open(spool)) ||
            lock_archive(&ar, &lockfd) != 0 || !(ar.ts = archive_s3_store(cfg)) ||
            !(ar.wq.ts = archive_s3_store(cfg)) ||
            archive_s3_drain(ar.ts, ar.target, cfg, &drained) != 0)
            goto out;
        ar.wq.cfg = cfg;
        if (drained)
            job_log(o->job, DV_INFO,
                    "archive: %llu file(s) a previous run left in %s uploaded to %s",
                    (unsigned long long)drained, spool, cfg->backup.target);
    } else if (!(ar.target = fsb_open(cfg->backup.target)) || lock_archive(&ar, &lockfd) != 0)
        goto out;
    ar.run.started_us = now_us();
    ar.run.confirmed_us = 0;
    ar.run.db_glob = o->db_glob ? dv_strdup(o->db_glob) : NULL;
    ar.run.name = dv_asprintf("%lld.json", (long long)ar.run.started_us);
    ar.wq.target = ar.target;
    if (ar.follow && archive_wq_start(&ar.wq, ar.target) != 0)
        goto out;
    if (!ar.follow) {
        rc = one_pass(&ar);
        goto out;
    }
    if (!o->no_inotify)
        ar.ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ar.ifd < 0 && !o->no_inotify)
        job_log(o->job, DV_WARN, "archive: no inotify (%s): polling every %d ms", strerror(errno),
                ARCHIVE_POLL_MS);
    r->inotify = ar.ifd >= 0;
    if (list_dbs(&ar) != 0)
        goto out;
    double t0 = dv_mono(), last_scan = t0, last_rec = t0 - ARCHIVE_RUNREC_S;
    for (;;) {
        if (round_once(&ar, &last_scan, &last_rec) != 0)
            goto out;
        if (job_cancelled(o->job) || (o->follow_seconds > 0 && dv_mono() - t0 >= o->follow_seconds))
            break;
    }
    /* a clean stop seals what is open: the next run continues without a gap */
    for (size_t i = 0; i < ar.ndbs; i++) {
        struct adb *a = ar.dbs[i];
        if (a->open && (look(&ar, a) != 0 || seal(&ar, a) != 0))
            failed(&ar, a);
    }
    rc = 0;
out:
    for (size_t i = 0; i < ar.ndbs; i++)
        if (flush(&ar, ar.dbs[i], 0, false) != 0)
            rc = -1;
    if (rc == 0 && ar.target && write_run(&ar, confirmed(&ar, ar.t_quiet)) != 0)
        rc = -1;
    if (archive_wq_finish(&ar.wq) != 0)
        rc = -1;
    r->segments = ar.wq.segments;
    r->stored_bytes = ar.wq.stored;
    for (size_t i = 0; i < ar.ndbs; i++)
        adb_free(&ar, ar.dbs[i]);
    free(ar.dbs);
    free(ar.openv);
    free(ar.dirtyq);
    for (size_t i = 0; i < ar.nwdir; i++)
        free(ar.wdir[i]);
    free(ar.wdir);
    if (ar.ifd >= 0)
        close(ar.ifd);
    free(ar.run.db_glob);
    free(ar.run.name);
    if (lockfd >= 0)
        close(lockfd);
    fsb_close(ar.target);
    tstore_close(ar.ts);
    tstore_close(ar.wq.ts);
    free(spool);
    return rc;
}

int archive_run(const struct dv_config *cfg, const struct archive_opts *o, struct archive_result *r)
{
    memset(r, 0, sizeof *r);
    struct archive_opts oo = *o;
    struct job_record rec;
    oo.job = job_record_begin(&rec, cfg->catalog, "archive", o->job);
    int rc = archive_body(cfg, &oo, r);
    char sum[256];
    snprintf(sum, sizeof sum,
             "%llu database(s), %llu transaction(s), %llu segment(s) written, %llu gap(s)",
             (unsigned long long)r->databases, (unsigned long long)r->transactions,
             (unsigned long long)r->segments, (unsigned long long)r->gaps);
    job_record_end(&rec, rc, sum);
    return rc;
}

/*
 * archive.h - WAL archiving for point-in-time restore (design.md "Incremental backups",
 * seed 004 "log files"; docs/operations.md "Point-in-time restore", docs/formats.md
 * "Archive segment" and "Archive run records", docs/architecture.md "Concurrency").
 *
 * `dvault archive` copies the WAL frames committed since the last archived position of each
 * database into the target, as immutable, checksummed, zstd-compressed segments:
 *
 *   <target>/archive/<db relpath>/<seq, 10 digits>.seg
 *
 * A segment holds whole transactions (up to a commit frame), each with the time the archiver
 * OBSERVED its commit (SQLite frames carry no time) and, per segment, the observation error;
 * the WAL generation (salts, checkpoint sequence) and the position after it (next frame,
 * running checksum), so a later run resumes exactly there. START/GAP segments say from when
 * the database was watched; SEALED ones that everything was archived and checkpointed, with
 * the database file's fingerprint. Run records (archive/runs/) say until when the archive is
 * known complete. One archiver per target at a time (<target>/archive/lock); it does not take
 * the target's lock (it runs beside backups).
 *
 * With --follow the archiver owns the server's checkpointing while it runs: a database being
 * written is pinned, and once its WAL holds ARCHIVE_CKPT_BYTES a checkpoint cycle (briefly
 * holding the write lock) lets the server reset it; a database idle ARCHIVE_IDLE_S is sealed
 * and closed; inotify wakes it again (archive.c). A WAL generation that follows a pinned or
 * sealed-and-unwritten one continues the archive; anything else is reported as a GAP (an
 * event, archive_result.gaps, the segment's GAP flag) and never bridged.
 */
#ifndef DV_ARCHIVE_H
#define DV_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "config.h"
#include "job.h"

#define ARCHIVE_DIR "archive"
#define ARCHIVE_RUNS_DIR "archive/runs" /* run records (archive_run_rec) */
#define ARCHIVE_SEG_VERSION 2           /* written; version 1 (uncompressed) is still read */
#define ARCHIVE_SEG_HDR 128
#define ARCHIVE_SEG_TRAILER 40
#define ARCHIVE_FLUSH_MS 1000 /* --follow: a segment is written at least every second */
#define ARCHIVE_POLL_MS 20    /* without inotify: an active database is looked at every 20 ms */
#define ARCHIVE_SCAN_S 10.0   /* the safety net: every database's files are stat'ed this often */
#define ARCHIVE_IDLE_S 2.0    /* an active database idle this long is sealed and closed */
#define ARCHIVE_CKPT_BYTES ((uint64_t)4 << 20) /* a checkpoint cycle once the WAL holds this */

enum {
    ARCHIVE_SEG_START = 1,  /* first segment of a database's archive: nothing before it */
    ARCHIVE_SEG_GAP = 2,    /* frames may be missing between the previous segment and this */
    ARCHIVE_SEG_BIGCK = 4,  /* the WAL's checksums are on big-endian words */
    ARCHIVE_SEG_SEALED = 8, /* at last_look_us everything was archived and checkpointed: seal_fp */
    ARCHIVE_SEG_ZSTD = 16,  /* the records are one zstd frame (raw_len bytes once expanded) */
};

struct archive_opts {
    double follow_seconds; /* < 0: one pass; 0: follow until cancelled; > 0: that long */
    const char *db_glob;   /* NULL: every database of server.databases */
    struct dv_job *job;    /* events (gaps), cancellation; may be NULL */
    bool no_inotify;       /* tests: poll as where inotify is unavailable */
};

struct archive_result {
    uint64_t databases; /* looked at */
    uint64_t segments;  /* written */
    uint64_t transactions, frames;
    uint64_t raw_bytes, stored_bytes; /* records before / after compression */
    uint64_t gaps;                    /* databases with a gap reported (see events) */
    uint64_t cycles, seals;           /* checkpoint cycles run; databases sealed (closed idle) */
    uint64_t w_misses;                /* cycles put off: the server's writer held the lock */
    double max_err_ms;                /* worst observation error of a transaction */
    double max_hold_ms;               /* longest time the write lock was held (writers waited) */
    uint64_t max_open;                /* most databases open (pinned) at once */
    bool inotify;                     /* woken by inotify (else polling) */
};

/*
 * Archive cfg's databases into cfg's target (see above). Returns 0 (gaps are not failures:
 * r->gaps counts them and an event names each), or -1 with dv_err() (target unusable,
 * another archiver running, I/O error writing a segment). r is filled either way.
 */
int archive_run(const struct dv_config *cfg, const struct archive_opts *o,
                struct archive_result *r);

/* One transaction of a segment. */
struct archive_txn {
    int64_t observed_us; /* when the archiver saw the commit (>= the commit's real time) */
    uint32_t nframes;
    uint32_t commit_pages; /* database size in pages after the commit */
    uint64_t offset;       /* offset of its first frame record (pgno u32 + page) in the image */
};

/* A segment's header (docs/formats.md "Archive segment"). */
struct archive_seg {
    char *path; /* for messages */
    char *rel;  /* beneath the target (archive_seg_read_at), or NULL */
    uint32_t version;
    uint64_t seq;
    uint32_t flags, page_size;
    uint32_t salt1, salt2, ckpt_seq;
    uint32_t first_frame, next_frame; /* WAL frame indexes: first archived, one past last */
    uint32_t cksum[2];                /* WAL running checksum after frame next_frame - 1 */
    int64_t first_us, last_us;        /* observed times of its first and last transaction */
    int64_t err_us;            /* observation error bound of its transactions; -1 not recorded */
    int64_t watch_from_us;     /* START/GAP: watched from then on; 0 otherwise */
    int64_t last_look_us;      /* the last look that this segment's position reflects */
    uint64_t raw_len;          /* records, uncompressed */
    uint64_t seal_fp;          /* SEALED: the database file's fingerprint (archive_db_fp) */
    uint64_t file_size;        /* bytes on disk */
    uint32_t hdr_ntx, hdr_nfr; /* transactions and frames, as the header says */
    struct archive_txn *txns;
    size_t ntxns;
};

/* What a segment writer fills (archive_seg_encode). */
struct archive_seg_meta {
    uint64_t seq;
    uint32_t flags, page_size, salt1, salt2, ckpt_seq, first_frame, next_frame, cksum[2];
    uint32_t ntx, nfr;
    int64_t first_us, last_us, err_us, watch_from_us, last_look_us;
    uint64_t seal_fp;
};

/* A segment is read whole: at most ARCHIVE_SEG_MAX bytes, expanded as much. */
#define ARCHIVE_SEG_MAX ((size_t)1 << 31)
struct fsb;

/* Encode a segment: header, the records (rec, len: compressed with zstd), trailer. *out
 * malloc'd. 0, or -1 with dv_err(). */
int archive_seg_encode(const struct archive_seg_meta *m, const void *rec, size_t len,
                       unsigned char **out, size_t *outlen);

/* Read and check a segment (header CRC, trailer SHA-256, records; expanded when compressed).
 * archive_seg_done frees. archive_seg_read_at reads rel beneath the target's root (fsb.h: no
 * link, a regular file - a FIFO is refused, never waited on -, capped) and, with data not
 * NULL, gives the checked image (header + records, expanded; malloc'd) in *data, *len: the
 * records' offsets index it; a caller that reads the records uses those, never a second read
 * of the file. 0, or -1 with dv_err() naming the file. */
int archive_seg_read(const char *path, struct archive_seg *s);
int archive_seg_read_at(const struct fsb *root, const char *rel, struct archive_seg *s, char **data,
                        size_t *len);
/* Only the header (its CRC checked; no records, txns NULL): cheap, for listings and status. */
int archive_seg_head_at(const struct fsb *root, const char *rel, struct archive_seg *s);
void archive_seg_done(struct archive_seg *s);
/* The segments of a database in seq order (each read and checked). *segs malloc'd; free with
 * archive_segs_free. A database never archived has none (0). 0 or -1. */
int archive_list(const char *target, const char *db_rel, struct archive_seg **segs, size_t *n);
int archive_list_at(const struct fsb *root, const char *db_rel, struct archive_seg **segs,
                    size_t *n);
/* The same, headers only (archive_seg_head_at). */
int archive_heads_at(const struct fsb *root, const char *db_rel, struct archive_seg **segs,
                     size_t *n);
void archive_segs_free(struct archive_seg *segs, size_t n);

/*
 * Where a replay for a set that began at start_us starts (pitr.h), and so the oldest segment
 * a restore --at from that set needs (prune.c removes only older ones): the newest segment
 * holding a transaction observed at or before start_us (it and every transaction before it
 * are in the set's copy), or the newest START/GAP segment watched from at or before start_us
 * (*kt = 0), whichever comes later. The search ends at a START/GAP watched from after
 * start_us (a replay never crosses it). The first segment begins the archive even without a
 * START flag: after a prune it is a plain segment, and what came before it is in any set
 * that began after its first transaction.
 * segs in seq order, from archive_list_at (*kt: the newest such transaction in the segment)
 * or headers only (archive_heads_at, txns NULL: the same segment - a segment's transactions
 * are in observed order, first_us the earliest -, *kt = 0: replaying the segment's earlier
 * transactions again is harmless, the set's copy holds them).
 * Returns the index, or -1 when the archive cannot be a base for such a set (it starts after
 * start_us); then *after (may be NULL) is the first segment when it is a START/GAP watched
 * from after start_us, else NULL (a pruned archive whose first transaction is later).
 */
long archive_anchor(const struct archive_seg *segs, size_t n, int64_t start_us, size_t *kt,
                    const struct archive_seg **after);

/* A database's archive at a glance (headers only). */
struct archive_summary {
    uint64_t segments, bytes, raw_bytes, transactions;
    int64_t first_us, last_us; /* span: first watched or observed .. last look */
    int64_t max_err_us;        /* worst recorded observation error (-1 none recorded) */
    uint64_t gaps;             /* segments flagged GAP */
    bool from_listing;         /* S3 (archive_s3_summary): raw_bytes, transactions, gaps not
                                * counted */
};
int archive_summary_at(const struct fsb *root, const char *db_rel, struct archive_summary *sum);

/* The databases that have an archive (relative names, sorted; NULL-terminated, free with
 * dbglob_free). 0 or -1. */
int archive_dbs_at(const struct fsb *root, char ***dbs, size_t *n);

/*
 * Run records: <target>/archive/runs/<started_us>.json, one per archiver run, rewritten
 * (atomically) as it goes: every transaction committed before confirmed_us in a database
 * the run watches (db_glob NULL: every one) is in a segment on disk, or a GAP says otherwise.
 */
struct archive_run_rec {
    int64_t started_us, confirmed_us;
    char *db_glob; /* NULL: all */
    char *name;    /* file name under runs/ */
};
int archive_runs_at(const struct fsb *root, struct archive_run_rec **runs, size_t *n);
/* Write (replace atomically) runs/<r->name>. 0 or -1. */
int archive_run_write(const struct fsb *root, const struct archive_run_rec *r);
void archive_runs_free(struct archive_run_rec *runs, size_t n);
/* The latest confirmed_us of the runs that watch db_rel (0: none). */
int64_t archive_confirmed_to(const struct archive_run_rec *runs, size_t n, const char *db_rel);

/* A database file's fingerprint: device, inode, size and modification time, hashed. 0 with
 * errno when it cannot be stat'ed. */
uint64_t archive_db_fp(const struct stat *st);

/* ---- the archive on an S3 target (archive_s3.c; docs/operations.md "PITR on an S3 target") --
 *
 * The archiver writes its segments and run records into a local spool of its own,
 * <backup.s3.cache>/archive-spool/ (laid out as a target: archive/<db>/<seq>.seg,
 * archive/runs/<started>.json, archive/lock), fsynced; its writer thread then uploads each one
 * (PUT, with the configured Object Lock retention) and removes the local file only once the
 * gateway acknowledged it. The writer handles one file at a time, in order, so a run record
 * reaches the bucket only after every segment queued before it: it never claims a segment the
 * bucket does not hold. A run that starts uploads what the spool still holds first (same key,
 * same bytes: idempotent), then resumes from the bucket's newest segment of each database.
 * The spool holds at most one file being uploaded (a segment: at most ARCHIVE_PENDING_MAX of
 * records, compressed) plus the leftovers of one crashed run.
 * Readers (restore --at, prune) fetch archive/... from the bucket into the target's working
 * tree (archive_s3_fetch), use the directory code on it, and evict after.
 */
struct tstore;
struct target;
#define ARCHIVE_SPOOL_DIR "archive-spool" /* beneath backup.s3.cache */
/* The segment header at h (ARCHIVE_SEG_HDR bytes of an object of size bytes; CRC checked).
 * 0 or -1 naming path. */
int archive_seg_head_buf(const char *path, const void *h, uint64_t size, struct archive_seg *s);
/* "0000000042.seg" */
bool archive_seg_name_ok(const char *name);
/* The archiver's store (the configured bucket + prefix) and spool (created). NULL/-1. */
struct tstore *archive_s3_store(const struct dv_config *cfg);
char *archive_s3_spool(const struct dv_config *cfg);
/* Upload rel of the spool (segment or run record) with the configured retention, then remove
 * the local file. 0 or -1 naming the object. */
int archive_s3_upload(struct tstore *ts, const struct fsb *spool, const struct dv_config *cfg,
                      const char *rel);
/* Upload everything a crashed run left in the spool (segments first, then run records),
 * removing temporaries. *n (may be NULL): how many. 0 or -1. */
int archive_s3_drain(struct tstore *ts, const struct fsb *spool, const struct dv_config *cfg,
                     uint64_t *n);
/* The headers of db_rel's segments in the bucket, in seq order (rel: the object name,
 * file_size: the listing's size); like archive_heads_at. */
int archive_s3_heads(struct tstore *ts, const char *db_rel, struct archive_seg **segs, size_t *n);
/* The header of the bucket's newest segment of db_rel (s->seq 0 and *found false: none). */
int archive_s3_last_head(struct tstore *ts, const char *db_rel, struct archive_seg *s, bool *found);
/* Fetch into t's working tree the archive of db_rel (NULL: every database) and, with runs,
 * the run records (fresh: a run record is rewritten in place). *rels gets what was fetched
 * (free with archive_s3_evict, which evicts them). 0 or -1. */
int archive_s3_fetch(struct target *t, const char *db_rel, bool runs, char ***rels, size_t *n);
void archive_s3_evict(struct target *t, char **rels, size_t n);
/* restore --at: fetch only the segments of db_rel a replay for a set started at start_us up to
 * at_us (everything after with to_latest) needs - found by binary search on the headers
 * (ranged GETs; segment times grow with their seq) - and the run records; the working tree's
 * archive/<db_rel> is emptied first. *newest_us: the last look of the bucket's newest segment
 * (what the archive is known to hold, beside the run records). 0 or -1. */
int archive_s3_fetch_at(struct target *t, struct tstore *ts, const char *db_rel, int64_t start_us,
                        int64_t at_us, bool to_latest, int64_t *newest_us, char ***rels, size_t *n);
/* A database's archive, from the bucket: count and bytes from the listing, span from the
 * headers of its first and last segment (two ranged GETs). */
int archive_s3_summary(struct tstore *ts, const char *db_rel, struct archive_summary *sum);
/* The databases with an archive in the bucket (sorted, NULL-terminated; dbglob_free). */
int archive_s3_dbs(struct tstore *ts, char ***dbs, size_t *n);
/* Parse a run record's text (name not set). 0 or -1 naming path. */
int archive_run_parse(const char *path, const char *text, size_t len, struct archive_run_rec *r);
/* The run records of the bucket. */
int archive_s3_runs(struct tstore *ts, struct archive_run_rec **runs, size_t *n);

#endif

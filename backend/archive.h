/*
 * archive.h - WAL archiving for point-in-time restore (design.md "Incremental backups",
 * seed 004 "log files"; docs/operations-pitr.md, docs/formats.md "Archive segment").
 *
 * `dvault archive` copies the WAL frames committed since the last archived position of each
 * database into the target, as immutable, checksummed segments:
 *
 *   <target>/archive/<db relpath>/<seq, 10 digits>.seg
 *
 * A segment holds whole transactions (up to a commit frame), each with the time the archiver
 * OBSERVED its commit (SQLite frames carry no time), the WAL generation (salts, checkpoint
 * sequence) and the position after it (next frame, running checksum), so a later run resumes
 * exactly there. The archiver never writes the database, never blocks writers and does not
 * take the target's lock (it runs beside backups); one archiver per target at a time
 * (<target>/archive/lock).
 *
 * WAL resets: a writer restarts the WAL (new salts) once a checkpoint has copied everything.
 * With --follow the archiver always holds a read snapshot (two connections, the next pinned
 * before the previous is released), so a reset can only happen once every frame has been
 * read: a new generation simply continues the archive. Between separate runs nothing is
 * held: frames committed after the last run may have been checkpointed and overwritten by a
 * reset before this run saw them. That is reported as a GAP (an event, archive_result.gaps,
 * the segment's GAP flag) and never bridged: point-in-time restore cannot cross it.
 */
#ifndef DV_ARCHIVE_H
#define DV_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job.h"

#define ARCHIVE_DIR "archive"
#define ARCHIVE_SEG_VERSION 1
#define ARCHIVE_SEG_HDR 128
#define ARCHIVE_SEG_TRAILER 40
#define ARCHIVE_POLL_MS 20    /* --follow: the WAL is looked at every 20 ms */
#define ARCHIVE_FLUSH_MS 1000 /* --follow: a segment is written at least every second */

enum {
    ARCHIVE_SEG_START = 1, /* first segment of a database's archive: nothing before it */
    ARCHIVE_SEG_GAP = 2,   /* frames may be missing between the previous segment and this */
    ARCHIVE_SEG_BIGCK = 4, /* the WAL's checksums are on big-endian words */
};

struct archive_opts {
    double follow_seconds; /* < 0: one pass; 0: follow until cancelled; > 0: that long */
    const char *db_glob;   /* NULL: every database of server.databases */
    struct dv_job *job;    /* events (gaps), cancellation; may be NULL */
};

struct archive_result {
    uint64_t databases; /* looked at */
    uint64_t segments;  /* written */
    uint64_t transactions, frames;
    uint64_t gaps;      /* databases with a gap reported (see events) */
    double max_poll_ms; /* worst observation error: end of a round - start of the one before */
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
    uint64_t offset;       /* file offset of its first frame record (pgno u32 + page) */
};

struct archive_seg {
    char *path; /* for messages */
    char *rel;  /* beneath the target (archive_seg_read_at), or NULL */
    uint64_t seq;
    uint32_t flags, page_size;
    uint32_t salt1, salt2, ckpt_seq;
    uint32_t first_frame, next_frame; /* WAL frame indexes: first archived, one past last */
    uint32_t cksum[2];                /* WAL running checksum after frame next_frame - 1 */
    int64_t first_us, last_us;        /* observed times of its first and last transaction */
    struct archive_txn *txns;
    size_t ntxns;
};

/* A segment is read whole: at most ARCHIVE_SEG_MAX bytes. */
#define ARCHIVE_SEG_MAX ((size_t)1 << 31)
struct fsb;
/* Read and check a segment (header CRC, records, trailer SHA-256). 0, or -1 with dv_err()
 * naming the file. archive_seg_done frees. archive_seg_read_at reads rel beneath the target's
 * root (fsb.h: no link, a regular file - a FIFO is refused, never waited on -, capped) and,
 * with data not NULL, gives the bytes checked (malloc'd) in *data, *len: a caller that reads
 * the records uses those, never a second read of the file. */
int archive_seg_read(const char *path, struct archive_seg *s);
int archive_seg_read_at(const struct fsb *root, const char *rel, struct archive_seg *s, char **data,
                        size_t *len);
void archive_seg_done(struct archive_seg *s);
/* The segments of a database in seq order (each read and checked). *segs malloc'd; free with
 * archive_segs_free. A database never archived has none (0). 0 or -1. */
int archive_list(const char *target, const char *db_rel, struct archive_seg **segs, size_t *n);
int archive_list_at(const struct fsb *root, const char *db_rel, struct archive_seg **segs,
                    size_t *n);
void archive_segs_free(struct archive_seg *segs, size_t n);

#endif

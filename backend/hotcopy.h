/*
 * hotcopy.h - a consistent copy of one live SQLite database while writers commit.
 *
 * The method (design.md, "Hot backup of a live database"):
 *   1. begin: pin the database's read snapshot (snapshot.h); record the file size and page
 *      size;
 *   2. copy: the file's bytes up to the size seen at begin, with dvault's own copy or with
 *      opts->snapshot_command ({src} {dst}); the copy may be torn where a checkpoint wrote.
 *      dvault's own copy is one read of the file feeding the copy, its SHA-256 and its page
 *      map together, hashed on two threads while the next chunk is read (dbstream.h);
 *   3. stop: read the WAL (header, then frames while salts match and checksums verify, up to
 *      the last commit frame): the delta = the newest image of each page, plus the database
 *      size at that commit; end the read transaction;
 *   4. apply (DV_DELTA_APPLY): write the delta's pages into the copy and set its size; the copy
 *      is then the database as of the stop. The delta's pages are digested again and the
 *      SHA-256 resumed from the first byte the delta changed (the state saved at that chunk).
 *      DV_DELTA_KEEP: leave the copy as made and write the delta beside it as a .delta file
 *      (format in delta.h / docs/formats.md); the page map is then patched with its pages.
 * A database not in WAL mode is copied under a short shared lock instead (BEGIN + read, so
 * writers wait; result->locked_copy is set). The copy is read from the snapshot's own
 * descriptor of the file (snapshot.h says why that matters).
 * The live database is never written: no checkpoint, no journal-mode change.
 */
#ifndef DV_HOTCOPY_H
#define DV_HOTCOPY_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "job.h"
#include "pagemap.h"

struct hotcopy_opts {
    enum dv_delta_mode delta;     /* apply (default) or keep */
    const char *snapshot_command; /* NULL or "" = dvault copies; else run with {src} {dst} */
    struct dv_job *job;           /* progress (bytes of the copy), cancellation; may be NULL */
    bool defer_sync;              /* the caller makes dst durable later (one syncfs before it
                                     relies on it): no fsync of dst and its directory here */
    bool skip_sha;                /* copy_sha256 is left "": the caller hashes the copy itself
                                     (a backup does it in its page-map pass, one read) */
    struct pagemap *pm;           /* non-NULL: receives the page map of the image (the copy
                                     after apply; the copy + its kept delta), made in the
                                     copy's one read (dbstream.h); left empty (pm->d NULL) when
                                     a snapshot command made the copy */
    int busy_ms;                  /* wait this long for a database a client holds locked
                                     (backup.lock_wait_seconds); 0 = 30 s */
};

struct hotcopy_result {
    bool wal_mode;    /* false: copied under a lock (not in WAL mode) */
    bool locked_copy; /* true when the fallback locked copy was used */
    uint32_t page_size;
    uint64_t base_size;   /* bytes copied (size seen at begin) */
    uint64_t final_size;  /* size of the database as of the stop */
    uint32_t delta_pages; /* distinct pages in the delta */
    uint32_t wal_frames;  /* committed frames read from the WAL */
    char replica_id[64];  /* dbinfo.replica_id / dbiid as of the stop, "" if absent */
    char dbiid[64];
    char copy_sha256[65];  /* of dst as left on disk (after apply, or the raw copy for keep) */
    char delta_sha256[65]; /* of the .delta file (keep), "" otherwise */
    double seconds;
};

struct fsb;
/*
 * Copy live database src to dst (a new file; its directory must exist). With DV_DELTA_KEEP
 * the delta is written to delta_path (required then, ignored otherwise). dst and delta_path
 * are relative to root (fsb.h: beneath it without links; the backup gives the set's
 * directory) and written under temporary names (O_EXCL) and renamed when complete and fsynced.
 * Returns 0, or -1 with dv_err() naming the file and the step that failed (nothing is left
 * at dst or delta_path on failure).
 */
int hotcopy_db(const char *src, const struct fsb *root, const char *dst, const char *delta_path,
               const struct hotcopy_opts *opts, struct hotcopy_result *result);

#endif

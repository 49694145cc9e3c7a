/*
 * incr.h - block-transfer incremental backups (design.md "Incremental backups", seed 004).
 *
 * An incremental copy of a database holds only the pages that changed since its origin: the
 * newest complete set in which the database was copied (the origin's "checkpoint" is its set
 * id). The live file is read page by page within a pinned read snapshot (snapshot.h, as
 * hotcopy.c does); the WAL is read at the stop; the consistent image's pages are the WAL's newest
 * committed image of a page when it has one, else the file's page (a page a checkpoint wrote
 * during the read is always in the WAL: a checkpoint only copies frames older than our
 * snapshot, and the WAL cannot be reset while we hold it). Every page of the image gets a
 * 128-bit digest (pagemap.h); the pages whose digest differs from the origin's page map are
 * stored as runs in `<db>.inc`, the new map as `<db>.pagemap`.
 *
 * .inc layout (version 1, integers big-endian; docs/formats.md ".inc"):
 *   header  256 bytes  "DVINCR\0\0", version, page size, origin size, final size, run count,
 *                      pages stored, pages total, origin set id[32], set id[32],
 *                      replica id[64], instance id[64], reserved, CRC32C of bytes 0..251
 *   run     16 bytes (offset u64, size u64; both multiples of the page size, ascending,
 *           not overlapping, within the final size), size bytes of pages, then 8 bytes:
 *           CRC32C of the run's header and data, reserved u32
 *   trailer 48 bytes   "DVITRAIL", run count u32, reserved u32, SHA-256 of every byte before
 *
 * Restore (incr_chain_build): the chain's full copy (its kept delta applied), then each
 * incremental's runs in order, the size cut to each one's final size; the result is checked
 * against the restored set's page map.
 *
 * Why restore's check passes (issue 11, case 4): a backup checks each link before it claims
 * it. A full copy's map is the copy's own digests or, with a kept delta, checked against the
 * copy with the delta applied as restore applies it; an incremental's .inc is read back and
 * checked against its origin's map and its own (incr_file_check). Both mark the map
 * PAGEMAP_F_CHECKED; a chain whose full copy has a kept delta and an unchecked map (an older
 * dvault's) is not taken as an origin. A failed check fails the set; the next one is full.
 */
#ifndef DV_INCR_H
#define DV_INCR_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "job.h"
#include "pagemap.h"
#include "target.h"

struct fsb;

#define INCR_VERSION 1
#define INCR_HDR_SIZE 256
#define INCR_RUN_HDR 16
#define INCR_RUN_TRAILER 8
#define INCR_TRAILER_SIZE 48
#define INCR_SUFFIX ".inc"
#define INCR_PAGEMAP_SUFFIX ".pagemap"

struct incr_header {
    uint32_t version;
    uint32_t page_size;
    uint64_t origin_size; /* bytes of the origin image the runs apply to */
    uint64_t final_size;  /* bytes of the image after applying */
    uint32_t run_count;
    uint64_t pages_stored, pages_total;
    char origin[32]; /* origin set id */
    char set_id[32]; /* the set holding this file */
    char replica_id[64];
    char dbiid[64];
};

/* True if a set file path is an incremental file (ends in ".inc"). */
bool incr_is_inc_path(const char *path);

/*
 * Check a .inc completely: header, every run (checksum, order, bounds), trailer, and the
 * whole file's SHA-256 against expect_sha256 (NULL or "" = not checked). h (may be NULL) gets
 * the header. 0, or -1 with dv_err() naming the file and the run at fault.
 */
int incr_file_verify(const char *path, const char *expect_sha256, struct incr_header *h);

/*
 * Check a .inc against the maps it was made from: verified completely (incr_file_verify),
 * its sizes are the origin map's and the image map's, every page it stores has the image
 * map's digest, and every page it does not store has the same digest in both maps. Then the
 * origin's image with this file applied is the image of pm. 0, or -1 with dv_err() naming
 * the file and the first page at fault. incr_file_check_fd: the .inc open on in (path names
 * it; the backup opens it beneath the set: fsb.h).
 */
int incr_file_check(const char *path, const char *expect_sha256, const struct pagemap *om,
                    const struct pagemap *pm);
int incr_file_check_fd(int in, const char *path, const char *expect_sha256,
                       const struct pagemap *om, const struct pagemap *pm);

/*
 * Apply the .inc open on in (path names it; opened by the caller beneath the target: fsb.h)
 * to the image open on fd (name for messages): verified completely first
 * (incr_file_verify), then its header is checked against the image (origin set id unless
 * origin is NULL, page size, the image's size = origin size), then its runs are written and
 * the size set to the final size, fsynced. If the file is refused, fd is not written. 0 or -1.
 */
int incr_file_apply(int in, const char *path, const char *expect_sha256, const char *origin,
                    uint32_t page_size, int fd, const char *name, struct incr_header *h);

/* ---- backup ---------------------------------------------------------------------------- */

/*
 * Decide the kind of a new set. If the newest set of the catalog failed (or was interrupted
 * and marked failed), the set is full whatever was asked (seed 004) and *why says so.
 * Otherwise an incremental is incremental when there is a complete or partial set (*origin =
 * the newest such; a database that set could not copy gets a full copy, incr_origin_find) and
 * full with *why = "no complete set to start from" when there is none.
 * *why is "" when the set is what was asked. 0 or -1.
 */
int incr_choose_kind(struct catalog *cat, bool want_incremental, enum catalog_set_kind *kind,
                     char origin[32], char *why, size_t whylen);

/* A database's origin for an incremental copy. */
struct incr_origin {
    bool usable; /* false: a full copy is needed, why says why */
    char why[256];
    char set_id[32];        /* newest complete or partial set holding the database */
    const struct fsb *root; /* the target's root (borrowed): the page map is read beneath it */
    char *pagemap_rel;      /* relative to root, malloc'd */
    char pagemap_sha256[65];
    uint32_t page_size;
    char replica_id[64], dbiid[64];
    struct target *fetched; /* S3: the target the page map was fetched from (evicted by
                               incr_origin_done); NULL for a directory */
    int busy_ms; /* set by the caller: wait this long for a database a client holds locked
                    (backup.lock_wait_seconds); 0 = 30 s */
};

/*
 * Find db_path's origin in the catalog and the target: the newest complete or partial set
 * holding it, which must still be on the target and have a page map, and no later set may
 * have failed to copy the database (a partial set: the next copy is a full one). Fills o
 * (release with
 * incr_origin_done); o->usable false with o->why when there is none. 0, or -1 on a catalog
 * error.
 */
int incr_origin_find(struct catalog *cat, struct target *t, const char *db_path,
                     struct incr_origin *o);
void incr_origin_done(struct incr_origin *o);

/*
 * Used by incr_origin_find (incr_chain.c): o->usable = whether o's chain (from o->set_id back
 * to its full copy) restores, and the full copy's page map is known right (a kept delta's map
 * must be PAGEMAP_F_CHECKED: issue 11); o->why says why not. 0 (-1 is not returned).
 */
int incr_chain_origin_ok(struct catalog *cat, struct target *t, const char *db_path,
                         struct incr_origin *o);

struct incr_result {
    bool wal_mode;
    uint32_t page_size;
    uint64_t base_size;  /* file bytes read (size at begin) */
    uint64_t final_size; /* bytes of the consistent image */
    uint64_t pages_total, pages_stored;
    uint32_t runs;
    uint32_t delta_pages; /* pages taken from the WAL */
    uint64_t inc_size;    /* bytes of the .inc */
    char inc_sha256[65];
    char pagemap_sha256[65];
    char replica_id[64], dbiid[64];
    char why[256]; /* incr_backup_db returned 1: why a full copy is needed */
    char **refs;   /* NLO names the image references, sorted (incr_result_done) */
    size_t nrefs;
    double seconds;
};

/*
 * Incremental copy of live database src against origin o (which must be usable): writes
 * inc_path and pagemap_path, relative to root (the set's directory: fsb.h), atomically;
 * nothing is left at either on failure. set_id is
 * recorded in the .inc header. Returns 0 done; 1 when the database needs a full copy (its
 * page size, replica id or instance id differ from the origin's, or the origin's page map is
 * unreadable: r->why says which; nothing written); -1 with dv_err() on failure. The live
 * database is only read. r->refs: the NLO references as of the snapshot's begin and as of
 * just after the stop (their union; docs/formats.md ".inc").
 */
int incr_backup_db(const char *src, const struct fsb *root, const char *inc_path,
                   const char *pagemap_path, const struct incr_origin *o, const char *set_id,
                   struct dv_job *job, struct incr_result *r);
void incr_result_done(struct incr_result *r);

/* ---- restore and verify (incr_chain.c) ------------------------------------------------- */

/*
 * Rebuild database db_path of set set_id into the file open on fd (out_name names it; a
 * restore's locked temporary: truncated and written in place, never renamed here - the caller
 * does that after its checks, and removes it on failure) from the chain: the full copy the
 * chain starts with (verified against its SHA-256, kept delta applied), then every incremental
 * file in order (each verified completely before it is applied). Every file of the chain is
 * opened beneath the target without links and must be a regular file (a FIFO is refused, never
 * waited on). The result is checked page by page against the set's page map. *links (may be
 * NULL) gets the number of sets used. 0, or -1 with dv_err() naming the set and file at fault
 * (a missing link names the set).
 */
int incr_chain_build(struct catalog *cat, struct target *t, const char *set_id, const char *db_path,
                     int fd, const char *out_name, struct dv_job *job, int *links);

/*
 * Verify the whole chain of db_path in set_id: rebuild it into a temporary file in the
 * target (removed afterwards), check its page digests and PRAGMA integrity_check.
 * 0, or -1 with dv_err().
 */
int incr_chain_verify(struct catalog *cat, struct target *t, const char *set_id,
                      const char *db_path);

/* Tests only: called at points of incr_backup_db ("read.half": half the file read, the
 * snapshot held; "written": the .inc written, the snapshot still held). NULL = none. */
extern void (*incr_test_hook)(const char *point, void *ud);
extern void *incr_test_hook_ud;

#endif

/*
 * nlopass.h - the NLO pass of a backup: copy every NLO of the live DAOS repository that the
 * target's pool does not hold yet.
 *
 * Runs after all databases of a set are copied. Walks <daos_dir>/NNNN/ (4-digit names only:
 * daoscat.db, daos.cfg and anything else are never touched), reads each subdirectory with
 * getdents64, keeps well-formed NLO names, sorts them and merges them with the catalog's
 * pool names for that subdirectory (paged, in name order): a known object costs no stat, no
 * open, no query. A name the merge does not match gets one point lookup (it may be pooled
 * under another subdirectory: it is then re-homed, not copied); a truly new one is copied to
 * nlo/<3 hex>/.<name>.tmp while hashed (created O_EXCL in the pool directory opened beneath the
 * target without links: fsb_tmp_open; a link or FIFO planted at that name is removed as itself
 * and reported, never written through), renamed into place, and recorded in batches: one
 * syncfs() of the target per batch, then the batch goes into the catalog in one transaction
 * (the catalog never records an object that is not durable), then the crash point
 * "nlopass.batch". Objects being written (hidden or ".tmp" names), vanished (ENOENT) or
 * unreadable ones are skipped, counted, reported (job events), and picked up next run. A
 * symbolic link, FIFO, device or directory under an NLO's name, and an NNNN subdirectory that
 * is a link, are refused (never followed or opened: O_NOFOLLOW | O_NONBLOCK, d_type), counted
 * and reported with what to do - they do not go away by themselves.
 *
 * The pool is the truth (issue 11): after the walk, every name the catalog records is checked
 * against the target's pool - the catalog's names in name order (paged) merged with the
 * listings of nlo/000 .. nlo/fff, each read once with getdents64 and sorted (a directory no
 * recorded name falls into is not read). The NLOs of one live subdirectory are spread over
 * all 4096 pool directories, so the check is a second pass in the pool's own order rather
 * than a lookup per walked name: memory stays one directory listing and one catalog page,
 * whatever the pool's size. A recorded name the pool lacks, or has as anything but a regular
 * file (symlink, FIFO: never "held"), is copied again from the subdirectory the catalog last
 * saw it in ("repaired": the row keeps its first set, gets the hash and size of the bytes
 * copied now, and is not listed in this set's NLO list) and taken out of "held"; one the
 * server no longer has either is removed from the catalog ("lost"). Both are named in job
 * events (the first 20, then counted). A pool directory that is not a real directory (a
 * symlink, a file) fails the pass: nothing is written through it.
 *
 * Measured (ext4, 2 vCPU, 200,000 NLOs in 5 subdirectories, before the pool check): first
 * pass 26 s (tiny files: dominated by create + rename + one syncfs per 2,000), each later
 * pass 0.26 s. make bench (docs/BENCHMARKS.md; 1,000,000 NLOs of 1-4 KB in 25 subdirectories,
 * shared VM), before the pool check: first pass 226 s (rsync 105 s, rsync + sync 204 s), a
 * pass with nothing new 0.83 s (find | wc -l: 1.54 s), with 1% new 3.2 s (rsync 8.8 s); peak
 * RSS 16 MiB. With the pool check (same fixture, hyperfine, 5 runs, VM at load 6, so slower
 * for every command): a backup of one database + a pass with nothing new 3.8 s (user+sys
 * 2.6 s) against 2.8 s (1.35 s) without the check and 4.2 s (3.0 s) for find | wc -l: the
 * check costs about one more directory walk (the kernel's getdents64 of 1,000,000 pool
 * entries is most of it; the catalog's names and the sorts the rest), the pass stays at
 * ~0.9x find's time; peak RSS unchanged at 16 MiB. Copy is read + hash + write with one
 * 1 MiB buffer, so the bytes are read once.
 */
#ifndef DV_NLOPASS_H
#define DV_NLOPASS_H

#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "job.h"
#include "target.h"

struct nlopass_opts {
    const char *daos_dir;  /* absolute: the live DAOS repository */
    struct target *target; /* open (locked) target */
    struct catalog *cat;
    int64_t set_seq;       /* first_set recorded for the objects stored now */
    const char *list_path; /* NLO list of the set (TARGET_NLO_LIST in its partial dir),
                              created/appended one line per new object; NULL = none */
    struct dv_job *job;    /* phase "nlo", one item per object seen; may be NULL */
    size_t batch_objects;  /* 0 = 16384 */
    uint64_t batch_bytes;  /* 0 = 256 MiB */
};

struct nlopass_result {
    uint64_t subdirs;         /* NNNN subdirectories walked */
    uint64_t seen;            /* well-formed NLO names found */
    uint64_t copied;          /* new: copied into the pool now */
    uint64_t held;            /* already in the pool (includes moved): recorded in the catalog
                                 and a regular file in the pool */
    uint64_t moved;           /* held, but found under another subdirectory than recorded */
    uint64_t repaired;        /* recorded in the catalog, missing from the pool: copied again */
    uint64_t lost;            /* recorded, missing from the pool and from the server: removed
                                 from the catalog */
    uint64_t pool_bad;        /* pool entries with an NLO name that are not regular files
                                 (symlink, FIFO, directory): not held, reported */
    uint64_t busy;            /* hidden / temporary names: being written */
    uint64_t vanished;        /* gone between listing and open */
    uint64_t unreadable;      /* could not be opened or read (EACCES, EIO) */
    uint64_t refused;         /* a symbolic link or special file under an NLO name: never followed
                                 (reported: it stays until someone replaces it) */
    uint64_t subdirs_refused; /* NNNN entries that are links or not directories (reported) */
    uint64_t ignored;         /* other names in NNNN (not NLOs, not temporary) */
    uint64_t bytes;           /* bytes copied */
    uint64_t list_count;      /* lines written to list_path */
    char list_sha256[65];     /* sha256 of list_path's whole content ("" without a list) */
    double seconds;
};

/*
 * Run the pass. Returns 0 (skipped objects are not failures: see the counts), or -1 with
 * dv_err() set: the repository cannot be read, the target cannot be written (ENOSPC...),
 * syncfs or the catalog failed, or the job was cancelled ("NLO pass cancelled"). Whatever
 * was made durable and recorded before a failure stays valid; r is filled either way.
 */
int nlopass_run(const struct nlopass_opts *o, struct nlopass_result *r);

/*
 * The pool check on an S3 target (nlopass_sweep.c): the bucket holds no directories to read
 * one at a time, so nlo/ is listed once (target_list: 1,000 keys a request, in key order =
 * name order) and merged with the catalog's names (paged); absent(ud, name) is called for
 * each recorded name the bucket does not hold, outside the listing, at most 4,096 at a time
 * (then the listing starts again from the front: only a damaged pool pays that). 0 or -1
 * (absent's -1 stops it).
 */
int nlopass_pool_sweep(struct target *t, struct catalog *cat, struct dv_job *job,
                       int (*absent)(void *ud, const char *name), void *ud);

#endif

/*
 * wal.h - reader of SQLite WAL files (https://www.sqlite.org/fileformat2.html#walformat).
 *
 * wal_scan() reads the 32-byte header, then frames while their salts equal the header's and
 * the cumulative checksum verifies, exactly like SQLite's own recovery. Only frames up to the
 * LAST commit frame count; an uncommitted or torn tail is ignored. A missing, empty or short
 * file, a bad magic/version/page size or a bad header checksum all mean "no frames" (SQLite
 * ignores such a WAL too); only I/O errors fail.
 *
 * The result keeps the newest committed image of each page (pgno -> file offset of its page
 * data), sorted by pgno: memory is O(distinct pages + frames of the largest transaction),
 * never O(file). The file is read sequentially in large chunks (WAL_READ_CHUNK).
 *
 * Concurrency: the file may be appended to (or even restarted by a writer) while it is
 * scanned; wal_scan() re-reads the header after the scan and rescans if the salts changed, so
 * the result is always one generation's committed prefix.
 */
#ifndef DV_WAL_H
#define DV_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_HDR_SIZE 32
#define WAL_FRAME_HDR_SIZE 24
#define WAL_MAGIC_LE 0x377f0682u /* checksums computed on little-endian words */
#define WAL_MAGIC_BE 0x377f0683u /* checksums computed on big-endian words */
#define WAL_VERSION 3007000u
#define WAL_READ_CHUNK (4u << 20)

/* A WAL header as SQLite would accept it (magic, version 3007000, page size, checksum). */
struct wal_hdr {
    bool big; /* checksums on big-endian words (magic 0x377f0683) */
    uint32_t page_size, ckpt_seq, salt1, salt2;
    uint32_t cksum[2]; /* the header's checksum: where the frames' running checksum starts */
};
/* Parse and check the WAL_HDR_SIZE bytes at h. True if SQLite would use the header. */
bool wal_hdr_parse(const unsigned char *h, struct wal_hdr *out);
/* SQLite's WAL checksum over n bytes (a multiple of 8), continuing from s[0], s[1]. */
void wal_cksum(bool big, const unsigned char *p, size_t n, uint32_t s[2]);

/* One committed frame, as handed to wal_scan_opts.on_commit. */
struct wal_frame {
    uint32_t index;       /* 0-based frame number in the file */
    uint32_t pgno;        /* page number (1-based) */
    uint32_t commit_size; /* db size in pages after this commit, 0 for non-commit frames */
    uint64_t offset;      /* file offset of the page data (frame header is 24 bytes before) */
};

/* The newest committed image of one page. */
struct wal_page {
    uint32_t pgno;
    uint64_t offset; /* file offset of the page data */
};

struct wal_info {
    bool valid_header;               /* false: missing/empty/short file or header rejected */
    unsigned char hdr[WAL_HDR_SIZE]; /* the header as scanned (to detect a restart) */
    bool big_endian_cksum;           /* magic 0x377f0683 */
    uint32_t page_size;              /* from the header; 0 when !valid_header */
    uint32_t ckpt_seq;
    uint32_t salt1, salt2;
    uint64_t file_size;     /* size of the file when scanned */
    uint32_t nframes;       /* committed frames (up to and including the last commit frame) */
    uint32_t ncommits;      /* commit frames among them */
    uint32_t frames_seen;   /* valid frames read, including an uncommitted tail */
    uint32_t db_pages;      /* db size in pages at the last commit; 0 when ncommits == 0 */
    uint64_t end_offset;    /* file offset just past the last committed frame (32 if none) */
    struct wal_page *pages; /* newest image per page, ascending pgno, only pgno <= db_pages */
    size_t npages;
};

struct wal_scan_opts {
    /*
     * Called once per committed transaction, in file order, with its frames (the last one
     * is the commit frame). frames is only valid during the call. Return 0 to go on, -1 to
     * abort the scan (wal_scan then fails with the message the callback set). A rescan
     * after a concurrent WAL restart calls reset() first (if set) so the caller can forget
     * what it was told. NULL members are skipped.
     */
    int (*on_commit)(void *ud, const struct wal_frame *frames, size_t n);
    void (*reset)(void *ud);
    void *ud;
};

/*
 * Scan the WAL open on fd (name is used in messages only). Fills *out (zeroed first; call
 * wal_info_free() afterwards, also on failure). opts may be NULL.
 * Returns 0 (also for a missing-content/ignored WAL: out->nframes == 0), or -1 on a read
 * error with dv_err() naming the file.
 */
int wal_scan(int fd, const char *name, const struct wal_scan_opts *opts, struct wal_info *out);

/*
 * wal_scan() of a path; a missing file (ENOENT) is an empty WAL (returns 0, no frames).
 * If fd_out is non-NULL and the file exists, the open descriptor is returned there (the
 * caller closes it; -1 when the file is missing), for wal_read_page().
 */
int wal_scan_path(const char *path, const struct wal_scan_opts *opts, struct wal_info *out,
                  int *fd_out);

/*
 * Read the images of w->pages[i .. i+n-1] from fd into buf (n * w->page_size bytes), then
 * re-read the WAL header: if a writer restarted the WAL since the scan, the frames may have
 * been overwritten and the images must not be used.
 * Returns 0 (images valid), 1 (WAL restarted: scan again), or -1 with dv_err() naming the
 * file and pgno (a short read means the WAL was truncated under us).
 * Why: a reader that pinned a snapshot with an empty WAL (read-mark 0) does not stop a
 * writer from restarting the WAL; a reader with a read-mark > 0 does, and then this never
 * returns 1.
 */
int wal_read_pages(int fd, const char *name, const struct wal_info *w, size_t i, size_t n,
                   void *buf);

/* Free what wal_scan() allocated and zero *w. NULL is a no-op. */
void wal_info_free(struct wal_info *w);

/* Path of the WAL of a database: "<db>-wal" (malloc'd). */
char *wal_path_of(const char *db_path);

#endif

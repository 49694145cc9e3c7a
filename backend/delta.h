/*
 * delta.h - dvault's .delta file: the pages a database changed while it was copied.
 *
 * A .delta holds the newest image of every page committed to the WAL up to the stop of a hot
 * copy (wal.h), so that raw copy + delta = the database as of the stop. Byte layout (version
 * 1, all integers big-endian; docs/formats.md ".delta file format"):
 *
 *   header  192 bytes  "DVDELTA\0", version, page size, base size, final size, page count,
 *                      flags, replica id[64], instance id[64], reserved, CRC32C of the header
 *   record  8 + page size bytes each, pgno strictly ascending:
 *                      pgno, CRC32C(pgno bytes + page), page image
 *   trailer 48 bytes   "DVDTRAIL", page count, reserved, SHA-256 of every byte before it
 *
 * Readers refuse (with a message naming the file and, for records, the record index and
 * pgno): a bad magic, an unknown version, a bad header checksum, a size that does not match
 * the header (truncated or extended file), a record whose checksum fails or whose pgno is out
 * of order or beyond the final size, a bad trailer.
 */
#ifndef DV_DELTA_H
#define DV_DELTA_H

#include <stdint.h>

#include "wal.h"

struct fsb;

#define DELTA_VERSION 1
#define DELTA_HDR_SIZE 192
#define DELTA_REC_HDR_SIZE 8
#define DELTA_TRAILER_SIZE 48
#define DELTA_ID_MAX 64 /* replica_id / dbiid: at most 63 bytes + NUL */

struct delta_header {
    uint32_t version;    /* DELTA_VERSION when written */
    uint32_t page_size;  /* 512 .. 65536, a power of two */
    uint64_t base_size;  /* bytes of the raw copy the delta applies to */
    uint64_t final_size; /* bytes of the database after apply */
    uint32_t page_count; /* records in the file */
    char replica_id[DELTA_ID_MAX];
    char dbiid[DELTA_ID_MAX];
};

/* ---- writing (streaming, atomic) ---- */

struct delta_writer;

/*
 * Start writing path: the file is written as "<path>.tmp.<pid>" and only renamed to path by
 * delta_writer_commit(). h->page_count records must follow (h->version is ignored: the
 * current version is written). Returns a writer, or NULL with dv_err() (bad header values,
 * ids too long, cannot create the temp file).
 */
struct delta_writer *delta_writer_new(const char *path, const struct delta_header *h);
/* The same for rel beneath root (fsb.h): the temporary ".<name>.tmp.<pid>" is created O_EXCL in
 * rel's directory, opened beneath the root without links; the rename acts on names inside it. */
struct delta_writer *delta_writer_new_at(const struct fsb *root, const char *rel,
                                         const struct delta_header *h);

/* Append one record: pgno must be > the previous one, page is h->page_size bytes.
 * Returns 0 or -1 (write error; more pages than announced; pgno out of order). */
int delta_writer_add(struct delta_writer *w, uint32_t pgno, const void *page);

/*
 * Write the trailer, fsync, rename to the final path, fsync the directory; w is freed either
 * way. sha256_hex (may be NULL) receives the SHA-256 of the whole file.
 * Returns 0, or -1 with dv_err() (also when fewer records than announced were added); the
 * temp file is removed on failure.
 */
int delta_writer_commit(struct delta_writer *w, char sha256_hex[65]);

/* Drop a writer and its temp file. NULL is a no-op. */
void delta_writer_abort(struct delta_writer *w);

/*
 * Write the newest page images of a scanned WAL as a .delta at rel beneath root (atomic). From h
 * only page_size, base_size, replica_id and dbiid are used; page_count and final_size come from the
 * WAL (final_size = w->db_pages * page_size, or base_size when the WAL has no commit). If a writer
 * restarts the WAL meanwhile, the WAL is scanned again (*w is replaced) and the delta rewritten.
 * out (may be NULL) receives the header written; sha256_hex (may be NULL) the file's SHA-256.
 * Returns 0 or -1 with dv_err(); nothing is left at path on failure.
 */
int delta_write_wal(const struct fsb *root, const char *rel, const struct delta_header *h,
                    int wal_fd, const char *wal_name, struct wal_info *w, struct delta_header *out,
                    char sha256_hex[65]);

/* ---- reading ---- */

struct delta_reader;

/*
 * Open path and check its header and its size against the header. Returns a reader, or
 * NULL with dv_err() naming the file (bad magic, version, header checksum, truncated).
 */
struct delta_reader *delta_reader_open(const char *path);
/* The same on an open descriptor (the caller keeps it; read from offset 0; path names it in
 * messages). Files beneath a root are opened with fsb_openat, others with dv_open_regular:
 * delta_reader_open and the path functions below open path that way (no FIFO is waited on). */
struct delta_reader *delta_reader_fdopen(int fd, const char *path);
const struct delta_header *delta_reader_header(const struct delta_reader *r);
/*
 * Next record: returns 1 with *pgno and *page (valid until the next call), 0 at the end once
 * the trailer has been verified, -1 with dv_err() naming the file, record index and pgno.
 */
int delta_reader_next(struct delta_reader *r, uint32_t *pgno, const void **page);
void delta_reader_free(struct delta_reader *r);

/*
 * Read and check the whole file (every record and the trailer). out and sha256_hex may be
 * NULL. Returns 0, or -1 with dv_err() saying what is wrong where.
 */
int delta_verify(const char *path, struct delta_header *out, char sha256_hex[65]);
int delta_verify_fd(int fd, const char *path, struct delta_header *out, char sha256_hex[65]);

/* ---- applying ---- */

/*
 * Apply a .delta to the raw copy db_path (opened read-write, must be base_size bytes long):
 * the delta is verified completely first, then each page is written at (pgno-1)*page_size,
 * the file is cut/extended to final_size and fsynced. Returns 0 or -1 with dv_err(); if the
 * delta is refused, db_path is not touched.
 */
int delta_apply(const char *delta_path, const char *db_path);
/* The same on open descriptors (the names for messages only). */
int delta_apply_fd(int delta_fd, const char *delta_name, int db_fd, const char *db_name);

/*
 * In-memory apply ("apply" mode, no .delta written): write the newest page images of a
 * scanned WAL straight into db_fd, set its size to the size at the last commit (unchanged
 * when the WAL has no commit); not fsynced (the caller does, or syncs the file system
 * later). Every batch of pages is checked against a WAL restart
 * before it is written; after a restart the WAL is scanned again (*w replaced) and applied
 * again. *final_size (may be NULL) receives the resulting size.
 * Returns 0 or -1 with dv_err() naming the file.
 */
int delta_apply_wal(int wal_fd, const char *wal_name, struct wal_info *w, int db_fd,
                    const char *db_name, uint64_t *final_size);

/* CRC32C (Castagnoli) of buf, continuing from crc (start with 0). */
uint32_t delta_crc32c(uint32_t crc, const void *buf, size_t n);

#endif

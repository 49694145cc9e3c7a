/*
 * pagemap.h - per-page digests of a database image (the .pagemap file).
 *
 * A page map holds one 128-bit digest per page of a consistent database image: the first 16
 * bytes of the SHA-256 of the page (SHA-256 through OpenSSL EVP; measured 1.6 GB/s on 4 KiB
 * pages against 0.6 GB/s for BLAKE2b-512 on the build machine, which has SHA extensions).
 * Each backup set stores `<db>.pagemap` beside a database's copy (full) or incremental file;
 * the next incremental compares its own page digests with it and stores only the pages
 * that differ. Restore checks the rebuilt image against the map of the set restored.
 *
 * Byte layout (version 1, integers big-endian; docs/formats.md ".pagemap"):
 *   header  64 bytes  "DVPGMAP\0", version u32, page size u32, page count u64, image size
 *                     u64, digest length u32 (16), algorithm u32 (1 = SHA-256/128),
 *                     flags u32 at 40 (PAGEMAP_F_*), reserved, CRC32C of bytes 0..59 at 60
 *   digests page count x 16 bytes, page 1 first
 *   trailer 32 bytes  SHA-256 of every byte before it
 */
#ifndef DV_PAGEMAP_H
#define DV_PAGEMAP_H

#include <stddef.h>
#include <stdint.h>

#define PAGEMAP_VERSION 1
#define PAGEMAP_HDR_SIZE 64
#define PAGEMAP_DIGEST 16
#define PAGEMAP_ALGO_SHA256_128 1
/*
 * Flag: the backup that wrote the map checked it against the image restore builds (a full
 * copy's kept delta applied as restore applies it; an incremental's file read back against the
 * origin's map). Maps written before that check (issue 11) have no flags: a full copy's map
 * with a kept delta may then be wrong, and such a chain is never an incremental's origin.
 */
#define PAGEMAP_F_CHECKED 0x1u

struct pagemap {
    uint32_t page_size;
    uint64_t npages;  /* pages of the image (image size / page size, rounded up) */
    uint64_t size;    /* bytes of the image */
    uint32_t flags;   /* PAGEMAP_F_* (written and read with the map) */
    unsigned char *d; /* npages * PAGEMAP_DIGEST bytes */
};

/* Digest of pages: a reusable context (one per thread). */
struct pagemap_hasher;
struct pagemap_hasher *pagemap_hasher_new(void);
void pagemap_hasher_free(struct pagemap_hasher *h);
/* 16-byte digest of n bytes (a page). */
void pagemap_digest(struct pagemap_hasher *h, const void *page, size_t n,
                    unsigned char out[PAGEMAP_DIGEST]);

/* Initialise an empty map for npages pages of page_size (digests zeroed); _done frees. */
void pagemap_init(struct pagemap *m, uint32_t page_size, uint64_t size);
void pagemap_done(struct pagemap *m);
/* Pointer to the digest of page pgno (1-based). */
static inline unsigned char *pagemap_at(const struct pagemap *m, uint64_t pgno)
{
    return m->d + (pgno - 1) * PAGEMAP_DIGEST;
}

struct fsb;
/* A page map is read whole: at most PAGEMAP_MAX bytes (64 M pages, a 256 GiB database of 4 KiB
 * pages); a bigger file is refused unread. */
#define PAGEMAP_MAX ((size_t)1 << 30)

/* Write m to rel beneath root atomically (fsb_write_atomic); sha256_hex (may be NULL) gets the
 * file's SHA-256. 0 or -1. */
int pagemap_write_at(const struct fsb *root, const char *rel, const struct pagemap *m,
                     char sha256_hex[65]);
/*
 * Read and check rel beneath root (fsb_read_capped: no link, a regular file - a FIFO is
 * refused, never waited on -, at most PAGEMAP_MAX bytes): header CRC, size, trailer SHA-256,
 * and the whole file's SHA-256 against expect_sha256 unless it is NULL or "". m is
 * initialised. 0, or -1 with dv_err() naming the file and what is wrong (m is then empty).
 * pagemap_read: the same for a path named by an operator (dv_read_file_capped).
 */
int pagemap_read_at(const struct fsb *root, const char *rel, const char *expect_sha256,
                    struct pagemap *m);
int pagemap_read(const char *path, const char *expect_sha256, struct pagemap *m);

/* The flags of the map at rel beneath root from its header alone (magic, CRC32C and version
 * checked; opened like pagemap_read_at): 0, or -1 with dv_err() naming the file. */
int pagemap_read_flags_at(const struct fsb *root, const char *rel, uint32_t *flags);

/*
 * The page map of a consistent image stored as a copy (open on fd; copy_path names it) plus
 * an optional kept .delta (open on delta_fd, -1 for none: the copy is the image). The delta's
 * pages replace the copy's; the image size is the delta's final size. page_size is the
 * database's. copy_sha256 (may be NULL) gets the SHA-256 of the copy's bytes as stored (not
 * the image), from the same read: a backup hashes each copy once. 0 or -1.
 */
int pagemap_of_fd(int fd, const char *copy_path, int delta_fd, const char *delta_path,
                  uint32_t page_size, struct pagemap *m, char copy_sha256[65]);
/* The same for paths an operator (or a test) names (dv_open_regular: no FIFO waited on). */
int pagemap_of_copy(const char *copy_path, const char *delta_path, uint32_t page_size,
                    struct pagemap *m);

/*
 * After the image a map was made of changed (issue 16: the map comes from the copy's one read,
 * then the hot copy's delta changes it): the map resized to new_size (pages beyond the old end
 * digested from fd) and the n pages listed in pgnos (1-based, any order; pages beyond the new
 * end ignored) digested again from the image open on fd (name for messages). 0 or -1.
 */
int pagemap_patch_fd(struct pagemap *m, int fd, const char *name, uint64_t new_size,
                     const uint32_t *pgnos, size_t n);
/*
 * The same with a kept .delta (open on delta_fd, read from offset 0; the caller keeps it):
 * the map of the copy becomes the map of the image restore builds (the delta's pages, its
 * final size, zeros for pages beyond the copy that the delta does not hold), as
 * pagemap_of_fd with that delta would make it. 0 or -1 with dv_err() naming the delta.
 */
int pagemap_patch_delta(struct pagemap *m, int delta_fd, const char *delta_path);

/*
 * Check the database file image_path (read as it is, no delta) against map m: same size,
 * every page's digest equal. what names the image in the message. 0, or -1 with dv_err()
 * naming the size or the first page that differs.
 */
int pagemap_check_image(const struct pagemap *m, const char *image_path, const char *what);
/* The same for the image open on fd (name for messages). */
int pagemap_check_fd(const struct pagemap *m, int fd, const char *name, const char *what);

#endif

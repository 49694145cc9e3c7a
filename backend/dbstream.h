/*
 * dbstream.h - one read of a database feeding its copy, its page map and its SHA-256.
 *
 * The pipeline (issue 16): the calling thread reads the source in chunks of 1 MiB (pread into
 * a ring of DBSTREAM_SLOTS buffers), writes each chunk to the copy and asks the kernel to
 * start writing it back (sync_file_range(SYNC_FILE_RANGE_WRITE): only a hint, durability stays
 * the caller's fsync or syncfs); two hasher threads take the same buffer: one digests its
 * pages (pagemap.h), the other runs the SHA-256 of the whole stream, keeping a copy of its
 * state at each chunk boundary so that a caller who later changes the copy (a hot copy's
 * delta applied) re-hashes only from the first changed byte (dbstream_sha_from). A buffer is
 * reused when both hashers are done with it: reading, writing and hashing overlap on two
 * cores, and each byte of the source is read from the kernel once.
 *
 * Exactly size bytes are streamed: a source that ends earlier (a checkpoint truncated it under
 * a hot copy) gives zeros for the rest (eof_at says where it ended), bytes beyond size are
 * ignored.
 */
#ifndef DV_DBSTREAM_H
#define DV_DBSTREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "pagemap.h"

#define DBSTREAM_CHUNK ((size_t)1 << 20)
#define DBSTREAM_SLOTS 4

struct dv_job;

struct dbstream {
    /* in */
    int src_fd;
    const char *src_name;
    int dst_fd; /* -1: no copy, hashes only */
    const char *dst_name;
    uint64_t size;      /* bytes to stream */
    uint32_t page_size; /* of the page map (512..65536, a power of two) */
    bool want_pm;       /* compute pm */
    bool want_sha;      /* compute sha256 (and the checkpoints for dbstream_sha_from) */
    bool writeback;     /* start writeback of each chunk written */
    struct dv_job *job; /* progress (bytes) and cancellation; may be NULL */
    /* out */
    struct pagemap pm; /* digests of the streamed bytes (want_pm) */
    char sha256[65];   /* of the streamed bytes (want_sha) */
    uint64_t eof_at;   /* where the source ended (size when it did not end early) */
    void **ck;         /* SHA-256 state at each chunk boundary (private) */
    uint64_t nck;
};

/* Stream s->size bytes as above. 0, or -1 with dv_err() naming the file and the step ("read
 * SRC", "write DST", "cancelled"). Call dbstream_done either way. */
int dbstream_run(struct dbstream *s);

/*
 * SHA-256 of the first size bytes of the file on fd (name for messages) when its first from
 * bytes are still the ones streamed: resumes from the state saved at the last chunk boundary
 * at or before from and reads the rest from fd (a short file: -1). 0 or -1 with dv_err().
 */
int dbstream_sha_from(const struct dbstream *s, int fd, const char *name, uint64_t from,
                      uint64_t size, char out[65]);

/* Free the page map and the saved states. */
void dbstream_done(struct dbstream *s);

#endif

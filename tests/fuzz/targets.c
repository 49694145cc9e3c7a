/*
 * targets.c - the fuzz entry points, one per parser of untrusted input. Included by the
 * libFuzzer harness (tests/fuzz/harness.c, built with clang by `make fuzz`) and by the
 * regression replay (tests/unit/test_fuzz_regress.c, built by gcc with the normal suite),
 * so a crash input found by the fuzzer is replayed through exactly the same code.
 *
 * Each entry point takes the raw input, feeds it to the parser the way dvault does
 * (through a file where the parser reads files), and returns 0. They never assert on the
 * parser's verdict: refusing garbage is the expected outcome; the sanitizers and the
 * checks below (a refused input must leave a message, a refused delta must leave the
 * database untouched) catch what is wrong.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "config.h"
#include "incr.h"
#include "pagemap.h"
#include "recover.h"
#include "delta.h"
#include "target.h"
#include "theme.h"
#include "util.h"
#include "wal.h"

/* A per-process scratch directory, removed at exit. */
static char fz_dir[64];

static void fz_cleanup(void)
{
    if (!fz_dir[0])
        return;
    static const char *const names[] = {"input", "db", "db.copy", NULL};
    for (int i = 0; names[i]; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", fz_dir, names[i]);
        unlink(p);
    }
    rmdir(fz_dir);
}

static const char *fz_path(const char *name)
{
    static char p[128];
    if (!fz_dir[0]) {
        snprintf(fz_dir, sizeof fz_dir, "%s/dvfuzz.XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(fz_dir))
            abort();
        atexit(fz_cleanup);
    }
    snprintf(p, sizeof p, "%s/%s", fz_dir, name);
    return p;
}

/* Write the input to the scratch file "input" (replacing it); returns its path. */
static const char *fz_write(const uint8_t *data, size_t size)
{
    const char *path = fz_path("input");
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || dv_write_all(fd, data, size) != 0)
        abort();
    close(fd);
    return path;
}

/* A broken invariant: say which, then abort (libFuzzer saves the input as a crash). */
static void fz_fail(const char *what)
{
    fprintf(stderr, "fuzz: %s (dv_err: \"%s\")\n", what, dv_err());
    abort();
}

/* A parser that refuses its input must say why (one line, non-empty). */
static void fz_check_err(int rc)
{
    if (rc != 0 && strcmp(dv_err(), "unknown error") == 0)
        fz_fail("refused without a message");
    if (rc != 0 && strchr(dv_err(), '\n'))
        fz_fail("message of more than one line");
}

static int fuzz_config(const uint8_t *data, size_t size)
{
    const char *path = fz_write(data, size);
    struct dv_config cfg;
    dv_seterr("%s", "");
    int rc = dv_config_load(path, &cfg);
    fz_check_err(rc);
    dv_config_done(&cfg);
    return 0;
}

static int fuzz_theme(const uint8_t *data, size_t size)
{
    const char *path = fz_write(data, size);
    struct theme t;
    dv_seterr("%s", "");
    int rc = theme_load(path, &t);
    fz_check_err(rc);
    theme_done(&t);
    return 0;
}

static int fuzz_manifest(const uint8_t *data, size_t size)
{
    /* the parser gets a buffer of exactly size bytes (no NUL after it: ASan sees overreads) */
    char *text = dv_malloc(size ? size : 1);
    memcpy(text, data, size);
    struct manifest m;
    manifest_init(&m);
    dv_seterr("%s", "");
    int rc = manifest_parse("sets/x/manifest.json", text, size, &m);
    fz_check_err(rc);
    if (rc == 0) {
        /* what was accepted must be safe to use, within the limits (issue 12: every integer
         * range-checked, seq so that the next one never overflows) and survive a round trip */
        for (size_t i = 0; i < m.ndbs; i++)
            if (!dv_path_is_safe_rel(m.dbs[i].db_path) || !dv_path_is_safe_rel(m.dbs[i].path))
                abort();
        if (m.seq < 1 || m.seq > MANIFEST_SEQ_MAX || m.started < 0 ||
            m.started > MANIFEST_TIME_MAX || m.bytes < 0 || m.bytes > MANIFEST_INT_MAX ||
            m.nlo_list.count > (uint64_t)MANIFEST_INT_MAX)
            fz_fail("manifest accepted an integer out of its range");
        for (size_t i = 0; i < m.ndbs; i++)
            if (m.dbs[i].size > (uint64_t)MANIFEST_INT_MAX ||
                m.dbs[i].pages_stored > m.dbs[i].pages_total)
                fz_fail("manifest accepted a database integer out of its range");
        size_t len = 0;
        char *json = manifest_to_json(&m, NULL, &len);
        struct manifest m2;
        manifest_init(&m2);
        if (manifest_parse("roundtrip", json, len, &m2) != 0 || m2.ndbs != m.ndbs)
            abort();
        manifest_done(&m2);
        free(json);
    }
    manifest_done(&m);
    free(text);
    return 0;
}

static int fz_nlo_cb(void *ud, const struct target_nlo_entry *e)
{
    size_t *n = ud;
    if (!target_nlo_name_valid(e->name) || strlen(e->sha256) != 64)
        abort();
    (*n)++;
    return 0;
}

static int fuzz_nlolist(const uint8_t *data, size_t size)
{
    const char *path = fz_write(data, size);
    size_t n = 0;
    dv_seterr("%s", "");
    int rc = target_nlolist_read(path, fz_nlo_cb, &n);
    fz_check_err(rc);
    return 0;
}

static int fz_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fuzz_recoverlist(const uint8_t *data, size_t size)
{
    const char *path = fz_write(data, size);
    char **names = NULL;
    size_t n = 0;
    dv_seterr("%s", "");
    int rc = recover_list_read(path, &names, &n);
    fz_check_err(rc);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (!target_nlo_name_valid(names[i]))
            fz_fail("recover list accepted an invalid NLO name");
    /* duplicates dropped (issue 12: sorted once), the first of each kept: no name twice */
    if (rc == 0 && n > 1) {
        char **s = dv_malloc(n * sizeof *s);
        memcpy(s, names, n * sizeof *s);
        qsort(s, n, sizeof *s, fz_strcmp);
        for (size_t i = 1; i < n; i++)
            if (strcmp(s[i - 1], s[i]) == 0)
                fz_fail("recover list kept a duplicate");
        free(s);
    }
    recover_names_free(names, n);
    return 0;
}

static int fuzz_wal(const uint8_t *data, size_t size)
{
    const char *path = fz_write(data, size);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        abort();
    struct wal_info w;
    if (wal_scan(fd, path, NULL, &w) == 0 && w.npages > 0) {
        /* the result must describe frames inside the file, sorted, within the db size */
        for (size_t i = 0; i < w.npages; i++) {
            if (w.pages[i].pgno == 0 || w.pages[i].pgno > w.db_pages ||
                (i && w.pages[i].pgno <= w.pages[i - 1].pgno) ||
                w.pages[i].offset + w.page_size > w.file_size)
                abort();
        }
        size_t n = w.npages < 4 ? w.npages : 4;
        void *buf = dv_malloc(n * w.page_size);
        if (wal_read_pages(fd, path, &w, 0, n, buf) < 0)
            fz_fail("pages found by the scan cannot be read");
        free(buf);
    }
    wal_info_free(&w);
    close(fd);
    return 0;
}

static uint64_t fz_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/*
 * .delta: delta_verify, then delta_apply onto a scratch database of the header's base
 * size (when that is small). A refused delta must leave the database byte-identical.
 */
static int fuzz_delta(const uint8_t *data, size_t size)
{
    const char *path = fz_write(data, size);
    struct delta_header h;
    char sha[65];
    dv_seterr("%s", "");
    int vrc = delta_verify(path, &h, sha);
    fz_check_err(vrc);
    uint64_t base = size >= 24 ? fz_be64(data + 16) : 4096;
    if (base > (1u << 20))
        base = 4096; /* the apply refuses the size mismatch: still a path worth running */
    char dbp[128];
    snprintf(dbp, sizeof dbp, "%s", fz_path("db"));
    int fd = open(dbp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    uint8_t *orig = dv_malloc(base ? base : 1);
    for (uint64_t i = 0; i < base; i++)
        orig[i] = (uint8_t)(i * 7 + 3);
    if (dv_write_all(fd, orig, base) != 0)
        abort();
    close(fd);
    dv_seterr("%s", "");
    int arc = delta_apply(path, dbp);
    fz_check_err(arc);
    if (arc == 0 && vrc != 0)
        fz_fail("delta_apply accepted what delta_verify refused");
    if (arc != 0) {
        char *now = NULL;
        size_t len = 0;
        if (dv_read_file(dbp, &now, &len) != 0 || len != base || memcmp(now, orig, base) != 0)
            fz_fail("a refused delta changed the database");
        free(now);
    }
    free(orig);
    unlink(dbp);
    return 0;
}

static uint32_t fz_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void fz_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/*
 * deltafix: the same as delta, after making every checksum right (header CRC32C, record
 * CRC32Cs, trailer SHA-256) so the fuzzer gets past them to the layout, order and size
 * rules and to the apply itself.
 */
static int fuzz_deltafix(const uint8_t *data, size_t size)
{
    uint8_t *b = dv_malloc(size ? size : 1);
    memcpy(b, data, size);
    if (size >= 192) {
        fz_put_be32(b + 188, delta_crc32c(0, b, 188));
        uint32_t ps = fz_be32(b + 12);
        if (ps >= 512 && ps <= 65536 && !(ps & (ps - 1))) {
            size_t off = 192;
            while (off + 8 + ps + 48 <= size) {
                uint32_t c = delta_crc32c(0, b + off, 4);
                fz_put_be32(b + off + 4, delta_crc32c(c, b + off + 8, ps));
                off += 8 + ps;
            }
            if (off + 48 == size) {
                char hex[65];
                dv_sha256_hex(b, off, hex);
                dv_unhex(hex, b + off + 16, 32);
            }
        }
    }
    fuzz_delta(b, size);
    free(b);
    return 0;
}

static void fz_wal_cksum(bool native_le, const uint8_t *p, size_t n, uint32_t *s1, uint32_t *s2)
{
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint32_t x0, x1;
        if (native_le) {
            x0 = (uint32_t)p[i] | (uint32_t)p[i + 1] << 8 | (uint32_t)p[i + 2] << 16 |
                 (uint32_t)p[i + 3] << 24;
            x1 = (uint32_t)p[i + 4] | (uint32_t)p[i + 5] << 8 | (uint32_t)p[i + 6] << 16 |
                 (uint32_t)p[i + 7] << 24;
        } else {
            x0 = fz_be32(p + i);
            x1 = fz_be32(p + i + 4);
        }
        *s1 += x0 + *s2;
        *s2 += x1 + *s1;
    }
}

/*
 * walfix: the same as wal, after giving the header and every whole frame the header's salts
 * and correct running checksums (frames are only read while they verify), so the fuzzer
 * explores commits, page numbers, db sizes and the newest-image map.
 */
static int fuzz_walfix(const uint8_t *data, size_t size)
{
    uint8_t *b = dv_malloc(size ? size : 1);
    memcpy(b, data, size);
    if (size >= WAL_HDR_SIZE) {
        bool le = fz_be32(b) != WAL_MAGIC_BE;
        uint32_t s1 = 0, s2 = 0;
        fz_wal_cksum(le, b, 24, &s1, &s2);
        fz_put_be32(b + 24, s1);
        fz_put_be32(b + 28, s2);
        uint32_t ps = fz_be32(b + 8);
        if (ps == 1)
            ps = 65536;
        if (ps >= 512 && ps <= 65536 && !(ps & (ps - 1))) {
            for (size_t off = WAL_HDR_SIZE; off + WAL_FRAME_HDR_SIZE + ps <= size;
                 off += WAL_FRAME_HDR_SIZE + ps) {
                memcpy(b + off + 8, b + 16, 8);
                fz_wal_cksum(le, b + off, 8, &s1, &s2);
                fz_wal_cksum(le, b + off + WAL_FRAME_HDR_SIZE, ps, &s1, &s2);
                fz_put_be32(b + off + 16, s1);
                fz_put_be32(b + off + 20, s2);
            }
        }
    }
    fuzz_wal(b, size);
    free(b);
    return 0;
}

/* .pagemap files of incremental backups */
static int fuzz_pagemap(const uint8_t *data, size_t size)
{
    const char *path = fz_write(data, size);
    struct pagemap m;
    dv_seterr("%s", "");
    int rc = pagemap_read(path, NULL, &m);
    fz_check_err(rc);
    if (rc == 0 && m.npages && !m.d)
        fz_fail("pagemap accepted without digests");
    pagemap_done(&m);
    return 0;
}

/* .inc files of incremental backups */
static int fuzz_incr(const uint8_t *data, size_t size)
{
    const char *path = fz_write(data, size);
    struct incr_header h;
    dv_seterr("%s", "");
    fz_check_err(incr_file_verify(path, NULL, &h));
    return 0;
}

/* WAL archive segments (point-in-time restore) */
static int fuzz_archseg(const uint8_t *data, size_t size)
{
    const char *path = fz_write(data, size);
    struct archive_seg sg;
    memset(&sg, 0, sizeof sg);
    dv_seterr("%s", "");
    int rc = archive_seg_read(path, &sg);
    fz_check_err(rc);
    for (size_t i = 0; rc == 0 && i < sg.ntxns; i++)
        if (sg.txns[i].offset > size)
            fz_fail("archive segment transaction beyond the file");
    archive_seg_done(&sg);
    return 0;
}

struct fuzz_target {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
};

static const struct fuzz_target fuzz_targets[] __attribute__((unused)) = {
    {"config", fuzz_config},
    {"theme", fuzz_theme},
    {"manifest", fuzz_manifest},
    {"nlolist", fuzz_nlolist},
    {"wal", fuzz_wal},
    {"walfix", fuzz_walfix},
    {"delta", fuzz_delta},
    {"deltafix", fuzz_deltafix},
    {"recoverlist", fuzz_recoverlist},
    {"pagemap", fuzz_pagemap},
    {"incr", fuzz_incr},
    {"archseg", fuzz_archseg},
    {NULL, NULL},
};

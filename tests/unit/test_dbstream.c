/* test_dbstream.c - the one-read copy pipeline (dbstream.h): its results against the plain
 * functions, and its error paths (pread and pwrite are wrapped to fail or to change the
 * source's size under the copy). */
// WRAP: pread pwrite
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dbstream.h"
#include "dvtmp.h"
#include "pagemap.h"
#include "util.h"

ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __real_pwrite(int fd, const void *buf, size_t n, off_t off);

/* Faults: on the N-th pread of fault_fd (1-based) fail with fault_errno, or first truncate
 * fault_path to cut_to bytes (a checkpoint cutting the file under the copy); the N-th pwrite
 * of any descriptor fails with ENOSPC. */
static int fault_fd = -1, read_fail_at, read_errno, write_fail_at, reads, writes;
static const char *cut_path;
static off_t cut_to = -1;
static int cut_at;

ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
    if (fd == fault_fd) {
        reads++;
        if (reads == cut_at && cut_path)
            assert_int_equal(truncate(cut_path, cut_to), 0);
        if (reads == read_fail_at) {
            errno = read_errno;
            return -1;
        }
    }
    return __real_pread(fd, buf, n, off);
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    if (write_fail_at && ++writes == write_fail_at) {
        errno = ENOSPC;
        return -1;
    }
    return __real_pwrite(fd, buf, n, off);
}

struct fx {
    char dir[256];
    char src[300], dst[300];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!dvt_mkdtemp(f->dir, sizeof f->dir, "dbstream"))
        return -1;
    snprintf(f->src, sizeof f->src, "%s/src.nsf", f->dir);
    snprintf(f->dst, sizeof f->dst, "%s/dst.nsf", f->dir);
    fault_fd = -1, read_fail_at = read_errno = write_fail_at = reads = writes = cut_at = 0;
    cut_path = NULL, cut_to = -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    unlink(f->src);
    unlink(f->dst);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A source of len bytes of a fixed pattern. */
static void make_src(const char *path, size_t len)
{
    unsigned char *b = malloc(len);
    for (size_t i = 0; i < len; i++)
        b[i] = (unsigned char)(i * 131 + (i >> 12) * 7);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(dv_write_all(fd, b, len), 0);
    close(fd);
    free(b);
}

/* Stream src into a new dst (size bytes, 4 KiB pages); returns dbstream_run's answer. */
static int stream(struct fx *f, uint64_t size, struct dbstream *s, int *dfd)
{
    int sfd = open(f->src, O_RDONLY);
    assert_true(sfd >= 0);
    *dfd = open(f->dst, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(*dfd >= 0);
    fault_fd = sfd;
    *s = (struct dbstream){.src_fd = sfd,
                           .src_name = f->src,
                           .dst_fd = *dfd,
                           .dst_name = f->dst,
                           .size = size,
                           .page_size = 4096,
                           .want_pm = true,
                           .want_sha = true,
                           .writeback = true};
    int rc = dbstream_run(s);
    fault_fd = -1;
    close(sfd);
    return rc;
}

/* s's map and hash are those of the file at path, read by the plain functions. */
static void assert_matches(struct dbstream *s, const char *path)
{
    char sha[65];
    assert_int_equal(dv_sha256_file_hex(path, sha), 0);
    assert_string_equal(s->sha256, sha);
    struct pagemap m;
    assert_int_equal(pagemap_of_copy(path, NULL, 4096, &m), 0);
    assert_int_equal(m.npages, s->pm.npages);
    assert_int_equal(m.size, s->pm.size);
    assert_memory_equal(m.d, s->pm.d, m.npages * PAGEMAP_DIGEST);
    pagemap_done(&m);
}

/* Several chunks and a partial one: the copy is the source, map and hash as read apart. */
static void test_whole(void **state)
{
    struct fx *f = *state;
    size_t len = 3 * DBSTREAM_CHUNK + 5 * 4096;
    make_src(f->src, len);
    struct dbstream s;
    int dfd;
    assert_int_equal(stream(f, len, &s, &dfd), 0);
    close(dfd);
    assert_int_equal(s.eof_at, len);
    assert_matches(&s, f->dst);
    char a[65], b[65];
    assert_int_equal(dv_sha256_file_hex(f->src, a), 0);
    assert_int_equal(dv_sha256_file_hex(f->dst, b), 0);
    assert_string_equal(a, b);
    dbstream_done(&s);
}

/* A source shorter than the size asked (it was cut before the copy): zeros for the rest. */
static void test_short_source(void **state)
{
    struct fx *f = *state;
    size_t len = DBSTREAM_CHUNK + 3 * 4096, size = len + 2 * DBSTREAM_CHUNK;
    make_src(f->src, len);
    struct dbstream s;
    int dfd;
    assert_int_equal(stream(f, size, &s, &dfd), 0);
    close(dfd);
    assert_int_equal(s.eof_at, len);
    struct stat sb;
    assert_int_equal(stat(f->dst, &sb), 0);
    assert_int_equal(sb.st_size, size);
    assert_matches(&s, f->dst);
    dbstream_done(&s);
}

/* A source bigger than the size asked (bytes appended after the copy began: ignored) is cut
 * under the copy after its first chunk was read (a checkpoint truncating it): the copy holds
 * zeros beyond the cut, exactly size bytes; map and hash describe the copy made. */
static void test_size_changes_under_copy(void **state)
{
    struct fx *f = *state;
    size_t len = 4 * DBSTREAM_CHUNK;
    make_src(f->src, len);
    cut_path = f->src;
    cut_to = (off_t)(DBSTREAM_CHUNK + 8192);
    cut_at = 2; /* before the second chunk is read */
    struct dbstream s;
    int dfd;
    assert_int_equal(stream(f, len - DBSTREAM_CHUNK, &s, &dfd), 0);
    close(dfd);
    assert_int_equal(s.eof_at, (uint64_t)cut_to);
    struct stat sb;
    assert_int_equal(stat(f->dst, &sb), 0);
    assert_int_equal(sb.st_size, len - DBSTREAM_CHUNK);
    assert_matches(&s, f->dst);
    unsigned char page[4096], zero[4096] = {0};
    int fd = open(f->dst, O_RDONLY);
    assert_int_equal(pread(fd, page, sizeof page, cut_to), (ssize_t)sizeof page);
    assert_memory_equal(page, zero, sizeof page);
    close(fd);
    dbstream_done(&s);
}

/* A read error: -1 naming the source and the error; the hashers stop. */
static void test_read_error(void **state)
{
    struct fx *f = *state;
    make_src(f->src, 3 * DBSTREAM_CHUNK);
    read_fail_at = 2, read_errno = EIO;
    struct dbstream s;
    int dfd;
    assert_int_equal(stream(f, 3 * DBSTREAM_CHUNK, &s, &dfd), -1);
    close(dfd);
    assert_non_null(strstr(dv_err(), "read "));
    assert_non_null(strstr(dv_err(), f->src));
    assert_non_null(strstr(dv_err(), strerror(EIO)));
    dbstream_done(&s);
}

/* A write error (the target full): -1 naming the copy. */
static void test_write_error(void **state)
{
    struct fx *f = *state;
    make_src(f->src, 3 * DBSTREAM_CHUNK);
    write_fail_at = 3;
    struct dbstream s;
    int dfd;
    assert_int_equal(stream(f, 3 * DBSTREAM_CHUNK, &s, &dfd), -1);
    close(dfd);
    assert_non_null(strstr(dv_err(), "write "));
    assert_non_null(strstr(dv_err(), f->dst));
    assert_non_null(strstr(dv_err(), strerror(ENOSPC)));
    dbstream_done(&s);
}

/* The copy changed after the stream (a delta applied): the hash resumed from the first changed
 * byte and the map patched equal a fresh read's, whether it grew or shrank. */
static void test_resume_and_patch(void **state)
{
    struct fx *f = *state;
    size_t len = 4 * DBSTREAM_CHUNK;
    make_src(f->src, len);
    for (int grow = 0; grow < 2; grow++) {
        struct dbstream s;
        int dfd;
        assert_int_equal(stream(f, len, &s, &dfd), 0);
        unsigned char page[4096];
        memset(page, 0xA5, sizeof page);
        uint32_t pg[] = {600, 300, 2}; /* chunk 2, chunk 1, chunk 0 */
        for (size_t i = 0; i < 3; i++)
            assert_int_equal(dv_pwrite_all(dfd, page, sizeof page, (off_t)(pg[i] - 1) * 4096), 0);
        uint64_t size = grow ? len + 3 * 4096 : len - DBSTREAM_CHUNK - 4096;
        assert_int_equal(ftruncate(dfd, (off_t)size), 0);
        assert_int_equal(pagemap_patch_fd(&s.pm, dfd, f->dst, size, pg, 3), 0);
        char sha[65], want[65];
        assert_int_equal(dbstream_sha_from(&s, dfd, f->dst, 4096, size, sha), 0);
        close(dfd);
        assert_int_equal(dv_sha256_file_hex(f->dst, want), 0);
        assert_string_equal(sha, want);
        memcpy(s.sha256, want, sizeof want);
        assert_matches(&s, f->dst);
        dbstream_done(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_whole, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_changes_under_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_and_patch, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

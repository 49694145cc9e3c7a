/* util.c - see util.h. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

static _Thread_local char err_buf[DV_ERR_MAX];

/*
 * Messages are one line and often quote hostile input (a theme value, a manifest string, a
 * file name from a damaged target): control characters (newlines, ESC sequences that would
 * drive the terminal), C1 controls and invalid UTF-8 become \xNN (dv_escape). Found by the
 * theme fuzzer (tests/fuzz/regress/theme).
 */
static void err_clean(void)
{
    char tmp[DV_ERR_MAX];
    dv_escape(err_buf, tmp, sizeof tmp);
    memcpy(err_buf, tmp, sizeof tmp);
}

void dv_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    err_clean();
}

void dv_preferr(const char *fmt, ...)
{
    char prefix[DV_ERR_MAX], old[DV_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", err_buf);
    if (snprintf(err_buf, sizeof err_buf, "%s: %s", prefix, old) >= (int)sizeof err_buf)
        err_buf[sizeof err_buf - 1] = '\0'; /* truncated messages are still one line */
    err_clean();
}

const char *dv_err(void)
{
    return err_buf[0] ? err_buf : "unknown error";
}

void dv_syserr(const char *fmt, ...)
{
    int e = errno;
    char msg[DV_ERR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (snprintf(err_buf, sizeof err_buf, "%s: %s", msg, strerror(e)) >= (int)sizeof err_buf)
        err_buf[sizeof err_buf - 1] = '\0';
    err_clean();
    errno = e;
}

void *dv_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("dvault: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *dv_calloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) {
        fputs("dvault: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *dv_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("dvault: out of memory\n", stderr);
        abort();
    }
    return q;
}

char *dv_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = dv_malloc(n);
    memcpy(d, s, n);
    return d;
}

char *dv_asprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = dv_malloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

char *dv_path_join(const char *a, const char *b)
{
    if (b[0] == '/' || a[0] == '\0')
        return dv_strdup(b);
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    return dv_asprintf("%.*s/%s", (int)la, a, b);
}

char *dv_dirname(const char *path)
{
    const char *s = strrchr(path, '/');
    if (!s)
        return dv_strdup(".");
    if (s == path)
        return dv_strdup("/");
    return dv_asprintf("%.*s", (int)(s - path), path);
}

char *dv_path_abs(const char *base, const char *path)
{
    if (path[0] == '/')
        return dv_strdup(path);
    if (strcmp(base, ".") == 0 || base[0] == '\0') {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd))
            return dv_strdup(path);
        return dv_path_join(cwd, path);
    }
    if (base[0] != '/') {
        char cwd[PATH_MAX];
        if (getcwd(cwd, sizeof cwd)) {
            char *b = dv_path_join(cwd, base);
            char *r = dv_path_join(b, path);
            free(b);
            return r;
        }
    }
    return dv_path_join(base, path);
}

/* Lexical normalisation of an absolute path: "/a//b/./c/../d" -> "/a/b/d" (malloc'd). */
static char *path_lexical(const char *abs)
{
    size_t n = strlen(abs);
    char *out = dv_malloc(n + 2);
    size_t o = 0;
    const char *p = abs;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t len = (size_t)(e - p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
            /* nothing */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--; /* the '/' before the dropped part; ".." of "/" is "/" */
        } else {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p = e;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return out;
}

char *dv_path_canon(const char *path)
{
    char *abs = dv_path_abs(".", path);
    size_t cut = strlen(abs);
    char *res = NULL;
    while (!res) {
        /* abs[0..cut) is the prefix tried: the whole path, then without its last part ... */
        char keep = abs[cut];
        abs[cut] = '\0';
        char *real = realpath(cut ? abs : "/", NULL);
        abs[cut] = keep;
        if (real) {
            char *joined = dv_asprintf("%s/%s", real, abs + cut);
            free(real);
            res = path_lexical(joined);
            free(joined);
        } else if (cut == 0) {
            res = path_lexical(abs);
        } else {
            while (cut > 0 && abs[cut - 1] == '/')
                cut--;
            while (cut > 0 && abs[cut - 1] != '/')
                cut--;
        }
    }
    free(abs);
    return res;
}

bool dv_path_within(const char *p, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return true;
    return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

bool dv_path_is_safe_rel(const char *rel)
{
    if (!rel || !rel[0] || rel[0] == '/')
        return false;
    const char *p = rel;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        if (!e)
            break;
        p = e + 1;
        if (!*p)
            return false;
    }
    return true;
}

int dv_mkdirs(const char *path, mode_t mode)
{
    char *p = dv_strdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            dv_syserr("mkdir %s", p);
            free(p);
            return -1;
        }
        *s = '/';
    }
    if (mkdir(p, mode) != 0 && errno != EEXIST) {
        dv_syserr("mkdir %s", p);
        free(p);
        return -1;
    }
    free(p);
    return 0;
}

int dv_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        dv_syserr("open directory %s", dir);
        return -1;
    }
    int rc = fsync(fd);
    if (rc != 0 && errno != EINVAL)
        dv_syserr("fsync directory %s", dir);
    else
        rc = 0;
    close(fd);
    return rc;
}

int dv_fsync_parent(const char *path)
{
    char *d = dv_dirname(path);
    int rc = dv_fsync_dir(d);
    free(d);
    return rc;
}

int dv_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int dv_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t dv_pread_full(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(fd, p + got, len - got, off + (off_t)got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int dv_write_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
    char *tmp = dv_asprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        dv_syserr("create %s", tmp);
        free(tmp);
        return -1;
    }
    if (dv_write_all(fd, buf, len) != 0) {
        dv_syserr("write %s", tmp);
        goto fail;
    }
    if (fsync(fd) != 0) {
        dv_syserr("fsync %s", tmp);
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        dv_syserr("close %s", tmp);
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        dv_syserr("rename %s to %s", tmp, path);
        goto fail;
    }
    free(tmp);
    return dv_fsync_parent(path);
fail:
    if (fd >= 0)
        close(fd);
    int e = errno;
    unlink(tmp);
    errno = e;
    free(tmp);
    return -1;
}

int dv_open_regular(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        dv_syserr("open %s", path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        dv_syserr("stat %s", path);
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        dv_seterr("%s is not a regular file (%s): refused", path,
                  S_ISFIFO(st.st_mode)   ? "a FIFO"
                  : S_ISCHR(st.st_mode)  ? "a character device"
                  : S_ISBLK(st.st_mode)  ? "a block device"
                  : S_ISDIR(st.st_mode)  ? "a directory"
                  : S_ISSOCK(st.st_mode) ? "a socket"
                                         : "not a file");
        close(fd);
        errno = EINVAL;
        return -1;
    }
    if (!(flags & O_NONBLOCK)) {
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    return fd;
}

int dv_read_file_capped(const char *path, size_t cap, char **buf, size_t *len)
{
    int fd = dv_open_regular(path, O_RDONLY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        dv_syserr("stat %s", path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > cap) {
        dv_seterr("%s: %lld bytes, more than the %zu it may hold: refused", path,
                  (long long)st.st_size, cap);
        close(fd);
        return -1;
    }
    size_t want = (size_t)st.st_size + 1;
    char *b = dv_malloc(want + 1);
    ssize_t n = dv_pread_full(fd, b, want, 0);
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        dv_syserr("read %s", path);
        free(b);
        return -1;
    }
    if ((size_t)n > (size_t)st.st_size) {
        dv_seterr("%s changed while read: refused", path);
        free(b);
        return -1;
    }
    b[n] = '\0';
    *buf = b;
    if (len)
        *len = (size_t)n;
    return 0;
}

int dv_read_file(const char *path, char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dv_syserr("open %s", path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        dv_syserr("stat %s", path);
        close(fd);
        return -1;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    char *b = dv_malloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            b = dv_realloc(b, cap);
        }
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            dv_syserr("read %s", path);
            free(b);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    b[n] = '\0';
    *buf = b;
    if (len)
        *len = n;
    return 0;
}

int64_t dv_copy_range(int in, off_t in_off, int out, off_t out_off, uint64_t len)
{
    uint64_t done = 0;
    static _Thread_local bool no_cfr;
    while (done < len && !no_cfr) {
        loff_t io = in_off + (off_t)done, oo = out_off + (off_t)done;
        size_t chunk = len - done > (1u << 30) ? (1u << 30) : (size_t)(len - done);
        ssize_t n = copy_file_range(in, &io, out, &oo, chunk, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL) {
                no_cfr = errno != EXDEV; /* EXDEV is per pair; the rest are per kernel/fs */
                break;
            }
            return -1;
        }
        if (n == 0)
            return (int64_t)done;
        done += (uint64_t)n;
    }
    if (done >= len)
        return (int64_t)done;
    size_t bufsz = 1 << 20;
    char *buf = dv_malloc(bufsz);
    while (done < len) {
        size_t want = len - done > bufsz ? bufsz : (size_t)(len - done);
        ssize_t n = dv_pread_full(in, buf, want, in_off + (off_t)done);
        if (n < 0) {
            free(buf);
            return -1;
        }
        if (n == 0)
            break;
        if (dv_pwrite_all(out, buf, (size_t)n, out_off + (off_t)done) != 0) {
            free(buf);
            return -1;
        }
        done += (uint64_t)n;
    }
    free(buf);
    return (int64_t)done;
}

int dv_copy_file_atomic(const char *src, const char *dst, mode_t mode)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        dv_syserr("open %s", src);
        return -1;
    }
    int rc = dv_copy_fd_atomic(in, src, dst, mode);
    close(in);
    return rc;
}

int dv_copy_fd_atomic(int in, const char *src, const char *dst, mode_t mode)
{
    struct stat st;
    if (fstat(in, &st) != 0) {
        dv_syserr("stat %s", src);
        return -1;
    }
    char *tmp = dv_asprintf("%s.tmp.%ld", dst, (long)getpid());
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) {
        dv_syserr("create %s", tmp);
        free(tmp);
        return -1;
    }
    int64_t n = dv_copy_range(in, 0, out, 0, (uint64_t)st.st_size);
    if (n < 0 || (uint64_t)n != (uint64_t)st.st_size) {
        if (n < 0)
            dv_syserr("copy %s to %s", src, tmp);
        else
            dv_seterr("copy %s: file shrank while copying", src);
        goto fail;
    }
    if (fsync(out) != 0) {
        dv_syserr("fsync %s", tmp);
        goto fail;
    }
    close(out);
    out = -1;
    if (rename(tmp, dst) != 0) {
        dv_syserr("rename %s to %s", tmp, dst);
        goto fail;
    }
    free(tmp);
    return dv_fsync_parent(dst);
fail:
    if (out >= 0)
        close(out);
    unlink(tmp);
    free(tmp);
    return -1;
}

void dv_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int dv_unhex(const char *hex, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return 0;
}

void dv_sha256_hex(const void *buf, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
    dv_hex(md, 32, out);
}

int dv_sha256_file_hex(const char *path, char out[65])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        dv_syserr("open %s", path);
        return -1;
    }
    int rc = dv_sha256_fd_hex(fd, path, out);
    close(fd);
    return rc;
}

int dv_sha256_fd_hex(int fd, const char *name, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    size_t bufsz = 1 << 20;
    char *buf = dv_malloc(bufsz);
    int rc = 0;
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, bufsz, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            dv_syserr("read %s", name);
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        EVP_DigestUpdate(ctx, buf, (size_t)n);
        off += n;
    }
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    free(buf);
    if (rc == 0)
        dv_hex(md, 32, out);
    return rc;
}

void dv_random(void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            perror("getrandom");
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

int64_t dv_now(void)
{
    return (int64_t)time(NULL);
}

int64_t dv_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double dv_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void dv_fmt_time(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t <= 0 || !localtime_r(&tt, &tm)) {
        snprintf(buf, n, "-");
        return;
    }
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

int64_t dv_parse_time(const char *s)
{
    if (!s || !*s)
        return -1;
    long v;
    if (s[0] == '@')
        return dv_parse_long(s + 1, 0, LONG_MAX, &v) == 0 ? v : -1;
    if (dv_parse_long(s, 0, LONG_MAX, &v) == 0)
        return v;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *fmts[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++) {
        memset(&tm, 0, sizeof tm);
        const char *e = strptime(s, fmts[i], &tm);
        if (e && *e == '\0') {
            tm.tm_isdst = -1;
            time_t t = mktime(&tm);
            return t == (time_t)-1 ? -1 : (int64_t)t;
        }
    }
    return -1;
}

void dv_fmt_bytes(uint64_t n, char *buf, size_t len)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 5) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
}

int dv_parse_long(const char *s, long min, long max, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

void dv_crashpoint(const char *name)
{
    static const char *spec;
    static bool loaded;
    static long hits;
    if (!loaded) {
        spec = getenv("DV_CRASH_AT");
        loaded = true;
    }
    if (!spec)
        return;
    size_t n = strlen(name);
    if (strncmp(spec, name, n) != 0)
        return;
    if (spec[n] == '\0') {
        kill(getpid(), SIGKILL);
    } else if (spec[n] == ':') {
        long want = atol(spec + n + 1);
        if (++hits >= want)
            kill(getpid(), SIGKILL);
    }
}

/* ---- escaping text for a terminal ------------------------------------------------------ */

/*
 * Length of the character at s (avail bytes) when it is valid UTF-8, else 0; *cp gets its
 * code point. Overlong forms, surrogates and code points above U+10FFFF are invalid.
 */
static size_t utf8_char(const unsigned char *s, size_t avail, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    if (avail < n || s[1] < lo || s[1] > hi)
        return 0;
    uint32_t v = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (s[i] & 0x3f);
    }
    *cp = v;
    return n;
}

/* What to do with the bytes at s: 0 = copy k bytes as they are, 1 = escape k bytes. */
static int esc_class(const unsigned char *s, size_t avail, size_t *k, uint32_t *cp)
{
    size_t n = utf8_char(s, avail, cp);
    if (n == 0) {
        *k = 1;
        return 1;
    }
    *k = n;
    return *cp < 0x20 || (*cp >= 0x7f && *cp <= 0x9f);
}

size_t dv_escape_mem(const void *in, size_t len, char *out, size_t n)
{
    const unsigned char *s = in;
    size_t need = 0, o = 0;
    bool full = n == 0;
    for (size_t i = 0; i < len;) {
        size_t k;
        uint32_t cp;
        int esc = esc_class(s + i, len - i, &k, &cp);
        size_t w = esc ? 4 * k : k;
        if (!full && o + w < n) {
            if (esc) {
                for (size_t j = 0; j < k; j++) {
                    static const char hex[] = "0123456789abcdef";
                    out[o++] = '\\';
                    out[o++] = 'x';
                    out[o++] = hex[s[i + j] >> 4];
                    out[o++] = hex[s[i + j] & 15];
                }
            } else {
                memcpy(out + o, s + i, k);
                o += k;
            }
        } else {
            full = true; /* never a part of an escape or of a character */
        }
        need += w;
        i += k;
    }
    if (n)
        out[o] = '\0';
    return need;
}

size_t dv_escape(const char *in, char *out, size_t n)
{
    return dv_escape_mem(in ? in : "", in ? strlen(in) : 0, out, n);
}

char *dv_escape_dup(const char *in)
{
    size_t need = dv_escape(in, NULL, 0);
    char *out = dv_malloc(need + 1);
    dv_escape(in, out, need + 1);
    return out;
}

#define ESC_RING 8
static _Thread_local char *esc_ring[ESC_RING];
static _Thread_local unsigned esc_next;

const char *dv_esc(const char *in)
{
    unsigned i = esc_next++ % ESC_RING;
    free(esc_ring[i]);
    esc_ring[i] = dv_escape_dup(in);
    return esc_ring[i];
}

char *dv_file_uri(const char *path, const char *params)
{
    size_t n = strlen(path);
    char *u = dv_malloc(n * 3 + strlen(params) + 16), *o = u;
    o += sprintf(o, "file:");
    for (const char *p = path; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '%' || ch == '?' || ch == '#' || ch <= ' ' || ch >= 0x7f)
            o += sprintf(o, "%%%02X", ch);
        else
            *o++ = (char)ch;
    }
    sprintf(o, "?%s", params);
    return u;
}

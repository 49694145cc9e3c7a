/*
 * s3probe.c - the S3 client (backend/s3.h) on the command line, for tests/e2e/s3_client.sh and
 * by hand against a gateway. Not installed.
 *
 *   s3probe [OPTIONS] ENDPOINT COMMAND ARGS...
 *     -c FILE   credentials file (else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)
 *     -r N      retries (default 4)     -b MS  first backoff (default 200)
 *     -p N      transfers in flight     -P MB  multipart part size in MiB
 *     -l MODE:SECONDS  Object Lock retention for uploads (GOVERNANCE:60)
 *     -m MD5    send this Content-MD5 instead of the real one (put)
 *     -v        say each retry on stderr ("s3probe: retry: <why>")
 *   commands:
 *     mb BUCKET [lock]            put BUCKET KEY FILE          putfd BUCKET KEY FILE
 *     get BUCKET KEY OUT [CAP]    range BUCKET KEY OFF LEN OUT  head BUCKET KEY [VERSION]
 *     rm BUCKET KEY [VERSION]     ls BUCKET PREFIX [MAXKEYS]   versions BUCKET PREFIX
 *     uploads BUCKET PREFIX       mpu-start BUCKET KEY          mpu-abort BUCKET KEY ID
 *     batch BUCKET PREFIX N SIZE  (N objects PREFIX<i> of SIZE bytes, in parallel)
 * Output: what was asked, one item a line; errors as "s3probe: <message>" and
 * "s3probe: code <S3 code>" on stderr, exit 1 (3 when the object does not exist).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "s3.h"
#include "util.h"

static int fail(void)
{
    fprintf(stderr, "s3probe: %s\n", dv_err());
    if (s3_err_code()[0])
        fprintf(stderr, "s3probe: code %s\n", s3_err_code());
    return errno == ENOENT ? 3 : 1;
}

static void on_retry(void *arg, const char *why)
{
    fprintf(stderr, "s3probe: retry: %s\n", why);
    fflush(stderr);
}

static void usage(void)
{
    fprintf(stderr, "usage: s3probe [-v] [-c FILE] [-r N] [-b MS] [-p N] [-P MB] [-l MODE:SECONDS] "
                    "[-m MD5] ENDPOINT COMMAND ARGS...\n");
    exit(2);
}

static void print_info(const struct s3_info *i)
{
    printf("size %llu\netag %s\nversion %s\nlock %s\nuntil %s\n", (unsigned long long)i->size,
           i->etag, i->version_id[0] ? i->version_id : "-", i->lock_mode[0] ? i->lock_mode : "-",
           i->retain_until[0] ? i->retain_until : "-");
}

static int cmd_ls(struct s3 *s, int argc, char **argv)
{
    int max = argc > 2 ? atoi(argv[2]) : 0, pages = 0;
    char *token = NULL;
    for (;;) {
        struct s3_listing l;
        int rc = s3_list(s, argv[0], argv[1], token, max, &l);
        free(token);
        token = NULL;
        if (rc < 0)
            return fail();
        pages++;
        for (size_t i = 0; i < l.n; i++)
            printf("%s %llu\n", l.v[i].key, (unsigned long long)l.v[i].size);
        if (l.truncated)
            token = dv_strdup(l.next_token);
        s3_listing_free(&l);
        if (!token)
            break;
    }
    fprintf(stderr, "pages %d\n", pages);
    return 0;
}

static int cmd_versions(struct s3 *s, char **argv, bool uploads)
{
    char *km = NULL, *vm = NULL;
    for (;;) {
        struct s3_listing l;
        int rc = uploads ? s3_list_uploads(s, argv[0], argv[1], km, vm, &l)
                         : s3_list_versions(s, argv[0], argv[1], km, vm, 0, &l);
        free(km);
        free(vm);
        km = vm = NULL;
        if (rc < 0)
            return fail();
        for (size_t i = 0; i < l.n; i++)
            if (uploads)
                printf("%s %s\n", l.v[i].key, l.v[i].upload_id);
            else
                printf("%s %s %s%s\n", l.v[i].key, l.v[i].version_id,
                       l.v[i].is_latest ? "latest" : "old",
                       l.v[i].delete_marker ? " deletemarker" : "");
        if (l.truncated) {
            km = dv_strdup(l.next_key_marker);
            const char *m = uploads ? l.next_upload_marker : l.next_version_marker;
            vm = m ? dv_strdup(m) : NULL;
        }
        s3_listing_free(&l);
        if (!km)
            break;
    }
    return 0;
}

static int cmd_batch(struct s3 *s, char **argv, const struct s3_put_opts *po)
{
    long n = atol(argv[2]), size = atol(argv[3]);
    struct s3_batch_item *it = dv_calloc((size_t)n, sizeof *it);
    char **bufs = dv_calloc((size_t)n, sizeof *bufs);
    for (long i = 0; i < n; i++) {
        bufs[i] = dv_malloc((size_t)size + 1);
        for (long k = 0; k < size; k++)
            bufs[i][k] = (char)('a' + (i + k) % 26);
        it[i].key = dv_asprintf("%s%06ld", argv[1], i);
        it[i].buf = bufs[i];
        it[i].len = (size_t)size;
    }
    int rc = s3_put_batch(s, argv[0], it, (size_t)n, po);
    long attempts = 0, stored = 0;
    for (long i = 0; i < n; i++) {
        attempts += it[i].attempts;
        stored += it[i].rc == 0;
        free((char *)it[i].key);
        free(bufs[i]);
    }
    printf("stored %ld attempts %ld\n", stored, attempts);
    free(it);
    free(bufs);
    return rc < 0 ? fail() : 0;
}

static int read_file(const char *path, char **buf, size_t *len)
{
    return dv_read_file_capped(path, 1u << 30, buf, len);
}

static int run(struct s3 *s, const char *cmd, int argc, char **argv, const struct s3_put_opts *po)
{
    struct s3_info info;
    memset(&info, 0, sizeof info);
#define NEED(n)                                                                                    \
    do {                                                                                           \
        if (argc < (n))                                                                            \
            usage();                                                                               \
    } while (0)
    if (strcmp(cmd, "mb") == 0) {
        NEED(1);
        return s3_bucket_create(s, argv[0], argc > 1 && strcmp(argv[1], "lock") == 0) < 0 ? fail()
                                                                                          : 0;
    }
    if (strcmp(cmd, "put") == 0 || strcmp(cmd, "putfd") == 0) {
        NEED(3);
        int rc;
        if (cmd[3] == 'f') {
            int fd = dv_open_regular(argv[2], O_RDONLY);
            struct stat st;
            if (fd < 0 || fstat(fd, &st) < 0)
                return fail();
            rc = s3_put_fd(s, argv[0], argv[1], fd, (uint64_t)st.st_size, po, &info);
            close(fd);
        } else {
            char *buf;
            size_t len;
            if (read_file(argv[2], &buf, &len) < 0)
                return fail();
            rc = s3_put(s, argv[0], argv[1], buf, len, po, &info);
            free(buf);
        }
        if (rc < 0)
            return fail();
        print_info(&info);
        return 0;
    }
    if (strcmp(cmd, "get") == 0) {
        NEED(3);
        char *buf;
        size_t len;
        size_t cap = argc > 3 ? (size_t)atol(argv[3]) : (size_t)1 << 30;
        if (s3_get(s, argv[0], argv[1], cap, &buf, &len, &info) < 0)
            return fail();
        int rc = dv_write_atomic(argv[2], buf, len, 0600);
        free(buf);
        return rc < 0 ? fail() : 0;
    }
    if (strcmp(cmd, "range") == 0) {
        NEED(5);
        size_t len = (size_t)atol(argv[3]), got;
        char *buf = dv_malloc(len ? len : 1);
        if (s3_get_range(s, argv[0], argv[1], (uint64_t)atoll(argv[2]), len, buf, &got) < 0)
            return fail();
        int rc = dv_write_atomic(argv[4], buf, got, 0600);
        free(buf);
        return rc < 0 ? fail() : 0;
    }
    if (strcmp(cmd, "head") == 0) {
        NEED(2);
        if (s3_head(s, argv[0], argv[1], argc > 2 ? argv[2] : NULL, &info) < 0)
            return fail();
        print_info(&info);
        return 0;
    }
    if (strcmp(cmd, "rm") == 0) {
        NEED(2);
        return s3_delete(s, argv[0], argv[1], argc > 2 ? argv[2] : NULL) < 0 ? fail() : 0;
    }
    if (strcmp(cmd, "ls") == 0) {
        NEED(2);
        return cmd_ls(s, argc, argv);
    }
    if (strcmp(cmd, "versions") == 0 || strcmp(cmd, "uploads") == 0) {
        NEED(2);
        return cmd_versions(s, argv, cmd[0] == 'u');
    }
    if (strcmp(cmd, "mpu-start") == 0) {
        NEED(2);
        char *id = s3_mpu_create(s, argv[0], argv[1], po);
        if (!id)
            return fail();
        printf("%s\n", id);
        free(id);
        return 0;
    }
    if (strcmp(cmd, "mpu-abort") == 0) {
        NEED(3);
        return s3_mpu_abort(s, argv[0], argv[1], argv[2]) < 0 ? fail() : 0;
    }
    if (strcmp(cmd, "batch") == 0) {
        NEED(4);
        return cmd_batch(s, argv, po);
    }
    usage();
    return 2;
}

int main(int argc, char **argv)
{
    struct s3_opts o = {.retries = -1};
    struct s3_put_opts po = {0};
    const char *cred = NULL;
    char mode[16];
    int c;
    while ((c = getopt(argc, argv, "c:r:b:p:P:l:m:v")) != -1) {
        switch (c) {
        case 'c':
            cred = optarg;
            break;
        case 'r':
            o.retries = atoi(optarg);
            break;
        case 'b':
            o.backoff_ms = atoi(optarg);
            break;
        case 'p':
            o.parallel = atoi(optarg);
            break;
        case 'P':
            o.part_size = (uint64_t)atol(optarg) << 20;
            break;
        case 'l': {
            long secs = 0;
            if (sscanf(optarg, "%15[A-Z]:%ld", mode, &secs) != 2)
                usage();
            po.lock_mode = mode;
            po.retain_until = (int64_t)time(NULL) + secs;
            break;
        }
        case 'm':
            po.content_md5 = optarg;
            break;
        case 'v':
            o.on_retry = on_retry;
            break;
        default:
            usage();
        }
    }
    if (argc - optind < 2)
        usage();
    char *ak, *sk;
    if (s3_credentials(cred, &ak, &sk) < 0)
        return fail();
    o.endpoint = argv[optind];
    o.access_key = ak;
    o.secret_key = sk;
    struct s3 *s = s3_open(&o);
    free(ak);
    s3_secret_free(sk);
    if (!s)
        return fail();
    int rc = run(s, argv[optind + 1], argc - optind - 2, argv + optind + 2, &po);
    s3_close(s);
    return rc;
}

/* test_nlopass.c - the NLO pass on a real directory tree, target and catalog. */
// WRAP: openat
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dvtmp.h"
#include "catalog.h"
#include "nlopass.h"
#include "target.h"
#include "util.h"

/* openat is wrapped: count opens of live NLOs, and make one name vanish on open. */
int __real_openat(int dirfd, const char *path, int flags, ...);
static int nlo_opens;
static char vanish_name[128];

int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".nlo") == 0) {
        nlo_opens++;
        if (vanish_name[0] && strcmp(path, vanish_name) == 0)
            unlinkat(dirfd, path, 0);
    }
    return __real_openat(dirfd, path, flags, mode);
}

struct fx {
    char dir[256];
    char *data, *daos, *tpath, *cpath;
    struct target *t;
    struct catalog *c;
};

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "nlopass"));
    f->data = dv_path_join(f->dir, "data");
    f->daos = dv_path_join(f->data, "daos");
    f->tpath = dv_path_join(f->dir, "backup");
    f->cpath = dv_path_join(f->dir, "catalog.db");
    assert_int_equal(dv_mkdirs(f->daos, 0755), 0);
    {
        struct target_identity tid;
        if (target_init(f->tpath, NULL, &tid, NULL) != 0)
            fail_msg("%s", dv_err());
    }
    nlo_opens = 0;
    vanish_name[0] = '\0';
    *state = f;
    return 0;
}

static void open_all(struct fx *f)
{
    f->t = target_open(f->tpath);
    if (!f->t)
        fail_msg("%s", dv_err());
    f->c = catalog_open(f->cpath);
    if (!f->c)
        fail_msg("%s", dv_err());
}

static void close_all(struct fx *f)
{
    catalog_close(f->c);
    target_close(f->t);
    f->c = NULL;
    f->t = NULL;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    close_all(f);
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->data);
    free(f->daos);
    free(f->tpath);
    free(f->cpath);
    free(f);
    return 0;
}

/* Write an NLO with content derived from i into daos/NNNN; its name into name. */
static void make_nlo(struct fx *f, int subdir, int i, size_t size,
                     char name[TARGET_NLO_NAME_LEN + 1])
{
    char *buf = dv_malloc(size);
    for (size_t k = 0; k < size; k++)
        buf[k] = (char)(i * 31 + k * 7 + k / 251);
    char hex[65];
    dv_sha256_hex(buf, size, hex);
    snprintf(name, TARGET_NLO_NAME_LEN + 1, "%s%016zx.nlo", hex, size);
    char *dir = dv_asprintf("%s/%04d", f->daos, subdir);
    assert_int_equal(dv_mkdirs(dir, 0755), 0);
    char *p = dv_path_join(dir, name);
    assert_int_equal(dv_write_atomic(p, buf, size, 0644), 0);
    free(p);
    free(dir);
    free(buf);
}

static void write_file(const char *path, const char *text)
{
    assert_int_equal(dv_write_atomic(path, text, strlen(text), 0644), 0);
}

static int run(struct fx *f, struct nlopass_result *r, int64_t seq, const char *list)
{
    struct nlopass_opts o = {
        .daos_dir = f->daos, .target = f->t, .cat = f->c, .set_seq = seq, .list_path = list};
    return nlopass_run(&o, r);
}

static void assert_pooled(struct fx *f, int subdir, const char *name)
{
    char *live = dv_asprintf("%s/%04d/%s", f->daos, subdir, name);
    char *pooled = target_pool_path(f->t, name);
    char *a, *b;
    size_t la, lb;
    assert_int_equal(dv_read_file(live, &a, &la), 0);
    if (dv_read_file(pooled, &b, &lb) != 0)
        fail_msg("%s", dv_err());
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    struct catalog_pool_obj o;
    assert_int_equal(catalog_pool_get(f->c, name, &o), 1);
    char hex[65];
    dv_sha256_hex(b, lb, hex);
    assert_string_equal(o.sha256, hex);
    assert_int_equal(o.size, (int64_t)lb);
    assert_int_equal(o.live_subdir, subdir);
    struct stat st;
    assert_int_equal(stat(pooled, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    free(a);
    free(b);
    free(live);
    free(pooled);
}

/* Count regular files under dir whose name equals name (or all files when name is NULL). */
static int count_files(const char *dir, const char *name)
{
    char *cmd = name ? dv_asprintf("find '%s' -type f -name '%s' | wc -l", dir, name)
                     : dv_asprintf("find '%s' -type f | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    free(cmd);
    return n;
}

struct lines {
    int n;
};

static int count_line(void *ud, const struct target_nlo_entry *e)
{
    ((struct lines *)ud)->n++;
    assert_true(target_nlo_name_valid(e->name));
    return 0;
}

static void test_first_and_second_pass(void **state)
{
    struct fx *f = *state;
    char n[6][TARGET_NLO_NAME_LEN + 1];
    make_nlo(f, 1, 1, 10, n[0]);
    make_nlo(f, 1, 2, 5000, n[1]);
    make_nlo(f, 1, 3, 3 * 1024 * 1024 + 17, n[2]); /* more than one copy buffer */
    make_nlo(f, 2, 4, 0, n[3]);                    /* empty attachment */
    make_nlo(f, 2, 5, 4096, n[4]);
    /* Not NLOs, or not to be copied. */
    char *p = dv_asprintf("%s/daoscat.db", f->daos);
    write_file(p, "index");
    free(p);
    p = dv_asprintf("%s/daos.cfg", f->daos);
    write_file(p, "0001 3\n");
    free(p);
    p = dv_asprintf("%s/0001/.%s.partial", f->daos, n[0]);
    write_file(p, "being written");
    free(p);
    p = dv_asprintf("%s/0001/x.nlo.tmp.123", f->daos);
    write_file(p, "being written");
    free(p);
    p = dv_asprintf("%s/0001/README", f->daos);
    write_file(p, "not an nlo");
    free(p);
    /* NLO-looking names elsewhere: not NNNN. */
    char other[TARGET_NLO_NAME_LEN + 1];
    make_nlo(f, 1, 99, 100, other);
    p = dv_asprintf("%s/0001/%s", f->daos, other);
    char *q = dv_asprintf("%s/00012", f->daos);
    assert_int_equal(mkdir(q, 0755), 0);
    char *q2 = dv_asprintf("%s/%s", q, other);
    assert_int_equal(rename(p, q2), 0);
    free(p);
    free(q);
    free(q2);
    /* Refused (issue 12, finding 13): a directory and a dangling symlink with NLO names. */
    make_nlo(f, 2, 6, 10, n[5]);
    p = dv_asprintf("%s/0002/%s", f->daos, n[5]);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
    char dangling[TARGET_NLO_NAME_LEN + 1];
    memset(dangling, 'e', 80);
    strcpy(dangling + 80, ".nlo");
    p = dv_asprintf("%s/0002/%s", f->daos, dangling);
    assert_int_equal(symlink("/nonexistent/target", p), 0);
    free(p);

    open_all(f);
    char id[TARGET_SET_ID_MAX];
    assert_int_equal(target_set_begin(f->t, dv_now(), NULL, NULL, id), 0);
    char *pd = target_set_partial_dir(f->t, id);
    char *list = dv_path_join(pd, TARGET_NLO_LIST);
    struct nlopass_result r;
    if (run(f, &r, 1, list) != 0)
        fail_msg("%s", dv_err());
    assert_int_equal(r.subdirs, 2);
    assert_int_equal(r.seen, 5);
    assert_int_equal(r.copied, 5);
    assert_int_equal(r.held, 0);
    assert_int_equal(r.busy, 2);
    assert_int_equal(r.unreadable, 0);
    assert_int_equal(r.refused, 2);
    assert_int_equal(r.vanished, 0);
    assert_int_equal(r.ignored, 1);
    assert_int_equal(r.bytes, 10 + 5000 + 3 * 1024 * 1024 + 17 + 0 + 4096);
    for (int i = 0; i < 5; i++)
        assert_pooled(f, i < 3 ? 1 : 2, n[i]);
    assert_int_equal(count_files(f->tpath, "daoscat.db"), 0);
    assert_int_equal(count_files(f->tpath, "daos.cfg"), 0);
    assert_int_equal(count_files(f->tpath, other), 0);
    assert_int_equal(catalog_pool_get(f->c, other, NULL), 0);
    assert_int_equal(catalog_pool_get(f->c, n[5], NULL), 0);
    /* No temporary left in the pool. */
    assert_int_equal(count_files(f->tpath, ".*"), 0);
    /* The list: 5 lines, its hash as reported. */
    struct lines l = {0};
    assert_int_equal(target_nlolist_read(list, count_line, &l), 0);
    assert_int_equal(l.n, 5);
    assert_int_equal(r.list_count, 5);
    char hex[65];
    assert_int_equal(dv_sha256_file_hex(list, hex), 0);
    assert_string_equal(hex, r.list_sha256);

    /* Second pass: nothing copied, no known object opened. */
    nlo_opens = 0;
    int files_before = count_files(f->tpath, "*.nlo");
    assert_int_equal(run(f, &r, 2, NULL), 0);
    assert_int_equal(r.copied, 0);
    assert_int_equal(r.held, 5);
    assert_int_equal(r.seen, 5);
    assert_int_equal(r.refused, 2);
    assert_int_equal(nlo_opens, 0); /* the two refused ones are known by d_type: never opened */
    assert_int_equal(count_files(f->tpath, "*.nlo"), files_before);
    assert_string_equal(r.list_sha256, "");

    /* One new object: exactly one more open, one copy with first_set = 3. */
    char n7[TARGET_NLO_NAME_LEN + 1];
    make_nlo(f, 2, 7, 777, n7);
    nlo_opens = 0;
    assert_int_equal(run(f, &r, 3, NULL), 0);
    assert_int_equal(r.copied, 1);
    assert_int_equal(r.held, 5);
    assert_int_equal(nlo_opens, 1);
    assert_pooled(f, 2, n7);
    struct catalog_pool_obj o;
    assert_int_equal(catalog_pool_get(f->c, n7, &o), 1);
    assert_int_equal(o.first_set, 3);
    assert_int_equal(catalog_pool_get(f->c, n[0], &o), 1);
    assert_int_equal(o.first_set, 1);
    free(list);
    free(pd);
}

static void test_moved_subdir(void **state)
{
    struct fx *f = *state;
    char a[TARGET_NLO_NAME_LEN + 1], b[TARGET_NLO_NAME_LEN + 1];
    make_nlo(f, 1, 1, 100, a);
    make_nlo(f, 1, 2, 200, b);
    open_all(f);
    struct nlopass_result r;
    assert_int_equal(run(f, &r, 1, NULL), 0);
    assert_int_equal(r.copied, 2);
    /* A recovery puts a into 0003. */
    char *from = dv_asprintf("%s/0001/%s", f->daos, a);
    char *dir = dv_asprintf("%s/0003", f->daos);
    char *to = dv_asprintf("%s/%s", dir, a);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(rename(from, to), 0);
    nlo_opens = 0;
    assert_int_equal(run(f, &r, 2, NULL), 0);
    assert_int_equal(r.copied, 0);
    assert_int_equal(r.moved, 1);
    assert_int_equal(r.held, 2);
    assert_int_equal(nlo_opens, 0);
    struct catalog_pool_obj o;
    assert_int_equal(catalog_pool_get(f->c, a, &o), 1);
    assert_int_equal(o.live_subdir, 3);
    assert_int_equal(o.first_set, 1);
    /* Re-homed: the next pass matches it in the merge. */
    assert_int_equal(run(f, &r, 3, NULL), 0);
    assert_int_equal(r.moved, 0);
    assert_int_equal(r.held, 2);
    free(from);
    free(dir);
    free(to);
}

/*
 * The pass sorts names by their first 16 hex digits, then by the whole name: names that share
 * those digits (ties) and names in every order must all be matched by the merge on the
 * second pass (held, no lookup, no open).
 */
static void test_merge_order_with_ties(void **state)
{
    struct fx *f = *state;
    char *dir = dv_asprintf("%s/0001", f->daos);
    assert_int_equal(dv_mkdirs(dir, 0755), 0);
    const char *prefixes[] = {"0000000000000000", "ffffffffffffffff", "a0a0a0a0a0a0a0a0", NULL};
    int n = 0;
    for (int k = 0; k < 600; k++) {
        char name[TARGET_NLO_NAME_LEN + 1], hex[65];
        char seed[32];
        snprintf(seed, sizeof seed, "tie-%d", k);
        dv_sha256_hex(seed, strlen(seed), hex);
        if (k % 3 != 2) /* two thirds share one of three 16-digit prefixes */
            memcpy(hex, prefixes[k % 3 == 0 ? (k / 3) % 3 : 1], 16);
        snprintf(name, sizeof name, "%s%016x.nlo", hex, 10 + k);
        char *p = dv_path_join(dir, name);
        write_file(p, seed);
        free(p);
        n++;
    }
    open_all(f);
    struct nlopass_result r;
    assert_int_equal(run(f, &r, 1, NULL), 0);
    assert_int_equal(r.copied, (uint64_t)n);
    nlo_opens = 0;
    assert_int_equal(run(f, &r, 2, NULL), 0);
    assert_int_equal(r.seen, (uint64_t)n);
    assert_int_equal(r.held, (uint64_t)n);
    assert_int_equal(r.copied, 0);
    assert_int_equal(r.moved, 0);
    assert_int_equal(nlo_opens, 0);
    free(dir);
}

static void test_vanished(void **state)
{
    struct fx *f = *state;
    char a[TARGET_NLO_NAME_LEN + 1], b[TARGET_NLO_NAME_LEN + 1];
    make_nlo(f, 1, 1, 100, a);
    make_nlo(f, 1, 2, 200, b);
    snprintf(vanish_name, sizeof vanish_name, "%s", a); /* deleted between listing and open */
    open_all(f);
    struct nlopass_result r;
    assert_int_equal(run(f, &r, 1, NULL), 0);
    assert_int_equal(r.vanished, 1);
    assert_int_equal(r.copied, 1);
    assert_int_equal(catalog_pool_get(f->c, a, NULL), 0);
    char *p = target_pool_path(f->t, a);
    assert_int_equal(access(p, F_OK), -1);
    free(p);
    assert_pooled(f, 1, b);
}

static void test_batches_and_crash(void **state)
{
    struct fx *f = *state;
    char n[5][TARGET_NLO_NAME_LEN + 1];
    for (int i = 0; i < 5; i++)
        make_nlo(f, 1 + i % 2, i, 1000 + (size_t)i, n[i]);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        setenv("DV_CRASH_AT", "nlopass.batch:2", 1);
        struct target *t = target_open(f->tpath);
        struct catalog *c = catalog_open(f->cpath);
        struct nlopass_opts o = {
            .daos_dir = f->daos, .target = t, .cat = c, .set_seq = 1, .batch_objects = 2};
        struct nlopass_result r;
        nlopass_run(&o, &r);
        _exit(3); /* not reached: killed at the second batch */
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    /* The lock died with the child; two batches (4 objects) are recorded, all durable. */
    open_all(f);
    int64_t count;
    assert_int_equal(catalog_pool_stats(f->c, &count, NULL), 0);
    assert_int_equal(count, 4);
    struct catalog_pool_obj page[8];
    size_t got;
    assert_int_equal(catalog_pool_page(f->c, NULL, page, 8, &got), 0);
    for (size_t i = 0; i < got; i++)
        assert_pooled(f, (int)page[i].live_subdir, page[i].name);
    /* The next run copies only the last one. */
    struct nlopass_result r;
    assert_int_equal(run(f, &r, 2, NULL), 0);
    assert_int_equal(r.copied, 1);
    assert_int_equal(r.held, 4);
    for (int i = 0; i < 5; i++)
        assert_pooled(f, 1 + i % 2, n[i]);
}

static void test_cancel_and_errors(void **state)
{
    struct fx *f = *state;
    char a[TARGET_NLO_NAME_LEN + 1];
    make_nlo(f, 1, 1, 100, a);
    open_all(f);
    struct dv_job job;
    job_init(&job, "backup");
    job_cancel(&job);
    struct nlopass_opts o = {
        .daos_dir = f->daos, .target = f->t, .cat = f->c, .set_seq = 1, .job = &job};
    struct nlopass_result r;
    assert_int_equal(nlopass_run(&o, &r), -1);
    assert_non_null(strstr(dv_err(), "cancelled"));
    assert_int_equal(r.copied, 0);
    job_done(&job);
    /* Missing repository. */
    o.job = NULL;
    o.daos_dir = "/nonexistent/daos";
    assert_int_equal(nlopass_run(&o, &r), -1);
    assert_non_null(strstr(dv_err(), "/nonexistent/daos"));
    /* Pool not writable: a regular file where nlo/<3 hex> should be. */
    o.daos_dir = f->daos;
    char *blocker = dv_asprintf("%s/nlo/%.3s", f->tpath, a);
    write_file(blocker, "x");
    assert_int_equal(nlopass_run(&o, &r), -1);
    assert_non_null(strstr(dv_err(), blocker));
    assert_int_equal(catalog_pool_get(f->c, a, NULL), 0);
    free(blocker);
}

/*
 * The pool is the truth: an object the catalog records is held only if the pool has it as a
 * regular file. Missing, a symlink, a FIFO, or its whole nlo/<3 hex> directory gone: copied
 * again (first set kept, not listed in the new set); missing from the server too: removed
 * from the catalog. A pool directory that is a symlink is damage: the pass fails naming it.
 */
static void test_pool_is_the_truth(void **state)
{
    struct fx *f = *state;
    char n[6][TARGET_NLO_NAME_LEN + 1];
    for (int i = 0; i < 6; i++)
        make_nlo(f, 1 + i % 2, 10 + i, 500 + (size_t)i * 100, n[i]);
    for (int i = 0; i < 6; i++) /* the test relies on six different pool directories */
        for (int k = 0; k < i; k++)
            assert_memory_not_equal(n[i], n[k], 3);
    open_all(f);
    struct nlopass_result r;
    assert_int_equal(run(f, &r, 1, NULL), 0);
    assert_int_equal(r.copied, 6);

    char *p0 = target_pool_path(f->t, n[0]), *p1 = target_pool_path(f->t, n[1]);
    char *p2 = target_pool_path(f->t, n[2]), *p4 = target_pool_path(f->t, n[4]);
    char *d3 = dv_asprintf("%s/nlo/%.3s", f->tpath, n[3]);
    char *keep = dv_asprintf("%s/kept-copy", f->dir);
    assert_int_equal(unlink(p0), 0);       /* missing */
    assert_int_equal(rename(p1, keep), 0); /* a symlink to the right bytes */
    assert_int_equal(symlink(keep, p1), 0);
    assert_int_equal(unlink(p2), 0); /* a FIFO */
    assert_int_equal(mkfifo(p2, 0600), 0);
    char *cmd = dv_asprintf("rm -rf '%s'", d3); /* a whole pool directory */
    assert_int_equal(system(cmd), 0);
    free(cmd);
    assert_int_equal(unlink(p4), 0); /* missing from the pool ... */
    char *live4 = dv_asprintf("%s/0001/%s", f->daos, n[4]);
    assert_int_equal(unlink(live4), 0); /* ... and from the server */

    char id[TARGET_SET_ID_MAX];
    assert_int_equal(target_set_begin(f->t, dv_now(), NULL, NULL, id), 0);
    char *pd = target_set_partial_dir(f->t, id);
    char *list = dv_path_join(pd, TARGET_NLO_LIST);
    if (run(f, &r, 2, list) != 0)
        fail_msg("%s", dv_err());
    assert_int_equal(r.seen, 5);
    assert_int_equal(r.copied, 0);
    assert_int_equal(r.repaired, 4);
    assert_int_equal(r.held, 1);
    assert_int_equal(r.lost, 1);
    assert_int_equal(r.pool_bad, 2);
    assert_int_equal(r.list_count, 0); /* repairs belong to the set that first stored them */
    for (int i = 0; i < 4; i++) {
        assert_pooled(f, 1 + i % 2, n[i]);
        struct catalog_pool_obj o;
        assert_int_equal(catalog_pool_get(f->c, n[i], &o), 1);
        assert_int_equal(o.first_set, 1);
        char *pp = target_pool_path(f->t, n[i]);
        struct stat st;
        assert_int_equal(lstat(pp, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        free(pp);
    }
    assert_int_equal(catalog_pool_get(f->c, n[4], NULL), 0);
    assert_pooled(f, 2, n[5]);

    /* Everything held again: nothing opened, nothing copied. */
    nlo_opens = 0;
    assert_int_equal(run(f, &r, 3, NULL), 0);
    assert_int_equal(r.held, 5);
    assert_int_equal(r.repaired + r.copied + r.lost + r.pool_bad, 0);
    assert_int_equal(nlo_opens, 0);

    /* A pool directory replaced by a symlink (to a copy of itself): the pass fails. */
    char *d5 = dv_asprintf("%s/nlo/%.3s", f->tpath, n[5]);
    char *moved = dv_asprintf("%s/moved-dir", f->dir);
    assert_int_equal(rename(d5, moved), 0);
    assert_int_equal(symlink(moved, d5), 0);
    assert_int_equal(run(f, &r, 4, NULL), -1);
    assert_non_null(strstr(dv_err(), d5));
    assert_non_null(strstr(dv_err(), "not a directory"));

    free(d5);
    free(moved);
    free(list);
    free(pd);
    free(live4);
    free(keep);
    free(d3);
    free(p0);
    free(p1);
    free(p2);
    free(p4);
}

/* nlopass_pool_sweep (the S3 target's pool check) over a directory target's listing: 10,000
 * recorded names, two in three missing from the pool (more than one hand-over of 4,096: the
 * listing starts again), files that are no pool objects beside them. Every missing name is
 * handed over once, in name order; the held ones never. */
struct swept {
    char (*v)[TARGET_NLO_NAME_LEN + 1];
    size_t n;
    size_t fail_at; /* 0: never */
};

static int sweep_cb(void *ud, const char *name)
{
    struct swept *s = ud;
    if (s->fail_at && s->n + 1 == s->fail_at) {
        dv_seterr("stop here");
        return -1;
    }
    memcpy(s->v[s->n++], name, TARGET_NLO_NAME_LEN + 1);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return memcmp(a, b, TARGET_NLO_NAME_LEN);
}

static void test_pool_sweep(void **state)
{
    struct fx *f = *state;
    open_all(f);
    enum { N = 10000 };
    struct catalog_pool_obj *o = dv_calloc(N, sizeof *o);
    for (int i = 0; i < N; i++) {
        char seed[16], hex[65];
        snprintf(seed, sizeof seed, "%d", i);
        dv_sha256_hex(seed, strlen(seed), hex);
        snprintf(o[i].name, sizeof o[i].name, "%s%016x.nlo", hex, (unsigned)i + 1);
        memcpy(o[i].sha256, hex, 65);
        o[i].size = i + 1;
        o[i].live_subdir = 1;
        o[i].first_set = 1;
    }
    assert_int_equal(catalog_begin(f->c), 0);
    assert_int_equal(catalog_pool_insert_batch(f->c, o, N), 0);
    assert_int_equal(catalog_commit(f->c), 0);
    char(*want)[TARGET_NLO_NAME_LEN + 1] = dv_calloc(N, sizeof *want);
    size_t nwant = 0;
    for (int i = 0; i < N; i++) {
        if (i % 3 != 0) {
            memcpy(want[nwant++], o[i].name, TARGET_NLO_NAME_LEN + 1);
            continue;
        }
        char rel[128];
        target_pool_relpath(o[i].name, rel, sizeof rel);
        char *p = dv_path_join(f->tpath, rel), *d = dv_dirname(p);
        assert_int_equal(dv_mkdirs(d, 0700), 0);
        FILE *fp = fopen(p, "w"); /* no fsync: thousands of them */
        assert_non_null(fp);
        fclose(fp);
        free(p);
        free(d);
    }
    qsort(want, nwant, sizeof *want, cmp_name);
    /* not pool objects: a missing name in a directory it does not belong to, another file */
    unsigned other =
        ((unsigned)strtoul((char[4]){want[0][0], want[0][1], want[0][2], 0}, NULL, 16) + 1) % 4096;
    char *d000 = dv_asprintf("%s/nlo/%03x", f->tpath, other);
    char *wrong = dv_asprintf("%s/%s", d000, want[0]), *junk = dv_asprintf("%s/junk", d000);
    assert_int_equal(dv_mkdirs(d000, 0700), 0);
    write_file(wrong, "x");
    write_file(junk, "x");

    struct swept s = {.v = dv_calloc(N, sizeof *s.v)};
    if (nlopass_pool_sweep(f->t, f->c, NULL, sweep_cb, &s) != 0)
        fail_msg("%s", dv_err());
    assert_int_equal(s.n, nwant);
    for (size_t i = 0; i < nwant; i++)
        assert_memory_equal(s.v[i], want[i], TARGET_NLO_NAME_LEN);

    /* the callback's failure stops the sweep */
    s.n = 0;
    s.fail_at = 5000;
    assert_int_equal(nlopass_pool_sweep(f->t, f->c, NULL, sweep_cb, &s), -1);
    assert_string_equal(dv_err(), "stop here");
    assert_int_equal(s.n, 4999);

    free(s.v);
    free(d000);
    free(wrong);
    free(junk);
    free(want);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First: the crash point reads DV_CRASH_AT once per process. */
        cmocka_unit_test_setup_teardown(test_batches_and_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_and_second_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_moved_subdir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_order_with_ties, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vanished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_is_the_truth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_sweep, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

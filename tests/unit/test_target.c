/* test_target.c - the backup target: lock, set directories, manifests, NLO lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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
#include "fsb.h"
#include "target.h"
#include "util.h"

#include "bounded.h"

struct fx {
    char dir[256];
    char *tpath;
};

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, "target"));
    f->tpath = dv_path_join(f->dir, "backup");
    {
        struct target_identity tid;
        if (target_init(f->tpath, NULL, &tid, NULL) != 0)
            fail_msg("%s", dv_err());
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char *cmd = dv_asprintf("rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(f->tpath);
    free(f);
    return 0;
}

static bool is_dir(const char *path, mode_t *mode)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return false;
    if (mode)
        *mode = st.st_mode & 0777;
    return true;
}

static long lock_pid(const char *tpath)
{
    char *p = dv_path_join(tpath, "lock"), *buf;
    size_t len;
    assert_int_equal(dv_read_file(p, &buf, &len), 0);
    long pid = atol(buf);
    free(buf);
    free(p);
    return pid;
}

static void test_open_layout(void **state)
{
    struct fx *f = *state;
    struct target *t = target_open(f->tpath);
    if (!t)
        fail_msg("%s", dv_err());
    mode_t m;
    assert_true(is_dir(f->tpath, &m));
    assert_int_equal(m, 0700);
    char *sets = dv_path_join(f->tpath, "sets"), *nlo = dv_path_join(f->tpath, "nlo");
    assert_true(is_dir(sets, NULL));
    assert_true(is_dir(nlo, NULL));
    free(sets);
    free(nlo);
    assert_int_equal(lock_pid(f->tpath), getpid());
    assert_string_equal(target_path(t), f->tpath);
    assert_true(target_dirfd(t) >= 0);

    /* Same process, second open: busy, naming our pid. */
    struct target *t2 = target_open(f->tpath);
    assert_null(t2);
    char want[64];
    snprintf(want, sizeof want, "target busy (pid %ld)", (long)getpid());
    assert_non_null(strstr(dv_err(), want));
    assert_non_null(strstr(dv_err(), f->tpath));
    /* The failed open did not disturb the holder's pid. */
    assert_int_equal(lock_pid(f->tpath), getpid());
    target_close(t);
    /* Free again after close. */
    t = target_open(f->tpath);
    assert_non_null(t);
    target_close(t);

    char name[TARGET_NLO_NAME_LEN + 1], rel[128];
    memset(name, 'a', 80);
    strcpy(name + 80, ".nlo");
    assert_true(target_nlo_name_valid(name));
    target_pool_relpath(name, rel, sizeof rel);
    assert_int_equal(strncmp(rel, "nlo/aaa/", 8), 0);
    assert_string_equal(rel + 8, name);
    name[3] = 'G';
    assert_false(target_nlo_name_valid(name));
    name[3] = 'a';
    name[83] = 'x';
    assert_false(target_nlo_name_valid(name));
    assert_false(target_nlo_name_valid("abc.nlo"));
    assert_true(target_set_id_valid("20261122-014651"));
    assert_true(target_set_id_valid("20261122-014651-12"));
    assert_false(target_set_id_valid("20261122-014651-"));
    assert_false(target_set_id_valid("20261122_014651"));
    assert_false(target_set_id_valid("../../etc/passwd"));
}

static void test_lock_takeover(void **state)
{
    struct fx *f = *state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        close(pfd[0]);
        struct target *t = target_open(f->tpath);
        char c = t ? 'y' : 'n';
        (void)!write(pfd[1], &c, 1);
        for (;;)
            pause();
    }
    close(pfd[1]);
    char c = 0;
    assert_int_equal(read(pfd[0], &c, 1), 1);
    close(pfd[0]);
    assert_int_equal(c, 'y');
    assert_null(target_open(f->tpath));
    char want[64];
    snprintf(want, sizeof want, "target busy (pid %ld)", (long)child);
    assert_non_null(strstr(dv_err(), want));
    kill(child, SIGKILL);
    assert_int_equal(waitpid(child, NULL, 0), child);
    /* The dead holder's lock is gone with it; its pid is still in the file. */
    assert_int_equal(lock_pid(f->tpath), child);
    struct target *t = target_open(f->tpath);
    if (!t)
        fail_msg("%s", dv_err());
    assert_int_equal(lock_pid(f->tpath), getpid());
    target_close(t);
}

static void fill_manifest(struct manifest *m, const char *id)
{
    manifest_init(m);
    snprintf(m->id, sizeof m->id, "%s", id);
    m->seq = 7;
    snprintf(m->kind, sizeof m->kind, "incremental");
    snprintf(m->status, sizeof m->status, "running");
    m->started = 1795000000;
    m->ended = 1795000100;
    m->origin = dv_strdup("20261121-000000");
    m->checkpoint = dv_strdup("cp \"7\"");
    m->message = dv_strdup("line1\nline2\ttab \\ back \x01 ctl caf\xc3\xa9");
    m->config.data_dir = dv_strdup("/srv/data");
    m->config.daos_dir = dv_strdup("/srv/data/daos");
    snprintf(m->config.delta, sizeof m->config.delta, "keep");
    m->config.encryption = true;
    m->config.min_object_size = 4096;
    m->config.max_files_per_subdir = 40000;
    m->config.snapshot_command = dv_strdup("");
    m->databases = 2;
    m->nlo_new = 3;
    m->nlo_held = 4;
    m->nlo_skipped = 1;
    m->deltas_applied = 1;
    m->deltas_kept = 1;
    m->bytes = 5000000000LL;
    struct manifest_db d = {.db_path = "mail/alice.nsf",
                            .path = "db/mail/alice.nsf",
                            .size = 123456789,
                            .page_size = 4096,
                            .replica_id = "R1",
                            .dbiid = "I1",
                            .delta_keep = true,
                            .delta_pages = 12,
                            .delta_path = "db/mail/alice.nsf.delta"};
    memset(d.sha256, 'a', 64);
    memset(d.delta_sha256, 'b', 64);
    manifest_add_db(m, &d);
    struct manifest_db e = {.db_path = "names.nsf",
                            .path = "db/names.nsf",
                            .size = 8192,
                            .page_size = 1024,
                            .replica_id = "",
                            .dbiid = "",
                            .locked_copy = true};
    memset(e.sha256, 'c', 64);
    manifest_add_db(m, &e);
    snprintf(m->nlo_list.file, sizeof m->nlo_list.file, "%s", TARGET_NLO_LIST);
    m->nlo_list.count = 3;
    memset(m->nlo_list.sha256, 'd', 64);
}

static void assert_same(const struct manifest *a, const struct manifest *b)
{
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->seq, b->seq);
    assert_string_equal(a->kind, b->kind);
    assert_int_equal(a->started, b->started);
    assert_int_equal(a->ended, b->ended);
    assert_string_equal(a->origin, b->origin);
    assert_string_equal(a->checkpoint, b->checkpoint);
    assert_string_equal(a->message, b->message);
    assert_string_equal(a->config.data_dir, b->config.data_dir);
    assert_string_equal(a->config.daos_dir, b->config.daos_dir);
    assert_string_equal(a->config.delta, b->config.delta);
    assert_int_equal(a->config.encryption, b->config.encryption);
    assert_int_equal(a->config.min_object_size, b->config.min_object_size);
    assert_int_equal(a->config.max_files_per_subdir, b->config.max_files_per_subdir);
    assert_int_equal(a->bytes, b->bytes);
    assert_int_equal(a->nlo_held, b->nlo_held);
    assert_int_equal(a->deltas_kept, b->deltas_kept);
    assert_int_equal(a->ndbs, b->ndbs);
    for (size_t i = 0; i < a->ndbs; i++) {
        const struct manifest_db *x = &a->dbs[i], *y = &b->dbs[i];
        assert_string_equal(x->db_path, y->db_path);
        assert_string_equal(x->path, y->path);
        assert_int_equal(x->size, y->size);
        assert_string_equal(x->sha256, y->sha256);
        assert_int_equal(x->page_size, y->page_size);
        assert_string_equal(x->replica_id, y->replica_id);
        assert_string_equal(x->dbiid, y->dbiid);
        assert_int_equal(x->delta_keep, y->delta_keep);
        assert_int_equal(x->delta_pages, y->delta_pages);
        if (x->delta_keep) {
            assert_string_equal(x->delta_path, y->delta_path);
            assert_string_equal(x->delta_sha256, y->delta_sha256);
        } else {
            assert_null(y->delta_path);
        }
        assert_int_equal(x->locked_copy, y->locked_copy);
    }
    assert_string_equal(a->nlo_list.file, b->nlo_list.file);
    assert_int_equal(a->nlo_list.count, b->nlo_list.count);
    assert_string_equal(a->nlo_list.sha256, b->nlo_list.sha256);
}

static int taken_3(void *ud, const char *id)
{
    (void)ud;
    return strcmp(id, "20261118-110640-3") == 0;
}

static void test_sets(void **state)
{
    struct fx *f = *state;
    struct target *t = target_open(f->tpath);
    assert_non_null(t);
    int64_t now = 1795000000; /* 2026-11-18 ... UTC */
    char id1[TARGET_SET_ID_MAX], id2[TARGET_SET_ID_MAX], id3[TARGET_SET_ID_MAX];
    assert_int_equal(target_set_begin(t, now, NULL, NULL, id1), 0);
    assert_int_equal(target_set_begin(t, now, NULL, NULL, id2), 0);
    assert_string_equal(id1, "20261118-110640");
    assert_string_equal(id2, "20261118-110640-2");
    char *p1 = target_set_partial_dir(t, id1), *p2 = target_set_partial_dir(t, id2);
    mode_t m;
    assert_true(is_dir(p1, &m));
    assert_int_equal(m, 0700);
    assert_non_null(strstr(p1, "/sets/.20261118-110640.partial"));

    struct manifest man, back;
    fill_manifest(&man, id1);
    assert_int_equal(target_set_finish(t, &man), 0);
    assert_false(is_dir(p1, NULL));
    char *d1 = target_set_dir(t, id1);
    assert_true(is_dir(d1, NULL));
    char *mp = dv_path_join(d1, TARGET_MANIFEST);
    if (manifest_read(mp, &back) != 0)
        fail_msg("%s", dv_err());
    assert_same(&man, &back);
    assert_string_equal(back.status, "complete");
    manifest_done(&back);

    /* Fail: renamed to .failed with a failed manifest. */
    snprintf(man.id, sizeof man.id, "%s", id2);
    assert_int_equal(target_set_fail(t, id2, &man), 0);
    assert_false(is_dir(p2, NULL));
    char *fp = dv_asprintf("%s/sets/%s.failed/%s", f->tpath, id2, TARGET_MANIFEST);
    assert_int_equal(manifest_read(fp, &back), 0);
    assert_string_equal(back.status, "failed");
    manifest_done(&back);
    free(fp);

    /* Both names are taken now; one taken elsewhere (a shared catalog) is skipped too, and
     * an id given back is free again. */
    assert_int_equal(target_set_begin(t, now, taken_3, NULL, id3), 0);
    assert_string_equal(id3, "20261118-110640-4");
    assert_int_equal(target_set_abandon(t, id3), 0);
    char *p3 = target_set_partial_dir(t, id3);
    assert_false(is_dir(p3, NULL));
    free(p3);
    assert_int_equal(target_set_begin(t, now, NULL, NULL, id3), 0);
    assert_string_equal(id3, "20261118-110640-3");
    /* Finishing a set that has no partial directory fails and says so. */
    snprintf(man.id, sizeof man.id, "20200101-000000");
    assert_int_equal(target_set_finish(t, &man), -1);
    /* A leftover partial (crash) becomes failed. */
    int n = -1;
    assert_int_equal(target_cleanup_partial(t, &n), 0);
    assert_int_equal(n, 1);
    fp = dv_asprintf("%s/sets/%s.failed", f->tpath, id3);
    assert_true(is_dir(fp, NULL));
    free(fp);
    char **ids;
    size_t nids;
    assert_int_equal(target_sets_scan(t, &ids, &nids), 0);
    assert_int_equal(nids, 1);
    assert_string_equal(ids[0], id1);
    target_ids_free(ids, nids);

    manifest_done(&man);
    free(mp);
    free(d1);
    free(p1);
    free(p2);
    target_close(t);
}

/* Parse text with one substitution; expect failure with msg in the message, and where (may be
 * NULL: not checked) right after the name: "byte " for a syntax error, or the key path of a
 * schema error ("databases[0].size"). */
static void expect_bad(const char *good, const char *from, const char *to, const char *where,
                       const char *msg)
{
    const char *pos = strstr(good, from);
    if (!pos)
        fail_msg("no \"%s\" in the manifest", from);
    char *text = dv_asprintf("%.*s%s%s", (int)(pos - good), good, to, pos + strlen(from));
    struct manifest m;
    int rc = manifest_parse("sets/X/manifest.json", text, strlen(text), &m);
    if (rc == 0)
        fail_msg("accepted: %s -> %s", from, to);
    assert_non_null(strstr(dv_err(), "sets/X/manifest.json: "));
    if (msg && !strstr(dv_err(), msg))
        fail_msg("message \"%s\" lacks \"%s\"", dv_err(), msg);
    if (where) {
        char want[128];
        snprintf(want, sizeof want, "sets/X/manifest.json: %s", where);
        if (strncmp(dv_err(), want, strlen(want)) != 0)
            fail_msg("message \"%s\" does not start with \"%s\"", dv_err(), want);
    }
    manifest_done(&m);
    free(text);
}

static void test_manifest_malformed(void **state)
{
    (void)state;
    struct manifest m;
    fill_manifest(&m, "20261118-110640");
    size_t len;
    char *good = manifest_to_json(&m, "complete", &len);
    manifest_done(&m);
    struct manifest back;
    assert_int_equal(manifest_parse("x", good, len, &back), 0);
    manifest_done(&back);

    /* Path escapes. */
    expect_bad(good, "\"db/mail/alice.nsf\"", "\"../../etc/passwd\"",
               "databases[0].path:", "unsafe path");
    expect_bad(good, "\"mail/alice.nsf\"", "\"/etc/passwd\"",
               "databases[0].db_path:", "unsafe path");
    expect_bad(good, "\"db/mail/alice.nsf.delta\"", "\"db/../../x\"",
               "databases[0].delta_path:", "unsafe path");
    expect_bad(good, "\"nlo-new.tsv\"", "\"../nlo-new.tsv\"", "nlo_new.file:", "plain file name");
    expect_bad(good, "\"20261118-110640\"", "\"../20261118\"", "id:", "not a set id");
    /* Syntax (jansson). */
    expect_bad(good, "\"seq\": 7", "\"seq\": 07", "byte ", "invalid token");
    expect_bad(good, "\"seq\": 7", "\"seq\": 7.5", "seq:", "must be an integer");
    expect_bad(good, "\"seq\": 7", "\"seq\": 99999999999999999999999", "byte ", "too big");
    expect_bad(good, "\"seq\": 7,", "\"seq\": 7, ],", "byte ", "string or '}' expected");
    expect_bad(good, "\"seq\": 7", "\"seq\": 7, \"seq\": 8", "byte ", "duplicate object key");
    expect_bad(good, "\"kind\"", "\"ki\\qnd\"", "byte ", "invalid escape");
    expect_bad(good, "\"R1\"", "\"R\\u0000\"", "byte ", "\\u0000 is not allowed");
    expect_bad(good, "\"R1\"", "\"R\\ud800x\"", "byte ", "invalid Unicode");
    expect_bad(good, "\"R1\"", "\"R\x01\"", "byte ", "control character");
    expect_bad(good, "\"R1\"", "\"R\xff\"", "byte ", "unable to decode byte 0xff");
    expect_bad(good, "\"locked_copy\": true", "\"locked_copy\": tru", "byte ", "invalid token");
    /* Schema: types and ranges (every integer; seq so that "next seq" never overflows). */
    expect_bad(good, "\"size\": 8192", "\"size\": \"8192\"",
               "databases[1].size:", "must be an integer, not a string");
    expect_bad(good, "\"bytes\": ", "\"bytes\": 123.0, \"x\": ", "counts.bytes:",
               "must be an integer, not a number with a fraction");
    expect_bad(good, "\"seq\": 7", "\"seq\": 9223372036854775807", "seq:", "out of range");
    expect_bad(good, "\"seq\": 7", "\"seq\": 9007199254740992", "seq:", "out of range");
    expect_bad(good, "\"seq\": 7", "\"seq\": 0", "seq:", "out of range");
    expect_bad(good, "\"started\": ", "\"started\": -1, \"x\": ", "started:", "out of range");
    expect_bad(good, "\"page_size\": 4096", "\"page_size\": 4097",
               "databases[0].page_size:", "power of two");
    expect_bad(good, "\"kind\": \"incremental\"", "\"kind\": \"weird\"",
               "kind:", "full or incremental");
    expect_bad(good, "\"dvault_manifest\": 1", "\"dvault_manifest\": 3",
               "dvault_manifest:", "newer");
    expect_bad(good, "\"status\": \"complete\"", "\"status\": \"partial\"",
               "status:", "no failed_databases");
    expect_bad(good, "\"dvault_manifest\": 1,", "", NULL, "missing key \"dvault_manifest\"");
    expect_bad(good, "\"sha256\": \"aaaa", "\"sha256\": \"zaaa",
               "databases[0].sha256:", "not a sha256");
    /* Truncations at every length never crash and always fail. */
    for (size_t cut = 0; cut + 1 < len; cut += 7) {
        assert_int_equal(manifest_parse("t", good, cut, &back), -1);
        assert_non_null(strstr(dv_err(), "t: byte "));
        manifest_done(&back);
    }
    /* Trailing data, deep nesting, not an object. */
    char *trail = dv_asprintf("%s x", good);
    assert_int_equal(manifest_parse("t", trail, strlen(trail), &back), -1);
    assert_non_null(strstr(dv_err(), "end of file expected"));
    free(trail);
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_int_equal(manifest_parse("t", deep, sizeof deep, &back), -1);
    assert_non_null(strstr(dv_err(), "must be a JSON object, not an array"));
    char *deeper = dv_malloc(20000);
    memset(deeper, '[', 20000);
    assert_int_equal(manifest_parse("t", deeper, 20000, &back), -1);
    assert_non_null(strstr(dv_err(), "maximum parsing depth"));
    free(deeper);
    assert_int_equal(manifest_parse("t", "[]", 2, &back), -1);
    assert_non_null(strstr(dv_err(), "must be a JSON object"));
    /* Embedded NUL in the raw text. */
    char nul[] = "{\"a\0\": 1}";
    assert_int_equal(manifest_parse("t", nul, sizeof nul - 1, &back), -1);
    free(good);
}

struct parse_job {
    const char *name, *text;
    size_t len;
    const char *want; /* in the error */
};

static int parse_expect(void *arg)
{
    struct parse_job *j = arg;
    struct manifest back;
    if (manifest_parse(j->name, j->text, j->len, &back) == 0) {
        fprintf(stderr, "%s: accepted\n", j->name);
        return 1;
    }
    if (!strstr(dv_err(), j->want)) {
        fprintf(stderr, "%s: \"%s\" lacks \"%s\"\n", j->name, dv_err(), j->want);
        return 1;
    }
    return 0;
}

/*
 * Finding 11: the reader scales with its input. 40,000 distinct keys (duplicates found with a
 * hash table, not by comparing every pair: the old parser took 21 s), 525,000 short strings
 * (memory proportional to the text, not 4 KiB a string: the old parser took 2.1 GB for these
 * 2.1 MB) are read within 5 s of CPU and 512 MiB, and refused as "not a manifest"; a
 * duplicate among 40,000 keys is found. A tree far bigger than its text (a million empty
 * objects) runs out of its budget instead of taking memory.
 */
static void test_manifest_scales(void **state)
{
    (void)state;
    struct manifest back;
    size_t cap = 8 << 20, n = 0;
    char *t = dv_malloc(cap);
    n += (size_t)sprintf(t + n, "{");
    for (int i = 0; i < 40000; i++)
        n += (size_t)sprintf(t + n, "%s\"key%06d\": \"%036d\"", i ? "," : "", i, i);
    char *dup = dv_asprintf("%.*s, \"key%06d\": 1}", (int)n, t, 31337);
    n += (size_t)sprintf(t + n, "}");
    struct parse_job keys = {"k", t, n, "k: missing key \"dvault_manifest\""};
    run_bounded("40,000 keys", parse_expect, &keys, 5, 512);
    struct parse_job dupj = {"d", dup, strlen(dup), "duplicate object key"};
    run_bounded("40,000 keys, one twice", parse_expect, &dupj, 5, 512);
    free(dup);
    n = (size_t)sprintf(t, "{\"a\": [");
    for (int i = 0; i < 525000; i++)
        n += (size_t)sprintf(t + n, "%s\"x\"", i ? "," : "");
    n += (size_t)sprintf(t + n, "]}");
    struct parse_job strs = {"s", t, n, "s: missing key \"dvault_manifest\""};
    run_bounded("525,000 strings", parse_expect, &strs, 5, 512);
    n = (size_t)sprintf(t, "[");
    for (int i = 0; i < 1000000; i++)
        n += (size_t)sprintf(t + n, "%s{}", i ? "," : "");
    n += (size_t)sprintf(t + n, "]");
    struct parse_job empty = {"e", t, n, "bytes of memory (24 times its size and 64 KiB): refused"};
    run_bounded("a million empty objects", parse_expect, &empty, 5, 512);
    /* more than MANIFEST_MAX is refused unread */
    assert_int_equal(manifest_parse("big", t, (size_t)MANIFEST_MAX + 1, &back), -1);
    assert_non_null(strstr(dv_err(), "more than a manifest may hold"));
    free(t);
}

/* Errors quote at most 16 bytes of the text, escaped (a manifest may be a planted secret). */
static void test_manifest_excerpt(void **state)
{
    (void)state;
    struct manifest back;
    const char *t = "{\"a\": root:$y$j9T$secretsecretsecretsecret\n}";
    assert_int_equal(manifest_parse("m", t, strlen(t), &back), -1);
    assert_null(strstr(dv_err(), "secretsecret"));
    assert_null(strchr(dv_err(), '\n'));
    const char *u = "{\"a\": \"x\x01yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\"}";
    assert_int_equal(manifest_parse("m", u, strlen(u), &back), -1);
    assert_null(strstr(dv_err(), "yyyyyyyyyyyyyyyyyy"));
    for (const char *p = dv_err(); *p; p++)
        assert_true((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

/* The writer: jansson's layout (the one the hand-written writer had), UTF-8 only (a byte that
 * is not becomes U+FFFD), integers up to 2^53 - 1 exactly. */
static void test_manifest_writer(void **state)
{
    (void)state;
    struct manifest m, back;
    fill_manifest(&m, "20261118-110640");
    free(m.message);
    m.message = dv_strdup("caf\xe9 \"q\" \\ \t");
    m.seq = MANIFEST_SEQ_MAX;
    size_t len;
    char *text = manifest_to_json(&m, NULL, &len);
    assert_int_equal(strlen(text), len);
    assert_int_equal(text[len - 1], '\n');
    const char *head = "{\n  \"dvault_manifest\": 1,\n  \"id\": \"20261118-110640\",\n";
    assert_int_equal(strncmp(text, head, strlen(head)), 0);
    assert_non_null(strstr(text, "\"seq\": 9007199254740991,\n"));
    assert_non_null(strstr(text, "\"databases\": [\n    {\n      \"db_path\": "));
    assert_int_equal(manifest_parse("w", text, len, &back), 0);
    assert_string_equal(back.message, "caf\xef\xbf\xbd \"q\" \\ \t");
    assert_int_equal(back.seq, MANIFEST_SEQ_MAX);
    manifest_done(&back);
    manifest_done(&m);
    free(text);
}

/* Partial sets: failed_databases written (version 2), read back, checked; a manifest without
 * the key (every older one) reads as before, with none. */
static void test_manifest_partial(void **state)
{
    (void)state;
    struct manifest m, back;
    fill_manifest(&m, "20261118-110640");
    char *old = manifest_to_json(&m, "complete", NULL);
    assert_null(strstr(old, "failed_databases"));
    assert_non_null(strstr(old, "\"dvault_manifest\": 1,"));
    assert_int_equal(manifest_parse("x", old, strlen(old), &back), 0);
    assert_int_equal(back.nfailed, 0);
    manifest_done(&back);
    manifest_add_failed(&m, "mail/zero.nsf", "begin: empty file (0 bytes): not a database");
    manifest_add_failed(&m, "mail/q\"uote.nsf", "locked");
    size_t len;
    char *text = manifest_to_json(&m, "partial", &len);
    manifest_done(&m);
    assert_non_null(strstr(text, "\"dvault_manifest\": 2,"));
    assert_int_equal(manifest_parse("x", text, len, &back), 0);
    assert_string_equal(back.status, "partial");
    assert_int_equal(back.nfailed, 2);
    assert_string_equal(back.failed[0].db_path, "mail/zero.nsf");
    assert_string_equal(back.failed[0].reason, "begin: empty file (0 bytes): not a database");
    assert_string_equal(back.failed[1].db_path, "mail/q\"uote.nsf");
    char *again = manifest_to_json(&back, NULL, NULL);
    assert_string_equal(again, text); /* byte for byte */
    free(again);
    manifest_done(&back);
    expect_bad(text, "\"mail/zero.nsf\"", "\"../zero.nsf\"",
               "failed_databases[0].db_path:", "unsafe path");
    expect_bad(text, "\"mail/zero.nsf\"", "\"mail/alice.nsf\"", NULL,
               "both as copied and as failed");
    expect_bad(text, "\"status\": \"partial\"", "\"status\": \"complete\"", NULL,
               "failed_databases are listed");
    expect_bad(text, "\"reason\": \"locked\"", "\"reason\": 3", NULL, "must be a string");
    free(text);
    free(old);
}

static void test_manifest_file_errors(void **state)
{
    struct fx *f = *state;
    assert_int_equal(dv_mkdirs(f->tpath, 0700), 0);
    char *p = dv_path_join(f->tpath, "manifest.json");
    struct manifest m;
    assert_int_equal(manifest_read(p, &m), -1); /* missing */
    assert_non_null(strstr(dv_err(), p));
    assert_int_equal(dv_write_atomic(p, "{\"dvault_manifest\": 1", 21, 0600), 0);
    assert_int_equal(manifest_read(p, &m), -1);
    char want[256];
    snprintf(want, sizeof want, "%s: byte 21: '}' expected near end of file", p);
    assert_string_equal(dv_err(), want);
    manifest_done(&m);
    free(p);
}

struct acc {
    int n;
    uint64_t bytes;
};

static int acc_cb(void *ud, const struct target_nlo_entry *e)
{
    struct acc *a = ud;
    a->n++;
    a->bytes += e->size;
    return 0;
}

/* Finding 10: a FIFO, a link or a device in place of a manifest or an NLO list is refused at
 * once (never waited on, never followed); an NLO list line longer than any real one too. */
static void test_manifest_file_hostile(void **state)
{
    struct fx *f = *state;
    assert_int_equal(dv_mkdirs(f->tpath, 0700), 0);
    struct fsb *root = fsb_open(f->tpath);
    assert_non_null(root);
    struct manifest m;
    char *fifo = dv_path_join(f->tpath, "fifo");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(manifest_read_at(root, "fifo", &m), -1);
    assert_non_null(strstr(dv_err(), "is a FIFO"));
    assert_int_equal(manifest_read(fifo, &m), -1);
    assert_non_null(strstr(dv_err(), "is a FIFO"));
    struct acc a = {0};
    assert_int_equal(target_nlolist_read_at(root, "fifo", acc_cb, &a), -1);
    assert_non_null(strstr(dv_err(), "is a FIFO"));
    char *lnk = dv_path_join(f->tpath, "zero");
    assert_int_equal(symlink("/dev/zero", lnk), 0);
    assert_int_equal(manifest_read_at(root, "zero", &m), -1);
    assert_non_null(strstr(dv_err(), "symbolic link"));
    assert_int_equal(target_nlolist_read_at(root, "zero", acc_cb, &a), -1);
    assert_non_null(strstr(dv_err(), "symbolic link"));
    char *lp = dv_path_join(f->tpath, "long.tsv");
    char line[400];
    memset(line, 'a', sizeof line - 1);
    line[sizeof line - 1] = '\n';
    assert_int_equal(dv_write_atomic(lp, line, sizeof line, 0600), 0);
    assert_int_equal(target_nlolist_read_at(root, "long.tsv", acc_cb, &a), -1);
    if (!strstr(dv_err(), "line 1 (byte 0): longer than 256 bytes"))
        fail_msg("%s", dv_err());
    assert_null(strstr(dv_err(), "aaaaaaaa"));
    assert_int_equal(a.n, 0);
    free(lp);
    free(lnk);
    free(fifo);
    fsb_close(root);
}

static void test_nlolist(void **state)
{
    struct fx *f = *state;
    assert_int_equal(dv_mkdirs(f->tpath, 0700), 0);
    struct target_nlo_entry e;
    memset(e.name, '1', 80);
    strcpy(e.name + 80, ".nlo");
    memset(e.sha256, 'f', 64);
    e.sha256[64] = '\0';
    e.size = 12345;
    e.live_subdir = 7;
    char line[256], all[1024] = "";
    size_t n = target_nlolist_line(&e, line, sizeof line), first = n;
    assert_int_equal(n, strlen(line));
    strcat(all, line);
    e.size = 5;
    e.live_subdir = 9999;
    target_nlolist_line(&e, line, sizeof line);
    strcat(all, line);
    char *p = dv_path_join(f->tpath, "list.tsv");
    assert_int_equal(dv_write_atomic(p, all, strlen(all), 0600), 0);
    struct acc a = {0};
    assert_int_equal(target_nlolist_read(p, acc_cb, &a), 0);
    assert_int_equal(a.n, 2);
    assert_int_equal(a.bytes, 12350);
    /* A bad second line names the line and its byte offset. */
    char *bad = dv_asprintf("%.*s../%s", (int)first, all, all + first + 3);
    assert_int_equal(dv_write_atomic(p, bad, strlen(bad), 0600), 0);
    a.n = 0;
    assert_int_equal(target_nlolist_read(p, acc_cb, &a), -1);
    char want[64];
    snprintf(want, sizeof want, "line 2 (byte %zu): bad NLO name", first);
    assert_non_null(strstr(dv_err(), want));
    assert_int_equal(a.n, 1);
    free(bad);
    /* Missing newline at the end. */
    assert_int_equal(dv_write_atomic(p, all, strlen(all) - 1, 0600), 0);
    assert_int_equal(target_nlolist_read(p, acc_cb, &a), -1);
    assert_non_null(strstr(dv_err(), "missing end of line"));
    free(p);
}

/* ---- identity ---------------------------------------------------------------------- */

static char *sub(struct fx *f, const char *name)
{
    return dv_path_join(f->dir, name);
}

static int count_entries(const char *dir)
{
    char *cmd = dv_asprintf("ls -A '%s' | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    free(cmd);
    return n;
}

static void expect_open_refused(const char *path, const char *needle)
{
    struct target *t = target_open(path);
    if (t)
        fail_msg("target_open(%s) should have been refused", path);
    if (!strstr(dv_err(), needle))
        fail_msg("message \"%s\" does not say \"%s\"", dv_err(), needle);
}

static void test_identity_init_and_open(void **state)
{
    struct fx *f = *state;
    char *p = sub(f, "new/target");
    struct target_identity id, again;
    int adopted = 0;
    assert_int_equal(target_init(p, "/srv/data", &id, &adopted), 0);
    assert_int_equal(adopted, -1);
    assert_int_equal(strlen(id.id), 32);
    assert_int_equal(id.version, TARGET_ID_VERSION);
    assert_string_equal(id.data_dir, "/srv/data");
    mode_t m;
    assert_true(is_dir(p, &m));
    assert_int_equal(m, 0700);
    assert_int_equal(target_identity_read(p, &again), 0);
    assert_string_equal(again.id, id.id);
    assert_int_equal(again.created, id.created);
    struct target *t = target_open(p);
    assert_non_null(t);
    assert_string_equal(target_identity(t)->id, id.id);
    target_close(t);
    /* a second init is refused and changes nothing */
    assert_int_equal(target_init(p, "/srv/data", &again, NULL), -1);
    assert_non_null(strstr(dv_err(), "already a dvault target"));
    assert_non_null(strstr(dv_err(), id.id));
    assert_int_equal(target_identity_read(p, &again), 0);
    assert_string_equal(again.id, id.id);
    /* two targets never share an id */
    char *q = sub(f, "other");
    struct target_identity id2;
    assert_int_equal(target_init(q, "/srv/data", &id2, NULL), 0);
    assert_string_not_equal(id.id, id2.id);
    free(q);
    free(p);
}

static void test_identity_refusals(void **state)
{
    struct fx *f = *state;
    /* missing: refused, never created */
    char *missing = sub(f, "unmounted");
    expect_open_refused(missing, "does not exist");
    expect_open_refused(missing, "dvault target init");
    assert_false(is_dir(missing, NULL));
    /* empty (a mount point with nothing mounted): refused, nothing written into it */
    char *empty = sub(f, "empty");
    assert_int_equal(mkdir(empty, 0700), 0);
    expect_open_refused(empty, "is empty");
    assert_int_equal(count_entries(empty), 0);
    /* a directory of something else: init and open refuse, nothing written */
    char *foreign = sub(f, "photos");
    assert_int_equal(mkdir(foreign, 0700), 0);
    char *jpg = dv_path_join(foreign, "cat.jpg");
    assert_int_equal(dv_write_atomic(jpg, "x", 1, 0600), 0);
    expect_open_refused(foreign, "not a dvault target");
    struct target_identity id;
    assert_int_equal(target_init(foreign, NULL, &id, NULL), -1);
    assert_non_null(strstr(dv_err(), "not empty"));
    assert_int_equal(count_entries(foreign), 1);
    /* a lost+found alone is still an empty file system */
    char *lf = dv_path_join(empty, "lost+found");
    assert_int_equal(mkdir(lf, 0700), 0);
    assert_int_equal(target_init(empty, NULL, &id, NULL), 0);
    free(lf);
    free(jpg);
    free(foreign);
    free(empty);
    free(missing);
}

static void test_identity_legacy_adopted(void **state)
{
    struct fx *f = *state;
    /* a target of an earlier dvault: sets/ nlo/ lock, no target.json */
    char *p = sub(f, "legacy");
    char *sets = dv_path_join(p, "sets/20261101-010101");
    assert_int_equal(dv_mkdirs(sets, 0700), 0);
    char *nlo = dv_path_join(p, "nlo");
    assert_int_equal(mkdir(nlo, 0700), 0);
    char *lock = dv_path_join(p, "lock");
    assert_int_equal(dv_write_atomic(lock, "", 0, 0600), 0);
    expect_open_refused(p, "earlier dvault");
    struct target_identity id;
    int adopted = -1;
    assert_int_equal(target_init(p, NULL, &id, &adopted), 0);
    assert_int_equal(adopted, 1);
    struct target *t = target_open(p);
    assert_non_null(t);
    target_close(t);
    free(lock);
    free(nlo);
    free(sets);
    free(p);
}

static void write_ident(struct fx *f, const char *text)
{
    char *p = dv_path_join(f->tpath, TARGET_ID_FILE);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(dv_write_atomic(p, text, strlen(text), 0600), 0);
    free(p);
}

static void test_identity_hostile(void **state)
{
    struct fx *f = *state;
    char *p = dv_path_join(f->tpath, TARGET_ID_FILE);
    char *good = NULL;
    assert_int_equal(dv_read_file(p, &good, NULL), 0);
    /* a symbolic link to a valid identity elsewhere: refused, not followed */
    char *elsewhere = sub(f, "ident.json");
    assert_int_equal(dv_write_atomic(elsewhere, good, strlen(good), 0600), 0);
    assert_int_equal(unlink(p), 0);
    assert_int_equal(symlink(elsewhere, p), 0);
    expect_open_refused(f->tpath, "symbolic link");
    /* a FIFO: refused at once (no writer: an open without O_NONBLOCK would hang) */
    assert_int_equal(unlink(p), 0);
    assert_int_equal(mkfifo(p, 0600), 0);
    expect_open_refused(f->tpath, "not a regular file");
    /* huge: refused without being read whole */
    assert_int_equal(unlink(p), 0);
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 30), 0);
    close(fd);
    expect_open_refused(f->tpath, "more than the 65536 this file may hold");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(dv_write_atomic(p, "x", 1, 0600), 0);
    /* malformed, a duplicate key, another format, a newer version, a bad id */
    write_ident(f, "{\"format\": \"dvault-target\", ");
    expect_open_refused(f->tpath, TARGET_ID_FILE ": line 1");
    write_ident(f, "{\"format\":\"dvault-target\",\"format\":\"x\"}");
    expect_open_refused(f->tpath, "duplicate");
    write_ident(f,
                "{\"format\":\"restic\",\"version\":1,\"id\":\"00000000000000000000000000000000\","
                "\"created\":1,\"server\":{\"host\":\"h\",\"data_dir\":\"/d\"}}");
    expect_open_refused(f->tpath, "format is not");
    write_ident(f, "{\"format\":\"dvault-target\",\"version\":2,\"id\":"
                   "\"00000000000000000000000000000000\",\"created\":1,\"server\":{\"host\":\"h\","
                   "\"data_dir\":\"/d\"}}");
    expect_open_refused(f->tpath, "upgrade");
    write_ident(f, "{\"format\":\"dvault-target\",\"version\":1,\"id\":\"../../etc\","
                   "\"created\":1,\"server\":{\"host\":\"h\",\"data_dir\":\"/d\"}}");
    expect_open_refused(f->tpath, "32 lower-case hex");
    write_ident(f, good);
    struct target *t = target_open(f->tpath);
    assert_non_null(t);
    target_close(t);
    free(elsewhere);
    free(good);
    free(p);
}

static void test_identity_catalog_binding(void **state)
{
    struct fx *f = *state;
    char *cp = sub(f, "catalog.db"), *other = sub(f, "other");
    struct catalog *c = catalog_open(cp);
    assert_non_null(c);
    struct target *t = target_open(f->tpath);
    assert_non_null(t);
    /* a new catalog binds to the target it is first used with */
    assert_int_equal(target_bind_catalog(t, c), 0);
    char bound[64];
    assert_int_equal(catalog_meta_get(c, TARGET_ID_META_KEY, bound, sizeof bound), 1);
    assert_string_equal(bound, target_identity(t)->id);
    assert_int_equal(target_bind_catalog(t, c), 0);
    /* ... and is refused with any other, naming both and the way out */
    struct target_identity id2;
    assert_int_equal(target_init(other, NULL, &id2, NULL), 0);
    struct target *t2 = target_open(other);
    assert_non_null(t2);
    assert_int_equal(target_bind_catalog(t2, c), -1);
    assert_non_null(strstr(dv_err(), target_identity(t)->id));
    assert_non_null(strstr(dv_err(), id2.id));
    assert_non_null(strstr(dv_err(), "dvault resync catalog"));
    /* an unbound catalog (from before identities) whose newest set the target lacks */
    assert_int_equal(catalog_meta_set(c, TARGET_ID_META_KEY, ""), 0);
    char *sql = dv_asprintf("sqlite3 '%s' \"DELETE FROM meta; INSERT INTO sets (id, seq, kind, "
                            "started, status) VALUES ('20261101-010101', 1, 'full', 1, "
                            "'complete')\"",
                            cp);
    catalog_close(c);
    assert_int_equal(system(sql), 0);
    c = catalog_open(cp);
    assert_non_null(c);
    assert_int_equal(target_bind_catalog(t2, c), -1);
    assert_non_null(strstr(dv_err(), "20261101-010101"));
    assert_int_equal(catalog_meta_get(c, TARGET_ID_META_KEY, bound, sizeof bound), 0);
    /* ... binds to a target that holds it */
    char *setdir = dv_path_join(other, "sets/20261101-010101");
    assert_int_equal(mkdir(setdir, 0700), 0);
    assert_int_equal(target_bind_catalog(t2, c), 0);
    /* a new catalog for a target that holds sets: refused (resync catalog) */
    char *cp2 = sub(f, "new.db");
    struct catalog *c2 = catalog_open(cp2);
    assert_non_null(c2);
    assert_int_equal(target_bind_catalog(t2, c2), -1);
    assert_non_null(strstr(dv_err(), "resync catalog"));
    catalog_close(c2);
    catalog_close(c);
    target_close(t2);
    target_close(t);
    free(cp2);
    free(setdir);
    free(sql);
    free(other);
    free(cp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_takeover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_file_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nlolist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_scales, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_excerpt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_file_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_init_and_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_legacy_adopted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_catalog_binding, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_prune.c - retention selection; prune on real backups: pool exactness, moved deltas
 * removed where they live, failed sets, dry run, crash and rerun; the DAOS prune guard. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backup.h"
#include "catalog.h"
#include "config.h"
#include "delta.h"
#include "nlorefs.h"
#include "prune.h"
#include "store.h"
#include "target.h"
#include "util.h"

/* ---- retention selection (no I/O) ---------------------------------------------------------- */

#define DAY 86400
static const int64_t NOW = 2000000000;

static struct catalog_set mkset(int64_t seq, enum catalog_set_kind kind, enum catalog_set_status st,
                                int64_t age_days, const char *origin)
{
    struct catalog_set s;
    memset(&s, 0, sizeof s);
    snprintf(s.id, sizeof s.id, "20260101-0000%02d", (int)seq);
    s.seq = seq;
    s.kind = kind;
    s.status = st;
    s.started = NOW - age_days * DAY;
    s.ended = s.started + 60;
    snprintf(s.origin, sizeof s.origin, "%s", origin ? origin : "");
    return s;
}

static void test_select_keep_sets(void **state)
{
    (void)state;
    struct catalog_set s[6];
    for (int i = 0; i < 6; i++) /* seq 1 oldest (60 days) .. 6 newest (10 days) */
        s[i] = mkset(i + 1, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 60 - 10 * i, NULL);
    struct prune_decision d[6];
    prune_select(s, 6, 3, 0, NOW, d);
    for (int i = 0; i < 6; i++)
        assert_int_equal(d[i].prune, i < 3);
    assert_int_equal(d[5].why, PRUNE_KEEP_NEWEST);
    assert_int_equal(d[0].why, PRUNE_GO_OLD);
    /* order of the input does not matter */
    struct catalog_set r[6];
    for (int i = 0; i < 6; i++)
        r[i] = s[5 - i];
    prune_select(r, 6, 3, 0, NOW, d);
    for (int i = 0; i < 6; i++)
        assert_int_equal(d[i].prune, i >= 3);
    /* keep_sets larger than the sets: nothing goes */
    prune_select(s, 6, 100, 0, NOW, d);
    for (int i = 0; i < 6; i++)
        assert_false(d[i].prune);
}

static void test_select_keep_days(void **state)
{
    (void)state;
    struct catalog_set s[6];
    for (int i = 0; i < 6; i++)
        s[i] = mkset(i + 1, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 60 - 10 * i, NULL);
    /* ages 60 50 40 30 20 10; keep 1 set, and those younger than 35 days */
    struct prune_decision d[6];
    prune_select(s, 6, 1, 35, NOW, d);
    assert_true(d[0].prune);
    assert_true(d[1].prune);
    assert_true(d[2].prune);
    assert_false(d[3].prune);
    assert_int_equal(d[3].why, PRUNE_KEEP_YOUNG);
    assert_false(d[4].prune);
    assert_false(d[5].prune);
    assert_int_equal(d[5].why, PRUNE_KEEP_NEWEST);
    /* exactly keep_days old is not younger */
    s[3].started = NOW - 35 * DAY;
    prune_select(s, 6, 1, 35, NOW, d);
    assert_true(d[3].prune);
}

static void test_select_newest_full(void **state)
{
    (void)state;
    /* full(1) inc(2) inc(3) full(4) inc(5) inc(6): keep 1 set -> newest full (4) stays */
    struct catalog_set s[6];
    s[0] = mkset(1, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 60, NULL);
    s[1] = mkset(2, CATALOG_SET_INCREMENTAL, CATALOG_SET_COMPLETE, 50, NULL);
    s[2] = mkset(3, CATALOG_SET_INCREMENTAL, CATALOG_SET_COMPLETE, 40, NULL);
    s[3] = mkset(4, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 30, NULL);
    s[4] = mkset(5, CATALOG_SET_INCREMENTAL, CATALOG_SET_COMPLETE, 20, NULL);
    s[5] = mkset(6, CATALOG_SET_INCREMENTAL, CATALOG_SET_COMPLETE, 10, NULL);
    struct prune_decision d[6];
    prune_select(s, 6, 1, 0, NOW, d);
    assert_false(d[5].prune);
    assert_true(d[4].prune);
    assert_false(d[3].prune);
    assert_int_equal(d[3].why, PRUNE_KEEP_NEWEST_FULL);
    assert_true(d[0].prune);
    /* a failed full set is not "the newest complete full" */
    s[3].status = CATALOG_SET_FAILED;
    prune_select(s, 6, 1, 0, NOW, d);
    assert_false(d[0].prune);
    assert_int_equal(d[0].why, PRUNE_KEEP_NEWEST_FULL);
    assert_true(d[3].prune);
    assert_int_equal(d[3].why, PRUNE_GO_FAILED);
    /* even keep_sets 0 keeps the newest complete full set */
    s[3].status = CATALOG_SET_COMPLETE;
    prune_select(s, 6, 0, 0, NOW, d);
    for (int i = 0; i < 6; i++)
        assert_int_equal(d[i].prune, i != 3);
}

static void test_select_origin_chain(void **state)
{
    (void)state;
    /* full(1) <- inc(2) <- inc(3) <- inc(4); full(5) unrelated, older than 4? no: seq order */
    struct catalog_set s[5];
    s[0] = mkset(1, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 50, NULL);
    s[1] = mkset(2, CATALOG_SET_INCREMENTAL, CATALOG_SET_COMPLETE, 40, s[0].id);
    s[2] = mkset(3, CATALOG_SET_INCREMENTAL, CATALOG_SET_COMPLETE, 30, s[1].id);
    s[3] = mkset(4, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 20, NULL);
    s[4] = mkset(5, CATALOG_SET_INCREMENTAL, CATALOG_SET_COMPLETE, 10, s[2].id);
    struct prune_decision d[5];
    prune_select(s, 5, 1, 0, NOW, d);
    assert_false(d[4].prune); /* newest */
    assert_false(d[3].prune); /* newest full */
    for (int i = 0; i < 3; i++) {
        assert_false(d[i].prune); /* the chain of 5: 3, 2, 1 */
        assert_int_equal(d[i].why, PRUNE_KEEP_ORIGIN);
    }
    /* with 5 based on the newest full, the old chain goes */
    snprintf(s[4].origin, sizeof s[4].origin, "%s", s[3].id);
    prune_select(s, 5, 1, 0, NOW, d);
    for (int i = 0; i < 3; i++)
        assert_true(d[i].prune);
}

static void test_select_failed_running_marked(void **state)
{
    (void)state;
    struct catalog_set s[6];
    s[0] = mkset(1, CATALOG_SET_FULL, CATALOG_SET_FAILED, 60, NULL);
    s[1] = mkset(2, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 50, NULL);
    s[2] = mkset(3, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 40, NULL);
    s[3] = mkset(4, CATALOG_SET_FULL, CATALOG_SET_FAILED, 30, NULL);
    s[4] = mkset(5, CATALOG_SET_FULL, CATALOG_SET_RUNNING, 0, NULL);
    s[5] = mkset(6, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 100, NULL);
    s[5].seq = 0; /* oldest */
    s[2].pruning = NOW - 5;
    struct prune_decision d[6];
    prune_select(s, 6, 5, 0, NOW, d);
    assert_true(d[0].prune);
    assert_int_equal(d[0].why, PRUNE_GO_FAILED);
    assert_false(d[1].prune); /* newest complete (3 is being pruned) */
    assert_true(d[2].prune);
    assert_int_equal(d[2].why, PRUNE_GO_UNFINISHED);
    assert_false(d[3].prune); /* failed, newer than the newest complete set */
    assert_int_equal(d[3].why, PRUNE_KEEP_FAILED_NEW);
    assert_false(d[4].prune);
    assert_int_equal(d[4].why, PRUNE_KEEP_RUNNING);
    assert_false(d[5].prune);
    /* no complete set at all: failed sets stay */
    struct catalog_set f[2] = {mkset(1, CATALOG_SET_FULL, CATALOG_SET_FAILED, 9, NULL),
                               mkset(2, CATALOG_SET_FULL, CATALOG_SET_FAILED, 8, NULL)};
    prune_select(f, 2, 1, 0, NOW, d);
    assert_false(d[0].prune);
    assert_false(d[1].prune);
}

/* Partial sets count as sets, but never cost a database its last copy. */
static void test_select_partial(void **state)
{
    (void)state;
    static const char *const ab[] = {"mail/a.nsf", "mail/b.nsf"}, *const a[] = {"mail/a.nsf"},
                             *const b[] = {"mail/b.nsf"};
    struct catalog_set s[4];
    s[0] = mkset(1, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 40, NULL);
    s[1] = mkset(2, CATALOG_SET_FULL, CATALOG_SET_PARTIAL, 30, NULL);
    s[2] = mkset(3, CATALOG_SET_FULL, CATALOG_SET_PARTIAL, 20, NULL);
    struct prune_set_dbs dbs[4] = {
        {.held = ab, .nheld = 2},
        {.held = a, .nheld = 1, .failed = b, .nfailed = 1},
        {.held = a, .nheld = 1, .failed = b, .nfailed = 1},
    };
    struct prune_decision d[4];
    /* without the database information set 1 would go: the last copy of b */
    prune_select(s, 3, 2, 0, NOW, d);
    assert_false(d[2].prune || d[1].prune); /* partial sets count: the newest 2 */
    assert_int_equal(d[1].why, PRUNE_KEEP_NEWEST);
    assert_true(d[0].prune);
    prune_select_dbs(s, dbs, 3, 2, 0, NOW, d);
    assert_false(d[2].prune || d[1].prune);
    assert_false(d[0].prune);
    assert_int_equal(d[0].why, PRUNE_KEEP_LAST_COPY);
    /* keep_sets 1: the partial set 2 goes, set 1 stays for b all the same */
    prune_select_dbs(s, dbs, 3, 1, 0, NOW, d);
    assert_false(d[2].prune);
    assert_true(d[1].prune);
    assert_false(d[0].prune);
    assert_int_equal(d[0].why, PRUNE_KEEP_LAST_COPY);
    /* b copied again (set 4 complete): nothing old is needed for it any more */
    s[3] = mkset(4, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 10, NULL);
    dbs[3] = (struct prune_set_dbs){.held = ab, .nheld = 2};
    prune_select_dbs(s, dbs, 4, 2, 0, NOW, d);
    assert_false(d[3].prune || d[2].prune);
    assert_true(d[1].prune && d[0].prune);
    /* the last copy is an incremental: its chain stays with it */
    s[0] = mkset(1, CATALOG_SET_FULL, CATALOG_SET_COMPLETE, 40, NULL);
    s[1] = mkset(2, CATALOG_SET_INCREMENTAL, CATALOG_SET_COMPLETE, 30, s[0].id);
    s[2] = mkset(3, CATALOG_SET_FULL, CATALOG_SET_PARTIAL, 20, NULL);
    dbs[1] = (struct prune_set_dbs){.held = ab, .nheld = 2};
    prune_select_dbs(s, dbs, 3, 1, 0, NOW, d);
    assert_false(d[2].prune);
    assert_false(d[1].prune);
    assert_int_equal(d[1].why, PRUNE_KEEP_LAST_COPY);
    assert_false(d[0].prune);
    assert_int_equal(d[0].why, PRUNE_KEEP_ORIGIN);
    /* a set being pruned is no candidate: the next older copy stays instead */
    s[1].pruning = NOW - 5;
    s[0].kind = CATALOG_SET_FULL;
    prune_select_dbs(s, dbs, 3, 1, 0, NOW, d);
    assert_true(d[1].prune);
    assert_false(d[0].prune);
    assert_int_equal(d[0].why, PRUNE_KEEP_LAST_COPY);
}

/* ---- real backups ---------------------------------------------------------------------------- */

#define FX_NAME "prune"
#include "fx_backup.h"

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Names (sorted) of the regular files under dir/<3 hex>/. */
static size_t list_pool(const char *target, char ***out)
{
    char *nlo = dv_path_join(target, "nlo");
    DIR *d = opendir(nlo);
    size_t n = 0;
    char **v = NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *sub = dv_path_join(nlo, e->d_name);
        DIR *s = opendir(sub);
        struct dirent *g;
        while (s && (g = readdir(s)))
            if (g->d_name[0] != '.') {
                v = dv_realloc(v, (n + 1) * sizeof *v);
                v[n++] = dv_strdup(g->d_name);
            }
        if (s)
            closedir(s);
        free(sub);
    }
    if (d)
        closedir(d);
    free(nlo);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) {
            char *x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    *out = v;
    return n;
}

struct names {
    char **v;
    size_t n;
};

static void names_add(struct names *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return;
    s->v = dv_realloc(s->v, (s->n + 1) * sizeof *s->v);
    s->v[s->n++] = dv_strdup(name);
}

static int list_cb(void *ud, const struct target_nlo_entry *e)
{
    names_add(ud, e->name);
    return 0;
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* What the retained sets need: the references of their copies (kept deltas applied to a
 * scratch copy) and the objects they stored (their NLO lists). */
static void needed_by_sets(struct fx *f, struct names *need)
{
    struct catalog *c = catalog_open(f->cfg.catalog);
    assert_non_null(c);
    struct catalog_set sets[32];
    size_t n = 0;
    assert_int_equal(catalog_sets_list(c, 0, sets, 32, &n), 0);
    for (size_t i = 0; i < n; i++) {
        char *dir = dv_asprintf("%s/sets/%s", f->cfg.backup.target, sets[i].id);
        struct catalog_set_file *files;
        size_t nf;
        assert_int_equal(catalog_set_files(c, sets[i].id, &files, &nf), 0);
        for (size_t k = 0; k < nf; k++) {
            char *copy = dv_path_join(dir, files[k].path);
            char *scratch = dv_path_join(f->dir, "scratch.nsf");
            assert_int_equal(dv_copy_file_atomic(copy, scratch, 0600), 0);
            if (files[k].delta_mode == CATALOG_DELTA_KEEP)
                assert_int_equal(delta_apply(files[k].delta_location, scratch), 0);
            char **refs;
            size_t nr;
            assert_int_equal(nlorefs_read_file(scratch, &refs, &nr), 0);
            for (size_t j = 0; j < nr; j++)
                names_add(need, refs[j]);
            nlorefs_free(refs, nr);
            unlink(scratch);
            free(scratch);
            free(copy);
        }
        catalog_set_files_free(files, nf);
        char *list = dv_path_join(dir, TARGET_NLO_LIST);
        if (exists(list))
            assert_int_equal(target_nlolist_read(list, list_cb, need), 0);
        free(list);
        free(dir);
    }
    catalog_close(c);
    qsort(need->v, need->n, sizeof *need->v, cmpstr);
}

static void assert_pool_exact(struct fx *f)
{
    struct names need = {0};
    needed_by_sets(f, &need);
    char **files;
    size_t nfiles = list_pool(f->cfg.backup.target, &files);
    assert_int_equal(nfiles, need.n);
    for (size_t i = 0; i < nfiles; i++)
        assert_string_equal(files[i], need.v[i]);
    struct catalog *c = catalog_open(f->cfg.catalog);
    struct catalog_pool_obj rows[512];
    size_t nrows = 0;
    assert_int_equal(catalog_pool_page(c, "", rows, 512, &nrows), 0);
    assert_int_equal(nrows, nfiles);
    for (size_t i = 0; i < nrows; i++)
        assert_string_equal(rows[i].name, files[i]);
    catalog_close(c);
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    for (size_t i = 0; i < need.n; i++)
        free(need.v[i]);
    free(need.v);
}

static char *moved_delta(struct fx *f, const char *set_id, const char *db)
{
    return dv_asprintf("%s/%s/%s.delta", f->offsite, set_id, db);
}

static void test_prune_real(void **state)
{
    struct fx *f = *state;
    char *post = dv_path_join(f->dir, "move.sh");
    write_config(f, "keep", post, "", 1);
    char id[5][32];
    add_docs(f, "mail/a.nsf", 0, 4);
    add_docs(f, "mail/b.nsf", 100, 4);
    backup_ok(f, id[0]);
    add_docs(f, "mail/b.nsf", 200, 2);
    backup_ok(f, id[1]);
    /* b.nsf goes away: its NLOs are needed only by the first two sets */
    char *b = dv_path_join(f->cfg.server.data_dir, "mail/b.nsf");
    unlink(b);
    free(b);
    write_config(f, "keep", post, "/bin/false", 1);
    struct backup_result r;
    assert_int_not_equal(backup_run(&f->cfg, NULL, NULL, &r), 0); /* a failed set */
    snprintf(id[2], 32, "%s", r.set_id);
    write_config(f, "keep", post, "", 1);
    add_docs(f, "mail/a.nsf", 300, 2);
    backup_ok(f, id[3]);
    char *d0 = moved_delta(f, id[0], "b.nsf"), *d3 = moved_delta(f, id[3], "a.nsf");
    assert_true(exists(d0));
    assert_true(exists(d3));
    char **before;
    size_t nbefore = list_pool(f->cfg.backup.target, &before);

    /* dry run: decisions and counts, nothing changed */
    struct prune_opts o = {.dry_run = true};
    struct prune_result pr;
    assert_int_equal(prune_run(&f->cfg, &o, NULL, &pr), 0);
    assert_int_equal(pr.nsets, 4);
    assert_int_equal(pr.sets_pruned, 2);
    assert_int_equal(pr.failed_pruned, 1);
    assert_int_equal(pr.files, 4);
    assert_int_equal(pr.deltas_outside, 4);
    assert_true(pr.nlos >= 6); /* b's 6 attachments at least */
    uint64_t would = pr.nlos;
    prune_result_done(&pr);
    assert_true(exists(d0));
    char **mid;
    assert_int_equal(list_pool(f->cfg.backup.target, &mid), nbefore);
    for (size_t i = 0; i < nbefore; i++)
        free(mid[i]);
    free(mid);

    /* the real thing */
    assert_int_equal(prune_run(&f->cfg, NULL, NULL, &pr), 0);
    assert_int_equal(pr.sets_pruned, 2);
    assert_int_equal(pr.failed_pruned, 1);
    assert_int_equal(pr.nlos, would);
    prune_result_done(&pr);
    assert_false(exists(d0)); /* moved deltas removed where they live */
    char *d1 = moved_delta(f, id[1], "a.nsf");
    assert_false(exists(d1));
    free(d1);
    assert_true(exists(d3)); /* the retained set's stays */
    for (int i = 0; i < 3; i++) {
        char *p = dv_asprintf("%s/sets/%s%s", f->cfg.backup.target, id[i], i == 2 ? ".failed" : "");
        assert_false(exists(p));
        free(p);
    }
    struct catalog *c = catalog_open(f->cfg.catalog);
    struct catalog_set s;
    assert_int_equal(catalog_set_get(c, id[0], &s), 0);
    assert_int_equal(catalog_set_get(c, id[2], &s), 0);
    assert_int_equal(catalog_set_get(c, id[3], &s), 1);
    catalog_close(c);
    assert_pool_exact(f);

    /* a rerun finds nothing */
    assert_int_equal(prune_run(&f->cfg, NULL, NULL, &pr), 0);
    assert_int_equal(pr.sets_pruned + pr.failed_pruned + pr.nlos, 0);
    prune_result_done(&pr);
    for (size_t i = 0; i < nbefore; i++)
        free(before[i]);
    free(before);
    free(d0);
    free(d3);
    free(post);
}

/* A partial set on real backups: retention keeps the older set with the only copy of the
 * database it failed, until a later set copies that database again. */
static void test_prune_partial(void **state)
{
    struct fx *f = *state;
    write_config(f, "apply", "", "", 1);
    char id[3][32];
    add_docs(f, "mail/a.nsf", 0, 3);
    add_docs(f, "mail/b.nsf", 100, 3);
    backup_ok(f, id[0]);
    char *b = dv_path_join(f->cfg.server.data_dir, "mail/b.nsf");
    char *aside = dv_asprintf("%s.aside", b);
    assert_int_equal(rename(b, aside), 0);
    assert_int_equal(dv_write_atomic(b, "", 0, 0600), 0); /* zero bytes */
    add_docs(f, "mail/a.nsf", 200, 1);
    struct backup_result r;
    assert_int_equal(backup_run(&f->cfg, NULL, NULL, &r), -1);
    assert_true(r.partial);
    assert_non_null(strstr(dv_err(), "is partial: 1 database(s) failed: mail/b.nsf ("));
    snprintf(id[1], 32, "%s", r.set_id);

    struct prune_result pr;
    assert_int_equal(prune_run(&f->cfg, NULL, NULL, &pr), 0);
    assert_int_equal(pr.sets_pruned, 0);
    assert_int_equal(pr.nsets, 2);
    assert_string_equal(pr.sets[1].set.id, id[0]);
    assert_false(pr.sets[1].d.prune);
    assert_int_equal(pr.sets[1].d.why, PRUNE_KEEP_LAST_COPY);
    prune_result_done(&pr);
    char *p0 = dv_asprintf("%s/sets/%s/db/mail/b.nsf", f->cfg.backup.target, id[0]);
    assert_true(exists(p0));
    assert_pool_exact(f);

    /* fixed: the next set is complete, and then the old sets may go */
    assert_int_equal(rename(aside, b), 0);
    backup_ok(f, id[2]);
    assert_int_equal(prune_run(&f->cfg, NULL, NULL, &pr), 0);
    assert_int_equal(pr.sets_pruned, 2);
    prune_result_done(&pr);
    assert_false(exists(p0));
    assert_pool_exact(f);
    free(p0);
    free(b);
    free(aside);
}

static const char *self_exe; /* argv[0] (under valgrind /proc/self/exe is valgrind) */

/* A crash after the files went (rows still there, set marked): the rerun finishes. */
static void test_prune_crash_rerun(void **state)
{
    struct fx *f = *state;
    char *post = dv_path_join(f->dir, "move.sh");
    write_config(f, "keep", post, "", 1);
    char id[3][32];
    add_docs(f, "mail/a.nsf", 0, 3);
    backup_ok(f, id[0]);
    add_docs(f, "mail/c.nsf", 50, 3);
    backup_ok(f, id[1]);
    char *c0 = moved_delta(f, id[0], "a.nsf");
    assert_true(exists(c0));
    /* dv_crashpoint reads DV_CRASH_AT once per process: run the prune in a fresh one */
    pid_t pid = fork();
    if (pid == 0) {
        setenv("DV_CRASH_AT", "prune.files", 1);
        execl(self_exe, self_exe, "--prune", f->cfgpath, (char *)NULL);
        _exit(127);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_false(exists(c0));
    struct catalog *c = catalog_open(f->cfg.catalog);
    struct catalog_set s;
    assert_int_equal(catalog_set_get(c, id[0], &s), 1);
    assert_true(s.pruning > 0);
    /* a marked set is not "the newest complete" for anyone */
    assert_int_equal(catalog_set_latest(c, true, &s), 1);
    assert_string_equal(s.id, id[1]);
    catalog_close(c);
    struct prune_result pr;
    assert_int_equal(prune_run(&f->cfg, NULL, NULL, &pr), 0);
    assert_int_equal(pr.sets_pruned, 1);
    assert_int_equal(pr.sets[1].d.why, PRUNE_GO_UNFINISHED);
    prune_result_done(&pr);
    c = catalog_open(f->cfg.catalog);
    assert_int_equal(catalog_set_get(c, id[0], &s), 0);
    catalog_close(c);
    assert_pool_exact(f);
    free(c0);
    free(post);
}

/* A moved delta whose recorded location is not a .delta file is refused; nothing changes. */
static void test_prune_refuses_location(void **state)
{
    struct fx *f = *state;
    char *post = dv_path_join(f->dir, "move.sh");
    write_config(f, "keep", post, "", 1);
    char id[2][32];
    add_docs(f, "mail/a.nsf", 0, 2);
    backup_ok(f, id[0]);
    backup_ok(f, id[1]);
    struct catalog *c = catalog_open(f->cfg.catalog);
    int64_t db = 0;
    assert_int_equal(catalog_db_lookup(c, "mail/a.nsf", &db), 1);
    assert_int_equal(catalog_set_file_move_delta(c, id[0], db, f->cfgpath), 0);
    catalog_close(c);
    struct prune_result pr;
    assert_int_equal(prune_run(&f->cfg, NULL, NULL, &pr), -1);
    assert_non_null(strstr(dv_err(), f->cfgpath));
    assert_int_equal(pr.refused, 1);
    prune_result_done(&pr);
    assert_true(exists(f->cfgpath));
    c = catalog_open(f->cfg.catalog);
    struct catalog_set s;
    assert_int_equal(catalog_set_get(c, id[0], &s), 1);
    assert_int_equal(s.pruning, 0);
    catalog_close(c);
    char *dir = dv_asprintf("%s/sets/%s", f->cfg.backup.target, id[0]);
    assert_true(exists(dir));
    free(dir);
    char *real = moved_delta(f, id[0], "a.nsf");
    c = catalog_open(f->cfg.catalog);
    assert_int_equal(catalog_set_file_move_delta(c, id[0], db, real), 0);
    catalog_close(c);
    free(real);
    assert_pool_exact(f); /* its objects were kept: it is still retained */
    free(post);
}

/* A document with its own NLO, soft-deleted and purged: its NLO is zero-ref at once. */
static void add_purged_doc(struct fx *f, int tag)
{
    struct dv_store *st = store_open(&f->cfg);
    if (!st)
        fail_msg("%s", dv_err());
    struct store_db *h = store_db_open(st, "mail/a.nsf");
    assert_non_null(h);
    char buf[2048], unid[STORE_UNID_LEN + 1];
    memset(buf, 'z', sizeof buf);
    snprintf(buf, sizeof buf, "doomed %d", tag);
    struct store_doc d = {.form = "Memo", .subject = "s", .sender = "x", .body = "b"};
    struct store_att a = {.name = "a.bin", .data = buf, .size = sizeof buf};
    assert_int_equal(store_doc_add(h, &d, &a, 1, unid), 0);
    assert_int_equal(store_doc_delete(h, unid, 0), 0);
    assert_int_equal(store_purge(h, dv_now() + 1, NULL), 0);
    store_db_close(h);
    store_free(st);
}

/* DAOS prune: nothing goes before the first backup; an NLO no complete set holds waits. */
static void test_daos_guard(void **state)
{
    struct fx *f = *state;
    write_config(f, "apply", "", "", 5);
    add_docs(f, "mail/a.nsf", 0, 2);
    add_purged_doc(f, 1);
    struct store_prune_counts pc;
    bool no_catalog = false;
    assert_int_equal(prune_daos(&f->cfg, 0, NULL, &pc, &no_catalog), 0);
    assert_true(no_catalog);
    assert_int_equal(pc.deleted, 0);
    assert_int_equal(pc.waiting_backup, 1);
    assert_false(exists(f->cfg.catalog)); /* not created by the guard */
    char id[32];
    backup_ok(f, id);     /* the NLO pass stores the zero-ref object too: now a set holds it */
    add_purged_doc(f, 2); /* ... but not this one */
    assert_int_equal(prune_daos(&f->cfg, 0, NULL, &pc, &no_catalog), 0);
    assert_false(no_catalog);
    assert_int_equal(pc.deleted, 1);
    assert_int_equal(pc.waiting_backup, 1);
    /* a failed set holding it is not enough */
    write_config(f, "apply", "", "/bin/false", 5);
    struct backup_result r;
    assert_int_not_equal(backup_run(&f->cfg, NULL, NULL, &r), 0);
    assert_int_equal(prune_daos(&f->cfg, 0, NULL, &pc, &no_catalog), 0);
    assert_int_equal(pc.deleted, 0);
    assert_int_equal(pc.waiting_backup, 1);
    write_config(f, "apply", "", "", 5);
    backup_ok(f, id);
    assert_int_equal(prune_daos(&f->cfg, 0, NULL, &pc, &no_catalog), 0);
    assert_int_equal(pc.deleted, 1);
    assert_int_equal(pc.waiting_backup, 0);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--prune") == 0) { /* the crash test's child */
        struct dv_config cfg;
        if (dv_config_load(argv[2], &cfg) != 0)
            return 2;
        struct prune_result pr;
        int rc = prune_run(&cfg, NULL, NULL, &pr);
        prune_result_done(&pr);
        dv_config_done(&cfg);
        return rc == 0 ? 0 : 1;
    }
    self_exe = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select_keep_sets),
        cmocka_unit_test(test_select_keep_days),
        cmocka_unit_test(test_select_newest_full),
        cmocka_unit_test(test_select_origin_chain),
        cmocka_unit_test(test_select_failed_running_marked),
        cmocka_unit_test(test_select_partial),
        cmocka_unit_test_setup_teardown(test_prune_real, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_partial, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_crash_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_refuses_location, setup, teardown),
        cmocka_unit_test_setup_teardown(test_daos_guard, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

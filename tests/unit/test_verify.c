/* test_verify.c - dvault verify on real backups (clean; a flipped byte in a copy, in a kept
 * delta, in a pool NLO, each named), sampling, and the catalog rebuild from the target
 * (resync catalog) giving the same sets, files, pool and holdings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "catalog.h"
#include "config.h"
#include "delta.h"
#include "rebuild.h"
#include "store.h"
#include "target.h"
#include "util.h"
#include "verify.h"

#define FX_NAME "verify"
#include "fx_backup.h"

struct problems {
    char lines[64][2048];
    size_t n;
};

static void on_problem(void *ud, const char *file, const char *msg)
{
    struct problems *p = ud;
    if (p->n < 64)
        snprintf(p->lines[p->n++], sizeof p->lines[0], "%s: %s", file, msg);
}

static bool named(const struct problems *p, const char *file)
{
    size_t n = strlen(file);
    for (size_t i = 0; i < p->n; i++)
        if (strncmp(p->lines[i], file, n) == 0 && p->lines[i][n] == ':')
            return true;
    return false;
}

static void flip(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, off), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, off), 1);
    close(fd);
}

/* Two sets with kept deltas, the newest moved offsite by the post command. */
static void make_sets(struct fx *f, char id[2][32])
{
    char *post = dv_path_join(f->dir, "move.sh");
    write_config(f, "keep", "", "", 10);
    add_docs(f, "mail/a.nsf", 0, 3);
    add_docs(f, "mail/b.nsf", 100, 3);
    backup_ok(f, id[0]);
    write_config(f, "keep", post, "", 10);
    add_docs(f, "mail/a.nsf", 200, 2);
    backup_ok(f, id[1]);
    free(post);
}

static void test_verify_clean_and_flips(void **state)
{
    struct fx *f = *state;
    char id[2][32];
    make_sets(f, id);
    struct problems p = {.n = 0};
    struct verify_result r;
    assert_int_equal(verify_run(&f->cfg, NULL, NULL, on_problem, &p, &r), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(r.sets, 2);
    assert_int_equal(r.copies, 4);
    assert_int_equal(r.deltas, 4);
    assert_int_equal(r.restores, 4);
    assert_int_equal(r.nlos_listed, 8);
    assert_int_equal(r.nlos_checked, 8);

    /* a flipped byte in a copy (set 0), in the moved delta (set 1), in a pool NLO */
    char *copy = dv_asprintf("%s/sets/%s/db/mail/b.nsf", f->cfg.backup.target, id[0]);
    char *delta = dv_asprintf("%s/%s/a.nsf.delta", f->offsite, id[1]);
    flip(copy, 100);
    flip(delta, 50);
    struct catalog *c = catalog_open(f->cfg.catalog);
    struct catalog_pool_obj o[1];
    size_t n = 0;
    assert_int_equal(catalog_pool_page(c, "", o, 1, &n), 0);
    assert_int_equal(n, 1);
    catalog_close(c);
    char *nlo = dv_asprintf("%s/nlo/%.3s/%s", f->cfg.backup.target, o[0].name, o[0].name);
    flip(nlo, 40);
    p.n = 0;
    assert_int_equal(verify_run(&f->cfg, NULL, NULL, on_problem, &p, &r), 1);
    for (size_t i = 0; i < p.n; i++)
        print_message("  %s\n", p.lines[i]);
    assert_int_equal(r.problems, 3);
    assert_int_equal(p.n, 3);
    assert_true(named(&p, copy));
    assert_true(named(&p, delta));
    assert_true(named(&p, nlo));
    assert_int_equal(r.restores, 2); /* the damaged two were not test-restored */

    /* --set: only that set; an unknown set is an error */
    p.n = 0;
    struct verify_opts vo = {.set_id = id[1]};
    assert_int_equal(verify_run(&f->cfg, &vo, NULL, on_problem, &p, &r), 1);
    assert_int_equal(r.sets, 1);
    assert_true(named(&p, delta));
    assert_false(named(&p, copy));
    vo.set_id = "20990101-000000";
    assert_int_equal(verify_run(&f->cfg, &vo, NULL, on_problem, &p, &r), -1);

    /* a damaged manifest is named too */
    flip(copy, 100);
    flip(delta, 50);
    flip(nlo, 40);
    char *man = dv_asprintf("%s/sets/%s/manifest.json", f->cfg.backup.target, id[0]);
    flip(man, 0);
    p.n = 0;
    assert_int_equal(verify_run(&f->cfg, NULL, NULL, on_problem, &p, &r), 1);
    assert_int_equal(p.n, 1);
    assert_true(named(&p, man));
    free(man);
    free(copy);
    free(delta);
    free(nlo);
}

static void test_verify_sample(void **state)
{
    struct fx *f = *state;
    char id[2][32];
    make_sets(f, id);
    /* the sample is deterministic and roughly the percentage */
    int in = 0;
    for (int i = 0; i < 10000; i++) {
        char name[32];
        snprintf(name, sizeof name, "obj%d", i);
        bool s = verify_in_sample(name, 10);
        assert_int_equal(s, verify_in_sample(name, 10));
        in += s;
    }
    assert_in_range(in, 800, 1200);
    assert_true(verify_in_sample("x", 100));
    struct verify_opts vo = {.sample_pct = 50};
    struct verify_result r;
    assert_int_equal(verify_run(&f->cfg, &vo, NULL, NULL, NULL, &r), 0);
    assert_int_equal(r.nlos_listed, 8);
    uint64_t expect = 0;
    struct catalog *c = catalog_open(f->cfg.catalog);
    struct catalog_pool_obj o[64];
    size_t n = 0;
    assert_int_equal(catalog_pool_page(c, "", o, 64, &n), 0);
    catalog_close(c);
    for (size_t i = 0; i < n; i++)
        expect += verify_in_sample(o[i].name, 50);
    assert_int_equal(r.nlos_checked, expect);
}

/* ---- resync catalog ---------------------------------------------------------------------- */

struct snap {
    struct catalog_set sets[16];
    size_t nsets;
    char *text; /* files, pool, holdings as text */
};

static void append(char **s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(char **s, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char *n = dv_asprintf("%s%s", *s ? *s : "", buf);
    free(*s);
    *s = n;
}

static int holds(void *ud, const struct catalog_set *s)
{
    append(ud, " %s", s->id);
    return 0;
}

static void snapshot(struct fx *f, struct snap *sn)
{
    memset(sn, 0, sizeof *sn);
    struct catalog *c = catalog_open(f->cfg.catalog);
    assert_non_null(c);
    assert_int_equal(catalog_sets_list(c, 0, sn->sets, 16, &sn->nsets), 0);
    for (size_t i = 0; i < sn->nsets; i++) {
        sn->sets[i].pid = 0; /* not on the target */
        struct catalog_set_file *files;
        size_t nf;
        if (sn->sets[i].status != CATALOG_SET_COMPLETE)
            continue;
        assert_int_equal(catalog_set_files(c, sn->sets[i].id, &files, &nf), 0);
        for (size_t k = 0; k < nf; k++)
            append(&sn->text, "%s %s %s %lld %s %s %s %s\n", sn->sets[i].id, files[k].db_path,
                   files[k].path, (long long)files[k].size, files[k].sha256,
                   files[k].delta_mode == CATALOG_DELTA_KEEP ? "keep" : "apply",
                   files[k].delta_location ? files[k].delta_location : "-",
                   files[k].delta_sha256 ? files[k].delta_sha256 : "-");
        catalog_set_files_free(files, nf);
    }
    struct catalog_pool_obj o[128];
    size_t n = 0;
    assert_int_equal(catalog_pool_page(c, "", o, 128, &n), 0);
    for (size_t i = 0; i < n; i++) {
        append(&sn->text, "%s %s %lld %lld %lld:", o[i].name, o[i].sha256, (long long)o[i].size,
               (long long)o[i].live_subdir, (long long)o[i].first_set);
        assert_int_equal(catalog_nlo_sets(c, o[i].name, holds, &sn->text), 0);
        append(&sn->text, "\n");
    }
    catalog_close(c);
}

static void test_rebuild_equal(void **state)
{
    struct fx *f = *state;
    char id[2][32];
    make_sets(f, id);
    write_config(f, "apply", "", "/bin/false", 10);
    struct backup_result br;
    assert_int_not_equal(backup_run(&f->cfg, NULL, NULL, &br), 0); /* a failed set */
    write_config(f, "apply", "", "", 10);
    add_docs(f, "mail/b.nsf", 300, 1);
    char id3[32];
    backup_ok(f, id3);
    struct snap a, b;
    snapshot(f, &a);
    assert_int_equal(a.nsets, 4);

    /* without a catalog */
    unlink(f->cfg.catalog);
    struct rebuild_result r;
    if (rebuild_catalog(&f->cfg, NULL, &r) != 0)
        fail_msg("%s", dv_err());
    assert_int_equal(r.sets, 3);
    assert_int_equal(r.failed_sets, 1);
    assert_int_equal(r.deltas_moved, 2);
    assert_int_equal(r.skipped, 0);
    assert_string_equal(r.old_catalog, "");
    snapshot(f, &b);
    assert_int_equal(b.nsets, a.nsets);
    assert_memory_equal(a.sets, b.sets, a.nsets * sizeof a.sets[0]);
    assert_string_equal(a.text, b.text);
    free(b.text);

    /* over an existing catalog: moved aside, not deleted */
    assert_int_equal(rebuild_catalog(&f->cfg, NULL, &r), 0);
    assert_true(r.old_catalog[0] != '\0');
    struct stat st;
    assert_int_equal(stat(r.old_catalog, &st), 0);
    struct catalog *old = catalog_open(r.old_catalog);
    assert_non_null(old);
    struct catalog_set s;
    assert_int_equal(catalog_set_get(old, id[0], &s), 1);
    catalog_close(old);
    snapshot(f, &b);
    assert_string_equal(a.text, b.text);
    free(a.text);
    free(b.text);
    struct verify_result vr;
    assert_int_equal(verify_run(&f->cfg, NULL, NULL, NULL, NULL, &vr), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_verify_clean_and_flips, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_sample, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_equal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * fx_backup.h - the fixture test_prune.c and test_verify.c share: a temp directory with a
 * config.yaml (write_config), a post command that moves kept deltas "offsite", databases with
 * one NLO per document (add_docs) and real backups (backup_ok). Define FX_NAME (the temp
 * directory's name part) before including it; cmocka and the project headers come first.
 */
#ifndef DV_FX_BACKUP_H
#define DV_FX_BACKUP_H

#include "dvtmp.h"

struct fx {
    char dir[256];
    char *cfgpath, *offsite;
    struct dv_config cfg;
};

static void write_config(struct fx *f, const char *delta, const char *post, const char *pre,
                         int keep_sets)
{
    char *yaml = dv_asprintf("server:\n  data_dir: data\n  daos_dir: daos\n"
                             "  min_object_size: 1024\n  encryption: false\n"
                             "  key_file: server.key\n"
                             "backup:\n  target: backup\n  delta: %s\n"
                             "  post_command: \"%s\"\n  pre_command: \"%s\"\n"
                             "  retention: { keep_sets: %d, keep_days: 0 }\n"
                             "catalog: catalog.db\n",
                             delta, post, pre, keep_sets);
    assert_int_equal(dv_write_atomic(f->cfgpath, yaml, strlen(yaml), 0600), 0);
    free(yaml);
    dv_config_done(&f->cfg);
    if (dv_config_load(f->cfgpath, &f->cfg) != 0)
        fail_msg("%s", dv_err());
    struct target_identity tid; /* `dvault target init`, once */
    if (access(f->cfg.backup.target, F_OK) != 0 &&
        target_init(f->cfg.backup.target, f->cfg.server.data_dir, &tid, NULL) != 0)
        fail_msg("%s", dv_err());
}

static int setup(void **state)
{
    struct fx *f = dv_calloc(1, sizeof *f);
    assert_non_null(dvt_mkdtemp(f->dir, sizeof f->dir, FX_NAME));
    f->cfgpath = dv_path_join(f->dir, "config.yaml");
    f->offsite = dv_path_join(f->dir, "offsite");
    assert_int_equal(mkdir(f->offsite, 0700), 0);
    /* the post command: move every kept delta offsite, say so */
    char *script = dv_path_join(f->dir, "move.sh");
    char *body = dv_asprintf("#!/bin/sh\nset -e\nmkdir -p %s/$DV_SET_ID\n"
                             "printf '%%s\\n' \"$DV_DELTAS\" | while IFS= read -r d; do\n"
                             "  [ -n \"$d\" ] || continue\n"
                             "  new=%s/$DV_SET_ID/$(basename \"$d\")\n"
                             "  mv \"$d\" \"$new\"; echo \"moved $d $new\"\ndone\n",
                             f->offsite, f->offsite);
    assert_int_equal(dv_write_atomic(script, body, strlen(body), 0700), 0);
    free(body);
    free(script);
    *state = f;
    return 0;
}

static void rm_rf(const char *p)
{
    char *cmd = dv_asprintf("rm -rf '%s'", p);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    dv_config_done(&f->cfg);
    rm_rf(f->dir);
    free(f->cfgpath);
    free(f->offsite);
    free(f);
    return 0;
}

/* A database with ndocs documents, each with an attachment (an NLO) of its own content. */
static void add_docs(struct fx *f, const char *db, int from, int ndocs)
{
    struct dv_store *st = store_open(&f->cfg);
    if (!st)
        fail_msg("%s", dv_err());
    struct store_db *h = store_db_open(st, db);
    if (!h)
        h = store_db_create(st, db, db);
    if (!h)
        fail_msg("%s", dv_err());
    for (int i = from; i < from + ndocs; i++) {
        char buf[2048];
        memset(buf, 'a' + i % 26, sizeof buf);
        snprintf(buf, sizeof buf, "%s attachment %d", db, i);
        struct store_doc d = {.form = "Memo", .subject = "s", .sender = "x", .body = "b"};
        struct store_att a = {.name = "a.bin", .data = buf, .size = sizeof buf};
        if (store_doc_add(h, &d, &a, 1, NULL) != 0)
            fail_msg("%s", dv_err());
    }
    store_db_close(h);
    store_free(st);
}

static void backup_ok(struct fx *f, char id[32])
{
    struct backup_result r;
    if (backup_run(&f->cfg, NULL, NULL, &r) != 0)
        fail_msg("backup: %s", dv_err());
    snprintf(id, 32, "%s", r.set_id);
}

#endif

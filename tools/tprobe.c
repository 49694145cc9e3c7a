/*
 * tprobe.c - the target's store (target.h, "the target's store") on the command line, for
 * tests/e2e/s3_target.sh: the same calls dvault's jobs make, on the configured target (a
 * directory or an S3 bucket). Not installed.
 *
 *   tprobe CONFIG put REL SRC      copy SRC into the working tree at REL, then target_publish
 *   tprobe CONFIG fetch REL OUT    target_fetch, copy the working copy to OUT, target_evict
 *   tprobe CONFIG list PREFIX      target_list: "<rel> <size>" a line
 *   tprobe CONFIG remove REL       target_remove (exit 4 and "locked until T" when locked)
 *   tprobe CONFIG set SRC...       a set: begin, each SRC as db/<basename> published, finish;
 *                                  prints the id
 *   tprobe CONFIG crash SRC        begin a set, publish SRC into it, exit without finishing
 *   tprobe CONFIG sets             target_sets_scan: one id a line
 *   tprobe CONFIG cleanup          target_cleanup_partial: "cleaned N"
 *   tprobe CONFIG spool            the working tree's files below sets/ (what is spooled)
 *   tprobe CONFIG many N SIZE      N files of SIZE bytes written as nlo/fff/many-<i>, then
 *                                  published at once (target_publish_many)
 * Errors: "tprobe: <message>" on stderr, exit 1 (3 when not held).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fsb.h"
#include "target.h"
#include "tstore.h"
#include "util.h"

static int fail(void)
{
    fprintf(stderr, "tprobe: %s\n", dv_err());
    return errno == ENOENT ? 3 : 1;
}

static int list_cb(void *ud, const char *rel, uint64_t size)
{
    (void)ud;
    printf("%s %llu\n", rel, (unsigned long long)size);
    return 0;
}

/* Copy src into the working tree at rel (its directories made). */
static int put_local(struct target *t, const char *rel, const char *src)
{
    const char *slash = strrchr(rel, '/');
    if (slash) {
        char *dir = dv_asprintf("%.*s", (int)(slash - rel), rel);
        int rc = fsb_mkdirs(target_root(t), dir, 0700);
        free(dir);
        if (rc != 0)
            return -1;
    }
    char *buf = NULL;
    size_t len = 0;
    if (dv_read_file(src, &buf, &len) != 0)
        return -1;
    int rc = fsb_write_atomic(target_root(t), rel, buf, len, 0600);
    free(buf);
    return rc;
}

static int begin(struct target *t, char id[TARGET_SET_ID_MAX])
{
    int n = 0;
    if (target_cleanup_partial(t, &n) != 0)
        return -1;
    return target_set_begin(t, dv_now(), NULL, NULL, id);
}

static int publish_into(struct target *t, const char *id, const char *src)
{
    const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
    char *rel = dv_asprintf("sets/.%s.partial/db/%s", id, base);
    int rc = put_local(t, rel, src);
    if (rc == 0)
        rc = target_publish(t, rel, 0);
    free(rel);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: tprobe CONFIG COMMAND ARGS...\n");
        return 2;
    }
    struct dv_config cfg;
    if (dv_config_load(argv[1], &cfg) != 0) {
        fprintf(stderr, "tprobe: %s\n", dv_err());
        dv_config_done(&cfg);
        return 2;
    }
    const char *cmd = argv[2];
    struct target *t = target_open_cfg(&cfg);
    if (!t) {
        int rc = fail();
        dv_config_done(&cfg);
        return rc;
    }
    int rc = 0;
    char id[TARGET_SET_ID_MAX];
    if (strcmp(cmd, "put") == 0 && argc == 5) {
        rc = put_local(t, argv[3], argv[4]) == 0 && target_publish(t, argv[3], 0) == 0 ? 0 : fail();
    } else if (strcmp(cmd, "fetch") == 0 && argc == 5) {
        char *abs = dv_path_join(target_path(t), argv[3]);
        rc = target_fetch(t, argv[3]) == 0 && dv_copy_file_atomic(abs, argv[4], 0600) == 0 ? 0
                                                                                           : fail();
        free(abs);
        target_evict(t, argv[3]);
    } else if (strcmp(cmd, "list") == 0 && argc == 4) {
        rc = target_list(t, argv[3], list_cb, NULL) == 0 ? 0 : fail();
    } else if (strcmp(cmd, "remove") == 0 && argc == 4) {
        int64_t until = 0;
        if (target_remove(t, argv[3], &until) != 0) {
            bool locked = errno == EPERM;
            rc = fail();
            if (locked) {
                printf("locked until %lld\n", (long long)until);
                rc = 4;
            }
        }
    } else if (strcmp(cmd, "set") == 0 && argc >= 4) {
        rc = begin(t, id);
        for (int i = 3; rc == 0 && i < argc; i++)
            rc = publish_into(t, id, argv[i]);
        struct manifest m;
        manifest_init(&m);
        snprintf(m.id, sizeof m.id, "%s", id);
        snprintf(m.kind, sizeof m.kind, "full");
        m.started = m.ended = dv_now();
        if (rc == 0)
            rc = target_set_finish(t, &m);
        manifest_done(&m);
        if (rc == 0)
            printf("%s\n", id);
        else
            rc = fail();
    } else if (strcmp(cmd, "crash") == 0 && argc == 4) {
        if (begin(t, id) != 0 || publish_into(t, id, argv[3]) != 0)
            rc = fail();
        else
            printf("%s\n", id);
        fflush(stdout);
        _exit(rc); /* as a crash: no finish, no fail, the lock dropped by the kernel */
    } else if (strcmp(cmd, "sets") == 0 && argc == 3) {
        char **ids = NULL;
        size_t n = 0;
        if (target_sets_scan(t, &ids, &n) != 0)
            rc = fail();
        for (size_t i = 0; i < n; i++)
            printf("%s\n", ids[i]);
        target_ids_free(ids, n);
    } else if (strcmp(cmd, "cleanup") == 0 && argc == 3) {
        int n = 0;
        if (target_cleanup_partial(t, &n) != 0)
            rc = fail();
        else
            printf("cleaned %d\n", n);
    } else if (strcmp(cmd, "many") == 0 && argc == 5) {
        long n = atol(argv[3]), size = atol(argv[4]);
        char **rels = dv_calloc((size_t)n + 1, sizeof *rels);
        char *buf = dv_calloc(1, (size_t)size + 1);
        rc = fsb_mkdirs(target_root(t), "nlo/fff", 0700);
        for (long i = 0; rc == 0 && i < n; i++) {
            rels[i] = dv_asprintf("nlo/fff/many-%05ld", i);
            snprintf(buf, (size_t)size + 1, "%ld", i);
            rc = fsb_write_atomic(target_root(t), rels[i], buf, (size_t)size, 0600);
        }
        if (rc == 0)
            rc = target_publish_many(t, (const char *const *)rels, (size_t)n, 0);
        if (rc != 0)
            rc = fail();
        for (long i = 0; i < n; i++)
            free(rels[i]);
        free(rels);
        free(buf);
    } else if (strcmp(cmd, "spool") == 0 && argc == 3) {
        struct tstore *d = tstore_dir_open(target_path(t));
        if (!d || tstore_list(d, "sets/", list_cb, NULL) != 0)
            rc = fail();
        tstore_close(d);
    } else {
        fprintf(stderr, "tprobe: unknown command or arguments: %s\n", cmd);
        rc = 2;
    }
    target_close(t);
    dv_config_done(&cfg);
    return rc;
}

/* daos.c - see daos.h. */
#include "daos.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

int daos_status_print(FILE *f, const struct dv_config *cfg)
{
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    struct store_status s;
    if (store_check(st) != 0 || store_status(st, &s) != 0) {
        store_free(st);
        return -1;
    }
    char since[32], b1[32], b2[32];
    dv_fmt_time(s.state_since, since, sizeof since);
    dv_fmt_bytes(s.bytes, b1, sizeof b1);
    dv_fmt_bytes(s.zero_ref_bytes, b2, sizeof b2);
    fprintf(f, "DAOS index   %s/daoscat.db\n", cfg->server.daos_dir);
    fprintf(f, "state        %s since %s\n", s.needs_resync ? "NEEDS_RESYNC" : "SYNCHRONIZED",
            since);
    if (s.needs_resync)
        fprintf(f, "reason       %s\n", dv_esc(s.reason));
    fprintf(f, "databases    %llu\n", (unsigned long long)s.databases);
    fprintf(f, "objects      %llu (%s), %llu references\n", (unsigned long long)s.objects, b1,
            (unsigned long long)s.references);
    fprintf(f, "zero-ref     %llu (%s) waiting for deferred deletion (%ld days), %llu due now\n",
            (unsigned long long)s.zero_ref, b2, cfg->server.deferred_deletion_days,
            (unsigned long long)s.zero_ref_due);
    fprintf(f, "subdirs      %zu (at most %ld objects each)\n", s.nsubdirs,
            cfg->server.max_files_per_subdir);
    for (size_t i = 0; i < s.nsubdirs; i++)
        fprintf(f, "  %04d %ld\n", s.subdirs[i].subdir, s.subdirs[i].count);
    if (s.needs_resync)
        fprintf(f, "run `dvault resync daos` to rebuild the index\n");
    store_status_done(&s);
    store_free(st);
    return 0;
}

int daos_listnlo(const struct dv_config *cfg, const char *db_path, bool missing_only,
                 daos_name_fn fn, void *ud, uint64_t *n)
{
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    int rc = store_listnlo(st, db_path, missing_only, fn, ud, n);
    store_free(st);
    return rc;
}

int daos_db_check(const struct dv_config *cfg, const char *db_path)
{
    char *abs =
        db_path[0] == '/' ? dv_strdup(db_path) : dv_path_join(cfg->server.data_dir, db_path);
    int rc = -1;
    struct stat st;
    int fd = -1;
    if (stat(abs, &st) != 0) {
        dv_syserr("database %s", abs);
    } else if (S_ISDIR(st.st_mode)) {
        dv_seterr("%s is a directory, not a database", abs);
    } else if (!S_ISREG(st.st_mode)) {
        dv_seterr("%s is not a regular file, not a database", abs);
    } else if ((fd = open(abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0) {
        dv_syserr("database %s", abs);
    } else {
        /* SQLite's header; an empty file is an empty database */
        static const char magic[16] = "SQLite format 3";
        char head[16];
        ssize_t n = dv_pread_full(fd, head, sizeof head, 0);
        if (n < 0)
            dv_syserr("read %s", abs);
        else if (n != 0 && (n != 16 || memcmp(head, magic, 16) != 0))
            dv_seterr("%s is not a SQLite database", abs);
        else
            rc = 0;
    }
    if (fd >= 0)
        close(fd);
    free(abs);
    return rc;
}

int daos_key_check(const struct dv_config *cfg)
{
    return store_key_check(cfg);
}

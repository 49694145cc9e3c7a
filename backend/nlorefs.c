/* nlorefs.c - see nlorefs.h. */
#include "nlorefs.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "dbcopy.h"
#include "delta.h"
#include "pagemap.h"
#include "snapshot.h"
#include "util.h"

void nlorefs_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
}

int nlorefs_query(sqlite3 *db, const char *what, char ***names, size_t *n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='attachments'", -1, &st,
        NULL);
    bool has = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
    if (rc != SQLITE_OK) {
        dv_seterr("%s: not a readable database: %s", what, sqlite3_errmsg(db));
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    if (!has)
        return 0;
    const char *sql = "SELECT DISTINCT nlo FROM attachments WHERE nlo IS NOT NULL";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        dv_seterr("%s: cannot read references: %s", what, sqlite3_errmsg(db));
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!name)
            continue;
        if ((*n & (*n - 1)) == 0) /* 0, 1, 2, 4...: grow to the next power of two */
            *names = dv_realloc(*names, (*n ? *n * 2 : 1) * sizeof **names);
        (*names)[(*n)++] = dv_strdup(name);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        dv_seterr("%s: cannot read references: %s", what, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

int nlorefs_query_live(const char *path, int busy_ms, char ***names, size_t *n)
{
    sqlite3 *db = NULL;
    int rc = snapshot_open(path, busy_ms, &db);
    if (rc == 0)
        rc = nlorefs_query(db, path, names, n);
    sqlite3_close(db);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void nlorefs_sort_unique(char **names, size_t *n)
{
    if (!*n)
        return;
    qsort(names, *n, sizeof *names, cmp_str);
    size_t k = 1;
    for (size_t i = 1; i < *n; i++) {
        if (strcmp(names[i], names[k - 1]) == 0)
            free(names[i]);
        else
            names[k++] = names[i];
    }
    *n = k;
}

int nlorefs_read_file(const char *dbfile, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    sqlite3 *db;
    if (dbcopy_open(dbfile, &db) != 0)
        return -1;
    int rc = nlorefs_query(db, dbfile, names, n);
    sqlite3_close(db);
    if (rc != 0) {
        nlorefs_free(*names, *n);
        *names = NULL;
        *n = 0;
        return -1;
    }
    nlorefs_sort_unique(*names, n);
    return 0;
}

int nlorefs_read_with_delta(int copy_fd, const char *copy, int delta_fd, const char *delta,
                            int scratch_fd, const char *scratch, const struct pagemap *pm,
                            char ***names, size_t *n)
{
    struct stat st;
    if (fstat(copy_fd, &st) != 0 ||
        dv_copy_range(copy_fd, 0, scratch_fd, 0, (uint64_t)st.st_size) != st.st_size) {
        dv_syserr("copy %s to %s", copy, scratch);
        return -1;
    }
    if (delta_apply_fd(delta_fd, delta, scratch_fd, scratch) != 0)
        return -1;
    if (pm &&
        pagemap_check_fd(pm, scratch_fd, scratch, "the copy with its kept delta applied") != 0)
        return -1;
    return nlorefs_read_file(scratch, names, n);
}

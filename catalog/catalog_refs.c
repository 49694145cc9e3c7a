/* catalog_refs.c - the NLO pool, references, prune support (catalog.h; private parts:
 * catalog_int.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "catalog_int.h"
#include "util.h"

/* ---- pool -------------------------------------------------------------------------- */

static void read_pool(sqlite3_stmt *s, struct catalog_pool_obj *o)
{
    memset(o, 0, sizeof *o);
    catalog_col_copy(s, 0, o->name, sizeof o->name);
    catalog_col_copy(s, 1, o->sha256, sizeof o->sha256);
    o->size = sqlite3_column_int64(s, 2);
    o->live_subdir = sqlite3_column_int64(s, 3);
    o->first_set = sqlite3_column_int64(s, 4);
    o->stored_at = sqlite3_column_int64(s, 5);
}

int catalog_pool_get(struct catalog *c, const char *name, struct catalog_pool_obj *out)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_GET);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (out)
            read_pool(s, out);
        sqlite3_reset(s);
        return 1;
    }
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : catalog_db_err(c, "look up pool object");
}

/* One statement per object in one transaction (or the caller's): the insert binds every
 * column, the repair the first four (name, sha256, size, live_subdir). */
static int pool_batch(struct catalog *c, const struct catalog_pool_obj *objs, size_t n, int st,
                      bool all_columns, const char *what)
{
    if (n == 0)
        return 0;
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_stmt *s = catalog_stmt(c, st);
        if (!s) {
            rc = -1;
            break;
        }
        const struct catalog_pool_obj *o = &objs[i];
        catalog_bind_text(s, 1, o->name);
        catalog_bind_text(s, 2, o->sha256);
        sqlite3_bind_int64(s, 3, o->size);
        sqlite3_bind_int64(s, 4, o->live_subdir);
        if (all_columns) {
            sqlite3_bind_int64(s, 5, o->first_set);
            sqlite3_bind_int64(s, 6, o->stored_at);
        }
        rc = catalog_step_done(c, s, what);
    }
    return catalog_tx_leave(c, own, rc);
}

int catalog_pool_insert_batch(struct catalog *c, const struct catalog_pool_obj *objs, size_t n)
{
    return pool_batch(c, objs, n, ST_POOL_UPSERT, true, "insert pool object");
}

static int name_page(struct catalog *c, sqlite3_stmt *s, char (*names)[CATALOG_NLO_NAME_LEN + 1],
                     size_t max, size_t *n, const char *what)
{
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        catalog_col_copy(s, 0, names[k++], CATALOG_NLO_NAME_LEN + 1);
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return catalog_db_err(c, what);
    *n = k;
    return 0;
}

int catalog_pool_subdir_page(struct catalog *c, int64_t live_subdir, const char *after,
                             char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_SUBDIR_PAGE);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, live_subdir);
    catalog_bind_text(s, 2, after ? after : "");
    sqlite3_bind_int64(s, 3, (int64_t)max);
    return name_page(c, s, names, max, n, "list pool subdirectory");
}

int catalog_pool_repair_batch(struct catalog *c, const struct catalog_pool_obj *objs, size_t n)
{
    return pool_batch(c, objs, n, ST_POOL_REPAIR, false, "record repaired pool object");
}

int catalog_pool_name_page(struct catalog *c, const char *after,
                           char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_NAME_PAGE);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, after ? after : "");
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return name_page(c, s, names, max, n, "list pool names");
}

static int pool_page(struct catalog *c, sqlite3_stmt *s, struct catalog_pool_obj *out, size_t max,
                     size_t *n)
{
    size_t k = 0;
    int rc = SQLITE_DONE;
    while (k < max && (rc = sqlite3_step(s)) == SQLITE_ROW)
        read_pool(s, &out[k++]);
    sqlite3_reset(s);
    if (k < max && rc != SQLITE_DONE)
        return catalog_db_err(c, "list pool");
    *n = k;
    return 0;
}

int catalog_pool_page(struct catalog *c, const char *after, struct catalog_pool_obj *out,
                      size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_PAGE);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, after ? after : "");
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return pool_page(c, s, out, max, n);
}

int catalog_pool_count_first_set(struct catalog *c, int64_t seq, int64_t *count)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_COUNT_FIRST);
    if (!s)
        return -1;
    sqlite3_bind_int64(s, 1, seq);
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return catalog_db_err(c, "count pool objects of a set");
    }
    *count = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    return 0;
}

int catalog_pool_page_back(struct catalog *c, const char *before, struct catalog_pool_obj *out,
                           size_t max, size_t *n)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_PAGE_BACK);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, before ? before : "");
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return pool_page(c, s, out, max, n);
}

int catalog_pool_stats(struct catalog *c, int64_t *count, int64_t *bytes)
{
    sqlite3_stmt *s = catalog_stmt(c, ST_POOL_STATS);
    if (!s)
        return -1;
    if (sqlite3_step(s) != SQLITE_ROW) {
        sqlite3_reset(s);
        return catalog_db_err(c, "pool stats");
    }
    if (count)
        *count = sqlite3_column_int64(s, 0);
    if (bytes)
        *bytes = sqlite3_column_int64(s, 1);
    sqlite3_reset(s);
    return 0;
}

int catalog_pool_delete(struct catalog *c, const char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t n)
{
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        sqlite3_stmt *s = catalog_stmt(c, ST_POOL_DELETE);
        if (!s) {
            rc = -1;
            break;
        }
        catalog_bind_text(s, 1, names[i]);
        rc = catalog_step_done(c, s, "delete pool object");
    }
    return catalog_tx_leave(c, own, rc);
}

/* ---- references -------------------------------------------------------------------- */

#define REFS_PAGE 1024

int catalog_refs_record(struct catalog *c, int64_t db_id, int64_t set_seq, const char *const *names,
                        size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) > 0) {
            dv_seterr("catalog: references of database %lld are not sorted (%s after %s)",
                      (long long)db_id, names[i], names[i - 1]);
            return -1;
        }
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int rc = -1;
    char(*page)[CATALOG_NLO_NAME_LEN + 1] = dv_malloc(REFS_PAGE * sizeof *page);
    int64_t prev = 0;
    sqlite3_stmt *s = catalog_stmt(c, ST_DB_LAST_REF);
    if (!s)
        goto out;
    sqlite3_bind_int64(s, 1, db_id);
    int r = sqlite3_step(s);
    if (r != SQLITE_ROW) {
        sqlite3_reset(s);
        if (r == SQLITE_DONE)
            dv_seterr("catalog %s: no database %lld", c->path, (long long)db_id);
        else
            catalog_db_err(c, "read database");
        goto out;
    }
    prev = sqlite3_column_int64(s, 0); /* NULL -> 0: never recorded */
    sqlite3_reset(s);
    if (set_seq <= prev) {
        dv_seterr("catalog: references of database %lld already recorded up to set seq %lld "
                  "(got %lld)",
                  (long long)db_id, (long long)prev, (long long)set_seq);
        goto out;
    }

    /* Merge the sorted list with the open ranges, paged in name order. Rows written below
     * are always before the current page position, so paging stays consistent. */
    size_t i = 0, np = 0, j = 0;
    bool more = true;
    char last[CATALOG_NLO_NAME_LEN + 1] = "";
    for (;;) {
        if (j == np && more) {
            if (!(s = catalog_stmt(c, ST_REFS_OPEN_PAGE)))
                goto out;
            sqlite3_bind_int64(s, 1, db_id);
            catalog_bind_text(s, 2, last);
            sqlite3_bind_int64(s, 3, REFS_PAGE);
            if (name_page(c, s, page, REFS_PAGE, &np, "read references") != 0)
                goto out;
            j = 0;
            more = np == REFS_PAGE;
            if (np)
                memcpy(last, page[np - 1], sizeof last);
        }
        /* Skip duplicates in the input. */
        while (i > 0 && i < n && strcmp(names[i], names[i - 1]) == 0)
            i++;
        bool have_r = j < np, have_l = i < n;
        if (!have_r && !have_l)
            break;
        int cmp = !have_r ? -1 : !have_l ? 1 : strcmp(names[i], page[j]);
        if (cmp == 0) {
            i++;
            j++;
            continue;
        }
        if (cmp < 0) {
            if (!(s = catalog_stmt(c, ST_REFS_OPEN)))
                goto out;
            sqlite3_bind_int64(s, 1, db_id);
            catalog_bind_text(s, 2, names[i]);
            sqlite3_bind_int64(s, 3, set_seq);
            if (catalog_step_done(c, s, "open reference") != 0)
                goto out;
            i++;
        } else {
            if (!(s = catalog_stmt(c, ST_REFS_CLOSE)))
                goto out;
            sqlite3_bind_int64(s, 1, db_id);
            catalog_bind_text(s, 2, page[j]);
            sqlite3_bind_int64(s, 3, prev);
            if (catalog_step_done(c, s, "close reference") != 0)
                goto out;
            j++;
        }
    }
    if (!(s = catalog_stmt(c, ST_DB_SET_LAST_REF)))
        goto out;
    sqlite3_bind_int64(s, 1, db_id);
    sqlite3_bind_int64(s, 2, set_seq);
    if (catalog_step_done(c, s, "record reference seq") != 0)
        goto out;
    rc = 0;
out:
    free(page);
    return catalog_tx_leave(c, own, rc);
}

int catalog_nlo_sets(struct catalog *c, const char *name, catalog_set_cb cb, void *ud)
{
    /* Collect first so that the callback may use the catalog. */
    sqlite3_stmt *s = catalog_stmt(c, ST_NLO_SETS);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, name);
    size_t k = 0, cap = 0;
    struct catalog_set *v = NULL;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (k == cap) {
            cap = cap ? cap * 2 : 8;
            v = dv_realloc(v, cap * sizeof *v);
        }
        catalog_read_set(s, 0, &v[k++]);
    }
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        free(v);
        return catalog_db_err(c, "sets holding NLO");
    }
    int r = 0;
    for (size_t i = 0; i < k && r == 0; i++)
        r = cb(ud, &v[i]);
    free(v);
    return r;
}

/* ---- prune support ----------------------------------------------------------------- */

static int temp_tables(struct catalog *c)
{
    if (c->temp_ready)
        return 0;
    if (catalog_exec(
            c,
            "CREATE TEMP TABLE IF NOT EXISTS keep_sets (seq INTEGER PRIMARY KEY);"
            "CREATE TEMP TABLE IF NOT EXISTS needed (name TEXT PRIMARY KEY) WITHOUT ROWID;",
            "create temporary tables") != 0)
        return -1;
    c->temp_ready = true;
    return 0;
}

int catalog_needed_compute(struct catalog *c, const int64_t *seqs, size_t nseqs, int64_t *count)
{
    if (temp_tables(c) != 0)
        return -1;
    bool own;
    if (catalog_tx_enter(c, &own) != 0)
        return -1;
    int rc = -1;
    sqlite3_stmt *s;
    if (!(s = catalog_stmt(c, ST_KEEP_CLEAR)) ||
        catalog_step_done(c, s, "clear retained sets") != 0)
        goto out;
    if (!(s = catalog_stmt(c, ST_NEEDED_CLEAR)) ||
        catalog_step_done(c, s, "clear needed NLOs") != 0)
        goto out;
    for (size_t i = 0; i < nseqs; i++) {
        if (!(s = catalog_stmt(c, ST_KEEP_ADD)))
            goto out;
        sqlite3_bind_int64(s, 1, seqs[i]);
        if (catalog_step_done(c, s, "add retained set") != 0)
            goto out;
    }
    if (!(s = catalog_stmt(c, ST_NEEDED_FIRST)) ||
        catalog_step_done(c, s, "NLOs stored by retained sets") != 0)
        goto out;
    if (!(s = catalog_stmt(c, ST_NEEDED_REFS)) ||
        catalog_step_done(c, s, "NLOs referenced by retained sets") != 0)
        goto out;
    if (count) {
        if (!(s = catalog_stmt(c, ST_NEEDED_COUNT)))
            goto out;
        if (sqlite3_step(s) != SQLITE_ROW) {
            sqlite3_reset(s);
            catalog_db_err(c, "count needed NLOs");
            goto out;
        }
        *count = sqlite3_column_int64(s, 0);
        sqlite3_reset(s);
    }
    rc = 0;
out:
    return catalog_tx_leave(c, own, rc);
}

int catalog_needed_page(struct catalog *c, const char *after,
                        char (*names)[CATALOG_NLO_NAME_LEN + 1], size_t max, size_t *n)
{
    if (temp_tables(c) != 0)
        return -1;
    sqlite3_stmt *s = catalog_stmt(c, ST_NEEDED_PAGE);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, after ? after : "");
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return name_page(c, s, names, max, n, "list needed NLOs");
}

int catalog_unneeded_page(struct catalog *c, const char *after, struct catalog_pool_obj *out,
                          size_t max, size_t *n)
{
    if (temp_tables(c) != 0)
        return -1;
    sqlite3_stmt *s = catalog_stmt(c, ST_UNNEEDED_PAGE);
    if (!s)
        return -1;
    catalog_bind_text(s, 1, after ? after : "");
    sqlite3_bind_int64(s, 2, (int64_t)max);
    return pool_page(c, s, out, max, n);
}

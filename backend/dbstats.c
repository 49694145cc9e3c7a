/* dbstats.c - see dbstats.h. */
#include "dbstats.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "util.h"

/* One integer from sql; tables may be missing (then *out stays 0 and 0 is returned). */
static int one_int(sqlite3 *h, const char *sql, int64_t *out, const char *path)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", path, sqlite3_errmsg(h));
        return -1;
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    else
        dv_seterr("%s: %s", path, sqlite3_errmsg(h));
    sqlite3_finalize(s);
    return rc == SQLITE_ROW ? 0 : -1;
}

int dbstats_read(const struct dv_config *cfg, const char *path, struct dbstats *out)
{
    memset(out, 0, sizeof *out);
    char *abs = dv_path_join(cfg->server.data_dir, path);
    struct stat sb;
    if (stat(abs, &sb) != 0) {
        dv_syserr("%s", abs);
        free(abs);
        return -1;
    }
    out->size = (int64_t)sb.st_size;
    sqlite3 *h = NULL;
    int rc = -1;
    if (sqlite3_open_v2(abs, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", abs, h ? sqlite3_errmsg(h) : "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(h, 2000);
    int64_t tables = 0;
    if (one_int(h,
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table' "
                "AND name IN ('notes', 'attachments')",
                &tables, abs) != 0)
        goto out;
    out->has_schema = tables == 2;
    if (out->has_schema &&
        (one_int(h, "SELECT count(*) FROM notes WHERE deleted IS NULL", &out->documents, abs) !=
             0 ||
         one_int(h, "SELECT count(*) FROM notes WHERE deleted IS NOT NULL", &out->deleted, abs) !=
             0 ||
         one_int(h, "SELECT count(*) FROM attachments", &out->attachments, abs) != 0 ||
         one_int(h, "SELECT count(DISTINCT nlo) FROM attachments WHERE nlo IS NOT NULL",
                 &out->nlo_refs, abs) != 0))
        goto out;
    rc = 0;
out:
    sqlite3_close(h);
    free(abs);
    return rc;
}

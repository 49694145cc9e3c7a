/* dbcopy.c - see dbcopy.h. */
#include "dbcopy.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "util.h"

int dbcopy_open(const char *path, sqlite3 **db)
{
    char *uri = dv_file_uri(path, "immutable=1");
    *db = NULL;
    int rc = sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    if (rc != SQLITE_OK) {
        dv_seterr("%s: cannot open: %s", path, *db ? sqlite3_errmsg(*db) : "out of memory");
        sqlite3_close(*db);
        *db = NULL;
        return -1;
    }
    return 0;
}

int dbcopy_integrity_check(const char *path)
{
    sqlite3 *db;
    if (dbcopy_open(path, &db) != 0)
        return -1;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check(1)", -1, &st, NULL);
    int result = -1;
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *msg = (const char *)sqlite3_column_text(st, 0);
        if (msg && strcmp(msg, "ok") == 0)
            result = 0;
        else
            dv_seterr("%s: integrity_check failed: %s", path, msg ? msg : "?");
    } else {
        dv_seterr("%s: integrity_check failed: %s", path, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return result;
}

/* snapshot.c - see snapshot.h (the descriptor rule is there). */
#include "snapshot.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static int sql_err(sqlite3 *db, const char *step)
{
    dv_seterr("%s: %s", step, db ? sqlite3_errmsg(db) : "cannot open");
    return -1;
}

int snapshot_open(const char *path, int busy_ms, sqlite3 **db)
{
    *db = NULL;
    if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sql_err(*db, "open read-only");
        goto fail;
    }
    sqlite3_busy_timeout(*db, busy_ms > 0 ? busy_ms : SNAPSHOT_BUSY_MS);
    if (sqlite3_db_config(*db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK) {
        sql_err(*db, "no checkpoint on close");
        goto fail;
    }
    return 0;
fail:
    sqlite3_close(*db);
    *db = NULL;
    return -1;
}

int snapshot_text(sqlite3 *db, const char *sql, const char *arg, char *out, size_t n)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_err(db, sql);
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, n, "%s", t ? (const char *)t : "");
    } else if (rc != SQLITE_DONE) {
        sql_err(db, sql);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

/* The database's identity, as of the pinned snapshot ("" without a dbinfo table). */
static int read_identity(struct dv_snapshot *s)
{
    char has[8];
    if (snapshot_text(s->db,
                      "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='dbinfo'",
                      NULL, has, sizeof has) != 0)
        return -1;
    if (strcmp(has, "0") == 0)
        return 0;
    const char *q = "SELECT value FROM dbinfo WHERE key=?";
    if (snapshot_text(s->db, q, "replica_id", s->replica_id, sizeof s->replica_id) ||
        snapshot_text(s->db, q, "dbiid", s->dbiid, sizeof s->dbiid))
        return -1;
    return 0;
}

int snapshot_begin(struct dv_snapshot *s, const char *path, int busy_ms)
{
    memset(s, 0, sizeof *s);
    s->wal_fd = -1;
    /* opened BEFORE the connection, closed after it (snapshot.h) */
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        dv_syserr("open");
        return -1;
    }
    if (snapshot_open(path, busy_ms, &s->db) != 0)
        return -1;
    char mode[32], buf[32];
    if (snapshot_text(s->db, "PRAGMA journal_mode", NULL, mode, sizeof mode) != 0)
        return -1;
    s->wal_mode = strcmp(mode, "wal") == 0;
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return sql_err(s->db, "BEGIN");
    s->in_txn = true;
    /* the first read takes the read mark (WAL) or the shared lock: the snapshot is pinned */
    if (snapshot_text(s->db, "SELECT count(*) FROM sqlite_master", NULL, buf, sizeof buf) != 0)
        return -1;
    if (snapshot_text(s->db, "PRAGMA page_size", NULL, buf, sizeof buf) != 0)
        return -1;
    s->page_size = (uint32_t)strtoul(buf, NULL, 10);
    if (read_identity(s) != 0)
        return -1;
    struct stat sb;
    if (fstat(s->fd, &sb) != 0) {
        dv_syserr("stat");
        return -1;
    }
    s->size = (uint64_t)sb.st_size;
    if (sb.st_size == 0) { /* SQLite reads it as an empty database: a copy would hold nothing */
        dv_seterr("empty file (0 bytes): not a database");
        return -1;
    }
    return 0;
}

int snapshot_end(struct dv_snapshot *s)
{
    int rc = 0;
    if (s->in_txn && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = sql_err(s->db, "end transaction");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    s->in_txn = false;
    if (s->db && sqlite3_close(s->db) != SQLITE_OK && rc == 0)
        rc = sql_err(s->db, "close");
    s->db = NULL;
    /* only now: any close of the file would have dropped SQLite's locks (snapshot.h) */
    if (s->fd >= 0)
        close(s->fd);
    if (s->wal_fd >= 0)
        close(s->wal_fd);
    s->fd = s->wal_fd = -1;
    return rc;
}

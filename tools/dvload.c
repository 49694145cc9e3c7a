/*
 * dvload.c - the simulated document server's traffic: users, mail, attachments, deletes.
 *
 *   dvload [-c FILE] init --databases N --docs M [--seed S] [--page-size BYTES]
 *   dvload [-c FILE] run --seconds S [--writers W] [--seed S] [--max-size BYTES] [--db GLOB]
 *                        [--rate N] [--reconnect N] [--vacuum PERMILLE] [--truncate PERMILLE]
 *   dvload [-c FILE] bank --seconds S [--writers W] [--db REL] [--rate N]
 *   dvload [-c FILE] verify
 *   dvload verify --file PATH    one database file (a restored copy): integrity and invariants
 *   dvload [-c FILE] delete --db REL [--when EPOCH] UNID...   soft-delete documents
 *   dvload [-c FILE] purge --db REL [--when EPOCH]    purge those soft-deleted at or before
 * delete and purge go through the server's write path (refcounts kept exact), as a user's
 * deletion and the server's purge (emptying the trash) do; --when defaults to now.
 *
 * Attachments come from a shared pool of deterministic payloads (from the seed), so many
 * documents share NLOs; sizes are log-uniform-ish from 1 KiB to 4 MiB, mostly small. Every
 * database also carries two writer-invariant tables for hot-backup tests:
 *   dvload_accounts(id, balance)  transfers keep sum(balance) = ACCOUNTS * 1000
 *   dvload_txlog(seq, at_us, writer, kind)  one row per committed write transaction
 * run's options make the traffic an application's that maintains its files: --reconnect N
 * writers (the first N) open and close their connection around every transaction; after a
 * commit, --vacuum runs VACUUM and --truncate PRAGMA wal_checkpoint(TRUNCATE) with that
 * probability in thousandths (both change the file's size under a backup). run --db GLOB
 * writes only the dvload databases GLOB matches (dbglob syntax, relative to data_dir); run
 * and bank --rate N cap the transactions at N a second in total (0: as fast as they can).
 *
 * bank is a heavy writer on ONE database (default: the first dvload database), like a bank
 * application: W writers (default 2), each its own connection, commit small transactions as
 * fast as they can (or --rate N commits/s in total): BEGIN IMMEDIATE, a transfer between two
 * random accounts, a dvload_txlog row (kind 'bank', at_us taken just before COMMIT), COMMIT.
 * run and bank print the transaction time (BEGIN to COMMIT returned) p50 / p99 / max.
 * A configuration without server.daos_dir makes a server without DAOS: every attachment is
 * stored inline, no index, no key (init creates none), and verify checks that no database
 * references an NLO.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "dbglob.h"
#include "store.h"
#include "util.h"

#define ACCOUNTS 16
#define START_BALANCE 1000
#define MIN_SIZE 1024.0
#define MAX_SIZE (4.0 * 1024 * 1024)

/* --max-size: the largest attachment (long soaks keep the disk bounded with it) */
static double max_size = MAX_SIZE;
/* run: writers that reconnect per transaction; VACUUM / checkpoint(TRUNCATE) per mille */
static long reconnect_writers, vacuum_pm, truncate_pm;

static const char *const USERS[] = {"alice",   "bob",   "carol",  "dave",   "eve",
                                    "frank",   "grace", "heidi",  "ivan",   "judy",
                                    "mallory", "niaj",  "olivia", "peggy",  "rupert",
                                    "sybil",   "trent", "victor", "walter", "yolanda"};
#define NUSERS (sizeof USERS / sizeof USERS[0])
static const char *const SUBJECTS[] = {"Quarterly report",  "Lunch on Friday?",
                                       "Contract draft",    "Photos from the offsite",
                                       "Invoice",           "Meeting notes",
                                       "Travel plans",      "Budget 2027",
                                       "Slides for Monday", "Server maintenance window",
                                       "Re: your question", "Scanned documents",
                                       "Price list",        "Design review"};
static const char *const WORDS[] = {"please",  "find",   "attached", "the",    "latest",
                                    "version", "of",     "document", "we",     "discussed",
                                    "regards", "thanks", "review",   "before", "meeting",
                                    "budget",  "team",   "update"};
static const char *const EXTS[] = {"pdf", "docx", "xlsx", "png", "jpg", "zip", "pptx"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- deterministic randomness --------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double unif(uint64_t *s)
{
    return (double)(splitmix(s) >> 11) / 9007199254740992.0;
}

/* Payload `id` of the run with seed: size and bytes depend only on (seed, id). */
static size_t payload_size(uint64_t seed, uint64_t id)
{
    uint64_t s = seed * 1000003u + id * 7919u + 17;
    double u = unif(&s);
    /* mostly small: u^4 skews towards MIN_SIZE; 1 in 8 is a small inline attachment */
    if (splitmix(&s) % 8 == 0)
        return 100 + (size_t)(u * 2000);
    return (size_t)(MIN_SIZE * exp(u * u * u * u * log(max_size / MIN_SIZE)));
}

static unsigned char *payload(uint64_t seed, uint64_t id, size_t *size)
{
    size_t n = payload_size(seed, id);
    unsigned char *b = dv_malloc(n);
    uint64_t s = seed * 0x2545f4914f6cdd1dull + id;
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = splitmix(&s);
        memcpy(b + i, &v, n - i < 8 ? n - i : 8);
    }
    *size = n;
    return b;
}

/* ---- transaction times: a log-linear histogram (about 3% precision) and the exact max ---- */

#define LAT_SUB 32 /* buckets per power of two above 2 * LAT_SUB microseconds */
#define LAT_BUCKETS (2 * LAT_SUB + 58 * LAT_SUB)

struct lat {
    uint64_t n, max_us;
    uint64_t b[LAT_BUCKETS];
};

static size_t lat_bucket(uint64_t us)
{
    if (us < 2 * LAT_SUB)
        return (size_t)us;
    int msb = 63 - __builtin_clzll(us); /* >= 6 */
    uint64_t top = us >> (msb - 5);     /* 32 .. 63 */
    return 2 * LAT_SUB + (size_t)(msb - 6) * LAT_SUB + (size_t)(top - LAT_SUB);
}

/* The middle of bucket i, in microseconds. */
static double lat_value(size_t i)
{
    if (i < 2 * LAT_SUB)
        return (double)i + 0.5;
    int shift = (int)((i - 2 * LAT_SUB) / LAT_SUB) + 1;
    uint64_t top = (i - 2 * LAT_SUB) % LAT_SUB + LAT_SUB;
    return (double)(top << shift) + (double)(1ull << shift) / 2;
}

static void lat_add(struct lat *l, double seconds)
{
    uint64_t us = seconds > 0 ? (uint64_t)(seconds * 1e6) : 0;
    l->b[lat_bucket(us)]++;
    l->n++;
    if (us > l->max_us)
        l->max_us = us;
}

static void lat_merge(struct lat *into, const struct lat *l)
{
    for (size_t i = 0; i < LAT_BUCKETS; i++)
        into->b[i] += l->b[i];
    into->n += l->n;
    if (l->max_us > into->max_us)
        into->max_us = l->max_us;
}

/* The p-quantile (0 < p <= 1) in milliseconds; never more than the max. */
static double lat_ms(const struct lat *l, double p)
{
    uint64_t rank = (uint64_t)ceil(p * (double)l->n), seen = 0;
    if (rank == 0)
        rank = 1;
    for (size_t i = 0; i < LAT_BUCKETS && l->n; i++)
        if ((seen += l->b[i]) >= rank)
            return fmin(lat_value(i), (double)l->max_us) / 1000.0;
    return 0;
}

static void lat_print(const char *who, const struct lat *l)
{
    printf("%s: transaction time p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", who, lat_ms(l, 0.5),
           lat_ms(l, 0.99), (double)l->max_us / 1000.0);
}

/* ---- documents -------------------------------------------------------------------------- */

struct gen {
    uint64_t seed;  /* the run's seed: payload ids are global */
    uint64_t pool;  /* shared payload ids are 0 .. pool-1 */
    uint64_t rng;   /* this generator's state */
    uint64_t fresh; /* next new payload id (writer-specific range) */
};

static uint64_t pick_shared(struct gen *g)
{
    double u = unif(&g->rng);
    return (uint64_t)(u * u * (double)g->pool); /* low ids are popular */
}

static int add_mail(struct store_db *db, struct gen *g, const char *owner, double fresh_share)
{
    char subject[128], body[1024], names[3][64];
    bool reply = splitmix(&g->rng) % 3 == 0;
    snprintf(subject, sizeof subject, "%s%s", reply ? "Re: " : "",
             SUBJECTS[splitmix(&g->rng) % N(SUBJECTS)]);
    size_t bl = 0;
    bl += (size_t)snprintf(body, sizeof body, "Hello %s,\n", owner);
    int words = 20 + (int)(splitmix(&g->rng) % 80);
    for (int i = 0; i < words && bl < sizeof body - 16; i++)
        bl += (size_t)snprintf(body + bl, sizeof body - bl, "%s ",
                               WORDS[splitmix(&g->rng) % N(WORDS)]);
    const char *sender = USERS[splitmix(&g->rng) % NUSERS];
    struct store_att att[3];
    unsigned char *bufs[3] = {0};
    size_t natt = splitmix(&g->rng) % 4;
    for (size_t i = 0; i < natt; i++) {
        uint64_t id = unif(&g->rng) < fresh_share ? g->fresh++ : pick_shared(g);
        size_t n;
        bufs[i] = payload(g->seed, id, &n);
        snprintf(names[i], sizeof names[i], "file-%llu.%s", (unsigned long long)id,
                 EXTS[id % N(EXTS)]);
        att[i] = (struct store_att){names[i], bufs[i], n};
    }
    struct store_doc d = {reply ? "Reply" : "Memo", subject, sender, body, 0};
    int rc = store_doc_add(db, &d, att, natt, NULL);
    for (size_t i = 0; i < natt; i++)
        free(bufs[i]);
    return rc;
}

static int sql(sqlite3 *h, const char *q)
{
    char *msg = NULL;
    if (sqlite3_exec(h, q, NULL, NULL, &msg) != SQLITE_OK) {
        dv_seterr("%s: %s", q, msg ? msg : sqlite3_errmsg(h));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int txlog(struct store_db *db, int writer, const char *kind)
{
    sqlite3 *h = store_db_sqlite(db);
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h, "INSERT INTO dvload_txlog(at_us, writer, kind) VALUES (?1, ?2, ?3)",
                           -1, &s, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", store_db_path(db), sqlite3_errmsg(h));
        return -1;
    }
    sqlite3_bind_int64(s, 1, dv_now_us());
    sqlite3_bind_int(s, 2, writer);
    sqlite3_bind_text(s, 3, kind, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_DONE ? 0 : -1;
    if (rc)
        dv_seterr("%s: txlog: %s", store_db_path(db), sqlite3_errmsg(h));
    sqlite3_finalize(s);
    return rc;
}

/* ---- init ---------------------------------------------------------------------------------- */

static void user_name(size_t i, char *out, size_t n)
{
    if (i < NUSERS)
        snprintf(out, n, "%s", USERS[i]);
    else
        snprintf(out, n, "user%03zu", i + 1);
}

static int cmd_init(struct dv_config *cfg, long ndb, long ndocs, uint64_t seed, long page_size)
{
    /* the server creates its key (dvault never does); without DAOS nothing is encrypted */
    if (cfg->server.encryption && dv_config_has_daos(cfg) && store_key_create(cfg) != 0)
        return -1;
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    if (store_key_require(st) != 0) {
        store_free(st);
        return -1;
    }
    struct gen g = {.seed = seed, .pool = 32 + (uint64_t)(ndb * ndocs) / 4, .rng = seed ^ 0xabcdef};
    g.fresh = 1ull << 40; /* init uses the shared pool, plus a few of its own */
    double t0 = dv_mono();
    long docs = 0;
    for (long d = 0; d < ndb; d++) {
        char user[32], rel[64];
        user_name((size_t)d, user, sizeof user);
        snprintf(rel, sizeof rel, "mail/%s.nsf", user);
        char *title = dv_asprintf("Mail of %s", user);
        struct store_db *db = store_db_create_ps(st, rel, title, (unsigned)page_size);
        free(title);
        if (!db)
            goto fail_st;
        char *q = dv_asprintf(
            "BEGIN IMMEDIATE;"
            "CREATE TABLE dvload_accounts(id INTEGER PRIMARY KEY, balance INTEGER NOT NULL);"
            "CREATE TABLE dvload_txlog(seq INTEGER PRIMARY KEY, at_us INTEGER NOT NULL,"
            " writer INTEGER NOT NULL, kind TEXT NOT NULL);"
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
            " INSERT INTO dvload_accounts SELECT i, %d FROM n;"
            "INSERT INTO dvload_txlog(at_us, writer, kind) VALUES (%lld, 0, 'init');"
            "COMMIT",
            ACCOUNTS, START_BALANCE, (long long)dv_now_us());
        int rc = sql(store_db_sqlite(db), q);
        free(q);
        for (long k = 0; rc == 0 && k < ndocs; k++) {
            rc = store_db_begin(db);
            if (rc == 0 && (add_mail(db, &g, user, 0.05) != 0 || txlog(db, 0, "init") != 0)) {
                store_db_rollback(db);
                rc = -1;
            } else if (rc == 0) {
                rc = store_db_commit(db);
            }
            docs++;
        }
        store_db_close(db);
        if (rc != 0) {
            dv_preferr("%s", rel);
            goto fail_st;
        }
    }
    struct store_status ss;
    if (!dv_config_has_daos(cfg)) {
        printf("dvload init: %ld databases, %ld documents, no DAOS (every attachment inline) in "
               "%.1fs\n",
               ndb, docs, dv_mono() - t0);
    } else if (store_status(st, &ss) == 0) {
        char b[32];
        dv_fmt_bytes(ss.bytes, b, sizeof b);
        printf(
            "dvload init: %ld databases, %ld documents, %llu NLOs (%s), %llu references in %.1fs\n",
            ndb, docs, (unsigned long long)ss.objects, b, (unsigned long long)ss.references,
            dv_mono() - t0);
        store_status_done(&ss);
    }
    store_free(st);
    return 0;
fail_st:
    store_free(st);
    return -1;
}

/* ---- run ----------------------------------------------------------------------------------- */

enum { A_MAIL, A_UPDATE, A_TRANSFER, A_DELETE, A_PURGE, A_N };
static const char *const ANAME[A_N] = {"mail", "update", "transfer", "delete", "purge"};
/* what runs after a commit (not logged in dvload_txlog: they change no row) */
enum { M_VACUUM, M_TRUNCATE, M_RECONNECT, M_N };

struct writer {
    pthread_t th;
    int id;
    const struct dv_config *cfg;
    char **dbs;
    size_t ndbs;
    uint64_t seed;
    double deadline;
    uint64_t counts[A_N];
    uint64_t maint[M_N];
    uint64_t purged_docs;
    double period;  /* --rate: seconds between this writer's transactions (0: no pause) */
    struct lat lat; /* BEGIN to COMMIT returned */
    char err[DV_ERR_MAX];
};

static int pick_note(sqlite3 *h, uint64_t *rng, bool live, char *unid, int64_t *note_id)
{
    sqlite3_stmt *s;
    const char *q =
        live ? "SELECT unid, note_id FROM notes WHERE deleted IS NULL AND note_id >= ?1"
               " ORDER BY note_id LIMIT 1"
             : "SELECT unid, note_id FROM notes WHERE note_id >= ?1 ORDER BY note_id LIMIT 1";
    if (sqlite3_prepare_v2(h, q, -1, &s, NULL) != SQLITE_OK)
        return -1;
    int64_t max = 0;
    sqlite3_stmt *m;
    if (sqlite3_prepare_v2(h, "SELECT coalesce(max(note_id), 0) FROM notes", -1, &m, NULL) ==
            SQLITE_OK &&
        sqlite3_step(m) == SQLITE_ROW)
        max = sqlite3_column_int64(m, 0);
    sqlite3_finalize(m);
    sqlite3_bind_int64(s, 1, max ? (int64_t)(splitmix(rng) % (uint64_t)max) + 1 : 0);
    int rc = 1;
    if (sqlite3_step(s) == SQLITE_ROW) {
        snprintf(unid, STORE_UNID_LEN + 1, "%s", (const char *)sqlite3_column_text(s, 0));
        *note_id = sqlite3_column_int64(s, 1);
        rc = 0;
    }
    sqlite3_finalize(s);
    return rc;
}

static int do_action(struct writer *w, struct store_db *db, struct gen *g, int act,
                     const char *owner)
{
    sqlite3 *h = store_db_sqlite(db);
    char unid[STORE_UNID_LEN + 1];
    int64_t note_id;
    switch (act) {
    case A_MAIL:
        return add_mail(db, g, owner, 0.1);
    case A_UPDATE: {
        int r = pick_note(h, &g->rng, true, unid, &note_id);
        if (r != 0)
            return r < 0 ? -1 : 0;
        char *q = dv_asprintf("UPDATE notes SET modified = %lld, body = body || ' (edited)'"
                              " WHERE note_id = %lld",
                              (long long)dv_now(), (long long)note_id);
        int rc = sql(h, q);
        free(q);
        return rc;
    }
    case A_TRANSFER: {
        int a = 1 + (int)(splitmix(&g->rng) % ACCOUNTS),
            b = 1 + (int)(splitmix(&g->rng) % ACCOUNTS);
        int amt = 1 + (int)(splitmix(&g->rng) % 100);
        char *q = dv_asprintf("UPDATE dvload_accounts SET balance = balance - %d WHERE id = %d;"
                              "UPDATE dvload_accounts SET balance = balance + %d WHERE id = %d;",
                              amt, a, amt, b);
        int rc = sql(h, q);
        free(q);
        return rc;
    }
    case A_DELETE: {
        int r = pick_note(h, &g->rng, true, unid, &note_id);
        if (r != 0)
            return r < 0 ? -1 : 0;
        return store_doc_delete(db, unid, 0);
    }
    case A_PURGE: {
        size_t n = 0;
        int rc = store_purge(db, dv_now(), &n);
        w->purged_docs += n;
        return rc;
    }
    }
    return 0;
}

/* SIGINT/SIGTERM end a run early but cleanly: writers finish their transaction, the summary
 * is printed. */
static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* After a commit on db: VACUUM and/or a TRUNCATE checkpoint, as asked (per mille). */
static int maintain(struct writer *w, struct store_db *db, struct gen *g)
{
    sqlite3 *h = store_db_sqlite(db);
    if (vacuum_pm && (long)(splitmix(&g->rng) % 1000) < vacuum_pm) {
        if (sql(h, "VACUUM") != 0)
            return -1;
        w->maint[M_VACUUM]++;
    }
    if (truncate_pm && (long)(splitmix(&g->rng) % 1000) < truncate_pm) {
        /* a reader (a backup's snapshot) makes it wait: give up after a short while, as an
         * application's maintenance would, rather than stall the traffic */
        sqlite3_busy_timeout(h, 200);
        int rc = sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_busy_timeout(h, 60000);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && rc != SQLITE_LOCKED) {
            dv_seterr("%s: wal_checkpoint(TRUNCATE): %s", store_db_path(db), sqlite3_errmsg(h));
            return -1;
        }
        if (rc == SQLITE_OK)
            w->maint[M_TRUNCATE]++;
    }
    return 0;
}

/* Sleep until the monotonic time t (--rate). */
static void sleep_until(double t)
{
    double d = t - dv_mono();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Before each transaction: wait for its turn (--rate: one every w->period seconds from *next),
 * then true if the writer goes on (before its deadline, no stop asked). So a writer commits
 * at most seconds / period + 1 transactions. */
static bool pace(const struct writer *w, double *next)
{
    if (w->period > 0) {
        sleep_until(*next);
        *next += w->period;
    }
    return dv_mono() < w->deadline && !stop_requested;
}

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct dv_store *st = store_open(w->cfg);
    struct store_db **db = dv_calloc(w->ndbs, sizeof *db);
    struct gen g = {.seed = w->seed,
                    .pool = 32 + (uint64_t)w->ndbs * 50 / 4,
                    .rng = w->seed * 31 + (uint64_t)w->id};
    /* New payloads: a range per writer and per run start, so runs never collide. */
    g.fresh = ((uint64_t)(w->id + 1) << 48) + ((uint64_t)dv_now_us() << 8 & ((1ull << 48) - 1));
    bool reconnect = w->id <= reconnect_writers;
    if (!st)
        goto fail;
    for (size_t i = 0; i < w->ndbs && !reconnect; i++)
        if (!(db[i] = store_db_open(st, w->dbs[i])))
            goto fail;
    static const int weights[A_N] = {40, 20, 25, 10, 5};
    double next = dv_mono();
    while (pace(w, &next)) {
        size_t k = splitmix(&g.rng) % w->ndbs;
        int r = (int)(splitmix(&g.rng) % 100), act = 0;
        while (r >= weights[act])
            r -= weights[act++];
        const char *slash = strrchr(w->dbs[k], '/');
        char owner[64];
        snprintf(owner, sizeof owner, "%s", slash ? slash + 1 : w->dbs[k]);
        char *dot = strrchr(owner, '.');
        if (dot)
            *dot = '\0';
        if (reconnect && !(db[k] = store_db_open(st, w->dbs[k])))
            goto fail;
        double t = dv_mono();
        if (store_db_begin(db[k]) != 0)
            goto fail;
        if (do_action(w, db[k], &g, act, owner) != 0 || txlog(db[k], w->id, ANAME[act]) != 0) {
            store_db_rollback(db[k]);
            goto fail;
        }
        if (store_db_commit(db[k]) != 0)
            goto fail;
        lat_add(&w->lat, dv_mono() - t);
        w->counts[act]++;
        if (maintain(w, db[k], &g) != 0)
            goto fail;
        if (reconnect) {
            store_db_close(db[k]);
            db[k] = NULL;
            w->maint[M_RECONNECT]++;
        }
    }
    goto out;
fail:
    snprintf(w->err, sizeof w->err, "writer %d: %s", w->id, dv_err());
out:
    for (size_t i = 0; i < w->ndbs; i++)
        store_db_close(db[i]);
    free(db);
    store_free(st);
    return NULL;
}

/* Databases dvload works on: the globbed ones that carry dvload's tables (and match only,
 * when it is not NULL). */
static int load_dbs(struct dv_config *cfg, const char *only, char ***out, size_t *n)
{
    char **all;
    size_t na;
    if (dbglob_list(cfg, &all, &na) != 0)
        return -1;
    char **v = dv_calloc(na + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < na; i++) {
        if (only && !dbglob_match(only, all[i]))
            continue;
        char *abs = dv_path_join(cfg->server.data_dir, all[i]);
        sqlite3 *h;
        bool ok = false;
        if (sqlite3_open_v2(abs, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
            sqlite3_stmt *s;
            if (sqlite3_prepare_v2(h, "SELECT 1 FROM sqlite_master WHERE name = 'dvload_accounts'",
                                   -1, &s, NULL) == SQLITE_OK) {
                ok = sqlite3_step(s) == SQLITE_ROW;
                sqlite3_finalize(s);
            }
        }
        sqlite3_close(h);
        free(abs);
        if (ok)
            v[k++] = dv_strdup(all[i]);
    }
    dbglob_free(all);
    if (k == 0) {
        dbglob_free(v);
        if (only)
            dv_seterr("no dvload database under %s matches --db %s", cfg->server.data_dir, only);
        else
            dv_seterr("no dvload databases under %s (run dvload init first)", cfg->server.data_dir);
        return -1;
    }
    *out = v;
    *n = k;
    return 0;
}

/* What run and bank share before their writers start: SIGINT/SIGTERM stop them cleanly, the
 * store's index exists (the writers would race to create it), the databases (matching only). */
static int writers_prepare(struct dv_config *cfg, const char *only, char ***dbs, size_t *ndbs)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    int kr = store_key_require(st);
    store_free(st);
    if (kr != 0)
        return -1;
    return load_dbs(cfg, only, dbs, ndbs);
}

/* Run fn on each of w[0..n-1] (filled in by the caller) in its own thread and wait for all;
 * their transaction times are merged into lat. Returns 0, or -1 with dv_err() (the first
 * writer's error, or a thread that could not start). */
static int writers_run(struct writer *w, long n, void *(*fn)(void *), struct lat *lat)
{
    long started = 0;
    int rc = 0;
    for (; started < n; started++) {
        if (pthread_create(&w[started].th, NULL, fn, &w[started]) != 0) {
            dv_seterr("cannot start writer thread %ld", started + 1);
            rc = -1;
            stop_requested = 1;
            break;
        }
    }
    for (long i = 0; i < started; i++) {
        pthread_join(w[i].th, NULL);
        lat_merge(lat, &w[i].lat);
        if (w[i].err[0] && rc == 0) {
            dv_seterr("%s", w[i].err);
            rc = -1;
        }
    }
    return rc;
}

static int cmd_run(struct dv_config *cfg, long seconds, long writers, uint64_t seed,
                   const char *only, long rate)
{
    char **dbs;
    size_t ndbs;
    if (writers_prepare(cfg, only, &dbs, &ndbs) != 0)
        return -1;
    struct writer *w = dv_calloc((size_t)writers, sizeof *w);
    double t0 = dv_mono();
    for (long i = 0; i < writers; i++)
        w[i] = (struct writer){.id = (int)i + 1,
                               .cfg = cfg,
                               .dbs = dbs,
                               .ndbs = ndbs,
                               .seed = seed,
                               .period = rate > 0 ? (double)writers / (double)rate : 0,
                               .deadline = t0 + (double)seconds};
    struct lat *lat = dv_calloc(1, sizeof *lat);
    int rc = writers_run(w, writers, writer_main, lat);
    uint64_t tot[A_N] = {0}, maint[M_N] = {0}, purged = 0;
    for (long i = 0; i < writers; i++) {
        for (int a = 0; a < A_N; a++)
            tot[a] += w[i].counts[a];
        for (int a = 0; a < M_N; a++)
            maint[a] += w[i].maint[a];
        purged += w[i].purged_docs;
    }
    uint64_t all = 0;
    for (int a = 0; a < A_N; a++)
        all += tot[a];
    double el = dv_mono() - t0;
    printf("dvload run: %.1fs, %ld writers, %zu databases: %llu transactions (%.0f/s): %llu mail,"
           " %llu updates, %llu transfers, %llu deletes, %llu purges (%llu documents purged)\n",
           el, writers, ndbs, (unsigned long long)all, el > 0 ? (double)all / el : 0.0,
           (unsigned long long)tot[A_MAIL], (unsigned long long)tot[A_UPDATE],
           (unsigned long long)tot[A_TRANSFER], (unsigned long long)tot[A_DELETE],
           (unsigned long long)tot[A_PURGE], (unsigned long long)purged);
    if (maint[M_VACUUM] || maint[M_TRUNCATE] || maint[M_RECONNECT])
        printf("dvload run: %llu VACUUMs, %llu wal_checkpoint(TRUNCATE)s, %llu reconnections\n",
               (unsigned long long)maint[M_VACUUM], (unsigned long long)maint[M_TRUNCATE],
               (unsigned long long)maint[M_RECONNECT]);
    lat_print("dvload run", lat);
    free(lat);
    free(w);
    dbglob_free(dbs);
    return rc;
}

/* ---- bank ---------------------------------------------------------------------------------- */

/* One bank writer: transfers on w->dbs[0] until the deadline, paced by w->period. */
static void *bank_main(void *arg)
{
    struct writer *w = arg;
    struct dv_store *st = store_open(w->cfg);
    struct store_db *db = st ? store_db_open(st, w->dbs[0]) : NULL;
    struct gen g = {.rng = w->seed * 31 + (uint64_t)w->id};
    double next = dv_mono();
    if (!db)
        goto fail;
    while (pace(w, &next)) {
        double t = dv_mono();
        if (store_db_begin(db) != 0)
            goto fail;
        /* the txlog row last: its at_us is taken just before COMMIT */
        if (do_action(w, db, &g, A_TRANSFER, NULL) != 0 || txlog(db, w->id, "bank") != 0) {
            store_db_rollback(db);
            goto fail;
        }
        if (store_db_commit(db) != 0)
            goto fail;
        lat_add(&w->lat, dv_mono() - t);
        w->counts[A_TRANSFER]++;
    }
    goto out;
fail:
    snprintf(w->err, sizeof w->err, "writer %d: %s", w->id, dv_err());
out:
    store_db_close(db);
    store_free(st);
    return NULL;
}

static int cmd_bank(struct dv_config *cfg, long seconds, long writers, uint64_t seed,
                    const char *rel, long rate)
{
    char **dbs;
    size_t ndbs;
    if (writers_prepare(cfg, rel, &dbs, &ndbs) != 0)
        return -1;
    struct writer *w = dv_calloc((size_t)writers, sizeof *w);
    double t0 = dv_mono();
    for (long i = 0; i < writers; i++)
        w[i] = (struct writer){.id = (int)i + 1,
                               .cfg = cfg,
                               .dbs = dbs, /* the first: --db's, or the first dvload database */
                               .ndbs = 1,
                               .seed = seed,
                               .period = rate > 0 ? (double)writers / (double)rate : 0,
                               .deadline = t0 + (double)seconds};
    struct lat *lat = dv_calloc(1, sizeof *lat);
    int rc = writers_run(w, writers, bank_main, lat);
    double el = dv_mono() - t0;
    printf("dvload bank: %.1fs, %ld writers, %s: %llu commits (%.0f/s), transaction time p50 "
           "%.2f ms, p99 %.2f ms, max %.2f ms\n",
           el, writers, dv_esc(dbs[0]), (unsigned long long)lat->n,
           el > 0 ? (double)lat->n / el : 0.0, lat_ms(lat, 0.5), lat_ms(lat, 0.99),
           (double)lat->max_us / 1000.0);
    free(lat);
    free(w);
    dbglob_free(dbs);
    return rc;
}

/* ---- verify -------------------------------------------------------------------------------- */

struct refc {
    char name[STORE_NLO_NAME_LEN + 1];
    int64_t n;
};

struct vstate {
    struct dv_store *st;
    struct refc *refs; /* sorted, combined */
    size_t nrefs, pos, cap;
    uint64_t objects, bytes;
    uint64_t docs, total_refs; /* over the databases */
    char err[DV_ERR_MAX];
};

static int refc_cmp(const void *a, const void *b)
{
    return strcmp(((const struct refc *)a)->name, ((const struct refc *)b)->name);
}

static int check_object(void *ud, const char *name, int subdir, int64_t refcount)
{
    struct vstate *v = ud;
    (void)subdir;
    while (v->pos < v->nrefs && strcmp(v->refs[v->pos].name, name) < 0) {
        snprintf(v->err, sizeof v->err, "NLO %s is referenced %lld times but not in the DAOS index",
                 v->refs[v->pos].name, (long long)v->refs[v->pos].n);
        return 1;
    }
    int64_t want = 0;
    if (v->pos < v->nrefs && strcmp(v->refs[v->pos].name, name) == 0)
        want = v->refs[v->pos++].n;
    if (want != refcount) {
        snprintf(v->err, sizeof v->err,
                 "NLO %s: refcount %lld in the DAOS index, %lld references"
                 " in the databases",
                 name, (long long)refcount, (long long)want);
        return 1;
    }
    unsigned char *b;
    size_t n;
    if (store_nlo_read(v->st, name, &b, &n) != 0) {
        snprintf(v->err, sizeof v->err, "%s", dv_err());
        return 1;
    }
    free(b);
    v->objects++;
    v->bytes += n;
    return 0;
}

/* verify: one database (quick_check, its references collected into v, accounts balanced). */
static int verify_db(const struct dv_config *cfg, const char *rel, struct vstate *v)
{
    char *abs = dv_path_join(cfg->server.data_dir, rel);
    sqlite3 *h;
    int orc = sqlite3_open_v2(abs, &h, SQLITE_OPEN_READONLY, NULL);
    free(abs);
    if (orc != SQLITE_OK) {
        dv_seterr("%s: %s", rel, sqlite3_errmsg(h));
        sqlite3_close(h);
        return -1;
    }
    sqlite3_busy_timeout(h, 60000);
    sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);
    sqlite3_stmt *s;
    bool ok = true;
    if (sqlite3_prepare_v2(h, "PRAGMA quick_check", -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) != SQLITE_ROW ||
            strcmp((const char *)sqlite3_column_text(s, 0), "ok") != 0) {
            dv_seterr("%s: quick_check failed: %s", rel,
                      sqlite3_column_text(s, 0) ? (const char *)sqlite3_column_text(s, 0) : "?");
            ok = false;
        }
        sqlite3_finalize(s);
    }
    if (ok && sqlite3_prepare_v2(h, "SELECT count(*) FROM notes", -1, &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW)
            v->docs += (uint64_t)sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
    }
    if (ok && sqlite3_prepare_v2(h,
                                 "SELECT nlo, count(*) FROM attachments WHERE nlo IS NOT NULL"
                                 " GROUP BY nlo",
                                 -1, &s, NULL) == SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW) {
            if (v->nrefs == v->cap) {
                v->cap = v->cap ? v->cap * 2 : 1024;
                v->refs = dv_realloc(v->refs, v->cap * sizeof *v->refs);
            }
            snprintf(v->refs[v->nrefs].name, sizeof v->refs[0].name, "%s",
                     (const char *)sqlite3_column_text(s, 0));
            v->refs[v->nrefs++].n = sqlite3_column_int64(s, 1);
            v->total_refs += (uint64_t)sqlite3_column_int64(s, 1);
        }
        sqlite3_finalize(s);
    }
    if (ok &&
        sqlite3_prepare_v2(h, "SELECT coalesce(sum(balance), 0), count(*) FROM dvload_accounts", -1,
                           &s, NULL) == SQLITE_OK) {
        if (sqlite3_step(s) == SQLITE_ROW &&
            sqlite3_column_int64(s, 0) != sqlite3_column_int64(s, 1) * START_BALANCE) {
            dv_seterr("%s: accounts sum to %lld, expected %lld", rel,
                      (long long)sqlite3_column_int64(s, 0),
                      (long long)(sqlite3_column_int64(s, 1) * START_BALANCE));
            ok = false;
        }
        sqlite3_finalize(s);
    }
    sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(h);
    return ok ? 0 : -1;
}

static int cmd_verify(struct dv_config *cfg)
{
    struct dv_store *st = store_open(cfg);
    if (!st)
        return -1;
    if (store_key_require(st) != 0) {
        store_free(st);
        return -1;
    }
    struct vstate v = {.st = st};
    char **dbs = NULL;
    size_t ndbs = 0;
    int rc = -1;
    bool daos = dv_config_has_daos(cfg);
    if (daos && store_check(st) != 0)
        goto out;
    if (daos && store_needs_resync(st)) {
        struct store_status ss;
        if (store_status(st, &ss) == 0) {
            dv_seterr(
                "DAOS index is NEEDS_RESYNC (%s): refcounts cannot be checked (dvault resync daos)",
                ss.reason);
            store_status_done(&ss);
        }
        goto out;
    }
    if (dbglob_list(cfg, &dbs, &ndbs) != 0)
        goto out;
    for (size_t i = 0; i < ndbs; i++)
        if (verify_db(cfg, dbs[i], &v) != 0)
            goto out;
    /* Combine the per-database counts per name. */
    if (v.nrefs)
        qsort(v.refs, v.nrefs, sizeof *v.refs, refc_cmp);
    size_t k = 0;
    for (size_t i = 0; i < v.nrefs; i++) {
        if (k && strcmp(v.refs[k - 1].name, v.refs[i].name) == 0)
            v.refs[k - 1].n += v.refs[i].n;
        else
            v.refs[k++] = v.refs[i];
    }
    v.nrefs = k;
    if (!daos && v.nrefs) {
        dv_seterr("NLO %s is referenced, but %s", v.refs[0].name, DV_NO_DAOS);
        goto out;
    }
    int r = daos ? store_objects(st, check_object, &v) : 0;
    if (r < 0)
        goto out;
    if (r > 0) {
        dv_seterr("%s", v.err);
        goto out;
    }
    if (v.pos < v.nrefs) {
        dv_seterr("NLO %s is referenced %lld times but not in the DAOS index", v.refs[v.pos].name,
                  (long long)v.refs[v.pos].n);
        goto out;
    }
    char b[32];
    dv_fmt_bytes(v.bytes, b, sizeof b);
    printf("dvload verify: ok: %zu databases, %llu documents, %llu references to %zu NLOs,"
           " %llu objects (%s) readable and matching their names, refcounts match, accounts "
           "balanced\n",
           ndbs, (unsigned long long)v.docs, (unsigned long long)v.total_refs, v.nrefs,
           (unsigned long long)v.objects, b);
    rc = 0;
out:
    free(v.refs);
    dbglob_free(dbs);
    store_free(st);
    return rc;
}

/* One integer of the first row of q, or -1 with dv_err(). */
static int64_t q_int(sqlite3 *h, const char *path, const char *q)
{
    sqlite3_stmt *s;
    int64_t v = -1;
    if (sqlite3_prepare_v2(h, q, -1, &s, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s: %s", path, q, sqlite3_errmsg(h));
        return -1;
    }
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        dv_seterr("%s: %s: %s", path, q, sqlite3_errmsg(h));
    sqlite3_finalize(s);
    return v;
}

/*
 * verify --file: one database file on its own (a restored copy, opened immutable: never
 * written): PRAGMA integrity_check, and the writers' invariants: the accounts sum to
 * ACCOUNTS x START_BALANCE, the commit log has no gap. Prints "ok: N commits".
 */
static int cmd_verify_file(const char *path)
{
    char *uri = dv_asprintf("file:%s?immutable=1", path);
    sqlite3 *h = NULL;
    int rc = -1;
    if (sqlite3_open_v2(uri, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
        dv_seterr("%s: %s", path, h ? sqlite3_errmsg(h) : "cannot open");
        goto out;
    }
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &s, NULL) != SQLITE_OK) {
        dv_seterr("%s: integrity_check: %s", path, sqlite3_errmsg(h));
        goto out;
    }
    int r = sqlite3_step(s);
    const char *res = r == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
    if (!res || strcmp(res, "ok") != 0) {
        dv_seterr("%s: integrity_check: %s", path, res ? res : sqlite3_errmsg(h));
        sqlite3_finalize(s);
        goto out;
    }
    sqlite3_finalize(s);
    int64_t sum = q_int(h, path, "SELECT coalesce(sum(balance), 0) FROM dvload_accounts"),
            nacc = q_int(h, path, "SELECT count(*) FROM dvload_accounts"),
            n = q_int(h, path, "SELECT count(*) FROM dvload_txlog"),
            maxseq = q_int(h, path, "SELECT coalesce(max(seq), 0) FROM dvload_txlog");
    if (sum < 0 || nacc < 0 || n < 0 || maxseq < 0)
        goto out;
    if (nacc != ACCOUNTS || sum != nacc * START_BALANCE) {
        dv_seterr("%s: %lld accounts sum to %lld, expected %d summing to %d (a torn copy)", path,
                  (long long)nacc, (long long)sum, ACCOUNTS, ACCOUNTS * START_BALANCE);
        goto out;
    }
    if (n != maxseq) {
        dv_seterr("%s: commit log has gaps (%lld rows, max seq %lld)", path, (long long)n,
                  (long long)maxseq);
        goto out;
    }
    printf("ok: %lld commits\n", (long long)n);
    rc = 0;
out:
    sqlite3_close(h);
    free(uri);
    return rc;
}

/* ---- delete, purge ------------------------------------------------------------------------- */

static int cmd_delete_purge(const struct dv_config *cfg, const char *cmd, const char *rel,
                            int64_t when, char **unids, int n)
{
    struct dv_store *st = store_open(cfg);
    struct store_db *db = st ? store_db_open(st, rel) : NULL;
    int rc = db && store_db_begin(db) == 0 ? 0 : -1;
    size_t purged = 0;
    for (int i = 0; rc == 0 && strcmp(cmd, "delete") == 0 && i < n; i++)
        rc = store_doc_delete(db, unids[i], when);
    if (rc == 0 && strcmp(cmd, "purge") == 0)
        rc = store_purge(db, when ? when : dv_now(), &purged);
    if (rc == 0)
        rc = store_db_commit(db);
    if (rc == 0)
        printf("dvload %s: %zu document(s)\n", cmd, strcmp(cmd, "purge") == 0 ? purged : (size_t)n);
    store_db_close(db);
    store_free(st);
    return rc;
}

/* ---- main ---------------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(
        stderr,
        "usage: dvload [-c FILE] init --databases N --docs M [--seed S] [--page-size BYTES]\n"
        "       dvload [-c FILE] run --seconds S [--writers W] [--seed S] [--max-size BYTES]\n"
        "                            [--db GLOB] [--rate N] [--reconnect N] [--vacuum PERMILLE]\n"
        "                            [--truncate PERMILLE]\n"
        "       dvload [-c FILE] bank --seconds S [--writers W] [--db REL] [--rate N]\n"
        "       dvload [-c FILE] verify\n"
        "       dvload verify --file PATH\n"
        "       dvload [-c FILE] delete --db REL [--when EPOCH] UNID...\n"
        "       dvload [-c FILE] purge --db REL [--when EPOCH]\n");
    return DV_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    const char *cfg_path = "config.yaml", *cmd = NULL, *file = NULL, *db = NULL;
    long ndb = 8, ndocs = 50, seconds = 10, writers = 0, seed = 1, maxsz = (long)MAX_SIZE;
    long page_size = 0, rate = 0, when = 0;
    char *unids[256];
    int nunids = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long *target = NULL, lo = 1, hi = 1000000;
        if (strcmp(a, "-c") == 0 && i + 1 < argc) {
            cfg_path = argv[++i];
            continue;
        } else if (strcmp(a, "--databases") == 0) {
            target = &ndb, hi = 10000;
        } else if (strcmp(a, "--docs") == 0) {
            target = &ndocs, lo = 0;
        } else if (strcmp(a, "--seconds") == 0) {
            target = &seconds, lo = 0, hi = 86400 * 7;
        } else if (strcmp(a, "--writers") == 0) {
            target = &writers, hi = 256;
        } else if (strcmp(a, "--seed") == 0) {
            target = &seed, lo = 0, hi = 1L << 40;
        } else if (strcmp(a, "--max-size") == 0) {
            target = &maxsz, lo = 2048, hi = 64L << 20;
        } else if (strcmp(a, "--page-size") == 0) {
            target = &page_size, lo = 512, hi = 65536;
        } else if (strcmp(a, "--reconnect") == 0) {
            target = &reconnect_writers, lo = 0, hi = 256;
        } else if (strcmp(a, "--vacuum") == 0) {
            target = &vacuum_pm, lo = 0, hi = 1000;
        } else if (strcmp(a, "--truncate") == 0) {
            target = &truncate_pm, lo = 0, hi = 1000;
        } else if (strcmp(a, "--rate") == 0) {
            target = &rate, lo = 0, hi = 10000000;
        } else if (strcmp(a, "--file") == 0 && i + 1 < argc) {
            file = argv[++i];
            continue;
        } else if (strcmp(a, "--db") == 0 && i + 1 < argc) {
            db = argv[++i];
            continue;
        } else if (strcmp(a, "--when") == 0) {
            target = &when, lo = 0, hi = 1L << 40;
        } else if (!cmd && a[0] != '-') {
            cmd = a;
            continue;
        } else if (cmd && strcmp(cmd, "delete") == 0 && a[0] != '-' && nunids < 256) {
            unids[nunids++] = argv[i];
            continue;
        } else {
            fprintf(stderr, "dvload: unknown argument '%s'\n", a);
            return usage();
        }
        if (i + 1 >= argc || dv_parse_long(argv[i + 1], lo, hi, target) != 0) {
            fprintf(stderr, "dvload: %s needs a number in %ld..%ld\n", a, lo, hi);
            return DV_EXIT_USAGE;
        }
        i++;
    }
    if (!cmd)
        return usage();
    if (page_size & (page_size - 1)) {
        fprintf(stderr, "dvload: --page-size must be a power of two\n");
        return DV_EXIT_USAGE;
    }
    bool dp = strcmp(cmd, "delete") == 0 || strcmp(cmd, "purge") == 0;
    if ((db && strcmp(cmd, "run") != 0 && strcmp(cmd, "bank") != 0 && !dp) || (dp && !db)) {
        fprintf(stderr, "dvload: --db goes with run, bank, delete or purge (needed there)\n");
        return usage();
    }
    if (file) {
        if (strcmp(cmd, "verify") != 0) {
            fprintf(stderr, "dvload: --file goes with verify\n");
            return usage();
        }
        int rc = cmd_verify_file(file);
        if (rc != 0)
            fprintf(stderr, "dvload verify: %s\n", dv_err());
        return rc == 0 ? DV_EXIT_OK : DV_EXIT_FAIL;
    }
    max_size = (double)maxsz;
    struct dv_config cfg;
    if (dv_config_load(cfg_path, &cfg) != 0) {
        fprintf(stderr, "%s\n", dv_err());
        dv_config_done(&cfg);
        return DV_EXIT_USAGE;
    }
    int rc;
    if (strcmp(cmd, "init") == 0)
        rc = cmd_init(&cfg, ndb, ndocs, (uint64_t)seed, page_size);
    else if (strcmp(cmd, "run") == 0)
        rc = cmd_run(&cfg, seconds, writers ? writers : 4, (uint64_t)seed, db, rate);
    else if (strcmp(cmd, "bank") == 0)
        rc = cmd_bank(&cfg, seconds, writers ? writers : 2, (uint64_t)seed, db, rate);
    else if (strcmp(cmd, "verify") == 0)
        rc = cmd_verify(&cfg);
    else if (dp)
        rc = cmd_delete_purge(&cfg, cmd, db, when, unids, nunids);
    else {
        dv_config_done(&cfg);
        fprintf(stderr, "dvload: unknown command '%s'\n", cmd);
        return usage();
    }
    if (rc != 0)
        fprintf(stderr, "dvload %s: %s\n", cmd, dv_err());
    dv_config_done(&cfg);
    return rc == 0 ? DV_EXIT_OK : DV_EXIT_FAIL;
}

/*
 * store_priv.h - what the store's files share, and nothing outside backend/store*.c includes:
 * the handles, the reference lists and the helpers each file lends the others.
 *
 *   store.c           open/close, the index's schema and recovery at open, database handles
 *                     and their transactions, SQLite helpers
 *   store_nlo.c       NLO files: key file, names, paths, encrypted read/write, the repository
 *   store_index.c     the DAOS index: state, subdirectory slots, daos.cfg, refcounts (DIT,
 *                     DOI), status, check, object pages
 *   store_maint.c     maintenance: resync (by stages), prune, listnlo
 *   store_recovery.c  recovery queries and writes: doc copy, NLO install, live bytes, listings
 *   store_sim.c       the simulated server's write path (documents, purge): dvload only
 */
#ifndef DV_STORE_PRIV_H
#define DV_STORE_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"

#define BUSY_MS 60000
#define MAX_SUBDIR 9999
#define PRUNE_BATCH 256

struct fsb;

struct dv_store {
    const struct dv_config *cfg;
    sqlite3 *idx;
    char *idx_path;
    unsigned char key[32];
    bool have_key;
    bool key_missing; /* key_file names no file (not an error while encryption is off) */
    char *key_err;    /* why no key is loaded (NULL when it is, or none is configured) */
    struct fsb *daos; /* the DAOS directory: NLOs are read and written beneath it (fsb.h) */
};

struct namelist {
    char (*v)[STORE_NLO_NAME_LEN + 1];
    size_t n, cap;
};

struct store_db {
    struct dv_store *st;
    sqlite3 *h;
    char *path;   /* absolute */
    char *ditkey; /* path relative to data_dir, or absolute when outside */
    char replica[64], dbiid[64];
    bool in_tx;
    struct namelist reserved; /* references counted in the index for the open transaction */
    struct namelist released; /* references to release in the index after commit */
};

/* One reference to acquire: the name, and the plaintext when we may have to write the file. */
struct ref {
    char name[STORE_NLO_NAME_LEN + 1];
    const void *data;
    size_t size;
    int subdir;
    bool created; /* a new DOI row: the file must be written */
};

/* ---- store.c ------------------------------------------------------------------------------ */

/* A fresh number for a temporary file name (with the pid, unique on this host). */
unsigned store_tmp_seq(void);
/* Name lists (reserved/released references of a transaction). */
void store_nl_add(struct namelist *l, const char *name);
void store_nl_free(struct namelist *l);
/* SQLite: fail with "what: message" (-1); exec, prepare (NULL on failure) with the same
 * message; open with the busy timeout every store connection has. */
int store_sq_fail(sqlite3 *h, const char *what);
int store_sq_exec(sqlite3 *h, const char *sql, const char *what);
sqlite3_stmt *store_sq_prep(sqlite3 *h, const char *sql, const char *what);
int store_sq_open(const char *path, int flags, sqlite3 **out);
/* <daos_dir>/NNNN and <daos_dir>/NNNN/name, malloc'd. */
char *store_subdir_path(const struct dv_store *st, int subdir);
char *store_nlo_file(const struct dv_store *st, int subdir, const char *name);
/* "0001".."9999" -> number, else 0. */
int store_subdir_num(const char *s);
/* The plaintext size an NLO name carries (its 16 hex digits). */
uint64_t store_name_size(const char *name);
/* Whether the server has DAOS (an index is open); store_no_daos sets DV_NO_DAOS, returns -1. */
bool store_has_daos(const struct dv_store *st);
int store_no_daos(void);
/* A document database's dbinfo value (out "" when absent), whether it has a table. */
void store_db_read_info(sqlite3 *h, const char *key, char *out, size_t n);
bool store_db_has_table(sqlite3 *h, const char *table);
/* A database handle for path (relative to data_dir, or absolute), nothing opened yet. */
struct store_db *store_db_new(struct dv_store *st, const char *path);
/* Run an operation in the caller's transaction, or its own: op_end commits or rolls back
 * the transaction it began (own) and passes rc on. */
int store_op_begin(struct store_db *db, bool *own);
int store_op_end(struct store_db *db, bool own, int rc);
/* Insert one notes row (d's columns; deleted at deltime when d->deleted); *note_id its rowid.
 * 0 or -1. */
int store_insert_note(struct store_db *db, const struct store_doc_row *d, int64_t *note_id);
/* Insert one attachments row through s: an NLO reference (nlo) or inline data. */
int store_insert_att(struct store_db *db, sqlite3_stmt *s, int64_t note_id, const char *name,
                     int64_t size, const char *nlo, const void *data, size_t dlen);

/* ---- store_nlo.c -------------------------------------------------------------------------- */

/* Load the key file into st when it is good (store_open); never fails. */
void store_key_load(struct dv_store *st);
/* An NLO file's bytes from a plaintext (header, encrypted when configured), and back
 * (header checked, decrypted, authenticated, checked against the name). */
int store_nlo_encode(const struct dv_store *st, const char *name, const void *plain, size_t size,
                     unsigned char **out, size_t *outlen);
int store_nlo_decode(const struct dv_store *st, const char *name, const char *path,
                     const unsigned char *b, size_t len, unsigned char **plain, size_t *plen);
/* Read and decode the NLO file at path. */
int store_nlo_read_path(const struct dv_store *st, const char *name, const char *path,
                        unsigned char **plain, size_t *plen);
/* Write NLO name into subdir atomically (hidden temporary, fsync, no-replace rename): bytes,
 * or len bytes copied from src_fd when src_fd >= 0. */
int store_nlo_put_bytes(const struct dv_store *st, int subdir, const char *name,
                        const unsigned char *bytes, size_t len, int src_fd);
/* Subdirectory numbers present in daos_dir, ascending (malloc'd). */
int store_list_subdirs(const struct dv_store *st, int **out, size_t *n);
/* Whether NLO name has a file in the repository (q: the DOI lookup; sweep: every
 * subdirectory too, *dirs listed on first need). 1, 0 or -1. */
int store_nlo_present(struct dv_store *st, sqlite3_stmt *q, const char *name, int **dirs,
                      size_t *ndirs, bool *listed, bool sweep);

/* ---- store_index.c ------------------------------------------------------------------------ */

/* Index transactions (BEGIN IMMEDIATE; commit rolls back on failure; rollback if open). */
int store_idx_begin(struct dv_store *st);

/* The DOI's running totals (doi_totals, kept by triggers; store.c): the triggers, SQL that
 * drops them, SQL that counts the totals anew and creates them again (resync). */
#define STORE_TOTALS_TRIGGERS                                                                      \
    "CREATE TRIGGER IF NOT EXISTS doi_tot_ins AFTER INSERT ON doi BEGIN"                           \
    " UPDATE doi_totals SET objects = objects + 1, bytes = bytes + new.size,"                      \
    " refs = refs + new.refcount, ref_bytes = ref_bytes + new.size * new.refcount,"                \
    " zero = zero + (new.refcount = 0), zero_bytes = zero_bytes + (new.refcount = 0) * new.size;"  \
    " END;"                                                                                        \
    "CREATE TRIGGER IF NOT EXISTS doi_tot_del AFTER DELETE ON doi BEGIN"                           \
    " UPDATE doi_totals SET objects = objects - 1, bytes = bytes - old.size,"                      \
    " refs = refs - old.refcount, ref_bytes = ref_bytes - old.size * old.refcount,"                \
    " zero = zero - (old.refcount = 0), zero_bytes = zero_bytes - (old.refcount = 0) * old.size;"  \
    " END;"                                                                                        \
    "CREATE TRIGGER IF NOT EXISTS doi_tot_upd AFTER UPDATE OF size, refcount ON doi BEGIN"         \
    " UPDATE doi_totals SET bytes = bytes - old.size + new.size,"                                  \
    " refs = refs - old.refcount + new.refcount,"                                                  \
    " ref_bytes = ref_bytes - old.size * old.refcount + new.size * new.refcount,"                  \
    " zero = zero - (old.refcount = 0) + (new.refcount = 0),"                                      \
    " zero_bytes = zero_bytes - (old.refcount = 0) * old.size + (new.refcount = 0) * new.size;"    \
    " END;"                                                                                        \
    "CREATE TRIGGER IF NOT EXISTS doi_added_log AFTER INSERT ON doi BEGIN"                         \
    " INSERT INTO doi_added(name) VALUES (new.name); END;"                                         \
    "CREATE TRIGGER IF NOT EXISTS doi_added_trim AFTER INSERT ON doi_added"                        \
    " WHEN new.seq % 4096 = 0 BEGIN DELETE FROM doi_added WHERE seq <= new.seq - 1048576; END;"
extern const char STORE_TOTALS_OFF[];
extern const char STORE_TOTALS_ON[];
int store_idx_commit(struct dv_store *st);
void store_idx_rollback(struct dv_store *st);
/* meta state: NEEDS_RESYNC (with reason) or SYNCHRONIZED, since now. */
int store_idx_set_state(struct dv_store *st, bool needs, const char *reason);
/* A slot in the lowest subdirectory with room (one more file counted in it); give one back.
 * Inside an index transaction. */
int store_idx_take_slot(struct dv_store *st, int *subdir);
int store_idx_free_slot(struct dv_store *st, int subdir);
/* Rewrite daos.cfg from the index's counts; after a recreated index, read them back. */
int store_cfg_write(struct dv_store *st);
void store_cfg_load_counts(struct dv_store *st);
/* Release a committed transaction's references; count references before a transaction
 * commits (writing the files of new NLOs). See store.h, "Refcount discipline". */
int store_refs_release(struct dv_store *st, const char *ditkey, const struct namelist *l);
int store_refs_acquire(struct store_db *db, struct ref *r, size_t n);
/* The DIT's reference count of database ditkey += delta (never below 0); in an index
 * transaction. */
int store_dit_adjust(struct dv_store *st, const char *ditkey, int64_t delta);
/* One integer from sql (bound to bind when it has a parameter), -1 on error. */
int64_t store_q_int(sqlite3 *h, const char *sql, int64_t bind);

#endif

/*
 * store.h - the live document server that dvault backs up: databases, the DAOS repository of
 * NLOs, the DAOS index (daoscat.db + daos.cfg), resync, prune, listnlo.
 *
 * On-disk layout and behaviour: docs/store.md; NLO file format: docs/formats.md "NLO file".
 * The implementation is split by concern (store_priv.h lists the files); the section "the
 * simulated server's write path" below is used by dvload (and the tests) only: dvault itself
 * never creates databases or writes documents except through recovery (store_doc_copy).
 *
 * Threads and processes: a `struct dv_store` and the `struct store_db` handles opened through
 * it belong to one thread at a time (open one store per thread). Any number of stores in any
 * number of processes may work on the same data directory at once: every SQLite connection has
 * a busy timeout, write transactions start with BEGIN IMMEDIATE, and index transactions are
 * short (file I/O is done outside them).
 *
 * Refcount discipline: the index errs on the safe side. A reference is counted in the index
 * *before* the database transaction that creates it commits (and uncounted again on rollback);
 * a reference is released in the index only *after* the database transaction that removed it
 * committed. A crash in between leaves a refcount too high (never too low): an NLO is then
 * kept too long, never deleted while referenced. Resync repairs the counts.
 */
#ifndef DV_STORE_H
#define DV_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "job.h"

#define STORE_UNID_LEN 32     /* hex characters of a document's unid */
#define STORE_NLO_NAME_LEN 84 /* 64 hex sha256 + 16 hex size + ".nlo" */
#define STORE_NLO_HDR 32      /* bytes of an NLO file's header */
#define STORE_NLO_TAG 16      /* bytes of the GCM tag after an encrypted payload */

struct dv_store;
struct store_db;

/*
 * Open the live server described by cfg (cfg must outlive the store). Without DAOS
 * (server.daos_dir not set) only data_dir is created, no index is opened and no key loaded:
 * attachments are stored inline, and the DAOS functions below fail with DV_NO_DAOS.
 * Otherwise creates data_dir and daos_dir if missing; opens or creates the DAOS index
 * <daos_dir>/daoscat.db. When the index is missing (and there is something to index: databases or
 * NLO subdirectories) or unreadable, it is recreated empty and marked NEEDS_RESYNC. Loads the
 * server key file when there is a good one (with encryption off too, to read older encrypted NLOs);
 * never creates it, and a missing or refused key does not make the open fail: operations that
 * encrypt or decrypt fail then, and commands that need the key call store_key_require first.
 * Returns the store, or NULL with dv_err() set.
 */
struct dv_store *store_open(const struct dv_config *cfg);
/*
 * The server key: key_file holds 32 random bytes as 64 hex digits and a newline, mode 0600,
 * owned by the user; a file that is not (or is not a regular file) is refused, and messages
 * say why without ever showing the key.
 *
 * store_key_create: create key_file when it does not exist (0600, atomic). Only the server
 * creates its key (dvload init for the simulated one); dvault never calls this. 0 or -1.
 * store_key_require: 0 when the store has a key, or needs none (encryption off and no key
 * file); else -1 with dv_err() naming the file and what is wrong (missing, unreadable, too
 * open, not a key). For the commands that decrypt or encrypt NLOs (recover).
 * store_key_check: the same test without a store (status, config --check warn with it).
 */
int store_key_create(const struct dv_config *cfg);
int store_key_require(struct dv_store *st);
int store_key_check(const struct dv_config *cfg);
/* Close the index; databases opened through the store must be closed first. NULL is a no-op. */
void store_free(struct dv_store *st);
const struct dv_config *store_config(const struct dv_store *st);

/* ---- databases ------------------------------------------------------------------------ */

/*
 * Open an existing database (path relative to data_dir, or absolute). A database below
 * data_dir that matches the globs but is unknown to the index, or whose replica id changed,
 * marks the index NEEDS_RESYNC. Returns the handle or NULL with dv_err() set.
 */
struct store_db *store_db_open(struct dv_store *st, const char *path);
/* Close (a transaction still open is rolled back). NULL is a no-op. */
void store_db_close(struct store_db *db);
/* Absolute path of the database file. */
const char *store_db_path(const struct store_db *db);
/* The SQLite handle, for the caller's own tables (same connection, same transactions).
 * Do not BEGIN/COMMIT on it directly: use store_db_begin/commit/rollback. */
struct sqlite3 *store_db_sqlite(struct store_db *db);
/* dbinfo values (replica_id, dbiid, title) as read at open; "" when absent. */
const char *store_db_replica_id(const struct store_db *db);

/* ---- the simulated server's write path: dvload (and tests) only ----------------------- */

/*
 * Create a new database at relpath (relative to data_dir, or absolute; parents created) in WAL
 * mode with the schema of design.md plus notes.body, a random replica_id and dbiid (32 hex)
 * and title; records it in the index (DIT). Fails if the file exists. Returns an open handle
 * (caller closes with store_db_close) or NULL with dv_err() set.
 */
struct store_db *store_db_create(struct dv_store *st, const char *relpath, const char *title);
/* The same with a page size (512 .. 65536, a power of two; 0 = SQLite's default), which a
 * WAL-mode database keeps for its life. */
struct store_db *store_db_create_ps(struct dv_store *st, const char *relpath, const char *title,
                                    unsigned page_size);
/*
 * Explicit write transaction (BEGIN IMMEDIATE, waits for other writers). Store operations
 * between begin and commit join it; without one, each operation is its own transaction.
 * Commit applies the index changes (releases) of the transaction; rollback undoes the
 * references it counted. Return 0 or -1 with dv_err() set (after a failed commit the
 * transaction is rolled back).
 */
int store_db_begin(struct store_db *db);
int store_db_commit(struct store_db *db);
int store_db_rollback(struct store_db *db);

struct store_doc {
    const char *form; /* "Memo", "Reply", ... */
    const char *subject;
    const char *sender;
    const char *body;
    int64_t created; /* seconds; 0 = now */
};

struct store_att {
    const char *name; /* file name shown to users */
    const void *data;
    size_t size;
};

/*
 * Add a document with natt attachments. Attachments of min_object_size bytes and up become
 * NLOs (attachments.nlo = NLO name, data NULL): an existing NLO only gains a reference, a new
 * one is written (encrypted when configured) to a hidden temporary name, fsynced and renamed
 * into the lowest subdirectory with room. Smaller attachments are stored inline. unid_out
 * (33 bytes, may be NULL) receives the new document's unid. Returns 0 or -1.
 */
int store_doc_add(struct store_db *db, const struct store_doc *doc, const struct store_att *att,
                  size_t natt, char unid_out[STORE_UNID_LEN + 1]);
/* Soft delete: notes.deleted = when (0 = now). Keeps its references. -1 if no such unid. */
int store_doc_delete(struct store_db *db, const char *unid, int64_t when);
/*
 * Purge documents soft-deleted at or before `before` (seconds): deletes their notes and
 * attachments rows and releases their NLO references (refcount 0 starts the deferred deletion
 * clock). *ndocs (may be NULL) gets the number purged. Returns 0 or -1.
 */
int store_purge(struct store_db *db, int64_t before, size_t *ndocs);
/*
 * Read attachment att_id's content (inline, or from its NLO: decrypted, authenticated and
 * checked against its name). *buf is malloc'd (caller frees), *len its size. A referenced NLO
 * that is missing marks the index NEEDS_RESYNC. Returns 0 or -1.
 */
int store_att_read(struct store_db *db, int64_t att_id, unsigned char **buf, size_t *len);

/* ---- DAOS repository ------------------------------------------------------------------- */

/* True if name looks like an NLO file name (64+16 lower-case hex + ".nlo"). */
bool store_nlo_name_valid(const char *name);
/* Compute the NLO name of a plaintext (out: STORE_NLO_NAME_LEN + 1 bytes). */
void store_nlo_name(const void *data, size_t size, char out[STORE_NLO_NAME_LEN + 1]);
/*
 * Path of NLO name in the repository: the subdirectory recorded in the index, else a scan of
 * the subdirectories. Returns a malloc'd absolute path, or NULL with dv_err() "... not in the
 * repository" when no file exists.
 */
char *store_nlo_path(struct dv_store *st, const char *name);
/*
 * Read NLO name: header checked, decrypted and authenticated (GCM, the name is the AAD), the
 * plaintext's SHA-256 and size checked against the name. *buf malloc'd. Returns 0 or -1
 * ("wrong key or damaged file" on authentication failure).
 */
int store_nlo_read(struct dv_store *st, const char *name, unsigned char **buf, size_t *len);
/*
 * Recovery: install the NLO name whose stored bytes (as found in a backup) are at src_path.
 * Copied into the lowest subdirectory with room (hidden temp name, fsync, rename), read back
 * and verified (as store_nlo_read), and recorded in the index with a refcount computed from the
 * databases that reference it. An NLO already present is left alone (*installed = false).
 * installed may be NULL. Returns 0 or -1.
 */
int store_nlo_install(struct dv_store *st, const char *name, const char *src_path, bool *installed);

/*
 * Call fn for every object in the index (DOI), in name order, with its subdirectory and
 * refcount; a non-zero return from fn stops with that value. Returns 0, fn's value, or -1.
 */
typedef int (*store_object_fn)(void *ud, const char *name, int subdir, int64_t refcount);
int store_objects(struct dv_store *st, store_object_fn fn, void *ud);

struct store_object {
    char name[STORE_NLO_NAME_LEN + 1];
    int subdir;   /* 1 = "0001" */
    int64_t size; /* bytes of the file */
    int64_t refcount;
    int64_t zero_since; /* when the refcount reached 0, or 0 */
};
/*
 * The index's objects keyset-paged by name (a range scan: a page costs what it returns, at
 * 1,000,000 objects as at 10): names > after (NULL or "" = from the first), ascending; with
 * backward, names < after (NULL or "" = from the last), descending. zero_ref_only keeps only
 * objects with refcount 0 (waiting for deferred deletion). At most max into out[]; *n gets
 * the count. Returns 0 or -1.
 */
int store_objects_page(struct dv_store *st, const char *after, bool backward, bool zero_ref_only,
                       struct store_object *out, size_t max, size_t *n);
/* One object of the index: 1 found (out filled; may be NULL), 0 not in the index, -1 error. */
int store_object_get(struct dv_store *st, const char *name, struct store_object *out);

/*
 * The names the index gained (table doi_added, written by a trigger on doi in the inserting
 * transaction; the last 1,048,576 kept; unbacked.c keeps "not yet backed up" with it,
 * docs/catalog.md "Version 7"). Read only: a backup never writes the index.
 * store_added_state: the epoch (meta unbacked_epoch, new at every resync daos; "-" before the
 * first), the highest seq the log ever gave (AUTOINCREMENT: never reused) and the lowest it
 * still holds (last + 1 when empty). store_added_since: the distinct names logged after seq.
 * 0 or -1.
 */
#define STORE_ADDED_EPOCH_LEN 32
typedef int (*store_name_fn)(void *ud, const char *name);
int store_added_state(struct dv_store *st, char epoch[STORE_ADDED_EPOCH_LEN + 1], int64_t *last,
                      int64_t *first);
int store_added_since(struct dv_store *st, int64_t seq, store_name_fn fn, void *ud);

/* ---- DAOS index ------------------------------------------------------------------------ */

struct store_subdir {
    int subdir; /* 1 = "0001" */
    long count; /* NLO files in it */
};

struct store_status {
    bool needs_resync;
    char reason[512];                  /* why NEEDS_RESYNC ("" when synchronized) */
    int64_t state_since;               /* when the state was set */
    uint64_t objects, bytes;           /* DOI */
    uint64_t zero_ref, zero_ref_bytes; /* refcount 0, waiting for deferred deletion */
    uint64_t zero_ref_due;             /* ... of which old enough to prune now */
    uint64_t references;               /* sum of refcounts */
    uint64_t referenced_bytes;         /* sum of size x refcount: bytes without dedup */
    uint64_t databases;                /* DIT rows */
    struct store_subdir *subdirs;      /* malloc'd, ascending */
    size_t nsubdirs;
};

/* Fill st's index state and counts (no check: call store_check first for a fresh verdict).
 * Free with store_status_done. Returns 0 or -1. */
int store_status(struct dv_store *st, struct store_status *out);
void store_status_done(struct store_status *s);
/* True if the index is NEEDS_RESYNC (false on error too, with dv_err() set). */
bool store_needs_resync(struct dv_store *st);
/* Mark the index NEEDS_RESYNC with a reason (kept until a resync). Returns 0 or -1. */
int store_mark_needs_resync(struct dv_store *st, const char *reason);
/*
 * Compare the DIT with the databases found by the globs (appeared, disappeared, replica id
 * changed) and mark NEEDS_RESYNC on a difference. Returns 0 (checked; see store_needs_resync)
 * or -1 on error.
 */
int store_check(struct dv_store *st);

struct store_resync_counts {
    uint64_t objects, bytes, databases, references;
    uint64_t missing;    /* references to NLOs not in the repository */
    uint64_t duplicates; /* an NLO name found in two subdirectories (first one kept) */
};
/*
 * Rebuild the DIT, DOI and subdirectory counts from scratch: the repository (readdir of every
 * NNNN subdirectory) and every database's attachments.nlo, in one index transaction; rewrite
 * daos.cfg; end SYNCHRONIZED. Zero-ref objects keep the zero_since they had (else now).
 * Progress and warnings go to job (may be NULL); cancel is honoured (index unchanged).
 * counts may be NULL. Run it while the server is quiet: references added or removed by
 * concurrent writers during the rebuild may be miscounted. Returns 0 or -1.
 */
int store_resync(struct dv_store *st, struct dv_job *job, struct store_resync_counts *counts);

struct store_prune_counts {
    uint64_t deleted, bytes; /* physically deleted */
    uint64_t waiting_backup; /* due, but the callback refused (no backup holds them yet) */
    uint64_t not_due;        /* refcount 0, younger than the deletion interval */
};
typedef bool (*store_may_delete_fn)(void *ud, const char *name);
/*
 * DAOS prune: physically delete NLOs whose refcount has been 0 for at least days days
 * (days < 0: server.deferred_deletion_days), for which may_delete (may be NULL = all) says
 * yes; update DOI and daos.cfg. Runs store_check first and refuses while NEEDS_RESYNC
 * ("run dvault resync daos first"). counts may be NULL. Returns 0 or -1.
 */
int store_prune(struct dv_store *st, long days, store_may_delete_fn may_delete, void *ud,
                struct store_prune_counts *counts, struct dv_job *job);

typedef int (*store_name_fn)(void *ud, const char *name);
/*
 * The distinct NLO names database db_path (relative to data_dir or absolute; any database
 * file, including a restored copy outside data_dir; opened read-only) references, ascending;
 * with missing_only, only those with no file in the repository (a stat in the subdirectory the
 * DAOS index names; when the index is NEEDS_RESYNC, also every subdirectory for a name it
 * misplaces or lacks: memory does not grow with the repository). fn is called per name; a non-zero
 * return stops with that value. *nout (may be NULL) gets the number reported. Returns 0, fn's
 * value, or -1.
 */
int store_listnlo(struct dv_store *st, const char *db_path, bool missing_only, store_name_fn fn,
                  void *ud, uint64_t *nout);

/* ---- recovery support (backend/recover.c) ----------------------------------------------- */

struct fsb;

enum store_install_status {
    STORE_INSTALL_NEW = 0, /* copied into the repository and indexed */
    STORE_INSTALL_PRESENT, /* already in the repository: left alone */
    STORE_INSTALL_FAILED,  /* not installed: see err */
};

struct store_install {
    const char *name;                 /* in: NLO name */
    const char *src_path;             /* in: the stored bytes (as found in a backup) */
    const struct fsb *src_root;       /* in: NULL, or src_path is relative to it and opened
                                         beneath it (fsb.h: a pool object of the target); a
                                         path is opened O_NONBLOCK: a regular file only */
    enum store_install_status status; /* out */
    int subdir;                       /* out: where it is (NEW or PRESENT; 0 when unknown) */
    char *err; /* out: why it failed (malloc'd; NULL: not processed; in: NULL or from an
                  earlier call); free with store_install_done */
};

/*
 * Recovery of many NLOs at once. The repository is read once (readdir) to find the names
 * already present; the others get their subdirectory slots in one index transaction, are
 * copied (hidden temp name, fsync, rename: never partially visible), read back and verified
 * (as store_nlo_read), and are then indexed in one transaction with refcounts computed in one
 * pass over the databases (each database opened once, one indexed lookup per name). A failed
 * copy frees its slot and does not stop the others. Cancelling the job stops before the next
 * copy (those done are indexed). Concurrent writers taking a first reference to one of these
 * names between the count and the index insert can leave its refcount one low: run recovery
 * while the server is quiet, or resync after (restore marks NEEDS_RESYNC anyway).
 * Returns 0 when every entry is NEW or PRESENT, -1 when any failed (dv_err() = the first
 * failure) or on an index error (then entries not yet processed stay FAILED).
 */
int store_nlo_install_many(struct dv_store *st, struct store_install *v, size_t n,
                           struct dv_job *job);
/* Free the err strings of v (the array itself is the caller's). NULL is a no-op. */
void store_install_done(struct store_install *v, size_t n);

/*
 * Presence of NLO files in the repository, checked live: a stat in the subdirectory the DAOS
 * index names (when the index is NEEDS_RESYNC, then in every subdirectory). Memory does not
 * grow with the repository.
 */
struct store_repo;
/* Returns the checker (free with store_repo_free) or NULL with dv_err() set. */
struct store_repo *store_repo_scan(struct dv_store *st);
bool store_repo_has(const struct store_repo *r, const char *name);
void store_repo_free(struct store_repo *r);

/*
 * The stored bytes of live NLOs, checked against what a backup recorded (recover's repair,
 * listnlo damaged). Everything below the DAOS directory is opened beneath it (fsb.h): a
 * symbolic link, FIFO or device under an NLO's name is seen as itself, never followed or
 * opened. store_live_open returns the checker (NULL with dv_err()); store_live_close(NULL) is
 * a no-op.
 */
struct store_live;
struct store_live *store_live_open(struct dv_store *st);
void store_live_close(struct store_live *l);

enum store_live_kind {
    STORE_LIVE_MISSING = 0, /* no entry of that name */
    STORE_LIVE_FILE,        /* a regular file */
    STORE_LIVE_LINK,        /* a symbolic link */
    STORE_LIVE_OTHER,       /* a directory, FIFO, socket or device */
};

struct store_live_nlo {
    enum store_live_kind kind;
    int subdir;      /* where the name is (0: missing) */
    int64_t size;    /* FILE: its size */
    char sha256[65]; /* FILE, when hashed: SHA-256 of its stored bytes ("" otherwise) */
    char what[32];   /* LINK, OTHER: "a symbolic link", "a FIFO", ... */
};

/*
 * What the repository holds under name: found as store_repo_has does (the subdirectory the
 * index names; every subdirectory when the index is NEEDS_RESYNC), by lstat. A regular file
 * is hashed when hash is set (its stored bytes: encrypted NLOs are not decrypted). 0 with out
 * filled, or -1 with dv_err() (not an NLO name, an unreadable file or directory).
 */
int store_live_nlo(struct store_live *l, const char *name, bool hash, struct store_live_nlo *out);
/*
 * Repair: replace what subdir holds under name by the stored bytes read from src_fd (a pool
 * copy; read with offsets), atomically. Written to a hidden temporary in the same
 * subdirectory (created O_EXCL, never ending in .nlo), fsynced, checked (its SHA-256 must be
 * want_sha256, it must read back as NLO name: decrypted, authenticated, content matching
 * the name), then renamed over the name (a damaged file, a link or a FIFO is replaced as
 * itself) and the subdirectory fsynced. A name that vanished meanwhile is not brought back.
 * The DAOS index is unchanged (same name, same subdirectory). 0, or -1 with dv_err() (the
 * temporary removed, the name as it was). Crash point "recover.repair.before_rename".
 */
int store_live_replace(struct store_live *l, const char *name, int subdir, int src_fd,
                       const char *want_sha256);

/* One document as listed by store_docs (strings valid during the callback; "" when NULL). */
struct store_doc_info {
    const char *unid, *form, *subject, *sender;
    int64_t created, modified;
    int64_t deleted; /* soft-deletion time, 0 when not deleted */
    int natt;        /* attachments */
    int nnlo;        /* ... of which NLO references */
};
struct store_doc_filter {
    const char *search; /* case-insensitive substring of subject, sender or body (NULL = all) */
    const char *unid;   /* only this document (NULL = all) */
    const char *nlo;    /* only documents with an attachment referencing this NLO (NULL = all) */
};
typedef int (*store_doc_fn)(void *ud, const struct store_doc_info *d);
/*
 * The documents of database db_path (relative to data_dir or absolute; opened read-only),
 * ordered by created then unid, filtered by f (may be NULL). fn's non-zero return stops with
 * that value. *nout (may be NULL) gets how many were reported. Returns 0, fn's value, or -1.
 */
int store_docs(struct dv_store *st, const char *db_path, const struct store_doc_filter *f,
               store_doc_fn fn, void *ud, uint64_t *nout);
/*
 * The distinct NLO names of document unid's attachments in db_path (read-only), ascending.
 * -1 with "no document" when the unid is not there.
 */
int store_doc_nlos(struct dv_store *st, const char *db_path, const char *unid, store_name_fn fn,
                   void *ud);
/* One attachment of a document (strings valid during the callback). nlo is "" when the
 * attachment is stored inline. */
struct store_att_info {
    int64_t att_id;
    const char *name, *nlo;
    int64_t size;
};
typedef int (*store_att_fn)(void *ud, const struct store_att_info *a);
/*
 * The attachments of document unid in db_path (relative to data_dir or absolute; read-only),
 * in attachment order. fn's non-zero return stops with that value. -1 with "no document" when
 * the unid is not there, or on an SQLite error. Returns 0, fn's value, or -1.
 */
int store_doc_atts(struct dv_store *st, const char *db_path, const char *unid, store_att_fn fn,
                   void *ud);
/*
 * Copy document unid (with its attachments) from src into dst, keeping unid, times and
 * deletion state; NLO references are counted for dst. Every NLO it references must be in the
 * repository (recover missing ones first). Fails if dst already has the unid. Returns 0 or -1.
 */
int store_doc_copy(struct store_db *src, const char *unid, struct store_db *dst);
/* State of unid in db: 0 absent, 1 present, 2 soft-deleted; -1 on error. */
int store_doc_state(struct store_db *db, const char *unid);
/* Undo a soft deletion (notes.deleted = NULL, modified = now). -1 if unid is not soft-deleted. */
int store_doc_undelete(struct store_db *db, const char *unid);

/* ---- batches: many documents restored into one database at once (docrestore.h) ------- */

/*
 * A batch writes documents into db in ONE SQLite transaction and counts their NLO references
 * in ONE index transaction, exact across a crash (kill -9) at any point:
 *   store_batch_begin   BEGIN IMMEDIATE on db; then settle what earlier batches on db left
 *                       (below); *settled (may be NULL) gets how many records were settled
 *   store_batch_undelete, store_batch_insert   rows written, NLO references collected
 *   store_batch_commit  every collected reference counted in one index transaction that also
 *                       records them under the batch's random token (DAOS index meta
 *                       'pending_refs:TOKEN'); the token written into db's dbinfo
 *                       ('dvault_batch' = "TOKEN MARKER"); COMMIT; the record deleted
 *   store_batch_abort   ROLLBACK; references counted are released (with the record)
 * A crash before the index transaction leaves nothing behind. Between it and the end it leaves
 * the record (refcounts too high: safe). The next batch on db settles it under db's write lock:
 * dbinfo holding its token means the transaction committed (the record is dropped), anything
 * else that it did not (its references are released with the record, in one index
 * transaction). Settling is atomic (the record is deleted in the transaction that releases),
 * so two settlers never release twice. store_resync drops every record (it recounts).
 * Every NLO a batch references must be in the repository and the index (recover it first).
 */
struct store_batch;
struct store_batch *store_batch_begin(struct store_db *db, uint64_t *settled);
/* Undo a soft deletion, modified set to modified. 1 done, 0 the document is not soft-deleted
 * (absent or present), -1 error. */
int store_batch_undelete(struct store_batch *b, const char *unid, int64_t modified);
struct store_doc_row {
    const char *unid, *form, *subject, *sender, *body; /* NULL: SQL NULL */
    int64_t created, modified;
    bool deleted; /* soft-deleted at deltime */
    int64_t deltime;
};
struct store_att_row {
    const char *name;
    int64_t size;
    const char *nlo;  /* an NLO reference, or NULL: data inline */
    const void *data; /* dlen bytes */
    size_t dlen;
};
/* Insert a document with its attachments (the unid must be new: -1 otherwise). 0 or -1. */
int store_batch_insert(struct store_batch *b, const struct store_doc_row *d,
                       const struct store_att_row *a, size_t na);
/* References counted, marker recorded, committed (crash points "batch.counted",
 * "batch.committed"). The batch is freed either way. 0 or -1 (rolled back, nothing counted). */
int store_batch_commit(struct store_batch *b, const char *marker);
/* Roll back and free; NULL is a no-op. */
void store_batch_abort(struct store_batch *b);
/* Records left by batches that have not ended (crashed, or running now): how many. -1 error. */
int64_t store_batch_pending(struct dv_store *st);

typedef int (*store_ref_fn)(void *ud, const char *db_relpath, int64_t count);
/*
 * The databases (server.databases globs, opened read-only) that reference NLO name now, with
 * how many attachment rows each; one indexed lookup per database. fn's non-zero return stops
 * with that value. Returns 0, fn's value, or -1.
 */
int store_nlo_referrers(struct dv_store *st, const char *name, store_ref_fn fn, void *ud);
/* The DOI row of name: 1 indexed (*subdir, *refcount set), 0 not indexed, -1 error. */
int store_nlo_info(struct dv_store *st, const char *name, int *subdir, int64_t *refcount);

#endif

/*
 * recover.h - restore and recovery (seed 003): restore a database from a set into a new name,
 * bring missing NLOs back from the target's pool, list and copy single documents, and find
 * where an NLO lives.
 *
 * Each function opens what it needs from cfg (store, catalog, and the target only when it has
 * to read from it: taking the target's lock) and closes it again, so the console can call them
 * from a worker thread and the command line is a thin printer. Nothing here prints.
 * Operator's guide: docs/operations.md.
 */
#ifndef DV_RECOVER_H
#define DV_RECOVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "catalog.h"
#include "config.h"
#include "job.h"
#include "restore.h"
#include "store.h"

/* ---- restore a database ---------------------------------------------------------------- */

struct restore_opts {
    const char *set_id;
    const char *db_path; /* as the server names it (relative to data_dir), or absolute below it */
    const char *into;    /* relative to data_dir (no ".."), or absolute; parent must exist */
    bool force;          /* replace an existing file (not the live source: see replace_live) */
    bool replace_live;   /* into is the live database db_path: put the backup in its place */
    bool pitr;           /* point-in-time (pitr.h): the set + archived WAL up to at_us */
    int64_t at_us;       /* TIME in microseconds since the epoch */
    bool to_latest;      /* every archived transaction */
};

struct restore_result {
    struct restore_info info;
    char db_rel[1024];              /* the database as the server names it */
    char into[4096];                /* absolute path of the restored file */
    bool replaced;                  /* an existing file was replaced (--force / --replace-live) */
    bool live;                      /* it is the live database again (ids kept) */
    char replica_id[40], dbiid[40]; /* of the restored file (new unless live) */
    uint64_t size, docs;
    uint64_t nlo_refs, nlo_missing; /* distinct NLOs it references / lacks in the repository */
    bool old_set; /* the set is older than deferred_deletion_days: NLOs may be gone */
    int64_t set_age_days;
    char resync_reason[512]; /* what was written to the DAOS index (NEEDS_RESYNC) */
    bool counted; /* the copy is one of the server's databases (the globs, not the restore
                   * folder): the DAOS index was marked NEEDS_RESYNC */
    bool no_daos; /* the server has no DAOS: no NLO counts, no index marked */
    uint64_t pitr_transactions; /* point-in-time: archived transactions applied */
    int64_t pitr_last_us;       /* observed time of the last one applied (0: none) */
    int64_t pitr_err_us;        /* precision (pitr.h pitr_result.err_us) */
    struct restore_sweep sweep; /* leftovers of killed restores removed first (restore.h) */
};

/* What a restore destination is (recover_into_check). */
enum recover_into_kind {
    RECOVER_INTO_NEW = 0,   /* nothing there */
    RECOVER_INTO_RESTORED,  /* an earlier restored copy (its dbinfo says restored_from...) */
    RECOVER_INTO_LIVE_SELF, /* the live database the restore is of (--replace-live) */
    RECOVER_INTO_OTHER,     /* any other existing file: another live database, mostly */
};

struct recover_into_info {
    char path[4096]; /* canonical absolute path (parent's links resolved) */
    char rel[1024];  /* relative to data_dir when below it, else "" */
    bool below_data; /* below data_dir */
    enum recover_into_kind kind;
    bool is_source;             /* into names the database being restored (existing or not) */
    char replica_id[40];        /* of an existing file ("" none) */
    char origin[1024];          /* RESTORED: restored_from (the database it is a copy of) */
    char origin_set[32];        /* ... restored_from_set */
    char origin_replica_id[40]; /* ... restored_from_replica_id */
    bool in_use;                /* an existing file another process holds (dbuse.h) */
    pid_t holder;               /* ... that process (0: unknown) */
};

/*
 * Resolve and check a restore destination exactly as recover_restore does, before anything
 * is restored (the console asks the name first). A relative into is normalised lexically
 * ("mail/../alice2.nsf" is "alice2.nsf") and must stay below data_dir (also through links);
 * refused wherever it is: not a file name; a parent directory that does not exist; in the
 * DAOS directory (NLOs, the DAOS index); in the backup target; the catalog (or its -wal,
 * -shm, -journal) or the server key; the -wal/-shm/-journal of a file beside it; a symbolic
 * link, a directory, anything but a regular file. db_path (may be NULL) is the database
 * being restored, to recognise RECOVER_INTO_LIVE_SELF. 0 with ii filled, or -1 with dv_err().
 */
int recover_into_check(const struct dv_config *cfg, const char *db_path, const char *into,
                       struct recover_into_info *ii);

/*
 * Restore database o->db_path of set o->set_id into o->into (restore_materialize: checked
 * copy, kept delta applied, integrity_check, the final name appears only complete). Unless the
 * restore replaces the live database (o->replace_live), the file gets a new replica_id and
 * dbiid (32 random hex each) and records its origin (dbinfo restored_from,
 * restored_from_replica_id, restored_from_set) before its final rename. Refuses what
 * recover_into_check refuses; an existing into without o->force; into == the live database
 * without o->replace_live (o->force is not enough); an existing file another process has open
 * ("NAME is in use by pid N", dbuse.h: tested first, and again under a fence right before the
 * rename, when its WAL is also checkpointed and must be empty). Leftovers of killed restores
 * are removed first (r->sweep). Afterwards marks the DAOS index NEEDS_RESYNC ("restored <db>
 * from set <id> into <into>") and fills r (counts from the restored file and the repository).
 * Returns 0 or -1 with dv_err() set; on failure no file was created or replaced.
 */
int recover_restore(const struct dv_config *cfg, const struct restore_opts *o, struct dv_job *job,
                    struct restore_result *r);

/* ---- recover NLOs from the pool --------------------------------------------------------- */

#define RECOVER_LIST_MAX (64u << 20) /* bytes: a list file is read whole, never more */
/*
 * Read a list file of NLO names: one a line, blank lines and lines starting with '#' (after
 * optional blanks) ignored, surrounding blanks trimmed, a name may be given without ".nlo".
 * The file must be a regular file (a link to one is followed: the operator named it) of at
 * most RECOVER_LIST_MAX bytes; a FIFO, a device or a bigger file is refused unread. Anything
 * else (path-like names, wrong length, non-hex, upper case) fails the whole file with
 * "FILE:LINE: message"; the message never quotes the line (the file may be a secret), it says
 * what is wrong ("not an NLO name (40 characters, ...)"). Duplicates are dropped (sorted once:
 * n log n). *names (malloc'd array of malloc'd strings, full "<80 hex>.nlo" names, in file
 * order, first occurrence kept) is freed with recover_names_free. 0 or -1.
 */
int recover_list_read(const char *path, char ***names, size_t *n);
void recover_names_free(char **names, size_t n);

enum recover_status {
    RECOVER_NOT_DONE = 0, /* not decided: the recovery stopped first (its error says why) */
    RECOVER_RECOVERED,
    RECOVER_PRESENT,
    RECOVER_UNRECOVERABLE,
    RECOVER_REPAIRED, /* present but damaged: replaced from the pool */
};

struct recover_docref {
    char unid[STORE_UNID_LEN + 1];
    char *subject;
};

struct recover_item {
    char name[STORE_NLO_NAME_LEN + 1];
    enum recover_status status;
    char set_id[32];             /* the newest complete or partial set holding it ("" none) */
    int subdir;                  /* live subdirectory (recovered or present), 0 unknown */
    char *reason;                /* why unrecoverable (malloc'd; NULL otherwise) */
    char *damage;                /* present but damaged: how (malloc'd; NULL otherwise) */
    struct recover_docref *docs; /* unrecoverable: documents of the database referencing it */
    size_t ndocs;
};

struct recover_opts {
    const char *set_id;       /* only NLOs this set holds (NULL: the pool copy, any set) */
    const char *list_file;    /* exactly these names (recover_list_read) ... */
    const char *db_path;      /* ... or those this database lacks (relative or absolute) */
    const char *unid;         /* ... or those of this document of db_path (all its NLOs) */
    const char *const *names; /* ... or exactly these valid NLO names (nnames; docrestore.h) */
    size_t nnames;
};

struct recover_result {
    struct recover_item *items; /* in list / name order */
    size_t n;
    uint64_t recovered, present, unrecoverable;
    uint64_t repaired;          /* present but damaged, replaced from the pool */
    uint64_t bytes;             /* stored bytes copied */
    struct restore_sweep sweep; /* leftovers of killed restores removed first (restore.h) */
};

/*
 * Copy NLOs from the target's pool into the live repository (store_nlo_install_many). Each
 * name is: present (left alone) when the repository has it and its stored bytes hash to the
 * pool's record (or the pool has no record: nothing to compare with); damaged when they do
 * not, or a symbolic link or special file stands under its name (store_live_nlo: never
 * followed) - then it is repaired: replaced from the pool atomically (store_live_replace;
 * RECOVER_REPAIRED, it->damage says what was wrong); recoverable when it is missing and the
 * catalog's pool has it. Repair and recovery need the pool copy (with o->set_id, that set
 * must hold it: catalog_nlo_sets) whose SHA-256 matches the catalog (a mismatch or a missing
 * pool file makes it unrecoverable, naming the file); else unrecoverable (with the
 * documents of o->db_path that reference it). Only the names of this recovery are hashed
 * (o->db_path alone names the missing ones: listnlo damaged finds the damaged ones). All
 * checks are done before anything is copied. The target is opened (locked) only when something is
 * to be copied. Returns 0 when nothing is unrecoverable; -1 with dv_err() set otherwise, or on a
 * bad list file (then nothing was recovered), an unknown set, an unreadable target or
 * catalog, or a failed copy. r is filled either way (release with recover_result_done).
 */
int recover_nlos(const struct dv_config *cfg, const struct recover_opts *o, struct dv_job *job,
                 struct recover_result *r);
void recover_result_done(struct recover_result *r);

/* ---- listnlo damaged ------------------------------------------------------------------ */

enum recover_check {
    RECOVER_CHECK_OK = 0,  /* present, its stored bytes hash to the pool's record */
    RECOVER_CHECK_DAMAGED, /* present, but they do not (or a link / special file, unreadable) */
    RECOVER_CHECK_UNKNOWN, /* present, but the pool has no record: cannot be checked */
    RECOVER_CHECK_MISSING, /* not in the repository (listnlo missing) */
};
struct recover_check_counts {
    uint64_t referenced, ok, damaged, unknown, missing;
};
typedef int (*recover_check_fn)(void *ud, const char *name, enum recover_check what,
                                const char *why);
/*
 * Every NLO database db_path references (relative or absolute; store_listnlo), checked in the
 * live repository against the catalog's pool (store_live_nlo: the SHA-256 of the stored bytes;
 * a link is never followed). fn (may be NULL) is called, in name order, for the DAMAGED and
 * UNKNOWN ones with why (one line); a non-zero return stops with that value. c gets the
 * counts. Reads only (no target lock). Returns 0, fn's value, or -1 with dv_err() (no catalog,
 * unreadable database or repository, cancelled).
 */
int recover_check_nlos(const struct dv_config *cfg, const char *db_path, struct dv_job *job,
                       recover_check_fn fn, void *ud, struct recover_check_counts *c);

/* ---- documents -------------------------------------------------------------------------- */

enum recover_live_state {
    RECOVER_LIVE_UNKNOWN = 0, /* no live database given */
    RECOVER_LIVE_PRESENT,     /* the live database has it */
    RECOVER_LIVE_DELETED,     /* ... soft-deleted */
    RECOVER_LIVE_GONE,        /* the live database no longer has it */
};
const char *recover_live_state_name(enum recover_live_state s); /* "", "present", ... */

typedef int (*recover_doc_fn)(void *ud, const struct store_doc_info *d,
                              enum recover_live_state live);
/*
 * The documents of path (a restored database, relative or absolute) with their state in
 * live_path (NULL: not compared), filtered by search (NULL = all; case-insensitive substring
 * of subject, sender or body). fn is called per document, ordered by creation; a non-zero
 * return stops with that value. *n (may be NULL) gets how many. Returns 0, fn's value, or -1.
 */
int recover_doc_list(const struct dv_config *cfg, const char *path, const char *live_path,
                     const char *search, recover_doc_fn fn, void *ud, uint64_t *n);

struct doccopy_result {
    bool undeleted;             /* the live database had it soft-deleted: undeleted in place */
    bool copied;                /* copied from the restored database */
    int attachments, nlos;      /* of the document */
    bool other_db;              /* copied with force into a database not its origin */
    struct recover_result nlo;  /* the NLOs recovered first (release with recover_result_done) */
    struct restore_sweep sweep; /* leftovers of killed restores removed first (restore.h) */
};

/* Where a document copy comes from and goes to (recover_doc_origin). */
struct doccopy_origin {
    char from_replica_id[40];   /* the source's own replica id */
    char origin[1024];          /* restored_from of the source ("" when it is no restored copy) */
    char origin_replica_id[40]; /* the replica id the source stands for: restored_from_replica_id,
                                   or its own replica id when it is no restored copy */
    char live_replica_id[40];   /* of live_path */
    bool same;                  /* both known and equal: the document goes back where it was */
};

/*
 * The replica ids that decide whether a document of from_path may be copied into live_path
 * without --force: from_path's origin (the database it is a restored copy of) must be
 * live_path (same replica id). 0 with o filled, or -1 (a file that cannot be read).
 */
int recover_doc_origin(const struct dv_config *cfg, const char *from_path, const char *live_path,
                       struct doccopy_origin *o);

/*
 * Single-document recovery: recover the missing NLOs of document unid of from_path (as
 * recover_nlos with db_path/unid; fails if any is unrecoverable), then, if live_path has the
 * unid soft-deleted, undelete it; if it lacks the unid, store_doc_copy it (refcounts counted;
 * a document deleted in the backup is undeleted after the copy). A document the live database
 * has (not deleted) is refused. So is a live_path whose replica id is not from_path's origin
 * (recover_doc_origin: a restored copy of bob's mail into carol's) unless force, before
 * anything is recovered or copied; the message names both databases and their replica ids.
 * Leftovers of killed restores are removed first (r->sweep). Returns 0 or -1 with dv_err();
 * r filled either way.
 */
int recover_doc_copy_ex(const struct dv_config *cfg, const char *from_path, const char *unid,
                        const char *live_path, bool force, struct dv_job *job,
                        struct doccopy_result *r);
/* recover_doc_copy_ex without force. */
int recover_doc_copy(const struct dv_config *cfg, const char *from_path, const char *unid,
                     const char *live_path, struct dv_job *job, struct doccopy_result *r);

/* ---- where is an NLO -------------------------------------------------------------------- */

struct whereis_db {
    char *path;        /* relative to data_dir */
    int64_t since_seq; /* seq of the set since which its backups reference it */
    char since[40];    /* that set's id ("" when the set was pruned) */
};

struct whereis_result {
    char name[STORE_NLO_NAME_LEN + 1];
    struct whereis_db *dbs;
    size_t ndbs;
    struct catalog_set *sets; /* sets holding it, newest first */
    size_t nsets;
    char *live_path; /* in the live repository (NULL: not there) */
    int live_subdir;
    bool indexed;     /* in the DAOS index (DOI) */
    int64_t refcount; /* DOI refcount (-1 when not indexed) */
    bool in_pool;     /* the catalog's pool has it */
    struct catalog_pool_obj pool;
    char *pool_path; /* the pool file (absolute) */
    bool pool_file;  /* ... and it exists */
};

/*
 * Where NLO name (with or without ".nlo") is: databases that referenced it at their latest
 * backup (the catalog's reference index: no database is opened, so the answer does not grow
 * with the number of databases), sets holding it (catalog_nlo_sets), the live repository (which
 * subdirectory, DOI refcount) and the pool (sha256, file present). Does not lock the target. 0 or
 * -1 (a name that is not an NLO name, unreadable catalog). Release with recover_whereis_done.
 */
int recover_whereis(const struct dv_config *cfg, const char *name, struct whereis_result *r);
void recover_whereis_done(struct whereis_result *r);
/*
 * The NLO names that start with prefix (hex digits, fewer than 80; the console shows short
 * ones), from the DAOS index and the catalog's pool (not from database references: a name
 * that is in neither needs its full spelling), in name order without duplicates: at most max
 * into names, *n gets how many (max + 1 or more means: more than max). 0, or -1 with dv_err()
 * (not hex, no store).
 */
int recover_whereis_prefix(const struct dv_config *cfg, const char *prefix,
                           char (*names)[STORE_NLO_NAME_LEN + 1], size_t max, size_t *n);

#endif

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
    char resync_reason[512];    /* what was written to the DAOS index (NEEDS_RESYNC) */
    uint64_t pitr_transactions; /* point-in-time: archived transactions applied */
    int64_t pitr_last_us;       /* observed time of the last one applied (0: none) */
};

/*
 * Restore database o->db_path of set o->set_id into o->into (restore_materialize: checked
 * copy, kept delta applied, integrity_check, the final name appears only complete). Unless the
 * restore replaces the live database (o->replace_live), the file gets a new replica_id and
 * dbiid (32 random hex each) before its final rename. Refuses: an existing into without
 * o->force; into == the live database without o->replace_live (o->force is not enough); a
 * relative into with "..", empty or "." parts; a parent directory that does not exist; a
 * replaced file whose WAL cannot be checkpointed (in use). Afterwards marks the DAOS index
 * NEEDS_RESYNC ("restored <db> from set <id> into <into>") and fills r (counts from the
 * restored file and the repository). Returns 0 or -1 with dv_err() set; on failure no file
 * was created or replaced.
 */
int recover_restore(const struct dv_config *cfg, const struct restore_opts *o, struct dv_job *job,
                    struct restore_result *r);

/* ---- recover NLOs from the pool --------------------------------------------------------- */

/*
 * Read a list file of NLO names: one a line, blank lines and lines starting with '#' (after
 * optional blanks) ignored, surrounding blanks trimmed, a name may be given without ".nlo".
 * Anything else (path-like names, wrong length, non-hex, upper case) fails the whole file with
 * "FILE:LINE: message". Duplicates are dropped. *names (malloc'd array of malloc'd strings,
 * full "<80 hex>.nlo" names, in file order) is freed with recover_names_free. 0 or -1.
 */
int recover_list_read(const char *path, char ***names, size_t *n);
void recover_names_free(char **names, size_t n);

enum recover_status {
    RECOVER_NOT_DONE = 0, /* not decided: the recovery stopped first (its error says why) */
    RECOVER_RECOVERED,
    RECOVER_PRESENT,
    RECOVER_UNRECOVERABLE,
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
    struct recover_docref *docs; /* unrecoverable: documents of the database referencing it */
    size_t ndocs;
};

struct recover_opts {
    const char *set_id;    /* only NLOs this set holds (NULL: the pool copy, any set) */
    const char *list_file; /* exactly these names (recover_list_read) ... */
    const char *db_path;   /* ... or those this database lacks (relative or absolute) */
    const char *unid;      /* ... or those of this document of db_path (all its NLOs) */
};

struct recover_result {
    struct recover_item *items; /* in list / name order */
    size_t n;
    uint64_t recovered, present, unrecoverable;
    uint64_t bytes; /* stored bytes copied */
};

/*
 * Copy NLOs from the target's pool into the live repository (store_nlo_install_many). Each
 * name is: already present (left alone); recoverable when the catalog's pool has it (and, with
 * o->set_id, that set holds it: catalog_nlo_sets) and the pool file's SHA-256 matches the
 * catalog (a mismatch or a missing pool file makes it unrecoverable, naming the file); else
 * unrecoverable (with the documents of o->db_path that reference it). All checks are done
 * before anything is copied. The target is opened (locked) only when something is to be
 * copied. Returns 0 when nothing is unrecoverable; -1 with dv_err() set otherwise, or on a
 * bad list file (then nothing was recovered), an unknown set, an unreadable target or
 * catalog, or a failed copy. r is filled either way (release with recover_result_done).
 */
int recover_nlos(const struct dv_config *cfg, const struct recover_opts *o, struct dv_job *job,
                 struct recover_result *r);
void recover_result_done(struct recover_result *r);

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
    bool undeleted;            /* the live database had it soft-deleted: undeleted in place */
    bool copied;               /* copied from the restored database */
    int attachments, nlos;     /* of the document */
    struct recover_result nlo; /* the NLOs recovered first (release with recover_result_done) */
};

/*
 * Single-document recovery: recover the missing NLOs of document unid of from_path (as
 * recover_nlos with db_path/unid; fails if any is unrecoverable), then, if live_path has the
 * unid soft-deleted, undelete it; if it lacks the unid, store_doc_copy it (refcounts counted;
 * a document deleted in the backup is undeleted after the copy). A document the live database
 * has (not deleted) is refused. Returns 0 or -1 with dv_err(); r filled either way.
 */
int recover_doc_copy(const struct dv_config *cfg, const char *from_path, const char *unid,
                     const char *live_path, struct dv_job *job, struct doccopy_result *r);

/* ---- where is an NLO -------------------------------------------------------------------- */

struct whereis_db {
    char *path;   /* relative to data_dir */
    int64_t refs; /* attachment rows referencing it */
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
 * Where NLO name (with or without ".nlo") is: databases referencing it now (scan via the
 * store), sets holding it (catalog_nlo_sets), the live repository (which subdirectory, DOI
 * refcount) and the pool (sha256, file present). Does not lock the target. 0 or -1 (a name
 * that is not an NLO name, unreadable catalog). Release with recover_whereis_done.
 */
int recover_whereis(const struct dv_config *cfg, const char *name, struct whereis_result *r);
void recover_whereis_done(struct whereis_result *r);

#endif

/*
 * manifest.h - a set's manifest, <target>/sets/<id>/manifest.json (docs/formats.md,
 * "Manifest"): the struct, the writer and the strict reader. The catalog is rebuilt from
 * these (resync catalog), so the reader trusts nothing of the file.
 */
#ifndef DV_MANIFEST_H
#define DV_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fsb;

#define MANIFEST_SET_ID_MAX 32     /* = TARGET_SET_ID_MAX */
#define MANIFEST_VERSION 1         /* a manifest without failed databases */
#define MANIFEST_VERSION_PARTIAL 2 /* with failed_databases (docs/formats.md, "Manifest") */
#define MANIFEST_VERSION_MAX 2     /* the newest this dvault reads */
/* Limits of the manifest reader (docs/formats.md, "Manifest"): a manifest is read whole, at
 * most MANIFEST_MAX bytes, its JSON tree at most MANIFEST_MEM_FACTOR times that in memory;
 * every integer is range-checked: counts and sizes 0..MANIFEST_INT_MAX (2^53 - 1, what any
 * JSON reader holds exactly), seq 1..MANIFEST_SEQ_MAX (the catalog refuses a seq past it, so
 * "next seq" never overflows), times 0..MANIFEST_TIME_MAX (9999-12-31). */
#define MANIFEST_MAX (32u << 20)
#define MANIFEST_MEM_FACTOR 24
#define MANIFEST_INT_MAX ((int64_t)9007199254740991) /* 2^53 - 1 */
#define MANIFEST_SEQ_MAX MANIFEST_INT_MAX
#define MANIFEST_TIME_MAX ((int64_t)253402300799) /* 9999-12-31 23:59:59 UTC */

struct manifest_db {
    char *db_path; /* as the server names it: "mail/alice.nsf" */
    char *path;    /* the copy, relative to the set directory: "db/mail/alice.nsf" */
    uint64_t size;
    char sha256[65]; /* of the copy as stored */
    uint32_t page_size;
    char *replica_id; /* "" when the database has none */
    char *dbiid;
    bool delta_keep; /* false: the delta was applied to the copy */
    uint32_t delta_pages;
    char *delta_path;      /* kept delta, relative to the set directory; NULL when applied */
    char delta_sha256[65]; /* "" when applied */
    bool locked_copy;
    /* incremental backups (incr.h); absent in older manifests (read as a full copy, no map) */
    char *kind;   /* "full" | "incremental" */
    char *origin; /* incremental: the set it applies on; "" otherwise */
    uint64_t pages_total, pages_stored;
    char *pagemap; /* page map, relative to the set directory; "" when none */
    char pagemap_sha256[65];
    char *full_reason; /* why a full copy in an incremental set; "" otherwise */
};

/* A database the set could not copy (partial sets; absent in older manifests). */
struct manifest_failed {
    char *db_path; /* as the server names it */
    char *reason;
};

/*
 * A set's manifest. Every pointer is owned by the struct (malloc'd) and freed by
 * manifest_done(); NULL strings are written as "" / omitted and read back as "".
 */
struct manifest {
    int version; /* MANIFEST_VERSION (written as MANIFEST_VERSION_PARTIAL when nfailed) */
    char id[MANIFEST_SET_ID_MAX];
    int64_t seq;
    char kind[16];   /* "full" | "incremental" */
    char status[16]; /* "complete" | "partial" | "failed" | "running" */
    int64_t started, ended;
    char *origin, *checkpoint, *message;
    struct {
        char *data_dir, *daos_dir;
        char delta[8]; /* "apply" | "keep" */
        bool encryption;
        int64_t min_object_size, max_files_per_subdir;
        char *snapshot_command;
    } config;
    int64_t databases, nlo_new, nlo_held, nlo_skipped, deltas_applied, deltas_kept, bytes;
    int64_t pages_total, pages_stored; /* over the databases (counts.pages_*; 0 when absent) */
    struct manifest_db *dbs;
    size_t ndbs;
    struct manifest_failed *failed; /* "failed_databases": partial sets (and failed ones) */
    size_t nfailed;
    struct {           /* the set's list of new pool objects (TARGET_NLO_LIST) */
        char file[64]; /* "" when the set stored no NLO list */
        uint64_t count;
        char sha256[65]; /* of the list file */
    } nlo_list;
};

void manifest_init(struct manifest *m);
void manifest_done(struct manifest *m);
/* Append a deep copy of d. */
void manifest_add_db(struct manifest *m, const struct manifest_db *d);
/* Append a database the set could not copy (copies of both strings). */
void manifest_add_failed(struct manifest *m, const char *db_path, const char *reason);
/* Serialise to JSON (malloc'd, NUL-terminated); status NULL = m->status. */
char *manifest_to_json(const struct manifest *m, const char *status, size_t *len);
/*
 * Parse text (len bytes, at most MANIFEST_MAX) as a manifest; name is used in messages.
 * Strict JSON read by jansson (RFC 8259, UTF-8, duplicate keys refused, no NUL escapes,
 * nothing after the object; the tree bounded by MANIFEST_MEM_FACTOR), then the schema:
 * unknown keys are ignored, required keys must be there with the right types, every integer
 * in its range; every path must pass dv_path_is_safe_rel, ids must be set ids, hashes 64 hex.
 * m is overwritten (not freed first). Strings read are never NULL ("" when empty). On failure
 * returns -1 with dv_err() = "NAME: byte OFF: <syntax error>" (OFF where the reader stopped;
 * at most a short, escaped excerpt of the text is quoted) or "NAME: KEY: <what is wrong>"
 * (KEY a path like "databases[3].size"), and m is left initialised (manifest_done is safe).
 */
int manifest_parse(const char *name, const char *text, size_t len, struct manifest *m);
/*
 * Read and parse root/rel (fsb_read_capped: beneath the root without following a link, a
 * regular file of at most MANIFEST_MAX bytes; a FIFO or device is refused, never waited on).
 * errno is ENOENT when it does not exist.
 */
int manifest_read_at(const struct fsb *root, const char *rel, struct manifest *m);
/* The same for a path (its directory is the root: only the last component is checked). */
int manifest_read(const char *path, struct manifest *m);

#endif

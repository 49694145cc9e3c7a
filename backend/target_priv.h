/* target_priv.h - the target handle, shared by target.c (layout, directory side), target_id.c
 * (identity) and target_s3.c (the S3 side of "the target's store"). */
#ifndef DV_TARGET_PRIV_H
#define DV_TARGET_PRIV_H

#include "target.h"
#include "tstore.h"

struct target {
    char *path; /* the working tree (S3: backup.s3.cache) */
    char *sets;
    int dirfd;
    int lockfd;
    struct fsb *root; /* fsb view of dirfd */
    struct target_identity ident;
    enum target_kind kind; /* TARGET_KIND_DIR: the working tree is the target */
    struct tstore *dir;    /* a directory target: its store (tstore_dir over dirfd) */
    /* S3 */
    struct tstore *store;
    char *url; /* "s3://bucket/prefix" */
    char *endpoint;
    long lock_days;
    char *lock_mode; /* "governance" / "compliance" */
};

/* target.c: open the working tree at path and take its lock (no identity check). */
int target_open_tree(struct target *t, const char *path);
/* target_id.c: parse an identity's text; name for messages. */
int target_ident_parse(const char *name, const char *text, size_t len, struct target_identity *id);
/* target_id.c: a new identity (random id, now, this host, data_dir). */
void target_ident_new(struct target_identity *id, const char *data_dir);

/* target_s3.c */
struct dv_config;
struct target *target_s3_open(const struct dv_config *cfg);
int target_s3_identity_read(const struct dv_config *cfg, struct target_identity *id);
int target_s3_init(const struct dv_config *cfg, struct target_identity *id);
int target_s3_set_taken(struct target *t, const char *id); /* 1 taken, 0 free, -1 */
int target_s3_set_finish(struct target *t, const struct manifest *m);
int target_s3_set_fail(struct target *t, const char *id, const struct manifest *m);
int target_s3_cleanup_partial(struct target *t, int *n);
int target_s3_sets_scan(struct target *t, char ***ids, size_t *n);
int target_s3_publish(struct target *t, const char *const *rels, size_t n, unsigned flags);
int target_s3_fetch(struct target *t, const char *rel);
void target_s3_evict(struct target *t, const char *rel);
int target_s3_remove(struct target *t, const char *rel, int64_t *locked_until);
int target_s3_list(struct target *t, const char *prefix, target_list_cb cb, void *ud);

#endif

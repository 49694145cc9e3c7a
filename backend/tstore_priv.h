/* tstore_priv.h - the implementations' table behind tstore.h (tstore.c dispatches). */
#ifndef DV_TSTORE_PRIV_H
#define DV_TSTORE_PRIV_H

#include "tstore.h"

struct tstore_ops {
    int (*put)(struct tstore *, const char *, const void *, size_t, const struct tstore_lock *);
    int (*put_fd)(struct tstore *, const char *, int, uint64_t, const struct tstore_lock *);
    int (*put_many)(struct tstore *, const char *const *, const int *, const uint64_t *, size_t,
                    const struct tstore_lock *);
    int (*get_range)(struct tstore *, const char *, uint64_t, size_t, void *, size_t *);
    int (*get_fd)(struct tstore *, const char *, int, uint64_t *);
    int (*head)(struct tstore *, const char *, struct tstore_info *);
    int (*del)(struct tstore *, const char *, struct tstore_info *);
    int (*list)(struct tstore *, const char *, tstore_list_cb, void *);
    void (*close)(struct tstore *);
};

struct tstore {
    const struct tstore_ops *ops;
    char *name; /* for messages */
    void *impl;
};

#endif

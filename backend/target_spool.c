/* target_spool.c - see target_spool.h (over target.h's public API and fsb.h). */
#include "target_spool.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fsb.h"
#include "target.h"
#include "util.h"

/* Remove every entry of dir (beneath the working tree), keeping dir itself. */
static int clean_dir(const struct fsb *root, const char *dir, uint64_t *bytes)
{
    DIR *d = fsb_opendir(root, dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            v = dv_realloc(v, cap * sizeof *v);
        }
        v[n++] = dv_asprintf("%s/%s", dir, e->d_name);
    }
    closedir(d);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && fsb_tree(root, v[i], true, bytes) != 0)
            rc = -1;
        free(v[i]);
    }
    free(v);
    return rc;
}

int target_spool_clean(struct target *t, uint64_t *bytes)
{
    uint64_t b = 0;
    int rc = 0;
    if (target_kind(t) == TARGET_KIND_S3) {
        const struct fsb *root = target_root(t);
        if (clean_dir(root, "sets", &b) != 0 || clean_dir(root, "nlo", &b) != 0) {
            dv_preferr("the working tree of %s", target_url(t));
            rc = -1;
        }
    }
    if (bytes)
        *bytes = b;
    return rc;
}

char *target_spool_set_rel(const char *set_id, const char *rel)
{
    return dv_asprintf("sets/.%s.partial/%s", set_id, rel);
}

/* backup_util.c - see backup_int.h (moved out of backup.c: the size rule). */
#include "backup_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nlorefs.h"
#include "util.h"

/*
 * A copy whose delta was kept (copy and delta relative to the set's directory set): the image
 * restore builds (the copy, the delta applied by delta_apply_fd as restore applies it) in a
 * scratch file beside it (a new file, O_EXCL, beneath the set), removed afterwards. Its page
 * digests must be pm's, the map the next incremental takes as its origin (a wrong map makes
 * every incremental built on it unrestorable: issue 11); its references are read from it.
 */
int backup_read_refs_keep(const struct fsb *set, const char *copy, const char *delta,
                          const struct pagemap *pm, char ***names, size_t *n)
{
    char *srel = dv_asprintf("%s.refs-scratch.%ld", copy, (long)getpid());
    char *scratch = fsb_abs(set, srel), *cpath = fsb_abs(set, copy), *dpath = fsb_abs(set, delta);
    int rc = -1, in = -1, dfd = -1, out = -1;
    fsb_unlink(set, srel, true); /* ours from a crashed run: the target is locked */
    if ((in = fsb_openat(set, copy, O_RDONLY, 0)) >= 0 &&
        (dfd = fsb_openat(set, delta, O_RDONLY, 0)) >= 0 &&
        (out = fsb_openat(set, srel, O_RDWR | O_CREAT | O_EXCL, 0600)) >= 0)
        rc = nlorefs_read_with_delta(in, cpath, dfd, dpath, out, scratch, pm, names, n);
    if (in >= 0)
        close(in);
    if (dfd >= 0)
        close(dfd);
    if (out >= 0) {
        close(out);
        fsb_unlink(set, srel, true);
    }
    free(srel);
    free(scratch);
    free(cpath);
    free(dpath);
    return rc;
}

/*
 * The reason a database could not be copied, without the "hotcopy SRC (STEP): " or
 * "incremental SRC (STEP): " prefix that names the live file (the database is named beside
 * it): "STEP: message".
 */
void backup_short_reason(const char *msg, const char *src, char *out, size_t n)
{
    const char *words[] = {"hotcopy ", "incremental "};
    for (size_t i = 0; i < 2; i++) {
        size_t w = strlen(words[i]), l = strlen(src);
        if (strncmp(msg, words[i], w) == 0 && strncmp(msg + w, src, l) == 0 && msg[w + l] == ' ' &&
            msg[w + l + 1] == '(') {
            const char *step = msg + w + l + 2, *end = strstr(step, "): ");
            if (end) {
                snprintf(out, n, "%.*s: %s", (int)(end - step), step, end + 3);
                return;
            }
        }
    }
    snprintf(out, n, "%s", msg);
}

/*
 * "mail/a.nsf (reason); mail/b.nsf (reason)" of the databases the set could not copy into
 * out (n bytes), with "; and N more (dvault sets --json lists them)" when they do not fit;
 * names only (no reasons) when with_reasons is false.
 */
void backup_failed_list(const struct manifest *m, bool with_reasons, char *out, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < m->nfailed; i++) {
        char item[DV_ERR_MAX + 512];
        if (with_reasons)
            snprintf(item, sizeof item, "%s%s (%s)", i ? "; " : "", m->failed[i].db_path,
                     m->failed[i].reason);
        else
            snprintf(item, sizeof item, "%s%s", i ? ", " : "", m->failed[i].db_path);
        char more[96];
        snprintf(more, sizeof more, "%s and %zu more (dvault sets --json lists them)",
                 with_reasons ? ";" : ",", m->nfailed - i);
        size_t l = strlen(item);
        if (len + l + (i + 1 < m->nfailed ? strlen(more) : 0) >= n) {
            if (len + strlen(more) < n)
                snprintf(out + len, n - len, "%s", more);
            return;
        }
        memcpy(out + len, item, l + 1);
        len += l;
    }
}

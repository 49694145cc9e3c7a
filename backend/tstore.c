/* tstore.c - see tstore.h: the checks every store shares, then its implementation. */
#include "tstore.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tstore_priv.h"
#include "util.h"

static int bad_name(const struct tstore *ts, const char *name)
{
    dv_seterr("%s: unsafe object name '%s': refused", ts->name, dv_esc(name));
    errno = EINVAL;
    return -1;
}

#define CHECK(ts, name)                                                                            \
    do {                                                                                           \
        if (!dv_path_is_safe_rel(name))                                                            \
            return bad_name(ts, name);                                                             \
    } while (0)

const char *tstore_name(const struct tstore *ts)
{
    return ts->name;
}

void tstore_close(struct tstore *ts)
{
    if (!ts)
        return;
    ts->ops->close(ts);
    free(ts->name);
    free(ts);
}

int tstore_put(struct tstore *ts, const char *name, const void *buf, size_t len,
               const struct tstore_lock *lk)
{
    CHECK(ts, name);
    return ts->ops->put(ts, name, buf, len, lk);
}

int tstore_put_fd(struct tstore *ts, const char *name, int fd, uint64_t size,
                  const struct tstore_lock *lk)
{
    CHECK(ts, name);
    return ts->ops->put_fd(ts, name, fd, size, lk);
}

int tstore_put_many(struct tstore *ts, const char *const *names, const int *fds,
                    const uint64_t *sizes, size_t n, const struct tstore_lock *lk)
{
    for (size_t i = 0; i < n; i++)
        CHECK(ts, names[i]);
    if (ts->ops->put_many)
        return ts->ops->put_many(ts, names, fds, sizes, n, lk);
    for (size_t i = 0; i < n; i++)
        if (ts->ops->put_fd(ts, names[i], fds[i], sizes[i], lk) != 0)
            return -1;
    return 0;
}

int tstore_get_range(struct tstore *ts, const char *name, uint64_t off, size_t len, void *buf,
                     size_t *got)
{
    CHECK(ts, name);
    return ts->ops->get_range(ts, name, off, len, buf, got);
}

int tstore_get_fd(struct tstore *ts, const char *name, int fd, uint64_t *size)
{
    CHECK(ts, name);
    return ts->ops->get_fd(ts, name, fd, size);
}

int tstore_head(struct tstore *ts, const char *name, struct tstore_info *info)
{
    CHECK(ts, name);
    memset(info, 0, sizeof *info);
    return ts->ops->head(ts, name, info);
}

int tstore_delete(struct tstore *ts, const char *name, struct tstore_info *info)
{
    CHECK(ts, name);
    struct tstore_info dummy;
    if (!info)
        info = &dummy;
    memset(info, 0, sizeof *info);
    return ts->ops->del(ts, name, info);
}

int tstore_list(struct tstore *ts, const char *prefix, tstore_list_cb cb, void *ud)
{
    /* a string prefix: "sets/", "nlo/abc/", "sets/2026"; its directory part must be safe */
    char *p = dv_strdup(prefix);
    char *slash = strrchr(p, '/');
    if (slash)
        *slash = '\0';
    bool ok = !slash ? !strstr(prefix, "..") : dv_path_is_safe_rel(p);
    free(p);
    if (!ok || prefix[0] == '/')
        return bad_name(ts, prefix);
    return ts->ops->list(ts, prefix, cb, ud);
}

int64_t tstore_parse_time(const char *iso)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, s;
    if (!iso || sscanf(iso, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) != 6)
        return 0;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    time_t t = timegm(&tm);
    return t < 0 ? 0 : (int64_t)t;
}

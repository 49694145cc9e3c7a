/*
 * dvtmp.h - the unit tests' temporary directories, beneath $TMPDIR (default /tmp) as the
 * end-to-end tests' are.
 */
#ifndef DVTMP_H
#define DVTMP_H

#include <stdio.h>
#include <stdlib.h>

/* dvt_mkdtemp(buf, size, name): creates $TMPDIR/dvtest-NAME-XXXXXX, its path in buf; NULL if
 * the path does not fit in size bytes or mkdtemp fails */
static inline char *dvt_mkdtemp(char *buf, size_t size, const char *name)
{
    const char *t = getenv("TMPDIR");
    if (!t || !*t)
        t = "/tmp";
    int n = snprintf(buf, size, "%s/dvtest-%s-XXXXXX", t, name);
    if (n < 0 || (size_t)n >= size)
        return NULL;
    return mkdtemp(buf);
}

#endif

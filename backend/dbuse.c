/* dbuse.c - see dbuse.h. */
#include "dbuse.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util.h"

#ifndef F_OFD_GETLK /* Linux >= 3.15; older headers */
#define F_OFD_GETLK 36
#define F_OFD_SETLK 37
#endif

/* Open one of the files for a lock test: never through a link, never blocking on a FIFO; a
 * missing file is -2 quietly. */
static int open_file(const char *path, int flags)
{
    int fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return -2;
        dv_syserr("%s", path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        dv_seterr("%s is not a regular file", path);
        close(fd);
        return -1;
    }
    return fd;
}

/* F_OFD_GETLK (F_GETLK where the kernel lacks it): 0 free, 1 held (*pid from the kernel, -1
 * for an OFD lock), -1 error. */
/* fcntl with an OFD lock command, or its POSIX twin where the kernel lacks OFD locks (EINVAL);
 * fl is a write lock of [off, off+len), filled in by the GETLK commands. */
static int lock_fcntl(int fd, int ofd_cmd, int posix_cmd, off_t off, off_t len, struct flock *fl)
{
    const struct flock want = {
        .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = off, .l_len = len};
    *fl = want;
    int r = fcntl(fd, ofd_cmd, fl);
    if (r != 0 && errno == EINVAL) {
        *fl = want;
        r = fcntl(fd, posix_cmd, fl);
    }
    return r;
}

static int test_lock(int fd, off_t off, off_t len, pid_t *pid)
{
    struct flock fl;
    int r = lock_fcntl(fd, F_OFD_GETLK, F_GETLK, off, len, &fl);
    if (r != 0)
        return -1;
    if (fl.l_type == F_UNLCK)
        return 0;
    *pid = fl.l_pid;
    return 1;
}

/* /proc/locks: a lock with a known pid on dev:ino overlapping [off, off+len). */
static pid_t pid_from_proc_locks(dev_t dev, ino_t ino, off_t off, off_t len)
{
    FILE *f = fopen("/proc/locks", "re");
    if (!f)
        return 0;
    char line[512];
    pid_t found = 0, self = getpid();
    while (!found && fgets(line, sizeof line, f)) {
        if (strstr(line, "->")) /* a waiter, not a holder */
            continue;
        char kind[16], adv[16], rw[16], end[32];
        long p;
        unsigned maj, min;
        unsigned long long i, start;
        if (sscanf(line, "%*d: %15s %15s %15s %ld %x:%x:%llu %llu %31s", kind, adv, rw, &p, &maj,
                   &min, &i, &start, end) != 9)
            continue;
        if (p <= 0 || p == self || maj != major(dev) || min != minor(dev) || i != (uint64_t)ino)
            continue;
        unsigned long long e = strcmp(end, "EOF") == 0 ? ~0ULL : strtoull(end, NULL, 10);
        if (start < (unsigned long long)(off + len) && e >= (unsigned long long)off)
            found = (pid_t)p;
    }
    fclose(f);
    return found;
}

/* A process (not us) with the file open: the entries of /proc/PID/fd, bounded. */
static pid_t pid_from_proc_fds(dev_t dev, ino_t ino)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    pid_t found = 0, self = getpid();
    long budget = 200000; /* descriptors looked at, at most */
    struct dirent *e;
    while (!found && budget > 0 && (e = readdir(proc))) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        long p = strtol(e->d_name, NULL, 10);
        if (p <= 0 || p == self)
            continue;
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%ld/fd", p);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            continue; /* gone, or another user's */
        DIR *fds = fdopendir(dfd);
        if (!fds) {
            close(dfd);
            continue;
        }
        struct dirent *d;
        while (!found && budget-- > 0 && (d = readdir(fds))) {
            struct stat st;
            if (d->d_name[0] == '.' || fstatat(dirfd(fds), d->d_name, &st, 0) != 0)
                continue;
            if (st.st_dev == dev && st.st_ino == ino)
                found = (pid_t)p;
        }
        closedir(fds);
    }
    closedir(proc);
    return found;
}

pid_t dbuse_find_pid(int fd, off_t off, off_t len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return 0;
    pid_t p = pid_from_proc_locks(st.st_dev, st.st_ino, off, len);
    return p ? p : pid_from_proc_fds(st.st_dev, st.st_ino);
}

/* Test one file's lock range: 0 free / missing, 1 held (*pid), -1 error. */
static int file_held(const char *path, off_t off, off_t len, pid_t *pid)
{
    int fd = open_file(path, O_RDONLY);
    if (fd == -2)
        return 0;
    if (fd < 0)
        return -1;
    pid_t p = 0;
    int r = test_lock(fd, off, len, &p);
    if (r < 0)
        dv_syserr("%s: lock test", path);
    if (r == 1)
        *pid = p > 0 ? p : dbuse_find_pid(fd, off, len);
    close(fd);
    return r;
}

int dbuse_holder(const char *path, pid_t *pid, const char **what)
{
    pid_t dummy;
    const char *wdummy;
    if (!pid)
        pid = &dummy;
    if (!what)
        what = &wdummy;
    *pid = 0;
    *what = "";
    char *shm = dv_asprintf("%s-shm", path);
    int r = file_held(shm, DBUSE_SHM_LOCK_OFF, DBUSE_SHM_LOCK_LEN, pid);
    free(shm);
    if (r != 0) {
        *what = "its -shm";
        return r;
    }
    r = file_held(path, DBUSE_DB_LOCK_OFF, DBUSE_DB_LOCK_LEN, pid);
    if (r == 1)
        *what = "the database file";
    return r;
}

/* The process's name, for messages ("" when unknown). */
static void proc_name(pid_t pid, char *buf, size_t n)
{
    buf[0] = 0;
    char p[64];
    snprintf(p, sizeof p, "/proc/%ld/comm", (long)pid);
    FILE *f = fopen(p, "re");
    if (!f)
        return;
    if (fgets(buf, (int)n, f))
        buf[strcspn(buf, "\n")] = 0;
    fclose(f);
    for (char *c = buf; *c; c++)
        if (!isprint((unsigned char)*c))
            *c = '?';
}

static void in_use_err(const char *name, pid_t pid, const char *what)
{
    char comm[32];
    if (pid > 0) {
        proc_name(pid, comm, sizeof comm);
        dv_seterr("%s is in use by pid %ld (%s%sholding SQLite's lock on %s): stop that use of "
                  "the database first; nothing was replaced",
                  name, (long)pid, comm, comm[0] ? ", " : "", what);
    } else {
        dv_seterr("%s is in use by another process (pid unknown: it holds an open-file-"
                  "description lock on %s): stop that use of the database first; nothing was "
                  "replaced",
                  name, what);
    }
}

int dbuse_refuse_if_held(const char *path, const char *name)
{
    pid_t pid = 0;
    const char *what = "";
    int r = dbuse_holder(path, &pid, &what);
    if (r == 1)
        in_use_err(name ? name : path, pid, what);
    return r == 0 ? 0 : -1;
}

struct dbuse_fence {
    int dbfd, shmfd;
};

/* Write-lock [off, off+len) of fd (OFD; POSIX where the kernel lacks OFD locks). 0, 1 held by
 * someone (*pid), -1 error. */
static int fence_lock(int fd, off_t off, off_t len, pid_t *pid)
{
    struct flock fl;
    int r = lock_fcntl(fd, F_OFD_SETLK, F_SETLK, off, len, &fl);
    if (r == 0)
        return 0;
    if (errno != EAGAIN && errno != EACCES)
        return -1;
    pid_t p = 0;
    if (test_lock(fd, off, len, &p) == 1 && p > 0)
        *pid = p;
    else
        *pid = dbuse_find_pid(fd, off, len);
    return 1;
}

struct dbuse_fence *dbuse_fence(const char *path, const char *name)
{
    if (!name)
        name = path;
    struct dbuse_fence *f = dv_calloc(1, sizeof *f);
    f->dbfd = f->shmfd = -1;
    char *shm = dv_asprintf("%s-shm", path);
    pid_t pid = 0;
    int r;
    /* the -shm first: a connection that is open but idle holds only its DMS byte there and
     * the database file's SHARED bytes */
    f->shmfd = open_file(shm, O_RDWR);
    if (f->shmfd == -1)
        goto fail;
    if (f->shmfd >= 0) {
        r = fence_lock(f->shmfd, DBUSE_SHM_LOCK_OFF, DBUSE_SHM_LOCK_LEN, &pid);
        if (r != 0) {
            if (r == 1)
                in_use_err(name, pid, "its -shm");
            else
                dv_syserr("%s: lock", shm);
            goto fail;
        }
    }
    f->dbfd = open_file(path, O_RDWR);
    if (f->dbfd < 0) {
        if (f->dbfd == -2)
            dv_seterr("%s: vanished", path);
        goto fail;
    }
    r = fence_lock(f->dbfd, DBUSE_DB_LOCK_OFF, DBUSE_DB_LOCK_LEN, &pid);
    if (r != 0) {
        if (r == 1)
            in_use_err(name, pid, "the database file");
        else
            dv_syserr("%s: lock", path);
        goto fail;
    }
    free(shm);
    return f;
fail:
    free(shm);
    dbuse_unfence(f);
    return NULL;
}

void dbuse_unfence(struct dbuse_fence *f)
{
    if (!f)
        return;
    if (f->dbfd >= 0)
        close(f->dbfd); /* the locks are the descriptors' (OFD): they go with them */
    if (f->shmfd >= 0)
        close(f->shmfd);
    free(f);
}

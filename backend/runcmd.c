/* runcmd.c - see runcmd.h. */
#include "runcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

extern char **environ;

#define TAIL_MAX 400
#define LINE_MAX_SHOWN 240

struct buf {
    char *p;
    size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = dv_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static char *subst_word(const char *w, size_t len, const struct runcmd_subst *subst)
{
    struct buf b = {0};
    buf_add(&b, "", 0);
    for (size_t i = 0; i < len;) {
        const struct runcmd_subst *hit = NULL;
        for (const struct runcmd_subst *s = subst; s && s->key; s++)
            if (strncmp(w + i, s->key, strlen(s->key)) == 0 && i + strlen(s->key) <= len)
                hit = s;
        if (hit) {
            buf_add(&b, hit->value, strlen(hit->value));
            i += strlen(hit->key);
        } else {
            buf_add(&b, w + i, 1);
            i++;
        }
    }
    return b.p;
}

char **runcmd_split(const char *cmdline, const struct runcmd_subst *subst, const char *what)
{
    size_t n = 0, cap = 8;
    char **argv = dv_calloc(cap, sizeof *argv);
    const char *p = cmdline;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        if (!*p)
            break;
        struct buf word = {0};
        buf_add(&word, "", 0);
        while (*p && *p != ' ' && *p != '\t' && *p != '\n') {
            if (*p == '\'' || *p == '"') {
                char q = *p++;
                const char *e = strchr(p, q);
                if (!e) {
                    dv_seterr("%s: unterminated %c quote in '%s'", what, q, cmdline);
                    free(word.p);
                    runcmd_argv_free(argv);
                    return NULL;
                }
                buf_add(&word, p, (size_t)(e - p));
                p = e + 1;
            } else {
                buf_add(&word, p++, 1);
            }
        }
        if (n + 2 > cap) {
            cap *= 2;
            argv = dv_realloc(argv, cap * sizeof *argv);
        }
        argv[n++] = subst_word(word.p, word.n, subst);
        argv[n] = NULL;
        free(word.p);
    }
    if (n == 0) {
        dv_seterr("%s is empty", what);
        runcmd_argv_free(argv);
        return NULL;
    }
    return argv;
}

void runcmd_argv_free(char **argv)
{
    for (size_t i = 0; argv && argv[i]; i++)
        free(argv[i]);
    free(argv);
}

/* Whether argv0 can be executed (as posix_spawnp would look it up): checked before spawning
 * so a missing program is reported the same way everywhere (valgrind's emulated vfork makes
 * posix_spawnp report it as an exit status 127 instead). Sets errno. */
static bool can_exec(const char *argv0)
{
    if (strchr(argv0, '/'))
        return access(argv0, X_OK) == 0;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/bin:/usr/bin";
    int err = ENOENT;
    for (const char *p = path; *p;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char *cand = dv_asprintf("%.*s/%s", (int)n, n ? p : ".", argv0);
        bool ok = access(cand, X_OK) == 0;
        if (!ok && errno != ENOENT)
            err = errno;
        free(cand);
        if (ok)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    errno = err;
    return false;
}

static char **make_env(const char *const *extra)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra && extra[m])
        m++;
    char **env = dv_calloc(n + m + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool overridden = false;
        const char *eq = strchr(environ[i], '=');
        size_t klen = eq ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        for (size_t j = 0; j < m; j++)
            if (strncmp(extra[j], environ[i], klen) == 0 && extra[j][klen] == '=')
                overridden = true;
        if (!overridden)
            env[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        env[k++] = (char *)extra[j];
    env[k] = NULL;
    return env;
}

int runcmd(const char *cmdline, const struct runcmd_opts *o)
{
    const char *what = o && o->what ? o->what : "command";
    char **argv = runcmd_split(cmdline, o ? o->subst : NULL, what);
    if (!argv)
        return -1;
    if (!can_exec(argv[0])) {
        dv_syserr("%s %s: cannot start", what, argv[0]);
        runcmd_argv_free(argv);
        return -1;
    }
    int errp[2], outp[2] = {-1, -1};
    bool want_out = o && o->out;
    if (pipe2(errp, O_CLOEXEC) != 0 || (want_out && pipe2(outp, O_CLOEXEC) != 0)) {
        dv_syserr("%s %s: pipe", what, argv[0]);
        runcmd_argv_free(argv);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, want_out ? outp[1] : errp[1], 1);
    posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
    char **env = make_env(o ? o->env : NULL);
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(errp[1]);
    if (want_out)
        close(outp[1]);
    if (err != 0) {
        close(errp[0]);
        if (want_out)
            close(outp[0]);
        errno = err;
        dv_syserr("%s %s: cannot start", what, argv[0]);
        runcmd_argv_free(argv);
        return -1;
    }
    struct buf out = {0}, tail = {0};
    buf_add(&out, "", 0);
    buf_add(&tail, "", 0);
    struct pollfd pf[2] = {{errp[0], POLLIN, 0}, {want_out ? outp[0] : -1, POLLIN, 0}};
    int open_fds = want_out ? 2 : 1;
    char chunk[4096];
    while (open_fds > 0) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read(pf[i].fd, chunk, sizeof chunk);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
                continue;
            }
            if (i == 0) {
                buf_add(&tail, chunk, (size_t)r);
                if (tail.n > 4 * TAIL_MAX) { /* keep the end only */
                    memmove(tail.p, tail.p + tail.n - TAIL_MAX, TAIL_MAX + 1);
                    tail.n = TAIL_MAX;
                }
            } else {
                buf_add(&out, chunk, (size_t)r);
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    /* the last line of stderr that says something (blank lines after it dropped), at most
     * LINE_MAX_SHOWN bytes of its end: the reason a command gives is usually its last words */
    char *t = tail.n > TAIL_MAX ? tail.p + tail.n - TAIL_MAX : tail.p;
    size_t tl = strlen(t);
    while (tl > 0 &&
           (t[tl - 1] == '\n' || t[tl - 1] == ' ' || t[tl - 1] == '\r' || t[tl - 1] == '\t'))
        t[--tl] = '\0';
    char *nl = strrchr(t, '\n');
    if (nl) {
        t = nl + 1;
        tl = strlen(t);
    }
    if (tl > LINE_MAX_SHOWN) {
        t += tl - LINE_MAX_SHOWN;
        tl = LINE_MAX_SHOWN;
    }
    for (size_t i = 0; i < tl; i++)
        if (t[i] == '\r' || t[i] == '\t')
            t[i] = ' ';
    int rc = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        dv_seterr("%s %s exited with %d%s%s", what, argv[0], WEXITSTATUS(status), tl ? ": " : "",
                  t);
        rc = -1;
    } else if (WIFSIGNALED(status)) {
        dv_seterr("%s %s killed by signal %d%s%s", what, argv[0], WTERMSIG(status), tl ? ": " : "",
                  t);
        rc = -1;
    }
    free(tail.p);
    if (want_out && rc == 0)
        *o->out = out.p;
    else
        free(out.p);
    runcmd_argv_free(argv);
    return rc;
}

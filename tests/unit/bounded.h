/*
 * bounded.h - run a piece of a test in a child process under resource limits (CPU seconds,
 * address space), for the findings that are about scale: a parser that was quadratic or took
 * gigabytes fails the test by running into the limit (fn returns 0 when its checks hold; it
 * must not use cmocka's asserts: it runs in the child) (SIGXCPU, or an allocation failing: the
 * child dies), one that scales passes far below it. The limits are 30-100 times what the
 * fixed code needs, so a loaded machine does not make them flaky; under valgrind or a
 * sanitizer (VALGRIND=1, SANITIZER=...) the CPU limit is 20 times larger and the address space
 * is not limited (both reserve or cost far more).
 */
#ifndef DV_TEST_BOUNDED_H
#define DV_TEST_BOUNDED_H

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void run_bounded(const char *what, int (*fn)(void *), void *arg, int cpu_seconds,
                        size_t mem_mb)
{
    const char *vg = getenv("VALGRIND"), *san = getenv("SANITIZER");
    bool heavy = (vg && strcmp(vg, "1") == 0) || (san && san[0]);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit cpu = {(rlim_t)(heavy ? 20 * cpu_seconds : cpu_seconds),
                             (rlim_t)(heavy ? 20 * cpu_seconds : cpu_seconds) + 1};
        setrlimit(RLIMIT_CPU, &cpu);
        if (!heavy && mem_mb) {
            struct rlimit as = {(rlim_t)mem_mb << 20, (rlim_t)mem_mb << 20};
            setrlimit(RLIMIT_AS, &as);
        }
        _exit(fn(arg) == 0 ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFSIGNALED(st))
        fail_msg("%s: killed by signal %d (%s) under %d s of CPU and %zu MiB", what, WTERMSIG(st),
                 WTERMSIG(st) == SIGXCPU ? "CPU limit" : "allocation failed?", cpu_seconds, mem_mb);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("%s: failed (exit %d)", what, WEXITSTATUS(st));
}

#endif

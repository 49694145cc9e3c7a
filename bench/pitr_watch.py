#!/usr/bin/env python3
"""bench/pitr_watch.py - the samplers of bench/pitr.sh (issue 13).

    pitr_watch.py OUT [--wal PATH] [--pid PID] (--seconds S | -- CMD ARGS...)

Watches for S seconds, or while CMD runs (CMD inherits stdout/stderr; its exit status is
ours). --wal: the size of PATH every 20 ms (a missing file is 0 bytes): the high-water mark
and the size at each whole second. --pid: the process's CPU over the window (utime + stime
from /proc/PID/stat, as % of one core), its open descriptors (/proc/PID/fd) each second, its
RSS at the end and its peak RSS (VmHWM). Results go to OUT as "key value" lines.
"""
import os
import subprocess
import sys
import time

TICK = 0.02


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime, stime (fields 14 and 15)


def nfds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def wal_size(path):
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    out, args = args[0], args[1:]
    wal = pid = seconds = None
    cmd = None
    while args:
        a = args.pop(0)
        if a == "--wal":
            wal = args.pop(0)
        elif a == "--pid":
            pid = int(args.pop(0))
        elif a == "--seconds":
            seconds = float(args.pop(0))
        elif a == "--":
            cmd = args
            break
        else:
            sys.exit(f"pitr_watch: unknown argument {a}")
    if (seconds is None) == (cmd is None):
        sys.exit("pitr_watch: --seconds S or -- CMD")
    hz = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    c0 = cpu_ticks(pid) if pid else 0
    child = subprocess.Popen(cmd) if cmd else None
    hwm = samples = fd_peak = 0
    per_second = []
    next_sec = t0
    while True:
        now = time.monotonic()
        if child is not None and child.poll() is not None:
            break
        if child is None and now - t0 >= seconds:
            break
        if wal:
            s = wal_size(wal)
            hwm = max(hwm, s)
            samples += 1
        if now >= next_sec:
            if wal:
                per_second.append((round(now - t0), s))
            if pid:
                fd_peak = max(fd_peak, nfds(pid))
            next_sec += 1.0
        time.sleep(max(0.0, TICK - (time.monotonic() - now)))
    wall = time.monotonic() - t0
    lines = [f"wall {wall:.3f}"]
    if wal:
        lines += [f"wal_hwm {hwm}", f"wal_samples {samples}", f"wal_end {wal_size(wal)}"]
        lines += [f"wal_at {t} {s}" for t, s in per_second]
    if pid:
        fd_peak = max(fd_peak, nfds(pid))
        cpu = (cpu_ticks(pid) - c0) / hz
        lines += [f"cpu_pct {100.0 * cpu / wall:.2f}", f"fds_peak {fd_peak}",
                  f"rss_kib {status_kib(pid, 'VmRSS')}", f"hwm_kib {status_kib(pid, 'VmHWM')}"]
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")
    sys.exit(child.returncode if child is not None else 0)


if __name__ == "__main__":
    main()

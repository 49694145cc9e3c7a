#!/bin/bash
# tests/run.sh {unit|all} TEST_BIN... - run the suite; passes are one line, failures show output.
# Env: DVAULT DVLOAD BUILD SRC (set by make), VALGRIND=1 runs unit tests under valgrind,
# ONLY=REGEX runs only the tests whose name matches, TMPROOT or TMPDIR: where temporary
# directories go (default /tmp).
set -u
mode=$1; shift
pass=0; fail=0; failed=""
logdir="$BUILD/test-logs"; mkdir -p "$logdir"
# temporary directories: beneath TMPROOT if set, else TMPDIR, else /tmp (the scripts use
# TMPROOT, the unit tests TMPDIR: both name the same directory)
export TMPROOT="${TMPROOT:-${TMPDIR:-/tmp}}"
export TMPDIR="$TMPROOT"

run_one() { # name command...
    local name=$1; shift
    if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return; fi
    local log="$logdir/$(echo "$name" | tr '/ ' '__').log" t0=$EPOCHREALTIME
    if "$@" >"$log" 2>&1; then
        pass=$((pass + 1))
        printf '  ok    %-40s %6.1fs\n' "$name" "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{print b-a}')"
    else
        fail=$((fail + 1)); failed="$failed $name"
        printf '  FAIL  %-40s (log: %s)\n' "$name" "$log"
        tail -n 40 "$log" | sed 's/^/        /'
    fi
}

echo "== unit tests"
for t in "$@"; do
    if [ "${VALGRIND:-}" = 1 ]; then
        run_one "unit/$(basename "$t") (valgrind)" valgrind -q --error-exitcode=99 --leak-check=full \
            --errors-for-leak-kinds=definite --track-fds=no "$t"
    else
        run_one "unit/$(basename "$t")" "$t"
    fi
done

if [ "$mode" = all ]; then
    for dir in e2e console; do
        ls "$SRC"/tests/$dir/*.sh >/dev/null 2>&1 || continue
        echo "== $dir tests"
        for s in "$SRC"/tests/$dir/*.sh; do
            [ "$(basename "$s")" = lib.sh ] && continue # sourced by the tests, not one itself
            run_one "$dir/$(basename "$s" .sh)" bash "$s"
        done
    done
fi

echo
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

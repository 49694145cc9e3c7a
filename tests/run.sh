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

# The S3 tests' gateway (tests/gw/ceph.sh): a script with a line "# needs: gateway" gets one,
# started once before the first such test that runs and stopped (by PID) after the last, its
# endpoint and keys in the environment. If it cannot start, each of those tests fails with why.
gw_left=0 gw_dir="" gw_fail=""
needs_gw() { grep -q '^# needs: gateway' "$1"; }
selected() { [ -z "${ONLY:-}" ] || [[ $1 =~ $ONLY ]]; }
gw_stop() {
    [ -n "$gw_dir" ] && "$SRC/tests/gw/ceph.sh" stop "$gw_dir" >>"$logdir/gateway.log" 2>&1
    gw_dir=""
}
trap gw_stop EXIT
gw_start() {
    local out
    echo "   (starting the S3 gateway: tests/gw/ceph.sh, log $logdir/gateway.log)"
    if out=$("$SRC/tests/gw/ceph.sh" start 2>"$logdir/gateway.log") && gw_dir=${out#GW_DIR=} &&
        eval "$("$SRC/tests/gw/ceph.sh" env "$gw_dir")"; then
        export GW_DIR GW_ENDPOINT GW_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
        sed -n 's/^gw: first/   (gateway: first/p' "$logdir/gateway.log" | sed 's/$/)/'
    else
        gw_fail="the S3 gateway did not start: $(tail -n 1 "$logdir/gateway.log")"
    fi
}
gw_failed() {
    echo "$gw_fail (log: $logdir/gateway.log)"
    tail -n 30 "$logdir/gateway.log"
    return 1
}

if [ "$mode" = all ]; then
    for dir in e2e console; do
        for s in "$SRC"/tests/$dir/*.sh; do
            [ -e "$s" ] && selected "$dir/$(basename "$s" .sh)" && needs_gw "$s" &&
                gw_left=$((gw_left + 1))
        done
    done
    for dir in e2e console; do
        ls "$SRC"/tests/$dir/*.sh >/dev/null 2>&1 || continue
        echo "== $dir tests"
        for s in "$SRC"/tests/$dir/*.sh; do
            [ "$(basename "$s")" = lib.sh ] && continue # sourced by the tests, not one itself
            name="$dir/$(basename "$s" .sh)"
            if selected "$name" && needs_gw "$s"; then
                [ -z "$gw_dir" ] && [ -z "$gw_fail" ] && gw_start
                if [ -n "$gw_fail" ]; then
                    run_one "$name" gw_failed
                else
                    run_one "$name" bash "$s"
                fi
                gw_left=$((gw_left - 1))
                [ "$gw_left" = 0 ] && gw_stop
                continue
            fi
            run_one "$name" bash "$s"
        done
    done
fi

echo
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]

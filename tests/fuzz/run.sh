#!/bin/bash
# run.sh TARGET... - run each libFuzzer harness build/fuzz/fuzz_<TARGET> for FUZZ_SECONDS
# (all in parallel, FUZZ_JOBS at a time), on a corpus kept in build/fuzz/corpus/<TARGET>
# (grown run after run), seeded from real files (tests/fuzz/seeds.sh) and from the
# regression inputs tests/fuzz/regress/<TARGET>/. Prints executions per parser and exits 1
# if any harness found a crash (the input is in build/fuzz/crashes/<TARGET>/: minimise it,
# fix the parser, and add it to tests/fuzz/regress/<TARGET>/ so `make test` replays it).
set -uo pipefail
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$SRC/build}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)}
F="$SRC/build/fuzz"
parser_of() { case $1 in walfix) echo wal ;; deltafix) echo delta ;; *) echo "$1" ;; esac; }

if [ ! -d "$F/seeds/config" ] || [ "${FUZZ_RESEED:-}" = 1 ]; then
    rm -rf "$F/seeds"
    "$SRC/tests/fuzz/seeds.sh" "$F/seeds" || { echo "fuzz: seed generation failed" >&2; exit 1; }
fi
run_one() {
    local t=$1 p; p=$(parser_of "$1")
    mkdir -p "$F/corpus/$t" "$F/crashes/$t" "$F/logs"
    local regress=()
    [ -d "$SRC/tests/fuzz/regress/$t" ] && regress=("$SRC/tests/fuzz/regress/$t")
    "$F/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=20 \
        -artifact_prefix="$F/crashes/$t/" "$F/corpus/$t" "$F/seeds/$p" \
        "${regress[@]}" >"$F/logs/$t.log" 2>&1
}
running=0
for t in "$@"; do
    [ -x "$F/fuzz_$t" ] || { echo "fuzz: $F/fuzz_$t missing (make fuzz-build)" >&2; exit 1; }
    run_one "$t" &
    running=$((running + 1))
    if [ $running -ge "$FUZZ_JOBS" ]; then wait -n; running=$((running - 1)); fi
done
wait
bad=0
printf '%-10s %12s %8s %8s %8s  %s\n' parser executions exec/s cov corpus crashes
for t in "$@"; do
    log="$F/logs/$t.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ncorp=$(ls "$F/corpus/$t" | wc -l)
    crashes=$(ls "$F/crashes/$t" | wc -l)
    printf '%-10s %12s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$ncorp" "$crashes"
    if [ "$crashes" != 0 ] || grep -q '^==[0-9]*==ERROR\|runtime error' "$log"; then
        bad=1
        grep -m3 'ERROR\|runtime error\|SUMMARY' "$log" | sed 's/^/    /'
    fi
done
# a cumulative record of every run (docs/reliability.md quotes these figures)
for t in "$@"; do
    echo "$(date -u +%FT%TZ) $t seconds=$FUZZ_SECONDS executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$F/logs/$t.log" | tail -1)"
done >>"$F/history.txt"
[ $bad = 0 ] || { echo "fuzz: crashes found: see build/fuzz/crashes/" >&2; exit 1; }

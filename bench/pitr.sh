#!/bin/bash
# bench/pitr.sh [quick|full] - issue 13: what `dvault archive --follow` costs a live server.
# Works through the command line only, so it measures whichever archiver is built.
#
#   a. WAL bound: one ~5 MB database written by `dvload bank` (the issue's heavy writer) for
#      BENCH_PITR_SECONDS, once alone and once with `dvault archive --follow` beside it
#      (started first, stopped with SIGINT). A sampler reads the live -wal file's size every
#      20 ms: its high-water mark; dvload's line gives the writer's transaction time (p99, max:
#      the longest a writer waited). Target: high-water with <= max(64 MiB, 2 x without).
#      Also the archive's bytes on disk per committed byte (frames archived x page size), the
#      archiver's CPU and its observation error.
#   b. Scale: BENCH_PITR_DBS databases (dvload init --docs 2), `dvault archive --follow`
#      running; after BENCH_PITR_SETTLE s an idle window of BENCH_PITR_IDLE_SECONDS, then
#      `dvload run --db 'mail/[a-j]*.nsf' --writers 2 --max-size 65536` (10 databases) for
#      BENCH_PITR_LOAD_SECONDS: the archiver's CPU (utime+stime / wall, % of one core; target
#      < 5%), peak open descriptors (sampled each second) and RSS in each window. Beside it,
#      the standard tool: one `find data -name '*-wal' -newer STAMP` scan (what a polling
#      archiver pays per look) and that x 50 looks a second (a 20 ms poll).
#
# Sizes: full (make bench, make bench-pitr): 60 s, 2,000 databases, 10 s settle, 10 s idle, 30 s
# load; quick (make bench-quick, a smoke run): 8 s, 300 databases, 3 s, 3 s, 8 s. Overrides:
# BENCH_PITR_SECONDS, BENCH_PITR_RATE (bank's commits/s, default 350 like the issue's
# application; 0 = as fast as it can), BENCH_PITR_WRITERS (2), BENCH_PITR_DBS,
# BENCH_PITR_SETTLE, BENCH_PITR_IDLE_SECONDS, BENCH_PITR_LOAD_SECONDS, BENCH_PITR_RUN_MAXSIZE
# (b's largest attachment, inline: there is no DAOS; default 64 KiB), BENCH_PITR_RUN_RATE (b's
# transactions/s in total; default 200: 20 a second per written mailbox, a busy mail server's
# users; 0 = as fast as the 2 writers can, ~3,000/s of 64 KiB mail); BENCH_PITR_KEEP=1 keeps
# the servers and archives (else removed at the end: the old archiver's WAL and archive reach
# gigabytes). Everything lives in var/bench/pitr/; results: stdout and var/bench/pitr/results.md.
set -eu
mode=${1:-full}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRC/build}
DVAULT=${DVAULT:-$BUILD/dvault}
DVLOAD=${DVLOAD:-$BUILD/dvload}
WATCH="python3 $SRC/bench/pitr_watch.py"
case "$mode" in
quick) SECS=8 NDB=300 SETTLE=3 IDLE=3 LOAD=8 ;;
full) SECS=60 NDB=2000 SETTLE=10 IDLE=10 LOAD=30 ;;
*) echo "usage: bench/pitr.sh quick|full" >&2; exit 2 ;;
esac
SECS=${BENCH_PITR_SECONDS:-$SECS} NDB=${BENCH_PITR_DBS:-$NDB} SETTLE=${BENCH_PITR_SETTLE:-$SETTLE}
IDLE=${BENCH_PITR_IDLE_SECONDS:-$IDLE} LOAD=${BENCH_PITR_LOAD_SECONDS:-$LOAD}
RATE=${BENCH_PITR_RATE:-350} WRITERS=${BENCH_PITR_WRITERS:-2} RUNMAX=${BENCH_PITR_RUN_MAXSIZE:-65536}
RUNRATE=${BENCH_PITR_RUN_RATE:-200}
[ "$NDB" -ge 10 ] || { echo "pitr: BENCH_PITR_DBS must be at least 10" >&2; exit 2; }
for t in python3 sqlite3 find; do
    command -v $t >/dev/null 2>&1 || { echo "pitr: $t missing" >&2; exit 1; }
done
[ -x "$DVAULT" ] && [ -x "$DVLOAD" ] || { echo "pitr: build first (make)" >&2; exit 1; }
OUT=$SRC/var/bench/pitr
log() { printf '%s pitr: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
APID=
cleanup() { [ -n "$APID" ] && kill -KILL "$APID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

site() { # DIR: a server without DAOS, an initialised target
    rm -rf "$1"
    mkdir -p "$1"
    printf 'server:\n  data_dir: data\nbackup:\n  target: backup\ncatalog: catalog.db\n' >"$1/c.yaml"
    "$DVAULT" -c "$1/c.yaml" target init >/dev/null
}

# start_archiver DIR: `dvault archive --follow` in the background (APID), output in DIR/archive.out
start_archiver() {
    "$DVAULT" -c "$1/c.yaml" archive --follow >"$1/archive.out" 2>&1 &
    APID=$!
    sleep 2
    kill -0 "$APID" 2>/dev/null || { echo "pitr: the archiver exited:" >&2; cat "$1/archive.out" >&2; exit 1; }
}

# stop_archiver DIR: SIGINT, then wait for it (at most 120 s, then SIGKILL and fail)
stop_archiver() {
    kill -INT "$APID"
    local i=0
    while kill -0 "$APID" 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 "$APID" 2>/dev/null; then
        echo "pitr: the archiver did not stop within 120 s of SIGINT" >&2; exit 1
    fi
    local rc=0
    wait "$APID" || rc=$?
    APID=
    [ $rc = 0 ] || log "the archiver exited with status $rc: $(tail -2 "$1/archive.out" | tr '\n' ' ')"
}

val() { sed -n "s/^$2 //p" "$1" | head -1; }   # val FILE KEY: a watcher's figure
mib() { awk -v b="${1:-0}" 'BEGIN { printf "%.1f", b / 1048576 }'; }
kmib() { awk -v k="${1:-0}" 'BEGIN { printf "%.1f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
lat() { sed -n "s/.*$2 \([0-9.]*\) ms.*/\1/p" "$1" | head -1; }   # lat FILE p99|max
archived_frames() { sed -n 's/.* \([0-9][0-9]*\) frame(s).*/\1/p' "$1" | tail -1; }
obs_err() { sed -n 's/.*observation error at most \([0-9.]*\) ms.*/\1/p' "$1" | tail -1; }
arc_lines() { sed -n 's/^archive: //p' "$1" | awk '{ printf "%s%s", sep, $0; sep = "; " }'; }
ratio3() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }
dirbytes() { find "$1" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }'; }
RES=$OUT/results.md
mkdir -p "$OUT"
: >"$RES"
out() { printf '%s\n' "$*" | tee -a "$RES"; }

# ---- a. the WAL bound under the heavy writer -----------------------------------------------------
A=$OUT/a
site "$A"
"$DVLOAD" -c "$A/c.yaml" init --databases 1 --docs 400 --max-size 160000 >/dev/null
DB=mail/alice.nsf
WAL=$A/data/$DB-wal
dbsize=$(stat -c %s "$A/data/$DB")
pagesize=$(sqlite3 -readonly "$A/data/$DB" 'PRAGMA page_size')
bank() { # LABEL [--pid PID]
    local label=$1
    shift
    $WATCH "$A/watch.$label" --wal "$WAL" "$@" -- "$DVLOAD" -c "$A/c.yaml" bank --seconds "$SECS" \
        --writers "$WRITERS" --rate "$RATE" >"$A/bank.$label"
    cat "$A/bank.$label" >&2
}
log "a. $DB ($(mib "$dbsize") MiB, page size $pagesize): dvload bank for $SECS s, alone"
bank alone
log "a. the same with dvault archive --follow beside it"
start_archiver "$A"
bank with --pid "$APID"
stop_archiver "$A"
cat "$A/archive.out" >&2
frames=$(archived_frames "$A/archive.out")
abytes=$(dirbytes "$A/backup/archive/$DB")
committed=$(( ${frames:-0} * pagesize ))
h0=$(val "$A/watch.alone" wal_hwm) h1=$(val "$A/watch.with" wal_hwm)
bound=$(( 2 * h0 > 64 * 1048576 ? 2 * h0 : 64 * 1048576 ))
verdict() { if [ "$1" -le "$2" ]; then echo "met"; else echo "MISSED"; fi; }
commits() { sed -n 's/.*: \([0-9]*\) commits (\([0-9]*\)\/s).*/\2/p' "$1"; }
err=$(obs_err "$A/archive.out")

out "### Point-in-time archiver (issue 13), $mode size"
out ""
out "#### a. WAL bound: $DB ($(mib "$dbsize") MiB, page size $pagesize), \`dvload bank --writers $WRITERS --rate $RATE\` for $SECS s"
out ""
out "| measure | without archiver | with \`archive --follow\` | with / without | target |"
out "|---|---:|---:|---:|---|"
out "| commits/s | $(commits "$A/bank.alone") | $(commits "$A/bank.with") | $(ratio "$(commits "$A/bank.with")" "$(commits "$A/bank.alone")") | |"
out "| live -wal high-water, MiB | $(mib "$h0") | $(mib "$h1") | $(ratio "$h1" "$h0") | <= $(mib "$bound") MiB: $(verdict "$h1" "$bound") |"
out "| live -wal at the end, MiB | $(mib "$(val "$A/watch.alone" wal_end)") | $(mib "$(val "$A/watch.with" wal_end)") | | |"
out "| writer transaction time p99, ms | $(lat "$A/bank.alone" p99) | $(lat "$A/bank.with" p99) | $(ratio "$(lat "$A/bank.with" p99)" "$(lat "$A/bank.alone" p99)") | |"
out "| writer transaction time max (longest wait), ms | $(lat "$A/bank.alone" max) | $(lat "$A/bank.with" max) | $(ratio "$(lat "$A/bank.with" max)" "$(lat "$A/bank.alone" max)") | |"
out "| archiver CPU, % of one core | | $(val "$A/watch.with" cpu_pct) | | |"
out "| archiver observation error (its own figure), ms | | ${err:-?} | | < 250 |"
out ""
out "Archive: $(mib "$abytes") MiB on disk under archive/$DB for ${frames:-?} frames archived x $pagesize B = $(mib "$committed") MiB committed: **$(ratio3 "$abytes" "$committed") archive bytes per committed byte** (\`cp\` of the raw WAL frames would keep $(ratio $(( ${frames:-0} * (pagesize + 24) )) "$committed"))."
out ""
out "Archiver: $(arc_lines "$A/archive.out")"
out ""
out "Live -wal size each 10 s with the archiver (MiB): $(sed -n 's/^wal_at \([0-9]*\) \([0-9]*\)$/\1 \2/p' "$A/watch.with" | awk '$1 % 10 == 0 { printf "%s%ds %.1f", sep, $1, $2 / 1048576; sep = ", " }')"
out ""

# ---- b. scale: many databases, a few written ---------------------------------------------------
B=$OUT/b
GLOB='mail/[a-j]*.nsf'   # alice .. judy: dvload's first 10 users
site "$B"
log "b. $NDB databases (dvload init --docs 2)"
"$DVLOAD" -c "$B/c.yaml" init --databases "$NDB" --docs 2 --max-size 65536 >&2
nsel=$(cd "$B/data" && find mail -name '[a-j]*.nsf' | wc -l)
log "b. dvault archive --follow; $SETTLE s to settle, $IDLE s idle, then $LOAD s of dvload run --db '$GLOB' ($nsel databases)"
start_archiver "$B"
sleep "$SETTLE"
kill -0 "$APID" 2>/dev/null || { echo "pitr: the archiver exited:" >&2; cat "$B/archive.out" >&2; exit 1; }
$WATCH "$B/watch.idle" --pid "$APID" --seconds "$IDLE"
$WATCH "$B/watch.load" --pid "$APID" -- "$DVLOAD" -c "$B/c.yaml" run --db "$GLOB" --writers 2 \
    --seconds "$LOAD" --max-size "$RUNMAX" --rate "$RUNRATE" >"$B/run.out"
cat "$B/run.out" >&2
stop_archiver "$B"
cat "$B/archive.out" >&2
# the standard tool: one scan for changed WALs, as a polling archiver looks (median of 21)
touch -d '-1 minute' "$B/stamp"
scans=$(cd "$B" && for _ in $(seq 21); do
    s=$EPOCHREALTIME
    find data -name '*-wal' -newer stamp >/dev/null
    e=$EPOCHREALTIME
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f\n", (e - s) * 1000 }'
done | sort -n | sed -n 11p)
nwal=$(find "$B/data" -name '*-wal' | wc -l)
pct_poll=$(awk -v m="$scans" 'BEGIN { printf "%.1f", m * 50 / 10 }')

bframes=$(archived_frames "$B/archive.out")
bpage=$(sqlite3 -readonly "$B/data/mail/alice.nsf" 'PRAGMA page_size')
out "#### b. Scale: $NDB databases, $nsel written (\`dvload run --db '$GLOB' --writers 2 --max-size $RUNMAX --rate $RUNRATE\`, $LOAD s)"
out ""
out "| archiver | idle ($IDLE s, no writer) | load ($nsel databases written) | load / idle | target |"
out "|---|---:|---:|---:|---|"
out "| CPU, % of one core | $(val "$B/watch.idle" cpu_pct) | $(val "$B/watch.load" cpu_pct) | $(ratio "$(val "$B/watch.load" cpu_pct)" "$(val "$B/watch.idle" cpu_pct)") | < 5: $(awk -v c="$(val "$B/watch.load" cpu_pct)" 'BEGIN { print (c < 5 ? "met" : "MISSED") }') |"
out "| open descriptors, peak | $(val "$B/watch.idle" fds_peak) | $(val "$B/watch.load" fds_peak) | | bounded (not per database) |"
out "| RSS at the end of the window, MiB | $(kmib "$(val "$B/watch.idle" rss_kib)") | $(kmib "$(val "$B/watch.load" rss_kib)") | | |"
out "| peak RSS so far (VmHWM), MiB | $(kmib "$(val "$B/watch.idle" hwm_kib)") | $(kmib "$(val "$B/watch.load" hwm_kib)") | | |"
out ""
bcommitted=$(( ${bframes:-0} * bpage )) bstored=$(dirbytes "$B/backup/archive")
brate=$(awk -v b="$bcommitted" -v s="$(val "$B/watch.load" wall)" 'BEGIN { if (s > 0) printf "%.1f", b / 1048576 / s; else print "?" }')
out "Writer: $(sed -n 's/^dvload run: \(.*transactions.*\)/\1/p' "$B/run.out"); $(sed -n 's/^dvload run: \(transaction time.*\)/\1/p' "$B/run.out")."
out ""
out "Archived: ${bframes:-?} frames = $(mib "$bcommitted") MiB committed ($brate MiB/s over the load window), $(mib "$bstored") MiB on disk under archive/: **$(ratio3 "$bstored" "$bcommitted") archive bytes per committed byte** of dvload mail."
out ""
out "Standard tool: \`find data -name '*-wal' -newer STAMP\` over $NDB databases ($nwal -wal files): **$scans ms per scan** (median of 21); a 20 ms poll (50 scans a second) would cost **$pct_poll% of one core**; the archiver under load used $(ratio "$(val "$B/watch.load" cpu_pct)" "$pct_poll") x that."
out ""
out "Archiver: $(arc_lines "$B/archive.out")"
out ""
if [ -z "${BENCH_PITR_KEEP:-}" ]; then
    rm -rf "$A/data" "$A/backup" "$B/data" "$B/backup"
fi
log "results in $RES"

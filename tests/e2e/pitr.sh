#!/bin/bash
# pitr.sh - point-in-time restore under load: `dvload run --writers 4` writes, `dvault archive
# --follow` ships WAL frames, a full backup is taken in the middle; then five restores at random
# moments after the set must pass integrity_check and hold exactly the transactions committed
# up to that moment: dvload_txlog (one row per committed write, at_us = its time) must be a
# gap-free prefix whose rows all have at_us <= T, and must hold every row with
# at_us <= T - E - LAT_MS, E being the precision the restore states (operations.md).
# Also: a restore earlier than the set's end is refused, and --to-latest replays everything.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvpitr.XXXXXX")
LOADPID= ARCPID=
cleanup() {
    [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
    [ -n "$ARCPID" ] && kill "$ARCPID" 2>/dev/null
    wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/pitr.lib"
. "$(dirname "$0")/load.lib"
cat >"$T/c.yaml" <<EOF2
server:
  data_dir: data
  daos_dir: daos
  max_files_per_subdir: 200
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF2
D="$DVAULT -c $T/c.yaml"
"$DVLOAD" -c "$T/c.yaml" init --databases 3 --docs 10 --seed 7 >/dev/null
"$DVAULT" -c "$T/c.yaml" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
pitr_archiver_start 60 # returns once the archiver watches (its run record is written)
a0=$(date +%s)
"$DVLOAD" -c "$T/c.yaml" run --seconds 12 --writers 4 --seed 3 >"$T/load.out" 2>&1 &
LOADPID=$!
load_wait "$T/data" "$LOADPID" 200 # the set is taken in the middle of the load
# the catalog records a set's start in whole seconds: the set must begin in a later second
# than the archiver's first looks (else its recorded start precedes what the archive watched).
# The run record is written after the first round of looks, so the second it was seen in is
# late enough (its started_us is not: that is taken before the looks, which lag under ASan).
while [ "$(date +%s)" -le "$a0" ]; do sleep 0.05; done
set_id=$($D backup -q | awk '/^set /{print $2; exit}')
[ -n "$set_id" ] || fail "no backup set"
set_end_us=$(( ($(date +%s) + 1) * 1000000 ))
wait "$LOADPID"; LOADPID=
pitr_archiver_stop || fail "archive --follow failed: $(cat "$T/archive.out")" # the stop seals
grep -q GAP "$T/archive.out" && fail "archive reported a gap under --follow: $(cat "$T/archive.out")"
# the archiver reports the worst observation error it had (poll rounds under load included);
# each restore states its own precision E ("holds every commit made before the time minus E
# ms"): the check's lower bound is T - E - LAT_MS (dvload stamps at_us before its commit
# returns: LAT_MS covers that commit latency)
err_ms=$(sed -n 's/.*observation error at most \([0-9]*\).*/\1/p' "$T/archive.out" | tail -1)
[ -n "$err_ms" ] || fail "archive did not report its observation error: $(cat "$T/archive.out")"

db=$(cd "$T/data" && ls mail/*.nsf | head -1)
live="$T/data/$db"
q() { sqlite3 "file:$1?immutable=1" "$2"; }   # restored copies (no WAL of their own)
ql() { sqlite3 -readonly "$live" "$1"; }        # the live database: through its WAL
last_us=$(ql 'SELECT max(at_us) FROM dvload_txlog')
[ "$last_us" -gt "$set_end_us" ] || fail "load ended before the set did"

# a restore before the set's end is refused, with a reason
if $D restore --set "$set_id" --db "$db" --into early.nsf --at "@$(( set_end_us / 1000000 - 3 ))" \
    >"$T/early.out" 2>&1; then fail "restore before the set's end succeeded"; fi
grep -q "before the end of set" "$T/early.out" || fail "unexpected refusal: $(cat "$T/early.out")"

LAT_MS=${LAT_MS:-100}
check() { # file T_us E_ms
    local f=$1 t=$2 e=$3 n maxseq maxat lo hi
    [ "$(q "$f" 'PRAGMA integrity_check')" = ok ] || fail "$f: integrity_check"
    [ "$(q "$f" 'SELECT sum(balance) FROM dvload_accounts')" = 16000 ] || fail "$f: account sum"
    read -r n maxseq maxat <<<"$(q "$f" 'SELECT count(*), max(seq), max(at_us) FROM dvload_txlog' | tr '|' ' ')"
    [ "$n" = "$maxseq" ] || fail "$f: txlog has holes ($n rows, max seq $maxseq)"
    hi=$(ql "SELECT count(*) FROM dvload_txlog WHERE at_us <= $t")
    lo=$(ql "SELECT count(*) FROM dvload_txlog WHERE at_us <= $t - ($e + $LAT_MS) * 1000")
    [ "$maxat" -le "$t" ] || fail "$f: holds a transaction at $maxat, after T=$t"
    [ "$n" -le "$hi" ] && [ "$n" -ge "$lo" ] || fail "$f: $n transactions, expected $lo..$hi for T=$t"
    # (at_us - 1.7e15 keeps the sum in 64 bits)
    local a b
    a=$(q "$f" 'SELECT sum(at_us - 1700000000000000), sum(writer) FROM dvload_txlog')
    b=$(ql "SELECT sum(at_us - 1700000000000000), sum(writer) FROM dvload_txlog WHERE seq <= $n")
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "$f: rows differ from the live ones ($a vs $b)"
    echo "  T=$t: $n transactions (committed by T: $hi, by T-${e}ms-${LAT_MS}ms: $lo)"
}
for i in 1 2 3 4 5; do
    t=$(( set_end_us + 200000 + (RANDOM * 32768 + RANDOM) % (last_us - set_end_us - 200000) ))
    secs=$(( t / 1000000 )); frac=$(printf '%06d' $(( t % 1000000 )))
    $D restore --set "$set_id" --db "$db" --into "pitr$i.nsf" --at "@$secs.$frac" >"$T/r$i.out" 2>&1 \
        || fail "restore $i at @$secs.$frac: $(cat "$T/r$i.out")"
    e=$(sed -n 's/.*precision  holds every commit made before the time minus \([0-9]*\).*/\1/p' "$T/r$i.out")
    [ -n "$e" ] || fail "restore $i states no precision: $(cat "$T/r$i.out")"
    check "$T/data/pitr$i.nsf" "$t" "$e"
done
$D restore --set "$set_id" --db "$db" --into latest.nsf --to-latest >"$T/latest.out" 2>&1 \
    || fail "restore --to-latest: $(cat "$T/latest.out")"
[ "$(q "$T/data/latest.nsf" 'SELECT count(*) FROM dvload_txlog')" = \
  "$(ql 'SELECT count(*) FROM dvload_txlog')" ] || fail "--to-latest misses transactions"
echo "pitr: 5 point-in-time restores and --to-latest ok ($(tail -1 "$T/archive.out"))"

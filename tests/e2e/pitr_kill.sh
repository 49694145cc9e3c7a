#!/bin/bash
# pitr_kill.sh - kill -9 of the archiver (issue 13): the next run continues the archive, or
# reports a real gap - never silently bridges one.
#   1. under load, the archiver is killed with SIGKILL and started again at once: either no
#      GAP is reported and restores --at across the kill are exact, or a GAP is reported and a
#      restore --at across it from the set before is refused;
#   2. killed again, then the server checkpoints with TRUNCATE, writes on and closes (its last
#      connection checkpoints and removes the WAL) while nothing
#      watches (frames overwritten unseen): the next run reports a GAP (exit status 1), a
#      restore --at after it from the set before is refused ("gap"), and a set taken after it
#      is a base again: restores from it are exact.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvpkill.XXXXXX")
ARCPID= LOADPID=
cleanup() {
    [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
    [ -n "$ARCPID" ] && kill "$ARCPID" 2>/dev/null
    wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/pitr.lib"
pitr_site 1 100
cd "$T"
DBREL=$(cd data && ls mail/*.nsf | head -1)
LIVE="$T/data/$DBREL"
next_second() { local s0; s0=$(date +%s); while [ "$(date +%s)" -le "$s0" ]; do sleep 0.05; done; }

echo "1. kill -9 under load, started again at once"
pitr_archiver_start
next_second
set1=$(pitr_backup)
set1_end=$(( ($(date +%s) + 1) * 1000000 ))
while [ "$(date +%s%6N)" -le "$set1_end" ]; do sleep 0.05; done
"$DVLOAD" -c c.yaml bank --seconds 6 --rate 500 --db "$DBREL" >bank.out 2>&1 &
LOADPID=$!
# the kill lands while transactions are being archived: once a segment newer than the set
while [ -z "$(find backup/archive -name '*.seg' -newer catalog.db -size +300c)" ]; do
    kill -0 "$LOADPID" 2>/dev/null || fail "the load ended before any segment was written"
    sleep 0.05
done
kill -9 "$ARCPID"; wait "$ARCPID" 2>/dev/null || true   # the killed archiver's status is not checked
ARCPID=
: >archive.out
pitr_archiver_start
wait "$LOADPID" || fail "dvload bank: $(cat bank.out)"; LOADPID=
last_us=$(pitr_ql 'SELECT max(at_us) FROM dvload_txlog')
rc=0; pitr_archiver_stop || rc=$?
if grep -q GAP archive.out; then
    [ $rc = 1 ] || fail "a GAP with exit status $rc"
    if $D restore --set "$set1" --db "$DBREL" --into across.nsf --at "@$((last_us / 1000000))" \
        >across.out 2>&1; then fail "a restore crossed the reported gap"; fi
    grep -q "gap" across.out || fail "unexpected refusal: $(cat across.out)"
    echo "  the restart reported a gap (the WAL was reset while nothing watched)"
else
    [ $rc = 0 ] || fail "archive exit status $rc without a gap: $(cat archive.out)"
    for i in 1 2 3; do
        t=$(( set1_end + (RANDOM * 32768 + RANDOM) % (last_us - set1_end) ))
        e=$(pitr_restore "$set1" "$t" "k$i.nsf")
        pitr_check "data/k$i.nsf" "$t" "$e"
    done
    echo "  the restart continued the archive: restores across the kill are exact"
fi

echo "2. kill -9, then frames checkpointed and overwritten while nothing watches"
: >archive.out
pitr_archiver_start
"$DVLOAD" -c c.yaml bank --seconds 1 --rate 300 --db "$DBREL" >>bank.out 2>&1 || fail "bank"
kill -9 "$ARCPID"; wait "$ARCPID" 2>/dev/null || true
ARCPID=
"$DVLOAD" -c c.yaml bank --seconds 1 --rate 300 --db "$DBREL" >>bank.out 2>&1 || fail "bank"
sqlite3 "$LIVE" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
"$DVLOAD" -c c.yaml bank --seconds 1 --rate 300 --db "$DBREL" >>bank.out 2>&1 || fail "bank"
: >archive.out
pitr_archiver_start
cross_us=$(date +%s%6N) # after the gap, within what this run confirms (its stop does)
rc=0; pitr_archiver_stop || rc=$?
grep -q "GAP in the archive of $DBREL" archive.out || fail "no gap reported: $(cat archive.out)"
[ $rc = 1 ] || fail "archive exit status $rc with a gap, expected 1"
if $D restore --set "$set1" --db "$DBREL" --into crossed.nsf \
    --at "@$((cross_us / 1000000)).$(printf '%06d' $((cross_us % 1000000)))" \
    >crossed.out 2>&1; then fail "a restore crossed the gap: $(cat crossed.out)"; fi
grep -q "gap" crossed.out || fail "unexpected refusal: $(cat crossed.out)"
[ ! -e data/crossed.nsf ] || fail "a refused restore left data/crossed.nsf"

echo "3. a set after the gap is a base again"
pitr_archiver_start
next_second
set2=$(pitr_backup)
set2_end=$(( ($(date +%s) + 1) * 1000000 ))
while [ "$(date +%s%6N)" -le "$set2_end" ]; do sleep 0.05; done
"$DVLOAD" -c c.yaml bank --seconds 3 --rate 300 --db "$DBREL" >>bank.out 2>&1 || fail "bank"
last_us=$(pitr_ql 'SELECT max(at_us) FROM dvload_txlog')
pitr_archiver_stop || fail "archive --follow: $(cat archive.out)"
for i in 1 2; do
    t=$(( set2_end + (RANDOM * 32768 + RANDOM) % (last_us - set2_end) ))
    e=$(pitr_restore "$set2" "$t" "g$i.nsf")
    pitr_check "data/g$i.nsf" "$t" "$e"
done
echo "pitr_kill: ok"

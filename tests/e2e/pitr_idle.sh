#!/bin/bash
# pitr_idle.sh - the archive's record of watching (issue 13): a set taken while a database is
# idle (no transaction between the archiver's start and the set) is a valid base, a time the
# archive is not known to hold is refused, and an archiver stopped and started again on idle
# databases writes nothing and reports no gap.
#   1. archive --follow starts; nothing is written; a backup is taken (the set begins after
#      the archiver watched, before any archived transaction: refused by the old archive,
#      "starts after set began");
#   2. dvload writes for a few seconds; the archiver is stopped cleanly;
#   3. three restores --at random moments after the set hold exactly what was committed;
#   4. more writes with the archiver stopped: --at a time after its last confirmation is
#      refused ("known to hold"), never answered with an older state;
#   5. archive --follow again: the writes of 4 (checkpointed and their WAL removed when dvload
#      closed) are a GAP, and a restore across it is refused;
#   6. again, on databases idle since the last stop: no GAP, no segment.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvpidle.XXXXXX")
ARCPID=
cleanup() {
    [ -n "$ARCPID" ] && kill "$ARCPID" 2>/dev/null
    wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/pitr.lib"
pitr_site 2 10
cd "$T"
DBREL=$(cd data && ls mail/*.nsf | head -1)
LIVE="$T/data/$DBREL"

echo "1. archiver watching, databases idle, a set"
pitr_archiver_start
# the catalog records a set's start in whole seconds: begin it in the next second
s0=$(date +%s); while [ "$(date +%s)" -le "$s0" ]; do sleep 0.05; done
set_id=$(pitr_backup)
set_end_us=$(( ($(date +%s) + 1) * 1000000 ))
[ -z "$(find backup/archive -name '*.seg' -newer backup/archive/runs -size +1k)" ] ||
    fail "setup: the archive already holds transactions"

echo "2. writes after the set"
while [ "$(date +%s%6N)" -le "$set_end_us" ]; do sleep 0.05; done
"$DVLOAD" -c c.yaml run --seconds 4 --writers 2 --seed 5 >load.out 2>&1 || fail "dvload: $(cat load.out)"
last_us=$(pitr_ql 'SELECT max(at_us) FROM dvload_txlog')
pitr_archiver_stop || fail "archive --follow: $(cat archive.out)"
grep -q GAP archive.out && fail "a gap on idle databases: $(cat archive.out)"

echo "3. restores --at from the set taken while idle"
for i in 1 2 3; do
    t=$(( set_end_us + (RANDOM * 32768 + RANDOM) % (last_us - set_end_us) ))
    e=$(pitr_restore "$set_id" "$t" "idle$i.nsf")
    pitr_check "data/idle$i.nsf" "$t" "$e"
done

echo "4. a time after what the archive is known to hold"
"$DVLOAD" -c c.yaml run --seconds 1 --writers 1 --seed 6 >>load.out 2>&1 || fail "dvload"
now_us=$(date +%s%6N)
if $D restore --set "$set_id" --db "$DBREL" --into late.nsf --at "@$((now_us / 1000000))" \
    >late.out 2>&1; then
    fail "restore at a time the archive does not cover succeeded: $(cat late.out)"
fi
grep -q "known to hold" late.out || fail "unexpected refusal: $(cat late.out)"
[ ! -e data/late.nsf ] || fail "a refused restore left data/late.nsf"

echo "5. started again: the writes of 4 were checkpointed and their WAL removed unseen"
: >archive.out
pitr_archiver_start
rc=0; pitr_archiver_stop || rc=$?
grep -q "GAP in the archive of $DBREL: its WAL was checkpointed and removed" archive.out ||
    fail "no gap for the writes made while nothing watched: $(cat archive.out)"
[ $rc = 1 ] || fail "archive exit status $rc with a gap, expected 1"
if $D restore --set "$set_id" --db "$DBREL" --into across.nsf --at "@$((now_us / 1000000))" \
    >across.out 2>&1; then fail "a restore crossed the gap: $(cat across.out)"; fi
grep -q "gap in the archive" across.out || fail "unexpected refusal: $(cat across.out)"

echo "6. stopped and started again on idle databases: nothing written, no gap"
: >archive.out
pitr_archiver_start
pitr_archiver_stop || fail "archive --follow (3): $(cat archive.out)"
grep -q "0 segment(s) written" archive.out || fail "an idle restart wrote segments: $(cat archive.out)"
grep -q GAP archive.out && fail "a gap on an idle restart: $(cat archive.out)"
echo "pitr_idle: ok"

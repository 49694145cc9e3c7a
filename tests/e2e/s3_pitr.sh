#!/bin/bash
# s3_pitr.sh - issue 17: the WAL archive and point-in-time restore on an S3 target (a real
# Ceph RADOS Gateway, tests/gw/ceph.sh).
#   1. `archive --follow` into s3://BUCKET/PREFIX while dvload writes, a backup in between;
#      the archiver is killed (SIGKILL, at the crash point right after the gateway acknowledged
#      an upload, before the local file is removed: its spool still holds it) and started again
#      at once under a light load (nothing resets the WAL meanwhile): it uploads what the spool
#      held first, reports no GAP, restores --at across the kill are exact (pitr.lib's checks)
#      and --to-latest holds every commit. The spool is empty at the end.
#   2. kill -9 from outside while segments are being uploaded under a heavier load, restarted:
#      either no GAP and the same checks, or a GAP (the WAL was reset while nothing watched)
#      and a restore across it refused (from a set taken after 1.).
#   3. a second set and prune (keep_sets 1): the segments older than the retained set's anchor
#      are removed from the bucket, the older run records too; restores from that set are still
#      exact; `status` shows the archive from the bucket.
#   4. a bucket with Object Lock: the archiver writes segments with a retention of 1 day, the
#      sets are written without; prune (keep_sets 1) removes the older set but keeps the locked
#      segments, saying until when.
# needs: gateway (tests/run.sh starts it once and exports GW_DIR, GW_ENDPOINT and the keys;
# run alone, this script starts and stops its own)
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
S3PROBE=${S3PROBE:?S3PROBE not set}
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvs3p.XXXXXX")
OWN_GW="" ARCPID="" LOADPID=""
cleanup() {
    [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
    [ -n "$ARCPID" ] && kill -9 "$ARCPID" 2>/dev/null
    wait 2>/dev/null
    [ -n "$OWN_GW" ] && "$SRC/tests/gw/ceph.sh" stop "$OWN_GW"
    [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
step() { echo "== [${SECONDS}s] $*"; }
. "$(dirname "$0")/pitr.lib"

if [ -z "${GW_ENDPOINT:-}" ]; then
    out=$("$SRC/tests/gw/ceph.sh" start) || fail "the gateway did not start"
    OWN_GW=${out#GW_DIR=}
    eval "$("$SRC/tests/gw/ceph.sh" env "$OWN_GW")"
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
fi
E=$GW_ENDPOINT
B=dvp-$$-$RANDOM
PFX=srv1/dv
P() { "$S3PROBE" "$E" "$@"; }
keys() { P ls "$B" "$1" 2>/dev/null | cut -d' ' -f1; } # keys below a prefix

cd "$T"
cat >c.yaml <<EOF
server:
  data_dir: data
backup:
  target: s3://$B/$PFX
  s3:
    endpoint: $E
    region: ${GW_REGION:-us-east-1}
  retention: { keep_sets: 1, keep_days: 0 }
catalog: catalog.db
EOF
D="$DVAULT -c $T/c.yaml"
"$DVLOAD" -c c.yaml init --databases 1 --docs 100 --seed 7 >/dev/null || fail "dvload init"
$D target init >init.out 2>&1 || fail "target init: $(cat init.out)"
DBREL=$(cd data && ls mail/*.nsf | head -1)
LIVE="$T/data/$DBREL"
SPOOL="$T/s3-cache/$B/$PFX/archive-spool"
# pitr.lib's archiver start waits for a new run record: here, an object in the bucket
pitr_runs() { keys "$PFX/archive/runs/" | grep -c '\.json$' || true; }
segs() { keys "$PFX/archive/$DBREL/" | grep -c '\.seg$' || true; }
spool_held() { find "$SPOOL/archive" -type f \( -name '*.seg' -o -name '*.json' \) 2>/dev/null | wc -l; }
next_second() { local s0; s0=$(date +%s); while [ "$(date +%s)" -le "$s0" ]; do sleep 0.05; done; }
wait_past() { while [ "$(date +%s%6N)" -le "$1" ]; do sleep 0.05; done; }

# after the load: no gap and exact restores across the kill (and --to-latest holds every
# commit), or a gap reported and a restore across it refused
across_kill() { # SET SET_END_US RC TAG
    local set=$1 end=$2 rc=$3 tag=$4 last t e i
    last=$(pitr_ql 'SELECT max(at_us) FROM dvload_txlog')
    if grep -q GAP archive.out; then
        [ "$rc" = 1 ] || fail "a GAP with exit status $rc"
        if $D restore --set "$set" --db "$DBREL" --into "x$tag.nsf" --at "@$((last / 1000000))" \
            >"x$tag.out" 2>&1; then fail "a restore crossed the reported gap"; fi
        grep -q "gap" "x$tag.out" || fail "unexpected refusal: $(cat "x$tag.out")"
        echo "  the restart reported a gap (the WAL was reset while nothing watched)"
        return
    fi
    [ "$rc" = 0 ] || fail "archive exit status $rc without a gap: $(cat archive.out)"
    for i in 1 2 3; do
        t=$((end + (RANDOM * 32768 + RANDOM) % (last - end)))
        e=$(pitr_restore "$set" "$t" "$tag$i.nsf")
        pitr_check "data/$tag$i.nsf" "$t" "$e"
    done
    $D restore --set "$set" --db "$DBREL" --into "${tag}l.nsf" --to-latest >"${tag}l.out" 2>&1 ||
        fail "restore --to-latest: $(cat "${tag}l.out")"
    [ "$(pitr_q "data/${tag}l.nsf" 'SELECT count(*) FROM dvload_txlog')" = \
        "$(pitr_ql 'SELECT count(*) FROM dvload_txlog')" ] || fail "--to-latest misses commits"
    echo "  the restart continued the archive: restores across the kill are exact, none lost"
}

step "1. archive --follow into the bucket, a set, killed right after an acknowledged upload"
pitr_archiver_start
next_second
set1=$(pitr_backup)
set1_end=$((($(date +%s) + 1) * 1000000))
# the running archiver stops (sealed), and one that dies at its 4th acknowledged upload starts
# after the set's end (so every commit's observation window is after it)
pitr_archiver_stop || fail "archive --follow: $(cat archive.out)"
wait_past "$set1_end"
n0=$(segs)
: >archive.out
export DV_CRASH_AT=archive.after_upload:4 # its first upload is its run record: it watches
pitr_archiver_start
unset DV_CRASH_AT
# a light load: the WAL stays far below SQLite's autocheckpoint and the archiver's checkpoint
# cycle, so nothing resets it while no archiver runs: the restart must continue, no GAP
"$DVLOAD" -c c.yaml bank --seconds 3 --rate 50 --db "$DBREL" >bank.out 2>&1 &
LOADPID=$!
for _ in $(seq 1 300); do kill -0 "$ARCPID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$ARCPID" 2>/dev/null && fail "the archiver did not reach its crash point in 30 s"
wait "$ARCPID" 2>/dev/null || true
ARCPID=
held=$(spool_held)
[ "$held" -ge 1 ] || fail "the killed archiver's spool holds nothing (expected the acknowledged file)"
: >archive.out
pitr_archiver_start
grep -q "previous run left .* uploaded" archive.out ||
    fail "the restart did not upload the spool first: $(cat archive.out)"
wait "$LOADPID" || fail "dvload bank: $(cat bank.out)"
LOADPID=
rc=0
pitr_archiver_stop || rc=$?
[ "$(spool_held)" = 0 ] || fail "the spool still holds $(spool_held) file(s) after a clean stop"
[ "$(segs)" -gt "$n0" ] || fail "no new segment in the bucket"
grep -q GAP archive.out && fail "a GAP after a restart that lost nothing: $(cat archive.out)"
across_kill "$set1" "$set1_end" "$rc" k

step "2. kill -9 from outside while segments are being uploaded"
: >archive.out
pitr_archiver_start
next_second
setm=$(pitr_backup) # a base after any gap of 1.
setm_end=$((($(date +%s) + 1) * 1000000))
wait_past "$setm_end"
n0=$(segs)
"$DVLOAD" -c c.yaml bank --seconds 5 --rate 400 --db "$DBREL" >>bank.out 2>&1 &
LOADPID=$!
for _ in $(seq 1 300); do [ "$(segs)" -gt $((n0 + 1)) ] && break; sleep 0.1; done
[ "$(segs)" -gt $((n0 + 1)) ] || fail "no segment uploaded under load in 30 s"
kill -9 "$ARCPID"
wait "$ARCPID" 2>/dev/null || true
ARCPID=
echo "  killed with $(spool_held) file(s) in the spool"
: >archive.out
pitr_archiver_start
wait "$LOADPID" || fail "dvload bank: $(cat bank.out)"
LOADPID=
rc=0
pitr_archiver_stop || rc=$?
[ "$(spool_held)" = 0 ] || fail "the spool still holds files after a clean stop"
across_kill "$setm" "$setm_end" "$rc" m

step "3. a second set, prune: the archive before its anchor leaves the bucket"
: >archive.out
pitr_archiver_start
next_second
set2=$(pitr_backup)
set2_end=$((($(date +%s) + 1) * 1000000))
wait_past "$set2_end"
"$DVLOAD" -c c.yaml bank --seconds 2 --rate 300 --db "$DBREL" >>bank.out 2>&1 || fail "bank"
last_us=$(pitr_ql 'SELECT max(at_us) FROM dvload_txlog')
pitr_archiver_stop || fail "archive --follow: $(cat archive.out)"
before=$(segs)
runs_before=$(pitr_runs)
first_before=$(keys "$PFX/archive/$DBREL/" | grep '\.seg$' | head -1)
$D prune >prune.out 2>&1 || fail "prune: $(cat prune.out)"
after=$(segs)
first_after=$(keys "$PFX/archive/$DBREL/" | grep '\.seg$' | head -1)
[ "$after" -lt "$before" ] || fail "prune removed no segment from the bucket ($before)"
[ "$first_after" \> "$first_before" ] || fail "the oldest segment is still $first_before"
[ "$(pitr_runs)" -lt "$runs_before" ] || fail "prune removed no run record ($runs_before)"
[ -z "$(keys "$PFX/sets/$set1/")" ] || fail "set $set1 still in the bucket"
for i in 1 2; do
    t=$((set2_end + (RANDOM * 32768 + RANDOM) % (last_us - set2_end)))
    e=$(pitr_restore "$set2" "$t" "p$i.nsf")
    pitr_check "data/p$i.nsf" "$t" "$e"
done
# the restores fetched segments into the working tree and evicted them after
[ -z "$(find "$T/s3-cache/$B/$PFX/archive" -type f 2>/dev/null)" ] ||
    fail "the working tree still holds archive files after the restores"
$D status >status.out 2>&1 || true
grep -q "^archive  *[0-9]* database(s), [0-9]* segment(s), " status.out &&
    grep -q "^  $DBREL: $after segment(s), .*, from " status.out &&
    grep -q "^archiver  *last run started .*, confirmed up to " status.out ||
    fail "status does not show the bucket's archive: $(cat status.out)"
echo "prune: $before -> $after segments in the bucket (oldest ${first_before%.seg} -> ${first_after%.seg}), run records $runs_before -> $(pitr_runs)"
step "4. Object Lock: archive segments still locked are kept by prune, and it says until when"
BL=dvpl-$$-$RANDOM
mkcfg() { # FILE LOCK_DAYS KEEP_SETS KEEP_DAYS
    cat >"$1" <<EOF
server:
  data_dir: data
backup:
  target: s3://$BL/$PFX
  s3:
    endpoint: $E
    region: ${GW_REGION:-us-east-1}
    object_lock_days: $2
    object_lock_mode: governance
  retention: { keep_sets: $3, keep_days: $4 }
catalog: catalog-l.db
EOF
}
mkcfg lk.yaml 1 10 1 # init (the bucket with Object Lock) and the archiver: retention 1 day
mkcfg nl.yaml 0 1 0  # the backups and prune: sets without retention, keep 1
$DVAULT -c lk.yaml target init >linit.out 2>&1 || fail "target init (lock): $(cat linit.out)"
# one pass each (dvload's last connection checkpoints and removes the WAL between them: a GAP,
# exit status 1, is what a pass then says; anything else is a failure)
pass() {
    local rc=0
    $DVAULT -c lk.yaml archive --db "$DBREL" >larch.out 2>&1 || rc=$?
    [ $rc = 0 ] || { [ $rc = 1 ] && grep -q "with a GAP" larch.out; } || fail "archive (lock): $(cat larch.out)"
}
pass
next_second
lset1=$($DVAULT -c nl.yaml backup -q | awk '/^set /{print $2; exit}')
[ -n "$lset1" ] || fail "no set in the locked bucket"
for i in 1 2; do
    next_second
    "$DVLOAD" -c c.yaml bank --seconds 1 --rate 200 --db "$DBREL" >>bank.out 2>&1 || fail "bank"
    pass
done
next_second
lset2=$($DVAULT -c nl.yaml backup -q | awk '/^set /{print $2; exit}')
[ -n "$lset2" ] || fail "no second set in the locked bucket"
lkeys() { P ls "$BL" "$PFX/archive/$DBREL/" 2>/dev/null | cut -d' ' -f1 | grep '\.seg$'; }
lbefore=$(lkeys | wc -l)
$DVAULT -c nl.yaml prune >lprune.out 2>&1 || fail "prune (locked archive): $(cat lprune.out)"
grep -Eq "keep +$DBREL: segment 1 and later: still under Object Lock until [0-9]{4}-" lprune.out ||
    fail "prune does not say which segments Object Lock kept: $(cat lprune.out)"
[ "$(lkeys | wc -l)" = "$lbefore" ] || fail "a locked segment left the bucket"
[ -z "$(P ls "$BL" "$PFX/sets/$lset1/" 2>/dev/null)" ] || fail "the unlocked set $lset1 was not pruned"
echo "  $lbefore locked segment(s) kept: $(grep -m1 'Object Lock until' lprune.out)"
echo "s3_pitr: ok"

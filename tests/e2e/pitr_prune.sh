#!/bin/bash
# pitr_prune.sh - the archive is pruned with the sets (issue 13): `dvault archive --follow`
# beside `dvload run`, three full backups a few seconds apart, then prune with keep_sets 2:
#  - every database keeps exactly the segments from the anchor of the oldest retained set S
#    (the newest segment holding a transaction observed at or before S began, or the newest
#    START/GAP watched from before it: computed here from the headers) - older ones are gone,
#    the newest stays, and the run records confirmed only up to before S go but the newest;
#  - --dry-run changes nothing; a prune killed part-way leaves contiguous suffixes; a segment
#    header that cannot be read leaves that database's archive whole (prune fails naming the
#    file) while the others are pruned;
#  - after the prune, the first segment of an archive is a plain one (no START): a restore --at
#    from S to a moment between its end and the last write still works (integrity_check,
#    dvload verify --file, no transaction after the moment); one from the pruned set is
#    refused;
#  - status shows the archive (text and --json: archive.databases, sizes as on disk).
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvpitrprune.XXXXXX")
LOADPID= ARCPID=
cleanup() {
    [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
    [ -n "$ARCPID" ] && kill "$ARCPID" 2>/dev/null
    wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
cat >"$T/c.yaml" <<EOF2
server:
  data_dir: data
  daos_dir: daos
  max_files_per_subdir: 200
  key_file: server.key
backup:
  target: backup
  retention: { keep_sets: 2, keep_days: 0 }
catalog: catalog.db
EOF2
D="$DVAULT -c $T/c.yaml"
"$DVLOAD" -c "$T/c.yaml" init --databases 3 --docs 10 --seed 5 >/dev/null
"$DVAULT" -c "$T/c.yaml" target init >/dev/null || fail "dvault target init"
A=$T/backup/archive

# headers of a database's segments: "seq flags ntx first_us watch_from_us" per line
heads() {
    python3 - "$A/$1" <<'PY'
import os, struct, sys
d = sys.argv[1]
for n in sorted(os.listdir(d)):
    if not (n.endswith(".seg") and len(n) == 14):
        continue
    b = open(os.path.join(d, n), "rb").read(128)
    assert b[:7] == b"DVARSEG", n
    seq, flags = struct.unpack(">QI", b[16:28])
    ntx = struct.unpack(">I", b[56:60])[0]
    first, watch = struct.unpack(">q", b[64:72])[0], struct.unpack(">q", b[88:96])[0]
    print(seq, flags, ntx, first, watch)
PY
}
# the anchor of a set started at $2 (us) in database $1's archive (archive.h archive_anchor)
anchor() {
    heads "$1" | awk -v s="$2" 'NR == 1 { k = $1 }
        { if ($2 % 4) { if ($5 <= s) k = $1; else exit }
          if ($3 > 0 && $4 <= s) k = $1 }
        END { print k }'
}
seqs() { ls "$A/$1" | sed -n 's/^0*\([0-9][0-9]*\)\.seg$/\1/p' | sort -n | tr '\n' ' '; }

step "archive: one pass, then --follow beside dvload; three full backups"
$D archive >"$T/arch0.out" 2>&1 || fail "archive (one pass): $(cat "$T/arch0.out")"
$D archive --follow 40 >"$T/archive.out" 2>&1 &
ARCPID=$!
for _ in $(seq 1 300); do # it watches once it has written its run record
    [ "$(ls "$A/runs" | wc -l)" -ge 2 ] && break
    kill -0 "$ARCPID" 2>/dev/null || fail "archive --follow exited: $(cat "$T/archive.out")"
    sleep 0.1
done
[ "$(ls "$A/runs" | wc -l)" -ge 2 ] || fail "archive --follow wrote no run record in 30 s"
"$DVLOAD" -c "$T/c.yaml" run --seconds 9 --writers 2 --seed 3 >"$T/load.out" 2>&1 &
LOADPID=$!
sets=()
for i in 1 2 3; do
    sleep 2
    id=$($D backup -q | awk '/^set /{print $2; exit}')
    [ -n "$id" ] || fail "backup $i made no set"
    sets+=("$id")
done
wait "$LOADPID" || fail "dvload run: $(cat "$T/load.out")"
LOADPID=
kill -INT "$ARCPID"; wait "$ARCPID" || fail "archive --follow failed: $(cat "$T/archive.out")"
ARCPID=
grep -q GAP "$T/archive.out" "$T/arch0.out" && fail "archive reported a gap: $(cat "$T/archive.out")"
S=${sets[1]} OLD=${sets[0]}
read -r s_start s_end <<<"$($D sets --json | python3 -c '
import json, sys
s = {x["id"]: x for x in json.load(sys.stdin)}["'"$S"'"]
print(s["started"] * 1000000, (s["ended"] + 1) * 1000000)')"
dbs=$(cd "$A" && ls -d mail/*.nsf)
[ "$(echo "$dbs" | wc -l)" = 3 ] || fail "three archived databases expected: $dbs"
[ "$(ls "$A/runs" | wc -l)" = 2 ] || fail "two run records expected: $(ls "$A/runs")"
declare -A before want
for db in $dbs; do
    before[$db]=$(seqs "$db")
    want[$db]=$(anchor "$db" "$s_start")
    [ "${want[$db]}" -gt 1 ] || fail "$db: the anchor of $S is its first segment: nothing to prune"
done
snap() { (cd "$T/backup" && find archive sets -type f | sort | xargs md5sum); }
snap >"$T/snap0"

step "prune --dry-run changes nothing"
$D prune --dry-run >"$T/dry.out" 2>&1 || fail "prune --dry-run: $(cat "$T/dry.out")"
grep -q "would remove 1 set(s)" "$T/dry.out" || fail "dry run: $(cat "$T/dry.out")"
n_want=0
for db in $dbs; do n_want=$(( n_want + want[$db] - 1 )); done
grep -q "$n_want archive segment(s), .* and 1 archive run record(s)" "$T/dry.out" ||
    fail "dry run should announce $n_want segments and 1 run record: $(cat "$T/dry.out")"
snap | cmp -s - "$T/snap0" || fail "prune --dry-run changed the target"

step "a prune killed after two segments: every archive is a contiguous suffix"
rc=0; DV_CRASH_AT=prune.archive:2 $D prune >"$T/crash.out" 2>&1 || rc=$?
[ "$rc" = 137 ] || fail "prune was not killed at prune.archive (exit $rc): $(cat "$T/crash.out")"
for db in $dbs; do
    got=$(seqs "$db")
    newest=$(echo "${before[$db]}" | awk '{print $NF}')
    [ "$got" = "$(seq -s ' ' "$(echo "$got" | awk '{print $1}')" "$newest") " ] ||
        fail "$db after the crash: $got is not a contiguous suffix ending at $newest"
done
db1=$(echo "$dbs" | head -1)
[ "$(echo "$(seqs "$db1")" | wc -w)" = $(( $(echo "${before[$db1]}" | wc -w) - 2 )) ] ||
    fail "$db1: two segments should be gone after the crash: $(seqs "$db1")"

step "a header that cannot be read: that archive stays whole, the others are pruned"
B=$(echo "$dbs" | sed -n 2p)
bad=$(printf '%s/%s/%010d.seg' "$A" "$B" "$(echo "${before[$B]}" | awk '{print $1}')")
cp "$bad" "$T/good.seg"
printf 'X' | dd of="$bad" bs=1 seek=20 conv=notrunc status=none
if $D prune >"$T/p1.out" 2>&1; then fail "prune with a corrupt header succeeded"; fi
grep -q "FAILED *$B" "$T/p1.out" && grep -q "archive of $B: nothing removed: .*$(basename "$bad")" "$T/p1.out" ||
    fail "the failure does not name $B and its segment: $(cat "$T/p1.out")"
[ "$(seqs "$B")" = "${before[$B]}" ] || fail "$B lost segments although a header was unreadable"
for db in $dbs; do
    [ "$db" = "$B" ] && continue
    exp=$(echo "${before[$db]}" | tr ' ' '\n' | awk -v k="${want[$db]}" 'NF && $1 >= k' | tr '\n' ' ')
    [ "$(seqs "$db")" = "$exp" ] || fail "$db: kept $(seqs "$db"), expected $exp (anchor ${want[$db]})"
done
$D sets | grep -q "$OLD" && fail "set $OLD was not pruned"
cp "$T/good.seg" "$bad"
$D prune >"$T/p2.out" 2>&1 || fail "prune: $(cat "$T/p2.out")"
grep -q "pruned *$B: $(( want[$B] - 1 )) segment(s)" "$T/p2.out" || fail "prune output: $(cat "$T/p2.out")"

step "each archive keeps exactly the segments from the anchor of $S; the newest stays"
plain=0
for db in $dbs; do
    newest=$(echo "${before[$db]}" | awk '{print $NF}')
    exp=$(echo "${before[$db]}" | tr ' ' '\n' | awk -v k="${want[$db]}" 'NF && $1 >= k' | tr '\n' ' ')
    got=$(seqs "$db")
    [ "$got" = "$exp" ] || fail "$db: kept $got, expected $exp"
    [ "$(echo "$got" | awk '{print $NF}')" = "$newest" ] || fail "$db: the newest segment is gone"
    flags=$(heads "$db" | awk 'NR == 1 {print $2}')
    (( (flags & 3) == 0 )) && plain=$((plain + 1))
    echo "  $db: $(echo "${before[$db]}" | wc -w) -> $(echo "$got" | wc -w) segments, from ${want[$db]}"
done
[ "$plain" -gt 0 ] || fail "no archive starts with a plain segment: the restore below proves nothing"
[ "$(ls "$A/runs" | wc -l)" = 1 ] || fail "run records: $(ls "$A/runs")"

step "restore --at from $S after the prune"
LAT_MS=${LAT_MS:-100}
for db in $dbs; do
    live="$T/data/$db"
    last_us=$(sqlite3 -readonly "$live" 'SELECT max(at_us) FROM dvload_txlog')
    [ "$last_us" -gt $(( s_end + 400000 )) ] || fail "the load ended before $S did"
    t=$(( s_end + 200000 + (RANDOM * 32768 + RANDOM) % (last_us - s_end - 200000) ))
    at="@$(( t / 1000000 )).$(printf '%06d' $(( t % 1000000 )))"
    out=${db//\//_}
    $D restore --set "$S" --db "$db" --into "pitr-$out" --at "$at" >"$T/r-$out" 2>&1 ||
        fail "restore $db --at $at from $S after the prune: $(cat "$T/r-$out")"
    f="$T/data/pitr-$out"
    [ "$(sqlite3 "file:$f?immutable=1" 'PRAGMA integrity_check')" = ok ] || fail "$f: integrity_check"
    "$DVLOAD" verify --file "$f" >"$T/v-$out" 2>&1 || fail "dvload verify --file $f: $(cat "$T/v-$out")"
    read -r n maxseq maxat <<<"$(sqlite3 "file:$f?immutable=1" 'SELECT count(*), max(seq), max(at_us) FROM dvload_txlog' | tr '|' ' ')"
    [ "$n" = "$maxseq" ] && [ "$maxat" -le "$t" ] || fail "$f: $n rows, max seq $maxseq, max at $maxat > $t"
    echo "  $db at $at: $n transactions"
done
if $D restore --set "$OLD" --db "$db1" --into old.nsf --at "@$(( s_end / 1000000 + 1 ))" >"$T/old.out" 2>&1; then
    fail "a restore from the pruned set $OLD succeeded"
fi
grep -q "no backup set '$OLD'" "$T/old.out" || fail "unexpected refusal: $(cat "$T/old.out")"

step "status shows the archive per database"
$D status >"$T/status.out" || fail "status"
grep -q "^archive     3 database(s), " "$T/status.out" || fail "status: $(cat "$T/status.out")"
grep -q "^  $db1: .* segment(s), " "$T/status.out" || fail "status per database: $(cat "$T/status.out")"
grep -q "^archiver    last run started .*: not running?$" "$T/status.out" ||
    grep -q "^archiver    last run started .*s ago)$" "$T/status.out" || fail "status: no archiver line"
$D status --json >"$T/status.json" || fail "status --json"
python3 - "$T/status.json" "$A" <<'PY' || fail "status --json: $(cat "$T/status.json")"
import json, os, sys
s = json.load(open(sys.argv[1]))["archive"]
dbs = {d["db"]: d for d in s["databases"]}
assert len(dbs) == 3 and s["run"] and s["run"]["confirmed_us"] > 0, s
for name, d in dbs.items():
    files = [f for f in os.listdir(os.path.join(sys.argv[2], name)) if f.endswith(".seg")]
    size = sum(os.path.getsize(os.path.join(sys.argv[2], name, f)) for f in files)
    assert d["ok"] and d["segments"] == len(files) and d["bytes"] == size, (name, d, len(files), size)
    assert d["raw_bytes"] > d["bytes"] and d["first_us"] < d["last_us"] and d["gaps"] == 0, d
assert s["segments"] == sum(d["segments"] for d in dbs.values()), s
PY
echo "pitr_prune: ok"

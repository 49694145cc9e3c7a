#!/bin/bash
# backup_cli.sh - `dvault backup` as an operator uses it: --db, databases not in WAL mode,
# other SQLite files, NLOs being written, the index files never copied, pre/post hooks with
# their environment, a post command that moves kept deltas, target busy, sets/status --json.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvbcli.XXXXXX")
HOLD=
trap '[ -n "$HOLD" ] && kill $HOLD 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

mkdir -p "$T/hooks" "$T/elsewhere"
cat >"$T/hooks/post.sh" <<'EOF'
#!/bin/sh
# moves every kept delta to ../elsewhere and says so
env | grep '^DV_' | sort > "$(dirname "$0")/post.env"
printf '%s\n' "$DV_DELTAS" | while read -r d; do
    [ -n "$d" ] || continue
    new="$(dirname "$0")/../elsewhere/$(basename "$d").$DV_SET_ID"
    mv "$d" "$new" && echo "moved $d $(cd "$(dirname "$new")" && pwd)/$(basename "$new")"
done
echo "some other output"
EOF
chmod +x "$T/hooks/post.sh"
cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf", "apps/*.db"]
  key_file: server.key
backup:
  target: backup
  pre_command: sh -c 'env | grep ^DV_ | sort > "$T/hooks/pre.env"'
catalog: catalog.db
EOF
sed -e 's|^  pre_command:.*|  delta: keep\n  post_command: '"$T"'/hooks/post.sh|' "$T/config.yaml" >"$T/keep.yaml"
C=(-c "$T/config.yaml")
"$DVLOAD" "${C[@]}" init --databases 3 --docs 10 --seed 2 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }

step "a database in rollback-journal mode and another SQLite file"
mkdir -p "$T/data/apps"
sqlite3 "$T/data/apps/legacy.nsf" "PRAGMA journal_mode=delete; CREATE TABLE t(x); INSERT INTO t VALUES (1);" >/dev/null
sqlite3 "$T/data/apps/names.db" "PRAGMA journal_mode=wal; CREATE TABLE people(n); INSERT INTO people VALUES ('a');" >/dev/null
step "an NLO being written (temporary name)"
sub=$(ls "$T/data/daos" | grep -m1 '^[0-9]\{4\}$')
head -c 5000 /dev/urandom >"$T/data/daos/$sub/.inflight-$$"

"$DVAULT" "${C[@]}" backup >"$T/out1" 2>"$T/err1" || { cat "$T/out1" "$T/err1"; fail "first backup"; }
cat "$T/out1"
grep -q "not in WAL mode" "$T/err1" || fail "no warning for the rollback-journal database: $(cat "$T/err1")"
grep -q "1 locked copies" "$T/out1" || fail "summary should count 1 locked copy"
grep -q "databases  5 copied" "$T/out1" || fail "5 databases expected (3 mail + 2 apps)"
grep -q "1 skipped busy" "$T/out1" || fail "the NLO being written should be skipped busy"
set1=$("$DVAULT" "${C[@]}" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)
[ -f "$T/backup/sets/$set1/db/apps/names.db" ] || fail "names.db not in the set"
[ "$(sqlite3 "file:$T/backup/sets/$set1/db/apps/legacy.nsf?immutable=1" 'select x from t')" = 1 ] || fail "legacy copy"
find "$T/backup" -name 'daoscat.db*' -o -name 'daos.cfg' | grep . && fail "the DAOS index was copied"
find "$T/backup/nlo" -name '.inflight*' | grep . && fail "a temporary NLO was copied"
grep -q "DV_SET_ID=$set1" "$T/hooks/pre.env" || fail "pre command did not get DV_SET_ID"
grep -q "DV_PHASE=pre" "$T/hooks/pre.env" || fail "pre command did not get DV_PHASE"
pool1=$(find "$T/backup/nlo" -name '*.nlo' | wc -l)
[ "$pool1" = "$(find "$T/data/daos" -name '*.nlo' | wc -l)" ] || fail "pool should hold every live NLO"

step "--db selects databases; the busy NLO is picked up by the next run"
mv "$T/data/daos/$sub/.inflight-$$" "$T/data/daos/$sub/.gone"; rm -f "$T/data/daos/$sub/.gone"
"$DVAULT" "${C[@]}" backup --db 'mail/a*.nsf' -q >"$T/out2" || fail "backup --db"
grep -q "databases  1 copied" "$T/out2" || fail "--db mail/a*.nsf should copy alice only: $(cat "$T/out2")"
grep -q "0 new" "$T/out2" || fail "nothing new in the pool expected"
"$DVAULT" "${C[@]}" backup --db 'nothing/*.nsf' 2>"$T/err3" && fail "--db matching nothing must fail"
grep -q "matches no database" "$T/err3" || fail "message for --db matching nothing"

step "keep mode with a post command that moves the deltas"
"$DVAULT" -c "$T/keep.yaml" backup -q >"$T/out4" 2>"$T/err4" || { cat "$T/out4" "$T/err4"; fail "keep backup"; }
set2=$("$DVAULT" "${C[@]}" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)
grep -q "DV_STATUS=complete" "$T/hooks/post.env" || fail "post env"
moved=$(ls "$T/elsewhere" | wc -l)
[ "$moved" = 4 ] || fail "expected 4 deltas moved (WAL databases), got $moved"
grep -q "moved by post command" "$T/out4" || fail "summary should say deltas were moved"
n=$(sqlite3 "$T/catalog.db" "select count(*) from set_files where set_id='$set2' and delta_location like '$T/elsewhere/%'")
[ "$n" = 4 ] || fail "catalog should record the 4 new delta locations, has $n"
[ -f "$T/backup/sets/$set2/deltas-moved.tsv" ] || fail "deltas-moved.tsv not written"

step "target busy"
flock "$T/backup/lock" sleep 30 &
HOLD=$!
# wait (bounded) until the holder has the lock: the refusal below is then the lock's doing
for ((i = 0; i < 100; i++)); do flock -n "$T/backup/lock" true 2>/dev/null || break; sleep 0.1; done
flock -n "$T/backup/lock" true 2>/dev/null && fail "the lock holder did not take the lock in 10 s"
"$DVAULT" "${C[@]}" backup -q 2>"$T/err5" && fail "a second backup must not run while the target is locked"
grep -q "target busy" "$T/err5" || fail "message should say target busy: $(cat "$T/err5")"
kill $HOLD; wait $HOLD 2>/dev/null || true; HOLD=

step "sets and status as JSON"
"$DVAULT" "${C[@]}" sets --json | python3 -c 'import json,sys; s=json.load(sys.stdin); assert len(s)==3 and all(x["status"]=="complete" for x in s), s'
# the two databases created behind the store's back put the DAOS index into NEEDS_RESYNC
"$DVAULT" "${C[@]}" status --json | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["daos"]["state"]=="NEEDS_RESYNC" and "apps/" in s["daos"]["reason"] and s["sets"]==3 and s["last_backup"]["status"]=="complete", s'
"$DVAULT" "${C[@]}" resync daos >/dev/null || fail "resync daos"
"$DVAULT" "${C[@]}" status --json | python3 -c 'import json,sys; s=json.load(sys.stdin); assert s["daos"]["state"]=="SYNCHRONIZED", s'
"$DVAULT" "${C[@]}" status | grep -q "^last backup $set2" || fail "status should show the last backup"
echo "ok"

#!/bin/bash
# partial_set.sh - issue 11, case 2: one bad database no longer sinks every set. A zero-byte
# .nsf, a file that is not SQLite and a database a client holds under an exclusive lock past
# the busy timeout (backup.lock_wait_seconds) sit beside healthy databases: the backup copies
# the others, runs the NLO pass, records the set `partial` with the three named and exits 1
# saying so; sets/status show it; a healthy database restores from it and its NLOs are
# recovered from it; restoring a failed one from it is refused, naming the set that holds it;
# verify accepts it; prune keeps the older set with the last copies; the next backup (fixed,
# --incremental) copies the three in full and is complete; resync catalog reproduces it all.
# Real binaries; the lock is held by a sqlite3 shell the test releases itself (no sleeps).
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvpartial-e2e.XXXXXX")
HOLD=
release() { # end the lock holder: close our end of its FIFO, wait for it
    if [ -n "$HOLD" ]; then
        exec 9>&-
        wait "$HOLD" || true
        HOLD=
    fi
}
trap 'release; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  max_files_per_subdir: 50
  deferred_deletion_days: 0
  key_file: server.key
backup:
  target: backup
  lock_wait_seconds: 1
  retention: { keep_sets: 1, keep_days: 0 }
catalog: catalog.db
EOF
C=(-c "$T/config.yaml")
D=$T/data
"$DVLOAD" "${C[@]}" init --databases 5 --docs 40 --seed 31 >/dev/null || fail "dvload init"
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"
mapfile -t DBS < <(cd "$D" && ls mail/*.nsf)
[ "${#DBS[@]}" = 5 ] || fail "expected 5 databases, got ${DBS[*]}"
ZERO=${DBS[0]} JUNK=${DBS[1]} LOCKED=${DBS[2]} HEALTHY=${DBS[3]}
newest() { "$DVAULT" "${C[@]}" sets --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])'; }

step "a complete set first"
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>"$T/b1.err" || { cat "$T/b1.err"; fail "first backup"; }
A=$(newest)

step "break three databases: $ZERO zero bytes, $JUNK not SQLite, $LOCKED locked"
mkdir "$T/aside"
for db in "$ZERO" "$JUNK"; do
    mv "$D/$db" "$T/aside/$(basename "$db")"
    for x in -wal -shm; do [ ! -e "$D/$db$x" ] || mv "$D/$db$x" "$T/aside/$(basename "$db")$x"; done
done
: >"$D/$ZERO"
head -c 8192 /dev/urandom >"$D/$JUNK"
# the holder: exclusive locking mode + BEGIN EXCLUSIVE, then it blocks reading our FIFO; fd 9
# is our (read-write, so never blocking) end: closing it lets it COMMIT and exit
mkfifo "$T/hold.fifo"
exec 9<>"$T/hold.fifo"
sqlite3 "$D/$LOCKED" >"$T/hold.out" 2>&1 9>&- <<EOF &
PRAGMA locking_mode = EXCLUSIVE;
BEGIN EXCLUSIVE;
SELECT 'held';
.shell cat '$T/hold.fifo' >/dev/null
COMMIT;
EOF
HOLD=$!
for _ in $(seq 200); do grep -q '^held$' "$T/hold.out" && break; kill -0 "$HOLD" || break; sleep 0.05; done
grep -q '^held$' "$T/hold.out" || fail "the lock holder did not start: $(cat "$T/hold.out")"
# the hold is real: another reader is refused at once
sqlite3 "$D/$LOCKED" "SELECT count(*) FROM notes" >/dev/null 2>&1 && fail "$LOCKED is not locked"
live_docs=$(sqlite3 "$D/$HEALTHY" "SELECT count(*) FROM notes")

step "backup: exit 1, the set is partial, the three named with their reasons"
rc=0
"$DVAULT" "${C[@]}" backup >"$T/b2.out" 2>"$T/b2.err" || rc=$?
release
cat "$T/b2.out"
[ "$rc" = 1 ] || { cat "$T/b2.err"; fail "backup exit $rc, expected 1"; }
P=$(newest)
[ "$P" != "$A" ] || fail "no new set"
msg=$(grep '^dvault: ' "$T/b2.err") || { cat "$T/b2.err"; fail "no dvault: message"; }
[[ $msg == "dvault: set $P is partial: 3 database(s) failed: "* ]] || fail "message: $msg"
for want in "$ZERO (begin: empty file (0 bytes): not a database)" \
    "$JUNK (begin: PRAGMA journal_mode: file is not a database)" "$LOCKED (begin: "*"database is locked)"; do
    # shellcheck disable=SC2053
    [[ $msg == *$want* ]] || fail "message lacks '$want': $msg"
done
grep -q "^set $P PARTIAL" "$T/b2.out" || fail "summary should say PARTIAL"
grep -q "databases  2 copied .* 3 failed" "$T/b2.out" || fail "summary counts"
grep -q "NLOs  *[0-9]* new .*, [0-9]* already held" "$T/b2.out" || fail "the NLO pass did not run"
[ -d "$T/backup/sets/$P" ] && [ ! -e "$T/backup/sets/$P.failed" ] || fail "sets/$P is not a finished set"
for db in "$ZERO" "$JUNK" "$LOCKED"; do
    [ ! -e "$T/backup/sets/$P/db/$db" ] || fail "a copy of failed $db is in the set"
done
[ -f "$T/backup/sets/$P/db/$HEALTHY" ] || fail "$HEALTHY is not in the set"

step "sets, sets --json, status --json, the manifest: partial, the failed databases named"
"$DVAULT" "${C[@]}" sets >"$T/sets.txt"
grep -q "^$P .* partial " "$T/sets.txt" || fail "sets: $P not partial: $(cat "$T/sets.txt")"
for db in "$ZERO" "$JUNK" "$LOCKED"; do grep -q "^    failed: $db: " "$T/sets.txt" || fail "sets does not name $db"; done
"$DVAULT" "${C[@]}" sets --json >"$T/sets.json"
"$DVAULT" "${C[@]}" status --json >"$T/status.json"
python3 - "$T/sets.json" "$T/status.json" "$T/backup/sets/$P/manifest.json" "$P" "$A" "$ZERO" "$JUNK" "$LOCKED" <<'PY' || fail "json"
import json, sys
sets, status, man = (json.load(open(p)) for p in sys.argv[1:4])
P, A, want = sys.argv[4], sys.argv[5], sorted(sys.argv[6:9])
by = {s["id"]: s for s in sets}
assert by[P]["status"] == "partial" and by[P]["databases"] == 2, by[P]
assert sorted(f["db_path"] for f in by[P]["failed_databases"]) == want, by[P]
assert all(f["reason"] for f in by[P]["failed_databases"]), by[P]
assert by[A]["status"] == "complete" and by[A]["failed_databases"] == [], by[A]
lb = status["last_backup"]
assert lb["id"] == P and lb["status"] == "partial", lb
assert sorted(f["db_path"] for f in lb["failed_databases"]) == want, lb
assert status["partial_sets"] == 1 and status["complete_sets"] == 1, status
assert any("is partial: 3 database(s)" in w for w in status["warnings"]), status["warnings"]
assert man["status"] == "partial" and man["dvault_manifest"] == 2, man["status"]
assert sorted(f["db_path"] for f in man["failed_databases"]) == want, man["failed_databases"]
assert {d["db_path"] for d in man["databases"]}.isdisjoint(want)
PY
"$DVAULT" "${C[@]}" status | grep -q "^warning .*$P is partial" || fail "status: no partial warning"

step "fix the three (the lock is released already)"
for db in "$ZERO" "$JUNK"; do
    rm -f "$D/$db"
    for x in "" -wal -shm; do [ ! -e "$T/aside/$(basename "$db")$x" ] || mv "$T/aside/$(basename "$db")$x" "$D/$db$x"; done
done

step "restore healthy $HEALTHY from the partial set: integrity ok"
"$DVAULT" "${C[@]}" restore --set "$P" --db "$HEALTHY" --into mail/healthy-restored.nsf >"$T/restore.out" ||
    fail "restore from the partial set"
R=mail/healthy-restored.nsf
[ "$(sqlite3 "$D/$R" "PRAGMA integrity_check")" = ok ] || fail "integrity_check of the restored copy"
[ "$(sqlite3 "$D/$R" "SELECT count(*) FROM notes")" = "$live_docs" ] || fail "restored document count"

step "its NLOs: lose some (purge a document, DAOS prune), listnlo missing, recover --set $P"
# NLOs with exactly one reference (one attachment row) on the whole server, and a document
# of $HEALTHY holding one: purging it loses exactly its single-reference NLOs
for f in "$D"/mail/*.nsf; do
    [ "$f" = "$D/$R" ] || sqlite3 "$f" "SELECT nlo FROM attachments WHERE nlo IS NOT NULL"
done |
    sort | uniq -c | awk '$1 == 1 {print $2}' >"$T/single"
sqlite3 "$D/$HEALTHY" "SELECT n.unid, a.nlo FROM notes n JOIN attachments a ON a.note_id = n.note_id
    WHERE a.nlo IS NOT NULL ORDER BY n.note_id" >"$T/docnlo"
unid=$(awk -F'|' 'NR==FNR {one[$1]=1; next} ($2 in one) {print $1}' "$T/single" "$T/docnlo" | head -1)
[ -n "$unid" ] || fail "no document of $HEALTHY holding the only reference to an NLO"
awk -F'|' -v u="$unid" '$1 == u {print $2}' "$T/docnlo" | sort -u | comm -12 - "$T/single" >"$T/lost"
nlost=$(wc -l <"$T/lost")
[ "$nlost" -ge 1 ] || fail "the purged document's NLOs are referenced elsewhere"
sqlite3 "$D/$HEALTHY" "BEGIN; DELETE FROM attachments WHERE note_id IN (SELECT note_id FROM notes WHERE unid = '$unid');
    DELETE FROM notes WHERE unid = '$unid'; COMMIT;"
mv "$D/$R" "$T/restored.nsf" # not a live database while the index is rebuilt
"$DVAULT" "${C[@]}" resync daos >/dev/null
"$DVAULT" "${C[@]}" daos prune --days 0 >"$T/dprune" || fail "daos prune"
grep -q "^daos prune: $nlost deleted" "$T/dprune" || fail "daos prune: $(cat "$T/dprune")"
mv "$T/restored.nsf" "$D/$R"
"$DVAULT" "${C[@]}" listnlo missing "$R" -o "$T/missing" 2>/dev/null
sort "$T/missing" | cmp - "$T/lost" || fail "listnlo missing: $(cat "$T/missing")"
"$DVAULT" "${C[@]}" recover --set "$P" --list "$T/missing" >"$T/recover" || { cat "$T/recover"; fail "recover"; }
grep -q "recover: $nlost NLOs: $nlost recovered" "$T/recover" || fail "recover: $(cat "$T/recover")"
"$DVAULT" "${C[@]}" listnlo missing "$R" -o "$T/missing2" 2>/dev/null
[ ! -s "$T/missing2" ] || fail "still missing after recover"
rm -f "$D/$R"
"$DVAULT" "${C[@]}" resync daos >/dev/null

step "restore a failed database from $P: refused, naming the set and the set that holds it"
for db in "$ZERO" "$LOCKED"; do
    "$DVAULT" "${C[@]}" restore --set "$P" --db "$db" --into mail/x-restored.nsf 2>"$T/refused" &&
        fail "restoring failed $db from $P succeeded"
    grep -q "database '$db' is not in backup set $P: the set is partial, that database could not be copied (begin: .*); the newest set holding it is $A" "$T/refused" ||
        fail "refusal: $(cat "$T/refused")"
    [ ! -e "$D/mail/x-restored.nsf" ] || fail "a file was left by the refused restore"
done

step "verify accepts the partial set"
"$DVAULT" "${C[@]}" verify --set "$P" >"$T/verify" 2>&1 || { cat "$T/verify"; fail "verify --set $P"; }

step "prune (keep_sets 1): the partial set counts, but $A keeps the last copies of the three"
"$DVAULT" "${C[@]}" prune >"$T/prune1" || { cat "$T/prune1"; fail "prune"; }
grep -q "$A .*holds the last copy of a database a retained partial set could not copy" "$T/prune1" ||
    fail "prune should keep $A for its last copies: $(cat "$T/prune1")"
[ -f "$T/backup/sets/$A/db/$ZERO" ] || fail "the last copy of $ZERO was pruned"

step "the next backup (--incremental) copies the three in full and is complete"
"$DVAULT" "${C[@]}" backup --incremental >"$T/b3.out" 2>"$T/b3.err" || { cat "$T/b3.out" "$T/b3.err"; fail "backup after the fix"; }
N=$(newest)
grep -q "^set $N complete" "$T/b3.out" || fail "not complete: $(cat "$T/b3.out")"
python3 - "$T/backup/sets/$N/manifest.json" "$P" "$ZERO" "$JUNK" "$LOCKED" <<'PY' || fail "the retried databases are not full copies"
import json, sys
m = json.load(open(sys.argv[1]))
P, failed = sys.argv[2], set(sys.argv[3:6])
assert m["status"] == "complete" and "failed_databases" not in m and m["dvault_manifest"] == 1, m["status"]
assert m["kind"] == "incremental", m["kind"]
by = {d["db_path"]: d for d in m["databases"]}
for db in failed:
    assert by[db]["kind"] == "full" and P in by[db]["full_reason"], by[db]
assert any(by[d]["kind"] == "incremental" for d in by if d not in failed), "no incremental copy"
PY
"$DVAULT" "${C[@]}" status --json | python3 -c 'import json,sys; s=json.load(sys.stdin); lb=s["last_backup"]
assert lb["status"] == "complete" and lb["failed_databases"] == [], lb
assert not any("partial" in w for w in s["warnings"]), s["warnings"]' || fail "status after the fix"
"$DVAULT" "${C[@]}" restore --set "$N" --db "$ZERO" --into mail/zero-restored.nsf >/dev/null || fail "restore $ZERO from $N"
[ "$(sqlite3 "$D/mail/zero-restored.nsf" "PRAGMA integrity_check")" = ok ] || fail "integrity of $ZERO from $N"
rm -f "$D/mail/zero-restored.nsf"

step "prune again: now $A may go; $P stays as the origin of $N"
"$DVAULT" "${C[@]}" prune >"$T/prune2" || { cat "$T/prune2"; fail "prune 2"; }
[ ! -e "$T/backup/sets/$A" ] || fail "$A should be pruned now: $(cat "$T/prune2")"
[ -d "$T/backup/sets/$P" ] || fail "$P (the origin of $N) was pruned"

step "resync catalog: sets --json byte for byte, the partial set and its failed databases too"
"$DVAULT" "${C[@]}" sets --json >"$T/sets1"
grep -q '"status": "partial"' "$T/sets1" || fail "no partial set left to compare"
rm -f "$T/catalog.db" "$T/catalog.db-wal" "$T/catalog.db-shm"
"$DVAULT" "${C[@]}" resync catalog >"$T/resync" || { cat "$T/resync"; fail "resync catalog"; }
grep -q "1 complete set(s), 1 partial set(s), 0 failed set(s)" "$T/resync" || fail "resync: $(cat "$T/resync")"
"$DVAULT" "${C[@]}" sets --json >"$T/sets2"
cmp "$T/sets1" "$T/sets2" || { diff "$T/sets1" "$T/sets2"; fail "sets --json differs after resync"; }
"$DVAULT" "${C[@]}" restore --set "$P" --db "$LOCKED" --into mail/x.nsf 2>"$T/refused2" &&
    fail "after resync, restoring failed $LOCKED from $P succeeded"
grep -q "could not be copied (begin: .*database is locked); the newest set holding it is $N" "$T/refused2" ||
    fail "refusal after resync: $(cat "$T/refused2")"
"$DVAULT" "${C[@]}" verify >"$T/verify2" 2>&1 || { cat "$T/verify2"; fail "verify after resync"; }
echo "partial sets: ok"

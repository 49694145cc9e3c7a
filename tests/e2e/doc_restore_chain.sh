#!/bin/bash
# doc_restore_chain.sh - issue 18: `dvault doc restore --deleted` from every kind of source:
# a full set whose copy keeps its delta (backup.delta: keep, WAL frames held at backup time:
# the edit is only in the .delta), an incremental set (rebuilt from its chain: the edit is only
# in the increment), and a set plus the WAL archive with --at TIME (the edit is only in the
# archive). Each time the documents come back as the source holds them, which only that
# source's delta, chain or archive can give.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvdrchain.XXXXXX")
READER= ARCPID=
cleanup() {
    [ -n "$READER" ] && kill "$READER" 2>/dev/null
    [ -n "$ARCPID" ] && kill "$ARCPID" 2>/dev/null
    wait 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
. "$(dirname "$0")/doc_restore.lib"
. "$(dirname "$0")/pitr.lib"

step "site (delta: keep); a reader holds the database open so that the WAL keeps its frames"
dr_site keep
mapfile -t U < <(dr_docs_with_nlos)
[ "${#U[@]}" -ge 6 ] || fail "expected 6 documents with NLOs"
A=${U[0]} B=${U[1]} C3=${U[2]} E=${U[3]} F=${U[4]}
hold() { # a reader of $DB that stays open: no closing connection checkpoints the WAL away
    python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); c.execute("SELECT count(*) FROM notes").fetchall()
time.sleep(600)' "$D/$DB" &
    READER=$!
    for _ in $(seq 1 50); do [ -s "$D/$DB-shm" ] && break; sleep 0.1; done
}
hold
edit() { dr_q "UPDATE notes SET body = body || ' $2' WHERE unid = '$1'"; }

step "edit A, full backup (the edit is in the WAL: in the kept delta)"
edit "$A" "(edit in the delta)"
[ -s "$D/$DB-wal" ] || fail "the WAL holds no frames"
SET1=$(dr_backup --full)
[ -s "$T/backup/sets/$SET1/db/$DB.delta" ] || fail "set $SET1 has no kept delta for $DB"
step "edit B, incremental backup"
edit "$B" "(edit in the increment)"
SET2=$(dr_backup --incremental)
"$DVAULT" "${C[@]}" sets --json | python3 -c 'import json,sys
k = {s["id"]: s["kind"] for s in json.load(sys.stdin)}
assert k[sys.argv[1]] == "full" and k[sys.argv[2]] == "incremental", k' "$SET1" "$SET2" ||
    fail "expected a full set and an incremental one"
kill "$READER"; wait "$READER" 2>/dev/null || true; READER=
dr_dump "$A" "$B" "$C3" >"$T/at_set2"

step "A soft-deleted, B and C purged"
"$DVLOAD" "${C[@]}" delete --db "$DB" --when 1000 "$B" "$C3" >/dev/null
"$DVLOAD" "${C[@]}" purge --db "$DB" --when 2000 >/dev/null
"$DVLOAD" "${C[@]}" delete --db "$DB" "$A" >/dev/null

step "from the full set with its kept delta: A is the live version (undeleted, no conflict)"
"$DVAULT" "${C[@]}" doc restore --set "$SET1" --db "$DB" --deleted --dry-run --json >"$T/set1.json" ||
    fail "dry run from $SET1"
python3 - "$T/set1.json" "$A" "$B" <<'PY' || fail "from $SET1: $(cat "$T/set1.json")"
import json, sys
d = {x["unid"]: x for x in json.load(open(sys.argv[1]))["documents"]}
assert d[sys.argv[2]]["status"] == "undeleted", d[sys.argv[2]]   # the delta holds the edit
assert d[sys.argv[3]]["status"] == "rewritten", d[sys.argv[3]]
PY

step "from the incremental set: every document as it was then"
"$DVAULT" "${C[@]}" doc restore --set "$SET2" --db "$DB" --deleted >"$T/run2" || { cat "$T/run2"; fail "doc restore from $SET2"; }
grep -q "doc restore: 1 undeleted, 2 rewritten, 0 copied, .* 0 conflicts, 0 skipped" "$T/run2" ||
    { cat "$T/run2"; fail "summary from $SET2"; }
dr_dump "$A" "$B" "$C3" | cmp -s "$T/at_set2" - || fail "documents differ from set $SET2's"
[ "$(dr_q "SELECT body LIKE '%(edit in the increment)' FROM notes WHERE unid = '$B'")" = 1 ] ||
    fail "B must come back with the increment's edit"
"$DVLOAD" "${C[@]}" verify >/dev/null || fail "dvload verify"
dr_refcounts_exact || fail "refcounts"

step "--at over the WAL archive: a set, an edit after it, deleted and purged later"
hold # the archiver sees every commit (a last connection's checkpoint would make a GAP)
D_SAVE=$D
D="$DVAULT -c $T/config.yaml"   # pitr.lib's D: the dvault command
pitr_archiver_start 60 # returns once its run record is written: after its first looks
a0=$(date +%s)         # the set begins in a later second (the catalog records whole seconds)
while [ "$(date +%s)" -le "$a0" ]; do sleep 0.05; done
SETP=$(pitr_backup)
D=$D_SAVE
s0=$(date +%s); while [ "$(date +%s)" -le "$((s0 + 1))" ]; do sleep 0.05; done
edit "$E" "(edit only in the archive)"
dr_dump "$E" "$F" >"$T/at_t"
s0=$(date +%s); while [ "$(date +%s)" -le "$s0" ]; do sleep 0.05; done
AT_US=$(( $(date +%s%N) / 1000 ))
s0=$(date +%s); while [ "$(date +%s)" -le "$s0" ]; do sleep 0.05; done
"$DVLOAD" "${C[@]}" delete --db "$DB" --when 1000 "$E" >/dev/null
"$DVLOAD" "${C[@]}" purge --db "$DB" --when 2000 >/dev/null
"$DVLOAD" "${C[@]}" delete --db "$DB" "$F" >/dev/null
pitr_archiver_stop || fail "archive --follow failed: $(cat "$T/archive.out")"
kill "$READER"; wait "$READER" 2>/dev/null || true; READER=
at="@$((AT_US / 1000000)).$(printf '%06d' $((AT_US % 1000000)))"
"$DVAULT" "${C[@]}" doc restore --set "$SETP" --db "$DB" --deleted --at "$at" >"$T/runp" 2>&1 ||
    { cat "$T/runp"; fail "doc restore --at"; }
cat "$T/runp"
grep -q "doc restore: 1 undeleted, 1 rewritten, 0 copied, .* 0 conflicts, 0 skipped" "$T/runp" ||
    fail "summary --at"
dr_dump "$E" "$F" | cmp -s "$T/at_t" - || fail "documents differ from their state at $at"
[ "$(dr_q "SELECT body LIKE '%(edit only in the archive)' FROM notes WHERE unid = '$E'")" = 1 ] ||
    fail "E must come back with the archive's edit"
"$DVAULT" "${C[@]}" doc restore --set "$SETP" --db "$DB" --deleted --at "@$((a0 - 5))" >"$T/early" 2>&1 &&
    fail "--at before the set must be refused"
"$DVLOAD" "${C[@]}" verify >/dev/null || fail "dvload verify at the end"
dr_refcounts_exact || fail "refcounts at the end"
echo "doc_restore_chain ok"

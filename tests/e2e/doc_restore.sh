#!/bin/bash
# doc_restore.sh - issue 18: `dvault doc restore --deleted` brings back every document a set
# holds that the live database has since soft-deleted or purged, in one step: soft-deleted ones
# undeleted in place, purged ones rewritten with unid, fields and attachments; NLOs that DAOS
# prune removed (and one lost file) recovered from the pool byte-identical; the DAOS index
# exact. Also: a dry run changes nothing, a conflict is skipped and reported (--copies makes it
# a copy), --since filters by deletion time, --modified makes copies beside changed documents,
# --json parses, a second run changes nothing. Expected values come from sqlite3.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvdocrestore.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
. "$(dirname "$0")/doc_restore.lib"

step "site, full backup"
dr_site
# documents of $DB: two holding the only reference to an NLO (purged: DAOS prune removes those
# NLOs), one more purged (its NLOs shared), two soft-deleted now, one soft-deleted three days
# ago (--since leaves it), one changed and then deleted (a conflict), one changed (--modified)
mapfile -t SOLE < <(dr_sole_docs)
[ "${#SOLE[@]}" -ge 2 ] || fail "expected two documents holding the only reference to an NLO"
mapfile -t ALL < <(dr_docs_with_nlos | grep -v -F -x -e "${SOLE[0]}" -e "${SOLE[1]}")
[ "${#ALL[@]}" -ge 7 ] || fail "expected 7 more documents with NLOs, got ${#ALL[@]}"
P1=${SOLE[0]} P2=${SOLE[1]} P3=${ALL[0]} S1=${ALL[1]} S2=${ALL[2]} OLD=${ALL[3]} CONF=${ALL[4]} MOD=${ALL[5]}
RESTORED=("$P1" "$P2" "$P3" "$S1" "$S2")
dr_dump "${RESTORED[@]}" "$OLD" >"$T/expected"
dr_dump "$CONF" "$MOD" >"$T/expected.changed"
ndocs=$(dr_q "SELECT count(*) FROM notes")
lost_nlo=$(dr_q "SELECT a.nlo FROM attachments a JOIN notes n ON n.note_id = a.note_id WHERE n.unid = '$S1' AND a.nlo IS NOT NULL LIMIT 1")

step "the user changes two documents, deletes, the server purges"
now=$(date +%s)
dr_q "UPDATE notes SET body = body || ' (edited after the set)', modified = $now WHERE unid IN ('$CONF', '$MOD')"
"$DVLOAD" "${C[@]}" delete --db "$DB" --when 1000 "$P1" "$P2" "$P3" >/dev/null
"$DVLOAD" "${C[@]}" purge --db "$DB" --when 2000 | grep -q "3 document" || fail "purge"
"$DVLOAD" "${C[@]}" delete --db "$DB" "$S1" "$S2" "$CONF" >/dev/null
"$DVLOAD" "${C[@]}" delete --db "$DB" --when $((now - 3 * 86400)) "$OLD" >/dev/null
"$DVLOAD" "${C[@]}" verify >/dev/null || fail "dvload verify after the deletions"
[ "$(dr_q "SELECT count(*) FROM notes WHERE unid IN ('$P1', '$P2', '$P3')")" = 0 ] || fail "purge left documents"

step "DAOS prune removes the purged documents' unshared NLOs; one more NLO file is lost"
dr_all_refs | sort -u >"$T/refs.after"
sort -u "$T/sole.nlo" | comm -23 - "$T/refs.after" >"$T/pruned"
npruned=$(wc -l <"$T/pruned")
[ "$npruned" -ge 2 ] || fail "expected at least 2 NLOs without reference, got $npruned"
"$DVAULT" "${C[@]}" daos prune --days 0 | grep -q "^daos prune: $npruned deleted" || fail "daos prune"
while read -r n; do [ -z "$(dr_nlo_file "$n")" ] || fail "$n still in the repository"; done <"$T/pruned"
rm -f "$(dr_nlo_file "$lost_nlo")"
{ cat "$T/pruned"; echo "$lost_nlo"; } | sort -u >"$T/missing"
nmissing=$(wc -l <"$T/missing")

step "dry run: lists, changes nothing"
dr_live_hash >"$T/hash0"
"$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" --deleted --dry-run >"$T/dry" ||
    { cat "$T/dry"; fail "dry run"; }
cat "$T/dry"
dr_live_hash >"$T/hash1"
diff "$T/hash0" "$T/hash1" || fail "the dry run changed the live server"
for u in "$P1" "$P2" "$P3"; do grep -q "^would rewrite *$u purged" "$T/dry" || fail "dry run: $u"; done
for u in "$S1" "$S2" "$OLD"; do grep -q "^would undelete *$u soft-deleted" "$T/dry" || fail "dry run: $u"; done
grep -q "^conflict *$CONF .*changed after the set" "$T/dry" || fail "dry run: conflict $CONF"
grep -q "$nmissing to recover from the pool" "$T/dry" || fail "dry run: $nmissing NLOs to recover"
grep -q "(dry run): 3 undeleted, 3 rewritten, 0 copied, $nmissing NLOs to recover, 1 conflicts, 0 skipped" "$T/dry" ||
    fail "dry run summary"

step "restore --deleted --since yesterday: all but the document deleted three days ago"
"$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" --deleted --since "@$((now - 86400))" >"$T/run1" ||
    { cat "$T/run1"; fail "doc restore"; }
cat "$T/run1"
grep -q "doc restore: 2 undeleted, 3 rewritten, 0 copied, $nmissing NLOs recovered, 1 conflicts, 0 skipped" "$T/run1" ||
    fail "summary"
grep -q "^conflict *$CONF " "$T/run1" || fail "the conflict is reported"
grep -q "$OLD" "$T/run1" && fail "--since: $OLD (deleted three days ago) must be left"
[ "$(dr_q "SELECT deleted IS NOT NULL FROM notes WHERE unid = '$OLD'")" = 1 ] || fail "$OLD undeleted"
[ "$(dr_q "SELECT deleted IS NOT NULL FROM notes WHERE unid = '$CONF'")" = 1 ] || fail "conflict $CONF touched"
[ "$(dr_q "SELECT body LIKE '%(edited after the set)' FROM notes WHERE unid = '$CONF'")" = 1 ] ||
    fail "the conflict's newer version must stay"

step "byte-identical: fields, attachments, NLO files; the index exact"
dr_dump "${RESTORED[@]}" >"$T/got"
head -n "$(wc -l <"$T/got")" "$T/expected" | cmp -s - "$T/got" || fail "restored documents differ from the set's"
[ "$(dr_q "SELECT count(*) FROM notes WHERE deleted IS NULL AND unid IN ('$P1','$P2','$P3','$S1','$S2')")" = 5 ] ||
    fail "restored documents are not all visible"
while read -r n; do
    f=$(dr_nlo_file "$n")
    [ -n "$f" ] || fail "$n not back in the repository"
    [ "$(sha256sum <"$f")" = "$(sha256sum <"$T/backup/nlo/${n:0:3}/$n")" ] || fail "$n differs from the pool copy"
done <"$T/missing"
"$DVLOAD" "${C[@]}" verify || fail "dvload verify (decrypts every NLO, checks names and refcounts)"
dr_refcounts_exact || fail "DAOS index refcounts"
"$DVAULT" "${C[@]}" daos status | grep -q '^state *SYNCHRONIZED' || fail "the DAOS index must stay SYNCHRONIZED"
[ "$(sqlite3 "$D/daos/daoscat.db" "SELECT count(*) FROM meta WHERE key LIKE 'pending%'")" = 0 ] ||
    fail "a pending batch record was left"
ls -a "$T/backup" | grep -q docrestore && fail "scratch directory left in the target"
"$DVAULT" "${C[@]}" jobs | grep -q "docrestore .*ok.*2 undeleted, 3 rewritten" || fail "job history"

step "again without --since: the older one comes back too, nothing else changes"
"$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" --deleted >"$T/run2" || fail "second run"
grep -q "doc restore: 1 undeleted, 0 rewritten, 0 copied, 0 NLOs recovered, 1 conflicts, 0 skipped" "$T/run2" ||
    { cat "$T/run2"; fail "second run summary"; }
dr_dump "${RESTORED[@]}" "$OLD" | cmp -s "$T/expected" - || fail "documents after the second run"

step "--modified --copies --json: copies beside the changed documents, never over them"
dr_dump "$CONF" "$MOD" >"$T/changed.before"
"$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" --deleted --modified --copies --json >"$T/run3.json" ||
    fail "--modified --copies"
python3 - "$T/run3.json" "$CONF" "$MOD" "$SET" >"$T/copies" <<'PY' || fail "--json: $(cat "$T/run3.json")"
import json, sys
r = json.load(open(sys.argv[1]))
c = r["counts"]
assert r["set"] == sys.argv[4] and r["dry_run"] is False, r
assert (c["copied"], c["undeleted"], c["rewritten"], c["conflicts"]) == (2, 0, 0, 0), c
docs = {d["unid"]: d for d in r["documents"]}
assert docs[sys.argv[2]]["kind"] == "soft-deleted" and docs[sys.argv[2]]["status"] == "copied"
assert docs[sys.argv[3]]["kind"] == "changed" and docs[sys.argv[3]]["status"] == "copied"
for u in sys.argv[2:4]:
    print(u, docs[u]["copy_unid"])
PY
dr_dump "$CONF" "$MOD" | cmp -s "$T/changed.before" - || fail "the live versions must stay as they are"
while read -r u cu; do
    [ "$(dr_q "SELECT subject FROM notes WHERE unid = '$cu' AND deleted IS NULL")" = \
      "[restored from set $SET] $(dr_q "SELECT subject FROM notes WHERE unid = '$u'")" ] || fail "copy $cu of $u: subject"
    # the copy is the set's version: its row but the unid and the subject, its attachments
    awk -v u="$u" 'index($0, u "|") == 1 {f=1} f {print} f && /^--$/ {exit}' "$T/expected.changed" |
        sed '1s/^[^|]*|\([^|]*\)|[^|]*|/\1|/' >"$T/c"
    dr_dump "$cu" | sed '1s/^[^|]*|\([^|]*\)|[^|]*|/\1|/' | cmp -s "$T/c" - ||
        fail "copy $cu differs from the set's version (beyond unid and subject)"
done <"$T/copies"
[ "$(dr_q "SELECT count(*) FROM notes")" = "$((ndocs + 2))" ] || fail "document count after the copies"
"$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" --deleted --modified --copies >"$T/run4" || fail "again"
grep -q "0 copied, .* 2 skipped" "$T/run4" || { cat "$T/run4"; fail "a second --modified must find its copies"; }
grep -q "restored as a copy before" "$T/run4" || fail "skip reason"
"$DVLOAD" "${C[@]}" verify >/dev/null || fail "dvload verify at the end"
dr_refcounts_exact || fail "DAOS index refcounts at the end"

step "--from a restored copy (the console's source), with --sender and --subject"
X=${ALL[6]:-}
[ -n "$X" ] || fail "expected a seventh document with NLOs"
xs=$(dr_q "SELECT sender FROM notes WHERE unid = '$X'")
xsub=$(dr_q "SELECT subject FROM notes WHERE unid = '$X'")
"$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" --into "$T/copy.nsf" >/dev/null || fail "restore --into"
other=$(cd "$D" && ls mail/*.nsf | grep -v -x "$DB" | head -1)
"$DVAULT" "${C[@]}" restore --set "$SET" --db "$other" --into "$T/other.nsf" >/dev/null || fail "restore other"
"$DVLOAD" "${C[@]}" delete --db "$DB" "$X" >/dev/null
"$DVAULT" "${C[@]}" doc restore --from "$T/other.nsf" --db "$DB" --deleted 2>"$T/err" &&
    fail "a copy of $other restored into $DB without --force"
grep -q "is not a copy of $DB.*--force" "$T/err" || fail "refusal: $(cat "$T/err")"
"$DVAULT" "${C[@]}" doc restore --from "$T/copy.nsf" --db "$DB" --deleted --sender "${xs^^}" \
    --subject "$xsub" >"$T/run5" || { cat "$T/run5"; fail "--from"; }
grep -q "^undeleted *$X " "$T/run5" || { cat "$T/run5"; fail "--from: $X"; }
grep -q "^conflict\|^rewritten\|^copied" "$T/run5" && fail "--sender/--subject let other documents through"
[ "$(dr_q "SELECT deleted IS NULL FROM notes WHERE unid = '$X'")" = 1 ] || fail "$X still deleted"
"$DVAULT" "${C[@]}" resync daos >/dev/null # the two restores above marked the index
"$DVLOAD" "${C[@]}" verify >/dev/null || fail "dvload verify after --from"

step "refused: no source, nothing asked, a database that is not one"
"$DVAULT" "${C[@]}" doc restore --db "$DB" --deleted 2>/dev/null && fail "no source accepted"
"$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" 2>/dev/null && fail "nothing asked accepted"
"$DVAULT" "${C[@]}" doc restore --set "$SET" --db mail/nosuch.nsf --deleted 2>"$T/err" && fail "missing db accepted"
grep -q "nosuch.nsf" "$T/err" || fail "message should name the database"
rid=$(dr_q "SELECT value FROM dbinfo WHERE key = 'replica_id'")
dr_q "UPDATE dbinfo SET value = '00000000000000000000000000000000' WHERE key = 'replica_id'"
"$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" --deleted --dry-run >/dev/null 2>"$T/err" &&
    fail "a live file with another replica id than the set's accepted"
grep -q "replaced by another database since; --force" "$T/err" || fail "refusal: $(cat "$T/err")"
dr_q "UPDATE dbinfo SET value = '$rid' WHERE key = 'replica_id'"
echo "doc_restore ok"

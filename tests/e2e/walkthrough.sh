#!/bin/bash
# walkthrough.sh - seed 003's recovery walkthrough with the real binaries: back up, lose
# documents and (after DAOS prune) their NLOs, restore the database into a new name, list the
# missing NLOs, recover them from the pool, copy single documents back, resync.
# Expected values are computed independently with the sqlite3 shell. Uses $DVAULT, $DVLOAD.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvwalk-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  databases: ["**/*.nsf"]
  daos_dir: daos
  max_files_per_subdir: 20
  min_object_size: 4096
  deferred_deletion_days: 0
  encryption: true
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF
C=(-c "$T/config.yaml")
D=$T/data
dbs() { (cd "$D" && ls mail/*.nsf); }
# every NLO reference (one line per attachment row) across the live databases
all_refs() { for f in $(dbs); do sqlite3 "$D/$f" "SELECT nlo FROM attachments WHERE nlo IS NOT NULL"; done; }

step "dvload init, backup"
"$DVLOAD" "${C[@]}" init --databases 3 --docs 40 --seed 11 >/dev/null || fail "dvload init"
"$DVAULT" "${C[@]}" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
"$DVAULT" "${C[@]}" backup -q >"$T/backup.out" 2>&1 || { cat "$T/backup.out"; fail "backup"; }
SET=$("$DVAULT" "${C[@]}" sets --json | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4)
[ -n "$SET" ] || fail "no set id"
DB=$(dbs | head -1)
all_refs | sort -u >"$T/before"

step "pick documents: two to purge (holding the last reference to an NLO), one to soft-delete"
all_refs | sort | uniq -c | awk '$1 == 1 {print $2}' >"$T/single"
sqlite3 "$D/$DB" "SELECT n.unid, a.nlo FROM notes n JOIN attachments a ON a.note_id = n.note_id
                  WHERE a.nlo IS NOT NULL ORDER BY n.note_id" >"$T/docnlo"
PURGE=$(awk -F'|' 'NR==FNR {one[$1]=1; next} ($2 in one) {print $1}' "$T/single" "$T/docnlo" | awk '!s[$0]++' | head -2)
[ "$(echo "$PURGE" | wc -l)" = 2 ] || fail "expected two documents holding the only reference to an NLO"
P1=$(echo "$PURGE" | head -1)
SOFT=$(awk -F'|' '{print $1}' "$T/docnlo" | awk '!s[$0]++' | grep -v -F "$PURGE" | head -1)
[ -n "$SOFT" ] || fail "no document to soft-delete"
natt_p1=$(sqlite3 "$D/$DB" "SELECT count(*) FROM attachments a JOIN notes n ON n.note_id = a.note_id WHERE n.unid = '$P1'")

step "soft-delete $SOFT, purge $(echo $PURGE)"
now=$(date +%s)
in_list=$(echo "$PURGE" | sed "s/.*/'&'/" | paste -sd,)
sqlite3 "$D/$DB" "BEGIN; UPDATE notes SET deleted = $now WHERE unid = '$SOFT';
  DELETE FROM attachments WHERE note_id IN (SELECT note_id FROM notes WHERE unid IN ($in_list));
  DELETE FROM notes WHERE unid IN ($in_list); COMMIT;"
all_refs | sort -u >"$T/after"
comm -23 "$T/before" "$T/after" >"$T/lost"
nlost=$(wc -l <"$T/lost")
[ "$nlost" -ge 2 ] || fail "expected at least 2 NLOs to lose their last reference, got $nlost"
# The sqlite3 shell bypassed the server's refcounts: rebuild them, then prune at once.
"$DVAULT" "${C[@]}" resync daos >/dev/null
"$DVAULT" "${C[@]}" daos prune --days 0 | tee "$T/prune"
grep -q "^daos prune: $nlost deleted" "$T/prune" || fail "prune should delete exactly the $nlost lost NLOs"
while read -r n; do
    ls "$D"/daos/*/"$n" >/dev/null 2>&1 && fail "$n still in the repository after prune"
done <"$T/lost"

step "restore $DB from $SET into mail/restored.nsf"
# the set is then older than deferred_deletion_days (0): the clock has passed its second
s0=$(date +%s); while [ "$(date +%s)" -le "$s0" ]; do sleep 0.05; done
"$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" --into mail/restored.nsf | tee "$T/restore"
R=mail/restored.nsf
[ -f "$D/$R" ] || fail "restored file missing"
grep -q "NLOs .* $nlost missing" "$T/restore" || fail "restore should report $nlost missing NLOs"
grep -q "older than deferred_deletion_days" "$T/restore" || fail "restore should warn about the deletion interval"
grep -q "listnlo missing" "$T/restore" || fail "restore should point at listnlo missing"
grep -q NEEDS_RESYNC "$T/restore" || fail "restore should say NEEDS_RESYNC"
docs_r=$(sqlite3 "$D/$R" "SELECT count(*) FROM notes")
grep -q "documents  $docs_r\$" "$T/restore" || fail "restore should report $docs_r documents"
live_id=$(sqlite3 "$D/$DB" "SELECT value FROM dbinfo WHERE key = 'replica_id'")
new_id=$(sqlite3 "$D/$R" "SELECT value FROM dbinfo WHERE key = 'replica_id'")
new_iid=$(sqlite3 "$D/$R" "SELECT value FROM dbinfo WHERE key = 'dbiid'")
[[ $new_id =~ ^[0-9a-f]{32}$ && $new_iid =~ ^[0-9a-f]{32}$ ]] || fail "restored ids: '$new_id' '$new_iid'"
[ "$new_id" != "$live_id" ] || fail "restored copy kept the live replica id"
[ "$(sqlite3 "$D/$R" "PRAGMA integrity_check")" = ok ] || fail "restored file integrity"
"$DVAULT" "${C[@]}" daos status >"$T/st1"
grep -q '^state *NEEDS_RESYNC' "$T/st1" || fail "daos status should say NEEDS_RESYNC after the restore"
grep -q 'restored' "$T/st1" || fail "the NEEDS_RESYNC reason should name the restore"

step "listnlo missing $R: exactly the pruned NLOs"
"$DVAULT" "${C[@]}" listnlo missing "$R" -o "$T/missing.txt" 2>/dev/null
sort "$T/missing.txt" | cmp - "$T/lost" || fail "listnlo missing differs from the independently computed list"

step "recover --list"
"$DVAULT" "${C[@]}" whereis "$(head -1 "$T/lost")" >"$T/where0"
grep -q "not in the repository" "$T/where0" || fail "whereis: should not be in the repository yet"
"$DVAULT" "${C[@]}" recover --list "$T/missing.txt" | tee "$T/recover"
grep -q "recover: $nlost NLOs: $nlost recovered" "$T/recover" || fail "recover summary"
[ "$(grep -c "^recovered .*(set $SET)" "$T/recover")" = "$nlost" ] || fail "each NLO recovered from set $SET"
while read -r n; do
    live=$(ls "$D"/daos/*/"$n") || fail "$n not back in the repository"
    cmp "$live" "$T/backup/nlo/${n:0:3}/$n" || fail "$n differs from the pool copy"
done <"$T/lost"
"$DVAULT" "${C[@]}" listnlo missing "$R" -o "$T/missing2.txt" 2>/dev/null
[ ! -s "$T/missing2.txt" ] || fail "still missing after recover: $(cat "$T/missing2.txt")"
"$DVAULT" "${C[@]}" recover --list "$T/missing.txt" | grep -q "$nlost already present" ||
    fail "a second recover should find them present"
"$DVAULT" "${C[@]}" whereis "$(head -1 "$T/lost")" >"$T/where1"
grep -q "^live *daos/" "$T/where1" || fail "whereis: live subdirectory"
# databases as of their last backup (the catalog; no database is opened): $R, restored and
# never backed up, is not among them
grep -q "^databases .* referencing it at their last backup" "$T/where1" || fail "whereis: databases"
! grep -q "  $R (" "$T/where1" || fail "whereis: $R was never backed up"
grep -q "^pool .*sha256" "$T/where1" || fail "whereis: pool"
grep -q "  $SET complete" "$T/where1" || fail "whereis: set"

step "doc list --deleted-in"
"$DVAULT" "${C[@]}" doc list "$R" --deleted-in "$DB" | tee "$T/doclist" >/dev/null
grep -q "^$P1 .* gone " "$T/doclist" || fail "doc list should mark $P1 gone"
grep -q "^$SOFT .* deleted " "$T/doclist" || fail "doc list should mark $SOFT deleted"
[ "$(grep -c ' gone ' "$T/doclist")" = 2 ] || fail "exactly the two purged documents are gone"
subj=$(sqlite3 "$D/$R" "SELECT subject FROM notes WHERE unid = '$P1'")
"$DVAULT" "${C[@]}" doc list "$R" --search "$(echo "${subj:0:6}" | tr a-z A-Z)" | grep -q "^$P1 " ||
    fail "doc list --search (case-insensitive) should find $P1"

step "doc copy: the purged document back, the soft-deleted one undeleted"
"$DVAULT" "${C[@]}" doc copy --from "$R" --unid "$P1" --to "$DB" | tee "$T/copy1"
grep -q "copied" "$T/copy1" || fail "doc copy should say copied"
[ "$(sqlite3 "$D/$DB" "SELECT count(*) FROM attachments a JOIN notes n ON n.note_id = a.note_id
      WHERE n.unid = '$P1' AND n.deleted IS NULL")" = "$natt_p1" ] || fail "$P1 not in $DB with its $natt_p1 attachments"
"$DVAULT" "${C[@]}" doc copy --from "$R" --unid "$SOFT" --to "$DB" | tee "$T/copy2"
grep -q "undeleted" "$T/copy2" || fail "doc copy should undelete $SOFT"
[ "$(sqlite3 "$D/$DB" "SELECT deleted IS NULL FROM notes WHERE unid = '$SOFT'")" = 1 ] || fail "$SOFT still deleted"
"$DVAULT" "${C[@]}" doc copy --from "$R" --unid "$SOFT" --to "$DB" 2>/dev/null && fail "a second copy must be refused"

step "resync daos: SYNCHRONIZED, every NLO readable and its refcount right"
"$DVAULT" "${C[@]}" daos status | grep -q '^state *NEEDS_RESYNC' || fail "still NEEDS_RESYNC before resync"
"$DVAULT" "${C[@]}" resync daos | grep -q SYNCHRONIZED || fail "resync"
"$DVAULT" "${C[@]}" daos status | grep -q '^state *SYNCHRONIZED' || fail "daos status after resync"
"$DVLOAD" "${C[@]}" verify || fail "dvload verify (decrypts every NLO, checks its SHA-256 and refcount)"
find "$D" -name '.*' ! -name '.daos.cfg.lock' | grep . && fail "temporary files left in the data directory"
echo "walkthrough ok"

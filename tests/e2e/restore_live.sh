#!/bin/bash
# restore_live.sh - live data is never overwritten (issue 12, findings 4, 5, 7, 9), end to end
# with the real binaries:
#  4. a database another process has open (a sqlite3 shell, idle, reading commands from a FIFO
#     this test controls) is not replaced by restore --replace-live nor by --force over its
#     name: "in use by pid N"; the process's commit after the refusal is in the file; once it
#     has closed the database, --replace-live works;
#  5. --into is normalised (mail/../alice2.nsf is alice2.nsf) and never lands in the DAOS
#     directory, on the DAOS index, in the target or on the catalog (even with --force);
#  7. doc copy of a document of a restored copy of bob's mail into carol's live mailbox is
#     refused (naming both databases) unless --force; into bob's it needs no --force;
#  9. a restore killed (kill -9 at a crash point) leaves hidden .NAME.dvrestore.PID.tmp files
#     (and SQLite's -wal/-shm beside them); the next writing command (recover, doc copy,
#     restore) removes them and says so; the temporary of a live process is left alone.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed"; exit 1; }
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvlive-e2e.XXXXXX")
SQPID=
cleanup() {
    exec 3>&- 2>/dev/null || true
    [ -n "$SQPID" ] && kill "$SQPID" 2>/dev/null
    [ -n "${SLEEPPID:-}" ] && kill "$SLEEPPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf"]
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF
C=(-c "$T/config.yaml")
D=$T/data
"$DVLOAD" "${C[@]}" init --databases 3 --docs 12 --seed 11 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>&1 || fail "backup"
SET=$("$DVAULT" "${C[@]}" sets --json | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4)
for u in alice bob carol; do [ -f "$D/mail/$u.nsf" ] || fail "no mail/$u.nsf"; done

# expect_refused NAME PATTERN CMD...: exit 1, the one stderr line matches
expect_refused() {
    local name=$1 pat=$2 rc=0; shift 2
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" = 1 ] || { cat "$T/out" "$T/err"; fail "$name: exit $rc, expected 1"; }
    grep -q -- "$pat" "$T/err" || fail "$name: stderr '$(cat "$T/err")' does not match '$pat'"
    echo "ok: $name: $(head -c 200 "$T/err")"
}
hash_of() { sha256sum <"$1" | cut -c1-64; }

# ---- 4. a database in use is never replaced ---------------------------------------------------
mkfifo "$T/fifo"
sqlite3 "$D/mail/bob.nsf" <"$T/fifo" >"$T/sq.out" 2>&1 &
SQPID=$!
exec 3>"$T/fifo"
echo "SELECT 'open', count(*) FROM notes;" >&3
for ((i = 0; i < 100; i++)); do grep -q '^open|' "$T/sq.out" && break; sleep 0.1; done
grep -q '^open|' "$T/sq.out" || fail "the sqlite3 shell did not open mail/bob.nsf"
# the shell is idle now, its connection open (nothing in its WAL): the old code replaced it
bob_before=$(hash_of "$D/mail/bob.nsf")
expect_refused "--replace-live while a process has it open" "mail/bob.nsf is in use by pid $SQPID" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/bob.nsf --into mail/bob.nsf --replace-live
expect_refused "--force over another live database in use" "mail/bob.nsf is in use by pid $SQPID" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into mail/bob.nsf --force
[ "$(hash_of "$D/mail/bob.nsf")" = "$bob_before" ] || fail "mail/bob.nsf changed"
ls -a "$D/mail" | grep -q dvrestore && fail "a refused restore left a temporary"
# the writer commits after the refusals, then closes: its row is in the live file
echo "INSERT INTO notes(unid, subject, created) VALUES ('00000000000000000000000000c0ffee', 'after the refusal', 1);" >&3
echo "SELECT 'done';" >&3
exec 3>&-
wait "$SQPID" || fail "the sqlite3 shell failed: $(cat "$T/sq.out")"
SQPID=
grep -q '^done$' "$T/sq.out" || fail "the writer did not finish: $(cat "$T/sq.out")"
[ "$(sqlite3 "$D/mail/bob.nsf" "SELECT count(*) FROM notes WHERE subject = 'after the refusal'")" = 1 ] ||
    fail "the writer's commit after the refused restore is lost"
echo "ok: the writer's commit after the refusals is in mail/bob.nsf"
# nobody has it open now: --replace-live replaces it (the backup has no such row)
"$DVAULT" "${C[@]}" restore --set "$SET" --db mail/bob.nsf --into mail/bob.nsf --replace-live \
    >"$T/out" 2>&1 || { cat "$T/out"; fail "--replace-live with nobody using it"; }
[ "$(sqlite3 "$D/mail/bob.nsf" "SELECT count(*) FROM notes WHERE subject = 'after the refusal'")" = 0 ] ||
    fail "--replace-live did not put the backup in place"
echo "ok: --replace-live once nobody has it open"

# ---- 5. --into normalised, never into the DAOS directory, the target or the catalog ----------
NLOF=$(cd "$D" && find daos -name '*.nlo' | sort | head -1)
[ -n "$NLOF" ] || fail "no NLO in the repository"
snap() { (cd "$T" && find data/daos backup catalog.db -type f ! -name '*-shm' ! -name '*-wal' -print0 |
    sort -z | xargs -0 sha256sum); }
snap >"$T/snap.before"
expect_refused "--into an NLO" "is in the DAOS directory" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into "$NLOF" --force
expect_refused "--into the DAOS index" "is in the DAOS directory" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into daos/daoscat.db --force
expect_refused "--into the DAOS index via .." "is in the DAOS directory" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into mail/../daos/daoscat.db --force
expect_refused "--into the DAOS index, absolute" "is in the DAOS directory" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into "$D/daos/daoscat.db" --force
expect_refused "--into the catalog" "is dvault's catalog" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into "$T/catalog.db" --force
expect_refused "--into the catalog's WAL" "is dvault's catalog's sidecar" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into "$T/catalog.db-wal" --force
expect_refused "--into the target" "is in the backup target" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into "$T/backup/sets/x.nsf"
ln -s ../daos "$D/mail/d"
expect_refused "--into the DAOS directory through a link" "leaves the data directory through a symbolic link\|is in the DAOS directory" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into mail/d/x.nsf
rm "$D/mail/d"
expect_refused "--into a live database's WAL" "the -wal, -shm or -journal" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into mail/carol.nsf-wal --force
expect_refused "--into ../ out of data_dir" "leaves the data directory" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into mail/../../x.nsf
snap | cmp -s - "$T/snap.before" || { snap | diff "$T/snap.before" -; fail "DAOS directory, target or catalog changed"; }
"$DVAULT" "${C[@]}" restore --set "$SET" --db mail/alice.nsf --into mail/../alice2.nsf >"$T/out" 2>&1 ||
    { cat "$T/out"; fail "--into mail/../alice2.nsf (stays inside) refused"; }
grep -q "into $D/alice2.nsf" "$T/out" || { cat "$T/out"; fail "mail/../alice2.nsf is not alice2.nsf"; }
[ -f "$D/alice2.nsf" ] || fail "alice2.nsf not restored"
echo "ok: mail/../alice2.nsf restored as alice2.nsf"

# ---- 7. doc copy checks where the restored copy came from --------------------------------------
"$DVAULT" "${C[@]}" restore --set "$SET" --db mail/bob.nsf --into mail/bob-restored.nsf >/dev/null 2>&1 ||
    fail "restore of bob into a new name"
UNID=$(sqlite3 "$D/mail/bob-restored.nsf" "SELECT unid FROM notes WHERE deleted IS NULL ORDER BY note_id LIMIT 1")
carol_before=$(sqlite3 "$D/mail/carol.nsf" "SELECT count(*) FROM notes")
expect_refused "doc copy of bob's document into carol's mailbox" \
    "mail/bob-restored.nsf is a restored copy of mail/bob.nsf (replica id .*), but mail/carol.nsf has replica id .*--force" \
    "$DVAULT" "${C[@]}" doc copy --from mail/bob-restored.nsf --unid "$UNID" --to mail/carol.nsf
[ "$(sqlite3 "$D/mail/carol.nsf" "SELECT count(*) FROM notes")" = "$carol_before" ] ||
    fail "carol's mailbox changed by a refused doc copy"
[ "$(sqlite3 "$D/mail/bob-restored.nsf" "SELECT value FROM dbinfo WHERE key = 'restored_from'")" = mail/bob.nsf ] ||
    fail "the restored copy does not record its origin"
"$DVAULT" "${C[@]}" doc copy --from mail/bob-restored.nsf --unid "$UNID" --to mail/carol.nsf --force \
    >"$T/out" 2>&1 || { cat "$T/out"; fail "doc copy --force"; }
grep -q "warning: mail/carol.nsf is not the database mail/bob-restored.nsf was restored from" "$T/out" ||
    { cat "$T/out"; fail "doc copy --force into another database without a warning"; }
[ "$(sqlite3 "$D/mail/carol.nsf" "SELECT count(*) FROM notes WHERE unid = '$UNID'")" = 1 ] ||
    fail "doc copy --force did not copy"
# back into bob's own mailbox: no --force needed
sqlite3 "$D/mail/bob.nsf" "DELETE FROM attachments WHERE note_id IN (SELECT note_id FROM notes WHERE unid = '$UNID');
    DELETE FROM notes WHERE unid = '$UNID';"
"$DVAULT" "${C[@]}" doc copy --from mail/bob-restored.nsf --unid "$UNID" --to mail/bob.nsf \
    >"$T/out" 2>&1 || { cat "$T/out"; fail "doc copy into its own database"; }
echo "ok: doc copy back into bob's mailbox without --force"

# ---- 9. what a killed restore leaves is removed by the next writing command --------------------
leftovers() { find "$D" -path "$D/daos" -prune -o -name '.*' -type f -print | sort; }
# a restore of another live process (here: any live pid) is never touched
sleep 300 &
SLEEPPID=$!
touch "$D/mail/.running.nsf.dvrestore.$SLEEPPID.tmp"
n=0
for pt in restore.copied restore.new_ids; do
    rc=0
    env DV_CRASH_AT=$pt "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/carol.nsf \
        --into "mail/k-$pt.nsf" >"$T/out" 2>&1 || rc=$?
    [ $rc = 137 ] || { cat "$T/out"; fail "restore killed at $pt: exit $rc"; }
    [ ! -e "$D/mail/k-$pt.nsf" ] || fail "killed at $pt: the final name exists"
    [ "$(leftovers | wc -l)" -gt "$n" ] || fail "killed at $pt: no hidden temporary left"
    n=$(leftovers | wc -l)
    ls -a "$D/mail" | grep -qE "^\.k-$pt\.nsf\.dvrestore\.[0-9]+\.tmp$" ||
        { ls -a "$D/mail"; fail "killed at $pt: no .k-$pt.nsf.dvrestore.PID.tmp"; }
done
ls -a "$D/mail" | grep -qE '^\.k-restore\.new_ids\.nsf\.dvrestore\.[0-9]+\.tmp-wal$' ||
    { ls -a "$D/mail"; fail "killed in the new ids: no -wal beside the temporary"; }
before=$(leftovers | wc -l)
[ "$before" -ge 4 ] || { leftovers; fail "expected at least 4 leftover files, found $before"; }
# recover (writes the DAOS repository) is such a command; nothing to recover here
"$DVAULT" "${C[@]}" recover --db mail/alice.nsf >"$T/out" 2>&1 || { cat "$T/out"; fail "recover"; }
grep -q "removed $((before - 1)) leftover file(s) of an interrupted restore" "$T/out" ||
    { cat "$T/out"; leftovers; fail "recover did not report the $((before - 1)) leftovers it should remove"; }
[ "$(leftovers)" = "$D/mail/.running.nsf.dvrestore.$SLEEPPID.tmp" ] ||
    { leftovers; fail "leftovers remain after recover (or the running one was removed)"; }
echo "ok: recover removed $((before - 1)) leftover file(s), kept the one of a live process"
# doc copy and restore do it too (and once the process of the running one has ended, its
# temporary goes as well)
rc=0; env DV_CRASH_AT=restore.copied "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/carol.nsf \
    --into mail/k2.nsf >/dev/null 2>&1 || rc=$?
[ $rc = 137 ] || fail "restore killed: exit $rc"
kill "$SLEEPPID"; wait "$SLEEPPID" 2>/dev/null || true; SLEEPPID=
UNID2=$(sqlite3 "$D/mail/bob-restored.nsf" "SELECT unid FROM notes WHERE deleted IS NULL ORDER BY note_id LIMIT 1 OFFSET 1")
sqlite3 "$D/mail/bob.nsf" "DELETE FROM attachments WHERE note_id IN (SELECT note_id FROM notes WHERE unid = '$UNID2');
    DELETE FROM notes WHERE unid = '$UNID2';"
"$DVAULT" "${C[@]}" doc copy --from mail/bob-restored.nsf --unid "$UNID2" --to mail/bob.nsf >"$T/out" 2>&1 ||
    { cat "$T/out"; fail "doc copy"; }
grep -q "removed 2 leftover file(s) of an interrupted restore" "$T/out" ||
    { cat "$T/out"; leftovers; fail "doc copy did not remove the leftovers (a dead restore's and the killed one's)"; }
[ -z "$(leftovers)" ] || { leftovers; fail "leftovers after doc copy"; }
rc=0; env DV_CRASH_AT=restore.before_rename "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/carol.nsf \
    --into mail/k3.nsf >/dev/null 2>&1 || rc=$?
[ $rc = 137 ] || fail "restore killed: exit $rc"
"$DVAULT" "${C[@]}" restore --set "$SET" --db mail/carol.nsf --into mail/k3.nsf >"$T/out" 2>&1 ||
    { cat "$T/out"; fail "restore after a killed one"; }
grep -q "removed 1 leftover file(s) of an interrupted restore (mail/.k3.nsf.dvrestore." "$T/out" ||
    { cat "$T/out"; fail "restore did not report the leftover"; }
[ -z "$(leftovers)" ] || { leftovers; fail "leftovers after restore"; }
echo "ok: doc copy and restore remove and report the leftovers"
echo "restore_live ok"

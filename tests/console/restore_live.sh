#!/bin/bash
# Console: a live database is never replaced from the restore dialog, and replacing one is
# typed, not one keystroke (issue 12, findings 6 and 7):
#  - Databases, r on carol, name "mail/bob.nsf" (another user's live mailbox): refused at once,
#    before any set is asked for; bob's file unchanged;
#  - r into an earlier restored copy: the question says what it is (a restored copy of ...);
#  - L (restore over live) on bob while a process has it open: "in use by pid N", refused;
#  - L on bob answered with "y" (the old one-key Yes): cancelled, bob unchanged; typing the
#    name "mail/bob.nsf": restored over the live database;
#  - Recovery, single-document flow on bob, then bob's live file is another database (its
#    replica id changed): copying a document asks with an explicit warning naming both
#    databases; No copies nothing, Yes copies it.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed"; exit 1; }

tui_site 3 10 9
dv() { "$DVAULT" -c "$d/config.yaml" "$@"; }
dv backup >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
bob=$d/data/mail/bob.nsf
for u in alice bob carol; do [ -f "$d/data/mail/$u.nsf" ] || { echo "FAIL: no mail/$u.nsf"; exit 1; }; done
# a change after the backup: a restore over bob loses it (that is how we see one happened)
sqlite3 "$bob" "INSERT INTO notes(unid, subject, created) VALUES ('0000000000000000000000000000beef', 'since the backup', 1)"
since() { sqlite3 "$bob" "SELECT count(*) FROM notes WHERE subject = 'since the backup'"; }
hash_bob() { sha256sum <"$bob" | cut -c1-64; }
SQPID=
cleanup_all() { exec 3>&- 2>/dev/null; [ -n "$SQPID" ] && kill "$SQPID" 2>/dev/null; tui_cleanup; }
trap cleanup_all EXIT

tui_start 120 40 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
tui_keys 2; tui_wait_for "mail/carol.nsf"

# ---- r into another user's live mailbox: refused before the set is asked for ----------------
before=$(hash_bob)
tui_keys / carol Enter
tui_keys r; tui_wait_for "Restore mail/carol.nsf into"
tui_keys C-u mail/bob.nsf Enter
tui_wait_for "is not a restored copy"
tui_screen | grep -qF "mail/bob.nsf exists" || fail "the refusal does not name mail/bob.nsf"
tui_screen | grep -qF "which set" && fail "the set was asked for before the name was checked"
tui_keys Enter; tui_wait_for "restore cancelled"
[ "$(hash_bob)" = "$before" ] && [ "$(since)" = 1 ] || fail "mail/bob.nsf changed"

# ---- r into an earlier restored copy: the question says what it is ---------------------------
tui_keys r; tui_wait_for "Restore mail/carol.nsf into"
tui_keys C-u mail/carol-copy.nsf Enter
tui_wait_for "Restore from which set"; tui_keys Enter
tui_wait_for "restore of mail/carol.nsf into mail/carol-copy.nsf done" 300
[ -f "$d/data/mail/carol-copy.nsf" ] || fail "mail/carol-copy.nsf not restored"
tui_keys r; tui_wait_for "Restore mail/carol.nsf into"
tui_keys C-u mail/carol-copy.nsf Enter
tui_wait_for "a restored copy of mail/carol.nsf"
tui_keys n; tui_wait_for "Restore mail/carol.nsf into" # No: the name again
tui_keys Escape; tui_wait_for "restore cancelled"

# ---- L while a process has bob open: in use, refused ----------------------------------------
mkfifo "$TUI_TMP/fifo"
sqlite3 "$bob" <"$TUI_TMP/fifo" >"$TUI_TMP/sq.out" 2>&1 &
SQPID=$!
exec 3>"$TUI_TMP/fifo"
echo "SELECT 'open', count(*) FROM notes;" >&3
for ((i = 0; i < 100; i++)); do grep -q '^open|' "$TUI_TMP/sq.out" && break; sleep 0.1; done
grep -q '^open|' "$TUI_TMP/sq.out" || fail "the sqlite3 shell did not open mail/bob.nsf"
tui_keys / bob Enter
tui_keys L; tui_wait_for "mail/bob.nsf is in use by pid $SQPID"
tui_keys Enter
exec 3>&-
wait "$SQPID"; SQPID=
[ "$(hash_bob)" = "$before" ] && [ "$(since)" = 1 ] || fail "mail/bob.nsf changed"

# ---- L: one "y" is not enough, the typed name is ----------------------------------------------
tui_keys L; tui_wait_for "Restore over the LIVE database from which set"; tui_keys Enter
tui_wait_for "Type the database's name (mail/bob.nsf)"
tui_keys y Enter
tui_wait_for "restore cancelled: the name typed is not the database's"
[ "$(hash_bob)" = "$before" ] && [ "$(since)" = 1 ] || fail "mail/bob.nsf replaced after a 'y'"
tui_keys L; tui_wait_for "Restore over the LIVE database from which set"; tui_keys Enter
tui_wait_for "Type the database's name (mail/bob.nsf)"
tui_keys mail/bob.nsf Enter
tui_wait_for "over the live database done" 300
[ "$(since)" = 0 ] || fail "mail/bob.nsf was not restored over after its name was typed"

# ---- doc copy into a database that is not the restored copy's origin: a warning naming both ---
unid=$(sqlite3 "$bob" "SELECT unid FROM notes WHERE deleted IS NULL ORDER BY note_id LIMIT 1")
sqlite3 "$bob" "DELETE FROM attachments WHERE note_id IN (SELECT note_id FROM notes WHERE unid = '$unid');
    DELETE FROM notes WHERE unid = '$unid';"
tui_keys 5; tui_wait_for "F6DocRec"
tui_keys F6; tui_wait_for "1/3: which database"; tui_keys Enter
tui_wait_for "2/3: restore it from which set"; tui_keys Enter
tui_wait_for "3/3"; tui_keys C-u mail/bob-doc.nsf Enter
tui_wait_for "no longer live (marked)" 300
# bob's live file is now another database (re-created: a new replica id)
sqlite3 "$bob" "UPDATE dbinfo SET value = 'feedfacefeedfacefeedfacefeedface' WHERE key = 'replica_id'"
tui_keys / "$unid" Enter
tui_keys F6; tui_wait_for "Copy into ANOTHER database"
tui_wait_for "feedfacefeedfacefeedfacefeedface"
tui_screen | tr -d '\n' | grep -q "mail/bob-doc.nsf" || fail "the warning does not name the restored copy"
tui_keys n; tui_wait_for "copy cancelled"
[ "$(sqlite3 "$bob" "SELECT count(*) FROM notes WHERE unid = '$unid'")" = 0 ] || fail "copied after No"
tui_keys F6; tui_wait_for "Copy into ANOTHER database"; tui_keys y
tui_wait_for "copied into mail/bob.nsf" 300
tui_wait_for "Rebuild the server" 300; tui_keys n; tui_wait_for "resync cancelled"
[ "$(sqlite3 "$bob" "SELECT count(*) FROM notes WHERE unid = '$unid'")" = 1 ] || fail "not copied after Yes"
tui_keys q
st=$(tui_exit_status)
[ "$st" = 0 ] || fail "quit: exit status $st"
echo "console restore_live ok"

#!/bin/bash
# Console, issue 15 item 9 (besides the list bits): sets are named by their ids everywhere (the
# NLO panel's "In pool" column and Objects' where-is said "set #1"); `d` on the NLO panel
# offers a picker of the databases (it asked for free text); help says the real screen range
# ("1-7" with seven screens, not "1-9"), names a key once ("Enter", not "Enter, Enter") and gives Space one
# meaning per screen (selects on the NLO panel, pages down elsewhere); Jobs says full or
# incremental; copying a document into live offers the DAOS resync only when the index says
# NEEDS_RESYNC (the copy keeps it exact), and once a session (declined: the status line says
# it).
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed"; exit 1; }

tui_site 2 12 3
dv() { "$DVAULT" -c "$d/config.yaml" "$@"; }
dv backup >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
dv backup --incremental >/dev/null 2>&1 || { echo "FAIL: incremental backup"; exit 1; }
db=$(cd "$d/data" && find . -name '*.nsf' | sed 's|^\./||' | sort | head -1)
live=$d/data/$db
# three documents of $db soft-deleted in live (the backup has them): two with NLOs, one without
with_nlo() { sqlite3 "$live" "SELECT unid FROM notes n WHERE $1 EXISTS (SELECT 1 FROM attachments a
    WHERE a.note_id = n.note_id AND a.nlo IS NOT NULL) ORDER BY note_id LIMIT $2"; }
mapfile -t A < <(with_nlo "" 2)
B=$(with_nlo "NOT" 1)
[ "${#A[@]}" = 2 ] && [ -n "$B" ] || { echo "FAIL: setup: documents with and without NLOs"; exit 1; }
for u in "${A[@]}" "$B"; do
    sqlite3 "$live" "UPDATE notes SET deleted = strftime('%s','now') WHERE unid = '$u'"
done
# an NLO of $db missing from the live repository (the backup holds it)
nlo=$(sqlite3 "$live" "SELECT nlo FROM attachments WHERE nlo IS NOT NULL ORDER BY nlo LIMIT 1")
f=$(find "$d/data/daos" -name "$nlo")
[ -n "$f" ] && rm -f "$f" || { echo "FAIL: setup: $nlo not in the repository"; exit 1; }

tui_start 120 50 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"

# help: the real range of screens, each key name once, Space as the screen uses it
tui_keys 2 '?'; tui_wait_for "Help  (Esc closes"
tui_wait_for "Go to screen N"
tui_screen | grep -q "1-7 .*Go to screen N" || fail "help does not say 1-7 (seven screens)"
tui_screen | grep -q "1-9" && fail "help still says 1-9"
tui_screen | grep "Page down" | grep -q "Space" || fail "Databases: Space is not page down in help"
tui_keys Escape; tui_wait_gone "Help  (Esc closes"
tui_keys 6 '?'; tui_wait_for "Jobs screen"
tui_screen | grep -q "Enter, Enter" && fail "help names Enter twice"
tui_screen | grep -q "Enter, v .*View the selected job" || fail "Jobs help: Enter, v"
tui_keys Escape; tui_wait_gone "Help  (Esc closes"
tui_keys 5 '?'; tui_wait_for "Recovery screen"
tui_screen | grep -q "Space .*Select / unselect" || fail "Recovery: Space selects"
tui_screen | grep "Page down" | grep -q "Space" && fail "Recovery help: Space both selects and pages down"
tui_keys Escape; tui_wait_gone "Help  (Esc closes"

# Jobs: the kind of each backup
tui_keys 6
tui_wait_re 'ok: incremental set [0-9]{8}-[0-9]{6}.* complete'
tui_wait_re 'ok: full set [0-9]{8}-[0-9]{6}.* complete'

# the NLO panel: d offers a picker; the missing NLO's pool column names the set by its id
tui_keys 5; tui_wait_for "F2Database"
tui_keys d; tui_wait_for "Missing NLOs: of which database?"
tui_wait_for "Another database: type its path"
tui_screen | grep -qF " $db" || fail "the picker does not list $db"
tui_keys Enter
tui_wait_for "${nlo:0:24}" 300
full=$(sqlite3 "$d/catalog.db" "SELECT id FROM sets WHERE kind = 'full'")
tui_screen | grep -F "${nlo:0:24}" | grep -qF "$full" || fail "In pool does not name set $full"
tui_screen | grep -q "set #" && fail "an internal set number on the NLO panel"

# Objects: where-is names the set by its id
tui_keys 4; tui_wait_for "view: live index"; tui_keys Enter
tui_wait_re "first by set [0-9]{8}-[0-9]{6}"
tui_keys Escape; tui_wait_gone "first by set"

# copy into live: the resync is offered for NLO references only, and once
tui_keys 5 F6; tui_wait_for "1/3: which database"; tui_keys Enter
tui_wait_for "2/3: restore it from which set"; tui_keys Enter
tui_wait_for "3/3"; tui_keys Enter
tui_wait_for "no longer live (marked)" 300
copy() { # UNID: open the document, copy it into live (yes)
    tui_keys /; tui_keys "$1"; tui_keys Enter
    tui_keys Enter; tui_wait_for "unid $1"
    tui_keys F6; tui_wait_for "Copy into the live database"; tui_keys y
}
# a copy restored among the server's databases (--into) left the index NEEDS_RESYNC (the
# console's restore into the restore folder does not): the first copy offers the resync; No
# is kept for the session (the next copy only says so); after a resync (F8) a copy asks
# nothing: the copy itself keeps the index exact
dv daos status | grep -q SYNCHRONIZED || fail "a restore into the restore folder marked the index: $(dv daos status)"
sid=$(dv sets 2>/dev/null | grep -oE '[0-9]{8}-[0-9]{6}' | head -1)
dv restore --set "$sid" --db "$db" --into "${db%.nsf}-copy.nsf" >/dev/null 2>&1 || fail "restore --into"
copy "$B"
tui_wait_for "(No: not asked again" 300
tui_keys n; tui_wait_for "resync cancelled"
tui_keys F9; tui_wait_for "no longer live (marked)"
copy "${A[0]}"
tui_wait_for "F8 resyncs the DAOS index (not asked again this session)" 300
tui_sync
tui_screen | grep -qF "[ Yes ]" && fail "resync asked again after No"
tui_keys F8; tui_wait_for "Rebuild the server"; tui_keys y
tui_wait_for "resync of the DAOS index done" 300
tui_keys F9; tui_wait_for "no longer live (marked)"
copy "${A[1]}"
tui_wait_re "copy of document ${A[1]:0:12}.* done" 300
tui_sync
tui_screen | grep -qF "[ Yes ]" && fail "resync offered while the index is synchronized"
dv daos status | grep -q SYNCHRONIZED || fail "the copy left the index out of sync: $(dv daos status)"
for u in "${A[@]}" "$B"; do
    [ "$(sqlite3 "$live" "SELECT deleted IS NULL FROM notes WHERE unid = '$u'")" = 1 ] ||
        fail "$u not back in live"
done
tui_keys q; [ "$(tui_exit_status)" = 0 ] || fail "quit"
echo "console polish9 ok"

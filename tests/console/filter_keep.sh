#!/bin/bash
# Console, the list filter and the search prompt (issue 15 item 9, list bits): a filter
# survives F5 (the list read again), F9 (back from an opened document) and switching screens;
# its tag is in the list's footer and never covers a column title (the Recovery documents'
# "From"); the search prompt clears the status line it is drawn on (no hint left behind).
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed"; exit 1; }

tui_site 3 12 5
dv() { "$DVAULT" -c "$d/config.yaml" "$@"; }
dv backup >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
db=$(cd "$d/data" && find . -name '*.nsf' | sed 's|^\./||' | sort | head -1)
other=$(cd "$d/data" && find . -name '*.nsf' | sed 's|^\./||' | sort | tail -1)
sqlite3 "$d/data/$db" "UPDATE notes SET deleted = strftime('%s','now') WHERE note_id % 3 = 1" ||
    { echo "FAIL: sqlite3"; exit 1; }
ndel=$(sqlite3 "$d/data/$db" "SELECT count(*) FROM notes WHERE deleted IS NOT NULL")

H=30
tui_start 110 $H "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"

# Databases: filter, F5, another screen and back
tui_keys 2; tui_wait_for "Last backup"; tui_wait_for "$other"
tui_keys F4; tui_wait_for "Show only rows containing"; tui_keys "$(basename "$db" .nsf)" Enter
tui_wait_for "filter: $(basename "$db" .nsf)"; tui_wait_gone "$other"
tui_keys F5; tui_sync
tui_screen | grep -qF "filter: $(basename "$db" .nsf)" || fail "Databases: F5 dropped the filter"
tui_screen | grep -qF "$other" && fail "Databases: F5 shows rows the filter hides"
tui_keys 1; tui_wait_for "Overview"; tui_keys 2; tui_sync
tui_screen | grep -qF "filter: $(basename "$db" .nsf)" || fail "Databases: a screen switch dropped the filter"

# Recovery: the restored copy's documents, filtered by their live state
tui_keys 5; tui_wait_for "F6DocRec"
tui_keys F6; tui_wait_for "1/3: which database"
tui_keys Enter; tui_wait_for "2/3: restore it from which set"
tui_keys Enter; tui_wait_for "3/3"
tui_keys Enter; tui_wait_for "no longer live (marked)" 300
header() { tui_screen | grep -E '^ *In live +Created'; }
tui_keys F4; tui_wait_for "Show only rows containing"; tui_keys deleted Enter
tui_wait_for "filter: deleted"; tui_sync
header | grep -qE 'From *$' || fail "the filter tag covers the From header: $(header)"
tui_screen | grep -qE '^ *present ' && fail "the filter shows present documents"
tui_keys F5; tui_sync
tui_screen | grep -qF "filter: deleted" || fail "Recovery: F5 dropped the filter"
tui_screen | grep -qE '^ *present ' && fail "Recovery: F5 shows rows the filter hides"
tui_wait_for "row 1 of $ndel"
tui_keys Enter; tui_wait_for "unid "; tui_keys F9; tui_wait_for "no longer live (marked)"
tui_screen | grep -qF "filter: deleted" || fail "Recovery: F9 (back) dropped the filter"
tui_keys 2; tui_wait_for "Last backup"; tui_keys 5; tui_wait_for "no longer live (marked)"
tui_screen | grep -qF "filter: deleted" || fail "Recovery: a screen switch dropped the filter"

# the search prompt: drawn over the hint ("/ finds a document, Enter opens it ..."), it leaves
# nothing of it behind
tui_wait_for "Enter opens it"
tui_keys / zzqq; tui_wait_for "not found"
st=$(tui_line $((H - 1)))
[[ $st == /zzqq* ]] || fail "the search prompt is not at the start of the status line: '$st'"
[[ $st == *"opens it"* || $st == *"finds a document"* ]] && fail "the search prompt left the hint behind: '$st'"
tui_keys Escape; tui_wait_for "Enter opens it"
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"
echo "console filter_keep ok"

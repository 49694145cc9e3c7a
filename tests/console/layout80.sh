#!/bin/bash
# Console, small terminals (issue 15 item 10): at 80x24 and at 60x16 every function key of
# every screen (and of each Recovery mode) is on some page of the function-key bar (the bar
# ends in "F12More1/2" when its keys do not fit; F12 turns the page; F1 and F10 are on every
# page); the tab bar shows every tab; at 80 columns the Recovery documents' Subject and the
# Databases names keep at least 40 columns (narrower dates and senders, fewer figures).
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed"; exit 1; }

tui_site 2 8 13
dv() { "$DVAULT" -c "$d/config.yaml" "$@"; }
dv backup >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
db=$(cd "$d/data" && find . -name '*.nsf' | sed 's|^\./||' | sort | head -1)
sqlite3 "$d/data/$db" "UPDATE notes SET deleted = strftime('%s','now') WHERE note_id % 3 = 1" ||
    { echo "FAIL: sqlite3"; exit 1; }

H=24
# every page of the bar, one after the other (F12 turns it)
bar_all() {
    local all="" i line
    for ((i = 0; i < 8; i++)); do
        line=$(tui_line $H)
        all="$all $line"
        [[ $line =~ F12More([0-9]+)/([0-9]+) ]] || break
        [ "${BASH_REMATCH[1]}" = "${BASH_REMATCH[2]}" ] && { tui_keys F12; tui_sync; break; }
        tui_keys F12; tui_sync
    done
    echo "$all"
}
check_keys() { # WHAT F-NUMBERS...: each key is on some page of the bar, with its label
    local what=$1 all k
    shift
    all=$(bar_all)
    for k in 1 10 "$@"; do
        [[ $all =~ (^|[[:space:]])F$k[A-Z] ]] || fail "${COLS}x$H, $what: F$k is on no page of the bar ($all)"
    done
}
screens() {
    tui_keys 1; tui_wait_for "last backup"; tui_sync; check_keys Overview 2 5 8
    tui_keys 2; tui_wait_for "Last backup"; tui_sync; check_keys Databases 2 3 4 5 6
    tui_keys 3; tui_wait_for "Kind"; tui_sync; check_keys Sets 2 3 4 5 7 8
    tui_keys 4; tui_wait_for "view:"; tui_sync; check_keys Objects 3 5
    tui_keys 5; tui_wait_for "single-document recovery"; tui_sync; check_keys "Recovery (NLOs)" 2 3 4 6 7 8
    tui_keys 6; tui_wait_for "Events of this session"; tui_sync; check_keys Jobs 3 5 9
    tui_line 2 | grep -qF "6 Jobs" || fail "${COLS}x$H: the tab bar is cut: $(tui_line 2)"
}

COLS=80
tui_start 80 $H "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
screens
# the restored copy's documents and one document: the bar with the most keys
tui_keys 5; tui_wait_for "F6DocRec"
tui_keys F6; tui_wait_for "1/3: which database"
tui_keys Enter; tui_wait_for "2/3: restore it from which set"
tui_keys Enter; tui_wait_for "3/3"
tui_keys Enter; tui_wait_for "no longer live (marked)" 300; tui_sync
check_keys "Recovery (documents)" 2 3 4 5 6 7 8 9 11
# the Subject keeps 40 columns at 80 (it had 26): from its title to the From title
hdr=$(tui_screen | grep -E '^ *In live +Created')
sw=$(awk -v h="$hdr" 'BEGIN { print index(h, "From") - index(h, "Subject") - 1 }')
[ "$sw" -ge 40 ] || fail "80x24: the Subject column has $sw columns: $hdr"
tui_keys Enter; tui_wait_for "unid "; tui_sync
check_keys "Recovery (a document)" 5 6 7 8 9
tui_keys F9; tui_wait_for "no longer live (marked)"
# Databases: the names keep 40 columns ("Size" is right-aligned in 9)
tui_keys 2; tui_wait_for "Last backup"; tui_sync
hdr=$(tui_screen | grep -E '^ *Database.* Size')
nw=$(awk -v h="$hdr" 'BEGIN { print index(h, "Size") - index(h, "Database") - 6 }')
[ "$nw" -ge 40 ] || fail "80x24: the Database column has $nw columns: $hdr"

COLS=60 H=16
tui_resize 60 16; tui_wait_for "F12More"; tui_sync
tui_keys 5 F9; tui_wait_for "single-document recovery" # back to the NLO panel
screens
tui_keys 5 F9; tui_wait_for "no longer live (marked)"; tui_sync
check_keys "Recovery (documents)" 2 3 4 5 6 7 8 9 11
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"
echo "console layout80 ok"

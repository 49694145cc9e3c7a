#!/bin/bash
# Console, the mouse (issue 15 item 10): the terminal's presses arrive as xterm SGR reports
# (tmux passes them to the pane as typed), ncurses reads them as KEY_MOUSE: a click on a tab
# switches to it, on a list row moves the cursor there ("row N of M" follows), twice on the
# same row is Enter (a set's databases open), on a column header sorts by it (again:
# reverses), on a function-key bar item runs it, the wheel scrolls. With DVAULT_NO_MOUSE=1 the
# console asks the terminal for no mouse reports (tmux says whether the pane asked).
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

tui_site 6 8 3
dv() { "$DVAULT" -c "$d/config.yaml" "$@"; }
dv backup >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
ndb=$(find "$d/data" -name '*.nsf' | wc -l)

# a left press and release at column X, line Y (1-based, as the terminal reports them), in one
# write as a terminal sends them; twice for a double click
click() { tui_keys -l $'\e[<0;'"$1;$2M"$'\e[<0;'"$1;$2m"; }
dclick() { tui_keys -l $'\e[<0;'"$1;$2M"$'\e[<0;'"$1;$2m"$'\e[<0;'"$1;$2M"$'\e[<0;'"$1;$2m"; }
wheel_down() { tui_keys -l $'\e[<65;'"$1;$2M"; }
wheel_up() { tui_keys -l $'\e[<64;'"$1;$2M"; }
# the column (1-based) where TEXT starts on screen line N
col_of() { tui_line "$1" | awk -v t="$2" '{ i = index($0, t); print i }'; }

tui_start 100 30 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"; tui_sync
[ "$(tmx display -p -t t '#{mouse_any_flag}#{mouse_sgr_flag}')" = 11 ] ||
    fail "the console did not ask for mouse reports (SGR)"
# tabs: line 2
click "$(col_of 2 "2 Databases")" 2; tui_wait_for "Last backup"; tui_wait_for "row 1 of $ndb"
# rows: the list header is line 3, its first row line 4
click 5 6; tui_wait_for "row 3 of $ndb"
click 5 4; tui_wait_for "row 1 of $ndb"
# the wheel: three rows a notch
wheel_down 5 8; tui_wait_for "row 4 of $ndb"
wheel_up 5 8; tui_wait_for "row 1 of $ndb"
# a column header sorts by it; again reverses
click "$(col_of 3 "Size")" 3; tui_wait_for "sorted by Size ▲"
click "$(col_of 3 "Size")" 3; tui_wait_for "sorted by Size ▼"
# the function-key bar: F4 Filter opens the filter prompt
click "$(col_of 30 "F4Filter")" 30; tui_wait_for "Show only rows containing"
tui_keys Escape; tui_wait_gone "Show only rows containing"
# Sets: a double click on a row opens the set's databases
click "$(col_of 2 "3 Sets")" 2; tui_wait_for "Set▼"
dclick 5 4; tui_wait_re "Set [0-9-]+ \(complete\): [0-9]+ databases"
tui_keys Escape; tui_wait_gone "databases  (Esc"
# at 60 columns the bar has pages: a click on More turns it
tui_resize 60 16; tui_wait_for "F12More1/2"
click "$(col_of 16 "F12More")" 16; tui_wait_for "F12More2/2"
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"

# opted out: the terminal keeps its own selection (no mouse reports asked for)
tmx kill-server >/dev/null 2>&1
tui_start 100 30 env DVAULT_NO_MOUSE=1 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"; tui_sync
[ "$(tmx display -p -t t '#{mouse_any_flag}')" = 0 ] || fail "DVAULT_NO_MOUSE=1: mouse reports asked for"
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit (no mouse): exit status $(tui_exit_status)"
echo "console mouse ok"

#!/bin/bash
# Console, the NLO list files of the Recovery screen (issue 15, item 5): `l` reads the same
# grammar as `recover --list` (comments, blank lines, blanks around a name, a name without
# ".nlo"; before, any of those refused the whole file), and `s` asks before replacing a file
# that exists (before, it overwrote it): No keeps the file as it was, Yes writes the list.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
tui_site 2 8 3
db=$(cd "$d/data" && find . -name '*.nsf' | sed 's|^\./||' | sort | head -1)
mapfile -t n < <(sqlite3 "$d/data/$db" "SELECT DISTINCT nlo FROM attachments WHERE nlo IS NOT NULL ORDER BY nlo LIMIT 2")
[ "${#n[@]}" = 2 ] || fail "setup: two NLO names"
list=$d/missing-nlos.txt
printf '# NLOs to bring back\n\n  %s  \n%s\n' "${n[0]}" "${n[1]%.nlo}" >"$list"
cp "$list" "$TUI_TMP/list.orig"

tui_start 100 30 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
tui_keys 5; tui_wait_for "l reads a list"
tui_keys l; tui_wait_for "Load list"; tui_keys Enter
tui_wait_for "NLOs listed in $list: 2"
tui_screen | grep -qF "${n[0]:0:20}" || fail "the first name is not listed"
tui_screen | grep -qF "${n[1]:0:20}" || fail "the name given without .nlo is not listed"

tui_keys s; tui_wait_for "Save list"; tui_keys Enter
tui_wait_for "exists. Replace it?"
tui_keys n; tui_wait_gone "exists. Replace it?"; tui_sync
cmp -s "$list" "$TUI_TMP/list.orig" || fail "No replaced the file"
tui_keys s; tui_wait_for "Save list"; tui_keys Enter
tui_wait_for "exists. Replace it?"; tui_keys y
tui_wait_for "2 names written to $list"
[ "$(cat "$list")" = "$(printf '%s\n' "${n[@]}")" ] || fail "Yes did not write the list: $(cat "$list")"
tui_keys q; [ "$(tui_exit_status)" = 0 ] || fail "quit"
echo "console nlo_list: ok"

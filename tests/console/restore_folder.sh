#!/bin/bash
# Console: the restore folder (issue 15 item 3).
#  - Databases, r twice on the same database, the defaults kept: two copies in the restore
#    folder (restore/mail/<db>--<set>.nsf and ...-2.nsf), the second does not replace the first;
#  - r into the name of an earlier copy, "No" to replacing it: back at the name prompt (not
#    cancelled); Esc cancels;
#  - the Restored tab (the last one, 7) lists both copies with origin and set; d on one asks
#    (default No: Enter keeps it), y deletes it (the file and the row are gone, the other stays);
#  - Enter on the remaining copy opens it in Recovery (its documents).
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

tui_site 2 6 4
dv() { "$DVAULT" -c "$d/config.yaml" "$@"; }
dv backup >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
SET=$(dv sets --json | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4)
db=mail/alice.nsf
[ -f "$d/data/$db" ] || { echo "FAIL: no $db"; exit 1; }
c1=restore/mail/alice--$SET.nsf
c2=restore/mail/alice--$SET-2.nsf

tui_start 160 40 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
tui_line 2 | grep -qE '6 Jobs +7 Restored' || fail "Restored is not the last tab"
tui_keys 2; tui_wait_for "$db"
tui_keys g # mail/alice.nsf: the first row

restore_default() { # NAME: the wizard with its defaults (the restore folder's next free NAME)
    tui_keys r; tui_wait_for "Restore $db into"; tui_wait_for "$1"
    tui_keys Enter; tui_wait_for "Restore from which set"
    tui_keys Enter; tui_wait_for "restore of $db into the restore folder done" 300
}
restore_default "$c1"
[ -f "$d/data/$c1" ] || fail "$c1 not written"
tui_keys Escape
restore_default "$c2"
[ -f "$d/data/$c2" ] || fail "the second restore did not write $c2"
[ "$(ls "$d/data/restore/mail" | grep -c '\.nsf$')" = 2 ] || fail "expected 2 copies: $(ls "$d/data/restore/mail")"
h1=$(sha256sum <"$d/data/$c1")

# an earlier copy's name typed: No to replacing goes back to the name prompt
tui_keys Escape
tui_keys r; tui_wait_for "Restore $db into"
tui_keys C-u "$c2" Enter
tui_wait_for "Replace an earlier restored copy"; tui_wait_for "exists: a restored copy of"
tui_keys n; tui_wait_gone "Replace an earlier restored copy"
tui_wait_for "Restore $db into"
tui_screen | grep -qF "which set" && fail "No to replacing went on to the set"
tui_keys Escape; tui_wait_for "restore cancelled"
[ "$(sha256sum <"$d/data/$c1")" = "$h1" ] && [ -f "$d/data/$c2" ] || fail "a copy changed"

# the Restored tab
tui_keys 7; tui_wait_for "Origin database"
tui_wait_for "mail/alice--$SET.nsf"; tui_wait_for "mail/alice--$SET-2.nsf"
tui_screen | grep -F "mail/alice--$SET.nsf" | grep -qF "$db" || fail "no origin on the row"
tui_screen | grep -F "mail/alice--$SET.nsf" | grep -qF "$SET" || fail "no set on the row"
tui_keys g d; tui_wait_for "Delete a restored copy"
victim=$(tui_screen | grep -oE "Delete the restored copy mail/alice--$SET(-2)?\.nsf" | head -1 | sed 's/.* //')
[ -n "$victim" ] || fail "the question does not name the copy"
tui_keys Enter; tui_wait_for "delete cancelled" # default No
[ -f "$d/data/restore/$victim" ] || fail "Enter (No) deleted $victim"
tui_keys d; tui_wait_for "Delete a restored copy"
tui_keys y; tui_wait_for "deleted ${victim#mail/}"
[ -e "$d/data/restore/$victim" ] && fail "$victim not deleted"
tui_wait_gone " $victim "
other=$c1; [ "restore/$victim" = "$c1" ] && other=$c2
[ -f "$d/data/$other" ] || fail "$other was deleted too"
tui_screen | grep -qF "${other#restore/}" || fail "$other is not listed any more"
dv jobs | grep -q "delete restored.*ok" || fail "the delete is not in the job history"

# Enter opens the remaining copy in Recovery
tui_keys g Enter
tui_wait_for "no longer live (marked)"; tui_wait_for "$other"
echo "console restore_folder: ok"

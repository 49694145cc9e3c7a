#!/bin/bash
# Console with real data: on a small generated server, start a backup from the console, see
# the job (progress or its row) on the Jobs screen, the new set on the Sets screen and its
# databases, the last backup on the Overview; resizes while a job runs keep the screen whole;
# a failing job shows an error dialog; the Databases and Objects screens show backend figures.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

tui_site 3 10 5 "deferred_deletion_days: 40"
first_db=$(cd "$d/data" && find . -name '*.nsf' | sed 's|^\./||' | sort | head -1)
[ -n "$first_db" ] || { echo "FAIL: no database generated"; exit 1; }

whole() { # W H: title on the first line, function-key bar on the last (polls: a redraw
    local top bot i # after a resize takes up to one tick)
    for ((i = 0; i < 50; i++)); do
        top=$(tui_line 1); bot=$(tui_line "$2")
        [[ $top == " dvault"* && $bot == F1Help* && $bot == *F10Quit* ]] &&
            [ "$(tui_screen | wc -l)" = "$2" ] && return 0
        sleep 0.1
    done
    fail "$1x$2: screen not whole (title on line 1, F-key bar on line $2)"
}

tui_start 120 40 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
tui_wait_for "none yet (F2 starts one)"
tui_wait_re 'databases +3$'
tui_wait_for "SYNCHRONIZED"

# Databases: figures from the backend (documents, NLO refs), never backed up yet
tui_keys 2; tui_wait_for "$first_db"; tui_wait_for "Last backup"
tui_screen | grep -E "$first_db" | grep -qF "never" || fail "last backup column"
tui_wait_re "$first_db.*[0-9.]+ KiB +[0-9]+ +[0-9]+ "

# start a backup of everything from the Sets screen; the job shows on the Jobs screen
tui_keys 3; tui_wait_for "no backup sets yet"
tui_keys F2; tui_wait_for "started"
tui_keys 6
# while the job runs (or just after), resize: the screen stays whole
tui_resize 80 24; tui_wait_for "6 Jobs"; whole 80 24
tui_resize 120 40; tui_wait_for "6 Jobs"; whole 120 40
tui_wait_for "full backup of all databases done" 300
tui_wait_re ' 1 +backup .* ok'
tui_wait_for "Events of this session"

# the new set on the Sets screen, newest first; Enter opens its databases
tui_keys 3; tui_wait_re '[0-9]{8}-[0-9]{6} +full .* 3 .*complete'
tui_keys Enter; tui_wait_for "3 databases"; tui_wait_for "$first_db"; tui_wait_for "applied"
tui_keys Escape; tui_wait_gone "SHA-256"

# the Overview shows the last backup
tui_keys 1; tui_wait_for "last backup"
tui_wait_re 'last backup.*[0-9]{8}-[0-9]{6} full complete'

# the Databases screen now knows the last backup
tui_keys 2; tui_wait_for "$first_db"
tui_wait_re "$first_db.*[0-9]{2}-[0-9]{2} [0-9:]{5} ok"

# a backup of one database (b), then a second full backup while resizing
tui_keys b; tui_wait_for "full backup of $first_db done" 300
tui_keys 3; tui_keys F2
tui_resize 80 24; whole 80 24
tui_resize 120 40; whole 120 40
tui_wait_for "full backup of all databases done" 300
[ "$(tui_screen | grep -cE '[0-9]{8}-[0-9]{6}(-[0-9]+)? +full ')" = 3 ] || fail "three sets"

# Objects: the live index view lists NLOs held by the pool; f cycles views
tui_keys 4; tui_wait_for "view: live index"
tui_wait_re '[0-9a-f]{20}.* 0001 .* yes'
tui_keys f; tui_wait_for "view: zero-ref"
tui_keys f; tui_wait_for "view: not yet backed up"; tui_wait_for "no NLOs in this view"
tui_keys f f f; tui_wait_for "view: live index"
# / finds an NLO by name prefix: the last one, searched from the top
tui_keys G; tui_sync
last=$(tui_screen | grep -oE '^ [0-9a-f]{80}' | tail -1 | tr -d ' ')
[ -n "$last" ] || fail "no NLO on the last page"
first=$(tui_screen | grep -oE '^ [0-9a-f]{80}' | head -1 | tr -d ' ')
tui_keys g; tui_sync
tui_keys /; tui_keys "${last:0:6}" Enter; tui_sync
tui_keys Enter; tui_wait_for "sets holding it"   # the detail of the row the search selected
tui_screen | grep -qF "$last" || fail "search by prefix did not select $last"
[ "$first" = "$last" ] || ! tui_screen | grep -qF "$first" || fail "the detail shows the first NLO, not the one searched"
tui_keys Escape; tui_wait_gone "sets holding it"
tui_keys g
tui_keys Enter; tui_wait_for "sets holding it"; tui_wait_for "complete"
tui_keys Escape; tui_wait_gone "sets holding it"

# restore into a new name (prefilled: the restore folder), newest complete set; the copy is
# not a server database, so the DAOS index stays SYNCHRONIZED
stem=${first_db%.nsf}
tui_keys 2 g r; tui_wait_for "Restore $first_db into"; tui_wait_for "restore/$stem--"
tui_keys Enter; tui_wait_for "Restore from which set"
tui_keys Enter; tui_wait_for "restore of $first_db into the restore folder"
tui_wait_for "restore folder done" 300
tui_keys 1 F5; tui_sync; tui_wait_re "DAOS index +SYNCHRONIZED"
tui_screen | grep -qF "press R to resync" && fail "a restore into the restore folder asks for a resync"
# a copy restored among the server's databases (--into a name the globs match) is counted:
# the index needs a resync, the Overview says so with a banner, R (confirmed) resyncs it
set_id=$("$DVAULT" -c "$d/config.yaml" sets 2>/dev/null | grep -oE '[0-9]{8}-[0-9]{6}' | head -1)
"$DVAULT" -c "$d/config.yaml" restore --set "$set_id" --db "$first_db" --into "${stem}-copy.nsf" \
    >/dev/null 2>&1 || fail "restore --into"
tui_keys F5; tui_wait_for "press R to resync"
tui_keys R; tui_wait_for "Rebuild the server"; tui_keys y
tui_wait_for "resync of the DAOS index done" 300; tui_wait_gone "press R to resync"
tui_screen | grep -E 'DAOS index' | grep -qF SYNCHRONIZED || fail "index not synchronized after resync"

# a failing job: an error dialog with the backend's message
mv "$d/backup" "$d/backup.real"; echo "not a directory" > "$d/backup" # (root ignores modes)
tui_keys 1 b; tui_wait_for "Job failed" 300
tui_screen | grep -qF "$d/backup" || fail "the error names the target"
tui_keys Enter; tui_wait_gone "Job failed"
rm "$d/backup"; mv "$d/backup.real" "$d/backup"

# quit: exit 0
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"
echo "console backup ok"

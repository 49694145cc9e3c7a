#!/bin/bash
# Console and a partial set (issue 11, case 2): a zero-byte database makes the backup partial;
# the Overview shows the last backup partial and warns, the Sets screen shows the set partial
# and, opened, the database it could not copy and why; the Databases screen marks it FAIL.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

tui_site 3 10 5
"$DVAULT" -c "$d/config.yaml" backup -q >/dev/null 2>&1 || { echo "FAIL: first backup"; exit 1; }
bad=$(cd "$d/data" && ls mail/*.nsf | head -1)
rm -f "$d/data/$bad-wal" "$d/data/$bad-shm"
: > "$d/data/$bad"
rc=0
"$DVAULT" -c "$d/config.yaml" backup -q >/dev/null 2>"$TUI_TMP/backup.err" || rc=$?
[ "$rc" = 1 ] && grep -q "is partial: 1 database(s) failed: $bad" "$TUI_TMP/backup.err" ||
    { echo "FAIL: the backup should be partial (exit $rc): $(cat "$TUI_TMP/backup.err")"; exit 1; }

tui_start 120 40 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
tui_wait_re 'last backup.*[0-9]{8}-[0-9]{6}(-[0-9]+)? full partial'
tui_wait_re 'sets +2 \(1 complete, 1 partial\)'
tui_wait_for "is partial: 1 database(s) could not be copied"

# Sets: the newest row is partial (2 databases)
tui_keys 3
tui_wait_re '[0-9]{8}-[0-9]{6}(-[0-9]+)? +full +[0-9:]+ +2 .* partial: 1 database\(s\) could not be copied'
# opened: the databases it holds, then the one it could not copy and why
tui_keys Enter
tui_wait_for "(partial): 2 databases, 1 failed"
tui_wait_for "could not be copied (the next"
tui_wait_re "$bad +FAILED: begin: empty file \(0 bytes\): not a database"
tui_keys Escape; tui_wait_gone "FAILED: begin"

# Databases: the broken one is marked FAIL (its last copy is older than the failure)
tui_keys 2; tui_wait_for "$bad"
tui_wait_re "$bad.*[0-9]{2}-[0-9]{2} [0-9:]{5} FAIL"

tui_keys F10
tui_wait_for SHELL-PROMPT
[ "$(tui_exit_status)" = 0 ] || fail "console exit status"
echo "console partial set ok"

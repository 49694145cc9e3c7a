#!/bin/bash
# Console, long text (issue 15 item 7): nothing cut is lost. A backup whose snapshot command
# fails with a long reason: the error dialog and the status line carry the reason; at 60
# columns the status line is cut and says "M:all", M shows the messages whole; on Jobs, v (and
# Enter) opens the job whole: its result and its events wrapped, the command's last stderr
# line readable to its last word; help at 60 columns wraps its descriptions under themselves.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

tui_site 2 5 3
# a snapshot command that fails, saying why on its last stderr line (the word at its end is
# what must be readable: ENOSPC-4711)
sed -i 's|^backup:$|backup:\n  snapshot_command: /bin/sh -c "echo noise >\&2; echo the snapshot volume of this server is completely full, nothing was copied ENOSPC-4711 >\&2; exit 3"|' \
    "$d/config.yaml"
grep -q ENOSPC-4711 "$d/config.yaml" || { echo "FAIL: config"; exit 1; }

tui_start 60 20 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Over" # 7 tabs at 60 columns: the names are cut
tui_keys F2; tui_wait_for "Job failed" 300
tui_wait_for "ENOSPC-4711" # the dialog wraps the reason whole
tui_keys Enter; tui_wait_gone "Job failed"
# the status line holds the reason, cut at 60 columns: it says where the rest is
tui_wait_for "M:all"
tui_line 19 | grep -q "full backup of all databases failed" || fail "status line: $(tui_line 19)"
tui_keys M; tui_wait_for "Last messages"
tui_wait_for "ENOSPC-4711"
tui_screen | grep -q "noise" && fail "stderr lines before the last one in the reason"
tui_keys Escape; tui_wait_gone "Last messages"

# Jobs: the Result column is cut; v opens the job whole, wrapped
tui_keys 6; tui_wait_re ' 1 +backup .*failed'
tui_screen | grep -q "ENOSPC-4711" && fail "the reason fits the Jobs row at 60 columns: the test proves nothing"
tui_keys v; tui_wait_for "Job 1: backup, failed"
tui_wait_for "Result: failed: full backup set"
# the reason on the Result line and on the ERROR event, both to their last word
n=$(tui_screen | grep -c "ENOSPC-4711")
[ "$n" -ge 1 ] || fail "the result is cut"
# the end of the view: the last event (the set failed) wrapped to its last word too
tui_keys G; tui_wait_for "ENOSPC-4711)"
tui_keys Escape; tui_wait_gone "Job 1: backup"
# Enter opens the same view
tui_keys Enter; tui_wait_for "Job 1: backup, failed"; tui_keys Escape; tui_wait_gone "Job 1: backup"

# help at 60 columns: descriptions wrap under themselves (the Jobs view key's text is long)
tui_keys '?'; tui_wait_for "Help  (Esc closes"
tui_wait_for "View the selected job whole"
# the continuation of that description starts in the description column, not at the left
tui_screen | grep -A1 "View the selected job whole" | tail -1 | grep -qE '^│ {14,}[a-z(]' ||
    fail "help did not wrap the description under itself"
tui_keys Escape; tui_wait_gone "Help  (Esc closes"
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "exit status"
echo "console long text ok"

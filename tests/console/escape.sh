#!/bin/bash
# Console and hostile text (issue 12, finding 12): a database whose file name holds ESC
# sequences (window title, screen clear), a C1 control and DEL fails the backup (zero bytes);
# the set's message in the catalog holds more of them. The Overview, the Sets screen and the
# opened set show them as \xNN (the console's one drawing function escapes what it draws),
# and the pane's title is not changed.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

tui_site 2 6 5
: > "$d/data/mail/"$'ev\e]0;pwned\a\e[2J\xc2\x9b\x7f.nsf'
rc=0
"$DVAULT" -c "$d/config.yaml" backup -q >/dev/null 2>"$TUI_TMP/backup.err" || rc=$?
[ "$rc" = 1 ] || { echo "FAIL: the backup should be partial (exit $rc): $(cat "$TUI_TMP/backup.err")"; exit 1; }
sqlite3 "$d/catalog.db" "UPDATE sets SET message = 'note' || char(27) || ']2;owned' || char(7) || char(155) || '; ' || message" ||
    { echo "FAIL: sqlite3"; exit 1; }

tui_start 160 40 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
tui_wait_for 'mail/ev\x1b]0;pwned\x07\x1b[2J\xc2\x9b\x7f.nsf'
tui_keys 3
tui_wait_for 'note\x1b]2;owned\x07\xc2\x9b'
tui_keys Enter
tui_wait_re 'mail/ev\\x1b\]0;pwned\\x07\\x1b\[2J\\xc2\\x9b\\x7f\.nsf +FAILED'
title=$(tmx display -p -t t '#{pane_title}')
case $title in *pwned* | *owned*) fail "the pane's title was set: $title" ;; esac
tui_keys Escape; tui_wait_gone "FAILED"
tui_keys F10
tui_wait_for SHELL-PROMPT
[ "$(tui_exit_status)" = 0 ] || fail "console exit status"
echo "console escape ok"

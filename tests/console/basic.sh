#!/bin/bash
# Console smoke test through tmux: layout, every screen, help, dialogs, search, filter, theme
# cycling, resizes down to "too small" and back, quit and terminal restore, signals, a bad
# theme and an unreadable data dir. Runs once per TERM in $TERMS (256 and 8 colours).
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 CLI missing"; exit 1; }

d=$TUI_TMP/site
mkdir -p "$d/var/data/mail"
ln -sfn "$SRC/themes" "$d/themes"
for db in mail/alice.nsf mail/bob.nsf names.nsf; do
    sqlite3 "$d/var/data/$db" 'PRAGMA journal_mode=WAL; CREATE TABLE dbinfo(key TEXT PRIMARY KEY, value TEXT);' >/dev/null
done
printf 'server: { daos_dir: daos }\nconsole: { theme: default }\n' > "$d/config.yaml"
"$DVAULT" -c "$d/config.yaml" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }

last_line() { tui_screen | sed -n "$1p"; }
whole() { # W H: title on the first line, function-key bar on the last
    local top bot
    top=$(tui_line 1); bot=$(tui_line "$2")
    [[ $top == " dvault"* ]] || fail "$1x$2: no title on line 1"
    [[ $bot == F1Help* && $bot == *F10Quit* ]] || fail "$1x$2: no F-key bar on line $2"
}

restore_default() { # the restore dialog's input field shows the row under the cursor
    local stem=${1%.nsf}
    tui_keys F6; tui_wait_for "Restore $1 into"
    tui_screen | grep -qE "[│|] restore/$stem(--[0-9]{8}-[0-9]{6}(-[0-9]+)?)?\.nsf +[│|]" ||
        fail "cursor is not on $1"
    tui_keys Escape; tui_wait_gone "Restore $1 into"
}

scenario() {
    tui_start 120 40 "$DVAULT" -c "$d/config.yaml"
    tui_wait_for "1 Overview"
    whole 120 40
    tui_line 1 | grep -qF "$d/var/data" || fail "data dir not in the title"
    tui_line 2 | grep -qE '1 Overview +2 Databases +3 Sets +4 Objects +5 Recovery +6 Jobs' ||
        fail "tab bar"
    tui_screen | grep -qE 'databases +3$' || fail "database count"
    tui_wait_for "shorter than the retention"

    # every screen by number, with its own keys on the bar
    tui_keys 2; tui_wait_for "mail/alice.nsf"; tui_wait_for "F6Restore"
    tui_screen | grep -qE 'names\.nsf +[0-9.]+ KiB +- +- +never' || fail "database columns"
    tui_keys 3; tui_wait_for "F8Prune"; tui_wait_for "no backup sets yet"
    tui_keys 4; tui_wait_for "NLO"; tui_wait_gone "F8Prune"
    tui_keys 5; tui_wait_for "F7Recover"
    tui_keys 6; tui_wait_for "F9Cancel"
    tui_keys 1; tui_wait_for "DAOS index"
    # Tab / Shift-Tab cycle (and wrap)
    tui_keys Tab; tui_wait_for "F6Restore"
    tui_keys BTab BTab; tui_wait_for "F8Delete" # wraps to the last tab, Restored
    tui_keys Tab; tui_wait_for "DAOS index"

    # help from the key tables, Esc closes
    tui_keys 2 '?'; tui_wait_for "Databases screen"; tui_wait_for "Everywhere"
    tui_screen | grep -qF "Next colour theme" || fail "help lacks the app keys"
    tui_keys Escape; tui_wait_gone "Databases screen"; tui_wait_for "mail/bob.nsf"

    # search moves the cursor: F6 offers the current row as the restore default
    tui_keys / n a m; tui_wait_for "/nam"; tui_keys Enter; tui_wait_gone "/nam"
    restore_default names.nsf
    tui_keys g; restore_default mail/alice.nsf
    tui_keys n; restore_default names.nsf
    tui_keys N; tui_wait_for "search wrapped"; restore_default names.nsf
    tui_keys G k; restore_default mail/bob.nsf  # G: tmux sends End as \e[4~, not xterm's
    # filter
    tui_keys F4; tui_wait_for "Show only rows"; tui_keys b o b Enter
    tui_wait_for "filter: bob"; tui_wait_gone "alice.nsf"
    tui_keys '\'; tui_wait_for "Show only rows"; tui_keys C-u Enter
    tui_wait_gone "filter: bob"; tui_wait_for "alice.nsf"

    # a destructive action asks; Enter takes the default (No)
    tui_keys 1 D; tui_wait_for "[ No ]"; tui_keys Enter; tui_wait_for "DAOS prune cancelled"
    # the target unmounted (moved away): the prune says so and names the way out
    mv "$d/var/backup" "$d/var/backup.away"
    tui_keys 3 F8; tui_wait_for "does not exist"; tui_wait_for "dvault target init"
    tui_keys Enter; tui_wait_gone "does not exist"
    [ ! -e "$d/var/backup" ] || fail "the console's prune created the missing target"
    mv "$d/var/backup.away" "$d/var/backup"
    # prune without a catalog: says so, changes nothing
    tui_keys 3 F8; tui_wait_for "nothing to prune"; tui_keys Enter; tui_wait_gone "nothing to prune"

    # themes cycle in name order without leaving garbage
    for th in high-contrast monochrome dark default; do
        tui_keys t; tui_wait_for "theme: $th"; whole 120 40
    done

    # resizes: each screen whole, too small says so, and back
    tui_resize 80 24; tui_wait_for "Prune"; whole 80 24
    tui_keys 2; tui_wait_for "alice.nsf"; whole 80 24
    tui_resize 50 12; tui_wait_for "terminal too small (50x12, need 60x16)"
    tui_keys 3  # ignored while too small
    tui_resize 60 16; tui_wait_for "6 Jobs"; whole 60 16
    tui_screen | grep -qF "alice.nsf" || fail "60x16 lost the screen (a key was taken while too small?)"
    tui_resize 120 40; tui_wait_for "F6Restore"; whole 120 40

    # quit: exit 0 and the terminal is back (the wrapper's line is all that shows)
    tui_keys q
    [ "$(tui_exit_status)" = 0 ] || fail "q: exit status $(tui_exit_status)"
    tui_wait_for SHELL-PROMPT
    tui_screen | grep -qF "F10Quit" && fail "screen not restored after quit"
    tmx kill-server

    # SIGTERM: the loop ends, the terminal is restored, exit 128+15
    tui_start 100 30 "$DVAULT" -c "$d/config.yaml"
    tui_wait_for "1 Overview"
    pid=$(pgrep -P "$(tmx display -p -t t '#{pane_pid}')" -x dvault)
    [ -n "$pid" ] || fail "no dvault process"
    kill -TERM "$pid"
    [ "$(tui_exit_status)" = 143 ] || fail "SIGTERM: exit status $(tui_exit_status)"
    tui_wait_for SHELL-PROMPT
    tui_screen | grep -qF "F10Quit" && fail "screen not restored after SIGTERM"
    tmx kill-server

    # an unreadable data dir: an error dialog, not a crash; the list shows the error
    mkdir -p "$d/bad"
    printf 'server: { data_dir: nowhere, daos_dir: daos }\n' > "$d/bad/config.yaml"
    tui_start 100 30 "$DVAULT" -c "$d/bad/config.yaml"
    tui_wait_for "1 Overview"; tui_wait_for "unreadable"
    tui_keys 2; tui_wait_for "[ OK ]"; tui_wait_for "nowhere"
    tui_keys Enter; tui_wait_gone "[ OK ]"; tui_wait_for "F6Restore"
    tui_keys q; [ "$(tui_exit_status)" = 0 ] || fail "quit after error"
    tmx kill-server
}

for TUI_TERM in ${TERMS:-xterm-256color xterm}; do
    echo "-- TERM=$TUI_TERM"
    scenario
done
echo "-- TERM=xterm NO_COLOR=1"
export NO_COLOR=1
TUI_TERM=xterm scenario
unset NO_COLOR

# TERM=vt100: no colours, no F5-F10 (unknown key sequences are ignored, not typed)
echo "-- TERM=vt100"
TUI_TERM=vt100
tui_start 80 24 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"; whole 80 24
tui_keys 2 F8; tui_wait_for "alice.nsf"; tui_sync
tui_screen | grep -qF "Last backup" || fail "an unknown key sequence left the Databases screen"
tui_keys '?'; tui_wait_for "Databases screen"; tui_keys Escape; tui_wait_gone "Databases screen"
tui_keys q; [ "$(tui_exit_status)" = 0 ] || fail "vt100 quit"
tmx kill-server

# a bad theme: its one line on stderr, exit 2, the terminal never touched
printf 'console: { theme: nope }\n' > "$d/nope.yaml"
out=$("$DVAULT" -c "$d/nope.yaml" 2>&1 </dev/null); rc=$?
[ $rc = 2 ] || { echo "FAIL: bad theme exit $rc"; exit 1; }
[ "$out" = "$d/themes/nope.yaml:1:1: cannot read theme: No such file or directory" ] ||
    { echo "FAIL: bad theme message: $out"; exit 1; }
echo "console basic ok"

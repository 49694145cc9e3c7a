#!/bin/bash
# tests/console/lib.sh - drive the real dvault console inside a private tmux server.
#
# Source it from a test:  . "$(dirname "$0")/lib.sh"
#   tui_start W H CMD...    start CMD (e.g. "$DVAULT" -c cfg.yaml) in a W x H pane
#   tui_keys KEY...         tmux send-keys (names like Tab, BTab, F1, Escape, Enter, C-l)
#   tui_screen              the pane's text now (capture-pane -p)
#   tui_wait_for TEXT       poll (50 x 0.1 s) until TEXT is on screen; else fail with a dump
#   tui_wait_gone TEXT      poll until TEXT is no longer on screen
#   tui_line N              line N of the screen (1-based)
#   tui_resize W H          resize the window (tmux >= 2.9)
#   tui_exit_status         after the program ended: its exit code (from the wrapper)
#   fail MSG                print MSG and the screen, exit 1
# The tmux server runs on its own socket (-L dvtest-PID) with no user config, so tests never
# touch the user's tmux; it is killed when the test exits. TERM inside the pane comes from
# $TUI_TERM (default xterm-256color).
#
# Run directly, this file tests the harness itself (a failing wait must fail).
set -u
TUI_SOCK="dvtest-$$"
TUI_TERM=${TUI_TERM:-xterm-256color}
TUI_TMP=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvconsole-XXXXXX")
unset TMUX TMUX_PANE
export TMUX_TMPDIR=$TUI_TMP  # the socket lives (and dies) with our temp dir

tmx() { tmux -L "$TUI_SOCK" -f /dev/null "$@"; }

tui_cleanup() {
    tmx kill-server >/dev/null 2>&1
    rm -rf "$TUI_TMP"
}
trap tui_cleanup EXIT

# The command runs under a wrapper that records its exit code and then keeps the pane open
# (showing what the program left on the terminal) so the test can look at it.
tui_start() { # W H CMD...
    local w=$1 h=$2; shift 2
    local q="" a
    for a in "$@"; do q="$q $(printf '%q' "$a")"; done
    printf '#!/bin/sh\nexport TERM=%q\n%s\necho "exit=$?" > %q.tmp && mv %q.tmp %q\nprintf "SHELL-PROMPT\\n"\nexec sleep 600\n' \
        "$TUI_TERM" "$q" "$TUI_TMP/status" "$TUI_TMP/status" "$TUI_TMP/status" > "$TUI_TMP/run.sh"
    rm -f "$TUI_TMP/status"
    local i
    for ((i = 0; i < 20; i++)); do # a server killed just before may still be going away
        tmx new-session -d -s t -x "$w" -y "$h" "sh $TUI_TMP/run.sh" 2>/dev/null && break
        sleep 0.1
    done
    [ $i -lt 20 ] || { echo "FAIL: cannot start tmux"; exit 1; }
    tmx set-option -t t status off >/dev/null
    tmx set-option -t t remain-on-exit on >/dev/null 2>&1
}

tui_keys() { tmx send-keys -t t "$@"; }
tui_screen() { tmx capture-pane -p -t t; }
tui_line() { tui_screen | sed -n "${1}p"; }
tui_resize() { tmx resize-window -t t -x "$1" -y "$2"; }

fail() {
    echo "FAIL: $*"
    echo "---- screen ($(tmx display -p -t t '#{pane_width}x#{pane_height}' 2>/dev/null)) ----"
    tui_screen 2>/dev/null | sed 's/^/|/'
    echo "----"
    exit 1
}

tui_wait_for() { # TEXT [tries]
    local i
    for ((i = 0; i < ${2:-100}; i++)); do
        tui_screen 2>/dev/null | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    fail "timed out waiting for '$1'"
}

tui_wait_re() { # EXTENDED-REGEX [tries]: like tui_wait_for, for a pattern
    local i
    for ((i = 0; i < ${2:-100}; i++)); do
        tui_screen 2>/dev/null | grep -qE -- "$1" && return 0
        sleep 0.1
    done
    fail "timed out waiting for /$1/"
}

# tui_sync: every key sent so far has been handled (keys are read in order: the help box that
# '?' opens shows only after them), the help box closed again. The screen as those keys left it.
tui_sync() {
    tui_keys '?'; tui_wait_for "Help  (Esc closes"
    tui_keys Escape; tui_wait_gone "Help  (Esc closes"
}
tui_wait_gone() { # TEXT [tries]
    local i
    for ((i = 0; i < ${2:-100}; i++)); do
        tui_screen 2>/dev/null | grep -qF -- "$1" || return 0
        sleep 0.1
    done
    fail "timed out waiting for '$1' to go away"
}

tui_exit_status() { # waits (5 s) for the program to end; prints its exit code
    local i
    for ((i = 0; i < 50; i++)); do
        [ -f "$TUI_TMP/status" ] && { sed 's/^exit=//' "$TUI_TMP/status"; return 0; }
        sleep 0.1
    done
    echo "running"
}

# Self-test of the harness when run directly (tests/run.sh runs every *.sh here).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    command -v tmux >/dev/null || { echo "FAIL: tmux not installed"; exit 1; }
    tui_start 40 10 sh -c 'echo harness-ready; read x; echo got-$x; exit 3'
    tui_wait_for harness-ready
    tui_keys hello Enter
    tui_wait_for got-hello
    [ "$(tui_exit_status)" = 3 ] || fail "exit status not recorded"
    tui_wait_for SHELL-PROMPT
    # a wait for text that never comes must fail (in a subshell so we survive it)
    if (tui_wait_for no-such-text 3 >/dev/null); then fail "wait_for did not fail"; fi
    [ "$(tmx display -p -t t '#{window_width}x#{window_height}')" = 40x10 ] || fail "size"
    tui_resize 50 12
    [ "$(tmx display -p -t t '#{window_width}x#{window_height}')" = 50x12 ] || fail "resize"
    echo "console harness ok"
fi

# tui_site DATABASES DOCS SEED [SERVER_KEY_LINE...]: the usual test site in $d ($TUI_TMP/site):
# a config (data, DAOS, key, target, catalog, default theme; extra server keys as given, e.g.
# "deferred_deletion_days: 40"), the server made by dvload init, the target by target init.
# Needs SRC, DVAULT and DVLOAD; exits the test on failure.
tui_site() {
    local dbs=$1 docs=$2 seed=$3 l
    shift 3
    d=$TUI_TMP/site
    mkdir -p "$d"
    ln -sfn "$SRC/themes" "$d/themes"
    { echo "server:"; echo "  data_dir: data"; echo "  daos_dir: daos"; echo "  key_file: server.key"
      for l in "$@"; do echo "  $l"; done
      echo "backup:"; echo "  target: backup"; echo "catalog: catalog.db"
      echo "console: { theme: default }"; } > "$d/config.yaml"
    "$DVLOAD" -c "$d/config.yaml" init --databases "$dbs" --docs "$docs" --seed "$seed" >/dev/null ||
        { echo "FAIL: dvload init"; exit 1; }
    "$DVAULT" -c "$d/config.yaml" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
}

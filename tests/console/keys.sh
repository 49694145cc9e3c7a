#!/bin/bash
# Keys and terminals (issue 15, items 1 and 2). Ctrl-C during a job asks what q asks ("cancel
# it and quit?"): No leaves the job running to its end (the hooks it runs are not interrupted
# either: ^C is a key, not a SIGINT to the process group), Yes cancels it, the job row says
# cancelled, exit 1 with a line on stderr. A SIGINT sent by kill asks the same. SIGTERM and
# SIGHUP during a job cancel it, wait for it, restore the terminal and exit 128+N with
# "dvault: terminated: job ... cancelled". Without a job ^C quits (also from under a dialog).
# A terminal without cursor addressing (TERM=dumb, an unknown TERM) or no terminal at all is
# refused with one line, exit 2. The job is held by its snapshot command (a gate file), so
# that nothing here depends on how fast the machine is.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

tui_site 3 10 15
cfg=$d/config.yaml
# the snapshot command copies a database only once $d/gate exists; $d/held says it waits
cat > "$d/hold.sh" <<'EOF'
#!/bin/sh
dir=$(dirname "$0")
: > "$dir/held"
while [ ! -e "$dir/gate" ]; do sleep 0.05; done
exec cp "$1" "$2"
EOF
sed -i "s|^  target: backup\$|  target: backup\n  snapshot_command: sh $d/hold.sh {src} {dst}|" "$cfg"
grep -qF "snapshot_command: sh $d/hold.sh" "$cfg" || { echo "FAIL: config not edited"; exit 1; }

JOB="full backup of all databases"
ASK="cancel it and quit?"

wait_file() { # FILE: poll (10 s at most) until it exists
    local i
    for ((i = 0; i < 200; i++)); do
        [ -e "$1" ] && return 0
        sleep 0.05
    done
    fail "timed out waiting for $1 (the job's snapshot command)"
}
console_pid() {
    local pid
    pid=$(pgrep -P "$(tmx display -p -t t '#{pane_pid}')" -x dvault)
    [ -n "$pid" ] || fail "no dvault process"
    echo "$pid"
}
start_held_backup() { # a full backup from the Sets screen, held in its first database
    rm -f "$d/gate" "$d/held"
    tui_keys 3; tui_wait_for "F2Backup"; tui_sync
    tui_keys F2; wait_file "$d/held"
    tui_wait_for "started"
}
jobs_status() { # the status of the newest backup job in the catalog's history
    "$DVAULT" -c "$cfg" jobs --limit 1 | awk '$2 == "backup" { print $7; exit }'
}
terminal_restored() { # the program's screen gone, the tty back in the shell's modes
    tui_wait_for SHELL-PROMPT
    tui_screen | grep -qF "F10Quit" && fail "screen not restored"
    [ "$(tmx display -p -t t '#{alternate_on}')" = 0 ] || fail "still on the alternate screen"
    local modes
    modes=$(stty -a < "$(tmx display -p -t t '#{pane_tty}')")
    grep -qE '(^| )icanon( |;|$)' <<<"$modes" || fail "tty left without icanon: $modes"
    grep -qE '(^| )echo( |;|$)' <<<"$modes" || fail "tty left without echo: $modes"
    grep -qF 'intr = ^C;' <<<"$modes" || fail "tty left without its interrupt key: $modes"
}

# 1. Ctrl-C during a job: the question names the job; No: the job goes on and finishes whole
tui_start 130 40 "$DVAULT" -c "$cfg"
tui_wait_for "1 Overview"
start_held_backup
tui_keys C-c; tui_wait_for "$ASK"
tui_screen | grep -qF "($JOB)" || fail "the question does not name the job"
tui_keys n; tui_wait_gone "$ASK"
# a SIGINT from kill asks the same; Esc is No too
kill -INT "$(console_pid)"; tui_wait_for "$ASK"
tui_keys Escape; tui_wait_gone "$ASK"
[ -f "$TUI_TMP/status" ] && fail "the console left after No"
: > "$d/gate"
tui_wait_for "$JOB done" 300
tui_keys Escape 3; tui_wait_re '[0-9]{8}-[0-9]{6} +full .* 3 .*complete'
[ "$(jobs_status)" = ok ] || fail "backup job row: $(jobs_status), expected ok"

# 2. Ctrl-C during another job, Yes: the console waits for the job to stop, exit 1, a line
start_held_backup
tui_keys C-c; tui_wait_for "$ASK"
tui_keys y
tui_wait_for "quit: cancelling $JOB"   # still waiting: the job holds in its snapshot command
[ -f "$TUI_TMP/status" ] && fail "left before the job stopped"
: > "$d/gate"
st=$(tui_exit_status)
[ "$st" = 1 ] || fail "quit with a job cancelled: exit status $st, expected 1"
tui_wait_for "dvault: quit: job $JOB cancelled"
terminal_restored
[ "$(jobs_status)" = cancelled ] || fail "backup job row: $(jobs_status), expected cancelled"
tmx kill-server

# 3. SIGTERM and SIGHUP during a job: cancelled, waited for, terminal restored, 128+N
for sig in TERM:143 HUP:129; do
    tui_start 130 40 "$DVAULT" -c "$cfg"
    tui_wait_for "1 Overview"
    start_held_backup
    kill -"${sig%:*}" "$(console_pid)"
    tui_wait_for "terminated: cancelling $JOB"
    [ -f "$TUI_TMP/status" ] && fail "SIG${sig%:*}: left before the job stopped"
    : > "$d/gate"
    st=$(tui_exit_status)
    [ "$st" = "${sig#*:}" ] || fail "SIG${sig%:*}: exit status $st, expected ${sig#*:}"
    tui_wait_for "dvault: terminated: job $JOB cancelled"
    terminal_restored
    [ "$(jobs_status)" = cancelled ] || fail "SIG${sig%:*}: job row: $(jobs_status)"
    tmx kill-server
done

# 4. without a job Ctrl-C quits at once (exit 0), also from under a dialog (the help box)
tui_start 130 40 "$DVAULT" -c "$cfg"
tui_wait_for "1 Overview"
tui_keys C-c
[ "$(tui_exit_status)" = 0 ] || fail "^C without a job: exit status $(tui_exit_status)"
terminal_restored
tmx kill-server
tui_start 130 40 "$DVAULT" -c "$cfg"
tui_wait_for "1 Overview"
tui_keys '?'; tui_wait_for "Help  (Esc closes"
tui_screen | grep -qF "F10, q, ^C" || fail "help does not list ^C with the quit keys"
tui_keys C-c
[ "$(tui_exit_status)" = 0 ] || fail "^C under the help box: exit status $(tui_exit_status)"
tmx kill-server

# 5. no cursor addressing: refused before curses starts, one line, exit 2
use="use the commands (dvault help) instead"
for term in dumb unknown-term-xyz; do
    TUI_TERM=$term tui_start 200 10 "$DVAULT" -c "$cfg"
    st=$(tui_exit_status)
    [ "$st" = 2 ] || fail "TERM=$term: exit status $st, expected 2"
    tui_wait_for "dvault: the console needs a terminal with cursor addressing (TERM=$term"
    tui_wait_for "$use"
    tmx kill-server
done
TUI_TERM="" tui_start 200 10 "$DVAULT" -c "$cfg"
[ "$(tui_exit_status)" = 2 ] || fail "TERM empty: exit status $(tui_exit_status), expected 2"
tui_wait_for "dvault: the console needs a terminal with cursor addressing (TERM is not set): $use"
tmx kill-server
out=$("$DVAULT" -c "$cfg" 2>&1 </dev/null); rc=$?
[ $rc = 2 ] || { echo "FAIL: stdin not a terminal: exit $rc"; exit 1; }
[ "$out" = "dvault: the console needs a terminal (stdin is not one): $use" ] ||
    { echo "FAIL: stdin not a terminal: $out"; exit 1; }
out=$(TERM=dumb "$DVAULT" -c "$cfg" 2>&1 </dev/null); rc=$?
[ $rc = 2 ] && [ "$(wc -l <<<"$out")" = 1 ] || { echo "FAIL: TERM=dumb, no tty: $rc $out"; exit 1; }
echo "console keys ok"

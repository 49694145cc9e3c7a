#!/bin/bash
# Console, where the target is (issue 17): the Overview and the Sets screen say where the
# backup target is and its Object Lock, from the configuration (target_where.h: no lock
# taken, no request sent). A directory target: its path and "no Object Lock"; an S3 target
# on the test gateway (target init makes the bucket with Object Lock): s3://BUCKET/PREFIX and
# the endpoint, "governance, 2 days"; at 80x24 (the compact Overview; Sets on two lines below
# the list) and at 100x30 (the endpoint and region on their own line; Sets on one line), each
# line whole, nothing cut; the spool directory's name, which holds an escape sequence, is
# shown escaped (\x1b) and never reaches the terminal; the WAL archive line says where the
# archiver keeps one.
# needs: gateway (tests/run.sh starts it once; run alone, this script starts its own)
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
OWN_GW=""
if [ -z "${GW_ENDPOINT:-}" ]; then
    out=$("$SRC/tests/gw/ceph.sh" start) || { echo "FAIL: the gateway did not start"; exit 1; }
    OWN_GW=${out#GW_DIR=}
    eval "$("$SRC/tests/gw/ceph.sh" env "$OWN_GW")"
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
fi
trap 'tui_cleanup; [ -n "$OWN_GW" ] && "$SRC/tests/gw/ceph.sh" stop "$OWN_GW"' EXIT

# the line of the screen holding TEXT (fixed string), or fail
line_with() { tui_screen | grep -F -- "$1" | head -1; }
# TEXT is on the screen whole, on one line
whole() { tui_wait_for "$1"; }

# ---- a directory target ----
tui_site 2 4 7
"$DVAULT" -c "$d/config.yaml" backup -q >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
tui_start 100 30 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "last backup"; tui_sync
whole "target          $d/backup"
whole "Object Lock     no Object Lock: a directory target"
tui_keys 3; tui_wait_for "Kind"; tui_sync
whole " target $d/backup: a directory, no Object Lock"
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"
tmx kill-server >/dev/null 2>&1

# ---- an S3 target with Object Lock ----
B=dvux-$$
cat > "$d/s3.yaml" <<EOF2
server:
  data_dir: data
  daos_dir: daos
  key_file: server.key
backup:
  target: s3://$B/srv1
  s3:
    endpoint: $GW_ENDPOINT
    region: $GW_REGION
    object_lock_days: 2
    object_lock_mode: governance
    cache: "$d/spool\\e]0;pwned\\a"
catalog: s3-catalog.db
console: { theme: default }
EOF2
"$DVAULT" -c "$d/s3.yaml" target init >"$TUI_TMP/init.out" 2>&1 ||
    { echo "FAIL: target init on the bucket: $(cat "$TUI_TMP/init.out")"; exit 1; }
url="s3://$B/srv1"
esc_spool="$d/spool\\x1b]0;pwned\\x07"

tui_start 80 24 "$DVAULT" -c "$d/s3.yaml"
tui_wait_for "last backup"; tui_sync
whole "target          $url at $GW_ENDPOINT"
whole "Object Lock     governance, 2 days"
tui_screen | grep -qF "target space" && fail "80x24, S3: a free-space line for a bucket"
tui_keys 3; tui_wait_for "Kind"; tui_sync
whole " target $url at $GW_ENDPOINT"
l=$(line_with " Object Lock governance, 2 days")
[ -n "$l" ] || fail "80x24: Sets: no Object Lock line"
# the two lines are the last two of the body (the function-key bar is line 24, line 23 empty)
tui_line 21 | grep -qF " target $url at $GW_ENDPOINT" || fail "80x24: Sets: the target is not on line 21"
tui_line 22 | grep -qF " Object Lock governance, 2 days" || fail "80x24: Sets: the lock is not on line 22"

# a backup from the console (F2) on the bucket: the job runs and ends as any job (Jobs shows
# its result), the set is listed, the lines stay
tui_keys 1; tui_wait_for "none yet (F2 starts one)"; tui_keys F2
tui_wait_re "last backup +[0-9]{8}-[0-9]{6} full complete" 600
tui_keys 6; tui_wait_re "full set [0-9]{8}-[0-9]{6} complete"
tui_keys 3; tui_wait_re "[0-9]{8}-[0-9]{6} +full .*complete"; tui_sync
tui_line 21 | grep -qF " target $url at $GW_ENDPOINT" || fail "80x24: Sets after the backup: line 21"
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"
tmx kill-server >/dev/null 2>&1

# 100x30, while another process holds the target's lock (a backup running elsewhere): the
# console reads where the target is and its identity without taking it
id=$("$DVAULT" -c "$d/s3.yaml" target show | sed -n 's/^id: *//p')
[ -n "$id" ] || { echo "FAIL: target show gave no id"; exit 1; }
(exec 9>"$d/spool"$'\e]0;pwned\a'/lock && flock 9 && exec sleep 600) &
holder=$!
trap 'kill $holder 2>/dev/null; tui_cleanup; [ -n "$OWN_GW" ] && "$SRC/tests/gw/ceph.sh" stop "$OWN_GW"' EXIT
for _ in $(seq 1 50); do
    "$DVAULT" -c "$d/s3.yaml" backup -q >/dev/null 2>"$TUI_TMP/busy" || break
    sleep 0.1
done
grep -q "busy" "$TUI_TMP/busy" || { echo "FAIL: the lock is not held: $(cat "$TUI_TMP/busy")"; exit 1; }
tui_start 100 30 "$DVAULT" -c "$d/s3.yaml"
tui_wait_for "last backup"; tui_sync
whole "target id       $id"
whole "target          $url"
whole "endpoint        $GW_ENDPOINT (region $GW_REGION)"
whole "Object Lock     governance, 2 days: every object kept 2 days from its upload"
whole "spool           $esc_spool"
whole "archive         none (dvault archive --follow keeps one in the bucket)"
title=$(tmx display -p -t t '#{pane_title}')
case $title in *pwned*) fail "the pane's title was set: $title" ;; esac
tui_keys 3; tui_wait_for "Kind"; tui_sync
whole " target $url at $GW_ENDPOINT   Object Lock governance, 2 days"
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"
echo "console s3_where ok"

#!/bin/bash
# The Overview shows the WAL archive (issue 13): one line for all databases (size on disk and
# raw, observation error), its span, the archiver's last confirmation ("not running?" when it
# is more than a minute old); at 80x24 the warnings still show (the paths are left out); on a
# tall screen each database's archive is listed; the Databases screen has an Archive column
# (left out at 60 columns, where the names need the room).
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

d=$TUI_TMP/site
mkdir -p "$d"
ln -sfn "$SRC/themes" "$d/themes"
cat > "$d/config.yaml" <<CFG
server:
  data_dir: data
  daos_dir: daos
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
console: { theme: default }
CFG
"$DVLOAD" -c "$d/config.yaml" init --databases 2 --docs 8 --seed 9 >/dev/null ||
    { echo "FAIL: dvload init"; exit 1; }
"$DVAULT" -c "$d/config.yaml" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
"$DVAULT" -c "$d/config.yaml" archive >/dev/null 2>&1 || { echo "FAIL: archive"; exit 1; }
"$DVAULT" -c "$d/config.yaml" backup -q >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
# the archiver's run record, confirmed two minutes ago: it stopped
run=$(ls "$d/backup/archive/runs/"*.json)
python3 - "$run" <<'PY' || { echo "FAIL: run record"; exit 1; }
import json, sys, time
r = json.load(open(sys.argv[1]))
r["confirmed_us"] = int((time.time() - 120) * 1e6)
r["started_us"] = min(r["started_us"], r["confirmed_us"])
json.dump(r, open(sys.argv[1], "w"))
PY

tui_start 80 24 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
tui_wait_re 'archive +2 databases, [0-9.]+ [KMG]?i?B \([0-9.]+ [KMG]?i?B raw\), error <= [0-9]+ ms'
tui_wait_re 'archive span +from [0-9-]{10} [0-9:]{8} to '
tui_wait_re 'archiver +confirmed up to .*\(2 min ago\): not running\?'
tui_wait_for " Warnings"
tui_wait_for "deferred_deletion_days" # a warning's text, below the archive lines
[ "$(tui_line 24 | cut -c1-6)" = F1Help ] || fail "80x24: no F-key bar on line 24"
if tui_screen | grep -q "catalog.db"; then fail "80x24 shows the catalog path"; fi
tui_keys 2
tui_wait_re 'Last backup +Archive'
tui_wait_re 'mail/[a-z]+\.nsf .* ok +[0-9.]+ B$'
tui_resize 60 16 # too narrow for it: the names keep their room
tui_wait_gone "Archive"
tui_wait_re ' mail/[a-z]+\.nsf +[0-9.]+ KiB'

tui_resize 120 40
tui_keys 1
tui_wait_for "catalog.db"
tui_wait_re 'archive +2 databases, .*, observation error <= [0-9]+ ms'
tui_wait_for " Archive by database"
tui_wait_re '  mail/[a-z]+\.nsf: [0-9.]+ B \(0 B raw\), from '
tui_keys q
tui_wait_for "SHELL-PROMPT"
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"
echo "console overview_archive: ok"

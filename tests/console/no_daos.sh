#!/bin/bash
# Console on a server without DAOS (issue 11: server.daos_dir absent): the Overview says there
# is no DAOS repository, the Objects screen and the Recovery screen's missing-NLO panel say
# "this server has no DAOS repository" instead of listing, and their NLO keys (and Overview's
# resync) answer with that message instead of starting anything; single-document recovery
# stays offered. The console quits cleanly.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
MSG="this server has no DAOS repository"

d=$TUI_TMP/site
mkdir -p "$d"
ln -sfn "$SRC/themes" "$d/themes"
cat > "$d/config.yaml" <<CFG
server:
  data_dir: data
  min_object_size: 1024
backup:
  target: backup
catalog: catalog.db
console: { theme: default }
CFG
"$DVLOAD" -c "$d/config.yaml" init --databases 2 --docs 8 --seed 9 >/dev/null ||
    { echo "FAIL: dvload init"; exit 1; }
"$DVAULT" -c "$d/config.yaml" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
"$DVAULT" -c "$d/config.yaml" backup -q >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }

tui_start 120 40 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
tui_wait_for "none: $MSG"
if tui_screen | grep -q "DAOS index"; then fail "Overview shows a DAOS index"; fi
tui_keys R
tui_wait_for "no NLOs here"
if tui_screen | grep -q "Rebuild the server's DAOS index"; then fail "Overview R offered a resync"; fi

tui_keys 4
tui_wait_for "$MSG (server.daos_dir is not set)"
tui_wait_for "no DAOS index, no NLO pool"
tui_keys f
tui_wait_for "no NLOs here"

tui_keys 5
tui_wait_for "$MSG (server.daos_dir is not set): no NLOs to recover"
tui_wait_for "F6 (u) single-document recovery"
tui_keys F2
tui_wait_for "no NLOs here"
if tui_screen | grep -q "Database (relative to data_dir)"; then fail "Recovery F2 asked for a database"; fi

tui_keys q
tui_wait_for "SHELL-PROMPT"
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"
echo "console no_daos: ok"

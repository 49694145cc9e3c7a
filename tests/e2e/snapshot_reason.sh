#!/bin/bash
# snapshot_reason.sh - a failing snapshot_command never loses its reason: the backup's error,
# the job history's message and the set's failure record name the command, its exit status
# (or signal) and the LAST line of its stderr (not a fold of all of it); a command that exits 0
# without making the copy says so; an ok backup job says which set it made, full or
# incremental.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPDIR:-/tmp}/dvsnapmsg.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

config() { # SNAPSHOT_COMMAND_YAML
    cat >"$T/config.yaml" <<CFG
server:
  data_dir: data
  daos_dir: daos
  key_file: server.key
backup:
  target: backup
  snapshot_command: $1
catalog: catalog.db
CFG
}
C=(-c "$T/config.yaml")
config '""'
"$DVLOAD" "${C[@]}" init --databases 2 --docs 5 --seed 3 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"
last_job_message() {
    "$DVAULT" "${C[@]}" jobs --json --limit 1 |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["message"])'
}

step "a command that fails: its status and the last line of its stderr"
config '/bin/sh -c "echo progress noise >&2; echo no space left on the snapshot volume >&2; echo >&2; exit 3"'
if "$DVAULT" "${C[@]}" backup >"$T/out" 2>"$T/err"; then fail "backup with a failing snapshot command succeeded"; fi
want="snapshot command /bin/sh exited with 3: no space left on the snapshot volume"
grep -qF "dvault: full backup set" "$T/err" || fail "the error does not say the kind: $(tail -1 "$T/err")"
tail -1 "$T/err" | grep -qF "$want" || fail "the final error lost the reason: $(tail -1 "$T/err")"
grep -q "progress noise" "$T/err" && fail "earlier stderr lines folded into the reason: $(grep noise "$T/err")"
msg=$(last_job_message)
[[ $msg == *"$want"* ]] || fail "job message: $msg"
reason=$(sqlite3 "$T/catalog.db" "SELECT reason FROM set_failures LIMIT 1")
[[ $reason == *"$want" ]] || fail "set failure reason: $reason"

step "killed by a signal, nothing on stderr"
printf '#!/bin/sh\nkill -9 $$\n' >"$T/die.sh"
chmod +x "$T/die.sh"
config "$T/die.sh"
if "$DVAULT" "${C[@]}" backup >"$T/out" 2>"$T/err"; then fail "backup succeeded"; fi
tail -1 "$T/err" | grep -qE "snapshot command $T/die.sh killed by signal 9\)?$" ||
    fail "signal: $(tail -1 "$T/err")"

step "exits 0 without making the copy"
config 'true'
if "$DVAULT" "${C[@]}" backup >"$T/out" 2>"$T/err"; then fail "backup succeeded"; fi
tail -1 "$T/err" | grep -qF "snapshot command true exited 0 but left no copy at {dst}" ||
    fail "no copy: $(tail -1 "$T/err")"

step "an ok backup job names its set and kind"
config '""'
"$DVAULT" "${C[@]}" backup >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "backup"; }
msg=$(last_job_message)
[[ $msg =~ ^full\ set\ [0-9]{8}-[0-9]{6}(-[0-9]+)?\ complete ]] || fail "ok job message: '$msg'"
"$DVAULT" "${C[@]}" backup --incremental >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "incremental"; }
msg=$(last_job_message)
[[ $msg =~ ^incremental\ set\ .*\ complete ]] || fail "incremental job message: '$msg'"
echo "snapshot reason ok"

#!/bin/bash
# hostile_escape.sh - issue 12, finding 12, end to end with the real binaries: nothing raw
# reaches a terminal. Text taken from the live server (a database file name, a document's
# subject), the catalog (a set's message, as a rebuilt manifest can put there) and the target
# (target.json) may hold ESC sequences that clear the operator's screen or set the window
# title, C1 controls (U+009B is CSI) and DEL. `sets`, `status`, `backup`, `doc list`,
# `target show` and error messages print them escaped as \xNN; `sets --json` and
# `status --json` stay valid JSON with the exact text (JSON escapes).
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed"; exit 1; }
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvescape-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

# no_raw NAME FILE: FILE has no byte that drives a terminal: C0 controls but newline, DEL,
# C1 controls (raw, or as UTF-8 U+0080..U+009F), bytes that are not UTF-8
no_raw() {
    python3 - "$1" "$2" <<'PY' || fail "$1: raw control bytes reach the terminal"
import re, sys
name, data = sys.argv[1], open(sys.argv[2], "rb").read()
try:
    text = data.decode("utf-8")
except UnicodeDecodeError as e:
    print("%s: not UTF-8 at byte %d: %r" % (name, e.start, data[max(0, e.start - 20):e.start + 20]))
    sys.exit(1)
bad = [m for m in re.finditer(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)]
for m in bad[:5]:
    print("%s: raw U+%04X in %r" % (name, ord(m.group()), text[max(0, m.start() - 30):m.end() + 30]))
sys.exit(1 if bad else 0)
PY
}

cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf"]
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF
C=(-c "$T/config.yaml")
D=$T/data
"$DVLOAD" "${C[@]}" init --databases 2 --docs 8 --seed 4 >/dev/null || fail "dvload init"
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"

step "a database whose name sets the window title and clears the screen (zero bytes: it fails)"
EVIL=$'mail/evil\e]0;pwned\a\e[2J\xc2\x9b2J\x7f.nsf'
: >"$D/$EVIL"
rc=0
"$DVAULT" "${C[@]}" backup >"$T/b.out" 2>"$T/b.err" || rc=$?
[ "$rc" = 1 ] || { cat "$T/b.out" "$T/b.err"; fail "backup with a failing database: exit $rc, expected 1 (partial)"; }
no_raw "backup (stdout)" "$T/b.out"
no_raw "backup (stderr)" "$T/b.err"
grep -q 'mail/evil\\x1b\]0;pwned\\x07\\x1b\[2J\\xc2\\x9b2J\\x7f\.nsf' "$T/b.err" ||
    { cat "$T/b.err"; fail "backup does not name the database escaped"; }
SET=$("$DVAULT" "${C[@]}" sets --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

step "sets and status show it escaped"
"$DVAULT" "${C[@]}" sets >"$T/sets" 2>&1 || fail "sets"
cat "$T/sets"
no_raw "sets" "$T/sets"
grep -q 'failed: mail/evil\\x1b\]0;pwned\\x07\\x1b\[2J\\xc2\\x9b2J\\x7f\.nsf: ' "$T/sets" ||
    fail "sets does not show the failed database escaped"
"$DVAULT" "${C[@]}" status >"$T/status" 2>&1 || { cat "$T/status"; fail "status"; }
cat "$T/status"
no_raw "status" "$T/status"
grep -q 'evil\\x1b\]0;pwned\\x07' "$T/status" || fail "status does not show the failed database escaped"

step "a set message with escape sequences (as a rebuilt manifest can bring)"
MSG=$'done\e]2;owned\a\e[H\e[2J\xc2\x9b31m\x7f'
sqlite3 "$T/catalog.db" "UPDATE sets SET message = CAST(X'$(printf '%s' "$MSG" | od -An -tx1 | tr -d ' \n')' AS TEXT) WHERE id = '$SET'"
"$DVAULT" "${C[@]}" sets >"$T/sets2" 2>&1 || fail "sets (2)"
no_raw "sets (message)" "$T/sets2"
grep -q '^    done\\x1b\]2;owned\\x07\\x1b\[H\\x1b\[2J\\xc2\\x9b31m\\x7f$' "$T/sets2" ||
    { cat "$T/sets2"; fail "sets does not show the message escaped"; }
"$DVAULT" "${C[@]}" status >"$T/status2" 2>&1 || { cat "$T/status2"; fail "status (2)"; }
no_raw "status (message)" "$T/status2"
grep -q "^last backup $SET .*: done\\\\x1b\]2;owned\\\\x07" "$T/status2" ||
    { cat "$T/status2"; fail "status does not show the message escaped"; }

step "JSON: valid, no raw control bytes, the exact text"
"$DVAULT" "${C[@]}" sets --json >"$T/sets.json" || fail "sets --json"
"$DVAULT" "${C[@]}" status --json >"$T/status.json" || fail "status --json"
no_raw "sets --json" "$T/sets.json"
no_raw "status --json" "$T/status.json"
python3 - "$T/sets.json" "$T/status.json" "$MSG" "$EVIL" <<'PY' || fail "JSON output"
import json, sys
sets, status = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
msg, evil = sys.argv[3], sys.argv[4]
s = sets[0]
assert s["message"] == msg, (s["message"], msg)
assert [f["db_path"] for f in s["failed_databases"]] == [evil], s["failed_databases"]
assert status["last_backup"]["failed_databases"][0]["db_path"] == evil, status["last_backup"]
PY
echo "ok: JSON carries the exact text"

step "doc list: a subject from a database"
sqlite3 "$D/mail/alice.nsf" "UPDATE notes SET subject = 'hi' || char(27) || ']0;doc' || char(7) || char(155) || 'x' WHERE note_id = (SELECT min(note_id) FROM notes)"
"$DVAULT" "${C[@]}" doc list mail/alice.nsf >"$T/docs" 2>&1 || { cat "$T/docs"; fail "doc list"; }
no_raw "doc list" "$T/docs"
grep -q 'hi\\x1b\]0;doc\\x07\\xc2\\x9bx' "$T/docs" || { cat "$T/docs"; fail "doc list does not show the subject escaped"; }

step "target show: target.json is the target's"
python3 - "$T/backup/target.json" <<'PY'
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["server"]["host"] = "srv\x1b]0;tgt\x07\u009b"
open(p, "w").write(json.dumps(j))
PY
"$DVAULT" "${C[@]}" target show >"$T/ts" 2>&1 || { cat "$T/ts"; fail "target show"; }
no_raw "target show" "$T/ts"
grep -q 'srv\\x1b\]0;tgt\\x07\\xc2\\x9b' "$T/ts" || { cat "$T/ts"; fail "target show does not show the host escaped"; }

step "error messages quote arguments and files escaped"
rc=0
"$DVAULT" "${C[@]}" restore --set $'x\e]0;err\a\xc2\x9b' --db mail/alice.nsf --into mail/x.nsf >"$T/e.out" 2>"$T/e.err" || rc=$?
[ "$rc" != 0 ] || fail "restore of an unknown set succeeded"
no_raw "error" "$T/e.err"
grep -q 'x\\x1b\]0;err\\x07\\xc2\\x9b' "$T/e.err" || { cat "$T/e.err"; fail "the error does not quote the set id escaped"; }
echo "ok"

#!/bin/bash
# catalog_readers.sh - issue 14: a command that only reads the catalog never creates one
# (catalog_open_existing). Before any backup: `sets` and `sets --json` list nothing, `status`
# reports no backup yet, `verify` says there is no catalog; none of them
# leaves a catalog.db behind. The first backup creates it; the readers then read it.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvcatread.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/config.yaml" <<EOF2
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf"]
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF2
C=(-c "$T/config.yaml")
"$DVLOAD" "${C[@]}" init --databases 2 --docs 5 --seed 3 >/dev/null || fail "dvload init"
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"
nocat() { [ ! -e "$T/catalog.db" ] || fail "$1 created the catalog"; }

step "no backup yet: the readers create no catalog"
"$DVAULT" "${C[@]}" sets >"$T/sets" || fail "sets without a catalog"
grep -q "no backup sets yet" "$T/sets" || { cat "$T/sets"; fail "sets: not 'no backup sets yet'"; }
nocat "sets"
[ "$("$DVAULT" "${C[@]}" sets --json)" = "[]" ] || fail "sets --json without a catalog is not []"
nocat "sets --json"
"$DVAULT" "${C[@]}" status --json >"$T/status.json" || fail "status --json"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["sets"]==0 and s["last_backup"] is None, s' \
    "$T/status.json" || fail "status --json without a catalog"
grep -q "catalog unreadable" "$T/status.json" && fail "status: a missing catalog is not unreadable"
nocat "status"
if "$DVAULT" "${C[@]}" verify >"$T/verify" 2>&1; then fail "verify without a catalog exits 0"; fi
grep -q "no catalog yet" "$T/verify" || { cat "$T/verify"; fail "verify does not say 'no catalog yet'"; }
nocat "verify"

step "a backup creates it; the readers read it"
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup"
[ -f "$T/catalog.db" ] || fail "backup did not create the catalog"
n=$("$DVAULT" "${C[@]}" sets --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 1 ] || fail "sets --json after a backup: $n sets"
"$DVAULT" "${C[@]}" verify >/dev/null || fail "verify after a backup"
echo "ok: readers never create the catalog"

#!/bin/bash
# trust_keys.sh - dvault never creates the server key (issue 11.5). With the key file missing,
# read-only commands (status, sets, config --check, daos status, listnlo, whereis) leave it
# missing and status / config --check warn; recover, which reads back what it installs, fails
# with one line naming the file, recovering nothing. A too-open key is the same; a wrong key
# gives the whole "authentication failed (wrong server key or damaged file)" message, never cut.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvtrust-keys.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/c.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  min_object_size: 1024
  encryption: true
  key_file: keys/server.key
backup:
  target: backup
catalog: catalog.db
EOF
D=("$DVAULT" -c "$T/c.yaml")
K=$T/keys/server.key
"${D[@]}" target init >/dev/null
"$DVLOAD" -c "$T/c.yaml" init --databases 2 --docs 8 --seed 11 >/dev/null
[ -f "$K" ] && [ "$(stat -c %a "$K")" = 600 ] || fail "dvload init (the server) creates its key 0600"
"${D[@]}" backup -q >/dev/null || fail "backup"
set=$("${D[@]}" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)
db=mail/$(ls "$T/data/mail" | grep -m1 '\.nsf$')
nlo=$(sqlite3 "file:$T/data/$db?mode=ro" "SELECT nlo FROM attachments WHERE nlo IS NOT NULL LIMIT 1")
live=$(find "$T/data/daos" -name "$nlo")
[ -n "$live" ] || fail "no live NLO $nlo"
mv "$K" "$T/saved.key"
rm "$live" # the NLO to recover

step "a missing key: read-only commands do not create one"
# status and config --check exit 1 on a missing key (issue 15), naming it on stderr
set +e; "${D[@]}" status >"$T/status.out" 2>"$T/status.err"; rc=$?; set -e
[ "$rc" = 1 ] || fail "status with a missing key: exit $rc, want 1"
grep -q "^dvault: .*$K does not exist" "$T/status.err" || fail "status: $(cat "$T/status.err")"
[ ! -e "$K" ] || fail "status created a server key"
grep -q "^warning .*$K does not exist" "$T/status.out" || { cat "$T/status.out"; fail "status does not warn about the missing key"; }
"${D[@]}" sets >/dev/null || fail "sets"
"${D[@]}" sets --json >/dev/null || fail "sets --json"
set +e; "${D[@]}" config --check >"$T/check.out" 2>"$T/check.err"; rc=$?; set -e
[ "$rc" = 1 ] || fail "config --check with a missing key: exit $rc, want 1"
grep -q "^dvault: .*$K does not exist" "$T/check.err" || { cat "$T/check.err"; fail "config --check does not name the key"; }
grep -q "NOT ok (1 problem)" "$T/check.out" || fail "config --check: $(cat "$T/check.out")"
"${D[@]}" daos status >/dev/null || fail "daos status needs no key"
"${D[@]}" listnlo missing "$db" >/dev/null || fail "listnlo needs no key"
"${D[@]}" whereis "$nlo" >/dev/null || fail "whereis needs no key"
[ ! -e "$K" ] || fail "a read-only command created a server key"
[ -z "$(ls -A "$T/keys")" ] || fail "something was written next to the key: $(ls -A "$T/keys")"

step "a missing key: recover fails with one line naming the file, recovers nothing"
if "${D[@]}" recover --db "$db" >"$T/r.out" 2>"$T/r.err"; then fail "recover without the key succeeded"; fi
[ "$(grep -c . "$T/r.err")" = 1 ] || { cat "$T/r.err"; fail "more than one line"; }
grep -qF "server key file $K does not exist" "$T/r.err" || { cat "$T/r.err"; fail "the error does not name the key file"; }
grep -q "^recovered" "$T/r.out" && { cat "$T/r.out"; fail "recover claims an NLO recovered"; }
[ -z "$(find "$T/data/daos" -name "$nlo")" ] || fail "recover installed an NLO it could not check"
[ ! -e "$K" ] || fail "recover created a server key"

step "a too-open key: refused by recover, a warning in status"
cp "$T/saved.key" "$K"; chmod 644 "$K"
if "${D[@]}" recover --db "$db" >"$T/r.out" 2>"$T/r.err"; then fail "recover with a 0644 key succeeded"; fi
grep -qF "$K has mode 0644, it must be 0600" "$T/r.err" || { cat "$T/r.err"; fail "the error does not say 0600"; }
"${D[@]}" status | grep -q "^warning .*$K has mode 0644" || fail "status does not warn about the key mode"

step "a wrong key: the whole message, not cut"
python3 -c 'import os; print(os.urandom(32).hex())' >"$K"; chmod 600 "$K"
if "${D[@]}" recover --db "$db" >"$T/r.out" 2>"$T/r.err"; then fail "recover with a wrong key succeeded"; fi
grep -qF "$nlo: authentication failed (wrong server key or damaged file)" "$T/r.err" ||
    { cat "$T/r.err"; fail "the error is cut or does not say why"; }
grep -qF "authentication failed (wrong server key or damaged file)" "$T/r.out" ||
    { cat "$T/r.out"; fail "the per-NLO line is cut"; }
[ -z "$(find "$T/data/daos" -name "$nlo")" ] || fail "an NLO that does not read back was left installed"

step "the right key: recovered"
cp "$T/saved.key" "$K"; chmod 600 "$K"
"${D[@]}" recover --db "$db" >"$T/r.out" || { cat "$T/r.out"; fail "recover with the right key"; }
grep -q "^recovered .*$nlo" "$T/r.out" || { cat "$T/r.out"; fail "not recovered"; }
"$DVLOAD" -c "$T/c.yaml" verify >/dev/null 2>&1 || "${D[@]}" resync daos >/dev/null
"$DVLOAD" -c "$T/c.yaml" verify >/dev/null || fail "the server does not verify after the recovery"
"${D[@]}" config --check | grep -qx "$T/c.yaml: ok" || fail "config --check should be clean with a good key"
echo "trust_keys: no key created by dvault; missing / too open / wrong key: one whole line naming the file (set $set)"

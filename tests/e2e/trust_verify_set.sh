#!/bin/bash
# trust_verify_set.sh - `verify --set ID` checks every NLO the set holds (issue 11.6): also
# the pool objects that earlier sets stored and the set's databases reference, each hashed
# against its pool row. A corrupt one is a problem naming the pool file; the summary says how
# many NLOs were checked (all of those the set's databases reference).
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvtrust-vset.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/c.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  min_object_size: 1024
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF
D=("$DVAULT" -c "$T/c.yaml")
"${D[@]}" target init >/dev/null
"$DVLOAD" -c "$T/c.yaml" init --databases 3 --docs 10 --seed 21 >/dev/null
"${D[@]}" backup -q >/dev/null || fail "first backup"
"${D[@]}" backup -q >/dev/null || fail "second backup"
ids=$("${D[@]}" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p')
second=$(echo "$ids" | sed -n 1p) first=$(echo "$ids" | sed -n 2p)
[ -n "$first" ] && [ -n "$second" ] || fail "two sets expected: $ids"
# the NLOs the databases reference (nothing changed between the backups: the second set
# stored none of them itself, the first stored them all)
referenced=$(for f in "$T"/data/mail/*.nsf; do
    sqlite3 "file:$f?mode=ro" "SELECT nlo FROM attachments WHERE nlo IS NOT NULL"
done | sort -u)
nref=$(echo "$referenced" | grep -c .)
[ "$nref" -gt 3 ] || fail "too few NLOs referenced: $nref"

step "intact: verify --set checks all $nref referenced NLOs"
"${D[@]}" verify --set "$second" >"$T/v.out" || { cat "$T/v.out"; fail "verify --set of an intact set"; }
cat "$T/v.out"
grep -q "verify: 1 set(s), .* $nref NLO(s) checked of $nref (0 new, $nref from earlier sets), .*: 0 problem(s)" "$T/v.out" ||
    fail "the summary should say $nref NLO(s) checked"
"${D[@]}" verify --set "$first" >"$T/v1.out" || fail "verify --set of the first set"
grep -q " $nref NLO(s) checked of $nref ($nref new, 0 from earlier sets)" "$T/v1.out" || { cat "$T/v1.out"; fail "first set summary"; }

step "a corrupt pool object stored by the first set, referenced by the second"
victim=$(echo "$referenced" | sed -n 2p)
pool=$T/backup/nlo/${victim:0:3}/$victim
[ -f "$pool" ] || fail "no pool object $pool"
python3 - "$pool" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 0x5a; open(p, 'wb').write(bytes(b))
PY
set +e; "${D[@]}" verify --set "$second" >"$T/v2.out" 2>&1; rc=$?; set -e
cat "$T/v2.out"
[ $rc = 1 ] || fail "verify --set $second: exit $rc, expected 1 (a corrupt object the set holds)"
grep -qF "$pool: SHA-256 mismatch" "$T/v2.out" || fail "the corrupt pool object is not named"
grep -q " $nref NLO(s) checked .*: 1 problem(s)" "$T/v2.out" || fail "one problem, $nref checked expected"
set +e; "${D[@]}" verify --set "$second" --sample 100 >/dev/null 2>&1; rc=$?; set -e
[ $rc = 1 ] || fail "verify --set --sample 100 missed it"

step "a referenced NLO missing from the pool: the set does not hold it"
cp "$pool" "$T/saved"
sqlite3 "$T/catalog.db" "DELETE FROM pool WHERE name = '$victim'"
set +e; "${D[@]}" verify --set "$second" >"$T/v3.out" 2>&1; rc=$?; set -e
[ $rc = 1 ] || { cat "$T/v3.out"; fail "a referenced NLO without a pool row passed"; }
grep -qF "$pool: referenced by the databases of set $second, but not in the catalog pool" "$T/v3.out" ||
    { cat "$T/v3.out"; fail "the missing pool object is not named"; }
echo "trust_verify_set: verify --set $second checked $nref NLOs stored by set $first; corruption and absence found"

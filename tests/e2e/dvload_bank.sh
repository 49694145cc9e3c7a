#!/bin/bash
# dvload_bank.sh - issue 13's measuring equipment: `dvload bank` (a heavy writer on one
# database: every commit is a balanced transfer plus one dvload_txlog row of kind 'bank') and
# `dvload run --db GLOB` (only the matching databases are written). Both print the
# transaction time line. Checked: the txlog rows equal the commits reported, the accounts stay
# balanced (dvload verify), --rate caps the commits (at most rate x seconds + one per writer),
# --db picks the database / the databases, an unknown --db is refused; run --rate caps too.
# No timing asserts.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvbank.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/c.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  max_files_per_subdir: 200
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF
"$DVAULT" -c "$T/c.yaml" target init >/dev/null || fail "dvault target init"
L=("$DVLOAD" -c "$T/c.yaml")
"${L[@]}" init --databases 3 --docs 5 --seed 7 >/dev/null || fail "dvload init"
rows() { sqlite3 -readonly "$T/data/$1" "SELECT count(*) FROM dvload_txlog WHERE $2"; }
commits() { sed -n 's/.*: \([0-9]*\) commits (.*/\1/p' "$1"; }
LAT='transaction time p50 [0-9.]* ms, p99 [0-9.]* ms, max [0-9.]* ms'

step "bank, 3 s, 2 writers, the first dvload database"
"${L[@]}" bank --seconds 3 >"$T/bank1" || fail "dvload bank: $(cat "$T/bank1")"
cat "$T/bank1"
grep -q "^dvload bank: .*, 2 writers, mail/alice.nsf: [0-9]* commits ([0-9]*/s), $LAT\$" "$T/bank1" ||
    fail "unexpected bank line"
n=$(commits "$T/bank1")
[ "$n" -gt 0 ] || fail "no commits"
[ "$(rows mail/alice.nsf "kind = 'bank'")" = "$n" ] || fail "alice: txlog bank rows != $n commits"
[ "$(rows mail/alice.nsf "kind = 'bank' AND writer NOT IN (1, 2)")" = 0 ] || fail "writer ids"
[ "$(rows mail/bob.nsf "kind = 'bank'")" = 0 ] || fail "bank wrote bob"

step "bank --db mail/bob.nsf --rate 100 --writers 3, 1 s"
"${L[@]}" bank --seconds 1 --db mail/bob.nsf --rate 100 --writers 3 >"$T/bank2" ||
    fail "dvload bank --rate: $(cat "$T/bank2")"
cat "$T/bank2"
n2=$(commits "$T/bank2")
[ "$(rows mail/bob.nsf "kind = 'bank'")" = "$n2" ] || fail "bob: txlog bank rows != $n2 commits"
[ "$n2" -gt 0 ] && [ "$n2" -le 103 ] || fail "--rate 100 for 1 s with 3 writers: $n2 commits"
[ "$(rows mail/alice.nsf "kind = 'bank'")" = "$n" ] || fail "--db bob wrote alice"

step "bank --db: not a dvload database"
if "${L[@]}" bank --seconds 1 --db mail/nobody.nsf >"$T/out" 2>"$T/err"; then
    fail "bank on a missing database succeeded"
fi
grep -q "no dvload database under .* matches --db mail/nobody.nsf" "$T/err" || fail "$(cat "$T/err")"
"${L[@]}" init --db x --databases 1 --docs 1 2>/dev/null && fail "--db accepted by init"

step "run --db 'mail/[ac]*': alice and carol only"
bob0=$(rows mail/bob.nsf 1)
"${L[@]}" run --seconds 2 --writers 2 --db 'mail/[ac]*' >"$T/run" || fail "dvload run --db: $(cat "$T/run")"
cat "$T/run"
grep -q "^dvload run: .*, 2 writers, 2 databases: " "$T/run" || fail "run did not take 2 databases"
grep -q "^dvload run: $LAT\$" "$T/run" || fail "no transaction time line from run"
[ "$(rows mail/bob.nsf 1)" = "$bob0" ] || fail "run --db 'mail/[ac]*' wrote bob"
for db in alice carol; do
    [ "$(rows mail/$db.nsf "kind NOT IN ('init', 'bank')")" -gt 0 ] || fail "run wrote nothing in $db"
done

step "run --rate 100 --writers 2, 1 s"
"${L[@]}" run --seconds 1 --writers 2 --rate 100 --db mail/carol.nsf --max-size 4096 >"$T/run2" ||
    fail "dvload run --rate: $(cat "$T/run2")"
cat "$T/run2"
nr=$(sed -n 's/.*: \([0-9]*\) transactions (.*/\1/p' "$T/run2")
[ "$nr" -gt 0 ] && [ "$nr" -le 102 ] || fail "run --rate 100 for 1 s with 2 writers: $nr transactions"

step "verify"
"${L[@]}" verify || fail "dvload verify"
for db in alice bob carol; do
    "$DVLOAD" verify --file "$T/data/mail/$db.nsf" || fail "verify --file $db"
done
echo "dvload_bank: ok ($n + $n2 bank commits)"

#!/bin/bash
# corruption.sh - a flipped byte in a database copy, a kept delta, a manifest, a pool NLO or
# the catalog is found by `dvault verify` (naming the file), and refused by restore / recover
# with a message naming the file; nothing is written anywhere by the refused command.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvcorrupt.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cat >"$T/c.yaml" <<EOF
server: { data_dir: data, daos_dir: daos, key_file: server.key }
backup: { target: backup, delta: keep }
catalog: catalog.db
EOF
D=("$DVAULT" -c "$T/c.yaml")
"$DVLOAD" -c "$T/c.yaml" init --databases 3 --docs 12 --seed 4 >/dev/null
"$DVAULT" -c "$T/c.yaml" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
"$DVLOAD" -c "$T/c.yaml" run --seconds 1 --writers 2 --seed 4 >/dev/null &
"${D[@]}" backup -q >/dev/null
wait
set=$("${D[@]}" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)
S=$T/backup/sets/$set
"${D[@]}" verify >/dev/null || fail "verify of an intact target"

flip() { # FILE OFFSET: xor one byte
    python3 - "$1" "$2" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read()); b[off] ^= 0x5a; open(p, 'wb').write(bytes(b))
PY
}
mid() { echo $(($(stat -c %s "$1") / 2)); }
expect_verify() { # FILE what
    if "${D[@]}" verify >"$T/v.out" 2>&1; then fail "verify missed the flipped byte in the $2"; fi
    grep -qF "$1" "$T/v.out" || { cat "$T/v.out"; fail "verify does not name $1"; }
    echo "verify: $2 corruption found, named"
}
expect_refused() { # FILE what command...
    local f=$1 what=$2; shift 2
    local before; before=$(find "$T/data" -type f | sort | md5sum)
    if "$@" >"$T/r.stdout" 2>"$T/r.out"; then fail "$what: accepted a corrupt file"; fi
    grep -qF "$f" "$T/r.out" || { cat "$T/r.out"; fail "$what: the refusal does not name $f"; }
    [ "$(grep -c . "$T/r.out")" = 1 ] || { cat "$T/r.out"; fail "$what: more than one line on stderr"; }
    [ "$before" = "$(find "$T/data" -type f | sort | md5sum)" ] || fail "$what: wrote into the data directory"
    echo "$what: refused, naming the file"
}

db=mail/$(ls "$T/data/mail" | grep -m1 '\.nsf$')
copy=$S/db/$db
delta=$copy.delta

# 1. a database copy
cp "$copy" "$T/orig"; flip "$copy" "$(mid "$copy")"
expect_verify "$copy" "database copy"
expect_refused "$copy" "restore of a corrupt copy" "${D[@]}" restore --set "$set" --db "$db" --into mail/x.nsf
cp "$T/orig" "$copy"

# 2. a kept delta (its middle: a record when the delta has one, else the header/trailer)
cp "$delta" "$T/orig"; flip "$delta" "$(mid "$delta")"
expect_verify "$delta" "kept delta"
expect_refused "$delta" "restore with a corrupt delta" "${D[@]}" restore --set "$set" --db "$db" --into mail/x.nsf
cp "$T/orig" "$delta"

# 3. the manifest
cp "$S/manifest.json" "$T/orig"
python3 - "$S/manifest.json" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
open(p, 'w').write(s.replace('"databases": ', '"databases": 1', 1))
PY
expect_verify "$S/manifest.json" "manifest"
cp "$T/orig" "$S/manifest.json"

# 4. a pool NLO: gone from the live repository, then recovered from a corrupt pool copy
nlo=$(sqlite3 "file:$copy?immutable=1" 'SELECT nlo FROM attachments WHERE nlo IS NOT NULL LIMIT 1')
pool=$T/backup/nlo/${nlo:0:3}/$nlo
cp "$pool" "$T/orig"; flip "$pool" "$(mid "$pool")"
expect_verify "$pool" "pool NLO"
rm -f "$T"/data/daos/*/"$nlo"
"${D[@]}" resync daos >/dev/null 2>&1
echo "$nlo" >"$T/list"
expect_refused "$pool" "recover from a corrupt pool copy" "${D[@]}" recover --list "$T/list"
cp "$T/orig" "$pool"
"${D[@]}" recover --list "$T/list" >/dev/null || fail "recover from the repaired pool copy"

# 5. the catalog: the header of an index's root page (after a checkpoint)
"${D[@]}" verify >/dev/null || fail "verify after repairs"
sqlite3 "$T/catalog.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
root=$(sqlite3 "$T/catalog.db" "SELECT rootpage FROM sqlite_master WHERE type='index' AND rootpage > 1 LIMIT 1")
psize=$(sqlite3 "$T/catalog.db" 'PRAGMA page_size')
cp "$T/catalog.db" "$T/orig"
python3 - "$T/catalog.db" $(((root - 1) * psize)) <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read()); b[off] = 0x07; open(p, 'wb').write(bytes(b))
PY
expect_verify "$T/catalog.db" "catalog"
cp "$T/orig" "$T/catalog.db"
"${D[@]}" verify >/dev/null || fail "verify after the catalog was repaired"
echo "ok: 5 kinds of corruption found by verify; copy, delta and pool corruption refused"

#!/bin/bash
# restore_badinput.sh - restore/recover/doc/whereis refuse bad input with one line on stderr,
# a non-zero exit, and nothing half-written (no new file in data_dir, no hidden temp files).
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvbad-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf"]
  deferred_deletion_days: 30
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF
C=(-c "$T/config.yaml")
D=$T/data
"$DVLOAD" "${C[@]}" init --databases 2 --docs 15 --seed 3 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>&1 || fail "backup"
SET=$("$DVAULT" "${C[@]}" sets --json | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4)
DB=$(cd "$D" && ls mail/*.nsf | head -1)
NLO=$(sqlite3 "$D/$DB" "SELECT nlo FROM attachments WHERE nlo IS NOT NULL LIMIT 1")
# SQLite creates -wal/-shm beside a database it opens (even read-only): not ours to count
snapshot() { (cd "$D" && find . | grep -v -E -e "-(wal|shm)$" | sort); }
snapshot >"$T/before"

# expect_fail NAME PATTERN CMD... : non-zero exit, exactly one stderr line matching PATTERN,
# the data directory unchanged.
expect_fail() {
    local name=$1 pat=$2; shift 2
    set +e
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    set -e
    [ "$rc" != 0 ] || fail "$name: exit 0"
    [ "$(wc -l <"$T/err")" = 1 ] || { cat "$T/err"; fail "$name: expected one line on stderr"; }
    grep -q -- "$pat" "$T/err" || fail "$name: stderr '$(cat "$T/err")' does not match '$pat'"
    snapshot | cmp -s - "$T/before" || { snapshot | diff "$T/before" - ; fail "$name: data directory changed"; }
    echo "ok: $name: $(cat "$T/err")"
}

expect_fail "unknown set" "no backup set '20990101-000000'" \
    "$DVAULT" "${C[@]}" restore --set 20990101-000000 --db "$DB" --into mail/new.nsf
expect_fail "path not in the set" "not in backup set" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db mail/nobody.nsf --into mail/new.nsf
expect_fail "into exists" "exists: choose a new name" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" --into "$(cd "$D" && ls mail/*.nsf | tail -1)"
expect_fail "into the live database" "is the live database" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" --into "$DB"
expect_fail "into with .." "leaves the data directory" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" --into ../escape.nsf
expect_fail "into a missing directory" "no/such/dir" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" --into "$T/no/such/dir/x.nsf"
expect_fail "db with .." "not below the data directory" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db ../x.nsf --into mail/new.nsf

printf '# comment\n\n%s\n../x\n' "$NLO" >"$T/list1"
expect_fail "list with ../x" "list1:4: a path, not an NLO name (4 characters)" "$DVAULT" "${C[@]}" recover --list "$T/list1"
printf '/etc/passwd\n' >"$T/list2"
expect_fail "list with /etc/passwd" "list2:1: a path, not an NLO name (11 characters)" "$DVAULT" "${C[@]}" recover --list "$T/list2"
printf '%s\nabc123.nlo\n' "$NLO" >"$T/list3"
expect_fail "list with a short name" "list3:2: not an NLO name (10 characters" "$DVAULT" "${C[@]}" recover --list "$T/list3"
printf '%s\n' "$(echo "$NLO" | tr a-f A-F | sed 's/NLO$/nlo/')" >"$T/list4"
expect_fail "list with upper-case hex" "list4:1: not an NLO name (character [0-9]* is not a lower-case hex digit)" "$DVAULT" "${C[@]}" recover --list "$T/list4"
ghost=$(printf '%064d%016x.nlo' 0 4096)
printf '%s\n' "$ghost" >"$T/list5"
expect_fail "NLO not in the pool" "unrecoverable.*not in the pool" "$DVAULT" "${C[@]}" recover --list "$T/list5"
expect_fail "recover with an unknown set" "no backup set 'nope'" \
    "$DVAULT" "${C[@]}" recover --set nope --list "$T/list5"
expect_fail "whereis a path" "is not an NLO name" "$DVAULT" "${C[@]}" whereis ../../etc/passwd
expect_fail "doc copy of an unknown document" "no document" \
    "$DVAULT" "${C[@]}" doc copy --from "$DB" --unid 00000000000000000000000000000000 --to "$DB"

# a missing NLO whose pool copy exists, but the target is gone (moved away)
victim=$(ls "$D"/daos/*/"$NLO")
mv "$victim" "$T/victim.nlo"
snapshot >"$T/before"
mv "$T/backup" "$T/backup.away"
printf '%s\n' "$NLO" >"$T/list6"
expect_fail "recover: target unreadable" "backup target .* does not exist" \
    "$DVAULT" "${C[@]}" recover --list "$T/list6"
expect_fail "restore: target unreadable" "backup target .* does not exist" \
    "$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" --into mail/new.nsf
[ ! -e "$T/backup" ] || fail "a missing target must not be created"
mv "$T/backup.away" "$T/backup"

# a corrupt pool copy is refused, naming the file
pool="$T/backup/nlo/${NLO:0:3}/$NLO"
cp "$pool" "$T/pool.orig"
printf 'X' | dd of="$pool" bs=1 seek=40 conv=notrunc 2>/dev/null
expect_fail "corrupt pool copy" "pool file .*$NLO is corrupt" "$DVAULT" "${C[@]}" recover --list "$T/list6"
cp "$T/pool.orig" "$pool"
"$DVAULT" "${C[@]}" recover --list "$T/list6" >/dev/null || fail "recover after repairing the pool copy"
cmp "$victim" "$T/victim.nlo" || fail "recovered NLO differs from the original"
find "$D" "$T/backup" -name '.*' ! -name '.daos.cfg.lock' | grep . && fail "hidden temporary files left"
echo "restore_badinput ok"

#!/bin/bash
# catalog_migrate.sh - the catalog migration to schema 6 (integer references, the compact NLO
# table, running totals) on a catalog written by the dvault of schema 5
# (tests/fixtures/catalog-v5.tar.xz, made by tests/fixtures/catalog-v5.sh with that dvault,
# which also recorded its answers in site/expected/): every answer after the migration is the
# one before - sets, the references of every database and the pool (read with the sqlite3
# shell before and after), whereis of every NLO, listnlo missing of every database, recover -
# and a migration that fails leaves the version 5 catalog as it was. Real binaries.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
SRC=$(cd "$(dirname "$0")/../.." && pwd)
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvmigrate-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
export TZ=UTC

tar -C "$T" -xJf "$SRC/tests/fixtures/catalog-v5.tar.xz"
S=$T/site
E=$S/expected
cd "$S"
C=(-c config.yaml)
ans() { "$@" 2>&1 | sed "s|$S|SITE|g"; }
[ "$(sqlite3 run/catalog.db 'PRAGMA user_version')" = 5 ] || fail "the fixture is not a version 5 catalog"

# version 5 and version 6 read back as the same rows (names and hashes as text)
V5_REFS="SELECT d.path, r.nlo, r.first_seq, coalesce(r.last_seq, '-') FROM refs r
  JOIN databases d ON d.id = r.db_id ORDER BY 1, 2, 3"
V5_POOL="SELECT name, sha256, size, live_subdir, first_set, stored_at FROM pool ORDER BY name"
NAME="CASE WHEN typeof(n.name) = 'blob' THEN lower(hex(substr(n.name, 1, 32))
  || substr('0000000000000000' || hex(substr(n.name, 34)), -16)) || '.nlo' ELSE n.name END"
V6_REFS="SELECT d.path, $NAME, r.first_seq, coalesce(r.last_seq, '-') FROM nlo_refs r
  JOIN databases d ON d.id = r.db_id JOIN nlo n ON n.id = r.nlo_id ORDER BY 1, 2, 3"
V6_POOL="SELECT $NAME, lower(hex(n.sha256)), n.size, n.live_subdir, n.first_set, n.stored_at
  FROM nlo n WHERE n.sha256 IS NOT NULL ORDER BY 1"
SETS="SELECT * FROM sets ORDER BY seq; SELECT * FROM set_files ORDER BY 1, 2;
  SELECT id, path, replica_id, dbiid, first_seen, last_seen, last_ref_seq FROM databases
  ORDER BY id; SELECT * FROM meta ORDER BY key"

step "a migration that fails leaves version 5 as it was"
cp run/catalog.db "$T/v5.db"
sqlite3 "$T/v5.db" "CREATE TABLE nlo (x)"     # the migration's first statement fails on it
sqlite3 "$T/v5.db" "$V5_REFS; $V5_POOL; $SETS" > "$T/before-failed"
sed 's|^catalog: .*|catalog: '"$T"'/v5.db|' config.yaml > "$S/failcfg.yaml"
"$DVAULT" -c "$S/failcfg.yaml" prune --dry-run >"$T/fail.out" 2>&1 && fail "prune on a catalog whose migration fails succeeded"
grep -q "migration to version 6" "$T/fail.out" || fail "the failure does not name the migration: $(cat "$T/fail.out")"
[ "$(sqlite3 "$T/v5.db" 'PRAGMA user_version')" = 5 ] || fail "a failed migration changed the version"
sqlite3 "$T/v5.db" "$V5_REFS; $V5_POOL; $SETS" > "$T/after-failed"
cmp -s "$T/before-failed" "$T/after-failed" || fail "a failed migration changed the catalog: $(diff "$T/before-failed" "$T/after-failed" | head)"

step "migrate: sets, references, pool"
sqlite3 run/catalog.db "$V5_REFS" > "$T/refs5"
sqlite3 run/catalog.db "$V5_POOL" > "$T/pool5"
sqlite3 run/catalog.db "$SETS" > "$T/sets5"
[ -s "$T/refs5" ] && [ -s "$T/pool5" ] || fail "the fixture has no references or no pool"
grep -q '|not-an-nlo|' "$T/refs5" || fail "the fixture lacks a reference that is no NLO name"
grep -q '|[0-9]*|[0-9]' "$T/refs5" || fail "the fixture lacks a closed reference range"
# readers never convert (a conversion holds the write lock): they refuse, naming the version
for cmd in sets status jobs; do
    rc=0
    "$DVAULT" "${C[@]}" $cmd >"$T/reader.out" 2>&1 || rc=$?
    # status reports what it can and warns; the others fail
    [ $cmd = status ] || [ $rc -ne 0 ] || fail "$cmd on a version 5 catalog succeeded"
    grep -q "catalog .* is at schema version 5, this dvault uses 8: a command that writes the catalog converts it" "$T/reader.out" ||
        fail "$cmd does not say why: $(cat "$T/reader.out")"
    [ "$(sqlite3 run/catalog.db 'PRAGMA user_version')" = 5 ] || fail "$cmd changed the catalog's version"
done
"$DVAULT" "${C[@]}" prune --dry-run >"$T/prune.out" 2>&1 || fail "prune --dry-run did not convert: $(cat "$T/prune.out")"
ans "$DVAULT" "${C[@]}" sets > "$T/sets.out"
diff "$E/sets" "$T/sets.out" || fail "dvault sets differs after the migration"
[ "$(sqlite3 run/catalog.db 'PRAGMA user_version')" = 8 ] || fail "not migrated to version 8 (6, 7, then 8)"
sqlite3 run/catalog.db "$V6_REFS" > "$T/refs6"
diff "$T/refs5" "$T/refs6" || fail "references differ after the migration"
sqlite3 run/catalog.db "$V6_POOL" > "$T/pool6"
diff "$T/pool5" "$T/pool6" || fail "the pool differs after the migration"
# the views pool and refs answer the version 5 queries of the sqlite3 shell as before
sqlite3 run/catalog.db "$V5_REFS" | diff "$T/refs5" - || fail "the refs view differs"
sqlite3 run/catalog.db "$V5_POOL" | diff "$T/pool5" - || fail "the pool view differs"
sqlite3 run/catalog.db "$SETS" > "$T/sets6"
diff "$T/sets5" "$T/sets6" || fail "sets, files, databases or meta differ after the migration"
for t in pool refs refs_open pool_subdir pool_first_set; do
    [ -z "$(sqlite3 run/catalog.db "SELECT name FROM sqlite_master WHERE name = '$t' AND type IN ('table', 'index')")" ] || fail "$t is still there"
done
tot=$(sqlite3 run/catalog.db "SELECT group_concat(key || '=' || value, ' ') FROM (SELECT * FROM totals ORDER BY key)")
want="nlo_next_id=$(( $(sqlite3 run/catalog.db 'SELECT max(id) FROM nlo') + 1 )) pool_bytes=$(awk -F'|' '{s += $3} END {print s}' "$T/pool5") pool_objects=$(wc -l < "$T/pool5")"
[ "$tot" = "$want" ] || fail "totals: $tot, want $want"
sqlite3 run/catalog.db "PRAGMA integrity_check" | grep -qx ok || fail "integrity_check after the migration"
# version 8: the NLO pass's page of a subdirectory is read from the index alone
sqlite3 run/catalog.db "EXPLAIN QUERY PLAN SELECT name FROM nlo WHERE live_subdir = 1 AND name > x'00' ORDER BY name LIMIT 9" |
    grep -q "COVERING INDEX nlo_subdir" || fail "the subdirectory page is not covered by nlo_subdir"
[ "$(sqlite3 run/catalog.db "SELECT count(*) FROM nlo WHERE live_subdir IS NOT NULL AND sha256 IS NULL")" = 0 ] ||
    fail "a name outside the pool keeps a live subdirectory"

step "whereis of every NLO: the same (databases: from the catalog, as the old answer's)"
n=0
for f in "$E"/whereis-*; do
    name=${f##*/whereis-}
    ans "$DVAULT" "${C[@]}" whereis "$name" > "$T/w"
    # the databases part now comes from the catalog (referenced at their last backup):
    # compare the paths; every other line as it was
    strip() { awk '/^databases /{d=1; next} /^[a-z]/{d=0} !d'; }
    paths() { awk '/^databases /{d=1; next} /^[a-z]/{d=0} d {print $1}'; }
    diff <(strip < "$f") <(strip < "$T/w") || fail "whereis $name differs"
    diff <(paths < "$f") <(paths < "$T/w") || fail "whereis $name: other databases"
    grep -q "^databases .* referencing it at their last backup" "$T/w" || fail "whereis $name: $(cat "$T/w")"
    n=$((n + 1))
done
[ "$n" -ge 8 ] || fail "only $n whereis answers in the fixture"

step "listnlo missing of every database, recover"
for f in "$E"/listnlo-*; do
    b=${f##*/listnlo-}
    ans "$DVAULT" "${C[@]}" listnlo missing "mail/$b.nsf" > "$T/l"
    diff "$f" "$T/l" || fail "listnlo missing mail/$b.nsf differs"
done
victim=$(cat "$E/victim")
(ans "$DVAULT" "${C[@]}" recover --list "$E/victim"; echo "rc $?") > "$T/r"
diff "$E/recover" "$T/r" || fail "recover differs"
[ "$(sha256sum data/daos/*/"$victim" | cut -c1-64)" = "$(cat "$E/recovered.sha256")" ] ||
    fail "the recovered NLO is not the one the old dvault recovered"

step "after the migration: a backup records on it, a prune keeps the totals"
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>&1 || fail "backup on the migrated catalog"
"$DVAULT" "${C[@]}" prune -q >/dev/null 2>&1 || fail "prune on the migrated catalog"
p=$(sqlite3 run/catalog.db "SELECT count(*) || ' ' || coalesce(sum(size), 0) FROM nlo WHERE sha256 IS NOT NULL")
t=$(sqlite3 run/catalog.db "SELECT (SELECT value FROM totals WHERE key = 'pool_objects') || ' ' || (SELECT value FROM totals WHERE key = 'pool_bytes')")
[ "$p" = "$t" ] || fail "running totals $t, the pool holds $p"
"$DVAULT" "${C[@]}" verify >/dev/null 2>&1 || fail "verify after the migration: $("$DVAULT" "${C[@]}" verify 2>&1 | tail -3)"
echo "catalog_migrate: ok"

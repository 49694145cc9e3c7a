#!/bin/bash
# unbacked_kept.sh - "not yet backed up" kept (docs/catalog.md, "Version 7"): after a backup
# the answer comes from the catalog's unbacked list and the DAOS index's log of names it
# gained; it must always be the live objects not in the pool, as the sqlite3 shell computes
# them from both files: after a backup, after new NLOs, after a backup killed (-9) mid NLO
# pass (the old mark), after resync daos, after an object is taken out of the pool, and after the next
# backup. Real binaries (bench-unbacked: the backend call the console's view uses).
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
UNB=${BUILD:?BUILD not set}/bench-unbacked
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvunbacked.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
cat >"$T/c.yaml" <<EOC
server: { data_dir: data, daos_dir: daos, key_file: server.key, min_object_size: 1024 }
backup: { target: backup }
catalog: catalog.db
EOC
cd "$T"
D=("$DVAULT" -c "$T/c.yaml")
"$DVLOAD" -c "$T/c.yaml" init --databases 3 --docs 40 --seed 7 >/dev/null
"${D[@]}" target init >/dev/null || fail "dvault target init"

# the truth: live names minus pooled names, from the files (the catalog's view pool)
truth() {
    sqlite3 "$T/data/daos/daoscat.db" "ATTACH '$T/catalog.db' AS c;
      SELECT name FROM doi EXCEPT SELECT name FROM c.pool ORDER BY 1"
}
check() {   # WHAT [MARKED|MERGE]
    "$UNB" "$T/c.yaml" 100000 names > "$T/got" || fail "$1: bench-unbacked failed"
    truth > "$T/want"
    diff "$T/want" "$T/got" >/dev/null || fail "$1: not yet backed up differs from the files: $(diff "$T/want" "$T/got" | head -5)"
    local mark
    mark=$(sqlite3 "$T/catalog.db" "SELECT count(*) FROM meta WHERE key = 'unbacked_mark'")
    case $2 in
    MARKED) [ "$mark" = 1 ] || fail "$1: no unbacked mark" ;;
    MERGE) [ "$mark" = 0 ] || fail "$1: an unbacked mark that cannot be trusted" ;;
    esac
    echo "   $1: $(wc -l < "$T/got") not backed up"
}

step "after a first backup: nothing to show, from the mark"
"${D[@]}" backup -q >/dev/null || fail "first backup"
[ -z "$(truth)" ] || fail "the first backup left live objects out"
check "first backup" MARKED

step "new NLOs on the server: in the log, shown"
logged=$(sqlite3 data/daos/daoscat.db "SELECT count(*) FROM doi_added")
"$DVLOAD" -c "$T/c.yaml" run --seconds 2 --writers 1 --seed 11 >/dev/null
[ "$(sqlite3 data/daos/daoscat.db "SELECT count(*) FROM doi_added")" -gt "$logged" ] || fail "new objects were not logged"
[ -n "$(truth)" ] || fail "the load added no NLO"
check "new NLOs" MARKED

step "a backup killed (-9) mid NLO pass: the old mark, still exact"
rc=0; env DV_CRASH_AT=nlopass.batch:1 "${D[@]}" backup -q >/dev/null 2>&1 || rc=$?
[ "$rc" = 137 ] || fail "the backup was not killed at nlopass.batch (rc $rc)"
check "killed mid pass (its stored NLOs still in the log)" MARKED
"$DVLOAD" -c "$T/c.yaml" run --seconds 1 --writers 1 --seed 12 >/dev/null
check "more NLOs after the kill" MARKED
idx_sum=$(sha256sum < data/daos/daoscat.db)
"${D[@]}" backup -q >/dev/null || fail "backup after the kill"
[ "$(sha256sum < data/daos/daoscat.db)" = "$idx_sum" ] || fail "a backup wrote the DAOS index"
check "backup after the kill" MARKED

step "resync daos: the index rebuilt, a new epoch: the merge answers"
"$DVLOAD" -c "$T/c.yaml" run --seconds 1 --writers 1 --seed 13 >/dev/null
"${D[@]}" resync daos >/dev/null 2>&1 || fail "resync daos"
[ "$(sqlite3 data/daos/daoscat.db "SELECT count(*) FROM doi_added")" = 0 ] || fail "resync kept the log"
[ -n "$(sqlite3 data/daos/daoscat.db "SELECT value FROM meta WHERE key = 'unbacked_epoch'")" ] || fail "resync set no epoch"
"$UNB" "$T/c.yaml" 100000 names > "$T/got"
truth > "$T/want"
diff "$T/want" "$T/got" >/dev/null || fail "after resync daos: differs: $(diff "$T/want" "$T/got" | head -5)"

step "the next backup marks again; an object taken out of the pool drops the mark"
"${D[@]}" backup -q >/dev/null || fail "backup after resync"
check "backup after resync" MARKED
victim=$(sqlite3 catalog.db "SELECT name FROM pool ORDER BY name LIMIT 1")
sqlite3 catalog.db "DELETE FROM pool WHERE name = '$victim'"
check "pool object deleted" MERGE
grep -qx "$victim" "$T/got" || fail "the object taken out of the pool is not shown"
"${D[@]}" backup -q >/dev/null || fail "backup after the pool deletion"
check "backup after the deletion" MARKED
echo "ok"

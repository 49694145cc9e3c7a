#!/bin/bash
# trust_setids.sh - two backups in the same second into two targets with one catalog (issue
# 11.8; before: "UNIQUE constraint failed: sets.id"). A catalog belongs to one target
# (operations.md, "The catalog belongs to one target"): of two backups started together on a
# new catalog exactly one binds it and runs, the other is refused naming both targets - never
# both, never a SQLite error. And set ids are unique per catalog, not only per target: an id
# the catalog already knows (its directory gone from the target) is skipped like a taken one.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvtrust-setids.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

for x in a b; do
    cat >"$T/$x.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  min_object_size: 1024
  key_file: server.key
backup:
  target: backup-$x
catalog: catalog.db
EOF
    "$DVAULT" -c "$T/$x.yaml" target init >/dev/null
done
"$DVLOAD" -c "$T/a.yaml" init --databases 2 --docs 6 --seed 5 >/dev/null

set_id() { sed -n 's/^backup set \([^:]*\):.*/\1/p' "$1" | head -1; }
# pair: start a backup into each target at once; sets W (the one that ran: a or b), SAME
# (1 when both started in the same second). Exactly one must run; the other is refused,
# naming the catalog's target and its own.
pair() {
    local t0 t1 ra=0 rb=0 pa pb
    t0=$(date +%s)
    "$DVAULT" -c "$T/a.yaml" backup >"$T/a.out" 2>&1 & pa=$!
    "$DVAULT" -c "$T/b.yaml" backup >"$T/b.out" 2>&1 & pb=$!
    t1=$(date +%s)
    wait $pa || ra=$?
    wait $pb || rb=$?
    SAME=$([ "$t0" = "$t1" ] && echo 1 || echo 0)
    if grep -h "UNIQUE constraint\|database is locked" "$T/a.out" "$T/b.out"; then fail "a SQLite error"; fi
    if [ $ra = 0 ] && [ $rb = 0 ]; then fail "both backups ran: sets of two targets in one catalog"; fi
    if [ $ra = 0 ]; then W=a L=b; elif [ $rb = 0 ]; then W=b L=a; else
        cat "$T/a.out" "$T/b.out"; fail "neither backup ran"
    fi
    grep -q "^dvault: catalog $T/catalog.db belongs to target [0-9a-f]*, but $T/backup-$L is target .*they do not belong together" "$T/$L.out" ||
        { cat "$T/$L.out"; fail "the refused backup does not say why"; }
    [ -d "$T/backup-$W/sets/$(set_id "$T/$W.out")" ] || fail "the set is not on target $W"
}

step "a new catalog, two backups started together: one binds it, the other is refused"
pair
first=$W
echo "target $first took the catalog (same second: $SAME)"
same=$SAME tries=1
while [ $same -lt 2 ] && [ $tries -lt 30 ]; do # more pairs, until two started in one second
    pair
    [ $W = "$first" ] || fail "target $W ran a backup, but the catalog belongs to target $first"
    same=$((same + SAME)) tries=$((tries + 1))
done
[ $same -gt 0 ] || fail "no two backups started in the same second in $tries tries"
echo "$tries pair(s), $same in the same second: target $first ran each time, the other was refused"

step "ids unique per catalog: ids the catalog knows, their directories gone, are skipped"
cfg=$T/$first.yaml
now=$(date +%s)
sqlite3 "$T/catalog.db" "
WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < 60)
INSERT OR IGNORE INTO sets (id, seq, kind, started, ended, status, message)
SELECT strftime('%Y%m%d-%H%M%S', $now + i, 'unixepoch'), 100000 + i, 'full', $now + i, $now + i,
       'failed', 'test: its directory was removed' FROM k;"
# the backup starts in a later second than any set made above (the clock polled, bounded)
for ((i = 0; i < 30 && $(date +%s) <= now; i++)); do sleep 0.1; done
"$DVAULT" -c "$cfg" backup >"$T/c.out" 2>&1 || { cat "$T/c.out"; fail "backup with ids taken in the catalog"; }
id=$(set_id "$T/c.out")
[[ $id =~ ^([0-9]{8}-[0-9]{6})-[0-9]+$ ]] || fail "expected a -N id (the second is taken in the catalog), got '$id'"
base=${BASH_REMATCH[1]}
[ ! -e "$T/backup-$first/sets/$base" ] && [ ! -e "$T/backup-$first/sets/$base.failed" ] ||
    fail "$base is taken on the target too: the test proves nothing"
[ -d "$T/backup-$first/sets/$id" ] || fail "set $id is not on the target"

"$DVAULT" -c "$cfg" sets --json >"$T/sets.json"
python3 - "$T/sets.json" "$T/backup-$first" <<'PY' || fail "catalog"
import json, os, sys
sets, tgt = json.load(open(sys.argv[1])), sys.argv[2]
ids = [s["id"] for s in sets]
assert len(ids) == len(set(ids)), "duplicate ids"
done = [s["id"] for s in sets if s["status"] == "complete"]
missing = [i for i in done if not os.path.isdir(os.path.join(tgt, "sets", i))]
assert not missing, "complete sets not on the catalog's target: %s" % missing
print("%d complete set(s), all on the catalog's target, ids unique" % len(done))
PY
echo "trust_setids: one catalog, one target; same-second ids unique in the catalog (got $id)"

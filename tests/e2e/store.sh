#!/bin/bash
# store.sh - the live store end to end: dvload init/run/verify, index loss and resync,
# listnlo all/missing, daos prune. Uses $DVAULT and $DVLOAD (set by make).
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvstore-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  databases: ["**/*.nsf"]
  daos_dir: daos
  max_files_per_subdir: 50
  min_object_size: 4096
  deferred_deletion_days: 30
  encryption: true
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF
C=(-c "$T/config.yaml")
D=$T/data

step "dvload init"
"$DVLOAD" "${C[@]}" init --databases 4 --docs 30 --seed 7 || fail "dvload init"
"$DVAULT" "${C[@]}" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
[ "$(stat -c %a "$T/server.key")" = 600 ] || fail "key file mode is not 0600"
ls "$D"/daos/0001/*.nlo >/dev/null || fail "no NLOs in daos/0001"
"$DVLOAD" "${C[@]}" init --databases 4 --docs 1 2>/dev/null && fail "a second init should refuse existing databases"

step "dvload run --seconds 5 --writers 4"
"$DVLOAD" "${C[@]}" run --seconds 5 --writers 4 --seed 3 || fail "dvload run"
step "dvload verify"
"$DVLOAD" "${C[@]}" verify || fail "dvload verify after run"
find "$D/daos" -name '.*' ! -name '.daos.cfg.lock' | grep . && fail "temporary files left in the repository"
[ "$(ls "$D/daos" | grep -c '^[0-9][0-9][0-9][0-9]$')" -ge 2 ] || fail "expected more than one subdirectory (max 50 per subdir)"

step "daos status: SYNCHRONIZED"
"$DVAULT" "${C[@]}" daos status | tee "$T/status1"
grep -q '^state *SYNCHRONIZED' "$T/status1" || fail "daos status should say SYNCHRONIZED"
cp "$D/daos/daos.cfg" "$T/daos.cfg.before"

step "index lost: NEEDS_RESYNC"
rm -f "$D/daos/daoscat.db" "$D/daos/daoscat.db-wal" "$D/daos/daoscat.db-shm"
"$DVAULT" "${C[@]}" daos status | tee "$T/status2"
grep -q '^state *NEEDS_RESYNC' "$T/status2" || fail "daos status should say NEEDS_RESYNC after rm daoscat.db"
grep -q 'missing' "$T/status2" || fail "the reason should say the index was missing"
"$DVLOAD" "${C[@]}" verify 2>"$T/verr" && fail "verify must fail while NEEDS_RESYNC"
grep -q NEEDS_RESYNC "$T/verr" || fail "verify should say NEEDS_RESYNC: $(cat "$T/verr")"
"$DVAULT" "${C[@]}" daos prune --days 0 2>"$T/perr" && fail "prune must refuse while NEEDS_RESYNC"
grep -q 'resync' "$T/perr" || fail "prune refusal should mention resync: $(cat "$T/perr")"

step "resync daos"
"$DVAULT" "${C[@]}" resync daos </dev/null | tee "$T/resync"
grep -q SYNCHRONIZED "$T/resync" || fail "resync summary"
"$DVAULT" "${C[@]}" daos status | grep -q '^state *SYNCHRONIZED' || fail "not SYNCHRONIZED after resync"
cmp "$T/daos.cfg.before" "$D/daos/daos.cfg" || fail "daos.cfg differs after resync"
"$DVLOAD" "${C[@]}" verify || fail "dvload verify after resync"
"$DVAULT" "${C[@]}" resync catalogue 2>/dev/null && fail "resync of an unknown target must fail"
set +e; "$DVAULT" "${C[@]}" resync bogus 2>/dev/null; [ $? = 2 ] || fail "unknown resync target: exit 2"; set -e

step "listnlo all / missing"
db=$(cd "$D" && ls mail/*.nsf | head -1)
"$DVAULT" "${C[@]}" listnlo all "$db" >"$T/all"
n=$(sqlite3 "$D/$db" "SELECT count(DISTINCT nlo) FROM attachments WHERE nlo IS NOT NULL")
[ "$(wc -l <"$T/all")" = "$n" ] || fail "listnlo all: $(wc -l <"$T/all") names, database has $n"
[ "$n" -gt 0 ] || fail "test database references no NLOs"
"$DVAULT" "${C[@]}" listnlo missing "$db" -o "$T/missing0" 2>/dev/null
[ -f "$T/missing0" ] && [ ! -s "$T/missing0" ] || fail "nothing should be missing yet"
victim=$(head -1 "$T/all")
path=$(ls "$D"/daos/*/"$victim")
mv "$path" "$T/victim.nlo"
"$DVAULT" "${C[@]}" listnlo missing "$D/$db" -o "$T/missing1" 2>/dev/null
[ "$(cat "$T/missing1")" = "$victim" ] || fail "listnlo missing should list exactly $victim"
mv "$T/victim.nlo" "$path"
set +e; "$DVAULT" "${C[@]}" listnlo sometimes "$db" 2>/dev/null; [ $? = 2 ] || fail "listnlo usage: exit 2"; set -e
"$DVAULT" "${C[@]}" listnlo all no/such.nsf 2>/dev/null && fail "listnlo of a missing database must fail"

step "daos prune"
"$DVAULT" "${C[@]}" daos prune | tee "$T/prune1"
grep -q '^daos prune: 0 deleted' "$T/prune1" || fail "nothing is due under 30 days"
zero=$(sqlite3 "$D/daos/daoscat.db" "SELECT count(*) FROM doi WHERE refcount = 0")
"$DVAULT" "${C[@]}" daos prune --days 0 | tee "$T/prune0"
grep -q 'no catalog yet' "$T/prune0" || fail "without a catalog daos prune must say why it deletes nothing"
grep -q "^daos prune: 0 deleted (.*), $zero waiting for backup" "$T/prune0" || fail "without any backup the $zero due NLOs must wait"
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup before daos prune"
"$DVAULT" "${C[@]}" daos prune --days 0 | tee "$T/prune2"
grep -q "^daos prune: $zero deleted" "$T/prune2" || fail "prune --days 0 should delete the $zero zero-ref NLOs"
[ "$(sqlite3 "$D/daos/daoscat.db" "SELECT count(*) FROM doi WHERE refcount = 0")" = 0 ] || fail "zero-ref objects left"
"$DVLOAD" "${C[@]}" verify || fail "dvload verify after prune"
"$DVAULT" "${C[@]}" resync daos >/dev/null </dev/null
"$DVLOAD" "${C[@]}" verify || fail "dvload verify after prune + resync"
set +e; "$DVAULT" "${C[@]}" daos prune --days x 2>/dev/null; [ $? = 2 ] || fail "prune usage: exit 2"; set -e

step "key file with the wrong mode is refused where the key is needed, a warning elsewhere"
chmod 644 "$T/server.key"
"$DVLOAD" "${C[@]}" verify 2>"$T/kerr" && fail "a 0644 key file must be refused"
grep -q 0600 "$T/kerr" || fail "key refusal should say 0600: $(cat "$T/kerr")"
"$DVAULT" "${C[@]}" daos status >/dev/null || fail "daos status needs no key"
"$DVAULT" "${C[@]}" status | grep -q "warning .*server.key has mode 0644" || fail "status should warn about the key"
chmod 600 "$T/server.key"
echo "store e2e: ok"

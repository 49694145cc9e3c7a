#!/bin/bash
# target_identity.sh - issue 11 case 1: a backup never claims what the target does not hold.
# A target is made only by `dvault target init`; a path that does not exist (an unmounted
# mount point), an empty directory or a directory of something else is refused by every
# command that uses a target, and never created or written; a catalog and a target that do
# not belong together are refused naming both and `dvault resync catalog`; a target moved
# whole (identity included) keeps working with its catalog.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvtid-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cfg() { # cfg FILE TARGET [CATALOG [KEEP_SETS]]: deltas kept beside the copies
    cat >"$1" <<EOF
server:
  data_dir: data
  daos_dir: daos
  min_object_size: 1024
  key_file: server.key
backup:
  target: $2
  delta: keep
  retention: { keep_sets: ${4:-14}, keep_days: 0 }
catalog: ${3:-catalog.db}
EOF
}
cfg "$T/config.yaml" backup
C=(-c "$T/config.yaml")
"$DVLOAD" "${C[@]}" init --databases 3 --docs 15 --seed 9 >/dev/null
NLOS=$(find "$T/data/daos" -name '*.nlo' | wc -l)
[ "$NLOS" -gt 0 ] || fail "the fixture has no NLOs"
DB=$(cd "$T/data" && ls mail/*.nsf | head -1)

# expect_refused NAME PATTERN CMD... : exit 1, one stderr line matching PATTERN
expect_refused() {
    local name=$1 pat=$2; shift 2
    set +e
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    set -e
    [ "$rc" = 1 ] || fail "$name: exit $rc (want 1): $(cat "$T/err")"
    [ "$(wc -l <"$T/err")" = 1 ] || fail "$name: want one line on stderr, got: $(cat "$T/err")"
    grep -qE -- "$pat" "$T/err" || fail "$name: message does not match /$pat/: $(cat "$T/err")"
    echo "  ok: $name: $(cat "$T/err")"
}

step "no target yet: every command that uses one refuses, nothing is created"
for cmd in "backup -q" "verify" "prune" "resync catalog" "archive"; do
    # shellcheck disable=SC2086
    expect_refused "$cmd on a missing target" "backup target $T/backup does not exist.*dvault target init" \
        "$DVAULT" "${C[@]}" $cmd
    [ ! -e "$T/backup" ] || fail "$cmd created the missing target"
done
[ ! -e "$T/catalog.db" ] || [ "$(sqlite3 "$T/catalog.db" 'SELECT count(*) FROM sets')" = 0 ] ||
    fail "a refused backup recorded a set"

step "an empty directory (a mount point with nothing mounted) is refused and stays empty"
mkdir "$T/mnt"
cfg "$T/mnt.yaml" mnt mnt-catalog.db
expect_refused "backup into an empty directory" "backup target $T/mnt is empty.*dvault target init" \
    "$DVAULT" -c "$T/mnt.yaml" backup -q
[ -z "$(ls -A "$T/mnt")" ] || fail "the empty directory was written: $(ls -A "$T/mnt")"

step "a directory of something else: backup and target init refuse, nothing is written"
mkdir "$T/photos"; echo jpeg >"$T/photos/cat.jpg"
cfg "$T/photos.yaml" photos photos-catalog.db
expect_refused "backup into a foreign directory" "is not a dvault target.*cat.jpg" \
    "$DVAULT" -c "$T/photos.yaml" backup -q
expect_refused "target init of a foreign directory" "not empty and not a dvault target" \
    "$DVAULT" -c "$T/photos.yaml" target init
[ "$(ls -A "$T/photos")" = cat.jpg ] || fail "the foreign directory was written: $(ls -A "$T/photos")"

step "target init; backups; a second init is refused"
"$DVAULT" "${C[@]}" target init >"$T/init.out" || fail "target init"
grep -q "created a new target" "$T/init.out" || fail "target init says what it did: $(cat "$T/init.out")"
ID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/backup/target.json")
[ "$(stat -c %a "$T/backup/target.json")" = 600 ] || fail "target.json must be 0600"
"$DVAULT" "${C[@]}" target show | grep -q "id: *$ID" || fail "target show names the id"
expect_refused "a second target init" "already a dvault target \\(id $ID" "$DVAULT" "${C[@]}" target init
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup into the new target"
[ "$(sqlite3 "$T/catalog.db" "SELECT value FROM meta WHERE key = 'target_id'")" = "$ID" ] ||
    fail "the catalog records the id of its target"
SET1=$("$DVAULT" "${C[@]}" sets --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')

step "the target is unmounted (renamed away): refused, not recreated; the catalog does not vouch for it"
mv "$T/backup" "$T/backup.away"
expect_refused "backup, target gone" "does not exist" "$DVAULT" "${C[@]}" backup -q
expect_refused "restore, target gone" "does not exist" \
    "$DVAULT" "${C[@]}" restore --set "$SET1" --db "$DB" --into mail/r1.nsf
[ ! -e "$T/backup" ] || fail "the missing target was recreated"
mkdir "$T/backup" # the bare mount point
expect_refused "backup, empty mount point" "is empty" "$DVAULT" "${C[@]}" backup -q
rmdir "$T/backup"

step "a new target for the old catalog: refused, naming both and the way out"
"$DVAULT" "${C[@]}" target init >/dev/null || fail "target init of the new target"
NEWID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$T/backup/target.json")
[ "$NEWID" != "$ID" ] || fail "two targets share an id"
expect_refused "old catalog, new target" "catalog $T/catalog.db belongs to target $ID, but $T/backup is target $NEWID.*dvault resync catalog" \
    "$DVAULT" "${C[@]}" backup -q
expect_refused "verify, old catalog, new target" "belongs to target $ID" "$DVAULT" "${C[@]}" verify
[ -z "$(ls "$T/backup/sets")" ] || fail "a refused backup left a set"

step "resync catalog binds a catalog to the new target; the next backup holds every NLO itself"
"$DVAULT" "${C[@]}" resync catalog >/dev/null || fail "resync catalog"
"$DVAULT" "${C[@]}" backup >"$T/b2.out" 2>&1 || fail "backup into the new target: $(cat "$T/b2.out")"
POOL=$(find "$T/backup/nlo" -name '*.nlo' | wc -l)
[ "$POOL" = "$NLOS" ] || fail "the new target's pool holds $POOL of $NLOS NLOs"
"$DVAULT" "${C[@]}" verify >/dev/null || fail "verify of the new target"
echo "  ok: new target holds all $POOL NLOs"

step "a catalog for another target cannot be pointed at this one by accident"
cfg "$T/second.yaml" backup second-catalog.db
expect_refused "a new catalog for a target with sets" "holds 1 set\\(s\\) that catalog $T/second-catalog.db does not know.*resync catalog" \
    "$DVAULT" -c "$T/second.yaml" backup -q

step "moving a target whole (identity and all) keeps it and its catalog working"
rm -rf "$T/backup" && cp -a "$T/backup.away" "$T/moved" # the old copy stays, untouched
DELTAS_OLD=$(find "$T/backup.away" -name '*.delta' | wc -l)
[ "$DELTAS_OLD" -gt 0 ] || fail "the first set keeps no delta"
cfg "$T/config.yaml" moved catalog.db 1
expect_refused "the old catalog after resync belongs to the second target" "belongs to target $NEWID" \
    "$DVAULT" "${C[@]}" backup -q
old=$(ls "$T"/catalog.db.old.* | grep -v -E -- '-(wal|shm)$' | head -1)
[ -n "$old" ] || fail "resync catalog keeps the old catalog aside"
mv "$T/catalog.db" "$T/catalog.second" && mv "$old" "$T/catalog.db"
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup into the moved target with its own catalog"
"$DVAULT" "${C[@]}" restore --set "$SET1" --db "$DB" --into mail/from-moved.nsf >/dev/null ||
    fail "restore of the first set from the moved target"
[ "$(sqlite3 "$T/data/mail/from-moved.nsf" 'PRAGMA integrity_check')" = ok ] || fail "integrity"
"$DVAULT" "${C[@]}" prune >"$T/prune.out" 2>&1 || { cat "$T/prune.out"; fail "prune of the moved target"; }
[ ! -e "$T/moved/sets/$SET1" ] || fail "prune kept the first set on the moved target (keep_sets 1)"
[ "$(find "$T/backup.away" -name '*.delta' | wc -l)" = "$DELTAS_OLD" ] ||
    fail "prune of the moved target deleted deltas of the old copy"
echo "  ok: the moved target restores through its own deltas; its prune leaves the old copy alone"
echo "ok: target identity"

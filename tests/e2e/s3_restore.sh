#!/bin/bash
# s3_restore.sh - issue 17: the readers on an S3 target (a real Ceph RADOS Gateway,
# tests/gw/ceph.sh). One server backed up into a bucket (s3://BUCKET/srv1, Object Lock 1 day)
# and, for reference, into a directory target:
#   - restore of a database from the bucket into a new name: the same content as the directory
#     target's restore and the live database (all but the new name's own ids and restored_*;
#     integrity_check, dvload verify);
#   - the same for an incremental set (its chain: the full copy, the .inc, the page map);
#   - NLO files lost from the live repository: `listnlo missing` names them, `recover --list`
#     brings them back from the bucket's pool, byte for byte; `whereis` names the pool object;
#   - `verify` passes; an object in the bucket overwritten with damaged bytes (tools/s3probe)
#     makes it fail, naming the object; put back, it passes again;
#   - `resync catalog` from the bucket alone (catalog deleted, working tree deleted) gives the
#     same `sets --json` and the same pool;
#   - `doc restore` of deleted documents from a set in the bucket;
#   - prune after the retention was lowered (keep_sets 1, keep_days 0, no lock days any more):
#     the older set, still under Object Lock in the bucket, is kept and prune says until when
#     (text and --json); its manifest is still in the bucket;
#   - prune on a bucket without Object Lock removes the old set's objects (manifest first) and
#     the pool objects only it held, from the bucket.
# needs: gateway (tests/run.sh starts it once and exports GW_DIR, GW_ENDPOINT and the keys;
# run alone, this script starts and stops its own)
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
S3PROBE=${S3PROBE:?S3PROBE not set}
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvs3r-e2e.XXXXXX")
OWN_GW=""
cleanup() {
    [ -n "$OWN_GW" ] && "$SRC/tests/gw/ceph.sh" stop "$OWN_GW"
    rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
step() { echo "== $*"; }
. "$SRC/tests/e2e/doc_restore.lib"

if [ -z "${GW_ENDPOINT:-}" ]; then
    out=$("$SRC/tests/gw/ceph.sh" start) || fail "the gateway did not start"
    OWN_GW=${out#GW_DIR=}
    eval "$("$SRC/tests/gw/ceph.sh" env "$OWN_GW")"
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
fi
E=$GW_ENDPOINT
BK=dvr-$$-$RANDOM
P() { "$S3PROBE" "$E" "$@"; }

# config NAME TARGET CATALOG KEEP_SETS KEEP_DAYS LOCK_DAYS
config() {
    cat >"$T/$1.yaml" <<EOF
server:
  data_dir: data
  databases: ["**/*.nsf"]
  daos_dir: daos
  max_files_per_subdir: 20
  min_object_size: 4096
  deferred_deletion_days: 0
  encryption: true
  key_file: server.key
catalog: $3
backup:
  target: $2
  retention: { keep_sets: $4, keep_days: $5 }
EOF
    case $2 in s3://*) cat >>"$T/$1.yaml" <<EOF ;; esac
  s3:
    endpoint: $E
    region: ${GW_REGION:-us-east-1}
    object_lock_days: $6
    object_lock_mode: governance
EOF
}
config s3 "s3://$BK/srv1" catalog-s3.db 14 1 1
config dir backup catalog-dir.db 14 1 0
config low "s3://$BK/srv1" catalog-s3.db 1 0 0
S=(-c "$T/s3.yaml")
DI=(-c "$T/dir.yaml")
C=("${S[@]}") # doc_restore.lib's helpers
D=$T/data

step "setup: a server, a bucket target with Object Lock, a directory target; a full backup into each"
"$DVLOAD" "${S[@]}" init --databases 2 --docs 40 --seed 11 >/dev/null || fail "dvload init"
"$DVAULT" "${S[@]}" target init >"$T/init.out" 2>&1 || { cat "$T/init.out"; fail "target init (s3)"; }
"$DVAULT" "${DI[@]}" target init >/dev/null || fail "target init (dir)"
DB=$(cd "$D" && ls mail/*.nsf | head -1)
SET=$("$DVAULT" "${S[@]}" backup -q --full | awk '/^set /{print $2; exit}')
[ -n "$SET" ] || fail "no set in the bucket"
DSET=$("$DVAULT" "${DI[@]}" backup -q --full | awk '/^set /{print $2; exit}')
[ -n "$DSET" ] || fail "no set in the directory target"
P ls "$BK" "srv1/sets/$SET/" >"$T/keys"
grep -q "srv1/sets/$SET/manifest.json" "$T/keys" || { cat "$T/keys"; fail "no manifest in the bucket"; }

step "restore from the bucket into a new name: what the directory target's restore gives"
"$DVAULT" "${S[@]}" restore --set "$SET" --db "$DB" --into "$T/r-s3.nsf" >"$T/rs.out" 2>&1 ||
    { cat "$T/rs.out"; fail "restore from the bucket"; }
"$DVAULT" "${DI[@]}" restore --set "$DSET" --db "$DB" --into "$T/r-dir.nsf" >/dev/null ||
    fail "restore from the directory"
# a restore into a new name gets a new replica id and dbiid, and says where it came from
# (dbinfo restored_*): everything else equal
content() { sqlite3 "$1" .dump | grep -Ev "^INSERT INTO dbinfo VALUES\('(replica_id|dbiid|restored_[a-z_]*)'"; }
content "$T/r-s3.nsf" >"$T/c-s3"
content "$T/r-dir.nsf" | cmp -s - "$T/c-s3" || fail "the restore from the bucket differs from the directory's"
content "$D/$DB" | cmp -s - "$T/c-s3" || fail "the restore from the bucket differs from the live database"
[ "$(wc -l <"$T/c-s3")" -gt 50 ] || fail "an empty restore"
[ "$(sqlite3 "$T/r-s3.nsf" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check"
"$DVLOAD" "${S[@]}" verify >/dev/null || fail "dvload verify"

set +e
"$DVAULT" "${S[@]}" restore --set "$SET" --db "$DB" --into "$T/s3-cache/$BK/srv1/x.nsf" >"$T/rc.out" 2>&1
rc=$?
set -e
[ $rc != 0 ] && grep -q "working tree (backup.s3.cache)" "$T/rc.out" ||
    { cat "$T/rc.out"; fail "a restore into the S3 target's working tree must be refused"; }

step "an incremental set in the bucket: restored through its chain, as from the directory"
"$DVLOAD" "${S[@]}" run --seconds 1 --writers 2 --seed 5 >/dev/null || fail "dvload run"
SETI=$("$DVAULT" "${S[@]}" backup -q --incremental | awk '/^set /{print $2; exit}')
DSETI=$("$DVAULT" "${DI[@]}" backup -q --incremental | awk '/^set /{print $2; exit}')
[ -n "$SETI" ] && [ -n "$DSETI" ] || fail "incremental sets"
P ls "$BK" "srv1/sets/$SETI/" >"$T/keysi"
grep -Eq '\.inc( |$)' "$T/keysi" || fail "no .inc in the incremental set"
"$DVAULT" "${S[@]}" restore --set "$SETI" --db "$DB" --into "$T/ri-s3.nsf" >"$T/ri.out" 2>&1 ||
    { cat "$T/ri.out"; fail "restore of the incremental set from the bucket"; }
"$DVAULT" "${DI[@]}" restore --set "$DSETI" --db "$DB" --into "$T/ri-dir.nsf" >/dev/null ||
    fail "restore of the incremental set from the directory"
content "$T/ri-s3.nsf" >"$T/ci-s3"
content "$T/ri-dir.nsf" | cmp -s - "$T/ci-s3" || fail "the incremental restore from the bucket differs"
content "$D/$DB" | cmp -s - "$T/ci-s3" || fail "the incremental restore differs from the live database"
[ -z "$(find "$T/s3-cache" -path '*/sets/*' -type f 2>/dev/null)" ] ||
    { find "$T/s3-cache" -type f; fail "restore left set files in the working tree"; }

step "listnlo missing + recover from the bucket's pool: byte for byte"
"$DVAULT" "${S[@]}" listnlo all "$DB" | sort -u >"$T/all"
head -3 "$T/all" >"$T/lost"
[ "$(wc -l <"$T/lost")" = 3 ] || fail "expected NLOs in $DB"
mkdir "$T/saved"
while read -r n; do
    f=$(dr_nlo_file "$n")
    [ -n "$f" ] || fail "$n: no file"
    cp -p "$f" "$T/saved/$n"
    echo "$f" >>"$T/lost.paths"
    rm -f "$f"
done <"$T/lost"
"$DVAULT" "${S[@]}" listnlo missing "$DB" -o "$T/missing.txt" || fail "listnlo missing"
sort "$T/missing.txt" | cmp -s - "$T/lost" || { diff <(sort "$T/missing.txt") "$T/lost"; fail "listnlo missing lists other names"; }
"$DVAULT" "${S[@]}" recover --list "$T/missing.txt" >"$T/rec.out" 2>&1 || { cat "$T/rec.out"; fail "recover"; }
grep -q "3 recovered" "$T/rec.out" || { cat "$T/rec.out"; fail "recover: not 3 recovered"; }
while read -r n; do
    f=$(dr_nlo_file "$n")
    [ -n "$f" ] || fail "$n not recovered"
    cmp "$f" "$T/saved/$n" || fail "$n: recovered bytes differ"
done <"$T/lost"
[ -z "$("$DVAULT" "${S[@]}" listnlo missing "$DB")" ] || fail "still missing after recover"
N=$(head -1 "$T/lost")
"$DVAULT" "${S[@]}" whereis "$N" >"$T/where" || fail "whereis"
grep -q "^pool  *s3://$BK/srv1/nlo/${N:0:3}/$N (sha256 [0-9a-f]*, [0-9]* bytes)\$" "$T/where" ||
    { cat "$T/where"; fail "whereis: the bucket's pool object"; }
[ -z "$(find "$T/s3-cache" -path '*/nlo/*' -type f 2>/dev/null)" ] ||
    fail "recover left pool objects in the working tree"

step "verify passes; a damaged object in the bucket makes it fail, naming the object"
"$DVAULT" "${S[@]}" verify >"$T/v1" 2>&1 || { cat "$T/v1"; fail "verify of the bucket"; }
KEY="srv1/nlo/${N:0:3}/$N"
P get "$BK" "$KEY" "$T/orig.nlo"
cmp -s "$T/orig.nlo" "$T/saved/$N" || fail "the bucket's pool object is not the NLO file"
cp "$T/orig.nlo" "$T/bad.nlo"
printf 'X' | dd of="$T/bad.nlo" bs=1 seek=100 conv=notrunc status=none
P put "$BK" "$KEY" "$T/bad.nlo" >/dev/null
set +e
"$DVAULT" "${S[@]}" verify >"$T/v2" 2>&1
rc=$?
set -e
[ $rc = 1 ] || { cat "$T/v2"; fail "verify of a damaged bucket: exit $rc, expected 1"; }
grep -q "s3://$BK/srv1/nlo/${N:0:3}/$N.*SHA-256 mismatch" "$T/v2" || { cat "$T/v2"; fail "verify should name the damaged object"; }
P put "$BK" "$KEY" "$T/orig.nlo" >/dev/null
"$DVAULT" "${S[@]}" verify >/dev/null 2>&1 || fail "verify after the object was put back"

step "doc restore of deleted documents from a set in the bucket"
mapfile -t DOCS < <(dr_docs_with_nlos)
[ "${#DOCS[@]}" -ge 2 ] || fail "expected documents with NLOs"
DOCS=("${DOCS[@]:0:2}")
dr_dump "${DOCS[@]}" >"$T/docs.before"
"$DVLOAD" "${S[@]}" delete --db "$DB" "${DOCS[@]}" >/dev/null || fail "dvload delete"
"$DVAULT" "${S[@]}" doc restore --set "$SETI" --db "$DB" --deleted >"$T/dr.out" 2>&1 ||
    { cat "$T/dr.out"; fail "doc restore from the bucket"; }
grep -q "doc restore: 2 undeleted" "$T/dr.out" || { cat "$T/dr.out"; fail "doc restore: not 2 undeleted"; }
dr_dump "${DOCS[@]}" | cmp -s - "$T/docs.before" || fail "restored documents differ"
[ -z "$(find "$T/s3-cache" -mindepth 1 -name '.docrestore*' 2>/dev/null)" ] ||
    { find "$T/s3-cache"; fail "doc restore left its scratch directory in the working tree"; }
"$DVLOAD" "${S[@]}" verify >/dev/null || fail "dvload verify after doc restore"

step "resync catalog from the bucket alone: the same sets and pool"
"$DVAULT" "${S[@]}" sets --json >"$T/sets.before"
q_pool="SELECT name, sha256, size, live_subdir, first_set FROM pool ORDER BY name"
sqlite3 "$T/catalog-s3.db" "$q_pool" >"$T/pool.before"
[ -s "$T/pool.before" ] || fail "an empty pool"
rm -f "$T"/catalog-s3.db*
rm -rf "$T/s3-cache"
"$DVAULT" "${S[@]}" resync catalog >"$T/rc.out" 2>&1 || { cat "$T/rc.out"; fail "resync catalog"; }
"$DVAULT" "${S[@]}" sets --json | cmp -s - "$T/sets.before" ||
    { diff "$T/sets.before" <("$DVAULT" "${S[@]}" sets --json); fail "sets --json differs after resync"; }
sqlite3 "$T/catalog-s3.db" "$q_pool" | cmp -s - "$T/pool.before" ||
    { diff "$T/pool.before" <(sqlite3 "$T/catalog-s3.db" "$q_pool") | head; fail "pool differs after resync"; }
"$DVAULT" "${S[@]}" verify >/dev/null 2>&1 || fail "verify after resync"

step "prune, the retention lowered: the older set is still locked in the bucket: kept, and until when"
SET2=$("$DVAULT" "${S[@]}" backup -q --full | awk '/^set /{print $2; exit}')
[ -n "$SET2" ] && [ "$SET2" != "$SET" ] || fail "second set"
L=(-c "$T/low.yaml")
"$DVAULT" "${L[@]}" prune --dry-run >"$T/p0" 2>&1 || { cat "$T/p0"; fail "prune --dry-run"; }
grep -Eq "keep +$SET .*still under Object Lock until [0-9]{4}-" "$T/p0" || { cat "$T/p0"; fail "dry run: the locked set"; }
"$DVAULT" "${L[@]}" prune --json >"$T/p1.json" 2>"$T/p1.err" || { cat "$T/p1.json" "$T/p1.err"; fail "prune --json"; }
want=$(($(date +%s) + 86400))
python3 - "$T/p1.json" "$SET" "$want" <<'EOF' || fail "prune --json: the locked set"
import json, sys
r = json.load(open(sys.argv[1]))
s = [x for x in r["sets"] if x["id"] == sys.argv[2]][0]
assert s["action"] == "keep" and "Object Lock" in s["why"], s
until = s["locked_until_epoch"]
assert abs(until - int(sys.argv[3])) < 600, (until, sys.argv[3])
assert r["sets_locked"] == 2, r  # the full set and the incremental on it
EOF
"$DVAULT" "${L[@]}" prune >"$T/p2" 2>&1 || { cat "$T/p2"; fail "prune"; }
grep -q "object lock: kept 2 set(s)" "$T/p2" || { cat "$T/p2"; fail "prune should say what Object Lock kept"; }
P head "$BK" "srv1/sets/$SET/manifest.json" >/dev/null || fail "the locked set's manifest is gone"
"$DVAULT" "${S[@]}" sets >"$T/sets.after"
grep -q "$SET" "$T/sets.after" || fail "the locked set left the catalog"
"$DVAULT" "${S[@]}" restore --set "$SET" --db "$DB" --into "$T/r-old.nsf" >/dev/null ||
    fail "restore from the kept set"
step "prune on a bucket without Object Lock: the old set and the pool objects only it held leave the bucket"
BK2=$BK-nl
config nol "s3://$BK2/srv2" catalog-nol.db 1 0 0
NL=(-c "$T/nol.yaml")
C=("${NL[@]}") # doc_restore.lib's helpers: the DAOS prune guard asks this catalog
"$DVAULT" "${NL[@]}" target init >/dev/null || fail "target init (no lock)"
OLD=$("$DVAULT" "${NL[@]}" backup -q --full | awk '/^set /{print $2; exit}')
[ -n "$OLD" ] || fail "set in the unlocked bucket"
mapfile -t GONE < <(dr_sole_docs)
[ "${#GONE[@]}" -ge 2 ] || fail "expected documents holding an NLO of their own"
GONE=("${GONE[@]:0:2}")
dr_all_refs | sort -u >"$T/refs.before"
"$DVLOAD" "${NL[@]}" delete --db "$DB" --when 1000 "${GONE[@]}" >/dev/null || fail "dvload delete"
"$DVLOAD" "${NL[@]}" purge --db "$DB" --when 2000 >/dev/null || fail "dvload purge"
dr_all_refs | sort -u | comm -23 "$T/refs.before" - >"$T/unref"
[ -s "$T/unref" ] || fail "no NLO lost its last reference"
"$DVAULT" "${NL[@]}" daos prune --days 0 >/dev/null || fail "daos prune"
NEW=$("$DVAULT" "${NL[@]}" backup -q --full | awk '/^set /{print $2; exit}')
[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] || fail "second set in the unlocked bucket"
q_names="SELECT name FROM pool ORDER BY name"
sqlite3 "$T/catalog-nol.db" "$q_names" >"$T/nol.before"
"$DVAULT" "${NL[@]}" prune >"$T/pn" 2>&1 || { cat "$T/pn"; fail "prune of the unlocked bucket"; }
grep -Eq "pruned +$OLD " "$T/pn" || { cat "$T/pn"; fail "the old set was not pruned"; }
sqlite3 "$T/catalog-nol.db" "$q_names" >"$T/nol.after"
nrm=$(comm -23 "$T/nol.before" "$T/nol.after" | wc -l)
[ "$nrm" -ge "$(wc -l <"$T/unref")" ] || fail "prune removed fewer pool rows than NLOs lost their last reference"
grep -q "; $nrm NLO(s) from the pool" "$T/pn" || { cat "$T/pn"; fail "prune: not the $nrm pool objects"; }
# the bucket's pool is exactly the catalog's again; what only the old set held is gone
P ls "$BK2" "srv2/nlo/" 2>/dev/null | sed 's|^srv2/nlo/.../||; s| .*||' | sort >"$T/nol.bucket"
cmp -s "$T/nol.bucket" "$T/nol.after" || { diff "$T/nol.after" "$T/nol.bucket" | head; fail "the bucket's pool is not the catalog's after prune"; }
comm -12 "$T/unref" "$T/nol.bucket" | grep . && fail "pool objects only the old set held are still in the bucket"
[ -z "$(P ls "$BK2" "srv2/sets/$OLD/" 2>/dev/null)" ] || fail "objects of the pruned set are still in the bucket"
P head "$BK2" "srv2/sets/$NEW/manifest.json" >/dev/null || fail "the retained set's manifest is gone"
"$DVAULT" "${NL[@]}" verify >/dev/null 2>&1 || fail "verify after the prune"
echo "ok"

#!/bin/bash
# s3_backup.sh - issue 17: the writers on an S3 target (a real Ceph RADOS Gateway,
# tests/gw/ceph.sh). Full and incremental backups of a server under `dvload run` into
# s3://BUCKET/PREFIX: every set file (copies, page maps, nlo-new.tsv, manifest) and every pool
# object the catalog records is an object in the bucket (listed with tools/s3probe), and the
# working tree (the local spool) holds nothing of a set afterwards. kill -9 while the set is
# being uploaded (polled, bounded), with the spool then holding at most one database copy;
# the next run is clean: the crashed set failed in the catalog, its objects and multipart
# uploads gone from the bucket, the spool emptied. A wrong secret: a clear error, the secret
# never shown, nothing recorded in the catalog. The gateway stopped during a backup: the set
# fails at once (not database after database) saying why; once it is back, a clean run. (The
# archive on S3: s3_pitr.sh.)
# needs: gateway (tests/run.sh starts it once and exports GW_DIR, GW_ENDPOINT and the keys;
# run alone, this script starts and stops its own)
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
S3PROBE=${S3PROBE:?S3PROBE not set}
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvs3b.XXXXXX")
OWN_GW=""
LOADPID=""
BPID=""
cleanup() {
    [ -n "$BPID" ] && kill -9 "$BPID" 2>/dev/null
    [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
    wait 2>/dev/null
    [ -n "$OWN_GW" ] && "$SRC/tests/gw/ceph.sh" stop "$OWN_GW"
    rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
step() { echo "== [${SECONDS}s] $*"; }
. "$(dirname "$0")/load.lib"

if [ -z "${GW_ENDPOINT:-}" ]; then
    out=$("$SRC/tests/gw/ceph.sh" start) || fail "the gateway did not start"
    OWN_GW=${out#GW_DIR=}
    eval "$("$SRC/tests/gw/ceph.sh" env "$OWN_GW")"
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
fi
E=$GW_ENDPOINT
SECRET=$AWS_SECRET_ACCESS_KEY
B=dvb-$$-$RANDOM
PFX=srv1/dv
P() { "$S3PROBE" "$E" "$@"; }
keys() { P ls "$B" "$1" 2>/dev/null | cut -d' ' -f1; } # keys below a prefix

cat >"$T/dv.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  max_files_per_subdir: 200
  key_file: server.key
backup:
  target: s3://$B/$PFX
  s3:
    endpoint: $E
    region: ${GW_REGION:-us-east-1}
  retention: { keep_sets: 10, keep_days: 0 }
catalog: catalog.db
EOF
"$DVLOAD" -c "$T/dv.yaml" init --databases 4 --docs 40 --seed 17 >/dev/null
# one database large enough for a multipart upload (parts of 16 MiB): the upload the kill
# below catches in flight
sqlite3 "$T/data/mail/big.nsf" "PRAGMA journal_mode=WAL; CREATE TABLE pad(x);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 48)
    INSERT INTO pad SELECT randomblob(1048576) FROM n;" >/dev/null
"$DVAULT" -c "$T/dv.yaml" target init >"$T/init.out" 2>&1 || {
    cat "$T/init.out"
    fail "dvault target init on s3://$B/$PFX"
}

# The spool's set data: files of sets or of the pool anywhere but the server's data
spool_files() {
    find "$T" \( -path "$T/data" -o -path "$T/daos" \) -prune -o -type f \
        \( -name '*.nsf' -o -name '*.nsf.*' -o -name '*.nlo' -o -name 'nlo-new.tsv' \
        -o -name 'manifest.json' \) -print
}
q() { sqlite3 -readonly -cmd '.timeout 5000' "$T/catalog.db" "$1"; } # WAL: not immutable
newest_set() { "$DVAULT" -c "$T/dv.yaml" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1; }

# check_set ID: the set's objects are in the bucket, the catalog's files and pool too
check_set() {
    local id=$1 k
    keys "$PFX/sets/$id/" >"$T/setkeys"
    grep -qx "$PFX/sets/$id/manifest.json" "$T/setkeys" || fail "set $id: no manifest.json in the bucket"
    grep -qx "$PFX/sets/$id/nlo-new.tsv" "$T/setkeys" || fail "set $id: no nlo-new.tsv in the bucket"
    while IFS='|' read -r path; do
        grep -qxF "$PFX/sets/$id/$path" "$T/setkeys" || fail "set $id: $path recorded, not in the bucket"
        grep -qxF "$PFX/sets/$id/$path.pagemap" "$T/setkeys" ||
            grep -qxF "$PFX/sets/$id/${path%.inc}.pagemap" "$T/setkeys" || fail "set $id: no page map of $path in the bucket"
    done < <(q "SELECT f.path FROM set_files f WHERE f.set_id = '$id'")
    [ -n "$(q "SELECT count(*) FROM set_files WHERE set_id = '$id'")" ] || fail "set $id: no files"
    # the pool: every NLO a set's list names is in the bucket, and the catalog records no
    # more objects than the bucket holds
    keys "$PFX/nlo/" | sed 's|.*/||' | sort >"$T/poolkeys"
    : >"$T/listed"
    for k in $(keys "$PFX/sets/" | grep '/nlo-new.tsv$'); do
        P get "$B" "$k" "$T/list.tsv" && cut -f1 "$T/list.tsv" >>"$T/listed"
    done
    sort -u -o "$T/listed" "$T/listed"
    [ -s "$T/listed" ] || fail "the sets' NLO lists name no NLO"
    comm -23 "$T/listed" "$T/poolkeys" >"$T/notheld"
    [ ! -s "$T/notheld" ] || fail "$(wc -l <"$T/notheld") NLO(s) listed by a set, not in the bucket: $(head -3 "$T/notheld")"
    local held
    held=$({ "$DVAULT" -c "$T/dv.yaml" status --json || :; } | sed -n 's/.*"pool_objects": \([0-9]*\).*/\1/p')
    [ -n "$held" ] && [ "$held" -gt 0 ] || fail "status --json: no pool_objects"
    [ "$held" -le "$(wc -l <"$T/poolkeys")" ] || fail "the catalog records $held pool objects, the bucket holds $(wc -l <"$T/poolkeys")"
    [ -z "$(spool_files)" ] || fail "the working tree still holds set data after set $id: $(spool_files | head -5)"
}

step "full and incremental backups into s3://$B/$PFX while dvload writes"
"$DVLOAD" -c "$T/dv.yaml" run --seconds 300 --writers 2 --seed 5 >"$T/load.out" 2>&1 &
LOADPID=$!
load_wait "$T/data" "$LOADPID" 20
"$DVAULT" -c "$T/dv.yaml" backup -q >"$T/b1.out" 2>&1 || {
    cat "$T/b1.out"
    fail "full backup into the bucket"
}
full=$(newest_set)
[ "$(q "SELECT status FROM sets WHERE id = '$full'")" = complete ] || fail "set $full is not complete"
check_set "$full"
nfiles=$(q "SELECT count(*) FROM set_files WHERE set_id = '$full'")
[ "$nfiles" = 5 ] || fail "full set $full: $nfiles database file(s), expected 5"
echo "full set $full: $nfiles databases, $(wc -l <"$T/poolkeys") pool objects in the bucket"
load_wait "$T/data" "$LOADPID" 20
"$DVAULT" -c "$T/dv.yaml" backup -q --incremental >"$T/b2.out" 2>&1 || {
    cat "$T/b2.out"
    fail "incremental backup into the bucket"
}
inc=$(newest_set)
[ "$inc" != "$full" ] || fail "no new set"
[ "$(q "SELECT kind || ' ' || status FROM sets WHERE id = '$inc'")" = "incremental complete" ] ||
    fail "set $inc: $(q "SELECT kind || ' ' || status FROM sets WHERE id = '$inc'")"
check_set "$inc"
grep -q '\.inc$' "$T/setkeys" || fail "incremental set $inc holds no .inc in the bucket"
echo "incremental set $inc: $(grep -c '\.inc$' "$T/setkeys") .inc object(s)"
"$DVAULT" -c "$T/dv.yaml" status >"$T/status.out" 2>&1 || true # exit 1 lists problems
grep -q "^target .*s3://$B/$PFX" "$T/status.out" || {
    cat "$T/status.out"
    fail "status does not say where the target is"
}

step "kill -9 while the set is being uploaded; the next run is clean"
sets_before=$(q "SELECT count(*) FROM sets")
"$DVAULT" -c "$T/dv.yaml" backup -q >"$T/b3.out" 2>&1 &
BPID=$!
caught=""
for ((i = 0; i < 600; i++)); do # bounded: 600 looks (about a minute at most)
    kill -0 "$BPID" 2>/dev/null || break
    if [ -n "$(P uploads "$B" "$PFX/sets/" 2>/dev/null)" ]; then
        caught=multipart
        break
    fi
    crash=$(q "SELECT id FROM sets WHERE status = 'running'" 2>/dev/null || true)
    if [ -n "$crash" ] && [ -n "$(keys "$PFX/sets/$crash/")" ] &&
        ! keys "$PFX/sets/$crash/" | grep -q 'manifest.json$'; then
        caught=objects
        break
    fi
    sleep 0.05
done
[ -n "$caught" ] || {
    wait "$BPID" || true
    BPID=""
    cat "$T/b3.out"
    fail "the backup was never seen uploading (finished first, or never started)"
}
kill -9 "$BPID"
wait "$BPID" 2>/dev/null || true
BPID=""
crash=$(q "SELECT id FROM sets WHERE status = 'running'")
[ -n "$crash" ] || fail "no running set after the kill"
echo "killed during the upload of set $crash ($caught in flight)"
# the spool is bounded: at most the database being copied (and one NLO batch)
ncopies=$(spool_files | grep -c '\.nsf$' || true)
[ "$ncopies" -le 1 ] || fail "the working tree held $ncopies database copies at the kill: $(spool_files | head)"
"$DVAULT" -c "$T/dv.yaml" backup >"$T/b4.out" 2>&1 || {
    cat "$T/b4.out"
    fail "the backup after the crash"
}
grep -q "interrupted" "$T/b4.out" || {
    cat "$T/b4.out"
    fail "the run after the crash does not report the interrupted set"
}
[ "$(q "SELECT status FROM sets WHERE id = '$crash'")" = failed ] || fail "crashed set $crash is not failed"
after=$(newest_set)
[ "$after" != "$crash" ] || fail "no new set after the crash"
[ "$(q "SELECT status FROM sets WHERE id = '$after'")" = complete ] || fail "set $after is not complete"
[ -z "$(keys "$PFX/sets/$crash/")" ] || fail "the crashed set's objects are still in the bucket: $(keys "$PFX/sets/$crash/" | head -3)"
[ -z "$(P uploads "$B" "$PFX/" 2>/dev/null)" ] || fail "multipart uploads left: $(P uploads "$B" "$PFX/")"
check_set "$after"
[ "$(q "SELECT count(*) FROM sets")" = $((sets_before + 2)) ] || fail "sets: $(q "SELECT count(*) FROM sets"), expected $((sets_before + 2))"

step "a wrong secret: a clear error, nothing recorded"
sets_before=$(q "SELECT count(*) FROM sets")
jobs_before=$(q "SELECT count(*) FROM jobs")
set +e
AWS_SECRET_ACCESS_KEY=not-the-secret-$RANDOM "$DVAULT" -c "$T/dv.yaml" backup >"$T/b5.out" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] || fail "a backup with a wrong secret succeeded"
grep -Eq "SignatureDoesNotMatch|InvalidAccessKeyId|AccessDenied|credentials|secret" "$T/b5.out" || {
    cat "$T/b5.out"
    fail "a wrong secret: the error does not say so"
}
[ "$(wc -l <"$T/b5.out")" -le 2 ] || {
    cat "$T/b5.out"
    fail "a wrong secret: more than a clear line or two"
}
! grep -qF "$SECRET" "$T"/b*.out || fail "the secret was printed"
[ "$(q "SELECT count(*) FROM sets")" = "$sets_before" ] || fail "a wrong secret recorded a set"
[ "$(q "SELECT count(*) FROM jobs")" = "$jobs_before" ] || fail "a wrong secret recorded a job"

step "the gateway goes away mid-backup: the set fails at once naming why; back, a clean run"
GW_DIR=${GW_DIR:?GW_DIR not set}
"$DVAULT" -c "$T/dv.yaml" backup -q >"$T/b6.out" 2>&1 &
BPID=$!
gone=""
for ((i = 0; i < 600; i++)); do
    kill -0 "$BPID" 2>/dev/null || break
    cur=$(q "SELECT id FROM sets WHERE status = 'running'" 2>/dev/null || true)
    if [ -n "$cur" ] && [ -n "$(keys "$PFX/sets/$cur/")" ]; then
        "$SRC/tests/gw/ceph.sh" rgw-stop "$GW_DIR"
        t_gone=$SECONDS
        gone=$cur
        break
    fi
    sleep 0.05
done
[ -n "$gone" ] || {
    wait "$BPID" || true
    BPID=""
    cat "$T/b6.out"
    fail "the backup was never seen uploading before the gateway was stopped"
}
for ((i = 0; i < 1200; i++)); do # bounded: 120 s for the retries to give up
    kill -0 "$BPID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$BPID" 2>/dev/null && fail "the backup still runs 120 s after the gateway went away"
set +e
wait "$BPID"
rc=$?
set -e
BPID=""
t_gone=$((SECONDS - t_gone))
"$SRC/tests/gw/ceph.sh" rgw-start "$GW_DIR"
[ $rc -ne 0 ] || fail "a backup without its gateway succeeded"
grep -Eqi "connect" "$T/b6.out" || {
    cat "$T/b6.out"
    fail "the gateway gone: the error does not say so"
}
[ "$(q "SELECT status FROM sets WHERE id = '$gone'")" = failed ] || fail "set $gone is not failed"
echo "gateway stopped during set $gone: the backup ended ${t_gone} s later: $(grep -m1 -o 'failed: .\{0,160\}' "$T/b6.out")"
"$DVAULT" -c "$T/dv.yaml" backup -q >"$T/b7.out" 2>&1 || {
    cat "$T/b7.out"
    fail "the backup after the gateway came back"
}
back=$(newest_set)
[ "$(q "SELECT status FROM sets WHERE id = '$back'")" = complete ] || fail "set $back is not complete"
[ -z "$(keys "$PFX/sets/$gone/")" ] || fail "the failed set's objects are still in the bucket"
check_set "$back"

kill "$LOADPID" 2>/dev/null || true
wait "$LOADPID" 2>/dev/null || true
LOADPID=""
echo "ok"

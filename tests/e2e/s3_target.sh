#!/bin/bash
# s3_target.sh - issue 17: the S3 target (backup.target: s3://BUCKET/PREFIX) on a real Ceph RADOS
# Gateway: `target init` on a bucket (created, the identity object written; again: refused,
# the identity unchanged), a prefix holding something else refused (nothing written), a wrong
# secret (one clear line naming the credentials, never the secret, nothing created), the
# identity checked by every later open (a tampered one refused), the working tree's lock;
# publish / fetch / list / remove through the target API (tools/tprobe.c: the calls dvault's
# jobs make), a set committed by its manifest uploaded last, a crashed set's objects and an
# abandoned multipart upload cleaned; Object Lock: a bucket created with it, every object
# uploaded with the retention, an object target_remove refuses and that a direct DELETE of its
# version (s3probe) cannot remove; a bucket without Object Lock refused for lock days.
# needs: gateway (tests/run.sh starts it once and exports GW_ENDPOINT and the keys; run alone,
# this script starts and stops its own)
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
S3PROBE=${S3PROBE:?S3PROBE not set}
TPROBE=${TPROBE:?TPROBE not set}
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvs3t-e2e.XXXXXX")
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

if [ -z "${GW_ENDPOINT:-}" ]; then
    out=$("$SRC/tests/gw/ceph.sh" start) || fail "the gateway did not start"
    OWN_GW=${out#GW_DIR=}
    eval "$("$SRC/tests/gw/ceph.sh" env "$OWN_GW")"
    export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
fi
E=$GW_ENDPOINT
SECRET=$AWS_SECRET_ACCESS_KEY
B=dvtt-$$-$RANDOM # bucket names: 3-63 lower-case letters, digits, dashes
P() { "$S3PROBE" "$E" "$@"; }
mkdir -p "$T/data"

# cfg FILE TARGET [LOCK_DAYS [KEEP_DAYS [EXTRA backup.s3 LINE]]]
cfg() {
    {
        echo "server:"
        echo "  data_dir: data"
        echo "backup:"
        echo "  target: $2"
        echo "  retention: { keep_sets: 14, keep_days: ${4:-35} }"
        echo "  s3:"
        echo "    endpoint: $E"
        echo "    object_lock_days: ${3:-0}"
        [ -z "${5:-}" ] || echo "    $5"
        echo "catalog: var/catalog.db"
    } >"$1"
}

# expect_fail NAME RC PATTERN CMD...: exit RC, one stderr line matching PATTERN, no secret shown
expect_fail() {
    local name=$1 want=$2 pat=$3
    shift 3
    set +e
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    set -e
    [ "$rc" = "$want" ] || fail "$name: exit $rc (want $want): $(cat "$T/err")"
    [ "$(wc -l <"$T/err")" = 1 ] || fail "$name: want one line on stderr: $(cat "$T/err")"
    grep -Eq -- "$pat" "$T/err" || fail "$name: stderr lacks /$pat/: $(cat "$T/err")"
    ! grep -qF "$SECRET" "$T/out" "$T/err" || fail "$name: the secret was printed"
    echo "  ok: $name: $(cat "$T/err")"
}

step "a wrong secret: one line naming the credentials, the secret never shown, nothing created"
cfg "$T/c.yaml" "s3://$B/srv1"
C=(-c "$T/c.yaml")
expect_fail "init, wrong secret" 1 "403 SignatureDoesNotMatch.*credentials were refused" \
    env AWS_SECRET_ACCESS_KEY=not-the-secret-at-all "$DVAULT" "${C[@]}" target init
# from a credentials file (relative to the config's directory) as well, environment unset
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = wrong%s\n' \
    "$AWS_ACCESS_KEY_ID" "${SECRET:0:4}" >"$T/s3.cred"
chmod 600 "$T/s3.cred"
cfg "$T/cred.yaml" "s3://$B/srv1" 0 35 "credentials_file: s3.cred"
expect_fail "init, wrong secret in the credentials file" 1 "credentials were refused" \
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$DVAULT" -c "$T/cred.yaml" target init
set +e
P ls "$B" "" >/dev/null 2>"$T/err"
set -e
grep -q NoSuchBucket "$T/err" || fail "a refused init created the bucket: $(cat "$T/err")"
[ ! -e "$T/var" ] || fail "a refused init created the working tree"
expect_fail "show, wrong secret" 1 "credentials were refused" \
    env AWS_SECRET_ACCESS_KEY=not-the-secret-at-all "$DVAULT" "${C[@]}" target show
expect_fail "show, no bucket yet" 1 "bucket $B does not exist.*dvault target init" \
    "$DVAULT" "${C[@]}" target show

step "target init on a bucket: created with the identity object; again: refused, unchanged"
"$DVAULT" "${C[@]}" target init >"$T/init.out"
grep -q "^created a new target\$" "$T/init.out" || fail "init: $(cat "$T/init.out")"
grep -q "^target:   s3://$B/srv1\$" "$T/init.out" || fail "init: $(cat "$T/init.out")"
grep -q "^endpoint: $E\$" "$T/init.out" || fail "init: no endpoint line"
ID=$(sed -n 's/^id: *//p' "$T/init.out")
[ ${#ID} = 32 ] || fail "init: id '$ID'"
P get "$B" srv1/target.json "$T/tj"
grep -q "\"id\": \"$ID\"" "$T/tj" || fail "target.json: $(cat "$T/tj")"
grep -q '"format": "dvault-target"' "$T/tj" || fail "target.json: no format"
! grep -qF "$SECRET" "$T/tj" || fail "the secret is in target.json"
expect_fail "init again" 1 "s3://$B/srv1 is already a dvault target \\(id $ID" \
    "$DVAULT" "${C[@]}" target init
P get "$B" srv1/target.json "$T/tj2"
cmp -s "$T/tj" "$T/tj2" || fail "a second init changed the identity"
"$DVAULT" "${C[@]}" target show | grep -q "^id: *$ID\$" || fail "show: not the id"
"$DVAULT" "${C[@]}" config --check >/dev/null || fail "config --check on the S3 target"

step "a prefix holding something else is refused, nothing written"
printf 'not ours\n' >"$T/foreign"
P put "$B" other/notes.txt "$T/foreign" >/dev/null
cfg "$T/f.yaml" "s3://$B/other/"
expect_fail "init on a foreign prefix" 1 \
    "s3://$B/other is not empty and not a dvault target \\(it holds 'notes.txt'\\)" \
    "$DVAULT" -c "$T/f.yaml" target init
[ "$(P ls "$B" other/ 2>/dev/null)" = "other/notes.txt 9" ] || fail "init wrote into a foreign prefix"
expect_fail "open of a foreign prefix" 3 \
    "s3://$B/other is not a dvault target \\(no target.json; it holds 'notes.txt'\\)" \
    "$TPROBE" "$T/f.yaml" list ""
cfg "$T/e.yaml" "s3://$B/empty"
expect_fail "open of an empty prefix" 3 "backup target s3://$B/empty is empty.*dvault target init" \
    "$TPROBE" "$T/e.yaml" list ""
# the bucket's root holds srv1/ and other/: not a place for a target either
cfg "$T/r.yaml" "s3://$B"
expect_fail "init on the bucket's root" 1 "s3://$B is not empty and not a dvault target" \
    "$DVAULT" -c "$T/r.yaml" target init

step "publish, list, fetch, remove through the target API; the working tree is a spool"
head -c 200000 /dev/urandom >"$T/nlo1"
head -c 20000000 /dev/urandom >"$T/db1" # 20 MB: a multipart upload
N1=nlo/abc/$(printf 'abc%077d' 1).nlo
"$TPROBE" "$T/c.yaml" put "$N1" "$T/nlo1"
"$TPROBE" "$T/c.yaml" list nlo/ >"$T/ls"
[ "$(cat "$T/ls")" = "$N1 200000" ] || fail "list nlo/: $(cat "$T/ls")"
[ -z "$(find "$T/var/s3-cache/$B/srv1/nlo" -type f)" ] || fail "a published object stayed in the spool"
"$TPROBE" "$T/c.yaml" fetch "$N1" "$T/back"
cmp -s "$T/nlo1" "$T/back" || fail "fetch: not the bytes published"
[ -z "$(find "$T/var/s3-cache/$B/srv1/nlo" -type f)" ] || fail "a fetched object was not evicted"
SET=$("$TPROBE" "$T/c.yaml" set "$T/nlo1" "$T/db1")
"$TPROBE" "$T/c.yaml" sets >"$T/sets"
[ "$(cat "$T/sets")" = "$SET" ] || fail "sets: $(cat "$T/sets") (want $SET)"
"$TPROBE" "$T/c.yaml" list "sets/$SET/" >"$T/ls"
grep -q "^sets/$SET/db/db1 20000000\$" "$T/ls" && grep -q "^sets/$SET/db/nlo1 200000\$" "$T/ls" &&
    grep -q "^sets/$SET/manifest.json " "$T/ls" || fail "the set's objects: $(cat "$T/ls")"
[ -z "$("$TPROBE" "$T/c.yaml" spool)" ] || fail "the spool holds a finished set: $("$TPROBE" "$T/c.yaml" spool)"
"$TPROBE" "$T/c.yaml" fetch "sets/$SET/db/db1" "$T/back"
cmp -s "$T/db1" "$T/back" || fail "fetch of the multipart object: not the bytes"
"$TPROBE" "$T/c.yaml" remove "$N1"
[ -z "$("$TPROBE" "$T/c.yaml" list nlo/)" ] || fail "remove: still listed"
expect_fail "fetch of a removed object" 3 "not held by the target" \
    "$TPROBE" "$T/c.yaml" fetch "$N1" "$T/back"
"$TPROBE" "$T/c.yaml" remove "$N1" # a missing object is fine
# many at once (NLO batches): more than one batch of descriptors, several in flight
"$TPROBE" "$T/c.yaml" many 600 3000
[ "$("$TPROBE" "$T/c.yaml" list nlo/fff/ | grep -c ' 3000$')" = 600 ] || fail "many: not 600 objects"
[ -z "$(find "$T/var/s3-cache/$B/srv1/nlo" -type f)" ] || fail "many: the spool kept copies"
"$TPROBE" "$T/c.yaml" fetch nlo/fff/many-00599 "$T/back"
[ "$(tr -d '\0' <"$T/back")" = 599 ] || fail "many: not the bytes of the 600th"

step "a set id is free only when the bucket has nothing under it"
# the bucket holds a failed set's record under each of the next 60 seconds' ids (the working
# tree nothing; a record, not a crashed run's objects: those the set's cleanup would delete)
now=$(date -u +%s)
for i in $(seq 0 60); do
    P put "$B" "srv1/sets/$(date -u -d "@$((now + i))" +%Y%m%d-%H%M%S).failed/manifest.json" "$T/foreign" >/dev/null
done
ID2=$("$TPROBE" "$T/c.yaml" set "$T/nlo1")
[[ $ID2 == *-2 ]] || fail "set_begin took $ID2, which the bucket holds"
"$TPROBE" "$T/c.yaml" remove "sets/$ID2/manifest.json" # leave a set without manifest
"$TPROBE" "$T/c.yaml" cleanup | grep -q "^cleaned 1\$" || fail "cleanup of the set without manifest"
[ -z "$("$TPROBE" "$T/c.yaml" list "sets/$ID2/")" ] || fail "the set without manifest remains"

step "the identity is checked by every open; the working tree's lock"
P get "$B" srv1/target.json "$T/tj"
sed 's/"dvault-target"/"something-else"/' "$T/tj" >"$T/tj.bad"
P put "$B" srv1/target.json "$T/tj.bad" >/dev/null
expect_fail "a tampered identity" 1 "s3://$B/srv1/target.json: not a dvault target identity" \
    "$TPROBE" "$T/c.yaml" list ""
P put "$B" srv1/target.json "$T/tj" >/dev/null
"$TPROBE" "$T/c.yaml" list "" >/dev/null
exec 9>>"$T/var/s3-cache/$B/srv1/lock"
flock -n 9 || fail "could not take the working tree's lock"
echo 4242 >"$T/var/s3-cache/$B/srv1/lock"
expect_fail "a busy target" 1 "target busy \\(pid 4242\\): s3://$B/srv1" "$TPROBE" "$T/c.yaml" list ""
exec 9>&-

step "a crashed set (objects, no manifest) and an abandoned multipart upload are cleaned"
CR=$("$TPROBE" "$T/c.yaml" crash "$T/nlo1") || fail "crash: $CR"
[ -n "$("$TPROBE" "$T/c.yaml" list "sets/$CR/")" ] || fail "the crashed set uploaded nothing"
[ "$("$TPROBE" "$T/c.yaml" sets)" = "$SET" ] || fail "a set without manifest counts as a set"
UP=$(P mpu-start "$B" "srv1/sets/$CR/db/big")
P uploads "$B" srv1/ | grep -qF "$UP" || fail "the abandoned upload is not listed"
"$TPROBE" "$T/c.yaml" cleanup >"$T/cl"
[ "$(cat "$T/cl")" = "cleaned 1" ] || fail "cleanup: $(cat "$T/cl")"
[ -z "$("$TPROBE" "$T/c.yaml" list "sets/$CR/")" ] || fail "the crashed set's objects remain"
[ -z "$(P uploads "$B" srv1/)" ] || fail "the multipart upload was not aborted: $(P uploads "$B" srv1/)"
[ -z "$("$TPROBE" "$T/c.yaml" spool)" ] || fail "the crashed run's spool remains"
[ "$("$TPROBE" "$T/c.yaml" sets)" = "$SET" ] || fail "cleanup touched the complete set"
"$TPROBE" "$T/c.yaml" list "sets/$SET/" | grep -q "manifest.json" || fail "cleanup touched the complete set"

step "Object Lock: lock days on a bucket without it are refused"
cfg "$T/nl.yaml" "s3://$B/srv2" 1 35
expect_fail "lock days, bucket without Object Lock" 1 \
    "bucket $B has no Object Lock, but object_lock_days is 1" \
    "$DVAULT" -c "$T/nl.yaml" target init

step "Object Lock: a locked object target_remove refuses and a DELETE of its version cannot remove"
L=$B-lock
cfg "$T/l.yaml" "s3://$L/srv1" 1 35
"$DVAULT" -c "$T/l.yaml" target init >"$T/init.out"
grep -q "^created a new target (bucket with Object Lock)\$" "$T/init.out" || fail "init: $(cat "$T/init.out")"
grep -q "^lock:     governance, 1 days\$" "$T/init.out" || fail "init: $(cat "$T/init.out")"
"$TPROBE" "$T/l.yaml" put "$N1" "$T/nlo1"
P head "$L" "srv1/$N1" >"$T/head"
grep -q "^lock GOVERNANCE\$" "$T/head" || fail "no retention: $(cat "$T/head")"
UNTIL=$(date -u -d "$(sed -n 's/^until //p' "$T/head")" +%s)
NOW=$(date +%s)
[ $((UNTIL - NOW)) -gt 86000 ] && [ $((UNTIL - NOW)) -le 86400 ] || fail "retain-until $UNTIL, now $NOW"
P head "$L" srv1/target.json | grep -q "^lock GOVERNANCE\$" || fail "target.json without retention"
set +e
"$TPROBE" "$T/l.yaml" remove "$N1" >"$T/out" 2>"$T/err"
rc=$?
set -e
[ $rc = 4 ] || fail "remove of a locked object: exit $rc: $(cat "$T/err")"
grep -q "under Object Lock (GOVERNANCE) until" "$T/err" || fail "remove: $(cat "$T/err")"
[ "$(sed -n 's/^locked until //p' "$T/out")" = "$UNTIL" ] || fail "locked until: $(cat "$T/out")"
[ "$("$TPROBE" "$T/l.yaml" list nlo/)" = "$N1 200000" ] || fail "the locked object is gone from the listing"
P versions "$L" "srv1/$N1" >"$T/v"
! grep -q deletemarker "$T/v" || fail "a refused remove left a delete marker: $(cat "$T/v")"
V=$(sed -n 's/^version //p' "$T/head")
set +e
P rm "$L" "srv1/$N1" "$V" 2>"$T/err"
rc=$?
set -e
[ $rc = 1 ] && grep -q "403 AccessDenied" "$T/err" || fail "a direct DELETE of the version: $rc $(cat "$T/err")"
P head "$L" "srv1/$N1" "$V" | grep -q '^size 200000$' || fail "the locked version is gone"
"$TPROBE" "$T/l.yaml" fetch "$N1" "$T/back"
cmp -s "$T/nlo1" "$T/back" || fail "the locked object: not the bytes"
# a set on the locked bucket: every object of it under retention, the manifest too
LS=$("$TPROBE" "$T/l.yaml" set "$T/nlo1")
for k in "db/nlo1" manifest.json; do
    P head "$L" "srv1/sets/$LS/$k" | grep -q "^lock GOVERNANCE\$" || fail "sets/$LS/$k: no retention"
done
echo "s3_target: ok"

#!/bin/bash
# s3_client.sh - issue 17: the S3 client (backend/s3.c through tools/s3probe) against a real
# Ceph RADOS Gateway (tests/gw/ceph.sh): put/get/ranged get/head/delete with awkward keys,
# listing in name order with continuation over 1,100 keys (max-keys 100), many small objects
# in flight at once, multipart upload (and a ranged read across its parts, and an abandoned
# upload listed and aborted), a wrong secret (SignatureDoesNotMatch, named, the secret never
# shown), a corrupted Content-MD5 (BadDigest), the credentials file's mode, Object Lock
# (GOVERNANCE and COMPLIANCE retention: a delete of the version is refused), and retries:
# a port that refuses (retried, then reported with the count), a server that answers 503
# twice (retried, then stored) or 403 (never retried), and the gateway going away and coming
# back in the middle of an upload.
# needs: gateway (tests/run.sh starts it once and exports GW_DIR, GW_ENDPOINT and the keys;
# run alone, this script starts and stops its own)
set -euo pipefail
S3PROBE=${S3PROBE:?S3PROBE not set}
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvs3-e2e.XXXXXX")
OWN_GW=""
STUB_PID=""
cleanup() {
    [ -n "$STUB_PID" ] && kill "$STUB_PID" 2>/dev/null
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
B=dvt-$$-$RANDOM # bucket names: 3-63 lower-case letters, digits, dashes
P() { "$S3PROBE" "$@"; }

# expect_fail NAME PATTERN CMD...: exit non-zero, stderr matching PATTERN, no secret shown
expect_fail() {
    local name=$1 pat=$2
    shift 2
    set +e
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    set -e
    [ $rc -ne 0 ] || fail "$name: succeeded"
    grep -Eq "$pat" "$T/err" || {
        cat "$T/err" >&2
        fail "$name: stderr lacks /$pat/"
    }
    ! grep -qF "$SECRET" "$T/out" "$T/err" || fail "$name: the secret was printed"
}

step "put, get, ranged get, head, delete; keys that need encoding"
P "$E" mb "$B" >/dev/null
printf 'hello, gateway\n' >"$T/small"
for key in "plain" "dir/sub/a b+c&d=e%f~g.txt" "$(printf 'caf\xc3\xa9/\xe2\x82\xac')" "x//y/./z/../w"; do
    P "$E" put "$B" "$key" "$T/small" >"$T/put.out"
    grep -q "^etag $(md5sum <"$T/small" | cut -d' ' -f1)\$" "$T/put.out" || fail "put '$key': etag"
    P "$E" get "$B" "$key" "$T/got"
    cmp -s "$T/small" "$T/got" || fail "get '$key': not the bytes put"
    P "$E" head "$B" "$key" | grep -q '^size 15$' || fail "head '$key': size"
done
P "$E" range "$B" plain 7 7 "$T/r"
[ "$(cat "$T/r")" = "gateway" ] || fail "ranged get: '$(cat "$T/r")'"
expect_fail "get over its cap" "larger than the 10 bytes" P "$E" get "$B" plain "$T/got" 10
P "$E" rm "$B" plain
set +e
P "$E" head "$B" plain >/dev/null 2>"$T/err"
rc=$?
set -e
[ $rc = 3 ] || fail "head of a deleted object: exit $rc, not 3 (not found)"
grep -q "code NoSuchKey" "$T/err" || fail "head of a deleted object: no NoSuchKey"
expect_fail "get of a missing object" "404 NoSuchKey" P "$E" get "$B" plain "$T/got"

step "1,100 small objects in flight at once; listed in name order, 100 a page"
P -p 8 "$E" batch "$B" many/ 1100 64 >"$T/batch.out"
grep -q "^stored 1100 attempts 1100$" "$T/batch.out" || fail "batch: $(cat "$T/batch.out")"
P "$E" ls "$B" many/ 100 >"$T/ls" 2>"$T/ls.err"
[ "$(wc -l <"$T/ls")" = 1100 ] || fail "listing: $(wc -l <"$T/ls") keys, not 1100"
grep -q '^pages 11$' "$T/ls.err" || fail "listing: $(cat "$T/ls.err"), not 11 pages"
LC_ALL=C sort -c "$T/ls" || fail "listing: not in name order"
[ "$(awk '{print $2}' "$T/ls" | sort -u)" = 64 ] || fail "listing: sizes"
P "$E" get "$B" many/001099 "$T/got"
# object i holds 'a' + (i + k) % 26 at byte k: 1099 % 26 = 7, so "hij..."
[ "$(head -c 3 "$T/got")" = hij ] || fail "batch: object 1099's bytes: $(head -c 3 "$T/got")"

step "multipart: 12 MiB in 5 MiB parts, read back whole and across a part boundary"
head -c $((12 << 20)) /dev/urandom >"$T/big"
P -P 5 "$E" putfd "$B" big "$T/big" >/dev/null
P "$E" get "$B" big "$T/got"
cmp -s "$T/big" "$T/got" || fail "multipart: not the bytes put"
P "$E" range "$B" big $(((5 << 20) - 100)) 200 "$T/r"
cmp -s "$T/r" <(tail -c +$(((5 << 20) - 99)) "$T/big" | head -c 200) || fail "range across parts"
P "$E" uploads "$B" "" >"$T/up"
[ ! -s "$T/up" ] || fail "uploads left after a completed multipart: $(cat "$T/up")"
ID=$(P "$E" mpu-start "$B" abandoned)
P "$E" uploads "$B" "" | grep -qF "abandoned $ID" || fail "an abandoned upload is not listed"
P "$E" mpu-abort "$B" abandoned "$ID"
P "$E" uploads "$B" "" >"$T/up"
[ ! -s "$T/up" ] || fail "an aborted upload is still listed"

step "a wrong secret, a corrupted Content-MD5, the credentials file"
WRONG=wrong-$SECRET
SECRET=$WRONG expect_fail "wrong secret" "403 SignatureDoesNotMatch" \
    env AWS_SECRET_ACCESS_KEY="$WRONG" "$S3PROBE" "$E" put "$B" k "$T/small"
grep -q "code SignatureDoesNotMatch" "$T/err" || fail "wrong secret: the code is not named"
expect_fail "corrupted Content-MD5" "400 BadDigest" P -m AAAAAAAAAAAAAAAAAAAAAA== "$E" put "$B" k "$T/small"
set +e
P "$E" head "$B" k >/dev/null 2>&1
rc=$?
set -e
[ $rc = 3 ] || fail "a refused upload left an object"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
    "$AWS_ACCESS_KEY_ID" "$SECRET" >"$T/cred"
chmod 644 "$T/cred"
expect_fail "a credentials file others can read" "mode 0644.*chmod 600" \
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$S3PROBE" -c "$T/cred" "$E" ls "$B" many/
chmod 600 "$T/cred"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$S3PROBE" -c "$T/cred" "$E" ls "$B" many/00000 \
    >"$T/ls" 2>"$T/err" || fail "the credentials file (0600) is not used: $(cat "$T/err")"
grep -q '^many/000000 64$' "$T/ls" || fail "the credentials file: listing $(cat "$T/ls")"
printf '[default]\naws_access_key_id = %s\n' "$AWS_ACCESS_KEY_ID" >"$T/cred2"
chmod 600 "$T/cred2"
expect_fail "a credentials file without the secret" "lacks aws_secret_access_key" \
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$S3PROBE" -c "$T/cred2" "$E" ls "$B" x

step "Object Lock: GOVERNANCE and COMPLIANCE versions cannot be deleted"
L=$B-lock
P "$E" mb "$L" lock
for mode in GOVERNANCE COMPLIANCE; do
    P -l "$mode:3600" "$E" put "$L" "$mode" "$T/small" >"$T/put.out"
    V=$(sed -n 's/^version //p' "$T/put.out")
    [ -n "$V" ] && [ "$V" != - ] || fail "$mode: no version id"
    P "$E" head "$L" "$mode" >"$T/head.out"
    grep -q "^lock $mode\$" "$T/head.out" || fail "$mode: head says $(grep ^lock "$T/head.out")"
    expect_fail "$mode: delete of the version" "403 AccessDenied" P "$E" rm "$L" "$mode" "$V"
    P "$E" rm "$L" "$mode" # without a version: only a delete marker
    P "$E" head "$L" "$mode" "$V" | grep -q '^size 15$' || fail "$mode: the version is gone"
    P "$E" versions "$L" "$mode" >"$T/v"
    grep -q " deletemarker" "$T/v" && grep -qF "$mode $V old" "$T/v" || fail "$mode: $(cat "$T/v")"
done
expect_fail "a retention on a bucket without Object Lock" "400 InvalidRequest" \
    P -l GOVERNANCE:60 "$E" put "$B" locked "$T/small"

step "retries: a port that refuses"
PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
expect_fail "refused" "(connect|refused).*after 3 attempts" \
    P -r 2 -b 20 "http://127.0.0.1:$PORT" put "$B" k "$T/small"

step "retries: 503 twice then stored; 403 never retried"
cat >"$T/stub.py" <<'PY'
import http.server, sys
plan, portfile, countfile = sys.argv[1].split(","), sys.argv[2], sys.argv[3]
n = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        global n
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        code = int(plan[min(n, len(plan) - 1)])
        n += 1
        open(countfile, "w").write(str(n))
        name = {503: b"SlowDown", 500: b"InternalError", 403: b"AccessDenied"}.get(code, b"X")
        body = b"" if code == 200 else b"<Error><Code>%s</Code><Message>stub</Message></Error>" % name
        self.send_response(code)
        self.send_header("ETag", '"stub"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(portfile + ".tmp", portfile)
s.serve_forever()
PY
stub() { # stub PLAN: start the stub server answering PLAN (codes, the last repeats)
    rm -f "$T/port" "$T/count"
    python3 "$T/stub.py" "$1" "$T/port" "$T/count" &
    STUB_PID=$!
    for _ in $(seq 1 100); do
        [ -s "$T/port" ] && return 0
        sleep 0.1
    done
    fail "the stub server did not start"
}
stub 503,503,200
P -v -r 4 -b 20 "http://127.0.0.1:$(cat "$T/port")" put "$B" k "$T/small" >/dev/null 2>"$T/err" ||
    fail "503 twice: not stored: $(cat "$T/err")"
[ "$(cat "$T/count")" = 3 ] || fail "503 twice: $(cat "$T/count") requests, not 3"
[ "$(grep -c 'retry: .*503 SlowDown' "$T/err")" = 2 ] || fail "503 twice: retries: $(cat "$T/err")"
kill "$STUB_PID"
wait "$STUB_PID" 2>/dev/null || true
stub 403
expect_fail "403" "403 AccessDenied" P -v -r 4 -b 20 "http://127.0.0.1:$(cat "$T/port")" put "$B" k "$T/small"
[ "$(cat "$T/count")" = 1 ] || fail "403: $(cat "$T/count") requests: a 4xx was retried"
! grep -q "retry:" "$T/err" || fail "403: a retry was announced"
kill "$STUB_PID"
wait "$STUB_PID" 2>/dev/null || true
STUB_PID=""
stub 500
expect_fail "500 always" "500 InternalError.*after 3 attempts" \
    P -r 2 -b 20 "http://127.0.0.1:$(cat "$T/port")" put "$B" k "$T/small"
[ "$(cat "$T/count")" = 3 ] || fail "500 always: $(cat "$T/count") requests, not 3"
kill "$STUB_PID"
wait "$STUB_PID" 2>/dev/null || true
STUB_PID=""

step "retries: the gateway goes away in the middle of an upload and comes back"
"$SRC/tests/gw/ceph.sh" rgw-stop "$GW_DIR"
P -v -r 10 -b 300 "$E" put "$B" across-restart "$T/small" >"$T/put.out" 2>"$T/err" &
CLIENT=$!
for i in $(seq 1 200); do
    grep -q "retry: .*connect" "$T/err" && break
    kill -0 $CLIENT 2>/dev/null || break
    [ "$i" = 200 ] && fail "no retry within 20 s: $(cat "$T/err")"
    sleep 0.1
done
grep -q "retry: .*connect" "$T/err" || fail "the client did not retry: $(cat "$T/err")"
"$SRC/tests/gw/ceph.sh" rgw-start "$GW_DIR"
wait $CLIENT || fail "not stored after the gateway came back: $(cat "$T/err")"
P "$E" get "$B" across-restart "$T/got"
cmp -s "$T/small" "$T/got" || fail "across a restart: not the bytes put"

echo "s3_client: all checks passed"

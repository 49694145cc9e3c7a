#!/bin/sh
# deps.sh [build|test|bench|fuzz] - make sure what dvault needs is installed.
# build: the compiler and the libraries dvault links with (a plain `make`, `make run`);
# test adds cmocka (the unit tests), the tools the tests drive and the S3 tests' Ceph gateway
# (ceph-mon, ceph-osd, radosgw, ceph-common); bench (rclone) and fuzz add theirs.
# As root on Debian, installs the missing packages with apt-get; otherwise prints the exact
# apt-get line and exits 1. Quiet when everything is there.
set -u
what=${1:-build}
missing=""
need_pc() { pkg-config --exists "$1" 2>/dev/null || missing="$missing $2"; }
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }

need_cmd pkg-config pkg-config
need_cmd cc gcc
need_cmd make make
if command -v pkg-config >/dev/null 2>&1; then
    need_pc ncursesw libncurses-dev
    need_pc sqlite3 libsqlite3-dev
    need_pc yaml-0.1 libyaml-dev
    need_pc libcrypto libssl-dev
    need_pc jansson libjansson-dev
    need_pc libzstd libzstd-dev
    need_pc libcurl libcurl4-openssl-dev
else
    missing="$missing libncurses-dev libsqlite3-dev libyaml-dev libssl-dev libjansson-dev libzstd-dev libcurl4-openssl-dev"
fi
case "$what" in
test|bench|fuzz)
    if command -v pkg-config >/dev/null 2>&1; then need_pc cmocka libcmocka-dev
    else missing="$missing libcmocka-dev"; fi
    need_cmd tmux tmux
    need_cmd sqlite3 sqlite3
    need_cmd rsync rsync
    need_cmd valgrind valgrind
    need_cmd python3 python3
    need_cmd groff groff-base
    need_cmd man man-db
    need_cmd col bsdextrautils
    # the S3 tests' gateway (tests/gw/ceph.sh): a single-node Ceph RADOS Gateway, and curl
    need_cmd ceph-mon ceph-mon
    need_cmd ceph-osd ceph-osd
    need_cmd radosgw radosgw
    need_cmd ceph ceph-common
    need_cmd curl curl
    ;;
esac
case "$what" in
bench) need_cmd hyperfine hyperfine; need_cmd rclone rclone; [ -x /usr/bin/time ] || missing="$missing time" ;;
fuzz) need_cmd clang clang; [ -d /usr/lib/llvm-14/lib/clang ] || missing="$missing libclang-rt-14-dev" ;;
esac
[ -z "$missing" ] && exit 0
line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing:$missing" >&2
    if ! { apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 ||
           { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null; }; }; then
        echo "deps: '$line' failed" >&2
        exit 1
    fi
    exit 0
fi
echo "deps: missing packages; as root run: $line" >&2
exit 1

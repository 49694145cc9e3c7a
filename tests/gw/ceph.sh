#!/bin/bash
# tests/gw/ceph.sh start|stop|env [DIR] - a single-node Ceph RADOS Gateway for the S3 tests
# (issue 17, docs/s3.md "The gateway harness"), from Debian's ceph-mon, ceph-osd, radosgw and
# ceph-common: one monitor, one OSD on memstore, radosgw (beast) on loopback, all in a
# temporary directory, no systemd, stopped by PID.
#
#   start [DIR]  creates DIR (default: a new $TMPROOT/dvgw-XXXXXX), starts the gateway, waits
#                (bounded) until a SigV4 PUT succeeds, and prints `GW_DIR=DIR` on stdout
#                (progress and timings on stderr). Exit 1 with the reason and the logs' tails
#                if anything does not come up in time; whatever it started is stopped again.
#   env DIR      prints shell assignments for the tests: GW_ENDPOINT, GW_REGION,
#                AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (a test user with a generated key),
#                GW_DIR, GW_PIDS
#   rgw-stop DIR, rgw-start DIR  stop / start the gateway alone (the monitor and the OSD stay):
#                the tests of retries across a gateway that goes away and comes back
#   stop DIR     stops the daemons by their PIDs (TERM, then KILL after a bound) and removes
#                DIR (kept when GW_KEEP=1, as is a failed start's)
#
# Ports: the monitor's and the gateway's are chosen free by binding port 0 (python3); a start
# that loses the race for one (another run took it meanwhile) is retried with new ports. The
# OSD binds in its own range, trying the next port when one is taken. Nothing listens beyond
# 127.0.0.1 (public_addr, cluster_addr, ms_bind_msgr1 = false, beast endpoint).
# Env: GW_TIMEOUT (seconds for each wait, default 60), GW_MEMSTORE_BYTES (the OSD's memory
# store, default 2 GiB: it only takes what is written).
set -u
TIMEOUT=${GW_TIMEOUT:-60}

say() { echo "gw: $*" >&2; }
die() {
    say "$*"
    exit 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# CEPH: the ceph CLI on this cluster, with a bound on each call
cli() { timeout 20 ceph -c "$D/ceph.conf" --connect-timeout 10 "$@"; }

alive() { [ -f "$D/pid.$1" ] && kill -0 "$(cat "$D/pid.$1")" 2>/dev/null; }

tails() {
    for f in "$D"/log/*.log "$D"/out.*; do
        [ -s "$f" ] || continue
        echo "--- $f (last lines)" >&2
        tail -n 8 "$f" >&2
    done
}

# wait_for WHAT DAEMON CMD...: poll CMD every 0.1 s until it succeeds, at most TIMEOUT
# seconds; fails at once when DAEMON (a pid file's name) has exited
wait_for() {
    local what=$1 daemon=$2 t0 n=0
    shift 2
    t0=$(now)
    while ! "$@" >/dev/null 2>&1; do
        if [ -n "$daemon" ] && ! alive "$daemon"; then
            say "$daemon exited while waiting for $what"
            return 1
        fi
        n=$((n + 1))
        if [ $n -gt $((TIMEOUT * 10)) ]; then
            say "timed out after ${TIMEOUT}s waiting for $what"
            return 1
        fi
        sleep 0.1
    done
    say "$what after $(since "$t0") s"
}

# spawn NAME CMD...: run a daemon in the foreground of a background job, its pid in pid.NAME
spawn() {
    local name=$1
    shift
    "$@" >"$D/out.$name" 2>&1 </dev/null &
    echo $! >"$D/pid.$name"
}

write_conf() {
    cat >"$D/ceph.conf" <<EOF
[global]
fsid = $FSID
mon_host = [v2:127.0.0.1:$MONPORT]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
ms_bind_ipv6 = false
ms_bind_port_min = $OSDPORT
ms_bind_port_max = $((OSDPORT + 200))
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_mon_client_mode = crc secure
run_dir = $D/run
admin_socket = $D/run/\$name.asok
log_file = $D/log/\$name.log
pid_file = $D/run/\$name.pid
keyring = $D/keyring
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_crush_chooseleaf_type = 0
paxos_propose_interval = 0.05
mon_allow_pool_delete = true
[mon]
mon_data = $D/mon/\$cluster-\$id
[osd]
osd_data = $D/osd/\$cluster-\$id
osd_objectstore = memstore
memstore_device_bytes = ${GW_MEMSTORE_BYTES:-2147483648}
[client.rgw.gw]
rgw_frontends = beast endpoint=127.0.0.1:$RGWPORT
rgw_data = $D/rgw
rgw_dns_name = 127.0.0.1
EOF
}

# a SigV4 PUT (curl's signer) of a small object into a probe bucket: the readiness check
sigv4_put() {
    local u="http://127.0.0.1:$RGWPORT/dvgw-probe"
    curl -fsS -m 5 --aws-sigv4 aws:amz:us-east-1:s3 --user "$AK:$SK" \
        -H "x-amz-content-sha256: $(printf '' | sha256sum | cut -d' ' -f1)" -X PUT "$u" \
        >/dev/null 2>&1
    curl -fsS -m 5 --aws-sigv4 aws:amz:us-east-1:s3 --user "$AK:$SK" \
        -H "x-amz-content-sha256: $(printf ready | sha256sum | cut -d' ' -f1)" \
        -X PUT --data-binary ready "$u/ready" >/dev/null
}

osd_up() { cli osd dump 2>/dev/null | grep -q '^osd\.0 up '; }

# stop_daemons NAME...: TERM to each (by its pid file), then wait at most 10 s for all of
# them, then KILL what is left
stop_daemons() {
    local n p pids=""
    for n in "$@"; do
        [ -f "$D/pid.$n" ] || continue
        p=$(cat "$D/pid.$n")
        kill -TERM "$p" 2>/dev/null && pids="$pids $p"
    done
    for _ in $(seq 1 100); do
        local alive=""
        for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
        pids=$alive
        [ -z "$pids" ] && return 0
        sleep 0.1
    done
    say "pids$pids did not stop in 10 s: KILL"
    for p in $pids; do kill -KILL "$p" 2>/dev/null; done
    return 0
}

# one at a time, the gateway first: stopped together, the gateway waits on the OSD and the
# OSD on the monitor (TERM to all three at once took 6.5 s, or hung past 10 s)
stop_all() { stop_daemons rgw && stop_daemons osd && stop_daemons mon; }

try_start() {
    local t0 osdid
    t0=$(now)
    MONPORT=$(free_port) && RGWPORT=$(free_port) && OSDPORT=$(free_port) || return 1
    # the OSD's range starts from a free port and goes up 200; clamp below 65000
    [ "$OSDPORT" -gt 65000 ] && OSDPORT=$((OSDPORT - 1000))
    FSID=$(cat /proc/sys/kernel/random/uuid)
    rm -rf "$D/mon" "$D/osd" "$D/rgw" "$D/run" "$D/log" "$D"/pid.* "$D"/out.*
    mkdir -p "$D/mon/ceph-a" "$D/osd/ceph-0" "$D/rgw" "$D/run" "$D/log" || return 1
    write_conf
    : >"$D/keyring"
    monmaptool --create --fsid "$FSID" --addv a "[v2:127.0.0.1:$MONPORT]" "$D/monmap" \
        >"$D/out.monmap" 2>&1 || {
        say "monmaptool failed"
        return 1
    }
    ceph-mon -c "$D/ceph.conf" --mkfs -i a --monmap "$D/monmap" >"$D/out.mkfs" 2>&1 || {
        say "ceph-mon --mkfs failed"
        return 1
    }
    spawn mon ceph-mon -c "$D/ceph.conf" -i a -f
    wait_for "the monitor" mon cli osd pool ls || return 1
    OSDUUID=$(cat /proc/sys/kernel/random/uuid)
    osdid=$(cli osd new "$OSDUUID") || {
        say "ceph osd new failed"
        return 1
    }
    [ "$osdid" = 0 ] || {
        say "ceph osd new gave id '$osdid', expected 0"
        return 1
    }
    ceph-osd -c "$D/ceph.conf" -i 0 --mkfs --osd-uuid "$OSDUUID" >"$D/out.osdmkfs" 2>&1 || {
        say "ceph-osd --mkfs failed"
        return 1
    }
    spawn osd ceph-osd -c "$D/ceph.conf" -i 0 -f
    wait_for "the OSD up" osd osd_up || return 1
    spawn rgw radosgw -c "$D/ceph.conf" -n client.rgw.gw -f
    wait_for "the gateway's port" rgw curl -s -m 2 -o /dev/null "http://127.0.0.1:$RGWPORT/" ||
        return 1
    AK=DV$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
    SK=$(od -An -N30 -tx1 /dev/urandom | tr -d ' \n')
    timeout 60 radosgw-admin -c "$D/ceph.conf" -n client.rgw.gw user create --uid dvtest \
        --display-name "dvault tests" --access-key "$AK" --secret "$SK" \
        >"$D/out.user" 2>&1 || {
        say "radosgw-admin user create failed"
        return 1
    }
    wait_for "a SigV4 PUT" rgw sigv4_put || return 1
    say "first SigV4 PUT $(since "$t0") s after start"
    {
        echo "GW_ENDPOINT=http://127.0.0.1:$RGWPORT"
        echo "GW_REGION=us-east-1"
        echo "AWS_ACCESS_KEY_ID=$AK"
        echo "AWS_SECRET_ACCESS_KEY=$SK"
        echo "GW_DIR=$D"
        echo "GW_PIDS='$(cat "$D/pid.mon") $(cat "$D/pid.osd") $(cat "$D/pid.rgw")'"
    } >"$D/env.tmp" && mv "$D/env.tmp" "$D/env"
    chmod 600 "$D/env"
}

cmd=${1:-}
case "$cmd" in
start)
    for c in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph curl python3; do
        command -v $c >/dev/null || die "$c not installed (make test-deps installs the gateway)"
    done
    if [ -n "${2:-}" ]; then
        D=$2
        mkdir -p "$D" || die "cannot create $D"
    else
        D=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvgw-XXXXXX") || die "mktemp failed"
    fi
    D=$(cd "$D" && pwd)
    for attempt in 1 2 3; do
        if try_start; then
            echo "GW_DIR=$D"
            exit 0
        fi
        tails
        stop_all
        # a port taken between choosing and binding: try again with new ones
        grep -qsi 'address already in use' "$D"/log/*.log "$D"/out.* || break
        say "a port was taken meanwhile: attempt $((attempt + 1))"
    done
    if [ "${GW_KEEP:-}" = 1 ]; then
        die "the gateway did not start (state kept in $D)"
    fi
    rm -rf "$D"
    die "the gateway did not start (GW_KEEP=1 keeps its directory)"
    ;;
env)
    D=${2:?usage: ceph.sh env DIR}
    [ -f "$D/env" ] || die "$D/env: no gateway started there"
    cat "$D/env"
    ;;
rgw-stop)
    # the gateway alone (monitor and OSD stay): the tests of retries on connection errors
    D=${2:?usage: ceph.sh rgw-stop DIR}
    stop_daemons rgw
    ;;
rgw-start)
    D=${2:?usage: ceph.sh rgw-start DIR}
    RGWPORT=$(sed -n 's|^GW_ENDPOINT=http://127.0.0.1:||p' "$D/env")
    [ -n "$RGWPORT" ] || die "$D/env: no endpoint"
    spawn rgw radosgw -c "$D/ceph.conf" -n client.rgw.gw -f
    wait_for "the gateway's port" rgw curl -s -m 2 -o /dev/null "http://127.0.0.1:$RGWPORT/" ||
        die "the gateway did not come back"
    ;;
stop)
    D=${2:?usage: ceph.sh stop DIR}
    [ -d "$D" ] || die "$D: no such directory"
    stop_all
    [ "${GW_KEEP:-}" = 1 ] || rm -rf "$D"
    ;;
*)
    echo "usage: ceph.sh start [DIR] | env DIR | rgw-stop DIR | rgw-start DIR | stop DIR" >&2
    exit 2
    ;;
esac

#!/bin/bash
# soak_incr.sh - incrementals under an application that maintains its files (issue 11, case 4):
# at each page size (PAGE_SIZES, default 512 1024 4096 65536) a server of two databases is
# written by two writers, one of which reconnects per transaction, with VACUUM after ~1% and
# wal_checkpoint(TRUNCATE) after ~1.5% of the transactions (dvload run --reconnect --vacuum
# --truncate). Meanwhile ROUNDS backups per delta mode (apply and keep, each with its own
# target and catalog) alternate full and incremental. EVERY set is restored
# (`dvault restore --set ID --db PATH --into NEW`) and the result checked: PRAGMA
# integrity_check and the writers' invariants (`dvload verify --file`: accounts balanced,
# commit log without gaps), and the commit count never goes back from set to set. A backup
# that fails is a failure too (it must not fail here: nothing is wrong with the server), and
# so is an incremental set that took a full copy of a database after a good set.
# Prints, per page size and mode: sets taken, restores checked (of incremental copies), failures.
#   make test: ROUNDS=6 (under a minute idle); make soak: ROUNDS=100 (INCR_ROUNDS=N)
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
ROUNDS=${ROUNDS:-6}
PAGE_SIZES=${PAGE_SIZES:-512 1024 4096 65536}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvsoakinc.XXXXXX")
LOADPID=
cleanup() {
    [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

declare -A sets restores incrs failures
total_fail=0
note_failure() { # ps mode message
    failures[$1-$2]=$((${failures[$1-$2]} + 1))
    total_fail=$((total_fail + 1))
    echo "  FAILURE ($1 $2): $3"
}

for ps in $PAGE_SIZES; do
    S="$T/ps$ps"
    mkdir -p "$S"
    for mode in apply keep; do
        cat >"$S/$mode.yaml" <<EOF
server:
  data_dir: data
  max_files_per_subdir: 200
  key_file: server.key
backup:
  target: backup-$mode
  delta: $mode
  retention: { keep_sets: 4, keep_days: 0 }
catalog: catalog-$mode.db
EOF
        "$DVAULT" -c "$S/$mode.yaml" target init >/dev/null
        sets[$ps-$mode]=0 restores[$ps-$mode]=0 incrs[$ps-$mode]=0 failures[$ps-$mode]=0
    done
    "$DVLOAD" -c "$S/apply.yaml" init --databases 2 --docs 30 --seed "$ps" --page-size "$ps" >/dev/null
    [ "$(sqlite3 "$S/data/mail/alice.nsf" 'PRAGMA page_size')" = "$ps" ] || fail "page size of alice.nsf is not $ps"
    "$DVLOAD" -c "$S/apply.yaml" run --seconds 86400 --writers 2 --reconnect 1 --vacuum 10 \
        --truncate 15 --max-size 65536 --seed "$ps" >"$S/load.out" 2>&1 &
    LOADPID=$!
    declare -A last=() good=()
    for i in $(seq 1 "$ROUNDS"); do
        kind=--full
        [ $((i % 2)) = 0 ] && kind=--incremental
        for mode in apply keep; do
            cfg="$S/$mode.yaml"
            kill -0 "$LOADPID" 2>/dev/null || { cat "$S/load.out"; fail "page size $ps: the writers stopped"; }
            if ! "$DVAULT" -c "$cfg" backup "$kind" -q >"$S/backup.out" 2>&1; then
                note_failure "$ps" "$mode" "backup $i ($kind) failed: $(grep -m3 -i 'error' "$S/backup.out" | tr '\n' ' ')"
                good[$mode]=0
                continue
            fi
            set=$("$DVAULT" -c "$cfg" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)
            sets[$ps-$mode]=$((${sets[$ps-$mode]} + 1))
            for db in mail/alice.nsf mail/bob.nsf; do
                if [ -f "$S/backup-$mode/sets/$set/db/$db.inc" ]; then
                    incrs[$ps-$mode]=$((${incrs[$ps-$mode]} + 1))
                elif [ "$kind" = --incremental ] && [ "${good[$mode]:-0}" = 1 ]; then
                    note_failure "$ps" "$mode" "incremental set $set took a full copy of $db: $(grep -o '"full_reason": "[^"]*"' "$S/backup-$mode/sets/$set/manifest.json" | sort -u | tr '\n' ' ')"
                fi
                out="$S/restored.nsf"
                rm -f "$out"
                restores[$ps-$mode]=$((${restores[$ps-$mode]} + 1))
                if ! "$DVAULT" -c "$cfg" restore --set "$set" --db "$db" --into "$out" >"$S/restore.out" 2>&1; then
                    note_failure "$ps" "$mode" "set $set ($kind) $db: $(tail -1 "$S/restore.out")"
                    continue
                fi
                [ "$(sqlite3 "file:$out?immutable=1" 'PRAGMA integrity_check')" = ok ] ||
                    { note_failure "$ps" "$mode" "set $set $db: integrity_check failed"; continue; }
                if ! v=$("$DVLOAD" verify --file "$out" 2>&1); then
                    note_failure "$ps" "$mode" "set $set $db: $v"
                    continue
                fi
                n=${v#ok: }
                n=${n%% *}
                prev=${last[$mode-$db]:-0}
                [ "$n" -ge "$prev" ] ||
                    note_failure "$ps" "$mode" "set $set $db: commit count went back ($n < $prev)"
                last[$mode-$db]=$n
            done
            good[$mode]=1
            if [ $((i % 10)) = 0 ]; then # a long soak keeps its targets bounded by retention
                "$DVAULT" -c "$cfg" prune >"$S/prune.out" 2>&1 || { cat "$S/prune.out"; fail "prune ($ps $mode)"; }
            fi
        done
    done
    kill -TERM "$LOADPID"
    wait "$LOADPID" || { cat "$S/load.out"; fail "page size $ps: dvload run failed"; }
    LOADPID=
    grep -q 'VACUUMs' "$S/load.out" || { cat "$S/load.out"; fail "dvload run did not report its maintenance"; }
    echo "page size $ps: $(sed -n 's/^dvload run: //p' "$S/load.out" | tr '\n' ' ')"
    for mode in apply keep; do
        printf 'page size %5s, delta %-5s: %3d sets taken, %3d restores checked (%d of incremental copies), %d failures\n' \
            "$ps" "$mode" "${sets[$ps-$mode]}" "${restores[$ps-$mode]}" "${incrs[$ps-$mode]}" "${failures[$ps-$mode]}"
    done
    unset last good
    rm -rf "$S"
done
[ "$total_fail" = 0 ] || fail "$total_fail failure(s)"
echo "ok: $ROUNDS backups per page size and mode, every set restored and checked"

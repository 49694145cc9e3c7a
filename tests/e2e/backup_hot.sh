#!/bin/bash
# backup_hot.sh - hot backups while the server writes: `dvload run` with 4 writers while
# `dvault backup` runs ten times in a row (alternating delta: apply and delta: keep).
# Every copy (apply: as stored; keep: restored, i.e. with its .delta applied) must pass
# PRAGMA integrity_check, keep the writers' invariants (account sum constant, commit log
# without gaps and growing from set to set) and reference only NLOs the pool holds.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
ROUNDS=${ROUNDS:-10}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvhot.XXXXXX")
LOADPID=
cleanup() { [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/load.lib"

for mode in apply keep; do
    cat >"$T/$mode.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  max_files_per_subdir: 200
  key_file: server.key
backup:
  target: backup
  delta: $mode
  retention: { keep_sets: 3, keep_days: 0 }
catalog: catalog.db
EOF
done
"$DVLOAD" -c "$T/apply.yaml" init --databases 6 --docs 25 --seed 11 >/dev/null
"$DVAULT" -c "$T/apply.yaml" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
"$DVLOAD" -c "$T/apply.yaml" run --seconds $((ROUNDS * 10 + 60)) --writers 4 --seed 5 \
    $([ "$ROUNDS" -gt 10 ] && echo --max-size 65536) >"$T/load.out" 2>&1 &
LOADPID=$!
load_wait "$T/data" "$LOADPID" 20 # the writers are under way before the first backup

q() { sqlite3 "file:$1?immutable=1" "$2"; }

declare -A last_commits
check_copy() { # set db copy-file
    local set=$1 db=$2 f=$3
    [ "$(q "$f" 'PRAGMA integrity_check')" = ok ] || fail "$set $db: integrity_check failed"
    local sum n maxseq
    sum=$(q "$f" 'SELECT sum(balance) FROM dvload_accounts')
    [ "$sum" = 16000 ] || fail "$set $db: account sum $sum, expected 16000 (torn copy)"
    read -r n maxseq <<<"$(q "$f" 'SELECT count(*), coalesce(max(seq),0) FROM dvload_txlog' | tr '|' ' ')"
    [ "$n" = "$maxseq" ] || fail "$set $db: commit log has gaps ($n rows, max seq $maxseq)"
    local prev=${last_commits[$db]:-0}
    [ "$n" -ge "$prev" ] || fail "$set $db: commit counter went back ($n < $prev)"
    last_commits[$db]=$n
    # every NLO the copy references is in the pool (NLOs are backed up after the databases)
    local missing=0
    while read -r nlo; do
        [ -n "$nlo" ] || continue
        [ -f "$T/backup/nlo/${nlo:0:3}/$nlo" ] || { echo "  not in pool: $nlo"; missing=$((missing + 1)); }
    done < <(q "$f" 'SELECT DISTINCT nlo FROM attachments WHERE nlo IS NOT NULL')
    [ $missing = 0 ] || fail "$set $db: $missing referenced NLO(s) missing from the pool"
}

copies=0; deltas=0; pruned=0
for i in $(seq 1 "$ROUNDS"); do
    mode=apply; [ $((i % 2)) = 0 ] && mode=keep # alternate: a soak stopped early covers both
    before=$(sqlite3 "$T/data/mail/alice.nsf" 'SELECT count(*) FROM dvload_txlog')
    "$DVAULT" -c "$T/$mode.yaml" backup -q >"$T/backup.out" 2>&1 || { cat "$T/backup.out"; fail "backup $i ($mode)"; }
    after=$(sqlite3 "$T/data/mail/alice.nsf" 'SELECT count(*) FROM dvload_txlog')
    set=$("$DVAULT" -c "$T/apply.yaml" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)
    [ -d "$T/backup/sets/$set" ] || fail "set $set has no directory"
    echo "round $i: set $set ($mode), writers committed $((after - before)) transactions to alice.nsf during it"
    for f in $(cd "$T/backup/sets/$set/db" && find . -name '*.nsf' | sed 's|^\./||' | sort); do
        if [ $mode = apply ]; then
            [ ! -e "$T/backup/sets/$set/db/$f.delta" ] || fail "apply mode left a delta for $f"
            check_copy "$set" "$f" "$T/backup/sets/$set/db/$f"
        else
            [ -f "$T/backup/sets/$set/db/$f.delta" ] || fail "keep mode: no $f.delta in $set"
            deltas=$((deltas + 1))
            out="$T/restored-$i-${f//\//_}"
            "$DVAULT" -c "$T/keep.yaml" restore --set "$set" --db "$f" --into "$out" >/dev/null ||
                fail "restore of $f from $set"
            check_copy "$set" "$f" "$out"
            rm -f "$out"
        fi
        copies=$((copies + 1))
    done
    # a long soak keeps the target bounded the way an operator would, by its retention (a
    # prune under load, too); the server's growth is bounded by dvload --max-size
    if [ "$ROUNDS" -gt 10 ] && [ $((i % 10)) = 0 ]; then
        "$DVAULT" -c "$T/apply.yaml" prune >"$T/prune.out" 2>&1 || { cat "$T/prune.out"; fail "prune after round $i"; }
        pruned=$((pruned + 1))
    fi
done
kill "$LOADPID"; wait "$LOADPID" 2>/dev/null || true; LOADPID=
grep -q 'transactions' "$T/load.out" || { cat "$T/load.out"; fail "dvload run did not report"; }
echo "ok: $ROUNDS backups under 4 writers, $copies copies checked ($deltas via their kept .delta), $pruned prunes"

#!/bin/bash
# hostile_target.sh - issue 12 (findings 1, 2, 10): a target someone tampered with after a real
# backup. Every file beneath the target is opened beneath its directory without following a
# link, created with O_EXCL, opened O_NONBLOCK and refused when it is not a regular file
# (backend/fsb.h). Real binaries.
#   1. nlo/xxx/.NAME.tmp a link to a file outside: the next backup that copies NAME leaves the
#      file alone and says so; nlo/xxx a link to a directory outside: nothing appears there,
#      the backup names the link;
#   2. nlo/xxx a link to a live DAOS subdirectory, then prune: no live NLO is deleted; a link
#      under archive/, then archive: not followed, nothing written behind it;
#  10. a FIFO in place of a database copy, a kept .delta, a .inc, a page map, a pool object:
#      verify, restore, backup --incremental and recover finish (each under `timeout 60`: exit
#      124 is a failure) with a message naming the path.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvhtarget.XXXXXX")
trap 'rm -rf "$T"' EXIT
# KEEP_GOING=1 reports every failure and goes on (to see each finding fail on older code)
fail() {
    echo "FAIL: $*" >&2
    [ -n "${KEEP_GOING:-}" ] || exit 1
    FAILED=1
}
FAILED=
step() { echo "== $*"; }
cat >"$T/c.yaml" <<EOF
server: { data_dir: data, daos_dir: daos, key_file: server.key, min_object_size: 1024 }
backup: { target: backup, delta: keep, retention: { keep_sets: 1, keep_days: 0 } }
catalog: catalog.db
EOF
C=(-c "$T/c.yaml")
B=$T/backup
# bounded: run CMD under timeout 60, output in $T/out, exit code in $rc; a timeout fails (124;
# 137 when a process blocked in open() ignored the SIGTERM and needed the KILL 10 s later)
bounded() {
    set +e
    timeout -k 10 60 "$@" >"$T/out" 2>&1
    rc=$?
    set -e
    if [ $rc = 124 ] || [ $rc = 137 ]; then
        cat "$T/out"
        fail "$* did not finish within 60 s (hung)"
    fi
}
# names PATH WHAT: the output names PATH
names() { grep -qF -- "$1" "$T/out" || { cat "$T/out"; fail "$2: the message does not name $1"; }; }
live() { find "$T/data/daos" -name "$1" -type f -print -quit; }

"$DVLOAD" "${C[@]}" init --databases 3 --docs 40 --seed 7 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"
"$DVAULT" "${C[@]}" backup -q --full >/dev/null || fail "backup 1"
S1=$(ls "$B/sets" | sort | tail -1)
"$DVLOAD" "${C[@]}" run --seconds 1 --writers 2 --seed 3 >/dev/null
"$DVAULT" "${C[@]}" backup -q --incremental >/dev/null || fail "backup 2"
S2=$(ls "$B/sets" | sort | tail -1)
[ "$S1" != "$S2" ] || fail "setup: one set"
[ -f "$B/sets/$S1/db/mail/alice.nsf.delta" ] || fail "setup: no kept delta in $S1"
[ -f "$B/sets/$S2/db/mail/alice.nsf.inc" ] || fail "setup: $S2 is not incremental"

# swap PATH: replace PATH by a FIFO (the real file kept aside); unswap PATH puts it back
swap() { mv "$1" "$1.real"; mkfifo "$1"; }
unswap() { rm -f "$1"; mv "$1.real" "$1"; }

step "finding 10: a FIFO in place of a database copy: verify and restore finish"
P=$B/sets/$S1/db/mail/alice.nsf
swap "$P"
bounded "$DVAULT" "${C[@]}" verify --set "$S1"
[ $rc = 1 ] || { cat "$T/out"; fail "verify: exit $rc, expected 1"; }
names "$P" "verify"
grep -q "FIFO" "$T/out" || { cat "$T/out"; fail "verify should say it is a FIFO"; }
bounded "$DVAULT" "${C[@]}" restore --set "$S1" --db mail/alice.nsf --into "$T/r1.nsf"
[ $rc = 1 ] || { cat "$T/out"; fail "restore: exit $rc, expected 1"; }
names "$P" "restore"
[ ! -e "$T/r1.nsf" ] || fail "restore left a file"
unswap "$P"

step "finding 10: a FIFO in place of a kept .delta: verify and restore finish"
P=$B/sets/$S1/db/mail/bob.nsf.delta
swap "$P"
bounded "$DVAULT" "${C[@]}" verify --set "$S1"
[ $rc = 1 ] || { cat "$T/out"; fail "verify: exit $rc, expected 1"; }
names "$P" "verify"
bounded "$DVAULT" "${C[@]}" restore --set "$S1" --db mail/bob.nsf --into "$T/r2.nsf"
[ $rc = 1 ] || { cat "$T/out"; fail "restore: exit $rc, expected 1"; }
names "$P" "restore"
unswap "$P"

step "finding 10: a FIFO in place of a .inc: verify and restore finish"
P=$B/sets/$S2/db/mail/carol.nsf.inc
swap "$P"
bounded "$DVAULT" "${C[@]}" verify --set "$S2"
[ $rc = 1 ] || { cat "$T/out"; fail "verify: exit $rc, expected 1"; }
names "$P" "verify"
bounded "$DVAULT" "${C[@]}" restore --set "$S2" --db mail/carol.nsf --into "$T/r3.nsf"
[ $rc = 1 ] || { cat "$T/out"; fail "restore: exit $rc, expected 1"; }
names "$P" "restore"
unswap "$P"

step "finding 10: a FIFO in place of a page map: restore, verify, backup --incremental finish"
P=$B/sets/$S2/db/mail/alice.nsf.pagemap
swap "$P"
bounded "$DVAULT" "${C[@]}" restore --set "$S2" --db mail/alice.nsf --into "$T/r4.nsf"
[ $rc = 1 ] || { cat "$T/out"; fail "restore: exit $rc, expected 1"; }
names "$P" "restore"
bounded "$DVAULT" "${C[@]}" verify --set "$S2"
[ $rc = 1 ] || { cat "$T/out"; fail "verify: exit $rc, expected 1"; }
names "$P" "verify"
"$DVLOAD" "${C[@]}" run --seconds 1 --writers 2 --seed 4 >/dev/null
bounded "$DVAULT" "${C[@]}" backup --incremental
[ $rc = 0 ] || { cat "$T/out"; fail "backup --incremental: exit $rc"; }
names "$P" "backup --incremental"
grep -q "mail/alice.nsf: full copy in this incremental set: origin page map unusable" "$T/out" ||
    { cat "$T/out"; fail "the backup should copy alice in full, saying why"; }
unswap "$P"
S3=$(ls "$B/sets" | sort | tail -1)

step "finding 10: a FIFO in place of a pool object: verify and recover finish"
X=$(awk -F'\t' 'NR == 1 { print $1 }' "$B/sets/$S1/nlo-new.tsv")
P=$B/nlo/${X:0:3}/$X
LX=$(live "$X")
[ -n "$LX" ] || fail "setup: $X not live"
mv "$LX" "$T/live.real"
swap "$P"
bounded "$DVAULT" "${C[@]}" verify --set "$S1"
[ $rc = 1 ] || { cat "$T/out"; fail "verify: exit $rc, expected 1"; }
names "$P" "verify"
echo "$X" >"$T/list.txt"
bounded "$DVAULT" "${C[@]}" recover --list "$T/list.txt"
[ $rc = 1 ] || { cat "$T/out"; fail "recover: exit $rc, expected 1"; }
names "$P" "recover"
[ ! -e "$LX" ] || fail "recover installed something from a FIFO"
unswap "$P"
mv "$T/live.real" "$LX"
bounded "$DVAULT" "${C[@]}" verify
[ $rc = 0 ] || { cat "$T/out"; fail "verify after the repairs: exit $rc"; }

step "finding 1: nlo/xxx/.NAME.tmp a link to a file outside: the backup that copies NAME leaves it"
X=$(awk -F'\t' 'NR == 1 { print $1 }' "$B/sets/$S2/nlo-new.tsv")
P=$B/nlo/${X:0:3}/$X
rm "$P" # the pool lost it: the next backup copies it again
echo precious >"$T/victim"
ln -s "$T/victim" "$B/nlo/${X:0:3}/.$X.tmp"
bounded "$DVAULT" "${C[@]}" backup --incremental
[ "$(cat "$T/victim")" = precious ] || fail "the backup wrote through $B/nlo/${X:0:3}/.$X.tmp"
[ $rc = 0 ] || { cat "$T/out"; fail "backup: exit $rc"; }
[ -f "$P" ] && [ ! -L "$P" ] || fail "$P not back in the pool as a regular file"
cmp -s "$P" "$(live "$X")" || fail "$P differs from the live object"
names "$B/nlo/${X:0:3}/.$X.tmp" "backup (planted temporary)"
[ ! -L "$B/nlo/${X:0:3}/.$X.tmp" ] || fail "the planted link is still there"

step "finding 1: nlo/xxx a link to a directory outside: nothing written there, the backup names it"
X=$(awk -F'\t' -v p="${X:0:3}" 'substr($1, 1, 3) != p { print $1; exit }' "$B/sets/$S2/nlo-new.tsv")
PD=$B/nlo/${X:0:3}
mv "$PD" "$T/pooldir.real"
mkdir "$T/outside"
ln -s "$T/outside" "$PD"
bounded "$DVAULT" "${C[@]}" backup --incremental
[ -z "$(ls -A "$T/outside")" ] || fail "the backup wrote into $T/outside through $PD"
[ $rc = 1 ] || { cat "$T/out"; fail "backup: exit $rc, expected 1"; }
names "$PD" "backup (linked pool directory)"
rm "$PD"
mv "$T/pooldir.real" "$PD"

step "finding 2: a link under archive/: archive does not follow it"
sqlite3 "$T/data/mail/zz.nsf" "PRAGMA journal_mode=WAL;" ".dbconfig no_ckpt_on_close on" \
    "CREATE TABLE t(x); INSERT INTO t VALUES (1);" >/dev/null
[ -s "$T/data/mail/zz.nsf-wal" ] || fail "setup: no WAL frames to archive"
mkdir -p "$B/archive" "$T/outside-archive"
ln -s "$T/outside-archive" "$B/archive/mail"
bounded "$DVAULT" "${C[@]}" archive --db mail/zz.nsf
[ -z "$(ls -A "$T/outside-archive")" ] || fail "archive wrote into $T/outside-archive through $B/archive/mail"
[ $rc = 1 ] || { cat "$T/out"; fail "archive: exit $rc, expected 1"; }
names "$B/archive/mail" "archive"
rm "$B/archive/mail" "$T/data/mail/zz.nsf"*

step "finding 2: nlo/xxx a link to a live DAOS subdirectory, then prune: no live NLO deleted"
"$DVAULT" "${C[@]}" backup -q --full >/dev/null || fail "backup (full)"
last=$(sqlite3 "$T/catalog.db" "SELECT max(seq) FROM sets")
# the pool objects no reference of the newest set needs (prune deletes those) that are still live
X=
while read -r n; do
    if [ -n "$(live "$n")" ]; then X=$n; break; fi
done < <(sqlite3 "$T/catalog.db" "SELECT name FROM pool WHERE name NOT IN (SELECT nlo FROM refs
    WHERE first_seq <= $last AND (last_seq IS NULL OR last_seq >= $last)) ORDER BY name")
[ -n "$X" ] || fail "setup: no unneeded pool object that is still live"
LX=$(live "$X")
sum=$(sha256sum <"$LX")
nlive=$(find "$T/data/daos" -name '*.nlo' | wc -l)
PD=$B/nlo/${X:0:3}
mv "$PD" "$T/pooldir.real"
ln -s "$(dirname "$LX")" "$PD"
bounded "$DVAULT" "${C[@]}" prune
[ -f "$LX" ] && [ "$(sha256sum <"$LX")" = "$sum" ] || fail "prune deleted the live NLO $LX through $PD"
[ "$(find "$T/data/daos" -name '*.nlo' | wc -l)" = "$nlive" ] || fail "prune deleted live NLOs"
[ $rc = 1 ] || { cat "$T/out"; fail "prune: exit $rc, expected 1"; }
names "$PD" "prune"
rm "$PD"
mv "$T/pooldir.real" "$PD"
bounded "$DVAULT" "${C[@]}" prune
[ $rc = 0 ] || { cat "$T/out"; fail "prune after the repair: exit $rc"; }
[ ! -e "$PD/$X" ] || fail "prune after the repair left $X in the pool"
"$DVLOAD" "${C[@]}" verify >/dev/null || fail "dvload verify: the live server is damaged"
bounded "$DVAULT" "${C[@]}" verify
[ $rc = 0 ] || { cat "$T/out"; fail "verify at the end: exit $rc"; }
[ -z "$FAILED" ] || exit 1
echo "hostile_target e2e: ok"

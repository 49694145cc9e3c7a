#!/bin/bash
# hostile_refused.sh - issue 12, finding 13, end to end with the real binaries: clear messages.
#  - prune while another job holds the target's lock says only "target busy" (it printed
#    "prune removed 0 set(s)..." first);
#  - a symbolic link or a FIFO under an NLO's name in the live DAOS repository is reported
#    "refused: a symbolic link (never followed; ...)", not "skipped (next run picks it up)",
#    which never happens (and the FIFO does not block the backup);
#  - a database the globs match that is a symbolic link, a symbolic link to a directory of
#    databases, and a DAOS subdirectory that is a symbolic link are reported (backup warnings
#    and summary, status), not skipped without a word. Nothing behind a link is read.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvrefused-e2e.XXXXXX")
HOLD=
cleanup() {
    [ -n "$HOLD" ] && kill "$HOLD" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf"]
  max_files_per_subdir: 50
  min_object_size: 1024
  key_file: server.key
backup:
  target: backup
  retention: { keep_sets: 1, keep_days: 0 }
catalog: catalog.db
EOF
C=(-c "$T/config.yaml")
D=$T/data
"$DVLOAD" "${C[@]}" init --databases 2 --docs 10 --seed 3 >/dev/null || fail "dvload init"
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"
"$DVAULT" "${C[@]}" backup -q >"$T/out" 2>&1 || { cat "$T/out"; fail "first backup"; }

step "prune while another job holds the target's lock"
(exec 9<>"$T/backup/lock" && flock 9 && exec sleep 60) & # the holder is the process we kill
HOLD=$!
for ((i = 0; i < 100; i++)); do flock -n "$T/backup/lock" true 2>/dev/null || break; sleep 0.1; done
flock -n "$T/backup/lock" true 2>/dev/null && fail "the test could not take the target's lock"
rc=0
"$DVAULT" "${C[@]}" prune >"$T/p.out" 2>"$T/p.err" || rc=$?
cat "$T/p.out" "$T/p.err"
[ "$rc" = 1 ] || fail "prune on a busy target: exit $rc, expected 1"
grep -q "target busy" "$T/p.err" || fail "prune does not say the target is busy"
[ ! -s "$T/p.out" ] || fail "prune on a busy target printed a report: $(cat "$T/p.out")"
kill "$HOLD"; wait "$HOLD" 2>/dev/null || true; HOLD=
"$DVAULT" "${C[@]}" prune >"$T/p2.out" 2>&1 || { cat "$T/p2.out"; fail "prune once the lock is free"; }
echo "ok: busy prune says only target busy"

step "links and special files in the live server"
name() { printf '%064x%016x.nlo' "$1" 16; }
SUB=$(cd "$D/daos" && ls -d [0-9][0-9][0-9][0-9] | head -1)
# an NLO name that is a symbolic link to a file outside, and one that is a FIFO
echo "secret outside the repository" >"$T/outside.txt"
LNK=$(name 1)
ln -s "$T/outside.txt" "$D/daos/$SUB/$LNK"
FIFO=$(name 2)
mkfifo "$D/daos/$SUB/$FIFO"
# a DAOS subdirectory that is a link to a directory holding an NLO
mkdir "$T/otherdaos"
printf 'x%.0s' {1..40} >"$T/otherdaos/$(name 3)"
ln -s "$T/otherdaos" "$D/daos/0999"
# a database the globs match that is a link, and a link to a directory of databases
cp "$D/mail/alice.nsf" "$T/elsewhere.nsf"
ln -s "$T/elsewhere.nsf" "$D/mail/linked.nsf"
mkdir "$T/archive"
cp "$D/mail/alice.nsf" "$T/archive/old.nsf"
ln -s "$T/archive" "$D/archive"

rc=0
timeout 120 "$DVAULT" "${C[@]}" backup -q >"$T/b.out" 2>"$T/b.err" || rc=$?
cat "$T/b.out" "$T/b.err"
[ "$rc" = 0 ] || fail "backup exit $rc (124: blocked on the FIFO)"
grep -q "NLO $SUB/$LNK refused: a symbolic link (never followed" "$T/b.err" || fail "the linked NLO is not refused by name"
grep -q "NLO $SUB/$FIFO refused: a FIFO (never followed" "$T/b.err" || fail "the FIFO NLO is not refused by name"
grep -q "next run picks it up" "$T/b.err" && fail "a link or FIFO is promised to the next run"
grep -q "DAOS subdirectory .*/0999 refused: a symbolic link" "$T/b.err" || fail "the linked DAOS subdirectory is not reported"
grep -q "database mail/linked.nsf: a symbolic link (never followed: not backed up)" "$T/b.err" ||
    fail "the linked database is not reported"
grep -q "database archive: a symbolic link (never followed: the databases below it are not backed up)" "$T/b.err" ||
    fail "the linked directory of databases is not reported"
grep -q "2 refused" "$T/b.out" || fail "the summary does not count the 2 refused NLOs"
grep -q "warning .*1 DAOS subdirectory refused" "$T/b.out" || fail "the summary does not count the linked subdirectory"
grep -q "warning .*2 database path(s) refused" "$T/b.out" || fail "the summary does not count the refused database paths"
# nothing behind a link was copied
ls "$T/backup/nlo"/*/ | grep -q -e "$LNK" -e "$FIFO" -e "$(name 3)" && fail "a refused NLO is in the pool"
find "$T/backup/sets" -name 'linked.nsf' -o -name 'old.nsf' | grep -q . && fail "a linked database was copied"
"$DVAULT" "${C[@]}" status >"$T/st" 2>&1 || { cat "$T/st"; fail "status"; }
grep -q "warning .*2 database path(s) refused, not backed up: archive: a symbolic link" "$T/st" ||
    { cat "$T/st"; fail "status does not warn about the refused database paths"; }
echo "ok"

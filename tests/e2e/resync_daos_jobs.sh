#!/bin/bash
# resync_daos_jobs.sh - `dvault resync daos` records itself in the catalog's job history
# (backend/resync.c): kind "resync", status ok with a summary, its warnings as events; a
# failed resync is recorded failed with the reason; without a catalog the resync runs and no
# catalog is created. Real binaries.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvresyncjobs.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

write_config() { # FILE CATALOG
    cat >"$1" <<EOF
server:
  data_dir: data
  daos_dir: daos
  max_files_per_subdir: 20
  min_object_size: 1024
  key_file: server.key
backup:
  target: backup
catalog: $2
EOF
}
write_config "$T/config.yaml" catalog.db
C=(-c "$T/config.yaml")
"$DVAULT" "${C[@]}" target init >/dev/null || fail "target init"
"$DVLOAD" "${C[@]}" init --databases 2 --docs 30 --seed 11 >/dev/null || fail "dvload init"
CAT=$T/catalog.db
q() { sqlite3 "$CAT" "$1"; }

step "no catalog: the resync runs and creates none"
write_config "$T/nocat.yaml" "nocat/catalog.db"
"$DVAULT" -c "$T/nocat.yaml" resync daos >"$T/out0" 2>"$T/err0" </dev/null ||
    { cat "$T/err0"; fail "resync without a catalog"; }
grep -q SYNCHRONIZED "$T/out0" || fail "resync without a catalog: no summary"
[ ! -e "$T/nocat" ] || fail "resync created a catalog (or its directory)"
[ ! -e "$CAT" ] || fail "a catalog exists before the first backup"

step "a backup makes the catalog; resync daos is recorded ok"
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup"
"$DVAULT" "${C[@]}" resync daos >"$T/out1" 2>/dev/null </dev/null || fail "resync daos"
[ "$(q "SELECT count(*) FROM jobs WHERE kind = 'resync'")" = 1 ] ||
    { q "SELECT * FROM jobs"; fail "one resync job expected in the history"; }
row=$(q "SELECT status, ended >= started, message FROM jobs WHERE kind = 'resync'")
echo "$row"
[[ $row == "ok|1|"*" NLOs, 2 databases, "*" references, 0 missing" ]] || fail "resync job row: $row"

step "a missing NLO: warned, and the warning is an event of the job"
nlo=$(ls "$T/data/daos/0001" | grep '\.nlo$' | head -1)
rm "$T/data/daos/0001/$nlo"
"$DVAULT" "${C[@]}" resync daos >"$T/out2" 2>"$T/err2" </dev/null || fail "resync daos (missing NLO)"
grep -q "references NLO $nlo, which is not in the repository" "$T/err2" ||
    { cat "$T/err2"; fail "the warning is not printed"; }
id=$(q "SELECT max(id) FROM jobs WHERE kind = 'resync'")
[ "$(q "SELECT status FROM jobs WHERE id = $id")" = ok ] || fail "second resync not ok"
q "SELECT message FROM jobs WHERE id = $id" | grep -q ', [1-9][0-9]* missing$' ||
    fail "the summary does not count the missing references"
[ "$(q "SELECT count(*) FROM events WHERE job_id = $id AND level = 1
        AND message LIKE '%references NLO $nlo, which is not in the repository'")" -ge 1 ] ||
    { q "SELECT * FROM events WHERE job_id = $id"; fail "the warning is not an event of the job"; }

step "a failed resync is recorded failed, with the reason"
mv "$T/data/daos/0002" "$T/elsewhere"
ln -s "$T/elsewhere" "$T/data/daos/0002"
if "$DVAULT" "${C[@]}" resync daos >"$T/out3" 2>"$T/err3" </dev/null; then
    fail "a resync over a linked subdirectory must fail"
fi
cat "$T/err3"
id=$(q "SELECT max(id) FROM jobs WHERE kind = 'resync'")
[ "$(q "SELECT count(*) FROM jobs WHERE kind = 'resync'")" = 3 ] || fail "three resync jobs expected"
[ "$(q "SELECT status FROM jobs WHERE id = $id")" = failed ] || fail "the failed resync is not 'failed'"
msg=$(q "SELECT message FROM jobs WHERE id = $id")
[ -n "$msg" ] && grep -qF "$msg" "$T/err3" || fail "the job's message '$msg' is not the error printed"
echo "PASS"

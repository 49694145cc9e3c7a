#!/bin/bash
# restore_folder.sh - the restore folder (issue 15 item 3): `restore` without --into writes
# restore/<dir>/<db>--<set>.nsf, never colliding (restores of the same set in a row: -2, ...; a
# name taken by anything is skipped); its copies are never backed up nor archived nor
# counted; `restored` lists them with their origin and deletes one (never a path outside, a link, a FIFO); `prune` removes those
# older than restore.retention_days - "older" by the restore time each copy records in its
# dbinfo (restored_time), or its mtime for a file that records none - and --dry-run lists
# them only; bad restore.* values are one-line errors naming the value.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvrestdir-e2e.XXXXXX")
ARCPID=
trap '[ -n "$ARCPID" ] && kill "$ARCPID" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf"]
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF
C=(-c "$T/config.yaml")
D=$T/data
"$DVLOAD" "${C[@]}" init --databases 2 --docs 8 --seed 5 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>&1 || fail "backup"
SET=$("$DVAULT" "${C[@]}" sets --json | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4)
DB=$(cd "$D" && ls mail/*.nsf | head -1)
stem=$(basename "$DB" .nsf)
NLIVE=$(cd "$D" && find . -name '*.nsf' | wc -l)

# ---- configuration: defaults shown, bad values refused in one line naming the value ----
"$DVAULT" "${C[@]}" config | grep -qx "  dir: $D/restore .*" || fail "config does not show restore.dir"
"$DVAULT" "${C[@]}" config | grep -qx "  retention_days: 7" || fail "config does not show retention_days 7"
badcfg() { # VALUE-LINE PATTERN
    { sed '/^catalog/d' "$T/config.yaml"; echo "catalog: catalog.db"; echo "restore:"; echo "  $1"; } >"$T/bad.yaml"
    set +e
    "$DVAULT" -c "$T/bad.yaml" config --check >/dev/null 2>"$T/bad.err"
    local rc=$?
    set -e
    [ $rc = 2 ] || fail "config '$1': exit $rc, expected 2"
    [ "$(wc -l <"$T/bad.err")" = 1 ] || fail "config '$1': not one line: $(cat "$T/bad.err")"
    grep -qF -- "$2" "$T/bad.err" || fail "config '$1': '$(cat "$T/bad.err")' lacks '$2'"
}
badcfg "dir: ../elsewhere" "'restore.dir' '../elsewhere' must not contain '..'"
badcfg "dir: mail/../../x" "'restore.dir' 'mail/../../x' must not contain '..'"
badcfg "dir: /tmp" "'restore.dir' '/tmp' is not inside the server's data_dir"
badcfg "dir: daos/r" "'restore.dir' 'daos/r' is inside the DAOS directory"
badcfg "dir: ." "'restore.dir' '.' is the data_dir itself"
badcfg "retention_days: -1" "'retention_days' is -1, out of range 0..36500"
badcfg "retention_days: week" "'retention_days' must be an integer, not 'week'"
# an absolute path inside data_dir is fine
{ cat "$T/config.yaml"; echo "restore: { dir: $D/restored-here }"; } >"$T/abs.yaml"
"$DVAULT" -c "$T/abs.yaml" config | grep -qx "  dir: $D/restored-here .*" || fail "absolute restore.dir inside data_dir"

# ---- two restores of the same database and set: two names, neither replaced ----
want="$D/restore/mail/$stem--$SET.nsf"
"$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" >"$T/r1.out" 2>&1 || fail "restore 1: $(cat "$T/r1.out")"
"$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" >"$T/r2.out" 2>&1 || fail "restore 2: $(cat "$T/r2.out")"
grep -qx "restored .* into $want" "$T/r1.out" ||
    fail "restore 1 did not write $want: $(head -1 "$T/r1.out")"
want2="$D/restore/mail/$stem--$SET-2.nsf"
grep -qx "restored .* into $want2" "$T/r2.out" || fail "restore 2 did not write $want2: $(head -1 "$T/r2.out")"
# a name already taken by something else (here a planted link) is skipped, never replaced
ln -s /etc/passwd "$D/restore/mail/$stem--$SET-3.nsf"
"$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" >"$T/r3.out" 2>&1 || fail "restore 3: $(cat "$T/r3.out")"
"$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" >"$T/r4.out" 2>&1 || fail "restore 4: $(cat "$T/r4.out")"
o3=$(sed -n 's/^restored .* into \(.*\)$/\1/p' "$T/r3.out")
o4=$(sed -n 's/^restored .* into \(.*\)$/\1/p' "$T/r4.out")
[ "$o3" = "$D/restore/mail/$stem--$SET-4.nsf" ] && [ "$o4" = "$D/restore/mail/$stem--$SET-5.nsf" ] ||
    fail "restores 3 and 4 wrote '$o3' and '$o4'"
[ -L "$D/restore/mail/$stem--$SET-3.nsf" ] || fail "the planted link was replaced"
rm "$D/restore/mail/$stem--$SET-3.nsf"
for f in "$want" "$want2" "$o3" "$o4"; do
    [ -f "$f" ] || fail "$f missing"
    [ "$(sqlite3 "file:$f?immutable=1" "PRAGMA integrity_check")" = ok ] || fail "$f not intact"
done
[ "$(ls "$D/restore/mail" | grep -c '\.nsf$')" = 4 ] || fail "expected 4 copies: $(ls -a "$D/restore/mail")"
ls -a "$D/restore/mail" | grep -q dvrestore && fail "a restore temporary was left"
echo "ok: 4 restores of $DB from $SET (in the same second or not): 4 names"
# --into stays for an explicit name
"$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" --into mail/explicit.nsf >/dev/null || fail "--into"
[ -f "$D/mail/explicit.nsf" ] || fail "--into mail/explicit.nsf not written"
rm -f "$D/mail/explicit.nsf"

# ---- the listing: origin, set, age ----
"$DVAULT" "${C[@]}" restored >"$T/list.out"
grep -q "4 copies" "$T/list.out" || fail "restored: $(cat "$T/list.out")"
grep -E "^  mail/$stem--$SET\.nsf +[0-9]+[smh] .* $DB +$SET " "$T/list.out" >/dev/null ||
    fail "restored does not show origin/set: $(cat "$T/list.out")"
"$DVAULT" "${C[@]}" restored --json >"$T/list.json"
grep -q "\"origin\": \"$DB\"" "$T/list.json" && grep -q "\"set\": \"$SET\"" "$T/list.json" ||
    fail "restored --json: $(cat "$T/list.json")"

# ---- never backed up, never counted, never archived ----
"$DVAULT" "${C[@]}" status >"$T/status.out"
grep -q "^server      $NLIVE databases" "$T/status.out" || fail "status counts the copies: $(head -1 "$T/status.out")"
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>&1 || fail "backup 2"
SET2=$("$DVAULT" "${C[@]}" sets --json | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4)
[ "$SET2" != "$SET" ] || fail "no second set"
grep -q 'restore/' "$T/backup/sets/$SET2/manifest.json" && fail "set $SET2 holds a restored copy"
find "$T/backup/sets/$SET2" -path '*restore*' | grep -q . && fail "set $SET2 has files of the restore folder"
n2=$("$DVAULT" "${C[@]}" sets --json | tr -d '\n ' | grep -o '"id":"'"$SET2"'"[^}]*"databases":[0-9]*' | grep -o '[0-9]*$')
[ "$n2" = "$NLIVE" ] || fail "set $SET2 has $n2 databases, expected $NLIVE"
echo "ok: backup $SET2: $n2 databases, no restored copy"
runs() { ls "$T"/backup/archive/runs/*.json 2>/dev/null | wc -l; }
"$DVAULT" "${C[@]}" archive --follow >"$T/arc.out" 2>&1 &
ARCPID=$!
for _ in $(seq 1 300); do [ "$(runs)" -gt 0 ] && break; sleep 0.1; done
[ "$(runs)" -gt 0 ] || fail "archive --follow wrote no run record: $(cat "$T/arc.out")"
s0=$(date +%s) # sets are named by the second: the next set begins after the archive did
while [ "$(date +%s)" -le "$s0" ]; do sleep 0.1; done
"$DVAULT" "${C[@]}" restore --set "$SET" --db "$DB" >/dev/null 2>&1 || fail "restore while archiving"
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>&1 || fail "backup 3 (archiving)"
SET3=$("$DVAULT" "${C[@]}" sets --json | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4)
kill -INT "$ARCPID"; wait "$ARCPID" || fail "archiver: $(cat "$T/arc.out")"; ARCPID=
grep -q "^archive: $NLIVE database(s)" "$T/arc.out" || fail "archiver: $(head -1 "$T/arc.out")"
[ -e "$T/backup/archive/restore" ] && fail "the archiver archived the restore folder"
echo "ok: archive: $NLIVE database(s), nothing of the restore folder"
# the point-in-time variant follows the same rule
"$DVAULT" "${C[@]}" restore --set "$SET3" --db "$DB" --to-latest >"$T/pitr.out" 2>&1 ||
    fail "restore --to-latest: $(cat "$T/pitr.out")"
grep -qx "restored .* into $D/restore/mail/$stem--$SET3--latest.nsf" "$T/pitr.out" ||
    fail "restore --to-latest: $(head -1 "$T/pitr.out")"
"$DVAULT" "${C[@]}" restored --json | grep -q '"at": "latest"' || fail "--to-latest not recorded"

# ---- delete: only copies in the folder ----
del_refused() { # PATH PATTERN
    set +e
    "$DVAULT" "${C[@]}" restored delete "$1" >/dev/null 2>"$T/del.err"
    local rc=$?
    set -e
    [ $rc = 1 ] || fail "delete $1: exit $rc"
    [ "$(wc -l <"$T/del.err")" = 1 ] && grep -qF -- "$2" "$T/del.err" || fail "delete $1: $(cat "$T/del.err")"
}
del_refused "$D/$DB" "is not in the restore folder"
del_refused "../$DB" "is not in the restore folder"
del_refused "restore/../$DB" "is not in the restore folder"
ln -s "$D/$DB" "$D/restore/planted.nsf"
del_refused "planted.nsf" "is a symbolic link: refused"
mkfifo "$D/restore/fifo.nsf"
del_refused "$D/restore/fifo.nsf" "is a FIFO: refused"
[ -f "$D/$DB" ] && [ -L "$D/restore/planted.nsf" ] || fail "a refused delete removed something"
"$DVAULT" "${C[@]}" restored | grep -q planted && fail "a planted link is listed as a copy"
: >"$o4-wal"; : >"$o4-shm"
"$DVAULT" "${C[@]}" restored delete "$o4" >"$T/del.out" || fail "delete $o4"
[ -e "$o4" ] || [ -e "$o4-wal" ] || [ -e "$o4-shm" ] && fail "delete left $o4 or its -wal/-shm"
grep -q "^deleted $o4 (a copy of $DB from set $SET)" "$T/del.out" || fail "delete said: $(cat "$T/del.out")"
"$DVAULT" "${C[@]}" jobs | grep -q "delete restored.* ok .*$(basename "$o4")" || fail "delete not in the job history"
rm -f "$D/restore/planted.nsf" "$D/restore/fifo.nsf"

# ---- prune: older than retention_days (7) by the recorded restore time, or the mtime ----
sqlite3 "$want" "UPDATE dbinfo SET value = CAST(value AS INTEGER) - 8 * 86400 WHERE key = 'restored_time'"
touch -d '1 minute ago' "$want" # its mtime is young: the recorded time decides
cp "$D/$DB" "$D/restore/by-hand.nsf"
touch -d '10 days ago' "$D/restore/by-hand.nsf" # records no restore time: its mtime decides
touch -d '10 days ago' "$want2"                 # recorded just now: the mtime does not count
"$DVAULT" "${C[@]}" prune --dry-run >"$T/dry.out" || fail "prune --dry-run: $(cat "$T/dry.out")"
grep -q "prune  $want: restored 8d" "$T/dry.out" && grep -q "prune  $D/restore/by-hand.nsf: restored 10d" "$T/dry.out" ||
    fail "prune --dry-run does not list the old copies: $(cat "$T/dry.out")"
grep -q "; 2 restored copies$" "$T/dry.out" || fail "prune --dry-run count: $(tail -1 "$T/dry.out")"
[ -f "$want" ] && [ -f "$D/restore/by-hand.nsf" ] || fail "prune --dry-run removed a copy"
"$DVAULT" "${C[@]}" prune >"$T/prune.out" || fail "prune: $(cat "$T/prune.out")"
grep -q "pruned $want: restored 8d" "$T/prune.out" && grep -q "; 2 restored copies$" "$T/prune.out" ||
    fail "prune output: $(cat "$T/prune.out")"
[ -e "$want" ] || [ -e "$D/restore/by-hand.nsf" ] && fail "prune left an old copy"
[ -f "$want2" ] && [ -f "$o3" ] || fail "prune removed a young copy"
# retention 0: kept until deleted
{ cat "$T/config.yaml"; echo "restore: { retention_days: 0 }"; } >"$T/keep.yaml"
sqlite3 "$want2" "UPDATE dbinfo SET value = CAST(value AS INTEGER) - 100 * 86400 WHERE key = 'restored_time'"
"$DVAULT" -c "$T/keep.yaml" prune >"$T/keep.out" || fail "prune (retention 0)"
grep -q "; 0 restored copies$" "$T/keep.out" && [ -f "$want2" ] || fail "retention 0 removed a copy"
echo "ok: prune removed the 2 old copies (recorded time, mtime), kept the young ones"
echo "restore_folder: ok"

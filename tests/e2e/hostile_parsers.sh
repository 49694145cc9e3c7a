#!/bin/bash
# hostile_parsers.sh - issue 12 (findings 2, 3, 10, 11, 12): what dvault reads from a target
# that someone tampered with, and from list files an operator names. Real binaries.
#   - a db/ directory replaced by a link: resync catalog does not read the copies behind it;
#   - a deltas-moved.tsv line naming a file outside the target: resync ignores it, prune never
#     deletes that file;
#   - one damaged manifest ("bytes": 123.0): resync skips the set, prune refuses and keeps
#     every pool object, verify names the set; repaired and resynced, prune runs again;
#   - a FIFO in place of a manifest or nlo-new.tsv: resync refuses it at once (never hangs
#     holding the target lock);
#   - "seq": 9223372036854775807 in a manifest: resync refuses the set, later backups work;
#   - a list file that is a link to /dev/zero, a FIFO, or /etc/shadow: refused at once, and
#     the error never quotes the file.
# `timeout` only bounds a hang of the old code; no decision is taken after a sleep.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvhostile.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

write_config() { # delta keep_sets
    cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  min_object_size: 1024
  key_file: server.key
backup:
  target: backup
  delta: $1
  retention: { keep_sets: $2, keep_days: 0 }
catalog: catalog.db
EOF
}
C=(-c "$T/config.yaml")
B=$T/backup
CAT=$T/catalog.db
pool_count() { find "$B/nlo" -type f -name '*.nlo' | wc -l; }
resync() { timeout 120 "$DVAULT" "${C[@]}" resync catalog >"$T/resync" 2>&1 || { cat "$T/resync"; fail "resync catalog: exit $?"; }; }

write_config apply 1
"$DVLOAD" "${C[@]}" init --databases 2 --docs 12 --seed 5 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup 1"
id1=$(ls "$B/sets" | grep -v '\.failed$' | head -1)
[ -n "$id1" ] || fail "no set"
npool=$(pool_count)
[ "$npool" -gt 0 ] || fail "the set stored no NLO"

step "finding 3: one damaged manifest on a one-set target: prune refuses, keeps the pool"
cp "$B/sets/$id1/manifest.json" "$T/manifest.good"
sed -i 's/"bytes": \([0-9]*\)/"bytes": \1.0/' "$B/sets/$id1/manifest.json"
grep -q '"bytes": [0-9]*\.0' "$B/sets/$id1/manifest.json" || fail "setup: manifest not damaged"
resync
cat "$T/resync"
grep -q "counts.bytes: must be an integer" "$T/resync" || fail "resync should say why the set is skipped"
grep -q "prune refuses" "$T/resync" || fail "resync should say prune refuses"
set +e; "$DVAULT" "${C[@]}" prune >"$T/prune" 2>&1; rc=$?; set -e
cat "$T/prune"
[ $rc = 1 ] || fail "prune after a resync that skipped a set: exit $rc, expected 1"
grep -q "prune refused: resync catalog could not record 1 thing" "$T/prune" || fail "prune should say why it refuses"
[ "$(pool_count)" = "$npool" ] || fail "prune deleted pool objects of the skipped set"
"$DVAULT" "${C[@]}" status 2>&1 | grep -q "warning .*resync catalog could not record 1 thing" ||
    fail "status should warn that prune refuses until the skipped set is dealt with"
set +e; "$DVAULT" "${C[@]}" verify >"$T/verify" 2>&1; rc=$?; set -e
[ $rc = 1 ] || { cat "$T/verify"; fail "verify: exit $rc, expected 1"; }
grep -q "$B/sets/$id1.*not recorded by resync catalog (manifest)" "$T/verify" || { cat "$T/verify"; fail "verify should name the skipped set"; }
cp "$T/manifest.good" "$B/sets/$id1/manifest.json"
resync
grep -q "prune refuses" "$T/resync" && fail "a repaired manifest should record cleanly"
"$DVAULT" "${C[@]}" prune >"$T/prune" 2>&1 || { cat "$T/prune"; fail "prune after the repair"; }
[ "$(pool_count)" = "$npool" ] || fail "prune of a one-set target deleted pool objects"

step "finding 11: seq 9223372036854775807 in a manifest: refused, later backups work"
cp "$T/manifest.good" "$T/m.bak"
sed -i 's/"seq": [0-9]*/"seq": 9223372036854775807/' "$B/sets/$id1/manifest.json"
resync
grep -q "seq: 9223372036854775807 out of range 1..9007199254740991" "$T/resync" || { cat "$T/resync"; fail "resync should refuse the seq"; }
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>"$T/b" || { cat "$T/b"; fail "a backup after resyncing a huge seq failed"; }
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>"$T/b" || { cat "$T/b"; fail "the second backup after resyncing a huge seq failed"; }
[ "$(sqlite3 "$CAT" "SELECT max(seq) < 100 FROM sets")" = 1 ] || fail "seq ran away"
# back to one good set
for s in "$B"/sets/*; do [ "$(basename "$s")" = "$id1" ] || rm -rf "$s"; done
cp "$T/m.bak" "$B/sets/$id1/manifest.json"
rm -f "$CAT" "$CAT-wal" "$CAT-shm"
resync
npool=$(pool_count)

step "finding 10: a FIFO in place of a manifest or nlo-new.tsv: refused at once"
mv "$B/sets/$id1/manifest.json" "$T/m.real"
mkfifo "$B/sets/$id1/manifest.json"
resync
grep -q "manifest.json is a FIFO, not a regular file: refused" "$T/resync" || { cat "$T/resync"; fail "FIFO manifest not refused"; }
rm "$B/sets/$id1/manifest.json"
mv "$T/m.real" "$B/sets/$id1/manifest.json"
mv "$B/sets/$id1/nlo-new.tsv" "$T/l.real"
mkfifo "$B/sets/$id1/nlo-new.tsv"
resync
grep -q "nlo-new.tsv is a FIFO, not a regular file: refused" "$T/resync" || { cat "$T/resync"; fail "FIFO NLO list not refused"; }
set +e; "$DVAULT" "${C[@]}" prune >"$T/prune" 2>&1; rc=$?; set -e
[ $rc = 1 ] && grep -q "prune refused" "$T/prune" || { cat "$T/prune"; fail "prune after an unread NLO list should refuse"; }
[ "$(pool_count)" = "$npool" ] || fail "pool objects deleted after an unread NLO list"
rm "$B/sets/$id1/nlo-new.tsv"
mv "$T/l.real" "$B/sets/$id1/nlo-new.tsv"
resync

step "finding 2: a db/ directory replaced by a link: resync does not read behind it"
refs_before=$(sqlite3 "$CAT" "SELECT count(*) FROM refs")
[ "$refs_before" -gt 0 ] || fail "setup: no references recorded"
mkdir -p "$T/outside"
mv "$B/sets/$id1/db" "$T/outside/db"
ln -s "$T/outside/db" "$B/sets/$id1/db"
resync
grep -q "could not be read: .*symbolic link" "$T/resync" || { cat "$T/resync"; fail "resync should refuse the copies behind the link"; }
[ "$(sqlite3 "$CAT" "SELECT count(*) FROM refs")" = 0 ] || fail "resync read references through a db/ link"
rm "$B/sets/$id1/db"
mv "$T/outside/db" "$B/sets/$id1/db"

step "finding 2: a deltas-moved.tsv line naming a file outside the target: never deleted"
write_config keep 1
"$DVLOAD" "${C[@]}" run --seconds 1 --writers 2 --seed 7 >/dev/null
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup (keep)"
idk=$(ls "$B/sets" | grep -v '\.failed$' | sort | tail -1)
dpath=$(grep -o '"delta_path": "[^"]*"' "$B/sets/$idk/manifest.json" | head -1 | cut -d'"' -f4)
[ -n "$dpath" ] || fail "setup: no kept delta in set $idk"
echo "precious" >"$T/victim.delta"
printf '%s\t%s\n' "$dpath" "$T/victim.delta" >>"$B/sets/$idk/deltas-moved.tsv"
resync
grep -q "names a location for $dpath that is refused: $T/victim.delta: not the delta the set recorded" "$T/resync" \
    || { cat "$T/resync"; fail "resync should refuse the planted location"; }
[ "$(sqlite3 "$CAT" "SELECT count(*) FROM set_files WHERE delta_location LIKE '%victim%'")" = 0 ] || fail "planted location recorded"
"$DVLOAD" "${C[@]}" run --seconds 1 --writers 2 --seed 8 >/dev/null
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup after"
"$DVAULT" "${C[@]}" prune >"$T/prune" 2>&1 || { cat "$T/prune"; fail "prune"; }
[ -d "$B/sets/$idk" ] && fail "setup: set $idk should have been pruned"
[ "$(cat "$T/victim.delta")" = precious ] || fail "prune deleted a file outside the target"
# and a location planted straight into the catalog is refused by prune itself
"$DVLOAD" "${C[@]}" run --seconds 1 --writers 2 --seed 9 >/dev/null
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup 3"
idp=$(sqlite3 "$CAT" "SELECT set_id FROM set_files WHERE delta_mode = 'keep' ORDER BY set_id LIMIT 1")
sqlite3 "$CAT" "UPDATE set_files SET delta_location = '$T/victim.delta' WHERE set_id = '$idp' AND delta_mode = 'keep'"
"$DVLOAD" "${C[@]}" run --seconds 1 --writers 2 --seed 10 >/dev/null
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup 4"
set +e; "$DVAULT" "${C[@]}" prune >"$T/prune" 2>&1; rc=$?; set -e
[ $rc = 1 ] && grep -q "refusing to delete $T/victim.delta" "$T/prune" || { cat "$T/prune"; fail "prune should refuse the planted location"; }
[ "$(cat "$T/victim.delta")" = precious ] || fail "prune deleted a file outside the target"

step "findings 10, 12: list files that are /dev/zero, a FIFO, a secret"
ln -s /dev/zero "$T/zero.txt"
set +e
# an address-space limit makes "out of memory" fail fast (AddressSanitizer's shadow memory
# needs more than any limit: under SANITIZER the timeout alone bounds it)
if [ -n "${SANITIZER:-}" ]; then vlimit=unlimited; else vlimit=2000000; fi
(ulimit -v $vlimit; timeout 120 "$DVAULT" "${C[@]}" recover --list "$T/zero.txt") >"$T/out" 2>&1; rc=$?
set -e
cat "$T/out"
[ $rc = 1 ] || fail "recover --list /dev/zero: exit $rc, expected 1"
grep -q "zero.txt is not a regular file (a character device): refused" "$T/out" || fail "/dev/zero list not refused"
mkfifo "$T/fifo.txt"
set +e; timeout 120 "$DVAULT" "${C[@]}" recover --list "$T/fifo.txt" >"$T/out" 2>&1; rc=$?; set -e
[ $rc = 1 ] && grep -q "fifo.txt is not a regular file (a FIFO): refused" "$T/out" || { cat "$T/out"; fail "FIFO list: exit $rc"; }
if [ -r /etc/shadow ] && [ -s /etc/shadow ]; then secret=/etc/shadow; else
    secret=$T/shadow; printf 'root:$y$j9T$S3cr3tS3cr3t:19000:0:99999:7:::\n' >"$secret"; fi
ln -s "$secret" "$T/list.txt"
set +e; "$DVAULT" "${C[@]}" recover --list "$T/list.txt" >"$T/out" 2>&1; rc=$?; set -e
cat "$T/out"
[ $rc = 1 ] || fail "recover --list of a secret: exit $rc, expected 1"
grep -q "list.txt:1: .*not an NLO name (" "$T/out" || fail "the error should say what is wrong with line 1"
first=$(head -1 "$secret")
grep -qF "${first:0:12}" "$T/out" && fail "the error quotes the secret file"
[ "$(wc -l <"$T/out")" = 1 ] || fail "one line expected"
echo "hostile_parsers e2e: ok"

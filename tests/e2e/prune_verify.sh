#!/bin/bash
# prune_verify.sh - dvault prune (--dry-run changes nothing; retention; moved deltas removed
# where they live; failed sets; pool exactness), dvault verify (clean, then a flipped byte in a
# copy, in a kept delta, in a pool NLO, each named), the DAOS prune guard. Real binaries.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvprune-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

mkdir -p "$T/offsite"
# post command: move every kept delta out of the set, report "moved OLD NEW"
cat >"$T/move-deltas.sh" <<'EOF'
#!/bin/sh
set -e
dest="$OFFSITE/$DV_SET_ID"
mkdir -p "$dest"
printf '%s\n' "$DV_DELTAS" | while IFS= read -r d; do
    [ -n "$d" ] || continue
    new="$dest/$(echo "${d#$DV_SET_DIR/}" | tr / _)"
    mv "$d" "$new"
    echo "moved $d $new"
done
EOF
chmod +x "$T/move-deltas.sh"

write_config() { # keep_sets pre_command
    cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  databases: ["**/*.nsf"]
  daos_dir: daos
  max_files_per_subdir: 100
  min_object_size: 4096
  deferred_deletion_days: 30
  encryption: true
  key_file: server.key
backup:
  target: backup
  delta: keep
  post_command: "$T/move-deltas.sh"
  pre_command: "$2"
  retention: { keep_sets: $1, keep_days: 0 }
catalog: catalog.db
EOF
}
export OFFSITE=$T/offsite
C=(-c "$T/config.yaml")
D=$T/data
B=$T/backup

snapshot() { # what prune must not change in a dry run
    (cd "$T" && find backup offsite -type f ! -name lock | sort | xargs sha256sum)
    for t in sets set_files pool refs databases; do
        sqlite3 "$T/catalog.db" "SELECT * FROM $t ORDER BY 1, 2"
    done
}

step "setup: 4 databases, backups with moved deltas, one failed set, a database that goes away"
write_config 2 ""
"$DVLOAD" "${C[@]}" init --databases 4 --docs 20 --seed 11 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
"$DVAULT" "${C[@]}" prune | tee "$T/p0"
grep -q 'no catalog yet' "$T/p0" || fail "prune without a catalog should say so"
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup 1"
ls "$T"/offsite/*/* | grep -q '\.delta$' || fail "the post command moved no delta"
gone=$(cd "$D" && ls mail/*.nsf | head -1)
gone_nlos=$(sqlite3 "$D/$gone" "SELECT DISTINCT nlo FROM attachments WHERE nlo IS NOT NULL" | sort)
[ -n "$gone_nlos" ] || fail "$gone references no NLO"
"$DVLOAD" "${C[@]}" run --seconds 1 --writers 2 --seed 5 >/dev/null
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup 2"
rm -f "$D/$gone" "$D/$gone-wal" "$D/$gone-shm"
write_config 2 /bin/false
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>&1 && fail "backup with a failing pre command must fail"
write_config 2 ""
"$DVLOAD" "${C[@]}" run --seconds 1 --writers 2 --seed 6 >/dev/null
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup 4"
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup 5"
"$DVAULT" "${C[@]}" sets
mapfile -t ids < <(sqlite3 "$T/catalog.db" "SELECT id FROM sets ORDER BY seq")
[ ${#ids[@]} = 5 ] || fail "expected 5 sets"
[ "$(sqlite3 "$T/catalog.db" "SELECT status FROM sets WHERE id = '${ids[2]}'")" = failed ] || fail "set 3 should be failed"
[ -d "$B/sets/${ids[2]}.failed" ] || fail "no failed set directory"
old_deltas=$(sqlite3 "$T/catalog.db" "SELECT delta_location FROM set_files WHERE set_id IN ('${ids[0]}', '${ids[1]}')")
for d in $old_deltas; do
    case $d in "$T/offsite/"*.delta) [ -f "$d" ] || fail "moved delta $d missing" ;;
    *) fail "delta $d was not moved offsite" ;; esac
done

step "verify: clean"
"$DVAULT" "${C[@]}" verify | tee "$T/v0"
grep -q 'verify: 4 set(s).* 0 problem(s)' "$T/v0" || fail "verify of clean sets"

step "prune --dry-run changes nothing"
snapshot >"$T/before"
"$DVAULT" "${C[@]}" prune --dry-run | tee "$T/dry"
snapshot >"$T/after"
cmp -s "$T/before" "$T/after" || { diff "$T/before" "$T/after" | head; fail "--dry-run changed the target or the catalog"; }
grep -q "would remove 2 set(s) and 1 failed set(s)" "$T/dry" || fail "dry run should announce 2 sets + 1 failed"
grep -q "prune  *${ids[0]}" "$T/dry" || fail "dry run should name ${ids[0]}"

step "prune"
"$DVAULT" "${C[@]}" prune | tee "$T/real"
grep -q "removed 2 set(s) and 1 failed set(s)" "$T/real" || fail "prune should remove 2 sets + 1 failed"
for i in 0 1; do
    [ -e "$B/sets/${ids[$i]}" ] && fail "set ${ids[$i]} still on the target"
    [ -e "$T/offsite/${ids[$i]}" ] && [ -n "$(ls -A "$T/offsite/${ids[$i]}")" ] && fail "moved deltas of ${ids[$i]} left offsite"
done
[ -e "$B/sets/${ids[2]}.failed" ] && fail "failed set directory left"
for i in 3 4; do [ -f "$B/sets/${ids[$i]}/manifest.json" ] || fail "retained set ${ids[$i]} damaged"; done
ls "$T/offsite/${ids[4]}"/*.delta >/dev/null || fail "moved deltas of a retained set were removed"
[ "$(sqlite3 "$T/catalog.db" "SELECT group_concat(id, ' ') FROM (SELECT id FROM sets ORDER BY seq)")" = "${ids[3]} ${ids[4]}" ] \
    || fail "catalog rows of pruned sets left"
[ "$(sqlite3 "$T/catalog.db" "SELECT count(*) FROM set_files WHERE set_id NOT IN (SELECT id FROM sets)")" = 0 ] || fail "orphan set_files"

step "pool: exactly what the retained sets need"
(cd "$B/nlo" && ls */ | grep '\.nlo$' | sort) >"$T/pool_files"
sqlite3 "$T/catalog.db" "SELECT name FROM pool ORDER BY name" >"$T/pool_rows"
cmp -s "$T/pool_files" "$T/pool_rows" || fail "pool files and catalog pool rows differ"
for f in "$D"/mail/*.nsf; do sqlite3 "$f" "SELECT DISTINCT nlo FROM attachments WHERE nlo IS NOT NULL"; done | sort -u >"$T/live_refs"
[ -z "$(comm -23 "$T/live_refs" "$T/pool_files")" ] || fail "an NLO referenced by the newest set left the pool"
only_gone=$(comm -23 <(echo "$gone_nlos") "$T/live_refs")
[ -n "$only_gone" ] || fail "test setup: every NLO of $gone is still referenced"
for n in $only_gone; do
    grep -qx "$n" "$T/pool_files" && fail "$n (only needed by pruned sets) is still in the pool"
done
"$DVAULT" "${C[@]}" prune | tee "$T/again"
grep -q "removed 0 set(s) and 0 failed set(s).*; 0 NLO(s)" "$T/again" || fail "a second prune should find nothing"

step "verify after prune: clean"
"$DVAULT" "${C[@]}" verify --sample 50 | tee "$T/v1"
grep -q 'verify: 2 set(s).*(sample).* 0 problem(s)' "$T/v1" || fail "verify after prune"

step "verify detects a flipped byte in a copy, a delta, a pool NLO"
flip() { printf '\xa5' | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
copy=$(ls "$B/sets/${ids[4]}"/db/mail/*.nsf | head -1)
delta=$(ls "$T/offsite/${ids[4]}"/*.delta | head -1)
nlo=$(sqlite3 "$T/catalog.db" "SELECT name FROM pool WHERE first_set = (SELECT seq FROM sets WHERE id = '${ids[3]}') LIMIT 1")
[ -n "$nlo" ] || nlo=$(sqlite3 "$T/catalog.db" "SELECT name FROM pool WHERE first_set IN (SELECT seq FROM sets) LIMIT 1")
[ -n "$nlo" ] || fail "no pool object listed by a retained set"
nlopath="$B/nlo/${nlo:0:3}/$nlo"
flip "$copy" 5000; flip "$delta" 100; flip "$nlopath" 100
set +e; "$DVAULT" "${C[@]}" verify >"$T/v2" 2>&1; rc=$?; set -e
cat "$T/v2"
[ $rc = 1 ] || fail "verify should exit 1 on mismatches"
grep -q "^MISMATCH $copy: SHA-256 mismatch" "$T/v2" || fail "flipped copy not named"
grep -q "^MISMATCH $delta: " "$T/v2" || fail "flipped delta not named"
grep -q "^MISMATCH $nlopath: SHA-256 mismatch" "$T/v2" || fail "flipped pool NLO not named"
set +e; "$DVAULT" "${C[@]}" verify --set nosuch >/dev/null 2>&1; [ $? = 1 ] || fail "verify of an unknown set: exit 1"
"$DVAULT" "${C[@]}" verify --sample 0 >/dev/null 2>&1; [ $? = 2 ] || fail "verify --sample 0: exit 2"; set -e

step "a moved-delta location that is not a .delta file is refused"
sqlite3 "$T/catalog.db" "UPDATE set_files SET delta_location = '$T/config.yaml' WHERE set_id = '${ids[3]}' AND delta_mode = 'keep'"
write_config 1 ""
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "the backup before the refusing prune"
set +e; "$DVAULT" "${C[@]}" prune >"$T/refuse" 2>&1; rc=$?; set -e
cat "$T/refuse"
[ $rc = 1 ] || fail "prune should fail when refusing a location"
grep -q "refusing to delete $T/config.yaml" "$T/refuse" || fail "refusal should name the file"
[ -f "$T/config.yaml" ] || fail "config.yaml was deleted"
[ "$(sqlite3 "$T/catalog.db" "SELECT status || ' ' || (pruning IS NULL) FROM sets WHERE id = '${ids[3]}'")" = "complete 1" ] \
    || fail "a refused set stays as it was (complete, not marked)"
[ -f "$B/sets/${ids[3]}/manifest.json" ] || fail "a refused set's directory must stay"
for n in $(cat "$B/sets/${ids[3]}/nlo-new.tsv" | cut -f1); do
    [ -f "$B/nlo/${n:0:3}/$n" ] || fail "pool object $n of the refused (retained) set was removed"
done
echo "prune_verify e2e: ok"

#!/bin/bash
# resync_catalog.sh - `dvault resync catalog`: delete catalog.db, rebuild it from the target,
# and get byte for byte the same `dvault sets --json`; the same pool, files and the same
# holdings; moved deltas found through deltas-moved.tsv; the old catalog moved aside, never
# deleted; verify and prune work on the rebuilt catalog. Real binaries.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvresync-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

mkdir -p "$T/offsite"
cat >"$T/move-deltas.sh" <<'EOF'
#!/bin/sh
set -e
mkdir -p "$OFFSITE/$DV_SET_ID"
printf '%s\n' "$DV_DELTAS" | while IFS= read -r d; do
    [ -n "$d" ] || continue
    new="$OFFSITE/$DV_SET_ID/$(basename "$d")"
    mv "$d" "$new"
    echo "moved $d $new"
done
EOF
chmod +x "$T/move-deltas.sh"
export OFFSITE=$T/offsite
write_config() { # delta post pre keep_sets
    cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  max_files_per_subdir: 100
  key_file: server.key
backup:
  target: backup
  delta: $1
  post_command: "$2"
  pre_command: "$3"
  retention: { keep_sets: $4, keep_days: 0 }
catalog: catalog.db
EOF
}
C=(-c "$T/config.yaml")
CAT=$T/catalog.db
state() { # everything the rebuild must reproduce, except history (jobs, events, pids)
    "$DVAULT" "${C[@]}" sets --json
    sqlite3 "$CAT" "SELECT s.id, d.path, f.path, f.size, f.sha256, f.page_size, f.replica_id, f.dbiid,
        f.delta_mode, f.delta_pages, f.delta_location, f.delta_sha256, f.locked_copy
        FROM set_files f JOIN sets s ON s.id = f.set_id JOIN databases d ON d.id = f.db_id
        WHERE s.status = 'complete' ORDER BY s.seq, d.path"
    sqlite3 "$CAT" "SELECT name, sha256, size, live_subdir, first_set FROM pool ORDER BY name"
    # holdings: which complete set holds which NLO through which database (ranges may differ)
    sqlite3 "$CAT" "SELECT s.id, d.path, r.nlo FROM sets s JOIN set_files f ON f.set_id = s.id
        JOIN databases d ON d.id = f.db_id JOIN refs r ON r.db_id = f.db_id
        AND r.first_seq <= s.seq AND (r.last_seq IS NULL OR r.last_seq >= s.seq)
        WHERE s.status = 'complete' ORDER BY 1, 2, 3"
}

step "setup: apply and keep deltas, moved deltas, a failed set"
write_config apply "" "" 10
"$DVLOAD" "${C[@]}" init --databases 3 --docs 15 --seed 21 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup 1"
"$DVLOAD" "${C[@]}" run --seconds 1 --writers 2 --seed 2 >/dev/null
write_config keep "$T/move-deltas.sh" "" 10
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup 2"
write_config keep "" /bin/false 10
"$DVAULT" "${C[@]}" backup -q >/dev/null 2>&1 && fail "backup 3 should fail"
write_config keep "" "" 10
"$DVLOAD" "${C[@]}" run --seconds 1 --writers 2 --seed 3 >/dev/null
"$DVAULT" "${C[@]}" backup -q >/dev/null || fail "backup 4"
[ -f "$T"/backup/sets/*/deltas-moved.tsv ] || fail "no deltas-moved.tsv written"
state >"$T/state1"
grep -q '"status": "failed"' "$T/state1" || fail "setup: no failed set"

step "delete catalog.db, resync catalog, same sets --json byte for byte"
"$DVAULT" "${C[@]}" sets --json >"$T/sets1"
rm -f "$CAT" "$CAT-wal" "$CAT-shm"
"$DVAULT" "${C[@]}" resync catalog | tee "$T/r1"
grep -q 'resync catalog: 3 complete set(s), 1 failed set(s)' "$T/r1" || fail "resync summary"
"$DVAULT" "${C[@]}" sets --json >"$T/sets2"
cmp "$T/sets1" "$T/sets2" || { diff "$T/sets1" "$T/sets2"; fail "sets --json differs after resync"; }
state >"$T/state2"
cmp -s "$T/state1" "$T/state2" || { diff "$T/state1" "$T/state2" | head -20; fail "files, pool or holdings differ after resync"; }

step "resync over an existing catalog moves it aside"
"$DVAULT" "${C[@]}" resync catalog | tee "$T/r2"
old=$(sed -n 's/^the previous catalog was moved to //p' "$T/r2")
[ -n "$old" ] && [ -f "$old" ] || fail "the old catalog was not kept"
[ "$(sqlite3 "$old" "SELECT count(*) FROM sets")" = 4 ] || fail "the old catalog is not whole"
"$DVAULT" "${C[@]}" sets --json | cmp - "$T/sets1" || fail "second resync differs"

step "verify and prune on the rebuilt catalog"
"$DVAULT" "${C[@]}" verify | tee "$T/v"
grep -q ' 0 problem(s)' "$T/v" || fail "verify after resync"
write_config keep "" "" 1
"$DVAULT" "${C[@]}" prune | grep -q "removed 2 set(s) and 1 failed set(s)" || fail "prune after resync"
[ -z "$(ls -A "$T/offsite"/*/ 2>/dev/null)" ] || fail "moved deltas of pruned sets left (catalog knew them from deltas-moved.tsv)"

step "after a prune, the rebuild records pool objects only the pool still has"
"$DVAULT" "${C[@]}" sets --json >"$T/sets3"
sqlite3 "$CAT" "SELECT name FROM pool ORDER BY name" >"$T/pool3"
rm -f "$CAT" "$CAT-wal" "$CAT-shm"
"$DVAULT" "${C[@]}" resync catalog | tee "$T/r3"
"$DVAULT" "${C[@]}" sets --json | cmp - "$T/sets3" || fail "sets --json differs after prune + resync"
sqlite3 "$CAT" "SELECT name FROM pool ORDER BY name" | cmp - "$T/pool3" || fail "pool differs after prune + resync"
"$DVAULT" "${C[@]}" verify >/dev/null || fail "verify after prune + resync"
echo "resync_catalog e2e: ok"

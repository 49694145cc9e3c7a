#!/bin/bash
# pool_truth.sh - issue 11, "the pool is the truth": whether an NLO is already held is decided
# against the target's pool, not the catalog. Pool objects deleted (and one whole nlo/<3 hex>
# directory), one replaced by a symlink to the right bytes: the next backup copies them again
# and says so, verify is clean, recovery from the repaired pool works. An object gone from the
# pool and from the server: removed from the catalog and reported; verify names it.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvpool.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
cat >"$T/c.yaml" <<EOF
server: { data_dir: data, daos_dir: daos, key_file: server.key, min_object_size: 1024 }
backup: { target: backup }
catalog: catalog.db
EOF
D=("$DVAULT" -c "$T/c.yaml")
"$DVLOAD" -c "$T/c.yaml" init --databases 3 --docs 40 --seed 7 >/dev/null
"${D[@]}" target init >/dev/null || fail "dvault target init"
"${D[@]}" backup -q >"$T/b1.out" || fail "first backup"
live() { find "$T/data/daos" -name "$1" -type f | head -1; }

step "damage the pool"
mapfile -t objs < <(find "$T/backup/nlo" -type f -name '*.nlo' | sort)
total=${#objs[@]}
[ "$total" -ge 12 ] || fail "too few NLOs to test with ($total)"
gone_dir=$(dirname "${objs[0]}")
in_dir=$(find "$gone_dir" -type f -name '*.nlo' | wc -l)
rm -rf "$gone_dir"
others=()
for o in "${objs[@]}"; do [ "$(dirname "$o")" = "$gone_dir" ] || others+=("$o"); done
rm -f "${others[0]}" "${others[1]}" "${others[2]}"
mv "${others[3]}" "$T/good-copy"
ln -s "$T/good-copy" "${others[3]}"
damaged=$((in_dir + 4))
names=()
for o in "${objs[@]}"; do
    case "$o" in "$gone_dir"/* | "${others[0]}" | "${others[1]}" | "${others[2]}" | "${others[3]}") names+=("$(basename "$o")") ;; esac
done
[ "${#names[@]}" = "$damaged" ] || fail "test bookkeeping: ${#names[@]} != $damaged"

step "the next backup copies them again and says so"
"${D[@]}" backup >"$T/b2.out" 2>"$T/b2.err" || { cat "$T/b2.out" "$T/b2.err"; fail "second backup"; }
cat "$T/b2.out"
grep -q "already held" "$T/b2.out" || fail "no NLO line"
held=$(sed -n 's/.*), \([0-9]*\) already held.*/\1/p' "$T/b2.out")
[ "$held" = $((total - damaged)) ] || fail "already held: $held, expected $((total - damaged)) (pool lacks $damaged)"
grep -q "pool check $damaged re-copied (recorded, missing from the pool), 0 lost" "$T/b2.out" ||
    fail "the summary does not report $damaged re-copied objects"
grep -q "1 not regular files" "$T/b2.out" || fail "the symlink is not reported"
grep -q "were missing from it: copied again" "$T/b2.err" || { cat "$T/b2.err"; fail "no job event for the re-copied objects"; }
grep -q "not a regular file: not held" "$T/b2.err" || { cat "$T/b2.err"; fail "no job event naming the symlink"; }
for n in "${names[@]}"; do
    p=$T/backup/nlo/${n:0:3}/$n
    [ -f "$p" ] && [ ! -L "$p" ] || fail "$p not back in the pool as a regular file"
    cmp -s "$p" "$(live "$n")" || fail "$p differs from the live object"
done
[ "$(sqlite3 "$T/catalog.db" "SELECT count(*) FROM events WHERE message LIKE '%copied again%'")" -gt 0 ] ||
    fail "the job events in the catalog lack the repair"

step "verify is clean"
"${D[@]}" verify >"$T/v.out" 2>&1 || { cat "$T/v.out"; fail "verify after the repair"; }

step "a third backup holds everything"
"${D[@]}" backup >"$T/b3.out" 2>&1 || fail "third backup"
grep -q ", $total already held" "$T/b3.out" || { cat "$T/b3.out"; fail "third backup: not all $total held"; }
if grep -q "pool check" "$T/b3.out"; then fail "third backup still repairs"; fi

step "recover the repaired objects into the live server"
printf '%s\n' "${names[@]}" >"$T/list"
for n in "${names[@]}"; do cp "$(live "$n")" "$T/orig.$n"; rm -f "$(live "$n")"; done
"${D[@]}" resync daos >/dev/null 2>&1
"${D[@]}" recover --list "$T/list" >"$T/r.out" 2>&1 || { cat "$T/r.out"; fail "recover from the repaired pool"; }
for n in "${names[@]}"; do
    f=$(live "$n")
    [ -n "$f" ] || fail "$n not recovered"
    cmp -s "$f" "$T/orig.$n" || fail "recovered $n differs"
done
"$DVLOAD" -c "$T/c.yaml" verify >/dev/null || fail "dvload verify after the recovery"

step "gone from the pool and from the server: removed from the catalog, reported"
victim=${names[0]}
rm -f "$T/backup/nlo/${victim:0:3}/$victim" "$(live "$victim")"
"${D[@]}" backup >"$T/b4.out" 2>"$T/b4.err" || { cat "$T/b4.out" "$T/b4.err"; fail "fourth backup"; }
grep -q "0 re-copied (recorded, missing from the pool), 1 lost" "$T/b4.out" || { cat "$T/b4.out"; fail "the lost object is not counted"; }
grep -q "$victim is missing from the pool and no longer on the server" "$T/b4.err" || { cat "$T/b4.err"; fail "the lost object is not named"; }
[ "$(sqlite3 "$T/catalog.db" "SELECT count(*) FROM pool WHERE name = '$victim'")" = 0 ] ||
    fail "the catalog still records the lost object"
if "${D[@]}" verify >"$T/v2.out" 2>&1; then fail "verify is clean although the pool lost an object"; fi
grep -q "$victim" "$T/v2.out" || { cat "$T/v2.out"; fail "verify does not name the lost object"; }
echo "pool_truth: ok"

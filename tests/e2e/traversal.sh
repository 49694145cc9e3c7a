#!/bin/bash
# traversal.sh - a tampered target or data directory never makes restore or recover read or
# write outside the target / the data directory: symbolic links planted for a set's copy, for
# a directory of a set, for a kept delta and for a pool object; unsafe paths in the catalog;
# a relative --into that a symbolic link in data_dir would lead outside, and an existing
# --into that is a link. Each is refused with a message saying why, and nothing is created or
# changed outside. (Manifests with ../ and absolute paths: tests/unit/test_security.c.)
set -euo pipefail
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvtrav.XXXXXX")
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/reliab.lib"
CFG=$T/apply.yaml
write_config "$T/apply.yaml" apply
write_config "$T/keep.yaml" keep
"$DVLOAD" -c "$CFG" init --databases 3 --docs 20 --seed 41 >/dev/null
"$DVAULT" -c "$CFG" target init >/dev/null || { echo "FAIL: dvault target init"; exit 1; }
"$DVAULT" -c "$T/apply.yaml" backup -q >/dev/null 2>&1 || fail "backup (apply)"
"$DVAULT" -c "$T/keep.yaml" backup -q >/dev/null 2>&1 || fail "backup (keep)"
A=$(sets_json | python3 -c 'import json,sys; print(json.load(sys.stdin)[1]["id"])')
B=$(sets_json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
mkdir "$T/outside"
cp "$T/backup/sets/$A/db/mail/alice.nsf" "$T/outside/alice.nsf"   # same bytes: SHA-256 matches
cp -r "$T/backup/sets/$A/db/mail" "$T/outside/maildir"
cp "$T/backup/sets/$B/db/mail/alice.nsf.delta" "$T/outside/alice.nsf.delta"
echo "do not touch" >"$T/outside/victim"
outside_state() { (cd "$T/outside" && find . -printf '%p %s %T@\n' | sort; sha256sum victim); }
outside_state >"$T/outside.before"
cases=0

# refused WHAT PATTERN ARGS...: dvault ARGS fails, says PATTERN, leaves nothing outside
refused() {
    local what=$1 pat=$2; shift 2
    local rc=0
    "$DVAULT" "$@" >"$T/out" 2>&1 || rc=$?
    [ $rc != 0 ] || { cat "$T/out"; fail "$what: accepted"; }
    grep -q -- "$pat" "$T/out" || { cat "$T/out"; fail "$what: message does not say '$pat'"; }
    outside_state >"$T/outside.after"
    cmp -s "$T/outside.before" "$T/outside.after" || fail "$what: something changed outside"
    echo "$what: refused: $(grep -m1 -- "$pat" "$T/out" | head -c 220)"
    cases=$((cases + 1))
}
restore() { # SET INTO [more]
    local s=$1 into=$2; shift 2
    echo -c "$T/keep.yaml" restore --set "$s" --db mail/alice.nsf --into "$into" "$@"
}

# 1. the set's copy is a symbolic link (to /etc/passwd; to a file with the right bytes)
copy=$T/backup/sets/$A/db/mail/alice.nsf
mv "$copy" "$T/saved.nsf"
ln -s /etc/passwd "$copy"
refused "copy -> /etc/passwd" "symbolic link" $(restore "$A" r1.nsf)
ln -sfn "$T/outside/alice.nsf" "$copy"
refused "copy -> identical file outside" "symbolic link" $(restore "$A" r1.nsf)
refused "verify of a set whose copy -> identical file outside" "symbolic link" -c "$CFG" verify --set "$A"
[ ! -e "$T/data/r1.nsf" ] || fail "a refused restore left r1.nsf"
rm "$copy"; mv "$T/saved.nsf" "$copy"

# 2. a directory of the set is a symbolic link
mv "$T/backup/sets/$A/db/mail" "$T/saved.mail"
ln -s "$T/outside/maildir" "$T/backup/sets/$A/db/mail"
refused "set directory db/mail -> outside" "symbolic link" $(restore "$A" r2.nsf)
rm "$T/backup/sets/$A/db/mail"; mv "$T/saved.mail" "$T/backup/sets/$A/db/mail"

# 3. a kept delta is a symbolic link
d=$T/backup/sets/$B/db/mail/alice.nsf.delta
mv "$d" "$T/saved.delta"
ln -s "$T/outside/alice.nsf.delta" "$d"
refused "kept delta -> identical file outside" "symbolic link" $(restore "$B" r3.nsf)
rm "$d"; mv "$T/saved.delta" "$d"

# 4. unsafe paths in the catalog (a damaged or hostile catalog)
cp "$T/catalog.db" "$T/catalog.saved"
for bad in "../../../../../../etc/passwd" "/etc/passwd" "db/../../$B/db/mail/alice.nsf"; do
    sqlite3 "$T/catalog.db" "UPDATE set_files SET path = '$bad' WHERE set_id = '$A'
        AND db_id = (SELECT id FROM databases WHERE path = 'mail/alice.nsf')"
    refused "catalog path '$bad'" "unsafe path" $(restore "$A" r4.nsf)
done
cp "$T/catalog.saved" "$T/catalog.db"

# 4b. manifests with paths leaving the set (resync catalog rebuilds the catalog from them)
m=$T/backup/sets/$A/manifest.json
cp "$m" "$T/manifest.saved"
cp "$T/catalog.db" "$T/catalog.saved"
for bad in "../../../../../../etc/passwd" "/etc/passwd"; do
    python3 - "$m" "$bad" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["databases"][0]["path"] = sys.argv[2]
json.dump(m, open(sys.argv[1], "w"), indent=2)
PY
    # the set with the bad manifest is left out with a warning, the others are rebuilt: exit 0
    "$DVAULT" -c "$CFG" resync catalog >"$T/out" 2>&1 || { cat "$T/out"; fail "resync catalog with manifest path '$bad'"; }
    grep -q "$A.*\(unsafe\|must be\|path\)" "$T/out" || { cat "$T/out"; fail "resync catalog: manifest path '$bad' not reported"; }
    [ "$(sqlite3 "$T/catalog.db" "SELECT count(*) FROM set_files WHERE path LIKE '%etc/passwd%'")" = 0 ] ||
        fail "resync catalog recorded the path '$bad'"
    echo "manifest path '$bad' (resync catalog): refused: $(grep -m1 "$A" "$T/out" | head -c 200)"
    cases=$((cases + 1))
    cp "$T/manifest.saved" "$m"
done
cp "$T/catalog.saved" "$T/catalog.db"

# 5. --into: a symbolic link in data_dir leading outside; an existing --into that is a link
ln -s "$T/outside" "$T/data/mail/evil"
refused "--into through a link in data_dir" "leaves the data directory" $(restore "$A" mail/evil/x.nsf)
ln -s "$T/outside/victim" "$T/data/mail/link.nsf"
refused "--into an existing link (--force)" "symbolic link" $(restore "$A" mail/link.nsf --force)
rm "$T/data/mail/evil" "$T/data/mail/link.nsf"

# 6. a pool object is a symbolic link: recover must not bring it from outside
nlo=$(sqlite3 "$T/catalog.db" 'SELECT name FROM pool ORDER BY name LIMIT 1')
live=$(find "$T/data/daos" -name "$nlo")
pool=$T/backup/nlo/${nlo:0:3}/$nlo
cp "$pool" "$T/outside/$nlo"
mv "$pool" "$T/saved.nlo"
ln -s "$T/outside/$nlo" "$pool"
outside_state >"$T/outside.before"
rm "$live"
echo "$nlo" >"$T/list.txt"
rc=0; "$DVAULT" -c "$CFG" recover --list "$T/list.txt" >"$T/out" 2>&1 || rc=$?
[ $rc = 1 ] || { cat "$T/out"; fail "recover through a pool link: exit $rc, expected 1"; }
grep -q "symbolic link" "$T/out" || { cat "$T/out"; fail "recover through a pool link: not refused"; }
[ ! -e "$live" ] || fail "recover installed $nlo through a symbolic link"
echo "pool object -> identical file outside: refused: $(grep -m1 'symbolic link' "$T/out" | head -c 220)"
cases=$((cases + 1))
rm "$pool"; mv "$T/saved.nlo" "$pool"
"$DVAULT" -c "$CFG" recover --list "$T/list.txt" >"$T/out" 2>&1 || { cat "$T/out"; fail "recover of $nlo"; }
[ -f "$live" ] || fail "recover did not bring $nlo back"

# the untampered target still restores
"$DVAULT" $(restore "$B" restored.nsf) >"$T/out" 2>&1 || { cat "$T/out"; fail "restore after the checks"; }
[ "$(sqlite3 "$T/data/restored.nsf" 'PRAGMA integrity_check')" = ok ] || fail "restored.nsf"
"$DVAULT" -c "$CFG" resync daos >/dev/null || fail "resync daos after the restore"
"$DVLOAD" -c "$CFG" verify >/dev/null || fail "live server damaged"
# the server key never appears in anything dvault printed or wrote
key=$(head -c 64 "$T/server.key")
for c in "backup" "sets" "status" "config" "sets --json" "status --json"; do
    "$DVAULT" -c "$T/keep.yaml" $c >>"$T/all-output" 2>&1 || { tail "$T/all-output"; fail "dvault $c"; }
done
cat "$T/out" >>"$T/all-output"
! grep -qi "$key" "$T/all-output" "$T/catalog.db" || fail "the server key appears in dvault's output or catalog"
! grep -rqi "$key" "$T/backup" || fail "the server key appears on the target"
echo "server key: in none of $(wc -l <"$T/all-output") output lines, the catalog, the target"
echo "ok: $cases tampered inputs refused, nothing read or written outside; clean restore and recover work"

#!/bin/bash
# jobs_cli.sh - every job records itself in the catalog's job history, whoever runs it: a
# backup, a verify, a restore and a recover run from the command line appear in
# `dvault jobs --json` (newest first, with status and message), a failed one as failed with its
# reason; a job never creates a catalog; `jobs` text output and --limit.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPDIR:-/tmp}/dvjobs.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/config.yaml" <<CFG
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf"]
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
CFG
C=(-c "$T/config.yaml")
"$DVLOAD" "${C[@]}" init --databases 2 --docs 5 --seed 3 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"

# jobs_json [ARGS]: the history as JSON in $T/jobs.json (checked to parse)
jobs_json() {
    "$DVAULT" "${C[@]}" jobs --json "$@" >"$T/jobs.json" 2>"$T/jobs.err" ||
        { cat "$T/jobs.err"; fail "dvault jobs --json failed"; }
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$T/jobs.json" ||
        fail "jobs --json is not JSON: $(cat "$T/jobs.json")"
}
# kinds: the kinds of the history, newest first, on one line
kinds() {
    python3 -c 'import json,sys; print(" ".join(j["kind"] for j in json.load(open(sys.argv[1]))))' \
        "$T/jobs.json"
}
# field N KEY: KEY of the N-th newest job
field() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[int(sys.argv[2])][sys.argv[3]])' \
        "$T/jobs.json" "$1" "$2"
}

step "no catalog yet: no jobs, and neither jobs nor a failing verify creates one"
jobs_json
[ "$(tr -d ' \n' <"$T/jobs.json")" = "[]" ] || fail "expected [] before any job: $(cat "$T/jobs.json")"
"$DVAULT" "${C[@]}" jobs | grep -q "no jobs recorded yet" || fail "text output without jobs"
if "$DVAULT" "${C[@]}" verify >/dev/null 2>&1; then fail "verify without a catalog should fail"; fi
[ ! -e "$T/catalog.db" ] || fail "a job created the catalog"

step "backup, verify, restore, recover from the command line"
"$DVAULT" "${C[@]}" backup >/dev/null 2>"$T/err" || { cat "$T/err"; fail "backup"; }
"$DVAULT" "${C[@]}" verify >"$T/verify.out" 2>&1 || { cat "$T/verify.out"; fail "verify"; }
set1=$("$DVAULT" "${C[@]}" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)
[ -n "$set1" ] || fail "no set after the backup"
db=$(cd "$T/data" && ls mail/*.nsf | head -1)
"$DVAULT" "${C[@]}" restore --set "$set1" --db "$db" --into restored.nsf >/dev/null 2>"$T/err" ||
    { cat "$T/err"; fail "restore"; }
"$DVAULT" "${C[@]}" recover --db "$db" >/dev/null 2>"$T/err" || { cat "$T/err"; fail "recover"; }
jobs_json
[ "$(kinds)" = "recover restore verify backup" ] ||
    fail "history: '$(kinds)' (expected: recover restore verify backup)"
for i in 0 1 2 3; do
    [ "$(field $i status)" = ok ] ||
        fail "job $i ($(field $i kind)): status $(field $i status): $(field $i message)"
    [ "$(field $i ended)" != None ] || fail "job $i ($(field $i kind)) has no end"
done
field 1 message | grep -q "from set $set1 into .*restored.nsf" || fail "restore message: $(field 1 message)"
field 2 message | grep -q "^0 problem" || fail "verify message: $(field 2 message)"

step "a failed job is recorded failed, with its reason"
if "$DVAULT" "${C[@]}" restore --set 19990101-000000 --db "$db" --into other.nsf >/dev/null 2>&1; then
    fail "restore of an unknown set should fail"
fi
jobs_json
[ "$(field 0 kind) $(field 0 status)" = "restore failed" ] ||
    fail "newest job: $(field 0 kind) $(field 0 status)"
field 0 message | grep -q "no backup set '19990101-000000'" || fail "failed message: $(field 0 message)"

step "--limit and the text listing"
jobs_json --limit 2
[ "$(kinds)" = "restore recover" ] || fail "--limit 2: '$(kinds)'"
"$DVAULT" "${C[@]}" jobs >"$T/jobs.txt"
head -1 "$T/jobs.txt" | grep -q "^ *ID  *KIND  *STARTED" || fail "text header: $(head -1 "$T/jobs.txt")"
[ "$(awk '$7 == "ok"' "$T/jobs.txt" | wc -l)" = 4 ] || fail "text: 4 ok jobs expected: $(cat "$T/jobs.txt")"
[ "$(awk '$7 == "failed"' "$T/jobs.txt" | wc -l)" = 1 ] || fail "text: 1 failed job expected"
if "$DVAULT" "${C[@]}" jobs --limit 0 >/dev/null 2>&1; then fail "--limit 0 accepted"; fi
if "$DVAULT" "${C[@]}" jobs --bogus >/dev/null 2>&1; then fail "--bogus accepted"; fi
echo "PASS jobs_cli"

#!/bin/bash
# cli_polish.sh - the command line's rough edges (issue 15, items 8 and 11): status and
# config --check exit 1 when data_dir, the DAOS directory or the key is missing; listnlo
# missing reports its count (also 0) and names a directory or a non-database; whereis takes
# a unique prefix and lists an ambiguous one; daos prune --dry-run deletes nothing; the
# README's hook quoting example runs as it says; status after a failed set reads plainly.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvpolish.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf"]
  key_file: server.key
backup:
  target: backup
  pre_command: '"$T/hook scripts/pre.sh" --note "nightly run" --name="a b"'
catalog: catalog.db
EOF
# the README's quoting example: a program path with a blank, grouped words
mkdir -p "$T/hook scripts"
printf '#!/bin/sh\nfor a; do echo "<$a>"; done >"%s/pre.args"\n' "$T" >"$T/hook scripts/pre.sh"
chmod +x "$T/hook scripts/pre.sh"
C=(-c "$T/config.yaml")
"$DVLOAD" "${C[@]}" init --databases 3 --docs 80 --seed 7 >/dev/null
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"

step "status and config --check: a healthy configuration exits 0"
"$DVAULT" "${C[@]}" status >"$T/st" 2>"$T/st.err" || fail "status on a healthy server: $(cat "$T/st.err")"
"$DVAULT" "${C[@]}" config --check >"$T/cc" 2>&1 || fail "config --check: $(cat "$T/cc")"

# expect_bad WHAT PATTERN: status and config --check exit 1, name it on one line, create nothing
expect_bad() {
    local what=$1 pat=$2 rc
    set +e
    "$DVAULT" "${C[@]}" status >"$T/st" 2>"$T/st.err"
    rc=$?
    set -e
    [ "$rc" = 1 ] || fail "status with $what: exit $rc, want 1"
    grep -q "^dvault: .*$pat" "$T/st.err" || fail "status with $what: no line naming it: $(cat "$T/st.err")"
    set +e
    "$DVAULT" "${C[@]}" config --check >"$T/cc" 2>"$T/cc.err"
    rc=$?
    set -e
    [ "$rc" = 1 ] || fail "config --check with $what: exit $rc, want 1 ($(cat "$T/cc"))"
    grep -q "^dvault: .*$pat" "$T/cc.err" || fail "config --check with $what: $(cat "$T/cc.err")"
    grep -q "NOT ok" "$T/cc" || fail "config --check with $what still says ok: $(cat "$T/cc")"
}
step "status and config --check: data_dir missing"
mv "$T/data" "$T/data.aside"
expect_bad "no data_dir" "server.data_dir $T/data does not exist"
[ ! -e "$T/data" ] || fail "status or config --check created data_dir"
mv "$T/data.aside" "$T/data"
step "status and config --check: the DAOS directory missing"
mv "$T/data/daos" "$T/daos.aside"
expect_bad "no DAOS directory" "server.daos_dir $T/data/daos does not exist"
[ ! -e "$T/data/daos" ] || fail "status or config --check created the DAOS directory"
mv "$T/daos.aside" "$T/data/daos"
step "status and config --check: the server key missing"
mv "$T/server.key" "$T/key.aside"
expect_bad "no key" "server key file $T/server.key does not exist"
mv "$T/key.aside" "$T/server.key"
"$DVAULT" "${C[@]}" status >/dev/null 2>&1 || fail "status after putting everything back"

"$DVAULT" "${C[@]}" backup >"$T/b1" 2>&1 || { cat "$T/b1"; fail "backup"; }
step "pre_command: double quotes group words (README example)"
printf '<--note>\n<nightly run>\n<--name=a b>\n' | cmp - "$T/pre.args" || fail "pre_command arguments: $(cat "$T/pre.args")"

step "listnlo missing: the count on stderr, also 0"
"$DVAULT" "${C[@]}" listnlo missing mail/alice.nsf >"$T/lm" 2>"$T/lm.err" || fail "listnlo missing: $(cat "$T/lm.err")"
[ ! -s "$T/lm" ] || fail "listnlo missing printed names on a whole server: $(cat "$T/lm")"
grep -qx "listnlo: 0 missing NLO names" "$T/lm.err" || fail "listnlo missing, nothing missing: '$(cat "$T/lm.err")'"
step "listnlo missing: a directory, a file that is not a database"
set +e
"$DVAULT" "${C[@]}" listnlo missing mail >/dev/null 2>"$T/ld.err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "listnlo missing DIR: exit $rc"
grep -q "$T/data/mail is a directory, not a database" "$T/ld.err" || fail "listnlo missing DIR: $(cat "$T/ld.err")"
echo "not a database at all, but long enough" >"$T/data/notes.txt"
set +e
"$DVAULT" "${C[@]}" listnlo missing notes.txt >/dev/null 2>"$T/lt.err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "listnlo missing on a text file: exit $rc"
grep -q "$T/data/notes.txt is not a SQLite database" "$T/lt.err" || fail "listnlo missing FILE: $(cat "$T/lt.err")"
rm -f "$T/data/notes.txt"

step "whereis: a unique prefix, an ambiguous one, one that matches nothing"
for f in "$T"/data/mail/*.nsf; do sqlite3 "$f" "SELECT nlo FROM attachments WHERE nlo IS NOT NULL"; done | sort -u >"$T/names"
[ "$(wc -l <"$T/names")" -ge 17 ] || fail "too few NLOs for the prefix test: $(wc -l <"$T/names")"
# the shortest prefix of the first name no other name shares
first=$(head -1 "$T/names")
for len in 4 5 6 7 8 9 10 11 12; do
    [ "$(grep -c "^${first:0:$len}" "$T/names")" = 1 ] && break
done
"$DVAULT" "${C[@]}" whereis "${first:0:$len}" >"$T/w1" 2>"$T/w1.err" || fail "whereis ${first:0:$len}: $(cat "$T/w1.err")"
grep -qx "NLO $first" "$T/w1" || fail "whereis prefix resolved to: $(head -1 "$T/w1")"
# a one-digit prefix two or more names share (17+ names, 16 digits)
amb=$(cut -c1 "$T/names" | sort | uniq -c | awk '$1 >= 2 {print $2; exit}')
set +e
"$DVAULT" "${C[@]}" whereis "$amb" >"$T/w2" 2>"$T/w2.err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "whereis ambiguous prefix $amb: exit $rc"
grep -q "ambiguous" "$T/w2.err" || fail "whereis $amb: $(cat "$T/w2.err")"
want=$(grep -c "^$amb" "$T/names")
got=$(grep -c "^  $amb" "$T/w2.err")
[ "$got" = "$((want > 20 ? 20 : want))" ] || fail "whereis $amb listed $got candidates, $want start with it"
none=$(printf '%s\n' 0 1 2 3 4 5 6 7 8 9 a b c d e f | while read -r d; do
    grep -q "^${first:0:$len}$d" "$T/names" || { echo "${first:0:$len}$d"; break; }; done)
set +e
"$DVAULT" "${C[@]}" whereis "$none" >/dev/null 2>"$T/w3.err"
rc=$?
set -e
[ "$rc" = 1 ] && grep -q "starts with '$none'" "$T/w3.err" || fail "whereis $none: exit $rc: $(cat "$T/w3.err")"

step "daos prune --dry-run: counts and bytes, nothing deleted"
mv "$T/data/mail/bob.nsf" "$T/bob.nsf"
rm -f "$T/data/mail/bob.nsf-wal" "$T/data/mail/bob.nsf-shm"
"$DVAULT" "${C[@]}" resync daos >/dev/null
before=$(find "$T/data/daos" -name '*.nlo' | wc -l)
"$DVAULT" "${C[@]}" daos prune --days 0 --dry-run >"$T/dry" 2>"$T/dry.err" || fail "daos prune --dry-run: $(cat "$T/dry.err")"
cat "$T/dry"
n=$(sed -n 's/^daos prune --dry-run: would delete \([0-9]*\) NLOs (\(.*\)); .*nothing deleted$/\1/p' "$T/dry")
[ -n "$n" ] && [ "$n" -ge 1 ] || fail "daos prune --dry-run: $(cat "$T/dry")"
grep -q "would delete $n NLOs ([0-9.]* [KM]\?i\?B)" "$T/dry" || fail "no bytes: $(cat "$T/dry")"
[ "$(find "$T/data/daos" -name '*.nlo' | wc -l)" = "$before" ] || fail "--dry-run deleted NLO files"
"$DVAULT" "${C[@]}" daos prune --days 0 >"$T/real" || fail "daos prune"
grep -q "^daos prune: $n deleted" "$T/real" || fail "the dry run said $n, the prune: $(cat "$T/real")"
[ "$(find "$T/data/daos" -name '*.nlo' | wc -l)" = "$((before - n))" ] || fail "prune deleted another count"
step "status after a failed set and a full one: no contradiction"
sed 's|^  pre_command:.*|  pre_command: /bin/false|' "$T/config.yaml" >"$T/fail.yaml"
set +e
"$DVAULT" -c "$T/fail.yaml" backup >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 1 ] || fail "a backup whose pre_command fails: exit $rc"
bad=$("$DVAULT" "${C[@]}" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)
"$DVAULT" "${C[@]}" backup --incremental >"$T/b2" 2>&1 || { cat "$T/b2"; fail "backup after the failed one"; }
"$DVAULT" "${C[@]}" status >"$T/st2" 2>&1 || fail "status: $(cat "$T/st2")"
grep "^last backup" "$T/st2"
grep -q "^last backup .*(full, complete, .*): a full backup, because the set before it, $bad, failed (" "$T/st2" ||
    fail "status after a failed set: $(grep '^last backup' "$T/st2")"
grep -q "the last backup set" "$T/st2" && fail "status still says 'the last backup set' of a complete one"
echo "PASS cli_polish"

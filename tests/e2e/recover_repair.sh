#!/bin/bash
# recover_repair.sh - issue 12, finding 8: `recover` said "already present" for a live NLO whose
# bytes are damaged, though the pool holds a good copy. Now, end to end with the real binaries
# (encrypted NLOs):
#  - `listnlo damaged PATH` lists the NLOs of a database whose live stored bytes do not hash to
#    the pool's record (a flipped byte, a truncated file, a symbolic link to a look-alike copy
#    outside the repository); an NLO no backup holds is "unknown: not in the pool", not damaged;
#  - `recover --list` replaces each from the pool atomically and says "repaired"; the link is
#    replaced as itself (its target untouched); no temporary is left; dvload verify reads
#    every attachment again; a second run finds them present;
#  - killed before the rename, the damaged file is as it was (only a hidden temporary beside
#    it) and the next run repairs it;
#  - a damaged NLO whose pool copy is corrupt too is unrecoverable and left as it is;
#  - `recover --db PATH --doc UNID` repairs the damaged NLOs of that document.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvrepair-e2e.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

cat >"$T/config.yaml" <<EOF
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf"]
  max_files_per_subdir: 20
  min_object_size: 1024
  encryption: true
  key_file: server.key
backup:
  target: backup
catalog: catalog.db
EOF
C=(-c "$T/config.yaml")
D=$T/data
"$DVLOAD" "${C[@]}" init --databases 3 --docs 30 --seed 5 >/dev/null || fail "dvload init"
"$DVAULT" "${C[@]}" target init >/dev/null || fail "dvault target init"
"$DVAULT" "${C[@]}" backup -q >"$T/out" 2>&1 || { cat "$T/out"; fail "backup"; }
SET=$("$DVAULT" "${C[@]}" sets --json | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4)
DB=mail/alice.nsf
[ -f "$D/$DB" ] || fail "no $DB"
"$DVAULT" "${C[@]}" listnlo all "$DB" >"$T/all"
[ "$(wc -l <"$T/all")" -ge 6 ] || fail "expected at least 6 NLOs in $DB, got $(wc -l <"$T/all")"
live() { ls "$D"/daos/*/"$1"; }
pool() { echo "$T/backup/nlo/${1:0:3}/$1"; }
N1=$(sed -n 1p "$T/all") N2=$(sed -n 2p "$T/all") N3=$(sed -n 3p "$T/all") N4=$(sed -n 4p "$T/all")
F1=$(live "$N1") F2=$(live "$N2") F3=$(live "$N3") F4=$(live "$N4")
for n in "$N1" "$N2" "$N3" "$N4"; do cmp -s "$(live "$n")" "$(pool "$n")" || fail "$n: live and pool differ before the test"; done
"$DVAULT" "${C[@]}" daos status >"$T/daos.before"

step "damage: a flipped byte, a truncated file, a link to a look-alike outside"
flip() { # flip the byte at offset $2 of file $1, in place
    python3 - "$1" "$2" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(off); b = f.read(1); f.seek(off); f.write(bytes([b[0] ^ 0xff]))
PY
}
flip "$F1" 40
truncate -s 10 "$F2"
cp "$F3" "$T/outside.nlo"
rm "$F3" && ln -s "$T/outside.nlo" "$F3"
outside_sum=$(sha256sum <"$T/outside.nlo")
printf '%s\n%s\n%s\n' "$N1" "$N2" "$N3" | sort >"$T/want_damaged"

step "listnlo damaged $DB"
"$DVAULT" "${C[@]}" listnlo damaged "$DB" -o "$T/damaged.txt" 2>"$T/ld.err" || { cat "$T/ld.err"; fail "listnlo damaged"; }
cat "$T/ld.err"
sort "$T/damaged.txt" | cmp -s - "$T/want_damaged" ||
    { diff "$T/want_damaged" <(sort "$T/damaged.txt"); fail "listnlo damaged lists other names"; }
grep -q "^damaged: $N3: it is a symbolic link" "$T/ld.err" || fail "the link is not named as one"
grep -q "^damaged: $N1: its bytes do not match the backup" "$T/ld.err" || fail "the flipped byte is not named"
grep -q " 3 damaged" "$T/ld.err" || fail "the summary does not count 3 damaged"
"$DVAULT" "${C[@]}" listnlo damaged "$DB" 2>/dev/null | sort | cmp -s - "$T/want_damaged" ||
    fail "listnlo damaged on stdout differs"

step "recover --list: repaired from the pool"
rc=0
"$DVAULT" "${C[@]}" recover --list "$T/damaged.txt" >"$T/rec" 2>&1 || rc=$?
cat "$T/rec"
[ "$rc" = 0 ] || fail "recover exit $rc"
for n in "$N1" "$N2" "$N3"; do
    grep -q "^repaired *$n daos/[0-9]*: damaged bytes replaced from set $SET" "$T/rec" ||
        fail "$n not reported repaired"
    f=$(live "$n")
    [ -f "$f" ] && [ ! -L "$f" ] || fail "$n is not a regular file after the repair"
    cmp -s "$f" "$(pool "$n")" || fail "$n differs from the pool copy after the repair"
done
grep -q "^already present" "$T/rec" && fail "a damaged NLO was called present"
grep -q "recover: 3 NLOs: 0 recovered, 3 repaired" "$T/rec" || fail "summary"
[ "$(sha256sum <"$T/outside.nlo")" = "$outside_sum" ] || fail "the link's target was written"
leftover=$(find "$D/daos" -name '*.tmp*' | head -1)
[ -z "$leftover" ] || fail "a temporary was left: $leftover"
"$DVAULT" "${C[@]}" daos status >"$T/daos.after"
cmp -s "$T/daos.before" "$T/daos.after" || { diff "$T/daos.before" "$T/daos.after"; fail "the DAOS index changed"; }
"$DVLOAD" "${C[@]}" verify >"$T/verify" 2>&1 || { cat "$T/verify"; fail "dvload verify after the repair"; }
"$DVAULT" "${C[@]}" listnlo damaged "$DB" -o "$T/damaged2.txt" 2>"$T/ld2.err" || fail "listnlo damaged (2)"
[ ! -s "$T/damaged2.txt" ] || fail "still damaged: $(cat "$T/damaged2.txt")"
"$DVAULT" "${C[@]}" recover --list "$T/damaged.txt" | grep -q "3 already present" || fail "a second recover should find them present"
echo "ok: repaired, verified, present"

step "killed before the rename: the damaged file as it was, the next run repairs it"
flip "$F1" 40
before=$(sha256sum <"$F1")
rc=0
DV_CRASH_AT=recover.repair.before_rename "$DVAULT" "${C[@]}" recover --list "$T/damaged.txt" >"$T/rec3" 2>&1 || rc=$?
[ "$rc" = 137 ] || { cat "$T/rec3"; fail "the crash point was not hit (exit $rc)"; }
[ "$(sha256sum <"$F1")" = "$before" ] || fail "a killed repair changed the live file"
left=$(find "$D/daos" -name '*.repair.tmp')
[ "$(echo "$left" | grep -c .)" = 1 ] && [[ $(basename "$left") == .* ]] || fail "leftover: '$left'"
"$DVAULT" "${C[@]}" recover --list "$T/damaged.txt" >"$T/rec3" 2>&1 || { cat "$T/rec3"; fail "recover after the kill"; }
grep -q "^repaired *$N1" "$T/rec3" || fail "the next run did not repair $N1"
cmp -s "$F1" "$(pool "$N1")" || fail "$N1 differs from the pool copy"
rm -f "$left"

step "damaged, and the pool copy corrupt too: unrecoverable, left alone"
flip "$F4" 40
flip "$(pool "$N4")" 50
before=$(sha256sum <"$F4")
echo "$N4" >"$T/l4"
rc=0
"$DVAULT" "${C[@]}" recover --list "$T/l4" >"$T/rec4" 2>&1 || rc=$?
cat "$T/rec4"
[ "$rc" = 1 ] || fail "recover with a corrupt pool copy: exit $rc, expected 1"
grep -q "^unrecoverable *$N4: damaged, its bytes do not match the backup.*; pool file .* is corrupt" "$T/rec4" ||
    fail "the reason names neither the damage nor the corrupt pool file"
[ "$(sha256sum <"$F4")" = "$before" ] || fail "the live file was changed"
flip "$(pool "$N4")" 50 # the pool copy good again

step "recover --db --doc: the damaged NLOs of one document"
UNID=$(sqlite3 "$D/$DB" "SELECT n.unid FROM notes n JOIN attachments a ON a.note_id = n.note_id
                         WHERE a.nlo = '$N4' LIMIT 1")
[ -n "$UNID" ] || fail "no document references $N4"
"$DVAULT" "${C[@]}" recover --db "$DB" --doc "$UNID" >"$T/rec5" 2>&1 || { cat "$T/rec5"; fail "recover --doc"; }
grep -q "^repaired *$N4" "$T/rec5" || fail "recover --doc did not repair $N4: $(cat "$T/rec5")"
cmp -s "$F4" "$(pool "$N4")" || fail "$N4 differs from the pool copy after recover --doc"

step "an NLO no backup holds: unknown, not damaged"
"$DVLOAD" "${C[@]}" run --seconds 2 --writers 1 --seed 9 >/dev/null 2>&1 || fail "dvload run"
for f in $(cd "$D" && ls mail/*.nsf); do
    "$DVAULT" "${C[@]}" listnlo damaged "$f" -o "$T/d.txt" 2>"$T/d.err" || fail "listnlo damaged $f"
    [ ! -s "$T/d.txt" ] || fail "$f: new NLOs listed as damaged: $(cat "$T/d.txt")"
    grep -q "^unknown: " "$T/d.err" && { UNK=$f; break; }
done
[ -n "${UNK:-}" ] || fail "dvload run made no NLO the pool lacks"
grep -q "^unknown: [0-9a-f]*\.nlo: not in the pool" "$T/d.err" || fail "unknown line: $(cat "$T/d.err")"
echo "ok"

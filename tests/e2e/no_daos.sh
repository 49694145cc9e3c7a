#!/bin/bash
# no_daos.sh - issue 11, servers without DAOS: server.daos_dir absent (or "") means the server
# has no DAOS repository. dvload makes such a server (every attachment inline), backups copy
# the databases and say the NLO pass was skipped, restore and single-document copy work, and
# every NLO command (listnlo, recover, whereis, daos, resync daos) exits non-zero saying
# "this server has no DAOS repository". A configured daos_dir that is missing fails the
# backup naming it.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvnodaos.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
MSG="this server has no DAOS repository"

# refused WHAT CMD...: exit non-zero, one stderr line saying MSG
refused() {
    local what=$1; shift
    if "$@" >"$T/out" 2>"$T/err"; then fail "$what: exit 0 on a server without DAOS"; fi
    grep -q "$MSG" "$T/err" || { cat "$T/out" "$T/err"; fail "$what: does not say '$MSG'"; }
    [ "$(grep -c . "$T/err")" = 1 ] || { cat "$T/err"; fail "$what: more than one line on stderr"; }
    echo "$what: refused: $(cat "$T/err")"
}

server() { # DIR DAOS_LINE: a server without DAOS in DIR
    local d=$1
    mkdir -p "$d"
    { echo "server:"; echo "  data_dir: data"; [ -n "$2" ] && echo "  $2"
      echo "  min_object_size: 1024"; echo "  key_file: server.key"
      echo "backup: { target: backup }"; echo "catalog: catalog.db"; } >"$d/c.yaml"
    "$DVAULT" -c "$d/c.yaml" target init >/dev/null || fail "target init in $d"
}

for variant in absent empty; do
    D=$T/$variant
    if [ $variant = absent ]; then server "$D" ""; else server "$D" 'daos_dir: ""'; fi
    C=("$DVAULT" -c "$D/c.yaml")
    step "$variant daos_dir: dvload init makes a server without DAOS"
    "$DVLOAD" -c "$D/c.yaml" init --databases 2 --docs 15 --seed 5 >"$T/init.out" ||
        fail "dvload init without DAOS"
    grep -q "no DAOS" "$T/init.out" || { cat "$T/init.out"; fail "dvload init does not say no DAOS"; }
    [ ! -e "$D/data/daos" ] || fail "dvload init created data/daos"
    [ ! -e "$D/server.key" ] || fail "dvload init created a key for a server without NLOs"
    db=mail/$(ls "$D/data/mail" | grep -m1 '\.nsf$')
    big=$(sqlite3 "$D/data/$db" "SELECT count(*) FROM attachments WHERE size >= 1024 AND nlo IS NULL")
    [ "$big" -gt 0 ] || fail "no large inline attachment in $db"
    [ "$(sqlite3 "$D/data/$db" "SELECT count(*) FROM attachments WHERE nlo IS NOT NULL")" = 0 ] ||
        fail "$db references NLOs"
    "$DVLOAD" -c "$D/c.yaml" verify >/dev/null || fail "dvload verify without DAOS"

    step "$variant: backup copies the databases, skips the NLO pass, exits 0"
    "${C[@]}" backup >"$T/b.out" 2>"$T/b.err" || { cat "$T/b.out" "$T/b.err"; fail "backup without DAOS"; }
    grep -q "NLO pass skipped: $MSG" "$T/b.out" || { cat "$T/b.out"; fail "the summary does not say the NLO pass was skipped"; }
    grep -q "databases  2 copied" "$T/b.out" || { cat "$T/b.out"; fail "databases not copied"; }
    [ "$(sqlite3 "$D/catalog.db" "SELECT count(*) FROM events WHERE message LIKE 'NLO pass skipped: %'")" -gt 0 ] ||
        fail "no job event saying the NLO pass was skipped"
    set=$("${C[@]}" sets --json | sed -n 's/.*"id": "\([^"]*\)".*/\1/p' | head -1)
    "${C[@]}" verify >/dev/null 2>&1 || fail "verify of a set without NLOs"
    "${C[@]}" status >"$T/s.out" 2>&1 || { cat "$T/s.out"; fail "status without DAOS"; }
    grep -q "DAOS        none: $MSG" "$T/s.out" || { cat "$T/s.out"; fail "status does not say there is no DAOS"; }
    "${C[@]}" status --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["daos"]; sys.exit(0 if d["present"] is False else 1)' ||
        fail "status --json: daos.present is not false"

    step "$variant: restore and single-document copy work"
    "${C[@]}" restore --set "$set" --db "$db" --into mail/restored.nsf >"$T/r.out" 2>&1 ||
        { cat "$T/r.out"; fail "restore without DAOS"; }
    grep -q "NLOs       none: $MSG" "$T/r.out" || { cat "$T/r.out"; fail "restore does not say there are no NLOs"; }
    if grep -q "NEEDS_RESYNC" "$T/r.out"; then fail "restore talks about a DAOS index"; fi
    [ "$(sqlite3 "$D/data/mail/restored.nsf" 'SELECT count(*) FROM notes')" = \
      "$(sqlite3 "$D/data/$db" 'SELECT count(*) FROM notes')" ] || fail "restored copy differs"
    unid=$(sqlite3 "$D/data/$db" "SELECT n.unid FROM notes n JOIN attachments a ON a.note_id = n.note_id WHERE a.size >= 1024 LIMIT 1")
    sqlite3 "$D/data/$db" "DELETE FROM attachments WHERE note_id IN (SELECT note_id FROM notes WHERE unid = '$unid'); DELETE FROM notes WHERE unid = '$unid'"
    "${C[@]}" doc copy --from mail/restored.nsf --unid "$unid" --to "$db" >"$T/d.out" 2>&1 ||
        { cat "$T/d.out"; fail "doc copy without DAOS"; }
    [ "$(sqlite3 "$D/data/$db" "SELECT count(*) FROM notes WHERE unid = '$unid'")" = 1 ] || fail "document not copied back"

    step "$variant: the NLO commands say there is no DAOS"
    refused "listnlo missing" "${C[@]}" listnlo missing "$db"
    refused "listnlo all" "${C[@]}" listnlo all "$db"
    refused "recover --db" "${C[@]}" recover --db "$db"
    printf '%064d%016x.nlo\n' 0 10 >"$T/list"
    refused "recover --list" "${C[@]}" recover --list "$T/list"
    refused "whereis" "${C[@]}" whereis "$(cat "$T/list")"
    refused "daos status" "${C[@]}" daos status
    refused "daos prune" "${C[@]}" daos prune
    refused "resync daos" "${C[@]}" resync daos
    [ ! -e "$D/data/daos" ] || fail "an NLO command created data/daos"
done

step "a configured daos_dir that is missing fails the backup, naming it"
D=$T/vanished
server "$D" "daos_dir: daos"
"$DVLOAD" -c "$D/c.yaml" init --databases 1 --docs 5 --seed 6 >/dev/null
"$DVAULT" -c "$D/c.yaml" backup -q >/dev/null || fail "backup with DAOS"
mv "$D/data/daos" "$D/daos-elsewhere"
if "$DVAULT" -c "$D/c.yaml" backup >"$T/out" 2>"$T/err"; then fail "backup without its DAOS repository exit 0"; fi
grep -q "$D/data/daos (server.daos_dir) is missing" "$T/err" || { cat "$T/out" "$T/err"; fail "the failure does not name the missing DAOS directory"; }
[ ! -e "$D/data/daos" ] || fail "the backup recreated the DAOS directory"

step "a DAOS repository the configuration forgot to name: backup, status and config --check warn"
mv "$D/daos-elsewhere" "$D/data/daos"
sed -i '/daos_dir: daos/d' "$D/c.yaml"
"$DVAULT" -c "$D/c.yaml" backup >"$T/out" 2>&1 || { cat "$T/out"; fail "backup with an unnamed DAOS repository"; }
grep -q "NLO pass skipped" "$T/out" || { cat "$T/out"; fail "the backup does not say the NLO pass was skipped"; }
grep -q "$D/data/daos looks like a DAOS repository.*NOT backed up" "$T/out" ||
    { cat "$T/out"; fail "the backup does not warn that the unnamed repository's NLOs are not backed up"; }
"$DVAULT" -c "$D/c.yaml" status 2>&1 | grep -q "warning .*looks like a DAOS repository" ||
    fail "status does not warn about the unnamed DAOS repository"
"$DVAULT" -c "$D/c.yaml" config --check >"$T/out" 2>"$T/err" || fail "config --check exit"
grep -q "looks like a DAOS repository" "$T/err" || { cat "$T/out" "$T/err"; fail "config --check does not warn"; }
echo "no_daos: ok"

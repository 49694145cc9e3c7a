#!/bin/bash
# Console, single-document recovery end to end: on a generated server with one backup, a
# document with attachments is deleted and purged in the live database and its NLOs pruned
# (they are in the backup); then, in the console: Recovery, F6 -> choose the database -> the set
# -> restore into a new name (job) -> the restored copy's documents, the purged one marked
# "gone" -> open it (its NLOs MISSING) -> F7 recovers them -> F6 copies it into the live
# database (no resync offered: the index stays exact). Afterwards, outside the console, the live database has the
# document (same unid) with its attachments and `dvload verify` passes. Every screen of the
# flow stays whole through 120x40 -> 80x24 -> 120x40. Then: Sets v verifies the set (no
# problems), p previews the prune (nothing to remove), Overview D runs the DAOS prune, and the
# Objects screen's where-is names the databases referencing an NLO now.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed"; exit 1; }

tui_site 3 12 7 "deferred_deletion_days: 30"
dv() { "$DVAULT" -c "$d/config.yaml" "$@"; }
dv backup >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
db=$(cd "$d/data" && find . -name '*.nsf' | sed 's|^\./||' | sort | head -1)
live=$d/data/$db

# a document of $db with NLO attachments; every document (in any database) that references one
# of its NLOs is purged too, so that the NLOs lose their last reference and can be pruned
unid=$(sqlite3 "$live" "SELECT n.unid FROM notes n JOIN attachments a ON a.note_id = n.note_id
        WHERE n.deleted IS NULL AND a.nlo IS NOT NULL ORDER BY n.note_id LIMIT 1")
[ -n "$unid" ] || { echo "FAIL: no document with NLOs in $db"; exit 1; }
natt=$(sqlite3 "$live" "SELECT count(*) FROM attachments a JOIN notes n USING (note_id) WHERE n.unid = '$unid'")
nlos=$(sqlite3 "$live" "SELECT DISTINCT nlo FROM attachments a JOIN notes n USING (note_id) WHERE n.unid = '$unid' AND nlo IS NOT NULL")
subject=$(sqlite3 "$live" "SELECT subject FROM notes WHERE unid = '$unid'")

# delete + purge (the store's semantics: soft delete, then the rows go), count the references
# again, and let the DAOS prune delete the now unreferenced NLOs (the backup holds them)
purge() { # DBFILE NLO: purge the documents of DBFILE with an attachment referencing NLO
    sqlite3 "$1" "CREATE TEMP TABLE p AS SELECT DISTINCT note_id FROM attachments WHERE nlo = '$2';
        UPDATE notes SET deleted = strftime('%s','now') - 86400 WHERE note_id IN (SELECT note_id FROM p);
        DELETE FROM attachments WHERE note_id IN (SELECT note_id FROM p);
        DELETE FROM notes WHERE note_id IN (SELECT note_id FROM p);" || { echo "FAIL: purge"; exit 1; }
}
for n in $nlos; do
    for f in $(find "$d/data" -name '*.nsf'); do purge "$f" "$n"; done
done
[ "$(sqlite3 "$live" "SELECT count(*) FROM notes WHERE unid = '$unid'")" = 0 ] || { echo "FAIL: not purged"; exit 1; }
# and soft-delete another one (not purged): it shows as "deleted"
sqlite3 "$live" "UPDATE notes SET deleted = strftime('%s','now') WHERE note_id = (SELECT max(note_id) FROM notes WHERE deleted IS NULL)"
dv resync daos >/dev/null 2>&1 || { echo "FAIL: resync daos"; exit 1; }
dv daos prune --days 0 >/dev/null 2>&1 || { echo "FAIL: daos prune"; exit 1; }
for n in $nlos; do
    [ -z "$(find "$d/data/daos" -name "$n")" ] || { echo "FAIL: $n not pruned"; exit 1; }
done

whole() { # W H: title on the first line, function-key bar on the last
    local top bot i
    for ((i = 0; i < 50; i++)); do
        top=$(tui_line 1); bot=$(tui_line "$2")
        [[ $top == " dvault"* && $bot == F1Help* && $bot == *F10Quit* ]] &&
            [ "$(tui_screen | wc -l)" = "$2" ] && return 0
        sleep 0.1
    done
    fail "$1x$2: screen not whole (title on line 1, F-key bar on line $2)"
}
resizes() { # TEXT that must be on screen after each size
    tui_resize 80 24; whole 80 24; tui_wait_for "$1"
    tui_resize 120 40; whole 120 40; tui_wait_for "$1"
}

tui_start 120 40 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
tui_keys 5; tui_wait_for "F6DocRec"; tui_wait_for "single-document recovery"
resizes "F6DocRec"
tui_keys F6; tui_wait_for "1/3: which database"; tui_wait_for "$db"
resizes "1/3: which database"
tui_keys Enter; tui_wait_for "2/3: restore it from which set"
resizes "2/3: restore it from which set"
tui_keys Enter; tui_wait_for "3/3"; tui_wait_for "restore/${db%.nsf}--" # restore/mail/x--SET.nsf
resizes "3/3"
tui_keys Enter
tui_wait_for "no longer live (marked)" 300
tui_screen | grep -qE '^ *gone ' || fail "the purged document is not marked gone"
tui_screen | grep -qE '^ *deleted ' || fail "the soft-deleted document is not marked deleted"
tui_screen | grep -qF "F7RecNLOs" || fail "the F-key bar of the document list"
nm=$(echo $nlos | wc -w)
tui_wait_for "$nm NLOs of the restored copy are missing from the live repository"
resizes "no longer live (marked)"
# find it: / searches the rows (the state column says gone)
tui_keys /; tui_keys "$unid"; tui_keys Enter
tui_keys Enter; tui_wait_for "unid $unid"; tui_wait_for "MISSING"
tui_wait_for "F7 recovers the"
resizes "unid $unid"
tui_keys F7; tui_wait_for "NLOs of the document" 300; tui_wait_for "recovered"
tui_keys Escape; tui_wait_for "0 missing from the live"
tui_keys F6; tui_wait_for "Copy into the live database"; tui_keys y
# the copy keeps the DAOS index exact and the restore (into the restore folder) did not mark
# it: no resync is offered
tui_wait_for "in the live $db: present" 300
tui_sync
tui_screen | grep -qF "Rebuild the server" && fail "a resync offered after the copy"
dv daos status | grep -q SYNCHRONIZED || fail "the index is not synchronized: $(dv daos status)"
resizes "1 db" # the live database; the restored copy (restore folder) is not a server database
tui_keys F9; tui_wait_for "no longer live (marked)"
# the header counted again after the recover: nothing of the copy is missing now
tui_wait_for "every NLO of the restored copy is in the live repository"
# m on Databases opens the missing-NLO list at once, whatever Recovery showed (here: the
# restored copy's documents; before, it showed them again and F9 twice reached the list)
tui_keys 2; tui_wait_for "Last backup"; tui_keys m
tui_wait_for "missing NLOs of"; tui_wait_for "no NLOs missing"; tui_sync
tui_screen | grep -qF "no longer live (marked)" && fail "m showed the documents, not the NLO list"

# the other wired actions on the same server: verify a set, prune preview, DAOS prune, where is
tui_keys 3; tui_wait_for "complete"; tui_keys v
tui_wait_for "done: no problems" 300
# verify of one set checks every NLO it holds, and says how many (those earlier sets stored too)
tui_wait_re "NLO\(s\) checked of [0-9]+ \([0-9]+ new, [0-9]+ from earlier sets\)"
tui_keys p; tui_wait_for "Prune preview"; tui_wait_for "keep"; tui_wait_for "would remove 0 sets"
tui_keys Escape; tui_wait_for "prune: nothing to remove"
tui_keys 1 D; tui_wait_for "DAOS prune"; tui_keys y; tui_wait_for "DAOS prune done" 300
tui_keys 4; tui_wait_for "view: live index"; tui_keys Enter
tui_wait_for "databases referencing it now"; tui_wait_for "sets holding it"
tui_keys Escape; tui_wait_gone "sets holding it"
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"

# outside the console: the live database has the document again, with its attachments
[ "$(sqlite3 "$live" "SELECT count(*) FROM notes WHERE unid = '$unid' AND deleted IS NULL")" = 1 ] ||
    { echo "FAIL: the live database lacks $unid"; exit 1; }
[ "$(sqlite3 "$live" "SELECT subject FROM notes WHERE unid = '$unid'")" = "$subject" ] ||
    { echo "FAIL: subject"; exit 1; }
[ "$(sqlite3 "$live" "SELECT count(*) FROM attachments a JOIN notes n USING (note_id) WHERE n.unid = '$unid'")" = "$natt" ] ||
    { echo "FAIL: attachments of $unid"; exit 1; }
for n in $nlos; do
    [ -n "$(find "$d/data/daos" -name "$n")" ] || { echo "FAIL: $n not recovered"; exit 1; }
done
dv resync daos >/dev/null 2>&1 || { echo "FAIL: resync daos"; exit 1; }
"$DVLOAD" -c "$d/config.yaml" verify >/dev/null || { echo "FAIL: dvload verify"; exit 1; }
echo "console recovery ok"

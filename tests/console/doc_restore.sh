#!/bin/bash
# Console, issue 18: Recovery's "bring back deleted documents" (B / F11) on a restored copy's
# documents. A site with one backup; in the live database four documents are deleted after it,
# two of one sender (one soft-deleted, one purged) and two of others (the same), with dvload's
# delete/purge (the server's write path), and the NLOs left without a reference pruned. In the
# console (80x24): restore the copy with the guided flow, B, filter by the sender (typed in
# capitals: case-insensitive), the preview says how many would come back and the question names
# the live database; No changes nothing (sqlite3 .dump of the live database the same); again,
# Yes: the result view lists what came back; exactly the sender's two documents are back
# (sqlite3), the list's marks and the header's count follow. Then at 100x30: B with no filter
# brings back the other two. `dvload verify` passes and the DAOS index stays SYNCHRONIZED.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed"; exit 1; }

tui_site 2 20 5 "deferred_deletion_days: 0"
dv() { "$DVAULT" -c "$d/config.yaml" "$@"; }
dvl() { "$DVLOAD" -c "$d/config.yaml" "$@"; }
dv backup >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
db=$(cd "$d/data" && find . -name '*.nsf' | sed 's|^\./||' | sort | head -1)
live=$d/data/$db
q() { sqlite3 -cmd '.timeout 5000' "$live" "$1"; }

# the sender with the most documents, two of them; two documents of other senders
sender=$(q "SELECT sender FROM notes GROUP BY sender ORDER BY count(*) DESC, sender LIMIT 1")
mapfile -t MINE < <(q "SELECT unid FROM notes WHERE sender = '$sender' ORDER BY note_id LIMIT 2")
mapfile -t OTHER < <(q "SELECT unid FROM notes WHERE sender NOT LIKE '%$sender%' ORDER BY note_id LIMIT 2")
[ "${#MINE[@]}" = 2 ] && [ "${#OTHER[@]}" = 2 ] || { echo "FAIL: setup: documents of $sender and others"; exit 1; }
ndocs=$(q "SELECT count(*) FROM notes")
# one of each purged (deleted long ago, then the trash emptied), one of each soft-deleted now
dvl delete --db "$db" --when 1000 "${MINE[0]}" "${OTHER[0]}" >/dev/null || { echo "FAIL: delete"; exit 1; }
dvl purge --db "$db" --when 2000 | grep -q "2 document" || { echo "FAIL: purge"; exit 1; }
dvl delete --db "$db" "${MINE[1]}" "${OTHER[1]}" >/dev/null || { echo "FAIL: delete"; exit 1; }
[ "$(q "SELECT count(*) FROM notes")" = $((ndocs - 2)) ] || { echo "FAIL: setup: purge"; exit 1; }
dv daos prune --days 0 >/dev/null 2>&1 || { echo "FAIL: daos prune"; exit 1; }
dvl verify >/dev/null || { echo "FAIL: dvload verify before"; exit 1; }

# wait_flat TEXT: TEXT on the screen once the dialog frames are gone and lines joined (wrapped)
wait_flat() {
    local i
    for ((i = 0; i < ${2:-100}; i++)); do
        tui_screen | sed 's/[│|]//g' | tr -s ' \n' ' ' | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    fail "timed out waiting for '$1' (lines joined)"
}
present() { q "SELECT count(*) FROM notes WHERE unid = '$1' AND deleted IS NULL"; }
absent() { q "SELECT count(*) FROM notes WHERE unid = '$1'"; }

tui_start 80 24 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
tui_keys 5; tui_wait_for "F6DocRec"
tui_keys F6; tui_wait_for "1/3: which database"
tui_keys Enter; tui_wait_for "2/3: restore it from which set"
tui_keys Enter; tui_wait_for "3/3"
tui_keys Enter; tui_wait_for "$ndocs documents, 4 no longer live (marked)" 300
copy=$(find "$d/data/restore" -name '*.nsf' | head -1)
[ -n "$copy" ] || fail "no restored copy"

# B: the filter dialog; the sender's line, typed in capitals; then the last line previews
tui_keys B; tui_wait_for "Bring back deleted documents: which? (4 marked)"
tui_wait_for ">> Preview: what would come back (every marked document)"
filter_sender() {
    tui_keys Up Up Up Up Enter; tui_wait_for "Sender contains (case-insensitive"
    tui_keys "${sender^^}" Enter
    tui_wait_for "Sender contains    ${sender^^}"
    tui_wait_for "(the filter's choice)"
    tui_keys Down Down Down Down Enter
}
filter_sender
tui_wait_for "Restore into the LIVE database" 300
wait_flat "2 documents would come back: 1 undeleted, 1 rewritten"
wait_flat "0 conflicts skipped"
wait_flat "LIVE database $db now?"
before=$(sqlite3 -readonly "$live" .dump | sha256sum)
tui_keys n; tui_wait_for "nothing was changed in $db"
tui_wait_for "4 no longer live (marked)"
[ "$(sqlite3 -readonly "$live" .dump | sha256sum)" = "$before" ] || fail "No changed the live database"
[ "$(absent "${MINE[0]}")$(present "${MINE[1]}")" = 00 ] || fail "No brought documents back"

# again (the filter is remembered), Yes: the run as a job, then what came back
tui_keys B; tui_wait_for "Sender contains    ${sender^^}"
tui_keys Enter; tui_wait_for "Restore into the LIVE database" 300
tui_keys y
tui_wait_for "Brought back into $db" 300
wait_flat "2 documents came back: 1 undeleted, 1 rewritten"
tui_wait_for "Came back:"
for u in "${MINE[@]}"; do tui_wait_for "$u"; done
tui_screen | grep -qF "${OTHER[0]}" && fail "the result lists a document of another sender"
tui_keys Escape; tui_wait_for "$ndocs documents, 2 no longer live (marked)"
[ "$(present "${MINE[0]}")$(present "${MINE[1]}")" = 11 ] || fail "the sender's documents are not back"
[ "$(absent "${OTHER[0]}")$(present "${OTHER[1]}")" = 00 ] || fail "other documents came back"
[ "$(q "SELECT count(*) FROM notes")" = $((ndocs - 1)) ] || fail "document count after the restore"
# the marks: the sender's documents present now (/ finds the row; the state column)
tui_keys / "${MINE[0]}" Enter; tui_sync
tui_screen | grep -E "^ *present " | grep -qi "$sender" || fail "${MINE[0]} not marked present"
dvl verify >/dev/null || fail "dvload verify after the first restore"
dv daos status | grep -q SYNCHRONIZED || fail "the DAOS index: $(dv daos status)"

# 100x30: the filter emptied (^U): every marked document (the other two)
tui_resize 100 30; tui_sync
tui_keys F11; tui_wait_for "(2 marked)"; tui_wait_for "Sender contains    ${sender^^}"
tui_keys Up Up Up Up Enter; tui_wait_for "Sender contains (case-insensitive"
tui_keys C-u Enter; tui_wait_for "Sender contains    any"
tui_wait_for "(every marked document)"
tui_keys Down Down Down Down Enter; tui_wait_for "Restore into the LIVE database" 300
wait_flat "2 documents would come back: 1 undeleted, 1 rewritten"
tui_keys y
tui_wait_for "Brought back into $db" 300
for u in "${OTHER[@]}"; do tui_wait_for "$u"; done
tui_keys Escape; tui_wait_for "$ndocs documents, 0 no longer live (marked)"
for u in "${MINE[@]}" "${OTHER[@]}"; do [ "$(present "$u")" = 1 ] || fail "$u not back"; done
[ "$(q "SELECT count(*) FROM notes")" = "$ndocs" ] || fail "document count after the second restore"
tui_screen | grep -qE "^ *(gone|deleted) " && fail "a document still marked"
# the jobs record themselves in the backend: three previews (dry runs), two runs
jobs=$(dv jobs --limit 10)
[ "$(grep -c ' docrestore .* ok  *dry run: ' <<<"$jobs")" = 3 ] || fail "job history (previews): $jobs"
[ "$(grep ' docrestore ' <<<"$jobs" | grep -vc ' dry run: ')" = 2 ] || fail "job history (runs): $jobs"
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"
dvl verify >/dev/null || { echo "FAIL: dvload verify"; exit 1; }
dv daos status | grep -q SYNCHRONIZED || { echo "FAIL: the DAOS index: $(dv daos status)"; exit 1; }
echo "console doc_restore ok"

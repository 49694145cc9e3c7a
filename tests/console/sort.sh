#!/bin/bash
# Console, sorting and "row N of M" (issue 15 item 10): the restored copy's documents are
# sorted by their live state with `>` (the gone and deleted ones come together at the top,
# the header shows "▲In live"), `S` reverses; Sets and Jobs (paged from the catalog) sort by
# any column too; the Databases list sorts by size by value (KiB, MiB);
# every list's footer says "row N of M" and follows the cursor.
. "$(dirname "$0")/lib.sh"
: "${DVAULT:?set DVAULT to the dvault binary}"
: "${DVLOAD:?set DVLOAD to the dvload binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v sqlite3 >/dev/null || { echo "FAIL: the sqlite3 shell is needed"; exit 1; }

tui_site 3 16 11
dv() { "$DVAULT" -c "$d/config.yaml" "$@"; }
dv backup >/dev/null 2>&1 || { echo "FAIL: backup"; exit 1; }
db=$(cd "$d/data" && find . -name '*.nsf' | sed 's|^\./||' | sort | head -1)
live=$d/data/$db
# scattered among the rows: every fourth document soft-deleted, one more purged
sqlite3 "$live" "UPDATE notes SET deleted = strftime('%s','now') WHERE note_id % 4 = 2;
    DELETE FROM attachments WHERE note_id = (SELECT max(note_id) FROM notes WHERE note_id % 4 = 3);
    DELETE FROM notes WHERE note_id = (SELECT max(note_id) FROM notes WHERE note_id % 4 = 3);" ||
    { echo "FAIL: sqlite3"; exit 1; }
marked=$(sqlite3 "$live" "SELECT count(*) + 1 FROM notes WHERE deleted IS NOT NULL")
total=$(sqlite3 "$live" "SELECT count(*) + 1 FROM notes")
[ "$marked" -ge 3 ] || { echo "FAIL: only $marked marked documents"; exit 1; }

rows_after_header() { # HEADER-TEXT N: the N lines after the list header line
    tui_screen | awk -v h="$1" -v n="$2" 'f && n-- > 0 { print } index($0, h) { f = 1 }'
}

tui_start 110 34 "$DVAULT" -c "$d/config.yaml"
tui_wait_for "1 Overview"
# the guided restore of $db from the one set: the restored copy's documents
tui_keys 5; tui_wait_for "F6DocRec"
tui_keys F6; tui_wait_for "1/3: which database"
tui_keys Enter; tui_wait_for "2/3: restore it from which set"
tui_keys Enter; tui_wait_for "3/3"
tui_keys Enter; tui_wait_for "no longer live (marked)" 300
tui_wait_for "row 1 of $total"
# unsorted, the marked documents are scattered: not all at the top
first=$(rows_after_header "In live" "$marked")
[ "$(echo "$first" | grep -cE '^ *(gone|deleted) ')" -lt "$marked" ] ||
    fail "the marked documents are together before sorting: the test proves nothing"
tui_keys '>'; tui_wait_for "▲In live"; tui_wait_for "sorted by In live ▲"
first=$(rows_after_header "In live" "$marked")
[ "$(echo "$first" | grep -cE '^ *(gone|deleted) ')" = "$marked" ] ||
    fail "sorted by In live: the first $marked rows are not the gone and deleted documents"
rows_after_header "In live" $((marked + 1)) | tail -1 | grep -qE '^ *present ' ||
    fail "sorted by In live: a present document does not follow the marked ones"
tui_keys 'S'; tui_wait_for "▼In live"; tui_wait_for "sorted by In live ▼"
rows_after_header "In live" 1 | grep -qE '^ *present ' || fail "S: present documents first"
tui_keys g; tui_wait_for "row 1 of $total"
tui_keys Down Down; tui_wait_for "row 3 of $total"
tui_keys G; tui_wait_for "row $total of $total"
# the order survives a refresh (F5 reads the documents again)
tui_keys F5; tui_sync; tui_wait_for "sorted by In live ▼"
tui_keys '<'; tui_wait_for "sorted by From ▲"

# Databases: by size, by value (the footer counts the databases)
tui_keys 2; tui_wait_for "Last backup"; tui_wait_re "row 1 of [0-9]+"
ndb=$(tui_screen | sed -nE 's/.*row 1 of ([0-9]+).*/\1/p')
[ "$ndb" -ge 3 ] || fail "Databases: $ndb rows"
tui_keys '>'; tui_wait_for "sorted by Size ▲"
sizes=$(rows_after_header "Last backup" "$ndb" | awk '{ v = $2; u = $3; m = u == "KiB" ? 1024 : u == "MiB" ? 1048576 : 1; print v * m }')
[ "$sizes" = "$(echo "$sizes" | sort -g)" ] || fail "Databases by Size: not ascending ($sizes)"
tui_keys 'S'; tui_wait_for "sorted by Size ▼"
sizes=$(rows_after_header "Last backup" "$ndb" | awk '{ v = $2; u = $3; m = u == "KiB" ? 1024 : u == "MiB" ? 1048576 : 1; print v * m }')
[ "$sizes" = "$(echo "$sizes" | sort -gr)" ] || fail "Databases by Size: not descending ($sizes)"

# Sets: keyset-paged from the catalog newest first; sorted by another column they are read
# into memory (an incremental set after the full one: by Kind, the full one comes first)
dv backup --incremental >/dev/null 2>&1 || fail "incremental backup"
tui_keys 3; tui_wait_for "Set▼"; tui_keys F5; tui_wait_for "row 1 of 2"
newest=$(rows_after_header "Set▼" 1 | awk '{ print $1 }')
[ "$(rows_after_header "Set▼" 1 | awk '{ print $2 }')" = incr ] || fail "Sets: the newest is not the incremental"
tui_keys '>'; tui_wait_for "sorted by Kind ▲"
[ "$(rows_after_header "Kind" 2 | awk '{ print $2 }' | tr '\n' ' ')" = "full incr " ] ||
    fail "Sets by Kind: $(rows_after_header "Kind" 2)"
tui_keys 'S'; tui_wait_for "sorted by Kind ▼"
[ "$(rows_after_header "Kind" 1 | awk '{ print $1 }')" = "$newest" ] || fail "Sets by Kind reversed"
tui_keys F5; tui_wait_for "sorted by Kind ▼"; tui_wait_for "row 1 of 2"
tui_keys '<'; tui_wait_re "sorted by Set [▲▼]"
tui_screen | grep -q "sorted by Set ▲" || tui_keys 'S'
tui_wait_for "Set▲"; tui_wait_for "row 1 of 2"
[ "$(rows_after_header "Set▲" 2 | tail -1 | awk '{ print $1 }')" = "$newest" ] ||
    fail "Sets reversed: the newest set is not last"
# Jobs: by Kind (backup, backup, restore ...: the restore job is not first in its own order)
tui_keys 6; tui_wait_for "Started"
tui_keys '>'; tui_wait_for "sorted by Kind ▲"
kinds=$(rows_after_header "Started" 4 | awk '{ print $2 }')
[ "$kinds" = "$(echo "$kinds" | sort)" ] || fail "Jobs by Kind: not sorted ($kinds)"
tui_keys q
[ "$(tui_exit_status)" = 0 ] || fail "quit: exit status $(tui_exit_status)"
echo "console sort ok"

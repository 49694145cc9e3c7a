#!/bin/bash
# incr.sh [quick|full] - block-transfer incremental vs a full backup vs rsync --inplace, after
# 1% of a database's pages changed. Prints time and bytes written for each, and the ratios
# against one sequential read of the database (the issue's target: time <= 1.2x one read,
# bytes written proportional to the pages changed).
set -euo pipefail
DVAULT=${DVAULT:-$(pwd)/build/dvault}
size=${1:-quick}
case $size in
quick) MB=64 ;;
full) MB=512 ;;
*) echo "usage: incr.sh [quick|full]" >&2; exit 2 ;;
esac
W=${BENCH_DIR:-$(pwd)/var/bench}/incr-$size
rm -rf "$W"; mkdir -p "$W/data/mail" "$W/data/daos"
cat >"$W/config.yaml" <<EOF
server: { data_dir: data, daos_dir: daos, encryption: false }
backup: { target: backup }
catalog: catalog.db
EOF
DB=$W/data/mail/big.nsf
# a database of MB MiB: rows of ~1 KB random text, 4 KiB pages
sqlite3 "$DB" >/dev/null <<EOF
PRAGMA page_size=4096; PRAGMA journal_mode=WAL;
CREATE TABLE notes(note_id INTEGER PRIMARY KEY, body TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < $((MB * 1024 * 1024 / 1100)))
INSERT INTO notes SELECT i, hex(randomblob(500)) FROM n;
PRAGMA wal_checkpoint(TRUNCATE);
EOF
pages=$(sqlite3 "$DB" 'PRAGMA page_count')
rows=$(sqlite3 "$DB" 'SELECT count(*) FROM notes')
C=(-c "$W/config.yaml")
now() { date +%s.%N; }
el() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.3f", b-a}'; }

"$DVAULT" "${C[@]}" target init >/dev/null
"$DVAULT" "${C[@]}" backup -q >/dev/null              # the origin (full) set
mkdir -p "$W/rsync"; cp "$DB" "$W/rsync/big.nsf"       # rsync's origin copy

# change 1% of the pages: rows spread evenly over the file, one per touched page
touch_pages=$((pages / 100))
step=$((rows / touch_pages))
sqlite3 "$DB" "UPDATE notes SET body = hex(randomblob(500)) WHERE note_id % $step = 0; PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
changed=$(sqlite3 "$DB" "SELECT count(*) FROM notes WHERE note_id % $step = 0")

drop() { # cold cache when we may (root); else warm, and say so
    if [ -w /proc/sys/vm/drop_caches ]; then sync; echo 3 >/proc/sys/vm/drop_caches; cache=cold; else cat "$DB" >/dev/null; cache=warm; fi
}
drop; t0=$(now); cat "$DB" >/dev/null; t1=$(now); tread=$(el "$t0" "$t1")
cat "$DB" >/dev/null; t0=$(now); cat "$DB" >/dev/null; t1=$(now); tread_warm=$(el "$t0" "$t1")

drop; t0=$(now); "$DVAULT" "${C[@]}" backup --incremental -q >"$W/inc.out"; t1=$(now); tinc=$(el "$t0" "$t1")
set_inc=$(ls -t "$W/backup/sets" | head -1)
binc=$(du -b "$W/backup/sets/$set_inc/db" | tail -1 | cut -f1)
stored=$(sed -n 's/.*kind *incremental, \([0-9]*\) of \([0-9]*\) pages stored.*/\1/p' "$W/inc.out")

drop; t0=$(now); "$DVAULT" "${C[@]}" backup --full -q >/dev/null; t1=$(now); tfull=$(el "$t0" "$t1")
set_full=$(ls -t "$W/backup/sets" | head -1)
bfull=$(du -b "$W/backup/sets/$set_full/db" | tail -1 | cut -f1)

drop; t0=$(now)
rs=$(rsync -I --inplace --no-whole-file --stats "$DB" "$W/rsync/big.nsf")
t1=$(now); trs=$(el "$t0" "$t1")
brs=$(printf '%s\n' "$rs" | sed -n 's/^Literal data: \([0-9,]*\).*/\1/p' | tr -d ,)

printf '\nincremental after 1%% of pages changed: %s MiB database, %s pages, %s rows updated, %s cache\n' "$MB" "$pages" "$changed" "$cache"
printf '%-34s %10s %14s %12s\n' "" "time (s)" "bytes written" "vs 1 read"
printf '%-34s %10s %14s %12s\n' "one sequential read (cat, $cache)" "$tread" "-" "1.00x"
printf '%-34s %10s %14s %12s\n' "(the same read, warm cache)" "$tread_warm" "-" "-"
printf '%-34s %10s %14s %12s\n' "dvault backup --incremental" "$tinc" "$binc" "$(awk -v a="$tinc" -v b="$tread" 'BEGIN{printf "%.2fx", a/b}')"
printf '%-34s %10s %14s %12s\n' "dvault backup --full" "$tfull" "$bfull" "$(awk -v a="$tfull" -v b="$tread" 'BEGIN{printf "%.2fx", a/b}')"
printf '%-34s %10s %14s %12s\n' "rsync --inplace (literal data)" "$trs" "$brs" "$(awk -v a="$trs" -v b="$tread" 'BEGIN{printf "%.2fx", a/b}')"
printf 'pages stored by the incremental: %s of %s (%.2f%%); bytes vs full: %.3f; incremental vs rsync time: %.2fx\n' \
    "$stored" "$pages" "$(awk -v a="$stored" -v b="$pages" 'BEGIN{print 100*a/b}')" \
    "$(awk -v a="$binc" -v b="$bfull" 'BEGIN{print a/b}')" "$(awk -v a="$tinc" -v b="$trs" 'BEGIN{print a/b}')"

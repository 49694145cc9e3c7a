#!/bin/bash
# bench/scale.sh quick|full - issue "Scale to the DAOS ceiling": dvault side by side with the
# standard tool in one run, with ratios, and peak RSS of every command at every size.
#
#   quick: the 10,000-NLO fixture (50 databases + 2 x 32 MiB), 3 runs
#   full:  the same, then the 1,000,000-NLO fixture (1,000 databases + 4 x 64 MiB), 1 run;
#          the memory table puts both sizes side by side.
# Fixtures live in var/scale/<label>/ (stamp as bench/run.sh). The NLO files of a full fixture
# are hard links from BENCH_FROM (default var/bench/<label>, another worktree's cache also works)
# when its stamp matches, so nothing is generated twice; its databases are copied. Else
# bench-gen generates it. A database mail/refs100k.nsf with 100,000 references is added (rows
# copied from the DAOS index with the sqlite3 shell). The first backup (pool of every NLO) is
# borrowed the same way from BENCH_FROM/run/target when present (hard links + .backup of the
# catalog), else made with `dvault backup`.
# Results: a table on stdout and var/scale/results.md.
set -eu
mode=${1:-quick}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRC/build}
DVAULT=${DVAULT:-$BUILD/dvault}
GEN=$BUILD/bench-gen
OUT=$SRC/var/scale
case "$mode" in
quick) SIZES="quick" ;;
full) SIZES="quick full" ;;
catalog) SIZES=${2:-quick}; [ "$SIZES" = full ] && SIZES="quick full" ;;
*) echo "usage: bench/scale.sh quick|full|catalog [quick|full]" >&2; exit 2 ;;
esac
for t in sqlite3 python3 tmux /usr/bin/time; do
    command -v $t >/dev/null 2>&1 || { echo "scale: $t missing" >&2; exit 1; }
done
[ -x "$GEN" ] && [ -x "$DVAULT" ] || { echo "scale: build first (make && make $GEN)" >&2; exit 1; }
log() { printf '%s scale: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mkdir -p "$OUT"
TSV=$OUT/results.tsv
: > "$TSV"

# m SIZE NAME RUNS PREP CMD: median wall seconds of RUNS runs of CMD (sh -c, in the fixture
# directory), PREP run untimed before each; peak RSS (KiB) from /usr/bin/time. One TSV row.
m() {
    local size=$1 name=$2 runs=$3 prep=$4 cmd=$5 ts=() rss=0
    for _ in $(seq 1 "$runs"); do
        (cd "$DIR" && sh -c "$prep") >/dev/null 2>&1 || { echo "scale: prep failed: $prep" >&2; exit 1; }
        local s e r
        s=$(date +%s%N)
        (cd "$DIR" && /usr/bin/time -f %M -o "$OUT/rss" sh -c "$cmd") >/dev/null 2>"$OUT/err" ||
            { echo "scale: failed: $cmd" >&2; cat "$OUT/err" >&2; exit 1; }
        e=$(date +%s%N)
        ts+=("$(( (e - s) / 1000 ))")
        r=$(tail -1 "$OUT/rss")
        [ "$r" -gt "$rss" ] && rss=$r
    done
    local med
    med=$(printf '%s\n' "${ts[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]/1e6}')
    printf '%s\t%s\t%s\t%s\t%s\n' "$size" "$name" "$med" "$rss" "$(printf '%s' "$cmd" | tr '\n\t' '  ')" >> "$TSV"
    log "$size $name ${med}s ${rss}KiB"
}

fixture() {   # LABEL N D NB MB
    local label=$1 n=$2 d=$3 nb=$4 mb=$5
    DIR=$OUT/$label
    local stamp="bench-gen v1 nlos=$n dbs=$d big=$nb x $mb MiB"
    local from=${BENCH_FROM:-$SRC/var/bench/$label}
    [ "$label" = quick ] && from=${BENCH_FROM_QUICK:-$SRC/var/bench/quick}
    if [ "$(cat "$DIR/stamp" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$DIR"
        mkdir -p "$DIR/data/daos" "$DIR/data/mail"
        if [ "$(cat "$from/stamp" 2>/dev/null)" = "$stamp" ]; then
            log "$label: linking the NLOs of $from"
            for s in $(seq 1 25); do cp -al "$from/data/daos/$(printf %04d "$s")" "$DIR/data/daos/"; done
            cp "$from/data/daos/daos.cfg" "$DIR/data/daos/"
            for f in "$from"/data/mail/*.nsf; do
                sqlite3 "$f" ".backup '$DIR/data/mail/$(basename "$f")'"
            done
            sed 's|^  target: .*|  target: run/target|; s|^catalog: .*|catalog: run/catalog.db|' \
                "$from/config.yaml" > "$DIR/config.yaml"
        else
            log "$label: generating ($stamp)"
            rm -rf "$DIR"
            "$GEN" init "$DIR" "$n" "$d" "$nb" "$mb"
        fi
        "$DVAULT" -c "$DIR/config.yaml" resync daos >/dev/null 2>&1
        # mail/refs100k.nsf: a copy of user0000 with 100,000 references (names from the index;
        # the quick pool has 10,000 NLOs: each referenced 10 times there).
        local db=$DIR/data/mail/refs100k.nsf
        sqlite3 "$DIR/data/mail/user0000.nsf" "VACUUM INTO '$db'"
        sqlite3 "$db" >/dev/null <<EOF
PRAGMA journal_mode=WAL;
ATTACH '$DIR/data/daos/daoscat.db' AS idx;
UPDATE dbinfo SET value = lower(hex(randomblob(16))) WHERE key IN ('replica_id', 'dbiid');
DELETE FROM attachments;
WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i < 99)
INSERT INTO attachments(note_id, name, size, nlo)
  SELECT (SELECT min(note_id) FROM notes), 'a.bin', 0, name FROM
  (SELECT name FROM idx.doi, k ORDER BY k.i, name LIMIT 100000);
EOF
        "$DVAULT" -c "$DIR/config.yaml" resync daos >/dev/null 2>&1
        mkdir -p "$DIR/run"
        if [ -d "$from/run/target/nlo" ] && [ "$label" = full ]; then
            log "$label: linking the pool of $from/run/target"
            mkdir -p "$DIR/run/target"
            cp -al "$from/run/target/nlo" "$from/run/target/sets" "$DIR/run/target/"
            if [ -f "$from/run/target/target.json" ]; then cp "$from/run/target/target.json" "$DIR/run/target/"
            else "$DVAULT" -c "$DIR/config.yaml" target init >/dev/null; fi  # adopts an older pool
            sqlite3 "$from/run/catalog.db" ".backup '$DIR/run/catalog.db'"
        else
            log "$label: first backup (the pool)"
            "$DVAULT" -c "$DIR/config.yaml" target init >/dev/null
            "$DVAULT" -c "$DIR/config.yaml" backup --db mail/user0000.nsf -q
        fi
        echo "$stamp" > "$DIR/stamp"
    fi
    DB=mail/refs100k.nsf
}

run_size() {   # LABEL
    local size=$1 runs=3
    case $size in
    quick) fixture quick 10000 50 2 32 ;;
    full) fixture full 1000000 1000 4 64; runs=1 ;;
    esac
    local C="$DVAULT -c config.yaml"
    cd "$DIR"
    # 1,000 NLOs referenced by refs100k.nsf, deleted from the repository before each recovery.
    sqlite3 data/daos/daoscat.db "SELECT printf('%04d/%s', subdir, name) FROM doi ORDER BY name LIMIT 1000" > run/victims
    sed 's|^.*/||' run/victims > run/victim-names
    cat > run/delete.sh <<EOF
(cd $DIR/data/daos && xargs rm -f < $DIR/run/victims) && cd $DIR && $C resync daos
EOF
    cd "$SRC"

    log "$size: resync daos"
    m $size "resync daos" $runs true "$C resync daos"
    m $size "peer: find + sqlite3 per database" $runs true \
        "find data/daos -name '*.nlo' | wc -l; for db in \$(find data/mail -name '*.nsf'); do sqlite3 \$db 'select nlo from attachments where nlo is not null'; done | wc -l"

    log "$size: listnlo missing (100,000 references, 1,000 missing)"
    m $size "listnlo missing (100k refs)" $runs "sh run/delete.sh" "$C listnlo missing $DB -o run/missing.txt"
    [ "$(wc -l < "$DIR/run/missing.txt")" = 1000 ] || { echo "scale: listnlo found $(wc -l < "$DIR/run/missing.txt"), not 1000" >&2; exit 1; }
    m $size "peer: stat per reference (python)" $runs true \
        "sqlite3 data/$DB 'select distinct nlo from attachments where nlo is not null' | python3 -c '
import os, sys
subs = sorted(d for d in os.listdir(\"data/daos\") if d.isdigit())
miss = 0
for n in sys.stdin.read().split():
    for s in subs:
        try: os.stat(\"data/daos/\" + s + \"/\" + n); break
        except FileNotFoundError: pass
    else: miss += 1
print(miss)'"

    log "$size: recover 1,000 NLOs"
    m $size "recover --list (1,000 NLOs)" $runs "sh run/delete.sh" "$C recover --list run/missing.txt"
    m $size "peer: xargs cp of the same 1,000 pool files" $runs "rm -rf run/cp; mkdir run/cp" \
        "sed 's|^\\(...\\)|run/target/nlo/\\1/\\1|' run/victim-names | xargs cp -t run/cp"
    m $size "peer: xargs cp of the same files + sync -f" $runs "rm -rf run/cp; mkdir run/cp" \
        "sed 's|^\\(...\\)|run/target/nlo/\\1/\\1|' run/victim-names | xargs cp -t run/cp && sync -f run/cp"

    log "$size: catalog"
    m $size "backup (all databases; first run on a fresh fixture: references recorded the first time)" 1 true "$C backup -q"
    m $size "backup (all databases, nothing new)" 1 true "$C backup -q"
    local sets=1 want=1
    [ $size = quick ] && want=50
    while [ "$(sqlite3 "$DIR/run/catalog.db" 'select count(*) from sets')" -lt $want ]; do
        (cd "$DIR" && $C backup --db mail/user0001.nsf -q) >/dev/null
        sets=$((sets + 1))
    done
    local nlo
    nlo=$(head -1 "$DIR/run/victim-names")
    m $size "whereis NLO" $runs true "$C whereis $nlo"
    m $size "peer: sqlite3 whereis rows" $runs true \
        "sqlite3 run/catalog.db \"select d.path, r.first_seq, r.last_seq from refs r join databases d on d.id = r.db_id where r.nlo = '$nlo'; select * from pool where name = '$nlo'\""
    log "$size: $(sqlite3 "$DIR/run/catalog.db" 'select count(*) from sets') sets"
    m $size "sets" $runs true "$C sets"
    m $size "peer: sqlite3 sets rows" $runs true "sqlite3 run/catalog.db 'select * from sets order by seq desc'"
    m $size "status" $runs true "$C status"

    log "$size: console objects screen"
    console $size
}

# console SIZE: dvault in tmux (TERM=xterm), Objects (4), PgDn x100, G (last row), /, f x5; DV_KEYLOG
# gives the time of every key (getch to the end of its redraw); VmHWM from /proc at the end.
console() {
    local size=$1 s=scale$$ klog=$OUT/keylog.$1
    rm -f "$klog"
    tmux kill-session -t $s 2>/dev/null || true
    tmux new-session -d -s $s -x 120 -y 40 \
        "cd $DIR && TERM=xterm DV_KEYLOG=$klog exec $DVAULT -c config.yaml"
    sleep 3
    local pid
    pid=$(tmux list-panes -t $s -F '#{pane_pid}')
    wait_keys() {   # until N keys are logged
        for _ in $(seq 1 300); do
            [ -f "$klog" ] && [ "$(wc -l < "$klog")" -ge "$1" ] && return 0
            sleep 0.1
        done
        echo "scale: console did not answer ($1 keys)" >&2
    }
    tmux send-keys -t $s 4; wait_keys 1
    for i in $(seq 1 100); do tmux send-keys -t $s NPage; wait_keys $((1 + i)); done
    # End: tmux sends \e[4~, which TERM=xterm does not know (the console swallows it): G.
    tmux send-keys -t $s G; wait_keys 102
    # / on Objects opens the name-prefix prompt: Esc closes it (one key in the log: the /, when
    # the prompt returns); f steps through the five views (live, zero-ref, not backed up, pool,
    # missing) back to live.
    tmux send-keys -t $s / Escape; wait_keys 103
    for i in 1 2 3 4 5; do tmux send-keys -t $s f; wait_keys $((103 + i)); done
    local hwm
    hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
    tmux capture-pane -p -t $s > "$OUT/console.$size.txt"
    tmux send-keys -t $s q
    sleep 1
    tmux kill-session -t $s 2>/dev/null || true
    python3 - "$klog" "$size" "$hwm" "$DVAULT -c config.yaml (console)" >> "$TSV" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1])]
ms = [float(r[1]) for r in rows]
pg = sorted(ms[1:101])
def row(name, v):
    print("\t".join([sys.argv[2], name, "%.6f" % (v / 1000), sys.argv[3], sys.argv[4]]))
row("console: 4 (open Objects)", ms[0])
row("console: PgDn median of 100", pg[len(pg) // 2])
row("console: PgDn max of 100", pg[-1])
row("console: G (last row)", ms[101])
row("console: / and Esc (the name-prefix prompt opened and closed)", ms[102])
for i, v in enumerate(["zero-ref", "not backed up", "pool", "missing from live", "live"]):
    row("console: f (view: %s)" % v, ms[103 + i])
EOF
    log "$size console: VmHWM ${hwm}KiB"
}

# ---- catalog (issue 16): references at copy speed, a compact catalog, answers from indexes ----
# bench/scale.sh catalog quick|full: in one run, side by side with the peer and the target:
#   a. the first backup of every database into an empty target and catalog (databases only:
#      copies + references recorded the first time) vs cp -r + sync -f of the same files;
#   b. the catalog's bytes per reference and per NLO (SQLite's dbstat: tables + indexes) after
#      a first full backup (databases and the NLO pass);
#   c. whereis, status, the console's "not yet backed up" first page (bench-unbacked, the
#      backend API the screen uses) vs the sqlite3 shell answering from the same files.
# The fixture: bench-gen's (quick: 10,000 NLOs, 50 + 2 databases, var/scale/cat-quick); full:
# the 1,000,000-NLO one in CAT_FULL (default var/scale/full, as bench/scale.sh full makes it),
# never generated here. An older dvault works too (DVAULT=...): b reads version 5's tables.
UNB=${UNB:-$BUILD/bench-unbacked}
cat_fixture() {   # SIZE -> DIR
    case $1 in
    quick)
        DIR=$OUT/cat-quick
        local stamp="bench-gen v1 nlos=10000 dbs=50 big=2 x 32 MiB"
        if [ "$(cat "$DIR/stamp" 2>/dev/null)" != "$stamp" ]; then
            rm -rf "$DIR"
            log "catalog quick: generating"
            "$GEN" init "$DIR" 10000 50 2 32 >/dev/null
            "$DVAULT" -c "$DIR/config.yaml" resync daos >/dev/null 2>&1
            echo "$stamp" > "$DIR/stamp"
        fi ;;
    full)
        DIR=${CAT_FULL:-$OUT/full}
        [ -f "$DIR/config.yaml" ] || { echo "scale: no full fixture in $DIR (bench/scale.sh full makes it; or CAT_FULL=)" >&2; exit 1; } ;;
    esac
}

cat_config() {   # NAME: config-NAME.yaml with target run/NAME/target, catalog run/NAME/catalog.db
    sed "s|^  target: .*|  target: run/$1/target|; s|^catalog: .*|catalog: run/$1/catalog.db|" \
        "$DIR/config.yaml" > "$DIR/config-$1.yaml"
}

cat_dbstat() {   # SIZE CATALOG: bytes per NLO and per reference (TSV rows)
    local size=$1 db=$2 nt rt nn nr
    if [ -n "$(sqlite3 "$db" "SELECT 1 FROM sqlite_master WHERE name = 'nlo_refs'")" ]; then
        nt="'nlo', 'nlo_subdir'"; rt="'nlo_refs', 'nlo_refs_nlo'"
        nn=$(sqlite3 "$db" "SELECT count(*) FROM nlo")
        nr=$(sqlite3 "$db" "SELECT count(*) FROM nlo_refs")
    else
        nt="'pool', 'pool_subdir', 'pool_first_set'"; rt="'refs', 'refs_nlo', 'refs_open'"
        nn=$(sqlite3 "$db" "SELECT count(*) FROM pool")
        nr=$(sqlite3 "$db" "SELECT count(*) FROM refs")
    fi
    local bn br tot
    bn=$(sqlite3 "$db" "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ($nt)")
    br=$(sqlite3 "$db" "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN ($rt)")
    tot=$(stat -c %s "$db")
    printf '%s\tcatalog bytes / NLO (%s NLOs)\t%s\t0\tdbstat %s\n' "$size" "$nn" "$(awk -v a="$bn" -v b="$nn" 'BEGIN {printf "%.1f", a / b}')" "$nt" >> "$TSV"
    printf '%s\tcatalog bytes / reference (%s refs)\t%s\t0\tdbstat %s\n' "$size" "$nr" "$(awk -v a="$br" -v b="$nr" 'BEGIN {printf "%.1f", a / b}')" "$rt" >> "$TSV"
    printf '%s\tcatalog file bytes\t%s\t0\t%s\n' "$size" "$tot" "$db" >> "$TSV"
    log "$size catalog: $bn B for $nn NLOs, $br B for $nr references, file $tot B"
}

cat_size() {   # SIZE
    local size=$1 runs=3
    [ "$size" = full ] && runs=1
    cat_fixture "$size"
    cd "$DIR"
    cat_config a; cat_config b
    log "$size: a. first backup of the databases, empty catalog"
    m $size "first backup, empty catalog (databases only)" $runs \
        "rm -rf run/a && mkdir -p run/a && $DVAULT -c config-a.yaml target init && sync" \
        "$DVAULT -c config-a.yaml backup --databases-only -q"
    m $size "peer: cp -r + sync -f" $runs "rm -rf run/cp && sync" "cp -r data/mail run/cp && sync -f run/cp"
    log "$size: b. the catalog after a first full backup"
    if [ "$(cat run/b/done 2>/dev/null)" != "$DVAULT $(stat -c %Y "$DVAULT")" ]; then
        rm -rf run/b && mkdir -p run/b
        $DVAULT -c config-b.yaml target init >/dev/null
        m $size "first full backup (databases + every NLO)" 1 "sync" "$DVAULT -c config-b.yaml backup -q"
        echo "$DVAULT $(stat -c %Y "$DVAULT")" > run/b/done
    fi
    cat_dbstat $size run/b/catalog.db
    local nlo key sz
    nlo=$(sqlite3 data/daos/daoscat.db "SELECT name FROM doi ORDER BY name LIMIT 1 OFFSET 77")
    sz=${nlo:64:16}   # the catalog's key (docs/catalog.md): hash, byte count, size big-endian
    while [ ${#sz} -gt 2 ] && [ "${sz:0:2}" = 00 ]; do sz=${sz:2}; done
    key="X'${nlo:0:64}$(printf %02x $(( ${#sz} / 2 )))$sz'"
    log "$size: c. whereis, status, not yet backed up"
    m $size "whereis NLO" 5 true "$DVAULT -c config-b.yaml whereis $nlo"
    m $size "peer: sqlite3 whereis rows" 5 true \
        "sqlite3 data/daos/daoscat.db \"select * from doi where name = '$nlo'\"; sqlite3 run/b/catalog.db \"select d.path, r.first_seq from nlo n join nlo_refs r on r.nlo_id = n.id join databases d on d.id = r.db_id where n.name = $key and r.last_seq is null; select * from nlo where name = $key\" 2>/dev/null || sqlite3 run/b/catalog.db \"select * from refs where nlo = '$nlo'; select * from pool where name = '$nlo'\""
    m $size "status" 5 true "$DVAULT -c config-b.yaml status"
    m $size "peer: sqlite3 status sums" 5 true \
        "sqlite3 data/daos/daoscat.db 'select count(*), sum(size), sum(refcount), sum(size * refcount), sum(refcount = 0) from doi'; sqlite3 run/b/catalog.db 'select count(*) from sets'"
    if [ -x "$UNB" ]; then
        m $size "not yet backed up: first page (50 rows)" 5 true "$UNB config-b.yaml 50"
        # the same without the kept answer (docs/catalog.md, "Version 7"): the merge of both lists
        cp run/b/catalog.db run/b/catalog-merge.db
        sqlite3 run/b/catalog-merge.db "DELETE FROM meta WHERE key = 'unbacked_mark'" 2>/dev/null || true
        sed 's|^catalog: .*|catalog: run/b/catalog-merge.db|' config-b.yaml > config-bm.yaml
        m $size "unbacked merge (no mark, the version 6 way): first page (50 rows)" 5 true "$UNB config-bm.yaml 50"
        rm -f run/b/catalog-merge.db*
        m $size "peer: sqlite3 first page (EXCEPT)" 5 true \
            "sqlite3 data/daos/daoscat.db \"attach 'run/b/catalog.db' as c; select name from doi except select name from c.pool order by 1 limit 50\""
    fi
    cd "$SRC"
}

if [ "$mode" = catalog ]; then
    for size in $SIZES; do cat_size "$size"; done
    python3 - "$TSV" > "$OUT/results-catalog.md" <<'EOF'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
t = {(r[0], r[1]): float(r[2]) for r in rows}
sizes = []
for r in rows:
    if r[0] not in sizes: sizes.append(r[0])
def get(s, prefix):
    for (a, b), v in t.items():
        if a == s and b.startswith(prefix): return b, v
    return None, None
print("#### Catalog (issue 16): %s\n" % ", ".join(sizes))
print("| size | dvault | value | peer | value | dvault / peer | target |")
print("|---|---|---:|---|---:|---:|---|")
pairs = [("first backup, empty catalog", "peer: cp -r + sync -f", "<= 1.1x cp + sync"),
         ("whereis NLO", "peer: sqlite3 whereis rows", "< 20 ms at 1,000,000, flat in databases"),
         ("status", "peer: sqlite3 status sums", "< 50 ms at 1,000,000"),
         ("not yet backed up: first page", "peer: sqlite3 first page", "< 100 ms at 1,000,000"),
         ("unbacked merge (no mark", "peer: sqlite3 first page", "(the merge, for comparison)")]
for s in sizes:
    for a, b, tg in pairs:
        na, va = get(s, a); nb, vb = get(s, b)
        if na is None: continue
        print("| %s | %s | %.3f s | %s | %s | %s | %s |" % (s, na, va, (nb or "peer: -")[6:],
              "%.3f s" % vb if vb else "-", "%.2f" % (va / vb) if vb else "-", tg))
    for a, tg in [("catalog bytes / NLO", "<= 150 B"), ("catalog bytes / reference", "<= 60 B"),
                  ("catalog file bytes", ""), ("first full backup", "")]:
        na, va = get(s, a)
        if na is not None:
            print("| %s | %s | %s | | | | %s |" % (s, na, ("%.1f B" % va) if "bytes" in na else ("%.3f s" % va), tg))
EOF
    cat "$OUT/results-catalog.md"
    exit 0
fi

for size in $SIZES; do run_size "$size"; done

python3 - "$TSV" "$mode" > "$OUT/results.md" <<'EOF'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
sizes = []
for r in rows:
    if r[0] not in sizes: sizes.append(r[0])
t = {(r[0], r[1]): (float(r[2]), int(r[3])) for r in rows}
names = list(collections.OrderedDict((r[1], 1) for r in rows))
print("#### Scale (%s): %s\n" % (sys.argv[2], ", ".join(sizes)))
pairs = [("resync daos", "peer: find + sqlite3 per database", "<= 2x"),
         ("listnlo missing (100k refs)", "peer: stat per reference (python)", "< 1 s"),
         ("recover --list (1,000 NLOs)", "peer: xargs cp of the same 1,000 pool files", "10k vs 1M within 1.2x"),
         ("recover --list (1,000 NLOs)", "peer: xargs cp of the same files + sync -f", ""),
         ("whereis NLO", "peer: sqlite3 whereis rows", ""),
         ("sets", "peer: sqlite3 sets rows", "")]
print("| size | dvault | s | peer | s | dvault / peer | target |")
print("|---|---|---:|---|---:|---:|---|")
for s in sizes:
    for a, b, tg in pairs:
        ka = next((n for n in names if n.startswith(a) and (s, n) in t), None)
        if not ka or (s, b) not in t: continue
        ta, tb = t[(s, ka)][0], t[(s, b)][0]
        print("| %s | %s | %.3f | %s | %.3f | %.2f | %s |" % (s, ka, ta, b[6:], tb, ta / tb if tb else 0, tg))
if len(sizes) == 2:
    a, b = t.get((sizes[0], "recover --list (1,000 NLOs)")), t.get((sizes[1], "recover --list (1,000 NLOs)"))
    if a and b:
        print("\nrecover 1,000 NLOs: pool of %s %.3f s, pool of %s %.3f s: ratio %.2f (target <= 1.2)"
              % (sizes[0], a[0], sizes[1], b[0], b[0] / a[0]))
print("\n| command | " + " | ".join("%s s | %s peak RSS MiB" % (s, s) for s in sizes) + " |")
print("|---|" + "---:|---:|" * len(sizes))
for n in names:
    cells = []
    for s in sizes:
        v = t.get((s, n))
        cells += ["%.3f" % v[0], "%.1f" % (v[1] / 1024)] if v else ["-", "-"]
    print("| %s | %s |" % (n, " | ".join(cells)))
EOF
cat "$OUT/results.md"

#!/bin/bash
# bench/run.sh quick|full [gen|s3] - dvault side by side with cp / rsync / find, in one run, with ratios.
#
# Called by `make bench` (full) and `make bench-quick` (quick) with DVAULT, BUILD, SRC set.
# `bench/run.sh MODE gen`: the fixture only; `bench/run.sh MODE s3`: the S3 rows alone (s3a, s3b).
# Sizes (override with BENCH_NLOS, BENCH_DBS, BENCH_BIG, BENCH_BIGMB, BENCH_RUNS, BENCH_ONEMB):
#   quick: 10,000 NLOs, 50 databases, 2 x 32 MiB databases, 5 runs
#   full:  1,000,000 NLOs, 1,000 databases, 4 x 64 MiB databases, 3 runs (first copies: 1)
#   both:  one database of 400 MiB (var/bench/one-<MB>/, issue 16: o. alone, w. beside dvload)
# The server is generated once under var/bench/<label>/ (bench-gen + `dvault resync daos`) and
# reused while its stamp matches; targets and copies live in var/bench/<label>/run/, recreated
# by every run. Warm cache: nothing is dropped (the fixture fits in RAM); repeated benchmarks
# get one untimed warm-up run. Every command is wrapped in /usr/bin/time for its peak RSS.
# Results: a table on stdout and var/bench/<label>/results.md (pasted into docs/BENCHMARKS.md).
set -eu

mode=${1:-quick}
SRC=${SRC:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$SRC/build}
DVAULT=${DVAULT:-$BUILD/dvault}
GEN=$BUILD/bench-gen
case "$mode" in
quick) N=10000 D=50 NB=2 MB=32 RUNS=5 FIRST_RUNS=3 ;;
full) N=1000000 D=1000 NB=4 MB=64 RUNS=3 FIRST_RUNS=1 ;;
*) echo "usage: bench/run.sh quick|full" >&2; exit 2 ;;
esac
N=${BENCH_NLOS:-$N} D=${BENCH_DBS:-$D} NB=${BENCH_BIG:-$NB} MB=${BENCH_BIGMB:-$MB}
RUNS=${BENCH_RUNS:-$RUNS} FIRST_RUNS=${BENCH_FIRST_RUNS:-$FIRST_RUNS}
label=$mode
[ -n "${BENCH_NLOS:-}${BENCH_DBS:-}${BENCH_BIG:-}${BENCH_BIGMB:-}" ] && label=n$N-d$D-b${NB}x$MB
DIR=$SRC/var/bench/$label
RUN=$DIR/run
for t in hyperfine rsync python3 /usr/bin/time; do
    command -v $t >/dev/null 2>&1 || { echo "bench: $t missing (scripts/deps.sh bench)" >&2; exit 1; }
done
[ -x "$GEN" ] || { echo "bench: $GEN missing (make $BUILD/bench-gen)" >&2; exit 1; }

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- the fixture, once --------------------------------------------------------------------
stamp="bench-gen v1 nlos=$N dbs=$D big=$NB x $MB MiB"
if [ "$(cat "$DIR/stamp" 2>/dev/null)" != "$stamp" ]; then
    log "generating $DIR ($stamp)"
    rm -rf "$DIR"
    mkdir -p "$DIR"
    t0=$(date +%s)
    "$GEN" init "$DIR" "$N" "$D" "$NB" "$MB"
    t1=$(date +%s)
    "$DVAULT" -c "$DIR/config.yaml" resync daos 2>/dev/null
    t2=$(date +%s)
    log "generated in $((t1 - t0))s, resync daos in $((t2 - t1))s"
    echo "$stamp" > "$DIR/stamp"
fi
[ "${2:-}" = gen ] && exit 0   # bench/run.sh MODE gen: the fixture only
# Subdirectories added by an earlier run's 1% rounds (benchmark c) go away.
base=$(( (N + (N + 24) / 25 - 1) / ((N + 24) / 25) ))
for s in "$DIR"/data/daos/[0-9][0-9][0-9][0-9]; do
    [ -d "$s" ] && [ "$(basename "$s" | sed 's/^0*//')" -gt "$base" ] && rm -rf "$s"
done
rm -rf "$RUN"
mkdir -p "$RUN"
DATA=$DIR/data
DAOS=$DATA/daos
CFG=$DIR/config.yaml
# Benchmark a has its own target and catalog.
sed -e 's|^  target: .*|  target: run/a/target|' -e 's|^catalog: .*|catalog: run/a/catalog.db|' \
    "$CFG" > "$DIR/config-a.yaml"
sed -e 's|^  target: .*|  target: run/a1/target|' -e 's|^catalog: .*|catalog: run/a1/catalog.db|' \
    "$CFG" > "$DIR/config-a1.yaml"
"$DVAULT" -c "$DIR/config-a.yaml" target init >/dev/null
ONE=mail/user0000.nsf   # the NLO benchmarks back up one small database, then the NLO pass
RSYNC="rsync -a --exclude=daoscat.db* --exclude=daos.cfg"
TIME="/usr/bin/time -f %M -a -o"

RESULTS=$RUN/results.tsv
: > "$RESULTS"

# hf NAME TARGET RUNS WARMUP  then pairs: PREPARE COMMAND (first = dvault, then the peers)
# Times every command with one hyperfine invocation: medians, and peak RSS per command (each
# command is a script run under /usr/bin/time).
hf() {
    local name=$1 target=$2 runs=$3 warm=$4 i=0
    shift 4
    local args=()
    while [ $# -ge 2 ]; do
        i=$((i + 1))
        : > "$RUN/rss.$name.$i"
        printf '%s\n' "$2" > "$RUN/cmd.$name.$i"
        printf '%s\n' "$1" > "$RUN/prep.$name.$i.sh"
        printf '%s\n' "$2" > "$RUN/cmd.$name.$i.sh"
        args+=(--prepare "sh $RUN/prep.$name.$i.sh"
               "$TIME $RUN/rss.$name.$i sh $RUN/cmd.$name.$i.sh")
        shift 2
    done
    hyperfine -N --style basic --runs "$runs" --warmup "$warm" \
        --export-json "$RUN/hf.$name.json" "${args[@]}" >&2
    python3 - "$RUN" "$name" "$i" "$target" >> "$RESULTS" <<'EOF'
import json, sys
run, name, n, target = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
res = json.load(open(f"{run}/hf.{name}.json"))["results"]
for k in range(n):
    cmd = open(f"{run}/cmd.{name}.{k+1}").read().strip()
    rss = [int(x) for x in open(f"{run}/rss.{name}.{k+1}").read().split() if x.isdigit()]
    print("\t".join([name, str(k), cmd, "%.4f" % res[k]["median"], str(len(res[k]["times"])),
                     str(max(rss) if rss else 0), target]))
EOF
}

# ---- s3a / s3b. the NLO repository to an S3 gateway: dvault vs rclone copy (issue 17) -------
# The test gateway (tests/gw/ceph.sh: one monitor, one memstore OSD, radosgw on loopback),
# started here and stopped by PID at the end. dvault backs up into s3://dvbench/nlo, rclone
# copies the same tree into s3://dvbench-rc/nlo (its own bucket: neither sees the other's
# objects). Quick: the quick fixture's repository; full: a fixture of its own of BENCH_S3_NLOS
# (default 100,000) NLOs: the gateway keeps every object in memory (memstore), and 1,000,000
# small PUTs take about 40 min per tool on this machine. BENCH_S3=0 leaves these rows out.
# rclone: Debian's (1.60), defaults (4 transfers, 8 checkers); AWS_CA_BUNDLE unset for it
# (rclone 1.60 refuses to start when it is set), its remote given by RCLONE_CONFIG_GW_*.
s3_rows() {
    if [ "${BENCH_S3:-1}" != 0 ]; then
        command -v rclone >/dev/null || { echo "bench: rclone missing (scripts/deps.sh bench)" >&2; exit 1; }
        case "$mode" in quick) S3N=$N ;; full) S3N=100000 ;; esac
        S3N=${BENCH_S3_NLOS:-$S3N}
        S3RUNS=${BENCH_S3_RUNS:-3}
        S3FIRST=${BENCH_S3_FIRST_RUNS:-$FIRST_RUNS}
        S3D=$DIR
        if [ "$S3N" != "$N" ]; then # a fixture of its own: S3N NLOs, 10 small databases
            S3D=$SRC/var/bench/s3-$S3N
            if [ "$(cat "$S3D/stamp" 2>/dev/null)" != "bench-gen s3 $S3N" ]; then
                log "generating $S3D ($S3N NLOs)"
                rm -rf "$S3D"
                mkdir -p "$S3D"
                "$GEN" init "$S3D" "$S3N" 10 0 1
                "$DVAULT" -c "$S3D/config.yaml" resync daos 2>/dev/null
                echo "bench-gen s3 $S3N" > "$S3D/stamp"
            fi
        fi
        S3RUN=$RUN/s3
        mkdir -p "$S3RUN"
        log "s3. starting the test gateway"
        GW_MEMSTORE_BYTES=${GW_MEMSTORE_BYTES:-$(( (S3N * 8192 + (1 << 30)) ))} \
            "$SRC/tests/gw/ceph.sh" start > "$S3RUN/gw.out" 2> "$S3RUN/gw.log" ||
            { cat "$S3RUN/gw.log" >&2; echo "bench: the gateway did not start" >&2; exit 1; }
        GW_DIR=$(sed -n 's/^GW_DIR=//p' "$S3RUN/gw.out")
        trap '"$SRC/tests/gw/ceph.sh" stop "$GW_DIR" >/dev/null 2>&1 || true' EXIT
        eval "$("$SRC/tests/gw/ceph.sh" env "$GW_DIR")"
        export AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
        # dvault: the fixture's config with the target on the gateway (credentials: the
        # environment), its own catalog and spool
        awk -v ep="$GW_ENDPOINT" -v rg="$GW_REGION" -v run="$S3RUN" '
            /^  target: / { print "  target: s3://dvbench/nlo"; print "  s3:"; print "    endpoint: " ep
                            print "    region: " rg; print "    cache: " run "/cache"; next }
            /^catalog: / { print "catalog: " run "/catalog.db"; next }
            { print }' "$S3D/config.yaml" > "$S3D/config-s3.yaml"
        S3CFG=$S3D/config-s3.yaml
        # rclone: the remote "gw" from the environment, an empty config file of its own
        : > "$S3RUN/rclone.conf"
        export RCLONE_CONFIG=$S3RUN/rclone.conf RCLONE_CONFIG_GW_TYPE=s3 RCLONE_CONFIG_GW_PROVIDER=Ceph \
            RCLONE_CONFIG_GW_ENDPOINT=$GW_ENDPOINT RCLONE_CONFIG_GW_REGION=$GW_REGION \
            RCLONE_CONFIG_GW_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
            RCLONE_CONFIG_GW_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
        RCLONE="env -u AWS_CA_BUNDLE rclone"
        RCOPY="$RCLONE copy --exclude 'daoscat.db*' --exclude daos.cfg $S3D/data/daos/ gw:dvbench-rc/nlo"
        S3INIT="env -u AWS_CA_BUNDLE rclone purge gw:dvbench >/dev/null 2>&1; rm -rf $S3RUN/catalog.db* $S3RUN/cache; $DVAULT -c $S3CFG target init >/dev/null; sync"
        log "s3a. first copy of $S3N NLOs to the gateway"
        hf s3a "dvault <= 1.0x rclone copy" "$S3FIRST" 0 \
            "$S3INIT" "$DVAULT -c $S3CFG backup --db $ONE -q" \
            "env -u AWS_CA_BUNDLE rclone purge gw:dvbench-rc >/dev/null 2>&1; sync" "$RCOPY"
        log "s3b. nothing new ($S3N NLOs held on the gateway)"
        hf s3b "dvault <= 0.2x rclone copy (5x faster)" "$S3RUNS" 1 \
            "true" "$DVAULT -c $S3CFG backup --db $ONE -q" \
            "true" "$RCOPY" \
            "true" "$RCOPY --size-only"
        "$SRC/tests/gw/ceph.sh" stop "$GW_DIR" >/dev/null 2>&1 || true
        trap - EXIT
        echo "$S3N" > "$RUN/s3.nlos"
    fi
}

# ---- report -------------------------------------------------------------------------------
report() {
python3 - "$RESULTS" "$DIR/results.md" "$label" "$N" "$D" "$NB" "$MB" "$ndb" "$dbsize" "$SRC" "$ONEMB" "$(cat "$RUN/s3.nlos" 2>/dev/null || echo -)" <<'EOF'
import sys
tsv, out, label, n, d, nb, mb, ndb, dbsize, src, onemb, s3n = sys.argv[1:]
rows = [l.rstrip("\n").split("\t") for l in open(tsv) if l.strip()]
titles = {
    "a": "a. Full backup of the database files (%s files, %s)" % (ndb, dbsize),
    "d": "d. First NLO backup of the whole repository (%s NLOs)" % n,
    "b": "b. NLO pass with nothing new (%s NLOs held)" % n,
    "c": "c. NLO pass with 1%% new NLOs (%d new of %s)" % (int(n) // 100, n),
    "o": "o. Full backup of one large database (%s MiB)" % onemb,
    "w": "w. The same database while a writer commits (dvload run, 500 transactions/s)",
    "r": "r. resync daos (%s NLOs, %s databases)" % (n, ndb),
    "s3a": "s3a. First NLO backup to the S3 gateway (%s NLOs) vs rclone copy" % s3n,
    "s3b": "s3b. Nothing new on the S3 gateway (%s NLOs held) vs rclone copy again" % s3n,
}
def short(cmd):
    return (cmd.replace(src + "/", "").replace("var/bench/" + label + "/", "")
            .replace("var/bench/one-" + onemb + "/", "").replace("var/bench/s3-" + s3n + "/", "")
            .replace("env -u AWS_CA_BUNDLE ", ""))
lines = ["### %s size: %s NLOs, %s databases + %s x %s MiB\n" % (label, n, d, nb, mb)]
for b in ("a", "o", "w", "d", "b", "c", "r", "s3a", "s3b"):
    rs = [r for r in rows if r[0] == b or (b == "a" and r[0] == "a1")]
    if not rs:
        continue
    dv = float(rs[0][3])
    lines.append("#### " + titles[b] + "\n")
    lines.append("Target: %s\n" % rs[0][6])
    if b == "a":
        lines.append("The first dvault row backs up into a target whose catalog already holds the"
                     " references (steady state: one more nightly set); the last row is the first"
                     " backup into an empty target and catalog.\n")
    lines.append("| command | runs | median s | peak RSS MiB | dvault / this |")
    lines.append("|---|---:|---:|---:|---:|")
    for r in rs:
        t = float(r[3])
        ratio = "-" if r[0] == "a1" or (r[1] == "0") else "%.2f" % (dv / t if t > 0 else float("inf"))
        lines.append("| `%s` | %s | %.3f | %.1f | %s |" % (short(r[2]), r[4], t,
                                                          int(r[5]) / 1024, ratio))
    lines.append("")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
}

# bench/run.sh MODE s3: the S3 rows alone (and the report)
if [ "${2:-}" = s3 ]; then
    ndb=$(find "$DATA/mail" -name '*.nsf' | wc -l)
    dbsize=$(du -sh "$DATA/mail" | cut -f1)
    ONEMB=${BENCH_ONEMB:-400}
    s3_rows
    report
    log "results in $DIR/results.md"
    exit 0
fi

# ---- a. databases: dvault backup --databases-only vs cp -r (and cp -r + syncfs) -------------
ndb=$(find "$DATA/mail" -name '*.nsf' | wc -l)
dbsize=$(du -sh "$DATA/mail" | cut -f1)
log "a. database copy: $ndb databases, $dbsize"
# dvault: nightly full backups into one target (the catalog already holds the references:
# the warm-up run records them); the last row is the first backup into an empty target and
# catalog (every reference recorded).
hf a "dvault >= 0.9x cp's speed (ratio <= 1.11)" "$RUNS" 1 \
    "sync" "$DVAULT -c $DIR/config-a.yaml backup --databases-only -q" \
    "rm -rf $RUN/cp; sync" "cp -r $DATA/mail $RUN/cp" \
    "rm -rf $RUN/cp; sync" "cp -r $DATA/mail $RUN/cp && sync -f $RUN/cp"
hf a1 "(first backup: no target)" "$FIRST_RUNS" 0 \
    "rm -rf $RUN/a1; $DVAULT -c $DIR/config-a1.yaml target init >/dev/null; sync" \
    "$DVAULT -c $DIR/config-a1.yaml backup --databases-only -q"
rm -rf "$RUN/a" "$RUN/a1" "$RUN/cp"

# ---- o. one large database: dvault's full backup vs cp + sync -f (issue 16) ------------------
ONEMB=${BENCH_ONEMB:-400}
ONE_RUNS=${BENCH_ONE_RUNS:-3}
ODIR=$SRC/var/bench/one-$ONEMB
if [ "$(cat "$ODIR/stamp" 2>/dev/null)" != "bench-gen one $ONEMB" ]; then
    rm -rf "$ODIR"
    "$GEN" one "$ODIR" "$ONEMB"
    echo "bench-gen one $ONEMB" > "$ODIR/stamp"
fi
rm -rf "$ODIR/run"
mkdir -p "$ODIR/run"
OCFG=$ODIR/config.yaml
ODB=$ODIR/data/mail/one.nsf
OINIT="rm -rf $ODIR/run/target $ODIR/run/catalog.db; $DVAULT -c $OCFG target init >/dev/null"
log "o. one database of $ONEMB MiB"
hf o "dvault <= 1.1x cp + sync -f" "$ONE_RUNS" 1 \
    "$OINIT; sync" "$DVAULT -c $OCFG backup --databases-only -q" \
    "rm -f $ODIR/run/cp.nsf; sync" "cp $ODB $ODIR/run/cp.nsf && sync -f $ODIR/run/cp.nsf" \
    "rm -f $ODIR/run/cp.nsf; sync" "cp $ODB $ODIR/run/cp.nsf"

# ---- w. the same database while dvload commits: dvault vs cp (inconsistent) vs VACUUM INTO ----
log "w. one database of $ONEMB MiB beside a writer (dvload run)"
"${DVLOAD:-$BUILD/dvload}" -c "$OCFG" run --seconds 3600 --writers 1 --rate 500 >"$ODIR/run/dvload.log" 2>&1 &
wpid=$!
trap 'kill $wpid 2>/dev/null || true' EXIT
sleep 1
hf w "dvault <= 1.3x cp (cp's copy is not consistent)" "$ONE_RUNS" 1 \
    "$OINIT" "$DVAULT -c $OCFG backup --databases-only -q" \
    "rm -f $ODIR/run/cp.nsf" "cp $ODB $ODIR/run/cp.nsf" \
    "rm -f $ODIR/run/vac.nsf" "sqlite3 $ODB \"VACUUM INTO '$ODIR/run/vac.nsf'\""
kill $wpid 2>/dev/null || true
wait $wpid 2>/dev/null || true
trap - EXIT
rm -rf "$ODIR/run/target" "$ODIR/run/cp.nsf" "$ODIR/run/vac.nsf"

# ---- d. first NLO backup of the whole repository vs rsync's first copy -----------------------
log "d. first copy of $N NLOs"
hf d "dvault <= 0.67x rsync + sync -f (1.5x faster)" "$FIRST_RUNS" 0 \
    "rm -rf $RUN/target $RUN/catalog.db; $DVAULT -c $CFG target init >/dev/null; sync" \
    "$DVAULT -c $CFG backup --db $ONE -q" \
    "rm -rf $RUN/rsync; sync" "$RSYNC $DAOS/ $RUN/rsync/" \
    "rm -rf $RUN/rsync; sync" "$RSYNC $DAOS/ $RUN/rsync/ && sync -f $RUN/rsync"

# ---- b. nothing new: second backup vs rsync with nothing to copy vs find | wc -l ------------
log "b. nothing new ($N NLOs held)"
hf b "dvault <= 1.3x find" "$RUNS" 1 \
    "true" "$DVAULT -c $CFG backup --db $ONE -q" \
    "true" "find $DAOS -name '*.nlo' | wc -l" \
    "true" "$RSYNC $DAOS/ $RUN/rsync/"

# ---- r. resync daos vs find + the sqlite3 shell reading every database's references --------
log "r. resync daos"
{
    echo "find $DAOS -name '*.nlo' | wc -l >/dev/null"
    echo "for f in \$(find $DATA/mail -name '*.nsf'); do"
    echo "    sqlite3 \"\$f\" 'SELECT nlo FROM attachments WHERE nlo IS NOT NULL' >/dev/null"
    echo "done"
} > "$RUN/peer-resync.sh"
hf r "dvault <= 1.5x find + sqlite3" "$RUNS" 1 \
    "true" "$DVAULT -c $CFG resync daos >/dev/null 2>&1" \
    "true" "sh $RUN/peer-resync.sh"

# ---- c. 1% new NLOs: rounds of (add 1%, dvault, rsync) ------------------------------------
add=$((N / 100))
log "c. $RUNS rounds of $add new NLOs"
for r in $(seq 1 "$RUNS"); do
    sub=$("$GEN" add "$DIR" "$add" $((r + 1)))
    sync
    for k in 1 2; do
        if [ $k = 1 ]; then cmd="$DVAULT -c $CFG backup --db $ONE -q"; else cmd="$RSYNC $DAOS/ $RUN/rsync/"; fi
        printf '%s\n' "$cmd" > "$RUN/cmd.c.$k"
        s=$(date +%s%N)
        $TIME "$RUN/rss.c.$k" sh -c "$cmd" >/dev/null 2>&1 || { echo "bench: $cmd failed" >&2; exit 1; }
        e=$(date +%s%N)
        echo "$(( (e - s) / 1000 ))" >> "$RUN/times.c.$k"
    done
    log "c. round $r: subdir $sub"
done
python3 - "$RUN" "$RUNS" >> "$RESULTS" <<'EOF'
import statistics, sys
run, runs = sys.argv[1], int(sys.argv[2])
for k in (1, 2):
    t = [int(x) / 1e6 for x in open(f"{run}/times.c.{k}").read().split()]
    rss = [int(x) for x in open(f"{run}/rss.c.{k}").read().split() if x.isdigit()]
    print("\t".join(["c", str(k - 1), open(f"{run}/cmd.c.{k}").read().strip(),
                     "%.4f" % statistics.median(t), str(len(t)), str(max(rss)), "(none)"]))
EOF
for s in "$DAOS"/[0-9][0-9][0-9][0-9]; do
    [ "$(basename "$s" | sed 's/^0*//')" -gt "$base" ] && rm -rf "$s"
done

# ---- s3a / s3b (issue 17): see s3_rows above ------------------------------------------------
s3_rows

report
log "results in $DIR/results.md"

# issue 6: block-transfer incremental vs full vs rsync --inplace (its own fixture)
BENCH_DIR="$SRC/var/bench" DVAULT="$DVAULT" bash "$SRC/bench/incr.sh" "$mode" | tee -a "$DIR/results.md"

# issue 7: listnlo missing, recover, resync, catalog, console over 1,000,000 rows, memory
SRC="$SRC" BUILD="$BUILD" DVAULT="$DVAULT" bash "$SRC/bench/scale.sh" "$mode"

# issue 13: the point-in-time archiver beside a heavy writer and at 2,000 databases
SRC="$SRC" BUILD="$BUILD" DVAULT="$DVAULT" bash "$SRC/bench/pitr.sh" "$mode"

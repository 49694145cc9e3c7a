#!/bin/bash
# seeds.sh OUTDIR - generate the fuzzers' seed corpora from real files: OUTDIR/<parser>/*.
# A small demo server is created with dvload, written to while dvault takes a hot backup
# (delta: keep), so the seeds are a real config, real themes, a real WAL (copied while the
# writers run, then cut to a few frames), a real .delta, a real manifest and NLO list.
# Env: DVAULT DVLOAD SRC (set by make).
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
out=$1
mkdir -p "$out"/{config,theme,manifest,nlolist,recoverlist,wal,delta,pagemap,incr,archseg}
T=$(mktemp -d "${TMPDIR:-/tmp}/dvseed.XXXXXX")
LOADPID=
cleanup() { [ -n "$LOADPID" ] && kill "$LOADPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

# config: the shipped one, the golden error cases, and the one used below
cp "$SRC/config.yaml" "$out/config/shipped.yaml"
for f in "$SRC"/tests/golden/config/*.yaml; do cp "$f" "$out/config/golden-$(basename "$f")"; done
cat >"$T/c.yaml" <<YAML
server:
  data_dir: data
  daos_dir: daos
  databases: ["**/*.nsf", "mail/*.nsf"]
  max_files_per_subdir: 50
  min_object_size: 1024
  key_file: server.key
backup:
  target: backup
  delta: keep
  retention: { keep_sets: 3, keep_days: 7 }
catalog: catalog.db
console: { theme: dark }
YAML
cp "$T/c.yaml" "$out/config/test.yaml"

# themes: every shipped theme and the golden error cases
for f in "$SRC"/themes/*.yaml "$SRC"/tests/golden/theme/*.yaml; do
    [ -f "$f" ] && cp "$f" "$out/theme/$(basename "$(dirname "$f")")-$(basename "$f")"
done

# a live server under write load, a hot backup with kept deltas
"$DVLOAD" -c "$T/c.yaml" init --databases 3 --docs 20 --seed 3 >/dev/null
"$DVAULT" -c "$T/c.yaml" target init >/dev/null # targets are made, never created on the fly
"$DVLOAD" -c "$T/c.yaml" run --seconds 60 --writers 3 --seed 4 >/dev/null 2>&1 &
LOADPID=$!
for i in $(seq 1 50); do # wait until a WAL has committed frames
    [ "$(stat -c %s "$T/data/mail/alice.nsf-wal" 2>/dev/null || echo 0)" -gt 20000 ] && break
    sleep 0.1
done
n=0
for w in "$T"/data/*/*.nsf-wal "$T"/data/*.nsf-wal; do
    [ -f "$w" ] || continue
    n=$((n + 1))
    cp "$w" "$T/w$n"
    ps=$(od -An -tu1 -j8 -N4 "$T/w$n" | awk '{print $1*16777216+$2*65536+$3*256+$4}')
    [ "$ps" -gt 0 ] 2>/dev/null || continue
    for k in 1 3 8; do # a WAL cut at a frame boundary is a valid (shorter) WAL
        head -c $((32 + k * (24 + ps))) "$T/w$n" >"$out/wal/live$n-$k.wal"
    done
    [ $n -ge 2 ] && break
done
"$DVAULT" -c "$T/c.yaml" backup -q >/dev/null 2>&1
"$DVAULT" -c "$T/c.yaml" archive >/dev/null 2>&1 || true   # WAL segments (point-in-time)
"$DVAULT" -c "$T/c.yaml" backup -q >/dev/null 2>&1
"$DVAULT" -c "$T/c.yaml" backup --incremental -q >/dev/null 2>&1 || true  # .inc, .pagemap
sleep 0.5
"$DVAULT" -c "$T/c.yaml" archive >/dev/null 2>&1 || true
kill "$LOADPID"; wait "$LOADPID" 2>/dev/null || true; LOADPID=
i=0
for f in $(find "$T/backup" -name '*.pagemap' | sort | head -4); do i=$((i + 1)); cp "$f" "$out/pagemap/$i.pagemap"; done
for f in $(find "$T/backup" -name '*.inc' | sort | head -4); do
    i=$((i + 1)); [ "$(stat -c %s "$f")" -le 300000 ] && cp "$f" "$out/incr/$i.inc" || true
done
# a small archive segment: 512-byte pages, a few transactions, archived while python holds
# the database open (the archiver ships committed WAL frames)
mkdir -p "$T/small/data"
cat >"$T/small/c.yaml" <<YAML
server: { data_dir: data, daos_dir: daos, key_file: server.key }
backup: { target: backup }
catalog: catalog.db
YAML
"$DVAULT" -c "$T/small/c.yaml" target init >/dev/null 2>&1 || true
python3 - "$T/small/data/s.nsf" "$DVAULT" "$T/small/c.yaml" <<'PY' || true
import sqlite3, subprocess, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("pragma page_size=512"); db.execute("pragma journal_mode=wal")
db.execute("pragma wal_autocheckpoint=0")
db.execute("create table t(a, b)")
for i in range(4):
    db.execute("begin"); db.execute("insert into t values(?, ?)", (i, "y" * 200)); db.execute("commit")
subprocess.run([sys.argv[2], "-c", sys.argv[3], "archive"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
db.close()
PY
for f in $(find "$T/small/backup/archive" "$T/backup/archive" -name '*.seg' 2>/dev/null | head -4); do
    i=$((i + 1)); [ "$(stat -c %s "$f")" -le 300000 ] && cp "$f" "$out/archseg/$i.seg" || true
done
# a small-page WAL (512-byte pages) from python's sqlite3, copied while the connection is open
python3 - "$T/small.db" "$out/wal/small512.wal" <<'PY'
import shutil, sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("pragma page_size=512"); db.execute("pragma journal_mode=wal")
db.execute("pragma wal_autocheckpoint=0")
db.execute("create table t(a, b)")
for i in range(6):
    db.execute("begin"); db.execute("insert into t values(?, ?)", (i, "x" * 300)); db.execute("commit")
db.execute("begin"); db.execute("insert into t values(99, 'uncommitted tail')")
shutil.copyfile(sys.argv[1] + "-wal", sys.argv[2])
db.execute("rollback"); db.close()
PY
i=0
for s in "$T"/backup/sets/*/; do
    i=$((i + 1))
    cp "$s/manifest.json" "$out/manifest/set$i.json"
    [ -f "$s/nlo-new.tsv" ] && cp "$s/nlo-new.tsv" "$out/nlolist/set$i.tsv"
    for d in $(find "$s" -name '*.delta' | sort | head -3); do
        [ "$(stat -c %s "$d")" -le 200000 ] && cp "$d" "$out/delta/set$i-$(basename "$d")"
    done
done
# a small .delta (512-byte pages, two records) written by an independent implementation of
# docs/formats.md: if delta_verify refuses it, the format and the reader disagree
python3 - "$out/delta/small512.delta" <<'PY'
import hashlib, struct, sys
def crc32c(data, crc=0):
    crc ^= 0xffffffff
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82f63b78 if crc & 1 else 0)
    return crc ^ 0xffffffff
ps, pages = 512, {2: b"\x11" * 512, 5: b"\x22" * 512}
hdr = b"DVDELTA\0" + struct.pack(">IIQQII", 1, ps, 4 * ps, 6 * ps, len(pages), 0)
hdr += b"replica-0001".ljust(64, b"\0") + b"instance-0001".ljust(64, b"\0") + bytes(20)
hdr += struct.pack(">I", crc32c(hdr))
body = hdr
for pg in sorted(pages):
    pn = struct.pack(">I", pg)
    body += pn + struct.pack(">I", crc32c(pn + pages[pg])) + pages[pg]
body += b"DVDTRAIL" + struct.pack(">II", len(pages), 0) + hashlib.sha256(body).digest()
open(sys.argv[1], "wb").write(body)
PY
# an NLO list of a few lines (the fuzzer mutates small inputs faster)
for f in "$out"/nlolist/*.tsv; do head -3 "$f" >"${f%.tsv}-head.tsv"; break; done
# recover lists: what `dvault listnlo missing` writes, names with and without .nlo, comments
"$DVAULT" -c "$T/c.yaml" listnlo all "$T/data/mail/alice.nsf" -o "$out/recoverlist/listnlo.txt" >/dev/null 2>&1 || true
{
    echo "# NLOs to bring back"
    for f in "$out"/nlolist/set1.tsv; do cut -f1 "$f" | head -2; cut -f1 "$f" | sed -n 3p | sed 's/\.nlo$//'; done
    echo
    echo "   $(cut -f1 "$out/nlolist/set1.tsv" | head -1)   "
} >"$out/recoverlist/mixed.txt"
for p in config theme manifest nlolist recoverlist wal delta pagemap incr archseg; do
    echo "seeds: $p: $(ls "$out/$p" | wc -l) files"
done

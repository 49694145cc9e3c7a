#!/bin/bash
# doc_restore_kill.sh - issue 18: `dvault doc restore` killed with SIGKILL (DV_CRASH_AT) at
# every step of its write: after the NLOs came back from the pool, inside the transaction with
# the rows written, after the references were counted in the DAOS index, right before COMMIT,
# right after it. Each time the live database is whole (integrity_check, dvload's invariants)
# and holds either none or all of the restored documents, no refcount is below the references;
# the next doc restore settles what the killed one left (refcounts exact, no NEEDS_RESYNC),
# finishes the restore, and `dvload verify` passes.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
BASE=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvdrkill.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$BASE"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
. "$(dirname "$0")/doc_restore.lib"

T=$BASE/tpl
mkdir -p "$T"
dr_site
mapfile -t SOLE < <(dr_sole_docs)
[ "${#SOLE[@]}" -ge 2 ] || fail "expected two documents holding the only reference to an NLO"
mapfile -t ALL < <(dr_docs_with_nlos | grep -v -F -x -e "${SOLE[0]}" -e "${SOLE[1]}")
[ "${#ALL[@]}" -ge 3 ] || fail "expected 3 more documents with NLOs"
PURGED=("${SOLE[0]}" "${SOLE[1]}" "${ALL[0]}")
SOFT=("${ALL[1]}" "${ALL[2]}")
N=5
dr_dump "${PURGED[@]}" "${SOFT[@]}" >"$BASE/gone" # as the set holds them
in_list=$(printf "'%s'," "${PURGED[@]}" "${SOFT[@]}" | sed 's/,$//')
"$DVLOAD" "${C[@]}" delete --db "$DB" --when 1000 "${PURGED[@]}" >/dev/null
"$DVLOAD" "${C[@]}" purge --db "$DB" --when 2000 >/dev/null
"$DVLOAD" "${C[@]}" delete --db "$DB" "${SOFT[@]}" >/dev/null
"$DVAULT" "${C[@]}" daos prune --days 0 2>/dev/null | grep -q "^daos prune: [1-9]" || fail "daos prune removed nothing"

visible() { dr_q "SELECT count(*) FROM notes WHERE deleted IS NULL AND unid IN ($in_list)"; }
[ "$(visible)" = 0 ] || fail "setup: documents still visible"

for point in docrestore.recovered docrestore.written batch.counted batch.before_commit batch.committed; do
    echo "== killed at $point"
    T=$BASE/w
    rm -rf "$T"
    cp -a "$BASE/tpl" "$T"
    C=(-c "$T/config.yaml")
    D=$T/data
    rc=0
    DV_CRASH_AT=$point "$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" --deleted >"$T/out" 2>&1 || rc=$?
    [ "$rc" = 137 ] || { cat "$T/out"; fail "$point: expected SIGKILL (137), got $rc"; }
    [ "$(dr_q 'PRAGMA integrity_check')" = ok ] || fail "$point: integrity_check"
    n=$(visible)
    case $point in
    batch.committed) [ "$n" = "$N" ] || fail "$point: committed, but $n of $N documents are back" ;;
    *) [ "$n" = 0 ] || fail "$point: not committed, but $n of $N documents are back" ;;
    esac
    dr_refcounts_safe || fail "$point: a refcount below its references"
    pending=$(sqlite3 "$D/daos/daoscat.db" "SELECT count(*) FROM meta WHERE key LIKE 'pending_refs:%'")
    case $point in
    batch.counted | batch.before_commit | batch.committed)
        [ "$pending" = 1 ] || fail "$point: expected the batch's record, found $pending" ;;
    *) [ "$pending" = 0 ] || fail "$point: a record before anything was counted" ;;
    esac
    ls -a "$T/backup" | grep -q '^\.docrestore\.' || fail "$point: the killed run's scratch directory should be there"

    "$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" --deleted >"$T/out2" 2>&1 ||
        { cat "$T/out2"; fail "$point: the next doc restore failed"; }
    if [ "$pending" = 1 ]; then
        grep -q "settled 1 record(s) of an interrupted doc restore" "$T/out2" ||
            { cat "$T/out2"; fail "$point: the next run should settle the record"; }
    fi
    [ "$(visible)" = "$N" ] || fail "$point: after the next run $(visible) of $N documents are back"
    dr_dump "${PURGED[@]}" "${SOFT[@]}" | cmp -s "$BASE/gone" - || fail "$point: restored documents differ"
    "$DVLOAD" "${C[@]}" verify >/dev/null || fail "$point: dvload verify: $("$DVLOAD" "${C[@]}" verify 2>&1)"
    dr_refcounts_exact || fail "$point: refcounts after the next run"
    "$DVAULT" "${C[@]}" daos status | grep -q '^state *SYNCHRONIZED' || fail "$point: NEEDS_RESYNC left"
    [ "$(sqlite3 "$D/daos/daoscat.db" "SELECT count(*) FROM meta WHERE key LIKE 'pending_refs:%'")" = 0 ] ||
        fail "$point: record left"
    ls -a "$T/backup" | grep -q '^\.docrestore\.' && fail "$point: scratch directory left in the target"
    find "$D" -name '.*' ! -name '.daos.cfg.lock' | grep . && fail "$point: temporary files left in the data directory"
    echo "   none restored / all restored, settled, verify ok"
done

echo "== resync daos drops a record a crash left (it recounts)"
T=$BASE/w; rm -rf "$T"; cp -a "$BASE/tpl" "$T"; C=(-c "$T/config.yaml"); D=$T/data
DV_CRASH_AT=batch.counted "$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" --deleted >/dev/null 2>&1 && fail "no kill"
"$DVAULT" "${C[@]}" resync daos >/dev/null || fail "resync daos"
[ "$(sqlite3 "$D/daos/daoscat.db" "SELECT count(*) FROM meta WHERE key LIKE 'pending_refs:%'")" = 0 ] || fail "resync kept the record"
"$DVAULT" "${C[@]}" doc restore --set "$SET" --db "$DB" --deleted >"$T/out3" || fail "doc restore after resync"
grep -q settled "$T/out3" && fail "nothing to settle after a resync"
"$DVLOAD" "${C[@]}" verify >/dev/null || fail "dvload verify after resync and restore"
dr_refcounts_exact || fail "refcounts after resync and restore"
echo "doc_restore_kill ok"

#!/bin/bash
# trust_targets.sh - dangerous targets are refused (issue 11.7): a target inside data_dir (each
# backup would copy the earlier ones: 4, 8, 16 databases ...), inside the DAOS directory,
# equal to data_dir, "/", or a data_dir inside the target - also when spelled with "..", "."
# or through a symbolic link. `config --check` refuses them with FILE:LINE:COL (exit 2), and
# so does every command: a backup with such a configuration copies nothing.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvtrust-targets.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cfg() { # DATA_DIR DAOS_DIR TARGET: write $T/c.yaml
    cat >"$T/c.yaml" <<EOF
server:
  data_dir: $1
  daos_dir: $2
  min_object_size: 1024
  key_file: server.key
backup:
  target: $3
catalog: catalog.db
EOF
}
# the server, with a good configuration
cfg var/data daos var/backup
"$DVLOAD" -c "$T/c.yaml" init --databases 2 --docs 4 --seed 3 >/dev/null
ln -s var/data "$T/datalink"
mkdir -p "$T/elsewhere"

refused() { # LINE:COL WHAT-IN-THE-MESSAGE DATA_DIR DAOS_DIR TARGET
    local where=$1 what=$2
    shift 2
    cfg "$@"
    local data=$1 daos=$2 tgt=$3
    set +e
    "$DVAULT" -c "$T/c.yaml" config --check >"$T/out" 2>"$T/err"; local rc=$?
    set -e
    [ $rc = 2 ] || { cat "$T/out" "$T/err"; fail "config --check of target '$tgt' (data_dir '$data', daos_dir '$daos'): exit $rc, expected 2"; }
    grep -qF "$T/c.yaml:$where: $what" "$T/err" || { cat "$T/err"; fail "target '$tgt': expected '$where: $what'"; }
    [ "$(grep -c . "$T/err")" = 1 ] || { cat "$T/err"; fail "more than one line"; }
    local before; before=$(cd "$T" && find . | sort | md5sum)
    set +e
    "$DVAULT" -c "$T/c.yaml" backup >"$T/out" 2>"$T/err"; rc=$?
    set -e
    [ $rc = 2 ] || { cat "$T/out" "$T/err"; fail "backup into target '$tgt': exit $rc, expected 2"; }
    [ "$before" = "$(cd "$T" && find . | sort | md5sum)" ] || fail "backup into target '$tgt' wrote something"
    echo "refused: data_dir '$data', daos_dir '$daos', target '$tgt': $(cut -d' ' -f2- "$T/err" | cut -c1-70)..."
}
refused 7:11 "'target' 'var/data/backup' is inside the server's data_dir 'var/data'" var/data daos var/data/backup
refused 7:11 "'target' 'var/data/../data/backup' is inside" var/data daos var/data/../data/backup
refused 7:11 "'target' 'datalink/backup' is inside" var/data daos datalink/backup
refused 7:11 "'target' 'var/data' is the server's data_dir" var/data daos var/data
refused 7:11 "'target' 'var/./data/' is the server's data_dir" var/data daos var/./data/
refused 7:11 "'target' is '/', the root directory" var/data daos /
refused 7:11 "'target' 'var/daos/backup' is inside the server's daos_dir '../daos'" var/data ../daos var/daos/backup
refused 7:11 "'target' 'elsewhere/b' is inside the server's daos_dir '$T/elsewhere'" var/data "$T/elsewhere" elsewhere/b
refused 2:13 "'data_dir' 'var/data' is inside the backup target 'var'" var/data daos var
refused 3:13 "'daos_dir' '$T/elsewhere/daos' is inside the backup target 'elsewhere'" var/data "$T/elsewhere/daos" elsewhere

# neighbours are fine: var/data2 is not inside var/data, a target next to the server
cfg var/data daos var/data2
"$DVAULT" -c "$T/c.yaml" config --check >/dev/null 2>&1 || fail "var/data2 is not inside var/data"
cfg var/data daos var/backup
"$DVAULT" -c "$T/c.yaml" config --check >/dev/null 2>&1 || fail "the good configuration"
"$DVAULT" -c "$T/c.yaml" target init >/dev/null
"$DVAULT" -c "$T/c.yaml" backup -q >/dev/null || fail "backup with the good configuration"
echo "trust_targets: 10 dangerous targets refused by config --check and backup; good ones pass"

#!/bin/bash
# check-man.sh DVAULT DVLOAD [MANDIR] - the man pages say what the programs say, and render
# cleanly. Checks, for docs/man/dvault.1 and docs/man/dvload.1 (or those in MANDIR):
#  - the SYNOPSIS, rendered, is exactly the programs' usage, line for line and in order:
#    `dvault help --usage` (the command table in ui/main.c that `dvault --help` prints) and
#    dvload's usage text (its continuation lines joined). A command missing from the page,
#    one the program no longer has, or a changed option fails, with a diff;
#  - every configuration key `dvault config` prints (the effective configuration of an empty
#    file: every key with its default) has an entry in dvault.1's CONFIGURATION, and every
#    entry there is a key dvault knows;
#  - `man --warnings=w -l` (groff -man -ww when man is not installed) renders each page at
#    60, 80 and 120 columns without a single warning, and at 80 columns no line is longer.
# Exit 0 when all hold, 1 with the reasons otherwise. Used by tests/e2e/man_pages.sh.
set -euo pipefail
DVAULT=${1:?usage: check-man.sh DVAULT DVLOAD [MANDIR]}
DVLOAD=${2:?usage: check-man.sh DVAULT DVLOAD [MANDIR]}
# a path relative to here stays valid after a cd
case $DVAULT in */*) DVAULT=$(realpath "$DVAULT") ;; esac
case $DVLOAD in */*) DVLOAD=$(realpath "$DVLOAD") ;; esac
MANDIR=${3:-$(cd "$(dirname "$0")/.." && pwd)/docs/man}
command -v groff >/dev/null 2>&1 || { echo "check-man: groff is not installed (groff-base)" >&2; exit 1; }
export LC_ALL=C.UTF-8
bad=0

# the page's SYNOPSIS as a reader sees it: rendered on one very long line per entry, without
# bold/underline, indentation dropped, blank lines dropped, runs of spaces squeezed
synopsis() {
    groff -man -Tutf8 -rLL=2000n "$1" 2>/dev/null | col -bx |
        awk '/^SYNOPSIS$/ { on = 1; next } on && /^[^ ]/ { exit } on' |
        sed -E 's/^ +//; s/ +$//; s/ +/ /g' | grep -v '^$' || true
}
# dvload's usage: "usage: " dropped, a line indented past the command name continues the
# previous one
dvload_usage() {
    { "$DVLOAD" 2>&1 >/dev/null || true; } | sed 's/^usage: //' |
        awk '/^ *dvload / { if (l != "") print l; sub(/^ +/, ""); l = $0; next }
             { sub(/^ +/, ""); l = l " " $0 } END { if (l != "") print l }' |
        sed -E 's/ +/ /g'
}

compare() { # PAGE NAME EXPECTED-FILE
    local got
    got=$(mktemp)
    synopsis "$1" >"$got"
    if [ ! -s "$3" ]; then
        echo "check-man: $2 printed no usage" >&2; bad=1
    elif ! diff -u --label "$2 usage" --label "$1 SYNOPSIS" "$3" "$got" >&2; then
        echo "check-man: $1: SYNOPSIS differs from $2's usage (above: - the program, + the page)" >&2
        bad=1
    fi
    rm -f "$got"
}

# the keys of `dvault config`, dotted (server.data_dir, backup.retention.keep_sets), one a line
config_keys() {
    local d
    d=$(mktemp -d)
    : >"$d/config.yaml"
    mkdir -p "$d/var/data/daos" # the defaults' data_dir and DAOS dir, should config look
    (cd "$d" && "$DVAULT" -c config.yaml config) | awk '
        function inline(prefix, body,   n, i, kv, parts) {
            n = split(body, parts, ",")
            for (i = 1; i <= n; i++) { split(parts[i], kv, ":"); gsub(/ /, "", kv[1]); print prefix kv[1] }
        }
        /^#/ || /^ *$/ { next }
        /^[a-z0-9_]+:$/ { sect = $1; sub(/:$/, "", sect); next }
        /^[a-z0-9_]+: \{.*\}$/ { k = $1; sub(/:$/, "", k); b = $0; sub(/^[^{]*\{ */, "", b); sub(/ *\}$/, "", b); inline(k ".", b); next }
        /^[a-z0-9_]+: / { k = $1; sub(/:$/, "", k); print k; next }
        /^  [a-z0-9_]+: \{.*\}$/ { k = $1; sub(/:$/, "", k); b = $0; sub(/^[^{]*\{ */, "", b); sub(/ *\}$/, "", b); inline(sect "." k ".", b); next }
        /^  [a-z0-9_]+:/ { k = $1; sub(/:$/, "", k); print sect "." k; next }
        { print "UNPARSED: " $0 }'
    rm -rf "$d"
}

# the keys dvault.1 describes: the dotted words of the tags (.TP then .BR/.B) in CONFIGURATION
page_keys() {
    awk '/^\.SH CONFIGURATION/ { on = 1; next } /^\.SH / { on = 0 } on && tag { print } { tag = on && /^\.TP$/ }' "$1" |
        grep -oE '(^|[ "])[a-z0-9_]+(\.[a-z0-9_]+)*' | tr -d ' "' | grep -vE '^(BR|B)$' | sort -u
}

check_config() { # PAGE
    local keys pk k
    keys=$(config_keys) || { echo "check-man: $DVAULT config failed" >&2; bad=1; return; }
    if [ -z "$keys" ] || grep -q '^UNPARSED' <<<"$keys"; then
        echo "check-man: cannot read the keys of dvault config: $keys" >&2; bad=1; return
    fi
    pk=$(page_keys "$1")
    for k in $keys; do
        grep -qxF "$k" <<<"$pk" || { echo "check-man: $1: configuration key $k is not in CONFIGURATION" >&2; bad=1; }
    done
    for k in $pk; do
        grep -qxF "$k" <<<"$keys" || { echo "check-man: $1: CONFIGURATION describes $k, which dvault config does not print" >&2; bad=1; }
    done
}

render_clean() { # PAGE
    local w out
    for w in 60 80 120; do
        if command -v man >/dev/null 2>&1; then
            out=$(MANWIDTH=$w man --warnings=w -l "$1" 2>&1 >/dev/null) || {
                echo "check-man: man -l $1 failed: $out" >&2; bad=1; continue; }
        else
            out=$(groff -man -Tutf8 -ww -rLL=${w}n -z "$1" 2>&1) || {
                echo "check-man: groff $1 failed: $out" >&2; bad=1; continue; }
        fi
        if [ -n "$out" ]; then
            echo "check-man: $1 at $w columns: $out" >&2
            bad=1
        fi
    done
    # at 80 columns (line length 78, as man-db sets it) nothing runs past the edge: examples
    # are not filled, they must fit
    out=$(groff -man -Tutf8 -rLL=78n "$1" 2>/dev/null | col -bx | awk 'length > 80')
    if [ -n "$out" ]; then
        echo "check-man: $1 at 80 columns, lines too long:" >&2
        echo "$out" >&2
        bad=1
    fi
}

for p in dvault dvload; do
    [ -f "$MANDIR/$p.1" ] || { echo "check-man: $MANDIR/$p.1 missing" >&2; exit 1; }
done
exp=$(mktemp)
trap 'rm -f "$exp"' EXIT
"$DVAULT" help --usage | sed -E 's/ +/ /g' >"$exp" || { echo "check-man: $DVAULT help --usage failed" >&2; bad=1; }
compare "$MANDIR/dvault.1" dvault "$exp"
dvload_usage >"$exp"
compare "$MANDIR/dvload.1" dvload "$exp"
check_config "$MANDIR/dvault.1"
render_clean "$MANDIR/dvault.1"
render_clean "$MANDIR/dvload.1"
exit $bad

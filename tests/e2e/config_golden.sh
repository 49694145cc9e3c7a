#!/bin/bash
# Golden tests of configuration errors: each tests/golden/config/NAME.yaml must fail with exit
# code 2 and exactly the one line in NAME.err (FILE:LINE:COL: message).
set -u
dir="$SRC/tests/golden/config"
fail=0
cd "$dir"
for f in *.yaml; do
    name=${f%.yaml}
    out=$("$DVAULT" -c "$f" config 2>&1 >/dev/null); rc=$?
    if [ $rc -ne 2 ]; then echo "FAIL $f: exit $rc, expected 2"; fail=1; continue; fi
    if [ "$out" != "$(cat "$name.err")" ]; then
        echo "FAIL $f:"; echo "  got:      $out"; echo "  expected: $(cat "$name.err")"; fail=1
    fi
    [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] || { echo "FAIL $f: more than one line"; fail=1; }
done
# unreadable files: missing, a directory
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=$("$DVAULT" -c "$tmp/none.yaml" config 2>&1); rc=$?
[ $rc = 2 ] && [ "$out" = "$tmp/none.yaml:1:1: cannot read configuration: No such file or directory" ] ||
    { echo "FAIL missing file: rc=$rc out=$out"; fail=1; }
mkdir "$tmp/dir.yaml"
out=$("$DVAULT" -c "$tmp/dir.yaml" config 2>&1); rc=$?
[ $rc = 2 ] && [[ $out == "$tmp/dir.yaml:1:1: cannot read configuration: "* ]] ||
    { echo "FAIL directory as config: rc=$rc out=$out"; fail=1; }
# the shipped config.yaml is valid and an empty file means all defaults
# (config --check exits 1 when the demo's var/data, daos or key is not there yet: only that)
"$DVAULT" -c "$SRC/config.yaml" config --check >/dev/null 2>"$tmp/check.err"; rc=$?
[ $rc = 0 ] || { [ $rc = 1 ] && ! grep '^dvault: ' "$tmp/check.err" | grep -qv ' does not exist'; } ||
    { echo "FAIL config.yaml: rc=$rc $(cat "$tmp/check.err")"; fail=1; }
: > "$tmp/empty.yaml"
"$DVAULT" -c "$tmp/empty.yaml" config | grep -q "data_dir: $tmp/var/data" ||
    { echo "FAIL empty config defaults"; fail=1; }
[ $fail = 0 ] && echo "config golden: all $(ls *.yaml | wc -l) cases + unreadable ok"
exit $fail

#!/bin/bash
# A bad theme stops the console before it touches the terminal: exit 2 and exactly one line,
# FILE:LINE:COL: message, the same lines as the golden files in tests/golden/theme/ (which
# test_theme.c checks against the loader directly).
set -u
: "${DVAULT:?set DVAULT to the dvault binary}"
SRC=${SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvtheme-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
ln -s "$SRC/tests/golden/theme" "$tmp/themes"
fail=0 n=0
for f in "$SRC"/tests/golden/theme/*.yaml; do
    name=$(basename "$f" .yaml)
    printf 'console: { theme: %s }\n' "$name" > "$tmp/config.yaml"
    out=$("$DVAULT" -c "$tmp/config.yaml" 2>&1 </dev/null >/dev/null); rc=$?
    want="$tmp/themes/$(cat "${f%.yaml}.err")"
    if [ $rc -ne 2 ] || [ "$out" != "$want" ]; then
        echo "FAIL $name: exit $rc"; echo "  got:      $out"; echo "  expected: $want"; fail=1
    fi
    n=$((n + 1))
done
# the shipped themes all start (no error line before the terminal check)
for th in "$SRC"/themes/*.yaml; do
    printf 'console: { theme: %s }\n' "$th" > "$tmp/ok.yaml"
    out=$("$DVAULT" -c "$tmp/ok.yaml" 2>&1 </dev/null >/dev/null); rc=$?
    [ $rc = 2 ] && [ "$out" = "dvault: the console needs a terminal (stdin is not one): use the commands (dvault help) instead" ] ||
        { echo "FAIL shipped theme $th: rc=$rc $out"; fail=1; }
done
[ $fail = 0 ] && echo "theme golden: $n error cases ok"
exit $fail

#!/bin/bash
# man_pages.sh - the man pages dvault(1) and dvload(1) say what the programs say and install:
# every command of `dvault --help` is in the SYNOPSIS of docs/man/dvault.1 exactly as the
# usage table has it (and dvload's usage in dvload.1), both render without a warning, and
# `make install DESTDIR=... PREFIX=/usr` puts them in share/man/man1. The checker itself
# (scripts/check-man.sh) is shown to catch a missing command, a stale one, a changed option,
# a configuration key left out or made up, an example wider than 80 columns, and a rendering
# warning.
set -euo pipefail
DVAULT=${DVAULT:?DVAULT not set}
DVLOAD=${DVLOAD:?DVLOAD not set}
SRC=${SRC:?SRC not set}
T=$(mktemp -d "${TMPROOT:-${TMPDIR:-/tmp}}/dvman.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }
CHECK="$SRC/scripts/check-man.sh"
MAN="$SRC/docs/man"
command -v groff >/dev/null || fail "groff is not installed (groff-base): the pages cannot be checked"

step "help --usage is the --help table, one synopsis a line"
"$DVAULT" --help >"$T/help"
"$DVAULT" help --usage >"$T/usage"
# the commands of --help: its indented lines, less the console line and -c
names=$(sed -n 's/^  \([a-z][a-z]*\) .*/\1/p' "$T/help")
[ "$(echo "$names" | wc -l)" -ge 16 ] || fail "--help lists too few commands: $names"
for n in $names; do
    grep -Eq "^dvault (\[-c FILE\] )?$n( |$)" "$T/usage" || fail "'$n' of --help is not in help --usage"
    # and its synopsis is the start of its --help line
    syn=$(grep -E "^dvault (\[-c FILE\] )?$n( |$)" "$T/usage" | sed -E 's/^dvault (\[-c FILE\] )?//')
    grep -qF -- "  $syn" "$T/help" || fail "help --usage says '$syn', --help does not"
done
[ "$(wc -l <"$T/usage")" = "$(($(echo "$names" | wc -l) + 1))" ] || fail "help --usage: $(cat "$T/usage")"
if "$DVAULT" help --bogus 2>"$T/err"; then fail "help --bogus exited 0"; fi
grep -q "unknown argument '--bogus'" "$T/err" || fail "help --bogus: $(cat "$T/err")"

step "the pages match the programs and render without warnings"
"$CHECK" "$DVAULT" "$DVLOAD" || fail "check-man.sh found differences (above)"
# rendered once (grep -q in a pipe would end the pipe early: pipefail)
for p in dvault dvload; do
    groff -man -Tutf8 -rLL=2000n "$MAN/$p.1" 2>/dev/null | col -bx |
        sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' >"$T/$p.synopsis"
done
for n in $names; do
    grep -Eq "^ +dvault (\[-c FILE\] )?$n( |$)" "$T/dvault.synopsis" ||
        fail "command '$n' is missing from the SYNOPSIS of dvault.1"
done
for n in init run bank verify; do
    grep -Eq "^ +dvload (\[-c FILE\] )?$n( |$)" "$T/dvload.synopsis" ||
        fail "command '$n' is missing from the SYNOPSIS of dvload.1"
done
# each page has the sections an operator looks for
for s in NAME SYNOPSIS DESCRIPTION 'EXIT STATUS' EXAMPLES 'SEE ALSO'; do
    for p in dvault dvload; do grep -q "^\.SH \"*$s\"*$" "$MAN/$p.1" || fail "$p.1 has no $s"; done
done
for s in CONSOLE CONFIGURATION FILES ENVIRONMENT; do
    grep -q "^\.SH $s$" "$MAN/dvault.1" || fail "dvault.1 has no $s"
done

step "the checker fails on a missing command, a stale one, a changed option, a key, a warning"
mutant() { # NAME PAGE EXPECTED-TEXT COMMAND...: the page through COMMAND (stdin to stdout)
    local name=$1 page=$2 want=$3
    shift 3
    rm -rf "$T/m" && cp -r "$MAN" "$T/m"
    "$@" <"$MAN/$page" >"$T/m/$page"
    cmp -s "$MAN/$page" "$T/m/$page" && fail "mutant $name changed nothing"
    if "$CHECK" "$DVAULT" "$DVLOAD" "$T/m" 2>"$T/merr"; then fail "check-man passed with $name"; fi
    grep -qF -- "$want" "$T/merr" || { cat "$T/merr"; fail "check-man on $name does not say '$want'"; }
    echo "   $name: caught"
}
# the jobs command's .SY block gone (the one whose lines include '.B jobs')
cut_jobs() {
    awk '/^\.SY dvault$/ { buf = $0; keep = 1; next }
         keep && !/^\.YS$/ { buf = buf "\n" $0; next }
         keep { if (buf !~ /\n\.B jobs\n/) print buf "\n" $0; keep = 0; next } { print }'
}
cut_jobs <"$MAN/dvault.1" >"$T/nojobs.1"
[ "$(grep -c '^\.SY' "$T/nojobs.1")" = "$(($(grep -c '^\.SY' "$MAN/dvault.1") - 1))" ] ||
    fail "could not cut jobs out of dvault.1"
mutant "no jobs" dvault.1 "-dvault [-c FILE] jobs [--json] [--limit N]" cut_jobs
mutant "a stale command" dvault.1 "+dvault frobnicate" \
    sed '/^\.SH DESCRIPTION/i .SY dvault\n.B frobnicate\n.YS'
mutant "prune without --dry-run" dvault.1 "-dvault [-c FILE] prune [--dry-run]" \
    sed '/^\.B prune$/{n;d}'
mutant "dvload bank without --rate" dvload.1 \
    "-dvload [-c FILE] bank --seconds S [--writers W] [--db REL] [--rate N]" \
    sed '/^\.B bank \\-\\-seconds$/,/^\.YS$/{/^\.RB \[ \\-\\-rate$/,/^\.IR N \]$/d}'
mutant "no backup.delta" dvault.1 "configuration key backup.delta is not in CONFIGURATION" \
    sed '/^\.BR backup\.delta /,/^applied at restore\.$/d'
mutant "a key dvault does not have" dvault.1 "CONFIGURATION describes backup.bogus_days" \
    sed '/^\.SH FILES/i .TP\n.BR backup.bogus_days " (3)"\nNo such key.'
mutant "an example too wide" dvault.1 "at 80 columns, lines too long" \
    sed 's|^dvault recover \\-\\-list missing.txt$|& # and a comment long enough to run past the edge|'
mutant "an undefined macro" dvload.1 "macro 'BOGUS' not defined" sed '$a .BOGUS text'

step "make install DESTDIR=... PREFIX=/usr puts them in share/man/man1"
make -s --no-print-directory -C "$SRC" install DESTDIR="$T/root" PREFIX=/usr >"$T/install.log" 2>&1 ||
    { cat "$T/install.log"; fail "make install failed"; }
for p in dvault dvload; do
    f="$T/root/usr/share/man/man1/$p.1"
    [ -f "$f" ] || fail "$f not installed"
    cmp -s "$f" "$MAN/$p.1" || fail "$f differs from docs/man/$p.1"
    [ "$(stat -c %a "$f")" = 644 ] || fail "$f mode $(stat -c %a "$f")"
    [ -x "$T/root/usr/bin/$p" ] || fail "$p not installed in usr/bin"
    if command -v man >/dev/null; then
        [ "$(man -M "$T/root/usr/share/man" -w "$p")" = "$f" ] || fail "man -w $p does not find $f"
        MANWIDTH=80 man -M "$T/root/usr/share/man" "$p" 2>&1 | col -bx >"$T/$p.page"
        grep -q "^NAME" "$T/$p.page" || fail "man $p from the installed tree: $(head -3 "$T/$p.page")"
    fi
done
echo "ok"

#!/bin/sh
# check-size.sh [FILE...] - the size rules of docs/architecture.md: no production source file
# (backend/ catalog/ ui/ tools/) over 1,200 lines, no function over 120 lines (from the line
# of its opening brace at column 0 to its closing brace at column 0; clang-format puts both
# there). Prints each offender; exit 1 if any. Quiet when all is well.
set -u
MAXF=${MAXF:-1200} MAXFN=${MAXFN:-120}
[ $# -gt 0 ] || set -- backend/*.c backend/*.h catalog/*.c catalog/*.h ui/*.c ui/*.h \
    $(ls ui/screens/*.c ui/screens/*.h 2>/dev/null) tools/*.c
awk -v maxf="$MAXF" -v maxfn="$MAXFN" '
FNR == 1 { if (prev != "" && pn > maxf) { printf "%s: %d lines (max %d)\n", prev, pn, maxf; bad = 1 }
           prev = FILENAME; pn = 0; start = 0 }
{ pn = FNR }
/^\{/ { start = FNR; name = last }
/^\}/ && start { n = FNR - start + 1
                 if (n > maxfn) { printf "%s:%d: %s: %d lines (max %d)\n", FILENAME, start, name, n, maxfn; bad = 1 }
                 start = 0 }
!/^[ \t{}]/ && !/^$/ { last = $0 }
END { if (prev != "" && pn > maxf) { printf "%s: %d lines (max %d)\n", prev, pn, maxf; bad = 1 }
      exit bad }
' "$@"

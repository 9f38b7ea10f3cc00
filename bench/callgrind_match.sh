#!/bin/sh
# Instructions per article at N queries (default 1,000); see callgrind_match.py. Needs valgrind.
set -e
N=${1:-1000}
here=$(dirname "$0")
count() {
    PYTHONHASHSEED=0 valgrind --tool=callgrind --collect-atstart=no \
        --toggle-collect=builtin_eval --callgrind-out-file=/dev/null \
        python "$here/callgrind_match.py" "$1" "$N" 2>&1 | sed -n 's/.*Collected : \([0-9,]*\).*/\1/p' | tr -d ,
}
setup=$(count setup)
run=$(count run)
echo "instructions per article at $N queries: $(( (run - setup) / 300 ))"

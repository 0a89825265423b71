#!/usr/bin/env bash
# Runs tap and ends with the line CI reads: 'N passed, N failed, N skipped'. Exits with tap's code.
set -uo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
node_modules/.bin/tap -R tap "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
sum=$(grep -E '^# \{ total: ' "$log" | tail -1)
num() { echo "$sum" | grep -oE "$1: [0-9]+" | grep -oE '[0-9]+' || echo 0; }
pass=$(num pass); fail=$(num fail); skip=$(( $(num skip) + $(num todo) ))
if [ -z "$sum" ]; then fail=1; echo "tap printed no summary"; fi
if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then echo "tap exited $rc with no failed assertion"; fail=1; fi
rm -f "$log"
echo "$pass passed, $fail failed, $skip skipped"
exit "$rc"

#!/usr/bin/env bash
# The test command: installs what is missing, builds, runs every test (unit and real-CRIU
# end-to-end) and prints 'N passed, N failed'. Extra arguments go to tap (e.g. a test file).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bash scripts/tap-ci.sh "$@"

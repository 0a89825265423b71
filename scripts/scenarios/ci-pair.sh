#!/usr/bin/env bash
# The CI pair, one command: ci-checkpoint.sh as "job 1" on the source host, then ci-restore.sh
# as "job 2" on the destination host, sharing nothing but the bucket and the prefix (the
# workspace of job 1 is gone when job 2 starts). The store and the hosts come from the
# environment or are started for this run (scripts/lib/object-store.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib/workload.sh"
source "$REPO/scripts/lib/object-store.sh"
scenario_begin ci-pair
store_up
scratch_url ci
url=$SCRATCH_URL

say "job 1 (source host): bash scripts/scenarios/ci-checkpoint.sh $url"
"${SRC[@]}" bash "$here/ci-checkpoint.sh" "$url" || fail "job 1 failed"
say "job 2 (destination host): bash scripts/scenarios/ci-restore.sh $url"
"${DST[@]}" bash "$here/ci-restore.sh" "$url" || fail "job 2 failed"
pass "checkpointed by one job, restored by another from $url/ with memory intact"

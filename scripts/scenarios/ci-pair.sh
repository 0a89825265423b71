#!/usr/bin/env bash
# The CI pair, one command: ci-checkpoint.sh as "job 1" on the source host, then ci-restore.sh
# as "job 2" on the destination host, sharing nothing but the bucket and the prefix (the
# workspace of job 1 is gone when job 2 starts). The store and the hosts come from the
# environment or are started for this run (scripts/lib/object-store.sh). Root.
source "$(dirname "$0")/lib.sh"
source "$REPO/scripts/lib/object-store.sh"
store_up
scratch_url ci
here=$REPO/scripts/scenarios

say "job 1 (source host): bash scripts/scenarios/ci-checkpoint.sh $SCRATCH_URL"
"${SRC[@]}" bash "$here/ci-checkpoint.sh" "$SCRATCH_URL" || fail "job 1 failed"
say "job 2 (destination host): bash scripts/scenarios/ci-restore.sh $SCRATCH_URL"
"${DST[@]}" bash "$here/ci-restore.sh" "$SCRATCH_URL" || fail "job 2 failed"
echo "checkpointed by one job, restored by another from $SCRATCH_URL/ with every page intact"
pass

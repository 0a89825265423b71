#!/usr/bin/env bash
# Uploads that fail make the checkpoint fail, and the process keeps running:
#
#   1. the bucket does not exist: every `aws s3 cp -` fails;
#   2. the upload goes through, then the filter exits 1 (as a failed final multipart commit
#      or a full store would look to img-split: every byte read, exit status non-zero).
#
# In both, `criu dump` must fail (img-split, its post-dump action script, sees the filter's
# status before CRIU kills the process), and the process must still run with every page
# intact. With `3> >(aws s3 cp - ...)` instead of --filter, nobody would see that status.
set -euo pipefail
source "$(dirname "$0")/../lib/workload.sh"
source "$REPO/scripts/lib/object-store.sh"
scenario_begin upload-fails
SHARDS=${SHARDS:-2} MIB=${MIB:-64}
store_up
scratch_url upload-fails
url=$SCRATCH_URL

say "a workload with $MIB MiB of verifiable memory on the source host"
workload_start "$WORK" "$MIB" "${SRC[@]}"

# expect_dump_fails WHAT: the dump must fail and leave the workload running and intact.
expect_dump_fails() {
  if checkpoint_to_s3 "$SHARDS" "$1"; then fail "$2: criu dump succeeded"; fi
  kill -0 "$WL_PID" 2>/dev/null || fail "$2: the dump failed but the process is gone"
  workload_verify "$WL_PID" "$WL_LOG" || fail "$2: the process is not healthy after the failed dump"
  rm -rf "$WORK/dump"
}

say "1. checkpoint into a bucket that does not exist"
expect_dump_fails "s3://criu-pipes-no-such-bucket-$RANDOM" "a missing bucket"

say "2. every byte uploaded, then the filter exits 1"
upload_filter() { echo "$S3_CP - $1/\$SHARD && exit 1"; }
expect_dump_fails "$url" "a filter failing at the end"

pass "both failed uploads failed criu dump; pid $WL_PID still runs with every page intact"

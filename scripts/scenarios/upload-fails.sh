#!/usr/bin/env bash
# Uploads that fail make the checkpoint fail, and the process keeps running: the shards go to
# a bucket that does not exist, so every `aws s3 cp -` fails. `criu dump` must fail (img-split,
# its post-dump action script, sees the filters' status before CRIU kills the process), and the
# process must still run with every page intact. (failing-uploader.sh shows a filter that reads
# everything and then fails.) The store and hosts as in object-store.sh. Root.
source "$(dirname "$0")/lib.sh"
source "$REPO/scripts/lib/object-store.sh"
SHARDS=${SHARDS:-2}
store_up

say "a workload with $MIB MiB of verifiable memory on the source host"
start_workload "${SRC[@]}"

missing=s3://criu-pipes-no-such-bucket-$RANDOM
say "checkpoint into $missing, a bucket that does not exist"
if checkpoint_to_s3 "$SHARDS" "$missing"; then fail "criu dump succeeded although every upload failed"; fi
echo "criu dump failed, as it must"

check_still_running
pass

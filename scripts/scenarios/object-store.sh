#!/usr/bin/env bash
# Checkpoint to an S3 object store with N parallel uploaders, restore on another host with N
# parallel downloaders:
#
#   source host:  criu dump --stream -> img-split -n N --filter 'aws s3 cp - s3://B/P/$SHARD'
#   dest host:    img-buffer -n N --filter 'aws s3 cp s3://B/P/$SHARD -' -> criu restore --stream
#
# and the restored process proves every page of its memory intact, twice, while it runs on.
# Settings: SHARDS (default 4), MIB (workload size, default 64), S3_CLIENT (aws, the default, or
# rclone), CRIU_PIPES_COMPRESS (see scripts/lib/object-store.sh). The store and the two hosts
# come from the environment (CRIU_PIPES_S3_*, TWO_HOSTS_*) or are started for this run. Root.
source "$(dirname "$0")/lib.sh"
source "$REPO/scripts/lib/object-store.sh"
SHARDS=${SHARDS:-4}
store_up
scratch_url object-store

say "a workload with $MIB MiB of verifiable memory on the source host"
start_workload "${SRC[@]}"

say "checkpoint: $SHARDS shards, each uploaded by its own $S3_CLIENT, to $SCRATCH_URL/"
checkpoint_to_s3 "$SHARDS" "$SCRATCH_URL" || fail "the checkpoint failed"
workload_gone || fail "criu dump succeeded but the process still runs"

say "restore on the destination host: $SHARDS downloaders -> img-buffer -> criu restore"
restore_from_s3 "$SHARDS" "$SCRATCH_URL" || fail "the restore failed"
echo "checkpointed through $SHARDS parallel uploads, restored from $SHARDS parallel downloads, every page intact"
pass

#!/usr/bin/env bash
# Checkpoint to an S3 object store with N parallel uploaders, restore on another host with N
# parallel downloaders:
#
#   source host:  criu dump --stream -> img-split -n N --filter 'aws s3 cp - s3://B/P/$SHARD'
#   dest host:    img-buffer -n N --filter 'aws s3 cp s3://B/P/$SHARD -' -> criu restore --stream
#
# and the restored process proves every page of its memory intact, twice, while it runs on.
# Settings: SHARDS (default 4), MIB (workload size, default 256), S3_CLIENT (aws, the default,
# or rclone), CRIU_PIPES_COMPRESS (see scripts/lib/object-store.sh). The store and the two hosts come from the environment
# (CRIU_PIPES_S3_*, TWO_HOSTS_*) or are started for this run: see scripts/lib/object-store.sh.
set -euo pipefail
source "$(dirname "$0")/../lib/workload.sh"
source "$REPO/scripts/lib/object-store.sh"
scenario_begin object-store
SHARDS=${SHARDS:-4} MIB=${MIB:-256}
store_up
scratch_url object-store
url=$SCRATCH_URL

say "a workload with $MIB MiB of verifiable memory on the source host"
workload_start "$WORK" "$MIB" "${SRC[@]}"

say "checkpoint: $SHARDS shards, each uploaded by its own aws s3 cp, to $url/"
checkpoint_to_s3 "$SHARDS" "$url" || fail "the checkpoint failed (the process is still running: $(kill -0 "$WL_PID" 2>/dev/null && echo yes || echo no))"
kill -0 "$WL_PID" 2>/dev/null && fail "criu dump succeeded but pid $WL_PID still runs"

say "restore on the destination host: $SHARDS downloaders -> img-buffer -> criu restore"
restore_from_s3 "$SHARDS" "$url" || fail "the restore failed"
pass "pid $WL_PID checkpointed through $SHARDS parallel uploads and restored from $SHARDS parallel downloads with every page intact"

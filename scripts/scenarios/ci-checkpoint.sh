#!/usr/bin/env bash
# CI job 1 of 2: warm a process up, checkpoint it into the object store, end.
#
#   ci-checkpoint.sh s3://BUCKET/PREFIX
#
# The process (memhog, MIB MiB) runs in the job's workspace; once warm (every page verified) it
# is checkpointed by `criu dump --stream` through img-split with SHARDS (default 2) parallel
# uploaders (--filter 'aws s3 cp - "$S3_URL/$SHARD"'). Then the program and its open log, which
# CRIU restores by path, go to PREFIX/workspace.tar (names relative to the workspace), and last PREFIX/manifest (the
# shard count, the workspace path, the pid): the manifest is the commit record, a checkpoint
# without one is not restorable. The workspace is removed at the end, as a CI runner's would be.
# Job 2 is ci-restore.sh, which needs only the same URL. Needs CRIU_PIPES_S3_ENDPOINT,
# CRIU_PIPES_S3_BUCKET and the AWS_* keys (`scripts/lib/ceph-rgw.sh env` prints them). Root.
source "$(dirname "$0")/lib.sh"
source "$REPO/scripts/lib/object-store.sh"
ci_job "${1:-}"
SHARDS=${SHARDS:-2}

say "job workspace $work: a workload with $MIB MiB of memory, warmed up"
start_workload

say "checkpoint to $JOB_URL/ with $SHARDS parallel uploaders"
checkpoint_to_s3 "$SHARDS" "$JOB_URL" || { verify_workload "$WL_PID" "the process after the failed dump"; fail "the checkpoint failed; the process keeps running"; }

say "the workspace and the manifest"
tar -C "$work" -cf - memhog app.log | $S3_CP - "$JOB_URL/workspace.tar" || fail "could not upload the workspace"
printf 'shards=%s\nworkspace=%s\npid=%s\n' "$SHARDS" "$work" "$WL_PID" | $S3_CP - "$JOB_URL/manifest" ||
  fail "could not upload the manifest"
$AWS s3 ls "$JOB_URL/"
echo "pid $WL_PID checkpointed to $JOB_URL/"
pass

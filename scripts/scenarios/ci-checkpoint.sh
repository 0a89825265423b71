#!/usr/bin/env bash
# CI job 1 of 2: warm a process up, checkpoint it into the object store, end.
#
#   ci-checkpoint.sh s3://BUCKET/PREFIX
#
# The process (memhog, MIB MiB, default 256) runs in a job workspace; once warm (every page
# verified) it is checkpointed by `criu dump --stream` through img-split with SHARDS (default 2)
# parallel uploaders (--filter 'aws s3 cp - s3://BUCKET/PREFIX/$SHARD'). Then the workspace
# (the program and its open log, which CRIU restores by path) goes to PREFIX/workspace.tar, and
# last PREFIX/manifest: the shard count and the workspace path. The manifest is the commit
# record: a checkpoint without one is not restorable. The workspace is removed at the end, as a
# CI runner's would be. Job 2 is ci-restore.sh, which needs only the same URL.
# Needs CRIU_PIPES_S3_ENDPOINT and the AWS_* keys (scripts/lib/ceph-rgw.sh env prints them).
set -euo pipefail
source "$(dirname "$0")/../lib/workload.sh"
source "$REPO/scripts/lib/object-store.sh"
ci_job ci-checkpoint "${1:-}"
url=$JOB_URL
SHARDS=${SHARDS:-2} MIB=${MIB:-256}
ws=$(mktemp -d "${TMPDIR:-/tmp}/criu-pipes-ci-job.XXXXXX")
at_exit "rm -rf '$ws'"

say "job workspace $ws: a workload with $MIB MiB of memory, warmed up"
workload_start "$ws" "$MIB"

say "checkpoint to $url/ with $SHARDS parallel uploaders"
checkpoint_to_s3 "$SHARDS" "$url" || fail "the checkpoint failed; the process keeps running: $(workload_verify "$WL_PID" "$WL_LOG" || echo 'NOT HEALTHY')"

say "the workspace and the manifest"
tar -C / -cf - "${ws#/}" | $S3_CP - "$url/workspace.tar" || fail "could not upload the workspace"
printf 'shards=%s\nworkspace=%s\npid=%s\n' "$SHARDS" "$ws" "$WL_PID" | $S3_CP - "$url/manifest" ||
  fail "could not upload the manifest"
$AWS s3 ls "$url/"
pass "pid $WL_PID checkpointed to $url/ ($SHARDS shards, workspace, manifest)"

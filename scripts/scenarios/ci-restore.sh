#!/usr/bin/env bash
# CI job 2 of 2: restore the process that ci-checkpoint.sh put into the object store, knowing
# only where it is, and prove that its memory is intact.
#
#   ci-restore.sh s3://BUCKET/PREFIX
#
# Reads PREFIX/manifest (no manifest: no complete checkpoint), unpacks PREFIX/workspace.tar into
# a new private directory at the workspace's path (its two files only: unpack_workspace), streams
# the shards with one downloader each (img-buffer -n N --filter 'aws s3 cp "$S3_URL/$SHARD" -')
# into `criu restore --stream`, and has the restored process verify every page, twice, while it
# runs on. Then it stops the process and removes the workspace.
# Needs CRIU_PIPES_S3_ENDPOINT, CRIU_PIPES_S3_BUCKET and the AWS_* keys. Root.
source "$(dirname "$0")/lib.sh"
source "$REPO/scripts/lib/object-store.sh"
ci_job "${1:-}"

say "the checkpoint at $JOB_URL/"
manifest=$($S3_CP "$JOB_URL/manifest" -) || fail "no manifest at $JOB_URL/manifest: no complete checkpoint there"
echo "$manifest"
SHARDS=$(sed -n 's/^shards=\([0-9]\+\)$/\1/p' <<<"$manifest")
ws=$(sed -n 's/^workspace=//p' <<<"$manifest")
WL_PID=$(sed -n 's/^pid=\([0-9]\+\)$/\1/p' <<<"$manifest")
[ -n "$SHARDS" ] && [[ $ws =~ $CI_WORKSPACE_RE ]] && [ -n "$WL_PID" ] || fail "$JOB_URL/manifest is not one ci-checkpoint.sh writes"
# mkdir, not a test then mkdir: it fails if anything is at the path, also made a moment ago.
mkdir -m 700 "$ws" 2>/dev/null || fail "the workspace $ws already exists here: not unpacking over it"
at_exit "rm -rf '$ws'"
$S3_CP "$JOB_URL/workspace.tar" "$work/workspace.tar" || fail "could not download $JOB_URL/workspace.tar"
unpack_workspace "$work/workspace.tar" "$ws" || fail "could not unpack $JOB_URL/workspace.tar"
WL_LOG=$ws/app.log WL_START=""

say "restore with $SHARDS parallel downloaders"
restore_from_s3 "$SHARDS" "$JOB_URL" || fail "the restore failed"
echo "restored pid $WL_PID from $JOB_URL/ ($SHARDS shards): every page intact"
pass

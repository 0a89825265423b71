#!/usr/bin/env bash
# CI job 2 of 2: restore the process that ci-checkpoint.sh put into the object store, knowing
# only where it is, and prove that its memory is intact.
#
#   ci-restore.sh s3://BUCKET/PREFIX
#
# Reads PREFIX/manifest (no manifest: no complete checkpoint), unpacks PREFIX/workspace.tar,
# streams the shards with one downloader each (img-buffer -n N --filter 'aws s3 cp
# s3://BUCKET/PREFIX/$SHARD -') into `criu restore --stream`, and has the restored process
# verify every page, twice, while it runs on. Then it stops the process and removes the
# workspace. Needs CRIU_PIPES_S3_ENDPOINT and the AWS_* keys.
set -euo pipefail
source "$(dirname "$0")/../lib/workload.sh"
source "$REPO/scripts/lib/object-store.sh"
ci_job ci-restore "${1:-}"
url=$JOB_URL

say "the checkpoint at $url/"
manifest=$($S3_CP "$url/manifest" -) || fail "no manifest at $url/manifest: no complete checkpoint there"
echo "$manifest"
SHARDS=$(sed -n 's/^shards=\([0-9]\+\)$/\1/p' <<<"$manifest")
ws=$(sed -n 's/^workspace=\(\/[A-Za-z0-9._/-]\+\)$/\1/p' <<<"$manifest")
[ -n "$SHARDS" ] && [ -n "$ws" ] || fail "the manifest at $url/manifest is not one ci-checkpoint.sh writes"
[ ! -e "$ws" ] || fail "the workspace $ws already exists here: not unpacking over it"
$S3_CP "$url/workspace.tar" - | tar -C / -xf - || fail "could not unpack $url/workspace.tar"
at_exit "rm -rf '$ws'"
WL_LOG=$ws/app.log

say "restore with $SHARDS parallel downloaders"
restore_from_s3 "$SHARDS" "$url" || fail "the restore failed"
pass "restored pid $RESTORED_PID from $url/ ($SHARDS shards): every page intact"

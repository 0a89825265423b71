# Sourced by the object-store scenarios, after scripts/scenarios/lib.sh: the S3 store and the two
# "hosts" they use, and checkpoint/restore through N parallel S3 clients as img-split/img-buffer
# shard filters.
#
#   store_up                 # CRIU_PIPES_S3_* and TWO_HOSTS_* from the environment, or starts
#                            # what is missing for this run (stopped at exit); sets SRC/DST
#   scratch_url NAME         # SCRATCH_URL=s3://BUCKET/NAME-<run id>, its objects removed at exit
#   checkpoint_to_s3 N URL   # criu dump of $WL_PID on the source host, shard i uploaded to URL/i
#                            # by its own client; returns criu dump's status
#   restore_from_s3 N URL    # on the destination host: N downloaders into img-buffer, then
#                            # criu restore; the restored $WL_PID verifies every page, twice
#
# The hosts: with TWO_HOSTS_* (scripts/lib/two-hosts.sh) the checkpoint runs in the source
# namespace, the restore in the destination one, and the store must be reachable from both (the
# tests and store_up run Ceph in the source namespace, its S3 endpoint on the source's veth
# address). With an endpoint but no TWO_HOSTS_*, both sides run here, on one host (your own S3,
# say). With neither, store_up makes both: two hosts, and Ceph RGW on the source.
source "$REPO/scripts/lib/two-hosts.sh"
# A full Ceph store makes uploads hang instead of failing: every client gets a deadline
# (seconds; raise it for checkpoints that take longer to move), and a stalled connection is
# dropped after a minute (measured on a full 1 GiB store: with a 30 s read timeout aws gave up,
# exit 1, after 200 s of retries, so the dump failed and the process lived).
S3_TIMEOUT=${S3_TIMEOUT:-600}
# Compression (issue 7, stream compression): set CRIU_PIPES_COMPRESS=auto to run img-split
# with `--compress auto` once it has that option; readers detect it from the stream.
CRIU_PIPES_COMPRESS=${CRIU_PIPES_COMPRESS:-}
# Debian's awscli v2, by path: `aws` on PATH may be another one. 2.9 ignores AWS_ENDPOINT_URL.
AWS_BIN=/usr/bin/aws
# The shard filters' client: aws (default) or rclone (`rclone rcat` / `rclone cat`).
S3_CLIENT=${S3_CLIENT:-aws}
SRC=() DST=()

# store_down: what store_up started, the store before the namespace it runs in.
store_down() {
  [ -z "${OWN_RGW_DIR:-}" ] || bash "$REPO/scripts/lib/ceph-rgw.sh" stop "$OWN_RGW_DIR" >&2 || true
  [ -z "${OWN_TWO_HOSTS:-}" ] || two_hosts_down
}

store_up() {
  at_exit store_down
  if [ -z "${CRIU_PIPES_S3_ENDPOINT:-}" ] || [ -n "${TWO_HOSTS_DIR:-}" ]; then
    if [ -z "${TWO_HOSTS_DIR:-}" ]; then
      say "two hosts: network namespaces src and dst joined by a veth pair"
      OWN_TWO_HOSTS=1
      two_hosts_up >&2 || fail "could not bring the two hosts up"
    fi
    # Prefixes (arrays, not functions, so that `"${SRC[@]}" cmd &` is cmd's own pid).
    SRC=(nsenter --net="/run/netns/$TWO_HOSTS_SRC_NS")
    DST=(nsenter --net="/run/netns/$TWO_HOSTS_DST_NS")
    echo "source $TWO_HOSTS_SRC_NS ($TWO_HOSTS_SRC_ADDR), destination $TWO_HOSTS_DST_NS ($TWO_HOSTS_DST_ADDR)"
  else
    echo "one host: checkpoint and restore both run here"
  fi
  if [ -z "${CRIU_PIPES_S3_ENDPOINT:-}" ]; then
    say "starting a one-node Ceph RADOS Gateway on the source host (about 20 s)"
    local env
    env=$(CEPH_RGW_NETNS=$TWO_HOSTS_SRC_NS CEPH_RGW_ADDR=$TWO_HOSTS_SRC_ADDR \
      bash "$REPO/scripts/lib/ceph-rgw.sh" start) || fail "Ceph RGW did not start"
    eval "$env"
    OWN_RGW_DIR=$CRIU_PIPES_RGW_DIR
  fi
  [ -n "${CRIU_PIPES_S3_BUCKET:-}" ] || fail "CRIU_PIPES_S3_ENDPOINT is set but CRIU_PIPES_S3_BUCKET is not"
  [ -x "$AWS_BIN" ] || fail "$AWS_BIN is missing: run scripts/setup.sh"
  echo "S3 endpoint $CRIU_PIPES_S3_ENDPOINT, bucket $CRIU_PIPES_S3_BUCKET"
  AWS="timeout $S3_TIMEOUT $AWS_BIN --endpoint-url $CRIU_PIPES_S3_ENDPOINT --cli-connect-timeout 10 --cli-read-timeout 60"
  S3_CP="$AWS s3 cp --only-show-errors"
  # rclone takes its remote from the environment; it fails with LoadCustomCABundleError
  # whenever AWS_CA_BUNDLE is set (some machines set it), so its filters run without it.
  export RCLONE_CONFIG_CRIUPIPES_TYPE=s3 RCLONE_CONFIG_CRIUPIPES_PROVIDER=Ceph \
    RCLONE_CONFIG_CRIUPIPES_ENDPOINT=$CRIU_PIPES_S3_ENDPOINT \
    RCLONE_CONFIG_CRIUPIPES_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID \
    RCLONE_CONFIG_CRIUPIPES_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
  RCLONE="timeout $S3_TIMEOUT env -u AWS_CA_BUNDLE rclone -q --contimeout 10s --timeout 60s"
  case $S3_CLIENT in
    aws) ;;
    rclone) [ -x /usr/bin/rclone ] || fail "/usr/bin/rclone is missing: run scripts/setup.sh" ;;
    *) fail "S3_CLIENT must be aws or rclone, not '$S3_CLIENT'" ;;
  esac
}

scratch_url() {
  SCRATCH_URL=s3://$CRIU_PIPES_S3_BUCKET/$1-$(basename "$work")
  at_exit "${SRC[*]} $AWS s3 rm --recursive $SCRATCH_URL/ >/dev/null"
}

# ci_job URL: a CI job's start: one host (whichever this runs on), the store from the
# environment (a CI job has its store; ci-pair.sh starts one); sets JOB_URL (no trailing /).
ci_job() {
  case ${1:-} in s3://?*/?*) ;; *) fail "usage: $SCENARIO.sh s3://BUCKET/PREFIX" ;; esac
  JOB_URL=${1%/}
  [ -n "${CRIU_PIPES_S3_ENDPOINT:-}" ] ||
    fail "no store: set CRIU_PIPES_S3_ENDPOINT, CRIU_PIPES_S3_BUCKET and the AWS_* keys (or run ci-pair.sh)"
  TWO_HOSTS_DIR="" store_up >/dev/null
}

# The workspace ci-checkpoint.sh ran in (lib.sh's work dir there), recreated by ci-restore.sh at
# the same path: CRIU restores the program and its open log by path. Nothing else is accepted.
CI_WORKSPACE_RE='^/tmp/criu-pipes-ci-checkpoint\.[A-Za-z0-9]{6}$'

# unpack_workspace TAR DIR: ci-checkpoint.sh's workspace.tar (an object from the bucket: whoever
# may write the prefix made it) into DIR, a directory of ours. Only the two regular files memhog
# and app.log, relative names, are taken; any other member (an absolute path, `..`, a link, a
# device, a second copy) refuses the whole archive before anything is written. Extracted without
# the archive's owner, and without setuid/setgid/sticky bits or group/other write (the archive's
# other mode bits are kept: CRIU checks a restored file's mode).
unpack_workspace() {
  local tar=$1 dir=$2 names types
  names=$(tar -tf "$tar") || { echo "$tar: not a tar archive" >&2; return 1; }
  types=$(tar -tvf "$tar" | cut -c1 | sort -u) || return 1
  if [ "$names" != $'memhog\napp.log' ] || [ "$types" != - ]; then
    echo "$tar: not the workspace ci-checkpoint.sh makes (exactly the regular files memhog and app.log)" >&2
    return 1
  fi
  tar -C "$dir" -xf "$tar" --no-same-owner --no-same-permissions memhog app.log || return 1
  chmod a-st,go-w "$dir/memhog" "$dir/app.log"
}

# The filters: `sh -c` commands that img-split/img-buffer run once per shard with $SHARD set.
# The URL (s3://BUCKET/PREFIX; rclone names it criupipes:BUCKET/PREFIX) is never pasted into
# them: it comes from the job's command line, and `sh -c` would run whatever `$(...)` it holds.
# It reaches them as S3_URL in img-split's/img-buffer's environment (S3_URL=URL img-split ...).
upload_filter() {
  if [ "$S3_CLIENT" = rclone ]; then echo "$RCLONE rcat \"criupipes:\${S3_URL#s3://}/\$SHARD\""; else echo "$S3_CP - \"\$S3_URL/\$SHARD\""; fi
}
download_filter() {
  if [ "$S3_CLIENT" = rclone ]; then echo "$RCLONE cat \"criupipes:\${S3_URL#s3://}/\$SHARD\""; else echo "$S3_CP \"\$S3_URL/\$SHARD\" -"; fi
}

checkpoint_to_s3() {
  local n=$1 url=$2 dir=$work/dump rc=0 split_rc=0 split t0=$SECONDS
  rm -rf "$dir" && mkdir -p "$dir"
  local -a extra=()
  [ -z "$CRIU_PIPES_COMPRESS" ] || extra=(--compress "$CRIU_PIPES_COMPRESS")
  echo "S3_URL=$url img-split -D $dir -n $n ${extra[*]:+${extra[*]} }--filter '$(upload_filter)'"
  S3_URL=$url "${SRC[@]}" img-split -D "$dir" -n "$n" "${extra[@]}" --filter "$(upload_filter)" &
  split=$!
  scenario_pids+=("$split")
  wait_for "[ -S $dir/streamer-capture.sock ] || ! kill -0 $split 2>/dev/null" "img-split's socket"
  kill -0 "$split" 2>/dev/null || { wait "$split" || true; echo "img-split exited before CRIU connected" >&2; return 1; }
  echo "criu dump -t $WL_PID -D $dir --stream --action-script \$(command -v img-split)"
  "${SRC[@]}" criu dump -t "$WL_PID" -D "$dir" --stream --action-script "$(command -v img-split)" -o dump.log || rc=$?
  wait "$split" || split_rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "criu dump failed (exit $rc); its log ends:" >&2
    tail -3 "$dir/dump.log" >&2 || true
    return "$rc"
  fi
  # The post-dump hook should have failed the dump instead: a bug, say so loudly.
  [ "$split_rc" -eq 0 ] || { echo "img-split failed (exit $split_rc) after criu dump succeeded: the checkpoint is NOT complete" >&2; return 1; }
  echo "checkpoint done in $((SECONDS - t0)) s: $("${SRC[@]}" $AWS s3 ls "$url/" | awk '{n++; s+=$3} END {printf "%d objects, %.1f MiB", n, s/1048576}')"
}

restore_from_s3() {
  local n=$1 url=$2 dir=$work/serve buffer criu_pid rc=0
  mkdir -p "$dir"
  echo "S3_URL=$url img-buffer -D $dir -n $n --filter '$(download_filter)'${DST[*]:+   (on the destination)}"
  S3_URL=$url "${DST[@]}" img-buffer -D "$dir" -n "$n" --filter "$(download_filter)" &
  buffer=$!
  scenario_pids+=("$buffer")
  wait_for "[ -S $dir/streamer-serve.sock ] || ! kill -0 $buffer 2>/dev/null" "img-buffer's socket"
  if ! [ -S "$dir/streamer-serve.sock" ]; then
    wait "$buffer" || rc=$?
    echo "img-buffer refused the image (exit $rc): nothing restored" >&2
    return 1
  fi
  echo "criu restore -D $dir --stream${DST[*]:+   (on the destination)}"
  # No -d: criu stays the restored process' parent and reaps it.
  "${DST[@]}" criu restore -D "$dir" --stream -o restore.log &
  criu_pid=$!
  scenario_pids+=("$criu_pid")
  # The restored process is criu's child named memhog: a pid number alone (from a manifest another
  # job wrote) may be anyone's, and is signalled below only once it is proven ours; criu, its
  # parent, does not reap it before we kill it, so the number cannot pass to another meanwhile.
  wait_for "[ \"\$(parent_of $WL_PID)\" = $criu_pid ] && [ \"\$(cat /proc/$WL_PID/comm 2>/dev/null)\" = memhog ] || ! kill -0 $criu_pid 2>/dev/null" "the restored process"
  kill -0 "$criu_pid" 2>/dev/null || { echo "criu restore failed; its log ends:" >&2; tail -3 "$dir/restore.log" >&2; return 1; }
  echo "restored: pid $WL_PID runs again"
  if [ ${#DST[@]} -gt 0 ]; then
    [ "$(readlink "/proc/$WL_PID/ns/net")" = "$("${DST[@]}" readlink /proc/self/ns/net)" ] ||
      { echo "the restored process is not on the destination host" >&2; return 1; }
    echo "it runs on the destination host ($(readlink "/proc/$WL_PID/ns/net"))"
  fi
  check_restored "$WL_PID"
  # Stopped here, while criu (its parent) still reaps it: nothing is left for pid 1.
  kill -9 "$WL_PID" 2>/dev/null || true
  wait "$criu_pid" 2>/dev/null || true
  wait "$buffer" || { echo "img-buffer failed after the restore" >&2; return 1; }
}

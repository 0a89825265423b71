#!/usr/bin/env bash
# An uploader that fails at the end: img-split -n 2 --filter with a filter that reads its whole
# shard and then exits 1 (as an upload whose final commit fails would). `criu dump` must fail,
# img-split must say which shard's filter failed and how, and the process must still be running
# with every page intact. Needs root.
source "$(dirname "$0")/lib.sh"
say "starting a workload with $MIB MiB of patterned memory"
start_workload

filter='cat > '"$work"'/upload$SHARD; [ "$SHARD" = 0 ]'
say "capture: img-split -n 2 --filter '$filter'   (shard 1's filter exits 1 after reading everything)"
img-split -D "$work/ck" -n 2 --filter "$filter" 2> "$work/split.err" & split=$!
scenario_pids+=("$split")
wait_for "[ -S $work/ck/streamer-capture.sock ]" "img-split's socket"
say "criu dump -t $WL_PID -D $work/ck --stream --action-script \$(command -v img-split)"
if criu dump -t "$WL_PID" -D "$work/ck" --stream --action-script "$(command -v img-split)" -o dump.log; then
  fail "criu dump succeeded although shard 1's upload failed"
fi
echo "criu dump failed, as it must: $(grep -m1 'action scripts failed\|Post dump\|Dumping FAILED' "$work/ck/dump.log" || true)"
rc=0; wait "$split" || rc=$?
cat "$work/split.err"
[ "$rc" -ne 0 ] || fail "img-split exited 0"
grep -q "^img-split: shard 1 of 2: filter .* exited with status 1$" "$work/split.err" ||
  fail "img-split did not name shard 1's filter and its status"
echo "shard 1's filter read all of it: $(stat -c %s "$work/upload1") bytes"

check_still_running
pass

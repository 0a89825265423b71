#!/usr/bin/env bash
# The main job, end to end on this machine: a process with 256 MiB of verifiable memory is
# checkpointed with `criu dump --stream` through img-split into 2 shards, the shards are read
# back by img-buffer, `criu restore --stream` brings the process back, and it proves that it
# continues with every page intact. Needs root (CRIU). Installs what it needs first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
MIB=${MIB:-256}
CRIU=${CRIU:-$PWD/.criu/bin/criu}
bin() { echo "node $PWD/packages/$1/bin/$1.js"; }
work=$(mktemp -d /tmp/criu-pipes-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
wait_for() { for _ in $(seq 500); do eval "$1" && return 0; sleep 0.02; done; echo "timed out: $1" >&2; return 1; }

cc -O2 -o "$work/memhog" test/fixtures/memhog.c
mkdir -p "$work/dump" "$work/serve"
say "starting a workload with $MIB MiB of patterned memory"
# A subshell that only waits for the workload: when criu dump kills it, it is reaped there and
# quietly (bash would print "Killed" for a job of ours killed by a signal).
( "$work/memhog" "$MIB" "$work/app.log" & { wait; } 2>/dev/null ) & pids+=($!)
wait_for "grep -q '^ready' $work/app.log"
pid=$(awk '/^ready/{print $2}' "$work/app.log"); pids+=("$pid")
kill -USR1 "$pid"; wait_for "grep -q '^verified' $work/app.log"
echo "pid $pid: $(grep '^verified' "$work/app.log" | tail -1)"

say "checkpoint: criu dump --stream -> img-split -> 2 shard files"
$(bin img-split) -D "$work/dump" -s 3,4 3>"$work/shard0" 4>"$work/shard1" & pids+=($!)
split=$!
wait_for "[ -S $work/dump/streamer-capture.sock ]"
start=$(date +%s.%N)
"$CRIU" dump -t "$pid" -D "$work/dump" --stream -o dump.log
wait "${pids[0]}"   # the dumped workload was killed by criu: its pid is free once this returns
wait "$split"
end=$(date +%s.%N)
echo "dump took $(awk "BEGIN{printf \"%.2f\", $end - $start}") s; shards: $(du -h "$work/shard0" "$work/shard1" | awk '{print $1}' | paste -sd' ')"

say "restore: 2 shard files -> img-buffer -> criu restore --stream"
$(bin img-buffer) -D "$work/serve" -s 3,4 3<"$work/shard0" 4<"$work/shard1" & pids+=($!)
wait_for "[ -S $work/serve/streamer-serve.sock ]"
"$CRIU" restore -D "$work/serve" --stream -o restore.log --pidfile "$work/restored.pid" & pids+=($!)
wait_for "[ -s $work/restored.pid ]"
rpid=$(cat "$work/restored.pid")
before=$(grep -c '^verified' "$work/app.log")
kill -USR1 "$rpid"
wait_for "[ \$(grep -c '^verified' $work/app.log) -gt $before ]"
echo "restored pid $rpid: $(grep '^verified' "$work/app.log" | tail -1)"
sleep 0.5
kill -USR1 "$rpid"
wait_for "[ \$(grep -c '^verified' $work/app.log) -gt $((before + 1)) ]"
if grep -q CORRUPT "$work/app.log"; then echo "DEMO FAILED: memory corrupted"; exit 1; fi
echo "still running, memory intact: $(grep '^verified' "$work/app.log" | tail -1)"
kill -9 "$rpid"
say "demo passed"

#!/usr/bin/env bash
# Pre-copy migration by content between two hosts (README, "Incremental checkpoints"): two
# network namespaces joined by a veth pair with a real sshd on the destination
# (scripts/lib/two-hosts.sh), the link capped at RATE (tbf).
#   round 1: criu dump --leave-running --stream | img-split --index-out  ==ssh==>  img-join -D base
#   the workload goes on and rewrites PCT % of its pages (memhog churn mode, SIGUSR2)
#   round 2: criu dump --stream | img-split --base-index  ==ssh==>  img-buffer --base base
#            criu restore --stream on the destination; the restored process must keep running
#            with every page intact, and the final round must have sent less than a tenth.
# Prints each round's stats and the downtime (final dump start to the restored process running).
#   MIB=256 PCT=1 RATE=250mbit bash scripts/scenarios/precopy.sh       (defaults 64, 1, 250mbit)
source "$(dirname "$0")/lib.sh"
PCT=${PCT:-1} RATE=${RATE:-250mbit}
# shellcheck disable=SC1091
source "$REPO/scripts/lib/two-hosts.sh"
export TWO_HOSTS_PREFIX=h9pc

say "two hosts: network namespaces joined by a veth pair ($RATE), sshd on the destination"
two_hosts_up --rate "$RATE" --path "$bindir" || fail "could not bring the two hosts up"
at_exit two_hosts_down
src=$work/src dst=$work/dst     # one file system: src/ is the source host's, dst/ the destination's
mkdir -p "$src" "$dst"

say "starting a workload with $MIB MiB on the source host, rewriting $PCT % of its pages on SIGUSR2"
WL_MODE="churn:$PCT" start_workload nsenter --net="/run/netns/$TWO_HOSTS_SRC_NS"
stats() { sed -n 3p "$1"; }
now() { date +%s.%N; }

say "round 1: the process keeps running; the destination keeps the image as its base"
on_src img-split -D "$src/r1" --index-out "$src/r1.idx" -p 9 9>"$work/r1.progress" 2>"$work/r1.err" |
  on_dst_ssh "img-join -D $dst/base" & job=$!; scenario_pids+=("$job")
wait_for "[ -S $src/r1/streamer-capture.sock ]" "img-split to listen"
on_src criu dump -t "$WL_PID" -D "$src/r1" --stream --leave-running -o dump.log --action-script "$bindir/img-split" ||
  fail "round 1: criu dump failed: $(tail -3 "$src/r1/dump.log")"
wait "$job" || fail "round 1: the capture or img-join failed: $(cat "$work/r1.err")"
echo "round 1: $(stats "$work/r1.progress")"
workload_gone && fail "the workload did not survive round 1 (--leave-running)"

kill -USR2 "$WL_PID"
wait_for "grep -q '^churned' $WL_LOG" "the workload to rewrite its pages"
echo "the workload $(grep '^churned' "$WL_LOG" | tail -1)"

say "round 2, final: only what changed crosses the link, the rest comes from the base"
on_src img-split -D "$src/r2" --base-index "$src/r1.idx" -p 9 9>"$work/r2.progress" 2>"$work/r2.err" |
  on_dst_ssh "img-buffer -D $dst/rs --base $dst/base" & job=$!; scenario_pids+=("$job")
wait_for "[ -S $src/r2/streamer-capture.sock ]" "img-split to listen"
t0=$(now)
on_src criu dump -t "$WL_PID" -D "$src/r2" --stream -o dump.log --action-script "$bindir/img-split" ||
  fail "round 2: criu dump failed: $(tail -3 "$src/r2/dump.log")"
t1=$(now)
on_dst_ssh "until [ -S $dst/rs/streamer-serve.sock ]; do sleep 0.02; done; criu restore -D $dst/rs --stream -d -o restore.log" ||
  fail "criu restore on the destination failed: $(tail -3 "$dst/rs/restore.log")"
wait_restored
t2=$(now)
wait "$job" || fail "round 2: the capture or img-buffer failed: $(cat "$work/r2.err")"
r2=$(stats "$work/r2.progress")
echo "round 2: $r2"
echo "downtime: $(echo "$t2 - $t0" | bc) s (the final dump $(echo "$t1 - $t0" | bc) s)"
check_restored "$WL_PID"
full=$(stats "$work/r1.progress" | sed 's/.*"size":\([0-9]*\).*/\1/')
sent=$(echo "$r2" | sed 's/.*"shards":\[{"size":\([0-9]*\).*/\1/')
[ "$sent" -lt $((full / 10)) ] || fail "round 2 sent $sent bytes, not less than a tenth of the full image ($full)"
echo "round 2 sent $sent bytes, $(echo "scale=2; 100 * $sent / $full" | bc) % of the full image ($full)"
pass

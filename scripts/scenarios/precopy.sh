#!/usr/bin/env bash
# Pre-copy migration by content between two hosts (README, "Incremental checkpoints"): two
# network namespaces joined by a veth pair, a real sshd in the destination (scripts/lib/two-hosts.sh).
#   round 1: criu dump --leave-running --stream | img-split --index-out  ==ssh==>  img-join -D base
#   the workload goes on and rewrites PCT % of its pages
#   round 2: criu dump --stream | img-split --base-index  ==ssh==>  img-buffer --base base
#            criu restore --stream on the destination; the restored memhog verifies every page.
# Prints each round's bytes and the downtime (final dump start to the restored process running).
#
#   bash scripts/scenarios/precopy.sh [MIB [PCT [RATE]]]     # defaults 256 MiB, 1 %, 250mbit (tbf)
# Needs root, CRIU 4.1 ($CRIU or .criu/bin/criu) and openssh-server (scripts/setup.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
MIB=${1:-256} PCT=${2:-1} RATE=${3:-250mbit}
CRIU=${CRIU:-$repo/.criu/bin/criu}
export TWO_HOSTS_PREFIX=h9pc
# shellcheck source=../lib/two-hosts.sh
source "$repo/scripts/lib/two-hosts.sh"

work=$(mktemp -d /tmp/h9pc-run.XXXXXX)
pid=""
cleanup() {
  [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
  [ -z "${restored:-}" ] || kill -9 "$restored" 2>/dev/null || true
  two_hosts_down 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "precopy: failed at line $LINENO" >&2; cat "$work"/*.err >&2 2>/dev/null || true' ERR

# The binaries (and criu) on the PATH of both "hosts", as where they are installed.
mkdir "$work/bin"
for b in img-split img-join img-buffer; do ln -s "$repo/packages/$b/bin/$b.js" "$work/bin/$b"; done
ln -s "$CRIU" "$work/bin/criu"
export PATH="$work/bin:$PATH"
two_hosts_up --rate "$RATE" --path "$work/bin"
ssh_dst() { on_dst_ssh "$@"; }

cc -O2 -o "$work/memhog" "$repo/test/fixtures/memhog.c"
src=$work/src dst=$work/dst      # one file system, two hosts: src/ is the source's, dst/ the destination's
mkdir -p "$src" "$dst"
log=$work/memhog.log
on_src setsid "$work/memhog" "$MIB" "$log" "churn:$PCT" </dev/null >/dev/null 2>&1 &
until pid=$(awk '/^ready/ {print $2}' "$log" 2>/dev/null) && [ -n "$pid" ]; do sleep 0.05; done
echo "precopy: memhog $pid, $MIB MiB, link $RATE"

waitfile() { until [ -e "$1" ]; do sleep 0.02; done; }
stats() { sed -n 3p "$1"; }

# Round 1: the process keeps running; the destination keeps the image as the base.
on_src img-split -D "$src/r1" --index-out "$src/r1.idx" -p 9 9>"$work/r1.progress" 2>"$work/r1.err" |
  ssh_dst "img-join -D $dst/base" &
job=$!
waitfile "$src/r1/streamer-capture.sock"
t0=$(date +%s.%N)
on_src criu dump -t "$pid" -D "$src/r1" --stream --leave-running -o dump.log --action-script "$(command -v img-split)"
wait "$job"
t1=$(date +%s.%N)
echo "precopy: round 1 (process running): $(stats "$work/r1.progress") in $(echo "$t1 - $t0" | bc) s"

kill -USR2 "$pid"
until grep -q '^churned' "$log"; do sleep 0.05; done
echo "precopy: memhog $(grep '^churned' "$log" | tail -1)"

# Round 2, final: only what changed crosses the link; the rest is read from the base.
on_src img-split -D "$src/r2" --base-index "$src/r1.idx" -p 9 9>"$work/r2.progress" 2>"$work/r2.err" |
  ssh_dst "img-buffer -D $dst/rs --base $dst/base" &
job=$!
waitfile "$src/r2/streamer-capture.sock"
t0=$(date +%s.%N)
on_src criu dump -t "$pid" -D "$src/r2" --stream -o dump.log --action-script "$(command -v img-split)"
pid=""
td=$(date +%s.%N)
ssh_dst "until [ -S $dst/rs/streamer-serve.sock ]; do sleep 0.02; done; criu restore -D $dst/rs --stream -d --pidfile $dst/restored.pid -o restore.log"
t1=$(date +%s.%N)
wait "$job"
restored=$(cat "$dst/restored.pid")
echo "precopy: round 2 (final): $(stats "$work/r2.progress")"
echo "precopy: downtime (final dump start to restored process running): $(echo "$t1 - $t0" | bc) s (the dump $(echo "$td - $t0" | bc) s)"

n=$(wc -l < "$log")
kill -USR1 "$restored"
until tail -n +"$((n + 1))" "$log" | grep -qE '^(verified|CORRUPT)'; do sleep 0.05; done
line=$(tail -n +"$((n + 1))" "$log" | grep -E '^(verified|CORRUPT)' | head -1)
echo "precopy: restored memhog $restored: $line"
[[ $line == verified* ]]

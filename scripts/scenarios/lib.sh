# Shared by the scenario scripts (sourced, not run): a private work dir, the binaries on PATH
# under the names the README uses (img-split, img-buffer, img-join, criu), the memhog workload
# as a child this shell reaps, the check that a restored process keeps running with every page
# intact, README recipes read from README.md itself, and the verdict line:
#   SCENARIO PASSED: <name>      or      SCENARIO FAILED: <name>: <why>
# Everything the scenario started is stopped and removed on exit, pass or fail.
set -euo pipefail
SCENARIO=$(basename "$0" .sh)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CRIU=${CRIU:-$REPO/.criu/bin/criu}
MIB=${MIB:-64}
# How long any one wait may take (tries of 0.05 s): a dump or restore of MIB MiB over ssh.
WAIT_TRIES=${WAIT_TRIES:-1200}

work=$(mktemp -d "/tmp/criu-pipes-$SCENARIO.XXXXXX")
bindir=$work/bin
mkdir -p "$bindir"
if [ -n "${CRIU_PIPES_BIN:-}" ]; then
  # An installed copy (scripts/install.sh --prefix P: CRIU_PIPES_BIN=P/bin), and nothing of the checkout.
  export PATH="$CRIU_PIPES_BIN:$PATH"
else
  # Every binary, as an install puts them on PATH.
  for f in "$REPO"/packages/*/bin/*.js; do ln -s "$f" "$bindir/$(basename "$f" .js)"; done
  ln -s "$CRIU" "$bindir/criu"
  export PATH="$bindir:$PATH"
fi
scenario_pids=()
scenario_cleanups=()
verdict_done=""

say() { printf '\n== %s\n' "$*"; }
fail() { echo "SCENARIO FAILED: $SCENARIO: $*"; verdict_done=1; exit 1; }
pass() { echo "SCENARIO PASSED: $SCENARIO"; verdict_done=1; }
wait_for() {
  local i
  for ((i = 0; i < WAIT_TRIES; i++)); do eval "$1" && return 0; sleep 0.05; done
  fail "timed out waiting for: $2"
}

scenario_exit() {
  local rc=$?
  set +e
  [ -n "$verdict_done" ] || echo "SCENARIO FAILED: $SCENARIO: exit $rc at line ${scenario_line:-?} (see above)"
  local p f
  # Stop and reap what this shell started (the workloads among them), quietly: bash reports a
  # killed job on stderr when it reaps it, so stderr is /dev/null for the whole group.
  {
    for p in "${scenario_pids[@]}"; do kill -9 "$p"; done
    wait
  } 2>/dev/null
  for f in "${scenario_cleanups[@]}"; do eval "$f"; done
  if [ "${CRIU_PIPES_KEEP_TMP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
  exit "$rc"
}
trap 'scenario_line=$LINENO' ERR
trap scenario_exit EXIT

# Runs `cmd` at exit (after the recorded processes are killed).
at_exit() { scenario_cleanups+=("$1"); }

# Starts memhog (MIB MiB of patterned memory; WL_MODE its mode, default plain) as a child of this
# shell, optionally through a prefix command (a program such as nsenter, not a shell function),
# and waits for it: sets WL_PID, WL_START and WL_LOG. With a CRIU that can dump a listening TCP
# socket (>= 4.2; 4.1.1 cannot on kernel 6.18) memhog is also a TCP server on 127.0.0.1 (any
# free port of its network namespace), and check_restored checks that it answers there again.
start_workload() {
  cc -O2 -o "$work/memhog" "$REPO/test/fixtures/memhog.c"
  WL_LOG=$work/app.log
  local mode=${WL_MODE:-plain}
  WL_TCP=""
  if [ "$(printf '%s\n4.2\n' "$("$CRIU" --version | sed -n 's/^Version: *//p')" | sort -V | head -1)" = 4.2 ]; then
    WL_TCP=1 mode=$mode,tcp:0
  fi
  # A subshell that does nothing but wait for it: when criu dump kills the workload it is reaped
  # at once, so its pid is free for the restore (pid 1 here reaps orphans slowly), and quietly.
  ( "$@" "$work/memhog" "$MIB" "$WL_LOG" "$mode" & { wait; } 2>/dev/null ) &
  scenario_pids+=("$!")
  wait_for "grep -qs '^ready' $WL_LOG" "the workload to start"
  WL_PID=$(awk '/^ready/{print $2}' "$WL_LOG")
  # In a pid namespace of its own (the prefix ends in `unshare -pf`) memhog logs its pid there (1):
  # its host pid is that of the only process running this memhog with this log.
  [ "$WL_PID" != 1 ] || WL_PID=$(pgrep -n -f "^$work/memhog $MIB $WL_LOG ")
  scenario_pids+=("$WL_PID")
  WL_START=$(start_time "$WL_PID")
  verify_workload "$WL_PID" "the workload before the checkpoint"
}

# Field 22 of /proc/PID/stat: when the process started. A restored process has the old pid but
# a new start time; empty when no such process.
start_time() { awk '{ sub(/.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null || true; }

# Field 4 of /proc/PID/stat: the parent's pid; empty when no such process.
parent_of() { awk '{ sub(/.*\) /, ""); print $2 }' "/proc/$1/stat" 2>/dev/null || true; }

# Waits until the workload's pid runs again, restored: not the original (its start time
# differs), and done restoring. CRIU forks the task with its old pid long before the task is
# back; its name stays "criu" until the restorer sets the task's own at the end, and a SIGUSR1
# that arrived before memhog's handler is back would kill it.
wait_restored() {
  wait_for '[ -n "$(start_time $WL_PID)" ] && [ "$(start_time $WL_PID)" != "$WL_START" ] &&
    [ "$(cat /proc/$WL_PID/comm 2>/dev/null)" = memhog ]' "the restored process"
  echo "restored: pid $WL_PID runs again"
}

# The checkpointed workload is gone (criu dump killed it) or still there (a failed dump).
workload_gone() { [ "$(start_time "$WL_PID")" != "$WL_START" ]; }

# SIGUSR1 makes memhog verify every page and log `verified N ok` (or CORRUPT and exit).
verify_workload() {
  local pid=$1 what=$2 before
  before=$(grep -c '^verified' "$WL_LOG" || true)
  kill -USR1 "$pid" 2>/dev/null || fail "$what: pid $pid is not running"
  wait_for "[ \$(grep -c '^verified\|CORRUPT' $WL_LOG) -gt $before ]" "$what to verify its memory"
  if grep -q CORRUPT "$WL_LOG"; then fail "$what: memory corrupted: $(grep CORRUPT "$WL_LOG" | head -1)"; fi
  echo "$what (pid $pid): $(grep '^verified' "$WL_LOG" | tail -1)"
}

# The restored process: every page intact now and again a moment later (it keeps running).
check_restored() {
  local pid=$1
  verify_workload "$pid" "restored process"
  sleep 0.5
  verify_workload "$pid" "restored process, still running"
  [ -z "${WL_TCP:-}" ] || check_listening "$pid"
}

# The restored memhog's TCP server answers a new connection, in the restored process's network
# namespace (the destination host's), on the port it listened on before the checkpoint.
check_listening() {
  local pid=$1 port answer
  port=$(awk '/^listening /{print $2; exit}' "$WL_LOG")
  # The log may come from elsewhere (ci-restore unpacks it from the bucket): a number, or nothing.
  [[ $port =~ ^[0-9]{1,5}$ ]] || fail "the workload's log names no listening port: ${port:-none}"
  answer=$(nsenter --net="/proc/$pid/ns/net" bash -c \
    'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf x >&3 && read -r -t 10 line <&3 && echo "$line"' _ "$port" 2>&1) || true
  case $answer in "pong 1 "*) echo "restored process listens on 127.0.0.1:$port again: $answer" ;;
    *) fail "the restored process does not answer on 127.0.0.1:$port: ${answer:-no answer}" ;; esac
  # memhog closes its end of that connection at its next tick: until then a dump (the next round
  # of a recipe) would meet a connected TCP socket and fail without --tcp-established.
  wait_for "! tcp_connected $pid $port" "the restored process to close the check's connection"
}

# Whether process PID's network namespace has a connection on local port PORT still open
# (established, or closed by the peer only).
tcp_connected() {
  nsenter --net="/proc/$1/ns/net" ss -Htn state established state close-wait "( sport = :$2 )" | grep -q .
}

# After a failed dump: the checkpointed process is still there, untouched, every page intact now
# and again a moment later.
check_still_running() {
  say "the process must still be running, untouched"
  workload_gone && fail "the process is gone: the failed upload cost the process"
  verify_workload "$WL_PID" "the process after the failed dump"
  sleep 0.5
  verify_workload "$WL_PID" "the process after the failed dump, still running"
}

# Prints the code block that follows `<!-- scenario: NAME -->` (or `<!-- KIND: NAME -->`) in
# README.md, with every /tmp/ path moved into this run's work dir (so parallel runs do not meet).
readme_recipe() {
  awk -v tag="<!-- ${2:-scenario}: $1 -->" '
    $0 == tag { armed = 1; next }
    armed && /^```/ { if (inside) exit; inside = 1; next }
    inside { print }
  ' "$REPO/README.md" | sed "s#/tmp/#$work/#g"
}

# A README recipe that migrates the workload between the two hosts over ssh (the
# ssh-* scenarios): two hosts up, `ssh dst` in the recipe and in its filters is ssh with this
# run's config, the workload on the source host, the recipe run there; the process must come
# back on the destination host with every page intact.
ssh_migration() {
  local recipe restored_net
  recipe=$(readme_recipe "$SCENARIO")
  [ -n "$recipe" ] || fail "README.md has no $SCENARIO recipe"
  ssh_hosts_up

  say "starting a workload with $MIB MiB of patterned memory on the source host"
  start_workload nsenter --net="/run/netns/$TWO_HOSTS_SRC_NS"   # on_src, as a plain command (quiet when killed)

  say "running the README recipe on the source host:"
  echo "$recipe"
  export PID=$WL_PID
  on_src bash -c "$recipe" & scenario_pids+=("$!")
  wait_restored
  restored_net=$(readlink "/proc/$WL_PID/ns/net")
  [ "$restored_net" = "$(on_dst readlink /proc/self/ns/net)" ] || fail "the restored process is not on the destination host"
  echo "the restored process runs on the destination host ($restored_net)"
  check_restored "$WL_PID"
}

# The two hosts of the ssh scenarios, up until exit: `ssh` on PATH (as the recipes and their
# filters call it) is ssh with this run's config. With REMOTE_PREFIX (shell text, e.g.
# `export TMPDIR=DIR;`) every `ssh HOST CMD` runs it before CMD on the remote host.
ssh_hosts_up() {
  # shellcheck disable=SC1091
  source "$REPO/scripts/lib/two-hosts.sh"
  say "two hosts: network namespaces joined by a veth pair, sshd on the destination"
  two_hosts_up --path "$bindir" || fail "could not bring the two hosts up"
  at_exit two_hosts_down
  echo "source $TWO_HOSTS_SRC_NS ($TWO_HOSTS_SRC_ADDR), destination $TWO_HOSTS_DST_NS ($TWO_HOSTS_DST_ADDR): $(on_dst_ssh 'echo ssh dst works')"
  # `ssh dst` in the recipe (and in the filters img-split starts) is ssh with this run's config.
  if [ -z "${1:-}" ]; then
    printf '#!/bin/sh\nexec /usr/bin/ssh -F "%s" "$@"\n' "$TWO_HOSTS_SSH_CONFIG" > "$bindir/ssh"
  else
    printf '#!/bin/sh\nh=$1; shift\nexec /usr/bin/ssh -F "%s" "$h" %q "$@"\n' "$TWO_HOSTS_SSH_CONFIG" "$1" > "$bindir/ssh"
  fi
  chmod +x "$bindir/ssh"
}

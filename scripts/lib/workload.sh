# Sourced by the scenario scripts: the memhog workload (test/fixtures/memhog.c) from bash, the
# bins, CRIU, and the scenario's voice (what it does, and one verdict line at the end).
#
#   source scripts/lib/workload.sh
#   scenario_begin NAME                 # a private work dir $WORK, removed on exit
#   workload_start DIR MIB [PREFIX...]  # memhog MIB MiB under PREFIX (e.g. on_src); sets
#                                       # WL_PID, WL_LOG; verifies it once (warm)
#   workload_verify PID LOG             # SIGUSR1: every page checked, `verified N ok` logged
#   restore_start DIR PIDFILE PREFIX... # `criu restore --stream` in the background (no -d:
#                                       # criu stays the restored process' parent)
#   pass MSG / fail MSG                 # the verdict line: `PASS: NAME: MSG` / `FAIL: NAME: MSG`
#
# The verdict line is what the tests read; everything else is for the person watching.
REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
CRIU=${CRIU:-$REPO/.criu/bin/criu}
bin() { echo "node $REPO/packages/$1/bin/$1.js"; }
IMG_SPLIT_HOOK=$REPO/packages/img-split/bin/img-split.js   # img-split as CRIU's action script
# How long a scenario waits for one thing (a log line, a socket) before it fails.
WAIT_TRIES=1500   # x 0.02 s = 30 s
SCENARIO_PIDS=()
SCENARIO_CLEANUPS=()

say() { printf '\n== %s\n' "$*"; }
pass() { echo "PASS: $SCENARIO: $*"; SCENARIO_DONE=1; exit 0; }
fail() { echo "FAIL: $SCENARIO: $*"; SCENARIO_DONE=1; exit 1; }
wait_for() {
  local i
  for ((i = 0; i < WAIT_TRIES; i++)); do eval "$1" && return 0; sleep 0.02; done
  echo "timed out waiting for: $1" >&2; return 1
}
# at_exit CMD: run CMD (a string) when the scenario ends, last registered first.
at_exit() { SCENARIO_CLEANUPS=("$1" "${SCENARIO_CLEANUPS[@]}"); }

scenario_exit() {
  local rc=$? p c
  for p in "${SCENARIO_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  for p in "${SCENARIO_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for c in "${SCENARIO_CLEANUPS[@]}"; do eval "$c" || true; done
  [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
  # A script that dies on `set -e` still ends with a verdict line.
  if [ -z "${SCENARIO_DONE:-}" ]; then echo "FAIL: $SCENARIO: stopped with exit status $rc (see above)"; fi
  [ "$rc" -ne 0 ] || [ -n "${SCENARIO_DONE:-}" ] || rc=1
  exit "$rc"
}

scenario_begin() {
  SCENARIO=$1
  [ "$(id -u)" -eq 0 ] || { echo "FAIL: $SCENARIO: needs root (CRIU)"; exit 1; }
  [ -x "$CRIU" ] || { echo "FAIL: $SCENARIO: no CRIU at $CRIU: run scripts/setup.sh or set CRIU"; exit 1; }
  [ -f "$REPO/packages/img-split/dist/src/main.js" ] || { echo "FAIL: $SCENARIO: not built: run scripts/setup.sh"; exit 1; }
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/criu-pipes-$SCENARIO.XXXXXX")
  trap scenario_exit EXIT
  trap 'exit 130' INT TERM
}

# workload_start DIR MIB [PREFIX...]: builds memhog into DIR, starts it with its log in DIR.
workload_start() {
  local dir=$1 mib=$2; shift 2
  [ -x "$dir/memhog" ] || cc -O2 -o "$dir/memhog" "$REPO/test/fixtures/memhog.c"
  WL_LOG=$dir/app.log
  # Started from this shell (not a group leader), memhog keeps its pid and is our child: bash
  # reaps it as soon as CRIU has killed it, so the pid is free again for the restore. Disowned,
  # so that bash does not print "Killed" for it.
  "$@" "$dir/memhog" "$mib" "$WL_LOG" &
  SCENARIO_PIDS+=($!)
  disown $!
  wait_for "grep -qs '^ready' $WL_LOG"
  WL_PID=$(awk '/^ready/{print $2}' "$WL_LOG")
  workload_verify "$WL_PID" "$WL_LOG"
}

# workload_verify PID LOG: asks for a full check of every page and waits for its answer.
workload_verify() {
  local pid=$1 log=$2 before
  before=$(grep -c '^verified' "$log" || true)
  kill -USR1 "$pid"
  wait_for "[ \$(grep -c '^verified' $log) -gt $before ] || grep -q CORRUPT $log" || return 1
  if grep -q CORRUPT "$log"; then echo "memory corrupted: $(grep CORRUPT "$log" | head -1)" >&2; return 1; fi
  echo "pid $pid: $(grep '^verified' "$log" | tail -1)"
}

# workload_reap: after a successful dump CRIU has killed the workload; its pid must be free
# before the restore (pid 1 here reaps orphans slowly, and a forked memhog is pid 1's).
workload_reap() { wait_for "[ ! -e /proc/$WL_PID ]"; }

# restore_start DIR PIDFILE [PREFIX...]: criu restore --stream against the img-buffer serving DIR.
restore_start() {
  local dir=$1 pidfile=$2; shift 2
  "$@" "$CRIU" restore -D "$dir" --stream -o restore.log --pidfile "$pidfile" &
  SCENARIO_PIDS+=($!)
  RESTORE_CRIU=$! RESTORE_LOG=$dir/restore.log
}

# restored_check PIDFILE LOG: the restored process answers two full checks, 0.5 s apart
# (it runs on between them), then is stopped.
restored_check() {
  local pidfile=$1 log=$2 rpid
  wait_for "[ -s $pidfile ] || ! kill -0 $RESTORE_CRIU 2>/dev/null"
  [ -s "$pidfile" ] || { echo "criu restore failed:" >&2; tail -5 "$RESTORE_LOG" >&2; return 1; }
  rpid=$(cat "$pidfile")
  workload_verify "$rpid" "$log" || return 1
  sleep 0.5
  kill -0 "$rpid" 2>/dev/null || { echo "restored pid $rpid stopped running" >&2; return 1; }
  workload_verify "$rpid" "$log" || return 1
  RESTORED_PID=$rpid
  kill -9 "$rpid" 2>/dev/null || true
  wait "$RESTORE_CRIU" 2>/dev/null || true
}

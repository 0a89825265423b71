#!/usr/bin/env bash
# Post-copy migration between two hosts over ONE ssh connection, on one machine: two network
# namespaces joined by a veth pair, a real sshd in the destination (scripts/lib/two-hosts.sh).
#
#   postcopy-ssh.sh RUN_DIR MIB [MODE]      (root; CRIU=/path/to/criu, default criu on PATH)
#
# What happens, as it would between two machines:
#   source      memhog MIB (MODE: plain|events|random) as init of a new pid namespace
#   source      page-feed starts `criu dump --lazy-pages` itself: everything but the lazy memory
#               into src-images, then the frozen source serves its pages on a socketpair
#               page-feed holds (--ps-socket): no port, nothing on the source listens
#   src -> dst  once the images are written, page-feed runs its --via-cmd: the small images as a
#               tar over ssh, then ONE ssh session that carries the pages: DST_SIDE, on the
#               destination, is uffd-serve reading the page stream from the session (--pages-fds
#               0,1) with `criu restore --lazy-pages -d` beside it
#   the end     every page in place: uffd-serve says PAGES_DONE, page-feed closes the page-server
#               session in order, the dump kills the frozen original and exits 0, page-feed exits 0
# Then it checks the outcome on the destination: the source process is gone, and the copy
# verifies all its memory page by page (memhog's SIGUSR1), runs on, and verifies again. Prints
# `hosts SRC_NS DST_NS` (the network namespaces, as soon as they are up), `source PID`,
# `restored PID`, `source gone`, `copy verified N ok` (twice) and `copy running`; taking the
# hosts down at the end kills the copy with everything else in the namespaces. Exit 0 only if all
# of that held; the logs stay in RUN_DIR. FEED_MAX_RATE (MiB/s) slows the push (page-feed
# --max-rate), for tests that look at the migration while it runs.
set -euo pipefail

RUN=${1:?usage: postcopy-ssh.sh RUN_DIR MIB [MODE]}
MIB=${2:?usage: postcopy-ssh.sh RUN_DIR MIB [MODE]}
MODE=${3:-plain}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CRIU=${CRIU:-$(command -v criu)}
MEMHOG=${MEMHOG:?set MEMHOG to the built test/fixtures/memhog}
NODE=$(command -v node)
PAGE_FEED="$NODE $REPO/packages/page-feed/bin/page-feed.js"
UFFD_SERVE="$NODE $REPO/packages/uffd-serve/bin/uffd-serve.js"
# How long to wait (tries of 0.1 s) for the workload, the dump and the restore.
TRIES=600

# CRIU's page server sizes its lazy pipe to 4 MiB; without CAP_SYS_RESOURCE that needs this.
if [ "$(cat /proc/sys/fs/pipe-max-size)" -lt 4194304 ]; then
  echo "postcopy-ssh: fs.pipe-max-size is below 4 MiB: CRIU's page server cannot serve lazy pages (sysctl fs.pipe-max-size=4194304)" >&2
  exit 1
fi
mkdir -p "$RUN/src-images" "$RUN/dst-images" "$RUN/dst-work"
LOG=$RUN/memhog.log

# shellcheck source=../lib/two-hosts.sh
source "$REPO/scripts/lib/two-hosts.sh"
TWO_HOSTS_PREFIX=${TWO_HOSTS_PREFIX:-h7pc} two_hosts_up
trap two_hosts_down EXIT
echo "hosts $TWO_HOSTS_SRC_NS $TWO_HOSTS_DST_NS"

wait_for() { # DESCRIPTION COMMAND...: polls COMMAND until it succeeds
  local what=$1 i; shift
  for ((i = 0; i < TRIES; i++)); do "$@" && return 0; sleep 0.1; done
  echo "postcopy-ssh: timed out waiting for $what" >&2
  return 1
}
logged() { [ -f "$2" ] && grep -q -- "$1" "$2"; }
# memhog's answer to SIGUSR1 after line $2 of its log: `verified N ok` or `CORRUPT page P`.
answer() { tail -n +"$(($2 + 1))" "$1" | grep -m1 -E '^(verified|CORRUPT)'; }
verify() { # PID: prints memhog's answer; fails unless it is `verified`
  local from; from=$(wc -l < "$LOG")
  kill -USR1 "$1"
  wait_for "memhog $1 to verify" answer "$LOG" "$from" >/dev/null
  answer "$LOG" "$from" | grep '^verified'
}

# --- source host ---------------------------------------------------------------------------
on_src unshare -pf "$MEMHOG" "$MIB" "$LOG" "$MODE" </dev/null >/dev/null 2>&1 &
NS_PID=$!
wait_for "memhog" logged '^ready 1$' "$LOG"
SRC_PID=$(pgrep -n -f "^$MEMHOG $MIB $LOG")
# Until the migration is through, a failure must not leave the workload behind (the dump resumes
# it when the transfer fails).
trap 'kill -9 "$SRC_PID" 2>/dev/null; two_hosts_down' EXIT
echo "source $SRC_PID"
echo "log $LOG"
verify "$SRC_PID" >/dev/null

# --- destination host, started over the one ssh session that then carries the pages ---------
# uffd-serve owns the session (stdin/stdout); the restore starts beside it once it listens, with
# its own stdio off the session.
DST_SIDE="cd $RUN/dst-work; rm -f ready; \
( while [ ! -s ready ]; do sleep 0.05; done; \
  $CRIU restore -D $RUN/dst-images -W $RUN/dst-work -o restore.log -v4 --lazy-pages -d --pidfile restored.pid \
) </dev/null >/dev/null 2>restore.err & \
exec $UFFD_SERVE -D $RUN/dst-images -W $RUN/dst-work -o lazy-pages.log -v4 --pages-fds 0,1 --status-fd 3 3>ready"
SSH="ssh -F $TWO_HOSTS_SSH_CONFIG dst"

# --- source host: page-feed runs the dump, then its channel ----------------------------------
# The --via-cmd starts once the images are written: the small images go first, as a tar over
# ssh (no pages-N.img of any size: the lazy memory stays; not the log the dump still writes),
# then the session that carries the pages.
on_src $PAGE_FEED -D "$RUN/src-images" -o "$RUN/feed.log" -v4 ${FEED_MAX_RATE:+--max-rate "$FEED_MAX_RATE"} \
  --via-cmd "tar -C $RUN/src-images --exclude=dump.log -cf - . | $SSH 'tar -C $RUN/dst-images -xf -' >/dev/null \
    && exec $SSH '$DST_SIDE'" \
  -- "$CRIU" dump -t "$SRC_PID" -D "$RUN/src-images" -o dump.log -v4 --lazy-pages

wait "$NS_PID" || true # the dump killed the frozen original: unshare reports its death
trap two_hosts_down EXIT
COPY=$(cat "$RUN/dst-work/restored.pid")
echo "restored $COPY"
if kill -0 "$SRC_PID" 2>/dev/null; then echo "postcopy-ssh: the source $SRC_PID still runs" >&2; exit 1; fi
echo "source gone"
echo "copy $(verify "$COPY")"
sleep 0.3
kill -0 "$COPY"
echo "copy $(verify "$COPY")"
echo "copy running"

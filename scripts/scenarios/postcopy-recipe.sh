#!/usr/bin/env bash
# Post-copy migration over ssh between two hosts: the README's recipe, exactly as the README shows
# it (read from README.md), run on the source host with $PID set. The two hosts are two network
# namespaces joined by a veth pair with a real sshd on the destination (scripts/lib/two-hosts.sh);
# each host's mktemp makes its directory in this run's work dir (TMPDIR, over ssh too). The
# workload runs as init of a pid namespace of its own, so that its copy gets the same pids while
# the frozen original still serves its pages. The recipe must exit 0 (page-feed: every page in, the
# dump done), the original must be gone, and the copy must run on the destination host with every
# page intact (and answer on its TCP port again, with CRIU >= 4.2). Needs root, and
# fs.pipe-max-size >= 4 MiB (CRIU's lazy page server).
source "$(dirname "$0")/lib.sh"

recipe=$(readme_recipe "$SCENARIO")
[ -n "$recipe" ] || fail "README.md has no $SCENARIO recipe"
[ "$(cat /proc/sys/fs/pipe-max-size)" -ge 4194304 ] || fail "fs.pipe-max-size is below 4 MiB: CRIU's page server cannot serve lazy pages"
mkdir -m 0700 "$work/src-tmp" "$work/dst-tmp"
ssh_hosts_up "export TMPDIR=$work/dst-tmp;"

say "starting a workload with $MIB MiB of patterned memory on the source host, init of its own pid namespace"
start_workload nsenter --net="/run/netns/$TWO_HOSTS_SRC_NS" unshare -pf

say "running the README recipe on the source host:"
echo "$recipe"
export PID=$WL_PID
TMPDIR=$work/src-tmp on_src bash -c "$recipe" & recipe_pid=$!
scenario_pids+=("$recipe_pid")

# The copy: this memhog, in the destination's network namespace, done restoring (its name is
# criu's until the restorer sets its own at the end).
dst_net=$(on_dst readlink /proc/self/ns/net)
find_copy() {
  local p
  for p in $(pgrep -f "^$work/memhog $MIB $WL_LOG "); do
    if [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$dst_net" ] && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = memhog ]; then
      COPY=$p
      return 0
    fi
  done
  return 1
}
wait_for find_copy "the copy to run on the destination host"
scenario_pids+=("$COPY")
echo "the copy runs on the destination host: pid $COPY"
wait "$recipe_pid" || fail "the recipe exited $? (page-feed exits 0 only once every page is in and the dump is done)"
echo "the recipe exited 0"
wait_for workload_gone "the original (pid $WL_PID) to be gone"
echo "the original is gone"
check_restored "$COPY"
pass

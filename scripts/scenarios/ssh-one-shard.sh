#!/usr/bin/env bash
# Live migration over ssh between two hosts, one shard: the README's recipe, exactly as the README
# shows it (read from README.md, its /tmp/ paths moved into a private work dir). The two hosts are
# two network namespaces joined by a veth pair with a real sshd on the destination
# (scripts/lib/two-hosts.sh). The workload runs on the source host and is dumped there; the image
# crosses the link inside one ssh connection into img-buffer on the destination, where criu
# restores it; it must continue with every page intact. Needs root.
source "$(dirname "$0")/lib.sh"
source "$REPO/scripts/lib/two-hosts.sh"
recipe=$(readme_recipe "$SCENARIO")
[ -n "$recipe" ] || fail "README.md has no $SCENARIO recipe"

say "two hosts: network namespaces joined by a veth pair, sshd on the destination"
two_hosts_up --path "$bindir" || fail "could not bring the two hosts up"
at_exit two_hosts_down
echo "source $TWO_HOSTS_SRC_NS ($TWO_HOSTS_SRC_ADDR), destination $TWO_HOSTS_DST_NS ($TWO_HOSTS_DST_ADDR): $(on_dst_ssh 'echo ssh dst works')"
# `ssh dst` in the recipe (and in the filters img-split starts) is ssh with this run's config.
printf '#!/bin/sh\nexec /usr/bin/ssh -F "%s" "$@"\n' "$TWO_HOSTS_SSH_CONFIG" > "$bindir/ssh"
chmod +x "$bindir/ssh"

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
pass

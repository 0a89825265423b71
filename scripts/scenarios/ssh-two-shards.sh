#!/usr/bin/env bash
# Live migration over ssh between two hosts, two shards over two ssh connections: the README's
# recipe, exactly as the README shows it (read from README.md, its /tmp/ paths moved into a
# private work dir). The two hosts are two network namespaces joined by a veth pair with a real
# sshd on the destination (scripts/lib/two-hosts.sh). The workload runs on the source host and
# is dumped there; the image crosses the link in two ssh connections, each an img-split shard
# filter (so the dump succeeds only once both delivered their shard), into img-buffer on the
# destination, where criu restores it; it must continue with every page intact. Needs root.
source "$(dirname "$0")/lib.sh"
ssh_migration
pass

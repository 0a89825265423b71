#!/usr/bin/env bash
# The README's "Compression per shard with lz4" recipe, exactly as the README shows it (read from
# README.md, its /tmp/ paths moved into a private work dir): a running process is checkpointed
# through img-split into two lz4 files, one lz4 per shard, and restored from them through
# img-buffer; it must continue with every page intact. Needs root.
source "$(dirname "$0")/lib.sh"
command -v lz4 >/dev/null || fail "lz4 is not installed (scripts/setup.sh installs it)"
recipe=$(readme_recipe lz4-per-shard)
[ -n "$recipe" ] || fail "README.md has no lz4-per-shard recipe"

say "starting a workload with $MIB MiB of patterned memory"
start_workload

say "running the README recipe:"
echo "$recipe"
export PID=$WL_PID
bash -c "$recipe" & scenario_pids+=("$!")
wait_restored
workload_gone || fail "the original process was not checkpointed"
ls -l "$work"/s0.lz4 "$work"/s1.lz4 | awk '{print $5, $NF}'
check_restored "$WL_PID"
pass

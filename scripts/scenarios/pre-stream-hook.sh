#!/usr/bin/env bash
# The README's `pre-stream` action-script recipe, exactly as the README shows it (read from
# README.md, its /tmp/ paths moved into a private work dir): CRIU itself starts img-split from
# its action script just before it connects, img-split checks the dump at post-dump, and the
# shard it wrote is restored through img-buffer; the process must continue with every page
# intact. Needs root.
source "$(dirname "$0")/lib.sh"
hook=$(readme_recipe pre-stream-hook)
restore=$(readme_recipe pre-stream-restore)
[ -n "$hook" ] && [ -n "$restore" ] || fail "README.md lacks the pre-stream-hook or pre-stream-restore recipe"
# The hook's second line says how to run the dump; the hook lives in the work dir, not in /usr/local/bin.
dump=$(printf '%s\n' "$hook" | sed -n 's/^# \(.*criu dump .*\)$/\1/p' | sed "s#/usr/local/bin/#$work/#")
[ -n "$dump" ] || fail "the hook recipe does not say how to run criu dump"
printf '%s\n' "$hook" > "$work/ck-hook"
chmod +x "$work/ck-hook"

say "starting a workload with $MIB MiB of patterned memory"
start_workload

say "the hook, $work/ck-hook:"
cat "$work/ck-hook"
say "checkpoint: $dump"
export PID=$WL_PID
bash -c "$dump" || fail "criu dump failed"
workload_gone || fail "the dumped process is still running"
grep -q checkpoint-start "$work/ck/img-split.log" || fail "img-split did not capture the dump (no checkpoint-start in its log)"
echo "shard: $(stat -c %s "$work/ck.shard") bytes"

say "restore:"
echo "$restore"
bash -c "$restore" & scenario_pids+=("$!")
wait_restored
check_restored "$WL_PID"
pass

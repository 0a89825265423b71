#!/usr/bin/env bash
# recipe.sh NAME [ROUNDS] (or RECIPE=NAME ROUNDS=N recipe.sh): the README's recipe tagged `<!-- recipe: NAME -->`, pasted as written
# (a reader fills in only $PID), run ROUNDS times in a row (default 3) on one running process:
# each round must checkpoint it and restore it, and the restored process must go on with every
# page intact. The recipes make their own private directories (mktemp -d); the binaries are on
# PATH as an installed copy would put them. Runs under a child subreaper (test/fixtures/
# subreaper.c): a restored process is an orphan, and the next round's restore of its pid needs
# the killed one reaped at once. Needs root.
if [ -z "${RECIPE_UNDER_SUBREAPER:-}" ]; then
  repo=$(cd "$(dirname "$0")/../.." && pwd)
  reaper=$(mktemp -d /tmp/criu-pipes-reaper.XXXXXX)
  cc -O2 -o "$reaper/subreaper" "$repo/test/fixtures/subreaper.c" || exit 1
  RECIPE_UNDER_SUBREAPER=1 "$reaper/subreaper" bash "$0" "$@"
  rc=$?
  rm -rf "$reaper"
  exit "$rc"
fi
source "$(dirname "$0")/lib.sh"
name=${1:-${RECIPE:-}}
[ -n "$name" ] || fail "usage: recipe.sh NAME [ROUNDS]"
rounds=${2:-${ROUNDS:-3}}
recipe=$(readme_recipe "$name" recipe)
[ -n "$recipe" ] || fail "README.md has no recipe tagged $name"

echo "recipe: $name, $rounds rounds"
say "starting a workload with $MIB MiB of patterned memory"
start_workload
export PID=$WL_PID
say "the README recipe, as written:"
echo "$recipe"
for ((round = 1; round <= rounds; round++)); do
  say "round $round of $rounds"
  # -e: a line that fails is a failed recipe, as a reader watching the terminal would see it.
  (cd "$work" && TMPDIR=$work bash -e -c "$recipe") || fail "round $round: the recipe failed (exit $?)"
  wait_restored
  check_restored "$WL_PID"
  WL_START=$(start_time "$WL_PID")
done
pass

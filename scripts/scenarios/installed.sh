#!/usr/bin/env bash
# scripts/install.sh as a new user runs it: install into a fresh prefix, then the README's first
# recipe ("A checkpoint in four lines") pasted as written, three times in a row, with nothing on
# PATH but the installed binaries (and CRIU: the system's, or the one install.sh put there) and
# the system's; `man` finds the pages; nothing installed points back into the checkout; and
# --uninstall leaves the prefix as it found it. Needs root.
source "$(dirname "$0")/lib.sh"
prefix=$work/prefix
mkdir -p "$prefix"
say "bash scripts/install.sh --prefix $prefix"
# The PATH of a fresh machine: the system's directories only (not this run's links into the checkout).
syspath=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PATH=$syspath bash "$REPO/scripts/install.sh" --prefix "$prefix" || fail "install.sh failed"
{ PATH=$syspath command -v criu >/dev/null && PATH=$syspath criu check >/dev/null 2>&1; } || [ -x "$prefix/bin/criu" ] ||
  fail "no working criu on PATH, and install.sh did not install one"
refs=$( { grep -rlF "$REPO" "$prefix" 2>/dev/null; find "$prefix" -type l -lname "$REPO*"; } | head -3)
[ -z "$refs" ] || fail "installed files point into the checkout: $refs"
echo "nothing installed refers to $REPO"
for b in img-split img-buffer img-join uffd-serve page-feed crit-make-lazy criu-image-streamer img-migrate; do
  env -i PATH="$prefix/bin:/usr/bin:/bin" "$b" --version >/dev/null || fail "$b --version fails from the installed copy"
  [ -f "$prefix/share/man/man1/$b.1" ] || fail "no man page for $b"
  [ -f "$prefix/share/bash-completion/completions/$b" ] || fail "no bash completion for $b"
done
if command -v man >/dev/null; then
  MANPATH=$prefix/share/man man img-split 2>/dev/null | grep -q -- '--connect-timeout' || fail "man img-split does not show the page"
  echo "man img-split shows the page"
fi

say "the README's first recipe, three times, with only the installed binaries on PATH"
CRIU_PIPES_BIN=$prefix/bin PATH=$syspath bash "$REPO/scripts/scenarios/recipe.sh" checkpoint 3 ||
  fail "the recipe failed with the installed binaries"

say "bash scripts/install.sh --prefix $prefix --uninstall"
bash "$REPO/scripts/install.sh" --prefix "$prefix" --uninstall || fail "--uninstall failed"
left=$(find "$prefix" -mindepth 1 | head -3)
[ -z "$left" ] || fail "--uninstall left: $left"
echo "the prefix is empty again"
pass

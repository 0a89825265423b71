#!/usr/bin/env bash
# Installs the binaries for use outside the checkout, after scripts/setup.sh has built them:
#   bash scripts/install.sh [--prefix DIR]        (default /usr/local)
#   bash scripts/install.sh [--prefix DIR] --uninstall
# DIR/lib/criu-pipes   an installed copy: the built packages and their production dependencies
#                      (pnpm install --prod --offline from the lockfile and pnpm's store), so
#                      nothing of the checkout is used once installed (it may be moved or deleted);
# DIR/bin/NAME         a launcher per binary into that copy (`exec node .../NAME.js "$@"`);
# DIR/share/man/man1   one page per binary (built by setup.sh from --help and src/man.ts);
# DIR/share/bash-completion/completions/NAME   the options of each binary;
# DIR/bin/criu         only where no working CRIU is on PATH (`criu check` fails or there is
#                      none): the CRIU setup.sh installed into .criu/, copied with the libraries
#                      it runs on and its loader and library path set to their new place.
# Every file and directory it creates outside DIR/lib/criu-pipes is listed in
# DIR/lib/criu-pipes/installed; --uninstall removes exactly those, then the copy. A file already
# there that an earlier install did not make is never replaced. Errors: one line `install: ...`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
prefix=/usr/local uninstall=""
die() { echo "install: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix=$2; shift 2 ;;
    --prefix=*) prefix=${1#--prefix=}; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) sed -n '2,4p' "$0" | sed 's/^# *//'; exit 0 ;;
    *) die "unknown argument $1 (usage: install.sh [--prefix DIR] [--uninstall])" ;;
  esac
done
case "$prefix" in /*) ;; *) prefix=$(pwd)/$prefix ;; esac
prefix=${prefix%/}
lib=$prefix/lib/criu-pipes
manifest=$lib/installed

# The binaries' trust rule (docs/trust-model.md) for what this script writes and removes as root:
# every existing directory from / down to DIR is root's (or ours) and writable by others only if
# sticky, and a symlink on the way is root's (or ours). Else another user could redirect a write
# or a removal, or plant the manifest that says what to remove.
trusted_dir() { # trusted_dir DIR: dies unless DIR and each existing directory above it pass
  local d=$1 p="" part uid mode parts
  IFS=/ read -ra parts <<<"$d"
  for part in "${parts[@]}"; do
    [ -n "$part" ] || continue
    p=$p/$part
    [ -e "$p" ] || [ -L "$p" ] || return 0
    if [ -L "$p" ]; then
      uid=$(stat -c %u "$p")
      [ "$uid" = 0 ] || [ "$uid" = "$EUID" ] || die "$d: $p is a symbolic link of uid $uid: refusing to follow it"
    fi
    read -r uid mode <<<"$(stat -L -c '%u %a' "$p")"
    [ "$uid" = 0 ] || [ "$uid" = "$EUID" ] || die "$d: $p belongs to uid $uid: refusing to install there"
    if (( (8#$mode & 8#022) && !(8#$mode & 8#1000) )); then die "$d: $p is writable by others (mode $mode): refusing to install there"; fi
  done
}
trusted_dir "$prefix"

# A manifest only root (or we) could have written, listing only paths inside the prefix.
check_manifest() {
  [ -f "$manifest" ] || return 0
  local uid mode kind path
  [ ! -L "$manifest" ] || die "$manifest is a symbolic link: refusing it"
  read -r uid mode <<<"$(stat -c '%u %a' "$manifest")"
  [ "$uid" = 0 ] || [ "$uid" = "$EUID" ] || die "$manifest belongs to uid $uid: refusing it"
  (( !(8#$mode & 8#022) )) || die "$manifest is writable by others (mode $mode): refusing it"
  while read -r kind path; do
    case "$kind $path" in "file $prefix/"*|"dir $prefix/"*) ;; *) die "$manifest lists $kind $path, outside $prefix: refusing it" ;; esac
    case "/$path/" in */../*|*/./*) die "$manifest lists $path: refusing it" ;; esac
    trusted_dir "$(dirname "$path")"
  done < "$manifest"
}
check_manifest

# Removes what the manifest lists (files, then the directories we created, if empty), then the copy.
remove_installed() {
  [ -f "$manifest" ] || return 0
  local kind path dirs
  while read -r kind path; do [ "$kind" = file ] && rm -f -- "$path"; done < "$manifest"
  dirs=$(tac "$manifest" | sed -n 's/^dir //p')
  rm -rf "$lib"
  while read -r path; do [ -z "$path" ] || rmdir "$path" 2>/dev/null || true; done <<< "$dirs"
}

if [ -n "$uninstall" ]; then
  [ -f "$manifest" ] || die "nothing installed in $prefix (no $manifest)"
  remove_installed
  echo "uninstalled criu-pipes from $prefix"
  exit 0
fi

[ -f "$repo/packages/img-split/dist/src/main.js" ] || die "the code is not built: run 'bash scripts/setup.sh' first"
[ -f "$repo/packages/img-split/man/img-split.1" ] || die "the man pages are not built: run 'bash scripts/setup.sh' first"
node=$(command -v node) || die "node is not on PATH"
command -v pnpm >/dev/null || die "pnpm is not on PATH: run 'bash scripts/setup.sh' first"

# The files an earlier install made (they may be replaced); anything else in the way is refused.
declare -A ours=()
if [ -f "$manifest" ]; then while read -r kind path; do [ "$kind" = file ] && ours[$path]=1; done < "$manifest"; fi

# What this install makes outside the copy, written into the manifest at the end. Directories an
# earlier install created stay ours (they are still removed only when empty).
record=$(mktemp)
trap 'rm -f "$record"' EXIT
[ ! -f "$manifest" ] || grep '^dir ' "$manifest" >> "$record" || true
mkdirs() { # creates each missing directory, recording it
  local d=$1 missing=()
  while [ ! -d "$d" ]; do missing=("$d" "${missing[@]}"); d=$(dirname "$d"); done
  for d in "${missing[@]}"; do mkdir "$d"; echo "dir $d" >> "$record"; done
}

# ---- the copy, built beside the old one and swapped in ----
mkdirs "$prefix/lib"
stage=$prefix/lib/.criu-pipes.new
rm -rf "$stage"
mkdir -p "$stage/packages"
trap 'rm -rf "$stage" "$record"' EXIT
for dir in "$repo"/packages/*/; do
  p=$(basename "$dir")
  mkdir -p "$stage/packages/$p/dist"
  cp "$dir/package.json" "$stage/packages/$p/"
  cp -r "$dir/dist/src" "$stage/packages/$p/dist/"
  [ ! -d "$dir/bin" ] || cp -r "$dir/bin" "$stage/packages/$p/"
done
# The workspace as the lockfile knows it (test/ and bench/ are dev-only importers: left out).
cp "$repo/package.json" "$repo/pnpm-lock.yaml" "$stage/"
[ ! -f "$repo/.npmrc" ] || cp "$repo/.npmrc" "$stage/"
sed 's/^  - "test"$//; s/^  - "bench"$//' "$repo/pnpm-workspace.yaml" > "$stage/pnpm-workspace.yaml"
(cd "$stage" && pnpm install --prod --offline --frozen-lockfile --reporter=silent) ||
  (cd "$stage" && pnpm install --prod --frozen-lockfile --reporter=silent) ||
  die "pnpm install --prod failed in $stage"

# The project's CRIU, where the system has none that works.
criu_src="" criu_note=""
system_criu=$(PATH=$(echo "$PATH" | tr ':' '\n' | grep -vxF "$prefix/bin" | paste -sd:) command -v criu || true)
if [ -n "$system_criu" ] && "$system_criu" check >/dev/null 2>&1; then
  criu_note="criu: the system's $system_criu passes 'criu check'; not installed"
else
  for c in "${CRIU:-}" "$repo/.criu/bin/criu"; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    # .criu/bin/criu is a link into .criu/<release>/bin/ (install-criu.sh): its root is beside that.
    root=$(cd "$(dirname "$(readlink -f "$c")")/.." && pwd)/root
    if [ -x "$root/usr/sbin/criu" ]; then criu_src=$root; break; fi
  done
  [ -n "$criu_src" ] || criu_note="criu: no working criu on PATH and none in .criu/ (run scripts/setup.sh without CRIU set): not installed"
fi
if [ -n "$criu_src" ]; then
  cp -a "$criu_src" "$stage/criu-root"
fi

# ---- swap in, then the files outside the copy ----
old=""
if [ -d "$lib" ]; then old=$prefix/lib/.criu-pipes.old; rm -rf "$old"; mv "$lib" "$old"; fi
mv "$stage" "$lib"
trap - EXIT
[ -z "$old" ] || rm -rf "$old"
# The manifest is written as we go, so that --uninstall undoes even a half-done install.
cp "$record" "$manifest"
rm -f "$record"
record=$manifest
place() { # place SRC DEST MODE: a file of ours at DEST (refusing one we did not make)
  local dest=$2
  if [ -e "$dest" ] || [ -L "$dest" ]; then
    [ -n "${ours[$dest]:-}" ] || die "$dest exists and an earlier install did not make it: remove it, or use another --prefix"
  fi
  mkdirs "$(dirname "$dest")"
  install -m "$3" "$1" "$dest"
  echo "file $dest" >> "$record"
}

launchers=$(mktemp -d)
trap 'rm -rf "$launchers"' EXIT
names=()
for dir in "$lib"/packages/*/; do
  while IFS=$'\t' read -r name script; do
    [ -n "$name" ] || continue
    names+=("$name")
    printf '#!/bin/sh\n# criu-pipes %s: the installed copy in %s (scripts/install.sh)\nexec "%s" "%s" "$@"\n' \
      "$name" "$lib" "$node" "$dir${script#./}" > "$launchers/$name"
    place "$launchers/$name" "$prefix/bin/$name" 755
    page=$repo/packages/$(basename "$dir")/man/$name.1
    place "$page" "$prefix/share/man/man1/$name.1" 644
    # Completion: the binary's options (from its --help), file names otherwise.
    opts=$("$prefix/bin/$name" --help | grep -oE '^ +(-[a-zA-Z], )?--[a-z][a-z0-9-]*' | grep -oE -- '-[a-zA-Z]\b|--[a-z0-9-]+' | sort -u | paste -sd' ')
    fn=_criu_pipes_${name//-/_}
    printf '# bash completion for %s (criu-pipes scripts/install.sh)\n%s() {\n  local cur=${COMP_WORDS[COMP_CWORD]}\n  [[ $cur == -* ]] && COMPREPLY=($(compgen -W "%s" -- "$cur"))\n}\ncomplete -o default -F %s %s\n' \
      "$name" "$fn" "$opts" "$fn" "$name" > "$launchers/$name.bash"
    place "$launchers/$name.bash" "$prefix/share/bash-completion/completions/$name" 644
  done < <(node -e 'for (const [n, s] of Object.entries(require(process.argv[1]).bin ?? {})) console.log(`${n}\t${s}`)' "$dir/package.json")
done

if [ -d "$lib/criu-root" ]; then
  croot=$lib/criu-root
  ld="$croot/usr/lib64/ld-linux-x86-64.so.2"
  [ -e "$ld" ] || ld=$(find "$croot" -name 'ld-linux*.so*' \( -type f -o -type l \) | head -1)
  libc=$(find "$croot" -name libc.so.6 | head -1)
  [ -n "$ld" ] && [ -n "$libc" ] || die "the copied CRIU root has no loader or libc"
  libdir=$(dirname "$libc")
  cp "$croot/usr/sbin/criu" "$launchers/criu"
  # The same patch as install-criu.sh, for the new place: this loader, these libraries.
  "$ld" --library-path "$libdir" "$croot/usr/bin/patchelf" --set-interpreter "$ld" --force-rpath --set-rpath "$libdir" "$launchers/criu" ||
    die "patchelf failed on the installed criu"
  place "$launchers/criu" "$prefix/bin/criu" 755
  "$prefix/bin/criu" check >/dev/null 2>&1 || die "the installed $prefix/bin/criu fails 'criu check'"
  criu_note="criu: $("$prefix/bin/criu" --version | sed -n 's/^Version: *//p') installed as $prefix/bin/criu (no working criu on PATH)"
fi
# A file an earlier install made that this one did not (its criu, where the system now has one).
for path in "${!ours[@]}"; do grep -qxF "file $path" "$manifest" || rm -f "$path"; done
echo "installed ${names[*]} into $prefix/bin (copy in $lib, man pages, bash completion)"
echo "$criu_note"
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "note: $prefix/bin is not on PATH: export PATH=\"$prefix/bin:\$PATH\"" ;; esac

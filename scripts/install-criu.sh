#!/usr/bin/env bash
# Provides CRIU >= 4.0 for the tests and the demo as ONE entry point: <repo>/.criu/bin/criu, and
# older releases side by side for the tests that must keep passing on them.
#
#   install-criu.sh                  the newest release below that passes `criu check` here,
#                                    as .criu/bin/criu (a symlink into .criu/<version>/)
#   install-criu.sh --version 4.1.1  that release only, as .criu/4.1.1/bin/criu
#
# Releases, newest first, each pinned to its upstream version (any Debian revision of it) and
# taken from the Debian suite that serves it:
#   4.3    experimental (its libraries from unstable): the first release that dumps a listening
#          TCP socket on kernel 6.18 (4.1.1 fails `Can't get 1:16 opt`) and has --compress
#          (Debian builds it without LZ4: `criu check --feature compress` fails)
#   4.2.1  unstable
#   4.1.1  trixie (Debian 13)
#
# 1. $CRIU, if set, must itself be a working CRIU >= 4.0 (the test harness prefers it); it is used
#    instead of installing the newest (not with --version).
# 2. A previous install of a release (.criu/<version>/installed names it) that still runs and
#    passes `criu check` is kept. A `criu` on PATH is used only if it is at least the newest
#    release above (Debian 12's own criu 3.17 fails `criu check` on recent kernels).
# 3. Otherwise, on Debian: we fetch the release's criu and the runtime closure of its libraries
#    (that suite's libc6 included) with a PRIVATE apt configuration, unpack them with
#    `dpkg-deb -x` into .criu/<version>/root, and make .criu/<version>/bin/criu a copy of the
#    real binary patched (patchelf) to use the private loader as ELF interpreter and the
#    private lib dir as DT_RPATH. Signatures are checked with the system's archive keyring.
#    Why patchelf and not a `ld.so --library-path` wrapper: with a wrapper /proc/self/exe is the
#    loader, not criu; with LD_LIBRARY_PATH the private libs would leak into every helper criu
#    execs (action scripts, ip, iptables). A patched binary is a normal executable, and whatever
#    it execs runs with the system's own libc. DT_RPATH (not RUNPATH) because RPATH also applies
#    to the libraries' own dependencies (gnutls -> nettle ...) and to dlopen(), so nothing is
#    picked up from the system's ld.so.cache.
#    patchelf itself is also taken from that suite and run through the private loader, so
#    nothing is installed or changed on the system (no system apt-get update, no system apt sources).
#
# Idempotent; quiet on success except one final line with the version. Errors are one line
# starting with 'install-criu:'. Needs root for `criu check` (a non-root run installs without it).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dest=$repo/.criu
# release -> "suites" (the first serves criu; the others only its libraries, listed after it).
releases=(4.3 4.2.1 4.1.1)
declare -A suites=([4.3]="experimental unstable" [4.2.1]="unstable" [4.1.1]="trixie")
die() { echo "install-criu: $*" >&2; exit 1; }
want=""
while [ $# -gt 0 ]; do
  case $1 in
    --version) [ $# -ge 2 ] || die "--version needs a release (${releases[*]})"; want=$2; shift 2 ;;
    *) die "unknown argument '$1' (usage: install-criu.sh [--version ${releases[*]// /|}])" ;;
  esac
done
[ -z "$want" ] || [ -n "${suites[$want]:-}" ] || die "no pinned release '$want' (pinned: ${releases[*]})"
is_root() { [ "$(id -u)" -eq 0 ]; }
# Parallel setup.sh runs (several developers, one checkout) may install at once: serialise them.
# The lock lives in .criu/ itself, a directory only we can write to: a predictable name in /tmp
# could be a symlink another user planted, and opening it would write through it as root.
mkdir -p "$dest"
{ [ -d "$dest" ] && [ ! -L "$dest" ] && [ -O "$dest" ] && [ -z "$(find "$dest" -maxdepth 0 -perm /022)" ]; } \
  || die "$dest must be a directory of ours that nobody else can write to (not a symlink, not group- or world-writable)"
lock=$dest/install.lock
exec 9>>"$lock" && flock 9 || die "cannot lock $lock"

# criu_version BIN: prints e.g. 4.1.1, or nothing.
criu_version() { "$1" --version 2>/dev/null | sed -n 's/^Version: *//p' | head -1; }
# usable BIN: version >= 4.0 and (as root) `criu check` passes.
usable() {
  local v; v=$(criu_version "$1")
  [ -n "$v" ] && [ "${v%%.*}" -ge 4 ] 2>/dev/null || return 1
  if is_root; then "$1" check >/dev/null 2>&1 || return 1; fi
}
# at_least A B: version A >= version B.
at_least() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]; }
# installed REL: .criu/REL holds a finished install of REL that still works here.
installed() {
  [ "$(cat "$dest/$1/installed" 2>/dev/null)" = "$1" ] && [ -x "$dest/$1/bin/criu" ] &&
    [ "$(criu_version "$dest/$1/bin/criu")" = "$1" ] && usable "$dest/$1/bin/criu"
}
# pick REL: .criu/bin/criu becomes a link to the install of REL.
pick() { rm -rf "$dest/bin" && mkdir -p "$dest/bin" && ln -sfn "../$1/bin/criu" "$dest/bin/criu"; }
done_with() { echo "criu $(criu_version "$1") ($1)"; exit 0; }

if [ -n "$want" ]; then
  installed "$want" && done_with "$dest/$want/bin/criu"
else
  if [ -n "${CRIU:-}" ]; then
    usable "$CRIU" || die "\$CRIU=$CRIU is not a CRIU >= 4.0 that passes 'criu check' (unset CRIU to install a private copy)"
    done_with "$CRIU"
  fi
  for rel in "${releases[@]}"; do
    # The newest already installed, unless a newer one was never tried here (.criu/REL/failed).
    if installed "$rel"; then pick "$rel"; done_with "$dest/bin/criu"; fi
    [ -e "$dest/$rel/failed" ] || break
  done
  if sys=$(command -v criu) && at_least "$(criu_version "$sys")" "${releases[0]}" && usable "$sys"; then
    rm -rf "$dest/bin" && mkdir -p "$dest/bin" && ln -sfn "$sys" "$dest/bin/criu"
    done_with "$dest/bin/criu"
  fi
fi

# ---- private install from Debian ----
os_id=$( (. /etc/os-release && echo "${ID:-}") 2>/dev/null || true)
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null &&
  { [ "$os_id" = debian ] || [ -n "${CRIU_DEBIAN_MIRROR:-}" ]; } ||
  die "no usable criu >= 4.0 (on PATH or \$CRIU) and this is not Debian: install CRIU >= 4.0 or set CRIU=/path/to/criu"
arch=$(dpkg --print-architecture)

# The archive mirror: the URI the system itself uses for its main Debian suite (the codename,
# e.g. bookworm, not bookworm-security/-updates), from deb822 .sources files and/or the one-line
# sources.list. CRIU_DEBIAN_MIRROR overrides.
find_mirror() {
  local codename; codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || return 1
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    # deb822: paragraphs separated by blank lines; keep comments and continuation lines out.
    awk -v want="$codename" '
      function flush() {
        if (!found && uris != "" && types ~ /(^|[ \t])deb([ \t]|$)/ && tolower(enabled) != "no") {
          n = split(suites, s, /[ \t]+/)
          for (i = 1; i <= n; i++) if (s[i] == want) { split(uris, u, /[ \t]+/); print u[1]; found = 1 }
        }
        uris = ""; types = ""; suites = ""; enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); sub(/^[^:]*:[ \t]*/, "") }
      key == "uris:" { uris = $0 } key == "types:" { types = $0 }
      key == "suites:" { suites = $0 } key == "enabled:" { enabled = $0 }
      END { flush() }' "$f"
  done | head -1 | grep . && return 0
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    # deb [options] URI SUITE COMPONENTS...
    sed -E 's/#.*//; s/\[[^]]*\]//' "$f" | awk -v want="$codename" '$1 == "deb" && $3 == want { print $2; exit }'
  done | head -1 | grep .
}
mirror=${CRIU_DEBIAN_MIRROR:-$(find_mirror || true)}
[ -n "$mirror" ] || die "cannot find the Debian archive URI in /etc/apt/sources.list{,.d/*}; set CRIU_DEBIAN_MIRROR=<archive URI>"
mirror=${mirror%/}

# install_release REL: the private install of REL into .criu/REL. Runs in a subshell: its die
# ends only this attempt, so the newest-first loop below can go on to an older release.
install_release() (
rel=$1
work=$(mktemp -d "${TMPDIR:-/tmp}/criu-apt.XXXXXX")
trap 'rm -rf "$work"' EXIT # (this runs in a subshell: its own trap)
mkdir -p "$work/etc/sources.list.d" "$work/etc/apt.conf.d" "$work/etc/preferences.d" \
  "$work/state/lists/partial" "$work/cache/archives/partial" "$work/debs"
: >"$work/status" # empty dpkg status: the closure must not depend on what the system has installed
# As root, apt downloads as the unprivileged _apt user (its sandbox): let it reach and write
# where files land, or apt falls back to downloading as root with a warning.
if is_root && getent passwd _apt >/dev/null; then
  chmod 755 "$work"
  chown -R _apt "$work/state/lists/partial" "$work/cache" "$work/debs"
fi

# write_apt_config KEYRING SUITE...: a config that reads nothing from the system's apt setup
# (sources, apt.conf.d hooks, preferences, lists, dpkg status) except network settings
# (proxies, and the clock checks a snapshot mirror or a machine with a wrong clock needs).
write_apt_config() {
  local keyring=$1; shift
  cat >"$work/etc/sources.list.d/private.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $*
Components: main
Signed-By: $keyring
EOF
  # The release's criu (and libcompel, which must match it exactly) over whatever the suites'
  # candidates are: experimental's packages are never candidates by default.
  cat >"$work/etc/preferences.d/criu" <<EOF
Package: criu libcompel1
Pin: version $rel-*
Pin-Priority: 1001
EOF
  {
    cat <<EOF
Dir::Etc "$work/etc";
Dir::Etc::sourcelist "/dev/null";
Dir::Etc::sourceparts "$work/etc/sources.list.d";
Dir::Etc::parts "$work/etc/apt.conf.d";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$work/etc/preferences.d";
Dir::State "$work/state";
Dir::State::lists "$work/state/lists";
Dir::State::status "$work/status";
Dir::Cache "$work/cache";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
Acquire::Languages "none";
Acquire::GzipIndexes "true";
EOF
    apt-config dump 2>/dev/null | grep -E '^Acquire::(https?::Proxy|Check-Valid-Until|Check-Date|Retries) ' || true
  } >"$work/apt.conf"
}
papt() { APT_CONFIG="$work/apt.conf" "$@"; }

# Keyring. Debian 12's debian-archive-keyring (2023.3+deb12u1 and later) already holds the
# trixie archive keys, so the system keyring verifies trixie's InRelease as is. If it does not
# (an older bookworm keyring), we get the current debian-archive-keyring package from the
# system's OWN suite, whose signature the system keyring does verify, and use the keyring in
# it for $suite: the chain of trust stays intact and signature checks are never disabled.
keyring=${CRIU_APT_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
suite=${suites[$rel]}
first_problem() { grep -E '^(W|E): ' "$work/update.log" | head -1; }
write_apt_config "$keyring" $suite
rc=0; papt apt-get update -qq >"$work/update.log" 2>&1 || rc=$?
if grep -qiE 'NO_PUBKEY|not signed|signatures (couldn.t|were invalid)|EXPKEYSIG|KEYEXPIRED' "$work/update.log"; then
  own=$(. /etc/os-release && echo "$VERSION_CODENAME")
  write_apt_config /usr/share/keyrings/debian-archive-keyring.gpg "$own" "$own-updates"
  papt apt-get update -qq >"$work/update.log" 2>&1 ||
    die "apt-get update of $mirror $own failed: $(first_problem)"
  (cd "$work/debs" && papt apt-get download -qq debian-archive-keyring >/dev/null 2>&1) ||
    die "cannot download debian-archive-keyring from $own"
  dpkg-deb -x "$work"/debs/debian-archive-keyring_*.deb "$work/keyring"
  rm -f "$work"/debs/*.deb "$work"/state/lists/*_dists_* # start over with only $suite
  keyring=$work/keyring/usr/share/keyrings/debian-archive-keyring.gpg
  write_apt_config "$keyring" $suite
  papt apt-get update -qq >"$work/update.log" 2>&1 ||
    die "apt-get update of $mirror $suite failed even with $own's newest keyring: $(first_problem)"
elif [ "$rc" -ne 0 ]; then
  die "apt-get update of $mirror $suite failed: $(first_problem)"
fi
cand=$(papt apt-cache policy criu 2>/dev/null | sed -n 's/^ *Candidate: *//p')
case $cand in "$rel"-*) ;; *) die "no criu $rel in $mirror $suite (candidate: ${cand:-none}) $(first_problem)" ;; esac

# Runtime closure of criu (and of patchelf, used once below): Depends/PreDepends, recursively.
# Alternatives ("a | b") are all listed by apt-cache; that costs a few extra small libraries.
closure() {
  papt apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "$@" | grep -E '^[a-z0-9]' | sort -u
}
pkgs=$(closure criu patchelf) || die "apt-cache depends failed for criu"
# shellcheck disable=SC2086
(cd "$work/debs" && papt apt-get download -qq $pkgs >"$work/download.log" 2>&1) ||
  die "apt-get download failed: $(grep -E '^E: ' "$work/download.log" | head -1)"

# Unpacked beside the final place and moved there once it works, so a failed or interrupted
# install never leaves a half-made .criu/REL (the lock keeps other runs out meanwhile).
new=$dest/$rel.new fin=$dest/$rel
rm -rf "$new" && mkdir -p "$new/root" "$new/bin"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$new/root"; done
ld="$new/root/usr/lib64/ld-linux-x86-64.so.2"
libc=$(find "$new/root" -name libc.so.6 | head -1)
[ -n "$libc" ] || die "no libc.so.6 in the unpacked libc6"
lib=$(dirname "$libc")
[ -e "$ld" ] || ld=$(find "$new/root" -name 'ld-linux*.so*' \( -type f -o -type l \) | head -1)
[ -n "$ld" ] && [ -e "$ld" ] || die "no dynamic loader in the unpacked libc6"
[ -x "$new/root/usr/sbin/criu" ] || die "no usr/sbin/criu in the unpacked criu package"
# The paths patched in are the final ones (.criu/REL), where the tree is moved next.
cp "$new/root/usr/sbin/criu" "$new/bin/criu"
"$ld" --library-path "$lib" "$new/root/usr/bin/patchelf" \
  --set-interpreter "$fin${ld#"$new"}" --force-rpath --set-rpath "$fin${lib#"$new"}" "$new/bin/criu" ||
  die "patchelf failed on $new/bin/criu"
rm -rf "$fin" && mv "$new" "$fin"

# Every library must come from the private root (a system one would be an ABI mismatch).
deps=$(LD_TRACE_LOADED_OBJECTS=1 "$fin/bin/criu" 2>&1) || die "cannot load $fin/bin/criu: $(echo "$deps" | head -1)"
stray=$(echo "$deps" | grep -E 'not found|=> /' | grep -vF "=> $fin/root/" || true)
[ -z "$stray" ] || die "criu resolves libraries outside $fin/root: $(echo "$stray" | head -1 | xargs)"

v=$(criu_version "$fin/bin/criu")
[ "$v" = "$rel" ] || die "$fin/bin/criu --version did not report $rel (got '$v')"
if is_root; then
  out=$("$fin/bin/criu" check 2>&1) || die "'$fin/bin/criu check' failed: $(echo "$out" | grep -E 'Error|fail' | head -1)"
else
  echo "install-criu: not root, so 'criu check' was not run" >&2
fi
echo "$rel" >"$fin/installed"
)

if [ -n "$want" ]; then
  install_release "$want" || exit 1
  done_with "$dest/$want/bin/criu"
fi
rm -rf "$dest/root" # the layout before releases sat side by side (.criu/root, .criu/bin/criu)
# Newest first; a release that cannot be had or fails `criu check` here is marked failed,
# reported in one line, and the next older one is tried.
for rel in "${releases[@]}"; do
  if installed "$rel" || { rm -rf "$dest/$rel"; install_release "$rel"; }; then
    pick "$rel"
    done_with "$dest/bin/criu"
  fi
  mkdir -p "$dest/$rel" && : >"$dest/$rel/failed"
  echo "install-criu: criu $rel is unusable here, trying an older release" >&2
done
die "none of the pinned CRIU releases (${releases[*]}) could be installed and pass 'criu check' here"

#!/usr/bin/env bash
# Two hosts on one machine: two network namespaces ("src" and "dst") joined by a veth pair,
# with a real OpenSSH server inside dst, so that `ssh dst CMD` from src runs CMD "on the other
# machine" over a real TCP link, as a migration between two hosts would. Needs root and
# Debian's openssh-server (scripts/setup.sh installs it; this never starts the system's sshd).
#
# Sourced (scenario scripts):
#   source scripts/lib/two-hosts.sh
#   two_hosts_up [--rate 1gbit] [--path DIR]   # sets the TWO_HOSTS_* variables below, exports them
#   trap two_hosts_down EXIT          # nothing left behind, also when the script fails
#   on_src CMD...                     # CMD in the source namespace ("this host")
#   on_src ssh -F "$TWO_HOSTS_SSH_CONFIG" dst CMD    # CMD on the destination, over ssh
#   on_dst_ssh CMD...                 # the same, shorter
# Run (tests, other languages):
#   eval "$(bash scripts/lib/two-hosts.sh up [--rate R] [--path DIR])"   # prints `export TWO_HOSTS_...=...`
#   bash scripts/lib/two-hosts.sh down "$TWO_HOSTS_DIR"
#
# Variables: TWO_HOSTS_DIR (private 0700 dir: keys, ssh_config, sshd log; `down` removes it),
# TWO_HOSTS_SRC_NS / TWO_HOSTS_DST_NS (netns names, in /run/netns), TWO_HOSTS_SRC_ADDR /
# TWO_HOSTS_DST_ADDR (the veth addresses), TWO_HOSTS_SSH_CONFIG ($TWO_HOSTS_DIR/ssh_config,
# host alias `dst`, user root, the run's own client key and known_hosts, BatchMode).
#
# Choices, and why:
# - Every name carries a random id taken from the run's mktemp dir (and TWO_HOSTS_PREFIX,
#   default "cp2h", at most 6 characters: interface names are limited to 15), so parallel
#   runs never clash; the /30 is derived from the same id. Both veth ends live in the new
#   namespaces, so the addresses cannot collide with the machine's own networks anyway.
# - on_src enters only the network namespace (nsenter --net), not a mount namespace as
#   `ip netns exec` does: a process started that way and the `criu dump` of it then share
#   criu's mount namespace, which CRIU would otherwise have to dump too. The file system and
#   pid space are shared between the "hosts"; only the network is split.
# - sshd runs from its own config in TWO_HOSTS_DIR, key-only, listening only on the dst veth
#   address; StrictModes is off because the dir sits under /tmp (mode 1777), which sshd's
#   path check rejects even though the dir itself is 0700 and root's.
# - --path DIR puts DIR first on the PATH of every ssh session (sshd's SetEnv), so that
#   `ssh dst 'img-buffer ...'` finds the binaries as on a host where they are installed.
# - --rate caps the link with a tbf qdisc on both veth ends (this kernel has tbf, not netem).
# - sshd needs its privilege-separation dir /run/sshd; it is created if missing and left in
#   place (it belongs to the openssh-server package, and another run's sshd may be using it).

TWO_HOSTS_SELF=${BASH_SOURCE[0]}
# tbf needs a bucket of at least rate/HZ bytes to reach its rate; 1 MiB covers 1 Gbit/s at
# HZ=100. The latency bound only limits how long packets queue before tbf drops them.
TWO_HOSTS_TBF_BURST=${TWO_HOSTS_TBF_BURST:-1mb}
TWO_HOSTS_TBF_LATENCY=50ms
# How long `up` waits for the new sshd to accept the run's key (tries of 0.1 s).
TWO_HOSTS_SSH_TRIES=100

two_hosts_err() { echo "two-hosts: $*" >&2; }

# The command prefix that runs something in the source namespace.
on_src() { nsenter --net="/run/netns/$TWO_HOSTS_SRC_NS" "$@"; }
on_dst() { nsenter --net="/run/netns/$TWO_HOSTS_DST_NS" "$@"; }
on_dst_ssh() { on_src ssh -F "$TWO_HOSTS_SSH_CONFIG" dst "$@"; }

two_hosts_up() {
  local rate="" path=""
  while [ $# -gt 0 ]; do
    case $1 in
      --rate) rate=${2:?--rate needs a value such as 1gbit}; shift 2 ;;
      --path) path=${2:?--path needs a directory}; shift 2 ;;
      *) two_hosts_err "unknown option $1"; return 2 ;;
    esac
  done
  local prefix=${TWO_HOSTS_PREFIX:-cp2h}
  [ ${#prefix} -le 6 ] || { two_hosts_err "TWO_HOSTS_PREFIX '$prefix' is longer than 6 characters"; return 2; }
  [ -x /usr/sbin/sshd ] || { two_hosts_err "/usr/sbin/sshd is missing: run scripts/setup.sh (it installs openssh-server)"; return 1; }
  [ "$(id -u)" = 0 ] || { two_hosts_err "needs root (network namespaces)"; return 1; }

  TWO_HOSTS_DIR=$(mktemp -d "/tmp/$prefix-two-hosts.XXXXXX") || return 1
  local id=${TWO_HOSTS_DIR##*.}
  TWO_HOSTS_SRC_NS="$prefix-$id-src"
  TWO_HOSTS_DST_NS="$prefix-$id-dst"
  TWO_HOSTS_SRC_IF="$prefix${id}s"
  TWO_HOSTS_DST_IF="$prefix${id}d"
  local h; h=$(printf '%s' "$id" | cksum | cut -d' ' -f1)
  local net="10.$(( (h >> 16) % 250 + 1 )).$(( (h >> 8) & 255 )).$(( h & 252 ))"
  TWO_HOSTS_SRC_ADDR="${net%.*}.$(( ${net##*.} + 1 ))"
  TWO_HOSTS_DST_ADDR="${net%.*}.$(( ${net##*.} + 2 ))"
  TWO_HOSTS_SSH_CONFIG="$TWO_HOSTS_DIR/ssh_config"
  export TWO_HOSTS_DIR TWO_HOSTS_SRC_NS TWO_HOSTS_DST_NS TWO_HOSTS_SRC_IF TWO_HOSTS_DST_IF \
    TWO_HOSTS_SRC_ADDR TWO_HOSTS_DST_ADDR TWO_HOSTS_SSH_CONFIG
  # `down` reads this back, so that a separate process can take the hosts down.
  two_hosts_env > "$TWO_HOSTS_DIR/env"

  local rc=0
  two_hosts_build "$rate" "$path" || rc=$?
  if [ "$rc" != 0 ]; then
    [ -f "$TWO_HOSTS_DIR/sshd.log" ] && sed 's/^/two-hosts: sshd: /' "$TWO_HOSTS_DIR/sshd.log" >&2
    two_hosts_down
    return "$rc"
  fi
}

two_hosts_env() {
  local v
  for v in TWO_HOSTS_DIR TWO_HOSTS_SRC_NS TWO_HOSTS_DST_NS TWO_HOSTS_SRC_IF TWO_HOSTS_DST_IF \
    TWO_HOSTS_SRC_ADDR TWO_HOSTS_DST_ADDR TWO_HOSTS_SSH_CONFIG; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
}

two_hosts_build() {
  local rate=$1 path=$2 d=$TWO_HOSTS_DIR
  ip netns add "$TWO_HOSTS_SRC_NS" && ip netns add "$TWO_HOSTS_DST_NS" || return 1
  ip link add "$TWO_HOSTS_SRC_IF" netns "$TWO_HOSTS_SRC_NS" type veth \
    peer name "$TWO_HOSTS_DST_IF" netns "$TWO_HOSTS_DST_NS" || return 1
  on_src ip addr add "$TWO_HOSTS_SRC_ADDR/30" dev "$TWO_HOSTS_SRC_IF" || return 1
  on_dst ip addr add "$TWO_HOSTS_DST_ADDR/30" dev "$TWO_HOSTS_DST_IF" || return 1
  on_src ip link set lo up && on_src ip link set "$TWO_HOSTS_SRC_IF" up || return 1
  on_dst ip link set lo up && on_dst ip link set "$TWO_HOSTS_DST_IF" up || return 1
  if [ -n "$rate" ]; then
    on_src tc qdisc add dev "$TWO_HOSTS_SRC_IF" root tbf rate "$rate" \
      burst "$TWO_HOSTS_TBF_BURST" latency "$TWO_HOSTS_TBF_LATENCY" || return 1
    on_dst tc qdisc add dev "$TWO_HOSTS_DST_IF" root tbf rate "$rate" \
      burst "$TWO_HOSTS_TBF_BURST" latency "$TWO_HOSTS_TBF_LATENCY" || return 1
  fi

  ssh-keygen -q -t ed25519 -N '' -C two-hosts-host -f "$d/host_key" || return 1
  ssh-keygen -q -t ed25519 -N '' -C two-hosts-client -f "$d/id_ed25519" || return 1
  cp "$d/id_ed25519.pub" "$d/authorized_keys"
  printf '%s %s\n' "$TWO_HOSTS_DST_ADDR" "$(cut -d' ' -f1,2 "$d/host_key.pub")" > "$d/known_hosts"
  cat > "$d/sshd_config" <<EOF
ListenAddress $TWO_HOSTS_DST_ADDR:22
HostKey $d/host_key
PidFile $d/sshd.pid
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
LogLevel ERROR
EOF
  [ -z "$path" ] || echo "SetEnv PATH=$path:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" >> "$d/sshd_config"
  cat > "$TWO_HOSTS_SSH_CONFIG" <<EOF
Host dst
  HostName $TWO_HOSTS_DST_ADDR
  User root
  IdentityFile $d/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $d/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ControlMaster no
  LogLevel ERROR
EOF
  mkdir -p -m 0755 /run/sshd
  # Not -D: sshd daemonizes and writes its pid file, so `down` can run from another process.
  on_dst /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log" || return 1
  local i
  for ((i = 0; i < TWO_HOSTS_SSH_TRIES; i++)); do
    on_dst_ssh true 2>/dev/null && return 0
    sleep 0.1
  done
  on_dst_ssh true || { two_hosts_err "sshd in $TWO_HOSTS_DST_NS does not accept the run's key"; return 1; }
}

# Takes everything `up` made away again: every process still in either namespace (sshd, its
# sessions, whatever a scenario left running there), both namespaces (the veth pair and the
# qdiscs go with them), the key dir. Safe to call twice and after a partial `up`.
two_hosts_down() {
  [ -n "${TWO_HOSTS_DIR:-}" ] || return 0
  local ns p
  for ns in "$TWO_HOSTS_DST_NS" "$TWO_HOSTS_SRC_NS"; do
    # `ip netns pids` matches /proc/PID/ns/net against this namespace: only this run's.
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$TWO_HOSTS_DIR"
  TWO_HOSTS_DIR=""
}

# What `up` names its dir (mktemp in /tmp: TWO_HOSTS_PREFIX, at most 6 characters, then 6 random).
TWO_HOSTS_DIR_RE='^/tmp/[A-Za-z0-9_.-]{1,6}-two-hosts\.[A-Za-z0-9]{6}$'

# two_hosts_load DIR: the variables of the run whose dir is DIR, from DIR/env, for `down` in
# another process. `down` kills processes, deletes namespaces and removes a directory, all named
# in that file: it is read only from a dir of ours that nobody else may write (/tmp is sticky, so
# nobody else can rename it either), and parsed, never sourced: one `export TWO_HOSTS_X=VALUE`
# line per variable `up` writes, plain values only, TWO_HOSTS_DIR being DIR itself.
two_hosts_load() {
  local dir=$1 uid mode line name value
  [[ $dir =~ $TWO_HOSTS_DIR_RE ]] || { two_hosts_err "down: $dir is not a two-hosts dir"; return 2; }
  [ -d "$dir" ] && [ ! -L "$dir" ] || { two_hosts_err "down: $dir is not a directory"; return 2; }
  read -r uid mode < <(stat -c '%u %a' -- "$dir")
  [ "$uid" = "$(id -u)" ] && (( (8#$mode & 8#022) == 0 )) ||
    { two_hosts_err "down: $dir belongs to uid $uid, mode $mode: not a dir of ours only we can write; refusing to use it"; return 2; }
  [ -f "$dir/env" ] && [ ! -L "$dir/env" ] || { two_hosts_err "down: $dir/env is missing or not a regular file"; return 2; }
  TWO_HOSTS_DIR="" TWO_HOSTS_SRC_NS="" TWO_HOSTS_DST_NS=""
  while IFS= read -r line; do
    [[ $line =~ ^export\ (TWO_HOSTS_(DIR|SRC_NS|DST_NS|SRC_IF|DST_IF|SRC_ADDR|DST_ADDR|SSH_CONFIG))=([A-Za-z0-9_./:-]+)$ ]] ||
      { two_hosts_err "down: $dir/env is not one two-hosts.sh up writes"; TWO_HOSTS_DIR=""; return 2; }
    name=${BASH_REMATCH[1]} value=${BASH_REMATCH[3]}
    printf -v "$name" '%s' "$value"
  done < "$dir/env"
  [ "$TWO_HOSTS_DIR" = "$dir" ] && [ -n "$TWO_HOSTS_SRC_NS" ] && [ -n "$TWO_HOSTS_DST_NS" ] ||
    { two_hosts_err "down: $dir/env is not one two-hosts.sh up writes"; TWO_HOSTS_DIR=""; return 2; }
}

# Run as a script: `up` prints the variables for eval, `down DIR` takes that run down.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case ${1:-} in
    up) shift; two_hosts_up "$@" >&2; two_hosts_env ;;
    down)
      dir=${2:?usage: two-hosts.sh down TWO_HOSTS_DIR}
      [[ $dir =~ $TWO_HOSTS_DIR_RE ]] || { two_hosts_err "down: $dir is not a two-hosts dir"; exit 2; }
      [ -e "$dir" ] || [ -L "$dir" ] || exit 0 # down already
      two_hosts_load "$dir" || exit 2
      two_hosts_down ;;
    *) echo "usage: $TWO_HOSTS_SELF up [--rate RATE] | down TWO_HOSTS_DIR" >&2; exit 2 ;;
  esac
fi

#!/usr/bin/env bash
# Installs what the object-store scenarios and tests need, from Debian's own packages: a
# one-node Ceph (ceph-mon, ceph-osd, radosgw: the S3 gateway; no ceph-mgr, S3 does not need it)
# and the two real S3 clients, awscli v2 (/usr/bin/aws) and rclone.
# Idempotent: when every program is there it does nothing, not even `apt-get update`.
# --no-install-recommends keeps Ceph at about 270 MB (recommends pull in ceph-mgr and ~80 more).
set -euo pipefail
die() { echo "install-ceph: $*" >&2; exit 1; }
# program -> the Debian package that ships it
declare -A want=(
  [/usr/bin/ceph-mon]=ceph-mon [/usr/bin/ceph-osd]=ceph-osd [/usr/bin/radosgw]=radosgw
  [/usr/bin/aws]=awscli [/usr/bin/rclone]=rclone
)
missing=()
for prog in "${!want[@]}"; do [ -x "$prog" ] || missing+=("${want[$prog]}"); done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" -eq 0 ] || die "needs root to install ${missing[*]}"
command -v apt-get >/dev/null || die "no apt-get: install ${missing[*]} (Ceph RGW, awscli v2, rclone) by hand"
# Other apt users on the machine (a parallel setup) hold the lock for a while: wait for it.
apt_opts=(-o DPkg::Lock::Timeout=600 -qq)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt-get "${apt_opts[@]}" update >"$log" 2>&1 || { cat "$log" >&2; die "apt-get update failed"; }
DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y --no-install-recommends \
  "${missing[@]}" >"$log" 2>&1 || { cat "$log" >&2; die "apt-get install ${missing[*]} failed"; }
for prog in "${!want[@]}"; do [ -x "$prog" ] || die "$prog is still missing after installing ${want[$prog]}"; done

#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine, and builds the code:
# pnpm (pinned), the workspace packages, CRIU (scripts/install-criu.sh: the newest that works, and 4.1.1), libssl3, the lz4 and zstd
# CLIs (the compress benchmark's external-codec contenders), then `tsc -b`.
# Idempotent: a second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi
command -v cc >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq gcc >/dev/null; }
# The codecs are the system's liblz4 and libzstd (loaded through koffi by the chunk workers); the
# lz4 and zstd commands (which depend on them) for the benchmarks and tests.
{ command -v lz4 && command -v zstd && ldconfig -p | grep -q 'liblz4\.so\.1 ' && ldconfig -p | grep -q 'libzstd\.so\.1 '; } >/dev/null 2>&1 ||
  { apt-get update -qq && apt-get install -y -qq lz4 zstd liblz4-1 libzstd1 >/dev/null; }
# iptables: CRIU locks established TCP connections with it during a dump (--tcp-established).
command -v iptables >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq iptables >/dev/null; }
# libcrypto.so.3 (OpenSSL 3): the SHA-256 page hash of incremental checkpoints (packages/sys/src/libcrypto.ts).
ldconfig -p | grep -q 'libcrypto\.so\.3 ' || { apt-get update -qq && apt-get install -y -qq libssl3 >/dev/null; }
# openssh-server for the two-host scenarios (scripts/lib/two-hosts.sh runs its own sshd from
# its own config). Installing it must not start the system's sshd: where no policy-rc.d
# forbids that already, one does for the length of the install.
if [ ! -x /usr/sbin/sshd ]; then
  policy=/usr/sbin/policy-rc.d own_policy=""
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1; fi
  { apt-get install -y -qq openssh-server >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq openssh-server >/dev/null; }; } || rc=$?
  [ -z "$own_policy" ] || rm -f "$policy"
  [ -z "${rc:-}" ] || exit "$rc"
fi
pnpm install --frozen-lockfile --reporter=silent
stamp=node_modules/.tap-built
if [ ! -e "$stamp" ] || [ .taprc -nt "$stamp" ]; then node_modules/.bin/tap build >/dev/null && touch "$stamp"; fi
bash scripts/install-criu.sh
# Debian 13's CRIU beside it, for the tests that must keep passing on it (test/e2e/criu-4.1.1.test.ts).
bash scripts/install-criu.sh --version 4.1.1
node_modules/.bin/tsc -b
# The man pages, from each binary's --help and its src/man.ts (scripts/install.sh installs them).
node packages/streamer/dist/src/cli/build-man.js >/dev/null
# Ceph RGW and the S3 clients for the object-store scenarios (scripts/lib/ceph-rgw.sh).
bash scripts/install-ceph.sh

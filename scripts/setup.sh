#!/usr/bin/env bash
# Installs everything the demo and the tests need on a fresh Debian machine, and builds the code:
# pnpm (pinned), the workspace packages, CRIU >= 4 (scripts/install-criu.sh), the lz4 and zstd
# CLIs (the compress benchmark's external-codec contenders), then `tsc -b`.
# Idempotent: a second run takes about a second.
set -euo pipefail
cd "$(dirname "$0")/.."
PNPM_VERSION=10.34.9
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi
command -v cc >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq gcc >/dev/null; }
{ command -v lz4 && command -v zstd; } >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq lz4 zstd >/dev/null; }
pnpm install --frozen-lockfile --reporter=silent
stamp=node_modules/.tap-built
if [ ! -e "$stamp" ] || [ .taprc -nt "$stamp" ]; then node_modules/.bin/tap build >/dev/null && touch "$stamp"; fi
bash scripts/install-criu.sh
node_modules/.bin/tsc -b

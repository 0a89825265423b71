// @node-rs/xxhash, loaded on first use: a native module, which the plain stream never needs
// (nothing is loaded that could delay or bloat a capture that does not use it).
import { statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

type XxHash = typeof import('@node-rs/xxhash')
let loaded: XxHash | null = null

export function xxhash(): XxHash {
  if (!loaded) {
    // Node's realpathSync, which require() uses to follow pnpm's symlinks, stops at the first
    // cached directory if the process's last fs.*stat* result was a FIFO or a socket
    // (nodejs/node#51142): after an fstat of CRIU's pipes the package was looked for under the
    // unresolved link and "Cannot find native binding" followed. A stat of a regular file first.
    statSync(fileURLToPath(import.meta.url))
    loaded = createRequire(import.meta.url)('@node-rs/xxhash') as XxHash
  }
  return loaded
}

// @node-rs/xxhash, loaded on first use: a native module, which the plain stream never needs
// (nothing is loaded that could delay or bloat a capture that does not use it).
//
// That first use often comes right after an fstat of a pipe or socket (a shard, img-migrate's
// channel), and Node's realpath then trusts its cache and stops at the first cached directory
// when the LAST stat anywhere in the process was of a FIFO or socket (nodejs/node#51142, Node 20):
// the package's index.js is then run from its unresolved symlink under packages/framing, and its
// native part, beside it only in pnpm's store, is not found ("Cannot find native binding"). A stat
// of a regular file (this module's own) just before the require sets that last stat right.
import { createRequire } from 'node:module'
import { statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

type XxHash = typeof import('@node-rs/xxhash')
let loaded: XxHash | null = null

export function xxhash(): XxHash {
  if (loaded === null) {
    statSync(fileURLToPath(import.meta.url))
    loaded = createRequire(import.meta.url)('@node-rs/xxhash') as XxHash
  }
  return loaded
}

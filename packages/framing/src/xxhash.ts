// @node-rs/xxhash, loaded on first use: a native module, which the plain stream never needs
// (nothing is loaded that could delay or bloat a capture that does not use it).
import { createRequire } from 'node:module'

type XxHash = typeof import('@node-rs/xxhash')
let loaded: XxHash | null = null

export function xxhash(): XxHash {
  return (loaded ??= createRequire(import.meta.url)('@node-rs/xxhash') as XxHash)
}

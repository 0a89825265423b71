// codec-rate.js CODEC FILE: img-split's own codec calls (framing's native-codecs: liblz4, libzstd
// at a level, default 1) over FILE in EXT_CHUNK chunks, one thread, from and into shared memory as
// the workers do (no copy); CODEC `sha256` is the page hash of an index (framing's hashPages) over
// the same chunks. Prints `cpu_s raw_bytes stored_bytes`: the CPU time of the loop alone (for
// sha256, stored = the hashes' bytes).
import { readFileSync } from 'node:fs'
import { CONTENT_CHUNK, REF_HASH_BYTES, hashPages } from '@criu-pipes/framing'
import { Zstd, lz4Compress } from '@criu-pipes/framing/native-codecs'

// EXT_CHUNK, and room for either codec's worst case.
const CHUNK = 256 * 1024
const OUT = CHUNK + CHUNK / 128 + 64

const [codec, file] = process.argv.slice(2) as [string, string]
const data = readFileSync(file)
const shared = Buffer.from(new SharedArrayBuffer(data.length))
data.copy(shared)
const out = Buffer.from(new SharedArrayBuffer(OUT))
const zstd = new Zstd()
const level = codec.startsWith('zstd:') ? Number(codec.slice('zstd:'.length)) : 1
const hash = (src: Buffer) => {
  const pages = Math.floor(src.length / CONTENT_CHUNK)
  hashPages(src, pages, out)
  return pages * REF_HASH_BYTES
}
const compress = codec === 'lz4' ? (src: Buffer) => lz4Compress(src, out)
  : codec === 'sha256' ? hash
  : (src: Buffer) => zstd.compress(out, src, level)
const t0 = process.cpuUsage()
let stored = 0
for (let off = 0; off < shared.length; off += CHUNK) stored += compress(shared.subarray(off, off + CHUNK))
const t = process.cpuUsage(t0)
console.log(`${(t.user + t.system) / 1e6} ${shared.length} ${stored}`)

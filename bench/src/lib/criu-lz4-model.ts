// An offline model of CRIU 4.3's `criu dump --compress` for a CRIU built without LZ4 (Debian's
// 4.3 is: `criu check --feature compress` fails), run on the pages of a real `criu dump -D`.
// CRIU's rules, as its crit compress/decompress apply them (Debian's 4.3-1~exp2 python3-pycriu;
// README "CRIU"): with --stream one LZ4 block per 4 KiB page, LZ4_compress_fast at acceleration
// 1 (--compress-acceleration's default); a page of zeros is stored empty; a page LZ4 does not
// shrink below 7/8 of its size is stored raw. The codec is the system's liblz4, the library CRIU
// links, called page by page on this one thread as CRIU's dump thread does: the CPU seconds are
// those of that thread. Restore with --decompress-threads 0 decompresses inline: timed likewise.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const PAGE = 4096
/** CRIU stores a page raw when LZ4 leaves it at 7/8 of a page or more (PAGE_COMPRESSION_THRESHOLD). */
const RAW_THRESHOLD = (PAGE * 7) / 8
/** --compress-acceleration's default. */
const ACCELERATION = 1
/** LZ4_compressBound(4096): room for any page's block. */
const BOUND = PAGE + PAGE / 255 + 16

export interface CriuLz4Model {
  /** page bytes in */
  raw: number
  /** bytes CRIU would store or send for them */
  stored: number
  zeroPages: number
  rawPages: number
  lz4Pages: number
  /** CPU seconds of this thread compressing, and decompressing the LZ4 pages back */
  compressCpuS: number
  decompressCpuS: number
}

type Lz4 = {
  compress: (src: Buffer, dst: Buffer, srcSize: number, dstCap: number, accel: number) => number
  decompress: (src: Buffer, dst: Buffer, size: number, dstCap: number) => number
}
let lz4: Lz4 | undefined

function liblz4(): Lz4 {
  if (lz4) return lz4
  // koffi as packages/sys loads it (the workspace's one copy, reached through the harness, which
  // depends on sys); liblz4.so.1 is the library of the lz4 CLI that scripts/setup.sh installs.
  const harness = fileURLToPath(import.meta.resolve('@criu-pipes/e2e/harness'))
  const sys = createRequire(harness).resolve('@criu-pipes/sys')
  const koffi = createRequire(sys)('koffi') as { load(path: string): { func(decl: string): (...a: unknown[]) => number } }
  const lib = koffi.load('liblz4.so.1')
  return (lz4 = {
    compress: lib.func('int LZ4_compress_fast(const uint8_t *src, uint8_t *dst, int srcSize, int dstCapacity, int acceleration)'),
    decompress: lib.func('int LZ4_decompress_safe(const uint8_t *src, uint8_t *dst, int compressedSize, int dstCapacity)'),
  })
}

const cpuS = (from: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(from)
  return (d.user + d.system) / 1e6
}

/** The model over the concatenated pages of `files` (pages-*.img of an uncompressed dump). */
export function modelCriuLz4(files: readonly string[]): CriuLz4Model {
  const { compress, decompress } = liblz4()
  const m: CriuLz4Model = { raw: 0, stored: 0, zeroPages: 0, rawPages: 0, lz4Pages: 0, compressCpuS: 0, decompressCpuS: 0 }
  const block = Buffer.alloc(BOUND)
  const back = Buffer.alloc(PAGE)
  for (const f of files) {
    const data = readFileSync(f)
    const n = Math.floor(data.length / PAGE)
    m.raw += n * PAGE
    const blocks: Buffer[] = []
    const c0 = process.cpuUsage()
    for (let i = 0; i < n; i++) {
      const page = data.subarray(i * PAGE, (i + 1) * PAGE)
      if (isZero(page)) { m.zeroPages++; continue }
      const len = compress(page, block, PAGE, BOUND, ACCELERATION)
      if (len <= 0 || len >= RAW_THRESHOLD) { m.rawPages++; m.stored += PAGE; continue }
      m.lz4Pages++
      m.stored += len
      blocks.push(Buffer.from(block.subarray(0, len)))
    }
    m.compressCpuS += cpuS(c0)
    const d0 = process.cpuUsage()
    for (const b of blocks) {
      if (decompress(b, back, b.length, PAGE) !== PAGE) throw new Error(`${f}: an LZ4 page did not decompress to ${PAGE} bytes`)
    }
    m.decompressCpuS += cpuS(d0)
  }
  return m
}

const ZERO_PAGE = Buffer.alloc(PAGE)
/** A native compare (memcmp), as cheap as CRIU's own test: a JS loop would bill the model for JS. */
const isZero = (page: Buffer): boolean => page.equals(ZERO_PAGE)

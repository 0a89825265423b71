// The codecs of the extended stream, called in the reference C libraries: the system's liblz4
// (Debian liblz4-1) and libzstd (libzstd1), through koffi, on the slots' shared memory directly
// (a Buffer is passed as a pointer: no copy in, no allocation out). Measured on the same 256 MiB
// of mixed pages, one core: liblz4 compressed 2-5 x faster than lz4-napi (lz4_flex, which also
// returned each block in a new Buffer), libzstd 1.3-1.8 x faster than zstd-napi, at the same
// ratios (README, "Compression"). Loaded only by the chunk worker: a process that does not
// compress never maps either library.
//
// The stored formats are unchanged: an LZ4 block (no frame, no size prefix), and a zstd frame
// with its content size.
import koffi from 'koffi'

// liblz4 1.9 and libzstd 1.5 keep these soname versions; the functions below are in their
// stable APIs.
const LIBLZ4 = 'liblz4.so.1'
const LIBZSTD = 'libzstd.so.1'
// LZ4_compress_fast's acceleration 1: what LZ4_compress_default and `lz4 -1` use.
const LZ4_ACCELERATION = 1

// koffi functions are untyped; the wrappers below give them types.
type Fn = (...args: any[]) => any

// zstd's size_t results carry errors as (size_t)-code, and ZSTD_getFrameContentSize's unsigned
// long long its two special values as -1 and -2. Declared int64_t (the same register on the
// x86_64 and arm64 ABIs), they come back as small negative numbers instead of huge BigInts.
const lz4 = koffi.load(LIBLZ4)
const zstd = koffi.load(LIBZSTD)
const c = {
  LZ4_compress_fast: lz4.func('int LZ4_compress_fast(const void *src, void *dst, int srcSize, int dstCapacity, int acceleration)') as Fn,
  LZ4_decompress_safe: lz4.func('int LZ4_decompress_safe(const void *src, void *dst, int compressedSize, int dstCapacity)') as Fn,
  ZSTD_createCCtx: zstd.func('void *ZSTD_createCCtx()') as Fn,
  ZSTD_createDCtx: zstd.func('void *ZSTD_createDCtx()') as Fn,
  ZSTD_compressCCtx: zstd.func('int64_t ZSTD_compressCCtx(void *cctx, void *dst, size_t dstCapacity, const void *src, size_t srcSize, int level)') as Fn,
  ZSTD_decompressDCtx: zstd.func('int64_t ZSTD_decompressDCtx(void *dctx, void *dst, size_t dstCapacity, const void *src, size_t srcSize)') as Fn,
  ZSTD_getFrameContentSize: zstd.func('int64_t ZSTD_getFrameContentSize(const void *src, size_t srcSize)') as Fn,
  ZSTD_findFrameCompressedSize: zstd.func('int64_t ZSTD_findFrameCompressedSize(const void *src, size_t srcSize)') as Fn,
  ZSTD_getErrorName: zstd.func('const char *ZSTD_getErrorName(int64_t code)') as Fn,
}

const zstdError = (what: string, code: number): Error => new Error(`${what}: ${c.ZSTD_getErrorName(code) as string}`)

/** An LZ4 block of `src` into `dst`; its length (0: it does not fit in dst). */
export function lz4Compress(src: Uint8Array, dst: Uint8Array): number {
  return c.LZ4_compress_fast(src, dst, src.length, dst.length, LZ4_ACCELERATION) as number
}

/** Decodes the LZ4 block `src` into `dst`; its raw length, or -1 if the block is malformed or too long for dst. */
export function lz4Decompress(src: Uint8Array, dst: Uint8Array): number {
  const n = c.LZ4_decompress_safe(src, dst, src.length, dst.length) as number
  return n < 0 ? -1 : n
}

/**
 * One thread's zstd contexts (a context is reused for every chunk: creating one per call would
 * cost more than compressing a chunk). Never freed: a worker keeps its own for its lifetime.
 */
export class Zstd {
  private readonly cctx: unknown = c.ZSTD_createCCtx()
  private readonly dctx: unknown = c.ZSTD_createDCtx()

  constructor() {
    if (!this.cctx || !this.dctx) throw new Error('zstd: out of memory for its contexts')
  }

  /** One zstd frame (with its content size) of `src` into `dst`; its length. */
  compress(dst: Uint8Array, src: Uint8Array, level: number): number {
    const n = Number(c.ZSTD_compressCCtx(this.cctx, dst, dst.length, src, src.length, level))
    if (n < 0) throw zstdError('zstd compression failed', n)
    return n
  }

  /** Decodes the frame `src` into `dst`; its length. Throws on a damaged frame. */
  decompress(dst: Uint8Array, src: Uint8Array): number {
    const n = Number(c.ZSTD_decompressDCtx(this.dctx, dst, dst.length, src, src.length))
    if (n < 0) throw zstdError('zstd frame is damaged', n)
    return n
  }
}

/** The raw length a zstd frame declares, or null if it declares none (or is no frame). */
export function zstdFrameContentSize(src: Uint8Array): number | null {
  const n = Number(c.ZSTD_getFrameContentSize(src, src.length))
  return n < 0 ? null : n
}

/** How many bytes the first zstd frame of `src` takes, or null if it is damaged or cut short. */
export function zstdFrameCompressedSize(src: Uint8Array): number | null {
  const n = Number(c.ZSTD_findFrameCompressedSize(src, src.length))
  return n < 0 ? null : n
}

// The opt-in options of the extended stream, as the binaries take them.
import type { WorkerPool } from '@criu-pipes/workers'
import { Codec } from './limits.js'
import type { ChunkJob } from './jobs.js'

export type CompressMode = 'none' | 'lz4' | 'zstd' | 'auto'

export interface ExtWriteOptions {
  compress: CompressMode
  /** zstd level for `--compress zstd:LEVEL` (default ZSTD_DEFAULT_LEVEL). */
  level: number
  checksum: boolean
  /** 32-byte key (key-file.ts), or null. */
  key: Buffer | null
  threads: number
  /** CHUNK_REF markers may follow (img-split --base-index): declared in STREAM_HEADER. */
  refs?: boolean
  /**
   * The stream id (STREAM_ID_BYTES, fresh random bytes, never reused under a key): given by
   * img-migrate, which announces it in its authenticated ROUND before the image; else random.
   */
  streamId?: Buffer
}

export interface ExtReadOptions {
  key: Buffer | null
  threads: number
  /** The directory of the base checkpoint that CHUNK_REF markers point into (--base DIR). */
  base?: string | null
  /** --expect-stream ID: any other stream (an older one under the same key) is refused. */
  expectStream?: Buffer | null
  /** The one shard is img-migrate's channel: stop at image_eof, the channel goes on (ShardSet). */
  continues?: boolean
  /**
   * Decoding threads started early, without their init (startDecodePool): the reader takes them
   * over at the stream header if their count is `threads`, and lets them go otherwise.
   */
  pool?: WorkerPool<ChunkJob> | null
}

export const ZSTD_DEFAULT_LEVEL = 1
// libzstd accepts levels down to its fast modes (-131072) and up to 22; beyond 19 needs a
// large window that no chunk has.
export const ZSTD_MIN_LEVEL = -50
export const ZSTD_MAX_LEVEL = 19

/** `none|lz4|zstd[:LEVEL]|auto`; null when the value is not one of those. */
export function parseCompress(value: string): { compress: CompressMode; level: number } | null {
  const m = /^(none|lz4|auto|zstd)(?::(-?\d+))?$/.exec(value)
  if (!m) return null
  const compress = m[1] as CompressMode
  if (m[2] !== undefined && compress !== 'zstd') return null
  const level = m[2] !== undefined ? Number(m[2]) : ZSTD_DEFAULT_LEVEL
  if (level < ZSTD_MIN_LEVEL || level > ZSTD_MAX_LEVEL) return null
  return { compress, level }
}

/** Whether the options need the extended stream at all: without them it stays criu-image-streamer's. */
export const isExtended = (o: ExtWriteOptions): boolean => o.compress !== 'none' || o.checksum || o.key !== null || o.refs === true

/** The codecs a writer with these options may put in its stream (STREAM_HEADER.codecs). */
export function codecsOf(compress: CompressMode): number {
  const bit = (c: Codec): number => 1 << c
  switch (compress) {
    case 'none': return bit(Codec.STORED)
    case 'lz4': return bit(Codec.STORED) | bit(Codec.LZ4)
    case 'zstd': return bit(Codec.STORED) | bit(Codec.ZSTD)
    case 'auto': return bit(Codec.STORED) | bit(Codec.LZ4) | bit(Codec.ZSTD) | bit(Codec.ZERO)
  }
}

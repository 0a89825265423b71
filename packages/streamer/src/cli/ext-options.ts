// The options of the extended stream (README, "Compression, checksums, encryption"), parsed one
// way for every binary: img-split writes it, img-join and img-buffer read it (and img-join may
// write it again).
import {
  defaultThreads, parseCompress, readKeyFile, isExtended, STREAM_ID_BYTES, ZSTD_DEFAULT_LEVEL, type ExtReadOptions, type ExtWriteOptions,
} from '@criu-pipes/framing'
import { UsageError } from './usage-error.js'

export const WRITE_EXT_OPTIONS = {
  compress: { type: 'string', describe: 'none|lz4|zstd[:LEVEL]|auto, chosen per chunk [default: none]' },
  checksum: { type: 'boolean', describe: 'XXH64 of every chunk [default: on with --compress or --encrypt]' },
  encrypt: { type: 'string', describe: 'AES-256-GCM with the 32-byte key in this file (mode 0600)' },
  threads: { type: 'number', describe: 'worker threads for the codecs [default: the number of cores]' },
} as const

export const READ_EXT_OPTIONS = {
  decrypt: { type: 'string', describe: 'the key file of an encrypted stream' },
  base: { type: 'string', describe: 'the base checkpoint directory (extracted by img-join -D) a delta stream refers to' },
  'expect-stream': { type: 'string', describe: 'refuse any stream but this one (its id, 32 hex digits: "stream" in img-split\'s stats)' },
  threads: { type: 'number', describe: 'worker threads for the codecs [default: the number of cores]' },
} as const

function streamId(value: string | undefined): Buffer | null {
  if (value === undefined) return null
  if (!new RegExp(`^[0-9a-fA-F]{${2 * STREAM_ID_BYTES}}$`).test(value)) throw new UsageError(`--expect-stream: "${value}" is not a stream id (${2 * STREAM_ID_BYTES} hex digits)`)
  return Buffer.from(value, 'hex')
}

function threads(value: number | undefined): number {
  if (value === undefined) return defaultThreads()
  if (!Number.isInteger(value) || value < 1 || value > 256) throw new UsageError(`--threads: "${value}" is not a thread count (1..256)`)
  return value
}

/** The write options; null when none is given, so the stream stays criu-image-streamer's. */
export function writeExtOptions(a: { compress?: string | undefined; checksum?: boolean | undefined; encrypt?: string | undefined; threads?: number | undefined }, refs = false): ExtWriteOptions | null {
  const c = a.compress === undefined ? { compress: 'none' as const, level: ZSTD_DEFAULT_LEVEL } : parseCompress(a.compress)
  if (!c) throw new UsageError(`--compress: "${a.compress}" is not none, lz4, zstd[:LEVEL] or auto`)
  const key = a.encrypt !== undefined ? readKeyFile(a.encrypt) : null
  const o: ExtWriteOptions = { ...c, key, checksum: a.checksum ?? (c.compress !== 'none' || key !== null), threads: threads(a.threads), refs }
  return isExtended(o) ? o : null
}

export function readExtOptions(a: { decrypt?: string | undefined; threads?: number | undefined; base?: string | undefined; 'expect-stream'?: string | undefined }): ExtReadOptions {
  return {
    key: a.decrypt !== undefined ? readKeyFile(a.decrypt) : null, threads: threads(a.threads), base: a.base ?? null,
    expectStream: streamId(a['expect-stream']),
  }
}

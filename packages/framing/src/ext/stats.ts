import { CODEC_NAMES, type Codec } from './limits.js'
import type { Sink } from './adaptive.js'

/** What the stats JSON gains for an extended stream: raw and stored bytes, and raw bytes per codec. */
export interface ExtStats {
  raw: number; stored: number; codecs: Record<string, number>
  /** Incremental streams only: CHUNK_REF markers and the bytes they stand for. */
  refs?: { count: number; bytes: number }
  /** The stream id, hex (STREAM_HEADER.stream_id): what `--expect-stream` takes. */
  stream?: string
  /** --compress auto: what it steered for, a local disk (by ratio) or a link (by what waits). */
  auto?: Sink
}

export class ExtCounter {
  raw = 0
  stored = 0
  private readonly byCodec = new Map<number, number>()
  private refCount = 0
  private refBytes = 0

  addRef(bytes: number): void { this.refCount++; this.refBytes += bytes }

  add(codec: number, raw: number, stored: number): void {
    this.raw += raw
    this.stored += stored
    this.byCodec.set(codec, (this.byCodec.get(codec) ?? 0) + raw)
  }

  stats(): ExtStats {
    const codecs: Record<string, number> = {}
    for (const [c, n] of [...this.byCodec].sort((a, b) => a[0] - b[0])) codecs[CODEC_NAMES[c as Codec]] = n
    const s: ExtStats = { raw: this.raw, stored: this.stored, codecs }
    if (this.refCount) s.refs = { count: this.refCount, bytes: this.refBytes }
    return s
  }
}

// --index-out and --base-index: the capture's writer gets the content writer in front of it
// (framing's content/), which hashes the pages files on its worker pool. The index file's place
// is checked and its unnamed file opened before CRIU connects (a bad path fails the capture
// before the dump starts); it gets its name only once the whole image was written.
import { ContentWriter, ExtWriter, IndexWriter, ShardWriter, defaultThreads, readIndex } from '@criu-pipes/framing'

export function contentWriter(out: ShardWriter | ExtWriter, opts: { indexOut?: string | null; baseIndex?: string | null; ext?: { threads: number } | null }): ContentWriter | null {
  if (!opts.indexOut && !opts.baseIndex) return null
  const base = opts.baseIndex ? readIndex(opts.baseIndex) : null
  const index = opts.indexOut ? IndexWriter.create(opts.indexOut) : null
  try {
    return new ContentWriter(out, { base, index, threads: opts.ext?.threads ?? defaultThreads() })
  } catch (e) {
    index?.abort()
    throw e
  }
}

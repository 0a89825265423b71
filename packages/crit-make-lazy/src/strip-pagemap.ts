import {
  PE_LAZY,
  PE_PRESENT,
  decodePagemapRaw,
  encodePagemapRaw,
  entryBytes,
  pagesOffsets,
  presentBytes,
  refuseCompressed,
  setPagemapEntryFlags,
  type Vma,
} from '@criu-pipes/criu-image'
import { firstNonLazyAddress } from './lazy-coverage.js'
import { MakeLazyError } from './make-lazy-error.js'

/** A byte range of the source pages file that goes to the destination one. */
export interface KeptRange {
  offset: number
  length: number
}

export interface StrippedPagemap {
  pagesId: number
  /** The new pagemap image. */
  pagemap: Buffer
  /** Source pages-file ranges to copy, in order; adjacent ranges merged. */
  keep: KeptRange[]
  /** The size the source pages file must have: every present entry's pages. */
  srcPagesBytes: number
  /** Pages turned from LAZY|PRESENT into LAZY. */
  strippedPages: number
}

function hex(n: number): string {
  return `0x${n.toString(16)}`
}

/**
 * What `criu dump --lazy-pages` would have written instead of this pagemap: each LAZY|PRESENT
 * entry becomes LAZY and loses its data; every other entry, the head and the order stay as they
 * are, byte for byte. `vmas` come from the task's mm image and guard against stripping pages the
 * restorer would not fetch lazily. `lazyVmas` is called only if there is something to strip, so
 * a task with nothing lazy needs no mm image.
 */
export function stripPagemap(buf: Buffer, name: string, lazyVmas: () => readonly Vma[]): StrippedPagemap {
  const pm = decodePagemapRaw(buf, name)
  refuseCompressed(name, pm.entries, 'crit-make-lazy')
  const offsets = pagesOffsets(pm.entries)
  const keep: KeptRange[] = []
  let strippedPages = 0
  let vmas: readonly Vma[] | undefined
  const messages = pm.messages.map((message, i) => {
    const e = pm.entries[i]
    const offset = offsets[i]
    if (e === undefined || offset === undefined) return message
    if ((e.flags & PE_LAZY) === 0) {
      const last = keep.at(-1)
      if (last !== undefined && last.offset + last.length === offset) last.length += entryBytes(e)
      else keep.push({ offset, length: entryBytes(e) })
      return message
    }
    vmas ??= lazyVmas()
    const end = e.vaddr + entryBytes(e)
    const outside = firstNonLazyAddress(e.vaddr, end, vmas)
    if (outside !== undefined) {
      throw new MakeLazyError(
        `${name}: entry ${i + 1} (${hex(e.vaddr)}-${hex(end)}) is LAZY|PRESENT but ${hex(outside)} is not in a lazy-able VMA; refusing to strip it`,
      )
    }
    strippedPages += e.nrPages
    return setPagemapEntryFlags(message, e.flags & ~PE_PRESENT)
  })
  return {
    pagesId: pm.pagesId,
    pagemap: encodePagemapRaw(pm.head, messages),
    keep,
    srcPagesBytes: presentBytes(pm.entries),
    strippedPages,
  }
}

import { isLazyVma, type Vma } from '@criu-pipes/criu-image'

/**
 * The first address of [start, end) not inside a lazy-able VMA, or undefined when the whole
 * range is covered. A pagemap entry may span several adjacent VMAs, so coverage is by their
 * union. The restorer registers only lazy-able VMAs with userfaultfd: a stripped page outside
 * them would silently read back as zeros.
 */
export function firstNonLazyAddress(start: number, end: number, vmas: readonly Vma[]): number | undefined {
  const lazy = vmas.filter(isLazyVma).sort((a, b) => a.start - b.start)
  let cursor = start
  for (const v of lazy) {
    if (cursor >= end) break
    if (v.end <= cursor) continue
    if (v.start > cursor) return cursor
    cursor = v.end
  }
  return cursor >= end ? undefined : cursor
}

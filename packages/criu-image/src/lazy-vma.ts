import type { Vma } from './mm.js'
import {
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  MAP_LOCKED,
  MAP_PRIVATE,
  VMA_AREA_VDSO,
  VMA_AREA_VSYSCALL,
  VMA_AREA_VVAR,
} from './vma-bits.js'

const NEVER_LAZY_STATUS = VMA_AREA_VDSO | VMA_AREA_VVAR | VMA_AREA_VSYSCALL

/**
 * CRIU's vma_entry_can_be_lazy (criu/include/vma.h), used by both dump and restorer: only private
 * anonymous memory that is neither locked, hugetlb nor a kernel-provided area is registered with
 * userfaultfd. Pages outside such VMAs must be in the image, or restore reads zeros.
 */
export function isLazyVma(v: Vma): boolean {
  return (
    (v.flags & MAP_ANONYMOUS) !== 0 &&
    (v.flags & MAP_PRIVATE) !== 0 &&
    (v.flags & MAP_LOCKED) === 0 &&
    (v.flags & MAP_HUGETLB) === 0 &&
    (v.status & NEVER_LAZY_STATUS) === 0
  )
}

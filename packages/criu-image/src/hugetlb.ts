import type { Vma } from './mm.js'
import { isPresent } from './pages.js'
import type { PagemapEntry } from './pagemap.js'
import { PAGE_SIZE } from './pagemap-flags.js'
import { MAP_HUGETLB, VMA_ANON_PRIVATE, VMA_AREA_REGULAR, VMA_FILE_PRIVATE } from './vma-bits.js'

/*
 * Private hugetlb memory is the one kind CRIU 4.1 restores from pages-N.img by file offset rather
 * than in read order: premap_priv_vmas() (criu/mem.c) never premaps a MAP_HUGETLB VMA, so
 * restore_priv_vma_content() queues its pages for the restorer and skips them, and the restorer
 * preadv()s them from a second open of pages-N.img (prepare_vma_ios, pie/restorer.c). From a
 * directory that works; in --stream mode every open is a pipe, so the preadv fails with ESPIPE
 * ("Can't read pages data (-29)"), and the skip before it consumed nothing, so the pages read in
 * order after it come from the wrong place in the stream. Shared hugetlb memory is restored as
 * shmem, read in order, and streams fine.
 */

/** CRIU's vma_area_is_private() for a MAP_HUGETLB mapping: its pages go by preadv() of the pages file. */
export function isPrivateHugetlb(v: Vma): boolean {
  return (
    (v.flags & MAP_HUGETLB) !== 0 &&
    (v.status & VMA_AREA_REGULAR) !== 0 &&
    (v.status & (VMA_ANON_PRIVATE | VMA_FILE_PRIVATE)) !== 0
  )
}

/** The private hugetlb VMAs that have pages in this pagemap's pages file (an untouched one has none). */
export function privateHugetlbWithPages(vmas: readonly Vma[], entries: readonly PagemapEntry[]): Vma[] {
  return vmas.filter(
    (v) => isPrivateHugetlb(v) && entries.some((e) => isPresent(e) && e.vaddr < v.end && e.vaddr + e.nrPages * PAGE_SIZE > v.start),
  )
}

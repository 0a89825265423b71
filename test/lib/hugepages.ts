// vm.nr_hugepages for a test that needs hugetlb memory: raised by what the test needs, put back
// to the value found at teardown (which tap runs on failure too). The pool is machine-wide, so
// only ever raised by a count, never set to a fixed number another user may have chosen.
import { readFileSync, writeFileSync } from 'node:fs'
import type { TeardownHost } from './tmp-dir.js'

const NR_HUGEPAGES = '/proc/sys/vm/nr_hugepages'

function freeHugePages(): number {
  return Number(/^HugePages_Free:\s+(\d+)$/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0)
}

/**
 * Makes `count` more default-size huge pages free; returns why not (to skip the test) when the
 * kernel has no hugetlb or cannot find the memory.
 */
export function reserveHugePages(t: TeardownHost, count: number): string | undefined {
  let old: string
  try {
    old = readFileSync(NR_HUGEPAGES, 'utf8').trim()
  } catch {
    return 'no hugetlb in this kernel'
  }
  const before = freeHugePages()
  try {
    writeFileSync(NR_HUGEPAGES, String(Number(old) + count))
  } catch (e) {
    return `cannot raise vm.nr_hugepages: ${(e as Error).message}`
  }
  t.teardown(() => writeFileSync(NR_HUGEPAGES, old))
  const got = freeHugePages() - before
  return got >= count ? undefined : `the kernel found only ${got} of ${count} huge pages`
}

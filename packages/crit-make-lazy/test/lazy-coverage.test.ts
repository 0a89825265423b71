import t from 'tap'
import { firstNonLazyAddress } from '../src/lazy-coverage.js'
import { anonVma, fileVma } from './fixtures/image-dir.js'

t.test('coverage by the union of lazy-able VMAs, in any order', async (t) => {
  const vmas = [anonVma(0x3000, 0x5000), fileVma(0x5000, 0x6000), anonVma(0x1000, 0x3000), anonVma(0x6000, 0x7000)]
  t.equal(firstNonLazyAddress(0x1000, 0x5000, vmas), undefined)
  t.equal(firstNonLazyAddress(0x2000, 0x3000, vmas), undefined)
  t.equal(firstNonLazyAddress(0x4000, 0x6000, vmas), 0x5000)
  t.equal(firstNonLazyAddress(0x5000, 0x6000, vmas), 0x5000)
  t.equal(firstNonLazyAddress(0x0, 0x2000, vmas), 0x0)
  t.equal(firstNonLazyAddress(0x6000, 0x8000, vmas), 0x7000)
  t.equal(firstNonLazyAddress(0x1000, 0x2000, []), 0x1000)
})

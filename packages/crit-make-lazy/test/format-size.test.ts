import t from 'tap'
import { formatSize } from '../src/format-size.js'

t.test('three significant digits in decimal units', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1.00 KB'],
    [113_456, '113 KB'],
    [61_440, '61.4 KB'],
    [999_499, '999 KB'],
    [999_500, '1.00 MB'],
    [67_219_456, '67.2 MB'],
    [2 ** 30, '1.07 GB'],
    [2 ** 30 + 123_456, '1.07 GB'],
    [5e15, '5.00 PB'],
    [5e18, '5000 PB'],
  ]
  for (const [n, s] of cases) t.equal(formatSize(n), s, String(n))
})

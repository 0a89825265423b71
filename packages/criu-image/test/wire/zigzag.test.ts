import t from 'tap'
import { zigzagDecode, zigzagEncode } from '../../src/wire/zigzag.js'

const I64_MAX = (1n << 63n) - 1n
const I64_MIN = -(1n << 63n)
const U64_MAX = (1n << 64n) - 1n
const pairs: Array<[bigint, bigint]> = [
  [0n, 0n],
  [-1n, 1n],
  [1n, 2n],
  [-2n, 3n],
  [2147483647n, 4294967294n],
  [-2147483648n, 4294967295n],
  [I64_MAX, U64_MAX - 1n],
  [I64_MIN, U64_MAX],
]

t.test('sint64 zigzag edge cases, both ways', async (t) => {
  for (const [n, z] of pairs) {
    t.equal(zigzagEncode(n), z, `encode ${n}`)
    t.equal(zigzagDecode(z), n, `decode ${z}`)
  }
})

t.test('values outside i64 are refused', async (t) => {
  t.throws(() => zigzagEncode(I64_MAX + 1n), RangeError)
  t.throws(() => zigzagEncode(I64_MIN - 1n), RangeError)
})

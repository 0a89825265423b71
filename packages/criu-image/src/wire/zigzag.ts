/**
 * ZigZag maps sint64 to u64 so small negative numbers stay short (-1 -> 1, 1 -> 2). CRIU uses it
 * for vma_entry.fd, which is always -1.
 */
const U64_MASK = (1n << 64n) - 1n
const I64_MIN = -(1n << 63n)
const I64_MAX = (1n << 63n) - 1n

export function zigzagEncode(n: bigint): bigint {
  if (n < I64_MIN || n > I64_MAX) throw new RangeError(`sint64 value ${n} is outside i64`)
  return ((n << 1n) ^ (n >> 63n)) & U64_MASK
}

export function zigzagDecode(u: bigint): bigint {
  return (u >> 1n) ^ -(u & 1n)
}

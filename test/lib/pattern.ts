// Test data that is different in every word and reproducible from a seed, so a byte moved to
// the wrong place or a lost chunk shows up in a comparison.
export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE((i * 2654435761 + seed) >>> 0, i)
  return b
}

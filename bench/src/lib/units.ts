// Sizes on the command line (`2G`, `512M`, `64m`, `1.5GiB`, plain bytes) and how we print them.
// Sizes of things are binary (MiB, GiB); rates and per-GB costs are decimal (GB = 1e9 bytes),
// as throughput is usually quoted.

const MULT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

export const MIB = 1024 ** 2
export const GIB = 1024 ** 3
export const GB = 1e9

/** `2G`, `2GiB`, `2g`, `512M`, `4096` (bytes): binary multiples; throws on anything else. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text)
  if (!m) throw new Error(`not a size: "${text}" (use e.g. 2G, 512M)`)
  const bytes = Math.round(Number(m[1]) * MULT[m[2]!.toLowerCase()]!)
  if (!(bytes > 0)) throw new Error(`size must be positive: "${text}"`)
  return bytes
}

/** 2147483648 -> "2 GiB", 67108864 -> "64 MiB", 1536 -> "1.5 KiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let v = bytes
  let i = 0
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${Number.isInteger(v) ? v : v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

/** Whole MiB (memhog takes MiB), at least 1. */
export function toMib(bytes: number): number {
  return Math.max(1, Math.round(bytes / MIB))
}

/** Decimal units, as `ls -h --si` and disk vendors count: 2^30 bytes print as "1.07 GB". */
const UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB']
const STEP = 1000
/** Three significant digits; a value that would round to 1000 moves to the next unit. */
const ROUNDS_TO_NEXT_UNIT = 999.5

export function formatSize(bytes: number): string {
  let value = bytes
  let unit = 0
  while (value >= ROUNDS_TO_NEXT_UNIT && unit < UNITS.length - 1) {
    value /= STEP
    unit++
  }
  if (unit === 0) return `${bytes} B`
  const digits = value >= 99.95 ? 0 : value >= 9.995 ? 1 : 2
  return `${value.toFixed(digits)} ${UNITS[unit]}`
}

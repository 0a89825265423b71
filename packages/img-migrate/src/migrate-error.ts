/** One line naming the side (source, destination) and the phase (hello, round N, restore). */
export class MigrateError extends Error {
  override name = 'MigrateError'
  constructor(readonly side: 'source' | 'destination', readonly phase: string, why: string) {
    super(`${side}: ${phase}: ${why.split('\n')[0]}`)
  }
}

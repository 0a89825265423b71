import { ImageError } from './errors.js'
import { WireError } from './wire/wire-error.js'

/** Runs a decode step for one entry, so a wire problem is reported with its file and entry. */
export function inEntry<T>(file: string, index: number, what: string, decode: () => T): T {
  try {
    return decode()
  } catch (e) {
    if (e instanceof WireError) throw new ImageError(file, `entry ${index} (${what}): ${e.message}`)
    throw e
  }
}

// Every binary ends the same way: success exits 0; any error prints ONE line naming the binary and
// the problem, and exits non-zero (criu-image-streamer exits 0 on errors; scripts cannot see them).
import { UsageError } from './usage-error.js'

export function runMain(bin: string, main: () => number | void | Promise<number | void>): void {
  const fail = (e: unknown): never => {
    const msg = e instanceof Error ? e.message : String(e)
    process.stderr.write(`${bin}: ${msg.split('\n')[0]}\n`)
    if (process.env.CRIU_PIPES_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`)
    process.exit(e instanceof UsageError ? 2 : 1)
  }
  try {
    const r = main()
    if (r instanceof Promise) r.then(code => process.exit(code ?? 0), fail)
    else process.exit(r ?? 0)
  } catch (e) {
    fail(e)
  }
}

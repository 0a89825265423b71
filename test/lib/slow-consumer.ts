// A shard consumer that lags: it copies its stdin to a file at about RATE bytes a second, so a
// capture ends with CRIU's pipes still full, their last bytes read well after CRIU wrote them.
// Run as `node slow-consumer.js RATE OUT < shard`.
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

// One read's worth: small against a pipe (1 MiB here), so the pipe stays full behind the reader.
const BITE = 64 << 10

/** The shell command that runs this consumer on its stdin. */
export function slowConsumer(bytesPerS: number, out: string): string {
  return `node ${fileURLToPath(import.meta.url)} ${bytesPerS} ${out}`
}

function run(rate: number, outPath: string): void {
  const out = openSync(outPath, 'w')
  const buf = Buffer.alloc(BITE)
  const nap = new Int32Array(new SharedArrayBuffer(4))
  for (let n; (n = readSync(0, buf, 0, BITE, null)) > 0;) {
    writeSync(out, buf, 0, n)
    Atomics.wait(nap, 0, 0, (1000 * n) / rate)
  }
  closeSync(out)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run(Number(process.argv[2]), process.argv[3]!)

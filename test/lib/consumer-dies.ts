// A shard consumer that dies at the worst moment for a capture: it reads the stream marker by
// marker, exactly (never a byte ahead), copies it to a file, and exits as soon as it has read the
// file_eof of one file (inventory.img: CRIU's last byte is in), before the image_eof that would
// complete the stream. Run as `node consumer-dies.js NAME OUT < shard`.
import { closeSync, openSync, writeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { readFull } from '@criu-pipes/sys'
import { decodeMarker } from '@criu-pipes/framing'

/** The shell command that runs this consumer on its stdin. */
export function consumerDiesAfter(name: string, out: string): string {
  return `node ${fileURLToPath(import.meta.url)} ${name} ${out}`
}

function take(n: number): Buffer {
  const b = Buffer.alloc(n)
  if (readFull(0, b) < n) process.exit(3) // the stream ended first: not the moment we wait for
  return b
}

function run(name: string, outPath: string): void {
  const out = openSync(outPath, 'w')
  let current: string | null = null
  for (;;) {
    const head = take(4)
    const raw = take(head.readUInt32LE(0))
    writeSync(out, head)
    writeSync(out, raw)
    const body = decodeMarker(raw).body
    if (body.kind === 'filename') current = body.name
    if (body.kind === 'file_data') writeSync(out, take(body.size))
    if (body.kind === 'file_eof' && current === name) break
  }
  closeSync(out)
  process.exit(0)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) run(process.argv[2]!, process.argv[3]!)

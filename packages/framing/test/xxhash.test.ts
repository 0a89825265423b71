// The lazily loaded @node-rs/xxhash must load whatever the process stat'ed last: img-split
// fstats CRIU's pipes, and Node's require() then no longer followed pnpm's symlinks
// (nodejs/node#51142), so `--index-out` failed at the end of a capture.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { tmp } from './ext/streams.js'

t.test('xxhash() loads after an fstat of a FIFO', async t => {
  const dir = tmp(t)
  const fifo = join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const mod = pathToFileURL(join(import.meta.dirname, '..', 'src', 'xxhash.js')).href
  // A process of its own (the module is loaded once per process), without the runner's NODE_PATH.
  // A require() first, as img-split's options do: the loader's realpath cache then holds /work etc.
  const script = `import { openSync, fstatSync, constants } from 'node:fs'
import { createRequire } from 'node:module'
createRequire(${JSON.stringify(mod)})('../../package.json')
const { xxhash } = await import(${JSON.stringify(mod)})
const fd = openSync(${JSON.stringify(fifo)}, constants.O_RDWR | constants.O_NONBLOCK)
if (!fstatSync(fd).isFIFO()) throw new Error('not a FIFO')
process.stdout.write(String(xxhash().xxh64(Buffer.from('abc'))))`
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: dir, env: { PATH: process.env.PATH } })
  t.match(out, /^\d+$/, 'a digest')
})

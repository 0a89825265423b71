// @node-rs/xxhash is loaded on first use, which may come right after an fstat of a pipe or a
// socket (a channel, a shard): Node's realpath then stops at the first cached directory and the
// package's native part is looked for beside the unresolved symlink (nodejs/node#51142).
import t from 'tap'
import { spawnSync } from 'node:child_process'

const XXHASH = new URL('../src/xxhash.js', import.meta.url).href
const INDEX = new URL('../src/index.js', import.meta.url).href

t.test('the first use after an fstat of a pipe or socket loads the native module', async t => {
  // framing loaded first, as by any binary (sys's koffi, a CommonJS module of the same tree):
  // its directories are in the loader's realpath cache, where the FIFO or socket check cuts the
  // walk short.
  const script = `import { fstatSync } from 'node:fs'
    await import('${INDEX}')
    fstatSync(0)
    const { xxhash } = await import('${XXHASH}')
    process.stdout.write(String(xxhash().xxh64(Buffer.from('abc'))))`
  // stdin 'pipe' is a socketpair in Node; a shell pipe gives a FIFO.
  for (const [how, argv] of [['socket', [process.execPath]], ['FIFO', ['bash', '-c', 'true | exec "$0" "$@"', process.execPath]]] as const) {
    const r = spawnSync(argv[0], [...argv.slice(1), '--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'pipe'], cwd: '/', env: { PATH: process.env.PATH } })
    t.equal(r.status, 0, `stdin a ${how}: ${String(r.stderr).split('\n').find(l => l.includes('Cannot find native binding')) ?? ''}`)
    t.match(String(r.stdout), /^\d+$/)
  }
})

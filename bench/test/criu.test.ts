// The benchmarks' criu runner: a --leave-running stream dump is refused unless img-split is its
// post-dump hook (see holdFrozen in src/lib/criu.ts: without it the image's last pages are read
// after the process ran on, and its restore fails).
import { accessSync, constants } from 'node:fs'
import t from 'tap'
import { checkDumpArgs, holdFrozen } from '../src/lib/criu.js'

const stream = ['dump', '-t', '123', '-D', '/d', '--stream']

t.test('a --leave-running stream dump without the hook is refused, in one line saying why', async (t) => {
  for (const leave of ['--leave-running', '-R']) {
    t.throws(() => checkDumpArgs([...stream, leave]), /^bench: criu dump .*: a --leave-running stream dump needs img-split as its post-dump hook/, leave)
  }
})

t.test('with img-split as the hook, or when the process does not run on, or without --stream: accepted', async (t) => {
  t.doesNotThrow(() => checkDumpArgs([...stream, '--leave-running', ...holdFrozen()]))
  t.doesNotThrow(() => checkDumpArgs(stream), 'the dump kills the process: nothing changes its pages after')
  t.doesNotThrow(() => checkDumpArgs(['dump', '-t', '123', '-D', '/d', '--leave-running']), 'criu writes the files itself (copies)')
  t.doesNotThrow(() => checkDumpArgs(['restore', '-D', '/d', '--stream']))
})

t.test('the hook is img-split itself, a file CRIU can run', async (t) => {
  const [opt, path] = holdFrozen()
  t.equal(opt, '--action-script')
  t.match(path, /\/packages\/img-split\/bin\/img-split\.js$/)
  t.doesNotThrow(() => accessSync(path!, constants.X_OK), 'executable')
})

t.test('a discarded image (measured, never restored) needs no hook', async t => {
  t.doesNotThrow(() => checkDumpArgs(['dump', '-t', '1', '-D', '/d', '--stream', '--leave-running'], true))
})

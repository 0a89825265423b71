// What img-split has loaded when its socket appears (CRIU may connect from then on, and the
// freeze begins soon after): with compression, the worker threads are up with their codecs
// loaded; without, no codec or hash module is loaded at all, in any thread.
import t, { type Test } from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { DumpClient } from '@criu-pipes/streamer'
import { tmpDir } from '../lib/tmp-dir.js'
import { pattern } from '../lib/pattern.js'
import { bin, startShell } from '../lib/bins.js'
import { waitFor } from '../lib/wait.js'

// The native modules of the extensions (the codecs, the hashes: libcrypto is the page hash of
// incremental checkpoints), by the files mapped into the process: one address space for every thread.
const CODEC_OR_HASH = /lz4|zstd|xxhash|blake3|libcrypto/i
const LIBCRYPTO = /libcrypto\.so/
const LZ4 = /lz4/i
// The codecs are the system's C libraries, not the napi bindings (issue 15: reference speed).
const NAPI_CODEC = /lz4-napi|zstd-napi/i

const progressHas = (file: string, line: string) => () => (existsSync(file) && readFileSync(file, 'utf8').split('\n').includes(line)) || undefined
const mapped = (pid: number, re: RegExp): string[] =>
  [...new Set(readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').map(l => l.split(/\s+/)[5] ?? '').filter(p => re.test(p)))]

async function atSocketInit(t: Test, options: string, re: RegExp): Promise<string[]> {
  const dir = tmpDir(t)
  // exec: the pid is img-split's own. env -u: without the test runner's loader (NODE_OPTIONS).
  const cap = await startShell(`exec env -u NODE_OPTIONS ${bin('img-split')} -D ${dir} ${options} -p 5 5>${dir}/progress >${dir}/s`)
  await waitFor('socket-init', progressHas(join(dir, 'progress'), 'socket-init'))
  const found = mapped(cap.pid, re)
  const c = new DumpClient(dir)
  c.file('pages-1.img', pattern(1 << 20, 1))
  c.file('inventory.img', pattern(40, 2))
  t.same(mapped(cap.pid, CODEC_OR_HASH).filter(() => !options), [], 'the plain path loaded none while it captured either')
  c.finish()
  const r = await cap.done
  t.equal(r.exitCode, 0, r.stderr)
  return found
}

t.test('without the extensions: no codec or hash module is loaded', async t => {
  t.same(await atSocketInit(t, '', CODEC_OR_HASH), [])
})

t.test('--compress lz4 --threads 2: the workers have loaded their codecs before the socket is there', async t => {
  const found = await atSocketInit(t, '--compress lz4 --threads 2', LZ4)
  t.not(found.length, 0, 'lz4 mapped at socket-init')
  t.same(found.filter(p => NAPI_CODEC.test(p)), [], 'the C library, not a napi binding')
  t.ok(found.some(p => /liblz4\.so/.test(p)), `liblz4 itself: ${found.join(' ')}`)
})

t.test('--index-out: the hash workers have loaded libcrypto before the socket is there', async t => {
  const dir = tmpDir(t)
  const found = await atSocketInit(t, `--index-out ${join(dir, 'r1.idx')}`, LIBCRYPTO)
  t.not(found.length, 0, 'libcrypto mapped at socket-init')
})

/** The .js files a run of img-split as CRIU's action script ACTION opened. */
async function hookOpens(t: Test, action: string): Promise<{ exitCode: number; opened: string[] }> {
  const dir = tmpDir(t)
  const r = await (await startShell(`CRTOOLS_SCRIPT_ACTION=${action} CRTOOLS_IMAGE_DIR=${dir} strace -f -qq -e trace=openat -o ${dir}/trace env -u NODE_OPTIONS ${bin('img-split')}`)).done
  const opened = readFileSync(join(dir, 'trace'), 'utf8').split('\n').map(l => /openat\([^"]*"([^"]+)"/.exec(l)?.[1] ?? '').filter(p => p.endsWith('.js'))
  return { exitCode: r.exitCode, opened }
}

t.test('as the post-dump hook (the process is frozen meanwhile) img-split loads neither the framing nor the capture', async t => {
  // No capture in that directory: the hook fails the dump, having loaded only what it needs.
  const r = await hookOpens(t, 'post-dump')
  t.equal(r.exitCode, 1)
  t.ok(r.opened.some(p => p.includes('action-hook.js')), 'the hook module was loaded')
  t.same(r.opened.filter(p => /packages\/framing\/|img-split\/dist\/src\/capture\.js|yargs/.test(p)), [], 'nothing of the capture')
})

t.test('for the other actions of a dump img-split answers at once, loading none of its modules', async t => {
  for (const action of ['pre-dump', 'network-lock', 'network-unlock']) {
    const r = await hookOpens(t, action)
    t.equal(r.exitCode, 0, `${action}: passes`)
    t.same(r.opened.filter(p => /\/packages\//.test(p) && !/img-split\/(bin\/img-split|dist\/src\/main)\.js$/.test(p)), [], `${action}: nothing but main.js`)
  }
})

// nodejs/node#51142: after a node:fs fstat whose result was a FIFO or a socket, Node's realpath
// cache no longer follows pnpm's links, and every module loaded after it is "not found".
// img-buffer looks at its inherited fds before it loads the rest (its early decoding threads):
// with a FIFO among them it died at start, outside the test runner (whose NODE_PATH hid it).
t.test('every binary starts as a user runs it, with a FIFO among its fds', async t => {
  const dir = tmpDir(t)
  const fifo = join(dir, 'fifo')
  await startShell(`mkfifo ${fifo} && echo x > ${dir}/file`).then(r => r.done)
  for (const name of ['img-split', 'img-buffer', 'img-join', 'uffd-serve', 'crit-make-lazy', 'criu-image-streamer']) {
    // the FIFO opened read-write: no writer needed for the open
    const r = await startShell(`exec env -u NODE_OPTIONS -u NODE_PATH ${bin(name)} --version 3<${dir}/file 4<>${fifo}`).then(s => s.done)
    t.equal(r.exitCode, 0, `${name}: ${r.stderr.split('\n').find(l => /Error/.test(l)) ?? r.stderr.slice(0, 200)}`)
    t.match(r.stdout, /\d+\.\d+\.\d+/, `${name} --version`)
  }
})

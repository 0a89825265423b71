// When img-split may say "done" (against the CRIU simulator): the post-dump hook answers ok only
// when the stream is complete in its consumers' hands; a dump that sent no image is a failure; a
// pipe CRIU hands over in the same poll round as a hook connects is not mistaken for finished;
// an external file may be /dev/null.
import t, { type Test } from 'tap'
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DumpClient } from '@criu-pipes/streamer'
import { close, connectUnix, readFull, writeAll } from '@criu-pipes/sys'
import { encodeMarker } from '@criu-pipes/framing'
import { tmpDir } from '../lib/tmp-dir.js'
import { pattern } from '../lib/pattern.js'
import { bin, startShell } from '../lib/bins.js'
import { procStat } from '../lib/procfs.js'
import { waitFor } from '../lib/wait.js'
import { consumerDiesAfter } from '../lib/consumer-dies.js'


// Small enough to sit in any shard's buffer while its consumer reads nothing.
const image = () => ({
  'pagemap-1.img': pattern(2_000, 1),
  'pages-1.img': pattern(60_000, 2),
  'core-1.img': pattern(900, 3),
  'inventory.img': pattern(40, 4),
})

/** What CRIU does up to post-dump: every image written, inventory.img last; the socket stays open. */
function writeImage(c: DumpClient, files: Record<string, Buffer>): void {
  for (const [name, data] of Object.entries(files)) c.file(name, data)
}

/** The post-dump hook exactly as CRIU runs it: img-split with no arguments. */
const runHook = (dir: string) => startShell(`CRTOOLS_SCRIPT_ACTION=post-dump CRTOOLS_IMAGE_DIR=${dir} ${bin('img-split')}`)

const pidIn = (path: string) => waitFor(`a pid in ${path}`, () => {
  const n = existsSync(path) ? Number(readFileSync(path, 'utf8')) : 0
  return n > 0 ? n : undefined
})

async function extracted(t: Test, dir: string, shard: string, files: Record<string, Buffer>) {
  const out = join(dir, `out-${Math.random().toString(36).slice(2)}`)
  const j = await (await startShell(`${bin('img-join')} -D ${out} < ${shard} 2>&1 >/dev/null`)).done
  t.equal(j.exitCode, 0, `img-join accepts the stream: ${j.stdout.trim()}`)
  if (j.exitCode !== 0) return
  t.same(readdirSync(out).sort(), Object.keys(files).sort(), 'every file is in it')
  for (const [n, data] of Object.entries(files)) t.ok(readFileSync(join(out, n)).equals(data), `${n} identical`)
}

t.test('post-dump: once the hook said ok, the consumer already holds the whole stream, image_eof included', async t => {
  const dir = tmpDir(t)
  const files = image()
  // The pipeline's status is the killed consumer's: img-split's own goes to a file.
  const cap = await startShell(`(${bin('img-split')} -D ${dir} 2>${dir}/split.err; echo $? > ${dir}/split.rc) | sh -c 'echo $$ > ${dir}/consumer.pid; exec cat > ${dir}/copy'`)
  const c = new DumpClient(dir)
  writeImage(c, files)
  const hook = await (await runHook(dir)).done
  t.equal(hook.exitCode, 0, `the hook says ok: ${hook.stderr}`)
  // CRIU kills the dumped process now; say the consumer dies with it, before CRIU closes the socket.
  process.kill(await pidIn(join(dir, 'consumer.pid')), 'SIGKILL')
  c.finish()
  await cap.done
  t.equal(readFileSync(join(dir, 'split.rc'), 'utf8').trim(), '0', `nothing was left to write: ${readFileSync(join(dir, 'split.err'), 'utf8')}`)
  await extracted(t, dir, join(dir, 'copy'), files)
})

t.test('post-dump: a consumer that dies after CRIU\'s last byte, before image_eof, fails the hook', async t => {
  const dir = tmpDir(t)
  const cap = await startShell(`${bin('img-split')} -D ${dir} 2>${dir}/split.err | ${consumerDiesAfter('inventory.img', join(dir, 'copy'))}`)
  const c = new DumpClient(dir)
  writeImage(c, image())
  const hook = await (await runHook(dir)).done
  t.equal(hook.exitCode, 1, 'the hook fails, so CRIU resumes the process instead of killing it')
  t.match(hook.stderr, /^img-split: post-dump hook: the capture failed before every byte was out/m)
  try { c.finish() } catch { /* img-split may be gone */ }
  const r = await cap.done
  t.not(r.exitCode, 0, 'the capture fails')
  t.match(readFileSync(join(dir, 'split.err'), 'utf8'), /^img-split: shard 0 \(fd \d+\): its reader went away \(EPIPE\)/m, 'and says why')
  const copy = readFileSync(join(dir, 'copy'))
  t.ok(copy.length > 60_000, 'the consumer did get every image byte')
  const j = await (await startShell(`${bin('img-join')} -D ${dir}/out < ${dir}/copy`)).done
  t.match(j.stderr, /every shard ended without image_eof/, 'but its stream is not complete, and is refused')
})

// Node hands a child socketpairs for its stdio: img-split then writes its shard into a socket
// whose reader is this relay (as sshd's remote command does). `exec`: the relay's pid is the shell's.
const viaSocket = (cmd: string) => `exec node -e 'const c = require("child_process").spawn("bash", ["-c", process.argv[1]], { stdio: ["ignore", "pipe", "inherit"] }); c.stdout.pipe(process.stdout); c.on("exit", code => process.exitCode = code)' '${cmd}'`

t.test('post-dump: a hook that dies before its answer makes the capture fail too', async t => {
  const dir = tmpDir(t)
  const cap = await startShell(`(${bin('img-split')} -D ${dir} 2>${dir}/split.err; echo $? > ${dir}/split.rc) | sh -c 'echo $$ > ${dir}/consumer.pid; kill -STOP $$; exec cat > /dev/null'`)
  const consumer = await pidIn(join(dir, 'consumer.pid'))
  const c = new DumpClient(dir)
  writeImage(c, image())
  const hook = connectUnix(join(dir, 'img-split.sync.sock')) // waits: the stalled consumer holds nothing yet
  close(hook) // the hook dies; CRIU sees the script fail, resumes the process, closes the socket
  c.finish()
  process.kill(consumer, 'SIGCONT')
  await cap.done
  t.equal(readFileSync(join(dir, 'split.rc'), 'utf8').trim(), '1', 'img-split exits 1')
  t.match(readFileSync(join(dir, 'split.err'), 'utf8'), /^img-split: CRIU ended the dump while its post-dump hook was still waiting/m)
})

t.test('post-dump with a socket shard: ok only when the peer has read everything; a peer that dies unread fails it', async t => {
  const dir = tmpDir(t)
  const files = image()
  const good = await startShell(`${viaSocket(`${bin('img-split')} -D ${dir}/a 2>${dir}/a.err`)} > ${dir}/copy`)
  const c = new DumpClient(join(dir, 'a'))
  writeImage(c, files)
  const ok = await (await runHook(join(dir, 'a'))).done
  t.equal(ok.exitCode, 0, `a reading peer: the hook says ok ${ok.stderr}`)
  c.finish()
  t.equal((await good.done).exitCode, 0, 'the capture succeeds')
  await extracted(t, dir, join(dir, 'copy'), files)

  const stalled = await startShell(`${viaSocket(`${bin('img-split')} -D ${dir}/b 2>${dir}/b.err`)} > /dev/null`)
  const d = new DumpClient(join(dir, 'b'))
  process.kill(stalled.pid, 'SIGSTOP') // the peer reads nothing from now on
  writeImage(d, files)
  const hook = await runHook(join(dir, 'b'))
  process.kill(stalled.pid, 'SIGKILL') // and dies with the image unread in its socket
  const bad = await hook.done
  t.equal(bad.exitCode, 1, 'the hook fails')
  try { d.finish() } catch { /* img-split may be gone */ }
  await waitFor('img-split to exit', () => (/^img-split: /m.test(readFileSync(join(dir, 'b.err'), 'utf8')) ? true : undefined))
  t.match(readFileSync(join(dir, 'b.err'), 'utf8'), /^img-split: shard 0 \(fd \d+\): its reader went away/m, 'img-split says why')
})

/** A capture under strace (syncs and writes) through the post-dump hook; the calls, and where the hook was answered ok. */
async function tracedCapture(t: Test, dir: string, files: Record<string, Buffer>, shards: string): Promise<{ calls: string[]; okAt: number }> {
  const cap = await startShell(`strace -f -qq -e trace=fsync,fdatasync,sync_file_range,write -o ${dir}/trace ${bin('img-split')} -D ${dir} ${shards} 2>${dir}/split.err`)
  const c = new DumpClient(dir)
  writeImage(c, files)
  const hook = await (await runHook(dir)).done
  t.equal(hook.exitCode, 0, hook.stderr)
  c.finish()
  t.equal((await cap.done).exitCode, 0, readFileSync(join(dir, 'split.err'), 'utf8'))
  const calls = readFileSync(join(dir, 'trace'), 'utf8').split('\n')
  return { calls, okAt: calls.findIndex(l => /write\(\d+, "ok\\n", 3\)/.test(l)) }
}

t.test('post-dump with a shard file: the file is fsynced before the hook answers ok', async t => {
  const dir = tmpDir(t)
  const files = image()
  const { calls, okAt } = await tracedCapture(t, dir, files, `> ${dir}/shard`)
  const syncAt = calls.findIndex(l => /f(data)?sync\(\d+\) += 0/.test(l))
  t.ok(okAt >= 0, 'the hook was answered ok')
  t.ok(syncAt >= 0 && syncAt < okAt, `the shard was fsynced first (fsync at ${syncAt}, ok at ${okAt})`)
  await extracted(t, dir, join(dir, 'shard'), files)
})

t.test('two shard files, a large image: written back behind the write position, every shard fsynced before the hook answers ok', async t => {
  const dir = tmpDir(t)
  // More than img-split's writeback lag (64 MiB) on each shard, so that it waits on old ranges too.
  const files = { ...image(), 'pages-1.img': pattern(160 << 20, 5) }
  const { calls, okAt } = await tracedCapture(t, dir, files, `-s 3,4 3>${dir}/s0 4>${dir}/s1`)
  t.ok(okAt >= 0, 'the hook was answered ok')
  for (const fd of [3, 4]) {
    const at = (re: RegExp): number[] => calls.flatMap((l, i) => (re.test(l) ? [i] : []))
    const started = at(new RegExp(`sync_file_range\\(${fd}, \\d+, \\d+, SYNC_FILE_RANGE_WRITE\\) += 0`))
    const waited = at(new RegExp(`sync_file_range\\(${fd}, \\d+, \\d+, SYNC_FILE_RANGE_WAIT_BEFORE\\) += 0`))
    const synced = at(new RegExp(`fsync\\(${fd}\\) += 0`))
    t.ok(started.length >= 2 && started[0]! < okAt, `shard fd ${fd}: writeback started while it was written (${started.length} times)`)
    t.ok(waited.length >= 1, `shard fd ${fd}: old ranges waited for (${waited.length} times)`)
    t.ok(synced.length === 1 && synced[0]! < okAt && synced[0]! > started.at(-1)!, `shard fd ${fd}: fsynced after the last hint, before ok (fsync at ${synced[0]}, ok at ${okAt})`)
  }
  const joined = await (await startShell(`${bin('img-join')} -D ${dir}/out -s 3,4 3<${dir}/s0 4<${dir}/s1`)).done
  t.equal(joined.exitCode, 0, joined.stderr)
  for (const [n, data] of Object.entries(files)) t.ok(readFileSync(join(dir, 'out', n)).equals(data), `${n} identical`)
})

t.test('a dump that sent no image, or only cpuinfo.img, is a failed capture: exit 1, stream unfinished', async t => {
  const dir = tmpDir(t)
  for (const [what, send] of [['nothing', {}], ['only cpuinfo.img', { 'cpuinfo.img': Buffer.from('cpu') }]] as const) {
    const sub = join(dir, what.replace(/\W/g, '-'))
    const cap = await startShell(`${bin('img-split')} -D ${sub} > ${dir}/shard`)
    const c = new DumpClient(sub)
    writeImage(c, send)
    c.finish()
    const r = await cap.done
    t.equal(r.exitCode, 1, `${what}: img-split exits 1`)
    t.match(r.stderr, /^img-split: CRIU sent no image/m, `${what}: and says why`)
    const j = await (await startShell(`${bin('img-join')} -D ${dir}/out < ${dir}/shard`)).done
    t.equal(j.exitCode, 1, `${what}: img-join refuses the stream`)
    t.match(j.stderr, /every shard ended without image_eof/, `${what}: it is unfinished`)
  }
  // A stream someone else finished with no file in it (criu-image-streamer does, for a failed dump).
  writeFileSync(join(dir, 'empty'), encodeMarker({ seq: 0, body: { kind: 'image_eof' } }))
  const j = await (await startShell(`${bin('img-join')} -D ${dir}/out < ${dir}/empty`)).done
  t.equal(j.exitCode, 1, 'img-join refuses an empty image')
  t.match(j.stderr, /^img-join: empty image/m)
  t.notOk(existsSync(join(dir, 'out', 'inventory.img')))
})

t.test('a pipe received in the same poll round as a hook connects is not taken for finished', async t => {
  const dir = tmpDir(t)
  const files = image()
  const cap = await startShell(`exec ${bin('img-split')} -D ${dir} > ${dir}/shard 2>${dir}/split.err`)
  const c = new DumpClient(dir)
  c.file('core-1.img', files['core-1.img'])
  // Once core-1.img is in the shard, img-split sits in poll(2) with no input open.
  const coreFramed = encodeMarker({ seq: 0, body: { kind: 'filename', name: 'core-1.img' } }).length +
    encodeMarker({ seq: 1, body: { kind: 'file_data', size: 900 } }).length + 900 + encodeMarker({ seq: 2, body: { kind: 'file_eof' } }).length
  await waitFor('core-1.img in the shard', () => (statSync(join(dir, 'shard')).size === coreFramed ? true : undefined))
  // Stopped, img-split finds both on its next poll: CRIU's request with a new, empty pipe, and a hook.
  process.kill(cap.pid, 'SIGSTOP')
  await waitFor('img-split to stop', () => (procStat(cap.pid)?.state === 'T' ? true : undefined))
  const w = c.open('pages-1.img')
  const hook = connectUnix(join(dir, 'img-split.sync.sock'))
  process.kill(cap.pid, 'SIGCONT')
  // Let it take that poll round before the pipe gets data (an empty pipe is what it misread).
  await new Promise(r => setTimeout(r, 200))
  t.doesNotThrow(() => writeAll(w, files['pages-1.img']), 'CRIU can write into its new pipe: img-split did not close it')
  close(w)
  c.file('pagemap-1.img', files['pagemap-1.img'])
  c.file('inventory.img', files['inventory.img'])
  const reply = Buffer.alloc(3)
  t.equal(readFull(hook, reply), 3, 'the hook is answered')
  t.equal(reply.toString(), 'ok\n', 'ok')
  close(hook)
  c.finish()
  t.equal((await cap.done).exitCode, 0, readFileSync(join(dir, 'split.err'), 'utf8'))
  await extracted(t, dir, join(dir, 'shard'), files)
})

t.test('an external file given as /dev/null travels as an empty file', async t => {
  const dir = tmpDir(t)
  const files = image()
  const cap = await startShell(`${bin('img-split')} -D ${dir} -e fs.tar:7 7</dev/null > ${dir}/shard`)
  const c = new DumpClient(dir)
  writeImage(c, files)
  c.finish()
  const r = await cap.done
  t.equal(r.exitCode, 0, r.stderr)
  await extracted(t, dir, join(dir, 'shard'), { ...files, 'fs.tar': Buffer.alloc(0) })
  t.equal(statSync(join(dir, 'shard')).size > 60_000, true)
})

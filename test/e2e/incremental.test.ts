// Incremental checkpoints by content with real CRIU 4.1: round 1 `criu dump --leave-running
// --stream` through img-split --index-out, extracted by img-join -D as the base; the workload
// rewrites a known fraction of its pages; round 2 (final) with --base-index sends only those as
// bytes and the rest as references; restored through img-buffer --base (criu restore --stream)
// and img-join -D --base (plain restore). A three-link chain, the chain folded into one stream
// that restores without its bases, content that moved (mremap, copies at other addresses), and
// the refusals: no base, a wrong base, a damaged page in the base, a reference the base lacks.
// Every restored workload must keep running with every page intact (memhog verifies them all).
import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { decodeMarker, encodeMarker, type Marker } from '@criu-pipes/framing'
import {
  listeningPort, needCriu, needCriuAtLeast, runCriu, startRestore, tcpClient, tcpGoesOn, startWorkload, tmpDir, workloadFromPid, waitFor, sleep, waitSessionGone, CriuError, type Workload, type WorkloadMode, type WorkloadMemory,
} from '../lib/index.js'
import { bin, startShell } from '../lib/bins.js'

const MIB = 64
const PAGES = (MIB << 20) / 4096
const OK = `verified ${PAGES} ok`
const HOOK = bin('img-split').replace(/^node /, '')
const waitSocket = (path: string) => waitFor(`socket ${path}`, () => (existsSync(path) ? true : undefined))

interface Stats {
  shards: { size: number }[]
  raw?: number
  refs?: { count: number; bytes: number }
  content: { pages: number; refPages: number; refs: number; indexEntries: number }
}

async function workload(t: Test, dir: string, mode: WorkloadMode, seed?: number, tcp?: number, memory?: WorkloadMemory): Promise<Workload> {
  const w = await startWorkload({ mib: MIB, dir, mode, ...(seed !== undefined ? { seed } : {}), ...(tcp !== undefined ? { tcp } : {}), ...(memory ? { memory } : {}) })
  t.teardown(() => w.kill())
  await w.waitReady()
  return w
}

/** One checkpoint of `w` through img-split into the shard file DIR/NAME.shard; its stats. */
async function checkpoint(t: Test, dir: string, w: Workload, name: string, splitArgs: string, leaveRunning: boolean, criuArgs: string[] = []): Promise<Stats> {
  const dumpDir = join(dir, `${name}.dump`)
  mkdirSync(dumpDir)
  const err = join(dir, `${name}.split.err`)
  const cap = await startShell(`${bin('img-split')} -D ${dumpDir} -s 3 ${splitArgs} -p 9 9>${dir}/${name}.progress 3>${dir}/${name}.shard 2>${err}`)
  await waitSocket(join(dumpDir, 'streamer-capture.sock'))
  const args = ['dump', '-t', String(w.pid), '-D', dumpDir, '--stream', '--action-script', HOOK, ...criuArgs]
  try {
    await runCriu(leaveRunning ? [...args, '--leave-running'] : args)
  } catch (e) {
    await cap.done
    throw new Error(`${readFileSync(err, 'utf8')} ${(e as Error).message.slice(0, 300)}`)
  }
  const c = await cap.done
  t.equal(c.exitCode, 0, `img-split ${name}: ${readFileSync(err, 'utf8')}`)
  if (!leaveRunning) await w.exited
  return JSON.parse(readFileSync(join(dir, `${name}.progress`), 'utf8').split('\n')[2]!) as Stats
}

async function join_(dir: string, shard: string, args: string) {
  return (await startShell(`${bin('img-join')} ${args} < ${join(dir, shard)}`)).done
}

async function extracted(t: Test, dir: string, shard: string, out: string, base?: string): Promise<void> {
  const j = await join_(dir, shard, `-D ${join(dir, out)}${base ? ` --base ${join(dir, base)}` : ''}`)
  t.equal(j.exitCode, 0, `img-join -D ${out}: ${j.stderr}`)
}

async function restoredAndVerified(t: Test, args: string[], logPath: string) {
  const r = await startRestore(args)
  t.teardown(() => r.kill())
  const rw = workloadFromPid(r.pid, logPath)
  t.ok(rw.alive(), 'the restored workload runs')
  t.equal(await rw.verify(), OK, 'every page intact after restore')
  await sleep(150)
  t.equal(await rw.verify(), OK, 'and it keeps running')
  await r.kill()
}

async function served(t: Test, dir: string, args: string, logPath: string) {
  const srvDir = join(dir, 'serve')
  mkdirSync(srvDir)
  const srv = await startShell(`exec ${bin('img-buffer')} -D ${srvDir} ${args} 2>${dir}/serve.err`)
  await waitSocket(join(srvDir, 'streamer-serve.sock'))
  await restoredAndVerified(t, ['-D', srvDir, '--stream'], logPath)
  const r = await srv.done
  t.equal(r.exitCode, 0, readFileSync(join(dir, 'serve.err'), 'utf8'))
}

/** Round 1 (left running, extracted as DIR/base with its index), churn, round 2 (final) against it. */
async function twoRounds(t: Test, dir: string, mode: WorkloadMode, memory?: WorkloadMemory) {
  const w = await workload(t, dir, mode, undefined, undefined, memory)
  const r1 = await checkpoint(t, dir, w, 'r1', `--index-out ${dir}/r1.idx`, true)
  t.equal(r1.content.indexEntries, r1.content.pages, `round 1 indexed every page it carried (${r1.content.pages})`)
  t.equal(r1.content.refs, 0, 'round 1 has no base: no references')
  t.ok(w.alive(), 'the workload runs on after round 1 (--leave-running)')
  await extracted(t, dir, 'r1.shard', 'base')
  const churned = await w.churn()
  const r2 = await checkpoint(t, dir, w, 'r2', `--base-index ${dir}/r1.idx --index-out ${dir}/r2.idx`, false)
  return { w, r1, r2, churned }
}

t.test('pre-copy: round 1 --leave-running, 5 % of the pages rewritten, round 2 final: a small delta restores intact from base + delta (img-buffer --base)', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w, r1, r2, churned } = await twoRounds(t, dir, 'churn:5')
  t.ok(churned.pages > PAGES * 0.03 && churned.pages < PAGES * 0.07, `memhog rewrote ${churned.pages} of ${PAGES} pages`)
  const image = r1.shards[0]!.size
  const sent = r2.shards[0]!.size
  // runs of fewer than 4 unchanged pages between rewritten ones go as bytes too (content-writer.ts)
  t.ok(r2.content.refPages >= PAGES - 2 * churned.pages - 64, `round 2 referenced ${r2.content.refPages} of ${r2.content.pages} pages in ${r2.content.refs} references`)
  t.ok(r2.raw! >= churned.pages * 4096, `the rewritten pages went as bytes (${r2.raw} raw bytes)`)
  t.ok(sent < 0.1 * image, `round 2 sent ${sent} bytes, ${(100 * sent / image).toFixed(2)} % of the full image (${image})`)
  t.equal(r2.refs!.bytes, r2.content.refPages * 4096, 'the stream counts agree')
  const noBase = await (await startShell(`${bin('img-buffer')} -D ${dir}/nobase < ${dir}/r2.shard`)).done
  t.equal(noBase.exitCode, 1)
  t.match(noBase.stderr, /^img-buffer: the stream is a delta against a base checkpoint: give the base directory with --base DIR$/m)
  await served(t, dir, `--base ${dir}/base < ${dir}/r2.shard`, w.logPath)
})

t.test('an application\'s memory (mixed: zero pages, repeated content), 1 % rewritten: the delta stays small and restores intact', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w, r1, r2, churned } = await twoRounds(t, dir, 'churn:1', 'mixed')
  const image = r1.shards[0]!.size
  const sent = r2.shards[0]!.size
  // a zero page inside a run of unchanged pages continues the run (before: sent as bytes, 14 %)
  t.ok(sent < 0.03 * image, `round 2 sent ${sent} bytes, ${(100 * sent / image).toFixed(2)} % of the full image, for ${churned.pages} rewritten pages`)
  await served(t, dir, `--base ${dir}/base < ${dir}/r2.shard`, w.logPath)
})

t.test('a TCP server across two rounds (--tcp-established): restored from base + delta, its connection goes on, it listens again', async t => {
  if (!(await needCriuAtLeast(t, '4.2', 'cannot dump a listening TCP socket on this kernel'))) return
  const dir = tmpDir(t)
  const w = await workload(t, dir, 'churn:5', undefined, 0)
  const c = await tcpClient(listeningPort(w))
  t.teardown(() => c.sock.destroy())
  t.equal(await c.ask(), `pong 1 ${PAGES}`, 'served before round 1')
  await checkpoint(t, dir, w, 'r1', `--index-out ${dir}/r1.idx`, true, ['--tcp-established'])
  t.equal(await c.ask(), `pong 2 ${PAGES}`, 'served between the rounds (--leave-running)')
  await extracted(t, dir, 'r1.shard', 'base')
  await w.churn()
  const r2 = await checkpoint(t, dir, w, 'r2', `--base-index ${dir}/r1.idx --index-out ${dir}/r2.idx`, false, ['--tcp-established'])
  t.ok(r2.content.refPages > 0, `round 2 is a delta (${r2.content.refPages} pages referenced)`)
  const srvDir = join(dir, 'serve')
  mkdirSync(srvDir)
  const srv = await startShell(`exec ${bin('img-buffer')} -D ${srvDir} --base ${dir}/base < ${dir}/r2.shard 2>${dir}/serve.err`)
  await waitSocket(join(srvDir, 'streamer-serve.sock'))
  const r = await startRestore(['-D', srvDir, '--stream', '--tcp-established'])
  t.teardown(() => r.kill())
  await tcpGoesOn(t, c, listeningPort(w), PAGES, 2)
  const rw = workloadFromPid(r.pid, w.logPath)
  t.equal(await rw.verify(), OK, 'every page intact after restore')
  await r.kill()
  t.equal((await srv.done).exitCode, 0, readFileSync(join(dir, 'serve.err'), 'utf8'))
})

t.test('a three-link chain restores (img-join -D --base, link by link); folded into one stream, it restores without its bases', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const w = await workload(t, dir, 'churn:10')
  await checkpoint(t, dir, w, 'c0', `--index-out ${dir}/c0.idx`, true)
  await extracted(t, dir, 'c0.shard', 'i0')
  await w.churn()
  const c1 = await checkpoint(t, dir, w, 'c1', `--base-index ${dir}/c0.idx --index-out ${dir}/c1.idx`, true)
  t.ok(c1.content.refs > 0, `link 1 refers to link 0 (${c1.content.refs} references)`)
  await extracted(t, dir, 'c1.shard', 'i1', 'i0')
  await w.churn()
  const c2 = await checkpoint(t, dir, w, 'c2', `--base-index ${dir}/c1.idx`, false)
  t.ok(c2.content.refs > 0, `link 2 refers to link 1 (${c2.content.refs} references)`)
  await extracted(t, dir, 'c2.shard', 'i2', 'i1')
  const fold = await (await startShell(`${bin('img-join')} --base ${dir}/i1 < ${dir}/c2.shard > ${dir}/full2`)).done
  t.equal(fold.exitCode, 0, `img-join --base folds the delta: ${fold.stderr}`)
  t.equal(readFileSync(join(dir, 'full2'))[4], 0x12, 'the folded stream is a plain criu-image-streamer stream')
  await restoredAndVerified(t, ['-D', join(dir, 'i2')], w.logPath)
  rmSync(join(dir, 'i0'), { recursive: true })
  rmSync(join(dir, 'i1'), { recursive: true })
  rmSync(join(dir, 'i2'), { recursive: true })
  await served(t, dir, `< ${dir}/full2`, w.logPath)
})

t.test('content that moved: copies of other pages (churn-copy) and an mremap between rounds', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w, r2, churned } = await twoRounds(t, dir, 'churn-copy:10')
  // A run of copies (pages p..p+k hold base pages p+1..p+k+1) is referenced where the base holds it.
  t.ok(r2.content.refs > 0 && r2.raw! < churned.pages * 4096 * 2, `copies referenced where the base holds them (${r2.content.refPages} of ${r2.content.pages} pages referenced, ${churned.pages} copied, ${r2.raw} raw bytes)`)
  await extracted(t, dir, 'r2.shard', 'out', 'base')
  await restoredAndVerified(t, ['-D', join(dir, 'out')], w.logPath)

  const dir2 = join(dir, 'events')
  mkdirSync(dir2)
  const e = await workload(t, dir2, 'events')
  await checkpoint(t, dir2, e, 'r1', `--index-out ${dir2}/r1.idx`, true)
  await extracted(t, dir2, 'r1.shard', 'base')
  await sleep(250) // two ticks at least: the window has been moved (mremap) and pages rewritten
  const r = await checkpoint(t, dir2, e, 'r2', `--base-index ${dir2}/r1.idx`, false)
  t.ok(r.content.refs > 0, `events: ${r.content.refPages} of ${r.content.pages} pages referenced`)
  await served(t, dir2, `--base ${dir2}/base < ${dir2}/r2.shard`, e.logPath)
})

t.test('a page turned into another with the same xxh3-128 (the old page hash) between rounds is sent, not referenced: restored intact', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w, r2, churned } = await twoRounds(t, dir, 'collide')
  t.equal(churned.pages, 1, 'memhog turned one page into its xxh3-128 twin')
  t.ok(r2.content.refs > 0 && r2.raw! >= 4096, `the page went as bytes (${r2.raw} raw bytes), the rest as references (${r2.content.refPages} pages)`)
  await served(t, dir, `--base ${dir}/base < ${dir}/r2.shard`, w.logPath)
})

/** A shard file as its markers, each with the payload that follows it. */
function records(path: string): { marker: Marker; payload: Buffer }[] {
  const b = readFileSync(path)
  const out = []
  for (let off = 0; off < b.length;) {
    const len = b.readUInt32LE(off)
    const marker = decodeMarker(b.subarray(off + 4, off + 4 + len))
    off += 4 + len
    const body = marker.body
    const size = body.kind === 'chunk' ? body.chunk.storedLength : body.kind === 'file_data' ? body.size : 0
    out.push({ marker, payload: b.subarray(off, off + size) })
    off += size
  }
  return out
}

t.test('an encrypted delta restores; one of its references repeated 1000 times with new seqs is refused at the first copy, img-buffer\'s peak RSS bounded', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const key = join(dir, 'key')
  writeFileSync(key, randomBytes(32), { mode: 0o600 })
  const w = await workload(t, dir, 'plain')
  await checkpoint(t, dir, w, 'r1', `--index-out ${dir}/r1.idx`, true)
  await extracted(t, dir, 'r1.shard', 'base')
  const r2 = await checkpoint(t, dir, w, 'r2', `--base-index ${dir}/r1.idx --encrypt ${key}`, false)
  t.ok(r2.content.refPages > PAGES / 2, `round 2 referenced ${r2.content.refPages} pages`)
  const recs = records(join(dir, 'r2.shard'))
  const refs = recs.map((r, i) => [r, i] as const).filter(([r]) => r.marker.body.kind === 'chunk_ref')
  const [longest, at] = refs.reduce((a, b) => ((b[0].marker.body as { ref: { length: number } }).ref.length > (a[0].marker.body as { ref: { length: number } }).ref.length ? b : a))
  const length = (longest.marker.body as { ref: { length: number } }).ref.length
  const COPIES = 1000
  const renumber = (r: { marker: Marker; payload: Buffer }, by: number) => ({ ...r, marker: { ...r.marker, seq: r.marker.seq + by } })
  const forged = [...recs.slice(0, at + 1), ...Array.from({ length: COPIES }, (_, i) => renumber(longest, i + 1)), ...recs.slice(at + 1).map(r => renumber(r, COPIES))]
  writeFileSync(join(dir, 'forged.shard'), Buffer.concat(forged.flatMap(r => [encodeMarker(r.marker), r.payload])))
  t.ok(readFileSync(join(dir, 'forged.shard')).length < readFileSync(join(dir, 'r2.shard')).length + 200 * COPIES, `the copies add ${COPIES} markers, and would stand for ${COPIES * length} bytes`)
  // ru_maxrss of img-buffer (the children python waited for, through bash), in KiB.
  const rss = await (await startShell(`python3 -c 'import resource, subprocess, sys; rc = subprocess.call(sys.argv[1:]); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)' bash -c '${bin('img-buffer')} -D ${dir}/forged-serve --decrypt ${key} --base ${dir}/base < ${dir}/forged.shard'`)).done
  t.equal(rss.exitCode, 1, 'img-buffer exits 1')
  t.match(rss.stderr, new RegExp(`^img-buffer: pages-\\d+\\.img at offset \\d+ \\(shard 0, marker ${longest.marker.seq + 1}\\): authentication failed .*forged`, 'm'), `refused at the first copy: ${rss.stderr.trim()}`)
  const peak = Number(rss.stdout.trim()) * 1024
  t.ok(peak < 200 << 20, `peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB, under 200 MiB (the copies alone stand for ${(COPIES * length / 2 ** 20).toFixed(0)} MiB)`)
  t.notOk(existsSync(join(dir, 'forged-serve', 'streamer-serve.sock')), 'the socket was never bound')
  await served(t, dir, `--decrypt ${key} --base ${dir}/base < ${dir}/r2.shard`, w.logPath)
})

t.test('refused, nothing restored or extracted: a wrong base, a damaged page in the base, a reference the base lacks', async t => {
  if (!(await needCriu(t))) return
  const dir = tmpDir(t)
  const { w } = await twoRounds(t, dir, 'churn:5')
  // another process's checkpoint (another seed: every page differs)
  const otherDir = join(dir, 'other')
  mkdirSync(otherDir)
  const o = await workload(t, otherDir, 'plain', 7)
  await checkpoint(t, otherDir, o, 'r1', '', false)
  await extracted(t, otherDir, 'r1.shard', 'base')
  // the right base with one flipped byte in the middle of its pages
  const damaged = join(dir, 'damaged')
  await extracted(t, dir, 'r1.shard', 'damaged')
  const pages = readFileSync(join(damaged, 'pages-1.img'))
  // one byte in each of 8 pages in the middle: some of them are referenced (5 % were rewritten)
  for (let p = 0; p < 8; p++) { const at = (pages.length >> 1) + p * 4096 + 100; pages[at] = pages[at]! ^ 0x01 }
  writeFileSync(join(damaged, 'pages-1.img'), pages)
  // the right base, cut short: the references past its end name content it does not have
  await extracted(t, dir, 'r1.shard', 'short')
  truncateSync(join(dir, 'short', 'pages-1.img'), pages.length >> 2)

  for (const [what, base, why] of [
    ['a wrong base', otherDir + '/base', /does not hold the referenced content|ends before/],
    ['a damaged page', damaged, /does not hold the referenced content .*a damaged page/],
    ['a reference the base lacks', join(dir, 'short'), /ends before/],
  ] as const) {
    // img-buffer resolves references in its decode window, while CRIU reads pages-N.img: the
    // socket is bound, the first reference the base does not hold stops serving, CRIU's pipe is
    // closed short (not a byte of that run reaches it) and the restore fails.
    const srvDir = join(dir, `serve-${base.length}`)
    mkdirSync(srvDir)
    const started = await startShell(`exec timeout 120 ${bin('img-buffer')} -D ${srvDir} --base ${base} -p 9 9>/dev/null < ${dir}/r2.shard`)
    await waitFor(`socket in ${srvDir}`, () => (existsSync(join(srvDir, 'streamer-serve.sock')) ? true : undefined))
    await t.rejects(runCriu(['restore', '-D', srvDir, '--stream'], { timeout: 60_000 }), CriuError, `${what}: criu restore --stream fails`)
    const srv = await started.done
    t.equal(srv.exitCode, 1, `${what}: img-buffer exits 1`)
    t.equal(srv.stderr.trim().split('\n').length, 1, 'with one line')
    t.match(srv.stderr, why, `says why: ${srv.stderr.trim()}`)
    // What CRIU had restored is killed and reaped before the next round restores the same pids.
    await waitSessionGone(w.pid, 30_000)
    const out = join(dir, `out-${base.length}`)
    const j = await join_(dir, 'r2.shard', `-D ${out} --base ${base}`)
    t.equal(j.exitCode, 1, `${what}: img-join -D exits 1`)
    t.match(j.stderr, why)
    t.notOk(existsSync(join(out, 'inventory.img')), 'img-join left no image')
  }
  t.notOk(existsSync(`/proc/${w.pid}/status`), 'no process was restored')
})

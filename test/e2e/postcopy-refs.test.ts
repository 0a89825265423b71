// The hybrid's lazy final round at the page-stream level (issue 18), against real CRIU: round 1
// `criu dump --leave-running --stream` through img-split --index-out, extracted by img-join -D as
// the destination's base; memhog rewrites a known share of its pages; then the final round is
// lazy: page-feed --base-index r1.idx runs `criu dump --lazy-pages` and sends every page the base
// holds as a PAGE_REF, only the rewritten ones as bytes, to uffd-serve --base base, which reads
// and checks the referenced pages from its disk while `criu restore --lazy-pages` runs the copy.
// And a base changed on disk: refused before any process gets the page (fail-stop kills the
// restored tree; the source dump resumes the original, intact).
import { existsSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import t, { type Test } from 'tap'
import {
  PAGE_FEED, UFFD_SERVE, allDelivered, criuBin, needCriu, procStat, raisePipeMaxSize, rootSummary, runCriu, sleep, startRestore, tmpDir,
  waitFor, workloadFromPid, workloadInNs, type NamespacedWorkload,
} from '../lib/index.js'
import { bin, startShell } from '../lib/bins.js'

const MIB = 64
const NPAGES = (MIB << 20) / 4096
const OK = `verified ${NPAGES} ok`
const CHURN_PCT = 5
const HOOK = bin('img-split').replace(/^node /, '')
/**
 * Pages the final round may send as bytes beyond the rewritten ones: memhog's stack, libc's data
 * and its own counters change between the rounds too.
 */
const OTHER_CHANGED_PAGES = 256

interface Rounds {
  dir: string
  src: NamespacedWorkload
  churned: number
}

/** Round 1 of memhog (in a pid namespace: the frozen source and the copy both need its pids) into DIR/base and DIR/r1.idx; then the churn. */
async function precopied(t: Test): Promise<Rounds> {
  raisePipeMaxSize(t)
  const dir = tmpDir(t)
  const src = await workloadInNs(t, dir, MIB, `churn:${CHURN_PCT}`)
  const dump = join(dir, 'r1.dump')
  mkdirSync(dump)
  const cap = await startShell(`${bin('img-split')} -D ${dump} -s 3 --index-out ${dir}/r1.idx 3>${dir}/r1.shard 2>${dir}/r1.err`)
  await waitFor('img-split to listen', () => (existsSync(join(dump, 'streamer-capture.sock')) ? true : undefined))
  await runCriu(['dump', '-t', String(src.source.pid), '-D', dump, '--stream', '--leave-running', '--action-script', HOOK])
  t.equal((await cap.done).exitCode, 0, `img-split round 1: ${readFileSync(join(dir, 'r1.err'), 'utf8')}`)
  const j = await (await startShell(`${bin('img-join')} -D ${dir}/base < ${dir}/r1.shard`)).done
  t.equal(j.exitCode, 0, `img-join -D base: ${j.stderr}`)
  t.equal(await src.source.verify(), OK, 'the source runs on after round 1')
  const { pages } = await src.source.churn()
  t.ok(pages > NPAGES * CHURN_PCT * 0.006 && pages < NPAGES * CHURN_PCT * 0.014, `memhog rewrote ${pages} of ${NPAGES} pages`)
  return { dir, src, churned: pages }
}

interface Final {
  feed: ReturnType<typeof execa>
  feedLog: string
  uffdLog: string
  uffdErr: string
  uffdRc: string
  dumpPid: number
  images: string
  restore: Awaited<ReturnType<typeof startRestore>>
}

/** The lazy final round: page-feed --base-index, its channel `uffd-serve --pages-fds 0,1 --base`, then the restore. */
async function lazyFinal(t: Test, r: Rounds): Promise<Final> {
  const images = join(r.dir, 'images')
  const work = join(r.dir, 'work')
  mkdirSync(images)
  mkdirSync(work)
  const feedLog = join(r.dir, 'feed.log')
  const uffdErr = join(r.dir, 'uffd.err')
  const uffdRc = join(r.dir, 'uffd.rc')
  const ready = join(work, 'ready')
  const via = `{ node ${UFFD_SERVE} lazy-pages -D ${images} -W ${work} -o lazy-pages.log -v4 --pages-fds 0,1 --base ${r.dir}/base ` +
    `--status-fd 3 3>${ready} 2>${uffdErr}; echo $? >${uffdRc}; }`
  const feed = execa(process.execPath, [PAGE_FEED, '-D', images, '-o', feedLog, '-v4', '--base-index', join(r.dir, 'r1.idx'), '--via-cmd', via, '--',
    criuBin(), 'dump', '-t', String(r.src.source.pid), '-D', images, '-o', 'dump.log', '-v4', '--lazy-pages'],
  { stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', reject: false, timeout: 300_000 })
  t.teardown(() => { feed.kill('SIGKILL') })
  const dumpPid = await waitFor('page-feed to start the dump', () =>
    Number(/\(pid (\d+), page server on a socketpair/.exec(existsSync(feedLog) ? readFileSync(feedLog, 'utf8') : '')?.[1]) || undefined,
  { timeoutMs: 60_000 })
  t.teardown(() => { try { process.kill(dumpPid, 'SIGKILL') } catch { /* gone */ } })
  await waitFor('uffd-serve to listen', () => (existsSync(ready) && statSync(ready).size > 0 ? true : undefined), { timeoutMs: 60_000 })
  const restore = await startRestore(['-D', images, '-W', work, '--lazy-pages'])
  t.teardown(() => restore.kill())
  return { feed, feedLog, uffdLog: join(work, 'lazy-pages.log'), uffdErr, uffdRc, dumpPid, images, restore }
}

async function uffdExit(f: Final): Promise<{ code: number; stderr: string }> {
  const code = await waitFor('uffd-serve to exit', () => (existsSync(f.uffdRc) && readFileSync(f.uffdRc, 'utf8').endsWith('\n')
    ? Number(readFileSync(f.uffdRc, 'utf8')) : undefined), { timeoutMs: 120_000 })
  return { code, stderr: readFileSync(f.uffdErr, 'utf8') }
}

t.test('the lazy final round sends only the rewritten pages\' bytes; the rest come from the base, checked; the copy runs intact', async (t) => {
  if (!(await needCriu(t))) return
  const r = await precopied(t)
  const f = await lazyFinal(t, r)
  const { code, stderr } = await uffdExit(f)
  t.equal(code, 0, `uffd-serve exits 0 ${stderr}`)
  const root = rootSummary(f.uffdLog)
  t.ok(allDelivered(root, NPAGES), `every page delivered: ${JSON.stringify(root)}`)
  const fed = await f.feed
  t.equal(fed.exitCode, 0, `page-feed exits 0 ${String(fed.stderr)}`)
  const done = /page-feed done: (\d+) pages pushed, (\d+) sent for \d+ requests .*?(\d+) of them as (\d+) references to the base, (\d+) as bytes; PS_IOV_CLOSE answered 0/.exec(readFileSync(f.feedLog, 'utf8'))
  t.ok(done, 'page-feed counts references and bytes')
  const [pushed, answered, refPages, refs, bytePages] = done!.slice(1).map(Number) as [number, number, number, number, number]
  t.equal(refPages + bytePages, pushed + answered, 'every page went once, as a reference or as bytes')
  t.ok(bytePages >= r.churned && bytePages <= r.churned + OTHER_CHANGED_PAGES,
    `about the rewritten pages went as bytes: ${bytePages} for ${r.churned} rewritten (${refPages} pages in ${refs} references)`)
  t.match(readFileSync(f.uffdLog, 'utf8'), new RegExp(`, ${refPages} of them as references to the base;`), 'uffd-serve resolved as many from its base')
  await r.src.ns
  await waitFor('the source to be gone', () => (procStat(r.src.source.pid) === undefined ? true : undefined))
  const copy = workloadFromPid(f.restore.pid, r.src.source.logPath)
  t.equal(await copy.verify(), OK, 'the copy has every page right: the base\'s where unchanged, the rewritten ones from the source')
  await sleep(300)
  t.ok(copy.alive(), 'and keeps running')
  t.equal(await copy.verify(), OK, 'verified again')
  await f.restore.kill()
  await copy.exited
})

t.test('a base page changed on disk is refused before any process gets it: the copy is killed, the source resumes intact', async (t) => {
  if (!(await needCriu(t))) return
  const r = await precopied(t)
  // A byte in every 16th page of the base's largest pages file: the 5 % rewritten cannot hide them all.
  const base = join(r.dir, 'base')
  const file = readdirSync(base).filter((n) => /^pages-\d+\.img$/.test(n)).sort((a, b) => statSync(join(base, b)).size - statSync(join(base, a)).size)[0]!
  const fd = openSync(join(base, file), 'r+')
  for (let page = 0; page * 4096 < statSync(join(base, file)).size; page += 16) writeSync(fd, Buffer.from([0x5a]), 0, 1, page * 4096 + 1234)
  closeSync(fd)
  const f = await lazyFinal(t, r)
  const { code, stderr } = await uffdExit(f)
  t.equal(code, 1, 'uffd-serve exits 1')
  t.match(stderr, new RegExp(`^uffd-serve: base file ${r.dir}/base/${file.replace('.', '\\.')} page \\d+ is not the page the feeder refers to: a wrong base, or one changed since it was received; refused before any process got it; \\d+ pages were still owed, so the restored tree was killed \\(1 process\\)[^\\n]*\\n$`),
    `one line naming the page: ${stderr}`)
  await f.restore.criu
  t.ok(procStat(f.restore.pid) === undefined, 'the restored copy is gone')
  t.notMatch(readFileSync(r.src.source.logPath, 'utf8'), /CORRUPT/, 'no process ever read a changed page')
  const fed = await f.feed
  t.equal(fed.exitCode, 1, 'page-feed exits 1')
  t.match(readFileSync(f.feedLog, 'utf8'), /the source dump resumes the original \(the dump exited 1\)/)
  await waitFor('the dump to exit', () => (procStat(f.dumpPid) === undefined ? true : undefined), { timeoutMs: 60_000 })
  t.match(readFileSync(join(f.images, 'dump.log'), 'utf8'), /Lazy pages transfer FAILED/, 'the lazy dump failed the transfer')
  t.ok(r.src.source.alive(), 'the original runs again')
  t.equal(await r.src.source.verify(), OK, 'with intact memory')
})

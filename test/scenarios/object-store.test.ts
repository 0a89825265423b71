// The object-store scenarios against a real Ceph RADOS Gateway (started ONCE here, in the
// source "host" of two network namespaces, for every scenario) with Debian's awscli v2 and
// rclone as the shard filters, and real CRIU: each object-store script in scripts/scenarios/ must end with
// `SCENARIO PASSED: NAME`.
// Then the read side with a shard object gone: one line names it, img-buffer refuses, nothing
// is restored.
import t, { type Test } from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { cephInstalled, cephRgwStart, criuBin, needCriu, repoRoot, runScenario, twoHostsUp, type CephRgw, type TwoHosts } from '../lib/index.js'

// The scenario scripts this file runs, with the settings each runs with: the CI pair's filters
// use rclone, so both real clients are covered.
const SCENARIOS: [string, Record<string, string>][] = [
  ['object-store', {}],
  ['ci-pair', { S3_CLIENT: 'rclone' }],
  ['upload-fails', {}],
]
const SCRIPT_TIMEOUT_MS = 600_000

/** lines: stdout and stderr as they came; verdict: the last `SCENARIO ...` line (a filter's
 *  stderr may still arrive after it). */
interface Run { exitCode: number | undefined; lines: string[]; verdict: string }

/** A CI job script with its URL argument, in a host's namespace (runScenario takes neither), and
 *  whatever its verdict. */
async function ciJob(env: Record<string, string>, script: string, args: string[], prefix: string[]): Promise<Run> {
  const path = join(repoRoot(), 'scripts', 'scenarios', `${script}.sh`)
  const argv = [...prefix, 'bash', path, ...args]
  const r = await execa(argv[0]!, argv.slice(1), {
    env: { ...process.env, ...env }, reject: false, timeout: SCRIPT_TIMEOUT_MS, all: true,
  })
  const split = (s: unknown) => String(s ?? '').split('\n').filter(l => l !== '')
  return { exitCode: r.exitCode, lines: split(r.all), verdict: split(r.stdout).filter(l => l.startsWith('SCENARIO ')).pop() ?? '(no verdict line)' }
}

function showOnFailure(t: Test, ok: boolean, r: Run): void {
  if (!ok) t.comment(r.lines.slice(-40).join('\n'))
}

t.test('object-store scenarios against a real Ceph RGW', async t => {
  if (!(await needCriu(t))) return
  if (!cephInstalled()) {
    const why = 'Ceph RGW / awscli not installed (scripts/install-ceph.sh)'
    if (process.env.CI === 'true') t.fail(why)
    else t.plan(0, why)
    return
  }
  let hosts: TwoHosts | undefined
  let store: CephRgw | undefined
  // Stop the store before its namespace goes away, also when something below fails.
  t.teardown(async () => {
    await store?.stop()
    await hosts?.down()
  })
  hosts = await twoHostsUp(undefined, { prefix: 'cpos' })
  store = await cephRgwStart({ netns: hosts.srcNs, addr: hosts.srcAddr })
  const env = { ...hosts.env, ...store.env, CRIU: criuBin() }
  const onSrc = ['nsenter', `--net=/run/netns/${hosts.srcNs}`]
  const onDst = ['nsenter', `--net=/run/netns/${hosts.dstNs}`]

  for (const [name, settings] of SCENARIOS) {
    const how = Object.entries(settings).map(([k, v]) => ` ${k}=${v}`).join('')
    await t.test(`scripts/scenarios/${name}.sh${how}`, async t => {
      await runScenario(t, name, { ...env, ...settings })
    })
  }

  await t.test('a shard object missing on the read side: named, refused, nothing restored', async t => {
    const url = `s3://${store!.bucket}/missing-shard`
    const aws = [...onSrc, '/usr/bin/aws', '--endpoint-url', store!.endpoint, 's3']
    t.teardown(() => execa(aws[0]!, [...aws.slice(1), 'rm', '--recursive', `${url}/`], { env: { ...process.env, ...env }, reject: false }).then(() => {}))
    const ck = await ciJob({ ...env, SHARDS: '2' }, 'ci-checkpoint', [url], onSrc)
    showOnFailure(t, ck.exitCode === 0, ck)
    t.equal(ck.verdict, 'SCENARIO PASSED: ci-checkpoint', 'the checkpoint is in the bucket')
    const pid = Number(/^pid (\d+) checkpointed to /m.exec(ck.lines.join('\n'))?.[1])
    await execa(aws[0]!, [...aws.slice(1), 'rm', `${url}/1`], { env: { ...process.env, ...env } })

    const r = await ciJob(env, 'ci-restore', [url], onDst)
    showOnFailure(t, r.exitCode !== 0, r)
    t.not(r.exitCode, 0, 'ci-restore fails')
    t.match(r.verdict, /^SCENARIO FAILED: ci-restore: /, 'with its FAILED verdict')
    const naming = r.lines.filter(l => l.includes(`${url}/1 `) || l.endsWith(`${url}/1`))
    t.equal(naming.length, 1, `one line names the missing object ${url}/1`)
    t.ok(r.lines.some(l => /^img-buffer: /.test(l)), 'img-buffer says why it refuses')
    t.ok(r.lines.some(l => l.includes('img-buffer refused the image') && l.includes('nothing restored')), 'nothing was restored')
    t.ok(pid > 0, `the checkpointed pid is known (${pid})`)
    t.ok(!running(pid, 'memhog'), `no memhog runs as pid ${pid}`)
  })

  await t.test('stopping the store leaves nothing running and no dir', async t => {
    const pids = readdirSync(join(store!.dir, 'run')).filter(f => f.endsWith('.pid'))
      .map(f => Number(readFileSync(join(store!.dir, 'run', f), 'utf8').trim()))
    t.equal(pids.length, 3, 'mon, OSD and rgw wrote pid files')
    await store!.stop()
    t.notOk(existsSync(store!.dir), 'the private dir is gone')
    for (const p of pids) t.notOk(running(p), `daemon ${p} is gone`)
  })
})

/** Alive and not a zombie waiting for its parent (and, if given, running `program`). */
function running(pid: number, program?: string): boolean {
  const read = (f: string) => existsSync(`/proc/${pid}/${f}`) ? readFileSync(`/proc/${pid}/${f}`, 'utf8') : ''
  const stat = read('stat')
  return stat !== '' && !/\) Z /.test(stat) && (program === undefined || read('cmdline').includes(program))
}

// A real S3 object store for tests and benchmarks: a thin wrapper over scripts/lib/ceph-rgw.sh
// (the one implementation; see its header): a one-node Ceph RADOS Gateway under a private
// dir, optionally inside a network namespace (the source of twoHostsUp). Start it ONCE per
// test file: it takes about 20 s.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { execa } from 'execa'
import { repoRoot } from './paths.js'

export interface CephRgw {
  /** The private dir of the cluster (conf, keyring, logs, the OSD's sparse file). */
  dir: string
  /** http://ADDR:PORT */
  endpoint: string
  /** An empty bucket made for the run. */
  bucket: string
  /** The network namespace the cluster runs in ('' for the caller's). */
  netns: string
  /** Every variable the script exports (CRIU_PIPES_S3_*, AWS_*), for scripts and clients. */
  env: Record<string, string>
  stop(): Promise<void>
}

export interface CephRgwOptions {
  /** Run the cluster in this network namespace (a name in /run/netns). */
  netns?: string
  /** One more address for the S3 endpoint, e.g. that namespace's veth address. */
  addr?: string
  /** Capacity in GiB (a full store makes uploads hang). */
  sizeGiB?: number
}

const script = () => join(repoRoot(), 'scripts', 'lib', 'ceph-rgw.sh')
/** Start to a usable bucket measured 16-22 s idle; a loaded 2-core machine is slower. */
const START_TIMEOUT_MS = 300_000
const STOP_TIMEOUT_MS = 120_000

/** Whether the Debian packages are there (scripts/install-ceph.sh installs them). */
export function cephInstalled(): boolean {
  return ['/usr/bin/ceph-mon', '/usr/bin/ceph-osd', '/usr/bin/radosgw', '/usr/bin/aws'].every(p => existsSync(p))
}

export async function cephRgwStart(opts: CephRgwOptions = {}): Promise<CephRgw> {
  const env: Record<string, string> = {}
  if (opts.netns) env.CEPH_RGW_NETNS = opts.netns
  if (opts.addr) env.CEPH_RGW_ADDR = opts.addr
  if (opts.sizeGiB) env.CEPH_RGW_SIZE = String(opts.sizeGiB)
  const r = await execa('bash', [script(), 'start'], { env, reject: false, timeout: START_TIMEOUT_MS })
  if (r.exitCode !== 0) throw new Error(`ceph-rgw start failed (exit ${r.exitCode}): ${r.stderr.trim()}`)
  const vars: Record<string, string> = {}
  // Lines are `export NAME=VALUE`; none of our values needs quoting.
  for (const m of r.stdout.matchAll(/^export (\w+)=(.*)$/gm)) vars[m[1]!] = m[2]!
  const dir = vars.CRIU_PIPES_RGW_DIR ?? ''
  // A test process that dies without its teardown must not leave the daemons running.
  const onExit = () => stopSync(dir)
  process.once('exit', onExit)
  return {
    dir, endpoint: vars.CRIU_PIPES_S3_ENDPOINT ?? '', bucket: vars.CRIU_PIPES_S3_BUCKET ?? '',
    netns: vars.CRIU_PIPES_S3_NETNS ?? '', env: vars,
    stop: async () => {
      process.removeListener('exit', onExit)
      const s = await execa('bash', [script(), 'stop', dir], { reject: false, timeout: STOP_TIMEOUT_MS })
      if (s.exitCode !== 0 && existsSync(dir)) throw new Error(`ceph-rgw stop failed: ${s.stderr.trim()}`)
    },
  }
}

function stopSync(dir: string): void {
  if (!existsSync(dir)) return
  try {
    execFileSync('bash', [script(), 'stop', dir], { stdio: 'ignore', timeout: STOP_TIMEOUT_MS })
  } catch { /* the exit path has nobody to tell */ }
}

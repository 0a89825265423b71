// The contenders of the compress benchmark (6) and what they need of the programs: which options
// img-split and img-buffer have (read from their --help), and whether the C codecs are installed.
// A contender whose need is missing is skipped with the reason, so the benchmark runs before the
// feature exists and lights up once it does.
import { execa } from 'execa'
import { criuBin } from '@criu-pipes/e2e/harness'
import { binPath, q } from '../lib/procs.js'

export type Codec = 'none' | 'lz4' | 'zstd' | 'auto'
/** what a contender needs of the programs: img-split options, img-buffer's key option, C codecs */
export type Need = 'compress' | 'checksum' | 'encrypt' | 'threads' | 'decrypt' | 'lz4-cli' | 'zstd-cli' | 'criu-lz4'

export interface Spec {
  name: string
  label: string
  rate: number
  codec: Codec
  /** extra img-split options (a key path is added for --encrypt) */
  split: readonly string[]
  /** a C codec between each shard and its drain */
  ext?: readonly string[]
  /** extra `criu dump` options (CRIU's own --compress) */
  criu?: readonly string[]
  needs: readonly Need[]
  /** one of the unthrottled variants (checksum, encryption, threads), not a fixed choice of codec */
  variant?: true
}

export const rateLabel = (r: number) => (r === 0 ? 'unthrottled' : r >= 1e9 ? `${r / 1e9} GB/s` : `${r / 1e6} MB/s`)
export const LABEL = {
  none: 'uncompressed',
  extLz4: 'ext lz4 -1 per shard',
  extZstd: 'ext zstd -1 per shard',
  criu: 'CRIU --compress (its LZ4)',
  criuModel: 'CRIU --compress, MODEL: per-page liblz4 on 1 core',
  in: (c: Codec, more = '') => `--compress ${c}${more}`,
}

export function matrix(rates: readonly number[]): Spec[] {
  const out: Spec[] = []
  const at = (label: string, rate: number, s: Omit<Spec, 'name' | 'label' | 'rate'>) =>
    out.push({ name: `${label} @ ${rateLabel(rate)}`, label, rate, ...s })
  for (const rate of rates) {
    at(LABEL.none, rate, { codec: 'none', split: [], needs: [] })
    at(LABEL.extLz4, rate, { codec: 'lz4', split: [], ext: ['lz4', '-1', '-q', '-c'], needs: ['lz4-cli'] })
    at(LABEL.extZstd, rate, { codec: 'zstd', split: [], ext: ['zstd', '-1', '-q', '-c'], needs: ['zstd-cli'] })
    for (const c of ['lz4', 'zstd', 'auto'] as const) at(LABEL.in(c), rate, { codec: c, split: ['--compress', c], needs: ['compress'] })
    // CRIU 4.3 compresses in its dump thread, one LZ4 block per page with --stream; img-split passes it on.
    at(LABEL.criu, rate, { codec: 'none', split: [], criu: ['--compress'], needs: ['criu-lz4'] })
  }
  for (const c of ['lz4', 'zstd', 'auto'] as const) {
    at(LABEL.in(c, ' --no-checksum'), 0, { codec: c, split: ['--compress', c, '--no-checksum'], needs: ['compress', 'checksum'], variant: true })
    at(LABEL.in(c, ' --checksum'), 0, { codec: c, split: ['--compress', c, '--checksum'], needs: ['compress', 'checksum'], variant: true })
    at(LABEL.in(c, ' --encrypt'), 0, { codec: c, split: ['--compress', c, '--encrypt'], needs: ['compress', 'encrypt'], variant: true })
  }
  for (const n of [1, 2]) {
    at(LABEL.in('lz4', ` --threads ${n}`), 0, { codec: 'lz4', split: ['--compress', 'lz4', '--threads', String(n)], needs: ['compress', 'threads'], variant: true })
  }
  return out
}

export interface Features {
  has: Set<Need>
  /** why each missing need is missing */
  why: Map<Need, string>
  /** img-buffer's option that takes the key: --decrypt (or --encrypt, the issue leaves it open) */
  keyOption: string
}

async function helpOf(name: string): Promise<string> {
  const r = await execa('node', [binPath(name), '--help'], { reject: false, timeout: 30_000, all: true })
  return String(r.all ?? '')
}

async function onPath(cmd: string): Promise<boolean> {
  const r = await execa('bash', ['-c', `command -v ${q(cmd)}`], { reject: false })
  return r.exitCode === 0
}

export async function features(): Promise<Features> {
  const [split, buffer, lz4, zstd] = await Promise.all([helpOf('img-split'), helpOf('img-buffer'), onPath('lz4'), onPath('zstd')])
  const has = new Set<Need>()
  const why = new Map<Need, string>()
  const opt = (need: Need, help: string, option: string, prog: string) => {
    if (new RegExp(`(^|\\s)${option}\\b`, 'm').test(help)) has.add(need)
    else why.set(need, `${prog} has no ${option}`)
  }
  opt('compress', split, '--compress', 'img-split')
  opt('checksum', split, '--checksum', 'img-split')
  opt('encrypt', split, '--encrypt', 'img-split')
  opt('threads', split, '--threads', 'img-split')
  // the issue lets img-buffer take the key as --decrypt or under the capture side's --encrypt
  const keyOption = /(^|\s)--decrypt\b/m.test(buffer) ? '--decrypt' : '--encrypt'
  opt('decrypt', buffer, keyOption, 'img-buffer')
  for (const [need, ok, pkg] of [['lz4-cli', lz4, 'lz4'], ['zstd-cli', zstd, 'zstd']] as const) {
    if (ok) has.add(need)
    else why.set(need, `no \`${pkg}\` command (apt-get install ${pkg}; scripts/setup.sh does)`)
  }
  // Debian's CRIU 4.3 is built without LZ4: then the compress benchmark models it (criu-lz4-model.ts).
  const lz4InCriu = await execa(criuBin(), ['check', '--feature', 'compress'], { reject: false, timeout: 30_000 })
  if (lz4InCriu.exitCode === 0) has.add('criu-lz4')
  else why.set('criu-lz4', `${criuBin()} has no --compress (\`criu check --feature compress\` fails: built without LZ4); modelled offline instead`)
  return { has, why, keyOption }
}

export function restoreCodecs(f: Features, key: string): { name: string; codec: Codec; split: string[]; buffer: string[]; needs: Need[] }[] {
  return [
    { name: 'img-buffer, uncompressed', codec: 'none', split: [], buffer: [], needs: [] },
    ...(['lz4', 'zstd', 'auto'] as const).map((c) => ({ name: `img-buffer, --compress ${c}`, codec: c, split: ['--compress', c], buffer: [], needs: ['compress'] as Need[] })),
    { name: 'img-buffer, --compress auto --encrypt', codec: 'auto', split: ['--compress', 'auto', '--encrypt', key], buffer: [f.keyOption, key], needs: ['compress', 'encrypt', 'decrypt'] },
  ]
}

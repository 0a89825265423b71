// The source half: `sh -c CMD` runs the destination half, its stdin/stdout the channel; then the
// rounds (mode full: one final round; precopy: running rounds with a content index, until the
// stop rule, then a final round of references; postcopy: one lazy final round; hybrid: running
// rounds, then a lazy final round; auto: one of them, chosen by auto.ts), then the destination's
// verdict.
// Failure semantics: until the final dump's hook has the destination's receipt, any failure
// leaves the process running here (a running round never stops it; the final round's hook fails
// the dump, CRIU resumes it); after that the process is the destination's, released to it once
// reaped, and a failed restore there is reported, fail-stop. A lazy final round keeps the process
// frozen here until every page is at the destination: any end but that resumes it here, and the
// destination kills its copy (uffd-serve's fail-stop).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { POLLIN, closeQuietly, poll, setNonBlocking, writeAll } from '@criu-pipes/sys'
import { MigrateChannel, RoundStatus, STREAM_ID_BYTES, type ExtWriteOptions, type MigrateMessage } from '@criu-pipes/framing'
import { spawnChannel, commandExit } from '@criu-pipes/lazy-pages'
import { modeCode, roundExt, type SourceOptions } from './options.js'
import { afterRound } from './stop-rule.js'
import { dumpRound } from './dump-round.js'
import { lazyRound } from './lazy-round.js'
import { sampleDirtyRate, type DirtySample } from './dirty-rate.js'
import { LAZY_PIPE_BYTES, afterRound1, lazyPossible, planAuto, type AutoPlan } from './auto.js'
import { MigrateStatus } from './status.js'
import { MigrateError } from './migrate-error.js'

/** How long the destination's command may take to exit once the channel is closed. */
const COMMAND_EXIT_MS = 10_000
/**
 * How long the source waits for the killed process to be reaped before it lets the destination
 * restore anyway: its parent normally reaps it at once; one that never does must not stall the
 * migration (on another host the pid is free regardless).
 */
const REAP_WAIT_MS = 2_000
/** How often /proc is looked at meanwhile. */
const REAP_POLL_MS = 5
/** How long a failed source waits for the destination's last word (its reason) on the channel. */
const LAST_WORD_MS = 5_000

export interface RoundSummary { round: number; final: boolean; bytes: number; freezeMs: number; ms: number }

export interface Summary {
  /** The mode it ran: auto's choice, or the one asked. */
  mode: string
  /** As asked (--mode). */
  asked: string
  why: string
  rounds: RoundSummary[]
  bytes: number
  /** The final round's freeze (its first frozen image to the destination's receipt). */
  freezeMs: number
  /** The final dump's start to the destination's word that the process runs there. */
  downtimeMs: number
  totalMs: number
  pid: number
  /** auto: the dirty rate measured before any round (pages rewritten per page per second) and the resident bytes. */
  dirtyPerSecond?: number
  residentBytes?: number
}

export async function migrate(o: SourceOptions): Promise<Summary> {
  const started = performance.now()
  const work = mkdtempSync(join(tmpdir(), 'img-migrate-'))
  const line = new MigrateStatus()
  let phaseNow = 'start'
  // Every phase change is drawn on the status line (a terminal's).
  const setPhase = (p: string): void => { phaseNow = p; line.phase(p) }
  const channel = spawnChannel(o.to)
  const rounds: RoundSummary[] = []
  const ended = (r: RoundSummary): void => { rounds.push(r); line.sent(r.bytes); status(o, r) }
  let ctl: MigrateChannel | null = null
  try {
    setPhase('hello')
    // Keyed (--encrypt), every control message is authenticated, and each image bound to its round.
    const key = o.ext.key
    ctl = MigrateChannel.source(channel.readFd, channel.writeFd, key, modeCode(o.mode))
    ctl.answered()
    const c = ctl
    let dirty: DirtySample | null = null
    let plan: AutoPlan = { mode: o.mode === 'auto' ? 'postcopy' : o.mode, why: `mode ${o.mode}` }
    if (o.mode === 'auto') {
      setPhase('measuring')
      dirty = await sampleDirtyRate(o.pid)
      line.measured(dirty.perSecond)
      plan = planAuto(dirty, lazyPossible() && o.ext.key === null)
    }
    if ((plan.mode === 'postcopy' || plan.mode === 'hybrid') && !lazyPossible()) {
      throw new Error(`mode ${plan.mode}: CRIU's lazy page server needs fs.pipe-max-size >= ${LAZY_PIPE_BYTES} (sysctl fs.pipe-max-size=${LAZY_PIPE_BYTES}), or use --mode auto, full or precopy`)
    }
    let why = plan.why
    let round = 0
    const sent: number[] = []
    const index = (k: number): string => join(work, `round${k}.idx`)
    if (plan.mode === 'precopy' || plan.mode === 'hybrid') {
      for (;;) {
        round++
        setPhase(`round ${round} (pre-copy)`)
        const t0 = performance.now()
        const ext = boundExt(roundExt(o, round > 1))
        c.write({ kind: 'round', round, final: false, lazy: false, ...(ext?.key ? { streamId: ext.streamId! } : {}) })
        const r = await dumpRound({
          pid: o.pid, round, dir: join(work, `r${round}`), leaveRunning: true, ext,
          indexOut: index(round), baseIndex: round > 1 ? index(round - 1) : null, want: RoundStatus.KEPT, channel, ctl: c,
        })
        const ms = Math.round(performance.now() - t0)
        ended({ round, final: false, bytes: r.bytes, freezeMs: r.freezeMs, ms })
        sent.push(r.bytes)
        if (o.afterRound !== null) runAfterRound(o, round)
        if (plan.mode === 'hybrid') { why = `${why}; ${afterRound1(r.bytes, ms, dirty)}`; break }
        const next = afterRound(sent, o.maxRounds)
        if (next.stop) { why = `${why}; ${next.why}`; break }
      }
    }
    round++
    const lazy = plan.mode === 'postcopy' || plan.mode === 'hybrid'
    setPhase(`round ${round} (${lazy ? 'lazy' : 'final'})`)
    const t0 = performance.now()
    const ext = lazy ? null : boundExt(roundExt(o, round > 1))
    c.write({ kind: 'round', round, final: true, lazy, ...(ext?.key ? { streamId: ext.streamId! } : {}) })
    const final = lazy ? await lazyFinal(o, round, work, channel, c, round > 1 ? index(round - 1) : null, (n) => { line.sending(phaseNow, n) }) : await streamedFinal(o, round, work, channel, c, ext, index, () => { setPhase(`round ${round} (restore)`) })
    const ms = Math.round(performance.now() - t0)
    ended({ round, final: true, bytes: final.bytes, freezeMs: final.freezeMs, ms })
    return {
      mode: plan.mode, asked: o.mode, why, rounds, bytes: rounds.reduce((a, x) => a + x.bytes, 0), freezeMs: final.freezeMs,
      downtimeMs: final.downtimeMs ?? ms, totalMs: Math.round(performance.now() - started), pid: final.pid,
      ...(dirty ? { dirtyPerSecond: Number(dirty.perSecond.toFixed(4)), residentBytes: dirty.residentBytes } : {}),
    }
  } catch (e) {
    // Closing our end ends the destination's read of an image: it cleans up and exits.
    closeQuietly(channel.writeFd)
    channel.writeFd = -1
    const why = (e as Error).message
    const theirs = why.includes('destination') || ctl === null ? null : destinationsReason(ctl)
    throw new MigrateError('source', phaseNow, theirs ? `${why}; ${theirs}` : why)
  } finally {
    line.clear()
    if (channel.writeFd >= 0) closeQuietly(channel.writeFd)
    await commandExit(channel.child, COMMAND_EXIT_MS)
    closeQuietly(channel.readFd)
    rmSync(work, { recursive: true, force: true })
  }
}

interface FinalResult { bytes: number; freezeMs: number; downtimeMs: number | null; pid: number }
type Channel = ReturnType<typeof spawnChannel>

/** The final round streamed (full, precopy): the destination restores once the process is gone here. */
async function streamedFinal(o: SourceOptions, round: number, work: string, channel: Channel, ctl: MigrateChannel, ext: ExtWriteOptions | null,
  index: (k: number) => string, restoring: () => void): Promise<FinalResult> {
  const r = await dumpRound({
    pid: o.pid, round, dir: join(work, `r${round}`), leaveRunning: false, ext,
    indexOut: null, baseIndex: round > 1 ? index(round - 1) : null, want: RoundStatus.RECEIVED, channel, ctl,
  })
  restoring()
  // The dump killed the process; its pids are free once its parent has reaped it. Where both
  // hosts share a pid namespace (two network namespaces, containers) the restore needs them.
  await reaped(o.pid, REAP_WAIT_MS)
  ctl.write({ kind: 'released', round })
  return { bytes: r.bytes, freezeMs: r.freezeMs, downtimeMs: null, pid: verdict(ctl) }
}

/**
 * The final round lazy (postcopy, hybrid): restored at the destination while the process here is
 * frozen, its memory following (lazy-round.ts); after running rounds, the pages the destination's
 * base holds as references (`baseIndex`, the last running round's index). The copy runs while the original still exists:
 * where both hosts share a pid namespace, the tree must be in a pid namespace of its own.
 */
async function lazyFinal(o: SourceOptions, round: number, work: string, channel: Channel, ctl: MigrateChannel, baseIndex: string | null,
  onSent: (bytes: number) => void): Promise<FinalResult> {
  const dir = join(work, `r${round}`)
  mkdirSync(dir, { mode: 0o700 })
  const r = await lazyRound({ pid: o.pid, dir, log: join(work, `feed${round}.log`), baseIndex, channel, onSent })
  // The page stream left the channel non-blocking; the verdict is read blocking.
  setNonBlocking(channel.readFd, false)
  setNonBlocking(channel.writeFd, false)
  return { ...r, pid: verdict(ctl) }
}

/** The destination's last word: the process runs there, as this pid. */
function verdict(ctl: MigrateChannel): number {
  const v = expect(ctl.read(), 'result')
  if (v.status !== RoundStatus.RESTORED) throw new Error(`the destination answered status ${v.status}, not restored`)
  return v.pid
}

/**
 * A round's capture options with a fresh stream id of its own: keyed, the ROUND before the image
 * names it, and the destination refuses any other stream (an old round's, replayed).
 */
function boundExt(ext: ExtWriteOptions | null): ExtWriteOptions | null {
  return ext && { ...ext, streamId: randomBytes(STREAM_ID_BYTES) }
}

/** Resolves once /proc/PID is gone (a zombie still holds its pid), or after `ms`. */
async function reaped(pid: number, ms: number): Promise<void> {
  const until = performance.now() + ms
  while (existsSync(`/proc/${pid}`) && performance.now() < until) await new Promise(res => setTimeout(res, REAP_POLL_MS))
}

function expect<K extends MigrateMessage['kind']>(m: MigrateMessage | null, kind: K): Extract<MigrateMessage, { kind: K }> {
  if (m === null) throw new Error('the destination closed the channel (see its error above)')
  if (m.kind === 'result' && m.status === RoundStatus.FAILED) throw new Error(m.error) // "destination: PHASE: why"
  if (m.kind !== kind) throw new Error(`the destination sent a ${m.kind} message where a ${kind} was due`)
  return m as Extract<MigrateMessage, { kind: K }>
}

/** Why the destination gave up, when it said so before it went (a write of ours then failed with EPIPE). */
function destinationsReason(ctl: MigrateChannel): string | null {
  try {
    if (!((poll([{ fd: ctl.readFd, events: POLLIN }], LAST_WORD_MS)[0] ?? 0))) return null
    const m = ctl.read()
    return m?.kind === 'result' && m.status === RoundStatus.FAILED ? m.error : null
  } catch {
    return null
  }
}

function status(o: SourceOptions, r: RoundSummary): void {
  if (o.statusFd !== null) writeAll(o.statusFd, Buffer.from(`${JSON.stringify(r)}\n`))
}

/** --after-round: the process is running, the destination holds the round; a failure ends the migration here. */
function runAfterRound(o: SourceOptions, round: number): void {
  const r = spawnSync('/bin/sh', ['-c', o.afterRound!], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, MIGRATE_ROUND: String(round), MIGRATE_PID: String(o.pid) } })
  if (r.status !== 0) throw new Error(`--after-round failed (${r.status === null ? `signal ${r.signal}` : `exit ${r.status}`})`)
}

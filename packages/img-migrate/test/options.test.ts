import t from 'tap'
import { UsageError } from '@criu-pipes/streamer'
import { chmodSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { DEFAULT_MAX_ROUNDS, DEFAULT_MODE, parseOptions, roundExt } from '../src/options.js'

t.test('the source half', async t => {
  const o = parseOptions(['-t', '42', '--to', 'ssh dst img-migrate --receive -W /ck', '--mode', 'full', '-p', '3'])
  t.match(o, { side: 'source', pid: 42, to: 'ssh dst img-migrate --receive -W /ck', mode: 'full', maxRounds: DEFAULT_MAX_ROUNDS, progressFd: 3, statusFd: null })
  t.match(parseOptions(['-t', '1', '--to', 'x']), { mode: DEFAULT_MODE })
  t.match(parseOptions(['-t', '1', '--to', 'x', '--max-rounds', '2', '--after-round', 'true']), { maxRounds: 2, afterRound: 'true' })
  for (const mode of ['auto', 'postcopy', 'hybrid']) t.match(parseOptions(['-t', '1', '--to', 'x', '--mode', mode]), { mode })
})

t.test('the destination half', async t => {
  t.match(parseOptions(['--receive', '-W', 'ck'], '/var/lib'), { side: 'destination', workDir: '/var/lib/ck', read: { key: null } })
})

t.test('bad command lines: one line, a usage error', async t => {
  const bad: [string[], RegExp][] = [
    [['-t', '1', '--to', 'x', '--mode', 'postcopy', '--encrypt', '/k'], /--mode postcopy with --encrypt: the lazy final round's page stream is not encrypted/],
    [['-t', '1', '--to', 'x', '--mode', 'hybrid', '--encrypt', '/k'], /--mode hybrid with --encrypt/],
    [['-t', '1', '--to', 'x', '--mode', 'fast'], /Invalid values/],
    [['--to', 'x'], /-t PID is required/],
    [['-t', '1'], /--to CMD is required/],
    [['-t', '1', '--to', 'x', '--max-rounds', '0'], /--max-rounds/],
    [['-t', '1', '--to', 'x', '--compress', 'gzip'], /--compress/],
    [['-t', '1', '--to', 'x', '-W', '/ck'], /--work-dir belongs to --receive/],
    [['--receive'], /--receive needs -W DIR/],
    [['--receive', '-W', '/ck', '-t', '1'], /--receive takes -W DIR and --decrypt only, not --tree/],
  ]
  for (const [argv, msg] of bad) t.throws(() => parseOptions(argv), msg, argv.join(' '))
  t.throws(() => parseOptions(['-t', '1', '--to', 'x', '--mode', 'postcopy', '--encrypt', '/k']), UsageError)
})

t.test('the key file is read once, at the command line: every round and the hello use that key', async t => {
  const dir = t.testdir()
  chmodSync(dir, 0o700)
  const path = join(dir, 'key')
  const key = randomBytes(32)
  writeFileSync(path, key, { mode: 0o600 })
  const o = parseOptions(['-t', '1', '--to', 'x', '--mode', 'precopy', '--encrypt', path])
  t.equal(o.side, 'source')
  if (o.side !== 'source') return
  writeFileSync(path, randomBytes(32))
  t.same(o.ext.key, key, 'the hello keys the session with it')
  t.same(roundExt(o, false)?.key, key, 'round 1')
  t.same(roundExt(o, true)?.key, key, 'a later round, with references')
  rmSync(path)
  t.same(roundExt(o, true)?.key, key, 'even with the file gone')
  const plain = parseOptions(['-t', '1', '--to', 'x'])
  if (plain.side !== 'source') return
  t.equal(roundExt(plain, false), null, 'no option: round 1 is the plain stream')
  t.equal(roundExt(plain, true)?.refs, true, 'a later round carries references')
})

import t from 'tap'
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { execFileSync } from 'node:child_process'
import { readKeyFile, KeyFileError } from '../../src/index.js'
import { tmp } from './streams.js'

t.test('a key file is 32 bytes only we can read; anything another user could touch is refused', t => {
  const dir = tmp(t)
  chmodSync(dir, 0o700)
  const good = join(dir, 'good')
  const key = randomBytes(32)
  writeFileSync(good, key, { mode: 0o600 })
  t.ok(readKeyFile(good).equals(key), 'a 0600 key of 32 bytes is read')
  const cases: [string, () => string, RegExp][] = [
    ['group-readable', () => { const p = join(dir, 'g'); writeFileSync(p, key, { mode: 0o640 }); return p }, /mode 640 lets other users/],
    ['world-writable', () => { const p = join(dir, 'w'); writeFileSync(p, key); chmodSync(p, 0o602); return p }, /mode 602/],
    ['short', () => { const p = join(dir, 's'); writeFileSync(p, key.subarray(0, 16), { mode: 0o600 }); return p }, /16 bytes, a key is exactly 32/],
    ['a symlink', () => { const p = join(dir, 'l'); symlinkSync(good, p); return p }, /symlink/],
    ['a directory', () => { const p = join(dir, 'd'); mkdirSync(p, { mode: 0o700 }); return p }, /not a regular file/],
    ['a FIFO (refused, not waited on)', () => { const p = join(dir, 'f'); execFileSync('mkfifo', ['-m', '600', p]); return p }, /not a regular file/],
    ['in a world-writable directory', () => {
      const d = join(dir, 'open'); mkdirSync(d); chmodSync(d, 0o777)
      const p = join(d, 'k'); writeFileSync(p, key, { mode: 0o600 }); return p
    }, /open is writable by every user \(mode 777\): refusing to use it/],
    ['in a private directory below one others may write to', () => {
      const d = join(dir, 'shared'); mkdirSync(d); chmodSync(d, 0o775)
      const sub = join(d, 'sub'); mkdirSync(sub, { mode: 0o700 })
      const p = join(sub, 'k'); writeFileSync(p, key, { mode: 0o600 }); return p
    }, /shared above it is writable by its group, gid \d+ \(mode 775\)/],
  ]
  for (const [what, make, pattern] of cases) {
    t.throws(() => readKeyFile(make()), { name: 'KeyFileError', message: pattern }, what)
  }
  t.type(new KeyFileError('x'), Error)
  t.end()
})

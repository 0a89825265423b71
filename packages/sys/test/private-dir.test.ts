// The trust rule for directories (private-dir.ts) and work through a directory fd (at.ts).
import t from 'tap'
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, renameSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  O_CREAT, O_EXCL, O_RDONLY, O_WRONLY, RENAME_NOREPLACE, S_IFDIR, S_IFLNK, S_IFREG, SysError, UntrustedDirError,
  close, listAt, mkdirAt, openAt, openPrivateDir, renameAt, statAt, writeAll,
} from '../src/index.js'

// Any uid that is neither root nor us: the check reads the number, no account is needed here
// (test/bins/private-dirs.test.ts plays a real second user against the binaries).
const OTHER_UID = 4242

t.test('a missing directory and its missing parents are made 0700', async t => {
  const base = t.testdir()
  const old = process.umask(0o022)
  t.teardown(() => { process.umask(old) })
  const fd = openPrivateDir(join(base, 'a', 'b', 'c'), { create: true })
  close(fd)
  for (const d of ['a', 'a/b', 'a/b/c']) t.equal(statSync(join(base, d)).mode & 0o777, 0o700, `${d} 0700`)
  t.throws(() => openPrivateDir(join(base, 'missing')), { constructor: UntrustedDirError, message: /missing does not exist/ })
})

t.test('refused: owned by another user, group- or world-writable, a symlink, not a directory', async t => {
  const base = t.testdir({ file: 'x' })
  const theirs = join(base, 'theirs')
  mkdirSync(theirs, { mode: 0o700 })
  chownSync(theirs, OTHER_UID, OTHER_UID)
  t.throws(() => openPrivateDir(theirs), { constructor: UntrustedDirError, message: new RegExp(`theirs belongs to uid ${OTHER_UID}, not to root or uid 0`) })
  t.throws(() => openPrivateDir(theirs, { create: true }), /belongs to uid/, 'create does not adopt it either')
  // Nor anything below it: they could rename it away and put theirs at the path CRIU is given.
  mkdirSync(join(theirs, 'mine'), { mode: 0o700 })
  t.throws(() => openPrivateDir(join(theirs, 'mine')), { message: new RegExp(`mine: ${theirs} above it belongs to uid ${OTHER_UID}, so another user could put another directory in its place`) })
  t.throws(() => openPrivateDir(join(theirs, 'sub'), { create: true }), /above it belongs to uid/, 'nor make anything inside it')
  const shared = join(base, 'shared')
  mkdirSync(shared)
  chmodSync(shared, 0o777)
  mkdirSync(join(shared, 'mine'), { mode: 0o700 })
  t.throws(() => openPrivateDir(join(shared, 'mine')), /above it is writable by every user \(mode 777\)/)
  chmodSync(shared, 0o1777) // sticky, as /tmp: nobody else may rename our entry
  close(openPrivateDir(join(shared, 'mine')))
  close(openPrivateDir(join(shared, 'new'), { create: true }))
  // Group 0 is no exception: membership of gid 0 is not root (see OTHERS_WRITE).
  for (const [mode, who] of [[0o770, 'its group, gid 0'], [0o777, 'every user'], [0o1777, 'every user']] as const) {
    const d = join(base, `m${mode.toString(8)}`)
    mkdirSync(d)
    chmodSync(d, mode)
    chownSync(d, 0, 0)
    t.throws(() => openPrivateDir(d), { message: new RegExp(`writable by ${who} \\(mode ${mode.toString(8)}\\)`) })
  }
  const real = join(base, 'real')
  mkdirSync(real, { mode: 0o700 })
  symlinkSync(real, join(base, 'link'))
  t.throws(() => openPrivateDir(join(base, 'link')), { message: /link is a symbolic link: refusing to follow it/ })
  t.throws(() => openPrivateDir(join(base, 'link') + '/'), /symbolic link/, 'a trailing slash does not make it followed')
  t.throws(() => openPrivateDir(join(base, 'link'), { create: true }), /symbolic link/)
  t.throws(() => openPrivateDir(join(base, 'file')), /file is not a directory/)
  // A symlink above the last component is ordinary path resolution (/var/run -> /run).
  mkdirSync(join(real, 'inner'), { mode: 0o700 })
  close(openPrivateDir(join(base, 'link', 'inner')))
})

t.test('a symlink on the way is followed only if it is root\'s or ours, in a directory that passes the rule', async t => {
  const base = t.testdir()
  const target = join(base, 'target') // stands for /etc: root's, trusted
  mkdirSync(join(target, 'inner'), { recursive: true, mode: 0o700 })
  const sticky = join(base, 'tmp')
  mkdirSync(sticky)
  chmodSync(sticky, 0o1777)
  // Another user's link in /tmp: following it let them choose where root creates files.
  symlinkSync(target, join(sticky, 'evil'))
  lchownSync(join(sticky, 'evil'), OTHER_UID, OTHER_UID)
  t.throws(() => openPrivateDir(join(sticky, 'evil', 'inner')), { constructor: UntrustedDirError, message: new RegExp(`evil on its path is a symbolic link owned by uid ${OTHER_UID}`) })
  t.throws(() => openPrivateDir(join(sticky, 'evil', 'new'), { create: true }), /symbolic link owned by uid/)
  t.notOk(existsSync(join(target, 'new')), 'nothing created where it pointed')
  // Root's own link in the same sticky directory: only root may replace it there.
  symlinkSync(target, join(sticky, 'ours'))
  close(openPrivateDir(join(sticky, 'ours', 'inner')))
  // Our link, but in a directory another user owns (they could replace it): refused.
  const theirs = join(base, 'theirs')
  mkdirSync(theirs, { mode: 0o755 })
  chownSync(theirs, OTHER_UID, OTHER_UID)
  symlinkSync(target, join(theirs, 'link'))
  t.throws(() => openPrivateDir(join(theirs, 'link', 'inner')), new RegExp(`theirs above it belongs to uid ${OTHER_UID}`))
})

t.test('work through the fd stays in the checked directory when the path is swapped', async t => {
  const base = t.testdir()
  const dir = join(base, 'd')
  const fd = openPrivateDir(dir, { create: true })
  t.teardown(() => close(fd))
  renameSync(dir, join(base, 'moved'))
  mkdirSync(dir, { mode: 0o777 }) // someone else's directory now sits at the path
  const f = openAt(fd, 'x.img', O_WRONLY | O_CREAT | O_EXCL)
  writeAll(f, Buffer.from('data'))
  close(f)
  t.equal(statAt(fd, 'x.img')?.size, 4, 'written where we checked')
  t.equal(statAt(fd, 'x.img')?.type, S_IFREG)
  t.same(listAt(fd).map(e => e.name), ['x.img'])
  t.equal(statSync(join(base, 'moved', 'x.img')).size, 4)
  t.throws(() => statSync(join(dir, 'x.img')), /ENOENT/)
})

t.test('openAt never follows a symlink; RENAME_NOREPLACE never replaces', async t => {
  const base = t.testdir({ target: 'keep' })
  const fd = openPrivateDir(base)
  t.teardown(() => close(fd))
  symlinkSync(join(base, 'target'), join(base, 'link'))
  t.equal(statAt(fd, 'link')?.type, S_IFLNK)
  t.throws(() => openAt(fd, 'link', O_RDONLY), { constructor: SysError, code: 'ELOOP' })
  t.throws(() => openAt(fd, 'link', O_WRONLY | O_CREAT), { code: 'ELOOP' })
  mkdirAt(fd, 'sub')
  t.equal(statAt(fd, 'sub')?.type, S_IFDIR)
  t.throws(() => mkdirAt(fd, 'link'), { code: 'EEXIST' }, 'mkdir over a symlink fails')
  writeFileSync(join(base, 'new'), 'new')
  t.throws(() => renameAt(fd, 'new', fd, 'target', RENAME_NOREPLACE), { code: 'EEXIST' })
  t.equal(statAt(fd, 'target')?.size, 4, 'target untouched')
  t.equal(statAt(fd, 'absent'), null)
})

t.test('CRIU\'s CRTOOLS_IMAGE_DIR, /proc/PID/fd/N, is followed (the kernel made it) and what it leads to checked', async t => {
  const base = t.testdir()
  const held = openPrivateDir(join(base, 'images'), { create: true })
  t.teardown(() => close(held))
  const fd = openPrivateDir(`/proc/${process.pid}/fd/${held}`)
  t.equal(statAt(fd, '.')?.ino, statAt(held, '.')?.ino, 'the same directory')
  close(fd)
  const open = openPrivateDir(base)
  chmodSync(base, 0o777)
  t.throws(() => openPrivateDir(`/proc/self/fd/${open}`), /writable by every user/)
  chmodSync(base, 0o755)
  close(open)
})

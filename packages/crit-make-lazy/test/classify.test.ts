import { mkdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { classify } from '../src/classify.js'
import { MakeLazyError } from '../src/make-lazy-error.js'
import { leaveSocket } from './fixtures/image-dir.js'

t.test('sorts names by what happens to them', async (t) => {
  const dir = t.testdir({
    'inventory.img': '', 'pagemap-12.img': '', 'pagemap-3.img': '', 'pagemap-shmem-5.img': '', 'pages-1.img': '',
    'dump.log': '', 'restore.log': '', 'stats-dump': '', 'stats-restore': '', 'core-12.img': '',
  })
  symlinkSync('../1', join(dir, 'parent'))
  symlinkSync('/dev/null', join(dir, 'other-link'))
  // Sockets by their type, whatever their name (img-split's streamer-capture.sock too).
  leaveSocket(join(dir, 'lazy-pages.socket'))
  leaveSocket(join(dir, 'streamer-capture.sock'))
  t.same(classify(dir), {
    copy: ['core-12.img', 'inventory.img', 'pagemap-shmem-5.img', 'pages-1.img'],
    links: ['other-link'],
    parent: true,
    taskPagemaps: [{ name: 'pagemap-12.img', pid: 12 }, { name: 'pagemap-3.img', pid: 3 }],
    shmemPagemaps: ['pagemap-shmem-5.img'],
    skipped: ['dump.log', 'lazy-pages.socket', 'restore.log', 'stats-dump', 'stats-restore', 'streamer-capture.sock'],
  })
})

t.test('a subdirectory is refused', async (t) => {
  const dir = t.testdir({ 'inventory.img': '' })
  mkdirSync(join(dir, 'sub'))
  t.throws(() => classify(dir), { constructor: MakeLazyError, message: /sub is not a regular file/ })
})

t.test('a regular file is copied whatever its name: only real sockets are skipped', async (t) => {
  const dir = t.testdir({ 'inventory.img': '', 'not-a.socket': 'data' })
  t.same(classify(dir).copy, ['inventory.img', 'not-a.socket'])
})

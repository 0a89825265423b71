import t from 'tap'
import { ImageError } from '../src/errors.js'
import { IMG_COMMON_MAGIC, PSTREE_MAGIC } from '../src/magic.js'
import { decodePstree, encodePstree } from '../src/pstree.js'
import { hex, image, pb } from './fixtures/pb.js'

t.test('decodes processes with unpacked threads (tag 0x28), as protobuf-c writes them', async (t) => {
  const buf = image([IMG_COMMON_MAGIC, PSTREE_MAGIC], [hex('0801 1000 1801 2001 2801 2802'), pb([[1, 2], [2, 1], [3, 1], [4, 1], [5, 2200122336]])])
  t.same(decodePstree(buf), [
    { pid: 1, ppid: 0, pgid: 1, sid: 1, threads: [1, 2] },
    { pid: 2, ppid: 1, pgid: 1, sid: 1, threads: [2200122336] },
  ])
})

t.test('encodePstree round trips and writes what protobuf-c would', async (t) => {
  const procs = [{ pid: 1, ppid: 0, pgid: 1, sid: 1, threads: [1, 2] }]
  t.equal(encodePstree(procs).toString('hex'), '1943565430302750' + '0c000000' + '080110001801200128012802')
  t.same(decodePstree(encodePstree(procs)), procs)
  t.same(decodePstree(encodePstree([])), [])
})

t.test('refusals', async (t) => {
  t.throws(() => decodePstree(image([IMG_COMMON_MAGIC, PSTREE_MAGIC], [pb([[2, 1], [3, 1], [4, 1]])]), 'pstree.img'), {
    constructor: ImageError,
    message: 'pstree.img: entry 0 (pstree_entry): missing required field pstree_entry.pid',
  })
  t.throws(() => decodePstree(image([IMG_COMMON_MAGIC, PSTREE_MAGIC], [pb([[1, 1], [2, 0], [3, 1], [4, 1]]), hex('08')])), {
    message: /entry 1 \(pstree_entry\): malformed varint/,
  })
})

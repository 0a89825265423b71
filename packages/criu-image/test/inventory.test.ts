import t from 'tap'
import { ImageError } from '../src/errors.js'
import { decodeInventory, encodeInventory } from '../src/inventory.js'
import { IMG_COMMON_MAGIC, INVENTORY_MAGIC } from '../src/magic.js'
import { image, pb } from './fixtures/pb.js'

t.test('decodes the fields worth knowing', async (t) => {
  const buf = image([INVENTORY_MAGIC], [
    pb([
      [1, 2], [2, 1], [3, [[1, 1], [2, 1]]], [4, 1], [5, 1], [6, 2], [10, 0], [11, 1],
      [12, [[12, Buffer.from('amdgpu')], [12, Buffer.from('cuda')]]],
      [13, Buffer.from('run-7')], [14, 1],
    ]),
  ])
  t.same(decodeInventory(buf), {
    imgVersion: 2, fdinfoPerId: true, nsPerId: true, lsmtype: 2, tcpClose: false, networkLockMethod: 1,
    plugins: ['amdgpu', 'cuda'], dumpCriuRunId: 'run-7',
  })
})

t.test('encodeInventory round trips', async (t) => {
  t.same(decodeInventory(encodeInventory({ imgVersion: 2 })), { imgVersion: 2, fdinfoPerId: true })
})

t.test('refusals', async (t) => {
  t.throws(() => decodeInventory(image([IMG_COMMON_MAGIC, INVENTORY_MAGIC], [pb([[1, 2]])])), {
    constructor: ImageError,
    message: /^inventory\.img: bad magic/,
  })
  t.throws(() => decodeInventory(image([INVENTORY_MAGIC], [])), { message: 'inventory.img: missing inventory_entry: the file has no entries' })
  t.throws(() => decodeInventory(image([INVENTORY_MAGIC], [pb([[2, 1]])])), { message: /missing required field inventory_entry\.img_version/ })
  t.throws(() => decodeInventory(image([INVENTORY_MAGIC], [pb([[1, 2]]), pb([[1, 2]])])), { message: /expected one inventory_entry/ })
})

t.test('CRIU 4.3 --compress: compress and compress_block_size (fields 15, 16), img_version 3', async (t) => {
  // As crit compress (Debian's 4.3-1~exp2 python3-pycriu) writes it: per-page blocks.
  const buf = image([INVENTORY_MAGIC], [pb([[1, 3], [2, 1], [15, 1], [16, 4096]])])
  t.same(decodeInventory(buf), { imgVersion: 3, fdinfoPerId: true, compress: 1, compressBlockSize: 4096 })
  t.same(decodeInventory(encodeInventory({ imgVersion: 3, compress: 1, compressBlockSize: 262144 })), {
    imgVersion: 3, fdinfoPerId: true, compress: 1, compressBlockSize: 262144,
  })
})

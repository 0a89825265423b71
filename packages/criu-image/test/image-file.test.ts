import t from 'tap'
import { ImageError } from '../src/errors.js'
import { MAX_ENTRY_SIZE, encodeImage, parseImage } from '../src/image-file.js'
import { IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, INVENTORY_MAGIC, MM_MAGIC, PAGEMAP_MAGIC, STATS_MAGIC } from '../src/magic.js'
import { hex, image } from './fixtures/pb.js'

t.test('header then [u32 LE size][message] entries, zero-length entries included', async (t) => {
  const buf = hex('19435654 25400856  02000000 0801  00000000  03000000 100120')
  const img = parseImage(buf, 'pagemap-1.img', PAGEMAP_MAGIC)
  t.same(img.entries.map((e) => e.toString('hex')), ['0801', '', '100120'])
  t.same(encodeImage(img), buf, 'encode(parse(b)) is b')
})

t.test('inventory has its magic alone; stats files use the service magic', async (t) => {
  const inv = image([INVENTORY_MAGIC], [hex('0802')])
  t.equal(inv.subarray(0, 4).toString('hex'), '16313158')
  t.same(parseImage(inv, 'inventory.img', INVENTORY_MAGIC).entries, [hex('0802')])
  const stats = image([IMG_SERVICE_MAGIC, STATS_MAGIC], [])
  t.same(parseImage(stats, 'stats-dump', STATS_MAGIC).entries, [])
  t.same(encodeImage({ magic: STATS_MAGIC, entries: [] }), stats)
})

t.test('an image with no entries is just its header', async (t) => {
  t.same(parseImage(image([IMG_COMMON_MAGIC, MM_MAGIC], []), 'mm-1.img', MM_MAGIC).entries, [])
})

t.test('refusals name the file and the problem', async (t) => {
  const common = (entries: string): Buffer => Buffer.concat([image([IMG_COMMON_MAGIC, PAGEMAP_MAGIC], []), hex(entries)])
  t.throws(() => parseImage(image([IMG_COMMON_MAGIC, MM_MAGIC], []), 'pagemap-1.img', PAGEMAP_MAGIC), {
    constructor: ImageError,
    file: 'pagemap-1.img',
    message: 'pagemap-1.img: bad magic: expected 0x54564319 (IMG_COMMON) 0x56084025 (PAGEMAP), found 0x54564319 (IMG_COMMON) 0x57492820 (MM)',
  })
  t.throws(() => parseImage(image([INVENTORY_MAGIC], []), 'x.img', PAGEMAP_MAGIC), { message: /bad magic: 4 bytes, too short/ })
  t.throws(() => parseImage(image([IMG_COMMON_MAGIC, INVENTORY_MAGIC], []), 'inventory.img', INVENTORY_MAGIC), {
    message: 'inventory.img: bad magic: expected 0x58313116 (INVENTORY), found 0x54564319 (IMG_COMMON)',
  })
  t.throws(() => parseImage(common('020000'), 'p.img', PAGEMAP_MAGIC), {
    message: 'p.img: truncated entry: entry 0 at byte 8 has 3 of the 4 bytes of its size',
  })
  t.throws(() => parseImage(common('02000000 0801 05000000 0801'), 'p.img', PAGEMAP_MAGIC), {
    message: 'p.img: truncated entry: entry 1 at byte 14 claims 5 bytes, 2 left',
  })
  const huge = Buffer.alloc(4)
  huge.writeUInt32LE(MAX_ENTRY_SIZE + 1)
  t.throws(() => parseImage(common(huge.toString('hex')), 'p.img', PAGEMAP_MAGIC), {
    message: `p.img: entry too large: entry 0 at byte 8 claims ${MAX_ENTRY_SIZE + 1} bytes (limit ${MAX_ENTRY_SIZE})`,
  })
})

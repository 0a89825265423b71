import t from 'tap'
import { CORE_MAGIC, FILES_MAGIC, IMG_COMMON_MAGIC, describeMagic, headerMagics, INVENTORY_MAGIC } from '../src/magic.js'

t.test('the first 8 bytes seen in real images', async (t) => {
  const bytes = (magics: number[]): string =>
    Buffer.concat(magics.map((m) => { const b = Buffer.alloc(4); b.writeUInt32LE(m); return b })).toString('hex')
  t.equal(bytes(headerMagics(CORE_MAGIC)), '1943565447380555')
  t.equal(bytes(headerMagics(INVENTORY_MAGIC)), '16313158')
  t.equal(bytes(headerMagics(FILES_MAGIC)), '1943565438313056')
})

t.test('describeMagic names known magics and pads unknown ones', async (t) => {
  t.equal(describeMagic(IMG_COMMON_MAGIC), '0x54564319 (IMG_COMMON)')
  t.equal(describeMagic(0x1234), '0x00001234')
})

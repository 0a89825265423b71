// The offline model of CRIU 4.3's --compress: its storage rules on pages of known content.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { modelCriuLz4 } from '../src/lib/criu-lz4-model.js'

t.test('zero pages stored empty, incompressible pages raw, the rest as LZ4 blocks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'criu-lz4-model-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const text = Buffer.alloc(4096, 'the quick brown fox jumps over the lazy dog ')
  const pages = [Buffer.alloc(4096), randomBytes(4096), text, Buffer.alloc(4096), text]
  writeFileSync(join(dir, 'pages-1.img'), Buffer.concat(pages.slice(0, 3)))
  writeFileSync(join(dir, 'pages-2.img'), Buffer.concat(pages.slice(3)))
  const m = modelCriuLz4([join(dir, 'pages-1.img'), join(dir, 'pages-2.img')])
  t.equal(m.raw, 5 * 4096)
  t.same([m.zeroPages, m.rawPages, m.lz4Pages], [2, 1, 2])
  t.ok(m.stored > 4096 && m.stored < 4096 + 2 * 200, `one raw page plus two small blocks (${m.stored} bytes)`)
  t.ok(m.compressCpuS >= 0 && m.decompressCpuS >= 0)
})

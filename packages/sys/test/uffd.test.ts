import t from 'tap'
import { Worker } from 'node:worker_threads'
import {
  uffdOpen, uffdApi, uffdRegister, uffdCopy, decodeUffdMsg, Region, readSome, waitReadable, close, UFFD_MSG_SIZE,
  UFFD_FEATURE_EVENT_REMOVE, uffdZeropage,
} from '../src/index.js'

t.test('a real page fault is served with UFFDIO_COPY and UFFDIO_ZEROPAGE', async t => {
  const fd = uffdOpen()
  const api = uffdApi(fd, UFFD_FEATURE_EVENT_REMOVE)
  t.ok(api.ioctls > 0n)
  const area = new Region(4 * 4096)
  uffdRegister(fd, Number(area.ptr), 4 * 4096)
  const src = new Region(4096)
  src.buffer().fill(0x5a)
  // A worker touches page 2 then page 3 of the region and blocks in the kernel until we answer.
  const code = `const { workerData, parentPort } = require('node:worker_threads');
    const koffi = require(workerData.koffi);
    const b = Buffer.from(koffi.view(BigInt(workerData.ptr), 4 * 4096));
    parentPort.postMessage([b[2 * 4096 + 5], b[3 * 4096 + 7]]);`
  const koffiPath = (await import('node:module')).createRequire(import.meta.url).resolve('koffi')
  const worker = new Worker(code, { eval: true, workerData: { ptr: area.ptr.toString(), koffi: koffiPath } })
  const msg = Buffer.alloc(UFFD_MSG_SIZE)
  const seen: string[] = []
  for (let i = 0; i < 2; i++) {
    waitReadable(fd)
    t.equal(readSome(fd, msg), UFFD_MSG_SIZE)
    const m = decodeUffdMsg(msg)
    if (m.event !== 'pagefault') { t.fail(m.event); break }
    const page = (m.address - Number(area.ptr)) / 4096
    seen.push(`page ${page}`)
    const res = page === 2 ? uffdCopy(fd, m.address, src.ptr, 4096) : uffdZeropage(fd, m.address, 4096)
    t.ok(res.ok, `served page ${page}`)
    t.equal(res.bytes, 4096)
  }
  const values = await new Promise(res => worker.on('message', res))
  t.same(seen, ['page 2', 'page 3'])
  t.same(values, [0x5a, 0])
  await worker.terminate()
  close(fd); area.unmap(); src.unmap()
})

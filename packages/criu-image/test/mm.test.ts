import t from 'tap'
import { ImageError } from '../src/errors.js'
import { IMG_COMMON_MAGIC, MM_MAGIC } from '../src/magic.js'
import { decodeMm, encodeMm, type Vma } from '../src/mm.js'
import { image, pb, type PbMsg } from './fixtures/pb.js'

const VSYSCALL = 0xffffffffff600000n

const vma = (start: number | bigint, end: number | bigint, flags = 0x22, status = 0x201): PbMsg => [
  [1, start], [2, end], [3, 0], [4, 0], [5, 3], [6, flags], [7, status], [8, 1],
]
const mm = (vmas: PbMsg[], extra: PbMsg = []): Buffer =>
  image([IMG_COMMON_MAGIC, MM_MAGIC], [pb([[1, 0x400000], [13, 33], [13, 0], ...vmas.map((v): [number, PbMsg] => [14, v]), [15, 1], ...extra])])

t.test('decodes VMAs, ignoring the other mm_entry fields and unknown ones', async (t) => {
  const buf = mm([vma(0x7f0000000000, 0x7f0000100000), [...vma(0x7ffc0000, 0x7ffd0000, 0x122), [9, 0x4000], [77, 5]]], [[99, 1]])
  t.same(decodeMm(buf, 'mm-42.img').vmas, [
    { start: 0x7f0000000000, end: 0x7f0000100000, pgoff: 0, shmid: 0, prot: 3, flags: 0x22, status: 0x201 },
    { start: 0x7ffc0000, end: 0x7ffd0000, pgoff: 0, shmid: 0, prot: 3, flags: 0x122, status: 0x201 },
  ])
  t.same(decodeMm(mm([])).vmas, [])
})

t.test('the vsyscall VMA above 2^53 is kept, exactly', async (t) => {
  const [v] = decodeMm(mm([vma(VSYSCALL, VSYSCALL + 0x1000n, 0x22, 0x204)])).vmas
  t.equal(BigInt(v?.start ?? 0), VSYSCALL)
  t.equal(BigInt(v?.end ?? 0), VSYSCALL + 0x1000n)
})

t.test('encodeMm round trips, the vsyscall VMA included', async (t) => {
  const vmas: Vma[] = [
    { start: 0x400000, end: 0x401000, pgoff: 0x2000, shmid: 5, prot: 5, flags: 0x2, status: 0x41 },
    { start: Number(VSYSCALL), end: Number(VSYSCALL + 0x1000n), pgoff: 0, shmid: 0, prot: 4, flags: 0x22, status: 0x204 },
  ]
  t.same(decodeMm(encodeMm({ vmas })).vmas, vmas)
})

t.test('refusals', async (t) => {
  const err = (buf: Buffer, message: RegExp | string): void => {
    t.throws(() => decodeMm(buf, 'mm-7.img'), { constructor: ImageError, file: 'mm-7.img', message })
  }
  err(mm([vma(2n ** 53n, 2n ** 53n + 4096n)]), /entry 0 \(mm_entry\): mm_entry\.vmas\[0\]\.start = 0x20000000000000 is above Number\.MAX_SAFE_INTEGER/)
  err(mm([vma(VSYSCALL + 1n, VSYSCALL + 0x1000n, 0x22, 0x204)]), /vsyscall VMA is not page-aligned/)
  err(mm([vma(0x2000, 0x1000)]), /mm_entry\.vmas\[0\]: end 0x1000 is not above start 0x2000/)
  err(mm([[[1, 0x1000], [2, 0x2000]]]), /missing required field mm_entry\.vmas\[0\]\.status/)
  err(image([IMG_COMMON_MAGIC, MM_MAGIC], []), 'mm-7.img: missing mm_entry: the file has no entries')
  err(image([IMG_COMMON_MAGIC, MM_MAGIC], [pb([]), pb([])]), 'mm-7.img: expected one mm_entry, found 2 entries')
  err(image([IMG_COMMON_MAGIC, MM_MAGIC], [Buffer.from([0x72, 0x05, 0x08])]), /entry 0 \(mm_entry\): field 14 at byte 0 is truncated/)
})

import t from 'tap'
import { ImageError } from '../src/errors.js'
import { FILES_MAGIC, IMG_COMMON_MAGIC, PAGEMAP_MAGIC } from '../src/magic.js'
import { remapTcpListenPorts } from '../src/tcp-listen-remap.js'
import { image, pb, type PbMsg } from './fixtures/pb.js'

const AF_INET = 2
const AF_INET6 = 10
const TCP = 6
const UDP = 17
const LISTEN = 10
const ESTABLISHED = 1

interface Sock { family?: number; proto?: number; state?: number; port: number }

/** A file_entry holding an inet_sk_entry shaped like CRIU's, with unknown fields at both levels. */
function inetFile(id: number, s: Sock): PbMsg {
  const isk: PbMsg = [
    [1, id], [2, 1000 + id], [3, s.family ?? AF_INET], [4, 1], [5, s.proto ?? TCP], [6, s.state ?? LISTEN],
    [7, s.port], [8, 0], [9, 2], [10, 128], [11, 0x0100007f],
    [13, [[1, 0], [2, 0], [3, 0], [4, 0]]], [14, [[1, 212992], [2, 131072], [12, 1]]],
    [15, 1], [99, Buffer.from('future isk field')],
  ]
  return [[1, 4], [2, id], [4, isk], [60, 7]]
}
const regFile: PbMsg = [[1, 1], [2, 1], [3, [[1, 1], [2, 0x8002], [3, 0], [5, Buffer.from('/dev/null')]]]]

function files(socks: Sock[]): Buffer {
  return image([IMG_COMMON_MAGIC, FILES_MAGIC], [pb(regFile), ...socks.map((s, i) => pb(inetFile(i + 2, s)))])
}

const SOCKS: Sock[] = [
  { port: 80 },
  { port: 80, family: AF_INET6 },
  { port: 80, state: ESTABLISHED },
  { port: 80, proto: UDP, state: 7 },
  { port: 443 },
]
const withPorts = (ports: number[]): Sock[] => SOCKS.map((s, i) => ({ ...s, port: ports[i] ?? s.port }))

t.test('a port change that lengthens the varint: only the first listener on the port moves', async (t) => {
  const out = remapTcpListenPorts(files(SOCKS), new Map([[80, 8080]]))
  t.same(out, files(withPorts([8080])), 'every other byte, unknown fields included, is kept')
  t.equal(out.length, files(SOCKS).length + 1, 'one more varint byte; entry and isk lengths recomputed')
})

t.test('a change that shortens the varint', async (t) => {
  const socks = withPorts([65535])
  t.same(remapTcpListenPorts(files(socks), new Map([[65535, 1]])), files(withPorts([1])))
})

t.test('v4 and v6 listeners on one port: two old ports, each consumed by its first match', async (t) => {
  const socks: Sock[] = [{ port: 80 }, { port: 80, family: AF_INET6 }, { port: 443, family: AF_INET6 }, { port: 443 }]
  const out = remapTcpListenPorts(files(socks), new Map([[80, 8080], [443, 8443]]))
  t.same(out, files([{ port: 8080 }, { port: 80, family: AF_INET6 }, { port: 8443, family: AF_INET6 }, { port: 443 }]))
})

t.test('swapping two ports matches on the ports as dumped', async (t) => {
  t.same(remapTcpListenPorts(files(SOCKS), new Map([[80, 443], [443, 80]])), files(withPorts([443, 80, 80, 80, 80])))
})

t.test('an empty remap returns the same bytes', async (t) => {
  t.same(remapTcpListenPorts(files(SOCKS), new Map()), files(SOCKS))
})

t.test('an old port with no listener is an error listing the listening ports', async (t) => {
  t.throws(() => remapTcpListenPorts(files(SOCKS), new Map([[80, 81], [9999, 1], [53, 2]])), {
    constructor: ImageError,
    file: 'files.img',
    message: 'files.img: no TCP listening socket on port 9999, 53 (listening ports found: 80, 443)',
  })
  t.throws(() => remapTcpListenPorts(files([{ port: 80, state: ESTABLISHED }]), new Map([[80, 81]])), {
    message: /\(listening ports found: none\)/,
  })
})

t.test('refusals', async (t) => {
  t.throws(() => remapTcpListenPorts(files(SOCKS), new Map([[80, 65536]])), RangeError)
  t.throws(() => remapTcpListenPorts(files(SOCKS), new Map([[-1, 80]])), RangeError)
  t.throws(() => remapTcpListenPorts(image([IMG_COMMON_MAGIC, PAGEMAP_MAGIC], []), new Map()), { constructor: ImageError, message: /bad magic/ })
  const noState = image([IMG_COMMON_MAGIC, FILES_MAGIC], [pb(regFile), pb([[1, 4], [2, 2], [4, [[5, TCP], [7, 80]]]])])
  t.throws(() => remapTcpListenPorts(noState, new Map([[80, 81]]), 'files.img'), {
    message: 'files.img: entry 1 (file_entry): missing required field file_entry.isk.state',
  })
  const notMsg = image([IMG_COMMON_MAGIC, FILES_MAGIC], [pb([[1, 4], [2, 2], [4, 3]])])
  t.throws(() => remapTcpListenPorts(notMsg, new Map()), { message: /entry 0 \(file_entry\): file_entry\.isk has wire type 0/ })
})

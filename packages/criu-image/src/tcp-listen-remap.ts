import { ImageError } from './errors.js'
import { encodeImage, parseImage } from './image-file.js'
import { inEntry } from './in-entry.js'
import { FILES_MAGIC } from './magic.js'
import { decodeMessage } from './wire/decode.js'
import { encodeMessage, lenField, setField, varintField } from './wire/encode.js'
import { WireType, type Field } from './wire/field.js'
import { requiredU32 } from './wire/read.js'
import { WireError } from './wire/wire-error.js'

/* images/fdinfo.proto file_entry.isk and images/sk-inet.proto inet_sk_entry (unchanged 3.17-4.2). */
const FILE_ISK = 4
const ISK_PROTO = 5
const ISK_STATE = 6
const ISK_SRC_PORT = 7
const IPPROTO_TCP = 6
/** include/net/tcp_states.h */
const TCP_LISTEN = 10
const PORT_MAX = 0xffff

function checkPorts(remap: ReadonlyMap<number, number>): void {
  for (const [from, to] of remap) {
    for (const p of [from, to]) {
      if (!Number.isInteger(p) || p < 0 || p > PORT_MAX) throw new RangeError(`port ${p} in the TCP remap is not a u16`)
    }
  }
}

/**
 * Rewrites the port of TCP listening sockets (inet_sk_entry proto 6, state 10) in files.img, in
 * place: every other byte and unknown field kept. Each old port is consumed by its first match
 * (so of a v4 and a v6 socket on one port, only the first moves, as criu-image-streamer does); an
 * old port with no match is an ImageError listing the listening ports found. Returns the new
 * image: a port's varint can change length, so the isk, entry and framing lengths are recomputed.
 * Matching uses the ports as dumped, so swapping two ports works.
 */
export function remapTcpListenPorts(
  filesImg: Buffer,
  remap: ReadonlyMap<number, number>,
  name = 'files.img',
): Buffer {
  checkPorts(remap)
  const image = parseImage(filesImg, name, FILES_MAGIC)
  const consumed = new Set<number>()
  const listening: number[] = []

  const remapIsk = (f: Field): Field => {
    if (f.num !== FILE_ISK) return f
    if (f.type !== WireType.Len) throw new WireError(`file_entry.isk has wire type ${f.type}, expected a message`)
    const isk = decodeMessage(f.value)
    const proto = requiredU32(isk, ISK_PROTO, 'file_entry.isk.proto')
    const state = requiredU32(isk, ISK_STATE, 'file_entry.isk.state')
    if (proto !== IPPROTO_TCP || state !== TCP_LISTEN) return f
    const port = requiredU32(isk, ISK_SRC_PORT, 'file_entry.isk.src_port')
    listening.push(port)
    const to = remap.get(port)
    if (to === undefined || consumed.has(port)) return f
    consumed.add(port)
    return lenField(FILE_ISK, encodeMessage(setField(isk, varintField(ISK_SRC_PORT, to))))
  }

  const entries = image.entries.map((entry, i) =>
    inEntry(name, i, 'file_entry', () => {
      const fields = decodeMessage(entry)
      const out = fields.map(remapIsk)
      // Untouched entries keep their exact bytes, not a re-encoding.
      return out.every((f, j) => f === fields[j]) ? entry : encodeMessage(out)
    }),
  )

  const unmatched = [...remap.keys()].filter((p) => !consumed.has(p))
  if (unmatched.length > 0) {
    const found = [...new Set(listening)]
    throw new ImageError(
      name,
      `no TCP listening socket on port ${unmatched.join(', ')} (listening ports found: ${found.length > 0 ? found.join(', ') : 'none'})`,
    )
  }
  return encodeImage({ magic: FILES_MAGIC, entries })
}

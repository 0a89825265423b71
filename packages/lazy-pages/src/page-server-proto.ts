// struct page_server_iov on the wire (criu/page-xfer.c), native little-endian, no packing.
//   4.1.x (24 bytes): u32 cmd, u32 nr_pages, u64 vaddr, u64 dst_id
//   4.2+  (32 bytes): u32 cmd, 4 bytes padding, u64 nr_pages, u64 vaddr, u64 dst_id
// 4.2 widened nr_pages ("use unsigned long for page counts"); the two cannot talk to each other,
// and nothing on the wire tells them apart: the CRIU binary does (`criu --version`), or the option.
import { execFileSync } from 'node:child_process'
import { PE_PRESENT } from '@criu-pipes/criu-image'

export type PageServerProto = '4.1' | '4.2'
export const PAGE_SERVER_PROTOS: readonly PageServerProto[] = ['4.1', '4.2']
/** --page-server-proto: a format, or `auto`, that of the CRIU which runs the page server. */
export type PageServerProtoChoice = PageServerProto | 'auto'
export const PAGE_SERVER_PROTO_CHOICES: readonly PageServerProtoChoice[] = [...PAGE_SERVER_PROTOS, 'auto']
/** The option, as uffd-serve and page-feed both take it. */
export const PAGE_SERVER_PROTO_OPTION = {
  'page-server-proto': {
    type: 'string', choices: PAGE_SERVER_PROTO_CHOICES, default: 'auto',
    describe: 'page-server wire format: 4.1 (24-byte header), 4.2 (32-byte, CRIU 4.2 on), or auto: that of the CRIU that runs the page server (the command after --; else criu on PATH)',
  },
} as const
/** How long `criu --version` may take: it prints and exits at once. */
const VERSION_TIMEOUT_MS = 10_000

/**
 * The format `criu` (a path, or a name found on PATH) speaks, from its `--version` (`Version:
 * 4.3`): 4.2 from CRIU 4.2 on, 4.1 before. Throws, naming the option, when it cannot tell.
 */
export function protoOfCriu(criu: string): PageServerProto {
  let out: string
  try {
    out = execFileSync(criu, ['--version'], { encoding: 'utf8', timeout: VERSION_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'ignore'] })
  } catch (e) {
    throw new Error(`cannot tell which page-server protocol ${criu} speaks (${criu} --version: ${(e as Error).message.split('\n')[0]}): give --page-server-proto 4.1 or 4.2`)
  }
  const m = /^Version:\s*(\d+)\.(\d+)/m.exec(out)
  if (m === null) throw new Error(`cannot tell which page-server protocol ${criu} speaks (its --version says no "Version: X.Y"): give --page-server-proto 4.1 or 4.2`)
  const [major, minor] = [Number(m[1]), Number(m[2])]
  return major > 4 || (major === 4 && minor >= 2) ? '4.2' : '4.1'
}

/** `choice`, with `auto` made the format of `criu`. */
export function resolveProto(choice: PageServerProtoChoice, criu: string): PageServerProto {
  return choice === 'auto' ? protoOfCriu(criu) : choice
}

/** Asks whether the parent images hold a pagemap; answered by an int32 (0 or 1). */
export const PS_IOV_PARENT = 5
export const PS_IOV_ADD_F = 6
export const PS_IOV_GET = 7
export const PS_IOV_CLOSE = 0x1023
/** pagemap ids on the wire: (id << PS_TYPE_BITS) | type (encode_pm), PS_TYPE_PID = 1. */
const PS_TYPE_BITS = 8
const PS_TYPE_PID = 1
/**
 * The session's first message: PS_IOV_PARENT for pid 1's pagemap. Every CRIU page server answers
 * it with 4 bytes (does a parent image exist: an fstatat in the images dir, nothing else), so the
 * client has something of the server's to leave unread from the very start (see
 * PageServerSource). A server of the other wire version cannot parse it: a 4.1 server reads our
 * 4.2 ping as pagemap type 0 and drops the session; a 4.2 server waits for 8 more bytes of our
 * 4.1 ping, and we time out.
 */
export const PS_PING = { cmd: PS_IOV_PARENT, nrPages: 0, vaddr: 0, dstId: (1 << PS_TYPE_BITS) | PS_TYPE_PID }
/** The size of the answer to PS_IOV_PARENT and to PS_IOV_CLOSE: an int32. */
export const PS_STATUS_SIZE = 4
/** cmd packs PE_* flags in its high 16 bits (encode_ps_cmd). */
const PS_CMD_FLAGS_SHIFT = 16
/** The answer to a GET: "here are present pages" (0x00040006). */
export const PS_GET_REPLY = (PE_PRESENT << PS_CMD_FLAGS_SHIFT) | PS_IOV_ADD_F

export interface PageServerIov {
  cmd: number
  nrPages: number
  vaddr: number
  dstId: number
}

const IOV_SIZE_41 = 24
const IOV_SIZE_42 = 32

export function iovSize(proto: PageServerProto): number {
  return proto === '4.1' ? IOV_SIZE_41 : IOV_SIZE_42
}

export function encodeIov(proto: PageServerProto, iov: PageServerIov): Buffer {
  const b = Buffer.alloc(iovSize(proto))
  b.writeUInt32LE(iov.cmd, 0)
  if (proto === '4.1') {
    b.writeUInt32LE(iov.nrPages, 4)
    b.writeBigUInt64LE(BigInt(iov.vaddr), 8)
    b.writeBigUInt64LE(BigInt(iov.dstId), 16)
  } else {
    b.writeBigUInt64LE(BigInt(iov.nrPages), 8)
    b.writeBigUInt64LE(BigInt(iov.vaddr), 16)
    b.writeBigUInt64LE(BigInt(iov.dstId), 24)
  }
  return b
}

function safe(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`page server sent ${what} 0x${v.toString(16)}, out of range`)
  return Number(v)
}

export function decodeIov(proto: PageServerProto, b: Buffer): PageServerIov {
  if (proto === '4.1') {
    return {
      cmd: b.readUInt32LE(0),
      nrPages: b.readUInt32LE(4),
      vaddr: safe(b.readBigUInt64LE(8), 'vaddr'),
      dstId: safe(b.readBigUInt64LE(16), 'dst_id'),
    }
  }
  return {
    cmd: b.readUInt32LE(0),
    nrPages: safe(b.readBigUInt64LE(8), 'nr_pages'),
    vaddr: safe(b.readBigUInt64LE(16), 'vaddr'),
    dstId: safe(b.readBigUInt64LE(24), 'dst_id'),
  }
}

import { encodeImage, parseImage } from './image-file.js'
import { inEntry } from './in-entry.js'
import { PSTREE_MAGIC } from './magic.js'
import { decodeMessage } from './wire/decode.js'
import { encodeMessage, varintField } from './wire/encode.js'
import { repeatedU32, requiredU32 } from './wire/read.js'

/* images/pstree.proto field numbers. */
const PID = 1
const PPID = 2
const PGID = 3
const SID = 4
const THREADS = 5

/** One process. Pids are virtual (as seen inside the dumped pid namespace). */
export interface PstreeEntry {
  pid: number
  ppid: number
  pgid: number
  sid: number
  /** Thread ids. A zombie's list can hold garbage (seen with CRIU 4.1.1): don't trust it. */
  threads: number[]
}

/** Decodes pstree.img: one entry per process, zombies included. */
export function decodePstree(buf: Buffer, name = 'pstree.img'): PstreeEntry[] {
  return parseImage(buf, name, PSTREE_MAGIC).entries.map((e, i) =>
    inEntry(name, i, 'pstree_entry', () => {
      const msg = decodeMessage(e)
      return {
        pid: requiredU32(msg, PID, 'pstree_entry.pid'),
        ppid: requiredU32(msg, PPID, 'pstree_entry.ppid'),
        pgid: requiredU32(msg, PGID, 'pstree_entry.pgid'),
        sid: requiredU32(msg, SID, 'pstree_entry.sid'),
        threads: repeatedU32(msg, THREADS, 'pstree_entry.threads'),
      }
    }),
  )
}

/** Writes pstree.img as protobuf-c does (threads unpacked). For test fixtures. */
export function encodePstree(entries: readonly PstreeEntry[]): Buffer {
  return encodeImage({
    magic: PSTREE_MAGIC,
    entries: entries.map((p) =>
      encodeMessage([
        varintField(PID, p.pid),
        varintField(PPID, p.ppid),
        varintField(PGID, p.pgid),
        varintField(SID, p.sid),
        ...p.threads.map((t) => varintField(THREADS, t)),
      ]),
    ),
  })
}

import { ImageError } from './errors.js'
import { encodeImage, parseImage } from './image-file.js'
import { inEntry } from './in-entry.js'
import { INVENTORY_MAGIC } from './magic.js'
import { decodeMessage } from './wire/decode.js'
import { encodeMessage, varintField } from './wire/encode.js'
import { WireType, type Message } from './wire/field.js'
import { optionalBool, optionalMessage, optionalU32, requiredU32 } from './wire/read.js'

/* images/inventory.proto field numbers (v4.1.1). */
const IMG_VERSION = 1
const FDINFO_PER_ID = 2
const NS_PER_ID = 4
const LSMTYPE = 6
const PRE_DUMP_MODE = 9
const TCP_CLOSE = 10
const NETWORK_LOCK_METHOD = 11
const PLUGINS_ENTRY = 12
/** plugins_entry's own repeated string field reuses the number 12. */
const PLUGINS = 12
const DUMP_CRIU_RUN_ID = 13
/** CRIU 4.3 --compress: the mode (COMPRESS_BLOCK 1 = LZ4 blocks) and the block size in bytes. */
const COMPRESS = 15
const COMPRESS_BLOCK_SIZE = 16

/** img_version of every image set CRIU writes since v1.1: all images but inventory carry IMG_COMMON_MAGIC. */
export const CRTOOLS_IMAGES_V1_1 = 2
/** img_version CRIU 4.3 writes when memory pages are compressed (and the only one that may hold them). */
export const CRTOOLS_IMAGES_V1_2 = 3
/** inventory_entry.compress: pages stored as LZ4 blocks, sized in the pagemap entries. */
export const COMPRESS_BLOCK = 1

export interface Inventory {
  imgVersion: number
  fdinfoPerId?: boolean
  nsPerId?: boolean
  /** NO_LSM 0, SELINUX 1, APPARMOR 2. */
  lsmtype?: number
  /** Written only by pre-dump: SPLICE 1, READ 2. */
  preDumpMode?: number
  tcpClose?: boolean
  networkLockMethod?: number
  plugins?: string[]
  dumpCriuRunId?: string
  /** CRIU 4.3: 0 or absent, pages raw; COMPRESS_BLOCK, LZ4 blocks. */
  compress?: number
  /** CRIU 4.3: the block size --compress used (4096 with --stream/--page-server, 256 KiB by default). */
  compressBlockSize?: number
}

function strings(msg: Message, num: number): string[] {
  return msg.flatMap((f) => (f.num === num && f.type === WireType.Len ? [f.value.toString('utf8')] : []))
}

/** Decodes inventory.img. There is no lazy-pages marker in it: a lazy dump's inventory is the same. */
export function decodeInventory(buf: Buffer, name = 'inventory.img'): Inventory {
  const entries = parseImage(buf, name, INVENTORY_MAGIC).entries
  const [first] = entries
  if (first === undefined) throw new ImageError(name, 'missing inventory_entry: the file has no entries')
  if (entries.length > 1) throw new ImageError(name, `expected one inventory_entry, found ${entries.length} entries`)
  return inEntry(name, 0, 'inventory_entry', () => {
    const msg = decodeMessage(first)
    const inv: Inventory = { imgVersion: requiredU32(msg, IMG_VERSION, 'inventory_entry.img_version') }
    const set = <K extends keyof Inventory>(key: K, value: Inventory[K] | undefined): void => {
      if (value !== undefined) inv[key] = value
    }
    set('fdinfoPerId', optionalBool(msg, FDINFO_PER_ID, 'inventory_entry.fdinfo_per_id'))
    set('nsPerId', optionalBool(msg, NS_PER_ID, 'inventory_entry.ns_per_id'))
    set('lsmtype', optionalU32(msg, LSMTYPE, 'inventory_entry.lsmtype'))
    set('preDumpMode', optionalU32(msg, PRE_DUMP_MODE, 'inventory_entry.pre_dump_mode'))
    set('tcpClose', optionalBool(msg, TCP_CLOSE, 'inventory_entry.tcp_close'))
    set('networkLockMethod', optionalU32(msg, NETWORK_LOCK_METHOD, 'inventory_entry.network_lock_method'))
    const plugins = optionalMessage(msg, PLUGINS_ENTRY, 'inventory_entry.plugins_entry')
    set('plugins', plugins === undefined ? undefined : strings(plugins, PLUGINS))
    set('dumpCriuRunId', strings(msg, DUMP_CRIU_RUN_ID).at(-1))
    set('compress', optionalU32(msg, COMPRESS, 'inventory_entry.compress'))
    set('compressBlockSize', optionalU32(msg, COMPRESS_BLOCK_SIZE, 'inventory_entry.compress_block_size'))
    return inv
  })
}

/**
 * Writes an inventory with img_version only (plus fdinfo_per_id, as CRIU always sets it, and
 * CRIU 4.3's compression fields when given). For test fixtures.
 */
export function encodeInventory(inv: { imgVersion: number; compress?: number; compressBlockSize?: number }): Buffer {
  const msg = encodeMessage([
    varintField(IMG_VERSION, inv.imgVersion), varintField(FDINFO_PER_ID, 1),
    ...(inv.compress === undefined ? [] : [varintField(COMPRESS, inv.compress)]),
    ...(inv.compressBlockSize === undefined ? [] : [varintField(COMPRESS_BLOCK_SIZE, inv.compressBlockSize)]),
  ])
  return encodeImage({ magic: INVENTORY_MAGIC, entries: [msg] })
}

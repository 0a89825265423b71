export { ImageError } from './errors.js'
export * from './magic.js'
export { MAX_ENTRY_SIZE, encodeImage, parseImage, type ImageFile } from './image-file.js'
export { MAX_COMPRESS_BLOCK, PAGE_SIZE, PE_LAZY, PE_PARENT, PE_PAYLOAD_ALIGNED, PE_PRESENT } from './pagemap-flags.js'
export {
  decodePagemap,
  decodePagemapRaw,
  encodePagemap,
  encodePagemapRaw,
  setPagemapEntryFlags,
  type Pagemap,
  type PagemapBlocks,
  type PagemapEntry,
  type RawPagemap,
} from './pagemap.js'
export {
  entryBytes, findEntryIndex, isCompressed, isPresent, pagesFileName, pagesOffsets, presentBytes, refuseCompressed, storedBytes,
} from './pages.js'
export { decodeMm, encodeMm, type Mm, type Vma } from './mm.js'
export { isLazyVma } from './lazy-vma.js'
export { isPrivateHugetlb, privateHugetlbWithPages } from './hugetlb.js'
export * from './vma-bits.js'
export { decodePstree, encodePstree, type PstreeEntry } from './pstree.js'
export { COMPRESS_BLOCK, CRTOOLS_IMAGES_V1_1, CRTOOLS_IMAGES_V1_2, decodeInventory, encodeInventory, type Inventory } from './inventory.js'
export { remapTcpListenPorts } from './tcp-listen-remap.js'
export { WireError } from './wire/wire-error.js'
export { WireType, type Field, type FixedField, type LenField, type Message, type VarintField } from './wire/field.js'
export { encodeVarint, readVarint, type VarintRead } from './wire/varint.js'
export { zigzagDecode, zigzagEncode } from './wire/zigzag.js'
export { decodeMessage } from './wire/decode.js'
export { encodeMessage, lenField, setField, varintField } from './wire/encode.js'

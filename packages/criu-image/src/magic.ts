/*
 * Image magics from criu/include/magic.h (v4.1.1). Every protobuf image starts with
 * IMG_COMMON_MAGIC and then its type magic; inventory.img carries INVENTORY_MAGIC alone, because
 * it is what tells CRIU whether the common magic is there (img_version 2); stats files use
 * IMG_SERVICE_MAGIC instead of the common one; raw images (pages-N.img) have no header.
 */
export const IMG_COMMON_MAGIC = 0x54564319
export const IMG_SERVICE_MAGIC = 0x55105940

export const INVENTORY_MAGIC = 0x58313116
export const PSTREE_MAGIC = 0x50273030
export const FDINFO_MAGIC = 0x56213732
/** Also the magic of pagemap-shmem-<shmid>.img (SHMEM_PAGEMAP_MAGIC). */
export const PAGEMAP_MAGIC = 0x56084025
export const CORE_MAGIC = 0x55053847
export const IDS_MAGIC = 0x54432030
/** Old images only: CRIU 4.x keeps the VMAs inside mm-<pid>.img. */
export const VMAS_MAGIC = 0x54123737
export const MM_MAGIC = 0x57492820
export const FS_MAGIC = 0x51403912
export const FILES_MAGIC = 0x56303138
export const INETSK_MAGIC = 0x56443851
export const TCP_STREAM_MAGIC = 0x51465506
export const MEMFD_INODE_MAGIC = 0x48453499
export const CREDS_MAGIC = 0x54023547
export const UTSNS_MAGIC = 0x54473203
export const MNTS_MAGIC = 0x55563928
export const SIGACT_MAGIC = 0x55344201
export const TTY_INFO_MAGIC = 0x59453036
/** Lives under IMG_SERVICE_MAGIC, not IMG_COMMON_MAGIC. */
export const STATS_MAGIC = 0x57093306
/** Lives under IMG_SERVICE_MAGIC, not IMG_COMMON_MAGIC. */
export const IRMAP_CACHE_MAGIC = 0x57004059

const NAMES: ReadonlyMap<number, string> = new Map([
  [IMG_COMMON_MAGIC, 'IMG_COMMON'],
  [IMG_SERVICE_MAGIC, 'IMG_SERVICE'],
  [INVENTORY_MAGIC, 'INVENTORY'],
  [PSTREE_MAGIC, 'PSTREE'],
  [FDINFO_MAGIC, 'FDINFO'],
  [PAGEMAP_MAGIC, 'PAGEMAP'],
  [CORE_MAGIC, 'CORE'],
  [IDS_MAGIC, 'IDS'],
  [VMAS_MAGIC, 'VMAS'],
  [MM_MAGIC, 'MM'],
  [FS_MAGIC, 'FS'],
  [FILES_MAGIC, 'FILES'],
  [INETSK_MAGIC, 'INETSK'],
  [TCP_STREAM_MAGIC, 'TCP_STREAM'],
  [MEMFD_INODE_MAGIC, 'MEMFD_INODE'],
  [CREDS_MAGIC, 'CREDS'],
  [UTSNS_MAGIC, 'UTSNS'],
  [MNTS_MAGIC, 'MNTS'],
  [SIGACT_MAGIC, 'SIGACT'],
  [TTY_INFO_MAGIC, 'TTY_INFO'],
  [STATS_MAGIC, 'STATS'],
  [IRMAP_CACHE_MAGIC, 'IRMAP_CACHE'],
])

/** "0x56084025 (PAGEMAP)", for error messages. */
export function describeMagic(magic: number): string {
  const hex = `0x${magic.toString(16).padStart(8, '0')}`
  const name = NAMES.get(magic)
  return name === undefined ? hex : `${hex} (${name})`
}

/** The u32 magics an image of type `magic` starts with. */
export function headerMagics(magic: number): number[] {
  if (magic === INVENTORY_MAGIC) return [INVENTORY_MAGIC]
  if (magic === STATS_MAGIC || magic === IRMAP_CACHE_MAGIC) return [IMG_SERVICE_MAGIC, magic]
  return [IMG_COMMON_MAGIC, magic]
}

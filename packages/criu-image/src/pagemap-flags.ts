/** pagemap_entry.flags bits (criu/include/pagemap.h). */
/** The pages live in the parent image set (incremental dump): no data in this one. */
export const PE_PARENT = 1
/** The pages may be restored lazily through userfaultfd. */
export const PE_LAZY = 2
/** The data is in pages-<pages_id>.img, at the running offset of present entries. */
export const PE_PRESENT = 4
/**
 * CRIU 4.3 --compress: the entry's data starts at the next PAGE_SIZE-aligned offset of the pages
 * file (zero padding before it), so that raw pages after compressed ones stay page-aligned.
 */
export const PE_PAYLOAD_ALIGNED = 8
/** CRIU 4.3's largest compression block (crit's MAX_BLOCK_SIZE; local images use 256 KiB). */
export const MAX_COMPRESS_BLOCK = 4 * 1024 * 1024

/** CRIU images are made of 4 KiB pages on x86_64, whatever the process used (THP included). */
export const PAGE_SIZE = 4096

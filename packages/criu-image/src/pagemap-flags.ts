/** pagemap_entry.flags bits (criu/include/pagemap.h). */
/** The pages live in the parent image set (incremental dump): no data in this one. */
export const PE_PARENT = 1
/** The pages may be restored lazily through userfaultfd. */
export const PE_LAZY = 2
/** The data is in pages-<pages_id>.img, at the running offset of present entries. */
export const PE_PRESENT = 4

/** CRIU images are made of 4 KiB pages on x86_64, whatever the process used (THP included). */
export const PAGE_SIZE = 4096

/* vma_entry.flags: mmap(2) MAP_* values on x86_64 (asm-generic/mman*.h). */
export const MAP_SHARED = 0x1
export const MAP_PRIVATE = 0x2
export const MAP_FIXED = 0x10
export const MAP_ANONYMOUS = 0x20
export const MAP_GROWSDOWN = 0x100
export const MAP_LOCKED = 0x2000
export const MAP_NORESERVE = 0x4000
export const MAP_HUGETLB = 0x40000

/* vma_entry.status: VMA_* bits from criu/include/image.h (v4.1.1). */
export const VMA_AREA_REGULAR = 1 << 0
export const VMA_AREA_STACK = 1 << 1
export const VMA_AREA_VSYSCALL = 1 << 2
export const VMA_AREA_VDSO = 1 << 3
export const VMA_AREA_HEAP = 1 << 5
export const VMA_FILE_PRIVATE = 1 << 6
export const VMA_FILE_SHARED = 1 << 7
export const VMA_ANON_SHARED = 1 << 8
export const VMA_ANON_PRIVATE = 1 << 9
export const VMA_AREA_SYSVIPC = 1 << 10
export const VMA_AREA_SOCKET = 1 << 11
export const VMA_AREA_VVAR = 1 << 12
export const VMA_AREA_AIORING = 1 << 13
export const VMA_AREA_MEMFD = 1 << 14
export const VMA_AREA_SHSTK = 1 << 15

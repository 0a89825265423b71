// Linux x86_64/arm64 values, checked against the kernel headers. Named once, here.
export const O_NONBLOCK = 0o4000
export const O_CLOEXEC = 0o2000000

export const F_GETFL = 3
export const F_SETFL = 4
export const F_SETFD = 2
export const FD_CLOEXEC = 1
export const F_SETPIPE_SZ = 1031
export const F_GETPIPE_SZ = 1032

export const FIONREAD = 0x541b
// SIOCOUTQ (= TIOCOUTQ): bytes a socket has sent that its peer has not consumed yet (TCP: not acked).
export const SIOCOUTQ = 0x5411

export const SPLICE_F_MOVE = 1
export const SPLICE_F_NONBLOCK = 2
export const SPLICE_F_MORE = 4
export const SPLICE_F_GIFT = 8

export const SEEK_SET = 0
export const SEEK_CUR = 1
export const SEEK_END = 2

export const POSIX_FADV_SEQUENTIAL = 2
export const POSIX_FADV_WILLNEED = 3

// sync_file_range(2) flags: wait for writeback already under way; start writeback of dirty pages.
export const SYNC_FILE_RANGE_WAIT_BEFORE = 1
export const SYNC_FILE_RANGE_WRITE = 2

export const POLLIN = 0x001
export const POLLOUT = 0x004
export const POLLERR = 0x008
export const POLLHUP = 0x010
export const POLLNVAL = 0x020

export const PAGE_SIZE = 4096

export const EINTR = 4
export const EBADF = 9
export const EAGAIN = 11
export const ENOMEM = 12
export const EEXIST = 17
export const EINVAL = 22
export const ENOSPC = 28
export const EPIPE = 32
export const ENOENT = 2
export const ESRCH = 3
export const EPERM = 1
export const EBUSY = 16
export const ENOTTY = 25
export const ENOPROTOOPT = 92

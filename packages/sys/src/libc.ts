// The one place where libc functions are declared. Everything else in the code base goes through
// the typed wrappers of this package. Pointer arguments are declared `void *` so that callers can
// pass a Buffer/TypedArray (zero copy, the kernel's writes are visible) or a BigInt address.
// ioctl and fcntl are variadic in C; one non-variadic declaration per argument shape is correct on
// the x86_64/arm64 SysV ABIs and is what koffi needs.
import koffi from 'koffi'

const libc = koffi.load('libc.so.6')

// koffi functions are untyped; the wrappers give them types. `async` runs one on a libuv thread.
type Fn = ((...args: any[]) => any) & { async: (...args: any[]) => void }

export const c = {
  read: libc.func('intptr_t read(int fd, void *buf, size_t count)') as Fn,
  write: libc.func('intptr_t write(int fd, void *buf, size_t count)') as Fn,
  pread: libc.func('intptr_t pread(int fd, void *buf, size_t count, int64_t offset)') as Fn,
  lseek: libc.func('int64_t lseek(int fd, int64_t offset, int whence)') as Fn,
  posix_fadvise: libc.func('int posix_fadvise(int fd, int64_t offset, int64_t len, int advice)') as Fn,
  close: libc.func('int close(int fd)') as Fn,
  fsync: libc.func('int fsync(int fd)') as Fn,
  sync_file_range: libc.func('int sync_file_range(int fd, int64_t offset, int64_t nbytes, unsigned int flags)') as Fn,
  openat: libc.func('int openat(int dirfd, const char *path, int flags, uint32_t mode)') as Fn,
  mkdirat: libc.func('int mkdirat(int dirfd, const char *path, uint32_t mode)') as Fn,
  unlinkat: libc.func('int unlinkat(int dirfd, const char *path, int flags)') as Fn,
  linkat: libc.func('int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)') as Fn,
  renameat2: libc.func('int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags)') as Fn,
  // statx, not fstatat: struct statx has one layout on every architecture, struct stat does not.
  statx: libc.func('int statx(int dirfd, const char *path, int flags, unsigned int mask, void *buf)') as Fn,
  dup: libc.func('int dup(int fd)') as Fn,
  dup2: libc.func('int dup2(int oldfd, int newfd)') as Fn,
  pipe2: libc.func('int pipe2(void *fds, int flags)') as Fn,
  fcntl: libc.func('fcntl', 'int', ['int', 'int', 'int']) as Fn,
  ioctlPtr: libc.func('ioctl', 'int', ['int', 'unsigned long', 'void *']) as Fn,
  splice: libc.func('intptr_t splice(int fd_in, void *off_in, int fd_out, void *off_out, size_t len, unsigned int flags)') as Fn,
  sendfile: libc.func('intptr_t sendfile(int out_fd, int in_fd, void *offset, size_t count)') as Fn,
  tee: libc.func('intptr_t tee(int fd_in, int fd_out, size_t len, unsigned int flags)') as Fn,
  vmsplice: libc.func('intptr_t vmsplice(int fd, void *iov, size_t nr_segs, unsigned int flags)') as Fn,
  poll: libc.func('int poll(void *fds, unsigned long nfds, int timeout)') as Fn,
  epoll_create1: libc.func('int epoll_create1(int flags)') as Fn,
  epoll_ctl: libc.func('int epoll_ctl(int epfd, int op, int fd, void *event)') as Fn,
  epoll_wait: libc.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)') as Fn,
  socket: libc.func('int socket(int domain, int type, int protocol)') as Fn,
  bind: libc.func('int bind(int fd, void *addr, uint32_t addrlen)') as Fn,
  listen: libc.func('int listen(int fd, int backlog)') as Fn,
  accept4: libc.func('int accept4(int fd, void *addr, void *addrlen, int flags)') as Fn,
  connect: libc.func('int connect(int fd, void *addr, uint32_t addrlen)') as Fn,
  socketpair: libc.func('int socketpair(int domain, int type, int protocol, void *sv)') as Fn,
  recv: libc.func('intptr_t recv(int fd, void *buf, size_t len, int flags)') as Fn,
  sendmsg: libc.func('intptr_t sendmsg(int fd, void *msg, int flags)') as Fn,
  recvmsg: libc.func('intptr_t recvmsg(int fd, void *msg, int flags)') as Fn,
  setsockopt: libc.func('int setsockopt(int fd, int level, int name, void *val, uint32_t len)') as Fn,
  shutdown: libc.func('int shutdown(int fd, int how)') as Fn,
  mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)') as Fn,
  munmap: libc.func('int munmap(void *addr, size_t length)') as Fn,
  madvise: libc.func('int madvise(void *addr, size_t length, int advice)') as Fn,
  syscall1: libc.func('syscall', 'long', ['long', 'long']) as Fn,
  syscall2: libc.func('syscall', 'long', ['long', 'long', 'long']) as Fn,
  syscall5: libc.func('syscall', 'long', ['long', 'long', 'long', 'long', 'long', 'long']) as Fn,
  waitid: libc.func('int waitid(int idtype, uint32_t id, void *infop, int options)') as Fn,
  strerror: libc.func('const char *strerror(int errnum)') as Fn,
}

export const errno = (): number => koffi.errno()
export const address = (buf: Buffer | ArrayBufferView): bigint => koffi.address(buf) as bigint
/** A Buffer over memory that koffi did not allocate (an mmap region): no copy, no ownership. */
export const view = (ptr: bigint, len: number): Buffer => Buffer.from(koffi.view(ptr, len) as ArrayBuffer)

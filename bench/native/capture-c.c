/*
 * capture-c [--poll] SOCKET [OUTFD]: the C baseline of img-split. Listens on SOCKET, accepts one
 * client and takes every pipe it passes, moving the data with splice(2) to /dev/null or, with
 * OUTFD, into that fd (a shard pipe: the same topology as img-split with one shard, minus the
 * framing; the bytes are not a valid stream).
 *   default: one pipe at a time, blocking 1 MiB splices until its EOF, then the next request.
 *     The physical limit of a capture (one page-reference move per MiB, nothing else); enough
 *     for the synthetic producer, which sends its files one after the other.
 *   --poll: all open pipes multiplexed with poll(2), each readable one emptied by FIONREAD +
 *     splice, as img-split does. Needed for a real `criu dump --stream` (CRIU writes pagemap
 *     and pages images at once: serving one pipe at a time would deadlock).
 * Prints `socket-init` on stderr once listening (as img-split does on its progress fd), and at the
 * client's EOF, once every pipe is drained, `end_ns bytes files` on stdout.
 */
#define PROG "capture-c"
#include "common.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_PIPES 256

static int read_exact(int fd, void *p, size_t n) {
  char *c = p;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, c + got, n - got);
    if (r == 0) return (int)got;
    if (r < 0) { if (errno == EINTR) continue; DIE("read socket"); }
    got += (size_t)r;
  }
  return (int)got;
}

/* One request and its pipe; -1 at a clean EOF of the socket. */
static int next_pipe(int s) {
  uint32_t len;
  int got = read_exact(s, &len, 4);
  if (got == 0) return -1;
  if (got < 4 || len > 10240) { errno = 0; DIE("bad request"); }
  char name[10240];
  if (read_exact(s, name, len) < (int)len) { errno = 0; DIE("short request"); }
  char byte;
  struct iovec iov = { &byte, 1 };
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
  while (recvmsg(s, &msg, MSG_CMSG_CLOEXEC) < 0) if (errno != EINTR) DIE("recvmsg");
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) { errno = 0; DIE("no fd"); }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  /* as img-split: ask 4 MiB, halve until the kernel agrees (fs.pipe-max-size, 1 MiB by default) */
  for (int size = 4 << 20; size > 4096 && fcntl(fd, F_SETPIPE_SZ, size) < 0; size /= 2) {
  }
  return fd;
}

int main(int argc, char **argv) {
  int use_poll = argc > 1 && strcmp(argv[1], "--poll") == 0;
  if (use_poll) { argv++; argc--; }
  if (argc < 2 || argc > 3) { fprintf(stderr, "usage: capture-c [--poll] SOCKET [OUTFD]\n"); return 2; }
  int out = argc == 3 ? atoi(argv[2]) : open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (out < 0) DIE("open /dev/null");
  if (argc == 3) fcntl(out, F_SETPIPE_SZ, 1 << 20); /* a shard pipe: 1 MiB, as img-split sizes its shards */
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(argv[1]) >= sizeof sa.sun_path) { errno = 0; DIE("socket path too long"); }
  strcpy(sa.sun_path, argv[1]);
  unlink(argv[1]);
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0) DIE("listen %s", argv[1]);
  fprintf(stderr, "socket-init\n");
  int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
  if (s < 0) DIE("accept");
  close(l);
  uint64_t total = 0;
  unsigned files = 0;
  if (!use_poll) {
    for (int fd; (fd = next_pipe(s)) >= 0; files++) {
      for (;;) {
        ssize_t m = splice(fd, NULL, out, NULL, 1 << 20, SPLICE_F_MOVE | SPLICE_F_MORE);
        if (m == 0) break;
        if (m < 0) { if (errno == EINTR) continue; DIE("splice"); }
        total += (uint64_t)m;
      }
      close(fd);
    }
    printf("%llu %llu %u\n", (unsigned long long)now_ns(), (unsigned long long)total, files);
    return 0;
  }
  struct pollfd pf[MAX_PIPES + 1];
  int pipes[MAX_PIPES];
  int np = 0;
  while (s >= 0 || np > 0) {
    int n = 0;
    if (s >= 0) pf[n++] = (struct pollfd){ .fd = s, .events = POLLIN };
    int base = n;
    for (int i = 0; i < np; i++) pf[n++] = (struct pollfd){ .fd = pipes[i], .events = POLLIN };
    if (poll(pf, (nfds_t)n, -1) < 0) { if (errno == EINTR) continue; DIE("poll"); }
    for (int i = np - 1; i >= 0; i--) {
      if (!pf[base + i].revents) continue;
      int avail = 0;
      if (ioctl(pipes[i], FIONREAD, &avail) < 0) DIE("FIONREAD");
      if (avail == 0) { /* readable with nothing queued: EOF */
        close(pipes[i]);
        pipes[i] = pipes[--np];
        files++;
        continue;
      }
      while (avail > 0) {
        ssize_t m = splice(pipes[i], NULL, out, NULL, (size_t)avail, SPLICE_F_MOVE | SPLICE_F_MORE);
        if (m < 0) { if (errno == EINTR) continue; DIE("splice"); }
        if (m == 0) break;
        total += (uint64_t)m;
        avail -= (int)m;
      }
    }
    if (s >= 0 && pf[0].revents) {
      int fd = next_pipe(s);
      if (fd < 0) { close(s); s = -1; }
      else if (np == MAX_PIPES) { errno = 0; DIE("too many open images"); }
      else pipes[np++] = fd;
    }
  }
  printf("%llu %llu %u\n", (unsigned long long)now_ns(), (unsigned long long)total, files);
  return 0;
}

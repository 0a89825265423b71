/*
 * producer SOCKET BYTES: a synthetic `criu dump --stream`. Connects to SOCKET (retrying while
 * it does not exist yet or does not listen), then, exactly as CRIU does for each image:
 *   [u32 LE len][0x0a varint(namelen) name]   the request
 *   sendmsg(1 byte 0x00 + SCM_RIGHTS{read end of a fresh pipe})
 * and writes the file into the write end. pages-1.img gets BYTES of page data by vmsplice(2)
 * of one 1 MiB buffer over and over (page references, no copy: what CRIU's page pipes hold),
 * or with DATA_FILE of that file's pages over and over (real page contents, for the codecs);
 * then a small inventory.img (written last, like CRIU) and the socket is closed.
 * Prints `start_ns end_ns bytes`: start is just before the first vmsplice, end after the last.
 */
#define PROG "producer"
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF (1UL << 20)

static void send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w < 0) { if (errno == EINTR) continue; DIE("write"); }
    c += w; n -= (size_t)w;
  }
}

/* request + pipe read end; returns the write end */
static int open_image(int sock, const char *name) {
  size_t nl = strlen(name);
  if (nl >= 128) { errno = 0; DIE("name too long"); }
  unsigned char req[4 + 2 + 128];
  uint32_t len = (uint32_t)(2 + nl);
  memcpy(req, &len, 4); /* little-endian host */
  req[4] = 0x0a; req[5] = (unsigned char)nl;
  memcpy(req + 6, name, nl);
  send_all(sock, req, 4 + len);
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0) DIE("pipe2");
  fcntl(p[1], F_SETPIPE_SZ, (int)BUF); /* as CRIU's image pipes; failure is fine */
  char byte = 0;
  struct iovec iov = { &byte, 1 };
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET; c->cmsg_type = SCM_RIGHTS; c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &p[0], sizeof(int));
  while (sendmsg(sock, &msg, 0) < 0) if (errno != EINTR) DIE("sendmsg");
  close(p[0]);
  return p[1];
}

int main(int argc, char **argv) {
  if (argc != 3 && argc != 4) { fprintf(stderr, "usage: producer SOCKET BYTES [DATA_FILE]\n"); return 2; }
  unsigned long long bytes = strtoull(argv[2], NULL, 10);
  size_t buflen = BUF;
  char *buf;
  if (argc == 4) {
    int df = open(argv[3], O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (df < 0 || fstat(df, &st) < 0) DIE("open %s", argv[3]);
    buflen = (size_t)st.st_size & ~(size_t)4095;
    if (buflen == 0) { errno = 0; DIE("%s has no whole page", argv[3]); }
    buf = mmap(NULL, buflen, PROT_READ, MAP_PRIVATE | MAP_POPULATE, df, 0);
    if (buf == MAP_FAILED) DIE("mmap %s", argv[3]);
    close(df);
  } else {
    buf = aligned_alloc(4096, BUF);
    if (!buf) DIE("alloc");
    uint64_t *w = (uint64_t *)buf; /* a memhog-like pattern; the content does not matter to splice */
    for (size_t i = 0; i < BUF / 8; i++) { uint64_t z = i * 0x9e3779b97f4a7c15ULL; w[i] = z ^ (z >> 31); }
  }

  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(argv[1]) >= sizeof sa.sun_path) { errno = 0; DIE("socket path too long"); }
  strcpy(sa.sun_path, argv[1]);
  int sock = -1;
  for (uint64_t deadline = now_ns() + 30000000000ULL;;) {
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) DIE("socket");
    if (connect(sock, (struct sockaddr *)&sa, sizeof sa) == 0) break;
    if ((errno != ENOENT && errno != ECONNREFUSED) || now_ns() > deadline) DIE("connect %s", argv[1]);
    close(sock);
    usleep(1000);
  }

  int fd = open_image(sock, "pages-1.img");
  uint64_t t0 = now_ns();
  unsigned long long left = bytes;
  size_t off = 0;
  while (left > 0) {
    size_t n = buflen - off;
    if (n > BUF) n = BUF;
    if (n > left) n = (size_t)left;
    struct iovec iov = { buf + off, n };
    ssize_t m = vmsplice(fd, &iov, 1, 0);
    if (m < 0) { if (errno == EINTR) continue; DIE("vmsplice"); }
    left -= (unsigned long long)m;
    off = (off + (size_t)m) % buflen;
  }
  close(fd);
  uint64_t t1 = now_ns();

  fd = open_image(sock, "inventory.img");
  unsigned char inv[64] = { 0x16, 0x31, 0x11, 0x58 }; /* INVENTORY_MAGIC, then filler */
  send_all(fd, inv, sizeof inv);
  close(fd);
  close(sock);
  printf("%llu %llu %llu\n", (unsigned long long)t0, (unsigned long long)t1, bytes);
  return 0;
}

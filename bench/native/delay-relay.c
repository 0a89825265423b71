/*
 * delay-relay: a link with D ms of latency each way and no bandwidth limit (this kernel has no
 * netem). Forwards bytes in both directions and holds each read chunk for D ms before it writes
 * it on, so a request/answer exchange through it takes 2*D more, and a stream keeps flowing at
 * full rate D ms behind.
 *
 *   delay-relay D tcp LISTEN_PORT TARGET_PORT   one TCP connection on 127.0.0.1:LISTEN_PORT,
 *                                               relayed to 127.0.0.1:TARGET_PORT (a page server)
 *   delay-relay D cmd CMD...                    our stdin/stdout relayed to CMD's (a page stream:
 *                                               `uffd-serve --pages-from-cmd 'delay-relay 10 cmd page-feed ...'`)
 *
 * Prints `listening` on stdout once the TCP port listens. Ends when both directions have
 * ended: EOF is passed on (shutdown/close) after the bytes before it; an error or reset on one
 * side closes everything (the far side then sees the connection end).
 */
#define PROG "delay-relay"
#include "common.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* One read: big enough for line rate, small enough that a chunk is not held much past its time. */
#define CHUNK (256 << 10)
/* Bytes held per direction before we stop reading (back-pressure): far above any D*rate here. */
#define MAX_HELD (256 << 20)

struct chunk { struct chunk *next; uint64_t due; size_t len, off; char data[]; };

struct dir {
  int in, out;
  struct chunk *head, *tail;
  size_t held;
  int eof, done;
};

static uint64_t delay_ns;

static void dir_read(struct dir *d) {
  struct chunk *c = malloc(sizeof *c + CHUNK);
  if (!c) DIE("malloc");
  ssize_t n = read(d->in, c->data, CHUNK);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) { free(c); return; }
  if (n <= 0) { free(c); d->eof = 1; return; } /* a reset ends the direction like an EOF */
  c->len = (size_t)n;
  c->off = 0;
  c->due = now_ns() + delay_ns;
  c->next = NULL;
  if (d->tail) d->tail->next = c; else d->head = c;
  d->tail = c;
  d->held += (size_t)n;
}

/* Writes what is due; returns -1 if the far side is gone. */
static int dir_write(struct dir *d) {
  uint64_t now = now_ns();
  while (d->head && d->head->due <= now) {
    struct chunk *c = d->head;
    ssize_t n = write(d->out, c->data + c->off, c->len - c->off);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 0;
      return -1;
    }
    c->off += (size_t)n;
    d->held -= (size_t)n;
    if (c->off < c->len) return 0;
    d->head = c->next;
    if (!d->head) d->tail = NULL;
    free(c);
  }
  if (!d->head && d->eof && !d->done) {
    d->done = 1;
    if (shutdown(d->out, SHUT_WR) < 0) close(d->out); /* a pipe: close is its EOF */
  }
  return 0;
}

static int listen_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0) DIE("socket");
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) DIE("bind 127.0.0.1:%d", port);
  if (listen(fd, 1) < 0) DIE("listen");
  return fd;
}

static int connect_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0) DIE("socket");
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) DIE("connect 127.0.0.1:%d", port);
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s D tcp LISTEN_PORT TARGET_PORT | %s D cmd CMD...\n", PROG, PROG);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  delay_ns = (uint64_t)strtoull(argv[1], NULL, 10) * 1000000ULL;
  struct dir up = {0}, down = {0}; /* up: client -> server, down: server -> client */
  pid_t child = -1;
  if (strcmp(argv[2], "tcp") == 0 && argc == 5) {
    int l = listen_tcp(atoi(argv[3]));
    printf("listening\n");
    fflush(stdout);
    int c = accept4(l, NULL, NULL, SOCK_CLOEXEC), one = 1;
    if (c < 0) DIE("accept");
    close(l);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int s = connect_tcp(atoi(argv[4]));
    up = (struct dir){ .in = c, .out = s };
    down = (struct dir){ .in = s, .out = c };
  } else if (strcmp(argv[2], "cmd") == 0) {
    int to[2], from[2];
    if (pipe2(to, O_CLOEXEC) < 0 || pipe2(from, O_CLOEXEC) < 0) DIE("pipe");
    child = fork();
    if (child < 0) DIE("fork");
    if (child == 0) {
      if (dup2(to[0], 0) < 0 || dup2(from[1], 1) < 0) DIE("dup2");
      execvp(argv[3], argv + 3);
      DIE("exec %s", argv[3]);
    }
    close(to[0]);
    close(from[1]);
    up = (struct dir){ .in = 0, .out = to[1] };
    down = (struct dir){ .in = from[0], .out = 1 };
  } else {
    fprintf(stderr, "%s: bad mode %s\n", PROG, argv[2]);
    return 2;
  }
  /* Writes must never block: the far side may be waiting for us to read its output. */
  int fds[4] = { up.in, up.out, down.in, down.out };
  for (int i = 0; i < 4; i++) fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
  struct dir *dirs[2] = { &up, &down };
  for (;;) {
    if (up.done && down.done) break;
    struct pollfd p[4];
    int np = 0, idx[4];
    uint64_t next = UINT64_MAX, now = now_ns();
    for (int i = 0; i < 2; i++) {
      struct dir *d = dirs[i];
      if (!d->eof && d->held < MAX_HELD) { p[np] = (struct pollfd){ .fd = d->in, .events = POLLIN }; idx[np++] = i; }
      if (d->head && d->head->due <= now) { p[np] = (struct pollfd){ .fd = d->out, .events = POLLOUT }; idx[np++] = 2 + i; }
      else if (d->head && d->head->due < next) next = d->head->due;
      else if (!d->head && d->eof && !d->done) next = now;
    }
    /* ppoll: a D of 1 ms must not become 2 by rounding the timeout to milliseconds */
    uint64_t wait = next == UINT64_MAX ? 0 : (next > now ? next - now : 0);
    struct timespec ts = { .tv_sec = (time_t)(wait / 1000000000ULL), .tv_nsec = (long)(wait % 1000000000ULL) };
    if (ppoll(p, (nfds_t)np, next == UINT64_MAX ? NULL : &ts, NULL) < 0 && errno != EINTR) DIE("ppoll");
    for (int k = 0; k < np; k++) {
      if (!p[k].revents) continue;
      if (idx[k] < 2) dir_read(dirs[idx[k]]);
    }
    for (int i = 0; i < 2; i++) {
      if (dir_write(dirs[i]) < 0) { /* the far side is gone: so is the link */
        close(up.in); close(up.out); close(down.in); close(down.out);
        if (child > 0) waitpid(child, NULL, 0);
        return 1;
      }
    }
  }
  if (child > 0) {
    int st;
    close(0);
    close(1);
    if (waitpid(child, &st, 0) > 0 && WIFEXITED(st)) return WEXITSTATUS(st);
    return 1;
  }
  return 0;
}

/*
 * drain [BYTES_PER_SEC [LINK_FILE]]: the consumer of one shard. Moves stdin (a pipe) to /dev/null
 * with splice(2), 1 MiB at a time, so it costs no copy: the fastest thing that still empties the
 * pipe the way a real consumer (ssh, a file, img-buffer) would have to. At EOF prints
 * `end_ns bytes`. stdin that is not a pipe falls back to read(2).
 *
 * With BYTES_PER_SEC (> 0) it emulates a link of that rate, and every drain given the same
 * LINK_FILE shares that one link (their sum is held to the rate, as shards leaving through one
 * NIC are; without LINK_FILE the link is this drain's alone). The link is a token bucket kept as a
 * theoretical arrival time (GCRA) in the shared file: each move pushes the link's next free
 * moment forward by bytes / rate, and a drain sleeps while that moment is more than BURST_S
 * ahead of now (the bucket: what a NIC queue absorbs). So the average never exceeds the rate, and
 * a pause earns back one burst, not the pause.
 */
#define PROG "drain"
#include "common.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define CHUNK (1 << 20)
#define BURST_S 0.01          /* the bucket: 10 ms of the link */
#define MIN_BURST (64 << 10)  /* but at least a pipe's worth, so a slow link still moves in pages */

static int use_read; /* stdin is not a pipe */

/* Moves up to `want` bytes of stdin to `null`; 0 at EOF. */
static ssize_t move(int null, size_t want) {
  static char buf[CHUNK];
  for (;;) {
    ssize_t n = use_read ? read(0, buf, want) : splice(0, NULL, null, NULL, want, SPLICE_F_MOVE);
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    if (!use_read && errno == EINVAL) { use_read = 1; continue; }
    DIE(use_read ? "read" : "splice");
  }
}

static void sleep_ns(uint64_t ns) {
  struct timespec ts = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

/* The link's next free moment (CLOCK_MONOTONIC ns), in memory shared by its drains. */
static uint64_t *link_tat(const char *path) {
  static uint64_t own;
  if (!path) return &own;
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) DIE("open %s", path);
  if (ftruncate(fd, sizeof(uint64_t)) < 0) DIE("ftruncate %s", path); /* zero-filled: the link is free */
  void *p = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) DIE("mmap %s", path);
  close(fd);
  return p;
}

/* Books n bytes on the link; returns how far ahead of now the link is then booked (ns). */
static uint64_t book(uint64_t *tat, double ns_per_byte, size_t n) {
  uint64_t now = now_ns(), old = __atomic_load_n(tat, __ATOMIC_RELAXED), next;
  do {
    next = (old > now ? old : now) + (uint64_t)((double)n * ns_per_byte);
  } while (!__atomic_compare_exchange_n(tat, &old, next, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
  return next - now;
}

int main(int argc, char **argv) {
  char *end = NULL;
  double rate = argc > 1 ? strtod(argv[1], &end) : 0;
  if (argc > 3 || (argc > 1 && (*end || rate < 0))) {
    fprintf(stderr, "usage: drain [BYTES_PER_SEC [LINK_FILE]]\n");
    return 2;
  }
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0) DIE("open /dev/null");
  double burst = rate * BURST_S < MIN_BURST ? MIN_BURST : rate * BURST_S;
  size_t want = rate > 0 && burst < CHUNK ? (size_t)burst : CHUNK;
  uint64_t *tat = rate > 0 ? link_tat(argc > 2 ? argv[2] : NULL) : NULL;
  double ns_per_byte = rate > 0 ? 1e9 / rate : 0;
  uint64_t burst_ns = (uint64_t)(burst * ns_per_byte), total = 0;
  for (;;) {
    ssize_t n = move(null, want);
    if (n == 0) break;
    total += (uint64_t)n;
    if (!tat) continue;
    uint64_t ahead = book(tat, ns_per_byte, (size_t)n);
    if (ahead > burst_ns) sleep_ns(ahead - burst_ns);
  }
  printf("%llu %llu\n", (unsigned long long)now_ns(), (unsigned long long)total);
  return 0;
}

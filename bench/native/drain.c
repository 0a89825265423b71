/*
 * drain [BYTES_PER_SEC]: the consumer of one shard. Moves stdin (a pipe) to /dev/null with
 * splice(2), 1 MiB at a time, so it costs no copy: the fastest thing that still empties the pipe
 * the way a real consumer (ssh, a file, img-buffer) would have to. At EOF prints `end_ns bytes`.
 * stdin that is not a pipe falls back to read(2).
 *
 * With BYTES_PER_SEC (> 0) it emulates a link of that rate: a token bucket that fills at the
 * rate and holds at most BURST_S of it (what a NIC queue absorbs), and a splice may take the
 * bucket into debt, after which the drain sleeps until the debt is paid. So the average rate
 * never exceeds the link's, and a producer that pauses gets only one burst back, not its pause.
 */
#define PROG "drain"
#include "common.h"
#include <fcntl.h>
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

int main(int argc, char **argv) {
  char *end = NULL;
  double rate = argc > 1 ? strtod(argv[1], &end) : 0;
  if (argc > 2 || (argc > 1 && (*end || rate < 0))) {
    fprintf(stderr, "usage: drain [BYTES_PER_SEC]\n");
    return 2;
  }
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0) DIE("open /dev/null");
  double burst = rate * BURST_S < MIN_BURST ? MIN_BURST : rate * BURST_S;
  size_t want = rate > 0 && burst < CHUNK ? (size_t)burst : CHUNK;
  double tokens = burst;
  uint64_t last = now_ns(), total = 0;
  for (;;) {
    ssize_t n = move(null, want);
    if (n == 0) break;
    total += (uint64_t)n;
    if (rate <= 0) continue;
    tokens -= (double)n;
    uint64_t now = now_ns();
    tokens += (double)(now - last) * rate / 1e9;
    if (tokens > burst) tokens = burst;
    last = now;
    if (tokens < 0) {
      sleep_ns((uint64_t)(-tokens / rate * 1e9));
      now = now_ns();
      tokens += (double)(now - last) * rate / 1e9;
      last = now;
    }
  }
  printf("%llu %llu\n", (unsigned long long)now_ns(), (unsigned long long)total);
  return 0;
}

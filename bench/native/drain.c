/*
 * drain: the consumer of one shard. Moves stdin (a pipe) to /dev/null with splice(2), 1 MiB at
 * a time, so it costs no copy: the fastest thing that still empties the pipe the way a real
 * consumer (ssh, a file, img-buffer) would have to. At EOF prints `end_ns bytes`.
 * stdin that is not a pipe falls back to read(2).
 */
#define PROG "drain"
#include "common.h"
#include <fcntl.h>
#include <unistd.h>

int main(void) {
  int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (null < 0) DIE("open /dev/null");
  uint64_t total = 0;
  for (;;) {
    ssize_t n = splice(0, NULL, null, NULL, 1 << 20, SPLICE_F_MOVE);
    if (n == 0) break;
    if (n > 0) { total += (uint64_t)n; continue; }
    if (errno == EINTR) continue;
    if (errno != EINVAL) DIE("splice");
    static char buf[1 << 20];
    for (;;) {
      ssize_t r = read(0, buf, sizeof buf);
      if (r == 0) break;
      if (r < 0) { if (errno == EINTR) continue; DIE("read"); }
      total += (uint64_t)r;
    }
    break;
  }
  printf("%llu %llu\n", (unsigned long long)now_ns(), (unsigned long long)total);
  return 0;
}

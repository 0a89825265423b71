/* Shared bits of the bench's C helpers: a monotonic clock in ns (the same clock as Node's
 * process.hrtime.bigint(), so timestamps from C and from the bench compare directly) and
 * error exits. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#include <stdarg.h>

/* Prints `PROG: message[: strerror(errno)]` and exits 1. */
__attribute__((noreturn, format(printf, 1, 2))) static void die_(const char *fmt, ...) {
  int e = errno;
  va_list ap;
  fprintf(stderr, "%s: ", PROG);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (e) fprintf(stderr, ": %s", strerror(e));
  fputc('\n', stderr);
  exit(1);
}
#define DIE(...) die_(__VA_ARGS__)

#endif

/*
 * faulttouch MIB LOGFILE [TOUCHES]: the lazy-restore workload of the bench. Memory and log are
 * those of test/fixtures/memhog.c (the same pattern, seed and log lines: `map ...`, `ready <pid>`,
 * `verified <npages> ok` on SIGUSR1, `CORRUPT page <p>` and exit 3), so the harness's verify()
 * works on it. Unlike memhog it touches nothing on its own between signals, so a lazy restore is
 * driven only by the lazy-pages daemon and by what we ask for:
 *
 *   SIGUSR2: read one word of TOUCHES (default 2000) pages picked at random, timing each read.
 *   mincore(2) says beforehand whether the page is resident; a read of a page that is not is a
 *   userfaultfd fault served by the lazy-pages daemon, and its time is the fault service time
 *   as the application sees it. Every touched page is then checked against the pattern. Logs
 *     touched <n> faults <f> p50_ns <a> p90_ns <b> p99_ns <c> max_ns <d> resident_p50_ns <e>
 *   (-1 where there is no sample).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../../test/fixtures/workload.h"

static size_t npages;
static char *base;
static volatile sig_atomic_t want_verify, want_touch;


static int page_ok(size_t p) {
  const uint64_t *w = (const uint64_t *)(base + p * PAGE);
  for (size_t i = 0; i < WORDS; i++)
    if (w[i] != pattern(p, i)) return 0;
  return 1;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static long long pct(uint64_t *v, size_t n, double q) {
  if (n == 0) return -1;
  size_t i = (size_t)(q * (double)(n - 1) + 0.5);
  return (long long)v[i];
}

static void on_usr1(int sig) { (void)sig; want_verify = 1; }
static void on_usr2(int sig) { (void)sig; want_touch = 1; }

static void touch(size_t count) {
  uint64_t *fault = malloc(count * sizeof *fault), *res = malloc(count * sizeof *res);
  size_t *pages = malloc(count * sizeof *pages);
  if (!fault || !res || !pages) die("malloc");
  size_t nf = 0, nr = 0;
  uint64_t x = now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x2545f4914f6cdd1dULL;
  for (size_t k = 0; k < count; k++) {
    x ^= x >> 12; x ^= x << 25; x ^= x >> 27; /* xorshift64* */
    size_t p = (size_t)((x * 0x2545f4914f6cdd1dULL) % npages);
    pages[k] = p;
    volatile uint64_t *w = (volatile uint64_t *)(base + p * PAGE);
    unsigned char vec = 0;
    if (mincore(base + p * PAGE, PAGE, &vec) < 0) die("mincore");
    uint64_t t0 = now_ns();
    uint64_t v = *w;
    uint64_t dt = now_ns() - t0;
    (void)v;
    if (vec & 1) res[nr++] = dt; else fault[nf++] = dt;
  }
  for (size_t k = 0; k < count; k++)
    if (!page_ok(pages[k])) { logline("CORRUPT page %zu", pages[k]); _exit(3); }
  qsort(fault, nf, sizeof *fault, cmp_u64);
  qsort(res, nr, sizeof *res, cmp_u64);
  logline("touched %zu faults %zu p50_ns %lld p90_ns %lld p99_ns %lld max_ns %lld resident_p50_ns %lld", count, nf,
          pct(fault, nf, 0.5), pct(fault, nf, 0.9), pct(fault, nf, 0.99), nf ? (long long)fault[nf - 1] : -1LL,
          pct(res, nr, 0.5));
  free(fault); free(res); free(pages);
}

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s MIB LOGFILE [TOUCHES]\n", argv[0]);
    return 2;
  }
  long mib = strtol(argv[1], NULL, 10);
  long touches = argc > 3 ? strtol(argv[3], NULL, 10) : 2000;
  if (mib < 1 || touches < 1) { fprintf(stderr, "faulttouch: bad MIB or TOUCHES\n"); return 2; }
  start_logging(argv[2], "faulttouch");
  npages = (size_t)mib * (1024 * 1024 / PAGE);
  base = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) die("mmap");
  for (size_t p = 0; p < npages; p++) {
    uint64_t *w = (uint64_t *)(base + p * PAGE);
    for (size_t i = 0; i < WORDS; i++) w[i] = pattern(p, i);
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = on_usr1;
  if (sigaction(SIGUSR1, &sa, NULL) < 0) die("sigaction");
  sa.sa_handler = on_usr2;
  if (sigaction(SIGUSR2, &sa, NULL) < 0) die("sigaction");
  logline("map %p %zu", (void *)base, npages);
  logline("ready %d", (int)getpid());
  for (;;) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !want_verify && !want_touch) {
    }
    if (want_touch) {
      want_touch = 0;
      touch((size_t)touches);
    }
    if (want_verify) {
      want_verify = 0;
      for (size_t p = 0; p < npages; p++)
        if (!page_ok(p)) { logline("CORRUPT page %zu", p); _exit(3); }
      logline("verified %zu ok", npages);
    }
  }
}

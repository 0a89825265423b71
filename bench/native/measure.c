/*
 * measure OUT CMD [ARG...]: runs CMD as a child. Writes to OUT, at once,
 *   start <ns>
 * (CLOCK_MONOTONIC just before the fork, so a caller can time from it while CMD still runs)
 * and, when CMD has ended,
 *   end <ns> <utime_us> <stime_us> <maxrss_kib> <wait status>
 * from wait4(2)'s rusage: CPU time of the child with all its threads and reaped descendants, and
 * its peak resident set (ru_maxrss = the largest VmHWM among them, KiB). Precise, and nothing to
 * install: GNU time reads the same rusage.
 * Exits with the child's exit code (128+signal if it was killed). SIGINT/SIGTERM/SIGHUP are
 * forwarded to the child; the child gets SIGKILL if this wrapper dies (PR_SET_PDEATHSIG).
 */
#define PROG "measure"
#include "common.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;
static void forward(int sig) { if (child > 0) kill(child, sig); }

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: measure OUT CMD [ARG...]\n"); return 2; }
  /* open first: a bad path fails before the command runs */
  int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) DIE("open %s", argv[1]);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  pid_t parent = getpid();
  uint64_t t0 = now_ns();
  dprintf(out, "start %llu\n", (unsigned long long)t0);
  pid_t pid = fork();
  if (pid < 0) DIE("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    signal(SIGINT, SIG_DFL); signal(SIGTERM, SIG_DFL); signal(SIGHUP, SIG_DFL);
    execvp(argv[2], argv + 2);
    fprintf(stderr, "measure: exec %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  child = pid;
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0) if (errno != EINTR) DIE("wait4");
  uint64_t t1 = now_ns();
  dprintf(out, "end %llu %lld %lld %ld %d\n", (unsigned long long)t1,
          (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
          (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec, ru.ru_maxrss, status);
  close(out);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

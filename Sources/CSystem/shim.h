#ifndef SWIFTMOUNT_CSYSTEM_SHIM_H
#define SWIFTMOUNT_CSYSTEM_SHIM_H
#include <signal.h>
#include <syslog.h>
#include <stddef.h>
#include <malloc.h>
#include <unistd.h>

// A daemon started with & from a script inherits SIGINT ignored, and one spawned by a test runner
// inherits a mask that blocks SIGTERM: undo both before libfuse installs its handlers.
static inline void sm_reset_signals(void) {
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
}

// Segments and read windows (MiBs each) are mmapped and reused by the daemon's own recyclers;
// glibc's default would move them into arenas after the first free (RSS that never shrinks).
// Smaller buffers (libfuse's per-request read buffers) stay on the heap, and a high trim
// threshold keeps their pages mapped instead of faulting them in again on every request.
static inline void sm_tune_malloc(void) {
    mallopt(M_MMAP_THRESHOLD, 4 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
}

#include <fcntl.h>

// fcntl is variadic.
static inline int sm_descriptor_is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

// syslog is variadic; Swift cannot call it.
static inline void sm_syslog_open(void) { openlog("swiftmount", LOG_PID, LOG_DAEMON); }
static inline void sm_syslog(int priority, const char *message) { syslog(priority, "%s", message); }

#endif

#ifndef SWIFTMOUNT_CSYSTEM_SHIM_H
#define SWIFTMOUNT_CSYSTEM_SHIM_H
#include <signal.h>
#include <syslog.h>
#include <stddef.h>
#include <malloc.h>

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

// Segments and read windows are large, short-lived buffers. glibc raises its mmap threshold after
// the first such free and then serves them from arenas that never shrink (RSS stayed at GiBs);
// a fixed threshold returns them to the kernel on free.
static inline void sm_tune_malloc(void) {
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

// syslog is variadic; Swift cannot call it.
static inline void sm_syslog_open(void) { openlog("swiftmount", LOG_PID, LOG_DAEMON); }
static inline void sm_syslog(int priority, const char *message) { syslog(priority, "%s", message); }

#endif

#ifndef SWIFTMOUNT_CSYSTEM_SHIM_H
#define SWIFTMOUNT_CSYSTEM_SHIM_H
#include <signal.h>
#include <syslog.h>
#include <stddef.h>

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

// syslog is variadic; Swift cannot call it.
static inline void sm_syslog_open(void) { openlog("swiftmount", LOG_PID, LOG_DAEMON); }
static inline void sm_syslog(int priority, const char *message) { syslog(priority, "%s", message); }

#endif

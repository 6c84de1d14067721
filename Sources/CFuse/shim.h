#ifndef SWIFTMOUNT_CFUSE_SHIM_H
#define SWIFTMOUNT_CFUSE_SHIM_H
// libfuse3 high-level API, 3.14 operation signatures. _FILE_OFFSET_BITS must not be defined here:
// glibc's flock definitions then clash with Swift's Glibc module.
#define FUSE_USE_VERSION 314
#include <fuse3/fuse.h>
#include <errno.h>
#include <sys/stat.h>
#include <time.h>

// renameat2(2) flags as libfuse passes them (linux/fs.h is not included here).
enum { SM_RENAME_NOREPLACE = 1 << 0, SM_RENAME_EXCHANGE = 1 << 1 };

// fuse_loop_mt is a macro over a versioned symbol; its config is opaque.
static inline int sm_fuse_loop_mt(struct fuse *f, unsigned max_threads) {
    struct fuse_loop_config *cfg = fuse_loop_cfg_create();
    if (!cfg) return -1;
    fuse_loop_cfg_set_max_threads(cfg, max_threads);
    fuse_loop_cfg_set_idle_threads(cfg, max_threads);
    int rc = fuse_loop_mt(f, cfg);
    fuse_loop_cfg_destroy(cfg);
    return rc;
}

static inline void *sm_fuse_private_data(void) {
    struct fuse_context *ctx = fuse_get_context();
    return ctx ? ctx->private_data : 0;
}

static inline int sm_fuse_caller_pid(void) {
    struct fuse_context *ctx = fuse_get_context();
    return ctx ? (int)ctx->pid : 0;
}

static inline unsigned sm_fuse_caller_uid(void) {
    struct fuse_context *ctx = fuse_get_context();
    return ctx ? (unsigned)ctx->uid : 0;
}

static inline unsigned sm_fuse_caller_gid(void) {
    struct fuse_context *ctx = fuse_get_context();
    return ctx ? (unsigned)ctx->gid : 0;
}

// utimensat(2)'s special nanosecond values and setxattr(2)'s flags, as plain constants.
enum { SM_UTIME_NOW = UTIME_NOW, SM_UTIME_OMIT = UTIME_OMIT };
enum { SM_XATTR_CREATE = 1, SM_XATTR_REPLACE = 2 };

static inline void sm_fuse_conn_tune(struct fuse_conn_info *conn, unsigned max_write, unsigned max_readahead) {
    conn->max_write = max_write;
    conn->max_readahead = max_readahead;
    conn->max_background = 64;
    if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC) conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
}

static inline void sm_fuse_config_tune(struct fuse_config *cfg, double attr_timeout, double entry_timeout) {
    cfg->attr_timeout = attr_timeout;
    cfg->entry_timeout = entry_timeout;
    cfg->negative_timeout = 0;
    cfg->nullpath_ok = 0;
    // unlink of an open file reaches the filesystem (which lets its writer finish into the void)
    // instead of a rename to .fuse_hiddenNNN, which would store such objects in the container.
    cfg->hard_remove = 1;
}

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

// SIGTERM, SIGINT and SIGHUP start a drain instead of ending the loop at once: the handler only
// writes the signal number to a pipe that a shutdown thread reads (async-signal-safe). When the
// drain is over, that thread ends the session and wakes the loop's thread (waiting in sem_wait,
// which SIGUSR1 interrupts). One copy of this state: only FuseMount.swift uses these.
// (Function-local statics: Swift's importer emits functions from a header, not its globals.)
static inline int *sm_shutdown_pipe(void) { static int fds[2] = {-1, -1}; return fds; }
static inline pthread_t *sm_loop_thread(void) { static pthread_t thread; return &thread; }

static void sm_on_shutdown_signal(int sig) {
    unsigned char b = (unsigned char)sig;
    ssize_t ignored = write(sm_shutdown_pipe()[1], &b, 1);
    (void)ignored;
}

static void sm_on_wake(int sig) { (void)sig; }

// Call from the thread that will run the loop, after daemonizing.
static inline int sm_install_shutdown_signals(void) {
    if (pipe(sm_shutdown_pipe()) != 0) return -1;
    *sm_loop_thread() = pthread_self();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = sm_on_shutdown_signal;
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGTERM, &sa, 0) || sigaction(SIGINT, &sa, 0) || sigaction(SIGHUP, &sa, 0)) return -1;
    sa.sa_handler = sm_on_wake;
    sa.sa_flags = 0;
    return sigaction(SIGUSR1, &sa, 0);
}

// Blocks until a shutdown signal arrives; returns its number.
static inline int sm_wait_shutdown_signal(void) {
    unsigned char b;
    for (;;) {
        ssize_t n = read(sm_shutdown_pipe()[0], &b, 1);
        if (n == 1) return b;
        if (n < 0 && errno == EINTR) continue;
        return -1;
    }
}

static inline void sm_end_loop(struct fuse *f) {
    fuse_session_exit(fuse_get_session(f));
    pthread_kill(*sm_loop_thread(), SIGUSR1);
}

#endif

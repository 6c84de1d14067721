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
}


#endif

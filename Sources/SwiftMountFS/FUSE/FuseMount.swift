import CFuse
import Foundation
import Glibc
import Logging
import Synchronization

/// The libfuse adapter: C callbacks that turn pointers into Swift values, call the mounted filesystem,
/// and turn its errors into negative errno values. The only file of this target with raw pointers.
public enum FuseMount {
    public struct Settings: Sendable {
        public var mountpoint: String
        public var foreground: Bool
        public var fsname: String
        public var fuseOptions: [String]
        public var maxThreads: Int = 16
        /// Seconds a shutdown signal waits for files being written; nil waits until they close.
        public var shutdownGrace: Double?

        public init(mountpoint: String, foreground: Bool, fsname: String, fuseOptions: [String]) {
            self.mountpoint = mountpoint
            self.foreground = foreground
            self.fsname = fsname
            self.fuseOptions = fuseOptions
        }
    }

    public enum Failure: Error, CustomStringConvertible {
        case options, mount(String)

        public var description: String {
            switch self {
            case .options: "libfuse refused the options (see the message above)"
            case .mount(let point): "could not mount on \(point)"
            }
        }
    }

    /// Mounts, daemonizes unless `foreground`, and serves requests until unmounted or signalled.
    /// `afterDaemonize` runs in the process that serves (e.g. to switch logging to syslog).
    public static func run(_ filesystem: MountTree, settings: Settings, afterDaemonize: () -> Void = {}) throws -> Int32 {
        var options = ["fsname=\(settings.fsname)", "subtype=swiftmount"] + settings.fuseOptions
        options = options.map { $0.replacingOccurrences(of: ",", with: "\\,") }
        let argv = ["swiftmount", "-o", options.joined(separator: ",")]
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) }
        defer { cArgs.forEach { free($0) } }

        var ops = makeOperations()
        let bridge = Unmanaged.passRetained(Bridge(filesystem))
        defer { bridge.release() }

        let fuse: OpaquePointer? = cArgs.withUnsafeMutableBufferPointer { buffer in
            var args = fuse_args(argc: Int32(buffer.count), argv: buffer.baseAddress, allocated: 0)
            defer { fuse_opt_free_args(&args) }
            return fuse_new(&args, &ops, MemoryLayout<fuse_operations>.size, bridge.toOpaque())
        }
        guard let fuse else { throw Failure.options }
        defer { fuse_destroy(fuse) }
        guard fuse_mount(fuse, settings.mountpoint) == 0 else { throw Failure.mount(settings.mountpoint) }
        defer { fuse_unmount(fuse) }
        if fuse_daemonize(settings.foreground ? 1 : 0) != 0 { throw Failure.mount(settings.mountpoint) }
        // After the fork: the handlers remember this thread, and the watcher must live in this process.
        guard sm_install_shutdown_signals() == 0 else { throw Failure.mount(settings.mountpoint) }
        let loop = LoopHandle(fuse: fuse)
        startShutdownWatcher(filesystem, loop: loop, grace: settings.shutdownGrace)
        afterDaemonize()
        let status = sm_fuse_loop_mt(fuse, UInt32(settings.maxThreads))
        loop.close()
        return status
    }

    /// libfuse's handle, for the signal thread to end the loop with, while the loop may run.
    /// Unchecked: the handle is a raw C pointer; the lock keeps its use before `fuse_destroy`.
    private final class LoopHandle: @unchecked Sendable {
        private let fuse: OpaquePointer
        private let over = Mutex(false)

        init(fuse: OpaquePointer) { self.fuse = fuse }

        /// Ends the loop, unless it is over (the daemon may still be finishing, the handle gone).
        func end() { over.withLock { if !$0 { sm_end_loop(fuse) } } }

        func close() { over.withLock { $0 = true } }
    }

    /// SIGTERM, SIGINT or SIGHUP: drain (files being written are finished, or aborted after the
    /// grace period), then end the loop; a second signal ends the wait at once.
    private static func startShutdownWatcher(_ filesystem: MountTree, loop: LoopHandle, grace: Double?) {
        let watcher = Thread {
            var draining = false
            while true {
                let signal = sm_wait_shutdown_signal()
                guard signal > 0 else { return }
                if draining {
                    filesystem.endDrainNow()
                    continue
                }
                draining = true
                filesystem.logger.notice("signal \(signal): unmounting")
                Thread {
                    filesystem.drain(grace: grace)
                    loop.end()
                }.start()
            }
        }
        watcher.name = "shutdown"
        watcher.start()
    }

    final class Bridge {
        let tree: MountTree
        init(_ tree: MountTree) { self.tree = tree }
    }

    static var tree: MountTree {
        Unmanaged<Bridge>.fromOpaque(sm_fuse_private_data()!).takeUnretainedValue().tree
    }

    /// Open directories (opendir's handles) and the last handle given out.
    static let directories = Mutex<(next: UInt64, open: [UInt64: DirectoryStream])>((0, [:]))

    /// Runs an operation, mapping any error to -errno.
    static func perform(_ body: () throws -> Int32) -> Int32 {
        do { return try body() } catch { return -FSError.from(error).errno }
    }

    /// Swift object names are UTF-8: other bytes are refused (EINVAL) rather than mangled. libfuse
    /// passes no path for an open file that was unlinked (hard_remove): only its handle names it.
    static func path(_ p: UnsafePointer<CChar>?) throws -> String {
        guard let p else { throw FSError(ENOENT, "the file was unlinked") }
        guard let text = String(validatingCString: p) else {
            tree.logger.warning("refused a name that is not valid UTF-8")
            throw FSError(EINVAL, "name is not valid UTF-8")
        }
        return text
    }

    /// chmod, chown, utimens, setxattr, removexattr; the account's root has no metadata.
    static func changeMetadata(_ p: UnsafePointer<CChar>?, _ change: MetadataChange) throws {
        try tree.route(path(p), atRoot: { throw FSError(EPERM, "the account root has no metadata") }) { try $0.changeMetadata($1, change) }
    }

    /// The getxattr/listxattr convention: the length when `size` is 0, ERANGE when it is too small.
    static func copyOut(_ bytes: [UInt8], to buffer: UnsafeMutablePointer<CChar>?, size: Int) -> Int32 {
        if size == 0 { return Int32(bytes.count) }
        guard bytes.count <= size, let buffer else { return -ERANGE }
        bytes.withUnsafeBytes { if let base = $0.baseAddress { memcpy(buffer, base, bytes.count) } }
        return Int32(bytes.count)
    }

    /// The calling process: libfuse reports the calling thread's id, and a file opened on one
    /// thread may be closed on another (Go, Java, thread pools).
    static func callerProcess() -> Int32 {
        let tid = sm_fuse_caller_pid()
        guard let status = try? String(contentsOfFile: "/proc/\(tid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Tgid:") }),
              let tgid = Int32(line.dropFirst(5).trimmingCharacters(in: .whitespaces)) else { return tid }
        return tgid
    }

    static func creator(_ mode: mode_t, rdev: dev_t = 0) -> Creator {
        Creator(mode: UInt32(mode), uid: sm_fuse_caller_uid(), gid: sm_fuse_caller_gid(), rdev: UInt32(truncatingIfNeeded: rdev))
    }

    static func fill(_ st: UnsafeMutablePointer<stat>, _ a: FileAttributes) {
        memset(st, 0, MemoryLayout<stat>.size)
        let options = tree.options
        switch a.kind {
        case .directory:
            st.pointee.st_mode = S_IFDIR | (a.mode ?? options.dirMode)
            st.pointee.st_nlink = 2
        case .file:
            st.pointee.st_mode = S_IFREG | (a.mode ?? options.fileMode)
            st.pointee.st_nlink = 1
        case .symlink:
            st.pointee.st_mode = S_IFLNK | 0o777
            st.pointee.st_nlink = 1
        case .special(let type):
            st.pointee.st_mode = type | (a.mode ?? options.fileMode)
            st.pointee.st_nlink = 1
            st.pointee.st_rdev = dev_t(a.rdev ?? 0)
        }
        st.pointee.st_size = a.size
        st.pointee.st_blocks = (a.size + 511) / 512
        // cp writes in st_blksize units: 1 MiB makes for 1 MiB FUSE writes instead of 128 KiB.
        st.pointee.st_blksize = 1 << 20
        st.pointee.st_uid = a.uid ?? options.uid
        st.pointee.st_gid = a.gid ?? options.gid
        // Swift keeps no atime: it reads as the mtime.
        st.pointee.st_mtim = timespec(tv_sec: a.mtime.seconds, tv_nsec: a.mtime.nanoseconds)
        st.pointee.st_atim = st.pointee.st_mtim
        st.pointee.st_ctim = timespec(tv_sec: a.ctime.seconds, tv_nsec: a.ctime.nanoseconds)
    }

    static func makeOperations() -> fuse_operations {
        var ops = fuse_operations()
        ops.`init` = { conn, cfg in
            if let conn { sm_fuse_conn_tune(conn, 1 << 20, 1 << 20) }
            if let cfg {
                let timeout = FuseMount.tree.options.attrTimeout
                sm_fuse_config_tune(cfg, timeout, timeout)
            }
            // The return value becomes private_data: keep the bridge.
            return sm_fuse_private_data()
        }
        ops.getattr = { p, st, fi in
            FuseMount.perform {
                let attributes = try FuseMount.tree.getattr(p == nil && fi != nil ? nil : FuseMount.path(p), handle: fi?.pointee.fh)
                if let st { FuseMount.fill(st, attributes) }
                return 0
            }
        }
        ops.opendir = { p, fi in
            FuseMount.perform {
                guard let fi else { return -EINVAL }
                let stream = try FuseMount.tree.readdir(FuseMount.path(p))
                fi.pointee.fh = FuseMount.directories.withLock { table in
                    table.next += 1
                    table.open[table.next] = stream
                    return table.next
                }
                return 0
            }
        }
        // Offsets mode of libfuse's readdir: each call fills the kernel's buffer from `offset` (an
        // entry's number, "." and ".." being 0 and 1), so a directory is listed page by page.
        ops.readdir = { _, buf, filler, offset, fi, _ in
            guard let filler, let fi, let stream = FuseMount.directories.withLock({ $0.open[fi.pointee.fh] }) else { return -EBADF }
            var next = Int(offset)
            // Offset 0 is a new read of the directory (opendir, rewinddir): it lists afresh.
            if next == 0 { stream.restart() }
            while next < 2 {
                if filler(buf, next == 0 ? "." : "..", nil, off_t(next + 1), fuse_fill_dir_flags(0)) != 0 { return 0 }
                next += 1
            }
            var st = stat()
            let first = next
            while true {
                let entries: ArraySlice<DirectoryEntry>
                do {
                    entries = try stream.entries(from: next - 2)
                } catch {
                    // What was filled goes to the kernel; it asks again from here and gets the error.
                    return next > first ? 0 : -FSError.from(error).errno
                }
                if entries.isEmpty { return 0 }
                for entry in entries {
                    FuseMount.fill(&st, entry.attributes)
                    // Exact attributes go to the kernel with the name (readdirplus), so ls -l
                    // does not ask getattr for each; others it must ask for.
                    let flags = entry.exact ? FUSE_FILL_DIR_PLUS : fuse_fill_dir_flags(0)
                    if filler(buf, entry.name, &st, off_t(next + 1), flags) != 0 { return 0 }
                    next += 1
                }
            }
        }
        ops.releasedir = { _, fi in
            guard let fi else { return 0 }
            // The stream is gone before its memory is handed back.
            let names = FuseMount.directories.withLock { $0.open.removeValue(forKey: fi.pointee.fh) }?.namesListed ?? 0
            FreedPages.releaseAfterReading(names: names)
            return 0
        }
        ops.mkdir = { p, mode in
            FuseMount.perform { try FuseMount.tree.mkdir(FuseMount.path(p), creator: FuseMount.creator(mode)); return 0 }
        }
        // mknod(2), mkfifo(3), bind(2) of a socket: a zero-byte object whose mode keeps its type
        // (and rdev for a device), stored as a new empty file is, before mknod returns.
        ops.mknod = { p, mode, rdev in
            FuseMount.perform {
                let path = try FuseMount.path(p)
                let caller = FuseMount.callerProcess()
                try FuseMount.tree.file(path) { fs, inner in
                    let handle = try fs.create(inner, creator: FuseMount.creator(mode, rdev: rdev), caller: caller)
                    defer { fs.release(handle: handle) }
                    try fs.flush(handle: handle, caller: caller)
                }
                return 0
            }
        }
        ops.rmdir = { p in FuseMount.perform { try FuseMount.tree.rmdir(FuseMount.path(p)); return 0 } }
        ops.rename = { from, to, flags in
            FuseMount.perform {
                // RENAME_EXCHANGE cannot be done atomically on Swift.
                if flags & UInt32(SM_RENAME_EXCHANGE) != 0 { return -EINVAL }
                try FuseMount.tree.rename(FuseMount.path(from), to: FuseMount.path(to),
                                          noReplace: flags & UInt32(SM_RENAME_NOREPLACE) != 0)
                return 0
            }
        }
        ops.unlink = { p in FuseMount.perform { try FuseMount.tree.file(FuseMount.path(p)) { try $0.unlink($1) }; return 0 } }
        // Swift has no hard links.
        ops.link = { _, _ in -EPERM }
        ops.create = { p, mode, fi in
            FuseMount.perform {
                let creator = FuseMount.creator(mode), caller = FuseMount.callerProcess()
                let handle = try FuseMount.tree.file(FuseMount.path(p)) { try $0.create($1, creator: creator, caller: caller) }
                fi?.pointee.fh = handle
                return 0
            }
        }
        ops.open = { p, fi in
            FuseMount.perform {
                guard let fi else { return -EINVAL }
                let mode = OpenMode(flags: fi.pointee.flags), caller = FuseMount.callerProcess()
                fi.pointee.fh = try FuseMount.tree.file(FuseMount.path(p)) { try $0.open($1, mode: mode, caller: caller) }
                return 0
            }
        }
        ops.read = { _, buf, size, offset, fi in
            FuseMount.perform {
                guard let fi, let buf else { return -EINVAL }
                let pieces = try FuseMount.tree.owner(of: fi.pointee.fh).read(handle: fi.pointee.fh, offset: Int(offset), count: size)
                var copied = 0
                for piece in pieces {
                    piece.withUnsafeBytes { src in
                        if let base = src.baseAddress { memcpy(buf + copied, base, src.count) }
                    }
                    copied += piece.count
                }
                return Int32(copied)
            }
        }
        ops.write = { _, buf, size, offset, fi in
            FuseMount.perform {
                guard let fi, let buf else { return -EINVAL }
                let data = [UInt8](UnsafeRawBufferPointer(start: buf, count: size))
                try FuseMount.tree.owner(of: fi.pointee.fh).write(handle: fi.pointee.fh, offset: Int(offset), data: data)
                return Int32(size)
            }
        }
        ops.flush = { _, fi in
            FuseMount.perform {
                guard let fi else { return -EINVAL }
                try FuseMount.tree.owner(of: fi.pointee.fh).flush(handle: fi.pointee.fh, caller: FuseMount.callerProcess())
                return 0
            }
        }
        ops.fsync = { _, _, fi in
            FuseMount.perform {
                guard let fi else { return -EINVAL }
                try FuseMount.tree.owner(of: fi.pointee.fh).fsync(handle: fi.pointee.fh)
                return 0
            }
        }
        ops.release = { _, fi in
            if let fi { (try? FuseMount.tree.owner(of: fi.pointee.fh))?.release(handle: fi.pointee.fh) }
            return 0
        }
        ops.truncate = { p, size, fi in
            FuseMount.perform {
                let handle = fi?.pointee.fh
                // An open file (ftruncate) is its handle's, whatever the path says.
                if let (fs, inner) = FuseMount.tree.owner(of: handle, path: p == nil ? nil : try FuseMount.path(p)) {
                    try fs.truncate(inner, size: Int(size), handle: handle)
                } else {
                    try FuseMount.tree.file(FuseMount.path(p)) { try $0.truncate($1, size: Int(size), handle: nil) }
                }
                return 0
            }
        }
        // Size 0 asks how much room the answer needs.
        ops.getxattr = { p, name, value, size in
            FuseMount.perform {
                guard let name else { return -EINVAL }
                let attribute = String(cString: name)
                let found = try FuseMount.tree.route(FuseMount.path(p), atRoot: { throw ObjectMetadata.noAttribute(attribute) }) {
                    try $0.extendedAttribute($1, name: attribute)
                }
                return FuseMount.copyOut(found, to: value, size: size)
            }
        }
        ops.listxattr = { p, list, size in
            FuseMount.perform {
                let names: [UInt8] = try FuseMount.tree.route(FuseMount.path(p), atRoot: { [] }) {
                    try $0.extendedAttributeNames($1)
                }.flatMap { Array($0.utf8) + [0] }
                return FuseMount.copyOut(names, to: list, size: size)
            }
        }
        ops.setxattr = { p, name, value, size, flags in
            FuseMount.perform {
                guard let name else { return -EINVAL }
                let bytes = value.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
                try FuseMount.changeMetadata(p, .setAttribute(
                    name: String(cString: name), value: bytes,
                    createOnly: flags & Int32(SM_XATTR_CREATE) != 0, replaceOnly: flags & Int32(SM_XATTR_REPLACE) != 0))
                return 0
            }
        }
        ops.removexattr = { p, name in
            FuseMount.perform {
                guard let name else { return -EINVAL }
                try FuseMount.changeMetadata(p, .removeAttribute(name: String(cString: name)))
                return 0
            }
        }
        // fchmod, fchown and futimens of an unlinked open file (no path): its changes go with it.
        ops.chmod = { p, mode, _ in
            guard p != nil else { return 0 }
            return FuseMount.perform { try FuseMount.changeMetadata(p, .mode(UInt32(mode))); return 0 }
        }
        // (uid_t)-1 leaves that id as it is.
        ops.chown = { p, uid, gid, _ in
            guard p != nil else { return 0 }
            return FuseMount.perform {
                try FuseMount.changeMetadata(p, .owner(uid: uid == UInt32.max ? nil : uid,
                                                                          gid: gid == UInt32.max ? nil : gid))
                return 0
            }
        }
        // Only the mtime is stored (Swift has no atime); UTIME_OMIT of both changes nothing.
        ops.utimens = { p, times, _ in
            guard p != nil else { return 0 }
            return FuseMount.perform {
                var mtime: FileTime? = .now
                if let times {
                    let ts = times[1]
                    if ts.tv_nsec == Int(SM_UTIME_OMIT) {
                        if times[0].tv_nsec == Int(SM_UTIME_OMIT) { return 0 }
                        mtime = nil
                    } else if ts.tv_nsec != Int(SM_UTIME_NOW) {
                        mtime = FileTime(seconds: ts.tv_sec, nanoseconds: ts.tv_nsec)
                    }
                }
                try FuseMount.changeMetadata(p, .mtime(mtime))
                return 0
            }
        }
        ops.symlink = { target, p in
            FuseMount.perform {
                guard let target else { return -EINVAL }
                let text = String(cString: target), creator = FuseMount.creator(0o777)
                try FuseMount.tree.file(FuseMount.path(p)) { try $0.symlink(text, at: $1, creator: creator) }
                return 0
            }
        }
        // readlink(2) gets the text cut to the buffer, NUL-terminated (libfuse's convention).
        ops.readlink = { p, buffer, size in
            FuseMount.perform {
                guard let buffer, size > 0 else { return -EINVAL }
                let bytes = Array(try FuseMount.tree.file(FuseMount.path(p)) { try $0.readlink($1) }.utf8.prefix(size - 1)) + [0]
                bytes.withUnsafeBytes { if let base = $0.baseAddress { memcpy(buffer, base, bytes.count) } }
                return 0
            }
        }
        ops.statfs = { _, sv in
            guard let sv else { return -EINVAL }
            let s = FuseMount.tree.statfs()
            memset(sv, 0, MemoryLayout<statvfs>.size)
            sv.pointee.f_bsize = UInt(s.blockSize)
            sv.pointee.f_frsize = UInt(s.blockSize)
            sv.pointee.f_blocks = fsblkcnt_t(s.totalBlocks)
            sv.pointee.f_bfree = fsblkcnt_t(s.freeBlocks)
            sv.pointee.f_bavail = fsblkcnt_t(s.freeBlocks)
            sv.pointee.f_files = fsfilcnt_t(s.files)
            sv.pointee.f_ffree = fsfilcnt_t(s.files)
            sv.pointee.f_namemax = UInt(s.maxNameLength)
            return 0
        }
        return ops
    }
}

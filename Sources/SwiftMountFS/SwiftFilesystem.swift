import Foundation
import Glibc
import Logging
import SwiftStorage

/// Open flags the filesystem cares about, decoded from open(2)'s flags by the FUSE layer.
public struct OpenMode: Sendable {
    public var write: Bool
    public var truncate: Bool

    public init(flags: Int32) {
        write = flags & O_ACCMODE != O_RDONLY
        truncate = flags & O_TRUNC != 0
    }
}

public struct FilesystemStats: Sendable {
    public var blockSize: Int
    public var totalBlocks: Int
    public var freeBlocks: Int
    public var files: Int
    public var maxNameLength: Int
}

/// The filesystem in plain Swift types: one container as a directory tree. The FUSE adapter calls
/// these from libfuse's threads; each call may block on the network.
/// Unchecked: its handle and writer tables sit behind `lock` (NSLock); the façade split (issue 15) is where they move to Mutex.
public final class SwiftFilesystem: MountedFilesystem, @unchecked Sendable {
    public let container: String
    public let options: MountOptions
    /// Pools and caps, shared by every container of an account mount.
    let resources: MountResources
    /// Where the mount is, as the kernel spells it (an absolute path without symlinks).
    public var mountpoint = ""
    let client: SwiftClient
    public let logger: Logger
    private let namespace: Namespace
    private let uploads: UploadContext
    private let reads: ReadContext
    private let transfers = TransferRegistry()
    private let maxObjectNameLength: Int
    private let cluster: ClusterInfo
    private let space: AccountSpace
    private let started = Date()

    private enum OpenFile {
        case reader(FileReader)
        case writer(FileWriter)
    }

    private let lock = NSLock()
    private var handles: [UInt64: OpenFile] = [:]
    private var nextHandle: UInt64 = 1
    /// Files being written, so getattr and readdir show them before they reach Swift.
    private var writers: [ObjectPath: FileWriter] = [:]
    /// Set when the mount is shutting down: no new file is opened for writing.
    private var draining = false
    private var drainDeadline: Date?

    /// `resources`: the mount's shared pools and caps (account mode passes one set to every
    /// container); a container mount makes its own.
    public init(client: SwiftClient, container: String, options: MountOptions, cluster: ClusterInfo = ClusterInfo(),
                resources: MountResources? = nil, logger: Logger) {
        let resources = resources ?? MountResources(options: options)
        self.client = client
        self.container = container
        self.options = options
        self.logger = logger
        maxObjectNameLength = cluster.maxObjectNameLength
        self.cluster = cluster
        space = AccountSpace(client: client)
        self.resources = resources
        namespace = Namespace(client: client, container: container, options: options, statPool: resources.statPool, logger: logger)
        uploads = UploadContext(client: client, container: container, options: options, cluster: cluster,
                                resources: resources, transfers: transfers, logger: logger)
        reads = ReadContext(client: client, container: container, options: options, resources: resources,
                            transfers: transfers, logger: logger)
    }

    // MARK: - Attributes and directories

    /// `handle` is set when the kernel asks about an open file (fstat, or revalidating before a
    /// read): the open handle answers without the network, so a server outage does not fail reads.
    public func getattr(_ path: String, handle: UInt64? = nil) throws -> FileAttributes {
        let p = try objectPath(path)
        if let writer = writer(for: p) { return writer.attributes }
        switch handle.flatMap({ try? file($0) }) {
        case .reader(let reader)?: return reader.attributes
        case .writer(let writer)?: return writer.attributes  // also once unlinked
        case nil: break
        }
        return try lookup(p)
    }

    /// The namespace's answer, or a directory that holds only files still being written (an
    /// implicit directory whose last stored object went away meanwhile).
    private func lookup(_ p: ObjectPath) throws -> FileAttributes {
        do {
            return try namespace.lookup(p)
        } catch let error as FSError where error.errno == ENOENT && writerAt(orUnder: p) != nil {
            return FileAttributes(kind: .directory, size: 0, mtime: .now)
        }
    }

    public func readdir(_ path: String) throws -> DirectoryStream {
        let p = ObjectPath(path)
        guard try lookup(p).kind == .directory else { throw FSError(ENOTDIR) }
        let pending: @Sendable () -> [DirectoryEntry] = { [self] in pendingEntries(in: p) }
        guard (try? namespace.lookup(p)) != nil else { return DirectoryStream(pending: pending) { _ in ([], nil) } }
        return DirectoryStream(pending: pending, page: namespace.pages(of: p))
    }

    /// Files being written in `p`, which Swift does not list yet or lists with a size they have
    /// left behind, and directories only they fill; and files the mount stored lately, which a
    /// listing may not show yet.
    private func pendingEntries(in p: ObjectPath) -> [DirectoryEntry] {
        lock.lock()
        let pending = writers.values.filter { $0.path.key.hasPrefix(p.directoryPrefix) }
        lock.unlock()
        var trailing: [DirectoryEntry] = []
        var names = Set<String>()
        for writer in pending {
            let rest = writer.path.key.dropFirst(p.directoryPrefix.count)
            guard let name = rest.split(separator: "/").first.map(String.init), names.insert(name).inserted else { continue }
            let attributes = writer.path.parent == p ? writer.attributes : FileAttributes(kind: .directory, size: 0, mtime: .now)
            trailing.append(DirectoryEntry(name: name, attributes: attributes))
        }
        return trailing + namespace.recentWrites(in: p).filter { names.insert($0.name).inserted }
    }

    /// A new object's metadata: its mode and owner where they differ from the mount's defaults
    /// (so most objects look the same to other Swift clients), and its mtime and ctime to the
    /// nanosecond (Swift's Last-Modified is whole seconds, rounded up: an mtime that later moved
    /// would make rsync and make see a change).
    private func metadata(for creator: Creator, directory: Bool) -> [String: String] {
        let now = uploads.now.text
        var metadata = [ObjectMetadata.mtimeKey: now, ObjectMetadata.ctimeKey: now]
        let mode = creator.mode & 0o7777
        if let type = ObjectMetadata.specialType(creator.mode) {
            // A FIFO, socket or device (mknod): its type is kept in its mode.
            metadata[ObjectMetadata.modeKey] = String(type | mode, radix: 8)
            if type == UInt32(S_IFCHR) || type == UInt32(S_IFBLK) { metadata[ObjectMetadata.rdevKey] = String(creator.rdev) }
        } else if mode != (directory ? options.dirMode : options.fileMode) {
            metadata[ObjectMetadata.modeKey] = String(mode, radix: 8)
        }
        if creator.uid != options.uid { metadata[ObjectMetadata.uidKey] = String(creator.uid) }
        if creator.gid != options.gid { metadata[ObjectMetadata.gidKey] = String(creator.gid) }
        return metadata
    }

    public func mkdir(_ path: String, creator: Creator) throws {
        let p = try objectPath(path)
        if writerAt(orUnder: p) != nil { throw FSError(EEXIST) }
        try namespace.makeDirectory(p, metadata: metadata(for: creator, directory: true))
    }

    public func rmdir(_ path: String) throws {
        let p = ObjectPath(path)
        guard try lookup(p).kind == .directory else { throw FSError(ENOTDIR) }
        // A file being written is in the directory before Swift has it.
        if writerAt(orUnder: p) != nil { throw FSError(ENOTEMPTY) }
        try namespace.removeDirectory(p)
    }

    /// unlink(2). A file being written loses its name at once and its writer finishes into the
    /// void, as on a local filesystem: nothing is stored, its segments are deleted. A large
    /// object's manifest goes first, then its segments, unless another manifest still uses them.
    public func unlink(_ path: String) throws {
        let p = ObjectPath(path)
        // A file being written stores nothing from now on; if the unlink fails it goes on as before.
        let writer = detachWriter(p)
        writer?.seal()
        let manifest: LargeObjectManifest?
        do {
            manifest = try deleteStored(p, writerGone: writer != nil)
        } catch {
            if let writer {
                writer.unseal()
                reattach(writer)
            }
            throw error
        }
        writer?.discard()
        if let manifest { reclaim(manifest, of: p) }
    }

    /// Deletes the object stored at `p` (a large object's manifest alone) and returns that
    /// manifest; nothing stored is fine when a writer of the name was there.
    private func deleteStored(_ p: ObjectPath, writerGone: Bool) throws -> LargeObjectManifest? {
        namespace.forget(p)
        guard let info = try client.head(container: container, object: p.key) else {
            if writerGone { return nil }
            throw FSError(ENOENT)
        }
        if namespace.attributes(p, info).kind == .directory { throw FSError(EISDIR) }
        let manifest = try client.manifest(container: container, object: p.key, info: info)
        try client.delete(container: container, object: p.key)
        namespace.removed(p, etag: info.etag)
        return manifest
    }

    /// Deletes a removed large object's segments, unless another manifest uses them. Best effort:
    /// the object is gone either way, and `swiftmount gc` finds what is left.
    private func reclaim(_ manifest: LargeObjectManifest, of p: ObjectPath) {
        do {
            try client.reclaimSegments(of: manifest, manifestContainer: container, bulkLimit: uploads.bulkDeleteLimit)
        } catch {
            logger.warning("\(p): could not delete its segments: \(error); `swiftmount gc` finds them")
        }
    }

    /// rename(2). A file is copied server-side (a large object's manifest only, never its data)
    /// and the source deleted; a replaced large object's segments are deleted afterwards unless
    /// another manifest still uses them. A directory moves every object under it, up to
    /// `rename_dir_limit` objects (EXDEV beyond, which makes mv fall back to copying), onto
    /// nothing or an empty directory (ENOTEMPTY otherwise). Files being written do not move:
    /// a rename of one, or of a directory holding one, is EBUSY and changes nothing.
    public func rename(_ from: String, to: String, noReplace: Bool) throws {
        let source = ObjectPath(from), target = try objectPath(to)
        guard !source.isRoot, !target.isRoot else { throw FSError(EBUSY) }
        if source == target { return }
        if let busy = writerAt(orUnder: source) ?? writerAt(orUnder: target) {
            throw FSError(EBUSY, "\(busy) is being written")
        }
        let attributes = try namespace.lookup(source)
        let existing = try namespace.lookupIfPresent(target)
        if noReplace, existing != nil { throw FSError(EEXIST) }
        if attributes.kind == .directory {
            if let existing {
                guard existing.kind == .directory else { throw FSError(ENOTDIR) }
                guard try namespace.isEmptyDirectory(target) else { throw FSError(ENOTEMPTY) }
            }
            if target.key.hasPrefix(source.directoryPrefix) { throw FSError(EINVAL) }
            // Also after a failure halfway: some objects may have moved.
            defer {
                namespace.forget(source)
                namespace.forget(target)
            }
            try renameDirectory(source, to: target)
        } else {
            if existing?.kind == .directory { throw FSError(EISDIR) }
            if attributes.kind == .symlink {
                try renameSymlink(source, to: target)
            } else {
                try renameObject(source.key, to: target.key, shownMtime: attributes.mtime)
            }
        }
    }

    /// `shownMtime`: what stat showed, kept if the object stores no mtime of its own.
    private func renameObject(_ from: String, to: String, shownMtime: FileTime?) throws {
        guard let info = try client.head(container: container, object: from) else { throw FSError(ENOENT) }
        let replaced = try ReplacedObject.find(path: ObjectPath(to), context: uploads)
        let isManifest = info.isStaticLargeObject || info.dynamicManifest != nil
        // A rename changes the ctime. The copy gets exactly the metadata its Content-Type
        // describes (X-Fresh-Metadata), even if another client changed the source meanwhile.
        var metadata = info.metadata
        ObjectMetadata.keep(shownMtime: shownMtime, in: &metadata, limits: cluster.metadataLimits)
        ObjectMetadata.stamp(ctime: uploads.now, in: &metadata, limits: cluster.metadataLimits)
        try client.copy(container: container, from: from, to: to, manifestOnly: isManifest,
                        headers: SwiftClient.metadataHeaders(metadata) + info.keptHeaders + [
                            ("X-Fresh-Metadata", "true"),
                            ("Content-Type", ListedAttributes.contentType(for: info, metadata: metadata))])
        // (A directory's marker, name/, is not a file: the directory rename forgets both paths.)
        let isMarker = from.hasSuffix("/")
        if !isMarker {
            var copied = info
            copied.metadata = metadata
            namespace.remember(ObjectPath(to), namespace.attributes(ObjectPath(to), copied), metadata: metadata)
        }
        try client.delete(container: container, object: from)
        if !isMarker { namespace.removed(ObjectPath(from), etag: info.etag) }
        replaced.deleteOldSegments(keeping: nil, context: uploads)
    }

    /// A symlink is made again at its new place: a relative target means something else there,
    /// and a server-side copy of a symlink would copy what it points to.
    private func renameSymlink(_ from: ObjectPath, to: ObjectPath) throws {
        let text = try namespace.linkTarget(from)
        var metadata = try namespace.metadata(from)
        metadata[ObjectMetadata.symlinkKey] = ObjectMetadata.encode(value: Array(text.utf8))
        ObjectMetadata.keep(shownMtime: try namespace.lookup(from).mtime, in: &metadata, limits: cluster.metadataLimits)
        ObjectMetadata.stamp(ctime: uploads.now, in: &metadata, limits: cluster.metadataLimits)
        try storeSymlink(to, text: text, metadata: metadata)
        try client.delete(container: container, object: from.key)
        namespace.removed(from, etag: nil)
    }

    private func renameDirectory(_ from: ObjectPath, to: ObjectPath) throws {
        let objects = try client.listAll(container: container, prefix: from.directoryPrefix, delimiter: nil)
        guard objects.count <= options.renameDirLimit else {
            logger.warning("rename of \(from) refused: \(objects.count) objects, rename_dir_limit is \(options.renameDirLimit)")
            throw FSError(EXDEV)
        }
        for case .object(let object) in objects {
            let destination = to.directoryPrefix + object.name.dropFirst(from.directoryPrefix.count)
            if Namespace.kind(contentType: object.contentType, size: object.bytes, symlink: object.symlinkPath != nil) == .symlink {
                try renameSymlink(ObjectPath(object.name), to: ObjectPath(destination))
            } else {
                try renameObject(object.name, to: destination, shownMtime: object.lastModified.map(FileTime.init))
            }
        }
    }

    public func statfs() -> FilesystemStats {
        space.statfs()
    }

    /// A mount path as an object name, or ENAMETOOLONG past the cluster's limit.
    private func objectPath(_ path: String) throws -> ObjectPath {
        let p = ObjectPath(path)
        if p.key.utf8.count > maxObjectNameLength {
            throw FSError(ENAMETOOLONG, "\(path): \(p.key.utf8.count) bytes, Swift allows \(maxObjectNameLength)")
        }
        return p
    }

    // MARK: - Status

    /// The daemon's state for `swiftmount status`; `auth` comes from the command, which knows
    /// how the mount authenticates.
    public func status(mountpoint: String, auth: AuthStatus) -> MountStatus {
        let (active, recent) = transfers.snapshot
        let cache = namespace.statistics
        lock.lock()
        let state = draining ? "shutting down" : "serving"
        lock.unlock()
        return MountStatus(
            mountpoint: mountpoint, container: container, pid: getpid(), startedAt: started.timeIntervalSince1970,
            state: state, auth: auth,
            requests: RequestStatus(client.counters.snapshot),
            memory: resources.memory,
            cachedAttributes: cache.entries, attributeCacheHits: cache.hits, attributeCacheMisses: cache.misses,
            segmentUploadSeconds: uploads.segmentLatency.snapshot, transfers: active, recentTransfers: recent,
            activeUploads: uploads.live.all)
    }

    /// Read-only extended attributes of a file uploaded through this mount (while it is written
    /// and for a while after): `user.swiftmount.upload_state` (writing, storing, stored, failed),
    /// `user.swiftmount.bytes_uploaded` (acknowledged by Swift), `user.swiftmount.bytes_written`.
    func uploadAttributes(_ path: String) -> [(name: String, value: String)] {
        guard let upload = transfers.latestUpload(of: ObjectPath(path).description) else { return [] }
        return [("user.swiftmount.upload_state", upload.state.rawValue),
                ("user.swiftmount.bytes_uploaded", String(upload.bytesDone)),
                ("user.swiftmount.bytes_written", String(upload.bytesTotal))]
    }

    // MARK: - Shutdown

    /// Stops opening files for writing and waits until every file being written is closed (its
    /// close stores it), for at most `grace` seconds (nil: as long as it takes); files still being
    /// written then are aborted: never stored, their segments deleted. Readers go on meanwhile,
    /// and get until the grace period ends (without one, `readerGrace` seconds once no file is
    /// being written), so an idle `less` does not hold the shutdown forever.
    public func drain(grace: Double?) {
        lock.lock()
        draining = true
        drainDeadline = grace.map { Date().addingTimeInterval($0) }
        let open = handles.count
        lock.unlock()
        if open > 0 {
            logger.notice("shutting down: waiting for \(open) open file(s) (grace: \(grace.map { "\($0) s" } ?? "until written files are closed"))")
        }
        var readersUntil: Date?
        while true {
            lock.lock()
            let remaining = handles.count
            let writing = Array(writers.values)
            let expired = drainDeadline.map { Date() >= $0 } ?? false
            lock.unlock()
            if remaining == 0 { return }
            if expired {
                for writer in writing {
                    logger.warning("shutting down: upload of \(writer.path) aborted; nothing stored under its name")
                    writer.abort("the mount shut down before the file was closed")
                }
                return
            }
            if writing.isEmpty {
                let until = readersUntil ?? drainDeadline ?? Date().addingTimeInterval(Self.readerGrace)
                readersUntil = until
                if Date() >= until {
                    logger.notice("shutting down: \(remaining) file(s) still open for reading")
                    return
                }
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Seconds open readers get at shutdown once nothing is being written, without shutdown_grace.
    static let readerGrace: Double = 30

    /// A second signal while draining: stop waiting.
    public func endDrainNow() {
        lock.lock()
        drainDeadline = Date()
        lock.unlock()
    }

    // MARK: - Files

    /// `caller` is the process id of the opener: see `flush`.
    public func create(_ path: String, creator: Creator, caller: Int32) throws -> UInt64 {
        let p = try objectPath(path)
        guard !p.isRoot else { throw FSError(EISDIR) }
        return try register(writer: FileWriter(path: p, opener: caller, context: uploads, new: true,
                                               metadata: metadata(for: creator, directory: false)))
    }

    public func open(_ path: String, mode: OpenMode, caller: Int32) throws -> UInt64 {
        let p = ObjectPath(path)
        if mode.write && mode.truncate {
            if (try? namespace.lookup(p))?.kind == .directory { throw FSError(EISDIR) }
            return try register(writer: FileWriter(path: p, opener: caller, context: uploads))
        }
        // A fresh HEAD pins the version this handle reads (open-time consistency).
        guard let info = try client.head(container: container, object: p.key) else { throw FSError(ENOENT) }
        if namespace.attributes(p, info).kind == .directory { throw FSError(EISDIR) }
        if mode.write {
            // Staged on the first write: touch(1) or a chmod through an open descriptor costs no download.
            return try register(writer: FileWriter(path: p, opener: caller, context: uploads, existingSize: info.size,
                                                   metadata: info.metadata, contentType: info.contentType,
                                                   read: { [self] in reader(p, info) },
                                                   stage: { [self] in try stage(p, info: info, keeping: info.size) }))
        }
        let opened = reader(p, info)
        lock.lock()
        defer { lock.unlock() }
        let handle = nextHandle
        nextHandle += 1
        handles[handle] = .reader(opened)
        return handle
    }

    private func reader(_ p: ObjectPath, _ info: ObjectInfo) -> FileReader {
        FileReader(path: p, size: info.size, etag: info.etag, attributes: namespace.attributes(p, info), context: reads)
    }

    /// A local copy of the object's first `keeping` bytes (changing a file in place).
    private func stage(_ p: ObjectPath, info: ObjectInfo, keeping: Int) throws -> StagedFile {
        let count = min(keeping, info.size)
        let staged: StagedFile
        do {
            staged = try uploads.staging.create(expectedSize: count)
            var offset = 0
            while offset < count {
                let n = min(reads.maxWindow, count - offset)
                try staged.write(offset: offset, data: reads.fetch(object: p.key, etag: info.etag, range: offset..<(offset + n)))
                offset += n
            }
        } catch {
            let fsError = FSError.from(error)
            logger.error("\(p): cannot stage it for changing: \(fsError)")
            throw fsError
        }
        logger.debug("\(p): \(count) bytes staged for changing in place")
        return staged
    }

    private func register(writer: FileWriter) throws -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        if draining { throw FSError(EROFS, "\(writer.path): the mount is shutting down") }
        let handle = nextHandle
        nextHandle += 1
        handles[handle] = .writer(writer)
        writers[writer.path] = writer
        return handle
    }

    private func file(_ handle: UInt64) throws -> OpenFile {
        lock.lock()
        defer { lock.unlock() }
        guard let file = handles[handle] else { throw FSError(EBADF) }
        return file
    }

    private func writer(for path: ObjectPath) -> FileWriter? {
        lock.lock()
        defer { lock.unlock() }
        return writers[path]
    }

    /// A file being written at `path` or anywhere under it.
    private func writerAt(orUnder path: ObjectPath) -> ObjectPath? {
        lock.lock()
        defer { lock.unlock() }
        return writers.keys.first { $0 == path || $0.key.hasPrefix(path.directoryPrefix) }
    }

    /// Takes the writer of `path` out of the namespace (its handles stay open).
    private func detachWriter(_ path: ObjectPath) -> FileWriter? {
        lock.lock()
        defer { lock.unlock() }
        return writers.removeValue(forKey: path)
    }

    /// Puts back a writer an unlink that failed had taken out (unless the name has a new one).
    private func reattach(_ writer: FileWriter) {
        lock.lock()
        defer { lock.unlock() }
        if writers[writer.path] == nil, handles.values.contains(where: { if case .writer(let w) = $0 { w === writer } else { false } }) {
            writers[writer.path] = writer
        }
    }

    public func read(handle: UInt64, offset: Int, count: Int) throws -> [ArraySlice<UInt8>] {
        let reader: FileReader
        switch try file(handle) {
        case .writer(let writer):
            guard let original = writer.untouchedReader else { return [try writer.read(offset: offset, count: count)[...]] }
            reader = original
        case .reader(let r): reader = r
        }
        do {
            return try reader.read(offset: offset, count: count)
        } catch {
            let fsError = FSError.from(error)
            logger.error("read of \(reader.path) at \(offset) failed: \(fsError)")
            throw fsError
        }
    }

    public func write(handle: UInt64, offset: Int, data: [UInt8]) throws {
        guard case .writer(let writer) = try file(handle) else { throw FSError(EBADF) }
        do {
            try writer.write(offset: offset, data: data)
        } catch let error as FSError {
            if error.errno == EOPNOTSUPP { logger.warning("\(error)") }
            throw error
        }
    }

    /// close(2) lands here: the upload completes before close returns, and its result is close's.
    /// The close that leaves neither the closing process nor the opener with a descriptor on the
    /// file commits, whichever thread it comes from (`caller` is a process id). In `cmd > file`
    /// the shell opens, each child inherits the descriptor and closes it after its writes:
    /// committing on those would store the file over and over in tiny segments, and the shell's
    /// first close (of the descriptor it dup'ed to stdout) would show an empty object under the
    /// name before the data. Other closes leave the commit to a later close, or to release.
    public func flush(handle: UInt64, caller: Int32) throws {
        guard case .writer(let writer) = try file(handle), !process(caller, stillHolds: writer.path),
              caller == writer.opener || !process(writer.opener, stillHolds: writer.path) else { return }
        try commit(writer)
    }

    /// Stores what the writer has; when that stored something, the namespace learns it (a
    /// listing that lags behind the write must not hide or shrink the file).
    private func commit(_ writer: FileWriter) throws {
        if try writer.commit() { namespace.remember(writer.path, writer.storedAttributes, metadata: writer.storedMetadata) }
    }

    /// Whether a process has a descriptor open on `path` of this mount (after closing one).
    private func process(_ pid: Int32, stillHolds path: ObjectPath) -> Bool {
        guard !mountpoint.isEmpty else { return false }
        let target = mountpoint + path.description
        let directory = "/proc/\(pid)/fd"
        guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            // Gone: it holds nothing. There but unreadable (another user's): assume it still does.
            return FileManager.default.fileExists(atPath: "/proc/\(pid)")
        }
        return descriptors.prefix(4096).contains {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + $0)) == target
        }
    }

    /// fsync(2) on a file being written: what was written so far becomes an object (an interim
    /// manifest for a large file), and writing goes on.
    public func fsync(handle: UInt64) throws {
        guard case .writer(let writer) = try file(handle) else { return }
        try commit(writer)
    }

    public func release(handle: UInt64) {
        lock.lock()
        let file = handles.removeValue(forKey: handle)
        if case .writer(let writer) = file, writers[writer.path] === writer {
            writers[writer.path] = nil
        }
        lock.unlock()
        switch file {
        case .reader(let reader):
            reader.close()
        case .writer(let writer):
            // Normally flush already committed; this covers a writer closed without one.
            try? commit(writer)
            writer.close()
        case nil:
            break
        }
    }

    /// truncate(2): an open file's writer takes it; otherwise the kept bytes are staged, cut or
    /// extended with zeros, and stored again (old segments deleted after the swap).
    public func truncate(_ path: String, size: Int, handle: UInt64?) throws {
        let p = ObjectPath(path)
        if case .writer(let writer)? = handle.flatMap({ try? file($0) }) ?? self.writer(for: p).map(OpenFile.writer) {
            try writer.truncate(to: size)
            return
        }
        guard let info = try client.head(container: container, object: p.key) else { throw FSError(ENOENT) }
        if namespace.attributes(p, info).kind == .directory { throw FSError(EISDIR) }
        if size == info.size { return }
        let writer = FileWriter(path: p, opener: 0, context: uploads, staged: try stage(p, info: info, keeping: size),
                                metadata: info.metadata, contentType: info.contentType)
        defer { writer.close() }
        try writer.truncate(to: size)
        try commit(writer)
    }

    // MARK: - Metadata, symlinks and extended attributes

    /// chmod, chown, utimens, setxattr, removexattr: one POST with all of the object's metadata
    /// (Swift replaces it whole), read fresh first. A file open for writing stores the change
    /// with its content; a directory without a marker gets one; the root keeps its attributes in
    /// the container's metadata; a symlink is stored again (Swift answers a POST to a symlink
    /// with a redirect to its target).
    public func changeMetadata(_ path: String, _ change: MetadataChange) throws {
        let p = try objectPath(path)
        // One time for the change, whether the open file or the object takes it.
        let now = uploads.now
        if let writer = writer(for: p), try writer.change(change, at: now) { return }
        let limits = cluster.metadataLimits
        if p.isRoot {
            let old = try namespace.metadata(p)
            var metadata = old
            try change.apply(to: &metadata, limits: limits, now: now)
            try client.updateContainerMetadata(container, metadata, removing: old.keys.filter { metadata[$0] == nil })
            namespace.forget(p)
            return
        }
        let attributes = try namespace.lookup(p)
        let key = attributes.kind == .directory ? p.directoryMarker : p.key
        let info = try client.head(container: container, object: key)
        var metadata = info?.metadata ?? [:]
        try change.apply(to: &metadata, limits: limits, now: now)
        // After the change: its own items come first within Swift's limits.
        ObjectMetadata.keep(shownMtime: attributes.mtime, in: &metadata, limits: limits)
        switch (info, attributes.kind) {
        case (nil, .directory):
            try client.put(container: container, object: key, body: [],
                           headers: SwiftClient.metadataHeaders(metadata) + [("Content-Type", Namespace.directoryContentType)])
        case (nil, _):
            throw FSError(ENOENT)
        case (let info?, .symlink):
            try client.putSymlink(container: container, object: key, target: info.symlinkTarget, metadata: metadata)
        case (_?, .directory):
            // A marker keeps its plain type: other clients (rclone, swiftclient) know it by that.
            try client.setMetadata(container: container, object: key, metadata: metadata)
        case (let info?, _):
            guard try client.setMetadata(container: container, object: key, metadata: metadata, dynamicManifest: info.dynamicManifest,
                                         keeping: info.keptHeaders,
                                         contentType: ListedAttributes.contentType(for: info, metadata: metadata)) else {
                namespace.forget(p)
                throw FSError(ENOENT)
            }
        }
        writer(for: p)?.adopt(change, at: now)
        namespace.remember(p, FileAttributes(kind: attributes.kind, size: attributes.size, metadata: metadata,
                                             lastModified: info?.lastModified ?? Date(), linkTarget: attributes.linkTarget),
                           metadata: metadata)
    }

    /// symlink(2). Inside the mount, a Swift symlink (other Swift clients follow it) when the
    /// cluster has the middleware; a target outside the mount, or no middleware, makes a plain
    /// object typed `application/symlink`. Either way the exact text is kept for readlink.
    public func symlink(_ target: String, at path: String, creator: Creator) throws {
        let p = try objectPath(path)
        if (try? namespace.lookup(p)) != nil { throw FSError(EEXIST) }
        var metadata = metadata(for: creator, directory: false)
        metadata[ObjectMetadata.modeKey] = nil
        let encoded = ObjectMetadata.encode(value: Array(target.utf8))
        guard encoded.utf8.count <= cluster.metadataLimits.valueLength else {
            throw FSError(ENAMETOOLONG, "symlink target of \(p): Swift keeps \(cluster.metadataLimits.valueLength) bytes")
        }
        metadata[ObjectMetadata.symlinkKey] = encoded
        try storeSymlink(p, text: target, metadata: metadata)
    }

    private func storeSymlink(_ p: ObjectPath, text: String, metadata: [String: String]) throws {
        let inside = cluster.symlinks ? SymlinkTarget.resolve(text, from: p, mountpoint: mountpoint) : nil
        try client.putSymlink(container: container, object: p.key,
                              target: inside.map { SwiftClient.symlinkTarget(container: container, object: $0.key) },
                              metadata: metadata)
        namespace.remember(p, FileAttributes(kind: .symlink, size: text.utf8.count, metadata: metadata, lastModified: Date(),
                                             linkTarget: text), metadata: metadata)
    }

    public func readlink(_ path: String) throws -> String {
        try namespace.linkTarget(objectPath(path))
    }

    /// An extended attribute's value: the upload state (see `uploadAttributes`), or an
    /// `X-Object-Meta-*` item. Names outside `user.` have none (ENOTSUP, without a request).
    public func extendedAttribute(_ path: String, name: String) throws -> [UInt8] {
        if let state = uploadAttributes(path).first(where: { $0.name == name }) { return Array(state.value.utf8) }
        guard let key = ObjectMetadata.key(forAttribute: name), let value = try objectMetadata(path)[key] else {
            throw ObjectMetadata.noAttribute(name)
        }
        return ObjectMetadata.decode(value: value)
    }

    public func extendedAttributeNames(_ path: String) throws -> [String] {
        uploadAttributes(path).map(\.name) + (try objectMetadata(path)).keys.sorted().map(ObjectMetadata.attributeName(forKey:))
    }

    /// A file being written answers from its writer, anything else from the object.
    private func objectMetadata(_ path: String) throws -> [String: String] {
        let p = try objectPath(path)
        return try writer(for: p)?.currentMetadata ?? namespace.metadata(p)
    }
}

import Foundation
import Glibc
import Logging
import SwiftStorage
import Synchronization

/// Open flags the filesystem cares about, decoded from open(2)'s flags by the FUSE layer.
public struct OpenMode: Sendable {
    public var write: Bool
    public var truncate: Bool

    public init(flags: Int32) {
        write = flags & O_ACCMODE != O_RDONLY
        truncate = flags & O_TRUNC != 0
    }
}

/// Who creates a file or directory, as the kernel says.
public struct Creator: Sendable {
    /// Permission bits, and the file type for mknod(2) of a FIFO, socket or device.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// A device's number (mknod).
    public var rdev: UInt32

    public init(mode: UInt32, uid: UInt32, gid: UInt32, rdev: UInt32 = 0) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.rdev = rdev
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
/// these from libfuse's threads; each call may block on the network. This file holds reads of the
/// tree, status and shutdown; `FileOperations.swift` open files; `TreeChanges.swift` the changes
/// to names and metadata.
public final class SwiftFilesystem: Sendable {
    public let container: String
    public let options: MountOptions
    /// Pools and caps, shared by every container of an account mount.
    let resources: MountResources
    let client: SwiftClient
    public let logger: Logger
    let namespace: Namespace
    let uploads: UploadContext
    let reads: ReadContext
    let transfers = TransferRegistry()
    let files: OpenFiles
    private let maxObjectNameLength: Int
    let cluster: ClusterInfo
    private let started = Date()
    private let mountedAt = Mutex("")

    /// `resources`: the mount's shared pools and caps (account mode passes one set to every
    /// container); a container mount makes its own. `handleTag` marks this container's handles
    /// (see `OpenFiles`).
    public init(client: SwiftClient, container: String, options: MountOptions, cluster: ClusterInfo = ClusterInfo(),
                resources: MountResources? = nil, handleTag: UInt64 = 0, logger: Logger) {
        let resources = resources ?? MountResources(options: options, client: client, logger: logger)
        self.client = client
        self.container = container
        self.options = options
        self.logger = logger
        maxObjectNameLength = cluster.maxObjectNameLength
        self.cluster = cluster
        self.resources = resources
        files = OpenFiles(tag: handleTag)
        namespace = Namespace(client: client, container: container, options: options, statPool: resources.statPool, logger: logger)
        uploads = UploadContext(client: client, container: container, options: options, cluster: cluster,
                                resources: resources, transfers: transfers, logger: logger)
        reads = ReadContext(client: client, container: container, options: options, resources: resources,
                            transfers: transfers, logger: logger)
    }

    /// Where the mount is, as the kernel spells it (an absolute path without symlinks).
    public var mountpoint: String {
        get { mountedAt.withLock { $0 } }
        set { mountedAt.withLock { $0 = newValue } }
    }

    // MARK: - Attributes and directories

    /// `handle` is set when the kernel asks about an open file (fstat, or revalidating before a
    /// read): the open handle answers without the network, so a server outage does not fail reads.
    public func getattr(_ path: String, handle: UInt64? = nil) throws -> FileAttributes {
        let p = try objectPath(path)
        if let writer = files.writer(for: p) { return writer.attributes }
        switch handle.flatMap({ try? files.file($0) }) {
        case .reader(let reader)?: return reader.attributes
        case .writer(let writer)?: return writer.attributes  // also once unlinked
        case nil: break
        }
        return try lookup(p)
    }

    /// The namespace's answer, or a directory that holds only files still being written (an
    /// implicit directory whose last stored object went away meanwhile).
    func lookup(_ p: ObjectPath) throws -> FileAttributes {
        do {
            return try namespace.lookup(p)
        } catch let error as FSError where error.errno == ENOENT && files.writer(atOrUnder: p) != nil {
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
        let pending = files.writers(under: p.directoryPrefix)
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
    func metadata(for creator: Creator, directory: Bool) -> [String: String] {
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

    /// A mount path as an object name, or ENAMETOOLONG past the cluster's limit.
    func objectPath(_ path: String) throws -> ObjectPath {
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
        let state = files.isDraining ? "shutting down" : "serving"
        return MountStatus(
            mountpoint: mountpoint, container: container, pid: getpid(), startedAt: started.timeIntervalSince1970,
            state: state, auth: auth,
            requests: RequestStatus(client.counters.snapshot),
            memory: resources.memory,
            cachedAttributes: cache.entries, attributeCacheHits: cache.hits, attributeCacheMisses: cache.misses,
            segmentUploadSeconds: uploads.segmentLatency.snapshot, transfers: active, recentTransfers: recent,
            activeUploads: uploads.live.all, segmentReclaimsPending: resources.reclaimer.pending)
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
        beginDraining(until: grace.map { Date().addingTimeInterval($0) })
        waitDrained()
    }

    /// From now on no file is opened for writing (EROFS); files being written get until
    /// `deadline` (nil: until they are closed). An account mount begins this in every container
    /// before it waits for any.
    func beginDraining(until deadline: Date?) {
        let open = files.startDraining(until: deadline)
        if open > 0 {
            let until = deadline.map { "until \($0)" } ?? "until written files are closed"
            logger.notice("shutting down \(container): waiting for \(open) open file(s) (\(until))")
        }
    }

    /// See `drain`.
    func waitDrained() {
        var readersUntil: Date?
        while true {
            let (remaining, writing, drainDeadline, generation) = files.drainState
            let expired = drainDeadline.map { Date() >= $0 } ?? false
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
            // Readers' time counts only while nothing is being written.
            files.waitForChange(after: generation, until: [drainDeadline, writing.isEmpty ? readersUntil : nil].compactMap { $0 }.min())
        }
    }

    /// Seconds open readers get at shutdown once nothing is being written, without shutdown_grace.
    static let readerGrace: Double = 30

    /// A second signal while draining: stop waiting.
    public func endDrainNow() {
        files.endDrainNow()
        resources.reclaimer.endWait()
    }
}

import Foundation
import Glibc
import Logging
import SwiftStorage

/// A whole account as a directory: each container is a top-level directory served by its own
/// SwiftFilesystem (made on first use), `mkdir` at the top creates a container and `rmdir` of an
/// empty one deletes it. Objects cannot live outside a container, so files at the top are EPERM;
/// a rename between containers is EXDEV (mv copies then); containers cannot be renamed (EPERM).
/// Unchecked: its container and handle tables sit behind `lock` (NSLock).
public final class AccountFilesystem: MountedFilesystem, @unchecked Sendable {
    public let options: MountOptions
    public let logger: Logger
    private let client: SwiftClient
    private let cluster: ClusterInfo
    private let space: AccountSpace
    private let started = Date()
    /// One set of pools and caps for every container.
    private let resources: MountResources

    private let lock = NSLock()
    private var containers: [String: SwiftFilesystem] = [:]
    /// Container names from the last account listing, until when (an unknown name gets a HEAD).
    private var known: (names: Set<String>, expires: Date) = ([], .distantPast)
    /// Open handles: ours → (the container's filesystem, its handle).
    private var handles: [UInt64: (SwiftFilesystem, UInt64)] = [:]
    private var nextHandle: UInt64 = 1
    private var draining = false
    private var _mountpoint = ""

    public init(client: SwiftClient, options: MountOptions, cluster: ClusterInfo, logger: Logger) {
        self.client = client
        self.options = options
        self.cluster = cluster
        self.logger = logger
        space = AccountSpace(client: client)
        resources = MountResources(options: options)
    }

    public var mountpoint: String {
        get { lock.withLock { _mountpoint } }
        set {
            lock.withLock {
                _mountpoint = newValue
                for (name, fs) in containers { fs.mountpoint = newValue + "/" + name }
            }
        }
    }

    /// A path split into its container and the path inside it ("/" for the container itself).
    private func split(_ path: String) -> (container: String, inner: String)? {
        let trimmed = path.drop { $0 == "/" }
        guard !trimmed.isEmpty else { return nil }
        guard let slash = trimmed.firstIndex(of: "/") else { return (String(trimmed), "/") }
        return (String(trimmed[..<slash]), String(trimmed[slash...]))
    }

    /// The filesystem of an existing container, or ENOENT.
    private func container(_ name: String) throws -> SwiftFilesystem {
        if let fs = lock.withLock({ containers[name] }) { return fs }
        let listed = lock.withLock { known.expires > Date() ? known.names.contains(name) : nil }
        let exists = try listed ?? client.containerExists(name)
        guard exists else { throw FSError(ENOENT) }
        return lock.withLock {
            if let fs = containers[name] { return fs }
            let fs = SwiftFilesystem(client: client, container: name, options: options, cluster: cluster, resources: resources,
                                     logger: logger)
            fs.mountpoint = _mountpoint + "/" + name
            containers[name] = fs
            return fs
        }
    }

    /// Runs `body` on the container holding `path`; the account root itself gets `atRoot`.
    private func route<T>(_ path: String, atRoot: () throws -> T, _ body: (SwiftFilesystem, String) throws -> T) throws -> T {
        guard let (name, inner) = split(path) else { return try atRoot() }
        return try body(container(name), inner)
    }

    /// Files and symlinks need a container to live in.
    private func inContainer(_ path: String) throws -> (SwiftFilesystem, String) {
        guard let (name, inner) = split(path), inner != "/" else { throw FSError(EPERM, "\(path): only containers live at the top") }
        return (try container(name), inner)
    }

    private func rootAttributes() -> FileAttributes {
        FileAttributes(kind: .directory, size: 0, mtime: FileTime(started))
    }

    private func register(_ fs: SwiftFilesystem, _ inner: UInt64) -> UInt64 {
        lock.withLock {
            let handle = nextHandle
            nextHandle += 1
            handles[handle] = (fs, inner)
            return handle
        }
    }

    private func handle(_ handle: UInt64) throws -> (SwiftFilesystem, UInt64) {
        guard let found = lock.withLock({ handles[handle] }) else { throw FSError(EBADF) }
        return found
    }

    // MARK: - Tree

    public func getattr(_ path: String, handle: UInt64?) throws -> FileAttributes {
        if let handle, let (fs, inner) = try? self.handle(handle) {
            return try fs.getattr(split(path)?.inner ?? "/", handle: inner)
        }
        return try route(path, atRoot: rootAttributes) { try $0.getattr($1, handle: nil) }
    }

    public func readdir(_ path: String) throws -> DirectoryStream {
        try route(path, atRoot: {
            let names = try client.listContainers()
            lock.withLock { known = (Set(names), Date().addingTimeInterval(options.dirCacheTTL)) }
            return DirectoryStream(names.map {
                DirectoryEntry(name: $0, attributes: FileAttributes(kind: .directory, size: 0, mtime: FileTime(started)))
            })
        }) { try $0.readdir($1) }
    }

    public func mkdir(_ path: String, creator: Creator) throws {
        guard let (name, inner) = split(path) else { throw FSError(EEXIST) }
        guard inner == "/" else { return try container(name).mkdir(inner, creator: creator) }
        if (try? container(name)) != nil { throw FSError(EEXIST) }
        try client.createContainer(name)
        _ = lock.withLock { known.names.insert(name) }
        logger.info("created container \(name)")
    }

    public func rmdir(_ path: String) throws {
        guard let (name, inner) = split(path) else { throw FSError(EBUSY) }
        guard inner == "/" else { return try container(name).rmdir(inner) }
        _ = try container(name)
        do {
            try client.deleteContainer(name)
        } catch SwiftError.conflict {
            throw FSError(ENOTEMPTY)
        }
        lock.withLock {
            containers[name] = nil
            known.names.remove(name)
        }
        logger.info("deleted container \(name)")
    }

    public func unlink(_ path: String) throws {
        let (fs, inner) = try inContainer(path)
        try fs.unlink(inner)
    }

    public func rename(_ from: String, to: String, noReplace: Bool) throws {
        guard let source = split(from), let target = split(to), source.inner != "/", target.inner != "/" else {
            throw FSError(EPERM, "containers cannot be renamed")
        }
        guard source.container == target.container else { throw FSError(EXDEV) }
        try container(source.container).rename(source.inner, to: target.inner, noReplace: noReplace)
    }

    public func symlink(_ target: String, at path: String, creator: Creator) throws {
        let (fs, inner) = try inContainer(path)
        try fs.symlink(target, at: inner, creator: creator)
    }

    public func readlink(_ path: String) throws -> String {
        let (fs, inner) = try inContainer(path)
        return try fs.readlink(inner)
    }

    public func changeMetadata(_ path: String, _ change: MetadataChange) throws {
        try route(path, atRoot: { throw FSError(EPERM, "the account root has no metadata") }) { try $0.changeMetadata($1, change) }
    }

    public func extendedAttribute(_ path: String, name: String) throws -> [UInt8] {
        try route(path, atRoot: { throw ObjectMetadata.noAttribute(name) }) { try $0.extendedAttribute($1, name: name) }
    }

    public func extendedAttributeNames(_ path: String) throws -> [String] {
        try route(path, atRoot: { [] }) { try $0.extendedAttributeNames($1) }
    }

    public func statfs() -> FilesystemStats {
        space.statfs()
    }

    // MARK: - Files

    /// A container first used while the mount drains would not know it is draining.
    private func refuseWritesWhileDraining(_ path: String) throws {
        if lock.withLock({ draining }) { throw FSError(EROFS, "\(path): the mount is shutting down") }
    }

    public func create(_ path: String, creator: Creator, caller: Int32) throws -> UInt64 {
        try refuseWritesWhileDraining(path)
        let (fs, inner) = try inContainer(path)
        return register(fs, try fs.create(inner, creator: creator, caller: caller))
    }

    public func open(_ path: String, mode: OpenMode, caller: Int32) throws -> UInt64 {
        if mode.write { try refuseWritesWhileDraining(path) }
        let (fs, inner) = try inContainer(path)
        return register(fs, try fs.open(inner, mode: mode, caller: caller))
    }

    public func read(handle: UInt64, offset: Int, count: Int) throws -> [ArraySlice<UInt8>] {
        let (fs, inner) = try self.handle(handle)
        return try fs.read(handle: inner, offset: offset, count: count)
    }

    public func write(handle: UInt64, offset: Int, data: [UInt8]) throws {
        let (fs, inner) = try self.handle(handle)
        try fs.write(handle: inner, offset: offset, data: data)
    }

    public func flush(handle: UInt64, caller: Int32) throws {
        let (fs, inner) = try self.handle(handle)
        try fs.flush(handle: inner, caller: caller)
    }

    public func fsync(handle: UInt64) throws {
        let (fs, inner) = try self.handle(handle)
        try fs.fsync(handle: inner)
    }

    public func release(handle: UInt64) {
        guard let (fs, inner) = lock.withLock({ handles.removeValue(forKey: handle) }) else { return }
        fs.release(handle: inner)
    }

    public func truncate(_ path: String, size: Int, handle: UInt64?) throws {
        // An open file (ftruncate) is its handle's, whatever the path says.
        if let handle, let (fs, inner) = try? self.handle(handle) {
            return try fs.truncate(split(path)?.inner ?? "/", size: size, handle: inner)
        }
        let (fs, inner) = try inContainer(path)
        try fs.truncate(inner, size: size, handle: nil)
    }

    // MARK: - Status and shutdown

    /// One status for the account: requests, pools and caps are shared, the rest summed over the
    /// containers in use.
    public func status(mountpoint: String, auth: AuthStatus) -> MountStatus {
        let parts = lock.withLock { Array(containers.values) }.map { $0.status(mountpoint: mountpoint, auth: auth) }
        var status = MountStatus(
            mountpoint: mountpoint, container: "@account", pid: getpid(), startedAt: started.timeIntervalSince1970,
            state: lock.withLock { draining } ? "shutting down" : "serving", auth: auth,
            requests: RequestStatus(client.counters.snapshot),
            memory: resources.memory,
            cachedAttributes: 0, attributeCacheHits: 0, attributeCacheMisses: 0,
            segmentUploadSeconds: parts.first?.segmentUploadSeconds ?? HistogramStatus(bounds: [], cumulativeCounts: [], sum: 0, count: 0),
            transfers: [], recentTransfers: [])
        for part in parts {
            status.cachedAttributes += part.cachedAttributes
            status.attributeCacheHits += part.attributeCacheHits
            status.attributeCacheMisses += part.attributeCacheMisses
            status.transfers += part.transfers
            status.recentTransfers += part.recentTransfers
            status.activeUploads = (status.activeUploads ?? []) + (part.activeUploads ?? [])
        }
        return status
    }

    public func drain(grace: Double?) {
        let all = lock.withLock {
            draining = true
            return Array(containers.values)
        }
        // Each container waits out the same grace period from now.
        let deadline = grace.map { Date().addingTimeInterval($0) }
        for fs in all { fs.drain(grace: deadline.map { max(0, $0.timeIntervalSinceNow) }) }
    }

    public func endDrainNow() {
        for fs in lock.withLock({ Array(containers.values) }) { fs.endDrainNow() }
    }
}

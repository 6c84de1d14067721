import Foundation
import Glibc
import Logging
import SwiftStorage
import Synchronization

/// What the FUSE op table calls: the mounted tree, one container or a whole account.
///
/// A container mount is one SwiftFilesystem. An account mount makes one per container on first
/// use, all sharing one set of pools and caps; the top level is the account's: containers are its
/// directories, `mkdir` there creates one and `rmdir` of an empty one deletes it, files cannot
/// live there (EPERM), a rename between containers is EXDEV (mv copies then), and containers
/// cannot be renamed (EPERM).
///
/// Ops that act the same in every container reach their SwiftFilesystem through `route`, `file`
/// or `owner(of:)`, so a new op touches the op table and SwiftFilesystem only; the ops the
/// account's top level answers itself are the methods here.
public final class MountTree: Sendable {
    public let options: MountOptions
    public let logger: Logger
    private let client: SwiftClient
    private let cluster: ClusterInfo
    /// The container of a container mount; nil for an account mount.
    private let single: SwiftFilesystem?
    private let resources: MountResources
    private let space: AccountSpace
    private let started = Date()

    private struct Account {
        var containers: [String: SwiftFilesystem] = [:]
        /// Every container filesystem made, by handle tag (a handle outlives a deleted container).
        var byTag: [UInt64: SwiftFilesystem] = [:]
        var nextTag: UInt64 = 1
        /// Container names from the last account listing, until when (an unknown name gets a HEAD).
        var known: (names: Set<String>, expires: Date) = ([], .distantPast)
        var draining = false
        /// When files being written are aborted at shutdown (nil: once they are closed).
        var drainDeadline: Date?
        var mountpoint = ""
    }

    private let account = Mutex(Account())

    /// A container mount.
    public init(container fs: SwiftFilesystem) {
        single = fs
        options = fs.options
        logger = fs.logger
        client = fs.client
        cluster = fs.cluster
        resources = fs.resources
        space = AccountSpace(client: fs.client)
    }

    /// An account mount.
    public init(account client: SwiftClient, options: MountOptions, cluster: ClusterInfo, logger: Logger) {
        single = nil
        self.client = client
        self.options = options
        self.cluster = cluster
        self.logger = logger
        resources = MountResources(options: options, client: client, logger: logger)
        space = AccountSpace(client: client)
    }

    /// Where the mount is, as the kernel spells it (an absolute path without symlinks).
    public var mountpoint: String {
        get { single?.mountpoint ?? account.withLock { $0.mountpoint } }
        set {
            if let single {
                single.mountpoint = newValue
                return
            }
            let containers = account.withLock { state -> [String: SwiftFilesystem] in
                state.mountpoint = newValue
                return state.containers
            }
            for (name, fs) in containers { fs.mountpoint = newValue + "/" + name }
        }
    }

    // MARK: - Finding the container

    /// A path split into its container and the path inside it ("/" for the container itself).
    private static func split(_ path: String) -> (container: String, inner: String)? {
        let trimmed = path.drop { $0 == "/" }
        guard !trimmed.isEmpty else { return nil }
        guard let slash = trimmed.firstIndex(of: "/") else { return (String(trimmed), "/") }
        return (String(trimmed[..<slash]), String(trimmed[slash...]))
    }

    /// The filesystem of an existing container, or ENOENT. It is made outside the lock (making
    /// one may authenticate and reads the upload journals); one made while the mount shuts down
    /// is shutting down before anyone can reach it.
    private func container(_ name: String) throws -> SwiftFilesystem {
        if let fs = account.withLock({ $0.containers[name] }) { return fs }
        let listed = account.withLock { $0.known.expires > Date() ? $0.known.names.contains(name) : nil }
        let exists = try listed ?? client.containerExists(name)
        guard exists else { throw FSError(ENOENT) }
        let tag = account.withLock { state in
            defer { state.nextTag += 1 }
            return state.nextTag
        }
        let made = SwiftFilesystem(client: client, container: name, options: options, cluster: cluster, resources: resources,
                                   handleTag: tag, logger: logger)
        // Two first uses at once: the one made first is kept (the other held no file).
        return account.withLock { state in
            if let fs = state.containers[name] { return fs }
            made.mountpoint = state.mountpoint + "/" + name
            if state.draining { made.beginDraining(until: state.drainDeadline) }
            state.byTag[tag] = made
            state.containers[name] = made
            return made
        }
    }

    /// Runs `body` on the container holding `path`, with the path inside it; the account's root
    /// gets `atRoot`. A container mount runs `body` on every path.
    public func route<T>(_ path: String, atRoot: () throws -> T, _ body: (SwiftFilesystem, String) throws -> T) throws -> T {
        if let single { return try body(single, path) }
        guard let (name, inner) = Self.split(path) else { return try atRoot() }
        return try body(container(name), inner)
    }

    /// As `route`, for what only a container can hold (files, symlinks): EPERM at the account's
    /// top level.
    public func file<T>(_ path: String, _ body: (SwiftFilesystem, String) throws -> T) throws -> T {
        if let single { return try body(single, path) }
        guard let (name, inner) = Self.split(path), inner != "/" else { throw FSError(EPERM, "\(path): only containers live at the top") }
        return try body(container(name), inner)
    }

    /// The container filesystem an open handle belongs to.
    public func owner(of handle: UInt64) throws -> SwiftFilesystem {
        if let single { return single }
        guard let fs = account.withLock({ $0.byTag[OpenFiles.tag(of: handle)] }) else { throw FSError(EBADF) }
        return fs
    }

    /// For an op that may come with the file's open handle (fstat, ftruncate): the handle's
    /// container, whatever the path says, with the path inside it ("/" when libfuse gives none,
    /// the file being unlinked); nil without a handle.
    public func owner(of handle: UInt64?, path: String?) -> (SwiftFilesystem, String)? {
        guard let handle, let fs = try? owner(of: handle) else { return nil }
        guard let path else { return (fs, "/") }
        return (fs, single == nil ? Self.split(path)?.inner ?? "/" : path)
    }

    // MARK: - What the account's top level answers itself

    public func getattr(_ path: String?, handle: UInt64?) throws -> FileAttributes {
        if let (fs, inner) = owner(of: handle, path: path) { return try fs.getattr(inner, handle: handle) }
        return try route(path ?? "/", atRoot: { FileAttributes(kind: .directory, size: 0, mtime: FileTime(started)) }) {
            try $0.getattr($1, handle: handle)
        }
    }

    public func readdir(_ path: String) throws -> DirectoryStream {
        try route(path, atRoot: {
            let names = try client.listContainers()
            account.withLock { $0.known = (Set(names), Date().addingTimeInterval(options.dirCacheTTL)) }
            return DirectoryStream(names.map {
                DirectoryEntry(name: $0, attributes: FileAttributes(kind: .directory, size: 0, mtime: FileTime(started)))
            })
        }) { try $0.readdir($1) }
    }

    public func mkdir(_ path: String, creator: Creator) throws {
        if let single { return try single.mkdir(path, creator: creator) }
        guard let (name, inner) = Self.split(path) else { throw FSError(EEXIST) }
        guard inner == "/" else { return try container(name).mkdir(inner, creator: creator) }
        if (try? container(name)) != nil { throw FSError(EEXIST) }
        try client.createContainer(name)
        _ = account.withLock { $0.known.names.insert(name) }
        logger.info("created container \(name)")
    }

    public func rmdir(_ path: String) throws {
        if let single { return try single.rmdir(path) }
        guard let (name, inner) = Self.split(path) else { throw FSError(EBUSY) }
        guard inner == "/" else { return try container(name).rmdir(inner) }
        _ = try container(name)
        do {
            try client.deleteContainer(name)
        } catch SwiftError.conflict {
            throw FSError(ENOTEMPTY)
        }
        account.withLock { state in
            state.containers[name] = nil
            state.known.names.remove(name)
        }
        logger.info("deleted container \(name)")
    }

    public func rename(_ from: String, to: String, noReplace: Bool) throws {
        if let single { return try single.rename(from, to: to, noReplace: noReplace) }
        guard let source = Self.split(from), let target = Self.split(to), source.inner != "/", target.inner != "/" else {
            throw FSError(EPERM, "containers cannot be renamed")
        }
        guard source.container == target.container else { throw FSError(EXDEV) }
        try container(source.container).rename(source.inner, to: target.inner, noReplace: noReplace)
    }

    public func statfs() -> FilesystemStats {
        space.statfs()
    }

    // MARK: - Status and shutdown

    private var containers: [SwiftFilesystem] {
        single.map { [$0] } ?? account.withLock { Array($0.containers.values) }
    }

    /// The daemon's state for `swiftmount status`. An account's requests, pools and caps are
    /// shared; the rest is summed over the containers in use.
    public func status(mountpoint: String, auth: AuthStatus) -> MountStatus {
        if let single { return single.status(mountpoint: mountpoint, auth: auth) }
        let parts = containers.map { $0.status(mountpoint: mountpoint, auth: auth) }
        var status = MountStatus(
            mountpoint: mountpoint, container: "@account", pid: getpid(), startedAt: started.timeIntervalSince1970,
            state: account.withLock { $0.draining } ? "shutting down" : "serving", auth: auth,
            requests: RequestStatus(client.counters.snapshot),
            memory: resources.memory,
            cachedAttributes: 0, attributeCacheHits: 0, attributeCacheMisses: 0,
            segmentUploadSeconds: parts.first?.segmentUploadSeconds ?? HistogramStatus(bounds: [], cumulativeCounts: [], sum: 0, count: 0),
            transfers: [], recentTransfers: [], activeUploads: resources.live.all, segmentReclaimsPending: resources.reclaimer.pending)
        for part in parts {
            status.cachedAttributes += part.cachedAttributes
            status.attributeCacheHits += part.attributeCacheHits
            status.attributeCacheMisses += part.attributeCacheMisses
            status.transfers += part.transfers
            status.recentTransfers += part.recentTransfers
        }
        return status
    }

    /// See `SwiftFilesystem.drain`. Every container (a deleted one's open files too) stops
    /// opening files for writing at once, with the same deadline, before the wait for any begins.
    public func drain(grace: Double?) {
        if let single { return single.drain(grace: grace) }
        let all = account.withLock { state in
            state.draining = true
            state.drainDeadline = grace.map { Date().addingTimeInterval($0) }
            for fs in state.byTag.values { fs.beginDraining(until: state.drainDeadline) }
            return Array(state.byTag.values)
        }
        for fs in all { fs.waitDrained() }
    }

    /// Seconds queued segment deletions get once the mount is gone, before the daemon exits.
    public static let reclaimGrace: Double = 60

    /// Once unmounted: queued segment deletions get up to `seconds` (a second signal ends the
    /// wait); what is left is said in the log and found by `swiftmount gc`.
    public func finishReclaims(within seconds: Double) {
        let pending = resources.reclaimer.pending
        guard pending > 0 else { return }
        logger.notice("deleting the old segments of \(pending) removed or replaced object(s) before exiting")
        let left = resources.reclaimer.waitIdle(until: Date().addingTimeInterval(seconds))
        if left > 0 { logger.warning("exiting with the old segments of \(left) object(s) not deleted; `swiftmount gc` finds them") }
    }

    /// A second signal while draining: stop waiting.
    public func endDrainNow() {
        if let single { return single.endDrainNow() }
        resources.reclaimer.endWait()
        let all = account.withLock { state in
            state.drainDeadline = Date()
            return Array(state.byTag.values)
        }
        for fs in all { fs.endDrainNow() }
    }
}

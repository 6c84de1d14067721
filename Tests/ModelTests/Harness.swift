import Foundation
import Glibc
import Logging
@testable import SwiftMountFS
import SwiftSimulator
import SwiftStorage
import Synchronization

/// Runs one sequence against SwiftFilesystem over a simulated cluster, as the FUSE adapter (and
/// the kernel's path walk) would call it, and against the model; after every step it checks
/// that they agree and that what Swift holds is sound.
final class Harness {
    static let segment = 64 << 10
    /// At the real time: the mount's ctimes and Swift's timestamps must be comparable.
    let clock = SimulatedClock(start: Date())
    let cluster: SimulatedCluster
    let credentials: [String: String]
    /// The mounted filesystem's own way to the cluster: cut when the daemon "dies", so its
    /// threads' requests stop as a killed process's would.
    var transport: CuttableTransport
    var client: SwiftClient
    /// Another Swift client of the same account.
    let other: SwiftClient
    let info: ClusterInfo
    /// The running daemon's cache_dir; each crash starts the next daemon on a copy of it.
    var cacheDir: String
    private var cacheDirs: [String] = []
    var fs: SwiftFilesystem
    var model = Model()
    /// Open writers: slot → handle.
    var handles: [Int: UInt64] = [:]
    /// Upload prefixes left without a manifest on purpose (a crash, another client deleting or
    /// replacing a large object), noted when it happened: no other orphan may ever appear.
    var allowedOrphans = Set<String>()
    /// A fault armed by a `.fault` step, for the next operation only.
    private var armed: Op.FaultKind?
    /// Faults armed that no request of their operation met (a weaker sequence, not an error).
    private(set) var unusedFaults = 0
    private var dirty = Set<String>()
    /// Entries a freshly started daemon took from the listing alone and that were checked.
    private(set) var coldListedChecked = 0
    /// Uploads a killed daemon left that a later write of the same file took over.
    private(set) var resumedUploads = 0
    /// Segment deletions that stayed queued across later steps (`holdReclaims`).
    private(set) var lateReclaims = 0
    /// The journals the last crash left for the next daemon, as text.
    private(set) var journalsLeftByLastCrash: [String] = []
    static let logger = Logger(label: "model") { _ in SwiftLogNoOpLogHandler() }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init() throws {
        var settings = SimulatedCluster.Settings()
        settings.tokenLifetime = 600
        // Small listing pages, so paging with delimiters and markers runs in every sequence.
        settings.containerListingLimit = 3
        cluster = SimulatedCluster(clock: clock, settings: settings)
        credentials = cluster.addUser("demo")
        transport = CuttableTransport(cluster)
        client = try Self.client(credentials, transport: transport, clock: clock)
        other = try Self.client(credentials, transport: cluster, clock: clock)
        try client.createContainer("c")
        info = try client.clusterInfo()
        cacheDir = try Self.newCacheDir()
        cacheDirs = [cacheDir]
        fs = Self.mount(client: client, info: info, cacheDir: cacheDir)
    }

    static func client(_ credentials: [String: String], transport: any HTTPTransport, clock: SimulatedClock) throws -> SwiftClient {
        var config = ConnectionManager.Configuration()
        config.reauthDeadline = 30
        let connection = ConnectionManager(authenticator: try EnvironmentCredentials.authenticator(from: credentials),
                                           transport: transport, configuration: config, clock: clock, logger: logger)
        let client = SwiftClient(connection: connection, transport: transport,
                                 retry: SwiftClient.RetryPolicy(attempts: 4, backoff: Backoff(base: 0.5, cap: 4)), clock: clock, logger: logger)
        // As the command does: /info sets the listing page size (a larger limit is refused).
        _ = try client.clusterInfo()
        return client
    }

    deinit {
        for dir in cacheDirs { try? FileManager.default.removeItem(atPath: dir) }
    }

    static func newCacheDir() throws -> String {
        let dir = NSTemporaryDirectory() + "swiftmount-model-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// What a killed daemon leaves on disk for the next: its upload journals as they are at this
    /// moment, no longer locked. The old daemon's threads go on in the old directory (against a
    /// cut transport), so nothing they do later reaches the new daemon's journals.
    private func cacheDirAfterCrash() throws -> String {
        let next = try Self.newCacheDir()
        cacheDirs.append(next)
        let journals = cacheDir + "/journal"
        if let names = try? FileManager.default.contentsOfDirectory(atPath: journals) {
            try FileManager.default.createDirectory(atPath: next + "/journal", withIntermediateDirectories: true)
            for name in names { try? FileManager.default.copyItem(atPath: journals + "/" + name, toPath: next + "/journal/" + name) }
            journalsLeftByLastCrash = names.compactMap { try? String(contentsOfFile: next + "/journal/" + $0, encoding: .utf8) }
        }
        return next
    }

    static func mount(client: SwiftClient, info: ClusterInfo, cacheDir: String) -> SwiftFilesystem {
        var options = MountOptions()
        options.segmentSize = segment
        options.largeObjectThreshold = segment
        options.attrTimeout = 0
        options.dirCacheTTL = 0
        options.uploadConcurrency = 2
        options.maxWriteBuffer = 8 * segment
        options.readAhead = 4 * segment
        options.maxReadBuffer = 16 * segment
        options.cacheDir = cacheDir
        return SwiftFilesystem(client: client, container: "c", options: options, cluster: info, logger: logger)
    }

    var creator: Creator { Creator(mode: 0o644, uid: getuid(), gid: getgid()) }

    // MARK: - One step

    /// Runs `op` on both sides; throws a Failure describing the first disagreement.
    func step(_ op: Op) throws {
        // Time passes between steps, so a change that forgets to move the ctime shows.
        clock.advance(0.25)
        let expected = expectedErrno(op)
        // A reading of "/" begun before the step and finished after it (ls while another
        // program works): one page now, the rest after the step.
        let namesBefore = Set(model.children(of: "/"))
        let across = try fs.readdir("/")
        _ = try across.entries(from: 0)
        if let kind = armed {
            inject(kind)
            armed = nil
        }
        var actual: Int32?
        defer { unusedFaults += cluster.clearFaults() }
        let waiting = liveUploads
        do { try perform(op) } catch {
            actual = FSError.from(error).errno
            if expected == nil { throw Failure(description: "\(op): failed with \(FSError.from(error)), the model expected success") }
        }
        // Unless held, the deletions of old segments the op queued are done before anything is
        // compared, so a sequence stays one order of requests (and of faults).
        if !transport.reclaimsHeld.withLock({ $0 }) { try settleReclaims(after: op) }
        if actual != expected {
            throw Failure(description: "\(op): errno \(actual.map(String.init) ?? "none"), the model expected \(expected.map(String.init) ?? "success")")
        }
        if expected == nil { apply(op) }
        if case .write(let p, _, _) = op, expected == nil, let segments = cluster.manifestSegments(of: "demo", container: "c", object: String(p.dropFirst())),
           let first = segments.first, waiting.contains(where: { (first.ref.container + "/" + first.ref.name).hasPrefix($0 + "/") }) {
            resumedUploads += 1
        }
        try check(after: op)
        if op != .crash && op != .shutdown { try checkReading(across, before: namesBefore, after: op) }
    }

    /// A reading held open across `op` shows every name that was there both before and after it,
    /// and none that was in neither.
    private func checkReading(_ across: DirectoryStream, before: Set<String>, after op: Op) throws {
        let shown = Set(try across.all().map { "/" + $0.name })
        let after = Set(model.children(of: "/"))
        let missing = before.intersection(after).subtracting(shown), extra = shown.subtracting(before.union(after))
        guard missing.isEmpty, extra.isEmpty else {
            throw Failure(description: "a reading of / across \(op): missing \(missing.sorted()), unexpected \(extra.sorted())")
        }
    }

    /// The errno a POSIX filesystem gives for `op` in the model's state (nil: success).
    func expectedErrno(_ op: Op) -> Int32? {
        let m = model
        switch op {
        case .write(let p, _, _), .sparseWrite(let p, _, _, _), .begin(let p, _):
            // The harness's own rules: a writer slot holds one file, a name has one writer.
            if case .begin(_, let w) = op, m.writers[w] != nil { return EBUSY }
            if let e = m.resolve(p) { return e }
            if m.isDir(p) { return EISDIR }
            if m.writer(at: p) != nil { return EBUSY }
            return m.isFifo(p) ? EPERM : nil
        case .patch(let p, _, _, _), .truncate(let p, _), .read(let p, _, _):
            if let e = m.resolve(p) { return e }
            if m.isDir(p) { return EISDIR }
            if !m.isFile(p) { return ENOENT }
            if m.writer(at: p) != nil { return EBUSY }
            return m.isFifo(p) ? EPERM : nil
        case .mknod(let p):
            if let e = m.resolve(p) { return e }
            return m.exists(p) ? EEXIST : nil
        case .chmod(let p, _), .utimens(let p, _):
            if let e = m.resolve(p) { return e }
            if !m.exists(p) { return ENOENT }
            if m.isDir(p) || m.writer(at: p) != nil { return EBUSY }  // not generated for directories or open files
            return nil
        case .unlink(let p):
            if let e = m.resolve(p) { return e }
            if m.isDir(p) { return EISDIR }
            return m.isFile(p) ? nil : ENOENT
        case .rename(let a, let b):
            if let e = m.resolve(a) ?? m.resolve(b) { return e }
            guard m.exists(a) else { return ENOENT }
            if a == b { return nil }
            if m.isDir(a) && b.hasPrefix(a + "/") { return EINVAL }
            if m.hasWriter(atOrUnder: a) || m.hasWriter(atOrUnder: b) { return EBUSY }
            if m.isDir(a) && m.isFile(b) { return ENOTDIR }
            if m.isFile(a) && m.isDir(b) { return EISDIR }
            if m.isDir(a) && m.isDir(b) && !m.children(of: b).isEmpty { return ENOTEMPTY }
            return nil
        case .mkdir(let p):
            if let e = m.resolve(p) { return e }
            return m.exists(p) ? EEXIST : nil
        case .rmdir(let p):
            if let e = m.resolve(p) { return e }
            guard m.exists(p) else { return ENOENT }
            guard m.isDir(p) else { return ENOTDIR }
            return m.children(of: p).isEmpty ? nil : ENOTEMPTY
        case .append(let w, _, _), .finish(let w, _), .fsync(let w):
            return m.writers[w] == nil ? EBADF : nil
        case .otherPut(let p, _, _):
            // Another client writes only where the tree stays a tree.
            if m.isDir(p) || m.writer(at: p) != nil || Model.ancestors(p).contains(where: m.isFile) { return EPERM }
            return nil
        case .otherDelete(let p), .otherPost(let p):
            return m.files[p] == nil || m.writer(at: p) != nil ? ENOENT : nil
        case .gc, .expireTokens, .crash, .shutdown, .fault, .holdReclaims, .releaseReclaims:
            return nil
        }
    }

    /// What the kernel does before calling the filesystem: walks the path (ENOENT, ENOTDIR),
    /// checks the types it knows; then the call itself.
    private func perform(_ op: Op) throws {
        switch op {
        case .write(let p, let size, let pattern):
            let handle = try openForWriting(p)
            try writeChunks(handle, [UInt8].pattern(pattern, count: size), at: 0)
            try close(handle)
        case .sparseWrite(let p, let size, let tail, let pattern):
            let handle = try openForWriting(p)
            if tail > 0 { try writeChunks(handle, [UInt8].pattern(pattern, count: tail), at: size - tail) }
            try fs.truncate(p, size: size, handle: handle)
            try close(handle)
        case .patch(let p, let offset, let count, let pattern):
            try walk(p)
            try refuseIfBusy(p)
            try refuseFifo(p)
            guard try fs.getattr(p).kind == .file else { throw FSError(EISDIR) }
            let handle = try fs.open(p, mode: OpenMode(flags: O_WRONLY), caller: getpid())
            try writeChunks(handle, [UInt8].pattern(pattern, count: count, from: offset), at: offset)
            try close(handle)
        case .truncate(let p, let size):
            try walk(p)
            try refuseIfBusy(p)
            try refuseFifo(p)
            guard try fs.getattr(p).kind == .file else { throw FSError(EISDIR) }
            try fs.truncate(p, size: size, handle: nil)
        case .read(let p, let offset, let count):
            try walk(p)
            try refuseIfBusy(p)
            try refuseFifo(p)
            guard try fs.getattr(p).kind == .file else { throw FSError(EISDIR) }
            let data = try readAll(p, offset: offset, count: count)
            let whole = model.files[p]?.bytes ?? []
            let want = offset < whole.count ? Array(whole[offset..<min(whole.count, offset + count)]) : []
            guard data == want else { throw Failure(description: "\(op): read \(data.count) bytes that differ from the model's \(want.count)") }
        case .unlink(let p):
            try walk(p)
            if try fs.getattr(p).kind == .directory { throw FSError(EISDIR) }
            try fs.unlink(p)
        case .rename(let a, let b):
            try walk(a)
            try walk(b)
            let source = try fs.getattr(a)
            if a == b { return }
            if source.kind == .directory && b.hasPrefix(a + "/") { throw FSError(EINVAL) }
            try fs.rename(a, to: b, noReplace: false)
        case .mkdir(let p):
            try walk(p)
            if (try? fs.getattr(p)) != nil { throw FSError(EEXIST) }
            try fs.mkdir(p, creator: creator)
        case .rmdir(let p):
            try walk(p)
            if try fs.getattr(p).kind != .directory { throw FSError(ENOTDIR) }
            try fs.rmdir(p)
        case .chmod(let p, let mode):
            try walk(p)
            let attributes = try fs.getattr(p)
            if attributes.kind == .directory || model.writer(at: p) != nil { throw FSError(EBUSY) }
            try fs.changeMetadata(p, .mode(mode))
        case .utimens(let p, let mtime):
            try walk(p)
            let attributes = try fs.getattr(p)
            if attributes.kind == .directory || model.writer(at: p) != nil { throw FSError(EBUSY) }
            try fs.changeMetadata(p, .mtime(mtime))
        case .mknod(let p):
            // As the FUSE adapter's mknod does: create, commit, release.
            try walk(p)
            if (try? fs.getattr(p)) != nil { throw FSError(EEXIST) }
            let handle = try fs.create(p, creator: Creator(mode: UInt32(S_IFIFO) | 0o640, uid: getuid(), gid: getgid()), caller: getpid())
            try close(handle)
        case .begin(let p, let w):
            if model.writers[w] != nil { throw FSError(EBUSY) }
            handles[w] = try openForWriting(p)
        case .append(let w, let size, let pattern):
            guard let handle = handles[w], let writer = model.writers[w] else { throw FSError(EBADF) }
            try writeChunks(handle, [UInt8].pattern(pattern, count: size, from: writer.bytes.count), at: writer.bytes.count)
        case .finish(let w, let otherThread):
            guard let handle = handles.removeValue(forKey: w) else { throw FSError(EBADF) }
            if otherThread {
                let box = ResultBox()
                let thread = Thread { [fs] in box.set(Result { try fs.flush(handle: handle, caller: getpid()) }) }
                thread.start()
                try box.wait()
                fs.release(handle: handle)
            } else {
                try close(handle)
            }
        case .fsync(let w):
            guard let handle = handles[w] else { throw FSError(EBADF) }
            try fs.fsync(handle: handle)
        case .gc(let delete):
            let collector = SegmentCollector(client: client, container: "c", bulkDeleteLimit: info.bulkDeleteLimit, liveUploads: liveUploads)
            for orphan in try collector.orphans(olderThan: 0, now: clock.now()) where delete { try collector.delete(orphan) }
        case .otherPut(let p, let size, let pattern):
            if model.isDir(p) || model.writer(at: p) != nil || Model.ancestors(p).contains(where: model.isFile) { throw FSError(EPERM) }
            try other.put(container: "c", object: String(p.dropFirst()), body: [UInt8].pattern(pattern, count: size))
            // Another client replacing a large object leaves its segments (it does not clean up).
            try noteOrphans()
        case .otherDelete(let p):
            guard model.files[p] != nil, model.writer(at: p) == nil else { throw FSError(ENOENT) }
            try other.delete(container: "c", object: String(p.dropFirst()))
            try noteOrphans()
        case .otherPost(let p):
            guard model.files[p] != nil, model.writer(at: p) == nil else { throw FSError(ENOENT) }
            // Within the slack of the mount's own change, listings would not tell (SEMANTICS).
            clock.advance(ListedAttributes.currentSlack + 1)
            try other.setMetadata(container: "c", object: String(p.dropFirst()), metadata: ["color": "red"])
        case .expireTokens:
            clock.advance(700)
        case .crash:
            try mountAgain()
            try noteOrphans()
        case .shutdown:
            // What the signal watcher does; the abort deletes the segments of what was being
            // written, so unlike a crash it leaves no orphan (the final check holds it to that).
            // Queued deletions are finished before the daemon exits.
            releaseReclaims()
            fs.drain(grace: 0)
            do {
                _ = try fs.create("/refused", creator: creator, caller: getpid())
                throw Failure(description: "a new file was opened while the mount was shutting down")
            } catch let error as FSError where error.errno == EROFS {}
            try settleReclaims(after: op)
            try mountAgain()
        case .holdReclaims:
            transport.reclaimsHeld.withLock { $0 = true }
        case .releaseReclaims:
            releaseReclaims()
        case .fault(let kind):
            armed = kind
        }
    }

    /// The daemon is gone (its connections cut, its open files with it); a new one mounts on what
    /// it left in cache_dir.
    private func mountAgain() throws {
        handles.removeAll()
        transport.cut()
        // Deletions still queued meet the cut: a killed daemon's are lost (noted as orphans).
        releaseReclaims()
        try settleReclaims(after: .crash)
        transport = CuttableTransport(cluster)
        client = try Self.client(credentials, transport: transport, clock: clock)
        cacheDir = try cacheDirAfterCrash()
        fs = Self.mount(client: client, info: info, cacheDir: cacheDir)
    }

    /// Lets held segment deletions go on, counting those that waited.
    private func releaseReclaims() {
        if transport.reclaimsHeld.withLock({ $0 }) { lateReclaims += fs.resources.reclaimer.pending }
        transport.reclaimsHeld.withLock { $0 = false }
    }

    /// Waits until the mount has no segment deletion queued.
    func settleReclaims(after op: Op) throws {
        if fs.resources.reclaimer.waitIdle(until: Date().addingTimeInterval(60)) > 0 {
            throw Failure(description: "\(op): queued segment deletions still pending after 60 s")
        }
    }

    /// The orphans there are now are allowed (their cause was deliberate); later ones are not.
    private func noteOrphans() throws {
        let collector = SegmentCollector(client: other, container: "c", liveUploads: liveUploads)
        allowedOrphans.formUnion(try collector.orphans(olderThan: 0, now: clock.now()).map(\.uploadPrefix))
    }

    private var liveUploads: Set<String> {
        Set(fs.status(mountpoint: "", auth: Self.noAuth).activeUploads ?? [])
    }

    static let noAuth = AuthStatus(method: "", tokenExpiresAt: nil, authentications: 0, trust: "", heldTrust: nil,
                                   renewable: true, problem: nil)

    private func inject(_ kind: Op.FaultKind) {
        switch kind {
        case .segmentPut503:
            cluster.inject(.status(503)) { $0.method == .put && $0.container == "c_segments" && $0.object != nil }
        case .anyRequest401:
            cluster.inject(.status(401)) { $0.path.hasPrefix("/v1/") }
        case .getReset:
            cluster.inject(.reset(afterBytes: 100)) { $0.method == .get && $0.object != nil && $0.query["multipart-manifest"] == nil }
        case .manifestStoredButLost:
            cluster.inject(.storedButLost) { $0.query["multipart-manifest"] == "put" }
        case .objectPut408:
            cluster.inject(.status(408)) { $0.method == .put && $0.container == "c" && $0.object != nil }
        }
    }

    private func walk(_ p: String) throws {
        for ancestor in Model.ancestors(p) {
            guard try fs.getattr(ancestor).kind == .directory else { throw FSError(ENOTDIR) }
        }
    }

    /// The kernel opens a FIFO itself (a program would block on it): the harness does not.
    private func refuseFifo(_ p: String) throws {
        if case .special = try fs.getattr(p).kind { throw FSError(EPERM) }
    }

    /// The generator's rule: a file open for writing is not also patched, truncated or read by path.
    private func refuseIfBusy(_ p: String) throws {
        if model.writer(at: p) != nil { throw FSError(EBUSY) }
    }

    private func openForWriting(_ p: String) throws -> UInt64 {
        try walk(p)
        if model.writer(at: p) != nil { throw FSError(EBUSY) }
        if let existing = try? fs.getattr(p) {
            if existing.kind == .directory { throw FSError(EISDIR) }
            if case .special = existing.kind { throw FSError(EPERM) }
            return try fs.open(p, mode: OpenMode(flags: O_WRONLY | O_TRUNC), caller: getpid())
        }
        return try fs.create(p, creator: creator, caller: getpid())
    }

    /// Writes in 48 KiB pieces, as FUSE hands over a `cp`.
    private func writeChunks(_ handle: UInt64, _ data: [UInt8], at offset: Int) throws {
        var done = 0
        repeat {
            let piece = Array(data[done..<min(data.count, done + (48 << 10))])
            try fs.write(handle: handle, offset: offset + done, data: piece)
            done += piece.count
        } while done < data.count
    }

    private func close(_ handle: UInt64) throws {
        defer { fs.release(handle: handle) }
        try fs.flush(handle: handle, caller: getpid())
    }

    private func readAll(_ p: String, offset: Int = 0, count: Int = Int.max) throws -> [UInt8] {
        let handle = try fs.open(p, mode: OpenMode(flags: O_RDONLY), caller: getpid())
        defer { fs.release(handle: handle) }
        var bytes: [UInt8] = []
        var position = offset
        while bytes.count < count {
            let pieces = try fs.read(handle: handle, offset: position, count: min(count - bytes.count, 128 << 10))
            let chunk = pieces.flatMap { Array($0) }
            if chunk.isEmpty { break }
            bytes += chunk
            position += chunk.count
        }
        return bytes
    }

    // MARK: - The model's side

    private func apply(_ op: Op) {
        switch op {
        case .write(let p, let size, let pattern):
            model.files[p] = Model.File(bytes: .pattern(pattern, count: size), mode: model.files[p]?.mode)
            dirty.insert(p)
        case .sparseWrite(let p, let size, let tail, let pattern):
            var bytes = [UInt8](repeating: 0, count: size - tail)
            bytes += .pattern(pattern, count: tail)
            model.files[p] = Model.File(bytes: bytes, mode: model.files[p]?.mode)
            dirty.insert(p)
        case .patch(let p, let offset, let count, let pattern):
            model.files[p]!.bytes.write(.pattern(pattern, count: count, from: offset), at: offset)
            model.files[p]!.mtime = nil
            dirty.insert(p)
        case .truncate(let p, let size):
            if model.files[p]!.bytes.count != size { model.files[p]!.mtime = nil }
            model.files[p]!.bytes.resize(size)
            dirty.insert(p)
        case .unlink(let p):
            model.files[p] = nil
            if let w = model.writer(at: p) { model.writers[w]!.unlinked = true }
        case .rename(let a, let b):
            guard a != b else { return }
            if model.isDir(a) {
                // Onto an empty directory (always an explicit one): it stays a directory.
                let explicit = model.dirs.contains(a) || model.dirs.contains(b)
                model.dirs.remove(b)
                model.move(a, to: b)
                if explicit { model.dirs.insert(b) }
                for p in model.files.keys where p.hasPrefix(b + "/") { dirty.insert(p) }
            } else {
                model.files[b] = model.files.removeValue(forKey: a)
                dirty.insert(b)
            }
        case .mkdir(let p):
            model.dirs.insert(p)
        case .rmdir(let p):
            model.dirs.remove(p)
        case .chmod(let p, let mode):
            model.files[p]?.mode = mode
        case .utimens(let p, let mtime):
            model.files[p]?.mtime = mtime
        case .mknod(let p):
            model.files[p] = Model.File(bytes: [], mode: 0o640, fifo: true)
        case .begin(let p, let w):
            model.writers[w] = Model.Writer(path: p, bytes: [])
        case .append(let w, let size, let pattern):
            let start = model.writers[w]!.bytes.count
            model.writers[w]!.bytes += .pattern(pattern, count: size, from: start)
        case .finish(let w, _):
            let writer = model.writers.removeValue(forKey: w)!
            guard !writer.unlinked else { return }
            model.files[writer.path] = Model.File(bytes: writer.bytes, mode: model.files[writer.path]?.mode)
            dirty.insert(writer.path)
        case .fsync(let w):
            // What was written so far is stored; the name still shows the writer.
            if let writer = model.writers[w], !writer.unlinked {
                model.files[writer.path] = Model.File(bytes: writer.bytes, mode: model.files[writer.path]?.mode)
            }
        case .otherPut(let p, let size, let pattern):
            model.files[p] = Model.File(bytes: .pattern(pattern, count: size), mode: nil)
            dirty.insert(p)
        case .otherDelete(let p):
            model.files[p] = nil
        case .otherPost(let p):
            // Swift's POST replaces all metadata: the mode (a FIFO's type with it) and mtime go.
            model.files[p]?.mode = nil
            model.files[p]?.mtime = nil
            model.files[p]?.fifo = false
            dirty.insert(p)
        case .crash, .shutdown:
            model.writers.removeAll()
        case .read, .gc, .expireTokens, .fault, .holdReclaims, .releaseReclaims:
            break
        }
    }

    // MARK: - Checks after every step

    private func check(after op: Op) throws {
        try checkTree()
        for p in dirty.sorted() where model.files[p] != nil && model.pending[p] == nil {
            try checkContent(p)
        }
        dirty.removeAll()
        try checkManifests()
        if handles.isEmpty {
            let memory = fs.status(mountpoint: "", auth: Self.noAuth).memory
            guard memory.writeBufferUsed == 0, memory.readBufferUsed == 0 else {
                throw Failure(description: "after \(op): \(memory.writeBufferUsed) write and \(memory.readBufferUsed) read buffer bytes held with every file closed")
            }
        }
    }

    /// Every name, type, size and mode the mount shows equals the model's.
    func checkTree() throws {
        var seen: [String: FileAttributes] = [:]
        func visit(_ dir: String) throws {
            for entry in try fs.readdir(dir).all() {
                let path = (dir == "/" ? "" : dir) + "/" + entry.name
                let attributes = try fs.getattr(path)
                // readdirplus hands an exact entry to the kernel in place of a getattr.
                if entry.exact, let differs = Self.difference(entry.attributes, attributes) {
                    throw Failure(description: "\(path): readdir shows \(differs.0), getattr \(differs.1)")
                }
                // Outside user. the mount keeps nothing, and says so (ls -l then stops asking).
                do {
                    _ = try fs.extendedAttribute(path, name: "security.selinux")
                    throw Failure(description: "\(path): a security.selinux value")
                } catch let error as FSError where error.errno == ENOTSUP {}
                seen[path] = attributes
                if attributes.kind == .directory { try visit(path) }
            }
        }
        try visit("/")
        var expected: [String: (FileKind, Int, UInt32?)] = [:]
        func expect(_ p: String) {
            if model.isDir(p) {
                expected[p] = (.directory, 0, nil)
                for child in model.children(of: p) { expect(child) }
            } else if let bytes = model.pending[p] {
                expected[p] = (.file, bytes.count, nil)
            } else if let file = model.files[p] {
                expected[p] = (file.fifo ? .special(UInt32(S_IFIFO)) : .file, file.bytes.count, file.mode)
            }
        }
        for child in model.children(of: "/") { expect(child) }
        let missing = Set(expected.keys).subtracting(seen.keys).sorted()
        let extra = Set(seen.keys).subtracting(expected.keys).sorted()
        guard missing.isEmpty, extra.isEmpty else {
            throw Failure(description: "tree differs: missing \(missing), unexpected \(extra)")
        }
        for (p, (kind, size, mode)) in expected {
            let a = seen[p]!
            guard a.kind == kind else { throw Failure(description: "\(p): a \(a.kind), the model has a \(kind)") }
            guard kind == .directory || a.size == size else { throw Failure(description: "\(p): \(a.size) bytes, the model has \(size)") }
            // Objects without a stored mode show the mount's file_mode (0644).
            if kind != .directory, model.pending[p] == nil, (a.mode ?? 0o644) != (mode ?? 0o644) {
                throw Failure(description: "\(p): mode \(String(a.mode ?? 0o644, radix: 8)), the model has \(String(mode ?? 0o644, radix: 8))")
            }
            if model.pending[p] == nil, let mtime = model.files[p]?.mtime, a.mtime != mtime {
                throw Failure(description: "\(p): mtime \(a.mtime.text), the model has \(mtime.text)")
            }
        }
        try checkColdListing(directories: seen.filter { $0.value.kind == .directory }.keys.sorted())
    }

    /// What stat(2) would show differently for the two, if anything.
    static func difference(_ a: FileAttributes, _ b: FileAttributes) -> (String, String)? {
        func shown(_ x: FileAttributes) -> String {
            "\(x.kind) size \(x.size) mode \(x.mode.map { String($0, radix: 8) } ?? "-") uid \(x.uid.map(String.init) ?? "-") "
                + "gid \(x.gid.map(String.init) ?? "-") mtime \(x.mtime.text) ctime \(x.ctime.text)"
        }
        return shown(a) == shown(b) ? nil : (shown(a), shown(b))
    }

    /// A daemon started now, with nothing cached, shows what the objects themselves say (a HEAD
    /// through another client) for every entry it takes from a listing alone (readdirplus hands
    /// those to the kernel).
    func checkColdListing(directories: [String]) throws {
        var options = fs.options
        options.attrTimeout = 60
        options.dirCacheTTL = 60
        let cold = SwiftFilesystem(client: other, container: "c", options: options, cluster: info, logger: Self.logger)
        for dir in ["/"] + directories {
            guard let entries = try? cold.readdir(dir).all() else { continue }
            for entry in entries where entry.exact && entry.attributes.kind != .directory {
                let p = (dir == "/" ? "" : dir) + "/" + entry.name
                guard model.writers.values.allSatisfy({ $0.path != p }),
                      let object = try other.head(container: "c", object: String(p.dropFirst())) else { continue }
                let want = FileAttributes(kind: Namespace.kind(contentType: object.contentType, size: object.size, symlink: false),
                                          size: object.size, metadata: object.metadata, lastModified: object.lastModified)
                if let differs = Self.difference(entry.attributes, want) {
                    throw Failure(description: "\(p): listed as \(differs.0), its object says \(differs.1)")
                }
                coldListedChecked += 1
            }
        }
    }

    func checkContent(_ p: String) throws {
        let bytes = try readAll(p)
        guard bytes == model.files[p]!.bytes else {
            let want = model.files[p]!.bytes
            let first = zip(bytes, want).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(bytes.count, want.count)
            throw Failure(description: "\(p): content differs from the model at byte \(first) (\(bytes.count) vs \(want.count) bytes)")
        }
    }

    /// Every static manifest's segments exist with the ETags it lists.
    func checkManifests() throws {
        for (container, names) in cluster.objects(of: "demo") {
            for name in names {
                guard let segments = cluster.manifestSegments(of: "demo", container: container, object: name) else { continue }
                for segment in segments where cluster.etag(of: "demo", container: segment.ref.container, object: segment.ref.name) != segment.etag {
                    throw Failure(description: "manifest \(container)/\(name): segment \(segment.ref.name) is gone or changed")
                }
            }
        }
    }

    /// At the end: every file's bytes, and no orphaned segments but those a crash or another
    /// client left at the time.
    func finalCheck() throws {
        releaseReclaims()
        try settleReclaims(after: .releaseReclaims)
        for p in model.files.keys.sorted() where model.pending[p] == nil { try checkContent(p) }
        let orphans = try SegmentCollector(client: other, container: "c", liveUploads: liveUploads).orphans(olderThan: 0, now: clock.now())
        let unexpected = orphans.map(\.uploadPrefix).filter { !allowedOrphans.contains($0) }
        guard unexpected.isEmpty else { throw Failure(description: "orphaned segments nothing explains: \(unexpected)") }
    }
}

/// Hands a result from another thread back, with a deadline (a hang fails the test).
final class ResultBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<Void, Error>?

    func set(_ value: Result<Void, Error>) {
        condition.lock()
        result = value
        condition.broadcast()
        condition.unlock()
    }

    func wait(timeout: Double = 60) throws {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while result == nil {
            guard condition.wait(until: deadline) else { throw Harness.Failure(description: "close from another thread hung") }
        }
        try result!.get()
    }
}

/// A transport that can be cut off, as a killed daemon's connections are. The cut is atomic: a
/// request either reached Swift before it or never does. After it every request fails at once
/// with an answer nothing retries, so the dead daemon's threads neither change the cluster nor
/// move the shared clock by backing off.
final class CuttableTransport: HTTPTransport {
    private let inner: any HTTPTransport
    private let state = Mutex((cut: false, inFlight: 0))
    private let storedSegments = Mutex(0)
    /// While true, the mount's segment reclaimer (its thread) waits before each request.
    let reclaimsHeld = Mutex(false)

    init(_ inner: any HTTPTransport) { self.inner = inner }

    func cut() {
        state.withLock { $0.cut = true }
        let deadline = Date().addingTimeInterval(30)
        while state.withLock({ $0.inFlight }) > 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.001) }
    }

    /// Segments this daemon stored (PUTs Swift acknowledged).
    var segmentPuts: Int { storedSegments.withLock { $0 } }

    func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        let deadline = Date().addingTimeInterval(120)
        while Thread.current.name == "reclaim", reclaimsHeld.withLock({ $0 }), Date() < deadline { Thread.sleep(forTimeInterval: 0.001) }
        let admitted = state.withLock { state in
            if !state.cut { state.inFlight += 1 }
            return !state.cut
        }
        guard admitted else { return HTTPResponse(status: 400, headers: HTTPHeaders(), body: Array("the daemon is gone".utf8)) }
        defer { state.withLock { $0.inFlight -= 1 } }
        let response = try inner.perform(request)
        if request.method == .put && request.url.contains("/c_segments/") && response.isSuccess { storedSegments.withLock { $0 += 1 } }
        return response
    }
}

extension DirectoryStream {
    /// Every entry, read as the kernel reads a directory: from number 0, a page at a time.
    func all() throws -> [DirectoryEntry] {
        var all: [DirectoryEntry] = []
        while case let page = try entries(from: all.count), !page.isEmpty { all += page }
        return all
    }
}

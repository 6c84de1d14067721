import Foundation
import Glibc
import Logging
import Synchronization
import SwiftStorage

/// Shared by every writer of a mount.
final class UploadContext: Sendable {
    let client: SwiftClient
    let container: String
    let segmentContainer: String
    let plan: SegmentPlan
    let threshold: Int
    let bulkDeleteLimit: Int?
    let manifest: ManifestKind
    let verifyMD5: Bool
    let pool: WorkerPool
    let budget: MemoryBudget
    let staging: StagingArea
    let transfers: TransferRegistry
    let reclaimer: SegmentReclaimer
    let metadataLimits: ClusterInfo.MetadataLimits
    let segmentLatency = Histogram(bounds: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])
    let live: LiveUploads
    let logger: Logger
    private let segmentContainerReady = Once()
    /// The storage URL journals are tied to (nil: unknown, nothing is journaled).
    private let storage: String?
    private let cacheDir: String
    /// Uploads a killed daemon left, by object name: writing the same file again resumes them.
    private let interrupted: Mutex<[String: UploadJournal.Interrupted]>
    /// How long an interrupted upload stays resumable.
    static let resumeGrace: TimeInterval = 24 * 3600

    init(client: SwiftClient, container: String, options: MountOptions, cluster: ClusterInfo,
         resources: MountResources, transfers: TransferRegistry, logger: Logger) {
        self.client = client
        self.container = container
        self.segmentContainer = options.segmentContainer ?? container + "_segments"
        self.plan = SegmentPlan(base: options.segmentSize, cluster: cluster)
        self.threshold = options.largeObjectThreshold
        self.bulkDeleteLimit = cluster.bulkDeleteLimit
        self.metadataLimits = cluster.metadataLimits
        self.manifest = options.manifest
        self.verifyMD5 = options.verifyMD5
        self.pool = resources.uploadPool
        self.budget = resources.spoolBudget
        self.staging = StagingArea(directory: options.cacheDir)
        self.transfers = transfers
        self.reclaimer = resources.reclaimer
        self.live = resources.live
        self.logger = logger
        cacheDir = options.cacheDir
        storage = try? client.connection.current().storageURL
        // A read-only or DLO mount could never resume them: it leaves them to a mount that can.
        let canResume = options.manifest == .slo && !options.fuseOptions.contains("ro")
        var found: [String: UploadJournal.Interrupted] = [:]
        if canResume, let storage {
            found = UploadJournal.interrupted(cacheDir: options.cacheDir, storage: storage, container: container,
                                              segmentContainer: segmentContainer, grace: Self.resumeGrace, logger: logger)
        }
        interrupted = Mutex(found)
        for upload in found.values {
            // Listed by `swiftmount status`, and left alone by `gc` while this mount can resume them.
            live.begin(segmentContainer + "/" + upload.prefix)
            logger.notice("an interrupted upload of \(upload.identity.object) (\(upload.segments.count) segments stored) resumes when that file is written again")
        }
    }

    /// A journal for a new upload; nil (said in the log) if it cannot be written: the upload
    /// goes on, only a resume after a crash is lost.
    func journal(object: String, prefix: String) -> UploadJournal? {
        guard let storage, manifest == .slo else { return nil }
        do {
            return try UploadJournal.create(cacheDir: cacheDir, identity: .init(storage: storage, container: container, object: object,
                                                                                segmentContainer: segmentContainer), prefix: prefix)
        } catch {
            logger.warning("\(object): no upload journal (\(error)); a crash would mean sending it all again")
            return nil
        }
    }

    /// The interrupted upload of `object` to resume, taken (once).
    func claimInterrupted(_ object: String) -> UploadJournal.Interrupted? {
        guard manifest == .slo else { return nil }
        return interrupted.withLock { found in
            guard let upload = found[object], upload.identity.segmentContainer == segmentContainer else { return nil }
            found[object] = nil
            return upload
        }
    }

    /// The ETag header that makes Swift verify a body (nil: empty), when `verify_md5` is on.
    func checksumHeader(_ body: FileRegion?) throws -> [(name: String, value: String)] {
        guard verifyMD5 else { return [] }
        return [("ETag", try body.map(MD5.hex(of:)) ?? MD5.hex([]))]
    }

    /// Queues the segments of the large object that was at `path` for deletion once no manifest
    /// uses them; `rm` and `close` do not wait for the account scan. They are listed now: an
    /// object stored later under a dynamic manifest's prefix is not its. Those of its
    /// replacement (under `keepingPrefix`) and of every upload under way are never among them:
    /// another writer of the name may still store a manifest over its own earlier segments (an
    /// fsync's manifest replaced meanwhile), and a DLO over "X" covers an upload of "X2". An
    /// upload its unlink discarded has ended. `unlinked`: the object is gone, so a listing that
    /// still shows it is not a copy.
    func reclaim(_ manifest: LargeObjectManifest, of path: ObjectPath, keepingPrefix: String? = nil, unlinked: Bool = false) {
        do {
            let spared = live.all.map { $0 + "/" } + (keepingPrefix.map { [segmentContainer + "/" + $0 + "/"] } ?? [])
            let segments = try client.segments(of: manifest).filter { segment in
                let full = segment.container + "/" + segment.name
                return !spared.contains { full.hasPrefix($0) }
            }
            reclaimer.submit(.init(manifest: manifest, object: ObjectRef(container: container, name: path.key), unlinked: unlinked,
                                   segments: segments, bulkLimit: bulkDeleteLimit))
        } catch {
            logger.warning("\(path): could not list its old segments: \(error); `swiftmount gc` finds them")
        }
    }

    /// The time of a change, by the client's clock.
    var now: FileTime { FileTime(client.clock.now()) }

    func ensureSegmentContainer() throws {
        try segmentContainerReady.run { try client.createContainer(segmentContainer) }
    }

    /// Stores the manifest that makes `upload`'s segments one object.
    func putManifest(object: String, upload: SegmentedUpload, segments: [SegmentRef],
                     headers: [(name: String, value: String)]) throws {
        switch manifest {
        case .slo:
            try client.putStaticLargeObject(container: container, object: object, segments: segments, headers: headers)
        case .dlo:
            try client.putDynamicLargeObject(container: container, object: object, segmentContainer: segmentContainer,
                                             segmentPrefix: upload.prefix + "/", headers: headers)
        }
    }
}

/// Segmented uploads under way ("segment container/prefix"), for `swiftmount gc`.
final class LiveUploads: Sendable {
    private let prefixes = Mutex<Set<String>>([])

    func begin(_ prefix: String) { _ = prefixes.withLock { $0.insert(prefix) } }
    func end(_ prefix: String) { _ = prefixes.withLock { $0.remove(prefix) } }
    var all: [String] { prefixes.withLock { $0.sorted() } }
}

/// Runs a throwing action until it has succeeded once. The lock is held while the action runs
/// (a request, once per mount): that is what makes callers arriving meanwhile wait for it.
final class Once: Sendable {
    private let done = Mutex(false)

    func run(_ action: () throws -> Void) throws {
        try done.withLock { done in
            guard !done else { return }
            try action()
            done = true
        }
    }
}

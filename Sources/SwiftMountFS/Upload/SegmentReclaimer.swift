import Foundation
import Logging
import SwiftStorage

/// Deletes the segments of large objects the mount removed or replaced, once no other manifest in
/// the account uses them. It works in the background: proving that takes a listing of every
/// container (twice), which `rm` and `close` should not wait for, and what is asked while a scan
/// runs shares the next one, so `rm *.img` costs one scan, not one per file. What is still
/// queued when the daemon dies is garbage for `swiftmount gc`, never a broken object.
///
/// Unchecked: waiters block on an NSCondition; Mutex cannot wait.
final class SegmentReclaimer: @unchecked Sendable {
    struct Request: Sendable {
        /// The manifest of the object that is gone or replaced.
        var manifest: LargeObjectManifest
        /// That object: deleted, or holding its replacement now.
        var object: ObjectRef
        /// Deleted: a listing that still shows it (a lagging one) shows no copy.
        var unlinked: Bool
        /// Its segments when it was queued, less its replacement's and those of uploads under way.
        var segments: [ObjectRef]
        var bulkLimit: Int?
    }

    private let client: SwiftClient
    private let logger: Logger
    private let condition = NSCondition()
    private var queued: [Request] = []
    /// Requests taken by the worker and not yet done.
    private var working = 0
    /// The worker thread lives while there is work, so an idle mount holds none.
    private var workerRunning = false
    private var stopWaiting = false

    init(client: SwiftClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    func submit(_ request: Request) {
        condition.lock()
        defer { condition.unlock() }
        queued.append(request)
        guard !workerRunning else { return }
        workerRunning = true
        // Named from inside: on Linux a name given before start() is lost.
        Thread { [self] in
            Thread.current.name = "reclaim"
            run()
        }.start()
    }

    /// Removed or replaced objects whose segments are still to be judged and deleted.
    var pending: Int {
        condition.lock()
        defer { condition.unlock() }
        return queued.count + working
    }

    /// Waits until nothing is pending, `deadline` passes or `endWait` is called; returns how many
    /// requests are left.
    @discardableResult
    func waitIdle(until deadline: Date) -> Int {
        condition.lock()
        defer { condition.unlock() }
        while queued.count + working > 0 && !stopWaiting && condition.wait(until: deadline) {}
        return queued.count + working
    }

    /// A second shutdown signal: whoever waits stops waiting.
    func endWait() {
        condition.lock()
        stopWaiting = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            let batch = queued
            queued = []
            working = batch.count
            if batch.isEmpty { workerRunning = false }
            condition.unlock()
            if batch.isEmpty { return }
            reclaim(batch)
            condition.lock()
            working = 0
            condition.broadcast()
            condition.unlock()
        }
    }

    private func reclaim(_ batch: [Request]) {
        // One scan for the whole batch: of the manifests with the same slo_etag as a static one
        // queued, or of every static manifest when a dynamic one is queued (its prefix may hold
        // segments a static manifest lists). A failed scan fails only the requests that need it.
        let hasDynamic = batch.contains { if case .dynamic = $0.manifest { true } else { false } }
        let etags: Set<String>? = hasDynamic ? nil : Set(batch.compactMap {
            if case .staticSegments(_, let etag) = $0.manifest { etag } else { nil }
        })
        let listed = Result { try client.segmentsListed(byStaticManifestsWith: etags, gone: Set(batch.filter(\.unlinked).map(\.object))) }
        var dynamicCopies: [String: Result<[LargeObjectManifest], Error>] = [:]
        for request in batch {
            let path = "/" + request.object.name
            do {
                let listed = try listed.get()
                var segments = request.segments
                switch request.manifest {
                case .staticSegments(_, let etag):
                    guard !listed.unknown.contains(etag) else {
                        logger.notice("\(path): a listed copy of its manifest could not be read; its old segments are left for `swiftmount gc`")
                        continue
                    }
                    guard Set(segments).isDisjoint(with: listed.segments) else { continue }
                case .dynamic:
                    guard listed.unknown.isEmpty else {
                        logger.notice("\(path): a listed manifest could not be read; its old segments are left for `swiftmount gc`")
                        continue
                    }
                    // Another dynamic manifest whose prefix covers a segment keeps it (a copy has the same prefix).
                    let container = request.object.container
                    let copies = dynamicCopies[container] ?? Result { try client.dynamicManifests(in: container) }
                    dynamicCopies[container] = copies
                    var covered = SegmentReferences()
                    covered.segments = listed.segments
                    for case .dynamic(let prefix) in try copies.get() { covered.prefixes.append(prefix) }
                    segments.removeAll(where: covered.contains)
                }
                try client.deleteMany(segments, bulkLimit: request.bulkLimit)
                logger.debug("\(path): deleted \(segments.count) segments it no longer uses")
            } catch {
                logger.warning("\(path): could not delete its old segments: \(error); `swiftmount gc` finds them")
            }
        }
    }
}

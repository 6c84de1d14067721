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
        /// Where that object was: a rename's dynamic copy would be there too.
        var container: String
        /// The replacement's own segments ("container" + "prefix/"), kept whatever the scan says.
        var keeping: ObjectRef?
        var bulkLimit: Int?
        /// For the log.
        var path: String
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
        let thread = Thread { [self] in run() }
        thread.name = "reclaim"
        thread.start()
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
        let etags = Set(batch.compactMap { request -> String? in
            if case .staticSegments(_, let etag) = request.manifest { return etag }
            return nil
        })
        // One scan for the whole batch; a failed scan fails only the requests that need it.
        let listed = Result { try client.segmentsListed(byStaticManifestsWith: etags) }
        var dynamicCopies: [String: Result<[LargeObjectManifest], Error>] = [:]
        for request in batch {
            do {
                switch request.manifest {
                case .staticSegments(let segments, _):
                    guard Set(segments).isDisjoint(with: try listed.get()) else { continue }
                case .dynamic:
                    let copies = dynamicCopies[request.container] ?? Result { try client.dynamicManifests(in: request.container) }
                    dynamicCopies[request.container] = copies
                    guard try !copies.get().contains(request.manifest) else { continue }
                }
                var segments = try client.segments(of: request.manifest)
                if let keep = request.keeping {
                    segments.removeAll { $0.container == keep.container && $0.name.hasPrefix(keep.name) }
                }
                try client.deleteMany(segments, bulkLimit: request.bulkLimit)
                logger.debug("\(request.path): deleted \(segments.count) segments it no longer uses")
            } catch {
                logger.warning("\(request.path): could not delete its old segments: \(error); `swiftmount gc` finds them")
            }
        }
    }
}

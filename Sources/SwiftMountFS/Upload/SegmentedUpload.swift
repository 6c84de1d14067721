import Foundation
import Logging
import SwiftStorage
import Synchronization

/// The segments of one large object, PUT in the background while the writer goes on, then
/// stitched together by a static large object manifest.
///
/// Each segment's bytes are kept in `cache_dir` until Swift acknowledges them, so a PUT that fails
/// (401, 5xx, a reset connection) is re-sent from there; nothing is dropped. The bytes waiting
/// are bounded by `budget` (`max_write_buffer`).
/// Unchecked: the writer waits for its segments on an NSCondition; Mutex cannot wait.
final class SegmentedUpload: @unchecked Sendable {
    let segmentContainer: String
    /// Unique per upload, so a concurrent or retried upload of the same name never shares segments;
    /// only the resume of an interrupted upload (which never stored a manifest) takes one over.
    let prefix: String
    private let context: UploadContext
    private let transfer: Transfer
    /// Where acknowledged segments are recorded, so a killed daemon's upload can be resumed.
    private let journal: UploadJournal?
    /// The interrupted upload this one resumes: a segment of it whose bytes hash the same and
    /// have the same size is not sent again.
    private let resumed: UploadJournal.Interrupted?
    /// Its segments by index, journaled and listed; read once, by the first segment job.
    private let earlierSegments = Mutex<[Int: UploadJournal.Segment]?>(nil)
    private var client: SwiftClient { context.client }
    private var logger: Logger { context.logger }

    private let condition = NSCondition()
    private var acknowledged: [Int: SegmentRef] = [:]
    private var inFlight = 0
    private var failure: Error?
    private var submitted = 0
    /// Segments queued for the pool, each taken by the job that sends it.
    private var pending: [Int: (region: FileRegion, offset: Int)] = [:]
    /// The file offset the next segment starts at.
    private var nextOffset = 0
    /// Segments taken over from the interrupted upload instead of being sent.
    private var reused = 0

    /// With `resuming`, the upload goes on under the interrupted upload's prefix and journal.
    init(context: UploadContext, object: String, transfer: Transfer, resuming: UploadJournal.Interrupted? = nil) {
        self.context = context
        self.transfer = transfer
        self.segmentContainer = context.segmentContainer
        let prefix = resuming?.prefix ?? "\(object)/swiftmount/\(Self.uploadID())"
        self.prefix = prefix
        resumed = resuming
        journal = resuming?.journal ?? context.journal(object: object, prefix: prefix)
        context.live.begin(segmentContainer + "/" + prefix)
    }

    /// The upload is over (stored, aborted, or its file closed): gc may judge its segments, and
    /// there is nothing left to resume.
    func end() {
        journal?.remove()
        context.live.end(segmentContainer + "/" + prefix)
    }

    static func uploadID() -> String {
        let stamp = String(format: "%.6f", Date().timeIntervalSince1970)
        return "\(stamp)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    func segmentName(_ index: Int) -> String {
        prefix + "/" + String(format: "%08d", index)
    }

    /// Queues a segment (its bytes wait in a spool or staged file); blocks while the mount's
    /// spool is full. Throws the first failure of an earlier segment so the writer stops early.
    func submit(_ segment: FileRegion) throws {
        try checkFailure()
        let size = segment.count
        context.budget.acquire(size)
        condition.lock()
        let index = submitted + 1
        submitted = index
        inFlight += 1
        pending[index] = (segment, nextOffset)
        nextOffset += size
        condition.unlock()
        let queued = Date()
        context.pool.submit { [self] in
            let result = put(index)
            context.segmentLatency.observe(Date().timeIntervalSince(queued))
            // Acknowledged (or failed for good), and the spool file closed with the region: a
            // writer waiting for room in cache_dir finds it.
            context.budget.release(size)
            condition.lock()
            inFlight -= 1
            switch result {
            case .success(let etag):
                acknowledged[index] = SegmentRef(path: "/\(segmentContainer)/\(segmentName(index))", etag: etag, sizeBytes: size)
                transfer.advance(size, segment: true)
            case .failure(let error):
                if failure == nil { failure = error }
                logger.error("segment \(index) of \(prefix) failed for good: \(error)")
            }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// PUTs segment `index` and journals it; its region is dropped when this returns.
    private func put(_ index: Int) -> Result<String, Error> {
        let (segment, offset) = condition.withLock { pending.removeValue(forKey: index)! }
        if let old = earlier()[index], old.size == segment.count, isStored(old, as: index, bytes: segment) {
            condition.withLock { reused += 1 }
            return .success(old.etag)
        }
        // With verify_md5, Swift checks the body against its MD5; a 422 mismatch is re-sent.
        let result = Result {
            try client.put(container: segmentContainer, object: segmentName(index), file: segment,
                           headers: context.checksumHeader(segment))
        }
        if case .success(let etag) = result, let journal {
            do { try journal.record(.init(index: index, offset: offset, size: segment.count, etag: etag)) } catch {
                logger.warning("\(prefix): \(error); a resume after a crash would send this segment again")
            }
        }
        return result
    }

    /// The interrupted upload's segments: its journal's, and those a listing of its prefix shows
    /// (stored, but the crash cut their acknowledgement short). Listed outside any lock.
    private func earlier() -> [Int: UploadJournal.Segment] {
        guard let resumed else { return [:] }
        if let known = earlierSegments.withLock({ $0 }) { return known }
        let listed = (try? client.listAll(container: segmentContainer, prefix: prefix + "/", delimiter: nil)) ?? []
        let all = resumed.adding(listed: listed)
        earlierSegments.withLock { $0 = all }
        return all
    }

    /// Whether the interrupted upload's segment holds these bytes: they hash to its ETag, and
    /// Swift still has it with that ETag (`gc` may have deleted it since, a crashed resume may
    /// have rewritten it: every replica is asked).
    private func isStored(_ old: UploadJournal.Segment, as index: Int, bytes: FileRegion) -> Bool {
        guard (try? MD5.hex(of: bytes)) == old.etag else { return false }
        return (try? client.head(container: segmentContainer, object: segmentName(index), newest: true))??.etag == old.etag
    }

    /// Called before each manifest PUT: from then on a manifest may refer to this prefix, so its
    /// journal must never be resumed. If that cannot be written down, the journal goes instead.
    func prepareManifest() throws {
        guard let journal else { return }
        do { try journal.markClosing() } catch {
            journal.remove()
            guard !FileManager.default.fileExists(atPath: journal.path) else { throw error }
        }
    }

    /// After a manifest over the first `count` segments is stored by a resumed upload: the
    /// interrupted upload's segments past them belong to no manifest (it never stored one).
    func dropUnusedEarlierSegments(after count: Int) {
        guard resumed != nil else { return }
        let extra = (try? client.listAll(container: segmentContainer, prefix: prefix + "/", delimiter: nil)) ?? []
        let names = extra.compactMap { entry -> String? in
            guard case .object(let o) = entry, let index = Int(o.name.dropFirst(prefix.count + 1)), index > count else { return nil }
            return o.name
        }
        guard !names.isEmpty else { return }
        do {
            try client.deleteMany(names.map { ObjectRef(container: segmentContainer, name: $0) }, bulkLimit: context.bulkDeleteLimit)
        } catch {
            logger.warning("could not delete \(names.count) unused segments of the resumed upload \(prefix): \(error); `swiftmount gc` finds them")
        }
    }

    /// Segments taken over from an interrupted upload rather than sent (nil: not a resume).
    var reusedSegments: Int? {
        resumed == nil ? nil : condition.withLock { reused }
    }

    var segmentCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return submitted
    }

    private func checkFailure() throws {
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
    }

    /// Waits for every segment; returns them in order or throws the first failure.
    func waitForSegments() throws -> [SegmentRef] {
        condition.lock()
        defer { condition.unlock() }
        while inFlight > 0 { condition.wait() }
        if let failure { throw failure }
        return (1...max(submitted, 1)).compactMap { acknowledged[$0] }
    }

    /// Deletes the segments stored after the first `kept` (those belong to a stored manifest) once
    /// the upload has failed; best effort, logged (`swiftmount gc` finds any left).
    func abort(keepingFirst kept: Int) {
        condition.lock()
        while inFlight > 0 { condition.wait() }
        let names = acknowledged.keys.sorted().filter { $0 > kept }.map(segmentName)
        condition.unlock()
        journal?.remove()
        do {
            try client.deleteMany(names.map { ObjectRef(container: segmentContainer, name: $0) }, bulkLimit: context.bulkDeleteLimit)
        } catch {
            logger.warning("could not delete the \(names.count) segments of failed upload \(prefix): \(error); `swiftmount gc` finds them")
        }
    }
}

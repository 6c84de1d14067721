import Foundation
import Glibc
import Logging
import SwiftStorage

/// Shared by every reader of a mount.
final class ReadContext: Sendable {
    let client: SwiftClient
    let container: String
    let retryGetCount: Int
    let maxWindow: Int
    let pool: WorkerPool
    let logger: Logger
    let backoff = Backoff(base: 0.5, cap: 8)

    init(client: SwiftClient, container: String, options: MountOptions, logger: Logger) {
        self.client = client
        self.container = container
        self.retryGetCount = options.retryGetCount
        self.maxWindow = max(options.readAhead, 1 << 20)
        self.pool = WorkerPool(name: "read", threads: options.readConcurrency)
        self.logger = logger
    }

    /// Bytes `range` of an object version, retried up to `retryGetCount` times. Each retry asks for
    /// the first byte not yet received and goes through the ConnectionManager's expiry check first
    /// (inside SwiftClient.send). A stream is never silently short: out of retries, it throws.
    func fetch(object: String, etag: String, range: Range<Int>) throws -> [UInt8] {
        var received: [UInt8] = []
        received.reserveCapacity(range.count)
        var failures = 0
        while received.count < range.count {
            let rest = (range.lowerBound + received.count)..<range.upperBound
            do {
                let bytes = try client.get(container: container, object: object, range: rest, ifMatch: etag, policy: .once)
                if bytes.isEmpty {
                    throw FSError(EIO, "\(object): object ended at \(rest.lowerBound), expected \(range.upperBound) bytes")
                }
                received.append(contentsOf: bytes.prefix(rest.count))
                continue
            } catch let error as HTTPTransportError {
                received.append(contentsOf: error.partialBody.prefix(rest.count))
                failures += 1
                if failures > retryGetCount { throw FSError(EIO, "\(object): \(error.message) after \(failures) attempts") }
                logger.notice("GET \(object) bytes \(rest.lowerBound)-: \(error.message); retry \(failures) of \(retryGetCount)")
            } catch SwiftError.unavailable(let why) {
                failures += 1
                if failures > retryGetCount { throw FSError(EIO, "\(why) after \(failures) attempts") }
                logger.notice("\(why); retry \(failures) of \(retryGetCount)")
            }
            Thread.sleep(forTimeInterval: backoff.delay(afterAttempt: failures - 1))
        }
        return received
    }
}

/// A file open for reading, pinned to the version seen at open (its ETag).
///
/// Sequential reads get a growing window fetched with ranged GETs, and the next window is fetched
/// in the background while the current one is consumed; random reads fetch only what they ask for.
final class FileReader: @unchecked Sendable {
    let path: ObjectPath
    let size: Int
    let etag: String
    private let context: ReadContext
    private let lock = NSLock()

    private var chunkStart = 0
    private var chunk: [UInt8] = []
    private var next: (start: Int, count: Int, pending: Pending<[UInt8]>)?
    private var window = 1 << 20
    private var lastEnd = 0

    private static let minimumRequest = 128 << 10

    init(path: ObjectPath, size: Int, etag: String, context: ReadContext) {
        self.path = path
        self.size = size
        self.etag = etag
        self.context = context
    }

    func read(offset: Int, count: Int) throws -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        let end = min(offset + count, size)
        guard offset < end else { return [] }
        let sequential = offset == lastEnd
        lastEnd = end
        var out: [UInt8] = []
        out.reserveCapacity(end - offset)
        var position = offset
        while position < end {
            if !(chunkStart..<(chunkStart + chunk.count)).contains(position) {
                try load(at: position, wanted: end - position, sequential: sequential)
            }
            let from = position - chunkStart
            let take = min(end - position, chunk.count - from)
            out.append(contentsOf: chunk[from..<(from + take)])
            position += take
        }
        return out
    }

    private func load(at position: Int, wanted: Int, sequential: Bool) throws {
        if let next, next.start == position {
            self.next = nil
            chunk = try next.pending.wait()
            chunkStart = position
        } else {
            if let next { _ = try? next.pending.wait() }
            next = nil
            if sequential {
                window = min(window * 2, context.maxWindow)
            } else {
                window = 1 << 20
            }
            let count = min(sequential ? max(window, wanted) : max(wanted, Self.minimumRequest), size - position)
            chunk = try context.fetch(object: path.key, etag: etag, range: position..<(position + count))
            chunkStart = position
        }
        if sequential { prefetch(after: chunkStart + chunk.count) }
    }

    private func prefetch(after start: Int) {
        guard start < size, next == nil else { return }
        window = min(window * 2, context.maxWindow)
        let count = min(window, size - start)
        let pending = Pending<[UInt8]>()
        let context = context, key = path.key, etag = etag
        context.pool.submit {
            pending.fulfill(Result { try context.fetch(object: key, etag: etag, range: start..<(start + count)) })
        }
        next = (start, count, pending)
    }

    /// Waits for background work so nothing outlives the handle.
    func close() {
        lock.lock()
        defer { lock.unlock() }
        if let next { _ = try? next.pending.wait() }
        next = nil
    }
}

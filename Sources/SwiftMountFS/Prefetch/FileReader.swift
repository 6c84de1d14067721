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
    /// Read-ahead windows held by all readers of the mount.
    let budget: MemoryBudget
    let buffers: BufferRecycler
    let transfers: TransferRegistry
    let logger: Logger

    init(client: SwiftClient, container: String, options: MountOptions, resources: MountResources, transfers: TransferRegistry,
         logger: Logger) {
        self.client = client
        self.container = container
        self.retryGetCount = options.retryGetCount
        self.maxWindow = max(options.readAhead, 1 << 20)
        self.pool = resources.readPool
        self.budget = resources.readBudget
        self.buffers = resources.readBuffers
        self.transfers = transfers
        self.logger = logger
    }

    /// Bytes `range` of an object version, whole (`SwiftClient.getWhole` resumes a GET cut
    /// short, up to `retry_get_count` times).
    func fetch(object: String, etag: String, range: Range<Int>) throws -> [UInt8] {
        try client.getWhole(container: container, object: object, range: range, ifMatch: etag, retries: retryGetCount,
                            reusing: buffers.take(capacity: range.count))
    }
}

/// A file open for reading, pinned to the version seen at open (its ETag).
///
/// Sequential reads get a growing window fetched with ranged GETs; the next windows are fetched
/// in the background while the current one is consumed; random reads fetch only what they ask for.
/// Unchecked: its window state sits behind `lock` (NSLock), which a read holds while it fetches
/// the window it needs (issue 15: move that fetch out of the lock).
final class FileReader: @unchecked Sendable {
    let path: ObjectPath
    let size: Int
    let etag: String
    private let context: ReadContext
    private let lock = NSLock()

    private var chunkStart = 0
    private var chunk: [UInt8] = []
    /// Windows requested in the background, contiguous after the current chunk.
    private var ahead: [(start: Int, count: Int, pending: Pending<[UInt8]>)] = []
    private var window = 1 << 20
    private var lastEnd = 0

    private static let minimumRequest = 128 << 10
    /// Windows in flight ahead of the reader: one keeps the link busy while the other is consumed.
    private static let windowsAhead = 2

    /// As they were at open: fstat on the handle answers from these.
    let attributes: FileAttributes
    private let transfer: Transfer

    init(path: ObjectPath, size: Int, etag: String, attributes: FileAttributes, context: ReadContext) {
        self.path = path
        self.size = size
        self.etag = etag
        self.attributes = attributes
        self.context = context
        transfer = context.transfers.start(.read, path: path.description, total: size)
    }

    /// The bytes at `offset`, as slices of the fetched windows (usually one), so the FUSE layer
    /// copies them once into the kernel's buffer.
    func read(offset: Int, count: Int) throws -> [ArraySlice<UInt8>] {
        lock.lock()
        defer { lock.unlock() }
        let end = min(offset + count, size)
        guard offset < end else { return [] }
        let sequential = offset == lastEnd
        lastEnd = end
        var pieces: [ArraySlice<UInt8>] = []
        var position = offset
        while position < end {
            if !(chunkStart..<(chunkStart + chunk.count)).contains(position) {
                try load(at: position, wanted: end - position, sequential: sequential)
            }
            let from = position - chunkStart
            let take = min(end - position, chunk.count - from)
            pieces.append(chunk[from..<(from + take)])
            position += take
        }
        transfer.advance(end - offset)
        return pieces
    }

    private func load(at position: Int, wanted: Int, sequential: Bool) throws {
        context.buffers.recycle(&chunk)
        if let first = ahead.first, first.start == position {
            ahead.removeFirst()
            defer { context.budget.release(first.count) }
            chunk = try first.pending.wait()
            chunkStart = position
        } else {
            // A jump: windows fetched for the old position are of no use.
            dropAhead()
            window = sequential ? min(window * 2, context.maxWindow) : 1 << 20
            let count = min(sequential ? max(window, wanted) : max(wanted, Self.minimumRequest), size - position)
            chunk = try context.fetch(object: path.key, etag: etag, range: position..<(position + count))
            chunkStart = position
        }
        if sequential { prefetch() }
    }

    private func prefetch() {
        var start = ahead.last.map { $0.start + $0.count } ?? chunkStart + chunk.count
        while ahead.count < Self.windowsAhead && start < size {
            let grown = min(window * 2, context.maxWindow)
            let count = min(grown, size - start)
            // Over the mount's cap, this reader goes on with on-demand reads.
            guard context.budget.tryAcquire(count) else { return }
            window = grown
            let pending = Pending<[UInt8]>()
            let context = context, key = path.key, etag = etag, from = start
            context.pool.submit {
                pending.fulfill(Result { try context.fetch(object: key, etag: etag, range: from..<(from + count)) })
            }
            ahead.append((start, count, pending))
            start += count
        }
    }

    /// Lets go of windows fetched ahead; a fetch still running finishes and is dropped.
    private func dropAhead() {
        for window in ahead { context.budget.release(window.count) }
        ahead.removeAll()
    }

    /// Waits for background fetches so nothing outlives the handle.
    func close() {
        lock.lock()
        defer { lock.unlock() }
        for window in ahead { _ = try? window.pending.wait() }
        dropAhead()
        context.buffers.recycle(&chunk)
        transfer.set(.closed)
        context.transfers.end(transfer)
    }
}

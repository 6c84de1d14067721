import Foundation
import Glibc
import Logging
import SwiftStorage

/// Shared by every writer of a mount.
final class UploadContext: Sendable {
    let client: SwiftClient
    let container: String
    let segmentContainer: String
    let segmentSize: Int
    let threshold: Int
    let pool: WorkerPool
    let budget: MemoryBudget
    let logger: Logger
    private let segmentContainerReady = Once()

    init(client: SwiftClient, container: String, options: MountOptions, logger: Logger) {
        self.client = client
        self.container = container
        self.segmentContainer = options.segmentContainer ?? container + "_segments"
        self.segmentSize = options.segmentSize
        self.threshold = options.largeObjectThreshold
        self.pool = WorkerPool(name: "upload", threads: options.uploadConcurrency)
        self.budget = MemoryBudget(capacity: max(options.maxWriteBuffer, 2 * options.segmentSize))
        self.logger = logger
    }

    func ensureSegmentContainer() throws {
        try segmentContainerReady.run { try client.createContainer(segmentContainer) }
    }
}

/// Runs a throwing action until it has succeeded once.
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false

    func run(_ action: () throws -> Void) throws {
        lock.lock()
        defer { lock.unlock() }
        guard !done else { return }
        try action()
        done = true
    }
}

/// A file open for writing. Sequential writes fill a buffer; once the file is known to be larger
/// than the threshold, full segments go to a SegmentedUpload while the writer keeps writing.
/// `commit` makes the object appear: one PUT for a small file, the manifest for a large one.
///
/// A commit does not end the file: the opener may close one of several descriptors (a dup) and
/// write on; the next flush commits again (a small file keeps its bytes for that; a large one
/// adds segments and stores a longer manifest).
final class FileWriter: @unchecked Sendable {
    let path: ObjectPath
    /// Process that opened the file; its close commits (see SwiftFilesystem.flush).
    let opener: Int32
    private let context: UploadContext
    private let lock = NSLock()
    /// Full segments held back while the file is still below the threshold.
    private var held: [[UInt8]] = []
    private var buffer: [UInt8] = []
    private var upload: SegmentedUpload?
    private(set) var size = 0
    /// Written since the last commit (true at first, so an empty new file is stored too).
    private var dirty = true
    private var failure: FSError?
    private var aborted = false

    init(path: ObjectPath, opener: Int32, context: UploadContext) {
        self.path = path
        self.opener = opener
        self.context = context
    }

    var currentSize: Int {
        lock.lock()
        defer { lock.unlock() }
        return size
    }

    func write(offset: Int, data: [UInt8]) throws {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        guard offset == size else {
            throw FSError(EOPNOTSUPP, "\(path): write at \(offset) but the file ends at \(size); only sequential writes are supported")
        }
        dirty = true
        var consumed = 0
        while consumed < data.count {
            if buffer.isEmpty { buffer.reserveCapacity(context.segmentSize) }
            let take = min(data.count - consumed, context.segmentSize - buffer.count)
            buffer.append(contentsOf: data[consumed..<(consumed + take)])
            consumed += take
            size += take
            if buffer.count == context.segmentSize {
                held.append(buffer)
                buffer = []
            }
            do {
                try startSegmentsIfLarge()
            } catch {
                let fsError = FSError.from(error)
                failure = fsError
                throw fsError
            }
        }
    }

    /// Once the file is past the threshold, every full segment is handed to the upload.
    private func startSegmentsIfLarge() throws {
        guard size > context.threshold else { return }
        if upload == nil {
            try context.ensureSegmentContainer()
            upload = SegmentedUpload(client: context.client, segmentContainer: context.segmentContainer,
                                     object: path.key, pool: context.pool, budget: context.budget, logger: context.logger)
        }
        while !held.isEmpty {
            try upload!.submit(held.removeFirst())
        }
    }

    /// Stores the object; returns only when Swift has it, or throws why not.
    func commit() throws {
        lock.lock()
        defer { lock.unlock() }
        if let failure {
            // A segment failed during write(): remove what was stored, once.
            if !aborted, let upload { upload.abort() }
            aborted = true
            throw failure
        }
        guard dirty else { return }
        let mtime = ("X-Object-Meta-Mtime", String(format: "%.6f", Date().timeIntervalSince1970))
        do {
            if let upload {
                if !buffer.isEmpty { try upload.submit(buffer) }
                buffer = []
                let segments: [SegmentRef]
                do {
                    segments = try upload.waitForSegments()
                    try context.client.putStaticLargeObject(container: context.container, object: path.key,
                                                             segments: segments, headers: [mtime])
                } catch {
                    upload.abort()
                    aborted = true
                    throw error
                }
                context.logger.info("stored \(path) (\(size) bytes, \(segments.count) segments)")
            } else {
                // Kept, not cleared: a later write may extend the file and commit it again.
                let body = held.flatMap { $0 } + buffer
                try context.client.put(container: context.container, object: path.key, body: body, headers: [mtime])
                context.logger.debug("stored \(path) (\(size) bytes)")
            }
            dirty = false
        } catch {
            let fsError = FSError.from(error)
            failure = fsError
            context.logger.error("upload of \(path) failed: \(fsError)")
            throw fsError
        }
    }
}

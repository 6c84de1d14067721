import Foundation
import Glibc
import Logging
import SwiftStorage

/// Shared by every writer of a mount.
final class UploadContext: Sendable {
    let client: SwiftClient
    let container: String
    let segmentContainer: String
    let plan: SegmentPlan
    let threshold: Int
    let manifest: ManifestKind
    let verifyMD5: Bool
    let pool: WorkerPool
    let budget: MemoryBudget
    let buffers: BufferRecycler
    let logger: Logger
    private let segmentContainerReady = Once()

    init(client: SwiftClient, container: String, options: MountOptions, cluster: ClusterInfo, logger: Logger) {
        self.client = client
        self.container = container
        self.segmentContainer = options.segmentContainer ?? container + "_segments"
        self.plan = SegmentPlan(base: options.segmentSize, cluster: cluster)
        self.threshold = options.largeObjectThreshold
        self.manifest = options.manifest
        self.verifyMD5 = options.verifyMD5
        self.pool = WorkerPool(name: "upload", threads: options.uploadConcurrency)
        self.budget = MemoryBudget(capacity: max(options.maxWriteBuffer, 2 * options.segmentSize))
        self.buffers = BufferRecycler(keep: max(options.maxWriteBuffer, 2 * options.segmentSize) / options.segmentSize)
        self.logger = logger
    }

    /// The ETag header that makes Swift verify a body, when `verify_md5` is on.
    func checksumHeader(_ body: [UInt8]) -> [(name: String, value: String)] {
        verifyMD5 ? [("ETag", MD5.hex(body))] : []
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
/// Writes past the end (a sparse copy skipping holes) are filled with zeros.
///
/// A commit does not end the file: the opener may close one of several descriptors (a dup) and
/// write on, or fsync; the next flush commits again (a small file keeps its bytes for that; a
/// large one adds segments and stores a longer manifest).
///
/// Replacing an existing large object: the new segments are uploaded under a new prefix, the
/// manifest is swapped, and only then are the old segments deleted.
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
    /// Segments already referenced by a stored manifest (kept if a later part fails).
    private var manifested = 0
    private var replaced: ReplacedObject?
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

    private var segmentSize: Int { context.plan.size(after: upload?.segmentCount ?? 0) }

    func write(offset: Int, data: [UInt8]) throws {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        guard offset >= size else {
            throw FSError(EOPNOTSUPP, "\(path): write at \(offset) but \(size) bytes are written; files are written sequentially")
        }
        try append(zeros: offset - size)
        try append(data[...])
    }

    /// ftruncate(2) while writing: growing fills zeros; shrinking what is written is refused.
    func extend(to newSize: Int) throws {
        lock.lock()
        defer { lock.unlock() }
        if let failure { throw failure }
        guard newSize >= size else {
            throw FSError(EOPNOTSUPP, "\(path): cannot shrink a file being written from \(size) to \(newSize) bytes")
        }
        try append(zeros: newSize - size)
    }

    private func append(zeros count: Int) throws {
        var left = count
        let block = [UInt8](repeating: 0, count: min(count, 1 << 20))
        while left > 0 {
            try append(block[..<min(left, block.count)])
            left -= min(left, block.count)
        }
    }

    private func append(_ data: ArraySlice<UInt8>) throws {
        guard !data.isEmpty else { return }
        dirty = true
        var consumed = data.startIndex
        while consumed < data.endIndex {
            let target = segmentSize
            if buffer.capacity == 0 { buffer = context.buffers.take(capacity: target) }
            let take = min(data.endIndex - consumed, target - buffer.count)
            buffer.append(contentsOf: data[consumed..<(consumed + take)])
            consumed += take
            size += take
            if buffer.count == target {
                var full: [UInt8] = []
                swap(&full, &buffer)
                held.append(full)
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
            upload = SegmentedUpload(context: context, object: path.key)
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
            // A segment failed during write(): remove what no stored manifest refers to, once.
            if !aborted, let upload { upload.abort(keepingFirst: manifested) }
            aborted = true
            throw failure
        }
        guard dirty else { return }
        let mtime = ("X-Object-Meta-Mtime", String(format: "%.6f", Date().timeIntervalSince1970))
        do {
            if replaced == nil { replaced = try ReplacedObject.find(path: path, context: context) }
            if let upload {
                if !buffer.isEmpty {
                    var last: [UInt8] = []
                    swap(&last, &buffer)
                    try upload.submit(last)
                }
                let segments: [SegmentRef]
                do {
                    segments = try upload.waitForSegments()
                    switch context.manifest {
                    case .slo:
                        try context.client.putStaticLargeObject(container: context.container, object: path.key,
                                                                 segments: segments, headers: [mtime])
                    case .dlo:
                        try context.client.putDynamicLargeObject(container: context.container, object: path.key,
                                                                  segmentContainer: context.segmentContainer,
                                                                  segmentPrefix: upload.prefix + "/", headers: [mtime])
                    }
                } catch {
                    upload.abort(keepingFirst: manifested)
                    aborted = true
                    throw error
                }
                manifested = segments.count
                context.logger.info("stored \(path) (\(size) bytes, \(segments.count) segments, \(context.manifest.rawValue))")
            } else {
                // Kept, not cleared: a later write may extend the file and commit it again.
                let body = held.flatMap { $0 } + buffer
                try context.client.put(container: context.container, object: path.key, body: body,
                                       headers: [mtime] + context.checksumHeader(body))
                context.logger.debug("stored \(path) (\(size) bytes)")
            }
            dirty = false
            replaced?.deleteOldSegments(keeping: upload?.prefix, context: context)
            replaced = ReplacedObject.none
        } catch {
            let fsError = FSError.from(error)
            failure = fsError
            context.logger.error("upload of \(path) failed: \(fsError)")
            throw fsError
        }
    }
}

/// The large object a new upload replaces: its segments go once the new object is stored.
struct ReplacedObject {
    var staticSegments: [String] = []
    var dynamicPrefix: (container: String, prefix: String)?

    static let none = ReplacedObject()

    static func find(path: ObjectPath, context: UploadContext) throws -> ReplacedObject {
        guard let info = try context.client.head(container: context.container, object: path.key) else { return .none }
        var old = ReplacedObject()
        if info.isStaticLargeObject {
            old.staticSegments = try context.client.staticLargeObjectSegments(container: context.container, object: path.key)
        } else if let manifest = info.dynamicManifest {
            let decoded = manifest.removingPercentEncoding ?? manifest
            if let slash = decoded.firstIndex(of: "/"), decoded.index(after: slash) < decoded.endIndex {
                old.dynamicPrefix = (String(decoded[..<slash]), String(decoded[decoded.index(after: slash)...]))
            }
        }
        return old
    }

    /// Best effort: a segment left behind is garbage for `swiftmount gc`, never a broken object.
    func deleteOldSegments(keeping newPrefix: String?, context: UploadContext) {
        var targets: [(String, String)] = []
        for path in staticSegments {
            let trimmed = path.drop(while: { $0 == "/" })
            guard let slash = trimmed.firstIndex(of: "/") else { continue }
            targets.append((String(trimmed[..<slash]), String(trimmed[trimmed.index(after: slash)...])))
        }
        if let (container, prefix) = dynamicPrefix,
           let listing = try? context.client.listAll(container: container, prefix: prefix, delimiter: nil) {
            for case .object(let o) in listing { targets.append((container, o.name)) }
        }
        for (container, name) in targets {
            if let newPrefix, container == context.segmentContainer, name.hasPrefix(newPrefix + "/") { continue }
            do { try context.client.delete(container: container, object: name) } catch {
                context.logger.warning("could not delete old segment \(container)/\(name): \(error)")
            }
        }
    }
}

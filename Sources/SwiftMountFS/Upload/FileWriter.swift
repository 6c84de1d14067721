import Foundation
import Glibc
import Logging
import Synchronization
import SwiftStorage

/// A file open for writing. Sequential writes go to a spool file in `cache_dir` (RAM holds no file
/// data); once the file is known to be larger than the threshold, full segments go to a
/// SegmentedUpload while the writer keeps writing.
/// `commit` makes the object appear: one PUT for a small file, the manifest for a large one.
/// Writes past the end (a sparse copy skipping holes) are filled with zeros; ftruncate(2) up
/// declares a size (a hint that picks the segmented path at once) whose zeros come last.
///
/// What a stream cannot take (a write or truncate below the written end, a read back, changing an
/// existing file) goes to a StagedFile in `cache_dir`, uploaded whole on commit. A stream can be
/// moved there only while none of its segments has left.
///
/// A commit does not end the file: the opener may close one of several descriptors (a dup) and
/// write on, or fsync; the next flush commits again (a small file keeps its bytes for that; a
/// large one adds segments and stores a longer manifest).
///
/// Replacing an existing large object: the new segments are uploaded under a new prefix, the
/// manifest is swapped, and only then are the old segments deleted.
///
/// Metadata: a replaced or changed object keeps its mode, owner and xattrs (as an inode would);
/// chmod, chown, utimens and setxattr on the open file are stored with it, and the mtime is the
/// commit's time unless one was set.
/// Unchecked: a commit waits on an NSCondition while an unlink is settled; Mutex cannot wait.
final class FileWriter: @unchecked Sendable {
    let path: ObjectPath
    /// Process that opened the file; its close commits (see SwiftFilesystem.flush).
    let opener: Int32
    private let context: UploadContext
    /// Guards the state below; a commit waits on it while an unlink is being settled.
    private let lock = NSCondition()
    /// Full segments held back while the file is still below the threshold.
    private var held: [FileRegion] = []
    /// The spool file in `cache_dir` receiving the stream's bytes: one for a file below the
    /// threshold, then one per segment, so each segment's space goes once Swift has it.
    private var spool: LocalFile?
    /// The file offset of the spool's first byte, and where the segment being filled begins.
    private var spoolBase = 0
    private var segmentStart = 0
    private var upload: SegmentedUpload?
    private(set) var size = 0
    /// Written since the last commit (true at first, so an empty new file is stored too).
    private var dirty = true
    /// Segments already referenced by a stored manifest (kept if a later part fails).
    private var manifested = 0
    private var replaced: ReplacedObject?
    private var failure: FSError?
    private var aborted = false
    /// Being unlinked: commits store nothing until `discard` or `unseal`.
    private var sealed = false
    /// Unlinked while open: writes go on, nothing is stored.
    private var discarded = false
    /// Size set by ftruncate beyond the written bytes.
    private var declaredSize = 0
    private var staged: StagedFile?
    /// An existing object opened for changing, not yet staged: `stageExisting` copies it.
    private var stageExisting: (() throws -> StagedFile)?
    /// Until then reads come from Swift (an O_RDWR open that only reads downloads nothing to
    /// `cache_dir`), through a reader made at the first read.
    private var readOriginal: (() -> FileReader)?
    private var original: FileReader?
    private var existingSize = 0
    /// The metadata the object starts from; nil until the replaced object has been read.
    private var baseMetadata: [String: String]?
    /// Changes made while the file is open, applied over `baseMetadata` at each commit.
    private var changes: [(change: MetadataChange, at: FileTime)] = []
    /// What the last commit stored (shown through `stored`).
    private var storedMetadata: [String: String] = [:]
    /// The object's Content-Type without our parameters, when it had one (nil: guessed from the name).
    private var media: String?
    let transfer: Transfer

    /// What stat(2) and getxattr show while the file is open, published by every change under
    /// `lock`: they never wait behind a write waiting for room or a commit talking to Swift.
    private struct Shown {
        var size = 0
        var metadata: [String: String] = [:]
        /// What the last commit stored.
        var stored: [String: String] = [:]
    }

    private let shown = Mutex(Shown())

    /// With `staged`, the writer starts from that copy of an existing object and stores nothing
    /// unless it is changed. A `new` file replaces nothing (its name was just looked up and not
    /// found), which saves a HEAD per small file.
    /// `metadata` is the existing object's (staged), or the new file's (`new`).
    init(path: ObjectPath, opener: Int32, context: UploadContext, staged: StagedFile? = nil, new: Bool = false,
         metadata: [String: String]? = nil, contentType: String? = nil) {
        self.path = path
        self.opener = opener
        self.context = context
        self.staged = staged
        baseMetadata = metadata
        media = contentType.map(ListedAttributes.media)
        if new {
            replaced = ReplacedObject.none
            baseMetadata = metadata ?? [:]
        }
        transfer = context.transfers.start(.upload, path: path.description, total: staged?.size ?? 0)
        if staged != nil { dirty = false }
        publish()
    }

    /// A writer over an existing object that is copied to `cache_dir` only when first changed.
    convenience init(path: ObjectPath, opener: Int32, context: UploadContext, existingSize: Int, metadata: [String: String],
                     contentType: String, read: @escaping () -> FileReader, stage: @escaping () throws -> StagedFile) {
        self.init(path: path, opener: opener, context: context, metadata: metadata, contentType: contentType)
        stageExisting = stage
        readOriginal = read
        self.existingSize = existingSize
        dirty = false
        publish()
    }

    /// Called with `lock` held (or before the writer is shared), after each change.
    private func publish() {
        let now = Shown(size: currentSizeLocked, metadata: metadata(over: baseMetadata ?? [:]), stored: storedMetadata)
        shown.withLock { $0 = now }
    }

    /// Stages the existing object before its first change (called with the lock held).
    private func stageIfUntouched() throws {
        guard let stage = stageExisting else { return }
        stageExisting = nil
        // Reads come from the staged copy now: the reader's read-ahead goes back to the mount.
        original?.close()
        original = nil
        let file = try sticky(stage)
        staged = file
        transfer.grow(total: file.size)
    }

    private var currentSizeLocked: Int {
        stageExisting != nil ? existingSize : staged?.size ?? max(size, declaredSize)
    }

    private var segmentSize: Int { context.plan.size(after: upload?.segmentCount ?? 0) }

    /// The metadata as it stands while open (what xattr reads see).
    var currentMetadata: [String: String] { shown.withLock { $0.metadata } }

    /// What stat(2) shows while the file is open (one snapshot: size and metadata agree).
    var attributes: FileAttributes {
        let now = shown.withLock { $0 }
        return FileAttributes(kind: .file, size: now.size, metadata: now.metadata, lastModified: Date())
    }

    /// What the last commit stored, as stat(2) shows it, and its metadata.
    var stored: (attributes: FileAttributes, metadata: [String: String]) {
        let now = shown.withLock { $0 }
        return (FileAttributes(kind: .file, size: now.size, metadata: now.stored, lastModified: Date()), now.stored)
    }

    /// Takes a metadata change (checked against Swift's limits now, stored by the next commit).
    /// Returns false if no commit is due: the caller stores it on the object itself, and
    /// `adopt`s it once that worked (a refused change must not come back with a later commit).
    func change(_ change: MetadataChange, at now: FileTime) throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        defer { publish() }
        var check = metadata(over: baseMetadata ?? [:])
        try change.apply(to: &check, limits: context.metadataLimits, now: now)
        guard dirty && failure == nil else { return false }
        changes.append((change, now))
        return true
    }

    /// A change stored on the object by the caller, which later commits must keep.
    func adopt(_ change: MetadataChange, at now: FileTime) {
        lock.withLock {
            changes.append((change, now))
            publish()
        }
    }

    /// `base` without its old mtime once the content changes, with the changes made while open.
    private func metadata(over base: [String: String]) -> [String: String] {
        var metadata = base
        if stageExisting == nil { metadata[ObjectMetadata.mtimeKey] = nil }
        // Each at its own time: the ctime a stat shows must not move with every look.
        for (change, at) in changes { try? change.apply(to: &metadata, limits: context.metadataLimits, now: at) }
        return metadata
    }

    /// The metadata headers of a commit, the mtime now unless one was set, and the Content-Type
    /// that carries the attributes into listings. Built just before the request that stores the
    /// object (a manifest's after its segments), so the ctime is close to Swift's timestamp.
    private func metadataHeaders(base: [String: String], segmented: Bool) -> [(name: String, value: String)] {
        var metadata = metadata(over: base)
        let now = context.now
        if metadata[ObjectMetadata.mtimeKey] == nil { metadata[ObjectMetadata.mtimeKey] = now.text }
        ObjectMetadata.stamp(ctime: now, in: &metadata, limits: context.metadataLimits)
        storedMetadata = metadata
        let type = ListedAttributes.contentType(media: media ?? MediaTypes.guess(path.key), metadata: metadata,
                                                dynamicManifest: segmented && context.manifest == .dlo)
        return SwiftClient.metadataHeaders(metadata) + [("Content-Type", type)]
    }

    func write(offset: Int, data: [UInt8]) throws {
        lock.lock()
        defer { lock.unlock() }
        defer { publish() }
        if let failure { throw failure }
        if discarded && staged == nil {
            size = max(size, offset + data.count)
            return
        }
        try stageIfUntouched()
        if staged == nil && offset < size { try stage("a write at \(offset) below \(size) written bytes") }
        try checkCapacity(offset + data.count)
        if let staged {
            try sticky { try staged.write(offset: offset, data: data) }
            dirty = true
            transfer.grow(total: staged.size)
            return
        }
        try append(zeros: offset - size)
        try append(data[...])
    }

    /// ftruncate(2) and truncate(2) of an open file.
    func truncate(to newSize: Int) throws {
        lock.lock()
        defer { lock.unlock() }
        defer { publish() }
        if let failure { throw failure }
        if discarded && staged == nil {
            size = min(size, newSize)
            declaredSize = newSize
            return
        }
        try stageIfUntouched()
        if staged == nil && newSize < size { try stage("truncating \(size) written bytes to \(newSize)") }
        try checkCapacity(newSize)
        dirty = true
        if let staged {
            try sticky { try staged.truncate(to: newSize) }
            return
        }
        declaredSize = newSize
        try startSegmentsIfLarge()
    }

    /// The reader of the object as opened, while nothing has changed it (nil once staged).
    var untouchedReader: FileReader? {
        lock.withLock {
            guard stageExisting != nil, !discarded, let make = readOriginal else { return nil }
            if original == nil { original = make() }
            return original
        }
    }

    /// Reading back a file open for writing (O_RDWR, or a tool that checks what it wrote).
    func read(offset: Int, count: Int) throws -> [UInt8] {
        lock.lock()
        defer { lock.unlock() }
        defer { publish() }
        if let failure { throw failure }
        if discarded && staged == nil { throw FSError(EIO, "\(path) was unlinked while written; its bytes were not kept") }
        try stageIfUntouched()
        if staged == nil { try stage("reading it back") }
        return try staged!.read(offset: offset, count: count)
    }

    /// A file may grow only as far as one manifest can hold (the cluster's segment limit): the
    /// write that would cross it is refused, and what was written before stays good.
    private func checkCapacity(_ end: Int) throws {
        let limit = max(context.threshold, context.plan.capacity)
        guard end <= limit else {
            throw FSError(EFBIG, "\(path): \(end) bytes; one manifest of this cluster holds at most \(limit)")
        }
    }

    /// Moves what the stream holds to a staged file; refused once a segment has been sent.
    private func stage(_ why: String) throws {
        guard (upload?.segmentCount ?? 0) == 0 else {
            throw FSError(EOPNOTSUPP, "\(path): \(why) after its first segments were uploaded; write large files sequentially")
        }
        upload?.end()
        upload = nil
        let file = try sticky { try context.staging.create(expectedSize: max(size, declaredSize)) }
        try sticky {
            var offset = 0
            for region in held + [tail].compactMap({ $0 }) {
                try region.forEachChunk { piece in
                    try file.write(offset: offset, data: Array(piece))
                    offset += piece.count
                }
            }
            if declaredSize > size { try file.truncate(to: declaredSize) }
        }
        held = []
        spool = nil
        staged = file
        context.logger.debug("\(path): staged in \(context.staging.directory) for \(why)")
    }

    /// A failure that leaves the file's content unknown: the file is never stored after it.
    private func sticky<T>(_ action: () throws -> T) throws -> T {
        do { return try action() } catch {
            let fsError = FSError.from(error)
            failure = fsError
            context.logger.error("\(path): \(fsError); the file will not be stored")
            throw fsError
        }
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
            let take = min(data.endIndex - consumed, target - (size - segmentStart))
            try sticky { try spoolWrite(data[consumed..<(consumed + take)]) }
            consumed += take
            size += take
            transfer.grow(total: size)
            if size - segmentStart == target {
                held.append(FileRegion(file: spool!, offset: segmentStart - spoolBase, count: target))
                segmentStart = size
            }
            try sticky { try startSegmentsIfLarge() }
            // The upload holds the full segment's spool now; its space goes once Swift has it.
            if upload != nil && size == segmentStart { spool = nil }
        }
    }

    /// Writes at the stream's end. Once segments are being uploaded, each starts a new spool file.
    /// A full `cache_dir` is tried again each time one of the mount's queued segments is stored
    /// (its spool space freed); once none is queued, or none is stored for 30 s, the write fails
    /// with ENOSPC and the file is never stored.
    private func spoolWrite(_ bytes: ArraySlice<UInt8>) throws {
        if spool == nil || (upload != nil && size == segmentStart) {
            spool = try context.staging.spool()
            spoolBase = size
        }
        var warned = false
        while true {
            do {
                return try spool!.write(bytes, at: size - spoolBase)
            } catch let error as LocalFileError where error.errno == ENOSPC {
                if !warned { context.logger.warning("\(path): cache_dir is full; waiting for uploads to drain") }
                warned = true
                guard context.budget.waitForRelease(timeout: 30) else { throw error }
            }
        }
    }

    /// The bytes of the segment being filled.
    private var tail: FileRegion? {
        guard let spool, size > segmentStart else { return nil }
        return FileRegion(file: spool, offset: segmentStart - spoolBase, count: size - segmentStart)
    }

    /// Once the file is past the threshold, every full segment is handed to the upload.
    private func startSegmentsIfLarge() throws {
        guard max(size, declaredSize) > context.threshold else { return }
        if upload == nil {
            try context.ensureSegmentContainer()
            upload = SegmentedUpload(context: context, object: path.key, transfer: transfer,
                                     resuming: context.claimInterrupted(path.key))
        }
        while !held.isEmpty {
            try upload!.submit(held.removeFirst())
        }
    }

    /// Gives up on the file (the mount is going away): it is never stored, and segments no stored
    /// manifest refers to are deleted. Waits for a write in progress to return first.
    func abort(_ why: String) {
        lock.lock()
        defer { lock.unlock() }
        if failure == nil { failure = FSError(EIO, "\(path): \(why)") }
        if !aborted, let upload { upload.abort(keepingFirst: manifested) }
        aborted = true
        transfer.set(.failed)
    }

    /// An unlink has begun: commits wait until it is settled (`discard` if it succeeds, `unseal`
    /// if it fails). Waits for a commit in progress, so what is stored is known after.
    func seal() {
        lock.withLock { sealed = true }
    }

    func unseal() {
        lock.lock()
        sealed = false
        lock.broadcast()
        lock.unlock()
    }

    /// The file was unlinked while open: later writes succeed and go nowhere, commits store
    /// nothing, and segments no stored manifest refers to are deleted (those a stored manifest
    /// used go with that manifest, unless another still uses them).
    func discard() {
        lock.lock()
        defer { lock.unlock() }
        discarded = true
        if !aborted, let upload {
            upload.abort(keepingFirst: manifested)
            // Over: what a stored manifest used is the unlink's to reclaim.
            upload.end()
        }
        aborted = true
        held = []
        spool = nil
        transfer.set(.unlinked)
        sealed = false
        lock.broadcast()
    }

    /// Leaves the list of transfers in progress (the handle is released).
    func close() {
        lock.lock()
        let untouched = stageExisting != nil
        upload?.end()
        let reader = original
        original = nil
        lock.unlock()
        // Outside the lock: closing waits for the reader's read-ahead.
        reader?.close()
        context.transfers.end(transfer, record: !untouched)
    }

    /// Stores the object; returns only when Swift has it, or throws why not. Returns whether this
    /// call stored it: false when nothing changed since the last commit, or the file was
    /// unlinked (nothing is stored under its name).
    @discardableResult
    func commit() throws -> Bool {
        lock.lock()
        defer { lock.unlock() }
        defer { publish() }
        while sealed { lock.wait() }
        if discarded { return false }
        if let failure {
            // A segment failed during write(): remove what no stored manifest refers to, once.
            if !aborted, let upload { upload.abort(keepingFirst: manifested) }
            aborted = true
            throw failure
        }
        guard dirty else { return false }
        transfer.set(.storing)
        do {
            if let staged {
                try store(staged)
            } else {
                try append(zeros: max(0, declaredSize - size))
                try storeStream()
            }
            dirty = false
            transfer.stored()
            return true
        } catch {
            let fsError = FSError.from(error)
            failure = fsError
            transfer.set(.failed)
            context.logger.error("upload of \(path) failed: \(fsError)")
            throw fsError
        }
    }

    private func storeStream() throws {
        if replaced == nil {
            let old = try ReplacedObject.find(path: path, context: context)
            replaced = old
            if baseMetadata == nil { baseMetadata = old.metadata }
            if media == nil { media = old.media }
        }
        let base = baseMetadata ?? [:]
        if let upload {
            if let tail {
                try upload.submit(tail)
                segmentStart = size
                spool = nil
            }
            manifested = try finish(upload, size: size, keepingFirst: manifested,
                                    headers: { metadataHeaders(base: base, segmented: true) })
        } else {
            // Kept, not cleared: a later write may extend the file and commit it again. Below
            // the threshold the whole file is in the one spool file.
            try putWhole(spool.map { FileRegion(file: $0, offset: 0, count: size) },
                         headers: metadataHeaders(base: base, segmented: false))
        }
        replaced?.deleteOldSegments(of: path, keeping: upload?.prefix, context: context)
        replaced = ReplacedObject.none
    }

    /// Uploads a staged file whole: one PUT, or segments read back from disk (bounded by the
    /// same write budget) and a manifest. Each commit is a new upload; the previous one's
    /// segments are deleted after the swap.
    private func store(_ staged: StagedFile) throws {
        let old = try ReplacedObject.find(path: path, context: context)
        if media == nil { media = old.media }
        let base = baseMetadata ?? old.metadata
        guard staged.size > context.threshold else {
            try putWhole(staged.region(offset: 0, count: staged.size), headers: metadataHeaders(base: base, segmented: false))
            old.deleteOldSegments(of: path, keeping: nil, context: context)
            return
        }
        try context.ensureSegmentContainer()
        transfer.restart()
        let upload = SegmentedUpload(context: context, object: path.key, transfer: transfer)
        do {
            var offset = 0
            while offset < staged.size {
                let count = min(context.plan.size(after: upload.segmentCount), staged.size - offset)
                try upload.submit(staged.region(offset: offset, count: count))
                offset += count
            }
        } catch {
            upload.abort(keepingFirst: 0)
            upload.end()
            throw error
        }
        defer { upload.end() }
        _ = try finish(upload, size: staged.size, keepingFirst: 0, headers: { metadataHeaders(base: base, segmented: true) })
        old.deleteOldSegments(of: path, keeping: upload.prefix, context: context)
    }

    /// One PUT of the whole file (nil: empty).
    private func putWhole(_ body: FileRegion?, headers: [(name: String, value: String)]) throws {
        try context.client.put(container: context.container, object: path.key, file: body,
                               headers: headers + context.checksumHeader(body))
        context.logger.debug("stored \(path) (\(body?.count ?? 0) bytes)")
    }

    /// Waits for `upload`'s segments and stores the manifest; returns the segment count. On
    /// failure, the segments after the first `kept` (those a stored manifest refers to) are deleted.
    private func finish(_ upload: SegmentedUpload, size: Int, keepingFirst kept: Int,
                        headers: () -> [(name: String, value: String)]) throws -> Int {
        do {
            let segments = try upload.waitForSegments()
            try upload.prepareManifest()
            try context.putManifest(object: path.key, upload: upload, segments: segments, headers: headers())
            context.logger.info("stored \(path) (\(size) bytes, \(segments.count) segments, \(context.manifest.rawValue))")
            if let reused = upload.reusedSegments {
                context.logger.notice("\(path): resumed an interrupted upload; \(reused) of \(segments.count) segments were already in Swift")
                upload.dropUnusedEarlierSegments(after: segments.count)
            }
            return segments.count
        } catch SwiftError.outcomeUnknown(let why) {
            // The manifest may be stored: its segments stay (for `swiftmount gc` if it is not).
            context.logger.error("\(path): \(why); its segments are kept")
            aborted = true
            throw SwiftError.outcomeUnknown(why)
        } catch {
            upload.abort(keepingFirst: kept)
            aborted = true
            throw error
        }
    }
}

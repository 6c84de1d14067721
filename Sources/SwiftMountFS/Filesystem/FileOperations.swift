import Foundation
import Glibc
import SwiftStorage

/// Open files: create and open hand out handles (`OpenFiles`) to a reader (the read engine) or a
/// writer (the upload engine); read, write, flush, fsync, release and truncate go through them.
extension SwiftFilesystem {
    /// `caller` is the process id of the opener: see `flush`.
    public func create(_ path: String, creator: Creator, caller: Int32) throws -> UInt64 {
        let p = try objectPath(path)
        guard !p.isRoot else { throw FSError(EISDIR) }
        try files.refuseWritersWhileDraining(p)
        return try files.open { FileWriter(path: p, opener: caller, context: uploads, new: true,
                                           metadata: metadata(for: creator, directory: false)) }
    }

    public func open(_ path: String, mode: OpenMode, caller: Int32) throws -> UInt64 {
        let p = ObjectPath(path)
        if mode.write { try files.refuseWritersWhileDraining(p) }
        if mode.write && mode.truncate {
            if (try? namespace.lookup(p))?.kind == .directory { throw FSError(EISDIR) }
            return try files.open { FileWriter(path: p, opener: caller, context: uploads) }
        }
        // A fresh HEAD pins the version this handle reads (open-time consistency).
        guard let info = try client.head(container: container, object: p.key) else { throw FSError(ENOENT) }
        if namespace.attributes(p, info).kind == .directory { throw FSError(EISDIR) }
        if mode.write {
            // Staged on the first write: touch(1) or a chmod through an open descriptor costs no download.
            return try files.open {
                FileWriter(path: p, opener: caller, context: uploads, existingSize: info.size,
                           metadata: info.metadata, contentType: info.contentType,
                           read: { [self] in reader(p, info) },
                           stage: { [self] in try stage(p, info: info, keeping: info.size) })
            }
        }
        return try files.open(.reader(reader(p, info)))
    }

    private func reader(_ p: ObjectPath, _ info: ObjectInfo) -> FileReader {
        FileReader(path: p, size: info.size, etag: info.etag, attributes: namespace.attributes(p, info), context: reads)
    }

    /// A local copy of the object's first `keeping` bytes (changing a file in place).
    func stage(_ p: ObjectPath, info: ObjectInfo, keeping: Int) throws -> StagedFile {
        let count = min(keeping, info.size)
        let staged: StagedFile
        do {
            staged = try uploads.staging.create(expectedSize: count)
            var offset = 0
            while offset < count {
                let n = min(reads.maxWindow, count - offset)
                try staged.write(offset: offset, data: reads.fetch(object: p.key, etag: info.etag, range: offset..<(offset + n)))
                offset += n
            }
        } catch {
            let fsError = FSError.from(error)
            logger.error("\(p): cannot stage it for changing: \(fsError)")
            throw fsError
        }
        logger.debug("\(p): \(count) bytes staged for changing in place")
        return staged
    }

    public func read(handle: UInt64, offset: Int, count: Int) throws -> [ArraySlice<UInt8>] {
        let reader: FileReader
        switch try files.file(handle) {
        case .writer(let writer):
            guard let original = writer.untouchedReader else { return [try writer.read(offset: offset, count: count)[...]] }
            reader = original
        case .reader(let r): reader = r
        }
        do {
            return try reader.read(offset: offset, count: count)
        } catch {
            let fsError = FSError.from(error)
            logger.error("read of \(reader.path) at \(offset) failed: \(fsError)")
            throw fsError
        }
    }

    public func write(handle: UInt64, offset: Int, data: [UInt8]) throws {
        guard case .writer(let writer) = try files.file(handle) else { throw FSError(EBADF) }
        do {
            try writer.write(offset: offset, data: data)
        } catch let error as FSError {
            if error.errno == EOPNOTSUPP { logger.warning("\(error)") }
            throw error
        }
    }

    /// close(2) lands here: the upload completes before close returns, and its result is close's.
    /// The close that leaves neither the closing process nor the opener with a descriptor on the
    /// file commits, whichever thread it comes from (`caller` is a process id). In `cmd > file`
    /// the shell opens, each child inherits the descriptor and closes it after its writes:
    /// committing on those would store the file over and over in tiny segments, and the shell's
    /// first close (of the descriptor it dup'ed to stdout) would show an empty object under the
    /// name before the data. Other closes leave the commit to a later close, or to release.
    public func flush(handle: UInt64, caller: Int32) throws {
        guard case .writer(let writer) = try files.file(handle), !process(caller, stillHolds: writer.path),
              caller == writer.opener || !process(writer.opener, stillHolds: writer.path) else { return }
        try commit(writer)
    }

    /// Stores what the writer has; when that stored something, the namespace learns it (a
    /// listing that lags behind the write must not hide or shrink the file).
    func commit(_ writer: FileWriter) throws {
        if try writer.commit() {
            let stored = writer.stored
            namespace.remember(writer.path, stored.attributes, metadata: stored.metadata)
        }
    }

    /// Whether a process has a descriptor open on `path` of this mount (after closing one).
    private func process(_ pid: Int32, stillHolds path: ObjectPath) -> Bool {
        guard !mountpoint.isEmpty else { return false }
        let target = mountpoint + path.description
        let directory = "/proc/\(pid)/fd"
        guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            // Gone: it holds nothing. There but unreadable (another user's): assume it still does.
            return FileManager.default.fileExists(atPath: "/proc/\(pid)")
        }
        return descriptors.prefix(4096).contains {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + $0)) == target
        }
    }

    /// fsync(2) on a file being written: what was written so far becomes an object (an interim
    /// manifest for a large file), and writing goes on.
    public func fsync(handle: UInt64) throws {
        guard case .writer(let writer) = try files.file(handle) else { return }
        try commit(writer)
    }

    public func release(handle: UInt64) {
        switch files.close(handle) {
        case .reader(let reader):
            reader.close()
        case .writer(let writer):
            // Normally flush already committed; this covers a writer closed without one.
            try? commit(writer)
            writer.close()
        case nil:
            break
        }
    }

    /// truncate(2): an open file's writer takes it; otherwise the kept bytes are staged, cut or
    /// extended with zeros, and stored again (old segments deleted after the swap).
    public func truncate(_ path: String, size: Int, handle: UInt64?) throws {
        let p = ObjectPath(path)
        if case .writer(let writer)? = handle.flatMap({ try? files.file($0) }) ?? files.writer(for: p).map(OpenFiles.File.writer) {
            try writer.truncate(to: size)
            return
        }
        guard let info = try client.head(container: container, object: p.key) else { throw FSError(ENOENT) }
        if namespace.attributes(p, info).kind == .directory { throw FSError(EISDIR) }
        if size == info.size { return }
        let writer = FileWriter(path: p, opener: 0, context: uploads, staged: try stage(p, info: info, keeping: size),
                                metadata: info.metadata, contentType: info.contentType)
        defer { writer.close() }
        try writer.truncate(to: size)
        try commit(writer)
    }
}

import Foundation
import Glibc
import SwiftStorage
import Synchronization

/// `cache_dir`: where file data waits for its upload (the spool), and where files that cannot be
/// streamed are kept while open.
final class StagingArea: Sendable {
    let directory: String

    init(directory: String) {
        self.directory = directory
    }

    /// A new, empty staged file with room for `expectedSize` bytes, or ENOSPC before anything is
    /// written (never a half-staged file).
    func create(expectedSize: Int) throws -> StagedFile {
        let file = try spool()
        var fs = statvfs()
        if fstatvfs(file.fd, &fs) == 0 {
            let free = Int(fs.f_bavail) * Int(fs.f_frsize)
            if free < expectedSize {
                throw FSError(ENOSPC, "cache_dir \(directory) has \(free) bytes free, \(expectedSize) are needed")
            }
        }
        return StagedFile(file: file)
    }

    /// A new, empty file, unlinked at once: its data lives as long as the descriptor, and a crash
    /// leaves nothing behind.
    func spool() throws -> LocalFile {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw FSError(errno, "cache_dir \(directory) cannot be created")
        }
        var template = Array("\(directory)/spool-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw FSError(errno, "cache_dir \(directory): cannot create a file in it") }
        // Close-on-exec: a child the daemon starts (fusermount3) must not hold spool space.
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        unlink(template)
        return LocalFile(adopting: fd, place: "cache_dir \(directory)")
    }
}

extension MountOptions {
    /// Throws why `cache_dir` cannot hold a file (the mount refuses to start then).
    public func checkCacheDir() throws {
        // A read-only mount writes nothing there.
        guard !fuseOptions.contains("ro") else { return }
        _ = try StagingArea(directory: cacheDir).spool()
    }
}

/// A local file holding an open file's whole content; written at any offset, uploaded on commit
/// straight from the file.
final class StagedFile: Sendable {
    let file: LocalFile
    private let extent = Mutex(0)

    fileprivate init(file: LocalFile) {
        self.file = file
    }

    var size: Int { extent.withLock { $0 } }

    func write(offset: Int, data: [UInt8]) throws {
        try file.write(data[...], at: offset)
        extent.withLock { $0 = max($0, offset + data.count) }
    }

    /// Past the last byte written but within `size` (after a truncate up) reads as zeros.
    func read(offset: Int, count: Int) throws -> [UInt8] {
        try region(offset: offset, count: count).bytes()
    }

    /// Bytes `offset..<offset+count` (cut at the end of the file), for an upload.
    func region(offset: Int, count: Int) -> FileRegion {
        FileRegion(file: file, offset: offset, count: max(0, min(count, size - offset)))
    }

    func truncate(to newSize: Int) throws {
        try file.truncate(to: newSize)
        extent.withLock { $0 = newSize }
    }
}

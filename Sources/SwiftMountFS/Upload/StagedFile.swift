import Foundation
import Glibc

/// Where files that cannot be streamed are kept while open: `cache_dir`.
final class StagingArea: Sendable {
    let directory: String

    init(directory: String) {
        self.directory = directory
    }

    /// A new, empty staged file with room for `expectedSize` bytes, or ENOSPC before anything is
    /// written (never a half-staged file).
    func create(expectedSize: Int) throws -> StagedFile {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw FSError(EIO, "cache_dir \(directory): \(String(cString: strerror(errno)))")
        }
        var fs = statvfs()
        if statvfs(directory, &fs) == 0 {
            let free = Int(fs.f_bavail) * Int(fs.f_frsize)
            if free < expectedSize {
                throw FSError(ENOSPC, "cache_dir \(directory) has \(free) bytes free, \(expectedSize) are needed")
            }
        }
        var template = Array("\(directory)/staged-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else { throw FSError(errno, "cache_dir \(directory): cannot create a staging file") }
        // Unlinked at once: the data lives as long as the descriptor, and a crash leaves nothing.
        unlink(template)
        return StagedFile(fd: fd, directory: directory)
    }
}

/// A local file holding an open file's whole content; written at any offset, uploaded on commit.
final class StagedFile: @unchecked Sendable {
    private let fd: Int32
    private let directory: String
    private(set) var size = 0

    fileprivate init(fd: Int32, directory: String) {
        self.fd = fd
        self.directory = directory
    }

    deinit { Glibc.close(fd) }

    func write(offset: Int, data: [UInt8]) throws {
        var rest = data
        var at = offset
        while !rest.isEmpty {
            let n = pwrite(fd, rest, rest.count, off_t(at))
            if n < 0 {
                if errno == EINTR { continue }
                throw FSError(errno, "staging in \(directory)")
            }
            rest.removeFirst(n)
            at += n
        }
        size = max(size, offset + data.count)
    }

    func read(offset: Int, count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        while bytes.count < max(0, min(count, size - offset)) {
            var chunk = [UInt8](repeating: 0, count: min(count, size - offset) - bytes.count)
            let n = pread(fd, &chunk, chunk.count, off_t(offset + bytes.count))
            if n < 0 {
                if errno == EINTR { continue }
                throw FSError(errno, "reading staged data in \(directory)")
            }
            // Past the last byte written but within `size` (after a truncate up) reads as zeros.
            bytes.append(contentsOf: chunk[..<(n == 0 ? chunk.count : n)])
        }
        return bytes
    }

    func truncate(to newSize: Int) throws {
        guard ftruncate(fd, off_t(newSize)) == 0 else { throw FSError(errno, "staging in \(directory)") }
        size = newSize
    }
}

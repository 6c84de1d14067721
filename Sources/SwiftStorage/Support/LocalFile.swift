import Glibc

/// A failed system call on a local file (the spool in `cache_dir`), with its errno.
public struct LocalFileError: Error, Sendable, CustomStringConvertible {
    public let errno: Int32
    public let what: String

    public init(errno: Int32, what: String) {
        self.errno = errno
        self.what = what
    }

    public var description: String { "\(what): \(String(cString: strerror(errno)))" }
}

/// An open local file whose bytes can be a request body: upload data waits here instead of in
/// RAM, and a retried PUT reads it again. Usually already unlinked, so the bytes live as long as
/// the descriptor (the last reference) and a crash leaves nothing behind.
/// This file is the adapter for file I/O: pread/pwrite on raw buffers stay here.
public final class LocalFile: Sendable {
    public let fd: Int32
    /// For messages: where the file lives.
    public let place: String

    /// Takes ownership of `fd` (closed when the last reference goes).
    public init(adopting fd: Int32, place: String) {
        self.fd = fd
        self.place = place
    }

    deinit { close(fd) }

    public func write(_ data: ArraySlice<UInt8>, at offset: Int) throws {
        let done = try repeatCall(data.count, "writing to \(place)") { done in
            data.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
        }
        guard done == data.count else { throw LocalFileError(errno: EIO, what: "writing to \(place)") }
    }

    /// Fills `buffer` from `offset` on; returns how many bytes were there (fewer at the end).
    public func read(into buffer: inout [UInt8], at offset: Int) throws -> Int {
        try repeatCall(buffer.count, "reading \(place)") { done in
            buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(offset + done)) }
        }
    }

    /// Calls `call(done)` until `total` bytes are done or it returns 0; retries EINTR.
    private func repeatCall(_ total: Int, _ what: @autoclosure () -> String, _ call: (Int) -> Int) throws -> Int {
        var done = 0
        while done < total {
            let n = call(done)
            if n < 0 {
                if errno == EINTR { continue }
                throw LocalFileError(errno: errno, what: what())
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    public func truncate(to size: Int) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw LocalFileError(errno: errno, what: "resizing \(place)") }
    }
}

/// Bytes `offset..<offset+count` of a local file, sent as a request body without being loaded.
/// Holding a region keeps its file open.
public struct FileRegion: Sendable {
    public let file: LocalFile
    public let offset: Int
    public let count: Int

    public init(file: LocalFile, offset: Int, count: Int) {
        self.file = file
        self.offset = offset
        self.count = count
    }

    /// The region's bytes in RAM (for small reads and the simulator).
    public func bytes() throws -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        try forEachChunk { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Walks the region in chunks of at most `chunk` bytes, one reused buffer.
    public func forEachChunk(_ chunk: Int = 1 << 20, _ body: (ArraySlice<UInt8>) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: min(chunk, count))
        var at = 0
        while at < count {
            let want = min(buffer.count, count - at)
            if want < buffer.count { buffer.removeLast(buffer.count - want) }
            let got = try file.read(into: &buffer, at: offset + at)
            guard got == want else { throw LocalFileError(errno: EIO, what: "\(file.place): the file ends at \(offset + at + got), within the region") }
            try body(buffer[...])
            at += got
        }
    }
}

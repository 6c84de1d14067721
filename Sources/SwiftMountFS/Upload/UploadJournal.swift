import Foundation
import Glibc
import Logging
import SwiftStorage

/// A small file per segmented upload in `cache_dir/journal`, so that an upload a killed daemon
/// left behind can be resumed: which object, which segment prefix, and each segment Swift
/// acknowledged (index, offset, size, ETag), fsync'd as it is acknowledged. The daemon holds an
/// flock on it while the upload runs, so another daemon's scan skips it.
///
/// Before the first manifest PUT a `closing` line is written: from then on a manifest may refer
/// to the prefix, and its segments must never be rewritten, so the journal is never resumed.
/// The journal is unlinked when the upload ends (stored, aborted, or its file closed).
final class UploadJournal: Sendable {
    /// What an upload is of; a journal is resumed only by an upload with the same identity.
    struct Identity: Codable, Equatable, Sendable {
        var storage: String
        var container: String
        var object: String
        var segmentContainer: String
    }

    struct Segment: Codable, Equatable, Sendable {
        var index: Int
        var offset: Int
        var size: Int
        var etag: String
    }

    /// One journal line: the first holds the identity and prefix, later ones a segment, the last
    /// perhaps `closing`.
    private struct Line: Codable {
        var upload: Identity?
        var prefix: String?
        var segment: Segment?
        var closing: Bool?
    }

    /// An upload a killed daemon left, found at mount.
    struct Interrupted: Sendable {
        let journal: UploadJournal
        let identity: Identity
        let prefix: String
        /// By index: those journaled, and those a listing of the prefix shows (offset -1).
        var segments: [Int: Segment]

        /// With the segments a listing of the prefix shows that the journal lacks.
        func adding(listed: [ListingEntry]) -> Interrupted {
            var copy = self
            for case .object(let o) in listed {
                guard let index = Int(o.name.dropFirst(prefix.count + 1)), copy.segments[index] == nil else { continue }
                copy.segments[index] = Segment(index: index, offset: -1, size: o.bytes, etag: o.hash)
            }
            return copy
        }
    }

    let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    private static func directory(in cacheDir: String) -> String { cacheDir + "/journal" }

    /// A new journal for an upload, locked and written through to disk.
    static func create(cacheDir: String, identity: Identity, prefix: String) throws -> UploadJournal {
        let dir = directory(in: cacheDir)
        for made in [cacheDir, dir] where mkdir(made, 0o700) != 0 && errno != EEXIST {
            throw LocalFileError(errno: errno, what: "creating \(made)")
        }
        let path = dir + "/" + UUID().uuidString.lowercased()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LocalFileError(errno: errno, what: "creating \(path)") }
        let journal = UploadJournal(path: path, fd: fd)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            journal.remove()
            throw LocalFileError(errno: errno, what: "locking \(path)")
        }
        do {
            try journal.append(Line(upload: identity, prefix: prefix))
            // The name must survive a crash too, not only the bytes.
            let dirFD = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dirFD >= 0 { fsync(dirFD); close(dirFD) }
        } catch {
            journal.remove()
            throw error
        }
        return journal
    }

    /// Records a segment Swift acknowledged.
    func record(_ segment: Segment) throws {
        try append(Line(segment: segment))
    }

    /// Marks that a manifest PUT may follow: the journal is never resumed after this.
    func markClosing() throws {
        try append(Line(closing: true))
    }

    func remove() {
        unlink(path)
    }

    private func append(_ line: Line) throws {
        let bytes = Array(try JSONEncoder().encode(line)) + [0x0a]
        // One write per line (O_APPEND): a crash leaves at most a torn last line, which a scan skips.
        let n = write(fd, bytes, bytes.count)
        guard n == bytes.count else { throw LocalFileError(errno: n < 0 ? errno : EIO, what: "writing \(path)") }
        guard fsync(fd) == 0 else { throw LocalFileError(errno: errno, what: "syncing \(path)") }
    }

    /// The journals in `cacheDir` no live daemon holds. Those of `storage`/`container` that can
    /// be resumed and were written to within `grace` are returned, locked, keyed by object name;
    /// the rest of them (closing, unreadable), and any journal older than `grace`, are unlinked,
    /// and their segments are left to `swiftmount gc`, which proves no manifest refers to them
    /// before deleting anything.
    static func interrupted(cacheDir: String, storage: String, container: String, grace: TimeInterval,
                            logger: Logger) -> [String: Interrupted] {
        let dir = directory(in: cacheDir)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [:] }
        var found: [String: Interrupted] = [:]
        for name in names.sorted() {
            let path = dir + "/" + name
            let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard fd >= 0 else { continue }
            let journal = UploadJournal(path: path, fd: fd)
            // Held by a live daemon (its upload is under way): not ours to judge.
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }
            let lines = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap { try? JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
            guard let first = lines.first, let identity = first.upload, let prefix = first.prefix else {
                journal.remove()
                continue
            }
            var info = stat()
            let age = fstat(fd, &info) == 0 ? Date().timeIntervalSince1970 - Double(info.st_mtim.tv_sec) : .infinity
            // Too old to resume, whatever container it is of.
            let mine = identity.storage == storage && identity.container == container
            guard mine || age >= grace else { continue }
            guard mine, !lines.contains(where: { $0.closing == true }), age < grace, found[identity.object] == nil else {
                logger.info("dropping the journal of an interrupted upload of \(identity.object) (\(prefix)); `swiftmount gc` judges its segments")
                journal.remove()
                continue
            }
            let segments = Dictionary(lines.compactMap(\.segment).map { ($0.index, $0) }, uniquingKeysWith: { $1 })
            found[identity.object] = Interrupted(journal: journal, identity: identity, prefix: prefix, segments: segments)
        }
        return found
    }
}

import Foundation
import Glibc
import Logging
import SwiftStorage
import Synchronization

/// A small file per segmented upload in `cache_dir/journal`, so that an upload a killed daemon
/// left behind can be resumed: which object, which segment prefix, and each segment Swift
/// acknowledged (index, offset, size, ETag). The daemon holds an
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
        /// By index: those journaled.
        let segments: [Int: Segment]

        /// The segments a listing of the prefix shows: also those stored whose acknowledgement
        /// the crash cut short (offset -1).
        func adding(listed: [ListingEntry]) -> [Int: Segment] {
            var all = segments
            for case .object(let o) in listed {
                guard let index = Int(o.name.dropFirst(prefix.count + 1)), all[index] == nil else { continue }
                all[index] = Segment(index: index, offset: -1, size: o.bytes, etag: o.hash)
            }
            return all
        }
    }

    let path: String
    private let fd: Int32
    /// Set when a line could not be written whole: the journal is unlinked then and written no
    /// more, as a torn line could hide a later `closing` mark from a scan.
    private let broken = Mutex(false)

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    private static func directory(in cacheDir: String) -> String { cacheDir + "/journal" }

    /// A new journal for an upload, locked and written through to disk. It is written under a
    /// temporary name and renamed into place, so a scan never sees it half made.
    static func create(cacheDir: String, identity: Identity, prefix: String) throws -> UploadJournal {
        let dir = directory(in: cacheDir)
        for made in [cacheDir, dir] where mkdir(made, 0o700) != 0 && errno != EEXIST {
            throw LocalFileError(errno: errno, what: "creating \(made)")
        }
        let path = dir + "/" + UUID().uuidString.lowercased()
        let fd = open(path + ".new", O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LocalFileError(errno: errno, what: "creating \(path).new") }
        let journal = UploadJournal(path: path, fd: fd)
        do {
            guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { throw LocalFileError(errno: errno, what: "locking \(path).new") }
            try journal.append(Line(upload: identity, prefix: prefix))
            guard rename(path + ".new", path) == 0 else { throw LocalFileError(errno: errno, what: "naming \(path)") }
            // The name must survive a crash too, not only the bytes.
            syncDirectory(dir)
        } catch {
            unlink(path + ".new")
            throw error
        }
        return journal
    }

    private static func syncDirectory(_ dir: String) {
        let dirFD = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirFD >= 0 { fsync(dirFD); close(dirFD) }
    }

    /// Records a segment Swift acknowledged. Not synced: a record a crash loses costs only a
    /// re-sent segment (and the prefix's listing usually finds it anyway).
    func record(_ segment: Segment) throws {
        try append(Line(segment: segment), sync: false)
    }

    /// Marks that a manifest PUT may follow: the journal is never resumed after this.
    func markClosing() throws {
        try append(Line(closing: true))
    }

    /// Unlinks the journal, durably: a `closing` mark that could not be written is replaced by
    /// the journal's absence, which must survive a crash too.
    func remove() {
        unlink(path)
        Self.syncDirectory((path as NSString).deletingLastPathComponent)
    }

    /// A crash loses no synced line, nor any line before it.
    private func append(_ line: Line, sync: Bool = true) throws {
        let bytes = Array(try JSONEncoder().encode(line)) + [0x0a]
        try broken.withLock { broken in
            guard !broken else { throw LocalFileError(errno: EIO, what: "\(path) was given up after a failed write") }
            // One write per line (O_APPEND): a crash leaves at most a torn last line, which a scan
            // skips; a failed write ends the journal, so no line ever follows a torn one.
            let n = write(fd, bytes, bytes.count)
            let failure = n != bytes.count ? (n < 0 ? errno : EIO) : sync && fsync(fd) != 0 ? errno : 0
            guard failure != 0 else { return }
            broken = true
            remove()
            throw LocalFileError(errno: failure, what: "writing \(path)")
        }
    }

    /// The journals in `cacheDir` no live daemon holds. Those of `storage`/`container` that can
    /// be resumed and were written to within `grace` are returned, locked, keyed by object name;
    /// the rest of them (closing, unreadable), and any journal older than `grace`, are unlinked,
    /// and their segments are left to `swiftmount gc`, which proves no manifest refers to them
    /// before deleting anything.
    static func interrupted(cacheDir: String, storage: String, container: String, segmentContainer: String,
                            grace: TimeInterval, logger: Logger) -> [String: Interrupted] {
        let dir = directory(in: cacheDir)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [:] }
        var found: [String: Interrupted] = [:]
        for name in names.sorted() where !name.hasSuffix(".new") {
            let path = dir + "/" + name
            let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
            guard fd >= 0 else { continue }
            let journal = UploadJournal(path: path, fd: fd)
            var info = stat()
            // Held by a live daemon (its upload is under way), or unlinked by one meanwhile: not
            // ours to judge.
            guard flock(fd, LOCK_EX | LOCK_NB) == 0, fstat(fd, &info) == 0, info.st_nlink > 0 else { continue }
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            var pieces = text.split(separator: "\n", omittingEmptySubsequences: false)
            if pieces.last?.isEmpty == true { pieces.removeLast() }
            let decoded = pieces.map { try? JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
            let lines = decoded.compactMap { $0 }
            // Only a last line may be torn (the crash came while it was written). It is cut off
            // before anything is appended: a line written after it would join it, unreadable.
            var intact = decoded.dropLast().allSatisfy { $0 != nil }
            if intact, let last = pieces.last, decoded.last! == nil || !text.hasSuffix("\n") {
                let keep = text.utf8.count - last.utf8.count - (text.hasSuffix("\n") ? 1 : 0)
                intact = ftruncate(fd, off_t(keep)) == 0 && fsync(fd) == 0
            }
            guard let first = lines.first, let identity = first.upload, let prefix = first.prefix else {
                journal.remove()
                continue
            }
            let age = Date().timeIntervalSince1970 - Double(info.st_mtim.tv_sec)
            // Too old to resume, whatever container it is of.
            let mine = identity.storage == storage && identity.container == container && identity.segmentContainer == segmentContainer
            guard mine || age >= grace else { continue }
            guard mine, intact, !lines.contains(where: { $0.closing == true }), age < grace, found[identity.object] == nil else {
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

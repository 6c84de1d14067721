import Foundation
import Glibc
import Logging
import SwiftStorage

/// The directory tree over a flat container: pseudo-directories from `delimiter=/` listings and
/// directory marker objects, with an attribute cache filled by listings and HEADs.
final class Namespace: @unchecked Sendable {
    private let client: SwiftClient
    private let container: String
    private let attrTTL: Double
    private let logger: Logger

    private let lock = NSLock()
    /// `verified` is false for sizes a listing cannot be trusted with: a dynamic large object
    /// lists as 0 bytes, so empty-looking files get a HEAD on first lookup.
    private var cache: [ObjectPath: (attributes: FileAttributes, expires: Date, verified: Bool)] = [:]
    /// Names found absent, until when: creating a file looks its name up several times, and each
    /// miss costs a HEAD and a listing. The mount's own creates clear an entry at once; an object
    /// another client creates shows up within `attrTTL`.
    private var absent: [ObjectPath: Date] = [:]
    /// Directories whose whole content is known (a listing, or mkdir of a new one), until when:
    /// a name missing from one is absent without asking Swift. Kept exact for the mount's own
    /// creates; any other change through the mount drops the directory's entry.
    private var listed: [ObjectPath: (names: Set<String>, expires: Date)] = [:]
    private let dirTTL: Double
    private let pageSize: Int
    private var hits = 0
    private var misses = 0
    /// Directories up to this size are listed again, rather than asked about one missing name
    /// (a HEAD and a listing), when their cached listing has expired.
    private static let relistLimit = 1000

    init(client: SwiftClient, container: String, attrTTL: Double, dirTTL: Double, pageSize: Int, logger: Logger) {
        self.client = client
        self.container = container
        self.attrTTL = attrTTL
        self.dirTTL = dirTTL
        self.pageSize = pageSize
        self.logger = logger
    }

    static let directoryContentType = "application/directory"

    func lookup(_ path: ObjectPath) throws -> FileAttributes {
        if path.isRoot { return FileAttributes(kind: .directory, size: 0, mtime: Date()) }
        if let known = cached(path) { count(hit: true); return known }
        if isKnownAbsent(path) { count(hit: true); throw FSError(ENOENT) }
        // Checking absence may have listed the parent again, which fills the cache.
        if let known = cached(path) { count(hit: true); return known }
        count(hit: false)
        do {
            return try fetch(path)
        } catch SwiftError.unavailable(let why) {
            // The server is away: what was known a moment ago beats failing stat(2) outright.
            if let stale = cached(path, allowExpired: true) {
                logger.notice("\(path): \(why); answering with cached attributes")
                return stale
            }
            throw SwiftError.unavailable(why)
        }
    }

    private func fetch(_ path: ObjectPath) throws -> FileAttributes {
        if let info = try client.head(container: container, object: path.key) {
            let kind: FileKind = info.contentType == Self.directoryContentType && info.size == 0 ? .directory : .file
            let attributes = FileAttributes(kind: kind, size: info.size, mtime: Self.mtime(meta: info.metadata, fallback: info.lastModified))
            remember(path, attributes)
            return attributes
        }
        // No object: a directory exists if anything is stored under its prefix.
        let page = try client.list(container: container, prefix: path.directoryPrefix, delimiter: "/", limit: 1)
        guard !page.isEmpty else {
            lock.lock()
            absent[path] = Date().addingTimeInterval(attrTTL)
            lock.unlock()
            throw FSError(ENOENT)
        }
        let attributes = FileAttributes(kind: .directory, size: 0, mtime: Date())
        remember(path, attributes)
        return attributes
    }

    func list(_ directory: ObjectPath) throws -> [DirectoryEntry] {
        let prefix = directory.directoryPrefix
        let entries = try client.listAll(container: container, prefix: prefix, delimiter: "/", pageSize: pageSize)
        var seen = Set<String>()
        var result: [DirectoryEntry] = []
        for entry in entries {
            let item: DirectoryEntry
            switch entry {
            case .subdir(let name):
                let child = String(name.dropFirst(prefix.count).dropLast())
                item = DirectoryEntry(name: child, attributes: FileAttributes(kind: .directory, size: 0, mtime: Date()))
            case .object(let object):
                let child = String(object.name.dropFirst(prefix.count))
                // The directory's own marker object lists as an empty name.
                if child.isEmpty { continue }
                let isMarker = object.contentType == Self.directoryContentType && object.bytes == 0
                item = DirectoryEntry(name: child, attributes: FileAttributes(
                    kind: isMarker ? .directory : .file, size: object.bytes,
                    mtime: object.lastModified ?? Date(timeIntervalSince1970: 0)))
            }
            guard !item.name.isEmpty, !item.name.contains("/"), seen.insert(item.name).inserted else { continue }
            result.append(item)
        }
        lock.lock()
        let expires = Date().addingTimeInterval(attrTTL)
        // Names known from HEADs and the mount's own writes stay too: a listing may lag behind a
        // PUT (container updates are asynchronous), and "absent" must never hide our own file.
        var names = Set(result.map(\.name))
        for (path, entry) in cache where entry.verified && path.parent == directory && !path.isRoot { names.insert(path.name) }
        listed[directory] = (names, Date().addingTimeInterval(dirTTL))
        for item in result {
            let child = ObjectPath(directory.key.isEmpty ? item.name : directory.key + "/" + item.name)
            // A directory listed only as a subdir has no mtime; do not let it replace a HEAD result.
            if item.attributes.kind == .directory, cache[child] != nil { continue }
            let verified = item.attributes.kind == .directory || item.attributes.size > 0
            cache[child] = (item.attributes, expires, verified)
            absent[child] = nil
        }
        lock.unlock()
        return result
    }

    func makeDirectory(_ path: ObjectPath) throws {
        if (try? lookup(path)) != nil { throw FSError(EEXIST) }
        try client.put(container: container, object: path.directoryMarker, body: [],
                       headers: [("Content-Type", Self.directoryContentType)])
        remember(path, FileAttributes(kind: .directory, size: 0, mtime: Date()))
        lock.lock()
        listed[path] = ([], Date().addingTimeInterval(dirTTL))
        lock.unlock()
    }

    func removeDirectory(_ path: ObjectPath) throws {
        let page = try client.list(container: container, prefix: path.directoryPrefix, delimiter: "/", limit: 2)
        let others = page.filter { entry in
            if case .object(let o) = entry, o.name == path.directoryMarker { return false }
            return true
        }
        guard others.isEmpty else { throw FSError(ENOTEMPTY) }
        let removedMarker = try client.delete(container: container, object: path.directoryMarker)
        // A marker stored without the trailing slash (some clients write those).
        var removedPlain = false
        if !removedMarker, let info = try client.head(container: container, object: path.key),
           info.contentType == Self.directoryContentType {
            removedPlain = try client.delete(container: container, object: path.key)
        }
        forget(path)
        if !removedMarker && !removedPlain && page.isEmpty { throw FSError(ENOENT) }
    }

    func remember(_ path: ObjectPath, _ attributes: FileAttributes) {
        lock.lock()
        cache[path] = (attributes, Date().addingTimeInterval(attrTTL), true)
        absent[path] = nil
        listed[path.parent]?.names.insert(path.name)
        lock.unlock()
    }

    private func count(hit: Bool) {
        lock.lock()
        if hit { hits += 1 } else { misses += 1 }
        lock.unlock()
    }

    var statistics: (entries: Int, hits: Int, misses: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (cache.count, hits, misses)
    }

    /// Drops what is known of `path` (after the mount changed it).
    func forget(_ path: ObjectPath) {
        lock.lock()
        cache[path] = nil
        absent[path] = nil
        listed[path.parent] = nil
        listed[path] = nil
        lock.unlock()
    }

    private func isKnownAbsent(_ path: ObjectPath) -> Bool {
        lock.lock()
        if let parent = listed[path.parent], parent.expires < Date() {
            listed[path.parent] = nil
            lock.unlock()
            // A small directory, listed before: one listing answers this and the next misses.
            if parent.names.count <= Self.relistLimit, (try? list(path.parent)) != nil {
                return isKnownAbsent(path)
            }
            lock.lock()
        }
        defer { lock.unlock() }
        if let parent = listed[path.parent], !parent.names.contains(path.name) { return true }
        guard let until = absent[path] else { return false }
        if until < Date() { absent[path] = nil; return false }
        return true
    }

    private func cached(_ path: ObjectPath, allowExpired: Bool = false) -> FileAttributes? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = cache[path], entry.verified else { return nil }
        if entry.expires < Date() && !allowExpired { return nil }
        return entry.attributes
    }

    /// mtime as swiftclient and rclone store it (seconds since the epoch, with a fraction).
    static func mtime(meta: [String: String], fallback: Date?) -> Date {
        if let text = meta["mtime"], let seconds = Double(text) { return Date(timeIntervalSince1970: seconds) }
        return fallback ?? Date(timeIntervalSince1970: 0)
    }
}

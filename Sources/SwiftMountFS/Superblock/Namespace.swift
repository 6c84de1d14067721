import Foundation
import Glibc
import Logging
import OrderedCollections
import SwiftStorage
import Synchronization

/// The directory tree over a flat container: pseudo-directories from `delimiter=/` listings and
/// directory marker objects, with an attribute cache filled by listings and HEADs.
///
/// A listing tells names, sizes, types and Swift's last-modified time; mtime, mode and owner are
/// in the listing too for objects the mount wrote (content-type parameters, `ListedAttributes`),
/// so those cost no request per name. For other objects a stat reads the object (a HEAD, or the
/// directory marker's), and a run of stats in listing order (ls -l, rsync, du) reads the next
/// names ahead in parallel, as read-ahead does for data; `attrs_from=listing` takes listings as
/// they are and never asks per name.
/// Unchecked: its caches sit behind `lock` (NSLock), never held across a request.
final class Namespace: @unchecked Sendable {
    private let client: SwiftClient
    private let container: String
    private let attrTTL: Double
    private let exactAttributes: Bool
    private let logger: Logger

    /// One cached stat, packed into 64 bytes (a listing of 100,000 names holds 100,000 of them):
    /// what few entries have (metadata read from the object, a symlink's target, a device
    /// number) sits behind one reference.
    struct Entry {
        private let size: Int
        private let mtimeSeconds: Int
        private let ctimeSeconds: Int
        let expires: Date
        private let rare: Rare?
        private let mtimeNanoseconds: UInt32
        private let ctimeNanoseconds: UInt32
        /// Permission bits, and a FIFO's, socket's or device's S_IFMT bits.
        private let mode: UInt32
        private let uid: UInt32
        private let gid: UInt32
        private let kind: UInt8
        private let flags: UInt8

        private final class Rare: Sendable {
            let metadata: [String: String]?
            let linkTarget: String?
            let rdev: UInt32?
            init(metadata: [String: String]?, linkTarget: String?, rdev: UInt32?) {
                (self.metadata, self.linkTarget, self.rdev) = (metadata, linkTarget, rdev)
            }
        }

        private static let hasMode: UInt8 = 1, hasUid: UInt8 = 2, hasGid: UInt8 = 4
        private static let isVerified: UInt8 = 8, isExact: UInt8 = 16, isWritten: UInt8 = 32

        init(attributes a: FileAttributes, expires: Date, verified: Bool, metadata: [String: String]?, exact: Bool, written: Bool = false) {
            size = a.size
            (mtimeSeconds, mtimeNanoseconds) = (a.mtime.seconds, UInt32(clamping: a.mtime.nanoseconds))
            (ctimeSeconds, ctimeNanoseconds) = (a.ctime.seconds, UInt32(clamping: a.ctime.nanoseconds))
            self.expires = expires
            rare = metadata != nil || a.linkTarget != nil || a.rdev != nil
                ? Rare(metadata: metadata, linkTarget: a.linkTarget, rdev: a.rdev) : nil
            switch a.kind {
            case .file: (kind, mode) = (0, a.mode ?? 0)
            case .directory: (kind, mode) = (1, a.mode ?? 0)
            case .symlink: (kind, mode) = (2, a.mode ?? 0)
            case .special(let type): (kind, mode) = (3, type | (a.mode ?? 0))
            }
            (uid, gid) = (a.uid ?? 0, a.gid ?? 0)
            flags = (a.mode != nil ? Self.hasMode : 0) | (a.uid != nil ? Self.hasUid : 0) | (a.gid != nil ? Self.hasGid : 0)
                | (verified ? Self.isVerified : 0) | (exact ? Self.isExact : 0) | (written ? Self.isWritten : 0)
        }

        var attributes: FileAttributes {
            let kind: FileKind = switch self.kind {
            case 0: .file
            case 1: .directory
            case 2: .symlink
            default: .special(mode & ObjectMetadata.specialTypeMask)
            }
            return FileAttributes(kind: kind, size: size,
                                  mtime: FileTime(seconds: mtimeSeconds, nanoseconds: Int(mtimeNanoseconds)),
                                  ctime: FileTime(seconds: ctimeSeconds, nanoseconds: Int(ctimeNanoseconds)),
                                  mode: flags & Self.hasMode != 0 ? mode & 0o7777 : nil,
                                  uid: flags & Self.hasUid != 0 ? uid : nil, gid: flags & Self.hasGid != 0 ? gid : nil,
                                  rdev: rare?.rdev, linkTarget: rare?.linkTarget)
        }
        /// False for sizes a listing cannot be trusted with: a dynamic large object lists as 0
        /// bytes, so empty-looking files are always read.
        var verified: Bool { flags & Self.isVerified != 0 }
        /// The object's metadata, when it was read or written by the mount (nil: from a listing).
        var metadata: [String: String]? { rare?.metadata }
        /// The attributes are the object's own (read, written, or listed with our parameters),
        /// not a listing's guess.
        var exact: Bool { flags & Self.isExact != 0 }
        /// The mount stored this itself: kept through sweeps for a while, because a listing may
        /// not show a new object yet and must not make it look absent.
        var written: Bool { flags & Self.isWritten != 0 }
    }

    private let lock = NSLock()
    private var cache = CompactDictionary<ObjectPath, Entry>()
    /// Names found absent, until when: creating a file looks its name up several times, and each
    /// miss costs a HEAD and a listing. The mount's own creates clear an entry at once; an object
    /// another client creates shows up within `attrTTL`.
    private var absent: [ObjectPath: Date] = [:]
    /// Directories whose whole content is known (a listing, or mkdir of a new one), until when:
    /// a name missing from one is absent without asking Swift. Kept exact for the mount's own
    /// creates; any other change through the mount drops the directory's entry.
    private var listed: [ObjectPath: (names: Names, expires: Date)] = [:]
    /// Each listed directory's names in listing order, for reading attributes ahead.
    private var order: [ObjectPath: OrderedSet<String>] = [:]
    /// Where the last stat in a directory was, in listing order: the next one starts read-ahead.
    private var lastStat: [ObjectPath: Int] = [:]
    /// Directories whose first listing page a lookup read, until when it is not read again.
    private var firstPageTried: [ObjectPath: Date] = [:]
    /// Objects the mount deleted (unlink, a rename's source): when, and their ETag. Listings lag
    /// behind deletes, and one that still shows such an object must not bring it back; the same
    /// name stored anew by another client (another ETag) shows.
    private var removedAt: [ObjectPath: (at: Date, etag: String?)] = [:]
    /// When the mount last changed each directory's content (created, deleted, renamed in it).
    private var changedAt: [ObjectPath: Date] = [:]
    /// What the mount stored lately, by when: a listing may not show it yet (see `recentWrites`).
    private var writtenAt: [ObjectPath: Date] = [:]
    /// When the last whole readdir pass of each directory began (see `pageOfLastPass`).
    private var readdirPass: [ObjectPath: Date] = [:]
    /// Objects being read, so a stat waits for the read already under way.
    private var inflight: [ObjectPath: Pending<Entry?>] = [:]
    private let readAhead: WorkerPool
    private static let readAheadWindow = 32
    private let dirTTL: Double
    private var hits = 0
    private var misses = 0
    private let cacheLimit: Int
    private var lastSweep = Date.distantPast
    /// How long the mount's own writes survive sweeps (container listings lag behind PUTs).
    private static let writtenGrace: Double = 300
    /// Directories up to this size are listed again, rather than asked about one missing name
    /// (a HEAD and a listing), when their cached listing has expired.
    private static let relistLimit = 1000

    init(client: SwiftClient, container: String, options: MountOptions, statPool: WorkerPool, logger: Logger) {
        self.client = client
        self.container = container
        self.attrTTL = options.attrTimeout
        self.dirTTL = options.dirCacheTTL
        self.exactAttributes = options.attributesFrom == .objects
        self.cacheLimit = options.attrCacheEntries
        self.logger = logger
        readAhead = statPool
    }

    static let directoryContentType = "application/directory"
    static let symlinkContentType = "application/symlink"

    static func kind(contentType: String, size: Int, symlink: Bool) -> FileKind {
        let media = ListedAttributes.mediaType(contentType)
        if symlink || media == symlinkContentType { return .symlink }
        return media == directoryContentType && size == 0 ? .directory : .file
    }

    func lookup(_ path: ObjectPath) throws -> FileAttributes {
        try entry(path).attributes
    }

    /// The attributes, or nil if nothing is there (other failures are thrown).
    func lookupIfPresent(_ path: ObjectPath) throws -> FileAttributes? {
        do { return try lookup(path) } catch let error as FSError where error.errno == ENOENT { return nil }
    }

    /// The object's metadata (`X-Object-Meta-*`; a directory's marker's, the root's container's).
    func metadata(_ path: ObjectPath) throws -> [String: String] {
        if let metadata = try entry(path).metadata { return metadata }
        guard let fresh = try read(path, hint: nil) else { throw FSError(ENOENT) }
        return fresh.metadata ?? [:]
    }

    private func entry(_ path: ObjectPath) throws -> Entry {
        if exactAttributes { readAheadIfSequential(path) }
        if let known = cached(path) { count(hit: true); return known }
        if isKnownAbsent(path) { count(hit: true); throw FSError(ENOENT) }
        // Checking absence may have listed the parent again, which fills the cache.
        if let known = cached(path) { count(hit: true); return known }
        if !path.isRoot, listFirstPage(path.parent) {
            if let known = cached(path) { count(hit: true); return known }
            if isKnownAbsent(path) { count(hit: true); throw FSError(ENOENT) }
        }
        count(hit: false)
        lock.lock()
        let stale = cache[path]
        lock.unlock()
        do {
            // With something to fall back on, an outage is noticed after one quick retry.
            guard let found = try read(path, hint: stale?.attributes.kind, policy: stale == nil ? nil : .quick) else {
                throw FSError(ENOENT)
            }
            return found
        } catch let error where Self.isOutage(error) {
            // The server (or Keystone) is away: what was known a moment ago beats failing stat(2).
            guard let stale else { throw error }
            logger.notice("\(path): \(error); answering with cached attributes")
            return stale
        }
    }

    /// Swift or Keystone unreachable, as opposed to an answer.
    static func isOutage(_ error: Error) -> Bool {
        switch error {
        case SwiftError.unavailable, SwiftError.auth(.unavailable): true
        default: false
        }
    }

    /// Reads one path's attributes from Swift, or waits for the read already under way.
    private func read(_ path: ObjectPath, hint: FileKind?, policy: SwiftClient.RetryPolicy? = nil) throws -> Entry? {
        lock.lock()
        if let pending = inflight[path] {
            lock.unlock()
            return try pending.wait()
        }
        let pending = Pending<Entry?>()
        inflight[path] = pending
        lock.unlock()
        return try perform(path, hint: hint, pending, policy: policy)
    }

    private func perform(_ path: ObjectPath, hint: FileKind?, _ pending: Pending<Entry?>,
                         policy: SwiftClient.RetryPolicy? = nil) throws -> Entry? {
        let outcome = Result { try fetch(path, hint: hint, policy: policy) }
        lock.lock()
        inflight[path] = nil
        lock.unlock()
        pending.fulfill(outcome)
        return try outcome.get()
    }

    private func fetch(_ path: ObjectPath, hint: FileKind?, policy: SwiftClient.RetryPolicy?) throws -> Entry? {
        if path.isRoot {
            // The root's attributes live in the container's metadata.
            let metadata = (try? client.containerMetadata(container)) ?? [:]
            return remember(path, FileAttributes(kind: .directory, size: 0, metadata: metadata, lastModified: Date()), metadata: metadata,
                            written: false)
        }
        if hint != .directory, let info = try client.head(container: container, object: path.key, policy: policy) {
            return remember(path, attributes(path, info), metadata: info.metadata, written: false)
        }
        // No object: a directory exists if anything is stored under its prefix; its marker, if
        // any, lists first and holds its metadata.
        let page = try client.list(container: container, prefix: path.directoryPrefix, delimiter: "/", limit: 1, policy: policy)
        guard let first = page.first else {
            lock.lock()
            absent[path] = Date().addingTimeInterval(attrTTL)
            cache[path] = nil
            lock.unlock()
            return nil
        }
        var metadata: [String: String] = [:]
        var lastModified = Date()
        if case .object(let marker) = first, marker.name == path.directoryMarker,
           let info = try client.head(container: container, object: marker.name) {
            metadata = info.metadata
            lastModified = info.lastModified ?? lastModified
        }
        return remember(path, FileAttributes(kind: .directory, size: 0, metadata: metadata, lastModified: lastModified),
                        metadata: metadata, written: false)
    }

    /// What an object's HEAD says of `path`.
    func attributes(_ path: ObjectPath, _ info: ObjectInfo) -> FileAttributes {
        let kind = Self.kind(contentType: info.contentType, size: info.size, symlink: info.symlinkTarget != nil)
        var linkTarget: String?
        if kind == .symlink {
            linkTarget = info.metadata[ObjectMetadata.symlinkKey].map { String(decoding: ObjectMetadata.decode(value: $0), as: UTF8.self) }
                ?? info.symlinkTarget.map { SymlinkTarget.relative(header: $0, from: path, container: container) }
                ?? ""
        }
        return FileAttributes(kind: kind, size: linkTarget.map { $0.utf8.count } ?? info.size,
                              metadata: info.metadata, lastModified: info.lastModified, linkTarget: linkTarget)
    }

    /// readlink(2): a listing does not say where a symlink points, so this may read the object.
    func linkTarget(_ path: ObjectPath) throws -> String {
        var attributes = try lookup(path)
        guard attributes.kind == .symlink else { throw FSError(EINVAL) }
        if attributes.linkTarget == nil, let fresh = try read(path, hint: .symlink) { attributes = fresh.attributes }
        guard let target = attributes.linkTarget else { throw FSError(EINVAL) }
        return target
    }

    /// A stat right after the previous name's, in listing order: read the next names ahead.
    private func readAheadIfSequential(_ path: ObjectPath) {
        let directory = path.parent
        lock.lock()
        guard let listing = order[directory], let index = listing.firstIndex(of: path.name) else {
            lock.unlock()
            return
        }
        let sequential = lastStat[directory] == index - 1
        lastStat[directory] = index
        var batch: [(ObjectPath, FileKind?, Pending<Entry?>)] = []
        if sequential {
            let now = Date()
            for name in listing[(index + 1)..<min(listing.count, index + 1 + Self.readAheadWindow)] {
                let child = directory.child(name)
                if let known = cache[child], known.exact, known.expires > now { continue }
                if inflight[child] != nil { continue }
                let pending = Pending<Entry?>()
                inflight[child] = pending
                batch.append((child, cache[child]?.attributes.kind, pending))
            }
        }
        lock.unlock()
        for (child, hint, pending) in batch {
            readAhead.submit { [self] in _ = try? perform(child, hint: hint, pending) }
        }
    }

    func list(_ directory: ObjectPath, policy: SwiftClient.RetryPolicy? = nil) throws -> [DirectoryEntry] {
        let started = Date()
        let entries = try client.listAll(container: container, prefix: directory.directoryPrefix, delimiter: "/", policy: policy)
        return absorb(entries, of: directory, complete: true, started: started)
    }

    /// `directory`'s listing one page at a time, for readdir: each page is cached as it comes,
    /// and a pass from the first page to the last records the directory as listed, as `list` does.
    func pages(of directory: ObjectPath) -> @Sendable (String) throws -> DirectoryStream.Page {
        // The names of the pass under way, while it has gone page by page from the start
        // (deduplicated as they come); they become the listing's own.
        let pass = Mutex<(names: OrderedSet<String>, next: String, whole: Bool, started: Date)?>(nil)
        return { [self] marker in
            if let cached = pageOfLastPass(directory, after: marker) { return cached }
            let now = Date()
            let raw = try client.list(container: container, prefix: directory.directoryPrefix, delimiter: "/", marker: marker)
            let (entries, whole) = absorbPage(raw, of: directory, askedAt: now)
            let next = raw.count < client.listingLimit ? nil : raw.last.map(\.name)
            let finished: (names: OrderedSet<String>, whole: Bool, started: Date)? = pass.withLock { pass in
                if marker.isEmpty { pass = ([], "", true, now) }
                guard var current = pass, current.next == marker else { pass = nil; return nil }
                // Cleared first, so the arrays grow in place rather than as copies.
                pass = nil
                for entry in entries { current.names.append(entry.name) }
                current.whole = current.whole && whole
                guard let next else { return (current.names, current.whole, current.started) }
                current.next = next
                pass = current
                return nil
            }
            if let finished, finished.whole {
                lock.withLock {
                    // Not a listing that lags behind the mount's own write: it would hide that file.
                    if recordListing(of: directory, names: finished.names, at: finished.started) == .withOwnWrites {
                        readdirPass[directory] = finished.started
                    }
                }
            }
            return (entries, next)
        }
    }

    /// A lookup in a directory not listed lately (rsync, `stat` by name, a create): one page of
    /// its listing answers for the name and its siblings, where a HEAD would answer for one. A
    /// directory of up to a page is then known whole (misses need no request); a bigger one
    /// leaves the names of its first page. Tried once per `dir_cache_ttl`. Returns whether it listed.
    private func listFirstPage(_ directory: ObjectPath) -> Bool {
        let now = Date()
        let due = lock.withLock {
            // dir_cache_ttl=0 asks Swift about every name: a page per lookup would only add to it.
            guard dirTTL > 0, listed[directory] == nil, (firstPageTried[directory] ?? .distantPast) <= now else { return false }
            firstPageTried[directory] = now.addingTimeInterval(dirTTL)
            return true
        }
        guard due, case let started = Date(), let page = try? client.list(container: container, prefix: directory.directoryPrefix, delimiter: "/",
                                                 limit: Self.relistLimit, policy: .quick) else { return false }
        _ = absorb(page, of: directory, complete: page.count < min(Self.relistLimit, client.listingLimit), started: started)
        return true
    }

    /// Caches what a listing of `directory` says; a `complete` one also tells what is absent.
    private func absorb(_ entries: [ListingEntry], of directory: ObjectPath, complete: Bool, started: Date) -> [DirectoryEntry] {
        let (result, whole) = absorbPage(entries, of: directory, askedAt: started)
        if complete && whole { _ = lock.withLock { recordListing(of: directory, names: OrderedSet(result.map(\.name)), at: started) } }
        return result
    }

    /// Caches what one page of `directory`'s listing, asked for at `askedAt`, says. `whole`: false
    /// when it left out a name the mount deleted lately, so it does not tell what is absent.
    private func absorbPage(_ entries: [ListingEntry], of directory: ObjectPath, askedAt: Date) -> (entries: [DirectoryEntry], whole: Bool) {
        let prefix = directory.directoryPrefix
        var seen = Set<String>()
        var result: [DirectoryEntry] = []
        /// Whether a listed object's size can be trusted (see `Entry.verified`).
        var verified: [String: Bool] = [:]
        // A name the mount deleted lately that the listing still shows: left out, and the
        // listing no longer tells what is absent (a HEAD decides for that name).
        let removedLately = lock.withLock {
            let since = Date().addingTimeInterval(-Self.writtenGrace)
            return Dictionary(uniqueKeysWithValues: removedAt.filter { $0.value.at > since && $0.key.parent == directory }
                .map { ($0.key.name, $0.value.etag) })
        }
        var whole = true
        for entry in entries {
            var item: DirectoryEntry
            switch entry {
            case .subdir(let name):
                let child = String(name.dropFirst(prefix.count).dropLast())
                item = DirectoryEntry(name: child, attributes: FileAttributes(kind: .directory, size: 0, mtime: .now))
            case .object(let object):
                let child = String(object.name.dropFirst(prefix.count))
                // The directory's own marker object lists as an empty name.
                if child.isEmpty { continue }
                if let etag = removedLately[child], etag == nil || etag == object.hash || etag == object.sloEtag {
                    whole = false
                    continue
                }
                let kind = Self.kind(contentType: object.contentType, size: object.bytes, symlink: object.symlinkPath != nil)
                // Parameters another client's later change left behind describe nothing.
                let listed = ListedAttributes.parse(object.contentType).flatMap {
                    ListedAttributes.isCurrent($0, lastModified: object.lastModified) ? $0 : nil
                }
                item = DirectoryEntry(name: child, attributes: FileAttributes(
                    kind: kind, size: kind == .symlink ? 0 : object.bytes, metadata: listed?.metadata ?? [:],
                    lastModified: object.lastModified ?? Date(timeIntervalSince1970: 0)))
                // A symlink's size is its target's length, which only its object tells.
                item.exact = listed != nil && kind != .symlink
                // A dynamic large object lists as 0 bytes: other empty-looking files are read.
                verified[child] = item.attributes.size > 0 || (listed.map { !$0.dynamicManifest } ?? false)
            }
            guard !item.name.isEmpty, !item.name.contains("/"), seen.insert(item.name).inserted else { continue }
            result.append(item)
        }
        lock.lock()
        let now = Date()
        let expires = now.addingTimeInterval(attrTTL)
        for index in result.indices {
            let item = result[index]
            let child = directory.child(item.name)
            // The mount removed, renamed or replaced this name while the listing was on its way
            // (another thread's unlink or rmdir): the listing is older than that, and must not
            // bring the name back. Not cached, and the kernel asks getattr for it.
            if (changedAt[child] ?? .distantPast) >= askedAt || (removedAt[child]?.at ?? .distantPast) >= askedAt {
                result[index].exact = false
                continue
            }
            // What was read from the object stays while fresh and the listing agrees on its size
            // (a listing has no metadata, and a pseudo-directory not even an mtime), or is older
            // than it: listings lag behind writes (container updates are asynchronous), and a
            // file the mount just stored must not show its previous version's size.
            if let known = cache[child], known.metadata != nil,
               known.expires > now || (known.written && known.expires > now.addingTimeInterval(-Self.writtenGrace)),
               known.attributes.kind == item.attributes.kind,
               item.attributes.kind == .directory || known.attributes.size == item.attributes.size
                || item.attributes.ctime < known.attributes.ctime {
                result[index] = DirectoryEntry(name: item.name, attributes: known.attributes, exact: known.verified)
                continue
            }
            let entry = Entry(attributes: item.attributes, expires: expires,
                              verified: item.attributes.kind != .file || verified[item.name] == true,
                              metadata: nil, exact: item.exact)
            cache[child] = entry
            absent[child] = nil
            // What stat shows now: the listing itself with attrs_from=listing.
            result[index].exact = entry.verified && (item.exact || !exactAttributes)
        }
        sweepIfFull(now)
        lock.unlock()
        return (result, whole)
    }

    /// A whole listing of `directory` (names in listing order), begun at `started`: names missing
    /// from it are absent for `dir_cache_ttl`, and stats in its order read ahead. Not when the
    /// mount changed the directory since: the listing may predate that (a rename's target whose
    /// marker it never saw), and "absent" must never hide the mount's own change. Called with the
    /// lock held.
    private func recordListing(of directory: ObjectPath, names ordered: OrderedSet<String>, at started: Date) -> Recorded {
        guard (changedAt[directory] ?? .distantPast) < started else { return .not }
        // Names known from HEADs and the mount's own writes stay too: a listing may lag behind a
        // PUT (container updates are asynchronous), and "absent" must never hide our own file.
        var names = Names(listing: ordered)
        var recorded = Recorded.withOwnWrites
        for (path, entry) in cache.entries where entry.metadata != nil && path.parent == directory && !path.isRoot {
            if names.insert(path.name) && entry.written { recorded = .laggingOwnWrites }
        }
        listed[directory] = (names, started.addingTimeInterval(dirTTL))
        order[directory] = ordered
        lastStat[directory] = nil
        return recorded
    }

    enum Recorded { case not, withOwnWrites, laggingOwnWrites }

    /// A listed directory's names: the listing's (the set `order` holds, not a copy of it) and
    /// the mount's own creates and deletes since.
    struct Names {
        let listing: OrderedSet<String>
        private var added: Set<String> = []
        private var removed: Set<String> = []

        init(listing: OrderedSet<String>) { self.listing = listing }

        var count: Int { listing.count + added.count - removed.count }

        func contains(_ name: String) -> Bool {
            added.contains(name) || (listing.contains(name) && !removed.contains(name))
        }

        /// Whether the name is new.
        mutating func insert(_ name: String) -> Bool {
            if listing.contains(name) { return removed.remove(name) != nil }
            return added.insert(name).inserted
        }

        mutating func remove(_ name: String) {
            if listing.contains(name) { removed.insert(name) } else { added.remove(name) }
        }
    }

    /// The page after `marker` of the last whole readdir pass of `directory`, while that pass is
    /// still the answer: begun within `dir_cache_ttl` and `attr_timeout` (its attributes are still
    /// cached), with no change by the mount since. A second `ls -l` then lists nothing; the
    /// pass's time stays its first listing's, so the directory is listed again once it is old.
    private func pageOfLastPass(_ directory: ObjectPath, after marker: String) -> DirectoryStream.Page? {
        lock.withLock {
            let now = Date()
            guard let started = readdirPass[directory], now < started.addingTimeInterval(min(dirTTL, attrTTL)),
                  (changedAt[directory] ?? .distantPast) < started, let listing = order[directory] else { return nil }
            // Markers are object names, as Swift's pages give them (a pseudo-directory's ends in "/").
            let name = marker.dropFirst(directory.directoryPrefix.count)
            let first = marker.isEmpty ? 0 : listing.firstIndex(of: String(name.hasSuffix("/") ? name.dropLast() : name)).map { $0 + 1 }
            guard let first else { return nil }
            let last = min(listing.count, first + client.listingLimit)
            var entries: [DirectoryEntry] = []
            entries.reserveCapacity(last - first)
            for name in listing[first..<last] {
                // Every attribute of the pass must still be held (a sweep may have dropped some).
                guard let entry = cache[directory.child(name)], entry.expires >= now else { return nil }
                entries.append(DirectoryEntry(name: name, attributes: entry.attributes,
                                              exact: entry.verified && (entry.exact || !exactAttributes)))
            }
            return (entries, last < listing.count ? directory.directoryPrefix + listing[last - 1] : nil)
        }
    }

    /// Keeps the cache near `attr_cache_entries`: past it, entries whose `attr_timeout` is over
    /// go (they only served as a fallback while Swift is unreachable), except what the mount
    /// wrote in the last minutes; so do expired negative entries and directory listings. Fresh
    /// entries stay, so one listing larger than the limit is held until it expires. At most one
    /// sweep per `attr_timeout` (each walks the whole cache). Called with the lock held.
    private func sweepIfFull(_ now: Date) {
        guard cache.count > cacheLimit || absent.count > cacheLimit, now.timeIntervalSince(lastSweep) >= max(attrTTL, 1) else {
            return
        }
        lastSweep = now
        let keepWritten = now.addingTimeInterval(attrTTL - Self.writtenGrace)
        cache = cache.filter { _, entry in entry.expires >= now || (entry.written && entry.expires >= keepWritten) }
        absent = absent.filter { $0.value >= now }
        listed = listed.filter { $0.value.expires >= now }
        order = order.filter { listed[$0.key] != nil }
        lastStat = lastStat.filter { order[$0.key] != nil }
        firstPageTried = firstPageTried.filter { $0.value > now }
        // A listing outlives no change by more than dir_cache_ttl: older marks decide nothing.
        changedAt = changedAt.filter { now.timeIntervalSince($0.value) < max(dirTTL, Self.writtenGrace) }
        writtenAt = writtenAt.filter { now.timeIntervalSince($0.value) < Self.writtenGrace }
        readdirPass = readdirPass.filter { now.timeIntervalSince($0.value) < dirTTL }
    }

    /// Creates a directory marker carrying `metadata` (mode and owner, when not the defaults).
    func makeDirectory(_ path: ObjectPath, metadata: [String: String]) throws {
        if (try? lookup(path)) != nil { throw FSError(EEXIST) }
        try client.put(container: container, object: path.directoryMarker, body: [],
                       headers: SwiftClient.metadataHeaders(metadata) + [("Content-Type", Self.directoryContentType)])
        remember(path, FileAttributes(kind: .directory, size: 0, metadata: metadata, lastModified: Date()), metadata: metadata)
        lock.withLock {
            listed[path] = (Names(listing: []), Date().addingTimeInterval(dirTTL))
            changedAt[path] = Date()
        }
    }

    /// Whether nothing but the directory's own marker is stored under it.
    func isEmptyDirectory(_ path: ObjectPath) throws -> Bool {
        Self.onlyMarker(try firstEntries(path), of: path)
    }

    private func firstEntries(_ path: ObjectPath) throws -> [ListingEntry] {
        try client.list(container: container, prefix: path.directoryPrefix, delimiter: "/", limit: 2)
    }

    private static func onlyMarker(_ page: [ListingEntry], of path: ObjectPath) -> Bool {
        page.allSatisfy { entry in
            if case .object(let o) = entry, o.name == path.directoryMarker { return true }
            return false
        }
    }

    func removeDirectory(_ path: ObjectPath) throws {
        let page = try firstEntries(path)
        guard Self.onlyMarker(page, of: path) else { throw FSError(ENOTEMPTY) }
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

    /// Records what the mount itself stored (or just read) at `path`.
    /// `written`: the mount stored it (rather than read it).
    @discardableResult
    func remember(_ path: ObjectPath, _ attributes: FileAttributes, metadata: [String: String], written: Bool = true) -> Entry {
        let now = Date()
        let entry = Entry(attributes: attributes, expires: now.addingTimeInterval(attrTTL), verified: true, metadata: metadata,
                          exact: true, written: written)
        lock.lock()
        cache[path] = entry
        absent[path] = nil
        if written {
            removedAt[path] = nil
            writtenAt[path] = now
            if !path.isRoot { changedAt[path.parent] = now }
        }
        if !path.isRoot { _ = listed[path.parent]?.names.insert(path.name) }
        sweepIfFull(now)
        lock.unlock()
        return entry
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

    /// The mount deleted the object at `path`: it is absent, and stays so against listings that
    /// still show it.
    func removed(_ path: ObjectPath, etag: String?) {
        let now = Date()
        lock.withLock {
            cache[path] = nil
            absent[path] = now.addingTimeInterval(attrTTL)
            listed[path.parent]?.names.remove(path.name)
            removedAt[path] = (now, etag)
            writtenAt[path] = nil
            changedAt[path.parent] = now
            if removedAt.count > 10_000 {
                removedAt = removedAt.filter { now.timeIntervalSince($0.value.at) < Self.writtenGrace }
            }
        }
    }

    /// The files in `directory` the mount stored in the last minutes, as it knows them: readdir
    /// shows them even while Swift's listing lags behind the PUT, with what the mount wrote.
    func recentWrites(in directory: ObjectPath) -> [DirectoryEntry] {
        lock.withLock {
            let since = Date().addingTimeInterval(-Self.writtenGrace)
            if writtenAt.count > 10_000 { writtenAt = writtenAt.filter { $0.value > since } }
            return writtenAt.compactMap { path, at in
                guard at > since, path.parent == directory, !path.isRoot, let entry = cache[path], entry.written else { return nil }
                return DirectoryEntry(name: path.name, attributes: entry.attributes, exact: entry.verified)
            }
        }
    }

    /// Drops what is known of `path` (after the mount changed it).
    func forget(_ path: ObjectPath) {
        lock.lock()
        cache[path] = nil
        absent[path] = nil
        listed[path.parent] = nil
        listed[path] = nil
        order[path] = nil
        let now = Date()
        writtenAt[path] = nil
        changedAt[path.parent] = now
        changedAt[path] = now
        // A directory renamed away, or here, moved everything under it.
        readdirPass = readdirPass.filter { $0.key != path && !$0.key.key.hasPrefix(path.directoryPrefix) }
        lock.unlock()
    }

    private func isKnownAbsent(_ path: ObjectPath) -> Bool {
        if path.isRoot { return false }
        lock.lock()
        if let parent = listed[path.parent], parent.expires < Date() {
            listed[path.parent] = nil
            lock.unlock()
            // A small directory, listed before: one listing answers this and the next misses.
            // Its answer stands for this lookup even when dir_cache_ttl=0 has already expired it
            // (asking again would list again, forever).
            if parent.names.count <= Self.relistLimit, (try? list(path.parent, policy: .quick)) != nil {
                return lock.withLock { listed[path.parent].map { !$0.names.contains(path.name) } ?? false }
            }
            lock.lock()
        }
        defer { lock.unlock() }
        if let parent = listed[path.parent], !parent.names.contains(path.name) { return true }
        guard let until = absent[path] else { return false }
        if until < Date() { absent[path] = nil; return false }
        return true
    }

    private func cached(_ path: ObjectPath) -> Entry? {
        lock.lock()
        defer { lock.unlock() }
        guard let entry = cache[path], entry.verified, entry.expires >= Date() else { return nil }
        return entry.exact || !exactAttributes ? entry : nil
    }
}

/// Readlink's answer for a symlink made by another Swift client: its `X-Symlink-Target`
/// ("container/object", percent-encoded) as a path relative to the link.
enum SymlinkTarget {
    static func relative(header: String, from link: ObjectPath, container: String) -> String {
        let decoded = String(decoding: PathEncoding.unescape(header), as: UTF8.self)
        let parts = decoded.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let targetContainer = parts[0], object = parts.count > 1 ? parts[1] : ""
        let up = link.parent.isRoot ? 0 : link.parent.key.split(separator: "/").count
        if targetContainer == container {
            let base = link.parent.directoryPrefix
            if object.hasPrefix(base) { return String(object.dropFirst(base.count)) }
            return String(repeating: "../", count: up) + object
        }
        // Another container: where it would be if containers were the mount's siblings.
        return String(repeating: "../", count: up + 1) + targetContainer + "/" + object
    }

    /// The object a symlink's text points to, if it stays inside the mount (nil: it leaves it).
    static func resolve(_ text: String, from link: ObjectPath, mountpoint: String) -> ObjectPath? {
        var components: [Substring]
        if text.hasPrefix("/") {
            let root = mountpoint.hasSuffix("/") ? mountpoint : mountpoint + "/"
            guard !mountpoint.isEmpty, text.hasPrefix(root) else { return nil }
            components = []
            return walk(text.dropFirst(root.count).split(separator: "/"), from: &components)
        }
        components = link.parent.isRoot ? [] : link.parent.key.split(separator: "/")
        return walk(text.split(separator: "/"), from: &components)
    }

    private static func walk(_ steps: [Substring], from components: inout [Substring]) -> ObjectPath? {
        for step in steps {
            switch step {
            case ".": continue
            case "..":
                guard !components.isEmpty else { return nil }
                components.removeLast()
            default: components.append(step)
            }
        }
        return components.isEmpty ? nil : ObjectPath(components.joined(separator: "/"))
    }
}

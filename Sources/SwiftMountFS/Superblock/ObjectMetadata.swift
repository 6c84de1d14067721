import Foundation
import Glibc
import SwiftStorage

/// How POSIX attributes and extended attributes live in an object's `X-Object-Meta-*` items.
/// mtime is seconds since the epoch with a fraction, as swiftclient and rclone write it; mode is
/// octal, uid and gid decimal. Every item is visible as a `user.` extended attribute too.
///
/// Swift title-cases metadata names and turns `_` into `-`, so an xattr name is stored with every
/// byte other than a-z, 0-9, `-` and `.` as %XX (`user.mime_type` → `X-Object-Meta-Mime%5Ftype`),
/// which reads back exactly. Values keep printable ASCII as it is; other bytes, `%`, and spaces at
/// either end (HTTP would strip them) are %XX.
enum ObjectMetadata {
    static let mtimeKey = "mtime"
    /// Changes with every chmod, chown, utimens, xattr change and content change.
    static let ctimeKey = "ctime"
    static let modeKey = "mode"
    static let uidKey = "uid"
    static let gidKey = "gid"
    /// A character or block device's number (mknod).
    static let rdevKey = "rdev"
    /// A FIFO, socket or device keeps its S_IFMT bits in its mode; nothing else does.
    static let specialTypeMask: UInt32 = 0o170000
    static let specialTypes: Set<UInt32> = [0o010000, 0o140000, 0o020000, 0o060000]

    /// The S_IFMT bits of a FIFO, socket or device mode; nil for any other mode.
    static func specialType(_ mode: UInt32?) -> UInt32? {
        mode.map { $0 & specialTypeMask }.flatMap { specialTypes.contains($0) ? $0 : nil }
    }

    /// Records a change's time, unless one more item would pass Swift's metadata limits (the
    /// ctime then reads as the mtime): a chmod must not fail for want of room for its own stamp.
    static func stamp(ctime: FileTime, in metadata: inout [String: String], limits: ClusterInfo.MetadataLimits) {
        var stamped = metadata
        stamped[ctimeKey] = ctime.text
        if fits(stamped, limits) { metadata = stamped }
    }

    /// Stores the mtime an object without one shows (its Last-Modified), before a POST, COPY or
    /// PUT moves Last-Modified; left out, like the ctime, if it would pass the limits.
    static func keep(shownMtime: FileTime?, in metadata: inout [String: String], limits: ClusterInfo.MetadataLimits) {
        guard metadata[mtimeKey] == nil, let shownMtime else { return }
        var kept = metadata
        kept[mtimeKey] = shownMtime.text
        if fits(kept, limits) { metadata = kept }
    }

    static func fits(_ metadata: [String: String], _ limits: ClusterInfo.MetadataLimits) -> Bool {
        metadata.count <= limits.count
            && metadata.reduce(0, { $0 + $1.key.utf8.count + $1.value.utf8.count }) <= limits.overallSize
    }
    /// The text a symlink made by this mount points to (readlink's answer, kept exactly).
    static let symlinkKey = "symlink-target"
    static let xattrPrefix = "user."

    static func time(_ metadata: [String: String], _ key: String) -> FileTime? {
        metadata[key].flatMap(FileTime.init(text:))
    }

    // MARK: - Extended attribute names and values

    /// The metadata name for an xattr name, or nil if it is not in the `user.` namespace. Lower
    /// case, as metadata names read back from Swift are (header names ignore case).
    static func key(forAttribute name: String) -> String? {
        guard name.hasPrefix(xattrPrefix), name.utf8.count > xattrPrefix.utf8.count else { return nil }
        return PathEncoding.escape(Array(name.utf8.dropFirst(xattrPrefix.utf8.count))) { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."): true
            default: false
            }
        }.lowercased()
    }

    /// getxattr's errno for a name without a value: ENODATA in `user.`; ENOTSUP in namespaces
    /// the mount keeps nothing in (security.selinux, ACLs), which `ls -l` takes as "not on this
    /// filesystem" and stops asking for every file.
    static func noAttribute(_ name: String) -> FSError {
        FSError(name.hasPrefix(xattrPrefix) ? ENODATA : ENOTSUP)
    }

    static func attributeName(forKey key: String) -> String {
        xattrPrefix + String(decoding: PathEncoding.unescape(key.lowercased()), as: UTF8.self)
    }

    static func encode(value: [UInt8]) -> String {
        let last = value.count - 1
        var index = -1
        return PathEncoding.escape(value) { byte in
            index += 1
            if byte == UInt8(ascii: " ") { return index != 0 && index != last }
            return byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "%")
        }
    }

    static func decode(value: String) -> [UInt8] {
        PathEncoding.unescape(value)
    }
}

/// One change to an object's metadata, from chmod, chown, utimens, setxattr or removexattr.
public enum MetadataChange: Sendable {
    case mode(UInt32)
    case owner(uid: UInt32?, gid: UInt32?)
    /// utimensat(2): nil leaves the mtime as it is (UTIME_OMIT), the ctime changes either way.
    case mtime(FileTime?)
    case setAttribute(name: String, value: [UInt8], createOnly: Bool, replaceOnly: Bool)
    case removeAttribute(name: String)

    /// Applies the change, or throws the errno setxattr(2)/removexattr(2) give: ENODATA for a
    /// missing attribute, EEXIST for XATTR_CREATE of an existing one, ENOTSUP outside `user.`,
    /// ERANGE for a name and E2BIG for a value beyond Swift's limits, ENOSPC when the object
    /// cannot hold more metadata.
    /// `now` becomes the ctime.
    func apply(to original: inout [String: String], limits: ClusterInfo.MetadataLimits, now: FileTime) throws {
        var metadata = original
        switch self {
        case .mode(let mode):
            // A FIFO, socket or device stays one.
            let type = ObjectMetadata.specialType(metadata[ObjectMetadata.modeKey].flatMap { UInt32($0, radix: 8) }) ?? 0
            metadata[ObjectMetadata.modeKey] = String(type | mode & 0o7777, radix: 8)
        case .owner(let uid, let gid):
            if let uid { metadata[ObjectMetadata.uidKey] = String(uid) }
            if let gid { metadata[ObjectMetadata.gidKey] = String(gid) }
        case .mtime(let time):
            if let time { metadata[ObjectMetadata.mtimeKey] = time.text }
        case .setAttribute(let name, let value, let createOnly, let replaceOnly):
            guard let key = ObjectMetadata.key(forAttribute: name) else { throw FSError(ENOTSUP) }
            guard key.utf8.count <= limits.nameLength else {
                throw FSError(ERANGE, "\(name): Swift allows metadata names of \(limits.nameLength) bytes")
            }
            let encoded = ObjectMetadata.encode(value: value)
            guard encoded.utf8.count <= limits.valueLength else {
                throw FSError(E2BIG, "\(name): Swift allows metadata values of \(limits.valueLength) bytes")
            }
            if createOnly, metadata[key] != nil { throw FSError(EEXIST) }
            if replaceOnly, metadata[key] == nil { throw FSError(ENODATA) }
            metadata[key] = encoded
        case .removeAttribute(let name):
            guard let key = ObjectMetadata.key(forAttribute: name) else { throw FSError(ENOTSUP) }
            guard metadata.removeValue(forKey: key) != nil else { throw FSError(ENODATA) }
        }
        guard ObjectMetadata.fits(metadata, limits) else {
            throw FSError(ENOSPC, "Swift allows \(limits.count) metadata items of \(limits.overallSize) bytes in all")
        }
        ObjectMetadata.stamp(ctime: now, in: &metadata, limits: limits)
        original = metadata
    }
}

/// The attributes stat(2) needs, as parameters of the object's Content-Type, where container
/// listings show them: `ls -l` of what the mount wrote then costs listing pages and no HEAD per
/// name. The `X-Object-Meta-*` items stay the truth other clients read; these mirror them.
///
/// Form: the media type (kept first, for browsers and other clients), then `swiftmount=1`, then
/// `mtime`, `ctime` (seconds.nanoseconds), `mode` (octal), `uid`, `gid`, `rdev` (decimal) as far
/// as the object has them, and `dlo=1` on a dynamic large object's manifest (which lists as 0
/// bytes). Reading is strict: an unknown version or key, a repeated key, a malformed value or a
/// missing mtime makes the whole set count as absent, never half-trusted.
enum ListedAttributes {
    static let marker = "swiftmount"
    static let version = "1"
    static let dynamicManifestKey = "dlo"
    private static let timeKeys = [ObjectMetadata.mtimeKey, ObjectMetadata.ctimeKey]
    private static let numberKeys = [ObjectMetadata.uidKey, ObjectMetadata.gidKey, ObjectMetadata.rdevKey]

    struct Parsed: Equatable {
        /// The Content-Type without our parameters.
        var media: String
        var metadata: [String: String]
        var dynamicManifest: Bool
    }

    /// `media` with the parameters for `metadata`; `media` alone if a value cannot be written
    /// exactly (another client's mtime that is not a plain number, say).
    static func contentType(media: String, metadata: [String: String], dynamicManifest: Bool = false) -> String {
        guard let mtime = metadata[ObjectMetadata.mtimeKey].flatMap(FileTime.init(text:)) else { return media }
        var parts = [media, "\(marker)=\(version)", "\(ObjectMetadata.mtimeKey)=\(mtime.text)"]
        if let text = metadata[ObjectMetadata.ctimeKey] {
            guard let ctime = FileTime(text: text) else { return media }
            parts.append("\(ObjectMetadata.ctimeKey)=\(ctime.text)")
        }
        if let text = metadata[ObjectMetadata.modeKey] {
            guard let mode = UInt32(text, radix: 8) else { return media }
            parts.append("\(ObjectMetadata.modeKey)=\(String(mode, radix: 8))")
        }
        for key in numberKeys {
            guard let text = metadata[key] else { continue }
            guard let number = UInt32(text) else { return media }
            parts.append("\(key)=\(number)")
        }
        if dynamicManifest { parts.append("\(dynamicManifestKey)=1") }
        return parts.joined(separator: ";")
    }

    static func parse(_ contentType: String) -> Parsed? {
        let parts = contentType.split(separator: ";", omittingEmptySubsequences: false)
        guard let start = parts.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces) == "\(marker)=\(version)" }),
              start > 0 else { return nil }
        var metadata: [String: String] = [:]
        var dynamicManifest = false
        for part in parts[(start + 1)...] {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, metadata[pair[0]] == nil else { return nil }
            let (key, value) = (pair[0], pair[1])
            if timeKeys.contains(key) {
                guard FileTime(text: value)?.text == value else { return nil }
            } else if key == ObjectMetadata.modeKey {
                guard let mode = UInt32(value, radix: 8), String(mode, radix: 8) == value else { return nil }
            } else if numberKeys.contains(key) {
                guard let number = UInt32(value), String(number) == value else { return nil }
            } else if key == dynamicManifestKey, value == "1", !dynamicManifest {
                dynamicManifest = true
                continue
            } else {
                return nil
            }
            metadata[key] = value
        }
        guard metadata[ObjectMetadata.mtimeKey] != nil else { return nil }
        return Parsed(media: parts[..<start].joined(separator: ";"), metadata: metadata, dynamicManifest: dynamicManifest)
    }

    /// Whether the parameters still describe the object: Swift moves a listing's last_modified on
    /// every PUT, COPY and POST, and the mount sets the ctime just before each of its own, so a
    /// listing much newer than the ctime means another client changed the object (a POST of
    /// new metadata keeps the old Content-Type). The slack covers quick retries and small clock
    /// skew; beyond it, either way, the object is read (slower, never wrong). Another client's
    /// POST within the slack of the mount's own change goes unnoticed (docs/SEMANTICS.md says so).
    static func isCurrent(_ parsed: Parsed, lastModified: Date?) -> Bool {
        guard let lastModified, let ctime = parsed.metadata[ObjectMetadata.ctimeKey].flatMap(FileTime.init(text:)) else {
            return false
        }
        // Both ways: a clock ahead of Swift's would otherwise widen the window without bound.
        return abs(lastModified.timeIntervalSince1970 - (Double(ctime.seconds) + Double(ctime.nanoseconds) / 1e9)) <= currentSlack
    }

    static let currentSlack: Double = 10

    /// The Content-Type without our parameters, read or not (another version's must not pile
    /// up); another client's own parameters stay.
    static func media(_ contentType: String) -> String {
        let parts = contentType.split(separator: ";", omittingEmptySubsequences: false)
        guard let start = parts.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix(marker + "=") }),
              start > 0 else { return contentType }
        return parts[..<start].joined(separator: ";")
    }

    /// The Content-Type for an object Swift describes as `info` once its metadata is `metadata`.
    /// Directory markers and symlinks keep their plain types: other clients (and older
    /// swiftmounts) know them by those, and their listed attributes would not be enough anyway.
    static func contentType(for info: ObjectInfo, metadata: [String: String]) -> String {
        let media = media(info.contentType)
        let type = mediaType(media)
        if type == Namespace.directoryContentType || type == Namespace.symlinkContentType || info.symlinkTarget != nil {
            return media
        }
        return contentType(media: media, metadata: metadata, dynamicManifest: info.dynamicManifest != nil)
    }

    /// The media type alone, lower case (what tells a directory marker or a symlink).
    static func mediaType(_ contentType: String) -> String {
        (contentType.split(separator: ";", maxSplits: 1).first.map(String.init) ?? "")
            .trimmingCharacters(in: .whitespaces).lowercased()
    }
}

/// The media type a new object gets from its name, as Swift's proxy would guess it (Python's
/// mimetypes reads the same /etc/mime.types); application/octet-stream when nothing matches.
enum MediaTypes {
    static let fallback = "application/octet-stream"
    private static let byExtension: [String: String] = {
        guard let text = try? String(contentsOfFile: "/etc/mime.types", encoding: .utf8) else { return [:] }
        var table: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count > 1 else { continue }
            for ext in fields.dropFirst() where table[String(ext)] == nil { table[String(ext)] = String(fields[0]) }
        }
        return table
    }()

    static func guess(_ name: String) -> String {
        let base = name.split(separator: "/").last ?? ""
        guard let dot = base.lastIndex(of: "."), dot != base.startIndex else { return fallback }
        return byExtension[base[base.index(after: dot)...].lowercased()] ?? fallback
    }
}

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
    static let modeKey = "mode"
    static let uidKey = "uid"
    static let gidKey = "gid"
    /// The text a symlink made by this mount points to (readlink's answer, kept exactly).
    static let symlinkKey = "symlink-target"
    static let xattrPrefix = "user."

    static func mtime(_ metadata: [String: String], fallback: Date?) -> Date {
        if let text = metadata[mtimeKey], let seconds = Double(text) { return Date(timeIntervalSince1970: seconds) }
        return fallback ?? Date(timeIntervalSince1970: 0)
    }

    static func format(mtime: Date) -> String {
        String(format: "%.6f", mtime.timeIntervalSince1970)
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
    case mtime(Date)
    case setAttribute(name: String, value: [UInt8], createOnly: Bool, replaceOnly: Bool)
    case removeAttribute(name: String)

    /// Applies the change, or throws the errno setxattr(2)/removexattr(2) give: ENODATA for a
    /// missing attribute, EEXIST for XATTR_CREATE of an existing one, ENOTSUP outside `user.`,
    /// ERANGE for a name and E2BIG for a value beyond Swift's limits, ENOSPC when the object
    /// cannot hold more metadata.
    func apply(to original: inout [String: String], limits: ClusterInfo.MetadataLimits) throws {
        var metadata = original
        switch self {
        case .mode(let mode):
            metadata[ObjectMetadata.modeKey] = String(mode & 0o7777, radix: 8)
        case .owner(let uid, let gid):
            if let uid { metadata[ObjectMetadata.uidKey] = String(uid) }
            if let gid { metadata[ObjectMetadata.gidKey] = String(gid) }
        case .mtime(let date):
            metadata[ObjectMetadata.mtimeKey] = ObjectMetadata.format(mtime: date)
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
        guard metadata.count <= limits.count,
              metadata.reduce(0, { $0 + $1.key.utf8.count + $1.value.utf8.count }) <= limits.overallSize else {
            throw FSError(ENOSPC, "Swift allows \(limits.count) metadata items of \(limits.overallSize) bytes in all")
        }
        original = metadata
    }
}

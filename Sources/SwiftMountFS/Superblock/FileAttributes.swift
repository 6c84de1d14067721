import Foundation
import Glibc

public enum FileKind: Sendable, Equatable {
    case file, directory, symlink
    /// A FIFO, socket or device made by mknod(2): a zero-byte object; the value is its S_IFMT bits.
    case special(UInt32)
}

/// A point in time to the nanosecond, as stat(2) shows it (a `Date` keeps about a quarter of a
/// microsecond at today's epoch values, so `cp -p` would not round-trip).
public struct FileTime: Sendable, Equatable, Comparable {
    public var seconds: Int
    public var nanoseconds: Int

    public init(seconds: Int, nanoseconds: Int = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public init(_ date: Date) {
        let whole = date.timeIntervalSince1970.rounded(.down)
        self.init(seconds: Int(whole), nanoseconds: min(999_999_999, Int(((date.timeIntervalSince1970 - whole) * 1e9).rounded())))
    }

    public static var now: FileTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return FileTime(seconds: ts.tv_sec, nanoseconds: ts.tv_nsec)
    }

    /// "seconds.nanoseconds", nine digits: swiftclient and rclone read it as a float of seconds
    /// (before 1970 too: -2.5 s is seconds -3 plus 0.5 s).
    public var text: String {
        let negative = seconds < 0 && nanoseconds > 0
        let whole = negative ? "-\(-(seconds + 1))" : String(seconds)
        let fraction = String(negative ? 1_000_000_000 - nanoseconds : nanoseconds)
        return whole + "." + String(repeating: "0", count: 9 - fraction.count) + fraction
    }

    /// Reads `text` exactly (digits, optionally a point and up to nine more); other clients'
    /// forms (an exponent, more digits) through a float.
    public init?(text: String) {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let digits = { (s: Substring) in !s.isEmpty && s.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        if digits(parts[0]), parts.count == 1 || (digits(parts[1]) && parts[1].count <= 9),
           let seconds = Int(parts[0]) {
            let fraction = parts.count > 1 ? String(parts[1]) : ""
            self.init(seconds: seconds, nanoseconds: Int(fraction + String(repeating: "0", count: 9 - fraction.count)) ?? 0)
            return
        }
        guard let value = Double(text), value.isFinite, abs(value) < 1e15 else { return nil }
        self.init(Date(timeIntervalSince1970: value))
    }

    public static func < (a: FileTime, b: FileTime) -> Bool {
        (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
    }
}

/// What getattr reports for one path.
public struct FileAttributes: Sendable {
    public var kind: FileKind
    public var size: Int
    public var mtime: FileTime
    /// When the attributes or content last changed (chmod, chown, utimens, xattrs, writes).
    public var ctime: FileTime
    /// Permission bits and owner stored with the object; nil: the mount's defaults.
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    /// What readlink(2) returns, for a symlink whose object has been read (a listing does not say).
    public var linkTarget: String?

    /// The device number of a character or block device made by mknod(2).
    public var rdev: UInt32?

    public init(kind: FileKind, size: Int, mtime: FileTime, ctime: FileTime? = nil, mode: UInt32? = nil,
                uid: UInt32? = nil, gid: UInt32? = nil, rdev: UInt32? = nil, linkTarget: String? = nil) {
        self.kind = kind
        self.size = size
        self.mtime = mtime
        self.ctime = ctime ?? mtime
        self.rdev = rdev
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.linkTarget = linkTarget
    }

    /// Attributes from an object's user metadata (`X-Object-Meta-*`, names lower-case).
    init(kind: FileKind, size: Int, metadata: [String: String], lastModified: Date?, linkTarget: String? = nil) {
        let mode = metadata[ObjectMetadata.modeKey].flatMap { UInt32($0, radix: 8) }
        let special = ObjectMetadata.specialType(mode)
        self.init(kind: kind == .file && size == 0 ? special.map(FileKind.special) ?? kind : kind, size: size,
                  mtime: ObjectMetadata.time(metadata, ObjectMetadata.mtimeKey) ?? lastModified.map(FileTime.init) ?? FileTime(seconds: 0),
                  ctime: ObjectMetadata.time(metadata, ObjectMetadata.ctimeKey),
                  mode: mode.map { $0 & 0o7777 },
                  uid: metadata[ObjectMetadata.uidKey].flatMap { UInt32($0) },
                  gid: metadata[ObjectMetadata.gidKey].flatMap { UInt32($0) },
                  rdev: metadata[ObjectMetadata.rdevKey].flatMap { UInt32($0) },
                  linkTarget: linkTarget)
    }
}

public struct DirectoryEntry: Sendable {
    public var name: String
    public var attributes: FileAttributes
    /// The attributes are what stat(2) of the name shows now, so the kernel may cache them from
    /// readdir (readdirplus) instead of asking getattr per name.
    public var exact = false
}

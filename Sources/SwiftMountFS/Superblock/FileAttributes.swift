import Foundation

public enum FileKind: Sendable {
    case file, directory, symlink
}

/// What getattr reports for one path.
public struct FileAttributes: Sendable {
    public var kind: FileKind
    public var size: Int
    public var mtime: Date
    /// Permission bits and owner stored with the object; nil: the mount's defaults.
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    /// What readlink(2) returns, for a symlink whose object has been read (a listing does not say).
    public var linkTarget: String?

    public init(kind: FileKind, size: Int, mtime: Date, mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil,
                linkTarget: String? = nil) {
        self.kind = kind
        self.size = size
        self.mtime = mtime
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.linkTarget = linkTarget
    }

    /// Attributes from an object's user metadata (`X-Object-Meta-*`, names lower-case).
    init(kind: FileKind, size: Int, metadata: [String: String], lastModified: Date?, linkTarget: String? = nil) {
        self.init(kind: kind, size: size, mtime: ObjectMetadata.mtime(metadata, fallback: lastModified),
                  mode: metadata[ObjectMetadata.modeKey].flatMap { UInt32($0, radix: 8) }.map { $0 & 0o7777 },
                  uid: metadata[ObjectMetadata.uidKey].flatMap { UInt32($0) },
                  gid: metadata[ObjectMetadata.gidKey].flatMap { UInt32($0) },
                  linkTarget: linkTarget)
    }
}

public struct DirectoryEntry: Sendable {
    public var name: String
    public var attributes: FileAttributes
}

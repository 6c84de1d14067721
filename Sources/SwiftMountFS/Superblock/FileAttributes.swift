import Foundation

public enum FileKind: Sendable {
    case file, directory
}

/// What getattr reports for one path.
public struct FileAttributes: Sendable {
    public var kind: FileKind
    public var size: Int
    public var mtime: Date

    public init(kind: FileKind, size: Int, mtime: Date) {
        self.kind = kind
        self.size = size
        self.mtime = mtime
    }
}

public struct DirectoryEntry: Sendable {
    public var name: String
    public var attributes: FileAttributes
}

/// Maps mount paths ("/a/b") to Swift object names ("a/b") and directory prefixes ("a/b/").
public struct ObjectPath: Sendable, Hashable, CustomStringConvertible {
    /// The object name: the path without its leading slash; "" for the root.
    public let key: String

    public init(_ path: String) {
        var trimmed = Substring(path)
        while trimmed.hasPrefix("/") { trimmed = trimmed.dropFirst() }
        while trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        key = String(trimmed)
    }

    public var isRoot: Bool { key.isEmpty }
    /// The listing prefix of this path as a directory.
    public var directoryPrefix: String { isRoot ? "" : key + "/" }
    /// The marker object some clients create for a directory.
    public var directoryMarker: String { key + "/" }
    public var description: String { "/" + key }

    public var parent: ObjectPath {
        guard let slash = key.lastIndex(of: "/") else { return ObjectPath("") }
        return ObjectPath(String(key[..<slash]))
    }

    public var name: String {
        guard let slash = key.lastIndex(of: "/") else { return key }
        return String(key[key.index(after: slash)...])
    }
}

extension ObjectPath {
    func child(_ name: String) -> ObjectPath {
        ObjectPath(isRoot ? name : key + "/" + name)
    }
}

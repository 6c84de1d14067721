import Foundation

/// One entry of a container listing with a delimiter.
public enum ListingEntry: Sendable, Equatable {
    case object(ObjectSummary)
    /// A pseudo-directory: a common prefix, ending with the delimiter.
    case subdir(String)

    /// The name as listed: the marker the next page starts after.
    public var name: String {
        switch self {
        case .object(let o): o.name
        case .subdir(let s): s
        }
    }
}

public struct ObjectSummary: Sendable, Equatable {
    public var name: String
    public var bytes: Int
    public var lastModified: Date?
    public var contentType: String
    public var hash: String
    /// Set for a symlink made with the symlink middleware ("/v1/account/container/object").
    public var symlinkPath: String?
    /// A static large object's ETag (the MD5 of its segments' ETags), unquoted: copies of a
    /// manifest share it, and so share its segments.
    public var sloEtag: String?
}

/// What HEAD tells about an object.
public struct ObjectInfo: Sendable {
    public var size: Int
    public var etag: String
    public var lastModified: Date?
    public var contentType: String
    public var isStaticLargeObject: Bool
    /// The `X-Object-Manifest` value of a DLO ("container/prefix").
    public var dynamicManifest: String?
    /// `X-Object-Meta-*` with the prefix cut and the name in lower case.
    public var metadata: [String: String]
    /// `X-Symlink-Target` ("container/object", percent-encoded) of a symlink read with `symlink=get`.
    public var symlinkTarget: String?
    /// Headers Swift keeps with an object that a POST drops unless they are sent again
    /// (Content-Disposition, Content-Encoding, Cache-Control, ..., X-Delete-At).
    public var keptHeaders: [(name: String, value: String)]
    public static let postReplacedHeaders = ["content-disposition", "content-encoding", "cache-control", "content-language",
                                      "expires", "x-robots-tag", "x-delete-at"]

    init(headers: HTTPHeaders) {
        size = Int(headers["content-length"] ?? "") ?? 0
        etag = (headers["etag"] ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        lastModified = headers["last-modified"].flatMap(Timestamp.parseHTTPDate)
        contentType = headers["content-type"] ?? "application/octet-stream"
        isStaticLargeObject = headers["x-static-large-object"]?.lowercased() == "true"
        dynamicManifest = headers["x-object-manifest"]
        symlinkTarget = headers["x-symlink-target"]
        keptHeaders = Self.postReplacedHeaders.compactMap { name in headers[name].map { (name, $0) } }
        var meta: [String: String] = [:]
        for (name, value) in headers.all where name.hasPrefix("x-object-meta-") {
            meta[String(name.dropFirst("x-object-meta-".count))] = value
        }
        metadata = meta
    }
}

/// One segment of a static large object manifest.
public struct SegmentRef: Sendable, Equatable {
    /// "/container/object" of the segment.
    public var path: String
    public var etag: String
    public var sizeBytes: Int

    public init(path: String, etag: String, sizeBytes: Int) {
        self.path = path
        self.etag = etag
        self.sizeBytes = sizeBytes
    }
}

struct ListingRecord: Decodable {
    var name: String?
    var subdir: String?
    var bytes: Int?
    var last_modified: String?
    var content_type: String?
    var hash: String?
    var symlink_path: String?
    var slo_etag: String?

    var entry: ListingEntry? {
        if let subdir { return .subdir(subdir) }
        guard let name else { return nil }
        return .object(ObjectSummary(name: name, bytes: bytes ?? 0,
                                     lastModified: last_modified.flatMap(Timestamp.parseISO8601),
                                     contentType: content_type ?? "application/octet-stream", hash: hash ?? "",
                                     symlinkPath: symlink_path,
                                     sloEtag: slo_etag?.trimmingCharacters(in: CharacterSet(charactersIn: "\""))))
    }
}

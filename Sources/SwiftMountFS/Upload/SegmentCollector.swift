import Foundation
import SwiftStorage

/// Finds segments no manifest refers to: uploads that failed while Swift was unreachable, a
/// daemon killed mid-upload, old segments a replace could not delete. Segments written by
/// swiftmount sit under `NAME/swiftmount/<upload id>/`; an upload is live if NAME's manifest
/// (static or dynamic) points into it, or if it is younger than the grace period (it may still
/// be in progress).
public struct SegmentCollector: Sendable {
    public struct Orphan: Sendable, Equatable {
        public var uploadPrefix: String
        public var objects: [String]
        public var bytes: Int
        public var newest: Date?
    }

    let client: SwiftClient
    let container: String
    let segmentContainer: String

    let bulkDeleteLimit: Int?

    public init(client: SwiftClient, container: String, segmentContainer: String? = nil, bulkDeleteLimit: Int? = nil) {
        self.bulkDeleteLimit = bulkDeleteLimit
        self.client = client
        self.container = container
        self.segmentContainer = segmentContainer ?? container + "_segments"
    }

    public func orphans(olderThan grace: TimeInterval, now: Date = Date()) throws -> [Orphan] {
        guard try client.containerExists(segmentContainer) else { return [] }
        var uploads: [String: Orphan] = [:]
        for case .object(let segment) in try client.listAll(container: segmentContainer, delimiter: nil) {
            guard let marker = segment.name.range(of: "/swiftmount/") else { continue }
            let rest = segment.name[marker.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { continue }
            let prefix = String(segment.name[..<slash])
            var entry = uploads[prefix] ?? Orphan(uploadPrefix: prefix, objects: [], bytes: 0, newest: nil)
            entry.objects.append(segment.name)
            entry.bytes += segment.bytes
            if let modified = segment.lastModified, entry.newest.map({ modified > $0 }) ?? true { entry.newest = modified }
            uploads[prefix] = entry
        }
        var referenced: [String: Set<String>] = [:]
        var result: [Orphan] = []
        for (prefix, upload) in uploads.sorted(by: { $0.key < $1.key }) {
            if let newest = upload.newest, now.timeIntervalSince(newest) < grace { continue }
            let object = String(prefix[..<prefix.range(of: "/swiftmount/")!.lowerBound])
            if referenced[object] == nil { referenced[object] = try livePrefixes(of: object) }
            if !referenced[object]!.contains(prefix) { result.append(upload) }
        }
        return result
    }

    /// The upload prefixes object `name`'s manifest uses now.
    private func livePrefixes(of name: String) throws -> Set<String> {
        guard let info = try client.head(container: container, object: name) else { return [] }
        var prefixes = Set<String>()
        if info.isStaticLargeObject {
            for path in try client.staticLargeObjectSegments(container: container, object: name) {
                let inContainer = path.drop(while: { $0 == "/" }).drop(while: { $0 != "/" }).dropFirst()
                if let last = inContainer.lastIndex(of: "/") { prefixes.insert(String(inContainer[..<last])) }
            }
        } else if let manifest = info.dynamicManifest {
            let decoded = manifest.removingPercentEncoding ?? manifest
            let inContainer = decoded.drop(while: { $0 != "/" }).dropFirst()
            prefixes.insert(String(inContainer.hasSuffix("/") ? inContainer.dropLast() : inContainer))
        }
        return prefixes
    }

    public func delete(_ orphan: Orphan) throws {
        try client.deleteMany(orphan.objects.map { ObjectRef(container: segmentContainer, name: $0) }, bulkLimit: bulkDeleteLimit)
    }
}

import Foundation
import SwiftStorage

/// Finds segments no manifest refers to: uploads that failed while Swift was unreachable, a
/// daemon killed mid-upload, old segments a replace could not delete. Segments written by
/// swiftmount are named `NAME/swiftmount/<upload id>/<8-digit index>`.
///
/// A segment is an orphan only if no manifest uses it — static manifests anywhere in the account
/// (renames and copies share segments, whatever their names), dynamic ones in the mount's
/// container — and its upload is not live: not under way in a daemon on this machine (asked over
/// their control sockets), and no segment of it newer than the grace period (an upload elsewhere).
/// References are read in two passes, so a rename under way cannot hide a manifest from both.
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
    /// "segment container/prefix" of uploads the daemons of this machine have under way.
    let liveUploads: Set<String>

    public init(client: SwiftClient, container: String, segmentContainer: String? = nil, bulkDeleteLimit: Int? = nil,
                liveUploads: Set<String> = []) {
        self.bulkDeleteLimit = bulkDeleteLimit
        self.client = client
        self.container = container
        self.segmentContainer = segmentContainer ?? container + "_segments"
        self.liveUploads = liveUploads
    }

    /// The upload a segment name belongs to ("NAME/swiftmount/<id>"), read from the end so that
    /// NAME may itself contain a `swiftmount` directory; nil for names swiftmount does not write.
    static func uploadPrefix(ofSegment name: String) -> String? {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[parts.count - 3] == "swiftmount",
              parts[parts.count - 1].count == 8, parts[parts.count - 1].allSatisfy(\.isASCIIDigit),
              !parts[parts.count - 2].isEmpty else { return nil }
        return parts.dropLast().joined(separator: "/")
    }

    public func orphans(olderThan grace: TimeInterval, now: Date = Date()) throws -> [Orphan] {
        guard try client.containerExists(segmentContainer) else { return [] }
        var uploads: [String: [ObjectSummary]] = [:]
        for case .object(let segment) in try client.listAll(container: segmentContainer, delimiter: nil) {
            guard let prefix = Self.uploadPrefix(ofSegment: segment.name) else { continue }
            uploads[prefix, default: []].append(segment)
        }
        let candidates = uploads.filter { prefix, segments in
            guard !liveUploads.contains(segmentContainer + "/" + prefix) else { return false }
            let newest = segments.compactMap(\.lastModified).max()
            return newest.map { now.timeIntervalSince($0) >= grace } ?? true
        }
        guard !candidates.isEmpty else { return [] }
        // Two passes: a listing is no snapshot, and a rename (copy, then delete) running while it
        // is paged can hide both names from one pass, never from both.
        let first = try client.segmentReferences(dynamicIn: [container])
        let second = try client.segmentReferences(dynamicIn: [container])
        var result: [Orphan] = []
        for (prefix, segments) in candidates.sorted(by: { $0.key < $1.key }) {
            let unused = segments.filter {
                let segment = ObjectRef(container: segmentContainer, name: $0.name)
                return !first.contains(segment) && !second.contains(segment)
            }
            guard !unused.isEmpty else { continue }
            result.append(Orphan(uploadPrefix: prefix, objects: unused.map(\.name), bytes: unused.reduce(0) { $0 + $1.bytes },
                                 newest: unused.compactMap(\.lastModified).max()))
        }
        return result
    }

    public func delete(_ orphan: Orphan) throws {
        try client.deleteMany(orphan.objects.map { ObjectRef(container: segmentContainer, name: $0) }, bulkLimit: bulkDeleteLimit)
    }
}

private extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

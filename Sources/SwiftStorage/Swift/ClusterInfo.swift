import Foundation

/// The limits a Swift cluster publishes at /info that shape uploads.
public struct ClusterInfo: Sendable, Equatable {
    public var maxManifestSegments = 1000
    public var minSegmentSize = 1
    public var maxFileSize = 5 * (1 << 30) + 2
    /// Most entries one listing request returns.
    public var containerListingLimit = 10_000
    /// Longest object name, in UTF-8 bytes.
    public var maxObjectNameLength = 1024
    /// Deletes per bulk-delete request, when the cluster has the bulk middleware.
    public var bulkDeleteLimit: Int?
    /// Whether the symlink middleware runs (`X-Symlink-Target`).
    public var symlinks = false
    /// Limits on `X-Object-Meta-*`: name and value length, count, and all names and values together.
    public var metadataLimits = MetadataLimits()

    public struct MetadataLimits: Sendable, Equatable {
        public var nameLength = 128
        public var valueLength = 256
        public var count = 90
        public var overallSize = 4096
        public init() {}
    }

    public init() {}

    init(json: [UInt8]) {
        let object = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] ?? [:]
        let swift = object["swift"] as? [String: Any] ?? [:]
        let slo = object["slo"] as? [String: Any] ?? [:]
        if let n = slo["max_manifest_segments"] as? Int { maxManifestSegments = n }
        if let n = slo["min_segment_size"] as? Int { minSegmentSize = n }
        if let n = swift["max_file_size"] as? Int { maxFileSize = n }
        if let n = swift["max_object_name_length"] as? Int { maxObjectNameLength = n }
        if let n = swift["container_listing_limit"] as? Int { containerListingLimit = n }
        if let n = swift["max_meta_name_length"] as? Int { metadataLimits.nameLength = n }
        if let n = swift["max_meta_value_length"] as? Int { metadataLimits.valueLength = n }
        if let n = swift["max_meta_count"] as? Int { metadataLimits.count = n }
        if let n = swift["max_meta_overall_size"] as? Int { metadataLimits.overallSize = n }
        symlinks = object["symlink"] != nil
        bulkDeleteLimit = (object["bulk_delete"] as? [String: Any])?["max_deletes_per_request"] as? Int
    }
}

/// What an account HEAD says about space (for statfs).
public struct AccountUsage: Sendable {
    public var bytesUsed: Int
    public var objectCount: Int
    /// `X-Account-Meta-Quota-Bytes`, set by a reseller admin with the account_quotas middleware.
    public var quotaBytes: Int?
}

extension SwiftClient {
    public func accountUsage() throws -> AccountUsage {
        let response = try send(Call(.head))
        return AccountUsage(bytesUsed: Int(response.headers["x-account-bytes-used"] ?? "") ?? 0,
                            objectCount: Int(response.headers["x-account-object-count"] ?? "") ?? 0,
                            quotaBytes: response.headers["x-account-meta-quota-bytes"].flatMap { Int($0) })
    }

    /// GET /info at the root of the storage URL's host; defaults when the cluster hides it.
    public func clusterInfo() throws -> ClusterInfo {
        let session = try connection.current()
        guard let v1 = session.storageURL.range(of: "/v1/") else { return ClusterInfo() }
        let url = String(session.storageURL[..<v1.lowerBound]) + "/info"
        guard let response = try? transport.perform(HTTPRequest(method: .get, url: url)), response.isSuccess else {
            return ClusterInfo()
        }
        let info = ClusterInfo(json: response.body)
        pageLimit.withLock { $0 = info.containerListingLimit }
        return info
    }
}

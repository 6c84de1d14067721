import Foundation
import SwiftStorage

/// `swiftmount migrate-attrs`: gives objects written before listed attributes existed, or by
/// other clients (`X-Object-Meta-Mtime` from swiftclient or rclone), the Content-Type parameters
/// that let `ls -l` skip the HEAD per name. One HEAD and one POST per object; the POST re-sends
/// all of the object's metadata (Swift's POST replaces it whole) and never touches its data.
/// An object with no stored mtime keeps the time it shows now (its Last-Modified, which the POST
/// would move) as `X-Object-Meta-Mtime`.
///
/// Swift has no conditional POST: an object replaced between the HEAD and the POST would get the
/// old object's metadata (and a dynamic manifest header it does not have, or lose its own). So
/// the command refuses to run while a mount of the container is up on this machine (the caller
/// checks), leaves objects changed in the last `minimumAge` seconds alone, and the docs say to run it
/// while no other client writes the container.
public struct AttributeMigration {
    public struct Progress: Sendable {
        public var listed = 0
        public var updated = 0
        /// Already carrying current parameters.
        public var current = 0
        /// Directory markers and symlinks (a POST to a symlink reaches its target), gone objects,
        /// objects changed within the quiet period, metadata that cannot be written as
        /// parameters or has no room for them, POSTs Swift refused.
        public var skipped = 0
    }

    let client: SwiftClient
    /// Objects changed more recently than this may be in the middle of being replaced.
    let minimumAge: Double
    let container: String
    let limits: ClusterInfo.MetadataLimits
    let dryRun: Bool
    let warn: (String) -> Void

    public init(client: SwiftClient, container: String, limits: ClusterInfo.MetadataLimits, minimumAge: Double, dryRun: Bool,
                warn: @escaping (String) -> Void) {
        self.client = client
        self.minimumAge = minimumAge
        self.container = container
        self.limits = limits
        self.dryRun = dryRun
        self.warn = warn
    }

    /// Walks the container page by page; `report` hears about each page done.
    public func run(report: (Progress) -> Void) throws -> Progress {
        var progress = Progress()
        var marker = ""
        while true {
            let page = try client.list(container: container, delimiter: nil, marker: marker)
            for case .object(let object) in page {
                progress.listed += 1
                try migrate(object, &progress)
            }
            report(progress)
            guard case .object(let last)? = page.last, page.count >= client.listingLimit else { return progress }
            marker = last.name
        }
    }

    private func migrate(_ object: ObjectSummary, _ progress: inout Progress) throws {
        let media = ListedAttributes.mediaType(object.contentType)
        if media == Namespace.directoryContentType || media == Namespace.symlinkContentType || object.symlinkPath != nil {
            progress.skipped += 1
            return
        }
        if let listed = ListedAttributes.parse(object.contentType), ListedAttributes.isCurrent(listed, lastModified: object.lastModified) {
            progress.current += 1
            return
        }
        let now = client.clock.now()
        // The listing's time is exact (HEAD's Last-Modified is rounded up to the second).
        guard now.timeIntervalSince(object.lastModified ?? now) >= minimumAge,
              let info = try client.head(container: container, object: object.name), info.symlinkTarget == nil,
              let lastModified = info.lastModified else {
            progress.skipped += 1
            return
        }
        var metadata = info.metadata
        // What stat showed until now (from HEAD) stays the mtime.
        if metadata[ObjectMetadata.mtimeKey] == nil { metadata[ObjectMetadata.mtimeKey] = FileTime(lastModified).text }
        ObjectMetadata.stamp(ctime: FileTime(now), in: &metadata, limits: limits)
        let type = ListedAttributes.contentType(for: info, metadata: metadata)
        // No room for the mtime item, or values that cannot be written exactly: left as it is.
        guard ObjectMetadata.fits(metadata, limits), metadata[ObjectMetadata.ctimeKey] != nil, ListedAttributes.parse(type) != nil else {
            warn("\(object.name): no room for the attributes in its metadata, or values that cannot be written exactly")
            progress.skipped += 1
            return
        }
        if !dryRun {
            do {
                guard try client.setMetadata(container: container, object: object.name, metadata: metadata,
                                             dynamicManifest: info.dynamicManifest, keeping: info.keptHeaders,
                                             contentType: type) else {
                    progress.skipped += 1
                    return
                }
            } catch SwiftError.rejected(let status, let detail) {
                // Refused for this object alone: the rest of the container goes on.
                warn("\(object.name): Swift refused the POST (\(status) \(detail))")
                progress.skipped += 1
                return
            }
        }
        progress.updated += 1
    }
}

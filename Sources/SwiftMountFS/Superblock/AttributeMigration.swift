import Foundation
import SwiftStorage

/// `swiftmount migrate-attrs`: gives objects written before listed attributes existed, or by
/// other clients (`X-Object-Meta-Mtime` from swiftclient or rclone), the Content-Type parameters
/// that let `ls -l` skip the HEAD per name. One HEAD and one POST per object; the POST re-sends
/// all of the object's metadata (Swift's POST replaces it whole) and never touches its data.
/// An object with no stored mtime keeps the time it shows now (its Last-Modified, which the POST
/// would move) as `X-Object-Meta-Mtime`.
public struct AttributeMigration {
    public struct Progress: Sendable {
        public var listed = 0
        public var updated = 0
        /// Already carrying current parameters.
        public var current = 0
        /// Directory markers and symlinks (a POST to a symlink reaches its target), gone objects,
        /// metadata that cannot be written as parameters.
        public var skipped = 0
    }

    let client: SwiftClient
    let container: String
    let dryRun: Bool

    public init(client: SwiftClient, container: String, dryRun: Bool) {
        self.client = client
        self.container = container
        self.dryRun = dryRun
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
        guard let info = try client.head(container: container, object: object.name), info.symlinkTarget == nil else {
            progress.skipped += 1
            return
        }
        var metadata = info.metadata
        if metadata[ObjectMetadata.mtimeKey] == nil {
            metadata[ObjectMetadata.mtimeKey] = FileTime(info.lastModified ?? Date(timeIntervalSince1970: 0)).text
        }
        metadata[ObjectMetadata.ctimeKey] = FileTime(client.clock.now()).text
        let type = ListedAttributes.contentType(media: ListedAttributes.media(info.contentType), metadata: metadata,
                                                dynamicManifest: info.dynamicManifest != nil)
        guard ListedAttributes.parse(type) != nil else {
            progress.skipped += 1
            return
        }
        if !dryRun {
            guard try client.setMetadata(container: container, object: object.name, metadata: metadata,
                                         dynamicManifest: info.dynamicManifest, contentType: type) else {
                progress.skipped += 1
                return
            }
        }
        progress.updated += 1
    }
}

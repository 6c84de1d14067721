import Foundation
import Glibc
import Logging
import Synchronization
import SwiftStorage

/// The large object a new upload replaces: its segments go once the new object is stored, and
/// only if no other manifest in the account uses them.
struct ReplacedObject {
    var manifest: LargeObjectManifest?
    /// Its metadata, which the new content keeps (mode, owner, xattrs).
    var metadata: [String: String] = [:]
    /// Its Content-Type without our parameters, which the new content keeps too.
    var media: String?

    static let none = ReplacedObject()

    static func find(path: ObjectPath, context: UploadContext) throws -> ReplacedObject {
        guard let info = try context.client.head(container: context.container, object: path.key) else { return .none }
        return ReplacedObject(manifest: try context.client.manifest(container: context.container, object: path.key, info: info),
                              metadata: info.metadata, media: ListedAttributes.media(info.contentType))
    }

    /// Queued for the reclaimer: a segment left behind is garbage for `swiftmount gc`, never a
    /// broken object.
    func deleteOldSegments(of path: ObjectPath, keeping newPrefix: String?, context: UploadContext) {
        guard let manifest else { return }
        context.reclaim(manifest, of: path, keepingPrefix: newPrefix)
    }
}

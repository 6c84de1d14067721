import Foundation
import Glibc
import SwiftStorage

/// Changes to names and metadata: mkdir, rmdir, unlink, rename, chmod/chown/utimens/xattrs,
/// symlinks.
extension SwiftFilesystem {
    public func mkdir(_ path: String, creator: Creator) throws {
        let p = try objectPath(path)
        if files.writer(atOrUnder: p) != nil { throw FSError(EEXIST) }
        try namespace.makeDirectory(p, metadata: metadata(for: creator, directory: true))
    }

    public func rmdir(_ path: String) throws {
        let p = ObjectPath(path)
        guard try lookup(p).kind == .directory else { throw FSError(ENOTDIR) }
        // A file being written is in the directory before Swift has it.
        if files.writer(atOrUnder: p) != nil { throw FSError(ENOTEMPTY) }
        try namespace.removeDirectory(p)
    }

    /// unlink(2). A file being written loses its name at once and its writer finishes into the
    /// void, as on a local filesystem: nothing is stored, its segments are deleted. A large
    /// object's manifest goes first, then its segments, unless another manifest still uses them.
    public func unlink(_ path: String) throws {
        let p = ObjectPath(path)
        // A file being written stores nothing from now on; if the unlink fails it goes on as before.
        let writer = files.detachWriter(p)
        writer?.seal()
        let manifest: LargeObjectManifest?
        do {
            manifest = try deleteStored(p, writerGone: writer != nil)
        } catch {
            if let writer {
                writer.unseal()
                files.reattach(writer)
            }
            throw error
        }
        writer?.discard()
        if let manifest { uploads.reclaim(manifest, of: p, unlinked: true) }
    }

    /// Deletes the object stored at `p` (a large object's manifest alone) and returns that
    /// manifest; nothing stored is fine when a writer of the name was there.
    private func deleteStored(_ p: ObjectPath, writerGone: Bool) throws -> LargeObjectManifest? {
        namespace.forget(p)
        guard let info = try client.head(container: container, object: p.key) else {
            if writerGone { return nil }
            throw FSError(ENOENT)
        }
        if namespace.attributes(p, info).kind == .directory { throw FSError(EISDIR) }
        let manifest = try client.manifest(container: container, object: p.key, info: info)
        try client.delete(container: container, object: p.key)
        namespace.removed(p, etag: info.etag)
        return manifest
    }

    /// rename(2). A file is copied server-side (a large object's manifest only, never its data)
    /// and the source deleted; a replaced large object's segments are deleted afterwards unless
    /// another manifest still uses them. A directory moves every object under it, up to
    /// `rename_dir_limit` objects (EXDEV beyond, which makes mv fall back to copying), onto
    /// nothing or an empty directory (ENOTEMPTY otherwise). Files being written do not move:
    /// a rename of one, or of a directory holding one, is EBUSY and changes nothing.
    public func rename(_ from: String, to: String, noReplace: Bool) throws {
        let source = ObjectPath(from), target = try objectPath(to)
        guard !source.isRoot, !target.isRoot else { throw FSError(EBUSY) }
        if source == target { return }
        if let busy = files.writer(atOrUnder: source) ?? files.writer(atOrUnder: target) {
            throw FSError(EBUSY, "\(busy) is being written")
        }
        let attributes = try namespace.lookup(source)
        let existing = try namespace.lookupIfPresent(target)
        if noReplace, existing != nil { throw FSError(EEXIST) }
        if attributes.kind == .directory {
            if let existing {
                guard existing.kind == .directory else { throw FSError(ENOTDIR) }
                guard try namespace.isEmptyDirectory(target) else { throw FSError(ENOTEMPTY) }
            }
            if target.key.hasPrefix(source.directoryPrefix) { throw FSError(EINVAL) }
            // Also after a failure halfway: some objects may have moved.
            defer {
                namespace.forget(source)
                namespace.forget(target)
            }
            try renameDirectory(source, to: target)
        } else {
            if existing?.kind == .directory { throw FSError(EISDIR) }
            if attributes.kind == .symlink {
                try renameSymlink(source, to: target)
            } else {
                try renameObject(source.key, to: target.key, shownMtime: attributes.mtime)
            }
        }
    }

    /// `shownMtime`: what stat showed, kept if the object stores no mtime of its own.
    private func renameObject(_ from: String, to: String, shownMtime: FileTime?) throws {
        guard let info = try client.head(container: container, object: from) else { throw FSError(ENOENT) }
        let replaced = try ReplacedObject.find(path: ObjectPath(to), context: uploads)
        let isManifest = info.isStaticLargeObject || info.dynamicManifest != nil
        // A rename changes the ctime. The copy gets exactly the metadata its Content-Type
        // describes (X-Fresh-Metadata), even if another client changed the source meanwhile.
        var metadata = info.metadata
        ObjectMetadata.keep(shownMtime: shownMtime, in: &metadata, limits: cluster.metadataLimits)
        ObjectMetadata.stamp(ctime: uploads.now, in: &metadata, limits: cluster.metadataLimits)
        try client.copy(container: container, from: from, to: to, manifestOnly: isManifest,
                        headers: SwiftClient.metadataHeaders(metadata) + info.keptHeaders + [
                            ("X-Fresh-Metadata", "true"),
                            ("Content-Type", ListedAttributes.contentType(for: info, metadata: metadata))])
        // (A directory's marker, name/, is not a file: the directory rename forgets both paths.)
        let isMarker = from.hasSuffix("/")
        if !isMarker {
            var copied = info
            copied.metadata = metadata
            namespace.remember(ObjectPath(to), namespace.attributes(ObjectPath(to), copied), metadata: metadata)
        }
        try client.delete(container: container, object: from)
        if !isMarker { namespace.removed(ObjectPath(from), etag: info.etag) }
        replaced.deleteOldSegments(of: ObjectPath(to), keeping: nil, context: uploads)
    }

    /// A symlink is made again at its new place: a relative target means something else there,
    /// and a server-side copy of a symlink would copy what it points to.
    private func renameSymlink(_ from: ObjectPath, to: ObjectPath) throws {
        let text = try namespace.linkTarget(from)
        var metadata = try namespace.metadata(from)
        metadata[ObjectMetadata.symlinkKey] = ObjectMetadata.encode(value: Array(text.utf8))
        ObjectMetadata.keep(shownMtime: try namespace.lookup(from).mtime, in: &metadata, limits: cluster.metadataLimits)
        ObjectMetadata.stamp(ctime: uploads.now, in: &metadata, limits: cluster.metadataLimits)
        try storeSymlink(to, text: text, metadata: metadata)
        try client.delete(container: container, object: from.key)
        namespace.removed(from, etag: nil)
    }

    private func renameDirectory(_ from: ObjectPath, to: ObjectPath) throws {
        let objects = try client.listAll(container: container, prefix: from.directoryPrefix, delimiter: nil)
        guard objects.count <= options.renameDirLimit else {
            logger.warning("rename of \(from) refused: \(objects.count) objects, rename_dir_limit is \(options.renameDirLimit)")
            throw FSError(EXDEV)
        }
        for case .object(let object) in objects {
            let destination = to.directoryPrefix + object.name.dropFirst(from.directoryPrefix.count)
            if Namespace.kind(contentType: object.contentType, size: object.bytes, symlink: object.symlinkPath != nil) == .symlink {
                try renameSymlink(ObjectPath(object.name), to: ObjectPath(destination))
            } else {
                try renameObject(object.name, to: destination, shownMtime: object.lastModified.map(FileTime.init))
            }
        }
    }

    // MARK: - Metadata, symlinks and extended attributes

    /// chmod, chown, utimens, setxattr, removexattr: one POST with all of the object's metadata
    /// (Swift replaces it whole), read fresh first. A file open for writing stores the change
    /// with its content; a directory without a marker gets one; the root keeps its attributes in
    /// the container's metadata; a symlink is stored again (Swift answers a POST to a symlink
    /// with a redirect to its target).
    public func changeMetadata(_ path: String, _ change: MetadataChange) throws {
        let p = try objectPath(path)
        // One time for the change, whether the open file or the object takes it.
        let now = uploads.now
        if let writer = files.writer(for: p), try writer.change(change, at: now) { return }
        let limits = cluster.metadataLimits
        if p.isRoot {
            let old = try namespace.metadata(p)
            var metadata = old
            try change.apply(to: &metadata, limits: limits, now: now)
            try client.updateContainerMetadata(container, metadata, removing: old.keys.filter { metadata[$0] == nil })
            namespace.forget(p)
            return
        }
        let attributes = try namespace.lookup(p)
        let key = attributes.kind == .directory ? p.directoryMarker : p.key
        let info = try client.head(container: container, object: key)
        var metadata = info?.metadata ?? [:]
        try change.apply(to: &metadata, limits: limits, now: now)
        // After the change: its own items come first within Swift's limits.
        ObjectMetadata.keep(shownMtime: attributes.mtime, in: &metadata, limits: limits)
        switch (info, attributes.kind) {
        case (nil, .directory):
            try client.put(container: container, object: key, body: [],
                           headers: SwiftClient.metadataHeaders(metadata) + [("Content-Type", Namespace.directoryContentType)])
        case (nil, _):
            throw FSError(ENOENT)
        case (let info?, .symlink):
            try client.putSymlink(container: container, object: key, target: info.symlinkTarget, metadata: metadata)
        case (_?, .directory):
            // A marker keeps its plain type: other clients (rclone, swiftclient) know it by that.
            try client.setMetadata(container: container, object: key, metadata: metadata)
        case (let info?, _):
            guard try client.setMetadata(container: container, object: key, metadata: metadata, dynamicManifest: info.dynamicManifest,
                                         keeping: info.keptHeaders,
                                         contentType: ListedAttributes.contentType(for: info, metadata: metadata)) else {
                namespace.forget(p)
                throw FSError(ENOENT)
            }
        }
        files.writer(for: p)?.adopt(change, at: now)
        namespace.remember(p, FileAttributes(kind: attributes.kind, size: attributes.size, metadata: metadata,
                                             lastModified: info?.lastModified ?? Date(), linkTarget: attributes.linkTarget),
                           metadata: metadata)
    }

    /// symlink(2). Inside the mount, a Swift symlink (other Swift clients follow it) when the
    /// cluster has the middleware; a target outside the mount, or no middleware, makes a plain
    /// object typed `application/symlink`. Either way the exact text is kept for readlink.
    public func symlink(_ target: String, at path: String, creator: Creator) throws {
        let p = try objectPath(path)
        if (try? namespace.lookup(p)) != nil { throw FSError(EEXIST) }
        var metadata = metadata(for: creator, directory: false)
        metadata[ObjectMetadata.modeKey] = nil
        let encoded = ObjectMetadata.encode(value: Array(target.utf8))
        guard encoded.utf8.count <= cluster.metadataLimits.valueLength else {
            throw FSError(ENAMETOOLONG, "symlink target of \(p): Swift keeps \(cluster.metadataLimits.valueLength) bytes")
        }
        metadata[ObjectMetadata.symlinkKey] = encoded
        try storeSymlink(p, text: target, metadata: metadata)
    }

    private func storeSymlink(_ p: ObjectPath, text: String, metadata: [String: String]) throws {
        let inside = cluster.symlinks ? SymlinkTarget.resolve(text, from: p, mountpoint: mountpoint) : nil
        try client.putSymlink(container: container, object: p.key,
                              target: inside.map { SwiftClient.symlinkTarget(container: container, object: $0.key) },
                              metadata: metadata)
        namespace.remember(p, FileAttributes(kind: .symlink, size: text.utf8.count, metadata: metadata, lastModified: Date(),
                                             linkTarget: text), metadata: metadata)
    }

    public func readlink(_ path: String) throws -> String {
        try namespace.linkTarget(objectPath(path))
    }

    /// An extended attribute's value: the upload state (see `uploadAttributes`), or an
    /// `X-Object-Meta-*` item. Names outside `user.` have none (ENOTSUP, without a request).
    public func extendedAttribute(_ path: String, name: String) throws -> [UInt8] {
        if let state = uploadAttributes(path).first(where: { $0.name == name }) { return Array(state.value.utf8) }
        guard let key = ObjectMetadata.key(forAttribute: name), let value = try objectMetadata(path)[key] else {
            throw ObjectMetadata.noAttribute(name)
        }
        return ObjectMetadata.decode(value: value)
    }

    public func extendedAttributeNames(_ path: String) throws -> [String] {
        uploadAttributes(path).map(\.name) + (try objectMetadata(path)).keys.sorted().map(ObjectMetadata.attributeName(forKey:))
    }

    /// A file being written answers from its writer, anything else from the object.
    private func objectMetadata(_ path: String) throws -> [String: String] {
        let p = try objectPath(path)
        return try files.writer(for: p)?.currentMetadata ?? namespace.metadata(p)
    }
}

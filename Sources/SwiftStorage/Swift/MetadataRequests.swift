import Foundation

extension SwiftClient {
    /// Replaces an object's `X-Object-Meta-*` with `metadata` (Swift's POST drops every user
    /// metadata item it is not sent). A dynamic large object's `X-Object-Manifest` is a plain
    /// header that POST would drop too, so it goes along, as do `keeping` (`ObjectInfo.keptHeaders`:
    /// Content-Disposition, X-Delete-At, ...). `contentType`, if given, replaces the object's.
    /// Returns false if the object is gone.
    @discardableResult
    public func setMetadata(container: String, object: String, metadata: [String: String],
                            dynamicManifest: String? = nil, keeping: [(name: String, value: String)] = [],
                            contentType: String? = nil) throws -> Bool {
        var call = Call(.post, container: container, object: object)
        call.headers = Self.metadataHeaders(metadata) + keeping
        if let contentType { call.headers.append(("Content-Type", contentType)) }
        if let dynamicManifest { call.headers.append(("X-Object-Manifest", dynamicManifest)) }
        call.passStatuses = [404]
        return try send(call).status != 404
    }

    /// A symlink made with the symlink middleware; `target` is an `X-Symlink-Target` value
    /// (see `symlinkTarget`), or nil for a plain object that only says it is a symlink.
    public func putSymlink(container: String, object: String, target: String?, metadata: [String: String]) throws {
        var headers = Self.metadataHeaders(metadata) + [("Content-Type", "application/symlink")]
        if let target { headers.append(("X-Symlink-Target", target)) }
        try put(container: container, object: object, body: [], headers: headers)
    }

    /// The `X-Symlink-Target` value for an object.
    public static func symlinkTarget(container: String, object: String) -> String {
        PathEncoding.encode(container, keepSlash: false) + "/" + PathEncoding.encode(object, keepSlash: true)
    }

    public static func metadataHeaders(_ metadata: [String: String]) -> [(name: String, value: String)] {
        metadata.sorted { $0.key < $1.key }.map { ("X-Object-Meta-" + $0.key, $0.value) }
    }

    /// `X-Container-Meta-*` of a container, lower-case names without the prefix.
    public func containerMetadata(_ container: String) throws -> [String: String] {
        let response = try send(Call(.head, container: container))
        var meta: [String: String] = [:]
        for (name, value) in response.headers.all where name.hasPrefix("x-container-meta-") {
            meta[String(name.dropFirst("x-container-meta-".count))] = value
        }
        return meta
    }

    /// Sets the given `X-Container-Meta-*` items and removes `removing` (container POSTs merge).
    public func updateContainerMetadata(_ container: String, _ metadata: [String: String], removing: [String]) throws {
        var call = Call(.post, container: container)
        call.headers = metadata.sorted { $0.key < $1.key }.map { ("X-Container-Meta-" + $0.key, $0.value) }
            + removing.map { ("X-Remove-Container-Meta-" + $0, "x") }
        _ = try send(call)
    }
}

extension SwiftClient {
    /// The account's container names, every page. (Its object counts are not used: the account
    /// learns them from the container updater, minutes late.)
    public func listContainers() throws -> [String] {
        var names: [String] = []
        let pageSize = listingLimit
        while true {
            var call = Call(.get)
            call.query = [("format", "json"), ("limit", String(pageSize))]
            if let last = names.last { call.query.append(("marker", last)) }
            let response = try send(call)
            struct Entry: Decodable { var name: String }
            guard let page = try? JSONDecoder().decode([Entry].self, from: Data(response.body)) else {
                throw SwiftError.protocolError("account listing is not JSON")
            }
            names += page.map(\.name)
            if page.count < pageSize { return names }
        }
    }
}

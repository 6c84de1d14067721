import Foundation
import SwiftStorage

/// Object requests: PUT (plain, copy, SLO and DLO manifests, symlinks), GET and HEAD (ranges,
/// If-Match, large objects assembled, symlinks followed), POST, DELETE.
extension ClusterState {
    mutating func objectRequest(_ r: SimRequest, account: String, container: String, object: String, now: Date) -> HTTPResponse {
        guard accounts[account]!.containers[container] != nil else { return reply(404, body: "Not Found") }
        switch r.method {
        case .put: return put(r, account: account, container: container, object: object, now: now)
        case .get, .head: return get(r, account: account, container: container, object: object)
        case .post: return post(r, account: account, container: container, object: object, now: now)
        case .delete: return delete(r, account: account, container: container, object: object)
        default: return reply(405)
        }
    }

    private func stored(_ account: String, _ container: String, _ object: String) -> StoredObject? {
        accounts[account]?.containers[container]?.objects[object]
    }

    // MARK: - PUT

    private mutating func put(_ r: SimRequest, account: String, container: String, object: String, now: Date) -> HTTPResponse {
        guard object.utf8.count <= settings.maxObjectNameLength else {
            return reply(400, body: "Object name length of \(object.utf8.count) longer than \(settings.maxObjectNameLength)")
        }
        var new: StoredObject
        if let source = r.header("X-Copy-From") {
            let decoded = source.removingPercentEncoding ?? source
            guard let ref = SwiftClient.objectRef(path: decoded), let original = stored(account, ref.container, ref.name) else {
                return reply(404, body: "Not Found")
            }
            new = original
            // A manifest copied as a manifest goes through the slo middleware again: every
            // segment must still be there.
            if r.query["multipart-manifest"] == "get", case .slo(let segments) = original.kind,
               segments.contains(where: { stored(account, $0.container, $0.name) == nil }) {
                return reply(400, body: "Bad Request")
            }
            if r.query["multipart-manifest"] != "get" {
                switch original.kind {
                case .slo, .dlo:
                    guard let bytes = content(of: original, account: account) else { return reply(409, body: "Conflict") }
                    new = StoredObject(body: bytes, etag: MD5.hex(bytes), contentType: original.contentType,
                                       metadata: original.metadata, lastModified: now, kind: .plain)
                default: break
                }
            }
            // X-Fresh-Metadata: the copy has only the request's metadata.
            if r.header("X-Fresh-Metadata")?.lowercased() == "true" {
                new.metadata = [:]
                new.kept = [:]
            }
            new.metadata.merge(Self.metadata(from: r, prefix: "x-object-meta-")) { $1 }
            new.kept.merge(Self.kept(from: r)) { $1 }
            if let type = r.header("Content-Type") { new.contentType = type }
            new.lastModified = now
        } else if r.query["multipart-manifest"] == "put" {
            switch manifest(r, account: account, now: now) {
            case .success(let object): new = object
            case .failure(let refusal): return refusal.response
            }
        } else {
            let type = r.header("Content-Type") ?? "application/octet-stream"
            new = StoredObject(body: r.body, etag: MD5.hex(r.body), contentType: type,
                               metadata: Self.metadata(from: r, prefix: "x-object-meta-"), lastModified: now, kind: .plain)
            if let expected = r.header("ETag")?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")), expected != new.etag {
                return reply(422, body: "Unprocessable Entity")
            }
            if let header = r.header("X-Object-Manifest") {
                let decoded = header.removingPercentEncoding ?? header
                guard let slash = decoded.firstIndex(of: "/") else { return reply(400, body: "X-Object-Manifest must be in the format container/prefix") }
                new.kind = .dlo(container: String(decoded[..<slash]), prefix: String(decoded[decoded.index(after: slash)...]), header: header)
                new.body = []
                new.etag = MD5.hex([])
            } else if let target = r.header("X-Symlink-Target"), settings.symlinks {
                guard r.body.isEmpty else { return reply(400, body: "Symlink requests require a zero byte body") }
                new.kind = .symlink(target)
                if r.header("Content-Type") == nil { new.contentType = "application/symlink" }
            }
        }
        if r.header("X-Copy-From") == nil { new.kept = Self.kept(from: r) }
        if let refusal = metadataRefusal(new.metadata) { return refusal }
        guard r.body.count <= settings.maxFileSize else { return reply(413, body: "Your request is too large.") }
        // container_quotas adds the request's body to what the container holds, replaced or not.
        let containerState = accounts[account]!.containers[container]!
        if let quota = containerState.metadata["quota-bytes"].flatMap(Int.init), containerState.bytesUsed + r.body.count > quota {
            return reply(413, body: "Upload exceeds quota.")
        }
        accounts[account]!.containers[container]!.objects[object] = new
        let etag = new.sloEtag.map { "\"\($0)\"" } ?? new.etag
        if r.query["heartbeat"] == "on", r.query["multipart-manifest"] == "put" {
            return json(202, ["Response Status": "201 Created", "Etag": etag, "Last Modified": Self.httpDate(now),
                              "Response Body": "", "Errors": [Any]()])
        }
        var headers = ["Etag": etag, "Last-Modified": Self.httpDate(now)]
        // A copy's answer shows the new object's metadata.
        if r.header("X-Copy-From") != nil {
            for (name, value) in new.metadata { headers["X-Object-Meta-" + name] = value }
        }
        return reply(201, headers: headers)
    }

    struct Refusal: Error {
        var response: HTTPResponse
    }

    /// A static large object manifest, checked as the slo middleware does: every segment must
    /// exist with the ETag and size the manifest gives.
    private func manifest(_ r: SimRequest, account: String, now: Date) -> Result<StoredObject, Refusal> {
        guard let entries = (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [[String: Any]], !entries.isEmpty else {
            return .failure(Refusal(response: reply(400, body: "Manifest must be valid JSON.\n")))
        }
        guard entries.count <= settings.maxManifestSegments else {
            return .failure(Refusal(response: reply(413, body: "Too many segments.")))
        }
        var segments: [StoredObject.Segment] = []
        var errors: [[String]] = []
        for entry in entries {
            let path = entry["path"] as? String ?? ""
            guard let ref = SwiftClient.objectRef(path: path.removingPercentEncoding ?? path),
                  let segment = stored(account, ref.container, ref.name) else {
                errors.append([path, "404 Not Found"])
                continue
            }
            let size = segment.listedBytes
            if let etag = entry["etag"] as? String, etag != (segment.sloEtag ?? segment.etag) { errors.append([path, "Etag Mismatch"]) }
            if let bytes = entry["size_bytes"] as? Int, bytes != size { errors.append([path, "Size Mismatch"]) }
            segments.append(.init(container: ref.container, name: ref.name, etag: segment.sloEtag ?? segment.etag, bytes: size))
        }
        for (index, segment) in segments.enumerated().dropLast() where segment.bytes < settings.minSegmentSize {
            errors.append([entries[index]["path"] as? String ?? "", "Too small; each segment must be at least \(settings.minSegmentSize) bytes."])
        }
        if !errors.isEmpty {
            let text = "Errors:\n" + errors.map { $0.joined(separator: ", ") }.joined(separator: "\n")
            if r.query["heartbeat"] == "on" {
                return .failure(Refusal(response: json(202, ["Response Status": "400 Bad Request", "Response Body": "Bad Request",
                                                             "Errors": errors])))
            }
            return .failure(Refusal(response: reply(400, body: text)))
        }
        let body = Array((try? JSONSerialization.data(withJSONObject: entries.map { e -> [String: Any] in
            ["name": e["path"] ?? "", "hash": e["etag"] ?? "", "bytes": e["size_bytes"] ?? 0]
        }, options: [.sortedKeys])) ?? Data())
        return .success(StoredObject(body: body, etag: MD5.hex(body), contentType: r.header("Content-Type") ?? "application/octet-stream",
                                     metadata: Self.metadata(from: r, prefix: "x-object-meta-"), lastModified: now, kind: .slo(segments)))
    }

    // MARK: - GET and HEAD

    /// A large object's bytes, assembled now; nil if a segment is gone.
    private func content(of object: StoredObject, account: String) -> [UInt8]? {
        switch object.kind {
        case .plain, .symlink:
            return object.body
        case .slo(let segments):
            var bytes: [UInt8] = []
            for segment in segments {
                guard let part = stored(account, segment.container, segment.name), let data = content(of: part, account: account) else { return nil }
                bytes += data
            }
            return bytes
        case .dlo(let container, let prefix, _):
            let objects = accounts[account]?.containers[container]?.objects ?? [:]
            return objects.keys.filter { $0.hasPrefix(prefix) }.sorted(by: utf8Less).flatMap { objects[$0]!.body }
        }
    }

    private func size(of object: StoredObject, account: String) -> Int {
        guard case .dlo(let container, let prefix, _) = object.kind else { return object.listedBytes }
        let objects = accounts[account]?.containers[container]?.objects ?? [:]
        return objects.filter { $0.key.hasPrefix(prefix) }.reduce(0) { $0 + $1.value.body.count }
    }

    private func dloEtag(_ object: StoredObject, account: String) -> String {
        guard case .dlo(let container, let prefix, _) = object.kind else { return object.etag }
        let objects = accounts[account]?.containers[container]?.objects ?? [:]
        return MD5.hex(Array(objects.keys.filter { $0.hasPrefix(prefix) }.sorted(by: utf8Less).map { objects[$0]!.etag }.joined().utf8))
    }

    private func get(_ r: SimRequest, account: String, container: String, object: String) -> HTTPResponse {
        guard var found = stored(account, container, object) else { return reply(404, body: "Not Found") }
        var headers: [String: String] = [:]
        if case .symlink(let target) = found.kind, r.query["symlink"] != "get" {
            let decoded = target.removingPercentEncoding ?? target
            guard let slash = decoded.firstIndex(of: "/"),
                  let pointed = stored(account, String(decoded[..<slash]), String(decoded[decoded.index(after: slash)...])) else {
                return reply(404, body: "Not Found")
            }
            found = pointed
        }
        if case .symlink(let target) = found.kind { headers["X-Symlink-Target"] = target }
        for (k, v) in found.metadata { headers["X-Object-Meta-" + k] = v }
        for (k, v) in found.kept { headers[k] = v }
        headers["Content-Type"] = found.contentType
        headers["Last-Modified"] = Self.httpDate(found.lastModified)
        headers["Accept-Ranges"] = "bytes"
        if case .slo = found.kind, r.query["multipart-manifest"] == "get" {
            headers["X-Static-Large-Object"] = "True"
            headers["Content-Type"] = "application/json; charset=utf-8"
            headers["Etag"] = found.etag
            return reply(200, headers: headers, bytes: found.body)
        }
        let etag: String
        switch found.kind {
        case .slo:
            headers["X-Static-Large-Object"] = "True"
            etag = found.sloEtag!
        case .dlo(_, _, let header):
            headers["X-Object-Manifest"] = header
            etag = dloEtag(found, account: account)
        default:
            etag = found.etag
        }
        headers["Etag"] = found.kind.isLarge ? "\"\(etag)\"" : etag
        if let wanted = r.header("If-Match")?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")), wanted != "*", wanted != etag {
            return reply(412, headers: headers, body: "Precondition Failed")
        }
        if r.method == .head {
            // A HEAD does not read the segments: a large object with one gone still answers 200.
            headers["Content-Length"] = String(size(of: found, account: account))
            return reply(200, headers: headers, bytes: [])
        }
        guard let bytes = content(of: found, account: account) else { return reply(409, body: "Conflict") }
        guard let range = r.header("Range"), let (first, last) = Self.byteRange(range, size: bytes.count) else {
            return reply(200, headers: headers, bytes: bytes)
        }
        guard first < bytes.count else {
            headers["Content-Range"] = "bytes */\(bytes.count)"
            return reply(416, headers: headers, body: "Requested Range Not Satisfiable")
        }
        headers["Content-Range"] = "bytes \(first)-\(last)/\(bytes.count)"
        return reply(206, headers: headers, bytes: Array(bytes[first...last]))
    }

    /// `bytes=FIRST-LAST` (or `FIRST-`) as a clipped closed range.
    static func byteRange(_ header: String, size: Int) -> (Int, Int)? {
        guard header.hasPrefix("bytes=") else { return nil }
        let parts = header.dropFirst(6).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let first = Int(parts[0]) else { return nil }
        let last = min(Int(parts[1]) ?? (size - 1), size - 1)
        return (first, max(last, first))
    }

    // MARK: - POST and DELETE

    private mutating func post(_ r: SimRequest, account: String, container: String, object: String, now: Date) -> HTTPResponse {
        guard var found = stored(account, container, object) else { return reply(404, body: "Not Found") }
        // Swift's POST replaces all user metadata; a DLO's manifest goes unless it is sent again.
        found.metadata = Self.metadata(from: r, prefix: "x-object-meta-")
        found.kept = Self.kept(from: r)
        if let refusal = metadataRefusal(found.metadata) { return refusal }
        if let type = r.header("Content-Type") { found.contentType = type }
        // Swift gives a POST a new, later timestamp: HEAD's Last-Modified and the listing move.
        found.lastModified = max(now, found.lastModified.addingTimeInterval(0.00001))
        if case .dlo = found.kind, r.header("X-Object-Manifest") == nil { found.kind = .plain }
        accounts[account]!.containers[container]!.objects[object] = found
        // A symlink takes the metadata itself, and the answer points at its target.
        if case .symlink(let target) = found.kind {
            return reply(307, headers: ["Location": "/v1/\(account)/\(target)"], body: "Temporary Redirect")
        }
        return reply(202, body: "Accepted")
    }

    private mutating func delete(_ r: SimRequest, account: String, container: String, object: String) -> HTTPResponse {
        guard let found = accounts[account]!.containers[container]!.objects.removeValue(forKey: object) else {
            return reply(404, body: "Not Found")
        }
        if r.query["multipart-manifest"] == "delete", case .slo(let segments) = found.kind {
            for segment in segments { accounts[account]!.containers[segment.container]?.objects[segment.name] = nil }
            return json(200, ["Number Deleted": segments.count + 1, "Number Not Found": 0, "Response Status": "200 OK",
                              "Response Body": "", "Errors": [Any]()])
        }
        return reply(204)
    }
}

extension StoredObject.Kind {
    var isLarge: Bool {
        switch self {
        case .slo, .dlo: true
        default: false
        }
    }
}

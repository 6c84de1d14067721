import Foundation
import SwiftStorage

/// One stored object and what kind of thing it is.
struct StoredObject {
    struct Segment {
        var container: String
        var name: String
        var etag: String
        var bytes: Int
    }

    enum Kind {
        case plain
        /// A static large object: its segments as its manifest lists them.
        case slo([Segment])
        /// A dynamic large object: every object under `prefix` of `container`; `header` as PUT.
        case dlo(container: String, prefix: String, header: String)
        /// A symlink (`X-Symlink-Target` "container/object", as PUT).
        case symlink(String)
    }

    var body: [UInt8]
    var etag: String
    var contentType: String
    /// `X-Object-Meta-*` with lower-cased names, prefix cut.
    var metadata: [String: String]
    var lastModified: Date
    var kind: Kind
    /// Content-Disposition, X-Delete-At and the other headers a POST replaces (lower-case names).
    var kept: [String: String] = [:]

    /// What a listing says of its size.
    var listedBytes: Int {
        if case .slo(let segments) = kind { return segments.reduce(0) { $0 + $1.bytes } }
        return body.count
    }

    var sloEtag: String? {
        guard case .slo(let segments) = kind else { return nil }
        return MD5.hex(Array(segments.map(\.etag).joined().utf8))
    }
}

struct SimContainer {
    var objects: [String: StoredObject] = [:]
    var metadata: [String: String] = [:]

    var bytesUsed: Int { objects.values.reduce(0) { $0 + $1.listedBytes } }
}

struct SimAccount {
    var containers: [String: SimContainer] = [:]
    var metadata: [String: String] = [:]
}

/// The whole simulated cluster's state; every request is answered under one lock (no I/O here).
struct ClusterState {
    let settings: SimulatedCluster.Settings
    var keystone: SimulatedKeystone
    var accounts: [String: SimAccount] = [:]
    var faults: [PlannedFault] = []
    var keystoneDown = false
    var log: [String] = []

    init(settings: SimulatedCluster.Settings) {
        self.settings = settings
        keystone = SimulatedKeystone(lifetime: settings.tokenLifetime)
    }

    mutating func answer(_ request: SimRequest, now: Date) -> (response: HTTPResponse, fault: Fault?) {
        log.append("\(request.method.rawValue) \(request.path)")
        var fault: Fault?
        if let index = faults.firstIndex(where: { $0.remaining > 0 && $0.matches(request) }) {
            faults[index].remaining -= 1
            fault = faults[index].fault
            faults.removeAll { $0.remaining == 0 }
        }
        switch fault {
        case .status(let status, let body)?:
            return (reply(status, body: body), nil)
        case .refused?:
            return (reply(0), .refused)
        case .reset?, .storedButLost?, .delay?, nil:
            break
        }
        if case .reset? = fault, request.method != .get { return (reply(0), fault) }
        return (route(request, now: now), fault)
    }

    private mutating func route(_ r: SimRequest, now: Date) -> HTTPResponse {
        if r.path.hasPrefix("/v3/") || r.path == "/auth/v1.0" {
            if keystoneDown { return reply(0) }  // never seen: the transport refuses first
            return keystone.answer(r, now: now, storageBase: SimulatedCluster.base)
        }
        if r.path == "/info" { return info() }
        guard r.path.hasPrefix("/v1/"), let account = r.account else { return reply(404, body: "Not Found") }
        guard let project = keystone.validProject(r.header("X-Auth-Token"), now: now), account == "AUTH_" + project else {
            return reply(401, body: "<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to access the document you requested.</p></html>")
        }
        if accounts[account] == nil { accounts[account] = SimAccount() }
        guard let container = r.container else { return accountRequest(r, account: account) }
        guard let object = r.object else { return containerRequest(r, account: account, container: container, now: now) }
        return objectRequest(r, account: account, container: container, object: object, now: now)
    }

    // MARK: - Replies

    func reply(_ status: Int, headers: [String: String] = [:], body: String = "") -> HTTPResponse {
        reply(status, headers: headers, bytes: Array(body.utf8))
    }

    func reply(_ status: Int, headers: [String: String] = [:], bytes: [UInt8]) -> HTTPResponse {
        var h = HTTPHeaders()
        for (k, v) in headers { h[k] = v }
        if h["content-length"] == nil { h["content-length"] = String(bytes.count) }
        if h["content-type"] == nil { h["content-type"] = "text/html; charset=UTF-8" }
        return HTTPResponse(status: status, headers: h, body: bytes)
    }

    func json(_ status: Int, _ object: Any) -> HTTPResponse {
        let data = Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
        return reply(status, headers: ["Content-Type": "application/json; charset=utf-8"], bytes: data)
    }

    private func info() -> HTTPResponse {
        var info: [String: Any] = [
            "swift": ["max_file_size": settings.maxFileSize, "container_listing_limit": settings.containerListingLimit,
                      "max_object_name_length": settings.maxObjectNameLength, "max_meta_name_length": 128,
                      "max_meta_value_length": 256, "max_meta_count": 90, "max_meta_overall_size": 4096],
            "slo": ["max_manifest_segments": settings.maxManifestSegments, "min_segment_size": settings.minSegmentSize],
            "bulk_delete": ["max_deletes_per_request": settings.bulkDeleteLimit],
        ]
        if settings.symlinks { info["symlink"] = [String: Any]() }
        return json(200, info)
    }

    /// Swift rounds Last-Modified up to whole seconds.
    static func httpDate(_ date: Date) -> String {
        Timestamp.formatHTTPDate(Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.up)))
    }

    static func listingDate(_ date: Date) -> String { Timestamp.formatListing(date) }

    /// User metadata as Swift stores it: `_` in names becomes `-` (the WSGI environment folds
    /// them), values lose surrounding spaces.
    static func kept(from r: SimRequest) -> [String: String] {
        var kept: [String: String] = [:]
        for name in ObjectInfo.postReplacedHeaders { kept[name] = r.header(name) }
        return kept
    }

    static func metadata(from r: SimRequest, prefix: String) -> [String: String] {
        var meta: [String: String] = [:]
        for (name, value) in r.headers where name.hasPrefix(prefix) {
            meta[String(name.dropFirst(prefix.count)).replacingOccurrences(of: "_", with: "-")] = value.trimmingCharacters(in: .whitespaces)
        }
        return meta
    }

    /// Swift's constraints on user metadata (400 beyond them).
    func metadataRefusal(_ meta: [String: String]) -> HTTPResponse? {
        for (name, value) in meta {
            if name.utf8.count > 128 { return reply(400, body: "Metadata name too long; max 128") }
            if value.utf8.count > 256 { return reply(400, body: "Metadata value longer than 256") }
        }
        if meta.count > 90 { return reply(400, body: "Too many metadata items; max 90") }
        if meta.reduce(0, { $0 + $1.key.utf8.count + $1.value.utf8.count }) > 4096 {
            return reply(400, body: "Total metadata too large; max 4096")
        }
        return nil
    }

    /// A listing `limit` over the cluster's maximum is refused, not clamped.
    func limitRefusal(_ r: SimRequest) -> HTTPResponse? {
        guard let limit = r.query["limit"].flatMap(Int.init), limit > settings.containerListingLimit else { return nil }
        return reply(412, body: "Maximum limit is \(settings.containerListingLimit)")
    }

    // MARK: - Account

    private mutating func accountRequest(_ r: SimRequest, account: String) -> HTTPResponse {
        switch r.method {
        case .get:
            if let refusal = limitRefusal(r) { return refusal }
            let names = accounts[account]!.containers.keys.sorted(by: utf8Less)
            let listed = page(names, r)
            // The account learns counts from the container updater, minutes late: 0 here, strictly.
            let entries = listed.map { name -> [String: Any] in ["name": name, "count": 0, "bytes": 0] }
            return json(200, entries)
        case .head:
            var headers = ["X-Account-Bytes-Used": "0", "X-Account-Object-Count": "0",
                           "X-Account-Container-Count": String(accounts[account]!.containers.count)]
            for (k, v) in accounts[account]!.metadata { headers["X-Account-Meta-" + k] = v }
            return reply(204, headers: headers)
        case .post where r.query["bulk-delete"] != nil:
            return bulkDelete(r, account: account)
        case .post:
            accounts[account]!.metadata.merge(Self.metadata(from: r, prefix: "x-account-meta-")) { $1 }
            return reply(204)
        default:
            return reply(405)
        }
    }

    private mutating func bulkDelete(_ r: SimRequest, account: String) -> HTTPResponse {
        let lines = String(decoding: r.body, as: UTF8.self).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard lines.count <= settings.bulkDeleteLimit else { return reply(413, body: "Max delete failures exceeded") }
        var deleted = 0, notFound = 0
        for line in lines where !line.isEmpty {
            let decoded = line.removingPercentEncoding ?? line
            guard let ref = SwiftClient.objectRef(path: decoded) else { continue }
            if accounts[account]!.containers[ref.container]?.objects.removeValue(forKey: ref.name) != nil { deleted += 1 } else { notFound += 1 }
        }
        return json(200, ["Number Deleted": deleted, "Number Not Found": notFound, "Response Body": "",
                          "Response Status": "200 OK", "Errors": [Any]()])
    }

    /// One page of sorted names after `marker`, before `end_marker`, at most `limit`.
    private func page(_ names: [String], _ r: SimRequest) -> [String] {
        let marker = r.query["marker"] ?? ""
        let end = r.query["end_marker"]
        let prefix = r.query["prefix"] ?? ""
        let limit = min(Int(r.query["limit"] ?? "") ?? settings.containerListingLimit, settings.containerListingLimit)
        return Array(names.filter { name in
            name.hasPrefix(prefix) && utf8Less(marker, name) && (end.map { utf8Less(name, $0) } ?? true)
        }.prefix(limit))
    }

    // MARK: - Container

    private mutating func containerRequest(_ r: SimRequest, account: String, container: String, now: Date) -> HTTPResponse {
        let exists = accounts[account]!.containers[container] != nil
        switch r.method {
        case .put:
            var c = accounts[account]!.containers[container] ?? SimContainer()
            c.metadata.merge(Self.metadata(from: r, prefix: "x-container-meta-")) { $1 }
            accounts[account]!.containers[container] = c
            return reply(exists ? 202 : 201)
        case .head:
            guard let c = accounts[account]!.containers[container] else { return reply(404) }
            var headers = ["X-Container-Object-Count": String(c.objects.count), "X-Container-Bytes-Used": String(c.bytesUsed)]
            for (k, v) in c.metadata { headers["X-Container-Meta-" + k] = v }
            return reply(204, headers: headers)
        case .delete:
            guard let c = accounts[account]!.containers[container] else { return reply(404) }
            guard c.objects.isEmpty else { return reply(409, body: "<html><h1>Conflict</h1><p>There was a conflict when trying to complete your request.</p></html>") }
            accounts[account]!.containers[container] = nil
            return reply(204)
        case .post:
            guard exists else { return reply(404) }
            accounts[account]!.containers[container]!.metadata.merge(Self.metadata(from: r, prefix: "x-container-meta-")) { $1 }
            for name in r.headers.keys where name.hasPrefix("x-remove-container-meta-") {
                accounts[account]!.containers[container]!.metadata[String(name.dropFirst("x-remove-container-meta-".count))] = nil
            }
            return reply(204)
        case .get:
            guard let c = accounts[account]!.containers[container] else { return reply(404) }
            if let refusal = limitRefusal(r) { return refusal }
            return json(200, listing(c, r, account: account))
        default:
            return reply(405)
        }
    }

    private func listing(_ c: SimContainer, _ r: SimRequest, account: String) -> [[String: Any]] {
        let prefix = r.query["prefix"] ?? ""
        let delimiter = r.query["delimiter"].flatMap { $0.isEmpty ? nil : $0 }
        let marker = r.query["marker"] ?? ""
        let end = r.query["end_marker"]
        let limit = min(Int(r.query["limit"] ?? "") ?? settings.containerListingLimit, settings.containerListingLimit)
        var entries: [[String: Any]] = []
        var lastSubdir: String?
        for name in c.objects.keys.sorted(by: utf8Less) where name.hasPrefix(prefix) {
            if entries.count >= limit { break }
            if let end, !utf8Less(name, end) { break }
            if let delimiter, let range = name.dropFirst(prefix.count).range(of: delimiter) {
                let subdir = String(name[..<range.upperBound])
                if subdir == lastSubdir || !utf8Less(marker, subdir) { continue }
                lastSubdir = subdir
                entries.append(["subdir": subdir])
                continue
            }
            guard utf8Less(marker, name) else { continue }
            let object = c.objects[name]!
            var entry: [String: Any] = ["name": name, "bytes": object.listedBytes, "content_type": object.contentType,
                                        "last_modified": Self.listingDate(object.lastModified)]
            switch object.kind {
            case .slo:
                entry["hash"] = MD5.hex(object.body)
                entry["slo_etag"] = "\"\(object.sloEtag!)\""
            case .symlink(let target):
                entry["hash"] = object.etag
                entry["symlink_path"] = "/v1/\(account)/" + target
            default:
                entry["hash"] = object.etag
            }
            entries.append(entry)
        }
        return entries
    }
}

import Foundation

/// What a large object's manifest points at. Segments belong to a manifest, but not to it alone:
/// a server-side copy of a manifest (a rename, another client's copy) shares them, so they are
/// deleted only when no manifest in the account uses them any more.
public enum LargeObjectManifest: Sendable, Equatable {
    /// A static large object: its segments, and its ETag (the MD5 of the segments' ETags), which
    /// every copy of the manifest lists with (`slo_etag`).
    case staticSegments([ObjectRef], etag: String)
    /// A dynamic large object: every object under `prefix` of `container`.
    case dynamic(ObjectRef)

    /// The `X-Object-Manifest` value ("container/prefix", percent-encoded) as a container and a
    /// prefix; nil for an empty prefix, which would mean a whole container.
    public static func dynamic(header: String) -> LargeObjectManifest? {
        let decoded = header.removingPercentEncoding ?? header
        guard let slash = decoded.firstIndex(of: "/"), decoded.index(after: slash) < decoded.endIndex else { return nil }
        return .dynamic(ObjectRef(container: String(decoded[..<slash]), name: String(decoded[decoded.index(after: slash)...])))
    }
}

extension SwiftClient {
    /// The manifest of the object `info` describes (nil for a plain object).
    public func manifest(container: String, object: String, info: ObjectInfo) throws -> LargeObjectManifest? {
        if info.isStaticLargeObject {
            return .staticSegments(try staticLargeObjectSegments(container: container, object: object), etag: info.etag)
        }
        return info.dynamicManifest.flatMap(LargeObjectManifest.dynamic(header:))
    }

    /// The segments a static large object's manifest lists (empty if the object is gone).
    public func staticLargeObjectSegments(container: String, object: String) throws -> [ObjectRef] {
        try listedSegments(container: container, object: object) ?? []
    }

    /// The segments a static large object's manifest lists; nil if the object is gone.
    func listedSegments(container: String, object: String) throws -> [ObjectRef]? {
        var call = Call(.get, container: container, object: object)
        call.query = [("multipart-manifest", "get")]
        call.passStatuses = [404]
        let response = try send(call)
        guard response.status != 404 else { return nil }
        struct Entry: Decodable { var name: String }
        guard let entries = try? JSONDecoder().decode([Entry].self, from: Data(response.body)) else {
            throw SwiftError.protocolError("manifest of \(container)/\(object) is not a segment list")
        }
        return entries.compactMap { Self.objectRef(path: $0.name) }
    }

    /// "/container/object" as a reference.
    public static func objectRef(path: String) -> ObjectRef? {
        let trimmed = path.drop { $0 == "/" }
        guard let slash = trimmed.firstIndex(of: "/") else { return nil }
        return ObjectRef(container: String(trimmed[..<slash]), name: String(trimmed[trimmed.index(after: slash)...]))
    }

    /// The segments that static manifests with one of `etags` (nil: any) list, anywhere in the
    /// account (every copy of a manifest lists with its `slo_etag`; the same bytes uploaded again
    /// as other segments have it too, and count, which only keeps more). Read twice: a listing is
    /// no snapshot, and a rename (copy, then delete) paged past during one pass can hide both
    /// names from it, never from both. A listed manifest that is gone when read makes its
    /// `slo_etag` unknown, unless it is one of `gone` (deleted, and listed still).
    public func segmentsListed(byStaticManifestsWith etags: Set<String>?, gone: Set<ObjectRef>) throws -> ListedSegments {
        var listed = ListedSegments()
        guard etags.map({ !$0.isEmpty }) ?? true else { return listed }
        for _ in 0..<2 {
            for name in try listContainers() {
                for object in try manifestCandidates(in: name) {
                    guard let etag = object.sloEtag, etags.map({ $0.contains(etag) }) ?? true else { continue }
                    if let segments = try listedSegments(container: name, object: object.name) {
                        listed.segments.formUnion(segments)
                    } else if !gone.contains(ObjectRef(container: name, name: object.name)) {
                        listed.unknown.insert(etag)
                    }
                }
            }
        }
        return listed
    }

    /// The objects a manifest's content is made of: a static one's list, every object under a
    /// dynamic one's prefix.
    public func segments(of manifest: LargeObjectManifest) throws -> [ObjectRef] {
        switch manifest {
        case .staticSegments(let refs, _):
            return refs
        case .dynamic(let prefix):
            return try listAll(container: prefix.container, prefix: prefix.name, delimiter: nil).compactMap {
                if case .object(let o) = $0 { return ObjectRef(container: prefix.container, name: o.name) }
                return nil
            }
        }
    }

    /// Every object of `container`, for a scan of the account. A container deleted since the
    /// account was listed (a HEAD confirms it) holds no manifest any more: it counts as empty,
    /// not as a failure.
    private func manifestCandidates(in container: String) throws -> [ObjectSummary] {
        do {
            return try listAll(container: container, delimiter: nil).compactMap {
                if case .object(let object) = $0 { return object }
                return nil
            }
        } catch SwiftError.notFound(let what) {
            // Asked again: only a container Swift says twice is gone counts as empty.
            if try containerExists(container) { throw SwiftError.notFound(what) }
            return []
        }
    }

    /// The dynamic manifests of `container`: its zero-byte objects are read (a listing does not
    /// tell a DLO manifest from an empty file).
    public func dynamicManifests(in container: String) throws -> [LargeObjectManifest] {
        var found: [LargeObjectManifest] = []
        for case .object(let object) in try listAll(container: container, delimiter: nil)
        where object.bytes == 0 && object.symlinkPath == nil && object.contentType != "application/directory" {
            if let manifest = try head(container: container, object: object.name)?.dynamicManifest.flatMap(LargeObjectManifest.dynamic(header:)) {
                found.append(manifest)
            }
        }
        return found
    }

    /// Every segment the manifests use: static manifests anywhere in the account (a GET of each),
    /// dynamic ones in `dynamicIn`.
    public func segmentReferences(dynamicIn containers: [String]) throws -> SegmentReferences {
        var references = SegmentReferences()
        for name in try listContainers() {
            for object in try manifestCandidates(in: name) where object.sloEtag != nil {
                references.segments.formUnion(try staticLargeObjectSegments(container: name, object: object.name))
            }
        }
        for container in containers {
            for case .dynamic(let prefix) in try dynamicManifests(in: container) { references.prefixes.append(prefix) }
        }
        return references
    }
}

/// What a scan of the account's static manifests found.
public struct ListedSegments: Sendable {
    /// Every segment the manifests read list.
    public var segments = Set<ObjectRef>()
    /// The `slo_etag`s of listed manifests that were gone when read: whether they use a segment
    /// is not known.
    public var unknown = Set<String>()
}

/// Segments some manifest uses: by name (static manifests) or by prefix (dynamic ones).
public struct SegmentReferences: Sendable {
    public var segments = Set<ObjectRef>()
    public var prefixes: [ObjectRef] = []

    public init() {}

    public func contains(_ segment: ObjectRef) -> Bool {
        segments.contains(segment) || prefixes.contains { $0.container == segment.container && segment.name.hasPrefix($0.name) }
    }
}

extension SwiftClient {
    /// Stores a dynamic large object manifest: every object under `segmentPrefix` of
    /// `segmentContainer`, in name order, is the object's content.
    public func putDynamicLargeObject(container: String, object: String, segmentContainer: String, segmentPrefix: String,
                                      headers: [(name: String, value: String)] = []) throws {
        let manifest = PathEncoding.encode(segmentContainer, keepSlash: false) + "/" + PathEncoding.encode(segmentPrefix, keepSlash: true)
        var call = Call(.put, container: container, object: object)
        call.headers = headers + [("X-Object-Manifest", manifest)]
        let expected = LargeObjectManifest.dynamic(header: manifest)
        try putManifest(call) { $0.dynamicManifest.flatMap(LargeObjectManifest.dynamic(header:)) == expected }
    }

    /// Stores a static large object manifest over `segments`. Checking many segments can take
    /// Swift longer than a quiet connection survives, so the PUT asks for heartbeats.
    public func putStaticLargeObject(container: String, object: String, segments: [SegmentRef],
                                     headers: [(name: String, value: String)] = []) throws {
        let manifest = segments.map { ["path": $0.path, "etag": $0.etag, "size_bytes": $0.sizeBytes] as [String: Any] }
        var call = Call(.put, container: container, object: object)
        call.query = [("multipart-manifest", "put"), ("heartbeat", "on")]
        call.headers = headers + [("Accept", "application/json")]
        if !headers.contains(where: { $0.name.lowercased() == "content-type" }) {
            call.headers.append(("Content-Type", "application/octet-stream"))
        }
        call.body = Array(try JSONSerialization.data(withJSONObject: manifest))
        call.heartbeat = true
        // Its ETag is the MD5 of the segments' ETags.
        let expected = MD5.hex(Array(segments.map(\.etag).joined().utf8))
        try putManifest(call) { $0.isStaticLargeObject && $0.etag == expected }
    }

    /// PUTs a manifest. Its segments may be deleted if it fails, so a failure must be certain:
    /// once an answer was lost (the manifest may have landed), only Swift's word that it holds
    /// this manifest (`isStored`, read with X-Newest) counts as success, and any other end is
    /// `.outcomeUnknown`, which keeps the segments.
    func putManifest(_ call: Call, isStored: (ObjectInfo) -> Bool) throws {
        var answerLost = false
        for attempt in 0..<retry.attempts {
            do {
                _ = try send(call, policy: .once)
                return
            } catch is HTTPTransportError {
                answerLost = true
            } catch SwiftError.unavailable {
                // A 5xx: not stored by this attempt, but an earlier lost one may still land.
            } catch {
                guard answerLost else { throw error }
                return try confirm(call, isStored: isStored, after: "\(error)")
            }
            counters.retried()
            if attempt + 1 < retry.attempts { clock.sleep(seconds: retry.backoff.delay(afterAttempt: attempt)) }
        }
        let why = "\(call.method.rawValue) \(call.displayPath): no answer after \(retry.attempts) attempts"
        guard answerLost else { throw SwiftError.unavailable(why) }
        try confirm(call, isStored: isStored, after: why)
    }

    private func confirm(_ call: Call, isStored: (ObjectInfo) -> Bool, after why: String) throws {
        var head = Call(.head, container: call.container, object: call.object)
        head.headers = [("X-Newest", "true")]
        head.passStatuses = [404]
        if let response = try? send(head), response.status != 404, isStored(ObjectInfo(headers: response.headers)) {
            logger.notice("\(call.displayPath): \(why), but Swift has the manifest")
            return
        }
        throw SwiftError.outcomeUnknown("manifest \(call.displayPath): \(why); it may still be stored")
    }
}

import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// The client against the real dev stack: both auth services, listings, ranges.
final class StackClientTests: XCTestCase {
    func testTempAuthAndKeystoneBothReachTheirAccounts() throws {
        for user in ["demo", "tempauth"] {
            let client = try DevStack.client(user)
            let container = DevStack.uniqueName("c")
            try client.createContainer(container)
            XCTAssertTrue(try client.containerExists(container), user)
            try client.put(container: container, object: "x", body: Array("abc".utf8))
            XCTAssertEqual(try client.get(container: container, object: "x", range: 1..<3, ifMatch: nil), Array("bc".utf8))
            XCTAssertTrue(try client.delete(container: container, object: "x"))
            try client.deleteContainer(container)
        }
    }

    func testListingPagesPastTheLimitAndGroupsPseudoDirectories() throws {
        let client = try DevStack.client()
        let container = DevStack.uniqueName("c")
        try client.createContainer(container)
        defer { try? DevStack.purge(container, client: client) }
        for i in 0..<25 { try client.put(container: container, object: String(format: "f%02d", i), body: []) }
        try client.put(container: container, object: "dir/a", body: [])
        try client.put(container: container, object: "dir/sub/b", body: [])
        let page = try client.list(container: container, limit: 10)
        XCTAssertEqual(page.count, 10)
        var all: [ListingEntry] = []
        var marker = ""
        while true {
            let next = try client.list(container: container, marker: marker, limit: 10)
            guard let last = next.last else { break }
            all += next
            if case .object(let o) = last { marker = o.name } else if case .subdir(let s) = last { marker = s }
        }
        XCTAssertEqual(all.count, 26, "25 files and one pseudo-directory")
        XCTAssertEqual(try client.listAll(container: container).count, 26)
        XCTAssertEqual(try client.listAll(container: container, prefix: "dir/"), [
            .object(try XCTUnwrap(client.listAll(container: container, prefix: "dir/a", delimiter: nil).first).summary),
            .subdir("dir/sub/")])
    }

    func testChangedObjectFailsPinnedRead() throws {
        let client = try DevStack.client()
        let container = DevStack.uniqueName("c")
        try client.createContainer(container)
        defer { try? DevStack.purge(container, client: client) }
        let etag = try client.put(container: container, object: "o", body: Array("one".utf8))
        try client.put(container: container, object: "o", body: Array("two".utf8))
        XCTAssertThrowsError(try client.get(container: container, object: "o", range: 0..<3, ifMatch: etag)) { error in
            guard case SwiftError.changed = error else { return XCTFail("\(error)") }
        }
    }
}

extension ListingEntry {
    var summary: ObjectSummary {
        if case .object(let o) = self { return o }
        fatalError("not an object")
    }
}

/// Hides the token's expiry, so the ConnectionManager cannot renew ahead of time and only the
/// server's answer tells that the token is dead (as with clock skew or a revoked token).
struct ExpiryBlindAuthenticator: Authenticator {
    let inner: any Authenticator
    var summary: String { inner.summary }
    var canReauthenticate: Bool { true }
    func authenticate(using transport: HTTPTransport) throws -> AuthResult {
        var result = try inner.authenticate(using: transport)
        result.expiresAt = nil
        return result
    }
}

final class ReactiveAuthTests: XCTestCase {
    var ttl = 0
    let transport = CurlTransport()
    var connection: ConnectionManager!
    var client: SwiftClient!
    var container = ""

    /// A client whose manager cannot see expiry, on a fresh container of the real stack.
    override func setUpWithError() throws {
        ttl = try XCTUnwrap(DevStack.tokenTTL())
        XCTAssertLessThanOrEqual(ttl, 10, "needs the stack started with TOKEN_TTL=8 (scripts/test.sh does that)")
        let auth = ExpiryBlindAuthenticator(inner: try EnvironmentCredentials.authenticator(from: DevStack.credentials()))
        connection = ConnectionManager(authenticator: auth, transport: transport)
        client = SwiftClient(connection: connection, transport: transport)
        container = DevStack.uniqueName("c")
        try client.createContainer(container)
    }

    override func tearDownWithError() throws {
        try DevStack.purge(container, client: DevStack.client())
    }

    func testManifestPutAnswered400ForExpiredTokenIsReauthenticatedAndStored() throws {
        var segments: [SegmentRef] = []
        for i in 1...2 {
            let body = [UInt8](repeating: UInt8(i), count: 1 << 20)
            let etag = try client.put(container: container, object: "seg/\(i)", body: body)
            segments.append(SegmentRef(path: "/\(container)/seg/\(i)", etag: etag, sizeBytes: body.count))
        }
        let stale = try connection.current()
        // The token expires after the last segment and before the manifest.
        Thread.sleep(forTimeInterval: Double(ttl) + 1.5)

        // The premise, seen raw: the slo middleware reports the segments' 401s as a 400.
        let manifest = Array(try JSONSerialization.data(withJSONObject: segments.map {
            ["path": $0.path, "etag": $0.etag, "size_bytes": $0.sizeBytes] as [String: Any] }))
        let raw = try transport.perform(HTTPRequest(
            method: .put, url: "\(stale.storageURL)/\(container)/raw?multipart-manifest=put",
            headers: [("X-Auth-Token", stale.token.reveal)], body: manifest))
        XCTAssertEqual(raw.status, 400)
        XCTAssertTrue(raw.bodyText.contains("401 Unauthorized"), raw.bodyText)

        try client.putStaticLargeObject(container: container, object: "big", segments: segments)
        XCTAssertEqual(connection.statistics.authentications, 2, "one re-auth, triggered by the 400")
        let info = try XCTUnwrap(client.head(container: container, object: "big"))
        XCTAssertTrue(info.isStaticLargeObject)
        XCTAssertEqual(info.size, 2 << 20)
    }

    func testPlainPutWithRejectedTokenIsResentAfterOneSharedReauth() throws {
        let client = client!, container = container
        Thread.sleep(forTimeInterval: Double(ttl) + 1.5)
        // Eight PUTs at once, all with the dead token: they share one re-auth and all land.
        let started = Date()
        let errors = concurrently(8) { i in
            try client.put(container: container, object: "o\(i)", body: [UInt8](repeating: 7, count: 256 << 10))
        }
        XCTAssertTrue(errors.isEmpty, "\(errors)")
        // The new token lives `ttl` seconds too: on a loaded stack the resent PUTs may outlive it,
        // and each lifetime they span costs one more (shared) re-auth. Eight re-auths for eight
        // rejections would be far above this.
        let lifetimes = Int(Date().timeIntervalSince(started) / Double(ttl))
        XCTAssertGreaterThanOrEqual(connection.statistics.authentications, 2)
        XCTAssertLessThanOrEqual(connection.statistics.authentications, 2 + lifetimes,
                                 "one shared re-auth per token lifetime the PUTs spanned (\(lifetimes))")
        XCTAssertEqual(try client.listAll(container: container).count, 8)
    }
}

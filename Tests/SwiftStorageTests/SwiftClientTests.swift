import Foundation
@testable import SwiftStorage
import XCTest

/// A transport that answers each request from a script (no network), and records them.
final class ScriptedTransport: HTTPTransport, @unchecked Sendable {
    private let lock = NSLock()
    private var log: [HTTPRequest] = []
    private let answer: @Sendable (HTTPRequest) throws -> HTTPResponse

    init(_ answer: @escaping @Sendable (HTTPRequest) throws -> HTTPResponse) {
        self.answer = answer
    }

    var requests: [HTTPRequest] { lock.withLock { log } }

    func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        lock.withLock { log.append(request) }
        return try answer(request)
    }

    static func response(_ status: Int, _ headers: [String: String] = [:], body: String = "") -> HTTPResponse {
        var h = HTTPHeaders()
        for (name, value) in headers { h[name] = value }
        return HTTPResponse(status: status, headers: h, body: Array(body.utf8))
    }

    static let lost = HTTPTransportError(code: 56, message: "connection reset", partialBody: [])
}

final class SwiftClientTests: XCTestCase {
    let auth = CountingAuthenticator(clock: ManualClock(), lifetime: 3600)

    func client(_ transport: ScriptedTransport) -> SwiftClient {
        let connection = ConnectionManager(authenticator: auth, transport: transport, clock: auth.clock)
        return SwiftClient(connection: connection, transport: transport,
                           retry: SwiftClient.RetryPolicy(attempts: 2, backoff: Backoff(base: 0, cap: 0)), clock: auth.clock)
    }

    let segments = [SegmentRef(path: "/c_segments/a/1", etag: "e1", sizeBytes: 1), SegmentRef(path: "/c_segments/a/2", etag: "e2", sizeBytes: 1)]

    func testHeartbeatReportListingSegment401sReauthenticatesAndResendsTheManifest() throws {
        let calls = Counter()
        let transport = ScriptedTransport { request in
            XCTAssertTrue(request.url.contains("heartbeat=on"))
            return calls.next() == 1
                ? .init(status: 202, headers: HTTPHeaders(), body: Array(#"{"Response Status": "400 Bad Request", "Errors": [["/c_segments/a/1", "401 Unauthorized"]]}"#.utf8))
                : .init(status: 202, headers: HTTPHeaders(), body: Array(#"{"Response Status": "201 Created", "Etag": "\"x\"", "Errors": []}"#.utf8))
        }
        try client(transport).putStaticLargeObject(container: "c", object: "a", segments: segments)
        XCTAssertEqual(transport.requests.count, 2, "re-sent once")
        XCTAssertEqual(auth.calls, 2, "after a new token")
    }

    func testAContainerDeletedDuringAnAccountScanHoldsNoManifest() throws {
        // The account lists two containers; "gone" is deleted before its turn, "c" holds a plain object.
        let transport = ScriptedTransport { request in
            let path = URL(string: request.url)!.path
            if path.hasSuffix("/gone") { return ScriptedTransport.response(404) }
            if path.hasSuffix("/c") {
                return ScriptedTransport.response(200, body: #"[{"name": "o", "bytes": 1, "hash": "h", "content_type": "a/b", "last_modified": "2026-01-01T00:00:00.000000"}]"#)
            }
            return ScriptedTransport.response(200, body: #"[{"name": "c", "count": 1, "bytes": 1}, {"name": "gone", "count": 9, "bytes": 9}]"#)
        }
        let listed = try client(transport).segmentsListed(byStaticManifestsWith: ["x"], gone: [])
        XCTAssertEqual(listed.segments, [])
        XCTAssertEqual(listed.unknown, [])
        XCTAssertEqual(transport.requests.filter { $0.url.contains("/gone") }.map(\.method), [.get, .head, .get, .head],
                       "the vanished container was listed, and asked again, in each of the two passes")
    }

    func testAListedManifestThatIsGoneWhenReadMakesItsEtagUnknownUnlessItsDeletionIsKnown() throws {
        // The account holds "c"; it lists "copy" (slo_etag x), whose manifest GET finds nothing.
        let transport = ScriptedTransport { request in
            let path = URL(string: request.url)!.path
            if path.hasSuffix("/c/copy") { return ScriptedTransport.response(404) }
            if path.hasSuffix("/c") {
                return ScriptedTransport.response(200, body: #"[{"name": "copy", "bytes": 9, "hash": "h", "content_type": "a/b", "slo_etag": "x", "last_modified": "2026-01-01T00:00:00.000000"}]"#)
            }
            return ScriptedTransport.response(200, body: #"[{"name": "c", "count": 1, "bytes": 9}]"#)
        }
        let c = client(transport)
        XCTAssertEqual(try c.segmentsListed(byStaticManifestsWith: ["x"], gone: []).unknown, ["x"],
                       "it may be a copy that uses the segments: nobody can tell")
        XCTAssertEqual(try c.segmentsListed(byStaticManifestsWith: nil, gone: []).unknown, ["x"], "nil: every manifest")
        XCTAssertEqual(try c.segmentsListed(byStaticManifestsWith: ["x"], gone: [ObjectRef(container: "c", name: "copy")]).unknown, [],
                       "the object the mount deleted, listed still")
        XCTAssertEqual(try c.segmentsListed(byStaticManifestsWith: ["y"], gone: []).unknown, [], "another etag is not read")
    }

    func testHeartbeatReportOfAFailureIsAnError() {
        let transport = ScriptedTransport { _ in
            .init(status: 202, headers: HTTPHeaders(), body: Array(#"{"Response Status": "400 Bad Request", "Errors": [["/c_segments/a/1", "Etag Mismatch"]]}"#.utf8))
        }
        XCTAssertThrowsError(try client(transport).putStaticLargeObject(container: "c", object: "a", segments: segments)) {
            guard case SwiftError.rejected(400, let why) = $0 else { return XCTFail("\($0)") }
            XCTAssertTrue(why.contains("Etag Mismatch"), why)
        }
    }

    func testLostManifestAnswerIsResolvedByAskingSwift() throws {
        let expected = MD5.hex(Array("e1e2".utf8))
        let transport = ScriptedTransport { request in
            if request.method == .put { throw ScriptedTransport.lost }
            return ScriptedTransport.response(200, ["X-Static-Large-Object": "True", "Etag": "\"\(expected)\""])
        }
        try client(transport).putStaticLargeObject(container: "c", object: "a", segments: segments)
        XCTAssertEqual(transport.requests.map(\.method), [.put, .put, .head], "retried, then asked")
    }

    func testLostManifestAnswerThatSwiftDoesNotShowYetStaysUnknown() {
        // It may still land: its segments must not be deleted on the strength of a 404.
        let calls = Counter()
        let transport = ScriptedTransport { request in
            guard request.method == .head else {
                if calls.next() == 1 { throw ScriptedTransport.lost }
                return ScriptedTransport.response(400, body: "Errors: segment changed")
            }
            XCTAssertTrue(request.headers.contains { $0.name == "X-Newest" }, "asks every replica")
            return ScriptedTransport.response(404)
        }
        XCTAssertThrowsError(try client(transport).putStaticLargeObject(container: "c", object: "a", segments: segments)) {
            guard case SwiftError.outcomeUnknown = $0 else { return XCTFail("\($0)") }
        }
    }

    func testManifestRefusedWithoutALostAnswerIsACertainFailure() {
        let transport = ScriptedTransport { _ in ScriptedTransport.response(503) }
        XCTAssertThrowsError(try client(transport).putStaticLargeObject(container: "c", object: "a", segments: segments)) {
            guard case SwiftError.unavailable = $0 else { return XCTFail("\($0)") }
        }
    }

    func testHeartbeatWithoutAFinalStatusIsALostAnswer() {
        let transport = ScriptedTransport { request in
            if request.method == .head { return ScriptedTransport.response(404) }
            return .init(status: 202, headers: HTTPHeaders(), body: Array("  ".utf8))
        }
        XCTAssertThrowsError(try client(transport).putStaticLargeObject(container: "c", object: "a", segments: segments)) {
            guard case SwiftError.outcomeUnknown = $0 else { return XCTFail("\($0)") }
        }
    }

    func testLostManifestAnswerWithSwiftUnreachableIsOutcomeUnknown() {
        let transport = ScriptedTransport { _ in throw ScriptedTransport.lost }
        XCTAssertThrowsError(try client(transport).putStaticLargeObject(container: "c", object: "a", segments: segments)) {
            guard case SwiftError.outcomeUnknown = $0 else { return XCTFail("\($0)") }
        }
    }

    func testRangedGetRefusesBytesOtherThanTheRange() throws {
        let body = String(repeating: "x", count: 100)
        let answers: [HTTPResponse] = [
            ScriptedTransport.response(200, ["Content-Length": "100"], body: body),
            ScriptedTransport.response(206, ["Content-Range": "bytes 0-9/100"], body: "0123456789"),
            ScriptedTransport.response(206, ["Content-Range": "bytes 10-19/100"], body: "abcdefghij"),
        ]
        let calls = Counter()
        let swift = client(ScriptedTransport { _ in answers[calls.next() - 1] })
        XCTAssertThrowsError(try swift.get(container: "c", object: "o", range: 10..<20, ifMatch: nil), "a whole body for a range")
        let sink = ByteSink()
        XCTAssertThrowsError(try swift.get(container: "c", object: "o", range: 10..<20, ifMatch: nil, into: sink), "another range")
        XCTAssertEqual(sink.bytes, [], "the wrong bytes do not stay in the sink")
        XCTAssertEqual(try swift.get(container: "c", object: "o", range: 10..<20, ifMatch: nil), Array("abcdefghij".utf8))
    }

    func testCutShortAnswerOfTheWrongRangeLeavesNoBytesToResumeFrom() {
        let swift = client(ScriptedTransport { request in
            request.responseSink?.bytes += Array("wrong".utf8)
            var headers = HTTPHeaders()
            headers["content-length"] = "100"
            throw HTTPTransportError(code: 56, message: "reset", partialBody: [], status: 200, headers: headers)
        })
        let sink = ByteSink()
        XCTAssertThrowsError(try swift.get(container: "c", object: "o", range: 10..<20, ifMatch: nil, into: sink, policy: .once)) {
            guard case SwiftError.protocolError = $0 else { return XCTFail("\($0)") }
        }
        XCTAssertEqual(sink.bytes, [])
    }

    /// An object of 10 bytes served 3 bytes per connection before a reset: each retry asks for the
    /// first byte not yet received, and the backoff runs on the client's clock, not the wall's.
    func testGetWholeResumesACutShortAnswerAtTheByteReachedOnTheClientsClock() throws {
        let object = Array("0123456789".utf8)
        let transport = ScriptedTransport { request in
            let range = request.headers.first { $0.name == "Range" }!.value.dropFirst("bytes=".count).split(separator: "-").map { Int($0)! }
            let part = Array(object[range[0]...min(range[1], range[0] + 2)])
            request.responseSink?.bytes += part
            var headers = HTTPHeaders()
            headers["content-range"] = "bytes \(range[0])-\(range[1])/10"
            if range[0] + part.count <= range[1] {
                throw HTTPTransportError(code: 56, message: "reset", partialBody: [], status: 206, headers: headers)
            }
            return HTTPResponse(status: 206, headers: headers, body: [])
        }
        let swift = client(transport)
        let started = Date(), clockBefore = auth.clock.now()
        XCTAssertEqual(try swift.getWhole(container: "c", object: "o", range: 1..<10, ifMatch: "e", retries: 5), Array(object[1...]))
        XCTAssertEqual(transport.requests.compactMap { $0.headers.first { $0.name == "Range" }?.value },
                       ["bytes=1-9", "bytes=4-9", "bytes=7-9"])
        XCTAssertGreaterThan(auth.clock.now().timeIntervalSince(clockBefore), 0.9, "two backoffs on the client's clock")
        XCTAssertLessThan(Date().timeIntervalSince(started), 0.5, "and none on the wall clock")

        XCTAssertThrowsError(try swift.getWhole(container: "c", object: "o", range: 0..<10, ifMatch: "e", retries: 2)) {
            guard case SwiftError.unavailable = $0 else { return XCTFail("out of retries: \($0)") }
        }
    }

    func testListingsUseTheClustersPageSize() throws {
        let transport = ScriptedTransport { request in
            if request.url.hasSuffix("/info") {
                return ScriptedTransport.response(200, body: #"{"swift": {"container_listing_limit": 2}}"#)
            }
            let marker = request.url.components(separatedBy: "marker=").dropFirst().first ?? ""
            let names = ["a", "b", "c", "d", "e"].filter { $0 > marker }.prefix(2)
            return ScriptedTransport.response(200, body: "[" + names.map { #"{"name": "\#($0)", "bytes": 1}"# }.joined(separator: ",") + "]")
        }
        let swift = client(transport)
        _ = try swift.clusterInfo()
        XCTAssertEqual(try swift.listAll(container: "c", delimiter: nil).count, 5)
        let listings = transport.requests.filter { $0.url.contains("format=json") }
        XCTAssertEqual(listings.count, 3)
        XCTAssertTrue(listings.allSatisfy { $0.url.contains("limit=2") }, "\(listings.map(\.url))")
    }
}

/// Counts calls across threads; `next()` returns 1 for the first.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}

import Foundation
import Logging
import Synchronization

/// The OpenStack Swift object API over an HTTP transport, authenticated by a ConnectionManager.
///
/// Every call gets its session from the ConnectionManager (which re-authenticates when the token
/// is about to expire), re-authenticates once more and re-sends on an authentication failure, and
/// retries transient failures (connection errors, 5xx, 408, 429) with backoff.
public final class SwiftClient: Sendable {
    public struct RetryPolicy: Sendable {
        /// Attempts for transient failures, the first included.
        public var attempts: Int
        public var backoff: Backoff

        /// A connection failure is thrown as the transport's error (with its partial body), for a
        /// caller inside this client that resumes or judges it on its own; any other caller gets
        /// SwiftError, so the filesystem never sees a transport error.
        var handsBackTransportErrors = false

        public init(attempts: Int = 5, backoff: Backoff = Backoff()) {
            self.attempts = attempts
            self.backoff = backoff
        }

        static let once: RetryPolicy = {
            var policy = RetryPolicy(attempts: 1)
            policy.handsBackTransportErrors = true
            return policy
        }()
        /// For a caller with an answer to fall back on (attributes known a moment ago): one quick
        /// retry, not the whole backoff cycle.
        public static let quick = RetryPolicy(attempts: 2, backoff: Backoff(base: 0.2, cap: 0.2))
    }

    public let connection: ConnectionManager
    public let counters = RequestCounters()
    /// Entries per listing page: the cluster's `container_listing_limit` once `/info` was read
    /// (a larger `limit` is refused with 412).
    let pageLimit = Mutex(10_000)
    public var listingLimit: Int { pageLimit.withLock { $0 } }
    let transport: any HTTPTransport
    let retry: RetryPolicy
    /// The time requests are retried and timed by; the mount stamps its ctimes by it too.
    public let clock: any WallClock
    let logger: Logger
    /// Re-auths allowed within one call: a token rejected right after a refresh means the
    /// credentials or the clock are wrong, and looping would not help.
    private let maxAuthRetries = 3

    public init(connection: ConnectionManager, transport: any HTTPTransport, retry: RetryPolicy = RetryPolicy(),
                clock: any WallClock = SystemClock(), logger: Logger = Logger(label: "swiftmount.swift")) {
        self.connection = connection
        self.transport = transport
        self.retry = retry
        self.clock = clock
        self.logger = logger
    }

    // MARK: - Requests

    /// A request relative to the storage URL: container and object are percent-encoded here.
    public struct Call: Sendable {
        public var method: HTTPMethod
        public var container: String?
        public var object: String?
        public var query: [(String, String)] = []
        public var headers: [(name: String, value: String)] = []
        public var body: [UInt8] = []
        /// File data sent as the body instead of `body`.
        public var bodyFile: FileRegion?
        public var expectedResponseBytes = 0
        public var responseSink: ByteSink?
        /// Statuses handed back to the caller instead of being turned into errors.
        public var passStatuses: Set<Int> = []
        /// A static large object PUT with `heartbeat=on`: Swift answers 202 at once, keeps the
        /// connection alive while it checks the segments, and reports the real status in the body.
        public var heartbeat = false

        public init(_ method: HTTPMethod, container: String? = nil, object: String? = nil) {
            self.method = method
            self.container = container
            self.object = object
        }

        var displayPath: String {
            [container, object].compactMap { $0 }.joined(separator: "/")
        }

        func url(base: String) -> String {
            var url = base
            if let container { url += "/" + PathEncoding.encode(container, keepSlash: false) }
            if let object { url += "/" + PathEncoding.encode(object, keepSlash: true) }
            if !query.isEmpty { url += "?" + PathEncoding.query(query) }
            return url
        }
    }

    /// Sends `call`, handling auth and transient failures. `policy` overrides the client's retry
    /// policy (`getWhole` and `putManifest`, which judge a lost answer themselves, ask for `.once`).
    public func send(_ call: Call, policy: RetryPolicy? = nil) throws -> HTTPResponse {
        let policy = policy ?? retry
        var session = try authSession()
        var authRetries = 0
        var attempt = 0
        while true {
            var request = HTTPRequest(method: call.method, url: call.url(base: session.storageURL),
                                      headers: call.headers + [("X-Auth-Token", session.token.reveal)],
                                      body: call.body, expectedResponseBytes: call.expectedResponseBytes)
            request.responseSink = call.responseSink
            request.bodyFile = call.bodyFile
            if call.method == .get || call.method == .head { request.headers.append(("Accept-Encoding", "identity")) }
            let outcome: Result<HTTPResponse, HTTPTransportError>
            let sunk = call.responseSink?.bytes.count ?? 0
            let started = clock.now()
            do {
                let response = try transport.perform(request)
                if call.heartbeat, let final = Self.heartbeatOutcome(response) { outcome = final } else { outcome = .success(response) }
            } catch let e as HTTPTransportError { outcome = .failure(e) }
            let received = (call.responseSink?.bytes.count ?? 0) - sunk
            switch outcome {
            case .success(let response):
                counters.record(status: response.status, up: request.bodyCount, down: response.body.count + received)
            case .failure:
                counters.record(status: nil, up: 0, down: received)
            }
            // A request trace without headers (the token never reaches the log), formatted only
            // when trace logging is on.
            let finished = clock.now()
            logger.trace("\(Self.trace(call, outcome, sent: request.bodyCount, received: received, seconds: finished.timeIntervalSince(started)))")

            switch outcome {
            case .success(let response) where call.passStatuses.contains(response.status):
                return response
            case .success(let response) where Self.isAuthFailure(response):
                authRetries += 1
                guard authRetries <= maxAuthRetries else {
                    throw SwiftError.auth(.rejected("\(call.method.rawValue) \(call.displayPath): token refused \(authRetries) times in a row"))
                }
                logger.info("\(call.method.rawValue) \(call.displayPath): token refused (\(response.status)); re-authenticating")
                counters.reauthenticated()
                session = try authRefresh(after: session)
                continue
            case .success(let response) where response.isSuccess:
                return response
            case .success(let response) where Self.isTransient(response.status):
                attempt += 1
                guard attempt < policy.attempts else {
                    throw SwiftError.unavailable("\(call.method.rawValue) \(call.displayPath): \(response.status) after \(attempt) attempts")
                }
                logger.notice("\(call.method.rawValue) \(call.displayPath): \(response.status); retry \(attempt)")
            case .success(let response):
                throw Self.error(for: response, call: call)
            case .failure(let error):
                attempt += 1
                guard attempt < policy.attempts else {
                    // A caller that retries on its own gets the partial body to resume after.
                    if policy.handsBackTransportErrors { throw error }
                    throw SwiftError.unavailable("\(call.method.rawValue) \(call.displayPath): \(error.message)")
                }
                logger.notice("\(call.method.rawValue) \(call.displayPath): \(error.message); retry \(attempt)")
            }
            counters.retried()
            clock.sleep(seconds: policy.backoff.delay(afterAttempt: attempt - 1))
            // The ConnectionManager check before every retry: a long backoff may outlive the token.
            session = try authSession()
        }
    }

    private static func trace(_ call: Call, _ outcome: Result<HTTPResponse, HTTPTransportError>, sent: Int, received: Int,
                              seconds: Double) -> String {
        let query = call.query.isEmpty ? "" : "?" + PathEncoding.query(call.query)
        let result: String
        switch outcome {
        case .success(let response): result = "\(response.status), \(sent) up, \(response.body.count + received) down"
        case .failure(let error): result = error.message
        }
        return "\(call.method.rawValue) \(call.displayPath)\(query) → \(result), \(Int(seconds * 1000)) ms"
    }

    private func authSession() throws -> StorageSession {
        do { return try connection.current() } catch let error as AuthError { throw SwiftError.auth(error) }
    }

    private func authRefresh(after session: StorageSession) throws -> StorageSession {
        do { return try connection.refresh(after: session) } catch let error as AuthError { throw SwiftError.auth(error) }
    }

    /// The status a heartbeat answer reports in its body (`{"Response Status": "201 Created",
    /// "Etag": ..., "Errors": [[path, reason], ...]}`), as if Swift had answered it directly; a
    /// 202 without a readable final status is an answer lost on the way. Nil: not a heartbeat
    /// answer (auth failures and the like come straight).
    static func heartbeatOutcome(_ response: HTTPResponse) -> Result<HTTPResponse, HTTPTransportError>? {
        guard response.status == 202 else { return nil }
        guard let report = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any],
              let status = (report["Response Status"] as? String).flatMap({ Int($0.prefix(3)) }) else {
            return .failure(HTTPTransportError(code: -1, message: "heartbeat answer without a final status", partialBody: []))
        }
        var headers = HTTPHeaders()
        headers["etag"] = report["Etag"] as? String
        let errors = (report["Errors"] as? [[Any]] ?? []).map { $0.map { "\($0)" }.joined(separator: ", ") }
        let body = ((report["Response Body"] as? String ?? "") + "\nErrors: " + errors.joined(separator: "; "))
        return .success(HTTPResponse(status: status, headers: headers, body: Array(body.utf8)))
    }

    /// 401, and the slo middleware's 400 whose body lists the segments' 401s (a manifest PUT with
    /// an expired token on a Keystone proxy).
    static func isAuthFailure(_ response: HTTPResponse) -> Bool {
        if response.status == 401 { return true }
        return response.status == 400 && response.bodyText.contains("401 Unauthorized")
    }

    /// Worth re-sending: server trouble, throttling, and 422 (the body Swift received does not match
    /// the ETag sent with it: damaged on the way).
    static func isTransient(_ status: Int) -> Bool {
        status >= 500 && status != 507 || status == 408 || status == 429 || status == 498 || status == 422
    }

    static func error(for response: HTTPResponse, call: Call) -> SwiftError {
        let what = "\(call.method.rawValue) \(call.displayPath)"
        let detail = response.bodyText.prefix(300).trimmingCharacters(in: .whitespacesAndNewlines)
        switch response.status {
        case 404: return .notFound(call.displayPath)
        case 412: return .changed(call.displayPath)
        case 409: return .conflict("\(what): \(detail)")
        case 413 where detail.lowercased().contains("quota"): return .quota("\(what): \(detail)")
        case 507: return .noSpace("\(what): \(detail)")
        case 403: return .auth(.rejected("\(what): 403 \(detail)"))
        default: return .rejected(status: response.status, "\(what): \(detail)")
        }
    }

    // MARK: - Containers

    public func containerExists(_ container: String) throws -> Bool {
        var call = Call(.head, container: container)
        call.passStatuses = [404]
        return try send(call).status != 404
    }

    public func createContainer(_ container: String) throws {
        _ = try send(Call(.put, container: container))
    }

    public func deleteContainer(_ container: String) throws {
        var call = Call(.delete, container: container)
        call.passStatuses = [404]
        _ = try send(call)
    }

    /// One page of a listing.
    public func list(container: String, prefix: String = "", delimiter: String? = "/", marker: String = "",
                     limit: Int? = nil, policy: RetryPolicy? = nil) throws -> [ListingEntry] {
        var call = Call(.get, container: container)
        call.query = [("format", "json"), ("limit", String(min(limit ?? listingLimit, listingLimit)))]
        if !prefix.isEmpty { call.query.append(("prefix", prefix)) }
        if let delimiter { call.query.append(("delimiter", delimiter)) }
        if !marker.isEmpty { call.query.append(("marker", marker)) }
        let response = try send(call, policy: policy)
        do {
            return try JSONDecoder().decode([ListingRecord].self, from: Data(response.body)).compactMap(\.entry)
        } catch {
            throw SwiftError.protocolError("listing of \(container): \(error)")
        }
    }

    /// Every entry under `prefix`, following `marker` across pages of the cluster's
    /// `container_listing_limit`: a shorter page is the last one.
    public func listAll(container: String, prefix: String = "", delimiter: String? = "/",
                        policy: RetryPolicy? = nil) throws -> [ListingEntry] {
        var all: [ListingEntry] = []
        var marker = ""
        let pageSize = listingLimit
        while true {
            let page = try list(container: container, prefix: prefix, delimiter: delimiter, marker: marker, limit: pageSize,
                                policy: policy)
            all += page
            guard let last = page.last, page.count >= pageSize else { return all }
            marker = last.name
        }
    }

    // MARK: - Objects

    /// A symlink answers for itself (`symlink=get`), not for its target. `newest` asks every
    /// replica (`X-Newest`), for an object whose name was written more than once.
    public func head(container: String, object: String, newest: Bool = false, policy: RetryPolicy? = nil) throws -> ObjectInfo? {
        var call = Call(.head, container: container, object: object)
        call.query = [("symlink", "get")]
        if newest { call.headers = [("X-Newest", "true")] }
        call.passStatuses = [404]
        let response = try send(call, policy: policy)
        return response.status == 404 ? nil : ObjectInfo(headers: response.headers)
    }

    /// Bytes `range` of an object, pinned to `etag` when given (a changed object fails with
    /// `.changed` instead of mixing versions). With `sink`, the bytes are appended there (also
    /// those received before a failure) and the returned array is empty.
    @discardableResult
    public func get(container: String, object: String, range: Range<Int>, ifMatch etag: String?,
                    into sink: ByteSink? = nil, policy: RetryPolicy? = nil) throws -> [UInt8] {
        var call = Call(.get, container: container, object: object)
        call.headers = [("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")]
        if let etag, !etag.isEmpty { call.headers.append(("If-Match", "\"\(etag)\"")) }
        call.expectedResponseBytes = range.count
        call.responseSink = sink
        call.passStatuses = [416, 409]
        let before = sink?.bytes.count ?? 0
        /// Not the bytes asked for (a server ignoring Range would hand out the wrong ones): they
        /// leave the sink, so a resume never builds on them.
        func refuse(_ status: Int, _ headers: HTTPHeaders) -> SwiftError {
            if let sink, sink.bytes.count > before { sink.bytes.removeLast(sink.bytes.count - before) }
            return .protocolError("GET \(container)/\(object) bytes \(range.lowerBound)-: answered \(status) with Content-Range \(headers["content-range"] ?? "none")")
        }
        let response: HTTPResponse
        do {
            response = try send(call, policy: policy)
        } catch let cut as HTTPTransportError where cut.status != 0 && !isRange(cut.status, cut.headers, range) {
            throw refuse(cut.status, cut.headers)
        }
        switch response.status {
        case 416: return []
        case 409:
            // A large object whose segments are gone: broken data, not a busy file.
            throw SwiftError.rejected(status: 409, "GET \(container)/\(object): \(response.bodyText.prefix(200))")
        case _ where isRange(response.status, response.headers, range):
            return response.body
        default:
            throw refuse(response.status, response.headers)
        }
    }

    /// All of bytes `range` of the object version `etag`, or an error: never a short answer. A
    /// GET cut short is resumed at the first byte not yet received, up to `retries` times in all;
    /// each retry waits out the backoff on the client's clock and goes through the
    /// ConnectionManager's expiry check (in `send`). `buffer` is storage to reuse for the bytes.
    public func getWhole(container: String, object: String, range: Range<Int>, ifMatch etag: String, retries: Int,
                         reusing buffer: consuming [UInt8] = []) throws -> [UInt8] {
        let sink = ByteSink(reusing: buffer)
        var failures = 0
        while sink.bytes.count < range.count {
            let rest = (range.lowerBound + sink.bytes.count)..<range.upperBound
            let before = sink.bytes.count
            let why: String
            do {
                try get(container: container, object: object, range: rest, ifMatch: etag, into: sink, policy: .once)
                if sink.bytes.count == before {
                    throw SwiftError.protocolError("\(container)/\(object): object ended at \(rest.lowerBound), expected \(range.upperBound) bytes")
                }
                continue
            } catch let error as HTTPTransportError {
                why = "GET \(container)/\(object) bytes \(rest.lowerBound)-: \(error.message)"
            } catch SwiftError.unavailable(let message) {
                why = message
            }
            failures += 1
            guard failures <= retries else { throw SwiftError.unavailable("\(why) after \(failures) attempts") }
            logger.notice("\(why); retry \(failures) of \(retries)")
            counters.retried()
            clock.sleep(seconds: Self.getBackoff.delay(afterAttempt: failures - 1))
        }
        if sink.bytes.count > range.count { sink.bytes.removeLast(sink.bytes.count - range.count) }
        return sink.take()
    }

    private static let getBackoff = Backoff(base: 0.5, cap: 8)

    /// Whether an answer carries the bytes of `range`: a 206 starting there, or a 200 when the
    /// range starts at 0 and the whole object fits in it.
    private func isRange(_ status: Int, _ headers: HTTPHeaders, _ range: Range<Int>) -> Bool {
        switch status {
        case 206: Self.contentRangeStart(headers["content-range"]) == range.lowerBound
        case 200: range.lowerBound == 0 && (Int(headers["content-length"] ?? "") ?? Int.max) <= range.count
        default: !(200..<300).contains(status)  // errors are handled as errors
        }
    }

    /// The first byte of a `Content-Range: bytes FIRST-LAST/SIZE` answer.
    static func contentRangeStart(_ header: String?) -> Int? {
        guard let header, header.hasPrefix("bytes ") else { return nil }
        return Int(header.dropFirst(6).prefix { $0 != "-" })
    }

    /// PUTs a whole object and returns the ETag Swift computed.
    @discardableResult
    public func put(container: String, object: String, body: [UInt8], headers: [(name: String, value: String)] = []) throws -> String {
        var call = Call(.put, container: container, object: object)
        call.body = body
        return try put(call, headers: headers)
    }

    /// PUTs an object whose bytes wait in a local file (nil: empty); every retry reads them again
    /// from there.
    @discardableResult
    public func put(container: String, object: String, file: FileRegion?, headers: [(name: String, value: String)] = []) throws -> String {
        var call = Call(.put, container: container, object: object)
        call.bodyFile = file
        return try put(call, headers: headers)
    }

    private func put(_ prepared: Call, headers: [(name: String, value: String)]) throws -> String {
        var call = prepared
        call.headers = headers
        let response = try send(call)
        return (response.headers["etag"] ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    /// Deletes an object; for a static large object, its segments too. Returns false if it was not there.
    @discardableResult
    public func delete(container: String, object: String, staticLargeObject: Bool = false) throws -> Bool {
        var call = Call(.delete, container: container, object: object)
        if staticLargeObject { call.query = [("multipart-manifest", "delete")] }
        call.passStatuses = [404]
        return try send(call).status != 404
    }
}

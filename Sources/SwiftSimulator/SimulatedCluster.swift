import Foundation
import Synchronization
import SwiftStorage

/// An OpenStack Swift 2.30 cluster with Keystone v3 and tempauth, in process, behind the
/// `HTTPTransport` the client uses: for the reference-model suite and fast unit tests. What it
/// answers is checked against the real dev stack by the conformance test; where it is unsure it
/// errs on Swift's strict side.
///
/// Addresses: Keystone at `http://swift.sim/v3`, tempauth at `http://swift.sim/auth/v1.0`, the
/// object store at `http://swift.sim/v1/AUTH_<project id>`, `/info` at the root.
public final class SimulatedCluster: HTTPTransport {
    public static let base = "http://swift.sim"
    public static var authURL: String { base + "/v3" }

    public struct Settings: Sendable {
        public var tokenLifetime: Double = 3600
        public var maxManifestSegments = 1000
        public var minSegmentSize = 1
        public var maxFileSize = 5 * (1 << 30) + 2
        public var containerListingLimit = 10_000
        public var maxObjectNameLength = 1024
        public var bulkDeleteLimit = 10_000
        public var symlinks = true

        public init() {}
    }

    public let clock: SimulatedClock
    let settings: Settings
    let state: Mutex<ClusterState>

    public init(clock: SimulatedClock = SimulatedClock(), settings: Settings = Settings()) {
        self.clock = clock
        self.settings = settings
        state = Mutex(ClusterState(settings: settings))
    }

    // MARK: - Users and faults

    /// A Keystone user with a project of the same name and the `member` role; returns the
    /// variables a client would be given (OS_AUTH_URL, OS_USERNAME, ...).
    @discardableResult
    public func addUser(_ name: String, password: String = "secret") -> [String: String] {
        state.withLock { $0.keystone.addUser(name, password: password) }
        return ["OS_AUTH_URL": Self.authURL, "OS_USERNAME": name, "OS_PASSWORD": password, "OS_PROJECT_NAME": name,
                "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default"]
    }

    /// The storage URL of `user`'s project.
    public func storageURL(of user: String) -> String {
        Self.base + "/v1/AUTH_" + state.withLock { $0.keystone.projectID(of: user) ?? user }
    }

    /// Keystone refuses connections while this is set (tokens already issued keep working).
    public func setKeystoneDown(_ down: Bool) { state.withLock { $0.keystoneDown = down } }

    /// Every token issued so far is refused from now on.
    public func revokeAllTokens() { state.withLock { $0.keystone.revokeAll() } }

    /// The next `times` requests matching `when` meet `fault` instead of (or, for
    /// `storedButLost`, after) their normal answer.
    public func inject(_ fault: Fault, times: Int = 1, when: @escaping @Sendable (SimRequest) -> Bool) {
        state.withLock { $0.faults.append(PlannedFault(fault: fault, remaining: times, matches: when)) }
    }

    /// Drops the planned faults; returns how many were never met.
    @discardableResult
    public func clearFaults() -> Int {
        state.withLock { state in
            defer { state.faults.removeAll() }
            return state.faults.count
        }
    }

    /// Requests answered so far (method and path), for tests that count requests.
    public var requestLog: [String] { state.withLock { $0.log } }

    // MARK: - Direct access for invariants (bypassing auth)

    /// Every object of every container of `user`'s account: container → names.
    public func objects(of user: String) -> [String: [String]] {
        state.withLock { state in
            guard let id = state.keystone.projectID(of: user), let account = state.accounts["AUTH_" + id] else { return [:] }
            return account.containers.mapValues { $0.objects.keys.sorted(by: utf8Less) }
        }
    }

    /// The segments (container, name, etag, bytes) a static manifest lists, or nil.
    public func manifestSegments(of user: String, container: String, object: String) -> [(ref: ObjectRef, etag: String, bytes: Int)]? {
        state.withLock { state in
            guard let id = state.keystone.projectID(of: user),
                  case .slo(let segments)? = state.accounts["AUTH_" + id]?.containers[container]?.objects[object]?.kind else { return nil }
            return segments.map { (ObjectRef(container: $0.container, name: $0.name), $0.etag, $0.bytes) }
        }
    }

    /// An object's stored ETag, or nil if it is not there.
    public func etag(of user: String, container: String, object: String) -> String? {
        state.withLock { state in
            guard let id = state.keystone.projectID(of: user) else { return nil }
            return state.accounts["AUTH_" + id]?.containers[container]?.objects[object]?.etag
        }
    }

    // MARK: - HTTPTransport

    public func perform(_ request: HTTPRequest) throws -> HTTPResponse {
        var request = request
        if let file = request.bodyFile {
            // Read as libcurl reads it: a file that cannot be read stops the transfer.
            do { request.body = try file.bytes() } catch {
                throw HTTPTransportError(code: 42, message: "\(error)", partialBody: [])
            }
            request.bodyFile = nil
        }
        let parsed = SimRequest(request)
        var outcome = state.withLock { $0.answer(parsed, now: clock.now()) }
        if let fault = outcome.fault, case .delay(let seconds) = fault { clock.advance(seconds) }
        switch outcome.fault {
        case .reset(let bytes)?:
            // The answer starts, then the connection breaks: a body goes where the caller wants it.
            let partial = Array(outcome.response.body.prefix(bytes))
            if outcome.response.isSuccess { request.responseSink?.bytes += partial }
            throw HTTPTransportError(code: 56, message: "Recv failure: Connection reset by peer (simulated)",
                                     partialBody: request.responseSink == nil ? partial : [],
                                     status: outcome.response.status, headers: outcome.response.headers)
        case .storedButLost?:
            throw HTTPTransportError(code: 52, message: "Empty reply from server (simulated)", partialBody: [])
        case .refused?:
            throw HTTPTransportError(code: 7, message: "Failed to connect (simulated)", partialBody: [])
        default:
            break
        }
        if request.method == .head { outcome.response.body = [] }
        if outcome.response.isSuccess, let sink = request.responseSink {
            sink.bytes += outcome.response.body
            outcome.response.body = []
        }
        return outcome.response
    }
}

/// What a planned fault does to the request it meets.
public enum Fault: Sendable {
    /// Answered with this status (and body) instead; nothing is done.
    case status(Int, body: String = "")
    /// The answer is cut after this many body bytes (a PUT is not stored).
    case reset(afterBytes: Int)
    /// The request takes effect, but its answer never arrives.
    case storedButLost
    /// The connection is refused; nothing is done.
    case refused
    /// The answer comes after this many seconds of the simulated clock.
    case delay(Double)
}

struct PlannedFault {
    var fault: Fault
    var remaining: Int
    var matches: @Sendable (SimRequest) -> Bool
}

/// A request as the simulator reads it: path parts decoded, query and headers looked up easily.
public struct SimRequest: Sendable {
    public var method: HTTPMethod
    /// Decoded path segments after the host: ["v1", "AUTH_x", container, object...] joined back
    /// for the object part.
    public var path: String
    public var account: String?
    public var container: String?
    public var object: String?
    public var query: [String: String]
    public var headers: [String: String]
    public var body: [UInt8]

    init(_ request: HTTPRequest) {
        method = request.method
        var rest = Substring(request.url)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        rest = rest.drop { $0 != "/" }
        var rawQuery = ""
        if let q = rest.firstIndex(of: "?") {
            rawQuery = String(rest[rest.index(after: q)...])
            rest = rest[..<q]
        }
        path = String(rest)
        query = [:]
        for item in rawQuery.split(separator: "&") {
            let kv = item.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
            query[kv[0]] = kv.count > 1 ? kv[1] : ""
        }
        var headers: [String: String] = [:]
        for (name, value) in request.headers where !value.isEmpty { headers[name.lowercased()] = value }
        self.headers = headers
        body = request.body
        let parts = path.split(separator: "/", maxSplits: 4, omittingEmptySubsequences: false).dropFirst()
        if parts.first == "v1", parts.count >= 2 {
            let items = Array(parts)
            account = items[1].removingPercentEncoding
            if items.count >= 3, !items[2].isEmpty { container = items[2].removingPercentEncoding }
            if items.count >= 4, !items[3].isEmpty { object = items[3].removingPercentEncoding }
        }
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// Swift sorts names by their UTF-8 bytes.
func utf8Less(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}

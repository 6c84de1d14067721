import Foundation
import SwiftStorage

/// Keystone v3 (password, application credential, token and trust-scoped tokens, trusts) and
/// tempauth, as far as swiftmount uses them. Tokens live `tokenLifetime` seconds of the
/// simulated clock, `issued_at` cut to the second as Keystone does.
struct SimulatedKeystone {
    struct User {
        var id: String
        var name: String
        var password: String
        var projectID: String
    }

    struct Token {
        var userID: String
        var projectID: String
        var issued: Date
        var expires: Date
        var trustID: String?
        var revoked = false
    }

    struct Trust {
        var id: String
        var trustorID: String
        var trusteeID: String
        var projectID: String
        var expires: Date?
        var impersonation: Bool
    }

    var users: [String: User] = [:]
    var tokens: [String: Token] = [:]
    var trusts: [String: Trust] = [:]
    var lifetime: Double
    private var counter = 0

    init(lifetime: Double) {
        self.lifetime = lifetime
    }

    mutating func nextID(_ kind: String) -> String {
        counter += 1
        return String(format: "%@%028x", kind, counter)
    }

    mutating func addUser(_ name: String, password: String) {
        let id = nextID("u")
        users[name] = User(id: id, name: name, password: password, projectID: nextID("p"))
        // tempauth's user of the same name reaches the same account.
    }

    func projectID(of name: String) -> String? { users[name]?.projectID }

    mutating func revokeAll() {
        for id in tokens.keys { tokens[id]?.revoked = true }
    }

    /// The project a token may use, or nil if Swift must refuse it (401).
    func validProject(_ token: String?, now: Date) -> String? {
        guard let token, let t = tokens[token], !t.revoked, t.expires > now else { return nil }
        if let trust = t.trustID.flatMap({ trusts[$0] }), let expires = trust.expires, expires <= now { return nil }
        if let trustID = t.trustID, trusts[trustID] == nil { return nil }
        return t.projectID
    }

    // MARK: - Requests

    mutating func answer(_ request: SimRequest, now: Date, storageBase: String) -> HTTPResponse {
        switch (request.method, request.path) {
        case (.post, "/v3/auth/tokens"): return issue(request, now: now, storageBase: storageBase)
        case (.get, "/v3/auth/tokens"): return validate(request, now: now, storageBase: storageBase)
        case (.post, "/v3/OS-TRUST/trusts"): return createTrust(request, now: now)
        case (.get, "/v3/OS-TRUST/trusts"): return listTrusts(request, now: now)
        case (.delete, _) where request.path.hasPrefix("/v3/OS-TRUST/trusts/"): return deleteTrust(request, now: now)
        case (.get, "/auth/v1.0"): return tempauth(request, now: now, storageBase: storageBase)
        default: return response(404, body: "Not Found")
        }
    }

    private func response(_ status: Int, headers: [String: String] = [:], body: String = "") -> HTTPResponse {
        var h = HTTPHeaders()
        for (k, v) in headers { h[k] = v }
        return HTTPResponse(status: status, headers: h, body: Array(body.utf8))
    }

    private func json(_ status: Int, _ object: Any, headers: [String: String] = [:]) -> HTTPResponse {
        var r = response(status, headers: headers)
        r.headers["content-type"] = "application/json"
        r.body = Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
        return r
    }

    private static func iso(_ date: Date) -> String { Timestamp.formatISO8601(date) }

    private func tokenBody(_ t: Token, storageBase: String) -> [String: Any] {
        let url = storageBase + "/v1/AUTH_" + t.projectID
        return ["token": [
            "issued_at": Self.iso(t.issued), "expires_at": Self.iso(t.expires),
            "user": ["id": t.userID], "project": ["id": t.projectID], "roles": [["name": "member"]],
            "catalog": [["type": "object-store", "endpoints": [
                ["interface": "public", "url": url, "region_id": "RegionOne", "region": "RegionOne"],
                ["interface": "internal", "url": url, "region_id": "RegionOne", "region": "RegionOne"],
            ]]],
        ] as [String: Any]]
    }

    private mutating func issue(_ request: SimRequest, now: Date, storageBase: String) -> HTTPResponse {
        guard let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any],
              let auth = body["auth"] as? [String: Any], let identity = auth["identity"] as? [String: Any] else {
            return response(400, body: "malformed")
        }
        var user: User?
        if let password = identity["password"] as? [String: Any], let u = password["user"] as? [String: Any] {
            let name = u["name"] as? String
            let id = u["id"] as? String
            user = users.values.first { ($0.name == name || $0.id == id) && $0.password == u["password"] as? String }
        } else if let token = (identity["token"] as? [String: Any])?["id"] as? String,
                  let t = tokens[token], !t.revoked, t.expires > now {
            user = users.values.first { $0.id == t.userID }
        }
        guard let user else { return response(401, body: "The request you have made requires authentication.") }
        var projectID = user.projectID
        var trustID: String?
        if let scope = auth["scope"] as? [String: Any], let trust = (scope["OS-TRUST:trust"] as? [String: Any])?["id"] as? String {
            guard let t = trusts[trust], t.trusteeID == user.id, t.expires.map({ $0 > now }) ?? true else {
                return response(403, body: "trust not usable")
            }
            projectID = t.projectID
            trustID = trust
        }
        let issued = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        var token = Token(userID: user.id, projectID: projectID, issued: issued, expires: issued.addingTimeInterval(lifetime))
        token.trustID = trustID
        if let trustID, let t = trusts[trustID], t.impersonation { token.userID = t.trustorID }
        let id = nextID("tok")
        tokens[id] = token
        return json(201, tokenBody(token, storageBase: storageBase), headers: ["X-Subject-Token": id])
    }

    private func validate(_ request: SimRequest, now: Date, storageBase: String) -> HTTPResponse {
        guard validProject(request.header("X-Auth-Token"), now: now) != nil else { return response(401) }
        guard let subject = request.header("X-Subject-Token"), let t = tokens[subject], !t.revoked, t.expires > now else {
            return response(404, body: "token not found")
        }
        return json(200, tokenBody(t, storageBase: storageBase))
    }

    private mutating func createTrust(_ request: SimRequest, now: Date) -> HTTPResponse {
        guard let caller = request.header("X-Auth-Token").flatMap({ tokens[$0] }), !caller.revoked, caller.expires > now else {
            return response(401)
        }
        guard let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any],
              let trust = body["trust"] as? [String: Any], let trustor = trust["trustor_user_id"] as? String,
              let trustee = trust["trustee_user_id"] as? String, trustor == caller.userID else {
            return response(403, body: "only the trustor may create a trust")
        }
        let id = nextID("tr")
        let expires = (trust["expires_at"] as? String).flatMap(Timestamp.parseISO8601)
        trusts[id] = Trust(id: id, trustorID: trustor, trusteeID: trustee, projectID: trust["project_id"] as? String ?? caller.projectID,
                           expires: expires, impersonation: trust["impersonation"] as? Bool ?? false)
        return json(201, ["trust": ["id": id]])
    }

    private func listTrusts(_ request: SimRequest, now: Date) -> HTTPResponse {
        guard let caller = request.header("X-Auth-Token").flatMap({ tokens[$0] }), !caller.revoked, caller.expires > now else {
            return response(401)
        }
        let trustee = request.query["trustee_user_id"]
        let listed = trusts.values.filter { trustee == nil || $0.trusteeID == trustee }.map { t -> [String: Any] in
            var item: [String: Any] = ["id": t.id, "trustor_user_id": t.trustorID, "trustee_user_id": t.trusteeID,
                                       "project_id": t.projectID, "impersonation": t.impersonation]
            item["expires_at"] = t.expires.map(Self.iso) ?? NSNull()
            return item
        }
        return json(200, ["trusts": listed])
    }

    private mutating func deleteTrust(_ request: SimRequest, now: Date) -> HTTPResponse {
        guard let caller = request.header("X-Auth-Token").flatMap({ tokens[$0] }), !caller.revoked, caller.expires > now else {
            return response(401)
        }
        let id = String(request.path.dropFirst("/v3/OS-TRUST/trusts/".count))
        guard let trust = trusts[id] else { return response(404) }
        guard caller.userID == trust.trustorID else { return response(403) }
        trusts[id] = nil
        return response(204)
    }

    /// tempauth: `X-Auth-User: NAME:NAME`, `X-Auth-Key: password`; the same token until it expires.
    private mutating func tempauth(_ request: SimRequest, now: Date, storageBase: String) -> HTTPResponse {
        let name = request.header("X-Auth-User")?.split(separator: ":").last.map(String.init) ?? ""
        guard let user = users[name], user.password == request.header("X-Auth-Key") else { return response(401) }
        let current = tokens.first { $0.value.userID == user.id && $0.value.trustID == nil && !$0.value.revoked && $0.value.expires > now }
        let id: String
        if let current { id = current.key } else {
            id = nextID("AUTH_tk")
            tokens[id] = Token(userID: user.id, projectID: user.projectID, issued: now, expires: now.addingTimeInterval(lifetime))
        }
        let remaining = Int(tokens[id]!.expires.timeIntervalSince(now))
        return response(200, headers: ["X-Auth-Token": id, "X-Storage-Url": storageBase + "/v1/AUTH_" + user.projectID,
                                       "X-Auth-Token-Expires": String(remaining)])
    }
}

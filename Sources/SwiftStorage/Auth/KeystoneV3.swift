import Foundation

/// Keystone identity v3: password, application credential, token and trust-scoped authentication.
public struct KeystoneV3Auth: Authenticator {
    public enum Identity: Sendable {
        case password(user: UserRef, password: Secret)
        case applicationCredential(id: String?, name: String?, user: UserRef?, secret: Secret)
        case token(Secret)
    }

    public struct UserRef: Sendable {
        public var id: String?
        public var name: String?
        public var domainID: String?
        public var domainName: String?

        public init(id: String? = nil, name: String? = nil, domainID: String? = nil, domainName: String? = nil) {
            self.id = id
            self.name = name
            self.domainID = domainID
            self.domainName = domainName
        }
    }

    public enum Scope: Sendable {
        case project(id: String?, name: String?, domainID: String?, domainName: String?)
        case trust(id: String)
        /// Application credentials carry their own scope.
        case implicit
    }

    public let authURL: String
    public let identity: Identity
    public let scope: Scope
    public let interface: String
    public let region: String?

    public init(authURL: String, identity: Identity, scope: Scope, interface: String = "public", region: String? = nil) {
        self.authURL = authURL.hasSuffix("/") ? String(authURL.dropLast()) : authURL
        self.identity = identity
        self.scope = scope
        self.interface = interface
        self.region = region
    }

    /// The auth URL with "/v3" added when the user gave the bare Keystone root.
    public var v3Base: String {
        authURL.hasSuffix("/v3") ? authURL : authURL + "/v3"
    }

    public var summary: String {
        let how = switch identity {
        case .password(let user, _): "keystone v3 password user=\(user.name ?? user.id ?? "?")"
        case .applicationCredential(let id, let name, _, _): "keystone v3 application credential \(name ?? id ?? "?")"
        case .token: "keystone v3 token"
        }
        if case .trust(let id) = scope { return how + " trust=\(id)" }
        return how
    }

    public var canReauthenticate: Bool {
        if case .token = identity { return false }
        return true
    }

    public func authenticate(using transport: HTTPTransport) throws -> AuthResult {
        let (token, info) = try issueToken(using: transport)
        let storageURL = try Self.objectStoreURL(in: info.catalog, interface: interface, region: region)
        return AuthResult(token: token, storageURL: storageURL, expiresAt: info.expiresAt, lifetime: info.lifetime)
    }

    /// POST /v3/auth/tokens: the token and what Keystone says about it.
    public func issueToken(using transport: HTTPTransport) throws -> (Secret, KeystoneTokenInfo) {
        let body = try JSONSerialization.data(withJSONObject: requestBody())
        let request = HTTPRequest(method: .post, url: v3Base + "/auth/tokens",
                                  headers: [("Content-Type", "application/json"), ("Accept", "application/json")],
                                  body: Array(body))
        let response = try transport.authRequest(request, service: "keystone")
        guard let token = response.headers["x-subject-token"] else {
            throw AuthError.invalidResponse("keystone answer lacks X-Subject-Token")
        }
        return (Secret(token), try KeystoneTokenInfo(json: response.body))
    }

    func requestBody() -> [String: Any] {
        var identityJSON: [String: Any]
        switch identity {
        case .password(let user, let password):
            var u = Self.userJSON(user)
            u["password"] = password.reveal
            identityJSON = ["methods": ["password"], "password": ["user": u]]
        case .applicationCredential(let id, let name, let user, let secret):
            var cred: [String: Any] = ["secret": secret.reveal]
            if let id { cred["id"] = id }
            if let name { cred["name"] = name }
            if let user { cred["user"] = Self.userJSON(user) }
            identityJSON = ["methods": ["application_credential"], "application_credential": cred]
        case .token(let token):
            identityJSON = ["methods": ["token"], "token": ["id": token.reveal]]
        }
        var auth: [String: Any] = ["identity": identityJSON]
        switch scope {
        case .project(let id, let name, let domainID, let domainName):
            var project: [String: Any] = [:]
            if let id { project["id"] = id }
            if let name {
                project["name"] = name
                project["domain"] = Self.domainJSON(id: domainID, name: domainName)
            }
            auth["scope"] = ["project": project]
        case .trust(let id):
            auth["scope"] = ["OS-TRUST:trust": ["id": id]]
        case .implicit:
            break
        }
        return ["auth": auth]
    }

    static func userJSON(_ user: UserRef) -> [String: Any] {
        var u: [String: Any] = [:]
        if let id = user.id { u["id"] = id }
        if let name = user.name {
            u["name"] = name
            u["domain"] = domainJSON(id: user.domainID, name: user.domainName)
        }
        return u
    }

    static func domainJSON(id: String?, name: String?) -> [String: String] {
        if let id { return ["id": id] }
        return ["name": name ?? "Default"]
    }

    static func objectStoreURL(in catalog: [KeystoneTokenInfo.CatalogEntry], interface: String, region: String?) throws -> String {
        guard let service = catalog.first(where: { $0.type == "object-store" }) else {
            throw AuthError.invalidResponse("the token's catalog has no object-store service")
        }
        let candidates = service.endpoints.filter { endpoint in
            endpoint.interface == interface && (region == nil || endpoint.region_id == region || endpoint.region == region)
        }
        guard let endpoint = candidates.first else {
            throw AuthError.invalidResponse("no object-store endpoint for interface \(interface)\(region.map { " in region \($0)" } ?? "")")
        }
        return endpoint.url
    }
}

/// The parts of a Keystone token body swiftmount uses.
public struct KeystoneTokenInfo: Sendable {
    public var userID: String
    public var projectID: String?
    public var roles: [String]
    public var expiresAt: Date?
    /// Keystone's clock when it issued the token (cut to the second).
    public var issuedAt: Date?
    var catalog: [CatalogEntry]

    /// The token's own lifetime (issued → expires, one second less for `issued_at` being cut to
    /// the second): counted from when it arrived, a skewed local clock neither re-authenticates
    /// before every request nor sends expired tokens.
    public var lifetime: Double? {
        guard let expiresAt, let issuedAt else { return nil }
        return expiresAt.timeIntervalSince(issuedAt) - 1
    }

    init(json: [UInt8]) throws {
        let parsed: Body
        do {
            parsed = try JSONDecoder().decode(Body.self, from: Data(json))
        } catch {
            throw AuthError.invalidResponse("keystone token body: \(error)")
        }
        userID = parsed.token.user.id
        projectID = parsed.token.project?.id
        roles = parsed.token.roles?.map(\.name) ?? []
        expiresAt = Timestamp.parseISO8601(parsed.token.expires_at)
        issuedAt = parsed.token.issued_at.flatMap(Timestamp.parseISO8601)
        catalog = parsed.token.catalog ?? []
    }

    struct Body: Decodable {
        struct Token: Decodable {
            struct Ref: Decodable { var id: String }
            struct Role: Decodable { var name: String }
            var expires_at: String
            var issued_at: String?
            var user: Ref
            var project: Ref?
            var roles: [Role]?
            var catalog: [CatalogEntry]?
        }
        var token: Token
    }

    struct CatalogEntry: Decodable, Sendable {
        struct Endpoint: Decodable, Sendable {
            var interface: String
            var url: String
            var region_id: String?
            var region: String?
        }
        var type: String
        var endpoints: [Endpoint]
    }
}

import Foundation

/// Swift's tempauth / swauth v1: GET the auth URL with user and key headers.
public struct TempAuthV1: Authenticator {
    public let authURL: String
    public let user: String
    public let key: Secret
    let clock: any WallClock

    public init(authURL: String, user: String, key: Secret, clock: any WallClock = SystemClock()) {
        self.authURL = authURL
        self.user = user
        self.key = key
        self.clock = clock
    }

    public var summary: String { "tempauth v1 user=\(user)" }
    public var canReauthenticate: Bool { true }

    public func authenticate(using transport: HTTPTransport) throws -> AuthResult {
        let request = HTTPRequest(method: .get, url: authURL,
                                  headers: [("X-Auth-User", user), ("X-Auth-Key", key.reveal)])
        let response = try transport.authRequest(request, service: "tempauth")
        guard let token = response.headers["x-auth-token"], let url = response.headers["x-storage-url"] else {
            throw AuthError.invalidResponse("tempauth answer lacks X-Auth-Token or X-Storage-Url")
        }
        let lifetime = response.headers["x-auth-token-expires"].flatMap(Double.init)
        return AuthResult(token: Secret(token), storageURL: url, expiresAt: lifetime.map { clock.now().addingTimeInterval($0) },
                          lifetime: lifetime)
    }
}

import Foundation

/// What an authentication yields: a token and where to use it.
public struct AuthResult: Sendable {
    public var token: Secret
    public var storageURL: String
    /// nil when the auth service does not say (the token is then used until rejected).
    public var expiresAt: Date?
    /// Seconds the token lives from now, when the service says so (Keystone's issued_at →
    /// expires_at, tempauth's X-Auth-Token-Expires): the ConnectionManager counts it on its own
    /// clock, so a skewed clock (or a test's) does not matter.
    public var lifetime: Double?

    public init(token: Secret, storageURL: String, expiresAt: Date?, lifetime: Double? = nil) {
        self.token = token
        self.storageURL = storageURL
        self.expiresAt = expiresAt
        self.lifetime = lifetime
    }
}

public enum AuthError: Error, Sendable, CustomStringConvertible {
    /// The credentials were refused: retrying cannot help.
    case rejected(String)
    /// The auth service could not be reached or failed: worth retrying.
    case unavailable(String)
    /// The answer made no sense (no token, no object-store endpoint, bad JSON).
    case invalidResponse(String)
    /// The token has expired and this mount has no credentials to get another (OS_AUTH_TYPE=token).
    case expired(String)

    public var description: String {
        switch self {
        case .rejected(let why): "authentication rejected: \(why)"
        case .unavailable(let why): "authentication service unavailable: \(why)"
        case .invalidResponse(let why): "authentication failed: \(why)"
        case .expired(let why): "token expired: \(why)"
        }
    }

    public var isTransient: Bool {
        if case .unavailable = self { return true }
        return false
    }
}

/// One way to obtain a token. Implementations make a single attempt; ConnectionManager retries.
public protocol Authenticator: Sendable {
    /// Short description for logs, with no secret in it ("keystone v3 password user=demo").
    var summary: String { get }
    /// Whether calling `authenticate` again yields a fresh token (false for a bare user token).
    var canReauthenticate: Bool { get }
    func authenticate(using transport: HTTPTransport) throws -> AuthResult
}

extension HTTPTransport {
    /// A request to an auth service: transport failures and 5xx are transient, 401/403 are not.
    func authRequest(_ request: HTTPRequest, service: String) throws -> HTTPResponse {
        let response: HTTPResponse
        do {
            response = try perform(request)
        } catch let error as HTTPTransportError {
            throw AuthError.unavailable("\(service): \(error.message)")
        }
        switch response.status {
        case 200..<300: return response
        case 401, 403: throw AuthError.rejected("\(service) answered \(response.status)")
        case 404, 400: throw AuthError.rejected("\(service) answered \(response.status): \(response.bodyText.prefix(200))")
        default: throw AuthError.unavailable("\(service) answered \(response.status)")
        }
    }
}

import Foundation
import Logging

/// Multi-tenant mounts: the mount is given a user's token and a service user's credentials. It
/// creates a Keystone v3 trust from the user (trustor) to the service user (trustee) with the
/// user's roles on the project, then re-authenticates as the service user with trust-scoped
/// tokens, which act as the user (impersonation) long after the user's own token has expired.
public struct TrustDelegation: Sendable {
    public let trustID: String
    public let trustorUserID: String
    public let projectID: String
    public let roles: [String]
    /// When Keystone stops honouring the trust (nil: never).
    public let expiresAt: Date?
    /// Service credentials scoped to the trust: what the ConnectionManager re-authenticates with.
    public let authenticator: KeystoneV3Auth

    /// Creates the trust. `lifetime` bounds it: a trust a crashed mount could not delete stops
    /// acting for the user by itself.
    public static func establish(userToken: Secret, service: KeystoneV3Auth, transport: any HTTPTransport,
                                 lifetime: Double?) throws -> TrustDelegation {
        let base = service.v3Base
        // 1. Who the user is, on which project, with which roles (a token may validate itself).
        let validation = try transport.authRequest(HTTPRequest(
            method: .get, url: base + "/auth/tokens",
            headers: [("X-Auth-Token", userToken.reveal), ("X-Subject-Token", userToken.reveal), ("Accept", "application/json")]),
            service: "keystone (user token)")
        let user = try KeystoneTokenInfo(json: validation.body)
        guard let projectID = user.projectID else {
            throw AuthError.invalidResponse("the user token is not scoped to a project")
        }
        // 2. The trustee: the service user's id.
        let (_, serviceInfo) = try service.issueToken(using: transport)
        // 3. The trust, created with the user's own token. Keystone's clock decides expiry: the
        //    lifetime counts from its idea of now (the token's issued_at), not ours.
        var trust: [String: Any] = [
            "trustor_user_id": user.userID, "trustee_user_id": serviceInfo.userID, "project_id": projectID,
            "impersonation": true, "roles": user.roles.map { ["name": $0] },
        ]
        let keystoneNow = serviceInfo.issuedAt ?? Date()
        let expiresAt = lifetime.map { keystoneNow.addingTimeInterval($0) }
        if let expiresAt { trust["expires_at"] = Timestamp.formatISO8601(expiresAt) }
        let created = try transport.authRequest(HTTPRequest(
            method: .post, url: base + "/OS-TRUST/trusts",
            headers: [("X-Auth-Token", userToken.reveal), ("Content-Type", "application/json"), ("Accept", "application/json")],
            body: Array(try JSONSerialization.data(withJSONObject: ["trust": trust]))), service: "keystone (create trust)")
        struct Created: Decodable {
            struct Trust: Decodable { var id: String }
            var trust: Trust
        }
        guard let id = try? JSONDecoder().decode(Created.self, from: Data(created.body)).trust.id else {
            throw AuthError.invalidResponse("keystone's trust answer has no id")
        }
        return TrustDelegation(trustID: id, trustorUserID: user.userID, projectID: projectID, roles: user.roles,
                               expiresAt: expiresAt.map { Date().addingTimeInterval($0.timeIntervalSince(keystoneNow)) },
                               authenticator: service.scoped(toTrust: id))
    }

    /// Deletes the trust with `token` (a trust-scoped token acts as the trustor, who may delete it).
    public func delete(token: Secret, transport: any HTTPTransport) throws {
        try Self.delete(trustID, token: token, base: authenticator.v3Base, transport: transport)
    }

    public static func delete(_ id: String, token: Secret, base: String, transport: any HTTPTransport) throws {
        _ = try transport.authRequest(HTTPRequest(
            method: .delete, url: base + "/OS-TRUST/trusts/" + id, headers: [("X-Auth-Token", token.reveal)]),
            service: "keystone (delete trust)")
    }

    /// A trust the service user holds (as trustee).
    public struct Held: Sendable {
        public var id: String
        public var trustorUserID: String
        public var projectID: String?
        public var expiresAt: Date?
        public var impersonation: Bool
    }

    /// Every trust whose trustee is the service user.
    public static func held(by service: KeystoneV3Auth, transport: any HTTPTransport) throws -> [Held] {
        let (token, info) = try service.issueToken(using: transport)
        let response = try transport.authRequest(HTTPRequest(
            method: .get, url: service.v3Base + "/OS-TRUST/trusts?trustee_user_id=" + info.userID,
            headers: [("X-Auth-Token", token.reveal), ("Accept", "application/json")]), service: "keystone (list trusts)")
        struct Body: Decodable {
            struct Trust: Decodable {
                var id: String
                var trustor_user_id: String
                var project_id: String?
                var expires_at: String?
                var impersonation: Bool?
            }
            var trusts: [Trust]
        }
        guard let body = try? JSONDecoder().decode(Body.self, from: Data(response.body)) else {
            throw AuthError.invalidResponse("keystone's trust list does not parse")
        }
        return body.trusts.map {
            Held(id: $0.id, trustorUserID: $0.trustor_user_id, projectID: $0.project_id,
                 expiresAt: $0.expires_at.flatMap(Timestamp.parseISO8601), impersonation: $0.impersonation ?? false)
        }
    }

    /// Deletes a trust the service user holds: with a token scoped to it, which acts as the trustor.
    public static func delete(_ id: String, heldBy service: KeystoneV3Auth, transport: any HTTPTransport) throws {
        let (token, _) = try service.scoped(toTrust: id).issueToken(using: transport)
        try delete(id, token: token, base: service.v3Base, transport: transport)
    }
}

extension KeystoneV3Auth {
    /// The same service credentials, scoped to a trust.
    public func scoped(toTrust id: String) -> KeystoneV3Auth {
        KeystoneV3Auth(authURL: authURL, identity: identity, scope: .trust(id: id), interface: interface, region: region)
    }
}

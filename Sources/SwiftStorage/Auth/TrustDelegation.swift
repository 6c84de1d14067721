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
    /// Service credentials scoped to the trust: what the ConnectionManager re-authenticates with.
    public let authenticator: KeystoneV3Auth

    public static func establish(userToken: Secret, service: KeystoneV3Auth, transport: any HTTPTransport) throws -> TrustDelegation {
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
        // 3. The trust, created with the user's own token.
        let trust: [String: Any] = ["trust": [
            "trustor_user_id": user.userID, "trustee_user_id": serviceInfo.userID, "project_id": projectID,
            "impersonation": true, "roles": user.roles.map { ["name": $0] },
        ] as [String: Any]]
        let created = try transport.authRequest(HTTPRequest(
            method: .post, url: base + "/OS-TRUST/trusts",
            headers: [("X-Auth-Token", userToken.reveal), ("Content-Type", "application/json"), ("Accept", "application/json")],
            body: Array(try JSONSerialization.data(withJSONObject: trust))), service: "keystone (create trust)")
        struct Created: Decodable {
            struct Trust: Decodable { var id: String }
            var trust: Trust
        }
        guard let id = try? JSONDecoder().decode(Created.self, from: Data(created.body)).trust.id else {
            throw AuthError.invalidResponse("keystone's trust answer has no id")
        }
        let scoped = KeystoneV3Auth(authURL: service.authURL, identity: service.identity, scope: .trust(id: id),
                                    interface: service.interface, region: service.region)
        return TrustDelegation(trustID: id, trustorUserID: user.userID, projectID: projectID, roles: user.roles,
                               authenticator: scoped)
    }

    /// Deletes the trust with `token` (a trust-scoped token acts as the trustor, who may delete it).
    public func delete(token: Secret, transport: any HTTPTransport) throws {
        let response = try transport.perform(HTTPRequest(
            method: .delete, url: authenticator.v3Base + "/OS-TRUST/trusts/" + trustID,
            headers: [("X-Auth-Token", token.reveal)]))
        guard response.isSuccess || response.status == 404 else {
            throw AuthError.rejected("deleting trust \(trustID): keystone answered \(response.status)")
        }
    }
}

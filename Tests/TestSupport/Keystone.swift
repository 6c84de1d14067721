import Foundation
import SwiftStorage

/// Direct calls to the dev stack's Keystone, for setting up and checking auth scenarios.
public enum Keystone {
    static let transport = CurlTransport()

    /// A fresh project-scoped token for `user` of the dev stack, and what Keystone says about it.
    public static func token(for user: String) throws -> (Secret, KeystoneTokenInfo) {
        let auth = try EnvironmentCredentials.authenticator(from: DevStack.credentials(user))
        guard let keystone = auth as? KeystoneV3Auth else { throw Shell.Failure(description: "\(user) is not a Keystone user") }
        return try keystone.issueToken(using: transport)
    }

    static var base: String { "http://127.0.0.1:5000/v3" }

    static func call(_ method: HTTPMethod, _ path: String, token: Secret, json: [String: Any]? = nil) throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = [("X-Auth-Token", token.reveal), ("Accept", "application/json")]
        var body: [UInt8] = []
        if let json {
            headers.append(("Content-Type", "application/json"))
            body = Array(try JSONSerialization.data(withJSONObject: json))
        }
        let response = try transport.perform(HTTPRequest(method: method, url: base + path, headers: headers, body: body))
        guard response.isSuccess || response.status == 404 else {
            throw Shell.Failure(description: "\(method.rawValue) \(path): \(response.status) \(response.bodyText.prefix(300))")
        }
        return response
    }

    /// Creates an application credential for `user`; returns its id and secret.
    public static func createApplicationCredential(for user: String) throws -> (id: String, secret: String) {
        let (token, info) = try token(for: user)
        let response = try call(.post, "/users/\(info.userID)/application_credentials", token: token,
                                json: ["application_credential": ["name": DevStack.uniqueName("swiftmount-test")]])
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        guard let cred = object?["application_credential"] as? [String: Any],
              let id = cred["id"] as? String, let secret = cred["secret"] as? String else {
            throw Shell.Failure(description: "no application credential in the answer")
        }
        return (id, secret)
    }

    /// Resets `user`'s password to its current value: Keystone then revokes every token the user
    /// holds, the mount's current one included.
    public static func revokeAllTokens(of user: String) throws {
        let (admin, _) = try token(for: "admin")
        let (_, info) = try token(for: user)
        let password = try DevStack.credentials(user)["OS_PASSWORD"] ?? ""
        _ = try call(.patch, "/users/\(info.userID)", token: admin, json: ["user": ["password": password]])
    }

    public static func trustExists(_ id: String) throws -> Bool {
        let (admin, _) = try token(for: "admin")
        return try call(.get, "/OS-TRUST/trusts/\(id)", token: admin).status == 200
    }

    /// The trusts whose trustee is the dev stack's service user: id → expires_at (nil: never).
    public static func serviceTrusts() throws -> [String: String?] {
        let (token, info) = try token(for: "service")
        let response = try call(.get, "/OS-TRUST/trusts?trustee_user_id=\(info.userID)", token: token)
        let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        var trusts: [String: String?] = [:]
        for trust in object?["trusts"] as? [[String: Any]] ?? [] {
            if let id = trust["id"] as? String { trusts[id] = trust["expires_at"] as? String }
        }
        return trusts
    }
}

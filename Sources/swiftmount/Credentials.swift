import Foundation
import Logging
import SwiftMountFS
import SwiftStorage

/// How this mount authenticates, resolved from options, clouds.yaml and the environment.
struct ResolvedAuth {
    /// In multi-tenant mode, the user's own token until the trust exists.
    var authenticator: any Authenticator
    /// trust=yes: what creating the trust needs (done after every other check has passed).
    var pendingTrust: PendingTrust?
    var caFile: String?
    var insecure = false
}

/// A multi-tenant mount before its trust exists: the user's token and the service user.
struct PendingTrust {
    var userToken: Secret
    var service: KeystoneV3Auth
}

enum CredentialError: Error, CustomStringConvertible {
    case invalid(String)
    var description: String {
        switch self { case .invalid(let why): why }
    }
}

/// Refuses a secrets file that others can read, as ssh does.
func checkPrivate(_ path: String) throws {
    let attributes: [FileAttributeKey: Any]
    do { attributes = try FileManager.default.attributesOfItem(atPath: path) } catch {
        throw CredentialError.invalid("cannot read \(path): \(error.localizedDescription)")
    }
    let mode = (attributes[.posixPermissions] as? Int) ?? 0
    if mode & 0o007 != 0 {
        throw CredentialError.invalid("\(path) is readable by others (mode \(String(mode, radix: 8))); run chmod 600 \(path)")
    }
}

/// A `credentials=FILE`: root's, unreadable by others (it holds a password), lines of
/// `[export ]OS_NAME=value` with optional quotes, as an openrc file has them (`#` comments and
/// `unset` lines are skipped).
func readCredentialsFile(_ path: String) throws -> [String: String] {
    let attributes = try? FileManager.default.attributesOfItem(atPath: path)
    if let owner = attributes?[.ownerAccountID] as? Int, owner != 0 {
        throw CredentialError.invalid("\(path) must be owned by root (it is owned by uid \(owner)); run chown root: \(path)")
    }
    try checkPrivate(path)
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw CredentialError.invalid("cannot read \(path)")
    }
    var vars: [String: String] = [:]
    for (number, raw) in text.split(separator: "\n").enumerated() {
        var line = raw.trimmingCharacters(in: .whitespaces)
        if line.isEmpty || line.hasPrefix("#") || line.hasPrefix("unset ") { continue }
        if line.hasPrefix("export ") { line = String(line.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
        let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0].hasPrefix("OS_") || parts[0].hasPrefix("ST_") else {
            // The line may hold a secret: say where, not what.
            throw CredentialError.invalid("\(path):\(number + 1): expected OS_NAME=value")
        }
        var value = parts[1]
        if value.count >= 2, let first = value.first, first == value.last, first == "\"" || first == "'" {
            value = String(value.dropFirst().dropLast())
        }
        vars[parts[0]] = value
    }
    return vars
}

/// Where credentials come from, first found wins: `credentials=FILE`, `os_cloud=NAME` (or
/// `OS_CLOUD`), the environment. No network here.
func resolveAuth(options: MountOptions, environment: [String: String]) throws -> ResolvedAuth {
    var vars = environment
    if let file = options.credentialsFile {
        guard options.osCloud == nil else {
            throw CredentialError.invalid("credentials= and os_cloud= name two sources of credentials; give one")
        }
        vars.merge(try readCredentialsFile(file)) { $1 }
    } else if let cloud = options.osCloud ?? environment["OS_CLOUD"].flatMap({ $0.isEmpty ? nil : $0 }) {
        vars = try CloudsConfig.variables(cloud: cloud, environment: environment)
    }
    let caFile = vars["OS_CACERT"]
    let insecure = vars["OS_INSECURE"] == "true"
    guard options.trust else {
        return ResolvedAuth(authenticator: try EnvironmentCredentials.authenticator(from: vars), caFile: caFile, insecure: insecure)
    }

    // Multi-tenant: the user's token, and a service user's credentials from a private clouds.yaml.
    var userToken = vars["OS_TOKEN"] ?? ""
    if let file = options.userTokenFile {
        try checkPrivate(file)
        userToken = (try? String(contentsOfFile: file, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
    }
    guard !userToken.isEmpty else { throw CredentialError.invalid("trust=yes needs the user's token in OS_TOKEN or user_token_file=") }
    guard let serviceFile = options.serviceCredentials else { throw CredentialError.invalid("trust=yes needs service_credentials=") }
    try checkPrivate(serviceFile)
    var serviceVars = try CloudsConfig.variables(cloud: options.serviceCloud, cloudsFile: serviceFile)
    if serviceVars["OS_AUTH_URL"] == nil { serviceVars["OS_AUTH_URL"] = vars["OS_AUTH_URL"] }
    guard let service = try EnvironmentCredentials.authenticator(from: serviceVars) as? KeystoneV3Auth,
          service.canReauthenticate else {
        throw CredentialError.invalid("service_credentials must hold a Keystone v3 password or application credential")
    }
    let user = try EnvironmentCredentials.authenticator(from: vars.merging(
        ["OS_AUTH_TYPE": "token", "OS_TOKEN": userToken, "OS_AUTH_URL": service.authURL]) { $1 })
    return ResolvedAuth(authenticator: user, pendingTrust: PendingTrust(userToken: Secret(userToken), service: service),
                        caFile: caFile ?? serviceVars["OS_CACERT"], insecure: insecure || serviceVars["OS_INSECURE"] == "true")
}

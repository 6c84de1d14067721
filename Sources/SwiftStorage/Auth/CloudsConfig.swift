import Foundation
import Yams

/// `clouds.yaml` (and `secure.yaml`) as the OpenStack client reads them, turned into the same
/// variables `EnvironmentCredentials` understands, so every auth mode works from either source.
public enum CloudsConfig {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Where the OpenStack client looks, in its order.
    public static func searchPaths(environment: [String: String], fileName: String) -> [String] {
        var paths: [String] = []
        if fileName == "clouds.yaml", let explicit = environment["OS_CLIENT_CONFIG_FILE"], !explicit.isEmpty {
            paths.append(explicit)
        }
        paths.append(FileManager.default.currentDirectoryPath + "/" + fileName)
        if let home = environment["HOME"], !home.isEmpty { paths.append(home + "/.config/openstack/" + fileName) }
        paths.append("/etc/openstack/" + fileName)
        return paths
    }

    /// The variables for cloud `name` from the first clouds.yaml found (merged with secure.yaml).
    public static func variables(cloud name: String, environment: [String: String]) throws -> [String: String] {
        guard let path = searchPaths(environment: environment, fileName: "clouds.yaml")
            .first(where: { FileManager.default.isReadableFile(atPath: $0) }) else {
            throw Failure(description: "no clouds.yaml found (looked in \(searchPaths(environment: environment, fileName: "clouds.yaml").joined(separator: ", ")))")
        }
        let secure = searchPaths(environment: environment, fileName: "secure.yaml")
            .first(where: { FileManager.default.isReadableFile(atPath: $0) })
        return try variables(cloud: name, cloudsFile: path, secureFile: secure)
    }

    /// The variables for cloud `name` (or the only cloud when nil) of a given file.
    public static func variables(cloud name: String?, cloudsFile: String, secureFile: String? = nil) throws -> [String: String] {
        var cloud = try cloudEntry(name, in: cloudsFile)
        if let secureFile, let secureCloud = try? cloudEntry(name, in: secureFile) {
            cloud = merge(cloud, secureCloud)
        }
        return flatten(cloud)
    }

    static func cloudEntry(_ name: String?, in file: String) throws -> [String: Any] {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
            throw Failure(description: "cannot read \(file): \(error.localizedDescription)")
        }
        let document: Any?
        do { document = try Yams.load(yaml: text) } catch {
            throw Failure(description: "\(file) is not valid YAML: \(error)")
        }
        guard let clouds = (document as? [String: Any])?["clouds"] as? [String: Any] else {
            throw Failure(description: "\(file) has no 'clouds' section")
        }
        let chosen: String
        if let name {
            chosen = name
        } else {
            guard clouds.count == 1, let only = clouds.keys.first else {
                throw Failure(description: "\(file) has \(clouds.count) clouds; name one")
            }
            chosen = only
        }
        guard let cloud = clouds[chosen] as? [String: Any] else {
            throw Failure(description: "cloud '\(chosen)' is not in \(file) (it has: \(clouds.keys.sorted().joined(separator: ", ")))")
        }
        return cloud
    }

    static func merge(_ base: [String: Any], _ over: [String: Any]) -> [String: Any] {
        var out = base
        for (key, value) in over {
            if let a = out[key] as? [String: Any], let b = value as? [String: Any] { out[key] = merge(a, b) } else { out[key] = value }
        }
        return out
    }

    static func flatten(_ cloud: [String: Any]) -> [String: String] {
        func string(_ value: Any?) -> String? {
            switch value {
            case let s as String: s
            case let i as Int: String(i)
            case let b as Bool: b ? "true" : "false"
            default: nil
            }
        }
        var vars: [String: String] = [:]
        let auth = cloud["auth"] as? [String: Any] ?? [:]
        let authKeys = ["auth_url", "username", "user_id", "password", "project_name", "project_id", "user_domain_name",
                        "user_domain_id", "project_domain_name", "project_domain_id", "application_credential_id",
                        "application_credential_name", "application_credential_secret", "token"]
        for key in authKeys {
            if let v = string(auth[key]) { vars["OS_" + key.uppercased()] = v }
        }
        if let domain = string(auth["domain_name"]) {
            vars["OS_USER_DOMAIN_NAME"] = vars["OS_USER_DOMAIN_NAME"] ?? domain
            vars["OS_PROJECT_DOMAIN_NAME"] = vars["OS_PROJECT_DOMAIN_NAME"] ?? domain
        }
        let top: [(String, String)] = [("auth_type", "OS_AUTH_TYPE"), ("region_name", "OS_REGION_NAME"),
                                       ("interface", "OS_INTERFACE"), ("cacert", "OS_CACERT")]
        for (key, variable) in top {
            if let v = string(cloud[key]) { vars[variable] = v }
        }
        if let verify = cloud["verify"] as? Bool, !verify { vars["OS_INSECURE"] = "true" }
        return vars
    }
}

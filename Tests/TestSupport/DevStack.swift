import Foundation
import SwiftStorage

/// The project's real Swift + Keystone (scripts/dev-stack.sh), as the tests see it.
public enum DevStack {
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    public static var script: String { packageRoot + "/scripts/dev-stack.sh" }
    public static var stateDir: String { ProcessInfo.processInfo.environment["SWIFTMOUNT_STACK_DIR"] ?? "/var/lib/swiftmount-dev" }

    /// The credentials `dev-stack.sh env USER` prints, as variables (demo, service, admin, tempauth).
    public static func credentials(_ user: String = "demo") throws -> [String: String] {
        let text = try Shell.bash("\(Shell.quote(script)) env \(user)")
        var vars: [String: String] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("export ") {
            let assignment = line.dropFirst("export ".count)
            guard let eq = assignment.firstIndex(of: "=") else { continue }
            vars[String(assignment[..<eq])] = String(assignment[assignment.index(after: eq)...])
        }
        return vars
    }

    /// The process environment without any credentials, plus `credentials`.
    public static func environment(with credentials: [String: String]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("OS_") && !$0.key.hasPrefix("ST_") }
        env.merge(credentials) { $1 }
        return env
    }

    /// A Swift client for checks straight against the server, bypassing the mount.
    public static func client(_ user: String = "demo") throws -> SwiftClient {
        let auth = try EnvironmentCredentials.authenticator(from: credentials(user))
        let transport = CurlTransport()
        return SwiftClient(connection: ConnectionManager(authenticator: auth, transport: transport), transport: transport)
    }

    /// The token lifetime the running Keystone was started with.
    public static func tokenTTL() -> Int? {
        (try? String(contentsOfFile: stateDir + "/run/keystone.ttl", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    public static func uniqueName(_ base: String) -> String {
        "\(base)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// Deletes a test's container and its default segment container with everything in them:
    /// every large-object unlink scans the whole account, so leftovers would slow every later test.
    public static func purge(_ container: String, client: SwiftClient) throws {
        let limit = try client.clusterInfo().bulkDeleteLimit
        for name in [container, container + "_segments"] where try client.containerExists(name) {
            let objects = try client.listAll(container: name, delimiter: nil).compactMap {
                if case .object(let o) = $0 { return ObjectRef(container: name, name: o.name) }
                return nil
            }
            try client.deleteMany(objects, bulkLimit: limit)
            try client.deleteContainer(name)
        }
    }
}

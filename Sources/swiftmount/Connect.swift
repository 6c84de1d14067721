import Foundation
import Glibc
import Logging
import SwiftMountFS
import SwiftStorage

/// The options of a command: the config file's sections for this container (and mount point),
/// then the command line's `-o` items, which win. A bad option exits 2 before any network.
func loadOptions(_ items: [String], container: String, mountpoint: String?) -> MountOptions {
    do {
        // config=FILE names another config file; the default one may be absent.
        let named = items.last { $0.hasPrefix("config=") }.map { String($0.dropFirst("config=".count)) }
        let path = named ?? ConfigFile.defaultPath
        var fromFile: [String] = []
        if named != nil || FileManager.default.fileExists(atPath: path) {
            fromFile = try ConfigFile.items(path: path, container: container, mountpoint: mountpoint)
        }
        return try MountOptions.parse(fromFile + items.filter { !$0.hasPrefix("config=") })
    } catch { fail(.usage, "\(error)") }
}

/// A Swift client for the mount's credentials, over a transport with the TLS settings of the
/// options and the credentials (`cacert`, `insecure`, clouds.yaml's `cacert`/`verify`).
struct Storage {
    let transport: CurlTransport
    let connection: ConnectionManager
    let client: SwiftClient

    static func transport(options: MountOptions, auth: ResolvedAuth) -> CurlTransport {
        var config = CurlTransport.Configuration()
        config.verifyTLS = !(options.insecure || auth.insecure)
        config.caFile = options.caFile ?? auth.caFile
        return CurlTransport(configuration: config)
    }

    /// The mount's own credentials, authenticated (exit 3 with the reason if that fails), for
    /// the subcommands that work on a container without mounting it.
    static func connect(options: MountOptions) -> Storage {
        let auth: ResolvedAuth
        do { auth = try resolveAuth(options: options, environment: ProcessInfo.processInfo.environment) } catch { fail(.auth, "\(error)") }
        let storage = Storage(authenticator: auth.authenticator, transport: transport(options: options, auth: auth), options: options)
        do { _ = try storage.connection.current() } catch { fail(.auth, "\(error)") }
        return storage
    }

    init(authenticator: any Authenticator, transport: CurlTransport, options: MountOptions) {
        var config = ConnectionManager.Configuration()
        config.expireSoonInterval = options.expireSoonInterval
        config.reauthDeadline = options.reauthDeadline
        self.transport = transport
        connection = ConnectionManager(authenticator: authenticator, transport: transport, configuration: config,
                                       logger: Logger(label: "swiftmount.auth"))
        client = SwiftClient(connection: connection, transport: transport,
                             retry: SwiftClient.RetryPolicy(attempts: options.retryPutCount, backoff: Backoff(base: 0.5, cap: 8)))
    }
}

/// Every daemon of this machine, asked over its control socket (root's and each user's). A
/// socket nobody listens on is a dead daemon's; one that answers what cannot be read stops the
/// caller, which must not judge uploads or trusts it cannot see.
func runningMounts() throws -> [MountStatus] {
    let fm = FileManager.default
    var directories = ["/run/swiftmount", "/tmp/swiftmount"]
    if let xdg = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] { directories.append(xdg + "/swiftmount") }
    for user in (try? fm.contentsOfDirectory(atPath: "/run/user")) ?? [] { directories.append("/run/user/\(user)/swiftmount") }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    var found: [MountStatus] = []
    for directory in Set(directories) {
        for name in (try? fm.contentsOfDirectory(atPath: directory)) ?? [] where name.hasSuffix(".sock") {
            guard let reply = ControlSocket.request(at: directory + "/" + name) else { continue }
            guard let status = try? decoder.decode(MountStatus.self, from: Data(reply)) else {
                throw CredentialError.invalid("the daemon on \(directory)/\(name) answered what this swiftmount cannot read; stop or upgrade it first")
            }
            found.append(status)
        }
    }
    return found
}

/// Trusts this machine's mounts created, so `gc --trusts` deletes only those (a trust no mount
/// here holds may be another machine's).
enum TrustRecords {
    static var directory: String {
        getuid() == 0 ? "/var/lib/swiftmount/trusts"
            : (ProcessInfo.processInfo.environment["HOME"] ?? "/tmp") + "/.local/state/swiftmount/trusts"
    }

    static func record(_ id: String) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: directory + "/" + id, contents: nil)
    }

    static func forget(_ id: String) {
        try? FileManager.default.removeItem(atPath: directory + "/" + id)
    }

    static var all: Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
    }
}

import Foundation
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

/// Every daemon of this machine that answers on its control socket.
func runningMounts() -> [MountStatus] {
    let directory = (ControlSocket.path(for: "/") as NSString).deletingLastPathComponent
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return names.filter { $0.hasSuffix(".sock") }.compactMap { name in
        ControlSocket.request(at: directory + "/" + name).flatMap { try? decoder.decode(MountStatus.self, from: Data($0)) }
    }
}

import CSystem
import Foundation
import Logging
import SwiftMountFS
import SwiftStorage

let accountSource = "@account"

/// Exit codes a script can act on.
enum Exit: Int32 {
    case ok = 0, usage = 2, auth = 3, container = 4, mount = 5
}

func fail(_ code: Exit, _ message: String) -> Never {
    FileHandle.standardError.write(Data("swiftmount: \(message)\n".utf8))
    exit(code.rawValue)
}

/// Descriptors our parent left open (a pipe or a socket it waits on for EOF, as a test runner's or a
/// supervisor's process monitor does): the daemon closes them once it has forked, or the caller
/// would wait for as long as the mount lives. A foreground process keeps them, as its parent
/// expects. Read first thing in `main`, before the process opens any of its own.
enum Inherited {
    static let descriptors = (3..<1024).filter { sm_descriptor_is_open(Int32($0)) != 0 }
}

/// `swiftmount CONTAINER MOUNTPOINT -o ...`: checks everything that can fail before it mounts
/// (each failure exits with its code and a one-line reason), then serves until unmounted.
func mount(_ command: MountCommand) -> Never {
    let options = loadOptions(command.optionItems, container: command.container, mountpoint: command.mountpoint)

    let level: Logger.Level = command.debug || options.debug ? .trace : (Logger.Level(rawValue: options.logLevel) ?? .info)
    var logSink: LogRouting.Sink = .standardError
    if let path = options.logFile {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else { fail(.usage, "cannot write log file \(path)") }
        handle.seekToEndOfFile()
        logSink = .file(handle)
    }
    LogRouting.shared.configure(sink: logSink, level: level)
    LoggingSystem.bootstrap { _ in RoutedLogHandler() }
    let logger = Logger(label: "swiftmount")

    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: command.mountpoint, isDirectory: &isDirectory), isDirectory.boolValue else {
        fail(.mount, "mount point \(command.mountpoint) is not a directory")
    }
    // Every write waits in cache_dir: a mount that could store nothing says so now.
    do { try options.checkCacheDir() } catch { fail(.mount, "\(error)") }

    let auth: ResolvedAuth
    do { auth = try resolveAuth(options: options, environment: ProcessInfo.processInfo.environment) } catch { fail(.auth, "\(error)") }
    let transport = Storage.transport(options: options, auth: auth)
    // In multi-tenant mode this is the user's own token until the trust exists.
    var storage = Storage(authenticator: auth.authenticator, transport: transport, options: options)

    // Fail before daemonizing, with a one-line reason, so a script or mount(8) sees the error.
    guard MD5.isAvailable else { fail(.mount, "OpenSSL offers no MD5 here (a FIPS-only configuration?): manifests need it") }
    do { _ = try storage.connection.current() } catch { fail(.auth, "\(error)") }
    if !command.account {
        do {
            guard try storage.client.containerExists(command.container) else {
                fail(.container, "container '\(command.container)' does not exist (create it first, e.g. swift post \(command.container))")
            }
        } catch { fail(.container, "cannot check container '\(command.container)': \(error)") }
    }
    // The trust comes last, after everything else that can fail, and goes on every way out.
    let trustKeeper = auth.pendingTrust.map { TrustKeeper(pending: $0, options: options, transport: transport, logger: logger) }
    if let trustKeeper, let pending = auth.pendingTrust {
        if let trust = trustKeeper.establish(userToken: pending.userToken) {
            storage = Storage(authenticator: trust.authenticator, transport: transport, options: options)
            do { _ = try storage.connection.current() } catch {
                trustKeeper.deleteTrust()
                fail(.auth, "the trust was created but cannot be used: \(error)")
            }
        } else {
            // Said once; the mount goes on with the user's token, which cannot be renewed.
            logger.warning("could not create a trust (\(trustKeeper.summary)); using the user's token without re-authentication")
        }
    }
    let connection = storage.connection, client = storage.client
    if !connection.statistics.renewable {
        let expiry = connection.statistics.expiresAt.map { "at \($0) (in \(Int($0.timeIntervalSinceNow / 60)) min)" } ?? "when Keystone says so"
        logger.warning("this token cannot be renewed: it expires \(expiry), and after that every operation fails (EKEYEXPIRED)")
    }

    // The cluster's limits (segments per manifest, object size, listing pages) shape requests.
    let cluster = (try? client.clusterInfo()) ?? ClusterInfo()
    let filesystem = command.account
        ? MountTree(account: client, options: options, cluster: cluster, logger: logger)
        : MountTree(container: SwiftFilesystem(client: client, container: command.container, options: options, cluster: cluster, logger: logger))
    var settings = FuseMount.Settings(mountpoint: command.mountpoint, foreground: command.runsInForeground,
                                      fsname: "swiftmount:\(command.container)", fuseOptions: options.fuseOptions)
    settings.shutdownGrace = options.shutdownGrace
    filesystem.mountpoint = URL(fileURLWithPath: command.mountpoint).resolvingSymlinksInPath().path
    let controlSocket = ControlSocket.path(for: command.mountpoint)
    do {
        let rc = try FuseMount.run(filesystem, settings: settings) {
            if !command.runsInForeground {
                for fd in Inherited.descriptors { close(Int32(fd)) }
            }
            if !command.runsInForeground, options.logFile == nil { LogRouting.shared.configure(sink: .syslog, level: level) }
            // Threads do not survive the fork into the background: started here, in the daemon.
            if trustKeeper?.trustID != nil { trustKeeper?.startRenewing(connection: connection) }
            let currentStatus: @Sendable () -> MountStatus = {
                let statistics = connection.statistics
                let authStatus = AuthStatus(method: auth.authenticator.summary, tokenExpiresAt: statistics.expiresAt?.timeIntervalSince1970,
                                            authentications: statistics.authentications, trust: trustKeeper?.summary ?? "none",
                                            heldTrust: trustKeeper?.trustID, renewable: statistics.renewable, problem: statistics.problem)
                return filesystem.status(mountpoint: filesystem.mountpoint, auth: authStatus)
            }
            if let problem = ControlSocket.serve(at: controlSocket, answer: {
                Array((try? statusEncoder.encode(currentStatus())) ?? Data())
            }) {
                logger.warning("status unavailable: \(problem)")
            }
            if let port = options.metricsPort, let problem = MetricsEndpoint.serve(port: port, status: currentStatus) {
                logger.warning("metrics unavailable: \(problem)")
            }
            logger.info("mounted \(command.account ? "account" : "container \(command.container)") on \(command.mountpoint)")
        }
        unlink(controlSocket)
        logger.info("unmounted \(command.mountpoint)")
        // Before the trust goes: deleting needs the credentials.
        filesystem.finishReclaims(within: MountTree.reclaimGrace)
        trustKeeper?.deleteTrust()
        exit(rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1)
    } catch {
        trustKeeper?.deleteTrust()
        fail(.mount, "\(error)")
    }
}

import CSystem
import Foundation
import Logging
import SwiftMountFS
import SwiftStorage

let usage = """
usage: swiftmount CONTAINER MOUNTPOINT [-f] [-o option[,option...]]
       swiftmount --account MOUNTPOINT [-f] [-o ...]   (or @account as CONTAINER)
       swiftmount status MOUNTPOINT [--json]
       swiftmount gc CONTAINER [--delete] [--grace SECONDS] [-o os_cloud=NAME,segment_container=NAME]
       swiftmount gc --trusts [--delete] -o service_credentials=FILE[,service_cloud=NAME]
       swiftmount migrate-attrs CONTAINER [--dry-run] [--min-age SECONDS] [-o os_cloud=NAME,...]

Mounts an OpenStack Swift container as a directory (with --account, the whole account:
containers are the top-level directories, and mkdir at the top creates one). Credentials come from the environment:
OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, ... (Keystone v3; OS_AUTH_TYPE=
v3applicationcredential or token also work) or ST_AUTH, ST_USER, ST_KEY (Swift tempauth).

  -f                    stay in the foreground, log to stderr
  -d                    foreground with debug logging (-o debug: the same logging, in the background)
  -o segment_size=64M   size of segments of large files
  -o large_object_threshold=SIZE   files larger than this become segmented (default segment_size)
  -o expire_soon_interval=60       re-authenticate when the token expires within this many seconds
  -o retry_get_count=3  retries of a failed or cut-short read
  -o upload_concurrency=4, max_write_buffer=256M, read_ahead=16M, read_concurrency=4,
     max_read_buffer=128M          upload threads, bytes of segments waiting (in cache_dir),
                        read-ahead window, fetch threads, read-ahead bytes in RAM (per mount)
  -o retry_put_count=8  attempts of uploads and other requests meeting transient failures (5xx,
                        resets); data reads use retry_get_count
  -o verify_md5         send each PUT's MD5, so Swift refuses a body damaged on the way
  -o manifest=slo       large objects as static (slo) or dynamic (dlo) manifests
  -o rename_dir_limit=1000        most objects a directory rename copies server-side; above it
                        rename is EXDEV (mv then copies file by file)
  -o attr_timeout=2, reauth_deadline=120, log_level=info, log_file=PATH, cacert=FILE, insecure
  -o segment_container=NAME        where segments go (default CONTAINER_segments)
  -o cache_dir=/var/tmp/swiftmount  where written data waits for Swift, and files changed in place
                                    are staged until close
  -o shutdown_grace=SECONDS        SIGTERM/SIGINT wait this long for files being written, then
                        abort them (default: wait until they are closed); readers get as long
                        (without it, 30 s once nothing is being written)
  -o metrics_port=PORT  Prometheus metrics on http://127.0.0.1:PORT/
  -o dir_cache_ttl=10   seconds a directory listing answers "no such file" for names not in it
  -o attr_cache_entries=200000     above this many cached attributes, expired ones are dropped
  -o attrs_from=objects stat shows each object's exact mtime, mode and owner: from listings for
                        files swiftmount wrote, else a HEAD per name (read ahead in parallel);
                        attrs_from=listing: from listings only, Swift's times for other objects
  -o uid=N,gid=N,file_mode=0644,dir_mode=0755,umask=022   for objects that store none
  -o os_cloud=NAME      credentials from clouds.yaml (+ secure.yaml) instead of the environment
  -o credentials=FILE   OS_*=value lines (an openrc file); root's, not readable by others
  -o config=FILE        options file (default /etc/swiftmount/swiftmount.conf, sections [*],
                        [CONTAINER], [/mount/point]); -o options win over it
  -o trust=yes,service_credentials=FILE[,service_cloud=NAME][,user_token_file=FILE]
                        multi-tenant: act for the user whose token is in OS_TOKEN (or the file)
                        through a Keystone trust to the service user of FILE (a private clouds.yaml)
  -o trust_lifetime=604800         seconds the trust lives (renewed from user_token_file)
  -o nodefault_permissions         with allow_other, let every user past the modes shown
  libfuse and kernel options pass through (allow_other, ro, default_permissions, noatime, ...),
  mount(8)'s own (_netdev, nofail, noauto, x-systemd.*) are accepted; anything else is an error.
  allow_other turns on default_permissions unless nodefault_permissions is given.

status shows what the daemon on MOUNTPOINT is doing: uploads and reads with progress, token
expiry, re-authentications, request counts, buffers. Exit codes: 2 usage, 3 credentials or
authentication, 4 container, 5 mount point or daemon.

gc lists segments that no manifest in the account refers to (failed or killed uploads), that no
daemon on this machine is uploading, and that are older than the grace period (default 3600 s);
--delete removes them. gc --trusts lists the service user's trusts no mount on this machine holds;
--delete removes those this machine's mounts made.

migrate-attrs gives the container's existing objects (written by an older swiftmount, or with
X-Object-Meta-Mtime by swiftclient or rclone) the Content-Type parameters that let ls -l answer
from listings alone: one HEAD and one POST per object, metadata kept, data untouched. Run it while
no mount or other client writes the container (it refuses while one on this machine mounts it);
objects changed in the last --min-age seconds (default 60) are left alone.
"""

let accountSource = "@account"

/// Exit codes a script can act on.
enum ExitCode: Int32 {
    case ok = 0, usage = 2, auth = 3, container = 4, mount = 5
}

func fail(_ code: ExitCode, _ message: String) -> Never {
    FileHandle.standardError.write(Data("swiftmount: \(message)\n".utf8))
    exit(code.rawValue)
}

struct CommandLine_ {
    var container = ""
    var mountpoint = ""
    var foreground = false
    /// The whole account (`--account`, or `@account` as the container).
    var account = false
    var debug = false
    var options: [String] = []

    static func parse(_ args: [String]) -> CommandLine_ {
        var result = CommandLine_()
        var positional: [String] = []
        var i = 0
        while i < args.count {
            let arg = args[i]
            switch arg {
            case "-h", "--help":
                print(usage)
                exit(0)
            case "-f": result.foreground = true
            case "--account": result.account = true
            case "-d": result.foreground = true; result.debug = true
            case "-o":
                i += 1
                guard i < args.count else { fail(.usage, "-o needs options\n\(usage)") }
                result.options += args[i].split(separator: ",").map(String.init)
            default:
                if arg.hasPrefix("-o") { result.options += arg.dropFirst(2).split(separator: ",").map(String.init) }
                else if arg.hasPrefix("-") { fail(.usage, "unknown flag \(arg)\n\(usage)") }
                else { positional.append(arg) }
            }
            i += 1
        }
        if result.account && positional.count == 1 { positional.insert(accountSource, at: 0) }
        guard positional.count == 2 else { fail(.usage, "expected CONTAINER and MOUNTPOINT\n\(usage)") }
        result.container = positional[0]
        result.mountpoint = positional[1]
        if result.container == accountSource { result.account = true }
        return result
    }
}

sm_reset_signals()
// Descriptors our parent left open (a pipe or a socket it waits on for EOF, as a test runner's or a
// supervisor's process monitor does): the daemon closes them once it has forked, or the caller
// would wait for as long as the mount lives. A foreground process keeps them, as its parent expects.
let inheritedDescriptors = (3..<1024).filter { sm_descriptor_is_open(Int32($0)) != 0 }
sm_tune_malloc()
switch CommandLine.arguments.dropFirst().first {
case "gc": exit(runGarbageCollection(Array(CommandLine.arguments.dropFirst(2))))
case "status": exit(runStatus(Array(CommandLine.arguments.dropFirst(2))))
case "migrate-attrs": exit(runMigrateAttrs(Array(CommandLine.arguments.dropFirst(2))))
default: break
}
let command = CommandLine_.parse(Array(CommandLine.arguments.dropFirst()))
let options = loadOptions(command.options, container: command.container, mountpoint: command.mountpoint)

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
var settings = FuseMount.Settings(mountpoint: command.mountpoint, foreground: command.foreground,
                                  fsname: "swiftmount:\(command.container)", fuseOptions: options.fuseOptions)
settings.shutdownGrace = options.shutdownGrace
filesystem.mountpoint = URL(fileURLWithPath: command.mountpoint).resolvingSymlinksInPath().path
let controlSocket = ControlSocket.path(for: command.mountpoint)
do {
    let rc = try FuseMount.run(filesystem, settings: settings) {
        if !command.foreground {
            for fd in inheritedDescriptors { close(Int32(fd)) }
        }
        if !command.foreground, options.logFile == nil { LogRouting.shared.configure(sink: .syslog, level: level) }
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
    trustKeeper?.deleteTrust()
    exit(rc == 0 || rc == SIGTERM || rc == SIGINT || rc == SIGHUP ? 0 : 1)
} catch {
    trustKeeper?.deleteTrust()
    fail(.mount, "\(error)")
}

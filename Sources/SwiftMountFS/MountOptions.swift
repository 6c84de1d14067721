import Glibc
import SwiftStorage

/// The mount's `-o` options that swiftmount consumes; everything else is handed to libfuse.
public enum ManifestKind: String, Sendable, Equatable {
    case slo, dlo
}

/// Where stat(2) answers come from: each object's metadata (exact mtime, mode, owner; a HEAD per
/// name, read ahead in parallel) or the directory listing alone (Swift's times, default modes).
public enum AttributeSource: String, Sendable, Equatable {
    case objects, listing
}

public struct MountOptions: Sendable, Equatable {
    public var segmentSize = 64 << 20
    /// Files larger than this are uploaded as segments plus a manifest; smaller ones in one PUT.
    public var largeObjectThreshold = 64 << 20
    public var expireSoonInterval: Double = 60
    public var retryGetCount = 3
    public var uploadConcurrency = 4
    /// Cap on segment bytes queued or in flight for the whole mount.
    public var maxWriteBuffer = 256 << 20
    public var readConcurrency = 4
    /// Largest read-ahead window of a sequential reader.
    public var readAhead = 16 << 20
    /// Cap on read-ahead bytes held for the whole mount; beyond it readers fetch on demand.
    public var maxReadBuffer = 128 << 20
    public var attrTimeout: Double = 2
    /// Seconds a directory's listing answers "no such file" for names not in it (other clients'
    /// new objects show up after this; the mount's own are seen at once).
    public var dirCacheTTL: Double = 10
    /// Above this many cached attributes, expired ones are dropped (see Namespace.sweep).
    public var attrCacheEntries = 200_000
    public var attributesFrom: AttributeSource = .objects
    /// Owner and permissions of files and directories whose objects store none.
    public var uid = getuid()
    public var gid = getgid()
    public var fileMode: UInt32 = 0o644
    public var dirMode: UInt32 = 0o755
    public var reauthDeadline: Double = 120
    public var logLevel = "info"
    public var logFile: String?
    public var debug = false
    public var insecure = false
    public var caFile: String?
    public var segmentContainer: String?
    /// Large files get a static (`slo`, default) or dynamic (`dlo`) large object manifest.
    public var manifest: ManifestKind = .slo
    /// Attempts for a segment or object PUT that meets transient failures (5xx, resets, timeouts).
    public var retryPutCount = 8
    /// Send each PUT's MD5 so Swift refuses (422, then re-sent) a body damaged on the way. Costs
    /// ~4.5 s of CPU per GiB in pure Swift, which on 2 cores slows uploads by a quarter: off by default.
    public var verifyMD5 = false
    /// Most objects a directory rename moves; beyond it rename fails with EXDEV (mv then copies).
    public var renameDirLimit = 1000
    /// Where files changed in place (or written out of order) are staged until close.
    public var cacheDir = "/var/tmp/swiftmount"
    /// Prometheus metrics on 127.0.0.1:PORT when set.
    public var metricsPort: Int?
    /// Seconds SIGTERM/SIGINT wait for files being written before aborting them; nil: until closed.
    public var shutdownGrace: Double?
    /// Credentials from this cloud of clouds.yaml instead of the environment.
    public var osCloud: String?
    /// OS_*=value lines (as an openrc file has them), for fstab mounts without clouds.yaml.
    public var credentialsFile: String?
    /// Multi-tenant: delegate the user's token to the service user through a Keystone trust.
    public var trust = false
    public var userTokenFile: String?
    public var serviceCredentials: String?
    public var serviceCloud: String?
    /// Seconds a multi-tenant mount's trust lives (renewed from `user_token_file` before then).
    public var trustLifetime: Double = 7 * 86400
    /// Options for libfuse (allow_other, ro, default_permissions, ...), passed through unchanged.
    public var fuseOptions: [String] = []

    public init() {}

    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// swiftmount's own options: the parser takes no other key for itself, and a test requires
    /// each to be described in `--help`, the README's option table and the man page.
    public static let names: Set<String> = [
        "segment_size", "large_object_threshold", "expire_soon_interval", "retry_get_count", "upload_concurrency",
        "max_write_buffer", "read_concurrency", "read_ahead", "max_read_buffer", "attr_timeout", "dir_cache_ttl",
        "attr_cache_entries", "attrs_from", "uid", "gid", "file_mode", "dir_mode", "umask", "reauth_deadline", "log_level",
        "log_file", "debug", "insecure", "cacert", "segment_container", "manifest", "retry_put_count", "verify_md5",
        "rename_dir_limit", "cache_dir", "shutdown_grace", "metrics_port", "os_cloud", "credentials", "trust",
        "nodefault_permissions", "user_token_file", "service_credentials", "service_cloud", "trust_lifetime",
    ]

    /// Options for libfuse and the kernel, passed through; anything not known here or to
    /// swiftmount is a typo, refused before any network request.
    static let fuseFlags: Set<String> = [
        "allow_other", "allow_root", "default_permissions", "auto_unmount", "ro", "rw", "dev", "nodev", "suid",
        "nosuid", "exec", "noexec", "atime", "noatime", "relatime", "norelatime", "diratime", "nodiratime",
        "sync", "async", "dirsync", "kernel_cache", "auto_cache", "noauto_cache", "blkdev", "fsname", "subtype",
        "blksize", "max_read", "context", "fscontext", "defcontext", "rootcontext",
    ]
    /// What mount(8) and fstab lines carry for themselves: accepted and not passed on.
    static let mountFlags: Set<String> = [
        "defaults", "auto", "noauto", "user", "nouser", "users", "owner", "group", "_netdev", "nofail", "comment",
    ]

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses "key=value" and "flag" items as they come from `-o a=1,b`.
    public static func parse(_ items: [String]) throws -> MountOptions {
        var o = MountOptions()
        var thresholdGiven = false
        var noPermissionChecks = false
        for item in items where !item.isEmpty {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            let key = parts[0]
            let value = parts.count > 1 ? parts[1] : nil
            func required() throws -> String {
                guard let value, !value.isEmpty else { throw ParseError(description: "option \(key) needs a value") }
                return value
            }
            func size() throws -> Int {
                let v = try required()
                guard let n = ByteSize.parse(v), n > 0 else { throw ParseError(description: "option \(key)=\(v): not a size (e.g. 64M)") }
                return n
            }
            func number(min: Double = 0) throws -> Double {
                let v = try required()
                guard let n = Double(v), n >= min else { throw ParseError(description: "option \(key)=\(v): not a number ≥ \(min)") }
                return n
            }
            func count(min: Int) throws -> Int {
                let v = try required()
                guard let n = Int(v), n >= min else { throw ParseError(description: "option \(key)=\(v): not a whole number ≥ \(min)") }
                return n
            }
            func flag() throws -> Bool {
                switch value?.lowercased() {
                case nil, "yes", "true", "1", "on": return true
                case "no", "false", "0", "off": return false
                default: throw ParseError(description: "option \(key)=\(value ?? ""): use yes or no")
                }
            }
            func octal() throws -> UInt32 {
                let v = try required()
                guard let n = UInt32(v, radix: 8), n <= 0o7777 else { throw ParseError(description: "option \(key)=\(v): not an octal mode (e.g. 0644)") }
                return n
            }
            switch Self.names.contains(key) ? key : "" {
            case "segment_size": o.segmentSize = try size()
            case "large_object_threshold": o.largeObjectThreshold = try size(); thresholdGiven = true
            case "expire_soon_interval": o.expireSoonInterval = try number()
            case "retry_get_count": o.retryGetCount = try count(min: 0)
            case "upload_concurrency": o.uploadConcurrency = try count(min: 1)
            case "max_write_buffer": o.maxWriteBuffer = try size()
            case "read_concurrency": o.readConcurrency = try count(min: 1)
            case "read_ahead": o.readAhead = try size()
            case "max_read_buffer": o.maxReadBuffer = try size()
            case "attr_timeout": o.attrTimeout = try number()
            case "dir_cache_ttl": o.dirCacheTTL = try number()
            case "attr_cache_entries": o.attrCacheEntries = try count(min: 1000)
            case "attrs_from":
                guard let source = AttributeSource(rawValue: try required()) else {
                    throw ParseError(description: "option attrs_from=\(value ?? ""): use objects or listing")
                }
                o.attributesFrom = source
            case "uid": o.uid = UInt32(try count(min: 0))
            case "gid": o.gid = UInt32(try count(min: 0))
            case "file_mode": o.fileMode = try octal()
            case "dir_mode": o.dirMode = try octal()
            case "umask":
                let mask = try octal()
                o.fileMode = 0o666 & ~mask
                o.dirMode = 0o777 & ~mask
            case "reauth_deadline": o.reauthDeadline = try number()
            case "log_level":
                let level = try required().lowercased()
                guard Self.logLevels.contains(level) else {
                    throw ParseError(description: "option log_level=\(level): use one of \(Self.logLevels.joined(separator: ", "))")
                }
                o.logLevel = level
            case "log_file": o.logFile = try required()
            case "debug": o.debug = try flag()
            case "insecure": o.insecure = try flag()
            case "cacert": o.caFile = try required()
            case "segment_container": o.segmentContainer = try required()
            case "manifest":
                guard let kind = ManifestKind(rawValue: try required().lowercased()) else {
                    throw ParseError(description: "option manifest=\(value ?? ""): use slo or dlo")
                }
                o.manifest = kind
            case "retry_put_count": o.retryPutCount = try count(min: 1)
            case "verify_md5": o.verifyMD5 = try flag()
            case "rename_dir_limit": o.renameDirLimit = try count(min: 0)
            case "cache_dir": o.cacheDir = try required()
            case "shutdown_grace": o.shutdownGrace = try number()
            case "metrics_port": o.metricsPort = try count(min: 1)
            case "os_cloud": o.osCloud = try required()
            case "credentials": o.credentialsFile = try required()
            case "trust": o.trust = try flag()
            case "nodefault_permissions": noPermissionChecks = try flag()
            case "user_token_file": o.userTokenFile = try required()
            case "service_credentials": o.serviceCredentials = try required()
            case "service_cloud": o.serviceCloud = try required()
            case "trust_lifetime": o.trustLifetime = try number(min: 60)
            default:
                if Self.mountFlags.contains(key) || key.hasPrefix("x-") { continue }
                guard Self.fuseFlags.contains(key) else {
                    throw ParseError(description: "unknown option \(key) (swiftmount --help lists the options)")
                }
                o.fuseOptions.append(item)
            }
        }
        // With allow_other every local user reaches the files: let the kernel check the modes and
        // owners the mount shows, unless the mount says it does not want that.
        if noPermissionChecks {
            o.fuseOptions.removeAll { $0 == "default_permissions" }
        } else if o.fuseOptions.contains("allow_other"), !o.fuseOptions.contains("default_permissions") {
            o.fuseOptions.append("default_permissions")
        }
        if !thresholdGiven { o.largeObjectThreshold = o.segmentSize }
        if o.trust && o.serviceCredentials == nil {
            throw ParseError(description: "trust=yes needs service_credentials=FILE (a clouds.yaml with the service user)")
        }
        guard o.segmentSize >= 1 << 20 else { throw ParseError(description: "segment_size must be at least 1M") }
        guard o.largeObjectThreshold <= 5 << 30 else {
            throw ParseError(description: "large_object_threshold above 5G: Swift refuses single objects that large")
        }
        return o
    }
}

import Foundation
import Glibc
import SwiftStorage

/// A real swiftmount daemon (the built binary, in the foreground) on a temporary mount point.
public final class MountedContainer {
    public let container: String
    public let mountpoint: String
    public let logFile: String
    private let process: Process

    public static var binary: String {
        ProcessInfo.processInfo.environment["SWIFTMOUNT_BIN"] ?? DevStack.packageRoot + "/.build/debug/swiftmount"
    }

    /// Mounts `container` with `options` and the credentials of `user`; waits until mounted.
    /// `flags` must keep the daemon in the foreground (this object is its parent).
    public init(container: String, options: [String] = [], user: String = "demo",
                credentials: [String: String]? = nil, flags: [String] = ["-f"]) throws {
        self.container = container
        let id = "swiftmount-test-" + UUID().uuidString.prefix(8)
        mountpoint = NSTemporaryDirectory() + id
        let logDir = ProcessInfo.processInfo.environment["SWIFTMOUNT_TEST_LOG_DIR"] ?? NSTemporaryDirectory()
        logFile = logDir + "/" + id + ".log"
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: logFile, contents: nil)
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        // Request traces (trace level), so the secrets scan after the tests covers request traces too.
        process.arguments = [container, mountpoint] + flags + ["-o", (["log_level=trace"] + options).joined(separator: ",")]
        process.environment = DevStack.environment(with: try credentials ?? DevStack.credentials(user))
        let log = FileHandle(forWritingAtPath: logFile)!
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while !Self.isMounted(mountpoint) {
            guard process.isRunning, Date() < deadline else {
                throw Shell.Failure(description: "mount did not appear; log:\n\(self.log)")
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
    }

    /// Whether the process started is still running (a daemon that forked away has exited).
    public var isRunning: Bool { process.isRunning }

    /// Set once the test killed or signalled the daemon itself (its exit status is the test's).
    public private(set) var endedByTest = false

    /// SIGKILL, as a crash or the OOM killer would; the mount point is detached afterwards.
    public func kill() throws {
        endedByTest = true
        try Shell.bash("kill -9 \(process.processIdentifier)")
        process.waitUntilExit()
        _ = try? Shell.run(["fusermount3", "-u", "-z", mountpoint])
    }

    /// Sends `signal` (SIGTERM, as systemd does; nil sends none) and waits up to `timeout` seconds
    /// for the daemon to exit; returns its exit status, or nil if it is still running.
    public func stop(signal: Int32? = SIGTERM, timeout: Double = 120) -> Int32? {
        endedByTest = true
        if let signal { Glibc.kill(process.processIdentifier, signal) }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// Waits until the daemon has no segment deletion queued (`swiftmount status --json`): `rm`
    /// and `close` return before the old segments of a large object are judged and deleted.
    public func waitForReclaims(timeout: Double = 60) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let json = try Shell.run([Self.binary, "status", mountpoint, "--json"]).stdout
            let status = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            guard let pending = status?["segment_reclaims_pending"] as? Int else {
                throw Shell.Failure(description: "no segment_reclaims_pending in the status: \(json)")
            }
            if pending == 0 { return }
            guard Date() < deadline else { throw Shell.Failure(description: "\(pending) segment deletions still queued after \(Int(timeout)) s") }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    public func path(_ name: String) -> String { mountpoint + "/" + name }

    public static func isMounted(_ mountpoint: String) -> Bool {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        return mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst().first.map(String.init) == mountpoint }
    }

    /// Unmounts and waits for the daemon to exit; returns its exit status.
    @discardableResult
    public func unmount() throws -> Int32 {
        if Self.isMounted(mountpoint) {
            try Shell.bash("fusermount3 -u \(Shell.quote(mountpoint))")
        }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: mountpoint)
        return process.terminationStatus
    }

    deinit {
        if Self.isMounted(mountpoint) { _ = try? Shell.run(["fusermount3", "-u", "-z", mountpoint]) }
        if process.isRunning { process.terminate() }
    }
}

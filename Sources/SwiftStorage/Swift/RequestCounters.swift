import Foundation

/// Counts of the requests a client sent, for `swiftmount status` and metrics.
public final class RequestCounters: @unchecked Sendable {
    public struct Snapshot: Sendable {
        public var total = 0
        public var retries = 0
        public var reauthentications = 0
        /// By HTTP status, or "error" for failures below HTTP.
        public var byStatus: [String: Int] = [:]
        public var bytesUp = 0
        public var bytesDown = 0
    }

    private let lock = NSLock()
    private var counts = Snapshot()

    public init() {}

    public var snapshot: Snapshot {
        lock.lock()
        defer { lock.unlock() }
        return counts
    }

    func record(status: Int?, up: Int, down: Int) {
        lock.lock()
        counts.total += 1
        counts.byStatus[status.map(String.init) ?? "error", default: 0] += 1
        counts.bytesUp += up
        counts.bytesDown += down
        lock.unlock()
    }

    public func retried() {
        lock.lock()
        counts.retries += 1
        lock.unlock()
    }

    func reauthenticated() {
        lock.lock()
        counts.reauthentications += 1
        lock.unlock()
    }
}

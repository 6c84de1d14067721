import Synchronization

/// Counts of the requests a client sent, for `swiftmount status` and metrics.
public final class RequestCounters: Sendable {
    public struct Snapshot: Sendable {
        public var total = 0
        public var retries = 0
        public var reauthentications = 0
        /// By HTTP status, or "error" for failures below HTTP.
        public var byStatus: [String: Int] = [:]
        public var bytesUp = 0
        public var bytesDown = 0
    }

    private let counts = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { counts.withLock { $0 } }

    func record(status: Int?, up: Int, down: Int) {
        counts.withLock { counts in
            counts.total += 1
            counts.byStatus[status.map(String.init) ?? "error", default: 0] += 1
            counts.bytesUp += up
            counts.bytesDown += down
        }
    }

    public func retried() {
        counts.withLock { $0.retries += 1 }
    }

    func reauthenticated() {
        counts.withLock { $0.reauthentications += 1 }
    }
}

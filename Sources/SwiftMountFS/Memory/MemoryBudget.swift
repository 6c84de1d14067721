import Foundation

/// Caps the bytes held by background work (segments waiting for or in upload). A writer that
/// would exceed the cap waits: back-pressure instead of an unbounded queue.
/// Unchecked: writers wait for room on an NSCondition; Mutex cannot wait.
public final class MemoryBudget: @unchecked Sendable {
    public let capacity: Int
    private let condition = NSCondition()
    private var used = 0
    /// Counts releases, for a waiter that needs any progress rather than an empty budget.
    private var releases = 0

    public init(capacity: Int) {
        self.capacity = capacity
    }

    public var inUse: Int {
        condition.lock()
        defer { condition.unlock() }
        return used
    }

    public func acquire(_ bytes: Int) {
        condition.lock()
        // A request larger than the whole cap is let through alone rather than never.
        while used > 0 && used + bytes > capacity { condition.wait() }
        used += bytes
        condition.unlock()
    }

    /// Takes `bytes` only if they fit now (for optional work such as read-ahead).
    public func tryAcquire(_ bytes: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard used + bytes <= capacity else { return false }
        used += bytes
        return true
    }

    /// Waits until some bytes are released, at most `timeout` seconds; false at once if nothing
    /// is held, or if nothing was released in time.
    public func waitForRelease(timeout: TimeInterval) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        let start = releases
        let deadline = Date().addingTimeInterval(timeout)
        while used > 0 && releases == start {
            guard condition.wait(until: deadline) else { break }
        }
        return releases != start
    }

    public func release(_ bytes: Int) {
        condition.lock()
        used -= bytes
        releases += 1
        condition.broadcast()
        condition.unlock()
    }
}

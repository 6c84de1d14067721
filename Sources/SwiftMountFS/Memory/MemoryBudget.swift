import Foundation

/// Caps the bytes held by background work (segments waiting for or in upload). A writer that
/// would exceed the cap waits: back-pressure instead of an unbounded queue.
public final class MemoryBudget: @unchecked Sendable {
    public let capacity: Int
    private let condition = NSCondition()
    private var used = 0

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

    /// Waits until nothing is held (every upload drained).
    public func waitUntilIdle() {
        condition.lock()
        while used > 0 { condition.wait() }
        condition.unlock()
    }

    public func release(_ bytes: Int) {
        condition.lock()
        used -= bytes
        condition.broadcast()
        condition.unlock()
    }
}

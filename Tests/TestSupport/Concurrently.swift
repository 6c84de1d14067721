import Foundation

/// Runs `body` on `count` threads at once and returns the errors they threw.
public func concurrently(_ count: Int, _ body: @Sendable (Int) throws -> Void) -> [Error] {
    let lock = NSLock()
    nonisolated(unsafe) var errors: [Error] = []
    DispatchQueue.concurrentPerform(iterations: count) { i in
        do { try body(i) } catch {
            lock.lock()
            errors.append(error)
            lock.unlock()
        }
    }
    return errors
}

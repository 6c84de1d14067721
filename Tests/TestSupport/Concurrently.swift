import Foundation

/// Runs `body` on `count` threads of their own, all at once (not a pool sized to the cores, so
/// races can show), and returns the errors they threw; fails if one has not ended within `timeout`.
public func concurrently(_ count: Int, timeout: Double = 120, _ body: @escaping @Sendable (Int) throws -> Void) -> [Error] {
    let done = DispatchGroup()
    let lock = NSLock()
    nonisolated(unsafe) var errors: [Error] = []
    let start = DispatchSemaphore(value: 0)
    for i in 0..<count {
        done.enter()
        Thread {
            start.wait()
            do { try body(i) } catch { lock.withLock { errors.append(error) } }
            done.leave()
        }.start()
    }
    for _ in 0..<count { start.signal() }
    if done.wait(timeout: .now() + timeout) == .timedOut {
        lock.withLock { errors.append(Shell.Failure(description: "a thread did not finish within \(Int(timeout)) s")) }
    }
    return lock.withLock { errors }
}

import Foundation

/// A fixed number of threads running queued jobs. Jobs here block on the network, which is why
/// they run on plain threads rather than on Swift concurrency's cooperative pool.
/// Unchecked: threads wait for jobs on an NSCondition; Mutex cannot wait.
public final class WorkerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var head = 0
    private var started = false
    private let threadCount: Int
    private let name: String

    public init(name: String, threads: Int) {
        self.name = name
        self.threadCount = max(1, threads)
    }

    /// Threads start on first use, so a daemon can fork before any exist.
    public func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        if !started {
            started = true
            for i in 0..<threadCount {
                // Named from inside: on Linux a name given before start() is lost.
                Thread { [self] in
                    Thread.current.name = "\(name)-\(i)"
                    self.run()
                }.start()
            }
        }
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            // Drop the queue's reference now: a job may hold a whole segment.
            jobs[head] = {}
            head += 1
            if head > 1024 {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job()
        }
    }
}

/// A value produced later by a pool job; `wait` blocks until it is there.
/// Unchecked: `wait` blocks on an NSCondition; Mutex cannot wait.
public final class Pending<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<Value, Error>?

    public init() {}

    public func fulfill(_ value: Result<Value, Error>) {
        condition.lock()
        result = value
        condition.broadcast()
        condition.unlock()
    }

    public func wait() throws -> Value {
        condition.lock()
        defer { condition.unlock() }
        while result == nil { condition.wait() }
        return try result!.get()
    }
}

import Foundation
import SwiftStorage

/// df(1): the account's usage against its quota (`X-Account-Meta-Quota-Bytes`); without a quota,
/// a 1 PiB filesystem (Swift has no fixed capacity, and tools must not refuse to copy). Asked at
/// most every 30 s; if the account cannot be asked, the last answer or the default.
final class AccountSpace: @unchecked Sendable {
    private let client: SwiftClient
    private let lock = NSLock()
    private var usage: AccountUsage?
    private var fetched: Date?

    init(client: SwiftClient) {
        self.client = client
    }

    func statfs() -> FilesystemStats {
        let blockSize = 1 << 20
        lock.lock()
        var known = usage
        let stale = fetched.map { Date().timeIntervalSince($0) > 30 } ?? true
        lock.unlock()
        if stale, let fresh = try? client.accountUsage() {
            known = fresh
            lock.lock()
            usage = fresh
            fetched = Date()
            lock.unlock()
        }
        let capacity = known?.quotaBytes ?? (1 << 50)
        let used = known?.bytesUsed ?? 0
        let total = max(1, (capacity + blockSize - 1) / blockSize)
        let free = max(0, capacity - used) / blockSize
        return FilesystemStats(blockSize: blockSize, totalBlocks: total, freeBlocks: free, files: 1 << 40, maxNameLength: 255)
    }
}

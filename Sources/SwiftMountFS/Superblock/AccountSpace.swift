import Foundation
import SwiftStorage
import Synchronization

/// df(1): the account's usage against its quota (`X-Account-Meta-Quota-Bytes`); without a quota,
/// a 1 PiB filesystem (Swift has no fixed capacity, and tools must not refuse to copy). Asked at
/// most every 30 s; if the account cannot be asked, the last answer or the default.
final class AccountSpace: Sendable {
    private let client: SwiftClient
    /// The last answer and when it came; asked again outside the lock.
    private let last = Mutex<(usage: AccountUsage?, fetched: Date?)>((nil, nil))

    init(client: SwiftClient) {
        self.client = client
    }

    func statfs() -> FilesystemStats {
        let blockSize = 1 << 20
        var (known, fetched) = last.withLock { $0 }
        let stale = fetched.map { Date().timeIntervalSince($0) > 30 } ?? true
        if stale, let fresh = try? client.accountUsage() {
            known = fresh
            fetched = Date()
            last.withLock { $0 = (fresh, fetched) }
        }
        let capacity = known?.quotaBytes ?? (1 << 50)
        let used = known?.bytesUsed ?? 0
        let total = max(1, (capacity + blockSize - 1) / blockSize)
        let free = max(0, capacity - used) / blockSize
        return FilesystemStats(blockSize: blockSize, totalBlocks: total, freeBlocks: free, files: 1 << 40, maxNameLength: 255)
    }
}

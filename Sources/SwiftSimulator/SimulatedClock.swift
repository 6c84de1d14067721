import Foundation
import Synchronization
import SwiftStorage

/// A clock that moves only when told to, or when something sleeps on it (a retry's backoff
/// passes at once). Shared by the simulated cluster and the client under test, so token expiry
/// and grace periods are the test's to decide.
public final class SimulatedClock: WallClock {
    private let current: Mutex<Date>

    public init(start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    public func sleep(seconds: Double) { advance(seconds) }

    public func advance(_ seconds: Double) {
        current.withLock { $0 += max(0, seconds) }
    }
}

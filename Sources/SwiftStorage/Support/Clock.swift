import Foundation

/// Wall-clock time, injectable so expiry logic can be tested without waiting.
public protocol WallClock: Sendable {
    func now() -> Date
    func sleep(seconds: Double)
}

public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(seconds: Double) {
        if seconds > 0 { Thread.sleep(forTimeInterval: seconds) }
    }
}

/// Exponential backoff: `base`, doubled per attempt, capped.
public struct Backoff: Sendable {
    public var base: Double
    public var cap: Double

    public init(base: Double = 0.25, cap: Double = 8) {
        self.base = base
        self.cap = cap
    }

    public func delay(afterAttempt attempt: Int) -> Double {
        min(cap, base * Double(1 << min(attempt, 20)))
    }
}

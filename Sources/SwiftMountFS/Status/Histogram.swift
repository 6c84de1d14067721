import Foundation

/// Counts of durations in fixed buckets (Prometheus style: each bucket counts values ≤ its bound).
public final class Histogram: @unchecked Sendable {
    public let bounds: [Double]
    private let lock = NSLock()
    private var counts: [Int]
    private var sum = 0.0
    private var count = 0

    public init(bounds: [Double]) {
        self.bounds = bounds
        counts = Array(repeating: 0, count: bounds.count)
    }

    func observe(_ value: Double) {
        lock.lock()
        for (i, bound) in bounds.enumerated() where value <= bound { counts[i] += 1 }
        sum += value
        count += 1
        lock.unlock()
    }

    var snapshot: HistogramStatus {
        lock.lock()
        defer { lock.unlock() }
        return HistogramStatus(bounds: bounds, cumulativeCounts: counts, sum: sum, count: count)
    }
}

public struct HistogramStatus: Codable, Sendable {
    public var bounds: [Double]
    public var cumulativeCounts: [Int]
    public var sum: Double
    public var count: Int
}

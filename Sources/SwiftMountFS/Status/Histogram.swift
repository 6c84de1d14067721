import Synchronization

/// Counts of durations in fixed buckets (Prometheus style: each bucket counts values ≤ its bound).
public final class Histogram: Sendable {
    public let bounds: [Double]
    private let state: Mutex<HistogramStatus>

    public init(bounds: [Double]) {
        self.bounds = bounds
        state = Mutex(HistogramStatus(bounds: bounds, cumulativeCounts: Array(repeating: 0, count: bounds.count), sum: 0, count: 0))
    }

    func observe(_ value: Double) {
        state.withLock { state in
            for (i, bound) in bounds.enumerated() where value <= bound { state.cumulativeCounts[i] += 1 }
            state.sum += value
            state.count += 1
        }
    }

    var snapshot: HistogramStatus { state.withLock { $0 } }
}

public struct HistogramStatus: Codable, Sendable {
    public var bounds: [Double]
    public var cumulativeCounts: [Int]
    public var sum: Double
    public var count: Int
}

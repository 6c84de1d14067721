import SwiftStorage

/// Segment sizes for an upload whose final size is unknown while it is written. The cluster caps
/// segments per manifest (`max_manifest_segments`, 1000 by default): rather than fail at segment
/// 1001, each time half of the remaining segment allowance is used up the size doubles (up to the
/// largest object Swift takes, so 4 GiB under Swift's 5 GiB). With 64 MiB and 1000 segments an
/// upload holds 251.75 GiB; a write beyond that is EFBIG.
struct SegmentPlan: Sendable {
    let base: Int
    let maxSegments: Int
    let maxSize: Int

    /// Size of the segment after `submitted` segments.
    func size(after submitted: Int) -> Int {
        Self.size(after: submitted, base: base, maxSegments: maxSegments, maxSize: maxSize)
    }

    private static func size(after submitted: Int, base: Int, maxSegments: Int, maxSize: Int) -> Int {
        var size = base
        var phaseEnd = maxSegments / 2
        while submitted >= phaseEnd && size * 2 <= maxSize && phaseEnd < maxSegments - 1 {
            size *= 2
            phaseEnd += max((maxSegments - phaseEnd) / 2, 1)
        }
        return size
    }

    /// The most bytes an upload can hold under this plan.
    let capacity: Int

    init(base: Int, cluster: ClusterInfo) {
        self.base = max(base, cluster.minSegmentSize)
        self.maxSegments = max(cluster.maxManifestSegments, 2)
        self.maxSize = max(cluster.maxFileSize - 2, base)
        var total = 0
        for i in 0..<maxSegments { total += Self.size(after: i, base: self.base, maxSegments: maxSegments, maxSize: maxSize) }
        capacity = total
    }
}

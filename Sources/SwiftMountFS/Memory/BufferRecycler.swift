import Synchronization

/// Keeps a few large byte buffers for reuse. Read windows are megabytes each; allocating them
/// afresh costs a page fault per 4 KiB (it doubled the daemon's CPU per GiB), while a reused
/// buffer's pages are already there. At most `keepBytes` of capacity waits here (a count would
/// let large windows pile up).
final class BufferRecycler: Sendable {
    private let spare = Mutex<[[UInt8]]>([])
    private let keepBytes: Int

    init(keepBytes: Int) {
        self.keepBytes = keepBytes
    }

    /// An empty buffer with room for `capacity` bytes.
    func take(capacity: Int) -> [UInt8] {
        var buffer = spare.withLock { spare in
            spare.firstIndex { $0.capacity >= capacity }.map { spare.remove(at: $0) } ?? []
        }
        buffer.reserveCapacity(capacity)
        return buffer
    }

    /// Takes `buffer` (leaving it empty). Only a buffer nothing else refers to is kept: emptying a
    /// shared one would allocate anew.
    func recycle(_ buffer: inout [UInt8]) {
        var taken: [UInt8] = []
        swap(&taken, &buffer)
        guard taken.capacity > 0 else { return }
        taken.removeAll(keepingCapacity: true)
        spare.withLock { spare in
            if spare.reduce(taken.capacity, { $0 + $1.capacity }) <= keepBytes { spare.append(taken) }
        }
    }
}

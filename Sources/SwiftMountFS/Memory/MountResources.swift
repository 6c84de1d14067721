import Logging
import SwiftStorage

/// What every container of a mount shares (account mode serves many): the worker pools, the
/// reclaimer of unused segments, and the caps on bytes held for file data, so `upload_concurrency`, `max_write_buffer` and
/// `max_read_buffer` hold per mount, as documented, not per container.
public final class MountResources: Sendable {
    let uploadPool: WorkerPool
    let readPool: WorkerPool
    /// Read-ahead of attributes (HEADs of objects other clients wrote).
    let statPool: WorkerPool
    /// Segment bytes queued or in flight, spooled in `cache_dir`.
    let spoolBudget: MemoryBudget
    /// Read-ahead windows, in RAM.
    let readBudget: MemoryBudget
    let readBuffers: BufferRecycler
    let reclaimer: SegmentReclaimer
    /// Segmented uploads under way in every container: an account mount's containers may share
    /// one `segment_container`.
    let live = LiveUploads()

    public init(options: MountOptions, client: SwiftClient, logger: Logger) {
        reclaimer = SegmentReclaimer(client: client, logger: logger)
        uploadPool = WorkerPool(name: "upload", threads: options.uploadConcurrency)
        readPool = WorkerPool(name: "read", threads: options.readConcurrency)
        statPool = WorkerPool(name: "stat", threads: 8)
        spoolBudget = MemoryBudget(capacity: max(options.maxWriteBuffer, 2 * options.segmentSize))
        readBudget = MemoryBudget(capacity: options.maxReadBuffer)
        readBuffers = BufferRecycler(keepBytes: max(options.maxReadBuffer, 2 * max(options.readAhead, 1 << 20)))
    }

    /// The caps and what is held against them now.
    var memory: MemoryStatus {
        MemoryStatus(writeBufferUsed: spoolBudget.inUse, writeBufferCap: spoolBudget.capacity,
                     readBufferUsed: readBudget.inUse, readBufferCap: readBudget.capacity)
    }
}

import Foundation

/// One upload or read, as `swiftmount status` shows it. Updated by the engines under its own
/// lock, so a status request never waits for a writer blocked on the network.
public final class Transfer: @unchecked Sendable {
    public enum Kind: String, Codable, Sendable { case upload, read }
    public enum State: String, Codable, Sendable { case writing, storing, stored, failed, unlinked, reading, closed }

    let kind: Kind
    let path: String
    private let lock = NSLock()
    private let started = Date()
    private var finished: Date?
    private var state: State
    /// Bytes handed to the mount by the writer (uploads) or known size (reads).
    private var total: Int
    /// Bytes Swift acknowledged (uploads) or bytes delivered to the reader (reads).
    private var done = 0
    private var segments = 0

    init(kind: Kind, path: String, total: Int = 0) {
        self.kind = kind
        self.path = path
        self.total = total
        state = kind == .upload ? .writing : .reading
    }

    private func mutate(_ change: () -> Void) {
        lock.lock()
        change()
        // A file stored by fsync and then written on is in progress again.
        finished = [.stored, .failed, .closed].contains(state) ? finished ?? Date() : nil
        lock.unlock()
    }

    func grow(total newTotal: Int) { mutate { total = max(total, newTotal) } }
    func advance(_ bytes: Int, segment: Bool = false) {
        mutate {
            done += bytes
            if segment { segments += 1 }
        }
    }
    func set(_ newState: State) { mutate { state = newState } }
    /// The whole file is in Swift.
    func stored() {
        mutate {
            state = .stored
            done = total
        }
    }
    /// A staged file is uploaded again from its first byte.
    func restart() {
        mutate {
            done = 0
            segments = 0
        }
    }

    var snapshot: TransferStatus {
        lock.lock()
        defer { lock.unlock() }
        let elapsed = (finished ?? Date()).timeIntervalSince(started)
        return TransferStatus(kind: kind, path: path, state: state, bytesTotal: total, bytesDone: done,
                              segmentsAcknowledged: segments, startedAt: started.timeIntervalSince1970,
                              seconds: elapsed, megabytesPerSecond: elapsed > 0 ? Double(done) / elapsed / 1e6 : 0)
    }
}

/// The mount's transfers: those in progress, and the last few finished ones (so a script polling
/// status sees how a copy ended).
final class TransferRegistry: @unchecked Sendable {
    private let lock = NSLock()
    private var active: [ObjectIdentifier: Transfer] = [:]
    private var finished: [Transfer] = []
    private let keepFinished = 16

    func start(_ kind: Transfer.Kind, path: String, total: Int = 0) -> Transfer {
        let transfer = Transfer(kind: kind, path: path, total: total)
        lock.lock()
        active[ObjectIdentifier(transfer)] = transfer
        lock.unlock()
        return transfer
    }

    /// `record` false forgets a transfer that never moved a byte (a file opened for writing and
    /// closed unchanged, as `touch` does).
    func end(_ transfer: Transfer, record: Bool = true) {
        lock.lock()
        defer { lock.unlock() }
        guard active.removeValue(forKey: ObjectIdentifier(transfer)) != nil, record else { return }
        finished.append(transfer)
        if finished.count > keepFinished { finished.removeFirst(finished.count - keepFinished) }
    }

    /// The newest upload of `path`, in progress or among the recently finished.
    func latestUpload(of path: String) -> TransferStatus? {
        lock.lock()
        let candidates = Array(active.values) + finished
        lock.unlock()
        return candidates.map(\.snapshot).filter { $0.kind == .upload && $0.path == path }.max { $0.startedAt < $1.startedAt }
    }

    var snapshot: (active: [TransferStatus], recent: [TransferStatus]) {
        lock.lock()
        let current = Array(active.values), recent = finished
        lock.unlock()
        return (current.map(\.snapshot).sorted { $0.startedAt < $1.startedAt }, recent.map(\.snapshot))
    }
}

import Foundation
import Synchronization

/// One upload or read, as `swiftmount status` shows it. Updated by the engines under its own
/// lock, so a status request never waits for a writer blocked on the network.
public final class Transfer: Sendable {
    public enum Kind: String, Codable, Sendable { case upload, read }
    public enum State: String, Codable, Sendable { case writing, storing, stored, failed, unlinked, reading, closed }

    private struct Progress {
        var finished: Date?
        var state: State
        /// Bytes handed to the mount by the writer (uploads) or known size (reads).
        var total: Int
        /// Bytes Swift acknowledged (uploads) or bytes delivered to the reader (reads).
        var done = 0
        var segments = 0
    }

    let kind: Kind
    let path: String
    private let started = Date()
    private let progress: Mutex<Progress>

    init(kind: Kind, path: String, total: Int = 0) {
        self.kind = kind
        self.path = path
        progress = Mutex(Progress(state: kind == .upload ? .writing : .reading, total: total))
    }

    private func mutate(_ change: (inout Progress) -> Void) {
        progress.withLock { p in
            change(&p)
            // A file stored by fsync and then written on is in progress again.
            p.finished = [.stored, .failed, .closed].contains(p.state) ? p.finished ?? Date() : nil
        }
    }

    func grow(total newTotal: Int) { mutate { $0.total = max($0.total, newTotal) } }
    func advance(_ bytes: Int, segment: Bool = false) {
        mutate {
            $0.done += bytes
            if segment { $0.segments += 1 }
        }
    }
    func set(_ newState: State) { mutate { $0.state = newState } }
    /// The whole file is in Swift.
    func stored() {
        mutate {
            $0.state = .stored
            $0.done = $0.total
        }
    }
    /// A staged file is uploaded again from its first byte.
    func restart() {
        mutate {
            $0.done = 0
            $0.segments = 0
        }
    }

    var snapshot: TransferStatus {
        let p = progress.withLock { $0 }
        let elapsed = (p.finished ?? Date()).timeIntervalSince(started)
        return TransferStatus(kind: kind, path: path, state: p.state, bytesTotal: p.total, bytesDone: p.done,
                              segmentsAcknowledged: p.segments, startedAt: started.timeIntervalSince1970,
                              seconds: elapsed, megabytesPerSecond: elapsed > 0 ? Double(p.done) / elapsed / 1e6 : 0)
    }
}

/// The mount's transfers: those in progress, and the last few finished ones (so a script polling
/// status sees how a copy ended).
final class TransferRegistry: Sendable {
    private struct Table {
        var active: [ObjectIdentifier: Transfer] = [:]
        var finished: [Transfer] = []
    }

    private let table = Mutex(Table())
    private let keepFinished = 16

    func start(_ kind: Transfer.Kind, path: String, total: Int = 0) -> Transfer {
        let transfer = Transfer(kind: kind, path: path, total: total)
        table.withLock { $0.active[ObjectIdentifier(transfer)] = transfer }
        return transfer
    }

    /// `record` false forgets a transfer that never moved a byte (a file opened for writing and
    /// closed unchanged, as `touch` does).
    func end(_ transfer: Transfer, record: Bool = true) {
        table.withLock { table in
            guard table.active.removeValue(forKey: ObjectIdentifier(transfer)) != nil, record else { return }
            table.finished.append(transfer)
            if table.finished.count > keepFinished { table.finished.removeFirst(table.finished.count - keepFinished) }
        }
    }

    /// The newest upload of `path`, in progress or among the recently finished.
    func latestUpload(of path: String) -> TransferStatus? {
        let candidates = table.withLock { Array($0.active.values) + $0.finished }
        return candidates.map(\.snapshot).filter { $0.kind == .upload && $0.path == path }.max { $0.startedAt < $1.startedAt }
    }

    var snapshot: (active: [TransferStatus], recent: [TransferStatus]) {
        let (current, recent) = table.withLock { (Array($0.active.values), $0.finished) }
        return (current.map(\.snapshot).sorted { $0.startedAt < $1.startedAt }, recent.map(\.snapshot))
    }
}

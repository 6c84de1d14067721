import Foundation
import Glibc
import Synchronization

/// A container's open files: handle → reader or writer, the writer of each path being written
/// (getattr and readdir show a file before Swift has it), and whether the mount is shutting down.
/// Handles carry their container's tag in the top bits, so an account mount finds a handle's
/// container without a table of its own.
final class OpenFiles: Sendable {
    enum File: Sendable {
        case reader(FileReader)
        case writer(FileWriter)
    }

    static let tagShift: UInt64 = 40

    private struct State {
        var handles: [UInt64: File] = [:]
        var next: UInt64
        var writers: [ObjectPath: FileWriter] = [:]
        var draining = false
        var drainDeadline: Date?
        /// Moves on each change to the handles, the writers or the deadline: what a drain waits for.
        var generation = 0
    }

    private let state: Mutex<State>
    /// Wakes a drain when `generation` moves (its lock only ever guards a wait, never the state).
    private let moved = NSCondition()

    init(tag: UInt64) {
        state = Mutex(State(next: tag << Self.tagShift | 1))
    }

    static func tag(of handle: UInt64) -> UInt64 { handle >> tagShift }

    /// EROFS once the mount is shutting down: checked before anything is asked of Swift, so a
    /// refused open changes nothing.
    func refuseWritersWhileDraining(_ path: ObjectPath) throws {
        if isDraining { throw FSError(EROFS, "\(path): the mount is shutting down") }
    }

    /// A handle on a new writer, which becomes the file shown at its path; one refused because the
    /// shutdown began meanwhile is closed again (it leaves no transfer behind).
    func open(writer make: () throws -> FileWriter) throws -> UInt64 {
        let writer = try make()
        do { return try open(.writer(writer)) } catch {
            writer.close()
            throw error
        }
    }

    /// A new handle; a writer also becomes the file shown at its path. No writer is opened once
    /// the mount is shutting down.
    func open(_ file: File) throws -> UInt64 {
        try changing { state in
            if case .writer(let writer) = file {
                if state.draining { throw FSError(EROFS, "\(writer.path): the mount is shutting down") }
                state.writers[writer.path] = writer
            }
            let handle = state.next
            state.next += 1
            state.handles[handle] = file
            return handle
        }
    }

    func file(_ handle: UInt64) throws -> File {
        guard let file = state.withLock({ $0.handles[handle] }) else { throw FSError(EBADF) }
        return file
    }

    /// Removes the handle; its writer stops being shown at its path.
    func close(_ handle: UInt64) -> File? {
        changing { state in
            let file = state.handles.removeValue(forKey: handle)
            if case .writer(let writer) = file, state.writers[writer.path] === writer { state.writers[writer.path] = nil }
            return file
        }
    }

    func writer(for path: ObjectPath) -> FileWriter? {
        state.withLock { $0.writers[path] }
    }

    /// A file being written at `path` or anywhere under it.
    func writer(atOrUnder path: ObjectPath) -> ObjectPath? {
        state.withLock { $0.writers.keys.first { $0 == path || $0.key.hasPrefix(path.directoryPrefix) } }
    }

    func writers(under prefix: String) -> [FileWriter] {
        state.withLock { $0.writers.values.filter { $0.path.key.hasPrefix(prefix) } }
    }

    /// Takes the writer of `path` out of the namespace (its handles stay open).
    func detachWriter(_ path: ObjectPath) -> FileWriter? {
        changing { $0.writers.removeValue(forKey: path) }
    }

    /// Puts back a writer an unlink that failed had taken out (unless the name has a new one).
    func reattach(_ writer: FileWriter) {
        changing { state in
            let open = state.handles.values.contains { if case .writer(let w) = $0 { w === writer } else { false } }
            if state.writers[writer.path] == nil, open { state.writers[writer.path] = writer }
        }
    }

    // MARK: - Shutdown

    var isDraining: Bool { state.withLock { $0.draining } }

    /// From now on no file is opened for writing; returns how many files are open.
    func startDraining(until deadline: Date?) -> Int {
        state.withLock { state in
            state.draining = true
            state.drainDeadline = deadline
            return state.handles.count
        }
    }

    /// Open files, files being written, the grace period's end, and the generation to wait past.
    var drainState: (open: Int, writing: [FileWriter], deadline: Date?, generation: Int) {
        state.withLock { ($0.handles.count, Array($0.writers.values), $0.drainDeadline, $0.generation) }
    }

    func endDrainNow() {
        changing { $0.drainDeadline = Date() }
    }

    /// Waits until a file closes or the deadline changes after `generation` was read, or until
    /// `limit` (nil: no limit). No wakeup is lost: a change between the read and the wait finds
    /// the generation moved, and one after it finds the waiter waiting.
    func waitForChange(after generation: Int, until limit: Date?) {
        moved.lock()
        defer { moved.unlock() }
        while state.withLock({ $0.generation }) == generation {
            guard let limit else {
                moved.wait()
                continue
            }
            guard moved.wait(until: limit) else { return }
        }
    }

    /// A change to the open files, the writers shown or the deadline: a drain waiting looks again.
    private func changing<T>(_ body: (inout State) throws -> T) rethrows -> T {
        let result = try state.withLock { state in
            defer { state.generation += 1 }
            return try body(&state)
        }
        moved.lock()
        moved.broadcast()
        moved.unlock()
        return result
    }
}

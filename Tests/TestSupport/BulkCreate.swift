import Foundation
import SwiftStorage

/// Creates many empty objects quickly with Swift's bulk middleware (`extract-archive=tar`): one
/// request per batch instead of one PUT per object. A batch stops at its first failure (a token
/// that expired mid-batch), so afterwards the listing is checked and what is missing sent again.
public enum BulkCreate {
    public static func emptyObjects(_ names: [String], in container: String, client: SwiftClient,
                                    batch: Int = 60, threads: Int = 3) throws {
        var missing = names
        for _ in 0..<4 where !missing.isEmpty {
            let batches = stride(from: 0, to: missing.count, by: batch).map { Array(missing[$0..<min($0 + batch, missing.count)]) }
            try inParallel(batches, threads: threads) { try send($0, to: container, client: client) }
            var listed = Set<String>()
            for case .object(let o) in try client.listAll(container: container, delimiter: nil) { listed.insert(o.name) }
            missing = names.filter { !listed.contains($0) }
        }
        guard missing.isEmpty else { throw Shell.Failure(description: "bulk create: \(missing.count) objects not created") }
    }

    private static func inParallel(_ batches: [[String]], threads: Int, _ work: @escaping @Sendable ([String]) throws -> Void) throws {
        final class Queue: @unchecked Sendable {
            let lock = NSLock()
            var next = 0
            var failure: Error?
        }
        let queue = Queue()
        let group = DispatchGroup()
        for _ in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                while true {
                    queue.lock.lock()
                    let index = queue.next
                    queue.next += 1
                    let failed = queue.failure != nil
                    queue.lock.unlock()
                    guard index < batches.count, !failed else { return }
                    do { try work(batches[index]) } catch {
                        queue.lock.lock()
                        queue.failure = error
                        queue.lock.unlock()
                    }
                }
            }.start()
        }
        group.wait()
        if let failure = queue.failure { throw failure }
    }

    private static func send(_ names: [String], to container: String, client: SwiftClient) throws {
        var call = SwiftClient.Call(.put, container: container)
        call.query = [("extract-archive", "tar")]
        call.headers = [("Accept", "application/json")]
        call.body = tar(names)
        _ = try client.send(call)
    }

    /// A ustar archive of empty regular files.
    static func tar(_ names: [String]) -> [UInt8] {
        var archive: [UInt8] = []
        archive.reserveCapacity(names.count * 512 + 1024)
        for name in names {
            var header = [UInt8](repeating: 0, count: 512)
            func put(_ text: String, at offset: Int) {
                for (i, byte) in text.utf8.enumerated() { header[offset + i] = byte }
            }
            precondition(name.utf8.count <= 100, "ustar names here are at most 100 bytes")
            put(name, at: 0)
            put("0000644", at: 100)
            put("0000000", at: 108)
            put("0000000", at: 116)
            put("00000000000", at: 124)
            put(String(Int(Date().timeIntervalSince1970), radix: 8), at: 136)
            put("        ", at: 148)
            put("0", at: 156)
            put("ustar", at: 257)
            put("00", at: 263)
            let checksum = header.reduce(0) { $0 + Int($1) }
            put(String(format: "%06o", checksum) + "\0 ", at: 148)
            archive += header
        }
        return archive + [UInt8](repeating: 0, count: 1024)
    }
}

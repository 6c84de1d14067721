import Foundation
import Synchronization
import XCTest

/// The filesystem against a reference model over the simulated cluster: random sequences of
/// operations (with faults, token expiry and crashes among them), checked after every step.
///
/// `SWIFTMOUNT_MODEL_SEQUENCES` sets how many sequences run (default 100 of 30 steps, a CI budget);
/// `SWIFTMOUNT_MODEL_SEED` replays one seed; `SWIFTMOUNT_MODEL_LENGTH` sets steps per sequence.
/// A failure prints its seed and the shrunk sequence, and the command that replays it.
final class ReferenceModelTests: XCTestCase {
    let environment = ProcessInfo.processInfo.environment
    let generator = SequenceGenerator(segment: Harness.segment)

    func testRandomSequencesAgreeWithTheModel() throws {
        Self.coldListedChecked.withLock { $0 = 0 }
        Self.resumedUploads.withLock { $0 = 0 }
        Self.lateReclaims.withLock { $0 = 0 }
        let length = Int(environment["SWIFTMOUNT_MODEL_LENGTH"] ?? "") ?? 30
        let seeds: [UInt64]
        if let seed = environment["SWIFTMOUNT_MODEL_SEED"].flatMap(UInt64.init) {
            seeds = [seed]
        } else {
            let count = Int(environment["SWIFTMOUNT_MODEL_SEQUENCES"] ?? "") ?? 100
            let base = UInt64(environment["SWIFTMOUNT_MODEL_BASE"] ?? "") ?? 1
            seeds = (0..<UInt64(count)).map { base + $0 }
        }
        let started = Date()
        var steps = 0
        for seed in seeds {
            let ops = generator.sequence(seed: seed, length: length)
            guard let failure = try Self.run(ops) else {
                steps += ops.count
                continue
            }
            let minimal = try Self.shrink(ops)
            let lastError = try Self.run(minimal) ?? failure
            XCTFail("""
                seed \(seed): \(failure)
                shrunk to \(minimal.count) steps (\(lastError)):
                \(minimal.enumerated().map { "  \($0.offset + 1). \($0.element)" }.joined(separator: "\n"))
                replay: SWIFTMOUNT_MODEL_SEED=\(seed) SWIFTMOUNT_MODEL_LENGTH=\(length) swift test --filter ReferenceModelTests
                """)
            return
        }
        let listed = Self.coldListedChecked.withLock { $0 }
        let resumed = Self.resumedUploads.withLock { $0 }
        let late = Self.lateReclaims.withLock { $0 }
        print("model: \(seeds.count) sequences, \(steps) steps in \(String(format: "%.1f", Date().timeIntervalSince(started))) s, "
              + "\(listed) entries checked as a cold daemon lists them, \(resumed) uploads resumed after a crash, "
              + "\(late) segment deletions queued across later steps")
        XCTAssertGreaterThan(listed, 0, "the listing fast path was never exercised")
        if seeds.count >= 50 {
            XCTAssertGreaterThan(resumed, 0, "no sequence resumed an upload a crash cut")
            XCTAssertGreaterThan(late, 0, "no segment deletion stayed queued while other steps ran")
        }
    }

    /// Runs a sequence on a fresh cluster; the first disagreement, or nil.
    static func run(_ ops: [Op]) throws -> String? {
        let harness = try Harness()
        for (index, op) in ops.enumerated() {
            do { try harness.step(op) } catch {
                return "step \(index + 1): \(error)"
            }
        }
        do { try harness.finalCheck() } catch { return "at the end: \(error)" }
        coldListedChecked.withLock { $0 += harness.coldListedChecked }
        resumedUploads.withLock { $0 += harness.resumedUploads }
        lateReclaims.withLock { $0 += harness.lateReclaims }
        return nil
    }

    static let coldListedChecked = Mutex(0)
    static let resumedUploads = Mutex(0)
    static let lateReclaims = Mutex(0)

    /// Removes steps while the sequence still fails: halves, then quarters, down to single steps.
    static func shrink(_ ops: [Op]) throws -> [Op] {
        var current = ops
        var chunk = max(1, current.count / 2)
        while chunk >= 1 {
            var start = 0
            var removedAny = false
            while start < current.count {
                var candidate = current
                candidate.removeSubrange(start..<min(current.count, start + chunk))
                if try run(candidate) != nil {
                    current = candidate
                    removedAny = true
                } else {
                    start += chunk
                }
            }
            // Single steps are tried again until none can go.
            if chunk == 1 && removedAny { continue }
            chunk /= 2
        }
        return current
    }

    // MARK: - Bugs found, kept as named sequences

    /// gc once judged segments by their object's name: a renamed large file lost its data.
    func testGcKeepsTheSegmentsOfARenamedLargeFile() throws {
        let s = Harness.segment
        XCTAssertNil(try Self.run([.write("/a", size: 3 * s + 5, pattern: 7), .rename("/a", "/b"), .gc(delete: true), .read("/b", offset: 0, count: 3 * s)]))
    }

    /// Rewriting a large file with the same bytes gave the new manifest the old one's slo_etag,
    /// which counted as a copy still using the old segments: they were never deleted.
    func testRewritingALargeFileWithTheSameBytesDeletesItsOldSegments() throws {
        XCTAssertNil(try Self.run([.write("/a", size: 123_273, pattern: 31), .patch("/a", offset: 113_984, count: 4279, pattern: 31)]))
    }

    /// A lookup in a directory the mount renamed away, then a file of the same name: the
    /// deleted marker's name must not hide the new file.
    func testAFileWhereARenamedDirectoryWasShows() throws {
        XCTAssertNil(try Self.run([.mkdir("/d"), .rename("/d", "/b"), .write("/d", size: 65_537, pattern: 37)]))
    }

    /// Another client storing a name the mount just deleted: it shows, the deleted one does not.
    func testAnotherClientsObjectUnderADeletedNameShows() throws {
        XCTAssertNil(try Self.run([.mkdir("/d"), .write("/d/a", size: 0, pattern: 39), .unlink("/d/a"),
                                   .otherPut("/d/a", size: 2248, pattern: 184)]))
    }

    /// rename(2) of a directory onto a non-empty one once merged them, overwriting files.
    func testDirectoryRenameOntoANonEmptyDirectoryChangesNothing() throws {
        XCTAssertNil(try Self.run([.mkdir("/d"), .mkdir("/e"), .write("/d/a", size: 10, pattern: 1), .write("/e/a", size: 20, pattern: 2),
                                   .write("/e/b", size: 30, pattern: 3), .rename("/d", "/e")]))
    }

    /// rmdir once looked only at what Swift holds: a directory whose only file was still being
    /// written was removed, and came back when the file was stored.
    func testRmdirOfADirectoryWithAFileBeingWrittenIsENOTEMPTY() throws {
        XCTAssertNil(try Self.run([.mkdir("/e"), .begin("/e/b", writer: 1), .rmdir("/e"), .finish(writer: 1, otherThread: false)]))
    }

    /// A directory that only another object made (no marker) lost its last stored object while a
    /// file was being written in it: it must not vanish from under the writer.
    func testDirectoryHoldingOnlyAFileBeingWrittenStays() throws {
        XCTAssertNil(try Self.run([.otherPut("/d/s/a", size: 803, pattern: 90), .begin("/d/a", writer: 0), .unlink("/d/s/a"),
                                   .finish(writer: 0, otherThread: false)]))
    }

    /// A file unlinked while being written finishes into the void, and its segments go.
    func testUnlinkWhileWritingStoresNothing() throws {
        let s = Harness.segment
        XCTAssertNil(try Self.run([.begin("/a", writer: 0), .append(writer: 0, size: 3 * s, pattern: 5), .unlink("/a"),
                                   .append(writer: 0, size: s, pattern: 6), .finish(writer: 0, otherThread: true), .gc(delete: false)]))
    }

    // MARK: - Resume after a crash

    /// Writes `first` of a large file and lets its full segments reach Swift, kills the daemon,
    /// then runs `after` on the next one; every step checked against the model as usual.
    private func crashMidUpload(size: Int, pattern: UInt8, fsyncAt: Int? = nil, then after: [Op],
                                afterCrash: (Harness) throws -> Void = { _ in }) throws -> Harness {
        let s = Harness.segment
        let harness = try Harness()
        var ops: [Op] = [.begin("/a", writer: 0)]
        if let fsyncAt { ops += [.append(writer: 0, size: fsyncAt, pattern: pattern), .fsync(writer: 0)] }
        ops.append(.append(writer: 0, size: size - (fsyncAt ?? 0), pattern: pattern))
        for op in ops { try harness.step(op) }
        let deadline = Date().addingTimeInterval(30)
        while harness.transport.segmentPuts < size / s {
            guard Date() < deadline else { throw Harness.Failure(description: "segments never reached Swift") }
            Thread.sleep(forTimeInterval: 0.01)
        }
        try harness.step(.crash)
        try afterCrash(harness)
        for op in after { try harness.step(op) }
        try harness.finalCheck()
        return harness
    }

    /// The same bytes written again after a crash: the segments Swift holds are not sent again.
    func testTheSameFileWrittenAgainAfterACrashSendsOnlyTheSegmentsSwiftLacks() throws {
        let s = Harness.segment
        let harness = try crashMidUpload(size: 3 * s + 5, pattern: 9, then: [.write("/a", size: 3 * s + 5, pattern: 9)])
        XCTAssertEqual(harness.resumedUploads, 1)
        XCTAssertEqual(harness.transport.segmentPuts, 1, "only the last, partial segment")
    }

    /// Different, shorter bytes under the resumed prefix: each segment is sent again under its
    /// old name, those past the new end go, and the file reads as the model's.
    func testADifferentShorterFileAfterACrashRewritesThePrefixAndDropsWhatIsPastItsEnd() throws {
        let s = Harness.segment
        let harness = try crashMidUpload(size: 3 * s + 5, pattern: 9, then: [.write("/a", size: s + 3, pattern: 10),
                                                                            .read("/a", offset: 0, count: 2 * s)])
        XCTAssertEqual(harness.resumedUploads, 1)
        XCTAssertEqual(harness.transport.segmentPuts, 2, "the two segments of the new file, under the old names")
        let segments = harness.cluster.objects(of: "demo")["c_segments"] ?? []
        XCTAssertEqual(segments.count, 2, "segment 3, past the new end, is deleted: \(segments)")
        XCTAssertFalse(segments.contains { $0.hasSuffix("/00000003") })
    }

    /// An fsync stores a manifest over the first segments: that upload is never resumed, so a
    /// rewrite cannot change a segment a stored manifest refers to (checked after every step).
    func testAnUploadWhoseManifestWasStoredByFsyncIsNeverResumed() throws {
        let s = Harness.segment
        let harness = try crashMidUpload(size: 3 * s, pattern: 9, fsyncAt: 2 * s, then: [.write("/a", size: 3 * s, pattern: 11), .gc(delete: true)]) { h in
            XCTAssertEqual(h.journalsLeftByLastCrash.count, 1)
            XCTAssertTrue(h.journalsLeftByLastCrash.joined().contains("\"closing\":true"), "marked closing: \(h.journalsLeftByLastCrash)")
            XCTAssertEqual(h.fs.status(mountpoint: "", auth: Harness.noAuth).activeUploads ?? [], [], "nothing waits to be resumed")
        }
        XCTAssertEqual(harness.resumedUploads, 0)
        XCTAssertEqual(harness.transport.segmentPuts, 3)
    }

    /// The old file's segments are still queued for deletion while the name is written again:
    /// the new file's segments stay, the old ones go once the deletions run.
    func testADeletionQueuedAcrossARewriteOfTheSameNameTakesOnlyTheOldSegments() throws {
        let s = Harness.segment
        let harness = try Harness()
        for op: Op in [.write("/a", size: 2 * s + 1, pattern: 1), .holdReclaims, .unlink("/a"),
                       .write("/a", size: 2 * s + 7, pattern: 2), .write("/a", size: 3 * s, pattern: 3),
                       .releaseReclaims, .read("/a", offset: 0, count: 3 * s)] {
            try harness.step(op)
        }
        XCTAssertEqual(harness.lateReclaims, 2, "the unlink's and the first rewrite's deletions waited")
        try harness.finalCheck()
        let segments = harness.cluster.objects(of: "demo")["c_segments"] ?? []
        XCTAssertEqual(segments.count, 3, "the last file's segments only: \(segments)")
    }

    /// SIGTERM with no grace while a large file is half written and another was fsync'd: new
    /// files get EROFS, nothing more is stored, and the aborted upload leaves no segment behind
    /// (the final check allows no orphan here, unlike after a crash).
    func testShutdownWithoutGraceAbortsWritersAndLeavesNoOrphans() throws {
        let s = Harness.segment
        XCTAssertNil(try Self.run([.write("/a", size: 2 * s + 9, pattern: 3), .begin("/a", writer: 0), .append(writer: 0, size: 3 * s, pattern: 4),
                                   .begin("/b", writer: 1), .append(writer: 1, size: 2 * s, pattern: 5), .fsync(writer: 1),
                                   .append(writer: 1, size: s, pattern: 6), .shutdown, .read("/a", offset: 0, count: 3 * s),
                                   .read("/b", offset: 0, count: 3 * s), .gc(delete: false)]))
    }
}

import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// Regression tests for ways a stored file could be destroyed or a failure hidden: gc next to
/// renamed, copied and live uploads, directory renames, unlink and rename while a file is being
/// written, closes from another thread, segments shared between manifests.
final class DataSafetyTests: MountTestCase {
    func gc(_ extra: String = "", container name: String? = nil) throws -> String {
        try Shell.bash("\(Shell.quote(MountedContainer.binary)) gc \(Shell.quote(name ?? container)) --grace 0 \(extra)",
                       environment: DevStack.environment(with: DevStack.credentials()))
    }

    func testGcKeepsTheSegmentsOfARenamedLargeFile() throws {
        let source = try randomFile("a", mebibytes: 12)
        let m = try mount(["segment_size=4M"])
        try FileManager.default.createDirectory(atPath: m.path("swiftmount"), withIntermediateDirectories: true)
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("a.img"))) && mv \(Shell.quote(m.path("a.img"))) \(Shell.quote(m.path("b.img")))")
        // A directory named like the segments' marker must not confuse gc either.
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("swiftmount/c.img")))")
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 6)
        XCTAssertTrue(try gc().hasSuffix("0 orphaned uploads, 0 bytes (run with --delete to remove)\n"))
        _ = try gc("--delete")
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 6, "gc deleted nothing")
        let remounted = try mount(["segment_size=4M"])
        XCTAssertEqual(try Shell.sha256(remounted.path("b.img")), try Shell.sha256(source))
        XCTAssertEqual(try Shell.sha256(remounted.path("swiftmount/c.img")), try Shell.sha256(source))
    }

    func testGcLeavesAStalledLiveUploadAlone() throws {
        let source = try randomFile("slow", mebibytes: 8)
        let m = try mount(["segment_size=1M"])
        let writer = try startSlowCopy(source, to: m.path("slow.img"), mebibytes: 8, pause: 0.4)
        let deadline = Date().addingTimeInterval(20)
        while ((try? objectNames(in: container + "_segments")) ?? []).count < 2 {
            XCTAssertLessThan(Date(), deadline, "segments must appear while the copy runs")
            Thread.sleep(forTimeInterval: 0.2)
        }
        // Grace 0: only the daemon's word keeps this upload alive.
        XCTAssertTrue(try gc("--delete").contains("0 orphaned uploads"))
        try Shell.finish(writer)
        XCTAssertEqual(try serverSHA256("slow.img"), try Shell.sha256(source))
    }

    func testUnlinkOfOneCopyKeepsTheSegmentsTheOtherUses() throws {
        let source = try randomFile("shared", mebibytes: 9)
        let m = try mount(["segment_size=4M"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("a.img")))")
        // What a rename whose source DELETE failed leaves: two manifests, the same segments.
        try client.copy(container: container, from: "a.img", to: "b.img", manifestOnly: true)
        try client.copy(container: container, from: "a.img", to: "c.img", manifestOnly: true)
        try Shell.bash("rm \(Shell.quote(m.path("a.img")))")
        // A rename over a copy of itself must not delete what the copy shares either.
        try Shell.bash("mv \(Shell.quote(m.path("c.img"))) \(Shell.quote(m.path("b.img")))")
        try m.waitForReclaims()
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 3)
        XCTAssertEqual(try serverSHA256("b.img"), try Shell.sha256(source))
        // The last manifest's unlink does delete them.
        try Shell.bash("rm \(Shell.quote(m.path("b.img")))")
        try m.waitForReclaims()
        XCTAssertEqual(try objectNames(in: container + "_segments"), [])
    }

    func testReadOfALargeObjectWhoseSegmentsAreGoneFailsWithEIO() throws {
        let source = try randomFile("gone", mebibytes: 6)
        let m = try mount(["segment_size=2M"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("gone.img")))")
        for name in try objectNames(in: container + "_segments") {
            try client.delete(container: container + "_segments", object: name)
        }
        let result = try Shell.run(["cat", m.path("gone.img")])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("Input/output error"), result.stderr)
    }

    func testRenameOfADirectoryOntoANonEmptyOneIsENOTEMPTYAndChangesNothing() throws {
        let m = try mount()
        try Shell.bash("""
            cd \(Shell.quote(m.mountpoint)) && mkdir d e empty && echo 1 > d/f && echo 2 > e/f && echo 3 > e/g
            """)
        let refused = try Shell.run(["mv", "-T", m.path("d"), m.path("e")])
        XCTAssertNotEqual(refused.status, 0)
        XCTAssertTrue(refused.stderr.contains("Directory not empty"), refused.stderr)
        XCTAssertEqual(try String(contentsOfFile: m.path("e/f"), encoding: .utf8), "2\n")
        XCTAssertEqual(try String(contentsOfFile: m.path("d/f"), encoding: .utf8), "1\n")
        XCTAssertNotNil(try client.head(container: container, object: "d/f"))
        // Onto an empty directory it replaces it, as rename(2) does.
        try Shell.bash("mv -T \(Shell.quote(m.path("d"))) \(Shell.quote(m.path("empty")))")
        XCTAssertEqual(try String(contentsOfFile: m.path("empty/f"), encoding: .utf8), "1\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: m.path("d")))
    }

    func testUnlinkWhileWritingLetsTheWriterFinishAndStoresNothing() throws {
        let source = try randomFile("void", mebibytes: 6)
        let m = try mount(["segment_size=1M"])
        let writer = try startSlowCopy(source, to: m.path("void.img"), mebibytes: 6, pause: 0.3)
        Thread.sleep(forTimeInterval: 1.5)
        try Shell.bash("rm \(Shell.quote(m.path("void.img")))")
        XCTAssertFalse(FileManager.default.fileExists(atPath: m.path("void.img")), "the name is gone at once")
        try Shell.finish(writer)  // the writer's writes and close succeed
        XCTAssertNil(try client.head(container: container, object: "void.img"), "nothing stored under the name")
        XCTAssertEqual(try objectNames(in: container + "_segments"), [], "its segments are deleted")
    }

    func testRenameOfADirectoryHoldingAFileBeingWrittenIsEBUSY() throws {
        let source = try randomFile("y", mebibytes: 4)
        let m = try mount(["segment_size=1M"])
        try FileManager.default.createDirectory(atPath: m.path("d"), withIntermediateDirectories: true)
        let writer = try startSlowCopy(source, to: m.path("d/y"), mebibytes: 4, pause: 0.3)
        Thread.sleep(forTimeInterval: 0.6)
        let moved = try Shell.run(["mv", m.path("d"), m.path("e")])
        XCTAssertNotEqual(moved.status, 0)
        XCTAssertTrue(moved.stderr.contains("busy"), moved.stderr)
        let renamed = try Shell.run(["mv", m.path("d/y"), m.path("z")])
        XCTAssertNotEqual(renamed.status, 0, "the file itself does not move either")
        try Shell.finish(writer)
        XCTAssertEqual(try serverSHA256("d/y"), try Shell.sha256(source))
        XCTAssertNil(try client.head(container: container, object: "e/y"))
    }

    func testCloseFromAnotherThreadReturnsAfterTheFileIsStored() throws {
        let m = try mount(["segment_size=8M"])
        let target = m.path("threads.img")
        // Opened on one thread, written, closed on another (as Go and Java runtimes do); the
        // object must be there the moment close returns, checked before the process exits.
        let script = """
            import os, sys, threading, urllib.request
            fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            data = os.urandom(1 << 20)
            for _ in range(40): os.write(fd, data)
            t = threading.Thread(target=os.close, args=(fd,)); t.start(); t.join()
            print("closed", flush=True)
            sys.stdin.readline()
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script, target]
        let output = Pipe(), input = Pipe()
        process.standardOutput = output
        process.standardInput = input
        try process.run()
        defer { try? input.fileHandleForWriting.close(); process.waitUntilExit() }
        let line = output.fileHandleForReading.availableLine(timeout: 60)
        XCTAssertEqual(line, "closed")
        let info = try XCTUnwrap(try client.head(container: container, object: "threads.img"), "stored before close returned")
        XCTAssertEqual(info.size, 40 << 20)
    }

    func testFileStopsAtTheClustersSegmentLimitWithEFBIG() throws {
        // The dev stack allows 100 segments per manifest: with 1 MiB segments one file holds 436 MiB.
        let m = try mount(["segment_size=1M"])
        let result = try Shell.run(["dd", "if=/dev/zero", "of=\(m.path("huge"))", "bs=1M", "count=440", "status=none"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("File too large"), result.stderr)
        XCTAssertEqual(try client.head(container: container, object: "huge")?.size, 436 << 20, "what was written before is stored")
    }

    func testAllowOtherChecksModesAndTheStickyBit() throws {
        let m = try mount(["allow_other"])
        try Shell.bash("""
            cd \(Shell.quote(m.mountpoint)) && printf secret > private && chmod 600 private && printf open > public && \
            mkdir shared && chmod 1777 shared
            """)
        func asUser(_ uid: Int, _ command: String) throws -> Shell.Output {
            try Shell.run(["setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "bash", "-c", command])
        }
        let denied = try asUser(65534, "cat \(Shell.quote(m.path("private")))")
        XCTAssertTrue(denied.stderr.contains("Permission denied"), denied.stderr)
        XCTAssertEqual(try asUser(65534, "cat \(Shell.quote(m.path("public")))").stdout, "open")
        XCTAssertEqual(try asUser(65534, "printf mine > \(Shell.quote(m.path("shared/n")))").status, 0)
        let removed = try asUser(1, "rm -f \(Shell.quote(m.path("shared/n")))")
        XCTAssertTrue(removed.stderr.contains("Operation not permitted"), "the sticky bit protects another user's file: \(removed.stderr)")
        XCTAssertNotNil(try client.head(container: container, object: "shared/n"))
        XCTAssertEqual(try asUser(65534, "rm \(Shell.quote(m.path("shared/n")))").status, 0, "its owner may")
    }

    func testQuotaRefusalIsEDQUOT() throws {
        try client.updateContainerMetadata(container, ["quota-bytes": "1000"], removing: [])
        defer { try? client.updateContainerMetadata(container, [:], removing: ["quota-bytes"]) }
        let m = try mount()
        let result = try Shell.run(["bash", "-c", "head -c 4096 /dev/zero > \(Shell.quote(m.path("over")))"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("Disk quota exceeded"), result.stderr)
        XCTAssertNil(try client.head(container: container, object: "over"))
    }
}

/// Tests that stop Keystone: failures must read as outages (EIO), never as permissions.
final class AuthOutageTests: StackFaultTestCase {
    func testKeystoneDownIsAnIOErrorNotPermissionDenied() throws {
        let m = try mount(["reauth_deadline=3", "expire_soon_interval=2"])
        try Shell.bash("printf known > \(Shell.quote(m.path("known")))")
        try stopService("keystone")
        Thread.sleep(forTimeInterval: Double(DevStack.tokenTTL() ?? 8) + 1)  // the token has expired
        let read = try Shell.run(["cat", m.path("known")])
        XCTAssertNotEqual(read.status, 0)
        XCTAssertTrue(read.stderr.contains("Input/output error"), read.stderr)
        XCTAssertFalse(read.stderr.contains("Permission denied"), read.stderr)
        let write = try Shell.run(["bash", "-c", "printf x > \(Shell.quote(m.path("new")))"])
        XCTAssertTrue(write.stderr.contains("Input/output error"), write.stderr)
        let json = try Shell.bash("\(Shell.quote(MountedContainer.binary)) status \(Shell.quote(m.mountpoint)) --json")
        let status = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let problem = try XCTUnwrap((status["auth"] as? [String: Any])?["problem"] as? String, "status says why")
        XCTAssertTrue(problem.contains("unavailable"), problem)
        try startStack()
        XCTAssertEqual(try String(contentsOfFile: m.path("known"), encoding: .utf8), "known", "works again once Keystone is back")
    }
}

/// Tests that stop the proxy: lookups answer from what is known, at once.
final class OutageTests: StackFaultTestCase {
    func testLookupsDuringAnOutageAnswerFromWhatIsKnownWithoutWaiting() throws {
        let m = try mount(["attr_timeout=1"])
        try Shell.bash("printf known > \(Shell.quote(m.path("known")))")
        _ = try FileManager.default.attributesOfItem(atPath: m.path("known"))
        try stopService("proxy-keystone")
        Thread.sleep(forTimeInterval: 1.5)  // past attr_timeout: the kernel and the mount ask again
        let started = Date()
        let attributes = try FileManager.default.attributesOfItem(atPath: m.path("known"))
        XCTAssertEqual(attributes[.size] as? Int, 5)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3, "one quick retry, not the whole backoff cycle")
        XCTAssertTrue(m.log.contains("answering with cached attributes"), m.log)
    }
}

extension FileHandle {
    /// The first line written to this pipe, or nil if none comes within `timeout` seconds.
    func availableLine(timeout: Double) -> String? {
        let box = LineBox()
        let thread = Thread { [self] in
            var bytes: [UInt8] = []
            while true {
                let chunk = self.readData(ofLength: 1)
                guard let byte = chunk.first, byte != 10 else { break }
                bytes.append(byte)
            }
            box.set(String(decoding: bytes, as: UTF8.self))
        }
        thread.start()
        return box.wait(timeout: timeout)
    }
}

private final class LineBox: @unchecked Sendable {
    private let condition = NSCondition()
    private var line: String?

    func set(_ value: String) {
        condition.lock()
        line = value
        condition.broadcast()
        condition.unlock()
    }

    func wait(timeout: Double) -> String? {
        condition.lock()
        defer { condition.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while line == nil && condition.wait(until: deadline) {}
        return line
    }
}

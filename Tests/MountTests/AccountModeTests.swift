import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// `--account` / `@account`: containers as top-level directories.
final class AccountModeTests: MountTestCase {
    func testContainersAreTopLevelDirectoriesAndMkdirCreatesOne() throws {
        let m = try MountedContainer(container: "@account", options: [], user: "demo")
        mounts.append(m)
        let fresh = DevStack.uniqueName("acct")
        defer { try? client.deleteContainer(fresh) }
        let top = try Shell.bash("ls -1 \(Shell.quote(m.mountpoint))").split(separator: "\n").map(String.init)
        XCTAssertTrue(top.contains(container), "the test's container is listed: \(top)")

        try Shell.bash("mkdir \(Shell.quote(m.path(fresh))) && printf hello > \(Shell.quote(m.path(fresh + "/f")))")
        XCTAssertTrue(try client.containerExists(fresh), "mkdir at the top created the container")
        XCTAssertEqual(try objectNames(in: fresh), ["f"])

        let topFile = try Shell.run(["/usr/bin/touch", m.path("not-in-a-container")])
        XCTAssertTrue(topFile.stderr.contains("Operation not permitted"), topFile.stderr)

        // Between containers rename is EXDEV, so mv copies and deletes: the data arrives intact.
        try Shell.bash("mv \(Shell.quote(m.path(fresh + "/f"))) \(Shell.quote(m.path(container + "/moved")))")
        XCTAssertEqual(try String(contentsOfFile: m.path(container + "/moved"), encoding: .utf8), "hello")
        XCTAssertEqual(try objectNames(in: fresh), [])

        try Shell.bash("printf x > \(Shell.quote(m.path(fresh + "/keep")))")
        let notEmpty = try Shell.run(["/usr/bin/rmdir", m.path(fresh)])
        XCTAssertTrue(notEmpty.stderr.contains("Directory not empty"), notEmpty.stderr)
        try Shell.bash("rm \(Shell.quote(m.path(fresh + "/keep"))) && rmdir \(Shell.quote(m.path(fresh)))")
        XCTAssertFalse(try client.containerExists(fresh), "rmdir of an empty container deleted it")
    }

    func testContainersWrittenAtOnceShareTheMountsOneWriteBufferCap() throws {
        let m = try MountedContainer(container: "@account", options: ["max_write_buffer=16M", "segment_size=4M"], user: "demo")
        mounts.append(m)
        let names = (0..<3).map { _ in DevStack.uniqueName("acct") }
        defer { for name in names { try? DevStack.purge(name, client: client) } }
        let source = try randomFile("img", mebibytes: 40)
        let copies = try names.map { name in
            try Shell.background("mkdir \(Shell.quote(m.path(name))) && cp \(Shell.quote(source)) \(Shell.quote(m.path(name + "/img")))")
        }
        var samples: [(used: Int, cap: Int)] = []
        let deadline = Date().addingTimeInterval(120)
        while copies.contains(where: \.isRunning) && Date() < deadline {
            let json = try Shell.bash("\(Shell.quote(MountedContainer.binary)) status \(Shell.quote(m.mountpoint)) --json")
            let status = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            let memory = try XCTUnwrap(status["memory"] as? [String: Int])
            samples.append((try XCTUnwrap(memory["write_buffer_used"]), try XCTUnwrap(memory["write_buffer_cap"])))
            Thread.sleep(forTimeInterval: 0.05)
        }
        for copy in copies { copy.waitUntilExit(); XCTAssertEqual(copy.terminationStatus, 0) }
        for name in names { XCTAssertEqual(try serverSHA256("img", in: name), try Shell.sha256(source)) }
        XCTAssertGreaterThan(samples.count, 0)
        XCTAssertTrue(samples.allSatisfy { $0.cap == 16 << 20 }, "one cap for the mount, not one per container")
        XCTAssertTrue(samples.allSatisfy { $0.used <= 16 << 20 }, "\(samples.map(\.used).max() ?? 0) bytes held at most")
        XCTAssertTrue(samples.contains { $0.used > 0 }, "segments were seen in flight")
    }

    /// An open file's handle finds its container with no path at all (fstat, ftruncate and read
    /// of a file unlinked while open), and two containers' handles never mix.
    func testAnOpenFileIsFoundByItsHandleAfterUnlinkInEveryContainer() throws {
        let m = try MountedContainer(container: "@account", options: [], user: "demo")
        mounts.append(m)
        let other = DevStack.uniqueName("acct")
        defer { try? DevStack.purge(other, client: client) }
        try Shell.bash("mkdir \(Shell.quote(m.path(other)))")
        let script = """
            import os, sys
            a, b = sys.argv[1], sys.argv[2]
            with open(b, "wb") as f: f.write(b"second container")
            fa = os.open(a, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.write(fa, b"first container")
            fb = os.open(b, os.O_RDONLY)
            os.unlink(a)
            os.ftruncate(fa, 5)
            print(os.fstat(fa).st_size, os.pread(fb, 100, 0).decode(), os.fstat(fb).st_size)
            os.close(fa)
            """
        let out = try Shell.run(["/usr/bin/python3", "-c", script, m.path(container + "/held"), m.path(other + "/kept")])
        XCTAssertEqual(out.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "5 second container 16", out.stderr)
        XCTAssertEqual(try objectNames(in: other), ["kept"])
        XCTAssertFalse(try objectNames(in: container).contains("held"), "the unlinked file is not stored again")
    }

    /// SIGTERM while a file is being written in one container: every container refuses new files
    /// at once (one in use, and one first reached during the shutdown), and the file being
    /// written is stored before the daemon exits.
    func testShutdownRefusesNewFilesInEveryContainerWhileOneIsWritten() throws {
        let m = try MountedContainer(container: "@account", options: ["segment_size=8M"], user: "demo")
        mounts.append(m)
        let used = DevStack.uniqueName("acct"), untouched = DevStack.uniqueName("acct")
        for name in [used, untouched] { try client.createContainer(name) }
        defer { for name in [used, untouched] { try? DevStack.purge(name, client: client) } }
        try Shell.bash("printf before > \(Shell.quote(m.path(used + "/before")))")
        let source = try randomFile("img", mebibytes: 48)
        let writer = try startSlowCopy(source, to: m.path(container + "/img"), mebibytes: 48, pause: 0.05)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertNil(m.stop(timeout: 0.5), "the daemon waits while the file is being written")
        for name in [used, untouched] {
            let late = try Shell.run(["/bin/sh", "-c", "printf x > \"$0\"", m.path(name + "/late")])
            XCTAssertTrue(late.stderr.contains("Read-only file system"), "\(name): \(late.stderr)")
        }
        try Shell.finish(writer)
        XCTAssertEqual(m.stop(signal: nil, timeout: 30), 0, "exit 0 once the upload is stored")
        XCTAssertEqual(try serverSHA256("img"), try Shell.sha256(source))
        XCTAssertEqual(try objectNames(in: used), ["before"])
        XCTAssertEqual(try objectNames(in: untouched), [])
    }
}

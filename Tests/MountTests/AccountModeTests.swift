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
}

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
}

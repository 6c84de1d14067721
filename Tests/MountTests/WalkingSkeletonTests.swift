import Foundation
import SwiftStorage
import TestSupport
import XCTest

final class WalkingSkeletonTests: MountTestCase {
    func testLargeCopyBecomesStaticLargeObjectWithIntactBytes() throws {
        let source = try randomFile("big", mebibytes: 300)
        let m = try mount(["segment_size=32M"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("disk.img")))")

        let expected = try Shell.sha256(source)
        XCTAssertEqual(try Shell.sha256(m.path("disk.img")), expected, "bytes read through the mount")
        XCTAssertEqual(try serverSHA256("disk.img"), expected, "bytes downloaded straight from Swift")

        let info = try XCTUnwrap(client.head(container: container, object: "disk.img"))
        XCTAssertTrue(info.isStaticLargeObject)
        XCTAssertEqual(info.size, 300 << 20)
        // Segments live in CONTAINER_segments under disk.img/swiftmount/<upload id>/<index>.
        let segments = try objectNames(in: container + "_segments", prefix: "disk.img/swiftmount/")
        XCTAssertEqual(segments.count, 10, "300 MiB in 32 MiB segments")
        XCTAssertTrue(segments.allSatisfy { $0.range(of: #"^disk\.img/swiftmount/[^/]+/\d{8}$"#, options: .regularExpression) != nil },
                      "\(segments)")
    }

    func testSmallFileIsOnePlainObjectAndSizesListRight() throws {
        let m = try mount(["segment_size=4M"])
        try Shell.bash("printf 'hello swift' > \(Shell.quote(m.path("small.txt")))")
        let big = try randomFile("five", mebibytes: 5)
        try Shell.bash("cp \(Shell.quote(big)) \(Shell.quote(m.path("five.bin")))")

        let small = try XCTUnwrap(client.head(container: container, object: "small.txt"))
        XCTAssertFalse(small.isStaticLargeObject)
        XCTAssertEqual(small.size, 11)
        XCTAssertEqual(try objectNames(in: container), ["five.bin", "small.txt"])

        // A fresh mount sees the sizes from the listing, not from the writer that made them.
        try m.unmount()
        let again = try mount()
        let listing = try Shell.bash("ls -l \(Shell.quote(again.mountpoint)) | awk 'NR>1 {print $5, $9}'")
        XCTAssertEqual(listing.split(separator: "\n").sorted(), ["11 small.txt", "\(5 << 20) five.bin"].sorted())
        XCTAssertEqual(try String(contentsOfFile: again.path("small.txt"), encoding: .utf8), "hello swift")
    }

    func testUploadSpanningSeveralTokenLifetimesCompletesIntact() throws {
        let ttl = try XCTUnwrap(DevStack.tokenTTL(), "dev stack not running")
        XCTAssertLessThanOrEqual(ttl, 10, "this test needs the stack started with TOKEN_TTL=8 (scripts/test.sh does that)")
        let source = try randomFile("slow", mebibytes: 40)
        let m = try mount(["segment_size=4M", "expire_soon_interval=3"])
        let started = Date()
        // One MiB every 0.5 s: the upload takes ~20 s, more than two token lifetimes.
        try slowCopy(source, to: m.path("slow.img"), mebibytes: 40, pause: 0.5)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(elapsed, 2.0 * Double(ttl), "the upload must outlive two tokens")
        XCTAssertEqual(try serverSHA256("slow.img"), try Shell.sha256(source))
        XCTAssertEqual(try Shell.sha256(m.path("slow.img")), try Shell.sha256(source))

        XCTAssertEqual(try objectNames(in: container + "_segments").count, 10, "one upload of 4 MiB segments")
        XCTAssertGreaterThanOrEqual(authentications(in: m), 3, "the mount re-authenticated before its token expired:\n\(m.log)")
        XCTAssertFalse(m.log.contains("token refused"), "refreshed ahead of expiry, never after a 401:\n\(m.log)")
    }

    func testWrongPasswordExitsWithReasonAndMountsNothing() throws {
        var creds = try DevStack.credentials()
        creds["OS_PASSWORD"] = "not-the-password"
        let mountpoint = scratch + "/mnt"
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        let result = try Shell.run([MountedContainer.binary, container, mountpoint], environment: DevStack.environment(with: creds))
        XCTAssertEqual(result.status, 3)
        XCTAssertTrue(result.stderr.contains("authentication rejected"), result.stderr)
        XCTAssertFalse(result.stderr.contains("not-the-password"), "the password must not be printed")
        XCTAssertFalse(MountedContainer.isMounted(mountpoint))
    }

    func testUnknownContainerExitsWithReason() throws {
        let mountpoint = scratch + "/mnt"
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        let result = try Shell.run([MountedContainer.binary, "no-such-container-\(UUID().uuidString.prefix(6))", mountpoint],
                                   environment: DevStack.environment(with: DevStack.credentials()))
        XCTAssertEqual(result.status, 4)
        XCTAssertTrue(result.stderr.contains("does not exist"), result.stderr)
        XCTAssertFalse(MountedContainer.isMounted(mountpoint))
    }

    func testMkdirRmdirAndUnlinkRemoveObjectsAndSegments() throws {
        let m = try mount(["segment_size=2M"])
        try Shell.bash("mkdir \(Shell.quote(m.path("dir")))")
        XCTAssertEqual(try objectNames(in: container), ["dir/"], "mkdir stores a directory marker")

        let source = try randomFile("seg", mebibytes: 7)
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("dir/seg.bin")))")
        try Shell.bash("printf x > \(Shell.quote(m.path("dir/small")))")
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 4)

        let rmdirNonEmpty = try Shell.run(["rmdir", m.path("dir")])
        XCTAssertNotEqual(rmdirNonEmpty.status, 0)
        XCTAssertTrue(rmdirNonEmpty.stderr.contains("not empty"), rmdirNonEmpty.stderr)

        try Shell.bash("rm \(Shell.quote(m.path("dir/seg.bin"))) \(Shell.quote(m.path("dir/small")))")
        try m.waitForReclaims()
        XCTAssertEqual(try objectNames(in: container + "_segments"), [], "unlink of a large file deletes its segments")
        XCTAssertEqual(try objectNames(in: container), ["dir/"])

        try Shell.bash("rmdir \(Shell.quote(m.path("dir")))")
        XCTAssertEqual(try objectNames(in: container), [])
        XCTAssertFalse(FileManager.default.fileExists(atPath: m.path("dir")))
    }
}

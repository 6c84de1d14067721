import Foundation
@testable import SwiftMountFS
import SwiftStorage
import TestSupport
import XCTest

/// Uploads through the mount against the real stack: faults, replaces, sparse files, fsync.
final class WriteEngineTests: StackFaultTestCase {
    func gc(_ extra: String = "") throws -> String {
        try Shell.bash("\(Shell.quote(MountedContainer.binary)) gc \(Shell.quote(container)) --grace 0 \(extra)",
                       environment: DevStack.environment(with: DevStack.credentials()))
    }

    func testSegmentsAreResentAfterProxyRestartWithoutDataLoss() throws {
        let source = try randomFile("big", mebibytes: 512)
        let m = try mount(["segment_size=16M"])
        let copy = try Shell.background("cp \(Shell.quote(source)) \(Shell.quote(m.path("big.img")))")
        try outage(of: "proxy-keystone", after: 1.5, lasting: 2, during: copy)
        XCTAssertEqual(try serverSHA256("big.img"), try Shell.sha256(source))
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 32)
        XCTAssertTrue(m.log.contains("retry 1"), "the restart hit the upload:\n\(m.log.suffix(2000))")
        XCTAssertTrue(try gc().contains("0 orphaned uploads"))
    }

    func testUploadFailingForGoodLeavesNoObjectAndGcRemovesItsSegments() throws {
        let source = try randomFile("doomed", mebibytes: 256)
        let m = try mount(["segment_size=8M", "retry_put_count=2"])
        let copy = try Shell.background("cp \(Shell.quote(source)) \(Shell.quote(m.path("doomed.img"))) 2> \(Shell.quote(scratch + "/err"))")
        Thread.sleep(forTimeInterval: 1)
        try stopService("proxy-keystone")
        copy.waitUntilExit()
        XCTAssertNotEqual(copy.terminationStatus, 0, "cp must learn that the upload failed")
        XCTAssertTrue(try String(contentsOfFile: scratch + "/err", encoding: .utf8).contains("Input/output error"))
        try startStack()
        XCTAssertNil(try client.head(container: container, object: "doomed.img"), "no partial object")
        // The proxy was gone when the upload failed, so its segments could not be deleted then.
        XCTAssertFalse(try objectNames(in: container + "_segments").isEmpty, "segments were on their way when the proxy stopped")
        XCTAssertTrue(try gc().contains("1 orphaned uploads"))
        _ = try gc("--delete")
        XCTAssertEqual(try objectNames(in: container + "_segments"), [])
    }

    func testKilledDaemonLeavesNoPartialObjectAndGcFindsTheSegments() throws {
        let source = try randomFile("killed", mebibytes: 256)
        let m = try mount(["segment_size=8M"])
        let copy = try Shell.background("cp \(Shell.quote(source)) \(Shell.quote(m.path("killed.img"))) 2>/dev/null")
        Thread.sleep(forTimeInterval: 1)
        try m.kill()
        copy.waitUntilExit()
        XCTAssertNotEqual(copy.terminationStatus, 0)
        XCTAssertNil(try client.head(container: container, object: "killed.img"), "no partial object after kill -9")
        XCTAssertFalse(try objectNames(in: container + "_segments").isEmpty, "segments were on their way")
        XCTAssertTrue(try gc().contains("1 orphaned uploads"))
        _ = try gc("--delete")
        XCTAssertEqual(try objectNames(in: container + "_segments"), [])
    }

    func testACopyCutByAKilledDaemonResumesSendingOnlyTheSegmentsSwiftLacks() throws {
        let source = try randomFile("resumed", mebibytes: 96)
        let options = ["segment_size=4M", "cache_dir=" + scratch + "/cache"]
        let first = try mount(options)
        let copy = try Shell.background("cp \(Shell.quote(source)) \(Shell.quote(first.path("resumed.img"))) 2>/dev/null")
        let deadline = Date().addingTimeInterval(60)
        while ((try? objectNames(in: container + "_segments")) ?? []).count < 8 {
            guard Date() < deadline else { return XCTFail("no 8 segments stored within 60 s") }
            Thread.sleep(forTimeInterval: 0.1)
        }
        try first.kill()
        copy.waitUntilExit()
        let stored = try objectNames(in: container + "_segments")
        XCTAssertNil(try client.head(container: container, object: "resumed.img"), "no partial object after kill -9")

        let second = try mount(options)
        XCTAssertTrue(second.log.contains("an interrupted upload of resumed.img"), second.log)
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(second.path("resumed.img")))")
        XCTAssertEqual(try serverSHA256("resumed.img"), try Shell.sha256(source))
        let summary = try XCTUnwrap(second.log.split(separator: "\n").first { $0.contains("resumed an interrupted upload") })
        let reused = try XCTUnwrap(Int(summary.components(separatedBy: "; ").last!.split(separator: " ").first!))
        // Only segments whose acknowledgement the kill cut short may go again.
        XCTAssertGreaterThanOrEqual(reused, stored.count - 2, String(summary))
        XCTAssertTrue(summary.hasSuffix("of 24 segments were already in Swift"), String(summary))
        let segments = try objectNames(in: container + "_segments")
        XCTAssertEqual(segments.count, 24, "the new manifest's segments, nothing orphaned")
        XCTAssertEqual(Set(segments.map { $0.split(separator: "/").dropLast().joined(separator: "/") }).count, 1,
                       "all under the interrupted upload's prefix")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: scratch + "/cache/journal"), [], "the journal is gone")
        XCTAssertTrue(try gc().contains("0 orphaned uploads"))
    }

    func testReplacingALargeFileDeletesTheOldSegmentsAfterTheSwap() throws {
        let first = try randomFile("a", mebibytes: 20)
        let second = try randomFile("b", mebibytes: 13)
        let m = try mount(["segment_size=4M"])
        try Shell.bash("cp \(Shell.quote(first)) \(Shell.quote(m.path("img")))")
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 5)
        try Shell.bash("cp \(Shell.quote(second)) \(Shell.quote(m.path("img")))")
        XCTAssertEqual(try serverSHA256("img"), try Shell.sha256(second))
        try m.waitForReclaims()
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 4, "only the new upload's segments remain")
        // The order, from the daemon's request trace: the new manifest is stored, then the old segments go.
        let log = m.log
        let manifest = try XCTUnwrap(log.range(of: "PUT \(container)/img?multipart-manifest=put", options: .backwards), log)
        let deletion = try XCTUnwrap(log.range(of: "POST ?bulk-delete", options: .backwards), log)
        XCTAssertLessThan(manifest.lowerBound, deletion.lowerBound, "old segments are deleted only after the swap")
    }

    func testUnmountRightAfterRemovingLargeFilesStillDeletesTheirSegments() throws {
        let m = try mount(["segment_size=4M"])
        for name in ["a", "b"] { try Shell.bash("head -c 9M /dev/urandom > \(Shell.quote(m.path(name)))") }
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 6)
        try Shell.bash("rm \(Shell.quote(m.path("a"))) \(Shell.quote(m.path("b")))")
        XCTAssertEqual(try m.unmount(), 0)
        XCTAssertEqual(try objectNames(in: container + "_segments"), [], "deleted before the daemon exited")
        XCTAssertEqual(try objectNames(in: container), [])
    }

    func testSparseCopyFillsHolesWithZeros() throws {
        let sparse = scratch + "/sparse.raw"
        try Shell.bash("""
            truncate -s 64M \(Shell.quote(sparse))
            dd if=/dev/urandom of=\(Shell.quote(sparse)) bs=1M seek=10 count=1 conv=notrunc status=none
            dd if=/dev/urandom of=\(Shell.quote(sparse)) bs=1M seek=50 count=2 conv=notrunc status=none
            """)
        let m = try mount(["segment_size=8M"])
        try Shell.bash("cp --sparse=always \(Shell.quote(sparse)) \(Shell.quote(m.path("sparse.raw")))")
        XCTAssertEqual(try serverSHA256("sparse.raw"), try Shell.sha256(sparse))
        XCTAssertEqual(try client.head(container: container, object: "sparse.raw")?.size, 64 << 20)
    }

    func testFsyncStoresWhatWasWrittenAndWritingGoesOn() throws {
        let source = try randomFile("f", mebibytes: 9)
        let m = try mount(["segment_size=2M"])
        let script = """
            import os, sys, urllib.request
            src = open(sys.argv[1], "rb").read()
            fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.write(fd, src[:6 << 20]); os.fsync(fd)
            open(sys.argv[3], "w").write("synced")
            import time; time.sleep(1)
            os.write(fd, src[6 << 20:]); os.close(fd)
            """
        try script.write(toFile: scratch + "/fsync.py", atomically: true, encoding: .utf8)
        let writer = try Shell.background("/usr/bin/python3 \(Shell.quote(scratch + "/fsync.py")) \(Shell.quote(source)) \(Shell.quote(m.path("f.img"))) \(Shell.quote(scratch + "/flag"))")
        try waitFor("the writer's fsync") { FileManager.default.fileExists(atPath: scratch + "/flag") }
        let interim = try XCTUnwrap(client.head(container: container, object: "f.img"), "fsync made the object exist")
        XCTAssertEqual(interim.size, 6 << 20)
        // The bytes written before fsync, stored: a manifest's ETag is the MD5 of its segments' MD5s
        // (read from the HEAD at once, before the writer goes on).
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: source)))
        let segmentMD5s = (0..<3).map { MD5.hex(Array(bytes[($0 << 21)..<(($0 + 1) << 21)])) }
        XCTAssertEqual(interim.etag, MD5.hex(Array(segmentMD5s.joined().utf8)))
        try Shell.finish(writer)
        XCTAssertEqual(try serverSHA256("f.img"), try Shell.sha256(source))
    }

    func testDynamicManifestOptionWritesADLO() throws {
        let source = try randomFile("d", mebibytes: 10)
        let m = try mount(["segment_size=2M", "manifest=dlo"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("d.img")))")
        let info = try XCTUnwrap(client.head(container: container, object: "d.img"))
        XCTAssertNotNil(info.dynamicManifest)
        XCTAssertFalse(info.isStaticLargeObject)
        XCTAssertEqual(info.size, 10 << 20)
        XCTAssertEqual(try serverSHA256("d.img"), try Shell.sha256(source))
        try Shell.bash("rm \(Shell.quote(m.path("d.img")))")
        try m.waitForReclaims()
        XCTAssertEqual(try objectNames(in: container + "_segments"), [])
    }

    func testSegmentSizeGrowsToStayWithinTheClusterManifestLimit() throws {
        let limit = try client.clusterInfo().maxManifestSegments
        XCTAssertEqual(limit, 100, "the dev stack allows 100 segments per manifest")
        let source = try randomFile("many", mebibytes: 150)
        let m = try mount(["segment_size=1M"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("many.img")))")
        XCTAssertEqual(try serverSHA256("many.img"), try Shell.sha256(source))
        let count = try objectNames(in: container + "_segments").count
        // 50 of 1 MiB, 25 of 2, 12 of 4, then 8 MiB: 88. Ignoring segment_size would give 3.
        XCTAssertEqual(count, 88, "150 MiB in 1 MiB segments would be 150; in 64 MiB ones, 3")
    }

    func testVerifiedUploadsAreAcceptedBySwiftsOwnMD5Check() throws {
        // Swift answers 422 to a PUT whose body does not match the ETag sent: every segment and
        // the small file landing proves the checksums right.
        let source = try randomFile("v", mebibytes: 7)
        let m = try mount(["segment_size=2M", "verify_md5=yes", "retry_put_count=1"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("v.img"))) && printf tiny > \(Shell.quote(m.path("t")))")
        XCTAssertEqual(try serverSHA256("v.img"), try Shell.sha256(source))
        XCTAssertEqual(try client.head(container: container, object: "t")?.etag, MD5.hex(Array("tiny".utf8)))
    }

    func testSegmentPlanDoublesAsTheAllowanceRunsOut() {
        var cluster = ClusterInfo()
        cluster.maxManifestSegments = 1000
        let plan = SegmentPlan(base: 64 << 20, cluster: cluster)
        XCTAssertEqual(plan.size(after: 0), 64 << 20)
        XCTAssertEqual(plan.size(after: 499), 64 << 20)
        XCTAssertEqual(plan.size(after: 500), 128 << 20)
        XCTAssertEqual(plan.size(after: 750), 256 << 20)
        XCTAssertLessThanOrEqual(plan.size(after: 999), 5 << 30)
        XCTAssertGreaterThan(plan.capacity, 100 << 30, "a 100 GiB image fits in 1000 segments")
    }
}

/// rename(2) and the tools that rely on it.
final class RenameTests: MountTestCase {
    func testRenamingALargeFileCopiesOnlyItsManifest() throws {
        let source = try randomFile("big", mebibytes: 300)
        let m = try mount(["segment_size=32M"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("a.img")))")
        let segmentsBefore = try objectNames(in: container + "_segments")
        let started = Date()
        try Shell.bash("mv \(Shell.quote(m.path("a.img"))) \(Shell.quote(m.path("b.img")))")
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "a manifest copy, not 300 MiB of data")
        XCTAssertEqual(try objectNames(in: container), ["b.img"])
        XCTAssertEqual(try objectNames(in: container + "_segments"), segmentsBefore, "the same segments, now under b.img")
        XCTAssertEqual(try serverSHA256("b.img"), try Shell.sha256(source))
        XCTAssertTrue(try XCTUnwrap(client.head(container: container, object: "b.img")).isStaticLargeObject)
    }

    func testRenameOverAnExistingLargeFileReplacesItAndDropsItsSegments() throws {
        let a = try randomFile("a", mebibytes: 12)
        let b = try randomFile("b", mebibytes: 12)
        let m = try mount(["segment_size=4M"])
        try Shell.bash("cp \(Shell.quote(a)) \(Shell.quote(m.path("a"))) && cp \(Shell.quote(b)) \(Shell.quote(m.path("b")))")
        try Shell.bash("mv -f \(Shell.quote(m.path("a"))) \(Shell.quote(m.path("b")))")
        XCTAssertEqual(try serverSHA256("b"), try Shell.sha256(a))
        try m.waitForReclaims()
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 3, "b's old segments are gone")
    }

    func testDirectoryRenameMovesEverythingUnderIt() throws {
        let m = try mount()
        try Shell.bash("mkdir -p \(Shell.quote(m.path("d/sub"))) && printf 1 > \(Shell.quote(m.path("d/one"))) && printf 2 > \(Shell.quote(m.path("d/sub/two")))")
        try Shell.bash("mv \(Shell.quote(m.path("d"))) \(Shell.quote(m.path("e")))")
        XCTAssertEqual(try objectNames(in: container).sorted(), ["e/", "e/one", "e/sub/", "e/sub/two"])
        XCTAssertEqual(try String(contentsOfFile: m.path("e/sub/two"), encoding: .utf8), "2")
    }

    func testRsyncOfATreeRoundTrips() throws {
        let tree = scratch + "/tree"
        try Shell.bash("""
            mkdir -p \(Shell.quote(tree))/a/b \(Shell.quote(tree))/c
            head -c 5M /dev/urandom > \(Shell.quote(tree))/a/big.bin
            printf hello > \(Shell.quote(tree))/a/b/small.txt
            printf 'with space' > '\(tree)/c/name with space & percent%41.txt'
            """)
        let m = try mount(["segment_size=2M"])
        // Contents and names; modes, owners and times are not stored yet.
        try Shell.bash("rsync -r \(Shell.quote(tree))/ \(Shell.quote(m.path("copy")))/")
        try Shell.bash("rsync -r \(Shell.quote(m.path("copy")))/ \(Shell.quote(scratch))/back/")
        try Shell.bash("diff -r \(Shell.quote(tree)) \(Shell.quote(scratch))/back")
        XCTAssertFalse(try objectNames(in: container).contains { $0.contains("/.") }, "rsync's temporary files were renamed away")
    }
}

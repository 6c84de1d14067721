import Foundation
import TestSupport
import XCTest

/// Writes a stream cannot take: changes in place, out-of-order writes, truncation, read-back.
/// They are staged in `cache_dir` and stored whole on close.
final class StagedWriteTests: MountTestCase {
    func python(_ script: String, _ arguments: String...) throws -> String {
        try script.write(toFile: scratch + "/script.py", atomically: true, encoding: .utf8)
        return try Shell.bash("/usr/bin/python3 \(Shell.quote(scratch + "/script.py")) " + arguments.map(Shell.quote).joined(separator: " "))
    }

    func testChangingALargeFileInPlaceStoresExactlyTheChangedBytes() throws {
        let local = try randomFile("img", mebibytes: 10)
        let m = try mount(["segment_size=4M"])
        let remote = m.path("img")
        try Shell.bash("cp \(Shell.quote(local)) \(Shell.quote(remote))")
        for target in [local, remote] {
            let t = Shell.quote(target)
            try Shell.bash("""
                printf PATCHED | dd of=\(t) bs=1 seek=5000000 conv=notrunc status=none
                echo appended >> \(t)
                """)
        }
        XCTAssertEqual(try serverSHA256("img"), try Shell.sha256(local), "dd conv=notrunc and >> both landed")
        try m.waitForReclaims()
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 3, "only the new upload's segments remain")
        for target in [local, remote] { try Shell.bash("truncate -s 3000000 \(Shell.quote(target))") }
        XCTAssertEqual(try serverSHA256("img"), try Shell.sha256(local))
        try m.waitForReclaims()
        XCTAssertEqual(try objectNames(in: container + "_segments"), [], "a small file is one object again")
        for target in [local, remote] { try Shell.bash("truncate -s 9000000 \(Shell.quote(target))") }
        XCTAssertEqual(try serverSHA256("img"), try Shell.sha256(local), "extended with zeros")
        XCTAssertTrue(m.log.contains("staged for changing in place"))
    }

    func testOutOfOrderWritesAndReadBackOfANewFileAreStaged() throws {
        let m = try mount()
        let out = try python("""
            import os, sys
            fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC)
            os.pwrite(fd, b"B" * 1000, 1 << 20)
            os.pwrite(fd, b"A" * 1000, 0)
            print(os.pread(fd, 4, 998).decode())
            os.close(fd)
            """, m.path("qcow-like"))
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), "AA\u{0}\u{0}", "read back its own writes")
        let expected = scratch + "/expected"
        try Shell.bash("""
            { head -c 1000 /dev/zero | tr '\\0' A; head -c $((1048576 - 1000)) /dev/zero; head -c 1000 /dev/zero | tr '\\0' B; } > \(Shell.quote(expected))
            """)
        XCTAssertEqual(try serverSHA256("qcow-like"), try Shell.sha256(expected))
    }

    /// A tmpfs of `mebibytes` as `cache_dir`, unmounted when the test ends.
    func smallCacheDir(mebibytes: Int) throws -> String {
        let cache = scratch + "/cache"
        try Shell.bash("mkdir -p \(Shell.quote(cache)) && mount -t tmpfs -o size=\(mebibytes)M tmpfs \(Shell.quote(cache))")
        addTeardownBlock { _ = try? Shell.bash("umount -l \(Shell.quote(cache))") }
        return cache
    }

    /// Bytes of the tmpfs in use: the spool's unlinked files count until they are closed.
    func used(_ cache: String) throws -> Int {
        Int(try Shell.bash("df --output=used -B1 \(Shell.quote(cache)) | tail -1").trimmingCharacters(in: .whitespacesAndNewlines))!
    }

    func testFullStagingDirectoryFailsWithENOSPCAndStoresNothing() throws {
        let cache = try smallCacheDir(mebibytes: 6)
        let big = try randomFile("big", mebibytes: 8)
        try client.put(container: container, object: "big", body: Array(try Data(contentsOf: URL(fileURLWithPath: big))))
        let m = try mount(["cache_dir=" + cache])
        let out = try python("""
            import os, sys
            fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.pwrite(fd, b"x" * (5 << 20), 2 << 20)
            try:
                os.pwrite(fd, b"y" * (1 << 20), 0)
                print("written")
            except OSError as e:
                print("write", e.errno)
            try:
                os.close(fd); print("closed")
            except OSError as e:
                print("close", e.errno)
            # Changing an existing file stages it at the first write, which finds no room.
            fd = os.open(sys.argv[2], os.O_RDWR)
            try:
                os.pwrite(fd, b"z", 0); print("patched")
            except OSError as e:
                print("patch", e.errno)
            try:
                os.close(fd)
            except OSError:
                pass
            """, m.path("new"), m.path("big"))
        XCTAssertEqual(out.split(separator: "\n"), ["write 28", "close 28", "patch 28"], "ENOSPC each time")
        XCTAssertNil(try client.head(container: container, object: "new"), "nothing partial on the server")
        XCTAssertEqual(try serverSHA256("big"), try Shell.sha256(big), "the existing file is untouched")
        XCTAssertTrue(m.log.contains("No space left on device"))
        XCTAssertEqual(try used(cache), 0, "the spool is empty once the files are closed")
    }

    func testOpeningAnExistingFileForWritingAndOnlyReadingItDownloadsNothingToCacheDir() throws {
        // 1 MiB of cache_dir could not hold the 8 MiB file: staging it would fail with ENOSPC.
        let cache = try smallCacheDir(mebibytes: 1)
        let big = try randomFile("big", mebibytes: 8)
        try client.put(container: container, object: "big", body: Array(try Data(contentsOf: URL(fileURLWithPath: big))))
        let before = try XCTUnwrap(try client.head(container: container, object: "big"))
        let m = try mount(["cache_dir=" + cache])
        let out = try python("""
            import hashlib, os, sys
            fd = os.open(sys.argv[1], os.O_RDWR)
            digest = hashlib.sha256()
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
            os.close(fd)
            print(digest.hexdigest())
            """, m.path("big"))
        XCTAssertEqual(out.trimmingCharacters(in: .whitespacesAndNewlines), try Shell.sha256(big))
        XCTAssertFalse(m.log.contains("staged for changing in place"), "nothing was downloaded to cache_dir")
        XCTAssertEqual(try client.head(container: container, object: "big")?.lastModified, before.lastModified, "nor stored again")
    }

    func testACopyLargerThanCacheDirWaitsForSegmentsToDrainInsteadOfFailing() throws {
        let cache = try smallCacheDir(mebibytes: 6)
        let source = try randomFile("image", mebibytes: 40)
        // Four 2 MiB segments in flight and one filling would need 10 MiB: writes wait instead.
        let m = try mount(["cache_dir=" + cache, "segment_size=2M", "upload_concurrency=4"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("image")))")
        XCTAssertEqual(try serverSHA256("image"), try Shell.sha256(source))
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 20)
        XCTAssertEqual(try used(cache), 0, "every segment's spool went once Swift had it")
        XCTAssertTrue(m.log.contains("cache_dir is full; waiting for uploads to drain"), "the copy met a full cache_dir")
    }

    func testSizeHintBeforeWritingStartsSegmentsAtOnce() throws {
        let source = try randomFile("hinted", mebibytes: 24)
        let m = try mount(["segment_size=4M", "large_object_threshold=64M"])
        let flag = scratch + "/half"
        let writer = try Shell.background("""
            /usr/bin/python3 -c '
            import os, sys, time
            src = open(sys.argv[1], "rb").read()
            fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.ftruncate(fd, 80 << 20)
            os.write(fd, src[:12 << 20])
            open(sys.argv[3], "w").close()
            time.sleep(3)
            os.write(fd, src[12 << 20:])
            os.ftruncate(fd, len(src))
            os.close(fd)' \(Shell.quote(source)) \(Shell.quote(m.path("hinted"))) \(Shell.quote(flag))
            """)
        try waitFor("the size hint and the first 12 MiB") { FileManager.default.fileExists(atPath: flag) }
        Thread.sleep(forTimeInterval: 2)
        XCTAssertGreaterThanOrEqual(try objectNames(in: container + "_segments").count, 2,
                                    "an 80 MiB size hint above the 64 MiB threshold streams segments before close")
        try Shell.finish(writer)
        XCTAssertEqual(try client.head(container: container, object: "hinted")?.isStaticLargeObject, true)
        XCTAssertEqual(try serverSHA256("hinted"), try Shell.sha256(source))
    }
}

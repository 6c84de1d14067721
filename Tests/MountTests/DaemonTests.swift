import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// The daemon as operators run it: shutdown by signal, `swiftmount status`, credentials files and
/// the config file.
final class DaemonTests: MountTestCase {
    func testSigtermWaitsForTheFileBeingWrittenAndStoresItIntact() throws {
        let source = try randomFile("img", mebibytes: 48)
        let m = try mount(["segment_size=8M"])
        let writer = try startSlowCopy(source, to: m.path("img"), mebibytes: 48, pause: 0.05)
        Thread.sleep(forTimeInterval: 1)
        XCTAssertNil(m.stop(timeout: 0.5), "the daemon waits while the file is being written")
        XCTAssertThrowsError(try Shell.bash("printf x > \(Shell.quote(m.path("late")))"), "no new files while shutting down")
        try Shell.finish(writer)
        XCTAssertEqual(m.stop(signal: nil, timeout: 30), 0, "exit 0 once the upload is stored")
        XCTAssertFalse(MountedContainer.isMounted(m.mountpoint))
        XCTAssertEqual(try serverSHA256("img"), try Shell.sha256(source))
        XCTAssertNil(try client.head(container: container, object: "late"))
        XCTAssertTrue(m.log.contains("waiting for 1 open file(s)"), m.log)
    }

    /// `-d` is `-f` with debug logging: the process started serves the mount itself and logs
    /// request traces to its stderr.
    func testDashDStaysInTheForegroundWithDebugLogging() throws {
        let m = try MountedContainer(container: container, options: ["log_level=info"], flags: ["-d"])
        mounts.append(m)
        try Shell.bash("printf x > \(Shell.quote(m.path("d")))")
        XCTAssertTrue(m.isRunning, "still the mount's own process")
        XCTAssertTrue(m.log.contains("trace: PUT"), m.log)
    }

    func testSigtermWaitsForAReaderToo() throws {
        let source = try randomFile("img", mebibytes: 8)
        let m = try mount()
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("img")))")
        let reader = try Shell.background("""
            /usr/bin/python3 -c 'import hashlib, sys, time
            h = hashlib.sha256()
            with open(sys.argv[1], "rb", buffering=0) as f:
                while True:
                    b = f.read(1 << 20)
                    if not b: break
                    h.update(b); time.sleep(0.3)
            open(sys.argv[2], "w").write(h.hexdigest())' \(Shell.quote(m.path("img"))) \(Shell.quote(scratch + "/sum"))
            """)
        Thread.sleep(forTimeInterval: 0.6)
        XCTAssertNil(m.stop(timeout: 1), "the daemon waits while a file is open for reading")
        try Shell.finish(reader)
        XCTAssertEqual(try String(contentsOfFile: scratch + "/sum", encoding: .utf8), try Shell.sha256(source))
        XCTAssertEqual(m.stop(signal: nil, timeout: 30), 0, "exit 0 once the reader closed")
    }

    func testAnIdleReaderDoesNotHoldTheShutdownPastTheGrace() throws {
        let m = try mount(["shutdown_grace=1"])
        try Shell.bash("printf data > \(Shell.quote(m.path("f")))")
        let reader = try Shell.background("exec 3< \(Shell.quote(m.path("f"))); sleep 20")
        defer { reader.terminate() }
        Thread.sleep(forTimeInterval: 0.5)
        let started = Date()
        XCTAssertEqual(m.stop(timeout: 10), 0)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "the reader got the grace period, not more")
    }

    func testSigtermWithZeroGraceAbortsAndLeavesNoPartialObject() throws {
        let source = try randomFile("img", mebibytes: 48)
        let m = try mount(["segment_size=4M", "shutdown_grace=0"])
        let writer = try startSlowCopy(source, to: m.path("img"), mebibytes: 48, pause: 0.1)
        Thread.sleep(forTimeInterval: 2)
        XCTAssertEqual(m.stop(timeout: 30), 0)
        writer.waitUntilExit()
        XCTAssertNotEqual(writer.terminationStatus, 0, "the writer learns that its file was not stored")
        XCTAssertNil(try client.head(container: container, object: "img"), "nothing under the name, not even empty")
        XCTAssertEqual(try objectNames(in: container + "_segments"), [], "the aborted upload's segments are deleted")
        XCTAssertTrue(m.log.contains("upload of /img aborted"), m.log)
    }

    func testStatusJsonShowsAGrowingUploadAndItsFinalTotal() throws {
        let source = try randomFile("img", mebibytes: 40)
        let m = try mount(["segment_size=4M"])
        let writer = try startSlowCopy(source, to: m.path("img"), mebibytes: 40, pause: 0.1)
        var seen: [Int] = []
        while writer.isRunning {
            let json = try Shell.bash("\(Shell.quote(MountedContainer.binary)) status \(Shell.quote(m.mountpoint)) --json")
            let status = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            let transfers = status["transfers"] as? [[String: Any]] ?? []
            if let upload = transfers.first(where: { $0["path"] as? String == "/img" }) {
                let done = try XCTUnwrap(upload["bytes_done"] as? Int), total = try XCTUnwrap(upload["bytes_total"] as? Int)
                seen.append(done)
                XCTAssertLessThanOrEqual(done, total)
            }
            let auth = try XCTUnwrap(status["auth"] as? [String: Any])
            XCTAssertNotNil(auth["token_expires_at"] as? Double)
            XCTAssertFalse(json.contains("gAAAA"), "no Fernet token in the status")
            Thread.sleep(forTimeInterval: 0.5)
        }
        try Shell.finish(writer)
        XCTAssertGreaterThanOrEqual(Set(seen).count, 3, "bytes grew while copying: \(seen)")
        XCTAssertEqual(seen, seen.sorted(), "bytes never go back")
        let json = try Shell.bash("\(Shell.quote(MountedContainer.binary)) status \(Shell.quote(m.mountpoint)) --json")
        let status = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let done = try XCTUnwrap((status["recent_transfers"] as? [[String: Any]])?.last { $0["path"] as? String == "/img" })
        XCTAssertEqual(done["bytes_total"] as? Int, 40 << 20)
        XCTAssertEqual(done["bytes_done"] as? Int, 40 << 20)
        XCTAssertEqual(done["state"] as? String, "stored")
        let human = try Shell.bash("\(Shell.quote(MountedContainer.binary)) status \(Shell.quote(m.mountpoint))")
        XCTAssertTrue(human.contains("upload /img [####################] 100%"), human)
        XCTAssertTrue(human.contains("old segments of 0 removed or replaced large objects to delete"), human)
    }

    func testMetricsEndpointCountsSegmentsRequestsAndBytes() throws {
        let port = Int.random(in: 20_000..<30_000)
        let source = try randomFile("img", mebibytes: 12)
        let m = try mount(["segment_size=4M", "metrics_port=\(port)"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("img")))")
        let text = try Shell.bash("curl -sf http://127.0.0.1:\(port)/metrics")
        XCTAssertTrue(text.split(separator: "\n").contains("swiftmount_segment_upload_seconds_count 3"), text)
        XCTAssertTrue(text.contains("# TYPE swiftmount_segment_upload_seconds histogram"), text)
        XCTAssertTrue(text.contains("swiftmount_requests_total{status=\"201\"}"), text)
        // Overwritten: the old segments are queued, then deleted.
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("img")))")
        try m.waitForReclaims()
        XCTAssertTrue(try Shell.bash("curl -sf http://127.0.0.1:\(port)/metrics").split(separator: "\n").contains("swiftmount_segment_reclaims_pending 0"))
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 3, "the first copy's segments are gone")
        let up = text.split(separator: "\n").first { $0.hasPrefix("swiftmount_bytes_uploaded_total ") }
        XCTAssertGreaterThanOrEqual(Int(up?.split(separator: " ").last ?? "") ?? 0, 12 << 20, text)
        XCTAssertFalse(text.contains("gAAAA"), "no token in the metrics")
    }

    func testUploadStateIsReadableAsExtendedAttributes() throws {
        let source = try randomFile("img", mebibytes: 10)
        let m = try mount(["segment_size=4M"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("img")))")
        let out = try Shell.bash("""
            /usr/bin/python3 -c 'import os, sys
            print(sorted(n for n in os.listxattr(sys.argv[1]) if n.startswith("user.swiftmount.")))
            for n in ("upload_state", "bytes_uploaded", "bytes_written"): print(os.getxattr(sys.argv[1], "user.swiftmount." + n).decode())' \(Shell.quote(m.path("img")))
            """)
        XCTAssertEqual(out.split(separator: "\n").map(String.init), [
            "['user.swiftmount.bytes_uploaded', 'user.swiftmount.bytes_written', 'user.swiftmount.upload_state']",
            "stored", String(10 << 20), String(10 << 20)])
    }

    func testCredentialsFileMountsAndAWorldReadableOneIsRefused() throws {
        let file = scratch + "/openrc"
        let lines = try DevStack.credentials().map { "export \($0.key)='\($0.value)'" }
        try (["# demo user"] + lines).joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        try Shell.bash("chmod 644 \(Shell.quote(file))")
        let mountpoint = scratch + "/mnt"
        try FileManager.default.createDirectory(atPath: mountpoint, withIntermediateDirectories: true)
        let refused = try Shell.run([MountedContainer.binary, container, mountpoint, "-o", "credentials=" + file],
                                    environment: DevStack.environment(with: [:]))
        XCTAssertEqual(refused.status, 3)
        XCTAssertTrue(refused.stderr.contains("readable by others"), refused.stderr)
        XCTAssertFalse(MountedContainer.isMounted(mountpoint))

        try Shell.bash("chmod 600 \(Shell.quote(file))")
        let m = try MountedContainer(container: container, options: ["credentials=" + file], credentials: [:])
        mounts.append(m)
        try Shell.bash("printf from-file > \(Shell.quote(m.path("f")))")
        XCTAssertEqual(try objectNames(in: container), ["f"])
    }

    func testConfigFileSectionsApplyAndCommandLineOptionsWin() throws {
        let config = scratch + "/swiftmount.conf"
        try """
            [*]
            segment_size = 2M
            large_object_threshold = 1M
            [\(container)]   # this container's mounts
            segment_size = 4M
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let source = try randomFile("img", mebibytes: 9)
        let m = try mount(["config=" + config])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("img")))")
        XCTAssertEqual(try objectNames(in: container + "_segments").count, 3, "4M from the container's section")
        try m.unmount()
        let n = try mount(["config=" + config, "segment_size=8M"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(n.path("img2")))")
        XCTAssertEqual(try objectNames(in: container + "_segments", prefix: "img2/").count, 2, "-o segment_size=8M wins")
    }
}

import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// Reads through the mount against the real stack: faults, token expiry, other clients' objects.
final class ReadEngineTests: StackFaultTestCase {
    func testSequentialReadResumesAfterProxyRestart() throws {
        let source = try randomFile("two", mebibytes: 2048)
        let m = try mount(["segment_size=256M", "retry_get_count=10"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("two.img")))")
        let expected = try Shell.sha256(source)
        try Shell.bash("sync; echo 3 > /proc/sys/vm/drop_caches")

        let reader = try Shell.background("sha256sum \(Shell.quote(m.path("two.img"))) > \(Shell.quote(scratch + "/sum"))")
        try outage(of: "proxy-keystone", after: 2, lasting: 1, during: reader)
        XCTAssertEqual(String(try String(contentsOfFile: scratch + "/sum", encoding: .utf8).prefix(64)), expected)
        XCTAssertTrue(m.log.contains("retry 1 of 10"), "the proxy restart happened during the read:\n\(m.log.suffix(3000))")
    }

    func testThrottledReadAcrossTokenLifetimesIsIntact() throws {
        let ttl = try XCTUnwrap(DevStack.tokenTTL())
        XCTAssertLessThanOrEqual(ttl, 10, "needs the stack started with TOKEN_TTL=8 (scripts/test.sh does that)")
        let source = try randomFile("slow", mebibytes: 64)
        let m = try mount(["expire_soon_interval=3", "read_ahead=2M"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("slow.img")))")
        let before = authentications(in: m)
        let started = Date()
        XCTAssertEqual(try slowSHA256(m.path("slow.img"), chunk: 1 << 20, pause: 0.3), try Shell.sha256(source))
        XCTAssertGreaterThan(Date().timeIntervalSince(started), 2.0 * Double(ttl))
        XCTAssertGreaterThanOrEqual(authentications(in: m) - before, 2, "new tokens came during the read:\n\(m.log)")
    }

    func testReadFailsWithEIOWhenTheProxyStaysDown() throws {
        let source = try randomFile("gone", mebibytes: 64)
        let m = try mount(["retry_get_count=2"])
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("gone.img")))")
        try Shell.bash("sync; echo 3 > /proc/sys/vm/drop_caches")
        // The file is opened (and its version pinned) before the proxy goes away for good.
        let script = """
            exec 3< \(Shell.quote(m.path("gone.img")))
            \(Shell.quote(DevStack.script)) stop proxy-keystone >/dev/null
            cat <&3 > \(Shell.quote(scratch + "/partial"))
            """
        let result = try Shell.run(["bash", "-c", script])
        XCTAssertNotEqual(result.status, 0, "the reader must see an error, not a short file")
        XCTAssertTrue(result.stderr.contains("Input/output error"), result.stderr)
        let partial = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: scratch + "/partial")[.size] as? Int)
        XCTAssertLessThan(partial, 64 << 20)
    }

    func testObjectOverwrittenDuringSlowReadFailsInsteadOfMixingVersions() throws {
        let first = try randomFile("v1", mebibytes: 96)
        let second = try randomFile("v2", mebibytes: 96)
        let m = try mount(["read_ahead=4M"])
        try Shell.bash("cp \(Shell.quote(first)) \(Shell.quote(m.path("img")))")
        let reader = try Shell.background("""
            /usr/bin/python3 -c 'import sys, time
            with open(sys.argv[1], "rb", buffering=0) as f:
                while f.read(1 << 20): time.sleep(0.1)' \(Shell.quote(m.path("img"))) 2> \(Shell.quote(scratch + "/err"))
            """)
        Thread.sleep(forTimeInterval: 1.5)
        // Another client replaces the object while the reader is a few MiB in.
        try Shell.bash("cd \(Shell.quote(scratch)) && swiftclient upload \(Shell.quote(container)) v2 --object-name img >/dev/null",
                       environment: DevStack.environment(with: DevStack.credentials()))
        reader.waitUntilExit()
        XCTAssertNotEqual(reader.terminationStatus, 0, "the read must fail rather than mix two versions")
        let err = try String(contentsOfFile: scratch + "/err", encoding: .utf8)
        XCTAssertTrue(err.contains("Input/output error"), err)
        XCTAssertEqual(try Shell.sha256(m.path("img")), try Shell.sha256(second), "a new open reads the new version")
    }

    func testPlainStaticAndDynamicObjectsFromOtherClientsReadExactly() throws {
        let plain = try randomFile("plain.bin", mebibytes: 3)
        let slo = try randomFile("slo.bin", mebibytes: 9)
        let dlo = try randomFile("dlo.bin", mebibytes: 7)
        let env = DevStack.environment(with: try DevStack.credentials())
        let up = "cd \(Shell.quote(scratch)) && swiftclient upload \(Shell.quote(container))"
        try Shell.bash("\(up) plain.bin >/dev/null && \(up) --use-slo --segment-size 2097152 slo.bin >/dev/null && \(up) --segment-size 2097152 dlo.bin >/dev/null",
                       environment: env)
        XCTAssertNotNil(try client.head(container: container, object: "dlo.bin")?.dynamicManifest)
        let m = try mount()
        for (name, path) in [("plain.bin", plain), ("slo.bin", slo), ("dlo.bin", dlo)] {
            XCTAssertEqual(try Shell.sha256(m.path(name)), try Shell.sha256(path), name)
        }
        let sizes = try Shell.bash("stat -c '%n %s' \(Shell.quote(m.path("dlo.bin"))) \(Shell.quote(m.path("slo.bin")))")
        XCTAssertTrue(sizes.contains("dlo.bin \(7 << 20)"), "a DLO lists as 0 bytes; the mount shows its real size: \(sizes)")
        XCTAssertTrue(sizes.contains("slo.bin \(9 << 20)"), sizes)

        try Shell.bash("rm \(Shell.quote(m.path("dlo.bin")))")
        try m.waitForReclaims()
        XCTAssertEqual(try objectNames(in: container + "_segments", prefix: "dlo.bin/"), [], "unlink of a DLO removes its segments")
    }

    func testRandomReadsFetchAboutOneRequestEach() throws {
        let source = try randomFile("rand", mebibytes: 256)
        let m = try mount()
        try Shell.bash("cp \(Shell.quote(source)) \(Shell.quote(m.path("rand.img")))")
        let proxyLog = DevStack.stateDir + "/log/proxy-keystone.log"
        func gets() throws -> Int {
            Int(try Shell.bash("grep -c 'GET /v1/AUTH_[^ ]*/\(container)/rand.img' \(Shell.quote(proxyLog)) || true")
                .trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        let before = try gets()
        // 200 reads of 4 KiB at random places, each compared with the source.
        try Shell.bash("""
            /usr/bin/python3 -c 'import os, random, sys
            random.seed(7)
            a = os.open(sys.argv[1], os.O_RDONLY); b = os.open(sys.argv[2], os.O_RDONLY)
            for _ in range(200):
                off = random.randrange(0, 256 * 1024 * 1024 - 4096)
                assert os.pread(a, 4096, off) == os.pread(b, 4096, off), off' \(Shell.quote(m.path("rand.img"))) \(Shell.quote(source))
            """)
        let requests = try gets() - before
        XCTAssertLessThanOrEqual(requests, 260, "about one ranged GET per random read, not a prefetch each")
        XCTAssertGreaterThanOrEqual(requests, 150)
        print("random reads: 200 reads of 4 KiB took \(requests) GETs")
    }
}

import Foundation
import Glibc
@testable import SwiftMountFS
import SwiftSimulator
import SwiftStorage
import Synchronization
import XCTest

/// Behaviours a real stack cannot easily be made to show (a 507, a segment store that keeps
/// failing, the headers of every request), pinned over the simulator.
final class FilesystemOverSimulatorTests: XCTestCase {
    /// Passes every request to the cluster and keeps a copy.
    final class RecordingTransport: HTTPTransport {
        let cluster: SimulatedCluster
        private let log = Mutex<[HTTPRequest]>([])

        init(_ cluster: SimulatedCluster) { self.cluster = cluster }

        var requests: [HTTPRequest] { log.withLock { $0 } }

        func perform(_ request: HTTPRequest) throws -> HTTPResponse {
            log.withLock { $0.append(request) }
            return try cluster.perform(request)
        }
    }

    struct Mounted {
        let cluster: SimulatedCluster
        let transport: RecordingTransport
        let client: SwiftClient
        let fs: SwiftFilesystem
    }

    func mount(_ adjust: (inout MountOptions) -> Void = { _ in }) throws -> Mounted {
        // At the real time: the mount stamps ctimes from the system clock.
        let clock = SimulatedClock(start: Date())
        let cluster = SimulatedCluster(clock: clock)
        let transport = RecordingTransport(cluster)
        let connection = ConnectionManager(authenticator: try EnvironmentCredentials.authenticator(from: cluster.addUser("demo")),
                                           transport: transport, clock: clock, logger: Harness.logger)
        let client = SwiftClient(connection: connection, transport: transport,
                                 retry: SwiftClient.RetryPolicy(attempts: 3, backoff: Backoff(base: 0.5, cap: 2)), clock: clock,
                                 logger: Harness.logger)
        try client.createContainer("c")
        var options = MountOptions()
        options.segmentSize = Harness.segment
        options.largeObjectThreshold = Harness.segment
        options.cacheDir = NSTemporaryDirectory()
        adjust(&options)
        let fs = SwiftFilesystem(client: client, container: "c", options: options, cluster: try client.clusterInfo(), logger: Harness.logger)
        return Mounted(cluster: cluster, transport: transport, client: client, fs: fs)
    }

    /// create, write, close; the close's error is thrown.
    func store(_ fs: SwiftFilesystem, _ path: String, _ bytes: [UInt8]) throws {
        let handle = (try? fs.getattr(path)) == nil
            ? try fs.create(path, creator: Creator(mode: 0o644, uid: getuid(), gid: getgid()), caller: getpid())
            : try fs.open(path, mode: OpenMode(flags: O_WRONLY | O_TRUNC), caller: getpid())
        defer { fs.release(handle: handle) }
        try fs.write(handle: handle, offset: 0, data: bytes)
        try fs.flush(handle: handle, caller: getpid())
    }

    func testVerifyMD5SendsEachBodysMD5AsItsETag() throws {
        let m = try mount { $0.verifyMD5 = true }
        try store(m.fs, "/big", .pattern(3, count: 3 * Harness.segment + 11))
        try store(m.fs, "/small", .pattern(4, count: 100))
        let puts = m.transport.requests.filter { $0.method == .put && !$0.body.isEmpty && !$0.url.contains("multipart-manifest") }
        XCTAssertEqual(puts.count, 5, "four segments and the small file")
        for put in puts {
            let etag = put.headers.first { $0.name == "ETag" }?.value
            XCTAssertEqual(etag, MD5.hex(put.body), "\(put.url) carries its body's MD5")
        }
    }

    func testFailedOverwriteOfALargeFileKeepsTheOldVersion() throws {
        let m = try mount()
        let old = [UInt8].pattern(5, count: 3 * Harness.segment)
        try store(m.fs, "/img", old)
        m.cluster.inject(.status(503), times: 1000) { $0.method == .put && $0.container == "c_segments" }
        XCTAssertThrowsError(try store(m.fs, "/img", .pattern(6, count: 4 * Harness.segment))) {
            XCTAssertEqual(FSError.from($0).errno, EIO)
        }
        m.cluster.clearFaults()
        let handle = try m.fs.open("/img", mode: OpenMode(flags: O_RDONLY), caller: getpid())
        defer { m.fs.release(handle: handle) }
        XCTAssertEqual(try m.fs.read(handle: handle, offset: 0, count: old.count).flatMap { Array($0) }, old, "the old version stands")
    }

    func testInsufficientStorageIsENOSPCAtClose() throws {
        let m = try mount()
        m.cluster.inject(.status(507), times: 10) { $0.method == .put && $0.container == "c" }
        XCTAssertThrowsError(try store(m.fs, "/full", .pattern(7, count: 100))) {
            XCTAssertEqual(FSError.from($0).errno, ENOSPC)
        }
        XCTAssertNil(try m.client.head(container: "c", object: "full"))
    }

    /// The same container seen by a freshly started daemon (nothing cached).
    func remount(_ m: Mounted) throws -> SwiftFilesystem {
        SwiftFilesystem(client: m.client, container: "c", options: m.fs.options, cluster: try m.client.clusterInfo(), logger: Harness.logger)
    }

    func heads(_ m: Mounted) -> Int { m.transport.requests.filter { $0.method == .head }.count }

    func testAColdStatOfWhatTheMountWroteNeedsNoHEADAndAgreesWithTheWarmOne() throws {
        let m = try mount()
        try store(m.fs, "/small.txt", .pattern(1, count: 10))
        try store(m.fs, "/large", .pattern(2, count: 3 * Harness.segment + 5))
        try store(m.fs, "/empty", [])
        try m.fs.changeMetadata("/small.txt", .mode(0o600))
        try m.fs.changeMetadata("/large", .mtime(FileTime(seconds: 1_000_000_000, nanoseconds: 123_456_789)))
        try m.fs.changeMetadata("/large", .owner(uid: 7, gid: nil))
        let fifo = try m.fs.create("/fifo", creator: Creator(mode: UInt32(S_IFIFO) | 0o640, uid: 0, gid: 0), caller: getpid())
        try m.fs.flush(handle: fifo, caller: getpid())
        m.fs.release(handle: fifo)
        try m.fs.rename("/empty", to: "/moved", noReplace: false)
        let names = ["/small.txt", "/large", "/moved", "/fifo"]
        let warm = try names.map { try m.fs.getattr($0) }

        let cold = try remount(m)
        let listed = try cold.readdir("/")
        let before = heads(m)
        for (name, want) in zip(names, warm) {
            let entry = try XCTUnwrap(listed.first { "/" + $0.name == name })
            XCTAssertTrue(entry.exact, "\(name) goes to the kernel with readdir")
            for got in [entry.attributes, try cold.getattr(name)] {
                XCTAssertEqual(got.kind, want.kind, name)
                XCTAssertEqual(got.size, want.size, name)
                XCTAssertEqual(got.mtime, want.mtime, name)
                XCTAssertEqual(got.ctime, want.ctime, name)
                XCTAssertEqual(got.mode, want.mode, name)
                XCTAssertEqual(got.uid, want.uid, name)
            }
        }
        XCTAssertEqual(heads(m), before, "no HEAD for what the listing told")
        XCTAssertEqual(warm[1].mtime, FileTime(seconds: 1_000_000_000, nanoseconds: 123_456_789))
        XCTAssertEqual(warm[3].kind, .special(UInt32(S_IFIFO)))
        XCTAssertEqual(try m.client.head(container: "c", object: "small.txt")?.contentType.hasPrefix("text/plain;swiftmount=1;"), true,
                       "the media type guessed from the name stays first")
    }

    func testAnotherClientsLaterPostMakesTheListedAttributesCountForNothing() throws {
        let m = try mount()
        try store(m.fs, "/f", .pattern(1, count: 10))
        m.cluster.clock.advance(ListedAttributes.currentSlack + 10)
        // swiftclient's `post -m mtime:…`: new metadata, the Content-Type (and our parameters) kept.
        try m.client.setMetadata(container: "c", object: "f", metadata: ["mtime": "1234.5"])
        let cold = try remount(m)
        let entry = try XCTUnwrap(try cold.readdir("/").first { $0.name == "f" })
        XCTAssertFalse(entry.exact, "the listing is newer than the parameters")
        XCTAssertEqual(try cold.getattr("/f").mtime, FileTime(seconds: 1234, nanoseconds: 500_000_000), "read from the object")
    }

    func testZeroCacheTimesDoNotRecurseOnAMissingName() throws {
        // dir_cache_ttl=0 once relisted a directory forever on every miss (a stack overflow).
        let m = try mount { $0.dirCacheTTL = 0; $0.attrTimeout = 0 }
        try store(m.fs, "/here", [1])
        _ = try m.fs.readdir("/")
        XCTAssertThrowsError(try m.fs.getattr("/missing")) { XCTAssertEqual(FSError.from($0).errno, ENOENT) }
    }
}

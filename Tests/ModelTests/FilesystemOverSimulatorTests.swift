import func CSystem.sm_heap_in_use
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
        /// Object names container listings leave out, as a listing that lags behind a PUT does.
        let lagging = Mutex<Set<String>>([])
        /// Runs before each request is passed on (a test holds one there).
        let before = Mutex<(@Sendable (HTTPRequest) -> Void)?>(nil)
        /// Runs once the cluster has answered, before the answer is handed back.
        let after = Mutex<(@Sendable (HTTPRequest) -> Void)?>(nil)

        func perform(_ request: HTTPRequest) throws -> HTTPResponse {
            log.withLock { $0.append(request) }
            before.withLock { $0 }?(request)
            var response = try cluster.perform(request)
            after.withLock { $0 }?(request)
            let hidden = lagging.withLock { $0 }
            if !hidden.isEmpty, request.method == .get, request.url.contains("format=json"),
               let entries = try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]] {
                let kept = entries.filter { !hidden.contains(($0["name"] as? String) ?? "") }
                response.body = Array(try JSONSerialization.data(withJSONObject: kept))
            }
            return response
        }
    }

    struct Mounted {
        let cluster: SimulatedCluster
        let transport: RecordingTransport
        let client: SwiftClient
        let fs: SwiftFilesystem
    }

    func mount(cluster settings: SimulatedCluster.Settings = .init(),
               _ adjust: (inout MountOptions) -> Void = { _ in }) throws -> Mounted {
        // At the real time, as Swift's timestamps are (the mount stamps ctimes by this clock).
        let clock = SimulatedClock(start: Date())
        let cluster = SimulatedCluster(clock: clock, settings: settings)
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

    /// What a killed daemon leaves: segments under its prefix and a journal of those acknowledged.
    func leaveInterruptedUpload(_ m: Mounted, cacheDir: String, segments: [[UInt8]], journaled: Int, closing: Bool = false) throws -> String {
        let prefix = "img/swiftmount/1700000000.000000-0123abcd"
        let identity = UploadJournal.Identity(storage: try m.client.connection.current().storageURL, container: "c", object: "img",
                                              segmentContainer: "c_segments")
        let journal = try UploadJournal.create(cacheDir: cacheDir, identity: identity, prefix: prefix)
        try m.client.createContainer("c_segments")
        for (i, bytes) in segments.enumerated() {
            let etag = try m.client.put(container: "c_segments", object: prefix + String(format: "/%08d", i + 1), body: bytes)
            if i < journaled { try journal.record(.init(index: i + 1, offset: i * Harness.segment, size: bytes.count, etag: etag)) }
        }
        if closing { try journal.markClosing() }
        return prefix
    }

    /// A GET of the account (a listing of its containers: the start of a scan for manifests).
    @Sendable static func isAccountListing(_ request: HTTPRequest) -> Bool {
        request.method == .get && URL(string: request.url)!.pathComponents.filter { $0 != "/" }.count == 2
    }

    func segmentPuts(_ m: Mounted) -> [String] {
        m.transport.requests.filter { $0.method == .put && $0.url.contains("/c_segments/") }.map(\.url)
    }

    func testARewriteAfterACrashSendsOnlySegmentsSwiftLacksAndDropsThosePastTheNewEnd() throws {
        let cache = NSTemporaryDirectory() + "swiftmount-resume-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let first = try mount { $0.cacheDir = cache }
        let old = (1...5).map { [UInt8].pattern($0, count: Harness.segment) }
        // Segments 4 and 5 were stored, but the crash came before their acknowledgement was journaled.
        let prefix = try leaveInterruptedUpload(first, cacheDir: cache, segments: old, journaled: 3)
        let mounted = Mounted(cluster: first.cluster, transport: first.transport, client: first.client,
                              fs: SwiftFilesystem(client: first.client, container: "c", options: first.fs.options, logger: Harness.logger))
        XCTAssertTrue(mounted.fs.status(mountpoint: "/m", auth: .init(method: "", tokenExpiresAt: nil, authentications: 0, trust: "", heldTrust: nil,
                                                                     renewable: true, problem: nil))
            .activeUploads?.contains("c_segments/" + prefix) ?? false, "listed as waiting, and gc leaves it")
        let before = segmentPuts(mounted).count
        // The new file: four segments, the second one changed.
        let new = old[0] + [UInt8].pattern(9, count: Harness.segment) + old[2] + old[3]
        try store(mounted.fs, "/img", new)
        XCTAssertEqual(Array(segmentPuts(mounted).dropFirst(before)), [segmentPuts(mounted).last!], "only one segment sent")
        XCTAssertTrue(segmentPuts(mounted).last!.hasSuffix("0123abcd/00000002"), "the changed one, under the old prefix")
        XCTAssertEqual(try first.client.get(container: "c", object: "img", range: 0..<new.count, ifMatch: nil), new)
        XCTAssertEqual(try objectNames(first.client, "c_segments"), (1...4).map { prefix + String(format: "/%08d", $0) },
                       "the fifth segment, past the new end, is deleted")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache + "/journal"), [])
    }

    func testAJournalMarkedForItsManifestIsNeverResumed() throws {
        let cache = NSTemporaryDirectory() + "swiftmount-resume-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let first = try mount { $0.cacheDir = cache }
        let old = (1...2).map { [UInt8].pattern($0, count: Harness.segment) }
        let prefix = try leaveInterruptedUpload(first, cacheDir: cache, segments: old, journaled: 2, closing: true)
        let fs = SwiftFilesystem(client: first.client, container: "c", options: first.fs.options, logger: Harness.logger)
        let before = segmentPuts(first).count
        try store(fs, "/img", old[0] + old[1])
        let sent = Array(segmentPuts(first).dropFirst(before))
        XCTAssertEqual(sent.count, 2, "a manifest may use the old segments: they are neither reused nor rewritten")
        XCTAssertFalse(sent.contains { $0.contains("0123abcd") }, "\(sent)")
        XCTAssertEqual(try objectNames(first.client, "c_segments").filter { $0.hasPrefix(prefix) }.count, 2, "left for gc to judge")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: cache + "/journal"), [])
    }

    func testAJournalWithATornLineBeforeItsEndIsNeverResumed() throws {
        let cache = NSTemporaryDirectory() + "swiftmount-resume-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let first = try mount { $0.cacheDir = cache }
        let old = (1...2).map { [UInt8].pattern($0, count: Harness.segment) }
        _ = try leaveInterruptedUpload(first, cacheDir: cache, segments: old, journaled: 2)
        // A line cut short, then more: the torn one could have been a closing mark.
        let journal = cache + "/journal/" + (try FileManager.default.contentsOfDirectory(atPath: cache + "/journal")).first!
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: journal))
        handle.seekToEndOfFile()
        handle.write(Data("{\"clos\n{\"segment\":{\"index\":3,\"offset\":0,\"size\":1,\"etag\":\"x\"}}\n".utf8))
        handle.closeFile()
        let fs = SwiftFilesystem(client: first.client, container: "c", options: first.fs.options, logger: Harness.logger)
        let before = segmentPuts(first).count
        try store(fs, "/img", old[0] + old[1])
        XCTAssertFalse(segmentPuts(first).dropFirst(before).contains { $0.contains("0123abcd") }, "not resumed")
        XCTAssertEqual(segmentPuts(first).count - before, 2)
    }

    func testATornLastLineIsCutBeforeAResumedUploadAppendsToTheJournal() throws {
        let cache = NSTemporaryDirectory() + "swiftmount-resume-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let first = try mount { $0.cacheDir = cache }
        _ = try leaveInterruptedUpload(first, cacheDir: cache, segments: [.pattern(1, count: Harness.segment)], journaled: 1)
        let journal = cache + "/journal/" + (try FileManager.default.contentsOfDirectory(atPath: cache + "/journal")).first!
        let whole = try String(contentsOfFile: journal, encoding: .utf8)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: journal))
        handle.seekToEndOfFile()
        handle.write(Data("{\"segment\":{\"ind".utf8))
        handle.closeFile()
        _ = SwiftFilesystem(client: first.client, container: "c", options: first.fs.options, logger: Harness.logger)
        XCTAssertEqual(try String(contentsOfFile: journal, encoding: .utf8), whole, "the torn tail is gone: a closing line appended later stays readable")
    }

    func testAJournalOlderThanADayIsDroppedWhicheverContainerItIsOf() throws {
        let cache = NSTemporaryDirectory() + "swiftmount-resume-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let m = try mount { $0.cacheDir = cache }
        let identity = UploadJournal.Identity(storage: try m.client.connection.current().storageURL, container: "other", object: "img",
                                              segmentContainer: "other_segments")
        // Each journal is released at once, as a killed daemon's is.
        let old = try UploadJournal.create(cacheDir: cache, identity: identity, prefix: "img/swiftmount/1-old").path
        let fresh = try UploadJournal.create(cacheDir: cache, identity: identity, prefix: "img/swiftmount/2-fresh").path
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-25 * 3600)], ofItemAtPath: old)
        _ = SwiftFilesystem(client: m.client, container: "c", options: m.fs.options, logger: Harness.logger)
        XCTAssertFalse(FileManager.default.fileExists(atPath: old), "past the grace period: dropped")
        XCTAssertTrue(FileManager.default.fileExists(atPath: fresh), "another container's, still resumable by its own mount")
    }

    func objectNames(_ client: SwiftClient, _ container: String) throws -> [String] {
        try client.listAll(container: container, delimiter: nil).compactMap { if case .object(let o) = $0 { return o.name } else { return nil } }
    }

    func testVerifyMD5SendsEachBodysMD5AsItsETag() throws {
        let m = try mount { $0.verifyMD5 = true }
        try store(m.fs, "/big", .pattern(3, count: 3 * Harness.segment + 11))
        try store(m.fs, "/small", .pattern(4, count: 100))
        let puts = m.transport.requests.filter { $0.method == .put && $0.bodyCount > 0 && !$0.url.contains("multipart-manifest") }
        XCTAssertEqual(puts.count, 5, "four segments and the small file")
        for put in puts {
            let etag = put.headers.first { $0.name == "ETag" }?.value
            XCTAssertEqual(etag, MD5.hex(try XCTUnwrap(put.bodyFile, "file data is sent from the spool").bytes()),
                           "\(put.url) carries its body's MD5")
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
        let listed = try cold.readdir("/").all()
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
        let entry = try XCTUnwrap(try cold.readdir("/").all().first { $0.name == "f" })
        XCTAssertFalse(entry.exact, "the listing is newer than the parameters")
        XCTAssertEqual(try cold.getattr("/f").mtime, FileTime(seconds: 1234, nanoseconds: 500_000_000), "read from the object")
    }

    func testACachedStatKeepsEveryAttributeIn64Bytes() {
        XCTAssertLessThanOrEqual(MemoryLayout<Namespace.Entry>.stride, 64, "a listing of 100,000 names holds 100,000")
        let samples = [
            FileAttributes(kind: .file, size: 1 << 40, mtime: FileTime(seconds: -5, nanoseconds: 999_999_999),
                           ctime: FileTime(seconds: 1_700_000_000, nanoseconds: 1), mode: 0o4755, uid: 0, gid: UInt32.max),
            FileAttributes(kind: .directory, size: 0, mtime: FileTime(seconds: 0)),
            FileAttributes(kind: .symlink, size: 3, mtime: FileTime(seconds: 9), uid: 7, linkTarget: "a/b"),
            FileAttributes(kind: .special(UInt32(S_IFCHR)), size: 0, mtime: FileTime(seconds: 1), mode: 0o600, rdev: 0x0103),
            FileAttributes(kind: .special(UInt32(S_IFIFO)), size: 0, mtime: FileTime(seconds: 1), gid: 5),
        ]
        for a in samples {
            let entry = Namespace.Entry(attributes: a, expires: Date(), verified: true, metadata: nil, exact: false, written: true)
            XCTAssertNil(Harness.difference(entry.attributes, a))
            XCTAssertEqual(entry.attributes.linkTarget, a.linkTarget)
            XCTAssertEqual(entry.attributes.rdev, a.rdev)
            XCTAssertEqual(entry.attributes.kind, a.kind)
            XCTAssertTrue(entry.verified && !entry.exact && entry.written && entry.metadata == nil)
        }
        XCTAssertEqual(Namespace.Entry(attributes: samples[1], expires: Date(), verified: false, metadata: ["k": "v"], exact: true).metadata, ["k": "v"])
    }

    func testEachNameAReaddirCachedHoldsAtMost185BytesOfHeapOnceTheReadingEnds() throws {
        let m = try mount { $0.attrTimeout = 600; $0.dirCacheTTL = 600 }
        let count = 5_000
        // Stamped now: listed attributes count while within 10 s of the listing's time.
        let mtime = FileTime(Date())
        for i in 0..<count {
            try m.client.put(container: "c", object: String(format: "big/f%07d", i), body: [1], headers: [
                ("Content-Type", "application/octet-stream;swiftmount=1;mtime=\(mtime.text);ctime=\(mtime.text);mode=644")])
        }
        let fs = try remount(m)
        XCTAssertEqual(try fs.getattr("/big").kind, .directory)
        let before = Int(sm_heap_in_use())
        var read = 0
        do {
            let stream = try fs.readdir("/big")
            while case let page = try stream.entries(from: read), !page.isEmpty {
                XCTAssertTrue(page.allSatisfy(\.exact))
                read += page.count
            }
        }
        XCTAssertEqual(read, count)
        XCTAssertEqual(try fs.getattr("/big/f0004999").mtime, mtime, "held")
        let perName = (Int(sm_heap_in_use()) - before) / count
        // 203 bytes with Dictionary-backed caches, 167–168 with compact ones (at 100,000 names,
        // where a Dictionary doubles past 98,304 entries, ~290 against ~150).
        XCTAssertLessThanOrEqual(perName, 185, "bytes of heap per cached name")
        XCTAssertEqual(m.transport.requests.filter { $0.method == .head }.count, 0)
    }

    func testTheEndOfALargeReadingHandsFreedHeapPagesBackToTheKernel() throws {
        func residentMiB() throws -> Int {
            let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8).split(separator: " ")
            return (Int(statm[1])! * Int(sysconf(Int32(_SC_PAGESIZE)))) >> 20
        }
        // 40 MiB of small blocks, as a listing page decodes into, then freed; the block allocated
        // after them stays, so they are free pages inside the heap, not at its top.
        var blocks = (0..<40_000).map { _ in [UInt8](repeating: 1, count: 1000) }
        let after = [UInt8](repeating: 2, count: 1000)
        XCTAssertEqual(blocks.reduce(0) { $0 + Int($1[999]) }, 40_000)
        blocks.removeAll()
        let kept = try residentMiB()
        FreedPages.releaseAfterReading(names: FreedPages.largeReading - 1)
        XCTAssertGreaterThan(try residentMiB(), kept - 10, "a small reading leaves malloc alone")
        FreedPages.releaseAfterReading(names: FreedPages.largeReading)
        XCTAssertLessThan(try residentMiB(), kept - 30, "the freed 40 MiB went back")
        XCTAssertEqual(after.first, 2)
    }

    func testADirectoryReadingCountsTheNamesItListedUntilItStartsAgain() throws {
        let pageSize = 10_000
        let stream = DirectoryStream { marker in
            let first = marker.isEmpty ? 0 : Int(marker)! + 1
            let last = min(first + pageSize, 25_000)
            return ((first..<last).map { DirectoryEntry(name: "f\($0)", attributes: FileAttributes(kind: .file, size: 1, mtime: .now)) },
                    last < 25_000 ? String(last - 1) : nil)
        }
        XCTAssertEqual(stream.namesListed, 0)
        var read = 0
        while case let page = try stream.entries(from: read), !page.isEmpty { read += page.count }
        XCTAssertEqual(read, 25_000)
        XCTAssertEqual(stream.namesListed, 25_000, "every page, not the last one only")
        stream.restart()
        XCTAssertEqual(stream.namesListed, 0)
    }

    func testTheCompactCacheForgetsRemovedKeysAndKeepsTheRestThroughCompaction() {
        var table = CompactDictionary<String, Int>()
        for i in 0..<1000 { table["k\(i)"] = i }
        table["k1"] = nil
        table["k1"] = nil
        table["absent"] = nil
        XCTAssertNil(table["k1"])
        XCTAssertEqual(table.count, 999)
        table["k1"] = -1
        XCTAssertEqual(table["k1"], -1, "a removed key set again")
        // Removing most keys compacts the holes away; what stays keeps its value.
        for i in 0..<1000 where i % 10 != 0 { table["k\(i)"] = nil }
        XCTAssertEqual(table.count, 100)
        XCTAssertLessThan(table.slots, 200, "holes compacted")
        XCTAssertEqual(Set(table.entries.map(\.key)), Set((0..<100).map { "k\($0 * 10)" }))
        XCTAssertTrue(table.entries.allSatisfy { "k\($0.value)" == $0.key })
        let kept = table.filter { _, value in value < 500 }
        XCTAssertEqual(kept.count, 50)
        XCTAssertEqual(kept.slots, 50)
        XCTAssertNil(kept["k500"])
        XCTAssertEqual(kept["k490"], 490)
    }

    func testAListedDirectorysNamesFollowTheMountsCreatesAndDeletes() {
        var names = Namespace.Names(listing: ["a", "b"])
        XCTAssertFalse(names.insert("a"), "listed already")
        names.remove("a")
        XCTAssertFalse(names.contains("a"))
        XCTAssertTrue(names.insert("a"), "created again")
        XCTAssertTrue(names.insert("c"))
        names.remove("b")
        XCTAssertEqual(["a", "b", "c", "d"].filter(names.contains), ["a", "c"])
        XCTAssertEqual(names.count, 2)
    }

    func testTheAttributeCacheDropsExpiredEntriesPastItsLimit() throws {
        let m = try mount { $0.attrCacheEntries = 1000; $0.attrTimeout = 0 }
        for i in 0..<1200 { try m.client.put(container: "c", object: "d/f\(i)", body: [1]) }
        for i in 0..<10 { try m.client.put(container: "c", object: "e/f\(i)", body: [1]) }
        try store(m.fs, "/mine", [1])
        XCTAssertEqual(try m.fs.readdir("/d").all().count, 1200)
        XCTAssertGreaterThan(m.fs.status(mountpoint: "", auth: Harness.noAuth).cachedAttributes, 1200,
                             "a fresh listing larger than the limit is kept")
        Thread.sleep(forTimeInterval: 1.1)
        XCTAssertEqual(try m.fs.readdir("/e").all().count, 10)
        let held = m.fs.status(mountpoint: "", auth: Harness.noAuth).cachedAttributes
        XCTAssertLessThan(held, 20, "expired entries are gone: \(held) held")
        XCTAssertEqual(try m.fs.getattr("/mine").size, 1, "the mount's own write stays known")
    }

    func testReaddirListsOnePageAtATimeAndStartsAgainOnARewind() throws {
        var settings = SimulatedCluster.Settings()
        settings.containerListingLimit = 100
        let m = try mount(cluster: settings)
        for i in 0..<250 { try m.client.put(container: "c", object: String(format: "d/f%03d", i), body: [1]) }
        let handle = try m.fs.create("/d/writing", creator: Creator(mode: 0o644, uid: getuid(), gid: getgid()), caller: getpid())
        defer { m.fs.release(handle: handle) }
        _ = try m.fs.getattr("/d")
        let listings = { m.transport.requests.filter { $0.method == .get && $0.url.contains("delimiter") }.count }
        let before = listings()
        let stream = try m.fs.readdir("/d")
        XCTAssertEqual(listings(), before, "opendir lists nothing yet")
        XCTAssertEqual(try stream.entries(from: 0).map(\.name).first, "f000")
        XCTAssertEqual(listings(), before + 1, "the first page only")
        XCTAssertEqual(try stream.entries(from: 150).first?.name, "f150")
        XCTAssertEqual(try stream.entries(from: 0).first?.name, "f000", "a rewind lists again from the start")
        let all = try stream.all()
        XCTAssertEqual(all.map(\.name), (0..<250).map { String(format: "f%03d", $0) } + ["writing"],
                       "every name once, the file being written after the listing")
        XCTAssertTrue(try stream.entries(from: all.count).isEmpty)
        let afterAll = m.transport.requests.count
        XCTAssertThrowsError(try m.fs.getattr("/d/absent", handle: nil))
        XCTAssertEqual(m.transport.requests.count, afterAll, "a whole pass tells what is absent without a request")

        // While the pass is younger than attr_timeout, a new readdir is answered from it.
        XCTAssertEqual(try m.fs.readdir("/d").all().map(\.name), all.map(\.name))
        XCTAssertEqual(m.transport.requests.count, afterAll, "the second ls lists nothing")
        // The mount's own change makes the next one list again.
        try store(m.fs, "/d/new", [1])
        let beforeThird = listings()
        XCTAssertTrue(try m.fs.readdir("/d").all().contains { $0.name == "new" })
        XCTAssertEqual(listings(), beforeThird + 3, "listed again, page by page")
    }

    /// `rm` of a large file does not wait for the account scan that proves its segments unused;
    /// files removed while a scan runs share the next one; every segment still goes.
    func testUnlinksOfLargeFilesReturnBeforeTheAccountScanAndShareTheNextOne() throws {
        let m = try mount()
        for (i, name) in ["a", "b", "c"].enumerated() { try store(m.fs, "/" + name, .pattern(UInt8(i), count: 2 * Harness.segment + 1)) }
        XCTAssertEqual(try objectNames(m.client, "c_segments").count, 9)
        // The first scan's account listing is held until the test lets it go.
        let scanning = DispatchSemaphore(value: 0), goOn = DispatchSemaphore(value: 0)
        let held = Mutex(false)
        m.transport.before.withLock {
            $0 = { request in
                guard Self.isAccountListing(request), held.withLock({ done in defer { done = true }; return !done }) else { return }
                scanning.signal()
                goOn.wait()
            }
        }
        let listingsBefore = m.transport.requests.filter(Self.isAccountListing).count
        let unlinked = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            try? m.fs.unlink("/a")
            unlinked.signal()
        }
        XCTAssertEqual(scanning.wait(timeout: .now() + 10), .success, "a scan began for /a")
        XCTAssertEqual(unlinked.wait(timeout: .now() + 10), .success, "the unlink returned while the scan was held")
        Thread.detachNewThread {
            try? m.fs.unlink("/b")
            try? m.fs.unlink("/c")
            unlinked.signal()
        }
        XCTAssertEqual(unlinked.wait(timeout: .now() + 10), .success, "and so did two more")
        XCTAssertEqual(m.fs.resources.reclaimer.pending, 3)
        goOn.signal()
        XCTAssertEqual(m.fs.resources.reclaimer.waitIdle(until: Date().addingTimeInterval(10)), 0)
        XCTAssertEqual(try objectNames(m.client, "c_segments"), [], "every segment is deleted")
        XCTAssertEqual(m.transport.requests.filter(Self.isAccountListing).count - listingsBefore, 4,
                       "two scans of two passes each: /b and /c shared the second")
    }

    /// Every segment the static manifest at `object` lists is there with its ETag.
    func assertSegmentsPresent(_ m: Mounted, _ object: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let segments = m.cluster.manifestSegments(of: "demo", container: "c", object: object) else {
            return XCTFail("\(object) is no static large object", file: file, line: line)
        }
        for segment in segments where m.cluster.etag(of: "demo", container: segment.ref.container, object: segment.ref.name) != segment.etag {
            XCTFail("\(object): segment \(segment.ref.name) is gone", file: file, line: line)
        }
    }

    /// Holds the reclaimer's first account listing until the returned closure runs.
    func holdFirstScan(_ m: Mounted) -> @Sendable () -> Void {
        let goOn = DispatchSemaphore(value: 0)
        let held = Mutex(false)
        m.transport.before.withLock {
            $0 = { request in
                guard Self.isAccountListing(request), held.withLock({ done in defer { done = true }; return !done }) else { return }
                _ = goOn.wait(timeout: .now() + 30)
            }
        }
        return { goOn.signal() }
    }

    /// `cp big x; rm x`: the unlink may come before the kernel releases the copy's handle, while
    /// its upload still counts as under way; the segments go all the same.
    func testAnUnlinkBeforeTheWritersReleaseStillDeletesTheSegments() throws {
        let m = try mount()
        let handle = try m.fs.create("/a", creator: Creator(mode: 0o644, uid: getuid(), gid: getgid()), caller: getpid())
        try m.fs.write(handle: handle, offset: 0, data: .pattern(1, count: 2 * Harness.segment + 1))
        try m.fs.flush(handle: handle, caller: getpid())
        try m.fs.unlink("/a")
        m.fs.release(handle: handle)
        XCTAssertEqual(m.fs.resources.reclaimer.waitIdle(until: Date().addingTimeInterval(10)), 0)
        XCTAssertEqual(try objectNames(m.client, "c_segments"), [])
    }

    /// Another client's DLO over the prefix "x/" covers what is stored under it later (the mount's
    /// upload of a new "x", another client's object): its old segments are the ones listed when it
    /// was removed, not those there when the deletion runs.
    func testARemovedDynamicObjectTakesOnlyTheSegmentsItHadWhenItWasRemoved() throws {
        let m = try mount()
        try m.client.createContainer("c_segments")
        for i in 1...2 { try m.client.put(container: "c_segments", object: "x/\(i)", body: [UInt8(i)]) }
        try m.client.putDynamicLargeObject(container: "c", object: "x", segmentContainer: "c_segments", segmentPrefix: "x/")
        let release = holdFirstScan(m)
        try m.fs.unlink("/x")
        try store(m.fs, "/x", .pattern(3, count: 2 * Harness.segment + 1))
        try m.client.put(container: "c_segments", object: "x/later", body: [7])
        release()
        XCTAssertEqual(m.fs.resources.reclaimer.waitIdle(until: Date().addingTimeInterval(10)), 0)
        assertSegmentsPresent(m, "x")
        XCTAssertEqual(try objectNames(m.client, "c_segments").filter { !$0.contains("/swiftmount/") }, ["x/later"],
                       "x/1 and x/2 are gone, what came later stays")
    }

    /// Two writers of one name: the first fsyncs (a manifest over its first segments), the second
    /// replaces that manifest, then the first closes, storing a manifest over the same segments
    /// (with another slo_etag). Queued while the first writer was under way, they are spared.
    func testAManifestReplacedWhileItsWriterGoesOnKeepsTheSegmentsThatWriterStoresAgain() throws {
        let m = try mount()
        let creator = Creator(mode: 0o644, uid: getuid(), gid: getgid())
        let first = try m.fs.create("/x", creator: creator, caller: getpid())
        try m.fs.write(handle: first, offset: 0, data: .pattern(1, count: 2 * Harness.segment))
        try m.fs.fsync(handle: first)
        try store(m.fs, "/x", [9])
        XCTAssertEqual(m.fs.resources.reclaimer.waitIdle(until: Date().addingTimeInterval(10)), 0)
        try m.fs.write(handle: first, offset: 2 * Harness.segment, data: .pattern(2, count: Harness.segment + 1))
        try m.fs.flush(handle: first, caller: getpid())
        m.fs.release(handle: first)
        assertSegmentsPresent(m, "x")
    }

    /// Two DLOs whose prefixes overlap ("p/" and "p/a"): removing the wider one keeps what the
    /// other still covers.
    func testARemovedDynamicObjectKeepsWhatAnotherDynamicObjectCovers() throws {
        let m = try mount()
        try m.client.createContainer("c_segments")
        for name in ["p/a1", "p/a2", "p/b1"] { try m.client.put(container: "c_segments", object: name, body: [1]) }
        try m.client.putDynamicLargeObject(container: "c", object: "wide", segmentContainer: "c_segments", segmentPrefix: "p/")
        try m.client.putDynamicLargeObject(container: "c", object: "narrow", segmentContainer: "c_segments", segmentPrefix: "p/a")
        try m.fs.unlink("/wide")
        XCTAssertEqual(m.fs.resources.reclaimer.waitIdle(until: Date().addingTimeInterval(10)), 0)
        XCTAssertEqual(try objectNames(m.client, "c_segments"), ["p/a1", "p/a2"], "p/b1 went; narrow's stay")
    }

    /// A DLO over "x" also covers the segments of "x2" being written: those stay.
    func testARemovedDynamicObjectsPrefixSparesAnUploadUnderWay() throws {
        let m = try mount()
        try m.client.createContainer("c_segments")
        try m.client.put(container: "c_segments", object: "x-old", body: [1])
        try m.client.putDynamicLargeObject(container: "c", object: "x", segmentContainer: "c_segments", segmentPrefix: "x")
        let handle = try m.fs.create("/x2", creator: Creator(mode: 0o644, uid: getuid(), gid: getgid()), caller: getpid())
        defer { m.fs.release(handle: handle) }
        try m.fs.write(handle: handle, offset: 0, data: .pattern(4, count: 2 * Harness.segment + 1))
        let deadline = Date().addingTimeInterval(10)
        while try objectNames(m.client, "c_segments").filter({ $0.hasPrefix("x2/") }).count < 2 {
            guard Date() < deadline else { return XCTFail("the upload's segments never reached Swift") }
            Thread.sleep(forTimeInterval: 0.01)
        }
        try m.fs.unlink("/x")
        XCTAssertEqual(m.fs.resources.reclaimer.waitIdle(until: Date().addingTimeInterval(10)), 0)
        XCTAssertFalse(try objectNames(m.client, "c_segments").contains("x-old"), "the DLO's own segment is gone")
        try m.fs.flush(handle: handle, caller: getpid())
        assertSegmentsPresent(m, "x2")
    }

    /// What the daemon does once unmounted: deletions still queued are finished before it exits,
    /// for up to `reclaimGrace` seconds, or until a second signal.
    func testTheEndOfTheMountWaitsForQueuedSegmentDeletionsForAWhile() throws {
        XCTAssertEqual(MountTree.reclaimGrace, 60, "as SEMANTICS says")
        let m = try mount()
        try store(m.fs, "/a", .pattern(1, count: 2 * Harness.segment + 1))
        try store(m.fs, "/b", .pattern(2, count: 2 * Harness.segment + 1))
        let goOn = DispatchSemaphore(value: 0)
        m.transport.before.withLock { $0 = { request in if Self.isAccountListing(request) { goOn.wait() } } }
        let tree = MountTree(container: m.fs)
        try m.fs.unlink("/a")
        var started = Date()
        tree.finishReclaims(within: 0.2)
        XCTAssertLessThan(Date().timeIntervalSince(started), 5, "the wait is bounded")
        XCTAssertEqual(m.fs.resources.reclaimer.pending, 1, "the scan is still held")
        let release: @Sendable () -> Void = {
            m.transport.before.withLock { $0 = nil }
            goOn.signal()
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3, execute: release)
        tree.finishReclaims(within: 10)
        XCTAssertEqual(m.fs.resources.reclaimer.pending, 0)
        XCTAssertEqual(try objectNames(m.client, "c_segments").count, 3, "/a's deleted before the daemon would exit")
        // A second signal ends the wait at once.
        m.transport.before.withLock { $0 = { request in if Self.isAccountListing(request) { goOn.wait() } } }
        try m.fs.unlink("/b")
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { tree.endDrainNow() }
        started = Date()
        tree.finishReclaims(within: 30)
        XCTAssertLessThan(Date().timeIntervalSince(started), 10, "the second signal ended the wait")
        XCTAssertEqual(m.fs.resources.reclaimer.pending, 1)
        release()
    }

    func testAListingAnsweredBeforeTheMountsOwnRmdirDoesNotBringTheDirectoryBack() throws {
        // With attrs_from=listing a listed subdirectory is taken as it is listed.
        let m = try mount { $0.attributesFrom = .listing }
        let creator = Creator(mode: 0o755, uid: getuid(), gid: getgid())
        try m.fs.mkdir("/d", creator: creator)
        try m.fs.mkdir("/d/sub", creator: creator)
        try store(m.fs, "/d/f", [1])
        // The listing of /d is held after Swift answered it (sub still there) while rmdir runs.
        let answered = DispatchSemaphore(value: 0), goOn = DispatchSemaphore(value: 0)
        let held = Mutex(false)
        m.transport.after.withLock {
            $0 = { request in
                guard request.method == .get, request.url.contains("delimiter"), request.url.contains("prefix=d%2F&") || request.url.contains("prefix=d/&"),
                      held.withLock({ done in defer { done = true }; return !done }) else { return }
                answered.signal()
                goOn.wait()
            }
        }
        let listed = Mutex<[String]?>(nil)
        let reading = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            listed.withLock { $0 = try? m.fs.readdir("/d").all().map(\.name) }
            reading.signal()
        }
        XCTAssertEqual(answered.wait(timeout: .now() + 10), .success, "the listing was asked for")
        try m.fs.rmdir("/d/sub")
        goOn.signal()
        XCTAssertEqual(reading.wait(timeout: .now() + 10), .success, "the reading ended")
        XCTAssertEqual(listed.withLock { $0 }, ["f", "sub"], "the reading shows what Swift listed")
        XCTAssertThrowsError(try m.fs.getattr("/d/sub"), "the removed directory stays removed") {
            XCTAssertEqual(($0 as? FSError)?.errno, ENOENT)
        }
        XCTAssertNoThrow(try m.fs.mkdir("/d/sub", creator: creator), "and can be made again")
    }

    func testAReaddirPassAcrossTheMountsOwnRenameDoesNotHideTheNewName() throws {
        var settings = SimulatedCluster.Settings()
        settings.containerListingLimit = 3
        let m = try mount(cluster: settings)
        for name in ["a", "b", "c", "d", "e"] { try m.client.put(container: "c", object: "dir/\(name)", body: [1]) }
        try m.fs.mkdir("/dir/sub", creator: Creator(mode: 0o755, uid: getuid(), gid: getgid()))
        let stream = try m.fs.readdir("/dir")
        XCTAssertEqual(try stream.entries(from: 0).count, 3, "the first page")
        // The new name sorts into the page already read.
        try m.fs.rename("/dir/sub", to: "/dir/b0", noReplace: false)
        XCTAssertEqual(try stream.all().map(\.name), ["a", "b", "c", "d", "e", "sub"],
                       "the pass missed the new name, and shows the old one as the mount knew it when the pass began")
        XCTAssertEqual(try m.fs.getattr("/dir/b0").kind, .directory, "a listing older than the rename does not hide its target")
        stream.restart()
        XCTAssertEqual(try stream.all().map(\.name), ["a", "b", "b0", "c", "d", "e"], "a rewind lists afresh")
    }

    func testAListingThatLagsBehindTheMountsOwnWriteIsNotReusedAndAFileBeingWrittenShowsItsSize() throws {
        let m = try mount()
        try store(m.fs, "/d/a", [1])
        m.transport.lagging.withLock { $0 = ["d/new"] }
        try store(m.fs, "/d/new", [1, 2])
        Thread.sleep(forTimeInterval: 0.01)
        XCTAssertEqual(try m.fs.readdir("/d").all().map(\.name), ["a", "new"], "the mount's own file shows")
        m.transport.lagging.withLock { $0 = [] }
        let listings = m.transport.requests.count
        XCTAssertEqual(try m.fs.readdir("/d").all().map(\.name), ["a", "new"])
        XCTAssertGreaterThan(m.transport.requests.count, listings, "a pass that lagged behind the mount is not reused")

        // A file open for writing shows the size written so far, also on a rewind after more writes.
        let handle = try m.fs.open("/d/a", mode: OpenMode(flags: O_WRONLY), caller: getpid())
        defer { m.fs.release(handle: handle) }
        try m.fs.write(handle: handle, offset: 1, data: [2, 3])
        let stream = try m.fs.readdir("/d")
        XCTAssertEqual(try stream.all().first { $0.name == "a" }?.attributes.size, 3)
        try m.fs.write(handle: handle, offset: 3, data: [4])
        stream.restart()
        XCTAssertEqual(try stream.all().first { $0.name == "a" }?.attributes.size, 4, "a rewind asks the writers again")
    }

    func testAnObjectAndAPseudoDirectoryOfOneNameShowOnceAcrossPages() throws {
        var settings = SimulatedCluster.Settings()
        settings.containerListingLimit = 2
        let m = try mount(cluster: settings)
        // Listed as "d", "d-1", "d-2", "d/": the pseudo-directory comes two pages after the object.
        for name in ["d", "d-1", "d-2", "d/x"] { try m.client.put(container: "c", object: name, body: [1]) }
        XCTAssertEqual(try m.fs.readdir("/").all().map(\.name), ["d", "d-1", "d-2"])
    }

    func testListingModeShowsListedAttributesToo() throws {
        let m = try mount { $0.attributesFrom = .listing }
        try store(m.fs, "/f", [1, 2])
        try m.fs.changeMetadata("/f", .mode(0o600))
        try m.fs.changeMetadata("/f", .mtime(FileTime(seconds: 42, nanoseconds: 7)))
        let entry = try XCTUnwrap(try remount(m).readdir("/").all().first { $0.name == "f" })
        XCTAssertEqual(entry.attributes.mode, 0o600)
        XCTAssertEqual(entry.attributes.mtime, FileTime(seconds: 42, nanoseconds: 7))
    }

    func testADynamicLargeObjectTheMountWroteIsReadForItsSizeWhenCold() throws {
        let m = try mount { $0.manifest = .dlo }
        try store(m.fs, "/dlo", .pattern(3, count: 2 * Harness.segment + 9))
        let cold = try remount(m)
        let entry = try XCTUnwrap(try cold.readdir("/").all().first { $0.name == "dlo" })
        XCTAssertFalse(entry.exact, "a DLO lists as 0 bytes: not handed to the kernel")
        XCTAssertEqual(try cold.getattr("/dlo").size, 2 * Harness.segment + 9)
    }

    func testRenamedDirectoryMarkersKeepTheirPlainTypeAndRenamedFilesTheirMetadata() throws {
        let m = try mount()
        try m.fs.mkdir("/d", creator: Creator(mode: 0o700, uid: getuid(), gid: getgid()))
        try store(m.fs, "/d/f", [1])
        try m.fs.changeMetadata("/d/f", .setAttribute(name: "user.k", value: [7], createOnly: false, replaceOnly: false))
        // Another client changes the source's metadata (keeping our Content-Type) just before the rename.
        try m.client.setMetadata(container: "c", object: "d/f", metadata: ["mtime": "5.000000000", "k": "x"])
        try m.fs.rename("/d", to: "/e", noReplace: false)
        XCTAssertEqual(try m.client.head(container: "c", object: "e/")?.contentType, "application/directory")
        let moved = try XCTUnwrap(try m.client.head(container: "c", object: "e/f"))
        let listed = try XCTUnwrap(ListedAttributes.parse(moved.contentType))
        XCTAssertEqual(listed.metadata["mtime"], moved.metadata["mtime"], "the copy's metadata is what its Content-Type says")
        XCTAssertEqual(listed.metadata["ctime"], moved.metadata["ctime"])
    }

    func testChmodAndRenameOfAnotherClientsObjectWithoutAnMtimeKeepTheMtimeItShowed() throws {
        let m = try mount()
        try m.client.put(container: "c", object: "a", body: [1], headers: [])
        try m.client.put(container: "c", object: "b", body: [2], headers: [])
        let a = try m.fs.getattr("/a").mtime, b = try m.fs.getattr("/b").mtime
        // Swift's Last-Modified, which stood for the mtime, moves with the POST and the COPY.
        m.cluster.clock.advance(5)
        try m.fs.changeMetadata("/a", .mode(0o600))
        try m.fs.rename("/b", to: "/c", noReplace: false)
        let cold = try remount(m)
        XCTAssertEqual(try cold.getattr("/a").mtime, a)
        XCTAssertEqual(try cold.getattr("/c").mtime, b)
        XCTAssertEqual(try m.client.head(container: "c", object: "a")?.metadata["mtime"], a.text, "stored for other clients too")
    }

    func testAnXattrThatFitsIsStoredEvenWhereTheKeptMtimeWouldNot() throws {
        let m = try mount()
        // 89 of Swift's 90 items, no mtime: the user's item fits, the kept mtime does not.
        let full = Dictionary(uniqueKeysWithValues: (0..<89).map { ("k\($0)", "v") })
        try m.client.put(container: "c", object: "f", body: [1], headers: SwiftClient.metadataHeaders(full))
        try m.fs.changeMetadata("/f", .setAttribute(name: "user.x", value: [1], createOnly: false, replaceOnly: false))
        XCTAssertEqual(try m.client.head(container: "c", object: "f")?.metadata["x"], "%01")
    }

    func testAnotherClientsMediaTypeAndParametersSurviveAnOverwrite() throws {
        let m = try mount()
        try m.client.put(container: "c", object: "notes", body: [1], headers: [("Content-Type", "text/x-notes; charset=utf-8")])
        try store(m.fs, "/notes", [2, 3])
        let type = try XCTUnwrap(try m.client.head(container: "c", object: "notes")?.contentType)
        XCTAssertTrue(type.hasPrefix("text/x-notes; charset=utf-8;swiftmount=1;"), type)
        // A set this version cannot read is replaced, not piled up.
        try m.client.setMetadata(container: "c", object: "notes", metadata: ["mtime": "1"], contentType: "text/plain;swiftmount=2;future=1")
        try m.fs.changeMetadata("/notes", .mode(0o600))
        let again = try XCTUnwrap(try m.client.head(container: "c", object: "notes")?.contentType)
        XCTAssertEqual(again.components(separatedBy: "swiftmount=").count, 2, again)
        XCTAssertTrue(again.hasPrefix("text/plain;swiftmount=1;"), again)
    }

    func testMigrateAttrsKeepsManifestsSkipsSymlinksAndFullMetadataAndNeverRunsOnYoungObjects() throws {
        let m = try mount()
        try m.client.put(container: "c", object: "plain", body: [1], headers: [("X-Object-Meta-Mtime", "1500000000.5")])
        try store(m.fs, "/seg", [1])
        try m.client.createContainer("c_segments")
        try m.client.put(container: "c_segments", object: "p/1", body: [9, 9])
        try m.client.putDynamicLargeObject(container: "c", object: "dlo", segmentContainer: "c_segments", segmentPrefix: "p/")
        let etag = try m.client.put(container: "c_segments", object: "s/1", body: [8])
        try m.client.putStaticLargeObject(container: "c", object: "slo", segments: [SegmentRef(path: "/c_segments/s/1", etag: etag, sizeBytes: 1)])
        try m.client.putSymlink(container: "c", object: "link", target: "c/plain", metadata: [:])
        let limits = try m.client.clusterInfo().metadataLimits
        let full = Dictionary(uniqueKeysWithValues: (0..<limits.count).map { ("k\($0)", "v") })
        try m.client.put(container: "c", object: "full", body: [1], headers: SwiftClient.metadataHeaders(full))
        func migrate(minimumAge: Double) throws -> AttributeMigration.Progress {
            try AttributeMigration(client: m.client, container: "c", limits: limits, minimumAge: minimumAge, dryRun: false) { _ in }
                .run { _ in }
        }
        let young = try migrate(minimumAge: 60)
        XCTAssertEqual(young.updated, 0, "nothing changed in the last minute is touched")
        m.cluster.clock.advance(61)
        let done = try migrate(minimumAge: 60)
        XCTAssertEqual(done.updated, 3, "plain, dlo, slo")
        XCTAssertEqual(done.current, 1, "what the mount wrote")
        XCTAssertEqual(done.skipped, 2, "the symlink, and the object without room for two more items")
        XCTAssertEqual(try m.client.head(container: "c", object: "dlo")?.dynamicManifest, "c_segments/p/")
        XCTAssertEqual(try m.client.head(container: "c", object: "slo")?.isStaticLargeObject, true)
        XCTAssertEqual(try m.client.head(container: "c", object: "full")?.metadata.count, limits.count, "left as it was")
        let cold = try remount(m)
        let listed = Dictionary(uniqueKeysWithValues: try cold.readdir("/").all().map { ($0.name, $0) })
        XCTAssertEqual(listed["plain"]?.exact, true)
        XCTAssertEqual(listed["plain"]?.attributes.mtime, FileTime(seconds: 1_500_000_000, nanoseconds: 500_000_000))
        XCTAssertEqual(listed["slo"]?.exact, true)
        XCTAssertEqual(try cold.getattr("/dlo").size, 2, "the DLO still reads whole")
    }

    func testAFileStoredByFsyncThenClosedIsThereForADirectoryListedBefore() throws {
        let m = try mount()
        _ = try m.fs.readdir("/").all()
        let handle = try m.fs.create("/synced", creator: Creator(mode: 0o644, uid: getuid(), gid: getgid()), caller: getpid())
        try m.fs.write(handle: handle, offset: 0, data: [1, 2, 3])
        try m.fs.fsync(handle: handle)
        try m.fs.flush(handle: handle, caller: getpid())
        m.fs.release(handle: handle)
        XCTAssertEqual(try m.fs.getattr("/synced").size, 3)
        try store(m.fs, "/a", [1])
        _ = try m.fs.readdir("/").all()
        try m.fs.rename("/a", to: "/b", noReplace: false)
        XCTAssertEqual(try m.fs.getattr("/b").size, 1, "a rename's target is known at once")
        XCTAssertThrowsError(try m.fs.getattr("/a")) { XCTAssertEqual(FSError.from($0).errno, ENOENT) }
    }

    func testAMetadataChangeSwiftRefusedIsNotStoredByALaterCommit() throws {
        let m = try mount()
        try store(m.fs, "/f", [1])
        let handle = try m.fs.open("/f", mode: OpenMode(flags: O_WRONLY), caller: getpid())
        m.cluster.inject(.status(503), times: 100) { $0.method == .post }
        XCTAssertThrowsError(try m.fs.changeMetadata("/f", .mode(0o600)))
        m.cluster.clearFaults()
        try m.fs.write(handle: handle, offset: 0, data: [2])
        try m.fs.flush(handle: handle, caller: getpid())
        m.fs.release(handle: handle)
        XCTAssertNil(try m.client.head(container: "c", object: "f")?.metadata["mode"], "the refused chmod stays refused")
    }

    func testHeadersAPostWouldDropAreKeptByChmodAndRename() throws {
        let m = try mount()
        try m.client.put(container: "c", object: "doc", body: [1], headers: [("Content-Disposition", "attachment"), ("X-Object-Meta-Mtime", "1")])
        try m.fs.changeMetadata("/doc", .mode(0o600))
        try m.fs.rename("/doc", to: "/doc2", noReplace: false)
        let info = try XCTUnwrap(try m.client.head(container: "c", object: "doc2"))
        XCTAssertEqual(info.keptHeaders.first { $0.name == "content-disposition" }?.value, "attachment")
        XCTAssertEqual(info.metadata["mode"], "600")
    }

    func testZeroCacheTimesDoNotRecurseOnAMissingName() throws {
        // dir_cache_ttl=0 once relisted a directory forever on every miss (a stack overflow).
        let m = try mount { $0.dirCacheTTL = 0; $0.attrTimeout = 0 }
        try store(m.fs, "/here", [1])
        _ = try m.fs.readdir("/").all()
        XCTAssertThrowsError(try m.fs.getattr("/missing")) { XCTAssertEqual(FSError.from($0).errno, ENOENT) }
    }

    /// stat(2) and getxattr of a file whose close is storing it answer at once, from what the
    /// writer last published: `ls -l` does not wait behind an upload talking to Swift.
    func testStatOfAFileBeingStoredDoesNotWaitForItsUpload() throws {
        let m = try mount()
        let entered = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        m.transport.before.withLock {
            $0 = { request in
                guard request.method == .put, request.url.hasSuffix("/c/f") else { return }
                entered.signal()
                _ = release.wait(timeout: .now() + 10)
            }
        }
        let handle = try m.fs.create("/f", creator: Creator(mode: 0o600, uid: getuid(), gid: getgid()), caller: getpid())
        try m.fs.write(handle: handle, offset: 0, data: .pattern(3, count: 1000))
        let closed = ResultBox()
        Thread { [fs = m.fs] in closed.set(Result { try fs.flush(handle: handle, caller: getpid()) }) }.start()
        XCTAssertEqual(entered.wait(timeout: .now() + 10), .success, "the close reached its PUT")
        let started = Date()
        let shown = try m.fs.getattr("/f")
        XCTAssertNoThrow(try m.fs.extendedAttributeNames("/f"))
        XCTAssertLessThan(Date().timeIntervalSince(started), 1, "answered while the PUT is held")
        XCTAssertEqual(shown.size, 1000)
        XCTAssertEqual(shown.mode, 0o600)
        release.signal()
        try closed.wait()
        m.fs.release(handle: handle)
        XCTAssertEqual(try m.client.get(container: "c", object: "f", range: 0..<1000, ifMatch: nil), .pattern(3, count: 1000))
    }
}

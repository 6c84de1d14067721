import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// Names, links, df and the lookup caches, against the real stack.
final class NamespaceTests: MountTestCase {
    func testAwkwardNamesRoundTripAndBadOnesGetClearErrors() throws {
        let m = try mount()
        let names = ["with space", "per%20cent", "quest?ion", "hash#tag", "amp&er", "plus+sign", "ünïcødé", "%2F"]
        for name in names {
            let path = Shell.quote(m.path(name))
            try Shell.bash("printf %s \(Shell.quote(name)) > \(path) && mv \(path) \(path)-moved")
        }
        let listed = try Shell.bash("ls -1 \(Shell.quote(m.mountpoint))").split(separator: "\n").map(String.init)
        XCTAssertEqual(Set(listed), Set(names.map { $0 + "-moved" }))
        XCTAssertEqual(Set(try objectNames(in: container)), Set(names.map { $0 + "-moved" }), "Swift has the same names")
        for name in names {
            XCTAssertEqual(try String(contentsOfFile: m.path(name + "-moved"), encoding: .utf8), name)
            try Shell.bash("rm \(Shell.quote(m.path(name + "-moved")))")
        }
        XCTAssertEqual(try objectNames(in: container), [])

        // 5 components of 250 bytes: each is a legal file name, the object name is over 1024 bytes.
        let deep = (0..<4).map { _ in String(repeating: "d", count: 250) }.joined(separator: "/")
        try FileManager.default.createDirectory(atPath: m.path(deep), withIntermediateDirectories: true)
        let tooLong = try Shell.run(["/usr/bin/touch", m.path(deep + "/" + String(repeating: "f", count: 250))])
        XCTAssertTrue(tooLong.stderr.contains("File name too long"), tooLong.stderr)
        let notUTF8 = try Shell.run(["/usr/bin/python3", "-c", "import os, sys; os.open(sys.argv[1].encode() + b'/bad\\xff', os.O_CREAT | os.O_WRONLY)", m.mountpoint])
        XCTAssertTrue(notUTF8.stderr.contains("Invalid argument"), notUTF8.stderr)
        XCTAssertTrue(m.log.contains("not valid UTF-8"))
    }

    func testHardLinksAreRefusedWithEPERM() throws {
        let m = try mount()
        try Shell.bash("printf a > \(Shell.quote(m.path("a")))")
        let link = try Shell.run(["/usr/bin/ln", m.path("a"), m.path("b")])
        XCTAssertNotEqual(link.status, 0)
        XCTAssertTrue(link.stderr.contains("Operation not permitted"), link.stderr)
        XCTAssertEqual(try objectNames(in: container), ["a"])
    }

    func testNewFilesInAFreshDirectoryCostOnePutEach() throws {
        let m = try mount()
        try Shell.bash("""
            mkdir \(Shell.quote(m.path("fresh")))
            for i in $(seq 20); do printf $i > \(Shell.quote(m.path("fresh")))/f$i; done
            """)
        // After mkdir's marker PUT: a listing of the directory shows in its query (percent-encoded),
        // a HEAD in its path.
        let trace = m.log.split(separator: "\n").filter { $0.contains("trace: ") }
        let marker = try XCTUnwrap(trace.firstIndex { $0.contains("PUT \(container)/fresh/ ") }, m.log)
        let requests = trace[(marker + 1)...].filter { $0.contains("/fresh/f") || $0.contains("prefix=fresh%2F") }
        XCTAssertEqual(requests.filter { $0.contains("trace: PUT") }.count, 20)
        XCTAssertEqual(requests.count, 20, "no HEAD or listing for names mkdir just made known:\n\(requests.joined(separator: "\n"))")
        XCTAssertEqual(try objectNames(in: container, prefix: "fresh/").count, 21, "20 files and the directory marker")
    }

    func testDfReportsTheAccountQuota() throws {
        // tempauth's reseller admin sets a quota on the tempauth test account (account_quotas).
        client = try DevStack.client("tempauth")
        try client.createContainer(container)
        let account = try client.connection.current().storageURL
        let reseller = try DevStack.client("reseller")
        let token = try reseller.connection.current().token
        let quota = 50 << 30
        let set = try CurlTransport().perform(HTTPRequest(method: .post, url: account, headers: [
            ("X-Auth-Token", token.reveal), ("X-Account-Meta-Quota-Bytes", String(quota))]))
        XCTAssertEqual(set.status, 204)
        defer {
            _ = try? CurlTransport().perform(HTTPRequest(method: .post, url: account, headers: [
                ("X-Auth-Token", token.reveal), ("X-Account-Meta-Quota-Bytes", "")]))
        }
        let m = try mount([], user: "tempauth")
        let df = try Shell.bash("df -B1 --output=size,used \(Shell.quote(m.mountpoint)) | tail -1")
        let numbers = df.split(separator: " ").compactMap { Int($0) }
        XCTAssertEqual(numbers.first, quota, "df shows the quota as the size: \(df)")
    }

    func testASecondLsWhileTheListingIsCurrentAsksNothingAndChangesShow() throws {
        let m = try mount(["attr_timeout=60", "dir_cache_ttl=60"])
        let d = Shell.quote(m.path("d"))
        try Shell.bash("mkdir \(d) && for i in $(seq 1 20); do printf x > \(d)/f$i; done")
        let listings = { m.log.split(separator: "\n").filter { $0.contains("trace: GET \(self.container)?") && $0.contains("prefix=d%2F") }.count }
        let first = try Shell.bash("ls -l \(d)")
        let afterFirst = listings()
        XCTAssertEqual(try Shell.bash("ls -l \(d)"), first)
        XCTAssertEqual(listings(), afterFirst, "the kernel's copy answered the second ls")
        try Shell.bash("printf y > \(d)/new && rm \(d)/f1")
        let names = try Shell.bash("ls \(d)").split(separator: "\n")
        XCTAssertTrue(names.contains("new") && !names.contains("f1"), "the mount's own changes show at once: \(names)")

        // Another client's object shows once the listing is older than attr_timeout (or dir_cache_ttl).
        let short = try mount(["attr_timeout=2", "dir_cache_ttl=2"])
        try Shell.bash("ls \(Shell.quote(short.path("d"))) >/dev/null")
        try client.put(container: container, object: "d/other", body: [1])
        Thread.sleep(forTimeInterval: 2.5)
        XCTAssertTrue(try Shell.bash("ls \(Shell.quote(short.path("d")))").contains("other"), "listed again after the timeouts")
    }

    func testTwentyThousandNamesInOneDirectoryListCompletely() throws {
        // Created once per stack and kept, in the tempauth account: deleting 20,000 objects
        // takes minutes, and the demo account's scans (gc, unlink of large files) would list them.
        let fixture = try DevStack.client("tempauth")
        container = "fixture-20000-names"
        if try !fixture.containerExists(container) { try fixture.createContainer(container) }
        if try fixture.listAll(container: container, delimiter: nil).count != 20_000 {
            let names = (1...20_000).map { String(format: "many/f%05d", $0) }
            let created = Date()
            try BulkCreate.emptyObjects(names, in: container, client: fixture)
            print("created 20,000 objects in \(String(format: "%.1f", Date().timeIntervalSince(created))) s")
        }
        let m = try mount([], user: "tempauth")
        let started = Date()
        let count = try Shell.bash("ls \(Shell.quote(m.path("many"))) | wc -l")
        let seconds = Date().timeIntervalSince(started)
        XCTAssertEqual(count.trimmingCharacters(in: .whitespacesAndNewlines), "20000")
        let requests = m.log.split(separator: "\n").filter { $0.contains("trace: ") }
        // Answered pages only: a request refused for an expired token is sent again.
        let listings = requests.filter { $0.contains("trace: GET \(container)?") && $0.contains("→ 200") }
        print("ls | wc -l of 20,000 names: \(String(format: "%.2f", seconds)) s, \(requests.count) requests (\(listings.count) listing pages)")
        // Three pages of the directory, the check that it is one, and the first page of its
        // parent, which the lookup of `many` reads.
        XCTAssertLessThanOrEqual(listings.count, 5, "pages of up to 10,000 names:\n\(listings.joined(separator: "\n"))")
        XCTAssertEqual(requests.filter { $0.contains("HEAD \(container)/many/") }.count, 0, "no HEAD per entry")
        let sorted = try Shell.bash("ls \(Shell.quote(m.path("many"))) | sed -n '1p;$p'")
        XCTAssertEqual(sorted, "f00001\nf20000\n")
    }
}

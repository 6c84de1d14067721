import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// The client against the real dev stack: both auth services, listings, ranges.
final class StackClientTests: XCTestCase {
    func testTempAuthAndKeystoneBothReachTheirAccounts() throws {
        for user in ["demo", "tempauth"] {
            let client = try DevStack.client(user)
            let container = DevStack.uniqueName("c")
            try client.createContainer(container)
            XCTAssertTrue(try client.containerExists(container), user)
            try client.put(container: container, object: "x", body: Array("abc".utf8))
            XCTAssertEqual(try client.get(container: container, object: "x", range: 1..<3, ifMatch: nil), Array("bc".utf8))
            XCTAssertTrue(try client.delete(container: container, object: "x"))
            try client.deleteContainer(container)
        }
    }

    func testListingPagesPastTheLimitAndGroupsPseudoDirectories() throws {
        let client = try DevStack.client()
        let container = DevStack.uniqueName("c")
        try client.createContainer(container)
        for i in 0..<25 { try client.put(container: container, object: String(format: "f%02d", i), body: []) }
        try client.put(container: container, object: "dir/a", body: [])
        try client.put(container: container, object: "dir/sub/b", body: [])
        let page = try client.list(container: container, limit: 10)
        XCTAssertEqual(page.count, 10)
        var all: [ListingEntry] = []
        var marker = ""
        while true {
            let next = try client.list(container: container, marker: marker, limit: 10)
            guard let last = next.last else { break }
            all += next
            if case .object(let o) = last { marker = o.name } else if case .subdir(let s) = last { marker = s }
        }
        XCTAssertEqual(all.count, 26, "25 files and one pseudo-directory")
        XCTAssertEqual(try client.listAll(container: container).count, 26)
        XCTAssertEqual(try client.listAll(container: container, prefix: "dir/"), [
            .object(try XCTUnwrap(client.listAll(container: container, prefix: "dir/a", delimiter: nil).first).summary),
            .subdir("dir/sub/")])
    }

    func testChangedObjectFailsPinnedRead() throws {
        let client = try DevStack.client()
        let container = DevStack.uniqueName("c")
        try client.createContainer(container)
        let etag = try client.put(container: container, object: "o", body: Array("one".utf8))
        try client.put(container: container, object: "o", body: Array("two".utf8))
        XCTAssertThrowsError(try client.get(container: container, object: "o", range: 0..<3, ifMatch: etag)) { error in
            guard case SwiftError.changed = error else { return XCTFail("\(error)") }
        }
    }
}

extension ListingEntry {
    var summary: ObjectSummary {
        if case .object(let o) = self { return o }
        fatalError("not an object")
    }
}

import Foundation
@testable import SwiftMountFS
import SwiftStorage
import XCTest

/// Pure logic: how xattrs and POSIX attributes are written into Swift metadata, and back.
final class MetadataCodingTests: XCTestCase {
    func testAttributeNamesSurviveSwiftsTitleCasingAndUnderscores() throws {
        let key = try XCTUnwrap(ObjectMetadata.key(forAttribute: "user.Foo_bar.v2"))
        XCTAssertEqual(key, "%46oo%5fbar.v2")
        // Swift answers with the name title-cased: what comes back must still decode exactly.
        XCTAssertEqual(ObjectMetadata.attributeName(forKey: "%46Oo%5Fbar.V2"), "user.Foo_bar.v2")
        XCTAssertNil(ObjectMetadata.key(forAttribute: "security.selinux"))
        XCTAssertNil(ObjectMetadata.key(forAttribute: "user."))
    }

    func testValuesRoundTripIncludingBinaryAndEdgeSpaces() {
        let values: [[UInt8]] = [Array("hello world".utf8), Array(" padded ".utf8), [0, 255, 37, 10], Array("50%".utf8), []]
        for value in values {
            let encoded = ObjectMetadata.encode(value: value)
            XCTAssertFalse(encoded.hasPrefix(" ") || encoded.hasSuffix(" "), encoded)
            XCTAssertEqual(ObjectMetadata.decode(value: encoded), value, encoded)
        }
        XCTAssertEqual(ObjectMetadata.encode(value: Array("a b".utf8)), "a b")
    }

    func testChangesFollowSetxattrFlagsAndSwiftLimits() throws {
        var limits = ClusterInfo.MetadataLimits()
        limits.nameLength = 8
        limits.valueLength = 4
        limits.count = 4
        var metadata: [String: String] = ["mtime": "1.5"]
        try MetadataChange.setAttribute(name: "user.a", value: Array("1".utf8), createOnly: true, replaceOnly: false)
            .apply(to: &metadata, limits: limits, now: FileTime(seconds: 9))
        XCTAssertEqual(metadata["a"], "1")
        XCTAssertNotNil(metadata["ctime"], "every change moves the ctime")
        XCTAssertThrowsErrno(EEXIST) {
            try MetadataChange.setAttribute(name: "user.a", value: [], createOnly: true, replaceOnly: false).apply(to: &metadata, limits: limits, now: FileTime(seconds: 9))
        }
        XCTAssertThrowsErrno(ENODATA) {
            try MetadataChange.setAttribute(name: "user.b", value: [], createOnly: false, replaceOnly: true).apply(to: &metadata, limits: limits, now: FileTime(seconds: 9))
        }
        XCTAssertThrowsErrno(ERANGE) {
            try MetadataChange.setAttribute(name: "user.longname9", value: [], createOnly: false, replaceOnly: false).apply(to: &metadata, limits: limits, now: FileTime(seconds: 9))
        }
        XCTAssertThrowsErrno(E2BIG) {
            try MetadataChange.setAttribute(name: "user.b", value: Array("12345".utf8), createOnly: false, replaceOnly: false).apply(to: &metadata, limits: limits, now: FileTime(seconds: 9))
        }
        try MetadataChange.mode(0o100600).apply(to: &metadata, limits: limits, now: FileTime(seconds: 9))
        XCTAssertEqual(metadata["mode"], "600")
        XCTAssertThrowsErrno(ENOSPC) { try MetadataChange.owner(uid: 7, gid: 8).apply(to: &metadata, limits: limits, now: FileTime(seconds: 9)) }
        XCTAssertNil(metadata["uid"], "a refused change leaves the metadata as it was")
        XCTAssertThrowsErrno(ENODATA) { try MetadataChange.removeAttribute(name: "user.zz").apply(to: &metadata, limits: limits, now: FileTime(seconds: 9)) }
        try MetadataChange.removeAttribute(name: "user.a").apply(to: &metadata, limits: limits, now: FileTime(seconds: 9))
        XCTAssertNil(metadata["a"])
    }

    func testAttributesReadFromMetadataWithListingFallback() {
        let stored = FileAttributes(kind: .file, size: 3, metadata: ["mtime": "1577934245.5", "mode": "600", "uid": "42"],
                                    lastModified: Date(timeIntervalSince1970: 9))
        XCTAssertEqual(stored.mtime, FileTime(seconds: 1_577_934_245, nanoseconds: 500_000_000))
        XCTAssertEqual(stored.ctime, stored.mtime, "no ctime stored: the mtime")
        XCTAssertEqual(stored.mode, 0o600)
        XCTAssertEqual(stored.uid, 42)
        XCTAssertNil(stored.gid)
        let plain = FileAttributes(kind: .file, size: 3, metadata: [:], lastModified: Date(timeIntervalSince1970: 9))
        XCTAssertEqual(plain.mtime, FileTime(seconds: 9))
        XCTAssertNil(plain.mode)
    }

    func testTimesKeepNanosecondsAndReadOtherClientsFloats() throws {
        let exact = try XCTUnwrap(FileTime(text: "1700000000.123456789"))
        XCTAssertEqual(exact, FileTime(seconds: 1_700_000_000, nanoseconds: 123_456_789))
        XCTAssertEqual(exact.text, "1700000000.123456789")
        XCTAssertEqual(FileTime(text: "1.5")?.text, "1.500000000")
        XCTAssertEqual(FileTime(text: "42")?.text, "42.000000000")
        XCTAssertEqual(FileTime(text: "1.7e9")?.seconds, 1_700_000_000, "swiftclient-style floats still read")
        XCTAssertNil(FileTime(text: "soon"))
        XCTAssertEqual(FileTime(seconds: 5, nanoseconds: 7).text, "5.000000007")
        XCTAssertEqual(FileTime(seconds: -3, nanoseconds: 500_000_000).text, "-2.500000000", "before 1970")
        XCTAssertEqual(FileTime(text: "-2.500000000"), FileTime(seconds: -3, nanoseconds: 500_000_000))
    }

    func testListedAttributesRoundTripAndAreReadStrictly() throws {
        let metadata = ["mtime": "1700000000.000000001", "ctime": "1700000001.5", "mode": "10640", "uid": "7", "gid": "8",
                        "rdev": "259", "color": "red"]
        let type = ListedAttributes.contentType(media: "image/png", metadata: metadata)
        XCTAssertEqual(type, "image/png;swiftmount=1;mtime=1700000000.000000001;ctime=1700000001.500000000;mode=10640;uid=7;gid=8;rdev=259")
        let parsed = try XCTUnwrap(ListedAttributes.parse(type))
        XCTAssertEqual(parsed.media, "image/png")
        XCTAssertEqual(parsed.metadata["mode"], "10640")
        XCTAssertFalse(parsed.dynamicManifest)
        let attributes = FileAttributes(kind: .file, size: 0, metadata: parsed.metadata, lastModified: nil)
        XCTAssertEqual(attributes.kind, .special(0o010000), "a FIFO's type rides in its mode")
        XCTAssertEqual(attributes.ctime, FileTime(seconds: 1_700_000_001, nanoseconds: 500_000_000))
        XCTAssertEqual(attributes.rdev, 259)
        // Another client's own parameters stay in front of ours.
        let charset = ListedAttributes.contentType(media: "text/plain; charset=utf-8", metadata: ["mtime": "1"], dynamicManifest: true)
        XCTAssertEqual(ListedAttributes.parse(charset)?.media, "text/plain; charset=utf-8")
        XCTAssertEqual(ListedAttributes.parse(charset)?.dynamicManifest, true)
        XCTAssertEqual(ListedAttributes.mediaType(charset), "text/plain")
        // Anything not exactly ours is not trusted at all.
        for bad in ["application/octet-stream", "a/b;swiftmount=2;mtime=1.000000000", "a/b;swiftmount=1;mode=644",
                    "a/b;swiftmount=1;mtime=1.000000000;owner=x", "a/b;swiftmount=1;mtime=1.000000000;mtime=2.000000000",
                    "a/b;swiftmount=1;mtime=1.5", "a/b;swiftmount=1;mtime=1.000000000;mode=9", "a/b;swiftmount=1;mtime=1.000000000;uid=-1",
                    "swiftmount=1;mtime=1.000000000", "a/b;swiftmount=1;mtime=1.000000000;dlo=2"] {
            XCTAssertNil(ListedAttributes.parse(bad), bad)
        }
        // A value that cannot be written exactly leaves the type plain.
        XCTAssertEqual(ListedAttributes.contentType(media: "a/b", metadata: ["mtime": "1", "mode": "rw"]), "a/b")
        XCTAssertEqual(ListedAttributes.contentType(media: "a/b", metadata: ["mode": "644"]), "a/b")
    }

    func testListedAttributesStopCountingWhenTheObjectChangedLater() throws {
        let parsed = try XCTUnwrap(ListedAttributes.parse("a/b;swiftmount=1;mtime=1000.000000000;ctime=2000.000000000"))
        XCTAssertTrue(ListedAttributes.isCurrent(parsed, lastModified: Date(timeIntervalSince1970: 2001)))
        XCTAssertFalse(ListedAttributes.isCurrent(parsed, lastModified: Date(timeIntervalSince1970: 2000 + ListedAttributes.currentSlack + 1)),
                       "a POST by another client moved the listing's time past our ctime")
        XCTAssertFalse(ListedAttributes.isCurrent(parsed, lastModified: Date(timeIntervalSince1970: 2000 - ListedAttributes.currentSlack - 1)),
                       "a client clock far ahead of Swift's is not trusted either")
        XCTAssertFalse(ListedAttributes.isCurrent(parsed, lastModified: nil))
        let noCtime = try XCTUnwrap(ListedAttributes.parse("a/b;swiftmount=1;mtime=4000000000.000000000"))
        XCTAssertFalse(ListedAttributes.isCurrent(noCtime, lastModified: Date(timeIntervalSince1970: 2001)), "a ctime is needed")
        XCTAssertEqual(ListedAttributes.media("a/b; q=1;swiftmount=9;x"), "a/b; q=1", "unreadable sets are cut too")
    }

    func testChmodOfAFifoKeepsItAFifo() throws {
        var metadata = ["mtime": "1", "mode": "10644"]
        try MetadataChange.mode(0o600).apply(to: &metadata, limits: ClusterInfo.MetadataLimits(), now: FileTime(seconds: 9))
        XCTAssertEqual(metadata["mode"], "10600")
        var plain = ["mtime": "1", "mode": "644"]
        try MetadataChange.mode(0o100600).apply(to: &plain, limits: ClusterInfo.MetadataLimits(), now: FileTime(seconds: 9))
        XCTAssertEqual(plain["mode"], "600")
    }

    func testMediaTypesAreGuessedFromTheNameAsSwiftWould() {
        XCTAssertEqual(MediaTypes.guess("dir/notes.txt"), "text/plain")
        XCTAssertEqual(MediaTypes.guess("dir/photo.JPG"), "image/jpeg")
        XCTAssertEqual(MediaTypes.guess("disk"), "application/octet-stream")
        XCTAssertEqual(MediaTypes.guess(".bashrc"), "application/octet-stream")
    }

    func testSymlinkTargetsResolveInsideTheMountOnly() {
        let link = ObjectPath("a/b/link")
        XCTAssertEqual(SymlinkTarget.resolve("../c/f", from: link, mountpoint: "/mnt/x"), ObjectPath("a/c/f"))
        XCTAssertEqual(SymlinkTarget.resolve("/mnt/x/top", from: link, mountpoint: "/mnt/x"), ObjectPath("top"))
        XCTAssertNil(SymlinkTarget.resolve("../../../etc", from: link, mountpoint: "/mnt/x"))
        XCTAssertNil(SymlinkTarget.resolve("/etc/hosts", from: link, mountpoint: "/mnt/x"))
        XCTAssertEqual(SymlinkTarget.relative(header: "cont/a/b/f%20g", from: link, container: "cont"), "f g")
        XCTAssertEqual(SymlinkTarget.relative(header: "cont/top", from: link, container: "cont"), "../../top")
        XCTAssertEqual(SymlinkTarget.relative(header: "other/x", from: link, container: "cont"), "../../../other/x")
    }

    private func XCTAssertThrowsErrno(_ errno: Int32, _ body: () throws -> Void, line: UInt = #line) {
        do {
            try body()
            XCTFail("no error, expected errno \(errno)", line: line)
        } catch let error as FSError {
            XCTAssertEqual(error.errno, errno, "\(error)", line: line)
        } catch {
            XCTFail("\(error)", line: line)
        }
    }
}

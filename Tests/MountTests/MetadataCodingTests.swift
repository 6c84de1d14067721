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
        limits.count = 3
        var metadata: [String: String] = ["mtime": "1.5"]
        try MetadataChange.setAttribute(name: "user.a", value: Array("1".utf8), createOnly: true, replaceOnly: false)
            .apply(to: &metadata, limits: limits)
        XCTAssertEqual(metadata["a"], "1")
        XCTAssertThrowsErrno(EEXIST) {
            try MetadataChange.setAttribute(name: "user.a", value: [], createOnly: true, replaceOnly: false).apply(to: &metadata, limits: limits)
        }
        XCTAssertThrowsErrno(ENODATA) {
            try MetadataChange.setAttribute(name: "user.b", value: [], createOnly: false, replaceOnly: true).apply(to: &metadata, limits: limits)
        }
        XCTAssertThrowsErrno(ERANGE) {
            try MetadataChange.setAttribute(name: "user.longname9", value: [], createOnly: false, replaceOnly: false).apply(to: &metadata, limits: limits)
        }
        XCTAssertThrowsErrno(E2BIG) {
            try MetadataChange.setAttribute(name: "user.b", value: Array("12345".utf8), createOnly: false, replaceOnly: false).apply(to: &metadata, limits: limits)
        }
        try MetadataChange.mode(0o100600).apply(to: &metadata, limits: limits)
        XCTAssertEqual(metadata["mode"], "600")
        XCTAssertThrowsErrno(ENOSPC) { try MetadataChange.owner(uid: 7, gid: 8).apply(to: &metadata, limits: limits) }
        XCTAssertNil(metadata["uid"], "a refused change leaves the metadata as it was")
        XCTAssertThrowsErrno(ENODATA) { try MetadataChange.removeAttribute(name: "user.zz").apply(to: &metadata, limits: limits) }
        try MetadataChange.removeAttribute(name: "user.a").apply(to: &metadata, limits: limits)
        XCTAssertNil(metadata["a"])
    }

    func testAttributesReadFromMetadataWithListingFallback() {
        let stored = FileAttributes(kind: .file, size: 3, metadata: ["mtime": "1577934245.5", "mode": "600", "uid": "42"],
                                    lastModified: Date(timeIntervalSince1970: 9))
        XCTAssertEqual(stored.mtime.timeIntervalSince1970, 1_577_934_245.5, accuracy: 0.0001)
        XCTAssertEqual(stored.mode, 0o600)
        XCTAssertEqual(stored.uid, 42)
        XCTAssertNil(stored.gid)
        let plain = FileAttributes(kind: .file, size: 3, metadata: [:], lastModified: Date(timeIntervalSince1970: 9))
        XCTAssertEqual(plain.mtime.timeIntervalSince1970, 9)
        XCTAssertNil(plain.mode)
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

import Foundation
import SwiftStorage
import TestSupport
import XCTest

final class ParsingTests: XCTestCase {
    func testByteSizesWithSuffixes() {
        XCTAssertEqual(ByteSize.parse("1048576"), 1 << 20)
        XCTAssertEqual(ByteSize.parse("64K"), 64 << 10)
        XCTAssertEqual(ByteSize.parse("32M"), 32 << 20)
        XCTAssertEqual(ByteSize.parse("5g"), 5 << 30)
        XCTAssertEqual(ByteSize.parse("2MB"), 2 << 20)
        XCTAssertNil(ByteSize.parse("12Q"))
        XCTAssertNil(ByteSize.parse(""))
        XCTAssertNil(ByteSize.parse("-1M"))
    }

    func testKeystoneAndSwiftTimestampsParseAsUTC() throws {
        let keystone = try XCTUnwrap(Timestamp.parseISO8601("2026-11-29T11:09:38.500000Z"))
        XCTAssertEqual(keystone.timeIntervalSince1970, 1_795_950_578.5, accuracy: 0.001)
        let swift = try XCTUnwrap(Timestamp.parseISO8601("2026-11-29T11:09:38.000000"))
        XCTAssertEqual(swift.timeIntervalSince1970, 1_795_950_578, accuracy: 0.001)
        XCTAssertNil(Timestamp.parseISO8601("yesterday"))
    }

    func testHTTPDatesRoundTrip() throws {
        let date = try XCTUnwrap(Timestamp.parseHTTPDate("Mon, 30 Nov 2026 01:58:28 GMT"))
        XCTAssertEqual(date.timeIntervalSince1970, 1_796_003_908, accuracy: 0.001)
        XCTAssertEqual(Timestamp.formatHTTPDate(date), "Mon, 30 Nov 2026 01:58:28 GMT")
        XCTAssertEqual(Timestamp.formatListing(date.addingTimeInterval(0.25)), "2026-11-30T01:58:28.250000")
        XCTAssertEqual(Timestamp.parseISO8601(Timestamp.formatISO8601(date)), date)
        XCTAssertNil(Timestamp.parseHTTPDate("Mon, 30 Foo 2026 01:58:28 GMT"))
    }

    func testObjectNamesArePercentEncodedExceptSlashes() {
        XCTAssertEqual(PathEncoding.encode("a b/%41?#&+=ü", keepSlash: true), "a%20b/%2541%3F%23%26%2B%3D%C3%BC")
        XCTAssertEqual(PathEncoding.encode("c/d", keepSlash: false), "c%2Fd")
        XCTAssertEqual(PathEncoding.query([("prefix", "a b/"), ("marker", "x&y")]), "prefix=a%20b%2F&marker=x%26y")
    }

    func testSecretsNeverPrint() {
        let secret = Secret("hunter2")
        XCTAssertEqual("\(secret)", "<redacted>")
        XCTAssertEqual(String(describing: [secret]), "[<redacted>]")
        XCTAssertFalse("\(AuthResult(token: secret, storageURL: "u", expiresAt: nil))".contains("hunter2"))
    }

    func testCredentialsFromEnvironmentPickTheAuthMode() throws {
        let tempauth = try EnvironmentCredentials.authenticator(from: ["ST_AUTH": "http://h/auth/v1.0", "ST_USER": "a:b", "ST_KEY": "k"])
        XCTAssertTrue(tempauth is TempAuthV1)
        let password = try EnvironmentCredentials.authenticator(from: [
            "OS_AUTH_URL": "http://h:5000/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p", "OS_PROJECT_NAME": "p"])
        XCTAssertEqual(password.summary, "keystone v3 password user=u")
        let appCred = try EnvironmentCredentials.authenticator(from: [
            "OS_AUTH_URL": "http://h:5000/v3", "OS_AUTH_TYPE": "v3applicationcredential",
            "OS_APPLICATION_CREDENTIAL_ID": "abc", "OS_APPLICATION_CREDENTIAL_SECRET": "s"])
        XCTAssertTrue(appCred.canReauthenticate)
        XCTAssertThrowsError(try EnvironmentCredentials.authenticator(from: ["OS_AUTH_URL": "http://h", "OS_USERNAME": "u"])) {
            XCTAssertTrue("\($0)".contains("OS_PASSWORD"))
        }
    }
}

final class MD5Tests: XCTestCase {
    func testDigestsMatchRFC1321AndMd5sum() throws {
        XCTAssertEqual(MD5.hex([]), "d41d8cd98f00b204e9800998ecf8427e")
        XCTAssertEqual(MD5.hex(Array("abc".utf8)), "900150983cd24fb0d6963f7d28e17f72")
        XCTAssertEqual(MD5.hex(Array("12345678901234567890123456789012345678901234567890123456789012345678901234567890".utf8)),
                       "57edf4a22be3c955ac49da2e2107b67a")
        let bytes = (0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let path = NSTemporaryDirectory() + "md5-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let md5sum = try TestSupport.Shell.bash("md5sum \(path)").prefix(32)
        XCTAssertEqual(MD5.hex(bytes), String(md5sum))
    }
}

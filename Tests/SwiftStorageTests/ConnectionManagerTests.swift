import Foundation
import SwiftStorage
import TestSupport
import XCTest

/// A clock the test moves by hand.
final class ManualClock: WallClock, @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date(timeIntervalSince1970: 1_000_000)

    func now() -> Date {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    func sleep(seconds: Double) { advance(seconds) }

    func advance(_ seconds: Double) {
        lock.lock()
        current += seconds
        lock.unlock()
    }
}

/// Pure-logic stand-in for Keystone: counts calls and issues tokens that live `lifetime` seconds.
final class CountingAuthenticator: Authenticator, @unchecked Sendable {
    let clock: ManualClock
    let lifetime: Double
    let delay: Double
    private let lock = NSLock()
    private(set) var calls = 0
    var failuresBeforeSuccess = 0

    init(clock: ManualClock, lifetime: Double, delay: Double = 0) {
        self.clock = clock
        self.lifetime = lifetime
        self.delay = delay
    }

    var summary: String { "counting" }
    var canReauthenticate: Bool { true }

    func authenticate(using transport: HTTPTransport) throws -> AuthResult {
        lock.lock()
        calls += 1
        let n = calls
        let fail = failuresBeforeSuccess > 0
        if fail { failuresBeforeSuccess -= 1 }
        lock.unlock()
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        if fail { throw AuthError.unavailable("keystone down") }
        return AuthResult(token: Secret("token-\(n)"), storageURL: "http://swift/v1/AUTH_x",
                          expiresAt: clock.now().addingTimeInterval(lifetime))
    }
}

struct NoTransport: HTTPTransport {
    func perform(_ request: HTTPRequest) throws -> HTTPResponse { fatalError("not used") }
}

final class ConnectionManagerTests: XCTestCase {
    func manager(_ auth: CountingAuthenticator, expireSoon: Double = 60) -> ConnectionManager {
        var config = ConnectionManager.Configuration()
        config.expireSoonInterval = expireSoon
        config.reauthDeadline = 30
        return ConnectionManager(authenticator: auth, transport: NoTransport(), configuration: config, clock: auth.clock)
    }

    func testTokenReusedUntilItExpiresWithinTheInterval() throws {
        let clock = ManualClock()
        let auth = CountingAuthenticator(clock: clock, lifetime: 3600)
        let cm = manager(auth)
        let first = try cm.current()
        clock.advance(3600 - 61)
        XCTAssertEqual(try cm.current().token, first.token, "61 s left: still good")
        clock.advance(2)
        XCTAssertNotEqual(try cm.current().token, first.token, "59 s left: refreshed before use")
        XCTAssertEqual(auth.calls, 2)
    }

    func testShortLivedTokensRefreshAtHalfLifeNotOnEveryCall() throws {
        let clock = ManualClock()
        let auth = CountingAuthenticator(clock: clock, lifetime: 8)
        let cm = manager(auth, expireSoon: 60)
        _ = try cm.current()
        clock.advance(3)
        _ = try cm.current()
        XCTAssertEqual(auth.calls, 1, "an 8 s token is kept for its first half")
        clock.advance(2)
        _ = try cm.current()
        XCTAssertEqual(auth.calls, 2)
    }

    func testConcurrentCallersShareOneRefresh() throws {
        let clock = ManualClock()
        let auth = CountingAuthenticator(clock: clock, lifetime: 100, delay: 0.2)
        let cm = manager(auth, expireSoon: 10)
        let rejected = try cm.current()
        let errors = concurrently(8) { _ in _ = try cm.refresh(after: rejected) }
        XCTAssertTrue(errors.isEmpty, "\(errors)")
        XCTAssertEqual(auth.calls, 2, "one initial auth, one shared refresh for 8 rejected callers")
        XCTAssertEqual(cm.statistics.authentications, 2)
    }

    func testUnavailableKeystoneIsRetriedUntilItAnswers() throws {
        let clock = ManualClock()
        let auth = CountingAuthenticator(clock: clock, lifetime: 100)
        auth.failuresBeforeSuccess = 3
        let cm = manager(auth)
        XCTAssertEqual(try cm.current().token, Secret("token-4"))
    }

    func testUnavailableKeystoneFailsAfterTheDeadline() {
        let clock = ManualClock()
        let auth = CountingAuthenticator(clock: clock, lifetime: 100)
        auth.failuresBeforeSuccess = 1000
        let cm = manager(auth)
        XCTAssertThrowsError(try cm.current()) { XCTAssertTrue("\($0)".contains("unavailable")) }
        XCTAssertLessThan(auth.calls, 20)
    }
}

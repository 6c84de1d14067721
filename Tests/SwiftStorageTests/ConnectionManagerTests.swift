import Foundation
@testable import SwiftStorage
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
    /// Answers like Keystone refusing the credentials.
    var refuse = false

    init(clock: ManualClock, lifetime: Double, delay: Double = 0) {
        self.clock = clock
        self.lifetime = lifetime
        self.delay = delay
    }

    var summary: String { "counting" }
    var renewable = true
    var canReauthenticate: Bool { renewable }

    func authenticate(using transport: HTTPTransport) throws -> AuthResult {
        lock.lock()
        calls += 1
        let n = calls
        let fail = failuresBeforeSuccess > 0
        if fail { failuresBeforeSuccess -= 1 }
        lock.unlock()
        if delay > 0 { Thread.sleep(forTimeInterval: delay) }
        if fail { throw AuthError.unavailable("keystone down") }
        if refuse { throw AuthError.rejected("keystone answered 401") }
        return AuthResult(token: Secret("token-\(n)"), storageURL: "http://swift/v1/AUTH_x",
                          expiresAt: clock.now().addingTimeInterval(lifetime))
    }
}

struct FixedAuthenticator: Authenticator {
    let result: AuthResult
    var summary: String { "fixed" }
    var canReauthenticate: Bool { true }
    func authenticate(using transport: HTTPTransport) throws -> AuthResult { result }
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
        let started = clock.now()
        XCTAssertThrowsError(try cm.current()) {
            guard case AuthError.unavailable = $0 else { return XCTFail("expected unavailable, got \($0)") }
        }
        let waited = clock.now().timeIntervalSince(started)
        XCTAssertLessThanOrEqual(waited, 30, "never past reauth_deadline (30 s)")
        XCTAssertGreaterThan(waited, 30 - 8, "retried until the next backoff (cap 8 s) would pass the deadline")
        XCTAssertNotNil(cm.statistics.problem, "status says why")
    }

    /// Waits (up to 5 s) until `condition` holds: early renewals run on a thread of their own.
    func eventually(_ what: String, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(5)
        while !condition() && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertTrue(condition(), what)
    }

    func testFailingEarlyRefreshKeepsTheValidTokenWithoutWaiting() throws {
        let clock = ManualClock()
        let auth = CountingAuthenticator(clock: clock, lifetime: 300)
        let cm = manager(auth, expireSoon: 60)
        let first = try cm.current()
        clock.advance(250)  // 50 s left: due for renewal, still valid
        auth.failuresBeforeSuccess = 1000
        let before = clock.now()
        XCTAssertEqual(try cm.current().token, first.token, "the valid token is handed out at once")
        eventually("the early attempt failed and says why") { cm.statistics.problem != nil }
        XCTAssertEqual(clock.now(), before, "no backoff sleep while the token is valid")
        XCTAssertEqual(auth.calls, 2, "one early attempt")
        XCTAssertEqual(try cm.current().token, first.token)
        Thread.sleep(forTimeInterval: 0.05)
        XCTAssertEqual(auth.calls, 2, "no new attempt before the backoff has passed")
        clock.advance(1)
        _ = try cm.current()
        eventually("tried again after the backoff") { auth.calls == 3 }
        auth.failuresBeforeSuccess = 0
        clock.advance(2)
        _ = try cm.current()
        eventually("renewed once Keystone answers") { cm.statistics.problem == nil }
        XCTAssertNotEqual(try cm.current().token, first.token)
    }

    func testKeystoneRefusingAnEarlyRenewalDoesNotFailRequestsWhileTheTokenIsValid() throws {
        let clock = ManualClock()
        let auth = CountingAuthenticator(clock: clock, lifetime: 300)
        let cm = manager(auth, expireSoon: 60)
        let first = try cm.current()
        auth.refuse = true
        clock.advance(250)
        XCTAssertEqual(try cm.current().token, first.token)
        eventually("the refusal is reported") { cm.statistics.problem?.contains("rejected") == true }
        XCTAssertEqual(try cm.current().token, first.token, "still valid: still used")
        clock.advance(60)
        XCTAssertThrowsError(try cm.current(), "expired, and Keystone refuses: now it fails")
    }

    func testExpiredTokenWithoutCredentialsFailsAsExpired() throws {
        let clock = ManualClock()
        let auth = CountingAuthenticator(clock: clock, lifetime: 30)
        auth.renewable = false
        let cm = manager(auth)
        let first = try cm.current()
        clock.advance(20)
        XCTAssertEqual(try cm.current().token, first.token, "still valid: used as it is")
        clock.advance(20)
        XCTAssertThrowsError(try cm.current()) {
            guard case AuthError.expired = $0 else { return XCTFail("expected expired, got \($0)") }
        }
        XCTAssertThrowsError(try cm.refresh(after: first)) {
            guard case AuthError.expired = $0 else { return XCTFail("expected expired, got \($0)") }
        }
        XCTAssertEqual(auth.calls, 1)
        XCTAssertFalse(cm.statistics.renewable)
    }

    func testTokenExpiryFollowsItsOwnLifetimeNotTheLocalClock() throws {
        // Keystone's clock is a day behind this machine's: its expires_at is in "our" past.
        let json = #"{"token": {"issued_at": "2020-01-01T00:00:00.000000Z", "expires_at": "2020-01-01T01:00:00.000000Z", "user": {"id": "u"}}}"#
        let info = try KeystoneTokenInfo(json: Array(json.utf8))
        XCTAssertEqual(try XCTUnwrap(info.lifetime), 3600 - 1, accuracy: 0.001)
        // The ConnectionManager counts that lifetime on its own clock.
        let clock = ManualClock()
        let cm = ConnectionManager(authenticator: FixedAuthenticator(result: AuthResult(
            token: Secret("t"), storageURL: "http://s/v1/AUTH_x", expiresAt: info.expiresAt, lifetime: info.lifetime)),
            transport: NoTransport(), clock: clock)
        _ = try cm.current()
        XCTAssertEqual(try XCTUnwrap(cm.statistics.expiresAt).timeIntervalSince(clock.now()), 3600 - 1, accuracy: 0.001)
    }
}

import Foundation
import Logging

/// A token with the storage URL it is good for. `generation` tells apart sessions that carry the
/// same token string (tempauth hands out the same token until it expires).
public struct StorageSession: Sendable {
    public let token: Secret
    public let storageURL: String
    public let expiresAt: Date?
    public let obtainedAt: Date
    public let generation: Int
}

/// The one place that hands out (storage URL, token) pairs.
///
/// Before handing one out it checks whether the token expires within `expireSoonInterval` and, if
/// re-auth is possible, obtains a new one first. Refreshes are single-flight: callers arriving
/// during a refresh wait for it and share its result, so N threads cause one re-auth, not N.
///
/// An early refresh (the token still valid) is one attempt: if Keystone does not answer, callers
/// go on with the valid token and the refresh is tried again after a backoff, so nobody waits out
/// `reauthDeadline` while their token still works. Only once the token has expired (or Swift
/// refused it) do callers wait for re-authentication, retried with backoff up to the deadline.
/// Unchecked: callers wait on an NSCondition for the single re-authentication; Mutex cannot wait.
public final class ConnectionManager: @unchecked Sendable {
    public struct Configuration: Sendable {
        public var expireSoonInterval: Double = 60
        /// How long a failing re-auth (Keystone down) is retried before operations fail.
        public var reauthDeadline: Double = 120
        public var backoff = Backoff(base: 0.5, cap: 8)

        public init() {}
    }

    public struct Statistics: Sendable {
        public var authentications = 0
        public var expiresAt: Date?
        /// Whether the token can be renewed at all (false for a bare user token).
        public var renewable = true
        /// Why the last authentication failed, while it has not succeeded since.
        public var problem: String?
    }

    private var authenticator: any Authenticator
    private let transport: any HTTPTransport
    private let config: Configuration
    private let clock: any WallClock
    private let logger: Logger

    private let condition = NSCondition()
    private var session: StorageSession?
    private var refreshing = false
    /// Set when the last refresh failed, so the callers that waited for it fail the same way.
    private var lastFailure: (generation: Int, error: Error)?
    private var generation = 0
    private var authentications = 0
    /// After a failed early refresh: no new attempt before this (callers use the valid token).
    private var earlyRetryAt: Date?
    private var earlyFailures = 0
    private var problem: String?

    public init(authenticator: any Authenticator, transport: any HTTPTransport,
                configuration: Configuration = Configuration(), clock: any WallClock = SystemClock(),
                logger: Logger = Logger(label: "swiftmount.auth")) {
        self.authenticator = authenticator
        self.transport = transport
        self.config = configuration
        self.clock = clock
        self.logger = logger
    }

    /// From now on authenticate with `replacement` (a renewed trust): the next request gets a
    /// token from it.
    public func replaceAuthenticator(_ replacement: any Authenticator) {
        condition.lock()
        defer { condition.unlock() }
        authenticator = replacement
        session = nil
        earlyRetryAt = nil
    }

    public var statistics: Statistics {
        condition.lock()
        defer { condition.unlock() }
        return Statistics(authentications: authentications, expiresAt: session?.expiresAt,
                          renewable: authenticator.canReauthenticate, problem: problem)
    }

    /// A session good for at least `expireSoonInterval` more seconds (or, while re-authentication
    /// fails, one that is still valid).
    public func current() throws -> StorageSession {
        try obtain(replacing: nil)
    }

    /// Called when the server refused `rejected` (401): re-authenticates once for all callers that
    /// saw the same session rejected, and returns the new session.
    public func refresh(after rejected: StorageSession) throws -> StorageSession {
        guard condition.withLock({ authenticator.canReauthenticate }) else {
            throw AuthError.expired("the token was refused and this mount has no credentials to get another")
        }
        return try obtain(replacing: rejected.generation)
    }

    private func obtain(replacing rejectedGeneration: Int?) throws -> StorageSession {
        condition.lock()
        defer { condition.unlock() }
        while true {
            let valid = session.flatMap { isValid($0, rejectedGeneration: rejectedGeneration) ? $0 : nil }
            if refreshing {
                // A refresh is under way: a still-valid token need not wait for it.
                if let valid { return valid }
                let waitedFor = generation
                while refreshing { condition.wait() }
                if let failure = lastFailure, failure.generation == waitedFor { throw failure.error }
                continue
            }
            if let session, isUsable(session, rejectedGeneration: rejectedGeneration) {
                return session
            }
            if let session, !authenticator.canReauthenticate, rejectedGeneration == nil {
                if valid != nil { return session }
                throw AuthError.expired("the token expired at \(session.expiresAt.map { "\($0)" } ?? "?") and this mount has no credentials to get another")
            }
            if let valid, earlyFailures > 0 {
                // Renewal is failing but this token is still valid: use it, and try again in the
                // background once the backoff has passed.
                if earlyRetryAt.map({ clock.now() >= $0 }) ?? true { refreshEarly(startGeneration: generation) }
                return valid
            }
            refreshing = true
            let startGeneration = generation
            let authenticator = authenticator
            condition.unlock()
            // Renewing a valid token: one attempt (its failure is settled like a background one's).
            let result = Result { try valid != nil ? authenticateOnce(authenticator) : authenticateWithRetry(authenticator) }
            condition.lock()
            refreshing = false
            switch result {
            case .success(let auth):
                return install(auth, after: startGeneration)
            case .failure(let error) where valid != nil:
                earlyAttemptFailed(error)
                return valid!
            case .failure(let error):
                if problem == nil { logger.error("authentication failing: \(error)") }
                problem = "\(error)"
                lastFailure = (startGeneration, error)
                condition.broadcast()
                throw error
            }
        }
    }

    /// One attempt on a thread of its own (called with the lock held), while callers go on with
    /// the valid token; should it expire meanwhile, the next caller re-authenticates with retries.
    private func refreshEarly(startGeneration: Int) {
        refreshing = true
        let authenticator = authenticator
        let thread = Thread { [self] in
            let result = Result { try authenticateOnce(authenticator) }
            condition.lock()
            defer { condition.unlock() }
            refreshing = false
            switch result {
            case .success(let auth): _ = install(auth, after: startGeneration)
            case .failure(let error): earlyAttemptFailed(error)
            }
        }
        thread.name = "reauth"
        thread.start()
    }

    /// A renewal of a still-valid token failed (called with the lock held): say so, and wait a
    /// backoff before the next attempt.
    private func earlyAttemptFailed(_ error: Error) {
        if problem == nil { logger.error("authentication failing: \(error); the current token is used while it lasts") }
        problem = "\(error)"
        earlyRetryAt = clock.now().addingTimeInterval(config.backoff.delay(afterAttempt: earlyFailures))
        earlyFailures += 1
        condition.broadcast()
    }

    /// Makes a new token the session (called with the lock held).
    private func install(_ auth: AuthResult, after startGeneration: Int) -> StorageSession {
        generation = startGeneration + 1
        authentications += 1
        let now = clock.now()
        let fresh = StorageSession(token: auth.token, storageURL: auth.storageURL,
                                   expiresAt: auth.lifetime.map { now.addingTimeInterval($0) } ?? auth.expiresAt,
                                   obtainedAt: now, generation: generation)
        session = fresh
        lastFailure = nil
        earlyRetryAt = nil
        earlyFailures = 0
        if problem != nil { logger.notice("authentication works again (\(authenticator.summary))") }
        problem = nil
        condition.broadcast()
        return fresh
    }

    /// Not refused and not past its expiry (a second of margin for the request on its way).
    private func isValid(_ session: StorageSession, rejectedGeneration: Int?) -> Bool {
        if let rejectedGeneration, session.generation <= rejectedGeneration { return false }
        guard let expiresAt = session.expiresAt else { return true }
        return expiresAt.timeIntervalSince(clock.now()) > 1
    }

    private func isUsable(_ session: StorageSession, rejectedGeneration: Int?) -> Bool {
        if let rejectedGeneration, session.generation <= rejectedGeneration { return false }
        guard let expiresAt = session.expiresAt else { return true }
        let now = clock.now()
        // A token that lives less than twice the interval would be "expiring soon" from birth;
        // then refresh at half its life instead of before every request.
        let lifetime = expiresAt.timeIntervalSince(session.obtainedAt)
        let margin = min(config.expireSoonInterval, max(lifetime / 2, 0))
        return expiresAt.timeIntervalSince(now) > margin
    }

    private func authenticateOnce(_ authenticator: any Authenticator) throws -> AuthResult {
        let result = try authenticator.authenticate(using: transport)
        logger.info("authenticated (\(authenticator.summary))")
        return result
    }

    private func authenticateWithRetry(_ authenticator: any Authenticator) throws -> AuthResult {
        let started = clock.now()
        var attempt = 0
        while true {
            do {
                let result = try authenticator.authenticate(using: transport)
                if attempt > 0 { logger.notice("re-authenticated (\(authenticator.summary)) after \(attempt) failed attempts") }
                else { logger.info("authenticated (\(authenticator.summary))") }
                return result
            } catch let error as AuthError where error.isTransient {
                let delay = config.backoff.delay(afterAttempt: attempt)
                if clock.now().timeIntervalSince(started) + delay > config.reauthDeadline {
                    logger.error("giving up on authentication after \(attempt + 1) attempts: \(error)")
                    throw error
                }
                if attempt == 0 { logger.warning("\(error); retrying for up to \(Int(config.reauthDeadline)) s") }
                clock.sleep(seconds: delay)
                attempt += 1
            }
        }
    }
}

import Foundation
import Logging
import Synchronization
import SwiftMountFS
import SwiftStorage

/// A multi-tenant mount's Keystone trust. It is created after every other check has passed, with
/// an expiry (`trust_lifetime`) so that a trust a killed daemon could not delete stops acting for
/// the user by itself; it is renewed before that expiry when `user_token_file` holds a fresh user
/// token, and deleted on every way out the daemon sees. `swiftmount gc --trusts` finds the rest.
final class TrustKeeper: Sendable {
    private let pending: PendingTrust
    private let lifetime: Double
    private let tokenFile: String?
    private let reauthDeadline: Double
    private let transport: CurlTransport
    private let logger: Logger
    private let state = Mutex<(trust: TrustDelegation?, problem: String?)>((nil, nil))

    init(pending: PendingTrust, options: MountOptions, transport: CurlTransport, logger: Logger) {
        self.pending = pending
        lifetime = options.trustLifetime
        tokenFile = options.userTokenFile
        reauthDeadline = options.reauthDeadline
        self.transport = transport
        self.logger = logger
    }

    /// Creates the trust with `userToken`, retrying an unreachable Keystone with backoff for up
    /// to `reauth_deadline`. On failure the reason is kept for `status`.
    @discardableResult
    func establish(userToken: Secret) -> TrustDelegation? {
        let started = Date()
        let backoff = Backoff(base: 0.5, cap: 8)
        var attempt = 0
        while true {
            do {
                let trust = try TrustDelegation.establish(userToken: userToken, service: pending.service, transport: transport,
                                                          lifetime: lifetime)
                logger.info("trust \(trust.trustID) created: service user acts for user \(trust.trustorUserID) on project \(trust.projectID) with roles \(trust.roles.joined(separator: ",")), until \(trust.expiresAt.map { "\($0)" } ?? "deleted")")
                TrustRecords.record(trust.trustID)
                state.withLock { $0 = (trust, nil) }
                return trust
            } catch let error as AuthError where error.isTransient && Date().timeIntervalSince(started) + backoff.delay(afterAttempt: attempt) <= reauthDeadline {
                if attempt == 0 { logger.warning("creating the trust: \(error); retrying for up to \(Int(reauthDeadline)) s") }
                Thread.sleep(forTimeInterval: backoff.delay(afterAttempt: attempt))
                attempt += 1
            } catch {
                state.withLock { $0.problem = "\(error)" }
                return nil
            }
        }
    }

    var trustID: String? { state.withLock { $0.trust?.trustID } }

    /// What `status` says of the trust.
    var summary: String {
        state.withLock { current in
            guard let trust = current.trust else { return "not in force: \(current.problem ?? "none made")" }
            let expiry = trust.expiresAt.map { ", expires in \(Int($0.timeIntervalSinceNow / 60)) min" } ?? ""
            return "trust \(trust.trustID)\(expiry)" + (current.problem.map { "; renewal failing: \($0)" } ?? "")
        }
    }

    /// Renews the trust when a quarter of its lifetime is left: a new one from the user token in
    /// `user_token_file` (the user, or whoever acts for them, keeps it fresh), switched to, and the
    /// old one deleted. Without a usable token it says so, in the log and in `status`.
    func startRenewing(connection: ConnectionManager) {
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: max(5, min(lifetime / 8, 3600)))
                guard let old = state.withLock({ $0.trust }), let expiresAt = old.expiresAt,
                      expiresAt.timeIntervalSinceNow < lifetime / 4 else { continue }
                let token = tokenFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) }?
                    .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                guard !token.isEmpty, let renewed = establish(userToken: Secret(token)) else {
                    let why = "trust \(old.trustID) expires at \(expiresAt) and no fresh user token is in user_token_file to renew it"
                    if state.withLock({ $0.problem == nil }) { logger.warning("\(why)") }
                    state.withLock { $0 = (old, $0.problem ?? why) }
                    continue
                }
                connection.replaceAuthenticator(renewed.authenticator)
                delete(old.trustID)
            }
        }
        thread.name = "trust"
        thread.start()
    }

    /// Deletes the trust in force (at unmount, or when the mount fails after creating it).
    func deleteTrust() {
        guard let trust = state.withLock({ current -> TrustDelegation? in
            defer { current.trust = nil }
            return current.trust
        }) else { return }
        delete(trust.trustID)
    }

    /// With a token scoped to the trust (it acts as the user), or else with the user's own token
    /// (when the trust itself is what fails, and the user's token still lives).
    private func delete(_ id: String) {
        do {
            do {
                try TrustDelegation.delete(id, heldBy: pending.service, transport: transport)
            } catch {
                try TrustDelegation.delete(id, token: pending.userToken, base: pending.service.v3Base, transport: transport)
            }
            TrustRecords.forget(id)
            logger.info("trust \(id) deleted")
        } catch {
            logger.error("could not delete trust \(id): \(error); `swiftmount gc --trusts` finds it")
        }
    }
}

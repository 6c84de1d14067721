/// Failures of Swift API calls, classified so the filesystem can map them to errno values.
public enum SwiftError: Error, Sendable, CustomStringConvertible {
    case notFound(String)
    /// 412: an If-Match precondition failed (the object changed under a reader).
    case changed(String)
    /// 409 or other state conflicts (a container that is not empty, say).
    case conflict(String)
    /// 400-class answers that retrying will not fix (bad name, too large, ...).
    case rejected(status: Int, String)
    /// 507: no room on the server's disks.
    case noSpace(String)
    /// 413 naming a quota (the account's or the container's): the user's space is used up.
    case quota(String)
    /// Authentication failed for good.
    case auth(AuthError)
    /// Transient failures that outlasted every retry.
    case unavailable(String)
    /// An answer that does not parse.
    case protocolError(String)
    /// A request whose answer never came: it may or may not have taken effect, and Swift could
    /// not be asked afterwards. Nothing that depends on it may be deleted.
    case outcomeUnknown(String)

    public var description: String {
        switch self {
        case .notFound(let what): "not found: \(what)"
        case .changed(let what): "changed on the server: \(what)"
        case .conflict(let what): "conflict: \(what)"
        case .rejected(let status, let what): "refused (\(status)): \(what)"
        case .noSpace(let what): "no space: \(what)"
        case .quota(let what): "quota exceeded: \(what)"
        case .auth(let error): error.description
        case .unavailable(let what): "unavailable: \(what)"
        case .protocolError(let what): "bad answer: \(what)"
        case .outcomeUnknown(let what): "outcome unknown: \(what)"
        }
    }
}

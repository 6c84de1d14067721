import Glibc
import SwiftStorage

/// A failure reported to the kernel as an errno value.
public struct FSError: Error, Sendable, CustomStringConvertible {
    public let errno: Int32
    public let reason: String

    public init(_ errno: Int32, _ reason: String = "") {
        self.errno = errno
        self.reason = reason
    }

    public var description: String {
        reason.isEmpty ? String(cString: strerror(errno)) : "\(reason) (\(String(cString: strerror(errno))))"
    }

    /// Maps a storage failure to the errno a POSIX program expects.
    public static func from(_ error: Error) -> FSError {
        if let error = error as? FSError { return error }
        if let error = error as? SwiftError {
            switch error {
            case .notFound: return FSError(ENOENT, error.description)
            case .changed: return FSError(EIO, error.description)
            case .conflict: return FSError(EBUSY, error.description)
            case .rejected(let status, _) where status == 413: return FSError(EFBIG, error.description)
            case .rejected(let status, _) where status == 400 || status == 412: return FSError(EINVAL, error.description)
            case .rejected: return FSError(EIO, error.description)
            case .noSpace: return FSError(ENOSPC, error.description)
            case .quota: return FSError(EDQUOT, error.description)
            // Keystone unreachable is an outage, not a permissions problem.
            case .auth(.unavailable), .auth(.invalidResponse): return FSError(EIO, error.description)
            case .auth(.expired): return FSError(EKEYEXPIRED, error.description)
            case .auth(.rejected): return FSError(EACCES, error.description)
            case .unavailable, .protocolError, .outcomeUnknown: return FSError(EIO, error.description)
            }
        }
        if let error = error as? LocalFileError { return FSError(error.errno, error.description) }
        return FSError(EIO, "\(error)")
    }
}

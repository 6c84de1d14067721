import Foundation
import SwiftStorage

/// What `swiftmount status` prints: the daemon's answer on its control socket, as JSON.
public struct MountStatus: Codable, Sendable {
    public var mountpoint: String
    public var container: String
    public var pid: Int32
    public var startedAt: Double
    public var state: String
    public var auth: AuthStatus
    public var requests: RequestStatus
    public var memory: MemoryStatus
    public var cachedAttributes: Int
    public var attributeCacheHits: Int
    public var attributeCacheMisses: Int
    /// Seconds from a segment's submission to Swift's acknowledgement (retries included).
    public var segmentUploadSeconds: HistogramStatus
    public var transfers: [TransferStatus]
    public var recentTransfers: [TransferStatus]
    /// "segment container/upload prefix" of every segmented upload not yet finished or aborted:
    /// `swiftmount gc` on this machine never counts their segments as orphans, however long they
    /// stall.
    public var activeUploads: [String]?
    /// Removed or replaced large objects whose segments wait for the background check that no
    /// other manifest uses them, and their deletion.
    public var segmentReclaimsPending: Int?
}

public struct AuthStatus: Codable, Sendable {
    public var method: String
    /// When the current token expires (never the token itself).
    public var tokenExpiresAt: Double?
    public var authentications: Int
    /// "none", "trust <id>, expires ...", or why delegation is not in force.
    public var trust: String
    /// The trust this mount holds (so `swiftmount gc --trusts` leaves it alone).
    public var heldTrust: String?
    /// False for a bare token: once it expires, operations fail (EKEYEXPIRED).
    public var renewable: Bool?
    /// Why authentication is failing now (Keystone unreachable, ...), nil when it works.
    public var problem: String?

    public init(method: String, tokenExpiresAt: Double?, authentications: Int, trust: String, heldTrust: String?,
                renewable: Bool, problem: String?) {
        self.method = method
        self.tokenExpiresAt = tokenExpiresAt
        self.authentications = authentications
        self.trust = trust
        self.heldTrust = heldTrust
        self.renewable = renewable
        self.problem = problem
    }
}

public struct RequestStatus: Codable, Sendable {
    public var total: Int
    public var retries: Int
    public var reauthentications: Int
    public var byStatus: [String: Int]
    public var bytesUp: Int
    public var bytesDown: Int

    init(_ counts: RequestCounters.Snapshot) {
        total = counts.total
        retries = counts.retries
        reauthentications = counts.reauthentications
        byStatus = counts.byStatus
        bytesUp = counts.bytesUp
        bytesDown = counts.bytesDown
    }
}

public struct MemoryStatus: Codable, Sendable {
    public var writeBufferUsed: Int
    public var writeBufferCap: Int
    public var readBufferUsed: Int
    public var readBufferCap: Int
}

public struct TransferStatus: Codable, Sendable {
    public var kind: Transfer.Kind
    public var path: String
    public var state: Transfer.State
    /// Uploads: bytes written into the mount so far; reads: the file's size.
    public var bytesTotal: Int
    /// Uploads: bytes Swift acknowledged; reads: bytes delivered.
    public var bytesDone: Int
    public var segmentsAcknowledged: Int
    public var startedAt: Double
    public var seconds: Double
    public var megabytesPerSecond: Double
}

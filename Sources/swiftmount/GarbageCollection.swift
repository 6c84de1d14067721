import Foundation
import Logging
import SwiftMountFS
import SwiftStorage

/// `swiftmount gc CONTAINER [--delete] [--grace SECONDS] [-o options]`: orphaned segments.
/// `swiftmount gc --trusts [--delete] -o service_credentials=FILE[,service_cloud=NAME]`: trusts
/// the service user holds that no mount on this machine holds (left by killed daemons).
func runGarbageCollection(container: String?, trusts: Bool, delete: Bool, grace: Double, optionItems: [String]) -> Int32 {
    let options = loadOptions(optionItems, container: container ?? "", mountpoint: nil)
    LoggingSystem.bootstrap { _ in RoutedLogHandler() }
    LogRouting.shared.configure(sink: .standardError, level: .warning)
    return trusts ? collectTrusts(options: options, delete: delete)
        : collectSegments(container: container ?? "", options: options, grace: grace, delete: delete)
}

private func collectSegments(container: String, options: MountOptions, grace: Double, delete: Bool) -> Int32 {
    let storage = Storage.connect(options: options)
    let cluster = (try? storage.client.clusterInfo()) ?? ClusterInfo()
    let live: [MountStatus]
    do { live = try runningMounts() } catch { fail(.mount, "\(error)") }
    let collector = SegmentCollector(client: storage.client, container: container, segmentContainer: options.segmentContainer,
                                     bulkDeleteLimit: cluster.bulkDeleteLimit,
                                     liveUploads: Set(live.flatMap { $0.activeUploads ?? [] }))
    do {
        let orphans = try collector.orphans(olderThan: grace)
        var total = 0
        for orphan in orphans {
            print("\(orphan.uploadPrefix)/  \(orphan.objects.count) segments, \(orphan.bytes) bytes\(delete ? ", deleting" : "")")
            if delete { try collector.delete(orphan) }
            total += orphan.bytes
        }
        print("\(orphans.count) orphaned uploads, \(total) bytes\(delete ? " deleted" : " (run with --delete to remove)")")
        return 0
    } catch {
        FileHandle.standardError.write(Data("swiftmount gc: \(error)\n".utf8))
        return 1
    }
}

private func collectTrusts(options: MountOptions, delete: Bool) -> Int32 {
    guard let file = options.serviceCredentials else { fail(.usage, "gc --trusts needs -o service_credentials=FILE") }
    let service: KeystoneV3Auth
    let transport: CurlTransport
    do {
        try checkPrivate(file)
        let vars = try CloudsConfig.variables(cloud: options.serviceCloud, cloudsFile: file)
        guard let keystone = try EnvironmentCredentials.authenticator(from: vars) as? KeystoneV3Auth else {
            fail(.auth, "service_credentials must hold Keystone v3 credentials")
        }
        service = keystone
        var config = CurlTransport.Configuration()
        config.verifyTLS = !(options.insecure || vars["OS_INSECURE"] == "true")
        config.caFile = options.caFile ?? vars["OS_CACERT"]
        transport = CurlTransport(configuration: config)
    } catch { fail(.auth, "\(error)") }
    let held: [TrustDelegation.Held]
    do { held = try TrustDelegation.held(by: service, transport: transport) } catch { fail(.auth, "\(error)") }
    let live: [MountStatus]
    do { live = try runningMounts() } catch { fail(.mount, "\(error)") }
    let inUse = Set(live.compactMap(\.auth.heldTrust))
    let madeHere = TrustRecords.all
    let stale = held.filter { !inUse.contains($0.id) }
    var deleted = 0, failed = 0
    for trust in stale {
        let expiry = trust.expiresAt.map { "expires \($0)" } ?? "never expires"
        // Only trusts this machine's mounts made: another machine's mount may hold the rest.
        let ours = madeHere.contains(trust.id) || trust.expiresAt.map { $0 < Date() } ?? false
        let action = !delete ? "" : ours ? ", deleting" : ", left alone (not made on this machine)"
        print("trust \(trust.id)  user \(trust.trustorUserID), project \(trust.projectID ?? "-"), \(trust.impersonation ? "impersonation, " : "")\(expiry)\(ours ? "" : ", not made here")\(action)")
        guard delete && ours else { continue }
        do {
            try TrustDelegation.delete(trust.id, heldBy: service, transport: transport)
            TrustRecords.forget(trust.id)
            deleted += 1
        } catch {
            FileHandle.standardError.write(Data("swiftmount gc: trust \(trust.id): \(error)\n".utf8))
            failed += 1
        }
    }
    print("\(stale.count) trusts held by no mount on this machine\(delete ? ", \(deleted) deleted" : " (run with --delete to remove those made here)")")
    return failed == 0 ? 0 : 1
}

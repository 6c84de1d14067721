import Foundation
import Logging
import SwiftMountFS
import SwiftStorage

/// `swiftmount gc CONTAINER [--delete] [--grace SECONDS] [-o options]`: orphaned segments.
/// `swiftmount gc --trusts [--delete] -o service_credentials=FILE[,service_cloud=NAME]`: trusts
/// the service user holds that no mount on this machine holds (left by killed daemons).
func runGarbageCollection(_ args: [String]) -> Int32 {
    var container: String?
    var delete = false, trusts = false
    var grace: Double = 3600
    var optionItems: [String] = []
    var i = 0
    while i < args.count {
        switch args[i] {
        case "--delete": delete = true
        case "--trusts": trusts = true
        case "--grace":
            i += 1
            guard i < args.count, let g = Double(args[i]), g >= 0 else { fail(.usage, "--grace needs seconds") }
            grace = g
        case "-o":
            i += 1
            guard i < args.count else { fail(.usage, "-o needs options") }
            optionItems += args[i].split(separator: ",").map(String.init)
        default:
            guard container == nil, !args[i].hasPrefix("-") else { fail(.usage, "unexpected \(args[i])\n\(usage)") }
            container = args[i]
        }
        i += 1
    }
    guard trusts || container != nil else { fail(.usage, "gc needs a CONTAINER (or --trusts)\n\(usage)") }
    let options = loadOptions(optionItems, container: container ?? "", mountpoint: nil)
    LoggingSystem.bootstrap { _ in RoutedLogHandler() }
    LogRouting.shared.configure(sink: .standardError, level: .warning)
    return trusts ? collectTrusts(options: options, delete: delete)
        : collectSegments(container: container ?? "", options: options, grace: grace, delete: delete)
}

private func collectSegments(container: String, options: MountOptions, grace: Double, delete: Bool) -> Int32 {
    let auth: ResolvedAuth
    do { auth = try resolveAuth(options: options, environment: ProcessInfo.processInfo.environment) } catch { fail(.auth, "\(error)") }
    let storage = Storage(authenticator: auth.authenticator, transport: Storage.transport(options: options, auth: auth), options: options)
    do { _ = try storage.connection.current() } catch { fail(.auth, "\(error)") }
    let cluster = (try? storage.client.clusterInfo()) ?? ClusterInfo()
    let collector = SegmentCollector(client: storage.client, container: container, segmentContainer: options.segmentContainer,
                                     bulkDeleteLimit: cluster.bulkDeleteLimit,
                                     liveUploads: Set(runningMounts().flatMap(\.activeUploads)))
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
    let inUse = Set(runningMounts().compactMap(\.auth.trustID))
    let stale = held.filter { !inUse.contains($0.id) }
    var failed = 0
    for trust in stale {
        let expiry = trust.expiresAt.map { "expires \($0)" } ?? "never expires"
        print("trust \(trust.id)  user \(trust.trustorUserID), project \(trust.projectID ?? "-"), \(trust.impersonation ? "impersonation, " : "")\(expiry)\(delete ? ", deleting" : "")")
        if delete {
            do { try TrustDelegation.delete(trust.id, heldBy: service, transport: transport) } catch {
                FileHandle.standardError.write(Data("swiftmount gc: trust \(trust.id): \(error)\n".utf8))
                failed += 1
            }
        }
    }
    print("\(stale.count) trusts held by no mount on this machine\(delete ? ", \(stale.count - failed) deleted" : " (run with --delete to remove)")")
    return failed == 0 ? 0 : 1
}

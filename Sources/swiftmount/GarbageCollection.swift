import Foundation
import Logging
import SwiftMountFS
import SwiftStorage

/// `swiftmount gc CONTAINER [--delete] [--grace SECONDS] [-o options]`: orphaned segments.
func runGarbageCollection(_ args: [String]) -> Int32 {
    var container: String?
    var delete = false
    var grace: Double = 3600
    var optionItems: [String] = []
    var i = 0
    while i < args.count {
        switch args[i] {
        case "--delete": delete = true
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
    guard let container else { fail(.usage, "gc needs a CONTAINER\n\(usage)") }
    let options: MountOptions
    do { options = try MountOptions.parse(optionItems) } catch { fail(.usage, "\(error)") }
    LoggingSystem.bootstrap { _ in RoutedLogHandler() }
    LogRouting.shared.configure(sink: .standardError, level: .warning)
    let logger = Logger(label: "swiftmount.gc")
    let transport = CurlTransport()
    let auth: ResolvedAuth
    do {
        auth = try resolveAuth(options: options, environment: ProcessInfo.processInfo.environment, transport: transport, logger: logger)
    } catch { fail(.auth, "\(error)") }
    let client = SwiftClient(connection: ConnectionManager(authenticator: auth.authenticator, transport: transport), transport: transport)
    let collector = SegmentCollector(client: client, container: container, segmentContainer: options.segmentContainer,
                                     bulkDeleteLimit: (try? client.clusterInfo())?.bulkDeleteLimit)
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

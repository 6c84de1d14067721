import Foundation
import Logging
import SwiftMountFS
import SwiftStorage

/// `swiftmount migrate-attrs CONTAINER [--dry-run] [--min-age SECONDS] [-o options]`: see AttributeMigration.
func runMigrateAttrs(container: String, dryRun: Bool, minimumAge: Double, optionItems: [String]) -> Int32 {
    let options = loadOptions(optionItems, container: container, mountpoint: nil)
    LoggingSystem.bootstrap { _ in RoutedLogHandler() }
    LogRouting.shared.configure(sink: .standardError, level: .warning)
    let storage = Storage.connect(options: options)
    // Swift has no conditional POST: a mount writing the container could see a file it replaces
    // get the old file's metadata (see AttributeMigration).
    if !dryRun {
        let mounts: [MountStatus]
        do { mounts = try runningMounts() } catch { fail(.mount, "\(error)") }
        if let busy = mounts.first(where: { $0.container == container || $0.container == accountSource }) {
            fail(.mount, "\(busy.mountpoint) mounts \(container): unmount it first (other clients must not write the container meanwhile)")
        }
    }
    do {
        guard try storage.client.containerExists(container) else { fail(.container, "container '\(container)' does not exist") }
        let cluster = (try? storage.client.clusterInfo()) ?? ClusterInfo()
        let migration = AttributeMigration(client: storage.client, container: container, limits: cluster.metadataLimits,
                                           minimumAge: minimumAge, dryRun: dryRun) { FileHandle.standardError.write(Data("migrate-attrs: \($0)\n".utf8)) }
        let verb = dryRun ? "would update" : "updated"
        let done = try migration.run { progress in
            FileHandle.standardError.write(Data("migrate-attrs: \(progress.listed) objects listed, \(progress.updated) \(verb)\n".utf8))
        }
        print("\(done.listed) objects: \(done.updated) \(verb), \(done.current) already current, \(done.skipped) skipped (directory markers, symlinks, changed in the last \(Int(minimumAge)) s, gone, refused or without room in their metadata)")
        return 0
    } catch {
        FileHandle.standardError.write(Data("swiftmount migrate-attrs: \(error)\n".utf8))
        return 1
    }
}

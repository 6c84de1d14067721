import Foundation
import Logging
import SwiftMountFS
import SwiftStorage

/// `swiftmount migrate-attrs CONTAINER [--dry-run] [-o options]`: see AttributeMigration.
func runMigrateAttrs(_ args: [String]) -> Int32 {
    var container: String?
    var dryRun = false
    var optionItems: [String] = []
    var i = 0
    while i < args.count {
        switch args[i] {
        case "--dry-run": dryRun = true
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
    guard let container else { fail(.usage, "migrate-attrs needs a CONTAINER\n\(usage)") }
    let options = loadOptions(optionItems, container: container, mountpoint: nil)
    LoggingSystem.bootstrap { _ in RoutedLogHandler() }
    LogRouting.shared.configure(sink: .standardError, level: .warning)
    let storage = Storage.connect(options: options)
    do {
        guard try storage.client.containerExists(container) else { fail(.container, "container '\(container)' does not exist") }
        let migration = AttributeMigration(client: storage.client, container: container, dryRun: dryRun)
        let verb = dryRun ? "would update" : "updated"
        let done = try migration.run { progress in
            FileHandle.standardError.write(Data("migrate-attrs: \(progress.listed) objects listed, \(progress.updated) \(verb)\n".utf8))
        }
        print("\(done.listed) objects: \(done.updated) \(verb), \(done.current) already current, \(done.skipped) skipped (directory markers, symlinks, gone or unwritable metadata)")
        return 0
    } catch {
        FileHandle.standardError.write(Data("swiftmount migrate-attrs: \(error)\n".utf8))
        return 1
    }
}

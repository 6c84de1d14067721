import ArgumentParser
import CSystem
import Foundation
import Glibc

/// The command line. `swiftmount CONTAINER MOUNTPOINT -o a=b,c` (as mount(8) and fuse3's helper
/// pass it) is the default subcommand, `mount`; `status`, `gc` and `migrate-attrs` are the others.
/// Each has its own `--help`; `--generate-completion-script bash|zsh|fish` writes completion.
/// A usage error exits 2, before anything touches the network.
@main
struct SwiftMountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftmount",
        abstract: "Mount an OpenStack Swift container, or a whole account, as a directory.",
        discussion: optionsHelp,
        subcommands: [MountCommand.self, StatusCommand.self, GCCommand.self, MigrateAttrsCommand.self],
        defaultSubcommand: MountCommand.self)

    static func main() {
        sm_reset_signals()
        _ = Inherited.descriptors
        sm_tune_malloc()
        do {
            // `-oa=b` (joined, as some mount helpers write it): the parser would read `=b` as the
            // value of an option named `oa`.
            let given = Array(CommandLine.arguments.dropFirst())
            let end = given.firstIndex(of: "--") ?? given.endIndex
            let arguments = given[..<end].flatMap { $0.hasPrefix("-o") && $0.count > 2 ? ["-o", String($0.dropFirst(2))] : [$0] } + given[end...]
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            // --help, --version and completion scripts end here too, with success.
            let message = fullMessage(for: error)
            guard exitCode(for: error) != .success else {
                print(message)
                Glibc.exit(0)
            }
            FileHandle.standardError.write(Data("swiftmount: \(message)\n".utf8))
            Glibc.exit(Exit.usage.rawValue)
        }
    }
}

/// `-o a=b,c`, repeatable (`main` also takes `-oa=b`).
struct OptionItems: ParsableArguments {
    @Option(name: .customShort("o"), help: "Options, comma-separated (see swiftmount --help).")
    var groups: [String] = []

    var items: [String] { groups.flatMap { $0.split(separator: ",").map(String.init) } }
}

struct MountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mount",
        abstract: "Mount CONTAINER (or, with --account or @account, the account) on MOUNTPOINT.",
        discussion: optionsHelp)

    @Argument(help: ArgumentHelp("CONTAINER and MOUNTPOINT; with --account, MOUNTPOINT alone.", valueName: "container-and-mountpoint"))
    var places: [String] = []
    @Flag(name: .customShort("f"), help: "Stay in the foreground, logging to stderr.")
    var foreground = false
    @Flag(name: .customShort("d"), help: "Foreground with debug logging (-o debug: the same logging, in the background).")
    var debug = false
    @Flag(name: .customLong("account"), help: "The whole account: containers are the top-level directories.")
    var wholeAccount = false
    @OptionGroup var options: OptionItems

    func validate() throws {
        guard places.count == 2 || (wholeAccount && places.count == 1) else {
            throw ValidationError("expected CONTAINER and MOUNTPOINT (with --account, MOUNTPOINT alone)")
        }
    }

    var container: String { places.count == 2 ? places[0] : accountSource }
    var mountpoint: String { places[places.count - 1] }
    var account: Bool { wholeAccount || container == accountSource }
    /// `-d` is `-f` with debug logging.
    var runsInForeground: Bool { foreground || debug }
    var optionItems: [String] { options.items }

    func run() throws { mount(self) }
}

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "What the daemon on MOUNTPOINT is doing: transfers, token, requests, buffers.")

    @Argument(help: "The mount point.") var mountpoint: String
    @Flag(help: "The daemon's answer as JSON.") var json = false

    func run() throws { Glibc.exit(runStatus(mountpoint: mountpoint, json: json)) }
}

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "List (or --delete) segments no manifest refers to; with --trusts, trusts no mount holds.")

    @Argument(help: "The container whose segments to judge (not with --trusts).") var container: String?
    @Flag(help: "Delete what is listed.") var delete = false
    @Flag(help: "Judge the service user's trusts instead (needs -o service_credentials=FILE).") var trusts = false
    @Option(help: "Seconds a segment must be old to count.") var grace: Double = 3600
    @OptionGroup var options: OptionItems

    func validate() throws {
        guard grace >= 0 else { throw ValidationError("--grace needs seconds") }
        guard trusts || container != nil else { throw ValidationError("gc needs a CONTAINER (or --trusts)") }
    }

    func run() throws {
        Glibc.exit(runGarbageCollection(container: container, trusts: trusts, delete: delete, grace: grace, optionItems: options.items))
    }
}

struct MigrateAttrsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate-attrs",
        abstract: "Give the container's existing objects the Content-Type parameters that let ls -l answer from listings.")

    @Argument(help: "The container.") var container: String
    @Flag(help: "Say what would be updated; change nothing.") var dryRun = false
    @Option(help: "Leave objects changed in the last this many seconds alone.") var minAge: Double = 60
    @OptionGroup var options: OptionItems

    func validate() throws {
        guard minAge >= 0 else { throw ValidationError("--min-age needs seconds") }
    }

    func run() throws {
        Glibc.exit(runMigrateAttrs(container: container, dryRun: dryRun, minimumAge: minAge, optionItems: options.items))
    }
}

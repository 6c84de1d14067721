import Foundation

/// The arguments of `gc` and `migrate-attrs`: flags, flags that take seconds, `-o` option
/// items (comma-separated, as mount(8) passes them) and at most one CONTAINER. Anything else
/// exits 2 with the usage.
struct SubcommandArguments {
    var container: String?
    var flags: Set<String> = []
    var seconds: [String: Double] = [:]
    var options: [String] = []

    init(_ args: [String], flags known: Set<String>, secondsFlags: Set<String>) {
        var i = 0
        func next() -> String? {
            i += 1
            return i < args.count ? args[i] : nil
        }
        while i < args.count {
            let arg = args[i]
            if known.contains(arg) {
                flags.insert(arg)
            } else if secondsFlags.contains(arg) {
                guard let value = next().flatMap(Double.init), value >= 0 else { fail(.usage, "\(arg) needs seconds") }
                seconds[arg] = value
            } else if arg == "-o" {
                guard let items = next() else { fail(.usage, "-o needs options") }
                options += items.split(separator: ",").map(String.init)
            } else {
                guard container == nil, !arg.hasPrefix("-") else { fail(.usage, "unexpected \(arg)\n\(usage)") }
                container = arg
            }
            i += 1
        }
    }
}

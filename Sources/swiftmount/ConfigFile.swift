import Foundation

/// `/etc/swiftmount/swiftmount.conf`: mount options kept out of fstab and command lines.
///
///     [*]                 # every mount
///     log_level = info
///     [images]            # mounts of the container "images"
///     os_cloud = prod
///     [/srv/images]       # the mount on /srv/images
///     segment_size = 256M
///
/// Later sections win over earlier kinds ([*] < container < mount point), and `-o` wins over all.
enum ConfigFile {
    static let defaultPath = "/etc/swiftmount/swiftmount.conf"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The option items ("key=value" or "flag") that apply to this mount, in precedence order.
    static func items(path: String, container: String, mountpoint: String?) throws -> [String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw Failure(description: "cannot read config file \(path): \(error.localizedDescription)")
        }
        let canonical = mountpoint.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path }
        var sections: [String: [String]] = [:]
        var current: String?
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
                .trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                var name = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("/") { name = URL(fileURLWithPath: name).resolvingSymlinksInPath().path }
                current = name
                continue
            }
            guard let section = current else {
                throw Failure(description: "\(path):\(number + 1): option outside a section ([*], [container] or [/mount/point])")
            }
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            sections[section, default: []].append(parts.count == 2 ? "\(parts[0])=\(parts[1])" : parts[0])
        }
        return (sections["*"] ?? []) + (sections[container] ?? []) + (canonical.flatMap { sections[$0] } ?? [])
    }
}
